"""Checks of a ``fit``'s callbacks against each other and against a one-cycle schedule.

Two callbacks that both put "best" weights back at the end of training silently fight:
whichever runs last wins. An early stopper or a best-epoch restore cut a one-cycle schedule
off in its high-rate phase, where the weights are at their noisiest, and throw away the
low-rate end where one-cycle gains most. These checks run from this library's monitoring
callbacks (``EarlyStopping``, ``KeepBest``, ``PrecheltStopping``, ...) and look at every
callback of the same ``fit``, Keras's own included:

- at the start of training (once per ``fit``):
  - two or more callbacks restore weights at the end (``restore_best_weights=True``, or
    ``KeepBest``) → a warning naming them and the one that wins;
  - the optimizer follows :class:`~keras_recipes.schedules.OneCycle` and an early stopper
    can stop before the schedule ends (``patience + start_from_epoch`` below the epochs
    left) → a warning;
- when one of this library's callbacks restores a best epoch of a one-cycle run whose rate
  was still at least :data:`HIGH_RATE_FRACTION` of the peak → a warning with both rates.

The callbacks of a ``fit`` are found on the call stack: ``fit`` holds them in a public
``keras.callbacks.CallbackList`` (``.callbacks``). When none is found (a callback driven by
hand), the checks see only the callback itself.
"""

from __future__ import annotations

import inspect
import math
import warnings
import weakref
from typing import Any

import keras

from keras_recipes import _keras_private, _state

#: A restored epoch whose one-cycle rate is at least this fraction of the peak comes from
#: the high-rate phase.
HIGH_RATE_FRACTION = 0.1
#: How many frames up the call stack the search for the fit's callbacks goes.
_MAX_FRAMES = 30

_checked: weakref.WeakSet = weakref.WeakSet()


def fit_callbacks(callback: Any, mark: bool = True) -> list[Any]:
    """The callbacks of the ``fit`` that runs ``callback`` (``[callback]`` if none found).

    With ``mark=True`` (the checks of this module) a ``fit`` is answered once: later calls
    for the same ``fit`` get ``[]``. ``mark=False`` looks without marking.
    """
    frame = inspect.currentframe()
    try:
        f = frame.f_back if frame is not None else None
        for _ in range(_MAX_FRAMES):
            if f is None:
                break
            for value in list(f.f_locals.values()):
                if isinstance(value, keras.callbacks.CallbackList) and any(
                        c is callback for c in getattr(value, "callbacks", ())):
                    if not mark:
                        return list(value.callbacks)
                    if value in _checked:
                        return []  # another callback of this fit already ran the checks
                    _checked.add(value)
                    return list(value.callbacks)
            f = f.f_back
    finally:
        del frame
    return [callback]


def restores_weights(callback: Any) -> bool:
    """Whether ``callback`` puts a best epoch's weights back at the end of training."""
    from keras_recipes.callbacks.keep_best import KeepBest

    return isinstance(callback, KeepBest) or getattr(callback, "restore_best_weights",
                                                     False) is True


def _stops_on_patience(callback: Any) -> bool:
    return isinstance(callback, keras.callbacks.EarlyStopping) or (
        type(callback).__module__.startswith("keras_recipes.callbacks")
        and isinstance(getattr(callback, "patience", None), int))


def one_cycle(model: Any):
    """The model optimizer's :class:`~keras_recipes.schedules.OneCycle`, or ``None``."""
    from keras_recipes.schedules import OneCycle

    optimizer = getattr(model, "optimizer", None)
    for opt in _state._optimizer_chain(optimizer) if optimizer is not None else ():
        schedule = _keras_private.learning_rate_object(opt)
        if isinstance(schedule, OneCycle):
            return schedule
    return None


def _describe(callback: Any) -> str:
    monitor = getattr(callback, "monitor", None)
    return f"{type(callback).__name__}({monitor!r})" if monitor else type(callback).__name__


def check_at_train_begin(callback: Any) -> None:
    """Warn about callbacks of this ``fit`` that fight each other or cut a one-cycle run."""
    callbacks = fit_callbacks(callback)
    if not callbacks:
        return
    restorers = [c for c in callbacks if restores_weights(c)]
    if len(restorers) > 1:
        names = ", ".join(_describe(c) for c in restorers)
        warnings.warn(
            f"{names} all restore weights at the end of training; the last one in the "
            f"callbacks list wins ({_describe(restorers[-1])}) and the others' restores are "
            "lost. Keep one (restore_best_weights=False on the others).", stacklevel=3)
    model = getattr(callback, "model", None)
    schedule = one_cycle(model)
    params = getattr(callback, "params", None) or {}
    epochs = params.get("epochs")
    if schedule is None or not isinstance(epochs, int):
        return
    for stopper in (c for c in callbacks if _stops_on_patience(c)):
        patience = int(getattr(stopper, "patience", 0) or 0)
        start = int(getattr(stopper, "start_from_epoch", 0) or 0)
        if patience + start < epochs - 1:
            warnings.warn(
                f"{_describe(stopper)} with patience={patience} can stop this {epochs}-epoch "
                f"run before its OneCycle schedule (max_lr={float(schedule.max_lr):g}) ends"
                + (" and restore weights from the high-rate phase"
                   if restores_weights(stopper) else "")
                + "; one-cycle gains most in its last, low-rate epochs. Train to the "
                "schedule's end without early stopping, or set start_from_epoch to the "
                "epochs it needs.", stacklevel=3)


def check_restored_epoch(callback: Any, epoch: int | None) -> None:
    """Warn when a restored best ``epoch`` (0-based) comes from one-cycle's high-rate phase."""
    model = getattr(callback, "model", None)
    schedule = one_cycle(model)
    steps = (getattr(callback, "params", None) or {}).get("steps")
    if schedule is None or epoch is None or not isinstance(steps, int) or steps <= 0:
        return
    peak = float(schedule.max_lr)
    rate = float(keras.ops.convert_to_numpy(schedule((epoch + 1) * steps)))
    if math.isfinite(rate) and rate >= HIGH_RATE_FRACTION * peak:
        warnings.warn(
            f"{type(callback).__name__} restored the weights of epoch {epoch + 1}, trained at "
            f"a learning rate of {rate:.3g} ({100 * rate / peak:.0f} % of OneCycle's peak "
            f"{peak:g}): the schedule's low-rate end is discarded. With one-cycle, keep the "
            "last epoch (restore_best_weights=False, no KeepBest).", stacklevel=3)
