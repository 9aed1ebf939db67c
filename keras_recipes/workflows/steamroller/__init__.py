"""The steamroller: seed 000's staged "méthode rouleau compresseur".

- :mod:`.config`: :class:`SteamrollerConfig`, every setting, validated once, and the
  one place where the numbered arguments meet the default stages
  (:meth:`SteamrollerConfig.stages`);
- :mod:`.stages`: :class:`Stage` (with :class:`DataPlan` and :class:`Gate`), the three
  default stages and :func:`plan_stages`, which cuts each stage's data from one split;
- :mod:`.runner`: :func:`run_stage`, the same for every stage;
- :mod:`.workflow`: :func:`steamroller` and :func:`run_steamroller`, the loop over stages
  with resuming and the report;
- :mod:`.folder`: what a run may write in its folder and what an earlier run left there;
- :mod:`.summary`: :class:`StageRecord` and :class:`RunSummary`, ``stage.json`` and
  ``summary.json`` typed, read back as untrusted input;
- :mod:`.report`: :class:`SteamrollerReport`, :class:`StageResult` and ``report.md``.
"""

from keras_recipes.workflows.common import MODEL_NAMES
from keras_recipes.workflows.steamroller.config import (
    IDENTITY_KEYS,
    SCHEDULES,
    STAGE_ARGUMENTS,
    SteamrollerConfig,
    SteamrollerInputError,
)
from keras_recipes.workflows.steamroller.folder import OUTPUTS, STAGE_FILES, SUMMARY_VERSION
from keras_recipes.workflows.steamroller.report import StageResult, SteamrollerReport
from keras_recipes.workflows.steamroller.stages import (
    STAGE_GOALS,
    STEAMROLLER_STAGES,
    DataPlan,
    Gate,
    Stage,
    StageData,
    plan_stages,
)
from keras_recipes.workflows.steamroller.summary import RunSummary, StageRecord
from keras_recipes.workflows.steamroller.workflow import run_steamroller, steamroller

__all__ = [
    "IDENTITY_KEYS",
    "MODEL_NAMES",
    "OUTPUTS",
    "SCHEDULES",
    "STAGE_ARGUMENTS",
    "STAGE_FILES",
    "STAGE_GOALS",
    "STEAMROLLER_STAGES",
    "SUMMARY_VERSION",
    "DataPlan",
    "Gate",
    "RunSummary",
    "Stage",
    "StageData",
    "StageRecord",
    "StageResult",
    "SteamrollerConfig",
    "SteamrollerInputError",
    "SteamrollerReport",
    "plan_stages",
    "run_steamroller",
    "steamroller",
]
