"""The probe: one compiled function that measures a model on a fixed batch.

:class:`Probe` is built once per ``fit`` by :class:`~keras_recipes.diagnostics.DiagnosticLogger`.
A single call runs the fixed probe batch through a multi-output view of the model (its output
plus the output of every hidden layer), differentiates the loss with respect to every
trainable variable and reduces everything to a few scalars per layer, all inside one compiled
function. The only host transfer is the final dictionary of small arrays, once per record.

Gradients are the one place where Keras 3 has no backend-neutral public API, so
:func:`_stateless_function` switches on the backend (TensorFlow: ``tf.GradientTape`` inside
a ``tf.function``; JAX: ``jax.value_and_grad`` inside ``jax.jit``, both of
``model.stateless_call``). Everything else is written in ``keras.ops``.

The compiled function takes the variable values and the probe batch as arguments, so on one
device the probes of models with the same structure share it (a cache keyed by
:func:`structure_key`, at most :data:`CACHE_SIZE` entries): a KerasTuner search, which builds
a new model and deep-copies the logger for every trial and execution, traces it once per
model structure.
"""

from __future__ import annotations

import inspect
import json
import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_recipes import _distribute
from keras_recipes.diagnostics.inputs import (
    leaves,
    model_inputs,
    num_rows,
    ordered_for_model,
    to_tensor,
)

#: Layers that only move data around: their outputs add nothing to the statistics.
_PASSIVE_LAYERS = ("InputLayer", "Dropout", "Flatten", "Reshape", "Permute", "RepeatVector",
                   "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                   "GaussianDropout", "AlphaDropout", "ActivityRegularization")

#: Layers that are a non-linearity by themselves.
_ACTIVATION_LAYERS = ("ReLU", "LeakyReLU", "ELU", "PReLU", "Activation", "Softmax",
                      "ThresholdedReLU")

#: Losses whose initial value is known: ln C for C-way softmax, ln 2 for a sigmoid.
_CATEGORICAL_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy",
                       "categorical_focal_crossentropy")
_BINARY_LOSSES = ("binary_crossentropy", "binary_focal_crossentropy")


def loss_name(loss: Any) -> str | None:
    """The snake_case name of a compiled loss (string, function or ``keras.losses.Loss``)."""
    if loss is None or isinstance(loss, (list, tuple, dict)):
        return None
    if isinstance(loss, str):
        obj = keras.losses.get(loss)
        name = getattr(obj, "__name__", None) or getattr(obj, "name", None) or loss
    elif isinstance(loss, keras.losses.Loss):
        name = loss.name
    else:
        name = getattr(loss, "__name__", type(loss).__name__)
    return str(name).lower()


def expected_initial_loss(name: str | None, num_outputs: int | None) -> float | None:
    """ln C for a C-way categorical cross-entropy, ln 2 for a binary one, else ``None``."""
    if name is None or num_outputs is None:
        return None
    if name in _CATEGORICAL_LOSSES and num_outputs > 1:
        return math.log(num_outputs)
    if name in _BINARY_LOSSES:
        return math.log(2.0)
    return None


def is_classification_loss(name: str | None) -> bool:
    """Whether the loss is a classification loss (cross-entropy, hinge)."""
    return name is not None and ("crossentropy" in name or "hinge" in name)


def weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Top-level layers of ``model`` that own trainable weights, in model order."""
    return [layer for layer in model.layers if layer.trainable_weights]


def variable_groups(model: keras.Model, variables) -> dict[str, list[int]]:
    """``{layer name: indices into variables}`` for each layer of :func:`weighted_layers`."""
    index = {id(v): i for i, v in enumerate(variables)}
    groups: dict[str, list[int]] = {}
    for layer in weighted_layers(model):
        ids = [index[id(v)] for v in layer.trainable_weights if id(v) in index]
        if ids:
            groups[layer.name] = ids
    return groups


def _single_output(layer) -> Any | None:
    try:
        out = layer.output
    except (AttributeError, ValueError, RuntimeError):
        return None
    if isinstance(out, (list, tuple, dict)):
        return None
    return out


def _is_nonlinear(layer) -> bool:
    if type(layer).__name__ in _ACTIVATION_LAYERS:
        return True
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None)
    return activation is not None and name not in (None, "linear")


def hidden_layers(
    model: keras.Model, names: Sequence[str] | None = None
) -> list[keras.layers.Layer]:
    """Top-level layers whose output is a hidden activation worth measuring.

    By default, the layers that apply a non-linearity (``ReLU``, ``Activation``...,
    or ``Dense``/``Conv`` with a non-linear ``activation``): the seeds' "neurones cachés".
    When a model has none, every other layer is taken. Input, dropout and reshaping layers
    and the model's output layers are always left out.

    Args:
        model: a functional or Sequential model.
        names: explicit layer names instead of the default choice. Defaults to ``None``.

    Raises:
        ValueError: a name in ``names`` is not a top-level layer with a single output.
    """
    try:
        outputs = {id(t) for t in keras.tree.flatten(model.outputs)}
    except (AttributeError, ValueError):
        return []
    candidates = []
    for layer in model.layers:
        if type(layer).__name__ in _PASSIVE_LAYERS:
            continue
        out = _single_output(layer)
        if out is None or id(out) in outputs or len(out.shape) < 2:
            continue
        candidates.append(layer)
    if names is not None:
        by_name = {layer.name: layer for layer in candidates}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValueError(
                "Argument `activation_layers` must name hidden layers among "
                f"{sorted(by_name)}. Received: activation_layers={list(names)}")
        return [by_name[n] for n in names]
    nonlinear = [layer for layer in candidates if _is_nonlinear(layer)]
    return nonlinear or candidates


def _activation_stats(a, bins: int, low: float, high: float) -> dict[str, Any]:
    """mean, std, rms, exact-zero fraction, dead-unit fraction, unit spread, histogram."""
    a = keras.ops.cast(a, "float32")
    units = a.shape[-1] if len(a.shape) > 1 else 1
    a2 = keras.ops.reshape(a, (-1, units))
    flat = keras.ops.reshape(a, (-1,))
    zero = keras.ops.cast(keras.ops.equal(a2, 0.0), "float32")
    width = (high - low) / bins
    idx = keras.ops.floor((keras.ops.clip(flat, low, high) - low) / width)
    idx = keras.ops.cast(keras.ops.clip(idx, 0, bins - 1), "int32")
    hist = keras.ops.segment_sum(keras.ops.ones_like(flat), idx, num_segments=bins)
    spread = (keras.ops.mean(keras.ops.std(a2, axis=1)) if units > 1
              else keras.ops.convert_to_tensor(np.float32("nan")))
    return {
        "mean": keras.ops.mean(flat),
        "std": keras.ops.std(flat),
        "rms": keras.ops.sqrt(keras.ops.mean(keras.ops.square(flat))),
        "zero_fraction": keras.ops.mean(zero),
        "dead_fraction": keras.ops.mean(keras.ops.min(zero, axis=0)),
        "unit_spread": spread,
        "hist": hist,
    }


def _sum_squares(tensors) -> Any:
    return sum(keras.ops.sum(keras.ops.square(keras.ops.cast(t, "float32"))) for t in tensors)


def _sum(tensors) -> Any:
    return sum(keras.ops.sum(keras.ops.cast(t, "float32")) for t in tensors)


class _Compiled:
    """One compiled probe function and the layout of the vector it returns.

    The layout (``template``: the nested result with zeros as leaves, ``shapes``: the shape
    of each leaf) is recorded while the function is traced; ``traces`` counts the traces.
    """

    def __init__(self):
        self.fn = None
        self.template = None
        self.shapes: list[tuple[int, ...]] = []
        self.traces = 0


#: Compiled probe functions of single-device models, by model structure (least recently
#: used last out). See :func:`structure_key`.
_CACHE: OrderedDict[tuple, _Compiled] = OrderedDict()
_CACHE_LOCK = threading.Lock()
#: Most entries kept in the cache; each keeps its first model (the one traced) alive.
CACHE_SIZE = 8

#: Keras layers (``keras.layers.<name>``) whose configuration does not describe their
#: computation.
_OPAQUE_LAYERS = ("Lambda", "TFSMLayer", "JaxLayer", "FlaxLayer", "TorchModuleWrapper")

#: Configuration entries that hold layer names (renamed to positions in a structure key).
_NAME_LISTS = ("keras_history", "input_layers", "output_layers")


def clear_cache() -> None:
    """Forget every cached probe function (and the models they were traced on)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def cache_size() -> int:
    """Number of probe functions in the cache (at most :data:`CACHE_SIZE`)."""
    return len(_CACHE)


def _described_by_config(obj) -> bool:
    """Whether ``obj.get_config()`` describes ``obj``, as Keras's saving assumes: its class
    is a Keras class or defines ``get_config`` itself, and it is not a Keras layer that
    wraps opaque code (``keras.layers.Lambda``...)."""
    opaque = tuple(c for c in (getattr(keras.layers, name, None) for name in _OPAQUE_LAYERS)
                   if isinstance(c, type))
    if opaque and isinstance(obj, opaque):
        return False
    cls = type(obj)
    return cls.__module__.split(".")[0] == "keras" or "get_config" in vars(cls)


def _all_layers(model) -> list:
    out = []
    for layer in model.layers:
        out.append(layer)
        if isinstance(layer, keras.Model):
            out.extend(_all_layers(layer))
    return out


def _renamed(config: Any, names: dict[str, str], slot: bool = False) -> Any:
    """``config`` with each layer name, where a name is expected, replaced by its position."""
    if isinstance(config, dict):
        return {key: (names.get(value, value) if key == "name" and isinstance(value, str)
                      else _renamed(value, names, slot or key in _NAME_LISTS))
                for key, value in config.items()}
    if isinstance(config, (list, tuple)):
        return [_renamed(value, names, slot) for value in config]
    if slot and isinstance(config, str):
        return names.get(config, config)
    return config


def _loss_key(loss: Any) -> Any:
    """What identifies the compiled loss, or ``_Uncacheable``."""
    if loss is None or isinstance(loss, str):
        return loss
    if isinstance(loss, keras.losses.Loss):
        if not _described_by_config(loss) or type(loss).__name__ == "LossFunctionWrapper":
            raise _Uncacheable
        return type(loss), json.dumps(loss.get_config(), sort_keys=True, default=_refuse)
    if callable(loss) and not isinstance(loss, (list, tuple, dict)):
        return loss  # a function: its identity
    raise _Uncacheable


class _Uncacheable(Exception):
    pass


def _refuse(value):
    raise _Uncacheable


def _spec(tensors) -> tuple:
    return tuple((tuple(t.shape), str(t.dtype)) for t in leaves(tensors)) \
        if tensors is not None else None


def structure_key(probe: Probe) -> tuple | None:
    """What a probe function depends on, besides variable values; ``None`` if unknown.

    Two probes with equal keys compute the same statistics from the same variable values
    and inputs, so they can share one compiled function. The key holds the layer classes
    and configurations of the probe's view model (layer names replaced by their position,
    build shapes and dtype policies included), the shapes and dtypes of its variables, of
    the probe inputs and targets, the compiled loss (its name, its class and configuration,
    or the function itself), which variables make up each weighted layer, and the probe's
    options. It is ``None`` (no sharing) for a model without symbolic outputs (a subclassed
    model's ``call`` is not described by any configuration), for a layer or loss whose
    configuration may not describe it (a custom class that does not define ``get_config``
    itself, ``Lambda`` and other wrappers of opaque code), and when the configuration
    cannot be serialised.
    """
    net = probe.view
    if net is None:
        return None
    try:
        layers = _all_layers(net)
        if not all(_described_by_config(layer) for layer in layers):
            return None
        names = {}
        for layer in [net, *layers]:
            names.setdefault(layer.name, f"<layer {len(names)}>")
        config = json.dumps(_renamed(net.get_config(), names), sort_keys=True,
                            default=_refuse)
        loss = _loss_key(getattr(probe.model, "loss", None))
    except (_Uncacheable, NotImplementedError, TypeError, ValueError, AttributeError):
        return None
    return (
        keras.backend.backend(), keras.config.floatx(), config,
        tuple(type(layer) for layer in layers), loss,
        _spec(probe.variables), _spec(probe.non_trainable), _spec(probe.x), _spec(probe.y),
        tuple(tuple(ids) for ids in probe.groups.values()), tuple(probe.sizes.values()),
        len(probe.hidden_names), probe.gradients, probe.predictions, probe.bins, probe.low,
        probe.high,
    )


def _single_device(model) -> bool:
    """No ``tf.distribute`` strategy and no ``keras.distribution``: values can be passed to
    one compiled function whatever model they come from."""
    if keras.distribution.distribution() is not None:
        return False
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return not tf.distribute.has_strategy() and _distribute.num_replicas(model) == 1
    return True


class Probe:
    """Per-layer statistics of a model on one fixed batch, from one compiled function.

    Use it through :class:`~keras_recipes.diagnostics.DiagnosticLogger`; build it once per
    training run, then call :meth:`measure` once per record.

    For each weighted layer ``l`` with trainable weights ``W_l`` (all of the layer's variables
    taken together, ``n_l`` numbers) and previous snapshot ``W'_l``:

    - ``weight_norm = ||W_l||``;
    - ``update_norm = ||W_l - W'_l||``, ``update_mean``, ``update_var`` (mean and variance
      of the ``n_l`` entries of the update);
    - ``update_ratio = ||W_l - W'_l|| / ||W'_l||``;
    - ``grad_norm = ||dL/dW_l||`` on the probe batch and ``grad_rms = grad_norm / sqrt(n_l)``.

    For each hidden layer's output ``a`` on the probe batch (by default the layers that
    apply a non-linearity): mean, std, rms, the fraction of
    exact zeros, the fraction of *dead units* (units, i.e. last-axis channels, that are zero
    for every example and position), the mean spread across units (0 when every unit computes
    the same thing: unbroken symmetry) and a histogram over fixed bins (values outside the
    range fall in the end bins).

    Gradients are taken in inference mode (``training=False``: dropout off, BatchNorm on its
    moving statistics) on the compiled loss only (regularisation losses are left out).

    The compiled function takes the variable values, the probe batch and the previous
    snapshot as arguments (``model.stateless_call``). On one device, probes of models with
    the same structure (:func:`structure_key`: the same layers, shapes, loss and options,
    whatever the weights and layer names) share it through a cache of at most
    :data:`CACHE_SIZE` functions, least recently used out, so a KerasTuner search traces it
    once per model structure rather than once per trial and execution. Under a
    ``tf.distribute`` strategy or a ``keras.distribution``, each probe compiles its own.

    Args:
        model: a built functional or Sequential model (hidden activations need layer
            outputs; for a subclassed model only weights and gradients are measured).
        x: probe inputs.
        y: probe targets, or ``None`` (no loss, no gradients).
        activations: measure hidden activations. Defaults to ``True``.
        gradients: measure gradient norms. Defaults to ``True``.
        predictions: number of probe predictions returned. Defaults to ``5``.
        histogram_bins: bins of the activation histograms. Defaults to ``40``.
        histogram_range: ``(low, high)`` of the histograms. Defaults to ``(-5.0, 5.0)``.
        activation_layers: names of the hidden layers to measure; ``None`` takes the
            layers that apply a non-linearity (see :func:`hidden_layers`). Defaults to
            ``None``.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.diagnostics.probe import Probe
    >>> model = keras.Sequential([
    ...     keras.Input((4,)), keras.layers.Dense(3, activation="relu", name="hidden"),
    ...     keras.layers.Dense(2, activation="softmax", name="out")])
    >>> model.compile(loss="sparse_categorical_crossentropy")
    >>> probe = Probe(model, np.ones((8, 4), "float32"), np.zeros(8, "int64"))
    >>> stats = probe.measure()
    >>> sorted(stats["layers"]), sorted(stats["activations"])
    (['hidden', 'out'], ['hidden'])
    """

    def __init__(
        self,
        model: keras.Model,
        x,
        y=None,
        *,
        activations: bool = True,
        gradients: bool = True,
        predictions: int = 5,
        histogram_bins: int = 40,
        histogram_range: Sequence[float] = (-5.0, 5.0),
        activation_layers: Sequence[str] | None = None,
    ):
        self.notes: list[str] = []
        x = ordered_for_model(model, x)
        self.size = num_rows("probe", x)
        self.x = to_tensor(x)
        self.y = None if y is None else to_tensor(y)
        self.bins = int(histogram_bins)
        self.low, self.high = (float(v) for v in histogram_range)
        self.predictions = int(predictions)
        self.loss_name = loss_name(getattr(model, "loss", None))
        self._check_shape(model)

        hidden = hidden_layers(model, activation_layers) if activations else []
        self.hidden_names = [layer.name for layer in hidden]
        try:
            outputs = [model.outputs[0]] + [layer.output for layer in hidden]
            self.view = keras.Model(model_inputs(model), outputs, name=f"{model.name}_probe")
        except (AttributeError, ValueError, TypeError, IndexError):
            self.view, self.hidden_names = None, []
            if activations:
                self.notes.append("model has no symbolic outputs: activation statistics "
                                  "skipped")
        self.model = model
        self.net = self.view if self.view is not None else model
        self.variables = list(self.net.trainable_variables)
        self.non_trainable = list(self.net.non_trainable_variables)
        self.groups = variable_groups(model, self.variables)
        self.sizes = {name: int(sum(np.prod(self.variables[i].shape) for i in ids))
                      for name, ids in self.groups.items()}

        self.loss_fn = None
        if self.y is not None and len(model.outputs if hasattr(model, "outputs") else [0]) == 1:
            try:
                self.loss_fn = keras.losses.get(model.loss)
            except (ValueError, TypeError):
                self.loss_fn = None
        if self.loss_fn is None and y is not None:
            self.notes.append("loss not usable on the probe (none, or several outputs): "
                              "probe loss and gradients skipped")
        self.gradients = bool(gradients) and self.loss_fn is not None
        self._compiled, self._run = _probe_function(self)

    def _check_shape(self, model) -> None:
        try:
            wants = [tuple(t.shape[1:]) for t in model.inputs]
        except (AttributeError, IndexError, TypeError):
            return
        gots = [tuple(t.shape[1:]) for t in leaves(self.x)]

        def fits(want, got):
            return len(want) == len(got) and all(
                w is None or w == g for w, g in zip(want, got, strict=True))

        if len(wants) != len(gots) or not all(map(fits, wants, gots)):
            def shapes(items):
                text = ", ".join("(n, " + ", ".join(map(str, s)) + ")" for s in items)
                return text if len(items) == 1 else f"[{text}]"

            raise ValueError(
                f"Argument `probe` must hold inputs of shape {shapes(wants)} to fit the "
                f"model. Received: probe x of shape {shapes(gots)}"
            )
        if self.y is not None:
            rows = {int(t.shape[0]) for t in leaves(self.y) if len(t.shape)}
            if rows != {self.size}:
                raise ValueError(
                    "Argument `probe` must hold as many targets as inputs. Received: "
                    f"x has {self.size} rows, y has {sorted(rows)}"
                )

    def loss_of(self, y, pred):
        """Mean compiled loss of ``pred`` against ``y`` (``None`` without a loss)."""
        if self.loss_fn is None:
            return None
        return keras.ops.mean(self.loss_fn(y, pred))

    def snapshot(self) -> list:
        """A device copy of the trainable weights (the reference for the next updates)."""
        return [keras.ops.copy(v.value) for v in self.variables]

    def statistics(self, outputs, loss, grads, current, previous) -> dict[str, Any]:
        """Reduce outputs, gradients and weights to scalars (``keras.ops``; traced once).

        Hidden layers and weighted layers are keyed by their position (``0, 1, ...`` in
        the order of ``hidden_names`` and ``groups``), so that models whose layers have
        other names can share the compiled function; :meth:`measure` puts the names back.
        """
        out: dict[str, Any] = {"layers": {}, "activations": {}}
        if loss is not None:
            out["loss"] = loss
        pred = outputs[0]
        k = min(self.predictions, int(pred.shape[0]))
        if k > 0:
            head = pred[:k]
            if len(head.shape) == 2 and head.shape[-1] > 1:
                out["pred_class"] = keras.ops.argmax(head, axis=-1)
                out["pred_score"] = keras.ops.max(head, axis=-1)
            else:
                out["pred_value"] = keras.ops.reshape(head, (k, -1))[:, 0]
        for j, a in enumerate(outputs[1:len(self.hidden_names) + 1]):
            out["activations"][j] = _activation_stats(a, self.bins, self.low, self.high)
        for position, (name, ids) in enumerate(self.groups.items()):
            w = [current[i] for i in ids]
            d = [keras.ops.cast(current[i], "float32") - keras.ops.cast(previous[i], "float32")
                 for i in ids]
            n = float(self.sizes[name])
            w_prev = keras.ops.sqrt(_sum_squares([previous[i] for i in ids]))
            d_sq = _sum_squares(d)
            d_mean = _sum(d) / n
            stats = {
                "weight_norm": keras.ops.sqrt(_sum_squares(w)),
                "update_norm": keras.ops.sqrt(d_sq),
                "update_mean": d_mean,
                "update_var": d_sq / n - keras.ops.square(d_mean),
                "update_ratio": keras.ops.sqrt(d_sq) / (w_prev + 1e-12),
            }
            if grads is not None:
                g = keras.ops.sqrt(_sum_squares([grads[i] for i in ids]))
                stats["grad_norm"] = g
                stats["grad_rms"] = g / math.sqrt(n)
            out["layers"][position] = stats
        return out

    def packed_statistics(self, compiled: _Compiled, outputs, loss, grads, current,
                          previous):
        """:meth:`statistics` packed into one float32 vector: one host transfer per record.

        The nested layout is kept (at trace time) in ``compiled.template`` and
        ``compiled.shapes``.
        """
        compiled.traces += 1
        stats = self.statistics(outputs, loss, grads, current, previous)
        flat = keras.tree.flatten(stats)
        compiled.template = keras.tree.map_structure(lambda _: 0, stats)
        compiled.shapes = [tuple(int(d) for d in t.shape) for t in flat]
        return keras.ops.concatenate(
            [keras.ops.reshape(keras.ops.cast(t, "float32"), (-1,)) for t in flat])

    def measure(self, previous: list | None = None) -> dict[str, Any]:
        """Run the compiled function; returns nested dicts of NumPy values.

        ``previous`` is a :meth:`snapshot`; without one, update statistics are left out.
        """
        first = previous is None
        vector = np.asarray(keras.ops.convert_to_numpy(
            self._run(self.snapshot() if first else previous)))
        pieces, start = [], 0
        for shape in self._compiled.shapes:
            size = int(np.prod(shape)) if shape else 1
            pieces.append(vector[start:start + size].reshape(shape))
            start += size
        result = keras.tree.pack_sequence_as(self._compiled.template, pieces)
        result["layers"] = {name: result["layers"][i] for i, name in enumerate(self.groups)}
        result["activations"] = {name: result["activations"][j]
                                 for j, name in enumerate(self.hidden_names)}
        if first:
            for stats in result["layers"].values():
                for key in ("update_norm", "update_mean", "update_var", "update_ratio"):
                    stats.pop(key, None)
        return result


def _outputs_of(result) -> list:
    return list(result) if isinstance(result, (list, tuple)) else [result]


def _takes_training(net) -> bool:
    try:
        parameters = inspect.signature(net.call).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == "training" or p.kind is p.VAR_KEYWORD for p in parameters)


def _values(variables) -> list:
    return [v.value for v in variables]


def _probe_function(probe: Probe):
    """``(compiled, run)``: the compiled function (shared when the structure allows it)
    and ``run(previous) -> vector`` for this probe's own variables and batch."""
    backend = keras.backend.backend()
    if backend not in ("jax", "tensorflow", "torch"):
        return _eager_function(probe, backend)
    single = _single_device(probe.model)
    if backend == "tensorflow" and not single:
        return _tf_distributed_function(probe)
    key = structure_key(probe) if single else None
    compiled = None
    if key is not None:
        with _CACHE_LOCK:
            compiled = _CACHE.get(key)
            if compiled is not None:
                _CACHE.move_to_end(key)
    if compiled is None:
        compiled = _Compiled()
        compiled.fn = _stateless_function(probe, compiled, bind_inputs=not single)
        if key is not None:
            with _CACHE_LOCK:
                _CACHE[key] = compiled
                while len(_CACHE) > CACHE_SIZE:
                    _CACHE.popitem(last=False)
    trainable, non_trainable, x, y = probe.variables, probe.non_trainable, probe.x, probe.y
    if single:
        def run(previous):
            return compiled.fn(_values(trainable), _values(non_trainable), x, y, previous)
    else:
        def run(previous):
            return compiled.fn(_values(trainable), _values(non_trainable), previous)
    return compiled, run


def _stateless_function(template: Probe, compiled: _Compiled, *, bind_inputs: bool):
    """The compiled ``(trainable, non_trainable, x, y, previous) -> vector`` of ``template``'s
    structure (with ``bind_inputs``, ``x`` and ``y`` are the template's, fixed in the
    function: ``(trainable, non_trainable, previous) -> vector``). The only backend switch
    for gradients: ``tf.GradientTape`` inside a ``tf.function`` on TensorFlow,
    ``jax.value_and_grad`` inside ``jax.jit`` on JAX, ``torch.autograd.grad`` on detached
    leaves on torch (eager: Keras's torch backend compiles nothing by default)."""
    net, want_grads = template.net, template.gradients
    # `stateless_call` hands its keywords to `call` as they are (unlike `net(x, ...)`).
    mode = {"training": False} if _takes_training(net) else {}

    def forward(tv, ntv, x, y):
        result, _ = net.stateless_call(tv, ntv, x, **mode)
        outs = _outputs_of(result)
        return template.loss_of(y, outs[0]), outs

    if keras.backend.backend() == "jax":
        import jax

        def run(tv, ntv, x, y, previous):
            if want_grads:
                (loss, outs), grads = jax.value_and_grad(
                    lambda t: forward(t, ntv, x, y), has_aux=True)(tv)
            else:
                (loss, outs), grads = forward(tv, ntv, x, y), None
            return template.packed_statistics(compiled, outs, loss, grads, tv, previous)

        compile_fn = jax.jit
    elif keras.backend.backend() == "torch":
        import torch

        def run(tv, ntv, x, y, previous):
            grads = None
            if want_grads:
                with torch.enable_grad():
                    leaves = [t.detach().requires_grad_(True) for t in tv]
                    loss, outs = forward(leaves, ntv, x, y)
                    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
                grads = [torch.zeros_like(t) if g is None else g
                         for g, t in zip(grads, tv, strict=True)]
                loss, outs = loss.detach(), [o.detach() for o in outs]
            else:
                with torch.no_grad():
                    loss, outs = forward(tv, ntv, x, y)
            return template.packed_statistics(compiled, outs, loss, grads, tv, previous)

        def compile_fn(fn):
            return fn
    else:
        import tensorflow as tf

        def run(tv, ntv, x, y, previous):
            with tf.GradientTape() as tape:
                tape.watch(tv)
                loss, outs = forward(tv, ntv, x, y)
            grads = None
            if want_grads:
                grads = tape.gradient(loss, tv,
                                      unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return template.packed_statistics(compiled, outs, loss, grads, tv, previous)

        def compile_fn(fn):
            return tf.function(fn, reduce_retracing=True)

    if bind_inputs:
        x, y, inner = template.x, template.y, run

        def run(tv, ntv, previous):
            return inner(tv, ntv, x, y, previous)

    return compile_fn(run)


def _tf_distributed_function(probe: Probe):
    """Under a ``tf.distribute`` strategy: a ``tf.function`` that reads the variables."""
    import tensorflow as tf

    compiled = _Compiled()
    net, x, y = probe.net, probe.x, probe.y

    @tf.function(reduce_retracing=True)
    def run_tf(previous):
        with tf.GradientTape() as tape:
            outs = _outputs_of(net(x, training=False))
            loss = probe.loss_of(y, outs[0])
        grads = None
        if probe.gradients:
            # Mirrored variables: their first component (the one the forward read),
            # also in cross-replica context inside the strategy's scope.
            targets = _distribute.gradient_targets(net, probe.variables)
            grads = tape.gradient(loss, targets,
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
        current = _values(probe.variables)
        return probe.packed_statistics(compiled, outs, loss, grads, current, previous)

    compiled.fn = run_tf
    return compiled, run_tf


def _eager_function(probe: Probe, backend: str):
    """Other backends: eager calls, no gradients."""
    if probe.gradients:
        probe.gradients = False
        probe.notes.append(f"gradient norms are not available on the {backend!r} backend")
        warnings.warn(f"DiagnosticLogger: gradient norms skipped on the {backend!r} backend.",
                      stacklevel=4)
    compiled = _Compiled()

    def run(previous):
        outs = _outputs_of(probe.net(probe.x, training=False))
        loss = probe.loss_of(probe.y, outs[0])
        return probe.packed_statistics(compiled, outs, loss, None, _values(probe.variables),
                                       previous)

    compiled.fn = run
    return compiled, run
