"""Former home of the steamroller's data plan; see
:mod:`keras_recipes.workflows.steamroller.stages`.

Kept so that imports written for earlier versions keep working.
"""

from keras_recipes.workflows.steamroller.stages import (
    STAGE_GOALS,
    StageData,
    plan_stages,
    resolve_stage_classes,
)

__all__ = ["STAGE_GOALS", "StageData", "plan_stages", "resolve_stage_classes"]
