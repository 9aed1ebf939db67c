"""Independent NumPy versions of the course notes' update rules (seed 000, algorithms 1-9).

Each function runs ``steps`` updates from ``theta0`` with ``grad(t, point)`` giving the
gradient at ``point`` for step ``t`` (1-based) and returns the iterates, shape
``(steps, D)``. They are written from the formulas of the notes, in float64, with the
notes' sign conventions (velocity ``v`` added to ``theta``). Variants with Keras's
conventions take extra arguments whose defaults give the notes' formula.
"""

from __future__ import annotations

import numpy as np


def sgd(theta0, grad, steps, lr):
    theta = np.array(theta0, dtype="float64")
    out = []
    for t in range(1, steps + 1):
        theta = theta - lr * grad(t, theta)
        out.append(theta.copy())
    return np.array(out)


def momentum(theta0, grad, steps, lr, alpha):
    theta = np.array(theta0, dtype="float64")
    v = np.zeros_like(theta)
    out = []
    for t in range(1, steps + 1):
        v = alpha * v - lr * grad(t, theta)
        theta = theta + v
        out.append(theta.copy())
    return np.array(out)


def nesterov(theta0, grad, steps, lr, alpha):
    """Returns (theta_t, v_t) iterates: the gradient is taken at theta + alpha * v."""
    theta = np.array(theta0, dtype="float64")
    v = np.zeros_like(theta)
    thetas, vs = [], []
    for t in range(1, steps + 1):
        g = grad(t, theta + alpha * v)
        v = alpha * v - lr * g
        theta = theta + v
        thetas.append(theta.copy())
        vs.append(v.copy())
    return np.array(thetas), np.array(vs)


def adagrad(theta0, grad, steps, lr, delta, r0=0.0, eps_inside=False):
    """Notes: d = lr / (delta + sqrt(r)) * g. Keras: lr * g / sqrt(r + eps), r0 = 0.1."""
    theta = np.array(theta0, dtype="float64")
    r = np.full_like(theta, r0)
    out = []
    for t in range(1, steps + 1):
        g = grad(t, theta)
        r = r + g * g
        denom = np.sqrt(r + delta) if eps_inside else delta + np.sqrt(r)
        theta = theta - lr / denom * g
        out.append(theta.copy())
    return np.array(out)


def rmsprop(theta0, grad, steps, lr, rho, delta, eps_inside=False):
    theta = np.array(theta0, dtype="float64")
    r = np.zeros_like(theta)
    out = []
    for t in range(1, steps + 1):
        g = grad(t, theta)
        r = rho * r + (1 - rho) * g * g
        denom = np.sqrt(r + delta) if eps_inside else delta + np.sqrt(r)
        theta = theta - lr / denom * g
        out.append(theta.copy())
    return np.array(out)


def rmsprop_momentum(theta0, grad, steps, lr, rho, alpha, eps=0.0):
    """Notes: v <- alpha v - lr / sqrt(r) * g (no delta); ``eps`` goes under the root."""
    return _rmsprop_with_velocity(theta0, grad, steps, lr, rho, alpha, eps, nesterov=False)[0]


def rmsprop_nesterov(theta0, grad, steps, lr, rho, alpha, eps=0.0, centered=False):
    """Returns (theta_t, v_t); the gradient is taken at theta + alpha * v."""
    return _rmsprop_with_velocity(theta0, grad, steps, lr, rho, alpha, eps, nesterov=True,
                                  centered=centered)


def _rmsprop_with_velocity(theta0, grad, steps, lr, rho, alpha, eps, nesterov, centered=False):
    """v <- alpha v - lr / sqrt(var + eps) * g, theta <- theta + v, with var = r (or
    r - mg² when ``centered``) and g taken at theta (or at theta + alpha v when
    ``nesterov``). Returns (theta_t, v_t)."""
    theta = np.array(theta0, dtype="float64")
    r = np.zeros_like(theta)
    mg = np.zeros_like(theta)
    v = np.zeros_like(theta)
    thetas, vs = [], []
    for t in range(1, steps + 1):
        g = grad(t, theta + alpha * v if nesterov else theta)
        r = rho * r + (1 - rho) * g * g
        mg = rho * mg + (1 - rho) * g
        var = r - mg * mg if centered else r
        v = alpha * v - lr / np.sqrt(var + eps) * g
        theta = theta + v
        thetas.append(theta.copy())
        vs.append(v.copy())
    return np.array(thetas), np.array(vs)


def adam(theta0, grad, steps, lr, rho1, rho2, delta, convention="notes"):
    """``notes``: lr * s_hat / sqrt(r_hat + delta); ``outside``: lr * s_hat / (sqrt(r_hat) +
    delta); ``keras``: lr * s_hat / (sqrt(r_hat) + delta / sqrt(1 - rho2**t))."""
    theta = np.array(theta0, dtype="float64")
    s = np.zeros_like(theta)
    r = np.zeros_like(theta)
    out = []
    for t in range(1, steps + 1):
        g = grad(t, theta)
        s = rho1 * s + (1 - rho1) * g
        r = rho2 * r + (1 - rho2) * g * g
        s_hat = s / (1 - rho1**t)
        r_hat = r / (1 - rho2**t)
        if convention == "notes":
            d = lr * s_hat / np.sqrt(r_hat + delta)
        elif convention == "outside":
            d = lr * s_hat / (np.sqrt(r_hat) + delta)
        else:
            d = lr * s_hat / (np.sqrt(r_hat) + delta / np.sqrt(1 - rho2**t))
        theta = theta - d
        out.append(theta.copy())
    return np.array(out)


def yogi(theta0, grad, steps, lr, rho1, rho2, delta, r0=0.0, bias_correction=True):
    theta = np.array(theta0, dtype="float64")
    s = np.zeros_like(theta)
    r = np.full_like(theta, r0)
    out = []
    for t in range(1, steps + 1):
        g = grad(t, theta)
        s = rho1 * s + (1 - rho1) * g
        r = r - (1 - rho2) * np.sign(r - g * g) * g * g
        if bias_correction:
            d = lr * (s / (1 - rho1**t)) / (np.sqrt(r / (1 - rho2**t)) + delta)
        else:
            d = lr * s / (np.sqrt(r) + delta)
        theta = theta - d
        out.append(theta.copy())
    return np.array(out)


def radam(theta0, grad, steps, lr, beta1, beta2, eps, threshold=5.0):
    """Liu et al. 2020, Algorithm 2, with PyTorch's placement of eps."""
    theta = np.array(theta0, dtype="float64")
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    rho_inf = 2 / (1 - beta2) - 1
    out = []
    for t in range(1, steps + 1):
        g = grad(t, theta)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        if rho_t > threshold:
            rect = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                           / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            adaptive = np.sqrt(1 - beta2**t) / (np.sqrt(v) + eps)
            theta = theta - lr * rect * m_hat * adaptive
        else:
            theta = theta - lr * m_hat
        out.append(theta.copy())
    return np.array(out)


def lookahead_sgd(theta0, grad, steps, lr, k, alpha):
    """Lookahead (Zhang et al. 2019, Algorithm 1) around plain SGD."""
    theta = np.array(theta0, dtype="float64")
    slow = theta.copy()
    out = []
    for t in range(1, steps + 1):
        theta = theta - lr * grad(t, theta)
        if t % k == 0:
            slow = slow + alpha * (theta - slow)
            theta = slow.copy()
        out.append(theta.copy())
    return np.array(out)
