"""`SteamrollerConfig`: every setting of a steamroller run, validated once."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from keras_recipes._validation import check_number, check_one_of, check_probability, fail
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
                          "plateau_patience", "repair", "training")


#: ``distribute=`` set-ups (:data:`keras_recipes._distribute.SETUPS`, which imports Keras).
DISTRIBUTE_SETUPS = ("mirrored", "multiworker", "jax-data-parallel")
#: The numbered arguments and the run-wide regularisation arguments, mapped onto the default
#: stages (:data:`~keras_recipes.workflows.STEAMROLLER_STAGES`, by index):
#: ``(argument or property of the config, stage index, Stage setting)``; ``"bound"`` is the
#: gate's bound.
STAGE_ARGUMENTS = (
    ("stage1_epochs", 0, "epochs"), ("stage1_min_train_accuracy", 0, "bound"),
    ("stage2_epochs", 1, "epochs"), ("stage2_min_val_accuracy", 1, "bound"),
    ("dropout", 1, "dropout"), ("augment", 1, "augment"),
    ("stage3_epochs", 2, "epochs"), ("dropout", 2, "dropout"),
    ("stage3_strength", 2, "augment"),
)


def _option(kind: str, help: str, *, flag: str | None = None, choices: Sequence[str] = (),
            value: Any = None) -> dict[str, Any]:
    """Field metadata: the setting's command-line option, from which
    :mod:`keras_recipes.cli` builds the flag, its default and its help.

    ``kind`` says what the flag takes: ``"count"`` (an integer >= 1), ``"count0"`` (>= 0),
    ``"positive"`` (a finite number > 0), ``"choice"`` (one of ``choices``), ``"path"``,
    ``"classes"`` (a number of classes or labels), or ``"switch"`` (a flag without a value
    that sets the field to ``value``). ``flag`` defaults to ``--`` and the field's name with
    dashes.
    """
    return {"option": {"kind": kind, "help": help, "flag": flag, "choices": tuple(choices),
                       "value": value}}


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

    The per-stage arguments (``stage1_epochs``, ``stage2_min_val_accuracy``...) set the
    default stages' own values (:meth:`stages`); a stage of your own carries its own.
    Fields with an ``"option"`` in their metadata are the ``keras-recipes steamroller``
    command's flags: their help and default come from here.

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

    Two more set the repair (see ``docs/repair.md``):

    - ``repair``: watch each stage with a :class:`~keras_recipes.callbacks.Watchdog` and
      repair a failed stage (:func:`~keras_recipes.workflows.repair.run_with_repair`).
      Defaults to ``False``.
    - ``training``: a :class:`~keras_recipes.workflows.repair.TrainingSettings`: the
      activation, initialisation and BatchNorm of a preset network, a rate that replaces
      each stage's range test, gradient clipping. ``None`` is the defaults (ReLU, He,
      BatchNorm, the range test's rate, no clipping). Its ``standardize`` must agree with
      ``standardize``. Defaults to ``None``.

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
    >>> [stage.epochs for stage in config.stages()]
    [100, 20, 30]
    >>> dataclasses.replace(config, augment=0.1).stage3_strength
    0.2
    >>> SteamrollerConfig(schedule="linear")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    keras_recipes.workflows.steamroller.config.SteamrollerInputError: Argument `schedule` ...
    """

    dataset: Any = "digits"
    model: str | Callable[..., Any] = "mlp"
    stage_classes: int | Sequence[int] = dataclasses.field(default=2, metadata=_option(
        "classes", "classes of stages 1-2: a single integer is a number of classes (the first "
        "ones in label order); a comma-separated list names labels as the data file writes "
        "them, e.g. 3,8 or barolo,barbera (default: 2)"))
    stage1_per_class: int = dataclasses.field(default=10, metadata=_option(
        "count", "training examples per class in stage 1 (default: 10)"))
    out: str | os.PathLike = dataclasses.field(default="runs/steamroller", metadata=_option(
        "path", "run folder: report.md, summary.json, logs and models (default: "
        "runs/steamroller; a rerun resumes it)"))
    seed: int = 0
    target: str | None = None
    drop: str | Sequence[str] | None = None
    stage1_epochs: int = dataclasses.field(default=100, metadata=_option(
        "count", "most epochs of stage 1"))
    stage2_epochs: int = dataclasses.field(default=20, metadata=_option(
        "count", "most epochs of stage 2"))
    stage3_epochs: int = dataclasses.field(default=20, metadata=_option(
        "count", "most epochs of stage 3"))
    batch_size: int = dataclasses.field(default=32, metadata=_option("count", "batch size"))
    stage1_min_train_accuracy: float = 0.99
    stage2_min_val_accuracy: float = dataclasses.field(default=0.9, metadata=_option(
        "positive", "stage-2 gate on the validation accuracy (default: 0.9)",
        flag="--min-val-accuracy"))
    patience: int = 8
    lr_finder_steps: int = dataclasses.field(default=100, metadata=_option(
        "count", "steps of each stage's learning-rate range test"))
    schedule: str = dataclasses.field(default="onecycle", metadata=_option(
        "choice", "stage-3 schedule: one-cycle, cosine with warm-up, or staircase (a constant "
        "rate times --plateau-factor at each plateau of the validation loss) "
        "(default: onecycle)", choices=SCHEDULES))
    dropout: float = 0.1
    weight_decay: float = 1e-4
    augment: float = 0.05
    stage3_augment: float | None = None
    grow: bool = dataclasses.field(default=True, metadata=_option(
        "switch", "stage 3 trains the big network directly (default: grow from the stage-2 "
        "size while the validation loss falls)", flag="--no-grow", value=False))
    standardize: bool = True
    resume: bool = dataclasses.field(default=True, metadata=_option(
        "switch", "delete the files an earlier steamroller run wrote in --out (and nothing "
        "else) and start afresh", flag="--fresh", value=False))
    verbose: int = dataclasses.field(default=1, metadata=_option(
        "switch", "print only the final summary", flag="--quiet", value=0))
    distribute: str | None = dataclasses.field(default=None, metadata=_option(
        "choice", "train on several devices: mirrored (TensorFlow, local devices; two logical "
        "CPUs on a one-CPU machine), multiworker (TensorFlow, TF_CONFIG from the environment, "
        "same command on every worker; only the chief writes --out), jax-data-parallel (JAX, "
        "all jax.devices()) (default: one device)", choices=DISTRIBUTE_SETUPS))
    minibatch_steps: int = dataclasses.field(default=100, metadata=_option(
        "count0", "most steps of stage 1's overfit-one-minibatch check; 0 turns it off "
        "(default: 100)"))
    minibatch_max_loss: float = dataclasses.field(default=0.01, metadata=_option(
        "positive", "the minibatch's training loss that counts as near zero (default: 0.01)"))
    plateau_factor: float = dataclasses.field(default=0.2, metadata=_option(
        "positive", "with --schedule staircase, the rate's factor at each plateau, in (0, 1) "
        "(default: 0.2)"))
    plateau_patience: int = dataclasses.field(default=3, metadata=_option(
        "count0", "with --schedule staircase, epochs without improvement that make a plateau "
        "(default: 3)"))
    repair: bool = dataclasses.field(default=False, metadata=_option(
        "switch", "watch each stage with the Watchdog and, when its check fails (or the "
        "watchdog stops it) with a finding that has a known remedy, apply the remedy and "
        "train the stage again, at most twice (default: off)", value=True))
    training: Any = None

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
            fail("out", "a folder path", self.out)
        self._set("out", Path(self.out))
        check_model(self.model)
        if self.stage1_per_class is None or isinstance(self.stage1_per_class, bool):
            fail("stage1_per_class", "an integer >= 1", self.stage1_per_class)
        check_number("stage1_per_class", self.stage1_per_class, low=1, integer=True)
        if self.drop is not None:
            self._set("drop", (self.drop,) if isinstance(self.drop, str) else tuple(self.drop))
        if not isinstance(self.stage_classes, int | str | bytes) and isinstance(
                self.stage_classes, Sequence):
            self._set("stage_classes", tuple(self.stage_classes))
        if self.training is not None:
            from keras_recipes.workflows.repair import TrainingSettings

            if not isinstance(self.training, TrainingSettings):
                fail("training", "None or a TrainingSettings", self.training)
            if self.training.standardize != bool(self.standardize):
                fail("training", f"settings with standardize={bool(self.standardize)}, as "
                     "the `standardize` argument says", self.training)
        self._set("repair", bool(self.repair))
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
        optional = {k: getattr(self, k) for k in OPTIONAL_RECORDED_KEYS
                    if getattr(self, k) != fields[k]}
        if "training" in optional:
            optional["training"] = self.training.to_json()
        return {**{k: getattr(self, k) for k in RECORDED_KEYS}, **optional}

    def training_settings(self) -> Any:
        """The :class:`~keras_recipes.workflows.repair.TrainingSettings` a stage starts
        from: ``training``, or the defaults with this run's ``standardize``."""
        from keras_recipes.workflows.repair import TrainingSettings

        if self.training is not None:
            return self.training
        return TrainingSettings(standardize=bool(self.standardize))

    def stages(self, stages: Sequence[Any] | None = None) -> tuple[Any, ...]:
        """The stages this run trains, each with plain per-stage values.

        The numbered arguments (``stage1_epochs``, ``stage2_min_val_accuracy``...) and the
        regularisation ones (``dropout``, ``augment``, ``stage3_augment``) set the default
        stages' values, as :data:`STAGE_ARGUMENTS` lists; this is the one place where they
        meet the stages. A stage that is not one of
        :data:`~keras_recipes.workflows.STEAMROLLER_STAGES` (a fourth stage, or a default
        one changed with :func:`dataclasses.replace`) keeps its own values. Settings given
        as functions of the config are then replaced by their values
        (:meth:`~keras_recipes.workflows.Stage.resolved`).

        Args:
            stages: a sequence of :class:`~keras_recipes.workflows.Stage`. Defaults to
                ``None`` (the three default stages).

        Example:

        >>> from keras_recipes.workflows import SteamrollerConfig
        >>> config = SteamrollerConfig(stage1_epochs=50, stage2_min_val_accuracy=0.8)
        >>> [(s.name, s.epochs, s.gate.bound) for s in config.stages()]
        [('overfit', 50, 0.99), ('generalise', 20, 0.8), ('train', 20, None)]
        """
        from keras_recipes.workflows.steamroller.stages import STEAMROLLER_STAGES

        given = STEAMROLLER_STAGES if stages is None else tuple(stages)
        out = []
        for stage in given:
            index = next((i for i, d in enumerate(STEAMROLLER_STAGES) if stage == d), None)
            values = {setting: getattr(self, argument) for argument, i, setting
                      in STAGE_ARGUMENTS if i == index}
            if "bound" in values:
                values["gate"] = dataclasses.replace(stage.gate, bound=values.pop("bound"))
            out.append(stage.resolved(self) if not values
                       else dataclasses.replace(stage, **values).resolved(self))
        return tuple(out)

    def identity(self, dataset_name: str, stage_classes: list[int]) -> dict[str, Any]:
        """What a rerun in the same folder must repeat (``"config"`` of ``summary.json``)."""
        return {"dataset": dataset_name if not isinstance(self.dataset, str) else self.dataset,
                "target": self.target, "drop": None if self.drop is None else list(self.drop),
                "model": self.model_name, "stage_classes": list(stage_classes),
                "stage1_per_class": int(self.stage1_per_class), "seed": int(self.seed)}
