"""The steamroller's stages as data: what each trains on, how, and what it must reach.

A :class:`Stage` describes one stage completely: its data plan (:class:`DataPlan`), its
epochs, its optimizer factory, its stopper, its validation source, its gate (:class:`Gate`,
with its bound), its regularisation and the advice printed when its gate fails. The
per-stage settings (epochs, bound, dropout, augmentation) are plain values on the stage; the
run-wide ones (batch size, schedule, weight decay...) are on the
:class:`~keras_recipes.workflows.SteamrollerConfig`. :data:`STEAMROLLER_STAGES` holds
seed 000's three stages; :func:`~keras_recipes.workflows.steamroller.runner.run_stage` runs
any of them the same way, and :func:`plan_stages` cuts each stage's data out of one split.
Adding a stage is adding one :class:`Stage` to a sequence passed as ``stages=``.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from keras_recipes._validation import (
    ArgumentError,
    check_number,
    check_probability,
    fail,
    literal_text,
    received,
    template_received,
)
from keras_recipes.data import class_labels, split, subset

#: A per-stage setting given as a function of the run's
#: :class:`~keras_recipes.workflows.SteamrollerConfig` (the form of earlier versions, still
#: accepted): :meth:`Stage.resolved` replaces it by its value when the stage starts.
Setting = Callable[[Any], Any]
#: Validation sources: the stage's own training examples, or the validation split.
VALIDATION_SOURCES = ("train", "val")
#: Networks: the preset's first size, or grown from it in the last stage.
NETWORKS = ("small", "grown")
#: Metrics a gate can read.
GATE_METRICS = ("train_accuracy", "val_accuracy", "test_accuracy", "train_loss", "val_loss",
                "test_loss")


@dataclasses.dataclass(frozen=True)
class DataPlan:
    """Which examples a stage sees, cut from the run's single train/val/test split.

    Attributes:
        classes: ``"chosen"`` (the run's ``stage_classes``) or ``"all"``.
        sample: ``True`` keeps only ``stage1_per_class`` training examples per class
            (validation and test keep every example of the classes).
    """

    classes: str = "all"
    sample: bool = False

    def __post_init__(self) -> None:
        if self.classes not in ("chosen", "all"):
            raise ValueError("Argument `classes` must be 'chosen' or 'all'. "
                             f"{received(classes=self.classes)}")


@dataclasses.dataclass(frozen=True)
class Gate:
    """The check that ends a stage: ``metric`` compared with ``bound``.

    Attributes:
        metric: one of :data:`GATE_METRICS`, measured in inference mode after training
            (``test_*`` on the test split).
        bound: the value to reach, or ``None`` for a stage that reports its metric without
            a check (its status is then ``"done"``). A function ``config -> float`` is also
            accepted (see :data:`Setting`).
        higher_is_better: ``True`` passes when ``value >= bound`` (accuracies); ``False``
            when ``value <= bound`` (losses).
    """

    metric: str
    bound: float | Setting | None = None
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if self.metric not in GATE_METRICS:
            raise ValueError(f"Argument `metric` must be one of {list(GATE_METRICS)}. "
                             f"{received(metric=self.metric)}")
        if self.bound is not None and not callable(self.bound):
            object.__setattr__(self, "bound", float(check_number("bound", self.bound)))

    def check(self, value: float | None, bound: float | None) -> bool:
        """Whether ``value`` passes ``bound`` (a missing or non-finite value fails)."""
        if bound is None:
            return True
        if value is None or not np.isfinite(value):
            return False
        return value >= bound if self.higher_is_better else value <= bound


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage of the steamroller, as data.

    Attributes:
        name: short name (``"overfit"``), used in messages and the report.
        goal: what the stage proves, one sentence.
        data: the stage's :class:`DataPlan`.
        epochs: the most epochs, ``>= 1``.
        optimizer: ``(learning_rate, total_steps, config) -> (optimizer, description)``;
            the learning rate is the range test's suggestion.
        stopper: ``(config, stage) -> (callback, description)``: early stopping or
            keep-best, from the run's config and this stage's own settings (a function of
            the config alone, the form of earlier versions, is called without the stage);
            the callback may be a list of callbacks (e.g. with a ``ReduceLROnPlateau``, whose
            schedule is then recorded).
        gate: the stage's :class:`Gate`.
        validation: ``"val"`` validates on the validation split; ``"train"`` on the
            stage's own training examples (a stage whose goal is to fit them).
        lr_rule: the range test's suggestion rule (see
            :func:`~keras_recipes.lr_finder.find_lr`'s ``suggest``).
        network: ``"small"`` (a preset's first size) or ``"grown"`` (grown from it while
            the validation loss falls, when the run's ``grow`` is on; else its second size).
        dropout: the dropout rate, in ``[0, 1)``.
        augment: the augmentation strength, ``>= 0`` (``0``: none).
        recalibrate_every_epoch: recompute BatchNorm statistics after every epoch (a stage
            whose stopping reads inference-mode metrics while it trains).
        error_analysis: measure the test split and write the confusion matrix, per-class
            scores and worst examples.
        overfit_minibatch: before training, check on the fresh network that the loss of
            one minibatch of the stage's training examples falls to near zero
            (``config.minibatch_max_loss`` within ``config.minibatch_steps`` steps, see
            :func:`~keras_recipes.workflows.steamroller.minibatch.overfit_minibatch`); the
            gate also fails when it does not. The network is restored after the check, so
            the stage trains exactly as without it.
        next_steps: advice printed, with the doctor's, when the gate fails.

    ``epochs``, ``dropout``, ``augment`` and ``gate.bound`` may also be functions of the
    run's config (:data:`Setting`); :meth:`resolved` gives the stage with their values.
    The numbered arguments of :func:`~keras_recipes.workflows.steamroller`
    (``stage1_epochs``...) set the default stages' values
    (:meth:`~keras_recipes.workflows.SteamrollerConfig.stages`).

    Example:

    >>> import dataclasses
    >>> from keras_recipes.workflows import STEAMROLLER_STAGES
    >>> overfit = STEAMROLLER_STAGES[0]
    >>> overfit.epochs, overfit.gate.bound, overfit.dropout
    (100, 0.99, 0.0)
    >>> dataclasses.replace(overfit, name="overfit-long", epochs=300).epochs
    300
    """

    name: str
    goal: str
    data: DataPlan
    epochs: int | Setting
    optimizer: Callable[[float, int, Any], tuple[Any, str]]
    stopper: Callable[..., tuple[Any, str]]
    gate: Gate
    validation: str = "val"
    lr_rule: str = "valley"
    network: str = "small"
    dropout: float | Setting = 0.0
    augment: float | Setting = 0.0
    recalibrate_every_epoch: bool = False
    error_analysis: bool = False
    overfit_minibatch: bool = False
    next_steps: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.validation not in VALIDATION_SOURCES:
            raise ValueError(f"Argument `validation` must be one of {list(VALIDATION_SOURCES)}."
                             f" {received(validation=self.validation)}")
        if self.network not in NETWORKS:
            raise ValueError(f"Argument `network` must be one of {list(NETWORKS)}. "
                             f"{received(network=self.network)}")
        if not isinstance(self.data, DataPlan) or not isinstance(self.gate, Gate):
            raise ValueError("Arguments `data` and `gate` must be a DataPlan and a Gate. "
                             f"{received(data=self.data, gate=self.gate)}")
        for name in ("optimizer", "stopper"):
            if not callable(getattr(self, name)):
                raise ValueError(f"Argument `{name}` must be callable. "
                                 f"{received(**{name: getattr(self, name)})}")
        self._check_settings()
        object.__setattr__(self, "next_steps", tuple(self.next_steps))

    def _check_settings(self) -> None:
        """Check (and normalise) the per-stage settings given as values."""
        if not callable(self.epochs):
            object.__setattr__(self, "epochs",
                               int(check_number("epochs", self.epochs, low=1, integer=True)))
        if not callable(self.dropout):
            object.__setattr__(self, "dropout", float(check_probability("dropout",
                                                                        self.dropout)))
        if not callable(self.augment):
            object.__setattr__(self, "augment",
                               float(check_number("augment", self.augment, low=0)))

    def resolved(self, config: Any) -> Stage:
        """This stage with every setting given as a function of ``config`` replaced by its
        value (checked as a value would be); a stage of plain values is returned as is."""
        values = {name: getattr(self, name)(config) for name in ("epochs", "dropout", "augment")
                  if callable(getattr(self, name))}
        if callable(self.gate.bound):
            values["gate"] = dataclasses.replace(self.gate, bound=self.gate.bound(config))
        return dataclasses.replace(self, **values) if values else self

    def make_stopper(self, config: Any) -> tuple[Any, str]:
        """``stopper(config, stage)``, or ``stopper(config)`` for a one-argument stopper."""
        try:
            takes_stage = len(inspect.signature(self.stopper).parameters) >= 2
        except (TypeError, ValueError):
            takes_stage = True
        return self.stopper(config, self) if takes_stage else self.stopper(config)


# ---------------------------------------------------------------- the three stages' parts


def _adam(lr: float, steps: int, config) -> tuple[Any, str]:
    import keras

    return keras.optimizers.Adam(lr), "Adam (constant learning rate)"


def _adamw(lr: float, steps: int, config) -> tuple[Any, str]:
    import keras

    return (keras.optimizers.AdamW(lr, weight_decay=config.weight_decay),
            f"AdamW (constant learning rate, weight_decay={config.weight_decay:g})")


def _adamw_scheduled(lr: float, steps: int, config) -> tuple[Any, str]:
    import keras

    if config.schedule == "staircase":
        # Seed 000's strategy #1: a constant rate, multiplied by β at each plateau of the
        # validation loss (the ReduceLROnPlateau callback comes with the stage's stopper).
        return (keras.optimizers.AdamW(lr, weight_decay=config.weight_decay),
                f"AdamW at {lr:.3g}, ×{config.plateau_factor:g} at each plateau of val_loss "
                f"(patience {config.plateau_patience}), weight_decay={config.weight_decay:g}")
    if config.schedule == "onecycle":
        from keras_recipes.schedules import OneCycle

        schedule = OneCycle(max_lr=lr, total_steps=steps)
        desc = f"OneCycle(max_lr={lr:.3g}, total_steps={steps})"
    else:
        warmup = max(1, steps // 10)
        schedule = keras.optimizers.schedules.CosineDecay(
            lr / 25, decay_steps=max(1, steps - warmup), alpha=1e-3,
            warmup_target=lr, warmup_steps=warmup)
        desc = f"CosineDecay with {warmup} warm-up steps to {lr:.3g}"
    return (keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
            f"AdamW + {desc}, weight_decay={config.weight_decay:g}")


def _stop_when_fitted(config, stage: Stage) -> tuple[Any, str]:
    from keras_recipes.callbacks import EarlyStopping

    bound = stage.gate.bound
    return (EarlyStopping(monitor="val_accuracy", mode="max", stopping_threshold=bound,
                          patience=stage.epochs),
            f"EarlyStopping(stops once the accuracy on the training examples, in inference "
            f"mode, reaches {bound:g}; no patience limit)")


def _stop_on_val_loss(config, stage: Stage) -> tuple[Any, str]:
    from keras_recipes.callbacks import EarlyStopping

    return (EarlyStopping(monitor="val_loss", patience=config.patience),
            f"EarlyStopping(val_loss, patience={config.patience}, restore best weights)")


def _keep_last(config, stage: Stage) -> tuple[Any, str]:
    from keras_recipes.callbacks import NaNGuard

    # The schedule ends at a tiny rate (one-cycle: max_lr/1e5), where the weights have
    # settled; the epoch of lowest validation loss is a noisy pick among the last few
    # (benchmarks/stage3_seeds.py: over six splits of digits, keeping it lost 4 test examples
    # against keeping the last). NaNGuard only puts the last finite epoch back if the loss
    # diverges.
    guard = NaNGuard(restore_optimizer=False)
    desc = ("the schedule runs to its end and the last epoch is kept (NaNGuard: a non-finite "
            "loss stops training and puts the last finite epoch's weights back)")
    if getattr(config, "schedule", None) != "staircase":
        return guard, desc
    from keras_recipes.callbacks import ReduceLROnPlateau

    plateau = ReduceLROnPlateau(monitor="val_loss", factor=config.plateau_factor,
                                patience=config.plateau_patience)
    return [guard, plateau], desc + "; the staircase found is recorded under lr.staircase"


#: Seed 000's three stages ("méthode rouleau compresseur"), with the defaults of
#: :func:`~keras_recipes.workflows.steamroller`'s numbered arguments (``stage1_epochs``...),
#: which :meth:`~keras_recipes.workflows.SteamrollerConfig.stages` sets on them.
STEAMROLLER_STAGES: tuple[Stage, ...] = (
    Stage(
        name="overfit",
        goal="a few examples of a few classes, no regularisation, no augmentation: prove the "
             "network can overfit",
        data=DataPlan(classes="chosen", sample=True),
        epochs=100,
        optimizer=_adam,
        stopper=_stop_when_fitted,
        # BatchNormalization's moving statistics lag behind training mode's batch statistics:
        # the stage validates, in inference mode, on the examples it must fit.
        validation="train",
        gate=Gate("train_accuracy", bound=0.99),
        recalibrate_every_epoch=True,
        # Seed 003: "overfit one minibatch to zero training loss", checked on the fresh
        # network (restored afterwards) before the stage trains.
        overfit_minibatch=True,
        next_steps=(
            "Check the labels and the preprocessing: show a few examples with their labels.",
            "Check the output layer and the loss (softmax + sparse categorical cross-entropy "
            "for integer labels).",
            "Train longer (raise stage1_epochs) or pick the learning rate by hand around the "
            "LR finder's curve.",
            "Use a bigger model: a network that cannot overfit a handful of examples is too "
            "small or broken.",
        ),
    ),
    Stage(
        name="generalise",
        goal="all the data of those classes, some regularisation and augmentation: prove the "
             "network can generalise",
        data=DataPlan(classes="chosen"),
        epochs=20,
        optimizer=_adamw,
        stopper=_stop_on_val_loss,
        gate=Gate("val_accuracy", bound=0.9),
        dropout=0.1,
        augment=0.05,
        next_steps=(
            "Add regularisation (dropout, weight_decay) or augmentation if train accuracy is "
            "far above validation accuracy.",
            "Train longer or raise the learning rate if both accuracies are low "
            "(underfitting).",
            "Get more data for these classes, or check the validation labels.",
            "Lower stage2_min_val_accuracy only if the bound is unrealistic for this task.",
        ),
    ),
    Stage(
        name="train",
        goal="all the data and all the classes, a schedule, a bigger network: normal training",
        data=DataPlan(classes="all"),
        epochs=20,
        optimizer=_adamw_scheduled,
        stopper=_keep_last,
        gate=Gate("test_accuracy"),
        # The one-cycle peak: the combined rule (geometric mean of the curve's knee and
        # minimum/10) reaches >= 0.97 of a 7-point grid's best peak on eight tasks, where
        # minimum/10 alone gets 0.959 on spirals (benchmarks/recipe_vs_defaults.py).
        lr_rule="combined",
        network="grown",
        dropout=0.1,
        augment=0.1,
        error_analysis=True,
    ),
)

#: Name and goal of each default stage, by number.
STAGE_GOALS = {n: (s.name, s.goal) for n, s in enumerate(STEAMROLLER_STAGES, start=1)}


class StageData(NamedTuple):
    """The data of one steamroller stage.

    ``train``, ``val`` and ``test`` are ``(x, y)`` pairs whose labels are remapped to
    ``0..num_classes-1``; ``classes`` lists the original labels in that order.
    """

    stage: int
    name: str
    goal: str
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    classes: list[int]
    class_names: list[str]

    @property
    def num_classes(self) -> int:
        """Number of classes this stage trains on."""
        return len(self.classes)

    def sizes(self) -> dict[str, int]:
        """``{"train": n, "val": n, "test": n}``."""
        return {"train": len(self.train[0]), "val": len(self.val[0]),
                "test": len(self.test[0])}


def resolve_stage_classes(stage_classes: int | Sequence[int], y) -> list[int]:
    """The original labels of the stage-1/2 classes, checked against ``y``.

    An int ``k`` picks the first ``k`` labels in sorted order; a sequence is taken as is.

    Raises:
        ValueError: ``k < 2``, ``k`` larger than the number of classes, or labels that are
            repeated or absent from ``y``.
    """
    present = [int(c) for c in np.unique(y)]
    if isinstance(stage_classes, int | np.integer) and not isinstance(stage_classes, bool):
        if stage_classes > len(present):
            fail("stage_classes", f"<= the number of classes ({len(present)})",
                 stage_classes)
        check_number("stage_classes", stage_classes, low=2, integer=True)
        return present[: int(stage_classes)]
    if isinstance(stage_classes, str | bytes) or not isinstance(stage_classes, Sequence):
        fail("stage_classes", "an int >= 2 or a list of class labels", stage_classes)
    chosen = [int(c) for c in stage_classes]
    if len(chosen) < 2 or len(set(chosen)) != len(chosen):
        raise ArgumentError("stage_classes", "a list of at least 2 distinct class labels",
                            list(stage_classes), template="{stage_classes:subject} must list "
                            "at least 2 distinct class labels. "
                            + template_received(stage_classes=list(stage_classes)))
    missing = sorted(set(chosen) - set(present))
    if missing:
        raise ArgumentError("stage_classes", literal_text(f"classes of the data set {present}"),
                            list(stage_classes), template="{stage_classes:subject} holds "
                            + literal_text(f"labels {missing} that are not classes of the data "
                                           f"set (classes: {present}). ")
                            + template_received(stage_classes=list(stage_classes)))
    return chosen


def plan_stages(
    x,
    y,
    class_names: Sequence[str] | None = None,
    stage_classes: int | Sequence[int] = 2,
    stage1_per_class: int = 10,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    stages: Sequence[Stage] | None = None,
) -> list[StageData]:
    """Split the data once, then cut every stage out of the same split.

    The whole data set is split (stratified) into train / val / test first, and every stage
    draws from those parts only, so no stage ever trains on the final test set:

    - stage 1: ``stage1_per_class`` training examples of each of ``stage_classes``
      classes (val/test: those classes' val/test examples, for reference only);
    - stage 2: every train/val/test example of those classes;
    - stage 3: everything.

    Other ``stages`` are cut by their :class:`DataPlan` the same way.

    Use it to inspect what the steamroller will train on, or to run the stages by hand.

    Args:
        x: inputs, with a leading batch axis.
        y: integer class labels.
        class_names: one name per class label. Defaults to the labels as strings.
        stage_classes: number of classes of stages 1–2 (the first ``k`` labels), or the
            list of labels. Defaults to ``2``.
        stage1_per_class: training examples per class in stage 1, ``>= 1``.
            Defaults to ``10``.
        fractions: train / val / test fractions. Defaults to ``(0.6, 0.2, 0.2)``.
        seed: seed of the split and of the draw. Defaults to ``0``.
        stages: the :class:`Stage` sequence. Defaults to :data:`STEAMROLLER_STAGES`.

    Returns:
        One :class:`StageData` per stage.

    Raises:
        ValueError: continuous targets, a bad ``stage_classes``, ``stage1_per_class < 1``
            or larger than the training examples of a chosen class.

    Example:

    >>> from keras_recipes.data import load_dataset
    >>> from keras_recipes.workflows import plan_stages
    >>> ds = load_dataset("digits")
    >>> plan = plan_stages(ds.x, ds.y, stage_classes=2, stage1_per_class=10)
    >>> len(plan[0].train[0]), plan[0].classes, plan[2].num_classes
    (20, [0, 1], 10)
    """
    labels = class_labels(y)
    if labels is None:
        raise ValueError("The steamroller needs class labels; `y` holds continuous targets.")
    check_number("seed", seed, integer=True)
    chosen = resolve_stage_classes(stage_classes, labels)
    check_number("stage1_per_class", stage1_per_class, low=1, integer=True)
    if len(fractions) != 3:
        raise ValueError("Argument `fractions` must hold 3 values (train, val, test). "
                         f"{received(fractions=tuple(fractions))}")
    train, val, test = split(x, labels, fractions=fractions, seed=seed)
    smallest = min(int(np.sum(train[1] == c)) for c in chosen)
    if stage1_per_class > smallest:
        fail("stage1_per_class", f"<= {smallest}, the training examples of the smallest "
             "chosen class", stage1_per_class)
    names = [str(c) for c in range(int(labels.max()) + 1)] if class_names is None \
        else [str(n) for n in class_names]

    def cut(part, per_class=None):
        s = subset(part[0], part[1], classes=chosen, per_class=per_class, seed=seed)
        return s.x, s.y

    small_names = [names[c] if c < len(names) else str(c) for c in chosen]
    plan = []
    for number, stage in enumerate(STEAMROLLER_STAGES if stages is None else stages, start=1):
        if stage.data.classes == "chosen":
            per_class = int(stage1_per_class) if stage.data.sample else None
            parts = (cut(train, per_class), cut(val), cut(test))
            classes, cls_names = chosen, small_names
        else:
            parts = (_sample_all(train, int(stage1_per_class), seed) if stage.data.sample
                     else train, val, test)
            classes, cls_names = list(range(len(names))), names
        plan.append(StageData(number, stage.name, stage.goal, *parts, list(classes),
                              list(cls_names)))
    return plan


def _sample_all(part, per_class: int, seed: int):
    """``per_class`` training examples of every class of ``part``."""
    s = subset(part[0], part[1], per_class=per_class, seed=seed)
    return s.x, s.y
