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


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("num_classes", [2, 3, 10])
@pytest.mark.parametrize("scale", [0.5, 1.0])
def test_untrained_loss_is_ln_c(kind, num_classes, scale, seed):
    """Seed 004: an untrained classifier's loss is ln C, the loss of a uniform guess.

    Standardised inputs (and half their scale); the loss in inference mode (what the
    doctor's probe and ``evaluate`` measure) and in training mode (the first steps' loss),
    both within the doctor's note band [ln C / 1.5, 1.5 ln C] and within 0.3 nat (on each
    backend's random stream: JAX draws other initial weights than TensorFlow).
    """
    from keras_recipes.diagnostics.curve_rules import initial_loss_band

    rng = np.random.default_rng(num_classes)
    shape = (8, 8, 1) if kind == "cnn" else (20,)
    x = (scale * rng.standard_normal((256, *shape))).astype("float32")
    y = rng.integers(0, num_classes, 256)
    model = build_model(kind, shape, num_classes)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    expected = np.log(num_classes)
    low, high, _ = initial_loss_band(expected)
    for training in (False, True):
        loss = float(keras.ops.convert_to_numpy(loss_fn(y, model(x, training=training))))
        assert low <= loss <= high
        assert abs(loss - expected) < 0.3, (training, loss, expected)
