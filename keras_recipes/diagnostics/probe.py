"""The probe: one compiled function that measures a model on a fixed batch.

:class:`Probe` is built once per ``fit`` by :class:`~keras_recipes.diagnostics.DiagnosticLogger`.
A single call runs the fixed probe batch through a multi-output view of the model (its output
plus the output of every hidden layer), differentiates the loss with respect to every
trainable variable and reduces everything to a few scalars per layer, all inside one compiled
function. The only host transfer is the final dictionary of small arrays, once per record.

Gradients are the one place where Keras 3 has no backend-neutral public API, so
:func:`_gradient_function` switches on the backend (TensorFlow: ``tf.GradientTape`` inside a
``tf.function``; JAX: ``jax.value_and_grad`` of ``model.stateless_call`` inside ``jax.jit``).
Everything else is written in ``keras.ops``.
"""

from __future__ import annotations

import math
import warnings
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
        net = self.view if self.view is not None else model
        self.variables = list(net.trainable_variables)
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
        self._fn = _gradient_function(self, net)

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
        """Reduce outputs, gradients and weights to scalars (``keras.ops``; traced once)."""
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
        for name, a in zip(self.hidden_names, outputs[1:], strict=True):
            out["activations"][name] = _activation_stats(a, self.bins, self.low, self.high)
        for name, ids in self.groups.items():
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
            out["layers"][name] = stats
        return out

    def packed_statistics(self, outputs, loss, grads, current, previous):
        """:meth:`statistics` packed into one float32 vector: one host transfer per record.

        The nested layout is kept (at trace time) in ``self._template`` and ``self._shapes``.
        """
        stats = self.statistics(outputs, loss, grads, current, previous)
        flat = keras.tree.flatten(stats)
        self._template = keras.tree.map_structure(lambda _: 0, stats)
        self._shapes = [tuple(int(d) for d in t.shape) for t in flat]
        return keras.ops.concatenate(
            [keras.ops.reshape(keras.ops.cast(t, "float32"), (-1,)) for t in flat])

    def measure(self, previous: list | None = None) -> dict[str, Any]:
        """Run the compiled function; returns nested dicts of NumPy values.

        ``previous`` is a :meth:`snapshot`; without one, update statistics are left out.
        """
        first = previous is None
        vector = np.asarray(keras.ops.convert_to_numpy(
            self._fn(self.snapshot() if first else previous)))
        pieces, start = [], 0
        for shape in self._shapes:
            size = int(np.prod(shape)) if shape else 1
            pieces.append(vector[start:start + size].reshape(shape))
            start += size
        result = keras.tree.pack_sequence_as(self._template, pieces)
        if first:
            for stats in result["layers"].values():
                for key in ("update_norm", "update_mean", "update_var", "update_ratio"):
                    stats.pop(key, None)
        return result


def _gradient_function(probe: Probe, net: keras.Model):
    """The compiled ``previous -> statistics`` function; the only backend switch."""
    backend = keras.backend.backend()
    want_grads = probe.gradients
    x, y = probe.x, probe.y

    def outputs_of(result):
        return list(result) if isinstance(result, (list, tuple)) else [result]

    if backend == "jax":
        import jax

        trainable = probe.variables
        non_trainable = list(net.non_trainable_variables)

        def forward(tv, ntv):
            result, _ = net.stateless_call(tv, ntv, x, training=False)
            outs = outputs_of(result)
            loss = probe.loss_of(y, outs[0])
            return loss, outs

        def run(tv, ntv, previous):
            if want_grads:
                (loss, outs), grads = jax.value_and_grad(forward, has_aux=True)(tv, ntv)
            else:
                (loss, outs), grads = forward(tv, ntv), None
            return probe.packed_statistics(outs, loss, grads, tv, previous)

        compiled = jax.jit(run)

        def call(previous):
            return compiled([v.value for v in trainable],
                            [v.value for v in non_trainable], previous)

        return call

    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def run_tf(previous):
            with tf.GradientTape() as tape:
                outs = outputs_of(net(x, training=False))
                loss = probe.loss_of(y, outs[0])
            grads = None
            if want_grads:
                # Mirrored variables: their first component (the one the forward read),
                # also in cross-replica context inside the strategy's scope.
                targets = _distribute.gradient_targets(net, probe.variables)
                grads = tape.gradient(loss, targets,
                                      unconnected_gradients=tf.UnconnectedGradients.ZERO)
            current = [v.value for v in probe.variables]
            return probe.packed_statistics(outs, loss, grads, current, previous)

        return run_tf

    if want_grads:
        probe.gradients = False
        probe.notes.append(f"gradient norms are not available on the {backend!r} backend")
        warnings.warn(f"DiagnosticLogger: gradient norms skipped on the {backend!r} backend.",
                      stacklevel=3)

    def run_eager(previous):
        outs = outputs_of(net(x, training=False))
        loss = probe.loss_of(y, outs[0])
        return probe.packed_statistics(outs, loss, None, [v.value for v in probe.variables],
                                       previous)

    return run_eager
