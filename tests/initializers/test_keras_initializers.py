"""GlorotUniform and HeUniform are Keras's own classes; files saved under the former names load."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from keras_recipes import initializers

# Configs exactly as keras_recipes 0.1.0 before this change wrote them
# (`keras.saving.serialize_keras_object(GlorotUniform(seed=1))`, and a Dense layer holding
# a HeUniform), when both were registered subclasses of Keras's classes.
FORMER_GLOROT = {"module": "keras_recipes.initializers.glorot_uniform",
                 "class_name": "GlorotUniform", "config": {"seed": 1},
                 "registered_name": "keras_recipes>GlorotUniform"}
FORMER_HE = {"module": "keras_recipes.initializers.he_uniform", "class_name": "HeUniform",
             "config": {"seed": 658789326}, "registered_name": "keras_recipes>HeUniform"}


@pytest.mark.parametrize("name", ["GlorotUniform", "HeUniform"])
def test_public_name_is_keras_class(name):
    assert getattr(initializers, name) is getattr(keras.initializers, name)


@pytest.mark.parametrize("name", ["GlorotUniform", "HeUniform"])
def test_saved_under_keras_name(name):
    config = keras.saving.serialize_keras_object(getattr(initializers, name)(seed=3))
    assert config["module"] == "keras.initializers"
    assert config.get("registered_name") in (None, name)
    assert "keras_recipes" not in json.dumps(config)


@pytest.mark.parametrize("former, cls", [(FORMER_GLOROT, keras.initializers.GlorotUniform),
                                         (FORMER_HE, keras.initializers.HeUniform)])
def test_former_registered_names_still_deserialise(former, cls):
    loaded = keras.saving.deserialize_keras_object(json.loads(json.dumps(former)))
    assert type(loaded) is cls
    seed = former["config"]["seed"]
    shape = (30, 20)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(shape)),
                                  keras.ops.convert_to_numpy(cls(seed=seed)(shape)))
    # Bounds from the formulas: sqrt(6 / (n_i + n_o)) and sqrt(6 / n_i).
    bound = np.sqrt(6 / 50) if cls is keras.initializers.GlorotUniform else np.sqrt(6 / 30)
    assert np.abs(keras.ops.convert_to_numpy(loaded(shape))).max() <= bound * (1 + 1e-6)


def test_former_name_inside_a_layer_config():
    layer = keras.layers.Dense(4)
    config = keras.saving.serialize_keras_object(layer)
    config["config"]["kernel_initializer"] = FORMER_HE
    rebuilt = keras.saving.deserialize_keras_object(json.loads(json.dumps(config)))
    assert type(rebuilt.kernel_initializer) is keras.initializers.HeUniform
    # Saved again, it names Keras's class only.
    assert "keras_recipes" not in json.dumps(keras.saving.serialize_keras_object(rebuilt))


def test_only_the_uniform_two_are_keras_classes():
    """The others have no identical Keras class: ``GlorotNormal`` and ``HeNormal`` share a
    name with Keras's but sample a plain normal where Keras truncates (so the draws differ at
    the same seed); the presets fix bounds or a fan scale no Keras class has by default."""
    public = {name for name in initializers.__all__ if name[0].isupper()}
    from_keras = {name for name in public
                  if getattr(initializers, name).__module__.startswith("keras.")}
    assert from_keras == {"GlorotUniform", "HeUniform"}
    same_name = {name for name in public - from_keras if hasattr(keras.initializers, name)}
    assert same_name == {"GlorotNormal", "HeNormal"}
    for name in same_name:
        ours = keras.ops.convert_to_numpy(getattr(initializers, name)(seed=0)((50, 50)))
        theirs = keras.ops.convert_to_numpy(getattr(keras.initializers, name)(seed=0)((50, 50)))
        assert not np.array_equal(ours, theirs), name
