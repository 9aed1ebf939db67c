"""Seed 002's traditional initialisations and seed 003's Kaiming bias, against their formulas."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_recipes.initializers import (
    CenteredUniform,
    HeUniform,
    KaimingBias,
    SmallNormal,
    UnitUniform,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# name -> (instance, low, high (None: unbounded), mean, std) from the notes' definitions
TRADITIONAL = {
    "U[0,1]": (UnitUniform, 0.0, 1.0, 0.5, 1 / np.sqrt(12)),
    "U[-1/2,1/2]": (CenteredUniform, -0.5, 0.5, 0.0, 1 / np.sqrt(12)),
    "N(0, var 0.01)": (SmallNormal, None, None, 0.0, 0.1),
}


@pytest.mark.parametrize("name", sorted(TRADITIONAL))
@pytest.mark.parametrize("shape", [(400, 300), (3, 3, 64, 64), (7,)])
def test_traditional_statistics_ignore_the_fans(name, shape):
    cls, low, high, mean, std = TRADITIONAL[name]
    w = keras.ops.convert_to_numpy(cls(seed=1)(shape)).astype("float64")
    tol = 4 * std / np.sqrt(w.size) + (0.0 if w.size > 100 else 0.25)
    assert w.mean() == pytest.approx(mean, abs=tol)
    if w.size > 100:
        assert w.std() == pytest.approx(std, rel=0.03)
    if low is not None:
        assert w.min() >= low and w.max() < high
        if w.size > 100:
            assert w.min() < low + 0.01 and w.max() > high - 0.01
    else:  # plain normal: about 4.6 % of the values beyond 2 std (a truncated one has none)
        if w.size > 100:
            assert 0.035 < np.mean(np.abs(w) > 2 * std) < 0.057


@pytest.mark.parametrize("cls", [UnitUniform, CenteredUniform, SmallNormal])
def test_traditional_seeded_and_config_roundtrip(cls, config_roundtrip):
    a = keras.ops.convert_to_numpy(cls(seed=5)((4, 4)))
    np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(cls(seed=5)((4, 4))))
    assert cls(seed=5).get_config() == {"seed": 5}
    config_roundtrip(cls(seed=5))


@pytest.mark.parametrize("fan_in", [1, 9, 100, 784])
def test_kaiming_bias_bound_is_one_over_sqrt_fan_in(fan_in):
    b = keras.ops.convert_to_numpy(KaimingBias(fan_in, seed=2)((20000,))).astype("float64")
    bound = 1 / np.sqrt(fan_in)
    assert np.abs(b).max() <= bound * (1 + 1e-6)
    assert np.abs(b).max() > 0.99 * bound
    assert b.std() == pytest.approx(bound / np.sqrt(3), rel=0.03)
    assert abs(b.mean()) < 0.03 * bound


def test_seed_003_kaiming_init_of_a_dense_layer(config_roundtrip):
    # W0 = sqrt(6/n_in) U[-1,1] (n_out, n_in), b0 = (1/sqrt(n_in)) U[-1,1] (n_out)
    n_in, n_out = 256, 4000
    layer = keras.layers.Dense(n_out, kernel_initializer=HeUniform(seed=0),
                               bias_initializer=KaimingBias(n_in, seed=0))
    layer.build((None, n_in))
    w = keras.ops.convert_to_numpy(layer.kernel)
    b = keras.ops.convert_to_numpy(layer.bias)
    assert np.abs(w).max() == pytest.approx(np.sqrt(6 / n_in), rel=1e-3)
    assert np.abs(b).max() == pytest.approx(1 / np.sqrt(n_in), rel=1e-2)
    assert KaimingBias(9, seed=3).get_config() == {"fan_in": 9, "seed": 3}
    config_roundtrip(KaimingBias(9, seed=3))
    with pytest.raises(ValueError, match=r"Argument `fan_in` must be .*Received: fan_in=0"):
        KaimingBias(0)
    with pytest.raises(ValueError, match=r"Argument `fan_in`"):
        KaimingBias(2.5)


@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.integration  # a fresh process
def test_saved_model_reloads_with_only_import_keras_recipes(tmp_path):
    model = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(5, kernel_initializer=UnitUniform(seed=0),
                           bias_initializer=KaimingBias(6, seed=0)),
        keras.layers.Dense(4, kernel_initializer=CenteredUniform(seed=1)),
        keras.layers.Dense(3, kernel_initializer=SmallNormal(seed=2)),
    ])
    x = np.linspace(-1, 1, 18, dtype="float32").reshape(3, 6)
    path = str(tmp_path / "m.keras")
    model.save(path)
    np.save(path + ".npy", x)
    code = (
        "import sys, numpy as np, keras_recipes, keras\n"
        "m = keras.saving.load_model(sys.argv[1])\n"
        "print([type(l.kernel_initializer).__name__ for l in m.layers],"
        " type(m.layers[0].bias_initializer).__name__, m.layers[0].bias_initializer.fan_in)\n"
        "np.save(sys.argv[1] + '.out.npy', m.predict(np.load(sys.argv[1] + '.npy'), verbose=0))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert ("['UnitUniform', 'CenteredUniform', 'SmallNormal'] KaimingBias 6"
            in proc.stdout)
    np.testing.assert_allclose(np.load(path + ".out.npy"), model.predict(x, verbose=0),
                               atol=1e-6)
