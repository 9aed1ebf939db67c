"""Registration of the library's Keras objects.

Every Keras object of the library (optimizer, schedule, initializer, layer, constraint)
is decorated with :func:`keras_recipes_export`, so that a model that uses it saves to
``.keras`` and reloads with ``keras.saving.load_model`` under the name
``"keras_recipes>ClassName"``.
"""

from __future__ import annotations

import keras

PACKAGE = "keras_recipes"


def keras_recipes_export(cls=None, *, name: str | None = None):
    """Register ``cls`` with ``keras.saving.register_keras_serializable``.

    Usable bare (``@keras_recipes_export``) or with a name
    (``@keras_recipes_export(name="Alias")``).

    Example:

    >>> import keras
    >>> from keras_recipes._export import keras_recipes_export
    >>> @keras_recipes_export
    ... class Twice(keras.layers.Layer):
    ...     def call(self, x):
    ...         return 2 * x
    >>> keras.saving.get_registered_name(Twice)
    'keras_recipes>Twice'
    """

    def wrap(klass):
        return keras.saving.register_keras_serializable(package=PACKAGE, name=name)(klass)

    if cls is None:
        return wrap
    return wrap(cls)
