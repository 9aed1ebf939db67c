"""Workflows: the steamroller and the practical approach, with what they share.

Layout: :mod:`.steamroller` (config, stages as data, one stage runner, the loop, its
report), :mod:`.practical` (config, one function per step, its report), and the shared
:mod:`.common` (model presets, figures, atomic files), :mod:`.report` (Markdown reports),
:mod:`.progress` (one-line progress), :mod:`.run_folder` (owned, locked run folders) and
:mod:`.standardize` (train-split standardisation inside the model).
"""

from keras_recipes.workflows.practical import (
    PracticalConfig,
    PracticalReport,
    PracticalStep,
    practical,
)
from keras_recipes.workflows.report import Report
from keras_recipes.workflows.run_folder import RunFolder, RunFolderError
from keras_recipes.workflows.steamroller import (
    STEAMROLLER_STAGES,
    DataPlan,
    Gate,
    Stage,
    StageData,
    StageResult,
    SteamrollerConfig,
    SteamrollerInputError,
    SteamrollerReport,
    plan_stages,
    run_steamroller,
    steamroller,
)

__all__ = [
    "STEAMROLLER_STAGES",
    "DataPlan",
    "Gate",
    "PracticalConfig",
    "PracticalReport",
    "PracticalStep",
    "Report",
    "RunFolder",
    "RunFolderError",
    "Stage",
    "StageData",
    "StageProgress",
    "StageResult",
    "SteamrollerConfig",
    "SteamrollerInputError",
    "SteamrollerReport",
    "plan_stages",
    "practical",
    "run_steamroller",
    "standardization_layer",
    "steamroller",
]

#: Names whose modules import Keras: loaded on first use, so that importing the workflows
#: (the command line does, before it knows whether it will train) starts no backend.
_LAZY = {"StageProgress": "keras_recipes.workflows.progress",
         "standardization_layer": "keras_recipes.workflows.standardize"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
