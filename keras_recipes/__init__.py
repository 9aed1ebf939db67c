"""keras_recipes: training recipes for Keras 3.

Optimizers, learning-rate schedules, a learning-rate finder, early stopping variants, a
diagnostic logger with a training doctor, analysis tools and the staged "steamroller"
workflow, all as objects that plug into ``model.fit``.

Subpackages are imported on first access (``keras_recipes.schedules``...), so that
``import keras_recipes`` and the ``keras-recipes --help`` command stay fast.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "analysis",
    "callbacks",
    "data",
    "diagnostics",
    "ensembles",
    "initializers",
    "layers",
    "lr_finder",
    "models",
    "optimizers",
    "playground",
    "plotting",
    "schedules",
    "transfer",
    "tuning",
    "workflows",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_recipes.{name}")
    raise AttributeError(f"module 'keras_recipes' has no attribute {name!r}")
