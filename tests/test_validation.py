import re

import numpy as np
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


@pytest.mark.parametrize("value", ["3", b"3", True, np.bool_(False), np.str_("3"),
                                   np.array("3"), 1 + 0j, np.complex64(2), 10**400, None])
def test_non_numbers_are_refused(value):
    with pytest.raises(ValueError, match=r"^Argument `n` must be a finite number\. Received: n="):
        v.check_number("n", value)


@pytest.mark.parametrize("value", [3, 3.0, np.int64(3), np.float32(3), np.array(3.0)])
def test_numbers_in_any_numeric_type_pass(value):
    assert v.check_number("n", value, low=0, integer=True) is value


def test_integers_must_fit_in_int64():
    big = "an integer that fits in int64"
    v.check_positive("batch_size", 2**63 - 1, integer=True)
    with pytest.raises(ValueError, match=rf"`batch_size` must be {big}.*=9223372036854775808$"):
        v.check_positive("batch_size", 2**63, integer=True)
    with pytest.raises(ValueError, match=rf"`batch_size` must be {big}.*=1e\+19$"):
        v.check_positive("batch_size", 1e19, integer=True)
    with pytest.raises(ValueError, match=rf"`batch_size` must be {big}"):
        v.check_positive("batch_size", 99999999999999999999, integer=True)


def test_learning_rate_must_be_a_normal_float32():
    # float32's smallest normal number is 2**-126; below it a rate is subnormal (1e-39)
    # or 0 (1e-46 and 1e-320); above 2**128 * (1 - 2**-24) it is infinite.
    tiny = 2.0**-126
    assert np.float32(1e-320) == 0 and 0 < np.float32(1e-39) < tiny
    assert v.check_learning_rate("lr", tiny) == tiny
    assert v.check_learning_rate("lr", 3.4e38) == 3.4e38
    for value in (1e-320, 1e-39, tiny / 2, 1e39):
        with pytest.raises(ValueError, match=r"^Argument `lr` must be a learning rate float32 "
                                             r"can hold, from 1\.18e-38 to 3\.4e\+38.*"
                                             + re.escape(f"Received: lr={value}") + "$"):
            v.check_learning_rate("lr", value)
    with pytest.raises(ValueError, match=r"`lr` must be > 0\. Received: lr=0$"):
        v.check_learning_rate("lr", 0)
    assert v.check_learning_rate("min_lr", 0, allow_zero=True) == 0
    with pytest.raises(ValueError, match=r"`lr` must be a finite number\. Received: lr='1e-3'"):
        v.check_learning_rate("lr", "1e-3")
