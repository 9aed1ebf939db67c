"""What a distribution set-up needs from this process, checked without importing Keras.

Both :func:`keras_recipes._distribute.check_setup` (once the backend runs) and the command
line's ``--distribute`` check (before Keras is imported) ask :func:`setup_problem`; each
words the answer its own way.
"""

from __future__ import annotations

import json
import os


def setup_problem(name: str, backend: str) -> str | None:
    """Why the set-up ``name`` cannot run in a process on ``backend``, or ``None``.

    ``"mirrored"`` and ``"multiworker"`` need the TensorFlow backend, ``"multiworker"``
    also a ``TF_CONFIG`` environment variable (JSON naming the cluster and this task);
    ``"jax-data-parallel"`` needs the JAX backend. The reason starts with ``"needs"``.

    Example:

    >>> from keras_recipes._distribute_env import setup_problem
    >>> setup_problem("mirrored", "jax")
    'needs the tensorflow backend (KERAS_BACKEND=tensorflow); this process runs jax.'
    >>> setup_problem("jax-data-parallel", "jax") is None
    True
    """
    needed = "jax" if name == "jax-data-parallel" else "tensorflow"
    if backend != needed:
        return (f"needs the {needed} backend (KERAS_BACKEND={needed}); this process runs "
                f"{backend}.")
    if name == "multiworker":
        raw = os.environ.get("TF_CONFIG")
        try:
            config = json.loads(raw) if raw else None
        except ValueError:
            config = None
        if not (isinstance(config, dict) and isinstance(config.get("cluster"), dict)
                and isinstance(config.get("task"), dict)):
            return ("needs the TF_CONFIG environment variable (JSON with 'cluster' and "
                    f"'task') on every worker. Received: TF_CONFIG={raw!r}")
    return None
