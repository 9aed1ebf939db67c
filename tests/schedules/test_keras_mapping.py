"""The seeds' decays map onto Keras's built-in schedules (checked numerically, not rewritten)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from tests.schedules._reference import values

pytestmark = pytest.mark.backend

S = keras.optimizers.schedules
SPE = 10  # steps per epoch
EPOCHS = np.array([0, 1, 2, 5, 10, 37])
STEPS = EPOCHS * SPE


def test_exponential_per_epoch():
    # Seeds 000/002: ε_t = ε0 · exp(−β t_e).
    eps0, beta = 0.1, 0.1
    sched = S.ExponentialDecay(eps0, decay_steps=SPE, decay_rate=math.exp(-beta), staircase=True)
    np.testing.assert_allclose(values(sched, STEPS), eps0 * np.exp(-beta * EPOCHS), rtol=1e-5)
    assert values(sched, [SPE - 1])[0] == np.float32(eps0)  # constant inside an epoch


def test_inverse_per_epoch():
    # Seeds 000/002: ε_t = ε0 / (1 + β t_e).
    eps0, beta = 0.1, 0.1
    sched = S.InverseTimeDecay(eps0, decay_steps=SPE, decay_rate=beta, staircase=True)
    np.testing.assert_allclose(values(sched, STEPS), eps0 / (1 + beta * EPOCHS), rtol=1e-5)


def test_halving_per_epoch():
    # Seed 002: η_t = η_{t−1} / 2.
    sched = S.ExponentialDecay(0.1, decay_steps=SPE, decay_rate=0.5, staircase=True)
    np.testing.assert_allclose(values(sched, STEPS), 0.1 * 0.5**EPOCHS, rtol=1e-5)


def test_linear():
    # Seed 004: α_t = α0 (1 − t/T).
    T = 1000
    sched = S.PolynomialDecay(0.1, decay_steps=T, end_learning_rate=0.0, power=1.0)
    t = np.array([0, 1, 250, 999, 1000, 2000])
    np.testing.assert_allclose(values(sched, t), 0.1 * (1 - np.minimum(t, T) / T), atol=1e-8)


def test_cosine():
    # Seed 004: α_t = ½ α0 (1 + cos(π t / T)).
    T = 1000
    sched = S.CosineDecay(0.1, decay_steps=T)
    t = np.array([0, 1, 250, 500, 999, 1000, 2000])
    expected = 0.5 * 0.1 * (1 + np.cos(np.pi * np.minimum(t, T) / T))
    np.testing.assert_allclose(values(sched, t), expected, atol=1e-8)
