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

from keras_recipes import _keras_private
from keras_recipes._distribute_env import setup_problem


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


def replica_shares(model: Any, x: Any) -> list:
    """``x`` cut into the shares the replicas of ``model`` each normalise on their own.

    Under a TensorFlow strategy with ``R`` replicas, ``fit`` gives replica ``r`` rows
    ``[r·n/R, (r+1)·n/R)`` of each global batch of ``n`` examples, and a
    BatchNormalization layer normalises each share with its own statistics; this returns
    those ``R`` shares (empty ones left out). Elsewhere (one device, or JAX's
    ``DataParallel``, which compiles one program over the whole sharded batch) it is
    ``[x]``.
    """
    found = strategy(model)
    replicas = 1 if found is None else int(found.num_replicas_in_sync)
    if replicas == 1:
        return [x]
    shares = [_split(x, r, replicas) for r in range(replicas)]
    return [s for s in shares if _batch_size((s,)) > 0]


# --- several workers -------------------------------------------------------------------

#: Names accepted by :func:`setup` (``--distribute`` on the command line).
SETUPS = ("mirrored", "multiworker", "jax-data-parallel")


def _multi_worker(found) -> bool:
    if found is None:
        return False
    import tensorflow as tf

    return isinstance(found, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(model: Any = None) -> bool:
    """Whether this process is the one that writes files (``True`` in one process).

    Under ``tf.distribute.MultiWorkerMirroredStrategy`` the chief is the ``chief`` task of
    ``TF_CONFIG``, or worker 0 when there is none (TensorFlow's own rule, exposed as
    ``strategy.extended.should_checkpoint``). ``model`` picks the strategy (the model's,
    or the current one when ``None``); on JAX the chief is process 0.
    """
    if _on_tensorflow():
        found = strategy(model) if model is not None else _current_strategy()
        return bool(getattr(found.extended, "should_checkpoint", True))
    if keras.backend.backend() == "jax":
        import jax

        return jax.process_index() == 0
    return True


def _current_strategy():
    import tensorflow as tf

    return tf.distribute.get_strategy()


def any_worker(flag: bool, model: Any = None) -> bool:
    """``True`` when ``flag`` is true on at least one worker process.

    Under ``MultiWorkerMirroredStrategy`` every worker must call this at the same point
    (it is a collective all-reduce: the sum of the workers' flags); in one process it
    returns ``flag``. Use it for a decision taken from a local observation (a wall clock,
    a file) that all workers must take together, or a worker would wait forever in the
    next collective step.
    """
    if not _on_tensorflow():
        return bool(flag)
    found = strategy(model) if model is not None else _current_strategy()
    if not _multi_worker(found):
        return bool(flag)
    import tensorflow as tf

    value = 1.0 if flag else 0.0
    with found.scope():
        per_replica = found.run(lambda: tf.constant(value, tf.float32))
        total = found.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
    return float(total.numpy()) > 0.0


def all_workers(flag: bool, model: Any = None) -> bool:
    """``True`` when ``flag`` is true on every worker (see :func:`any_worker`).

    Used as a barrier that carries a verdict: each worker waits until every other has
    reached it, and all of them learn whether any failed.
    """
    return not any_worker(not flag, model)


def check_setup(name: str | None) -> None:
    """Refuse, before any work, a ``distribute=`` setting this process cannot run.

    ``"mirrored"`` and ``"multiworker"`` need the TensorFlow backend, ``"multiworker"``
    also a ``TF_CONFIG`` environment variable naming the cluster and this task;
    ``"jax-data-parallel"`` needs the JAX backend. Raises ``ValueError`` with one line.
    """
    if name is None:
        return
    if name not in SETUPS:
        raise ValueError(f"Argument `distribute` must be one of {list(SETUPS)} or None. "
                         f"Received: distribute={name!r}")
    problem = setup_problem(name, keras.backend.backend())
    if problem:
        raise ValueError(f"Argument `distribute={name!r}` {problem}")


class Setup:
    """A distribution set-up for a whole workflow: its scope, its chief, its barrier.

    Made by :func:`setup`. ``scope()`` is where models and optimizers are created (and
    trained); ``is_chief`` says whether this process writes files; ``agree(flag)`` is a
    barrier across worker processes that returns whether ``flag`` held on every one.
    """

    def __init__(self, name: str | None, strategy_or_distribution: Any = None):
        self.name = name
        self._dist = strategy_or_distribution

    @property
    def strategy(self):
        """The ``tf.distribute.Strategy`` (TensorFlow set-ups), else ``None``."""
        return self._dist if self.name in ("mirrored", "multiworker") else None

    @property
    def num_replicas(self) -> int:
        """Replicas sharing each global batch (all workers together)."""
        if self.strategy is not None:
            return int(self.strategy.num_replicas_in_sync)
        if self.name == "jax-data-parallel":
            return int(len(self._dist.device_mesh.devices.reshape(-1)))
        return 1

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run's files."""
        if self.strategy is not None:
            return bool(self.strategy.extended.should_checkpoint)
        return is_chief() if self.name else True

    def scope(self):
        """Context in which models and optimizers are created and trained."""
        if self._dist is None:
            return contextlib.nullcontext()
        return self._dist.scope()

    def agree(self, flag: bool) -> bool:
        """Barrier across worker processes; ``True`` when ``flag`` holds on every one."""
        if self.name != "multiworker":
            return bool(flag)
        import tensorflow as tf

        value = 0.0 if flag else 1.0
        per_replica = self.strategy.run(lambda: tf.constant(value, tf.float32))
        total = self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
        return float(total.numpy()) == 0.0


def _two_logical_cpus() -> None:
    """On a machine with one CPU and no GPU, declare two logical CPU devices.

    Only possible before TensorFlow initialises its devices; afterwards the existing
    devices are kept (a MirroredStrategy over one device is still correct, only not
    parallel).
    """
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return
    cpus = tf.config.list_physical_devices("CPU")
    if len(cpus) != 1:
        return
    try:
        if len(tf.config.get_logical_device_configuration(cpus[0]) or []) < 2:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    except RuntimeError:
        pass  # devices already initialised: keep them


def setup(name: str | None) -> Setup:
    """Create the distribution set-up ``name`` (see :data:`SETUPS`), or none for ``None``.

    - ``"mirrored"``: ``tf.distribute.MirroredStrategy`` over the local devices; on a
      machine with one CPU and no GPU, two logical CPU devices are declared first (only
      possible before TensorFlow has initialised its devices; otherwise the devices are
      kept as they are).
    - ``"multiworker"``: ``tf.distribute.MultiWorkerMirroredStrategy`` from ``TF_CONFIG``
      (call this before any other TensorFlow work in the process; the strategy is
      created once per process and returned again by later calls).
    - ``"jax-data-parallel"``: ``keras.distribution.DataParallel`` over ``jax.devices()``
      (for host devices: ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` before JAX
      starts); used through :meth:`Setup.scope`, so the global distribution is untouched.

    Raises:
        ValueError: for a setting this process cannot run (:func:`check_setup`).
    """
    check_setup(name)
    if name is None:
        return Setup(None)
    if name == "jax-data-parallel":
        import jax

        return Setup(name, keras.distribution.DataParallel(devices=jax.devices()))
    import tensorflow as tf

    if name == "mirrored":
        _two_logical_cpus()
        return Setup(name, tf.distribute.MirroredStrategy())
    _keras_private.fix_multi_worker_logs_reduction()  # Keras 3's fit fails there otherwise
    if _MULTI_WORKER:  # collective ops are configured once per process
        return Setup(name, _MULTI_WORKER[0])
    _MULTI_WORKER.append(tf.distribute.MultiWorkerMirroredStrategy())
    return Setup(name, _MULTI_WORKER[0])


#: The process's ``MultiWorkerMirroredStrategy``, created once by :func:`setup`.
_MULTI_WORKER: list = []


def predict_on_batch(model: Any, x: Any) -> Any:
    """``model``'s inference-mode outputs on one batch ``x``, in order, one row per example.

    Under a TensorFlow strategy with several replicas, ``model.predict_on_batch`` hands
    the whole batch to every replica and concatenates their outputs (``R`` times as many
    rows); ``model.predict`` splits the batch over the replicas as ``fit`` does, which is
    what this uses there. Under JAX's ``DataParallel`` a batch that does not split evenly
    over the devices is predicted in two parts (see :func:`evaluate`). Elsewhere it is
    ``model.predict_on_batch``.
    """
    if num_replicas(model) > 1 and strategy(model) is not None:
        n = _batch_size((x,))
        return model.predict(x, batch_size=max(n, 1), verbose=0)
    replicas = _sharded_replicas(model)
    n = _batch_size((x,))
    if replicas > 1 and n % replicas:
        # JAX's DataParallel refuses a batch that does not split evenly over its devices:
        # the even part is sharded, the rest runs unsharded.
        cut = n - n % replicas
        head = model.predict_on_batch(keras.tree.map_structure(lambda a: a[:cut], x)) \
            if cut else None
        with _no_distribution():
            tail = model.predict_on_batch(keras.tree.map_structure(lambda a: a[cut:], x))
        if head is None:
            return tail
        return np.concatenate([keras.ops.convert_to_numpy(head),
                               keras.ops.convert_to_numpy(tail)])
    return model.predict_on_batch(x)


def gradient_targets(model: Any, variables: list) -> list:
    """What a ``tf.GradientTape`` differentiates against for ``variables``, in any context.

    In cross-replica context inside a strategy's scope (a probe run after
    ``with strategy.scope(): model.fit(...)``), a mirrored variable cannot hand its
    resource to the tape; the forward pass reads its first component there, so the
    gradient is taken with respect to that component. Plain variables are returned
    unchanged.
    """
    found = strategy(model)
    if found is None or int(found.num_replicas_in_sync) == 1 and not _multi_worker(found):
        return list(variables)
    return [_components(model, v.value)[0] for v in variables]


@contextlib.contextmanager
def _no_distribution():
    """Lift JAX's global ``keras.distribution`` for the block (variables keep their layout)."""
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


def _sharded_replicas(model: Any) -> int:
    """Devices a JAX ``DataParallel`` batch is sharded over (1 on TensorFlow)."""
    return 1 if _on_tensorflow() else num_replicas(model)


def evaluate(model: Any, x: Any, y: Any, batch_size: int = 256) -> Any:
    """``model.evaluate(x, y)`` (silent) that also runs where ``n`` does not split evenly.

    JAX's ``DataParallel`` shards every batch over its ``R`` devices and refuses a batch
    whose size is not a multiple of ``R`` (a last partial batch of 103 on two devices).
    There the first ``n - n mod R`` examples are evaluated in batches of a multiple of
    ``R``, the last ``n mod R`` without sharding (the weights stay where they are), and
    the results are combined weighted by the number of examples, which is exact for
    losses and metrics that are means over examples (the compiled loss and accuracy).
    Elsewhere it is ``model.evaluate``.
    """
    replicas = _sharded_replicas(model)
    n = _batch_size((x,))
    if replicas == 1:
        return model.evaluate(x, y, batch_size=batch_size, verbose=0)
    size = max(replicas, batch_size - batch_size % replicas)
    cut = n - n % replicas
    head = keras.tree.map_structure(lambda a: a[:cut], (x, y))
    tail = keras.tree.map_structure(lambda a: a[cut:], (x, y))
    parts, counts = [], []
    if cut:
        parts.append(model.evaluate(*head, batch_size=size, verbose=0))
        counts.append(cut)
    if cut < n:
        with _no_distribution():
            parts.append(model.evaluate(*tail, batch_size=size, verbose=0))
        counts.append(n - cut)
    combined = np.average(np.asarray(parts, dtype="float64"), axis=0,
                          weights=np.asarray(counts, dtype="float64"))
    return combined.tolist() if np.ndim(combined) else float(combined)
