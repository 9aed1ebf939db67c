"""Why a stopping callback ended training: one enum shared by every stopping callback."""

from __future__ import annotations

import enum


class StopReason(enum.Enum):
    """Why training stopped, with a human-readable message.

    Every stopping callback of :mod:`keras_recipes.callbacks` exposes ``stop_reason`` (one of
    these members) after ``fit``, next to ``stopped_epoch`` and, where it applies,
    ``best_epoch`` and ``best_value``. ``str(reason)`` and ``reason.message`` give the
    sentence; ``reason.value`` is a short stable code for logs and tests.

    Use it to branch on the outcome of a run, e.g. to retry with a smaller learning rate
    when the run diverged.

    Example:

    >>> from keras_recipes.callbacks import StopReason
    >>> StopReason.PATIENCE_EXHAUSTED.value
    'patience_exhausted'
    >>> StopReason("non_finite").message
    'the monitored value became NaN or infinite'

    References:
        Lightning's ``EarlyStopping`` reports a similar reason string:
        https://lightning.ai/docs/pytorch/stable/api/lightning.pytorch.callbacks.EarlyStopping.html
    """

    NOT_STOPPED = "not_stopped"
    PATIENCE_EXHAUSTED = "patience_exhausted"
    BASELINE_NOT_MET = "baseline_not_met"
    THRESHOLD_REACHED = "threshold_reached"
    DIVERGED = "diverged"
    NON_FINITE = "non_finite"
    OTHER_CALLBACK = "other_callback"
    GENERALIZATION_GAP = "generalization_gap"
    GENERALIZATION_LOSS = "generalization_loss"
    PROGRESS_QUOTIENT = "progress_quotient"
    SUCCESSIVE_INCREASES = "successive_increases"
    CONVERGED = "converged"
    OSCILLATING = "oscillating"
    TIME_BUDGET = "time_budget"
    INTERRUPTED = "interrupted"

    @property
    def message(self) -> str:
        """The human-readable sentence for this reason."""
        return _MESSAGES[self]

    @property
    def stopped(self) -> bool:
        """Whether this reason means that training ended before its last epoch."""
        return self is not StopReason.NOT_STOPPED

    def __str__(self) -> str:
        return self.message


_MESSAGES = {
    StopReason.NOT_STOPPED: "training was not stopped by this callback",
    StopReason.PATIENCE_EXHAUSTED: (
        "the monitored value did not improve for `patience` epochs"
    ),
    StopReason.BASELINE_NOT_MET: (
        "the monitored value did not beat `baseline` within `patience` epochs"
    ),
    StopReason.THRESHOLD_REACHED: "the monitored value reached `stopping_threshold`",
    StopReason.DIVERGED: "the monitored value crossed `divergence_threshold`",
    StopReason.NON_FINITE: "the monitored value became NaN or infinite",
    StopReason.OTHER_CALLBACK: "another callback stopped training",
    StopReason.GENERALIZATION_GAP: (
        "the gap between validation and training exceeded `max_gap` for `patience` epochs"
    ),
    StopReason.GENERALIZATION_LOSS: "Prechelt's generalization loss GL exceeded `alpha`",
    StopReason.PROGRESS_QUOTIENT: "Prechelt's progress quotient PQ = GL / P_k exceeded `alpha`",
    StopReason.SUCCESSIVE_INCREASES: (
        "the validation error increased in `s` successive strips (Prechelt's UP_s)"
    ),
    StopReason.CONVERGED: (
        "the relative decrease of the monitored value over `window` epochs fell below "
        "`tolerance`"
    ),
    StopReason.OSCILLATING: (
        "the monitored value only oscillated with a small relative spread over `window` epochs"
    ),
    StopReason.TIME_BUDGET: "the next epoch would have exceeded the time budget",
    StopReason.INTERRUPTED: "training was interrupted (KeyboardInterrupt / SIGINT)",
}
