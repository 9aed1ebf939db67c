"""Transfer learning (seed 004): keep the feature extractor, replace the head, fine-tune.

The seed's five steps: (1) train a model on a large data set (often done for us);
(2) choose the part to keep, usually everything but the last layer; (3) put a new head with
the right number of outputs; (4) choose which parameters to train and which to freeze,
keeping BatchNormalization in inference mode; (5) fine-tune on the new data with a learning
rate about ten times smaller. :func:`transfer` runs steps 2 to 5.

In Keras 3 a layer with ``trainable = False`` receives no gradient, and a
``BatchNormalization`` with ``trainable = False`` also runs in inference mode (it uses and
keeps its moving statistics). A change of ``trainable`` takes effect at the next
``compile``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras
import numpy as np

from keras_recipes._validation import check_number, check_positive, check_probability
from keras_recipes.data import class_labels

__all__ = ["TransferResult", "finetune_optimizer", "freeze", "replace_head", "transfer", "unfreeze"]


def _layer_position(model: keras.Model, ref, name: str) -> int:
    layers = model.layers
    if isinstance(ref, str):
        names = [layer.name for layer in layers]
        if ref not in names:
            raise ValueError(f"Argument `{name}` names no layer of the model. Layers: {names}. "
                             f"Received: {name}={ref!r}")
        return names.index(ref)
    check_number(name, ref, integer=True)
    i = int(ref)
    if not -len(layers) <= i < len(layers):
        raise ValueError(f"Argument `{name}` must be a layer index in [{-len(layers)}, "
                         f"{len(layers) - 1}]. Received: {name}={ref}")
    return i % len(layers)


def _check_model(model) -> None:
    if not isinstance(model, keras.Model):
        raise ValueError(f"Argument `model` must be a keras.Model. Received: model={model!r}")
    if not model.layers:
        raise ValueError("Argument `model` has no layers.")


def _freeze_batchnorm(layer) -> None:
    """Set ``trainable = False`` on every BatchNormalization inside ``layer`` (recursively)."""
    if isinstance(layer, keras.layers.BatchNormalization):
        layer.trainable = False
    for sub in getattr(layer, "layers", ()) or ():
        _freeze_batchnorm(sub)


def freeze(model: keras.Model, until: str | int | None = None) -> keras.Model:
    """Freeze the model's layers up to and including ``until`` (all of them by default).

    Use it before training a new head on a pre-trained body (seed 004, step 4): the frozen
    layers get no gradient, which is faster, needs less memory and keeps the pre-trained
    features. Frozen BatchNormalization layers run in inference mode. This function changes
    ``model`` in place (``trainable`` flags only); compile the model afterwards.

    Args:
        model: the model to change.
        until: the last layer to freeze, by name or index in ``model.layers`` (negative
            indices count from the end); ``None`` freezes every layer. Defaults to ``None``.

    Returns:
        ``model``, for chaining.

    Example:

    >>> from keras_recipes.models import baseline_mlp
    >>> from keras_recipes.transfer import freeze
    >>> model = freeze(baseline_mlp(64, 10), until="relu_0")
    >>> [layer.name for layer in model.layers if layer.trainable]
    ['head']

    References:
        - Yosinski, Clune, Bengio & Lipson, 2014, "How transferable are features in deep
          neural networks?", https://arxiv.org/abs/1411.1792
    """
    _check_model(model)
    stop = len(model.layers) - 1 if until is None else _layer_position(model, until, "until")
    for layer in model.layers[: stop + 1]:
        layer.trainable = False
    return model


def unfreeze(
    model: keras.Model, start: str | int | None = None, keep_batchnorm_frozen: bool = True
) -> keras.Model:
    """Make layers trainable from ``start`` to the end, keeping BatchNormalization frozen.

    Use it for the fine-tuning step (seed 004, step 5) after the new head has been trained.
    With ``keep_batchnorm_frozen=True`` (the seed's rule, and Keras's fine-tuning guide)
    every BatchNormalization, nested ones included, stays in inference mode: its moving
    statistics, learnt on the large data set, are not overwritten by the few new batches.
    This function changes ``model`` in place; compile it afterwards.

    Args:
        model: the model to change.
        start: the first layer to unfreeze, by name or index; ``None`` unfreezes every
            layer. Defaults to ``None``.
        keep_batchnorm_frozen: keep every BatchNormalization non-trainable. Defaults to
            ``True``.

    Returns:
        ``model``, for chaining.

    Example:

    >>> from keras_recipes.models import baseline_mlp
    >>> from keras_recipes.transfer import freeze, unfreeze
    >>> model = unfreeze(freeze(baseline_mlp(64, 10)))
    >>> model.get_layer("bn_0").trainable, model.get_layer("dense_0").trainable
    (False, True)

    References:
        - Keras guide, "Transfer learning & fine-tuning",
          https://keras.io/guides/transfer_learning/
    """
    _check_model(model)
    first = 0 if start is None else _layer_position(model, start, "start")
    for layer in model.layers[first:]:
        layer.trainable = True
        if keep_batchnorm_frozen:
            _freeze_batchnorm(layer)
    return model


def replace_head(
    model: keras.Model,
    num_classes: int,
    cut: str | int | None = None,
    activation: str | None = "softmax",
    hidden: Sequence[int] = (),
    dropout: float = 0.0,
    name: str | None = None,
) -> keras.Model:
    """A new model: ``model``'s layers up to ``cut``, then a new head of ``num_classes``.

    Use it for seed 004's steps 2 and 3: keep the part that computes features, drop the
    task-specific last layer, add a (small MLP) head with the right number of outputs. The
    kept part is a copy (``keras.models.clone_model`` plus the trained weights), so training
    the new model never changes ``model``.

    Args:
        model: a trained functional or Sequential model.
        num_classes: outputs of the new head.
        cut: the last layer to keep, by name or index; ``None`` keeps everything but the last
            layer. Defaults to ``None``.
        activation: activation of the new output layer (``None`` for logits).
            Defaults to ``"softmax"``.
        hidden: widths of optional hidden Dense+ReLU layers in the new head. Defaults to
            ``()``.
        dropout: dropout rate before the new output layer, in ``[0, 1)``. Defaults to
            ``0.0``.
        name: name of the new model. Defaults to ``None`` (``"<model name>_transfer"``).

    Returns:
        An uncompiled functional ``keras.Model`` whose new layers are named
        ``transfer_head*``.

    Example:

    >>> from keras_recipes.models import baseline_mlp
    >>> from keras_recipes.transfer import replace_head
    >>> replace_head(baseline_mlp(64, 10), num_classes=3).output_shape
    (None, 3)
    """
    _check_model(model)
    check_number("num_classes", num_classes, low=1, integer=True)
    check_probability("dropout", dropout)
    if not getattr(model, "inputs", None):
        raise ValueError("Argument `model` must be a functional or Sequential model with "
                         "known inputs; a subclassed model has no layer graph to cut.")
    position = (len(model.layers) - 2) if cut is None else _layer_position(model, cut, "cut")
    if position < 0:
        raise ValueError("The model has a single layer: nothing is left once the head is "
                         "removed. Pass `cut`.")
    body = keras.models.clone_model(model)
    body.set_weights(model.get_weights())
    for original, copy in zip(model.layers, body.layers, strict=True):
        copy.trainable = original.trainable
    features = body.layers[position].output
    taken = {layer.name for layer in body.layers}
    x = features
    for i, width in enumerate(hidden):
        check_number("hidden", width, low=1, integer=True)
        x = keras.layers.Dense(int(width), activation="relu",
                               name=_unique(f"transfer_hidden_{i}", taken))(x)
    if dropout:
        x = keras.layers.Dropout(float(dropout), name=_unique("transfer_dropout", taken))(x)
    out = keras.layers.Dense(int(num_classes), activation=activation,
                             name=_unique("transfer_head", taken))(x)
    inputs = body.inputs[0] if len(body.inputs) == 1 else body.inputs
    return keras.Model(inputs, out, name=name or f"{model.name}_transfer")


def _unique(base: str, taken: set[str]) -> str:
    candidate, k = base, 1
    while candidate in taken:
        candidate = f"{base}_{k}"
        k += 1
    taken.add(candidate)
    return candidate


def finetune_optimizer(
    base_lr: float | keras.optimizers.Optimizer,
    factor: float = 0.1,
    optimizer: str = "adam",
) -> keras.optimizers.Optimizer:
    """A new optimizer at ``factor · base_lr`` for fine-tuning (seed 004: ten times smaller).

    Args:
        base_lr: the learning rate used for the original training (a number), or that
            optimizer itself: its class and settings are kept and its learning rate is
            scaled. A scheduled learning rate is scaled with its initial value.
        factor: the multiplier, in ``(0, 1]``. Defaults to ``0.1``.
        optimizer: optimizer name for a numeric ``base_lr`` (any name
            ``keras.optimizers.get`` knows). Defaults to ``"adam"``.

    Returns:
        A new, unbuilt ``keras.optimizers.Optimizer``; ``base_lr`` is not changed.

    Example:

    >>> from keras_recipes.transfer import finetune_optimizer
    >>> opt = finetune_optimizer(1e-3)
    >>> type(opt).__name__, round(float(opt.learning_rate), 6)
    ('Adam', 0.0001)
    """
    check_number("factor", factor, low=0, high=1, low_inclusive=False)
    if isinstance(base_lr, keras.optimizers.Optimizer):
        config = base_lr.get_config()
        lr = config["learning_rate"]
        if isinstance(lr, dict):
            raise ValueError("Argument `base_lr` is an optimizer with a learning-rate schedule; "
                             "pass the learning rate to start fine-tuning from as a number.")
        config["learning_rate"] = float(lr) * float(factor)
        return type(base_lr).from_config(config)
    check_positive("base_lr", base_lr)
    opt = keras.optimizers.get(optimizer)
    config = opt.get_config()
    config["learning_rate"] = float(base_lr) * float(factor)
    return type(opt).from_config(config)


@dataclasses.dataclass
class TransferResult:
    """What :func:`transfer` returns.

    Attributes:
        model: the transferred and fine-tuned model.
        head_history: ``History.history`` of step 4 (new head on a frozen body).
        finetune_history: ``History.history`` of step 5 (fine-tuning), empty when skipped.
    """

    model: keras.Model
    head_history: dict[str, list[float]]
    finetune_history: dict[str, list[float]]


def transfer(
    source_model: keras.Model,
    x,
    y,
    num_classes: int | None = None,
    cut: str | int | None = None,
    head_epochs: int = 10,
    finetune_epochs: int = 10,
    base_lr: float = 1e-3,
    factor: float = 0.1,
    unfreeze_from: str | int | None = None,
    hidden: Sequence[int] = (),
    dropout: float = 0.0,
    batch_size: int = 32,
    validation_data=None,
    metrics: Sequence[str] = ("accuracy",),
    verbose: int = 0,
) -> TransferResult:
    """Adapt a trained classifier to a new task: seed 004's transfer steps 2 to 5.

    Use it when the new task has few examples and a related model exists. It (2) keeps
    ``source_model`` up to ``cut`` (all but its last layer by default), (3) adds a new
    softmax head of ``num_classes`` outputs, (4) freezes the kept part (BatchNormalization in
    inference mode) and trains the head for ``head_epochs`` at ``base_lr`` with Adam, then
    (5) unfreezes from ``unfreeze_from`` (BatchNormalization stays frozen) and fine-tunes for
    ``finetune_epochs`` at ``factor · base_lr``. ``source_model`` is not changed: the new
    model starts from a copy of its weights.

    Args:
        source_model: the pre-trained functional or Sequential model.
        x: inputs of the new task.
        y: integer labels of the new task.
        num_classes: classes of the new task; ``None`` uses ``max(y) + 1``. Defaults to
            ``None``.
        cut: last layer to keep (name or index). Defaults to ``None`` (drop the last layer).
        head_epochs: epochs of step 4, >= 1. Defaults to ``10``.
        finetune_epochs: epochs of step 5, >= 0 (0 skips it). Defaults to ``10``.
        base_lr: learning rate of step 4. Defaults to ``1e-3``.
        factor: fine-tuning learning rate / ``base_lr``. Defaults to ``0.1``.
        unfreeze_from: first layer to unfreeze in step 5; ``None`` unfreezes all.
            Defaults to ``None``.
        hidden: hidden widths of the new head. Defaults to ``()``.
        dropout: dropout before the new output layer. Defaults to ``0.0``.
        batch_size: batch size of both steps. Defaults to ``32``.
        validation_data: optional ``(x_val, y_val)`` for ``fit``. Defaults to ``None``.
        metrics: metrics to compile with. Defaults to ``("accuracy",)``.
        verbose: ``fit`` verbosity. Defaults to ``0``.

    Returns:
        A :class:`TransferResult`.

    Example:

    >>> from keras_recipes.data import load_dataset
    >>> from keras_recipes.models import baseline_mlp
    >>> from keras_recipes.transfer import transfer
    >>> ds = load_dataset("digits", flatten=True)
    >>> source = baseline_mlp(64, 10)
    >>> result = transfer(source, ds.x[:60], ds.y[:60] % 3, head_epochs=1, finetune_epochs=1)
    >>> result.model.output_shape
    (None, 3)

    References:
        - Yosinski et al., 2014, "How transferable are features in deep neural networks?",
          https://arxiv.org/abs/1411.1792
        - Keras guide, "Transfer learning & fine-tuning",
          https://keras.io/guides/transfer_learning/
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError("Arguments `x` and `y` must have the same length. "
                         f"Received: len_x={len(x)}, len_y={len(y)}")
    if len(x) == 0:
        raise ValueError("Arguments `x` and `y` are empty. Received: len(x)=0")
    labels = class_labels(y)
    if labels is None:
        raise ValueError("Argument `y` must hold class labels; `transfer` trains a classifier. "
                         f"Received: y.dtype={y.dtype}, y.shape={y.shape}")
    check_number("head_epochs", head_epochs, low=1, integer=True)
    check_number("finetune_epochs", finetune_epochs, low=0, integer=True)
    check_positive("base_lr", base_lr)
    check_number("batch_size", batch_size, low=1, integer=True)
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    check_number("num_classes", num_classes, low=1, integer=True)
    if labels.max() >= num_classes or labels.min() < 0:
        raise ValueError(f"Argument `y` holds labels outside 0..{num_classes - 1}. "
                         f"Received: min={int(labels.min())}, max={int(labels.max())}")
    model = replace_head(source_model, num_classes, cut=cut, hidden=hidden, dropout=dropout)
    head_start = len(model.layers) - (len(hidden) + 1 + (1 if dropout else 0))
    freeze(model, until=head_start - 1)
    loss = "sparse_categorical_crossentropy"
    fit_kwargs = {"batch_size": int(batch_size), "verbose": verbose,
                  "validation_data": validation_data}
    model.compile(keras.optimizers.Adam(float(base_lr)), loss, metrics=list(metrics))
    head = model.fit(x, labels, epochs=int(head_epochs), **fit_kwargs)
    finetune_history: dict[str, list[float]] = {}
    if finetune_epochs:
        unfreeze(model, start=unfreeze_from)
        model.compile(finetune_optimizer(float(base_lr), factor), loss, metrics=list(metrics))
        fine = model.fit(x, labels, epochs=int(finetune_epochs), **fit_kwargs)
        finetune_history = dict(fine.history)
    return TransferResult(model=model, head_history=dict(head.history),
                          finetune_history=finetune_history)
