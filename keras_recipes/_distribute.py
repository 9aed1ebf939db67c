"""What the library needs to know about a model trained on several devices.

Two set-ups are covered, in one process:

- TensorFlow's ``tf.distribute`` strategies (``MirroredStrategy``...): the model records
  the strategy it was built under (``model.distribute_strategy``). Objects created for
  the model (optimizer copies, their slots) must be created in that strategy's scope, a
  variable holds one component per replica, and a batch must be split over the replicas
  as ``fit`` splits it. This is the only module of the library that touches
  ``tf.distribute``; TensorFlow is imported lazily, on the TensorFlow backend only, so
  JAX never loads TensorFlow's distribute code through it.
- ``keras.distribution`` on JAX (``DataParallel``, ``ModelParallel``): the distribution is
  global; variables carry their layout, keep it when assigned, and ``train_on_batch``
  shards each batch itself. Nothing more is needed there: the helpers below fall back on
  plain Keras calls.

Example:

>>> import keras
>>> from keras_recipes import _distribute
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
>>> _distribute.num_replicas(model)
1
>>> with _distribute.scope(model):
...     optimizer = keras.optimizers.SGD(0.1)
"""

from __future__ import annotations

import contextlib
from typing import Any

import keras
import numpy as np


def _on_tensorflow() -> bool:
    return keras.backend.backend() == "tensorflow"


def strategy(model: Any):
    """The ``tf.distribute.Strategy`` of ``model`` on TensorFlow, else ``None``.

    A model built outside any strategy scope reports TensorFlow's default strategy (one
    replica) or, inside a scope, the current one, as ``model.distribute_strategy`` does.
    """
    if not _on_tensorflow():
        return None
    found = getattr(model, "distribute_strategy", None)
    if found is None:
        import tensorflow as tf

        found = tf.distribute.get_strategy()
    return found


def num_replicas(model: Any) -> int:
    """Number of replicas that share each global batch of ``model`` (1 on one device).

    On JAX under ``keras.distribution.DataParallel`` this is the size of the batch axis of
    the device mesh.
    """
    found = strategy(model)
    if found is not None:
        return int(found.num_replicas_in_sync)
    distribution = keras.distribution.distribution()
    if distribution is None:
        return 1
    mesh = getattr(distribution, "device_mesh", None)
    batch_axis = getattr(distribution, "batch_dim_name", None)
    if mesh is None or batch_axis not in getattr(mesh, "axis_names", ()):
        return 1
    return int(mesh.shape[list(mesh.axis_names).index(batch_axis)])


def scope(model: Any):
    """Context manager in which objects for ``model`` are created.

    On TensorFlow it is the scope of the model's strategy (a no-op for the default one);
    elsewhere a null context, since ``keras.distribution`` is global.
    """
    found = strategy(model)
    return contextlib.nullcontext() if found is None else found.scope()


def _components(model: Any, value: Any) -> tuple:
    """The per-replica parts of a TensorFlow distributed value, or ``(value,)``."""
    found = strategy(model)
    if found is None:
        return (value,)
    import tensorflow as tf

    if isinstance(value, tf.distribute.DistributedValues):
        return tuple(found.experimental_local_results(value))
    return (value,)


def snapshot(model: Any, variable: keras.Variable) -> tuple[np.ndarray, ...]:
    """A copy of ``variable`` that :func:`restore` puts back bit for bit on every replica.

    On TensorFlow a distributed variable is copied component by component (one array per
    replica): reading it whole would give the first replica's value for a mirrored
    variable and the *sum* over replicas for a sync-on-read one such as a metric total.
    Elsewhere it is one array (a JAX array sharded by ``keras.distribution`` is gathered;
    assigning it back re-shards it with the variable's layout).
    """
    return tuple(
        np.array(keras.ops.convert_to_numpy(part), copy=True)
        for part in _components(model, variable.value)
    )


def restore(model: Any, variable: keras.Variable, values: tuple[np.ndarray, ...]) -> None:
    """Put back a :func:`snapshot` of ``variable``."""
    parts = _components(model, variable.value)
    if len(parts) == 1 or len(parts) != len(values):
        # A variable created since the snapshot on another number of replicas cannot be
        # restored per replica; the first replica's value is assigned to all of them.
        variable.assign(values[0])
        return
    for part, value in zip(parts, values, strict=True):
        part.assign(value)


def replica_values(model: Any, variable: keras.Variable) -> list[np.ndarray]:
    """The value of ``variable`` held by each replica (each device on JAX), as NumPy.

    Use it to check that replicas agree, e.g. after a restore.
    """
    value = variable.value
    found = strategy(model)
    if found is not None:
        return [np.array(keras.ops.convert_to_numpy(p)) for p in _components(model, value)]
    shards = getattr(value, "addressable_shards", None)
    if shards:
        return [np.asarray(shard.data) for shard in shards]
    return [np.array(keras.ops.convert_to_numpy(value))]


def _split(structure: Any, replica: int, replicas: int) -> Any:
    def part(array):
        if array is None:
            return None
        array = np.asarray(array)
        n = len(array)
        return array[replica * n // replicas:(replica + 1) * n // replicas]

    return keras.tree.map_structure(part, structure)


def _batch_size(batch: tuple) -> int:
    leaves = [leaf for leaf in keras.tree.flatten(batch[0]) if leaf is not None]
    return int(np.shape(leaves[0])[0])


def train_step(model: keras.Model, batch: tuple) -> dict[str, float]:
    """One optimizer step on the global ``batch`` ``(x, y, sample_weight)``; its logs.

    On one replica (and on JAX, where ``train_on_batch`` shards the batch itself) this is
    ``model.train_on_batch``. Under a TensorFlow strategy with several replicas,
    ``train_on_batch`` would hand the *whole* batch to every replica (twice the work, and
    BatchNormalization statistics over the global batch instead of each replica's share);
    here replica ``r`` of ``R`` gets rows ``[r·n/R, (r+1)·n/R)``, as ``fit`` splits its
    batches, and the step is Keras's own compiled ``train_function``. The reported loss is
    the mean over the global batch.

    Raises:
        ValueError: when the batch holds fewer examples than there are replicas.
    """
    found = strategy(model)
    replicas = 1 if found is None else int(found.num_replicas_in_sync)
    x, y, sample_weight = batch
    if replicas == 1:
        return model.train_on_batch(x, y, sample_weight=sample_weight, return_dict=True)
    n = _batch_size(batch)
    if n < replicas:
        raise ValueError(
            f"A batch of {n} example(s) cannot be split over {replicas} replicas: use a "
            f"global batch size of at least {replicas} (ideally a multiple of it). "
            f"Received: batch_size={n}"
        )
    if not all(getattr(metric, "built", True) for metric in model.metrics):
        # `train_on_batch` builds the compiled metrics outside the step before its first
        # call; under a strategy they cannot be created inside it. A test step on one
        # example does the same build without touching any weight.
        model.test_on_batch(*_split(batch, 0, n))
    import tensorflow as tf

    def per_replica(context):
        part = _split(batch, context.replica_id_in_sync_group, replicas)
        return keras.tree.map_structure(
            lambda a: None if a is None else tf.constant(a), part
        )

    data = found.experimental_distribute_values_from_function(per_replica)
    model.make_train_function()
    model.reset_metrics()
    logs = model.train_function(iter([data]))
    return {name: float(keras.ops.convert_to_numpy(value)) for name, value in logs.items()}
