"""keras_recipes: training recipes for Keras 3.

Optimizers, learning-rate schedules, a learning-rate finder, early stopping variants, a
diagnostic logger with a training doctor, analysis tools and the staged "steamroller"
workflow, all as objects that plug into ``model.fit``.

Subpackages are imported on first access (``keras_recipes.schedules``...), so that
``import keras_recipes`` and the ``keras-recipes --help`` command stay fast.

Saved models reload with only ``import keras_recipes``: every Keras object of the library
(optimizer, schedule, initializer, layer, regularizer, callback) is registered under
``"keras_recipes>Name"`` as soon as Keras itself is imported. If Keras is already imported,
``import keras_recipes`` registers them at once; otherwise a one-shot import hook registers
them right after ``import keras`` finishes. Either way ``keras.saving.load_model`` finds them.
:func:`load_model` does the same explicitly.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import threading
import warnings

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
    "regularizers",
    "schedules",
    "transfer",
    "tuning",
    "workflows",
)

#: Modules that define registered Keras objects (``keras_recipes>Name``).
REGISTERED_MODULES = (
    "keras_recipes.initializers",
    "keras_recipes.layers",
    "keras_recipes.optimizers",
    "keras_recipes.regularizers",
    "keras_recipes.schedules",
    "keras_recipes.callbacks",
    "keras_recipes.lr_finder",
    "keras_recipes.diagnostics",
    "keras_recipes.ensembles",
    "keras_recipes.workflows.progress",
)

__all__ = ["__version__", "load_model", "register_keras_objects", *_SUBMODULES]

_registered = False
_lock = threading.RLock()


def register_keras_objects() -> list[str]:
    """Register every Keras object of the library with Keras's serialization registry.

    It imports the modules that define them (optimizers, schedules, initializers, layers,
    regularizers, callbacks), which decorate each class with
    ``keras.saving.register_keras_serializable(package="keras_recipes")``. It runs by itself
    when Keras is imported (see the module docstring); calling it again is free.

    Returns:
        The registered names (``"keras_recipes>OneCycle"``, ...), sorted.

    Example:

    >>> import keras_recipes
    >>> "keras_recipes>OneCycle" in keras_recipes.register_keras_objects()
    True
    """
    global _registered
    with _lock:
        if not _registered:
            for name in REGISTERED_MODULES:
                importlib.import_module(name)
            _registered = True
    import keras

    return sorted(k for k in keras.saving.get_custom_objects() if k.startswith("keras_recipes>"))


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):  # noqa: A002
    """Load a ``.keras`` model that uses keras_recipes objects.

    The same as ``keras.saving.load_model`` (same arguments and defaults), after
    :func:`register_keras_objects`. Plain ``keras.saving.load_model`` works too once
    ``keras_recipes`` has been imported; this function only makes the dependency explicit.

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
    register_keras_objects()
    import keras

    return keras.saving.load_model(filepath, custom_objects=custom_objects, compile=compile,
                                   safe_mode=safe_mode)


def _register_quietly() -> None:
    try:
        register_keras_objects()
    except Exception as exc:  # noqa: BLE001 - never break the user's `import keras`
        warnings.warn(f"keras_recipes could not register its Keras objects ({exc!r}); "
                      "call keras_recipes.register_keras_objects() to see why.",
                      RuntimeWarning, stacklevel=2)


class _RegisterAfterKerasImport(importlib.abc.MetaPathFinder):
    """Import hook: once ``keras`` has been imported, register the library's objects."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        _remove_hook()
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _register_quietly()

        spec.loader.exec_module = exec_module
        return spec


_hook = _RegisterAfterKerasImport()


def _remove_hook() -> None:
    try:
        sys.meta_path.remove(_hook)
    except ValueError:
        pass


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_recipes.{name}")
    raise AttributeError(f"module 'keras_recipes' has no attribute {name!r}")


if "keras" in sys.modules:
    _register_quietly()
else:
    sys.meta_path.insert(0, _hook)
