"""keras_recipes: training recipes for Keras 3.

Optimizers, learning-rate schedules, a learning-rate finder, early stopping variants, a
diagnostic logger with a training doctor, analysis tools and the staged "steamroller"
workflow, all as objects that plug into ``model.fit``.

Saved models reload with only ``import keras_recipes``: importing the package imports Keras
and the subpackages that define the library's Keras objects (optimizers, schedules,
initializers, layers, regularizers, callbacks, the LR finder's and the diagnostics'
callbacks, ensembles, the workflows' progress callback). Each class registers itself under
``"keras_recipes>Name"`` when it is defined (``keras.saving.register_keras_serializable``),
so ``keras.saving.load_model`` finds it. ``tests/test_registration.py`` lists those classes
from the sources and reloads each in a fresh process that imports only ``keras_recipes``.
The other subpackages (``analysis``, ``data``, ``tuning``, ``workflows``...) are imported on
first access.

One exception: when this process *is* the ``keras-recipes`` command (its console script,
``python -m keras_recipes.cli``, or a script built on :mod:`keras_recipes.cli` that sets
``KERAS_RECIPES_COMMAND_LINE = True`` before its first import of the package, as the
``recipes/`` scripts do), the package imports nothing up front, so that the command
checks its arguments and refuses bad input before any backend starts. Each command then
imports what it runs; every module registers its own classes as it is imported. Call
:func:`import_keras_objects` to register everything at once in that case.
"""

from __future__ import annotations

import importlib
import os
import sys

__version__ = "0.2.0"

#: Every module that defines a registered Keras object is imported by one of these.
_REGISTERING = (
    "callbacks",
    "diagnostics",
    "ensembles",
    "initializers",
    "layers",
    "lr_finder",
    "optimizers",
    "regularizers",
    "schedules",
    "workflows.progress",  # StageProgress
)

_LAZY = (
    "analysis",
    "data",
    "models",
    "playground",
    "plotting",
    "transfer",
    "tuning",
    "workflows",
    *(name for name in _REGISTERING if "." not in name),
)


def _started_as_command_line() -> bool:
    """Whether this process is the ``keras-recipes`` command, before it has parsed anything.

    True for the console script (``__main__`` is the ``keras-recipes`` launcher), for
    ``python -m keras_recipes.cli`` (``sys.orig_argv`` names the module), and for a script
    whose ``__main__`` sets ``KERAS_RECIPES_COMMAND_LINE = True`` first.
    """
    if getattr(sys.modules.get("__main__"), "KERAS_RECIPES_COMMAND_LINE", False) is True:
        return True
    argv = list(getattr(sys, "orig_argv", ()))
    if "-m" in argv:
        return argv[argv.index("-m") + 1:argv.index("-m") + 2] == ["keras_recipes.cli"]
    launcher = getattr(sys.modules.get("__main__"), "__file__", None) or ""
    return os.path.splitext(os.path.basename(launcher))[0] in ("keras-recipes",
                                                                "keras-recipes-script")


def import_keras_objects() -> None:
    """Import every module that defines one of the library's Keras objects.

    ``import keras_recipes`` does it already, except inside the ``keras-recipes`` command
    (see the module docstring). Calling it again is cheap.

    Example:

    >>> import keras_recipes
    >>> keras_recipes.import_keras_objects()
    >>> "keras_recipes>Yogi" in keras_recipes.register_keras_objects()
    True
    """
    for name in _REGISTERING:
        importlib.import_module(f"keras_recipes.{name}")


if not _started_as_command_line():
    import_keras_objects()

__all__ = [
    "__version__",
    "analysis",
    "callbacks",
    "data",
    "diagnostics",
    "ensembles",
    "initializers",
    "layers",
    "load_model",
    "import_keras_objects",
    "lr_finder",
    "models",
    "optimizers",
    "playground",
    "plotting",
    "register_keras_objects",
    "regularizers",
    "schedules",
    "transfer",
    "tuning",
    "workflows",
]


def register_keras_objects() -> list[str]:
    """The names under which the library's Keras objects are registered, sorted.

    Importing ``keras_recipes`` registers them (see the module docstring); this only lists
    them: ``"keras_recipes>OneCycle"``, ... It also lists the names that earlier versions
    used for what are now Keras's own classes (``"keras_recipes>GlorotUniform"``), which
    still resolve when a file saved then is loaded.

    Returns:
        The registered names, sorted.

    Example:

    >>> import keras_recipes
    >>> "keras_recipes>OneCycle" in keras_recipes.register_keras_objects()
    True
    """
    import keras

    return sorted(k for k in keras.saving.get_custom_objects() if k.startswith("keras_recipes>"))


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):  # noqa: A002
    """Load a ``.keras`` model that uses keras_recipes objects.

    The same as ``keras.saving.load_model`` (same arguments and defaults): importing
    ``keras_recipes`` has registered the library's objects, so plain
    ``keras.saving.load_model`` works too; this function only makes the dependency explicit.

    Example:

    >>> import keras, keras_recipes, tempfile, os
    >>> from keras_recipes.schedules import OneCycle
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=keras.optimizers.SGD(OneCycle(0.1, 10)), loss="mse")
    >>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
    >>> model.save(path)
    >>> type(keras_recipes.load_model(path).optimizer.learning_rate).__name__
    'OneCycle'
    """
    import keras

    import_keras_objects()
    return keras.saving.load_model(filepath, custom_objects=custom_objects, compile=compile,
                                   safe_mode=safe_mode)


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f"keras_recipes.{name}")
    raise AttributeError(f"module 'keras_recipes' has no attribute {name!r}")
