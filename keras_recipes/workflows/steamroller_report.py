"""Former home of the steamroller's report; see :mod:`keras_recipes.workflows.steamroller.report`.

Kept so that imports written for earlier versions keep working.
"""

from keras_recipes.workflows.steamroller.report import (
    REPORT_FILE,
    SUMMARY_FILE,
    StageResult,
    SteamrollerReport,
    render_markdown,
)

__all__ = ["REPORT_FILE", "SUMMARY_FILE", "StageResult", "SteamrollerReport", "render_markdown"]
