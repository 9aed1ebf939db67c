"""Former home of the practical workflow's report; see
:mod:`keras_recipes.workflows.practical.report`.

Kept so that imports written for earlier versions keep working.
"""

from keras_recipes.workflows.common import findings_as_dicts
from keras_recipes.workflows.practical.report import (
    ADVICE,
    PracticalReport,
    PracticalStep,
    write_practical_report,
)

__all__ = ["ADVICE", "PracticalReport", "PracticalStep", "finding_dict",
           "write_practical_report"]


def finding_dict(finding) -> dict:
    """One finding of the doctor as a JSON-safe dict (see
    :func:`~keras_recipes.workflows.common.findings_as_dicts`)."""
    return findings_as_dicts([finding])[0]
