"""The probe's compiled-function cache: shared per structure, never across structures."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.diagnostics import probe as probe_module
from keras_recipes.diagnostics.probe import Probe, structure_key

pytestmark = pytest.mark.backend

RNG = np.random.default_rng(0)
X = RNG.normal(size=(16, 4)).astype("float32")
Y = RNG.integers(0, 3, size=16)


@pytest.fixture(autouse=True)
def empty_cache():
    probe_module.clear_cache()
    yield
    probe_module.clear_cache()


def mlp(units=5, activation="relu", loss="sparse_categorical_crossentropy", names=None):
    names = names or (None, None)
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(units, activation=activation, name=names[0]),
        keras.layers.Dense(3, activation="softmax", name=names[1]),
    ])
    model.compile(loss=loss)
    return model


def _traces(calls: int) -> int:
    """Traces of a shared function after ``calls`` calls: one where the backend compiles,
    one per call on torch (Keras's torch backend runs the probe eagerly)."""
    return calls if keras.backend.backend() == "torch" else 1


def _loss(model) -> float:
    p = model.predict(X, verbose=0)
    return float(-np.mean(np.log(p[np.arange(len(Y)), Y])))


def test_models_of_one_structure_share_one_trace_and_keep_their_own_numbers(seed):
    a, b = mlp(names=("h", "o")), mlp(names=("hidden", "out"))
    pa, pb = Probe(a, X, Y), Probe(b, X, Y)
    assert structure_key(pa) == structure_key(pb)
    sa, sb = pa.measure(), pb.measure()
    # one trace for both (torch compiles nothing: its eager function runs once per call)
    assert pa._compiled is pb._compiled and pa._compiled.traces == _traces(calls=2)
    assert sorted(sa["layers"]) == ["h", "o"] and sorted(sb["layers"]) == ["hidden", "out"]
    assert list(sb["activations"]) == ["hidden"]
    np.testing.assert_allclose(sa["loss"], _loss(a), rtol=1e-5)
    np.testing.assert_allclose(sb["loss"], _loss(b), rtol=1e-5)
    assert sa["loss"] != sb["loss"]
    w = np.concatenate([v.numpy().ravel() for v in b.layers[0].trainable_weights])
    np.testing.assert_allclose(sb["layers"]["hidden"]["weight_norm"], np.linalg.norm(w),
                               rtol=1e-5)
    # Updates against a snapshot, through the shared function too.
    before = pb.snapshot()
    b.layers[0].kernel.assign(b.layers[0].kernel.numpy() * 2.0)
    after = pb.measure(before)["layers"]["hidden"]
    assert after["update_ratio"] > 0.1 and pa._compiled.traces == _traces(calls=3)


@pytest.mark.parametrize("other", [
    {"units": 6}, {"activation": "tanh"}, {"loss": "categorical_crossentropy"},
])
def test_another_structure_gets_its_own_function(other):
    base, changed = Probe(mlp(), X, Y), Probe(mlp(**other), X, Y)
    assert structure_key(base) != structure_key(changed)
    assert base._compiled is not changed._compiled


def test_options_and_batch_shape_are_part_of_the_key():
    model = mlp()
    keys = {structure_key(Probe(model, X, Y)), structure_key(Probe(model, X[:8], Y[:8])),
            structure_key(Probe(model, X, Y, histogram_bins=10)),
            structure_key(Probe(model, X, Y, gradients=False)),
            structure_key(Probe(model, X, Y, predictions=2))}
    assert len(keys) == 5


def test_layer_names_that_look_like_config_values_are_not_confused():
    def act_model(name):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5),
                                  keras.layers.Activation(name, name=name),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy")
        return model

    assert structure_key(Probe(act_model("relu"), X, Y)) != \
        structure_key(Probe(act_model("tanh"), X, Y))


class Scale(keras.layers.Layer):
    """A custom layer without get_config: its factor is invisible to the configuration."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor


class ConfiguredScale(Scale):
    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _scaled(layer):
    model = keras.Sequential([keras.Input((4,)), layer,
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    return model


def test_layers_their_config_may_not_describe_are_never_shared():
    assert structure_key(Probe(_scaled(Scale(2.0)), X, Y)) is None
    assert structure_key(Probe(_scaled(keras.layers.Lambda(lambda t: t * 2.0)), X, Y)) is None
    a = Probe(_scaled(ConfiguredScale(2.0)), X, Y)
    b = Probe(_scaled(ConfiguredScale(3.0)), X, Y)
    assert a._compiled is not b._compiled
    c, d = Probe(_scaled(Scale(2.0)), X, Y), Probe(_scaled(Scale(3.0)), X, Y)
    assert c._compiled is not d._compiled
    np.testing.assert_allclose(d.measure()["loss"], _loss(d.model), rtol=1e-5)
    assert probe_module.cache_size() == 2


def test_the_cache_is_bounded_least_recently_used_out():
    probes = [Probe(mlp(units=u), X, Y) for u in range(1, probe_module.CACHE_SIZE + 4)]
    assert probe_module.cache_size() == probe_module.CACHE_SIZE
    # The oldest structures were dropped: a new probe of the first one compiles again,
    # the last one still shares.
    assert Probe(mlp(units=1), X, Y)._compiled is not probes[0]._compiled
    assert Probe(mlp(units=len(probes)), X, Y)._compiled is probes[-1]._compiled
    assert probe_module.cache_size() == probe_module.CACHE_SIZE


class Sub(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3, activation="softmax")

    def call(self, x):
        return self.dense(x)


def test_subclassed_models_are_never_shared():
    model = Sub()
    model.compile(loss="sparse_categorical_crossentropy")
    model(X)
    probe = Probe(model, X, Y)
    assert structure_key(probe) is None and probe_module.cache_size() == 0
    assert np.isfinite(probe.measure()["layers"][model.dense.name]["grad_norm"])


def test_step_update_functions_are_shared_by_layer_layout_and_shapes():
    from keras_recipes.diagnostics.step_updates import StepUpdates

    a, b, c = StepUpdates(mlp()), StepUpdates(mlp()), StepUpdates(mlp(units=6))
    assert a._fn is b._fn and a._fn is not c._fn
    for steps, factor in ((a, 3.0), (b, 0.5)):
        steps.start()
        layer = steps.model.layers[0]
        layer.kernel.assign(layer.kernel.numpy() * factor)  # the bias is 0
        steps.step(1)
        first = layer.name
        ratio = [value for _, name, stat, value in steps.collect()
                 if name == first and stat == "update_ratio"]
        assert ratio == [pytest.approx(abs(factor - 1.0), rel=1e-5)]
