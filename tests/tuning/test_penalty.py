"""penalty="decoupled" vs "l2": Keras's weight decay is not the notes' L2 penalty under momentum."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.regularizers import L2
from keras_recipes.tuning import grid_search, make_optimizer

pytestmark = pytest.mark.backend

LR, LAM, STEPS, MU = 0.1, 0.01, 200, 0.9


def numpy_nesterov_l2(theta0, lr, lam, steps, mu):
    """Keras's Nesterov SGD (m ← μm − ε·g; θ ← θ + μm − ε·g) on the gradient g = λ·θ alone."""
    theta, m = float(theta0), 0.0
    for _ in range(steps):
        g = lam * theta
        m = mu * m - lr * g
        theta = theta + mu * m - lr * g
    return theta


def one_weight_model():
    model = keras.Sequential([keras.Input((1,)),
                              keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")])
    return model


def shrink_after(optimizer_kwargs, steps=STEPS):
    """θ after `steps` steps from θ = 1 with a zero loss gradient (x = 0, y = 0, MSE)."""
    model = one_weight_model()
    model.compile(optimizer=make_optimizer("sgd", LR, LAM, model=model, **optimizer_kwargs),
                  loss="mse")
    x = np.zeros((2, 1), "float32")
    for _ in range(steps):
        model.train_on_batch(x, x)
    return float(keras.ops.convert_to_numpy(model.layers[0].kernel)[0, 0])


def test_decoupled_decay_and_l2_penalty_differ_tenfold_with_momentum():
    decoupled_ref = (1 - LR * LAM) ** STEPS  # the decay never enters the momentum
    penalty_ref = numpy_nesterov_l2(1.0, LR, LAM, STEPS, MU)
    assert decoupled_ref == pytest.approx(0.8186, abs=5e-5)
    assert penalty_ref == pytest.approx(0.1219, abs=5e-5)
    assert shrink_after({}) == pytest.approx(decoupled_ref, rel=1e-4)
    # L2(λ', N) has gradient 2λ'/N·θ: λ' = λ and N = 2 give the penalty gradient λ·θ.
    assert shrink_after({"penalty": "l2", "batch_size": 2}) == pytest.approx(penalty_ref,
                                                                             rel=1e-3)


def test_even_the_first_nesterov_step_differs():
    # Decoupled: θ·(1 − ε·λ). Nesterov on g = λθ: θ + μ·m − ε·g with m = −ε·g, θ·(1 − ε·λ·(1 + μ)).
    assert shrink_after({}, steps=1) == pytest.approx(1 - LR * LAM, rel=1e-6)
    assert shrink_after({"penalty": "l2", "batch_size": 2}, steps=1) == pytest.approx(
        1 - LR * LAM * (1 + MU), rel=1e-6)


def test_without_momentum_decay_equals_the_penalty_at_twice_lambda_over_n():
    # Plain SGD: the L2(λ, N) step θ − ε·2λ/N·θ is the decoupled decay with wd = 2λ/N.
    lam, n = 0.02, 4
    a = keras.Variable(np.array([3.0], dtype="float32"))
    b = keras.Variable(np.array([3.0], dtype="float32"))
    for _ in range(5):
        keras.optimizers.SGD(LR, weight_decay=2 * lam / n).apply_gradients(
            [(keras.ops.zeros(1), a)])
        keras.optimizers.SGD(LR).apply_gradients(
            [(keras.ops.convert_to_tensor(2 * lam / n * keras.ops.convert_to_numpy(b)), b)])
    expected = 3.0 * (1 - LR * 2 * lam / n) ** 5
    assert float(keras.ops.convert_to_numpy(a)[0]) == pytest.approx(expected, rel=1e-6)
    assert float(keras.ops.convert_to_numpy(b)[0]) == pytest.approx(expected, rel=1e-6)


def test_keras_applies_the_decay_before_the_update():
    # θ = 1, g = 1, ε = 0.5, λ = 0.5. Before: θ − ελθ − εg = 0.25. After: (θ − εg)(1 − ελ) = 0.375.
    var = keras.Variable(np.array([1.0], dtype="float32"))
    keras.optimizers.SGD(0.5, weight_decay=0.5).apply_gradients([(keras.ops.ones(1), var)])
    assert float(keras.ops.convert_to_numpy(var)[0]) == pytest.approx(0.25, rel=1e-6)


def test_l2_penalty_leaves_the_optimizer_without_decay():
    model = one_weight_model()
    opt = make_optimizer("adam", 1e-3, 1e-3, penalty="l2", model=model, batch_size=64)
    assert opt.weight_decay is None
    reg = model.layers[0].kernel.regularizer
    assert isinstance(reg, L2) and (reg.lam, reg.n) == (1e-3, 64)
    other = one_weight_model()
    make_optimizer("sgd", 0.1, 0.0, penalty="l2", model=other)
    assert other.layers[0].kernel.regularizer is None  # λ = 0: no penalty


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"penalty": "l3"}, "Argument `penalty`"),
    ({"penalty": "l2"}, "Argument `model` must be the built keras.Model"),
    ({"penalty": "l2", "model": "net"}, "Argument `model`"),
    ({"batch_size": 0}, "Argument `batch_size`"),
])
def test_make_optimizer_bad_penalty_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_optimizer("sgd", 0.1, 1e-3, **kwargs)


@pytest.mark.integration
def test_grid_search_l2_penalises_every_trial_model(tiny_digits):
    x, y = tiny_digits
    built = []

    def build(hp):
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        built.append(model)
        return model

    frame = grid_search(build, x, y, space={"learning_rate": [0.01], "weight_decay": [1e-3]},
                        penalty="l2", batch_size=50, epochs=1)
    assert (frame["status"] == "COMPLETED").all()
    model = built[-1]
    assert model.optimizer.weight_decay is None
    for layer in model.layers:
        assert isinstance(layer.kernel.regularizer, L2)
        assert (layer.kernel.regularizer.lam, layer.kernel.regularizer.n) == (1e-3, 50)
    with pytest.raises(ValueError, match="Argument `penalty`"):
        grid_search(build, x, y, penalty="weight_decay")


@pytest.mark.slow
@pytest.mark.integration
def test_practical_l2_penalty_reaches_the_saved_model(tmp_path):
    from keras_recipes.workflows import practical

    with pytest.raises(ValueError, match="Argument `penalty`"):
        practical("digits", out=tmp_path / "bad", penalty="L2", verbose=0)
    report = practical("digits", out=tmp_path / "run", penalty="l2", lr_candidates=(1e-2,),
                       lr_steps=20, lr_factors=(1.0,), weight_decays=(1e-3,), grid_epochs=1,
                       top_k=1, train_epochs=1, max_loops=0, batch_size=64, verbose=0)
    assert report.best is not None and report.best["weight_decay"] == pytest.approx(1e-3)
    loaded = keras.saving.load_model(tmp_path / "run" / "model.keras")
    kernels = [v for v in loaded.trainable_variables if v.name == "kernel"]
    assert kernels and all(isinstance(v.regularizer, L2) for v in kernels)
    assert all((v.regularizer.lam, v.regularizer.n) == (1e-3, 64) for v in kernels)
    assert all(v.regularizer is None for v in loaded.trainable_variables
               if v.name != "kernel")
