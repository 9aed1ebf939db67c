import keras
import numpy as np
import pytest

from keras_recipes.initializers import HeNormal
from keras_recipes.models import baseline_cnn, baseline_mlp, build_model


def _layers(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def test_mlp_structure():
    model = baseline_mlp((8, 8, 1), 10, hidden=(32, 16))
    dense = _layers(model, keras.layers.Dense)
    assert [d.use_bias for d in dense] == [False, False, True]
    assert all(isinstance(d.kernel_initializer, keras.initializers.HeUniform) for d in dense[:2])
    for bn in _layers(model, keras.layers.BatchNormalization):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.gamma), 1.0)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.beta), 0.0)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.moving_mean), 0.0)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.moving_variance), 1.0)
    assert len(_layers(model, keras.layers.ReLU)) == 2
    assert model.output_shape == (None, 10)


def test_cnn_structure():
    model = baseline_cnn((8, 8, 1), 10, filters=(8, 16))
    convs = _layers(model, keras.layers.Conv2D)
    assert [c.use_bias for c in convs] == [False, False]
    # Seed 002's plain He normal, not Keras's truncated "he_normal".
    assert all(isinstance(c.kernel_initializer, HeNormal) for c in convs)
    assert len(_layers(model, keras.layers.MaxPooling2D)) == 2
    assert len(_layers(model, keras.layers.GlobalAveragePooling2D)) == 1


@pytest.mark.integration
def test_mlp_learns_digits(digits_flat, seed):
    x, y = digits_flat.x[:600], digits_flat.y[:600]
    model = baseline_mlp(64, 10, hidden=(64,))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] > 0.95


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_save_and_reload(kind, digits, model_roundtrip, seed):
    model = build_model(kind, (8, 8, 1), 10)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(digits.x[:64], digits.y[:64], epochs=1, verbose=0)
    model_roundtrip(model, digits.x[:16])


def test_errors():
    with pytest.raises(ValueError, match="Unknown model 'rnn'"):
        build_model("rnn", (8,), 2)
    with pytest.raises(ValueError, match="Argument `num_classes` must be >= 1"):
        baseline_mlp((8,), 0)
    with pytest.raises(ValueError, match="Argument `dropout`"):
        baseline_mlp((8,), 2, dropout=1.5)
    with pytest.raises(ValueError, match="height, width, channels"):
        baseline_cnn((64,), 10)
    with pytest.raises(ValueError, match="input_shape` must hold positive sizes"):
        baseline_mlp((0, 3), 2)


def test_the_preset_names_are_the_builders_names():
    """One list of model names (workflows.common) for the CLI, the tuners and the workflows."""
    from keras_recipes import cli
    from keras_recipes.models import MODEL_BUILDERS
    from keras_recipes.workflows.common import MODEL_NAMES, PRESET_SIZES

    assert sorted(MODEL_NAMES) == sorted(MODEL_BUILDERS) == sorted(PRESET_SIZES)
    assert cli.MODELS == MODEL_NAMES


@pytest.mark.slow_elsewhere
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("num_classes", [2, 3, 10])
@pytest.mark.parametrize("scale", [0.5, 1.0])
def test_untrained_loss_is_ln_c(kind, num_classes, scale, seed):
    """Seed 004: an untrained classifier's loss is ln C, the loss of a uniform guess.

    Standardised inputs (and half their scale), three initial draws (each backend has its own
    random stream). In training mode (the first steps' loss) every draw is within the doctor's
    note band [ln C / 1.5, 1.5 ln C] and within 0.3 nat. In inference mode (what the doctor's
    probe and ``evaluate`` measure) BatchNorm uses its initial moving statistics (0, 1), not
    the batch's, so one draw can land outside (the CNN with 3 classes: 1.80 for ln 3 = 1.10 on
    torch's first draw, 1.67 on JAX's sixth): the median of the three is within the band (and
    can be 0.35 nat away: the 10-class CNN's median is 2.65 for ln 10 = 2.30 on torch).
    """
    from keras_recipes.diagnostics.curve_rules import initial_loss_band

    rng = np.random.default_rng(num_classes)
    shape = (8, 8, 1) if kind == "cnn" else (20,)
    x = (scale * rng.standard_normal((256, *shape))).astype("float32")
    y = rng.integers(0, num_classes, 256)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    expected = np.log(num_classes)
    low, high, _ = initial_loss_band(expected)
    inference = []
    for draw in range(3):
        keras.utils.set_random_seed(draw)
        model = build_model(kind, shape, num_classes)
        inference.append(float(keras.ops.convert_to_numpy(loss_fn(y, model(x)))))
        loss = float(keras.ops.convert_to_numpy(loss_fn(y, model(x, training=True))))
        assert low <= loss <= high
        assert abs(loss - expected) < 0.3, (draw, loss, expected)
    assert low <= float(np.median(inference)) <= high, (inference, expected)


# ---------------------------------------------------------------- structure options


def _reference_mlp(shape, num_classes, hidden):
    """The MLP as the seeds describe it, written out layer by layer."""
    from keras_recipes.models import head_initializer

    inputs = keras.Input(shape=shape)
    x = inputs
    for i, width in enumerate(hidden):
        x = keras.layers.Dense(width, use_bias=False, kernel_initializer="he_uniform",
                               name=f"dense_{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn_{i}")(x)
        x = keras.layers.ReLU(name=f"relu_{i}")(x)
    out = keras.layers.Dense(num_classes, activation="softmax",
                             kernel_initializer=head_initializer(), name="head")(x)
    return keras.Model(inputs, out)


def _reference_cnn(shape, num_classes, filters):
    from keras_recipes.models import head_initializer

    inputs = keras.Input(shape=shape)
    x = inputs
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, padding="same", use_bias=False,
                                kernel_initializer=HeNormal(), name=f"conv_{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn_{i}")(x)
        x = keras.layers.ReLU(name=f"relu_{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(num_classes, activation="softmax",
                             kernel_initializer=head_initializer(), name="head")(x)
    return keras.Model(inputs, out)


@pytest.mark.backend
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_default_structure_is_unchanged(kind):
    """With the new options at their defaults, the same seed gives the same weights and
    outputs as the seeds' structure written out by hand."""
    if kind == "mlp":
        shape, reference = (12,), lambda: _reference_mlp((12,), 3, (16, 8))
        built = lambda: build_model("mlp", shape, 3, hidden=(16, 8))  # noqa: E731
    else:
        shape, reference = (8, 8, 1), lambda: _reference_cnn((8, 8, 1), 3, (4, 8))
        built = lambda: build_model("cnn", shape, 3, filters=(4, 8))  # noqa: E731
    keras.utils.set_random_seed(3)
    ours = built()
    keras.utils.set_random_seed(3)
    ref = reference()
    assert [type(layer).__name__ for layer in ours.layers] == \
        [type(layer).__name__ for layer in ref.layers]
    for a, b in zip(ours.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).standard_normal((5, *shape)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x)),
                               keras.ops.convert_to_numpy(ref(x)), rtol=1e-6)


def test_activation_option():
    model = baseline_mlp(6, 2, hidden=(8, 8), activation="sigmoid")
    acts = _layers(model, keras.layers.Activation)
    assert [a.name for a in acts] == ["sigmoid_0", "sigmoid_1"]
    assert not _layers(model, keras.layers.ReLU)
    x = np.linspace(-3, 3, 8, dtype="float32")
    expected = 1 / (1 + np.exp(-x))  # the logistic function, by hand
    np.testing.assert_allclose(keras.ops.convert_to_numpy(acts[0](x)), expected, rtol=1e-5)
    cnn = baseline_cnn((8, 8, 1), 2, filters=(4,), activation="tanh")
    assert [a.name for a in _layers(cnn, keras.layers.Activation)] == ["tanh_0"]


def test_batch_norm_off_gives_biases():
    model = baseline_mlp(6, 2, hidden=(8, 8), batch_norm=False)
    assert not _layers(model, keras.layers.BatchNormalization)
    assert [d.use_bias for d in _layers(model, keras.layers.Dense)] == [True, True, True]
    for dense in _layers(model, keras.layers.Dense)[:2]:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(dense.bias), 0.0)
    cnn = baseline_cnn((8, 8, 1), 2, filters=(4, 4), batch_norm=False)
    assert not _layers(cnn, keras.layers.BatchNormalization)
    assert [c.use_bias for c in _layers(cnn, keras.layers.Conv2D)] == [True, True]


def test_kernel_initializer_option():
    """Glorot uniform's variance 2/(fan_in + fan_out) against He uniform's 2/fan_in."""
    fan_in, fan_out = 400, 200
    glorot = baseline_mlp(fan_in, 2, hidden=(fan_out,), kernel_initializer="glorot_uniform")
    he = baseline_mlp(fan_in, 2, hidden=(fan_out,))
    var_glorot = np.var(keras.ops.convert_to_numpy(glorot.get_layer("dense_0").kernel))
    var_he = np.var(keras.ops.convert_to_numpy(he.get_layer("dense_0").kernel))
    assert var_glorot == pytest.approx(2 / (fan_in + fan_out), rel=0.05)
    assert var_he == pytest.approx(2 / fan_in, rel=0.05)


def test_an_initializer_instance_is_copied_per_layer():
    """One unseeded instance for two layers of one shape must not give them equal kernels."""
    init = keras.initializers.GlorotUniform()
    model = baseline_mlp(8, 2, hidden=(8, 8, 8), kernel_initializer=init)
    k1, k2 = (keras.ops.convert_to_numpy(model.get_layer(f"dense_{i}").kernel) for i in (1, 2))
    assert not np.allclose(k1, k2)


def test_structure_option_errors():
    with pytest.raises(ValueError, match="Argument `activation` must be one of"):
        baseline_mlp(4, 2, activation="nope")
    with pytest.raises(ValueError, match="Argument `kernel_initializer` must be None"):
        baseline_cnn((8, 8, 1), 2, kernel_initializer="nope")
    with pytest.raises(ValueError, match="Argument `batch_norm` must be a bool"):
        build_model("mlp", 4, 2, batch_norm="no")


@pytest.mark.backend
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_structure_options_round_trip(kind, digits, model_roundtrip, seed):
    model = build_model(kind, (8, 8, 1), 10, activation="tanh",
                        kernel_initializer="glorot_normal", batch_norm=False)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(digits.x[:32], digits.y[:32], epochs=1, verbose=0)
    model_roundtrip(model, digits.x[:8])
