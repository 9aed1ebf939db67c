"""The base shared by the schedules whose config is their `__init__` arguments."""

from __future__ import annotations

from typing import Any

import keras

from keras_recipes.schedules._common import serialize_schedule


class ArgumentsSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A schedule that keeps each `__init__` argument as an attribute of the same name.

    `__init__` checks its arguments, then hands all of them, in signature order, to
    `_store`; `get_config` returns them in that order (Keras's `from_config` calls
    ``cls(**config)``). The arguments named in `_schedule_arguments` may hold a nested
    schedule: `get_config` serializes it (a number stays a number, ``None`` stays ``None``).
    """

    _schedule_arguments: tuple[str, ...] = ()

    def _store(self, **arguments: Any) -> None:
        for key, value in arguments.items():
            setattr(self, key, value)
        self._config_keys = tuple(arguments)

    def get_config(self) -> dict:
        config = {}
        for key in self._config_keys:
            value = getattr(self, key)
            if key in self._schedule_arguments and value is not None:
                value = serialize_schedule(value)
            config[key] = value
        return config
