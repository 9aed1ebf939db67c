"""`PracticalState`: what the seven steps of :func:`~keras_recipes.workflows.practical` hand
to each other, as typed fields.

Each step reads the fields that the steps before it filled and fills its own (the table in
:class:`PracticalState`). :class:`Candidate` is one configuration of the grid (step 4) and
:class:`TrainedConfig` one configuration trained by step 5, then longer by step 7.
"""

from __future__ import annotations

import dataclasses
from typing import Any

#: The fields of :class:`PracticalState` that a later step needs, and the step that fills
#: each one (named when a step needs a field that is still empty).
FILLED_BY = {"initial_loss": 1, "overfit_history": 2, "learning_rate": 3, "top": 4,
             "trained": 5, "best": 5}


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A configuration of step 4's grid that step 5 trains longer.

    Attributes:
        learning_rate: the constant learning rate.
        weight_decay: the weight decay (its meaning is the run's ``penalty``).

    Example:

    >>> from keras_recipes.workflows.practical.state import Candidate
    >>> Candidate(1e-2, 0.0).as_dict()
    {'learning_rate': 0.01, 'weight_decay': 0.0}
    """

    learning_rate: float
    weight_decay: float

    def as_dict(self) -> dict[str, float]:
        """``{"learning_rate": ..., "weight_decay": ...}`` (step 4's ``details["top"]``)."""
        return {"learning_rate": self.learning_rate, "weight_decay": self.weight_decay}


@dataclasses.dataclass
class TrainedConfig:
    """One configuration trained by step 5 (and, when it is the kept one, longer by step 7).

    Attributes:
        index: its number, from 1, in step 4's ranking (its logs are in ``config<index>/``).
        learning_rate: its constant learning rate.
        weight_decay: its weight decay.
        epochs: epochs trained so far.
        val_loss: validation loss after the last epoch (inference mode), or ``None`` when
            not finite.
        val_accuracy: validation accuracy likewise.
        net: the trained ``keras.Model`` (its best weights on ``val_loss``: keep-best).
        history: ``History.history`` of every epoch trained so far (step 7 appends).
        logger: the :class:`~keras_recipes.diagnostics.DiagnosticLogger` of the last round,
            which the doctor reads.
        smoothed_train_loss: the last smoothed training loss of ``iterations.csv``, or
            ``None`` when ``loss_every=0`` (or not finite). Defaults to ``None``.

    Example:

    >>> from keras_recipes.workflows.practical.state import TrainedConfig
    >>> trained = TrainedConfig(1, 1e-2, 0.0, 15, 0.12, 0.97, net=None,
    ...                         history={"loss": [0.5]}, logger=None)
    >>> trained.record()
    {'index': 1, 'learning_rate': 0.01, 'weight_decay': 0.0, 'val_loss': 0.12, \
'val_accuracy': 0.97, 'epochs': 15}
    """

    index: int
    learning_rate: float
    weight_decay: float
    epochs: int
    val_loss: float | None
    val_accuracy: float | None
    net: Any
    history: dict[str, list[float]]
    logger: Any
    smoothed_train_loss: float | None = None

    def record(self) -> dict[str, Any]:
        """The JSON-friendly row of step 5's ``details["configs"]`` (no model, no logger)."""
        row = {"index": self.index, "learning_rate": self.learning_rate,
               "weight_decay": self.weight_decay, "val_loss": self.val_loss,
               "val_accuracy": self.val_accuracy, "epochs": self.epochs}
        if self.smoothed_train_loss is not None:
            row["smoothed_train_loss"] = self.smoothed_train_loss
        return row

    def choice(self) -> dict[str, Any]:
        """The report's ``best``: ``learning_rate``, ``weight_decay``, ``epochs``,
        ``val_loss`` and ``val_accuracy``."""
        return {"learning_rate": self.learning_rate, "weight_decay": self.weight_decay,
                "epochs": self.epochs, "val_loss": self.val_loss,
                "val_accuracy": self.val_accuracy}


@dataclasses.dataclass
class PracticalState:
    """What the steps of :func:`~keras_recipes.workflows.practical` pass between them.

    A new state is empty; each step fills its fields:

    =======================  =====  =====================================================
    field                    step   what it holds
    =======================  =====  =====================================================
    ``initial_loss``         1      a fresh network's training loss (step 3 compares to it)
    ``overfit_history``      2      the ``History.history`` of overfitting the sample
    ``learning_rate``        3      the rate whose loss fell the most (step 4's centre)
    ``top``                  4      the grid's best :class:`Candidate`, best first
    ``trained``              5      each candidate trained longer (:class:`TrainedConfig`)
    ``best``                 5, 7   the kept one (best validation accuracy), trained
                                    longer by step 7 while its curves ask for it
    ``findings``             2, 7   the doctor's reading: of step 2's run when it fails,
                                    else step 7's last reading of ``best`` (step 6 reports
                                    it)
    =======================  =====  =====================================================

    A step that runs before the step that fills what it reads raises a ``ValueError``
    naming that step (:meth:`need`). ``findings`` may rightly stay empty (nothing found),
    so it is read as it is.

    Example:

    >>> from keras_recipes.workflows.practical.state import PracticalState
    >>> state = PracticalState(initial_loss=2.31)
    >>> state.need("initial_loss")
    2.31
    >>> state.need("learning_rate")
    Traceback (most recent call last):
    ...
    ValueError: The practical state has no `learning_rate` yet: step 3 fills it. Run the \
steps in order. Received: learning_rate=None
    """

    initial_loss: float | None = None
    overfit_history: dict[str, list[float]] | None = None
    learning_rate: float | None = None
    top: list[Candidate] = dataclasses.field(default_factory=list)
    trained: list[TrainedConfig] = dataclasses.field(default_factory=list)
    best: TrainedConfig | None = None
    findings: list[Any] = dataclasses.field(default_factory=list)

    def need(self, name: str) -> Any:
        """The field ``name``, or a ``ValueError`` naming the step that fills it when it
        is still empty (``None``, or an empty list)."""
        if name not in FILLED_BY:
            raise ValueError(f"Argument `name` must be one of {sorted(FILLED_BY)}. "
                             f"Received: name={name!r}")
        value = getattr(self, name)
        if value is None or (isinstance(value, list) and not value):
            raise ValueError(f"The practical state has no `{name}` yet: step "
                             f"{FILLED_BY[name]} fills it. Run the steps in order. "
                             f"Received: {name}={value!r}")
        return value
