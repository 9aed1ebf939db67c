"""Seed 002's weight penalties: L2 ``(λ/N)·‖W‖²_F`` and L1 ``(λ/N)·‖W‖₁``, per weight matrix."""

from __future__ import annotations

import keras

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_number, fail


class _ScaledPenalty(keras.regularizers.Regularizer):
    """Shared storage and config of ``L1``/``L2``: a coefficient ``λ/N``."""

    def __init__(self, lam: float = 0.01, n: float = 32):
        for name, value in (("lam", lam), ("n", n)):
            if isinstance(value, (str, bytes)):
                fail(name, "a finite number", value)
        check_number("lam", lam, low=0)
        check_number("n", n, low=0, low_inclusive=False)
        self.lam = float(lam)
        self.n = float(n) if not float(n).is_integer() else int(n)

    @property
    def coefficient(self) -> float:
        """``λ/N``, the factor in front of the norm."""
        return self.lam / self.n

    def get_config(self) -> dict:
        return {"lam": self.lam, "n": self.n}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lam={self.lam:g}, n={self.n:g})"


@keras_recipes_export
class L2(_ScaledPenalty):
    """Seed 002's L2 penalty ``(λ/N)·‖W‖²_F`` on one weight matrix (Ridge, Tikhonov).

    Use it to add the notes' L2 regularisation to a layer
    (``Dense(..., kernel_regularizer=L2(lam, n))``) or to every kernel of a built model
    (:func:`apply_penalty`). The loss Keras minimises, and reports as ``loss``, becomes
    ``(1/N)·Σᵢ L(yᵢ, ŷᵢ) + (λ/N)·Σₛ ‖Wₛ‖²_F``: the notes' formula, summed over the layers.
    Seed 002 takes N as the minibatch size; any positive N is accepted.

    This is not Keras's ``weight_decay``. ``keras.optimizers.SGD(weight_decay=wd)`` shrinks
    the weights by ``ε·wd·θ`` before each update, outside the momentum; the penalty's
    gradient ``2λ/N·θ`` goes through the momentum, which multiplies its effect by about
    ``1/(1−α)`` (see ``docs/regularisation.md``). Only for plain SGD (no momentum) is one
    step of ``L2(lam, n)`` the same as ``weight_decay = 2·lam/n``.

    Args:
        lam: λ ≥ 0. Defaults to ``0.01``.
        n: N > 0, the minibatch size of the notes. Defaults to ``32``.

    Formula: ``penalty(W) = (λ/N)·Σᵢⱼ wᵢⱼ²``; gradient ``2λ/N·W``. Same value as
    ``keras.regularizers.L2(l2=λ/N)``.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.regularizers import L2
    >>> reg = L2(lam=0.5, n=4)
    >>> float(reg(np.array([[1.0, 2.0], [0.0, -2.0]])))  # 0.5/4 · (1 + 4 + 0 + 4)
    1.125
    >>> L2.from_config(reg.get_config())
    L2(lam=0.5, n=4)

    References:
        Krogh & Hertz (1991), A Simple Weight Decay Can Improve Generalization,
        https://papers.nips.cc/paper/563-a-simple-weight-decay-can-improve-generalization;
        Loshchilov & Hutter (2019), Decoupled Weight Decay Regularization,
        https://arxiv.org/abs/1711.05101
    """

    def __call__(self, x):
        return self.coefficient * keras.ops.sum(keras.ops.square(x))


@keras_recipes_export
class L1(_ScaledPenalty):
    """Seed 002's L1 penalty ``(λ/N)·‖W‖₁`` on one weight matrix (LASSO).

    Use it when sparse weights are wanted: the penalized optimum (the LASSO solution) has
    exact zeros where a feature's correlation with the residual stays below the penalty.
    Gradient descent with the subgradient ``sign(w)`` does not land on those zeros: each step
    moves a weight by ``lr·λ/N`` across 0, so such weights end in a band of about that width
    around 0 rather than at 0 (seed 002: rarely used in deep learning, since ``|w|`` is not
    differentiable at 0 and such networks are harder to optimise; the gradient used at 0
    is 0). A proximal step (soft thresholding) would reach exact zeros.

    Args:
        lam: λ ≥ 0. Defaults to ``0.01``.
        n: N > 0, the minibatch size of the notes. Defaults to ``32``.

    Formula: ``penalty(W) = (λ/N)·Σᵢⱼ |wᵢⱼ|``; gradient ``(λ/N)·sign(W)``. Same value as
    ``keras.regularizers.L1(l1=λ/N)``.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.regularizers import L1
    >>> float(L1(lam=0.5, n=4)(np.array([[1.0, 2.0], [0.0, -2.0]])))  # 0.5/4 · 5
    0.625

    References:
        Tibshirani (1996), Regression Shrinkage and Selection via the Lasso,
        https://doi.org/10.1111/j.2517-6161.1996.tb02080.x
    """

    def __call__(self, x):
        return self.coefficient * keras.ops.sum(keras.ops.abs(x))
