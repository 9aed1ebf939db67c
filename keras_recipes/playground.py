"""Optimizer trajectories on 2-D test functions: the course notes' ravine pictures.

Three functions with analytic gradients (a quadratic ravine, Rosenbrock's banana, a saddle)
and :func:`trajectories`, which runs Keras optimizers on them and returns a DataFrame;
:func:`plot_trajectories` draws them over the contour lines. It shows momentum crossing a
ravine faster than SGD, and Adagrad's steps shrinking as its accumulator grows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from keras_recipes._validation import check_number

__all__ = [
    "TestFunction",
    "plot_trajectories",
    "quadratic_ravine",
    "rosenbrock",
    "saddle",
    "trajectories",
]


@dataclass(frozen=True)
class TestFunction:
    """A 2-D function with its start point, minimum and plotting box.

    Args:
        name: label used in plots.
        value: `f(x, y)`, written with arithmetic operators only, so that it evaluates
            on NumPy arrays (plots) and on backend tensors (the gradient is taken by the
            backend's autodiff inside a compiled train step).
        start: default start point.
        minimum: location of the minimum, or None (saddle).
        bounds: `((x_min, x_max), (y_min, y_max))` for the contour plot.
    """

    __test__ = False  # not a pytest class

    name: str
    value: Callable[[np.ndarray, np.ndarray], np.ndarray]
    start: tuple[float, float]
    minimum: tuple[float, float] | None
    bounds: tuple[tuple[float, float], tuple[float, float]]


def quadratic_ravine(a: float = 1.0, b: float = 20.0) -> TestFunction:
    """A narrow elongated valley, `f(x, y) = (a x**2 + b y**2) / 2`.

    Use it to show why momentum helps: with `b >> a` plain gradient descent zig-zags across
    the ravine (its step is limited by the steep direction) and crawls along it.

    Args:
        a: curvature along x, > 0. Defaults to 1.0.
        b: curvature along y, > 0. Defaults to 20.0.

    Example:

    >>> from keras_recipes.playground import quadratic_ravine
    >>> f = quadratic_ravine()
    >>> float(f.value(1.0, 1.0))
    10.5

    References:
        - Goodfellow, Bengio, Courville, "Deep Learning", section 8.3.2 (momentum),
          https://www.deeplearningbook.org/contents/optimization.html
    """
    check_number("a", a, low=0, low_inclusive=False)
    check_number("b", b, low=0, low_inclusive=False)
    return TestFunction(
        name=f"quadratic ravine (a={a:g}, b={b:g})",
        value=lambda x, y: 0.5 * (a * x * x + b * y * y),
        start=(-4.0, 1.0),
        minimum=(0.0, 0.0),
        bounds=((-4.5, 4.5), (-1.5, 1.5)),
    )


def rosenbrock(a: float = 1.0, b: float = 100.0) -> TestFunction:
    """Rosenbrock's banana, `f(x, y) = (a - x)**2 + b (y - x**2)**2`, minimum at (a, a**2).

    Use it to see how optimizers follow a curved, flat-bottomed valley.

    Args:
        a: position of the minimum. Defaults to 1.0.
        b: steepness of the valley walls, > 0. Defaults to 100.0.

    Example:

    >>> from keras_recipes.playground import rosenbrock
    >>> float(rosenbrock().value(1.0, 1.0))
    0.0

    References:
        - Rosenbrock, "An automatic method for finding the greatest or least value of a
          function", The Computer Journal 1960, https://doi.org/10.1093/comjnl/3.3.175
    """
    check_number("a", a)
    check_number("b", b, low=0, low_inclusive=False)
    return TestFunction(
        name=f"Rosenbrock (a={a:g}, b={b:g})",
        value=lambda x, y: (a - x) ** 2 + b * (y - x * x) ** 2,
        start=(-1.2, 1.0),
        minimum=(a, a * a),
        bounds=((-2.0, 2.0), (-1.0, 3.0)),
    )


def saddle() -> TestFunction:
    """A saddle point at the origin, `f(x, y) = x**2 - y**2`.

    Use it to see which optimizers escape a saddle: started almost on the ridge
    (y close to 0) gradient descent lingers near the origin before y grows.

    Example:

    >>> from keras_recipes.playground import saddle
    >>> float(saddle().value(1.0, 2.0))
    -3.0

    References:
        - Dauphin et al., "Identifying and attacking the saddle point problem in
          high-dimensional non-convex optimization", NeurIPS 2014,
          https://arxiv.org/abs/1406.2572
    """
    return TestFunction(
        name="saddle",
        value=lambda x, y: x * x - y * y,
        start=(1.5, 1e-3),
        minimum=None,
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
    )


def trajectories(
    optimizers: Mapping[str, keras.optimizers.Optimizer] | keras.optimizers.Optimizer,
    fn: TestFunction,
    steps: int = 100,
    start: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Run each optimizer on `fn` and record the path.

    Use it to compare optimizers on a picture, as the course notes do. The point is the
    only weight of a tiny model whose loss is `f`; `model.fit` runs one compiled train
    step per update, so any Keras optimizer (built-in or this library's) works, on any
    backend, and the gradient comes from the backend's autodiff. Each optimizer is copied
    through its config, so the objects passed in are not built or stepped.

    Args:
        optimizers: `{label: optimizer}`, or one optimizer (labelled by its name).
        fn: a :class:`TestFunction` (`quadratic_ravine()`, `rosenbrock()`, `saddle()`).
        steps: number of updates, integer >= 1. Defaults to 100.
        start: start point. Defaults to `fn.start`.

    Returns:
        A DataFrame with columns `optimizer`, `step` (0 = start), `x`, `y`, `loss`,
        `step_size` (distance moved at that step, 0 at step 0).

    Example:

    >>> import keras
    >>> from keras_recipes.playground import quadratic_ravine, trajectories
    >>> df = trajectories({"sgd": keras.optimizers.SGD(0.05)}, quadratic_ravine(), steps=3)
    >>> df.shape
    (4, 6)

    References:
        - Ruder, "An overview of gradient descent optimization algorithms", 2016,
          https://arxiv.org/abs/1609.04747
    """
    if isinstance(optimizers, keras.optimizers.Optimizer):
        optimizers = {optimizers.name: optimizers}
    if not isinstance(optimizers, Mapping) or not optimizers:
        raise ValueError(
            "Argument `optimizers` must be a non-empty mapping of labels to optimizers. "
            f"Received: optimizers={optimizers!r}"
        )
    if not isinstance(fn, TestFunction):
        raise ValueError(f"Argument `fn` must be a TestFunction. Received: fn={fn!r}")
    check_number("steps", steps, low=1, integer=True)
    start = fn.start if start is None else tuple(float(s) for s in start)
    frames = []
    for label, optimizer in optimizers.items():
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise ValueError(
                f"Argument `optimizers` must map labels to optimizers. Received: {label}="
                f"{optimizer!r}"
            )
        path = _run(optimizer, fn, int(steps), start)
        frame = pd.DataFrame({"optimizer": label, "step": np.arange(len(path)),
                              "x": path[:, 0], "y": path[:, 1]})
        frame["loss"] = fn.value(path[:, 0], path[:, 1])
        moves = np.hypot(*np.diff(path, axis=0).T)
        frame["step_size"] = np.concatenate([[0.0], moves])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


class _Point(keras.layers.Layer):
    """Holds the 2-D point as a weight and outputs f(point).

    During training it also writes the point into a `history` buffer (a non-trainable
    weight, like BatchNormalization's moving statistics), so a whole trajectory is one
    `fit` call with no host round trip per step.
    """

    def __init__(self, fn: TestFunction, start: tuple[float, float], steps: int):
        super().__init__()
        self._value = fn.value
        self._start = start
        self._steps = steps

    def build(self, input_shape):
        self.point = self.add_weight(
            shape=(2,), initializer=keras.initializers.Constant(self._start), name="point"
        )
        self.history = self.add_weight(
            shape=(self._steps, 2), initializer="zeros", trainable=False, name="history"
        )
        self.counter = self.add_weight(
            shape=(), initializer="zeros", dtype="int32", trainable=False, name="counter"
        )

    def call(self, inputs, training=False):
        value = self._value(self.point[0], self.point[1])
        if training:
            hot = keras.ops.expand_dims(
                keras.ops.one_hot(self.counter, self._steps, dtype=self.point.dtype), -1
            )
            seen = keras.ops.stop_gradient(keras.ops.expand_dims(self.point, 0))
            self.history.assign(self.history * (1.0 - hot) + hot * seen)
            self.counter.assign(self.counter + 1)
        return keras.ops.zeros_like(inputs) + value


def _run(optimizer, fn: TestFunction, steps: int, start) -> np.ndarray:
    """One compiled train step per update: f is the loss, the point the only weight."""
    opt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    layer = _Point(fn, start, steps)
    inputs = keras.Input((1,))
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=opt, loss=lambda y_true, y_pred: keras.ops.mean(y_pred),
                  steps_per_execution=steps)
    zeros = np.zeros((steps, 1), dtype="float32")
    model.fit(zeros, zeros, batch_size=1, epochs=1, shuffle=False, verbose=0)
    history = keras.ops.convert_to_numpy(layer.history).astype("float64")
    last = keras.ops.convert_to_numpy(layer.point).astype("float64")
    return np.vstack([history, last[None]])


def plot_trajectories(df: pd.DataFrame, fn: TestFunction, *, levels: int = 30, ax=None):
    """Draw the paths of :func:`trajectories` over the contour lines of `fn`.

    Args:
        df: the DataFrame returned by :func:`trajectories`.
        fn: the function the paths were computed on.
        levels: number of contour levels (log-spaced for non-negative functions).
            Defaults to 30.
        ax: a matplotlib Axes to draw on. Defaults to a new figure.

    Returns:
        The matplotlib `Figure` (never shown).

    Example:

    >>> import keras
    >>> from keras_recipes.playground import plot_trajectories, rosenbrock, trajectories
    >>> fn = rosenbrock()
    >>> fig = plot_trajectories(trajectories(keras.optimizers.Adam(0.1), fn, 5), fn)
    >>> type(fig).__name__
    'Figure'

    References:
        - The matplotlib contour API, https://matplotlib.org/stable/api/_as_gen/
          matplotlib.axes.Axes.contour.html
    """
    from matplotlib.figure import Figure

    missing = {"optimizer", "x", "y"} - set(df.columns)
    if missing:
        raise ValueError(
            "Argument `df` must have the columns of trajectories(). "
            f"Received: missing={sorted(missing)}"
        )
    if ax is None:
        fig = Figure(figsize=(7, 5))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    (x0, x1), (y0, y1) = fn.bounds
    gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    z = fn.value(gx, gy)
    if np.min(z) >= 0:
        ax.contour(gx, gy, z, levels=np.geomspace(max(np.min(z), 1e-3), np.max(z), levels),
                   colors="0.7", linewidths=0.6)
    else:
        ax.contour(gx, gy, z, levels=levels, colors="0.7", linewidths=0.6)
    for label, path in df.groupby("optimizer", sort=False):
        ax.plot(path["x"], path["y"], marker=".", markersize=3, linewidth=1, label=str(label))
    if fn.minimum is not None:
        ax.plot(*fn.minimum, marker="*", color="k", markersize=10, linestyle="none")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_title(fn.name)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(loc="best", fontsize="small")
    return fig
