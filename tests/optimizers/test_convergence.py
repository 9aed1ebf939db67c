"""Every optimizer converges on a quadratic and on Rosenbrock (2 variables, compiled)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.optimizers import Lookahead, NesterovRMSprop, RAdam, Yogi
from keras_recipes.playground import quadratic_ravine, rosenbrock, trajectories

pytestmark = pytest.mark.backend

# (quadratic, Rosenbrock) settings. RAdam's first steps are un-adapted momentum steps with
# the full learning rate: on Rosenbrock (|grad| ~ 200 at the start) they diverge unless the
# gradient is clipped, as with PyTorch's RAdam.
OPTIMIZERS = {
    "Yogi": (lambda: Yogi(0.05), lambda: Yogi(0.2)),
    "NesterovRMSprop": (lambda: NesterovRMSprop(0.005), lambda: NesterovRMSprop(0.005)),
    "RAdam": (lambda: RAdam(0.1), lambda: RAdam(0.05, clipnorm=1.0)),
    "Lookahead(Adam)": (lambda: Lookahead(keras.optimizers.Adam(0.1)),
                        lambda: Lookahead(keras.optimizers.Adam(0.2))),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_quadratic(name):
    fn = quadratic_ravine(a=1.0, b=4.0)
    df = trajectories({name: OPTIMIZERS[name][0]()}, fn, steps=300)
    last = df.iloc[-1]
    assert np.hypot(last["x"], last["y"]) < 0.05
    assert last["loss"] < 1e-3 * df.iloc[0]["loss"]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_rosenbrock(name):
    fn = rosenbrock()
    df = trajectories({name: OPTIMIZERS[name][1]()}, fn, steps=600)
    last = df.iloc[-1]
    assert np.isfinite(last["loss"])
    assert last["loss"] < 0.05, last.to_dict()
    assert np.hypot(last["x"] - 1.0, last["y"] - 1.0) < 0.5
