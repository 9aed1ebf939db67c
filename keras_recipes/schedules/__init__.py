"""Learning-rate schedules, pure functions of the step that run in the compiled train step.

Keras's own ``ExponentialDecay``, ``InverseTimeDecay``, ``PolynomialDecay``, ``CosineDecay``
and ``CosineDecayRestarts`` cover the seeds' exponential, inverse, halving, linear and
cosine decays; this package adds what Keras lacks.
"""

from keras_recipes.schedules.chain import Chain
from keras_recipes.schedules.cyclic_lr import CyclicLR
from keras_recipes.schedules.inverse_sqrt_decay import InverseSqrtDecay
from keras_recipes.schedules.multi_step_decay import MultiStepDecay
from keras_recipes.schedules.one_cycle import OneCycle, OneCycleMomentum
from keras_recipes.schedules.plot import plot_schedule, schedule_values
from keras_recipes.schedules.warm_restarts import WarmRestarts
from keras_recipes.schedules.warmup import Warmup

__all__ = [
    "Chain",
    "CyclicLR",
    "InverseSqrtDecay",
    "MultiStepDecay",
    "OneCycle",
    "OneCycleMomentum",
    "Warmup",
    "WarmRestarts",
    "plot_schedule",
    "schedule_values",
]
