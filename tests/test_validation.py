import pytest

from keras_recipes import _validation as v


def test_messages_name_argument_and_value():
    with pytest.raises(ValueError, match=r"^Argument `lr` must be >= 0\. Received: lr=-1$"):
        v.check_non_negative("lr", -1)
    with pytest.raises(ValueError, match=r"Argument `beta` must be >= 0 and < 1\. "
                                         r"Received: beta=1$"):
        v.check_probability("beta", 1)
    with pytest.raises(ValueError, match=r"Argument `k` must be an integer\. Received: k=2.5"):
        v.check_number("k", 2.5, integer=True)
    with pytest.raises(ValueError, match=r"must be a finite number\. Received: x=nan"):
        v.check_number("x", float("nan"))
    with pytest.raises(ValueError, match=r"must be one of \{'a', 'b'\}\. Received: mode='c'"):
        v.check_one_of("mode", "c", ("a", "b"))
    with pytest.raises(ValueError, match=r"`max_lr` must be > `min_lr`\. "
                                         r"Received: min_lr=1, max_lr=0\.1"):
        v.check_less("min_lr", 1, "max_lr", 0.1)


def test_accepted_values_pass_through():
    assert v.check_positive("n", 3, integer=True) == 3
    assert v.check_probability("p", 0.0) == 0.0
    assert v.check_probability("p", 1.0, include_one=True) == 1.0


def test_reject_unknown_kwargs():
    v.reject_unknown_kwargs({"a": 1}, ["a"])
    with pytest.raises(ValueError, match=r"Unknown keyword argument\(s\) for Yogi: \['bad'\]"):
        v.reject_unknown_kwargs({"bad": 1}, ["a"], owner="Yogi")


def test_export_registers(config_roundtrip):
    import keras

    from keras_recipes._export import keras_recipes_export

    @keras_recipes_export
    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    assert keras.saving.get_registered_name(Scale) == "keras_recipes>Scale"
    config_roundtrip(Scale(3.0))


def test_exclusive_lower_bound_named_when_upper_violated():
    with pytest.raises(ValueError, match=r"must be > 0 and <= 1\. Received: p=2$"):
        v.check_number("p", 2, low=0, high=1, low_inclusive=False)
