"""Overfit one minibatch: can the training loss of a single batch be driven to near zero?

Seed 003's first good practice ("overfit one minibatch to zero training loss") checks that
the network, the loss and the optimizer can fit anything at all, in a few dozen steps,
before any time goes into real training. :func:`overfit_minibatch` runs it on the model
itself and puts the model back exactly as it found it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_recipes._validation import check_number


def overfit_minibatch(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    learning_rate: float,
    batch_size: int = 32,
    steps: int = 100,
    max_loss: float = 0.01,
    rate_factors: tuple[float, ...] = (1.0, 10.0, 0.1),
    seed: int = 0,
) -> dict[str, Any]:
    """Train ``model`` on one minibatch for at most ``steps`` steps; report whether its loss
    went below ``max_loss``. The model is restored afterwards.

    Use it as a cheap first check of a new network: a network that cannot drive the loss of
    a single batch to near zero is broken (labels, loss, output layer, learning rate) or far
    too small, and no amount of training on the full data will fix that.

    The batch is ``batch_size`` examples of ``(x, y)`` drawn with ``seed`` (all of them when
    there are fewer). Each step is one optimizer step on that same batch with a fresh copy
    of the model's optimizer at the constant ``learning_rate``; the loss recorded at step
    ``k`` is the batch's own loss in training mode, computed before the step's update (as
    ``train_on_batch`` returns it), so ``BatchNormalization`` normalises with the batch's
    statistics. An attempt stops at the first step whose loss is ``<= max_loss``. A failed
    attempt is retried from the same starting point at the next rate of
    ``learning_rate · rate_factors`` (by default 10× higher, then 10× lower), so that a
    rate picked too low or too high for this one batch does not fail a sound network; the
    check passes when one attempt reaches ``max_loss``.
    Weights, optimizer variables, iteration count and learning rate are put back in a
    ``finally`` block, also after an exception or a diverging loss.

    Args:
        model: a compiled Keras model (its optimizer is copied, never stepped).
        x: inputs, with a leading batch axis.
        y: targets for the compiled loss.
        learning_rate: the constant learning rate of the check, > 0.
        batch_size: examples in the minibatch, >= 1. Defaults to ``32``.
        steps: most optimizer steps, >= 1. Defaults to ``100``.
        max_loss: the loss counted as "near zero", > 0. Defaults to ``0.01``.
        rate_factors: multipliers of ``learning_rate`` tried in order until one attempt
            passes, each > 0. Defaults to ``(1.0, 10.0, 0.1)``.
        seed: seed of the draw of the batch. Defaults to ``0``.

    Returns:
        A dict: ``passed``, ``examples`` (the batch size), ``max_loss`` (the bound),
        ``steps_max``, ``attempts`` (one dict per rate tried: ``learning_rate``,
        ``steps_run``, ``first_loss``, ``last_loss``, ``min_loss``, ``passed``) and, from the
        passing attempt (or the last one), ``learning_rate``, ``steps_run``,
        ``first_loss``, ``last_loss``, ``min_loss`` and ``losses`` (one per step). Losses
        are training-mode losses of the batch; a non-finite loss ends an attempt and fails
        it (``None`` in the record).

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.workflows.steamroller.minibatch import overfit_minibatch
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 2, 64)
    >>> keras.utils.set_random_seed(0)
    >>> net = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"),
    ...                         keras.layers.Dense(2, activation="softmax")])
    >>> net.compile("adam", "sparse_categorical_crossentropy")
    >>> check = overfit_minibatch(net, x, y, learning_rate=1e-2, batch_size=16, steps=100)
    >>> check["passed"], check["examples"]
    (True, 16)

    References:
        - Karpathy, 2019, "A Recipe for Training Neural Networks" (overfit a single batch),
          https://karpathy.github.io/2019/04/25/recipe/
        - Zhang et al., 2017, "Understanding deep learning requires rethinking
          generalization", https://arxiv.org/abs/1611.03530
    """
    from keras_recipes.lr_finder._probe import ProbeSession, check_compiled

    check_compiled(model)
    check_number("learning_rate", learning_rate, low=0, low_inclusive=False)
    check_number("batch_size", batch_size, low=1, integer=True)
    check_number("steps", steps, low=1, integer=True)
    check_number("max_loss", max_loss, low=0, low_inclusive=False)
    factors = tuple(rate_factors)
    if not factors:
        raise ValueError(f"Argument `rate_factors` must not be empty. "
                         f"Received: rate_factors={rate_factors}")
    for factor in factors:
        check_number("rate_factors", factor, low=0, low_inclusive=False)
    n = len(x)
    take = np.sort(np.random.default_rng(seed).permutation(n)[: min(int(batch_size), n)])
    batch = (np.asarray(x)[take], np.asarray(y)[take], None)
    attempts = []
    for factor in factors:
        rate = float(learning_rate) * float(factor)
        losses: list[float] = []
        with ProbeSession(model, rate, batch) as session:  # restored when it ends
            for _ in range(int(steps)):
                loss = session.train_step(batch)
                losses.append(loss)
                if not np.isfinite(loss) or loss <= max_loss:
                    break
        finite = [v for v in losses if np.isfinite(v)]
        attempts.append({
            "learning_rate": rate, "steps_run": len(losses),
            "first_loss": _finite(losses[0]), "last_loss": _finite(losses[-1]),
            "min_loss": float(min(finite)) if finite else None,
            "passed": bool(np.isfinite(losses[-1]) and losses[-1] <= max_loss),
            "losses": [_finite(v) for v in losses]})
        if attempts[-1]["passed"]:
            break
    final = attempts[-1]
    return {"passed": final["passed"], "examples": len(take), "max_loss": float(max_loss),
            "steps_max": int(steps), **final,
            "attempts": [{k: v for k, v in a.items() if k != "losses"} for a in attempts]}


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def failure_reason(check: dict[str, Any]) -> str:
    """One sentence saying why a failed :func:`overfit_minibatch` check failed."""
    tried = "; ".join(
        f"at learning rate {a['learning_rate']:.3g}: "
        + (f"non-finite after {a['steps_run']} steps" if a["last_loss"] is None
           else f"{a['first_loss']:.3g} -> {a['last_loss']:.3g} in {a['steps_run']} steps")
        for a in check["attempts"])
    return (f"the training loss of one minibatch of {check['examples']} examples did not "
            f"fall to near zero (<= {check['max_loss']:g}) ({tried})")
