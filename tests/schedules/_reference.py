"""Independent NumPy implementations of the schedules' formulas, and a vector evaluator."""

from __future__ import annotations

import math

import keras
import numpy as np


def values(schedule, steps) -> np.ndarray:
    """Evaluate a schedule at integer steps, as float64 NumPy."""
    steps = np.asarray(steps, dtype="int64")
    return np.asarray(keras.ops.convert_to_numpy(schedule(steps)), dtype="float64")


def clr(t, base, top, s, mode="triangular", gamma=1.0):
    """Smith (2017), Section 3.1 (the paper's Theano/Keras listing)."""
    cycle = math.floor(1 + t / (2 * s))
    x = abs(t / s - 2 * cycle + 1)
    scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1),
             "exp_range": gamma**t}[mode]
    return base + (top - base) * max(0.0, 1 - x) * scale


def fastai_cos(start, end, pos):
    """fastai ``SchedCos``."""
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def fastai_lin(start, end, pos):
    return start + pos * (end - start)


def one_cycle(t, total, lr_max, pct=0.25, div=25.0, div_final=1e5, anneal="cos",
              moms=None):
    """fastai ``fit_one_cycle``: ``combine_scheds([pct, 1-pct], [f(lr/div, lr),
    f(lr, lr/div_final)])``."""
    f = fastai_cos if anneal == "cos" else fastai_lin
    pos = min(max(t / total, 0.0), 1.0)
    if moms is not None:
        a, b, c = moms
    else:
        a, b, c = lr_max / div, lr_max, lr_max / div_final
    if pos < pct:
        return f(a, b, pos / pct)
    return f(b, c, (pos - pct) / (1 - pct))


def sgdr_cycle(t, period, t_mult):
    """Walk the cycles one by one (no closed form): ``(i, τ)``, τ ∈ [0, 1) within cycle i."""
    start, length, i = 0.0, float(period), 0
    while t >= start + length:
        start += length
        length *= t_mult
        i += 1
    return i, (t - start) / length


def sgdr(t, period, t_mult, m_mul, base_fn):
    """A restarted base: ``m_mul^i · base_fn(τ)``."""
    i, tau = sgdr_cycle(t, period, t_mult)
    return m_mul**i * base_fn(tau)


def sgdr_cosine(t, period, t_mult, m_mul, lr, alpha):
    """SGDR cosine as in ``tf.compat.v1.train.cosine_decay_restarts`` (Keras's formula)."""
    i, tau = sgdr_cycle(t, period, t_mult)
    return lr * (alpha + (1 - alpha) * m_mul**i * 0.5 * (1 + math.cos(math.pi * tau)))
