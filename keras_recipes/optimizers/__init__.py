"""Optimizers missing from Keras 3, and a report of optimizer memory.

Keras's own SGD, momentum, Nesterov, Adagrad, RMSprop and Adam cover the rest of the
course notes' algorithms (see the reference tests and docs for where they differ).
"""

from keras_recipes.optimizers.lookahead import Lookahead
from keras_recipes.optimizers.nesterov_rmsprop import NesterovRMSprop
from keras_recipes.optimizers.radam import RAdam
from keras_recipes.optimizers.state_size import state_size
from keras_recipes.optimizers.yogi import Yogi

__all__ = ["Lookahead", "NesterovRMSprop", "RAdam", "Yogi", "state_size"]
