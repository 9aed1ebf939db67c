"""`PracticalConfig`: every setting of :func:`~keras_recipes.workflows.practical`, checked once."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

from keras_recipes._paths import check_output_dir
from keras_recipes._validation import check_number, check_one_of
from keras_recipes.workflows.common import MODEL_NAMES, check_model

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
PENALTIES = ("decoupled", "l2")
#: The settings recorded under ``"config"`` in ``summary.json``, in that order.
SUMMARY_KEYS = ("seed", "optimizer", "penalty", "standardize", "initial_loss_tolerance",
                "sample_per_class", "overfit_lr", "overfit_epochs", "overfit_accuracy",
                "lr_candidates", "lr_steps", "min_loss_drop", "step3_weight_decay",
                "lr_factors", "weight_decays", "grid_epochs", "objective", "top_k",
                "train_epochs", "max_loops", "batch_size", "verbose", "loss_every",
                "loss_smoothing")
_COUNTS = ("sample_per_class", "overfit_epochs", "lr_steps", "grid_epochs", "top_k",
           "train_epochs", "batch_size")
_RATES = (("lr_candidates", False), ("lr_factors", False), ("weight_decays", True))


@dataclasses.dataclass(frozen=True)
class PracticalConfig:
    """The settings of one :func:`~keras_recipes.workflows.practical` run.

    The fields are :func:`practical`'s arguments (less ``stream``), with the same defaults
    and meaning. Construction checks them all, before any data is loaded, and raises the
    ``ValueError`` that :func:`practical` raises for the same setting; it reads the file
    system to check ``out`` (a folder, or one that can be created) but creates nothing.
    Counts become ``int``, the three rate lists tuples of ``float`` and ``out`` a
    :class:`~pathlib.Path`. A config cannot be changed; :func:`dataclasses.replace` gives a
    checked copy with other values.

    Two settings are read by steps 5 and 7 only: ``loss_every``, the iterations between two
    rows of ``config<i>/iterations.csv`` (the mean training loss of those iterations and
    its debiased EMA; ``0`` writes no file), defaults to ``10``; ``loss_smoothing``, the
    EMA's β in ``[0, 1)``, defaults to ``0.9`` (see
    :class:`~keras_recipes.workflows.practical.iteration_loss.IterationLoss`).

    Two set the repair (see ``docs/repair.md``): ``repair`` (watch step 2 with a
    :class:`~keras_recipes.callbacks.Watchdog` and repair a failed check, at most twice),
    defaults to ``False``; ``training``, a
    :class:`~keras_recipes.workflows.repair.TrainingSettings` for a preset's activation,
    initialisation and BatchNorm and for gradient clipping (its ``standardize`` must agree
    with ``standardize``; its ``learning_rate`` and ``optimizer`` must be ``None``, since
    ``overfit_lr``, step 3 and ``optimizer`` set them), defaults to ``None``.

    Example:

    >>> import dataclasses
    >>> from keras_recipes.workflows import PracticalConfig
    >>> config = PracticalConfig(lr_factors=[1, 3], top_k=1, out="/tmp/practical_cfg")
    >>> config.lr_factors, config.summary_dict()["top_k"]
    ((1.0, 3.0), 1)
    >>> dataclasses.replace(config, top_k=0)
    Traceback (most recent call last):
    ...
    keras_recipes._validation.ArgumentError: Argument `top_k` must be >= 1. Received: top_k=0
    """

    dataset: Any = "digits"
    model: str | Callable[..., Any] = "mlp"
    out: str | os.PathLike = "runs/practical"
    target: str | None = None
    drop: str | Sequence[str] | None = None
    seed: int = 0
    standardize: bool = True
    optimizer: str = "adam"
    penalty: str = "decoupled"
    initial_loss_tolerance: float = 0.5
    sample_per_class: int = 2
    overfit_lr: float = 1e-2
    overfit_epochs: int = 200
    overfit_accuracy: float = 1.0
    lr_candidates: Sequence[float] = (1e-1, 1e-2, 1e-3, 1e-4)
    lr_steps: int = 100
    min_loss_drop: float = 0.1
    step3_weight_decay: float = 1e-4
    lr_factors: Sequence[float] = (1 / 3, 1.0, 3.0)
    weight_decays: Sequence[float] = (1e-4, 1e-5, 0.0)
    grid_epochs: int = 2
    objective: str = "val_loss"
    top_k: int = 2
    train_epochs: int = 15
    max_loops: int = 1
    batch_size: int = 32
    fresh: bool = False
    verbose: int = 1
    loss_every: int = 10
    loss_smoothing: float = 0.9
    repair: bool = False
    training: Any = None

    def __post_init__(self) -> None:
        check_number("seed", self.seed, low=0, integer=True)
        check_one_of("optimizer", self.optimizer, OPTIMIZERS)
        check_one_of("penalty", self.penalty, PENALTIES)
        for name in _COUNTS:
            check_number(name, getattr(self, name), low=1, integer=True)
        # Step 3's range test needs at least 10 steps (find_lr): refused here, not after
        # steps 1-2 have trained.
        check_number("lr_steps", self.lr_steps, low=10, integer=True)
        check_number("max_loops", self.max_loops, low=0, integer=True)
        check_number("loss_every", self.loss_every, low=0, integer=True)
        check_number("loss_smoothing", self.loss_smoothing, low=0, high=1,
                     high_inclusive=False)
        check_number("initial_loss_tolerance", self.initial_loss_tolerance, low=0,
                     low_inclusive=False)
        check_number("overfit_lr", self.overfit_lr, low=0, low_inclusive=False)
        check_number("overfit_accuracy", self.overfit_accuracy, low=0, high=1,
                     low_inclusive=False)
        check_number("min_loss_drop", self.min_loss_drop, low=0, high=1, high_inclusive=False)
        check_number("step3_weight_decay", self.step3_weight_decay, low=0)
        for name, zero_ok in _RATES:
            values = getattr(self, name)
            if not values:
                raise ValueError(f"Argument `{name}` must not be empty. "
                                 f"Received: {name}={values}")
            for v in values:
                check_number(name, v, low=0, low_inclusive=zero_ok)
        if self.training is not None:
            from keras_recipes.workflows.repair import TrainingSettings

            if not isinstance(self.training, TrainingSettings):
                raise ValueError("Argument `training` must be None or a TrainingSettings. "
                                 f"Received: training={self.training!r}")
            if self.training.standardize != bool(self.standardize) or \
                    self.training.learning_rate is not None or \
                    self.training.optimizer is not None:
                raise ValueError("Argument `training` must leave learning_rate and optimizer "
                                 f"None and have standardize={bool(self.standardize)}, as the "
                                 "other arguments set them. "
                                 f"Received: training={self.training!r}")
        out = check_output_dir(self.out, "out")  # creates nothing
        if isinstance(self.model, str):
            check_one_of("model", self.model, MODEL_NAMES)
        else:
            check_model(self.model)  # a callable; anything else is refused here
        normal = {"out": out, "seed": int(self.seed), "standardize": bool(self.standardize),
                  "fresh": bool(self.fresh), "verbose": int(self.verbose),
                  "repair": bool(self.repair),
                  "max_loops": int(self.max_loops), "loss_every": int(self.loss_every),
                  "loss_smoothing": float(self.loss_smoothing),
                  **{name: int(getattr(self, name)) for name in _COUNTS},
                  **{name: tuple(float(v) for v in getattr(self, name)) for name, _ in _RATES}}
        if self.drop is not None and not isinstance(self.drop, str):
            normal["drop"] = tuple(self.drop)
        for name, value in normal.items():
            object.__setattr__(self, name, value)

    def summary_dict(self) -> dict[str, Any]:
        """The settings recorded under ``"config"`` in ``summary.json`` and in the report's
        settings table: :data:`SUMMARY_KEYS`, with the rate tuples as lists."""
        record = {key: getattr(self, key) for key in SUMMARY_KEYS}
        if self.repair:
            record["repair"] = True
        if self.training is not None:
            record["training"] = self.training.to_json()
        return {key: list(v) if isinstance(v, tuple) else v for key, v in record.items()}

    def training_settings(self) -> Any:
        """The :class:`~keras_recipes.workflows.repair.TrainingSettings` the checks start
        from: ``training``'s network and clipping, step 2's rate ``overfit_lr``, the
        ``optimizer`` and ``standardize``."""
        from keras_recipes.workflows.repair import TrainingSettings

        base = self.training if self.training is not None else TrainingSettings(
            standardize=self.standardize)
        return base.replace(learning_rate=self.overfit_lr, optimizer=self.optimizer)
