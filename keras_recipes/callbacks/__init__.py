"""Callbacks for ``model.fit``: early stopping variants, keep-best, time budget, NaN guard."""

from keras_recipes.callbacks.convergence_stopping import ConvergenceStopping
from keras_recipes.callbacks.early_stopping import EarlyStopping
from keras_recipes.callbacks.generalization_gap_stopping import GeneralizationGapStopping
from keras_recipes.callbacks.hyperparameter_scheduler import HyperparameterScheduler
from keras_recipes.callbacks.keep_best import KeepBest
from keras_recipes.callbacks.learning_rate_monitor import LearningRateMonitor
from keras_recipes.callbacks.nan_guard import NaNGuard
from keras_recipes.callbacks.prechelt_stopping import PrecheltStopping
from keras_recipes.callbacks.precise_batchnorm import (
    PreciseBatchNorm,
    batchnorm_layers,
    recalibrate_batchnorm,
)
from keras_recipes.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from keras_recipes.callbacks.snapshot_ensemble import SnapshotEnsemble
from keras_recipes.callbacks.stop_reason import StopReason
from keras_recipes.callbacks.time_budget import TimeBudget
from keras_recipes.callbacks.watchdog import Watchdog, WatchdogEvent

__all__ = [
    "ConvergenceStopping",
    "EarlyStopping",
    "GeneralizationGapStopping",
    "HyperparameterScheduler",
    "KeepBest",
    "LearningRateMonitor",
    "NaNGuard",
    "PrecheltStopping",
    "PreciseBatchNorm",
    "ReduceLROnPlateau",
    "SnapshotEnsemble",
    "StopReason",
    "TimeBudget",
    "Watchdog",
    "WatchdogEvent",
    "batchnorm_layers",
    "recalibrate_batchnorm",
]
