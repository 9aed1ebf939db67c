"""Seed 004's seven-step practical approach to hyperparameters.

- :func:`practical` runs the seven steps in one call and writes a report
  (:mod:`~keras_recipes.workflows.practical.workflow`);
- :class:`PracticalConfig` holds and checks its settings
  (:mod:`~keras_recipes.workflows.practical.config`);
- :mod:`~keras_recipes.workflows.practical.steps` has one named function per step, each
  ``step(run, state)`` over the run's
  :class:`~keras_recipes.workflows.practical.context.RunContext` and the typed
  :class:`PracticalState` that the steps hand to each other
  (:mod:`~keras_recipes.workflows.practical.state`);
- :class:`PracticalReport` and :class:`PracticalStep` record what the steps found
  (:mod:`~keras_recipes.workflows.practical.report`).
"""

from keras_recipes.workflows.common import MODEL_NAMES
from keras_recipes.workflows.practical.config import PracticalConfig
from keras_recipes.workflows.practical.report import PracticalReport, PracticalStep
from keras_recipes.workflows.practical.state import PracticalState
from keras_recipes.workflows.practical.workflow import practical

__all__ = ["MODEL_NAMES", "PracticalConfig", "PracticalReport", "PracticalState",
           "PracticalStep", "practical"]
