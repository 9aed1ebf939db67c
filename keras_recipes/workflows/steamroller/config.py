"""`SteamrollerConfig`: every setting of a steamroller run, validated once."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from keras_recipes._validation import check_number, check_one_of, check_probability
from keras_recipes.workflows.common import check_model, model_label

#: Stage-3 schedules.
SCHEDULES = ("onecycle", "cosine", "staircase")
#: Settings that define what a run is: a rerun in the same folder must repeat them.
IDENTITY_KEYS = ("dataset", "target", "drop", "model", "stage_classes", "stage1_per_class",
                 "seed")
#: Settings recorded in ``summary.json``; a finished run with the same ones is not rerun.
RECORDED_KEYS = ("stage1_epochs", "stage2_epochs", "stage3_epochs", "batch_size",
                 "stage1_min_train_accuracy", "stage2_min_val_accuracy", "patience",
                 "lr_finder_steps", "schedule", "dropout", "weight_decay", "augment",
                 "stage3_augment", "grow", "standardize", "resume")
#: Settings added later: recorded only when they differ from their default, so a run folder
#: written before them still matches a run with the default settings.
OPTIONAL_RECORDED_KEYS = ("minibatch_steps", "minibatch_max_loss", "plateau_factor",
                          "plateau_patience")


class SteamrollerInputError(ValueError):
    """Bad input to :func:`~keras_recipes.workflows.steamroller`, found before any training."""


@dataclasses.dataclass(frozen=True)
class SteamrollerConfig:
    """Every setting of a steamroller run, checked when the object is made.

    :func:`~keras_recipes.workflows.steamroller` builds one from its arguments (they are
    described there, with the same names and defaults); build one yourself to keep a run's
    settings in one value, change one with :func:`dataclasses.replace`, and run it with
    :func:`~keras_recipes.workflows.run_steamroller`. The object is frozen: assigning a
    field raises ``dataclasses.FrozenInstanceError``.

    Normalisation: ``out`` becomes a :class:`pathlib.Path`, ``drop`` a tuple of column
    names, ``stage_classes`` an int or a tuple of labels. Whether ``out`` can be written
    depends on the machine, so it is checked when the run starts (on every worker of a
    multi-worker run, before they agree to go on), not here.

    Stage 1's minibatch check and stage 3's staircase schedule read four more settings:

    - ``minibatch_steps``: most steps of stage 1's "overfit one minibatch" check (seed
      003), ``0`` to skip it. Defaults to ``100``.
    - ``minibatch_max_loss``: the training loss of that minibatch counted as near zero;
      the stage-1 gate fails when the check does not reach it. Defaults to ``0.01``.
    - ``plateau_factor``: with ``schedule="staircase"``, stage 3 multiplies the learning
      rate by this β in ``(0, 1)`` at each plateau of the validation loss (seed 000's
      strategy #1; the notes suggest β ∈ {0.1, 0.2, 0.5}). Defaults to ``0.2``.
    - ``plateau_patience``: epochs without improvement that make a plateau. Defaults to
      ``3``.

    Raises:
        SteamrollerInputError: (a ``ValueError``) naming the first bad setting, e.g. a
            non-integer epoch count, a gate bound outside (0, 1], an unknown schedule or
            model, an ``out`` that is not a path.

    Example:

    >>> import dataclasses
    >>> from keras_recipes.workflows import SteamrollerConfig
    >>> config = SteamrollerConfig(stage3_epochs=30, out="runs/demo")
    >>> config.stage3_epochs, config.stage3_strength
    (30, 0.1)
    >>> dataclasses.replace(config, augment=0.1).stage3_strength
    0.2
    >>> SteamrollerConfig(schedule="linear")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    keras_recipes.workflows.steamroller.config.SteamrollerInputError: Argument `schedule` ...
    """

    dataset: Any = "digits"
    model: str | Callable[..., Any] = "mlp"
    stage_classes: int | Sequence[int] = 2
    stage1_per_class: int = 10
    out: str | os.PathLike = "runs/steamroller"
    seed: int = 0
    target: str | None = None
    drop: str | Sequence[str] | None = None
    stage1_epochs: int = 100
    stage2_epochs: int = 20
    stage3_epochs: int = 20
    batch_size: int = 32
    stage1_min_train_accuracy: float = 0.99
    stage2_min_val_accuracy: float = 0.9
    patience: int = 8
    lr_finder_steps: int = 100
    schedule: str = "onecycle"
    dropout: float = 0.1
    weight_decay: float = 1e-4
    augment: float = 0.05
    stage3_augment: float | None = None
    grow: bool = True
    standardize: bool = True
    resume: bool = True
    verbose: int = 1
    distribute: str | None = None
    minibatch_steps: int = 100
    minibatch_max_loss: float = 0.01
    plateau_factor: float = 0.2
    plateau_patience: int = 3

    def __post_init__(self) -> None:
        try:
            self._check()
        except SteamrollerInputError:
            raise
        except (ValueError, TypeError) as exc:
            raise SteamrollerInputError(str(exc)) from exc

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # normalising a frozen instance's own fields

    def _check(self) -> None:
        check_number("seed", self.seed, low=0, integer=True)
        for name in ("stage1_epochs", "stage2_epochs", "stage3_epochs", "batch_size"):
            check_number(name, getattr(self, name), low=1, integer=True)
        check_number("lr_finder_steps", self.lr_finder_steps, low=10, integer=True)
        check_number("patience", self.patience, low=0, integer=True)
        for name in ("stage1_min_train_accuracy", "stage2_min_val_accuracy"):
            check_number(name, getattr(self, name), low=0, high=1, low_inclusive=False)
        check_probability("dropout", self.dropout)
        check_number("weight_decay", self.weight_decay, low=0)
        check_number("augment", self.augment, low=0)
        if self.stage3_augment is not None:
            check_number("stage3_augment", self.stage3_augment, low=0)
        check_one_of("schedule", self.schedule, SCHEDULES)
        check_number("minibatch_steps", self.minibatch_steps, low=0, integer=True)
        check_number("minibatch_max_loss", self.minibatch_max_loss, low=0,
                     low_inclusive=False)
        check_number("plateau_factor", self.plateau_factor, low=0, high=1,
                     low_inclusive=False, high_inclusive=False)
        check_number("plateau_patience", self.plateau_patience, low=0, integer=True)
        check_number("verbose", self.verbose, low=0, integer=True)
        if self.distribute is not None:
            from keras_recipes._distribute import check_setup

            check_setup(self.distribute)
        if isinstance(self.out, bytes) or not isinstance(self.out, str | os.PathLike) \
                or not str(self.out):
            raise ValueError(f"Argument `out` must be a folder path. Received: out={self.out!r}")
        self._set("out", Path(self.out))
        check_model(self.model)
        if self.stage1_per_class is None or isinstance(self.stage1_per_class, bool):
            raise ValueError(f"Argument `stage1_per_class` must be an integer >= 1. "
                             f"Received: stage1_per_class={self.stage1_per_class}")
        check_number("stage1_per_class", self.stage1_per_class, low=1, integer=True)
        if self.drop is not None:
            self._set("drop", (self.drop,) if isinstance(self.drop, str) else tuple(self.drop))
        if not isinstance(self.stage_classes, int | str | bytes) and isinstance(
                self.stage_classes, Sequence):
            self._set("stage_classes", tuple(self.stage_classes))
        self._set("grow", bool(self.grow))
        self._set("standardize", bool(self.standardize))
        self._set("resume", bool(self.resume))

    @property
    def stage3_strength(self) -> float:
        """Stage 3's augmentation strength: ``stage3_augment``, or twice ``augment``."""
        return float(2 * self.augment if self.stage3_augment is None else self.stage3_augment)

    @property
    def model_name(self) -> str:
        """The preset's name or the callable's ``__name__``."""
        return model_label(self.model)

    def recorded(self) -> dict[str, Any]:
        """The settings written to ``summary.json`` (``"settings"``): :data:`RECORDED_KEYS`,
        then those of :data:`OPTIONAL_RECORDED_KEYS` that differ from their default."""
        fields = {f.name: f.default for f in dataclasses.fields(self)}
        return {**{k: getattr(self, k) for k in RECORDED_KEYS},
                **{k: getattr(self, k) for k in OPTIONAL_RECORDED_KEYS
                   if getattr(self, k) != fields[k]}}

    def identity(self, dataset_name: str, stage_classes: list[int]) -> dict[str, Any]:
        """What a rerun in the same folder must repeat (``"config"`` of ``summary.json``)."""
        return {"dataset": dataset_name if not isinstance(self.dataset, str) else self.dataset,
                "target": self.target, "drop": None if self.drop is None else list(self.drop),
                "model": self.model_name, "stage_classes": list(stage_classes),
                "stage1_per_class": int(self.stage1_per_class), "seed": int(self.seed)}
