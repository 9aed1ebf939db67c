"""Workflows: the staged steamroller, its report writer and its data plan."""

from keras_recipes.workflows.practical import PracticalReport, PracticalStep, practical
from keras_recipes.workflows.progress import StageProgress
from keras_recipes.workflows.report import Report
from keras_recipes.workflows.run_folder import RunFolder, RunFolderError
from keras_recipes.workflows.stages import StageData, plan_stages
from keras_recipes.workflows.standardize import standardization_layer
from keras_recipes.workflows.steamroller import SteamrollerInputError, steamroller
from keras_recipes.workflows.steamroller_report import StageResult, SteamrollerReport

__all__ = [
    "PracticalReport",
    "PracticalStep",
    "Report",
    "RunFolder",
    "RunFolderError",
    "StageData",
    "StageProgress",
    "StageResult",
    "SteamrollerInputError",
    "SteamrollerReport",
    "plan_stages",
    "practical",
    "standardization_layer",
    "steamroller",
]
