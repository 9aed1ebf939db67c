"""Baseline models: the seeds' "structure neuronale de base".

Each hidden unit is ``Dense``/``Conv`` **without bias** → ``BatchNormalization`` → ReLU. The
bias is dropped because BatchNormalization's β replaces it. BatchNormalization starts at
Keras's defaults, which are the seeds' values: γ = 1, β = 0, moving mean 0, moving
variance 1. Three options change that structure (the workflows' repairs use them, see
:mod:`keras_recipes.workflows.repair`): ``activation=`` (another hidden non-linearity),
``kernel_initializer=`` (another initialisation than He) and ``batch_norm=False`` (no
BatchNormalization; the hidden layers then get a bias, initialised at zero).

The head (``Dense(num_classes)``, with bias) starts from Glorot uniform scaled down (a tenth
of its variance) and a zero bias, so that the untrained loss is about ln C
(:func:`head_initializer`).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_recipes._validation import check_number, check_probability

__all__ = ["ACTIVATIONS", "MODEL_BUILDERS", "baseline_cnn", "baseline_mlp", "build_model",
           "head_initializer"]


def _check_common(input_shape, num_classes) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in input_shape)
    except TypeError:
        shape = (int(input_shape),)
    if not shape or any(d < 1 for d in shape):
        raise ValueError(f"Argument `input_shape` must hold positive sizes. "
                         f"Received: input_shape={input_shape}")
    check_number("num_classes", num_classes, low=1, integer=True)
    return shape


#: Hidden activations the baselines accept (``keras.activations`` names).
ACTIVATIONS = ("relu", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "tanh", "sigmoid",
               "hard_sigmoid", "softplus", "softsign", "linear")


def _check_structure(activation, kernel_initializer, batch_norm) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"Argument `activation` must be one of {list(ACTIVATIONS)}. "
                         f"Received: activation={activation!r}")
    if kernel_initializer is not None:
        try:
            keras.initializers.get(kernel_initializer)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"Argument `kernel_initializer` must be None, a Keras initializer "
                             f"or its name. Received: kernel_initializer={kernel_initializer!r}"
                             ) from exc
    if not isinstance(batch_norm, bool):
        raise ValueError(f"Argument `batch_norm` must be a bool. "
                         f"Received: batch_norm={batch_norm!r}")


def _initializer(kernel_initializer, default):
    """A fresh initializer for one layer: ``default()`` for ``None``, else a copy of the
    given one made from its config. An unseeded Keras initializer fixes its seed when it is
    created, so one instance shared by layers of one shape would give them equal kernels;
    its copies draw theirs afresh (a seeded one keeps its seed, as asked)."""
    if kernel_initializer is None:
        return default()
    if isinstance(kernel_initializer, str):
        return keras.initializers.get(kernel_initializer)
    return type(kernel_initializer).from_config(kernel_initializer.get_config())


def _hidden_block(x, layer, i: int, activation: str, batch_norm: bool):
    """``layer`` → [BatchNorm] → activation, named ``*_i``."""
    x = layer(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(name=f"bn_{i}")(x)
    if activation == "relu":
        return keras.layers.ReLU(name=f"relu_{i}")(x)
    return keras.layers.Activation(activation, name=f"{activation}_{i}")(x)


#: Scale of the head's Glorot-uniform variance: 0.1 makes its weights about 3× smaller.
HEAD_SCALE = 0.1


def head_initializer() -> keras.initializers.Initializer:
    """Glorot uniform with a tenth of its variance (weights about 3× smaller), for the head.

    Glorot's head gives logits of variance about 1 after BatchNorm → ReLU blocks, and the
    ReLU features are not centred, so each class also gets an offset: the untrained loss
    ends up 0.4-1 nat above ln C (1.09 against ln 2 = 0.69 for two classes). A tenth of the
    variance brings the untrained loss within about 0.1 nat of ln C, the loss of a uniform
    guess (seed 004), on standardised inputs (within 0.25 nat for the CNN, whose pooled
    features are the least centred). It is not smaller because the per-step
    update ratio ||ΔW|| / ||W|| of the head grows as its weights shrink: Adam moves each
    weight by about the learning rate per step, so weights 100× smaller than Glorot's
    would show ratios above 0.1 in the first epoch (the doctor's ``update_ratio_high``).
    The bias starts at 0.
    """
    return keras.initializers.VarianceScaling(HEAD_SCALE, "fan_avg", "uniform")


def _head(x, num_classes: int, output_activation: str | None):
    return keras.layers.Dense(num_classes, activation=output_activation,
                              kernel_initializer=head_initializer(),
                              bias_initializer="zeros", name="head")(x)


def baseline_mlp(
    input_shape: Sequence[int] | int,
    num_classes: int,
    hidden: Sequence[int] = (128,),
    dropout: float = 0.0,
    output_activation: str | None = "softmax",
    name: str = "baseline_mlp",
    normalization: keras.layers.Layer | None = None,
    activation: str = "relu",
    kernel_initializer: str | keras.initializers.Initializer | None = None,
    batch_norm: bool = True,
) -> keras.Model:
    """Multi-layer perceptron: [Dense (no bias, He uniform) → BN → ReLU] × len(hidden) → head.

    Use it as the first model on tabular data or small images (inputs are flattened).

    Args:
        input_shape: shape of one example, e.g. ``(8, 8, 1)`` or ``64``.
        num_classes: number of output units.
        hidden: width of each hidden layer. Defaults to ``(128,)``.
        dropout: dropout rate after each hidden block, in ``[0, 1)``. Defaults to ``0.0``.
        output_activation: activation of the head; ``None`` for logits or regression.
            Defaults to ``"softmax"``.
        name: model name. Defaults to ``"baseline_mlp"``.
        normalization: a layer applied to the raw inputs first, typically a
            ``keras.layers.Normalization`` holding train-set statistics, so that the saved
            model predicts on raw inputs. Defaults to ``None``.
        activation: the hidden layers' non-linearity, one of :data:`ACTIVATIONS`
            (``"relu"`` is a ``keras.layers.ReLU`` named ``relu_i``, any other a
            ``keras.layers.Activation`` named ``<activation>_i``). Defaults to ``"relu"``.
        kernel_initializer: the hidden kernels' initializer (a Keras name or instance);
            ``None`` is He uniform, ``U(±√(6/fan_in))``. Defaults to ``None``.
        batch_norm: put a ``BatchNormalization`` between each hidden ``Dense`` and its
            activation; with ``False`` the ``Dense`` layers get a bias instead. Defaults to
            ``True``.

    Returns:
        An uncompiled functional ``keras.Model``.

    Example:

    >>> from keras_recipes.models import baseline_mlp
    >>> model = baseline_mlp((8, 8, 1), 10, hidden=(64, 64))
    >>> model.output_shape
    (None, 10)
    >>> plain = baseline_mlp(4, 2, hidden=(8,), activation="tanh",
    ...                      kernel_initializer="glorot_uniform", batch_norm=False)
    >>> [layer.name for layer in plain.layers[1:]]
    ['dense_0', 'tanh_0', 'head']
    """
    shape = _check_common(input_shape, num_classes)
    check_probability("dropout", dropout)
    for width in hidden:
        check_number("hidden", width, low=1, integer=True)
    _check_structure(activation, kernel_initializer, batch_norm)
    inputs = keras.Input(shape=shape)
    x = normalization(inputs) if normalization is not None else inputs
    x = keras.layers.Flatten()(x) if len(shape) > 1 else x
    for i, width in enumerate(hidden):
        dense = keras.layers.Dense(
            width, use_bias=not batch_norm,
            kernel_initializer=_initializer(kernel_initializer, keras.initializers.HeUniform),
            name=f"dense_{i}")
        x = _hidden_block(x, dense, i, activation, batch_norm)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    return keras.Model(inputs, _head(x, num_classes, output_activation), name=name)


def baseline_cnn(
    input_shape: Sequence[int],
    num_classes: int,
    filters: Sequence[int] = (32, 64),
    kernel_size: int = 3,
    pool: bool = True,
    dropout: float = 0.0,
    output_activation: str | None = "softmax",
    name: str = "baseline_cnn",
    normalization: keras.layers.Layer | None = None,
    activation: str = "relu",
    kernel_initializer: str | keras.initializers.Initializer | None = None,
    batch_norm: bool = True,
) -> keras.Model:
    """Convolutional network: [Conv (no bias, He normal) → BN → ReLU → MaxPool] × n → GAP → head.

    Use it for images. Pooling halves the spatial size after each block while it is at least
    2; global average pooling then feeds the head. The kernels start from seed 002's He
    normal, the plain ``N(0, 2/fan_in)`` of :class:`keras_recipes.initializers.HeNormal`,
    not Keras's ``"he_normal"`` (a truncated normal).

    Args:
        input_shape: ``(height, width, channels)``.
        num_classes: number of output units.
        filters: filters of each convolutional block. Defaults to ``(32, 64)``.
        kernel_size: square kernel size. Defaults to ``3``.
        pool: add 2×2 max pooling after each block. Defaults to ``True``.
        dropout: dropout rate before the head. Defaults to ``0.0``.
        output_activation: activation of the head. Defaults to ``"softmax"``.
        name: model name. Defaults to ``"baseline_cnn"``.
        normalization: a layer applied to the raw inputs first (see
            :func:`baseline_mlp`). Defaults to ``None``.
        activation: the convolutional blocks' non-linearity (see :func:`baseline_mlp`).
            Defaults to ``"relu"``.
        kernel_initializer: the convolutions' initializer; ``None`` is the seeds' plain He
            normal ``N(0, 2/fan_in)``. Defaults to ``None``.
        batch_norm: put a ``BatchNormalization`` between each convolution and its
            activation; with ``False`` the convolutions get a bias instead. Defaults to
            ``True``.

    Returns:
        An uncompiled functional ``keras.Model``.

    Example:

    >>> from keras_recipes.models import baseline_cnn
    >>> baseline_cnn((8, 8, 1), 10).output_shape
    (None, 10)
    """
    shape = _check_common(input_shape, num_classes)
    if len(shape) != 3:
        raise ValueError(
            f"Argument `input_shape` must be (height, width, channels) for a CNN. "
            f"Received: input_shape={tuple(input_shape)}"
        )
    check_number("kernel_size", kernel_size, low=1, integer=True)
    check_probability("dropout", dropout)
    _check_structure(activation, kernel_initializer, batch_norm)
    inputs = keras.Input(shape=shape)
    x = normalization(inputs) if normalization is not None else inputs
    from keras_recipes.initializers import HeNormal

    size = min(shape[0], shape[1])
    for i, f in enumerate(filters):
        check_number("filters", f, low=1, integer=True)
        conv = keras.layers.Conv2D(
            f, kernel_size, padding="same", use_bias=not batch_norm,
            kernel_initializer=_initializer(kernel_initializer, HeNormal), name=f"conv_{i}",
        )
        x = _hidden_block(x, conv, i, activation, batch_norm)
        if pool and size >= 2:
            x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
            size //= 2
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _head(x, num_classes, output_activation), name=name)


MODEL_BUILDERS = {"mlp": baseline_mlp, "cnn": baseline_cnn}


def build_model(kind: str, input_shape, num_classes: int, **kwargs) -> keras.Model:
    """Build a baseline by name: ``"mlp"`` or ``"cnn"``.

    ``kwargs`` go to :func:`baseline_mlp` or :func:`baseline_cnn` (``hidden=``/``filters=``,
    ``dropout=``, ``activation=``, ``kernel_initializer=``, ``batch_norm=``...).

    Example:

    >>> from keras_recipes.models import build_model
    >>> build_model("mlp", 4, 3, activation="sigmoid", batch_norm=False).output_shape
    (None, 3)
    """
    if kind not in MODEL_BUILDERS:
        raise ValueError(
            f"Unknown model {kind!r}. Use one of {sorted(MODEL_BUILDERS)}. Received: model={kind!r}"
        )
    if kind == "mlp":
        return baseline_mlp(input_shape, num_classes, **kwargs)
    return baseline_cnn(input_shape, num_classes, **kwargs)
