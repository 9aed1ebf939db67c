"""Optimizer trajectories on 2-D test functions: the course notes' pictures, measured.

Four test functions (a quadratic ravine, Rosenbrock's banana, a saddle, a tilted double
well) and :func:`trajectories`, which runs Keras optimizers on them and returns a DataFrame;
:func:`plot_trajectories` draws them over the contour lines. It shows momentum crossing a
ravine faster than SGD, overshooting a minimum and flying over a local one, and Adagrad's
steps shrinking as its accumulator grows.

Three measurements back other claims of the notes: :func:`noisy_descent` (a noisy gradient
lets SGD leave a local minimum), :func:`effective_learning_rates` (Adam's step per unit of
gradient jumps when its second moment is much larger than the current ``g²``; Yogi's does
not) and :func:`minibatch_gradient_noise` (the minibatch gradient is an unbiased, noisy
estimate of the full gradient whose standard error falls as ``1/√m``).
:func:`fit_batch_schedule` trains with a batch size per epoch (Yogi's growing minibatch)
and :func:`loss_along_gradient` measures how smooth the loss is along the gradient
(batch normalisation's smoother landscape).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from keras_recipes._validation import check_number
from keras_recipes.optimizers._checks import optimizer_mapping

__all__ = [
    "TestFunction",
    "double_well",
    "effective_learning_rates",
    "fit_batch_schedule",
    "loss_along_gradient",
    "minibatch_gradient_noise",
    "noisy_descent",
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


def double_well(tilt: float = 0.25) -> TestFunction:
    """A tilted double well, `f(x, y) = (x**2 - 1)**2 + tilt * x + y**2 / 2`.

    Use it to show local minima: for `0 < tilt < 1.5` it has a shallow local minimum near
    `x = +1` and the global one near `x = -1`, with a barrier at `x ≈ 0`. Plain gradient
    descent started in the right-hand well stays there; gradient noise
    (:func:`noisy_descent`) or momentum (:func:`trajectories`) can carry it over the barrier.
    The start point is the bottom of the local well, at `y = 0.5`.

    Args:
        tilt: slope that makes the left well deeper, in `(0, 1.5)`. Defaults to 0.25.

    Example:

    >>> from keras_recipes.playground import double_well
    >>> f = double_well()
    >>> round(f.minimum[0], 3), round(f.start[0], 3)
    (-1.03, 0.967)

    References:
        - Goodfellow, Bengio, Courville, "Deep Learning", section 8.2.2 (local minima),
          https://www.deeplearningbook.org/contents/optimization.html
    """
    check_number("tilt", tilt, low=0, high=1.5, low_inclusive=False, high_inclusive=False)
    # f'(x) = 4x**3 - 4x + tilt: three real roots, the outer two are the minima
    roots = np.sort(np.roots([4.0, 0.0, -4.0, tilt]).real)
    return TestFunction(
        name=f"double well (tilt={tilt:g})",
        value=lambda x, y: (x * x - 1.0) ** 2 + tilt * x + 0.5 * y * y,
        start=(float(roots[2]), 0.5),
        minimum=(float(roots[0]), 0.0),
        bounds=((-2.0, 2.0), (-1.5, 1.5)),
    )


def _optimizer_mapping(optimizers) -> Mapping:
    """``{label: optimizer}`` from one optimizer or a non-empty mapping of optimizers."""
    return optimizer_mapping("optimizers", optimizers, non_empty=True)


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
    optimizers = _optimizer_mapping(optimizers)
    if not isinstance(fn, TestFunction):
        raise ValueError(f"Argument `fn` must be a TestFunction. Received: fn={fn!r}")
    check_number("steps", steps, low=1, integer=True)
    start = fn.start if start is None else tuple(float(s) for s in start)
    frames = []
    for label, optimizer in optimizers.items():
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


def _compile(model: keras.Model, optimizer, steps: int) -> None:
    """Compile with f as the loss; all ``steps`` updates in one compiled call where the
    backend allows it (Keras's torch trainer runs one step per call: the same updates,
    one Python call each)."""
    per_call = 1 if keras.backend.backend() == "torch" else steps
    model.compile(optimizer=optimizer, loss=lambda y_true, y_pred: keras.ops.mean(y_pred),
                  steps_per_execution=per_call)


def _run(optimizer, fn: TestFunction, steps: int, start) -> np.ndarray:
    """One compiled train step per update: f is the loss, the point the only weight."""
    opt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    layer = _Point(fn, start, steps)
    inputs = keras.Input((1,))
    model = keras.Model(inputs, layer(inputs))
    _compile(model, opt, steps)
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


class _Cloud(keras.layers.Layer):
    """`runs` independent points, each descending `f` with its own gradient noise.

    The output is `Σ_r f(p_r) + Σ_r <ε_r, p_r>` with `ε_r ~ N(0, noise²)` drawn at each
    training step and held constant for differentiation, so run `r` sees the gradient
    `∇f(p_r) + ε_r`: seed 002's "∇L ≃ ∇L_tot + ε".
    """

    def __init__(self, fn: TestFunction, start, runs: int, noise: float, seed):
        super().__init__()
        self._value = fn.value
        self._start = start
        self._runs = runs
        self._noise = noise
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        start = np.tile(np.asarray(self._start, dtype="float32"), (self._runs, 1))
        self.points = self.add_weight(shape=(self._runs, 2),
                                      initializer=keras.initializers.Constant(start),
                                      name="points")

    def call(self, inputs, training=False):
        value = keras.ops.sum(self._value(self.points[:, 0], self.points[:, 1]))
        if training and self._noise > 0:
            eps = keras.random.normal((self._runs, 2), stddev=self._noise,
                                      seed=self.seed_generator, dtype=self.points.dtype)
            value = value + keras.ops.sum(keras.ops.stop_gradient(eps) * self.points)
        return keras.ops.zeros_like(inputs) + value


def noisy_descent(
    optimizer: keras.optimizers.Optimizer,
    fn: TestFunction,
    noise: float = 1.0,
    runs: int = 100,
    steps: int = 300,
    start: tuple[float, float] | None = None,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Where `runs` independent descents end when each gradient carries Gaussian noise.

    Use it to see seed 000's first advantage of SGD ("le bruit aide à sortir des minima
    locaux") and its drawback (the iterate keeps fluctuating): started in the local well
    of :func:`double_well`, noiseless descent never leaves it, while noisy descent crosses
    the barrier and mostly settles in the deeper well. The noise stands for the minibatch
    error `ĝ − ∇J` (seed 002: `∇L ≃ ∇L_tot + ε`); its std falls as `1/√m` with the batch
    size m (:func:`minibatch_gradient_noise`).

    Each run's update uses `ĝ_t = ∇f(p_t) + ε_t`, `ε_t ~ N(0, noise² I)`, fresh at each step
    and independent across runs; all runs advance together in one `fit` call.

    Args:
        optimizer: a Keras optimizer (copied through its config; not built or stepped).
        fn: a :class:`TestFunction`.
        noise: std of each gradient coordinate's noise, >= 0. Defaults to 1.0.
        runs: independent runs, integer >= 1. Defaults to 100.
        steps: updates per run, integer >= 1. Defaults to 300.
        start: common start point. Defaults to `fn.start`.
        seed: seed of the noise. Defaults to 0.

    Returns:
        A DataFrame with one row per run: `run`, `x`, `y`, `loss` (the noiseless `f` at
        the end point).

    Example:

    >>> import keras
    >>> from keras_recipes.playground import double_well, noisy_descent
    >>> ends = noisy_descent(keras.optimizers.SGD(0.05), double_well(), noise=0.0, runs=4,
    ...                      steps=50)
    >>> bool((ends["x"] > 0).all())  # no noise: every run stays in the local well
    True

    References:
        - Goodfellow, Bengio, Courville, "Deep Learning", section 8.3.1,
          https://www.deeplearningbook.org/contents/optimization.html
        - Zhu et al., "The Anisotropic Noise in Stochastic Gradient Descent: Its Behavior of
          Escaping from Sharp Minima", ICML 2019, https://arxiv.org/abs/1803.00195
    """
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(f"Argument `optimizer` must be a Keras optimizer. "
                         f"Received: optimizer={optimizer!r}")
    if not isinstance(fn, TestFunction):
        raise ValueError(f"Argument `fn` must be a TestFunction. Received: fn={fn!r}")
    check_number("noise", noise, low=0)
    check_number("runs", runs, low=1, integer=True)
    check_number("steps", steps, low=1, integer=True)
    start = fn.start if start is None else tuple(float(s) for s in start)
    opt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    layer = _Cloud(fn, start, int(runs), float(noise), seed)
    inputs = keras.Input((1,))
    model = keras.Model(inputs, layer(inputs))
    _compile(model, opt, int(steps))
    zeros = np.zeros((int(steps), 1), dtype="float32")
    model.fit(zeros, zeros, batch_size=1, epochs=1, shuffle=False, verbose=0)
    points = keras.ops.convert_to_numpy(layer.points).astype("float64")
    return pd.DataFrame({"run": np.arange(int(runs)), "x": points[:, 0], "y": points[:, 1],
                         "loss": fn.value(points[:, 0], points[:, 1])})


class _Scalar(keras.layers.Layer):
    """One scalar weight θ; outputs `x · θ` (so `∇θ` is the input) and records θ each step."""

    def __init__(self, steps: int, initial: float):
        super().__init__()
        self._steps = steps
        self._initial = initial

    def build(self, input_shape):
        self.theta = self.add_weight(shape=(1,), name="theta",
                                     initializer=keras.initializers.Constant(self._initial))
        self.history = self.add_weight(shape=(self._steps,), initializer="zeros",
                                       trainable=False, name="history")
        self.counter = self.add_weight(shape=(), initializer="zeros", dtype="int32",
                                       trainable=False, name="counter")

    def call(self, inputs, training=False):
        if training:
            hot = keras.ops.one_hot(self.counter, self._steps, dtype=self.theta.dtype)
            seen = keras.ops.stop_gradient(self.theta[0])
            self.history.assign(self.history * (1.0 - hot) + hot * seen)
            self.counter.assign(self.counter + 1)
        return inputs * self.theta


def effective_learning_rates(
    optimizers: Mapping[str, keras.optimizers.Optimizer] | keras.optimizers.Optimizer,
    gradients,
) -> pd.DataFrame:
    """Feed a chosen gradient sequence to optimizers and measure each update per unit gradient.

    Use it to see seed 000's drawback of Adam, the motivation of Yogi: after large
    gradients, Adam's second moment `r` is much larger than the new `g²` and shrinks
    multiplicatively (`r ← β₂ r + (1 − β₂) g²`), so its effective rate `ε / (√r̂ + δ)` grows
    quickly; Yogi's additive update `r ← r − (1 − β₂) sign(r − g²) g²` only lowers `r` by
    `(1 − β₂) g²` per step, and its effective rate stays put.

    The only weight is a scalar θ and the loss at step t is `g_t · θ`, so the optimizer
    receives exactly `g_t`. `update_t = θ_{t-1} − θ_t`; `ratio = update / gradient` is the
    effective learning rate once the first moment has caught up with a constant gradient
    (for SGD it is the learning rate itself).

    Args:
        optimizers: `{label: optimizer}`, or one optimizer (labelled by its name); each is
            copied through its config.
        gradients: 1-D sequence of the gradients `g_1, g_2, ...` (no zeros if you read
            `ratio`).

    Returns:
        A DataFrame with columns `optimizer`, `step` (1-based), `gradient`, `update`,
        `ratio`.

    Example:

    >>> import keras
    >>> from keras_recipes.playground import effective_learning_rates
    >>> df = effective_learning_rates(keras.optimizers.SGD(0.1), [1.0, 2.0])
    >>> [round(float(r), 6) for r in df["ratio"]]
    [0.1, 0.1]

    References:
        - Zaheer et al., "Adaptive Methods for Nonconvex Optimization", NeurIPS 2018
          (Yogi), https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization
        - Kingma & Ba, "Adam", ICLR 2015, https://arxiv.org/abs/1412.6980
    """
    optimizers = _optimizer_mapping(optimizers)
    g = np.asarray(gradients, dtype="float64").reshape(-1)
    if g.size == 0 or not np.all(np.isfinite(g)):
        raise ValueError("Argument `gradients` must be a non-empty sequence of finite numbers. "
                         f"Received: gradients={gradients!r}")
    steps = int(g.size)
    frames = []
    for label, optimizer in optimizers.items():
        opt = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(optimizer))
        layer = _Scalar(steps, 0.0)
        inputs = keras.Input((1,))
        model = keras.Model(inputs, layer(inputs))
        _compile(model, opt, steps)
        x = g.astype("float32")[:, None]
        model.fit(x, x, batch_size=1, epochs=1, shuffle=False, verbose=0)
        history = keras.ops.convert_to_numpy(layer.history).astype("float64")
        last = float(keras.ops.convert_to_numpy(layer.theta)[0])
        theta = np.concatenate([history, [last]])
        update = theta[:-1] - theta[1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = update / g
        frames.append(pd.DataFrame({"optimizer": label, "step": np.arange(1, steps + 1),
                                    "gradient": g, "update": update, "ratio": ratio}))
    return pd.concat(frames, ignore_index=True)


def _gradient_probe(model: keras.Model, loss) -> tuple[list, list[int], Callable]:
    """A compiled clone of ``model`` that measures ``loss``'s gradient at given weights.

    Returns ``(start, trainable, probe)``: the model's weights, the indices of the trainable
    ones in that list, and ``probe(weights, x, y) -> (loss, gradients)``: the batch loss at
    ``weights`` and the gradient of each trainable weight (float64), read as the change that
    one step of ``SGD(learning_rate=1)`` makes. ``model`` itself is never touched.
    """
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copy.compile(optimizer=keras.optimizers.SGD(1.0), loss=loss)
    start = [np.array(v) for v in copy.get_weights()]
    trainable = [i for i, v in enumerate(copy.weights)
                 if any(v is t for t in copy.trainable_weights)]

    def probe(weights, xb, yb) -> tuple[float, list[np.ndarray]]:
        copy.set_weights(weights)
        value = copy.train_on_batch(xb, yb)
        value = value[0] if isinstance(value, list | tuple) else value
        after = copy.get_weights()
        return float(value), [(weights[i] - after[i]).astype("float64") for i in trainable]

    return start, trainable, probe


def minibatch_gradient_noise(
    model: keras.Model,
    x,
    y,
    loss,
    batch_sizes=(1, 4, 16, 64),
    draws: int = 50,
    seed: int | None = 0,
) -> pd.DataFrame:
    """How far the minibatch gradient `ĝ` lies from the full gradient `∇J`, per batch size.

    Use it to check seed 000's SGD claims on your own model and data: `ĝ` is a noisy but
    unbiased estimate of `∇J` (seed 002: `∇L ≃ ∇L_tot + ε`), and a batch of `m` examples
    shrinks its error by `√m` (the notes' "O(√m)": the standard error falls as `1/√m`).
    It also says how much noise a batch size buys, before choosing it.

    For each size m, `draws` batches are drawn without replacement from `(x, y)`; each
    gradient is read as the change of the weights after one `SGD(learning_rate=1)` step
    on a copy of the model, so the model itself is not changed. With N examples and
    per-example gradient variance `σ²` (summed over the weights),
    `E‖ĝ_m − ∇J‖² = σ²/m · (N − m)/(N − 1)`.

    Args:
        model: a built Keras model; only a copy is stepped.
        x: inputs (NumPy array).
        y: targets.
        loss: the loss, as given to `compile` (mean reduction over the batch).
        batch_sizes: the sizes m to measure, integers in `[1, len(x)]`. Defaults to
            `(1, 4, 16, 64)`.
        draws: batches drawn per size, integer >= 2. Defaults to 50.
        seed: seed of the batch sampling. Defaults to 0.

    Returns:
        A DataFrame indexed by `batch_size` with columns `std_error` (root mean squared
        distance `‖ĝ − ∇J‖`), `relative_error` (`std_error / ‖∇J‖`), `bias` (`‖mean ĝ −
        ∇J‖`, which falls with `draws`) and `draws`.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.playground import minibatch_gradient_noise
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(256, 3)).astype("float32")
    >>> y = x @ np.array([1.0, -2.0, 0.5], dtype="float32") + rng.normal(size=256)
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> table = minibatch_gradient_noise(model, x, y, "mse", batch_sizes=(4, 64), draws=20)
    >>> bool(table.loc[64, "std_error"] < table.loc[4, "std_error"] / 2)
    True

    References:
        - Goodfellow, Bengio, Courville, "Deep Learning", section 8.1.3 (the standard error
          of the mean, `σ/√m`), https://www.deeplearningbook.org/contents/optimization.html
        - Smith et al., "On the Origin of Implicit Regularization in Stochastic Gradient
          Descent", ICLR 2021, https://arxiv.org/abs/2101.12176
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"Argument `model` must be a keras.Model. Received: model={model!r}")
    x = np.asarray(x)
    y = np.asarray(y)
    n = len(x)
    if n < 2 or len(y) != n:
        raise ValueError(f"Arguments `x` and `y` must hold the same number (>= 2) of examples. "
                         f"Received: len(x)={n}, len(y)={len(y)}")
    sizes = [int(check_number("batch_sizes", m, low=1, high=n, integer=True))
             for m in batch_sizes]
    if not sizes:
        raise ValueError(f"Argument `batch_sizes` must not be empty. "
                         f"Received: batch_sizes={batch_sizes!r}")
    check_number("draws", draws, low=2, integer=True)
    start, _, probe = _gradient_probe(model, loss)

    def gradient(xb, yb) -> np.ndarray:
        return np.concatenate([g.ravel() for g in probe(start, xb, yb)[1]])

    full = gradient(x, y)
    rng = np.random.default_rng(seed)
    rows = []
    for m in sizes:
        g = np.stack([gradient(x[idx], y[idx])
                      for idx in (rng.choice(n, size=m, replace=False)
                                  for _ in range(int(draws)))])
        err = np.sqrt(np.mean(np.sum((g - full) ** 2, axis=1)))
        rows.append({"batch_size": m, "std_error": err,
                     "relative_error": err / max(np.linalg.norm(full), 1e-300),
                     "bias": float(np.linalg.norm(g.mean(axis=0) - full)),
                     "draws": int(draws)})
    return pd.DataFrame(rows).set_index("batch_size")


def fit_batch_schedule(
    model: keras.Model,
    x,
    y,
    batch_sizes,
    **fit_kwargs,
) -> pd.DataFrame:
    """Train one epoch per entry of `batch_sizes`, each with its own batch size.

    Use it to grow the minibatch over time, as Yogi's analysis suggests (seed 000: "taille
    de la minibatch augmente avec le temps"): with a constant batch `b`, adaptive methods
    such as Adam and Yogi only reach a neighbourhood of a stationary point whose size is
    the gradient variance `σ²/b`; a batch that grows with the iterations shrinks that
    term (Zaheer et al., 2018, corollaries 3 and 4). The same loop runs Smith et al.'s
    "increase the batch size instead of decaying the learning rate".

    Epoch `e` is one `model.fit(x, y, batch_size=batch_sizes[e], initial_epoch=e,
    epochs=e + 1)` call, so the optimizer and its state carry over between epochs; the
    callbacks in `fit_kwargs` see one `fit` call per epoch (their `on_train_begin` runs
    every epoch).

    Args:
        model: a compiled Keras model.
        x: training inputs (NumPy arrays or anything `fit` takes with `batch_size`).
        y: training targets.
        batch_sizes: one batch size per epoch, integers >= 1.
        **fit_kwargs: other `fit` arguments (`validation_data`, `callbacks`, `shuffle`,
            ...); `epochs`, `initial_epoch` and `batch_size` are set here and refused.
            `verbose` defaults to 0.

    Returns:
        A DataFrame indexed by `epoch` with columns `batch_size`, `steps` (optimizer
        steps taken in the epoch) and every logged quantity (`loss`, `val_loss`, ...).

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.playground import fit_batch_schedule
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(64, 2)).astype("float32")
    >>> y = x @ np.array([[1.0], [-1.0]], dtype="float32")
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.1), "mse")
    >>> table = fit_batch_schedule(model, x, y, batch_sizes=[8, 16, 32])
    >>> table["steps"].tolist()
    [8, 4, 2]

    References:
        - Zaheer et al., "Adaptive Methods for Nonconvex Optimization", NeurIPS 2018,
          https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization
        - Smith et al., "Don't Decay the Learning Rate, Increase the Batch Size", ICLR 2018,
          https://arxiv.org/abs/1711.00489
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"Argument `model` must be a keras.Model. Received: model={model!r}")
    sizes = [int(check_number("batch_sizes", b, low=1, integer=True)) for b in batch_sizes]
    if not sizes:
        raise ValueError(f"Argument `batch_sizes` must not be empty. "
                         f"Received: batch_sizes={batch_sizes!r}")
    taken = sorted({"epochs", "initial_epoch", "batch_size"} & set(fit_kwargs))
    if taken:
        raise ValueError(f"Arguments {taken} are set by `batch_sizes`. "
                         f"Received: {', '.join(f'{k}={fit_kwargs[k]!r}' for k in taken)}")
    fit_kwargs.setdefault("verbose", 0)
    rows = []
    for epoch, size in enumerate(sizes):
        before = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        history = model.fit(x, y, batch_size=size, initial_epoch=epoch, epochs=epoch + 1,
                            **fit_kwargs)
        after = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        logs = {k: float(v[-1]) for k, v in history.history.items() if v}
        rows.append({"epoch": epoch, "batch_size": size, "steps": after - before, **logs})
    return pd.DataFrame(rows).set_index("epoch")


def loss_along_gradient(
    model: keras.Model,
    x,
    y,
    loss,
    step_sizes=(0.05, 0.1, 0.2, 0.4),
) -> pd.DataFrame:
    """The loss and its gradient at steps of several sizes along the gradient direction.

    Use it to see how smooth the loss landscape is where the model stands, the measurement
    behind seed 002's "batch normalisation smooths the loss surface" (Santurkar et al.,
    2018): from the weights `w` with gradient `g = ∇L(w)` (on the batch `(x, y)`), it
    moves to `w − η·g` for each step size `η` and reads

    - `loss`: `L(w − η·g)`; its spread over `η` is the paper's "variation of the loss";
    - `gradient_change`: `‖∇L(w) − ∇L(w − η·g)‖`, the paper's "gradient predictiveness"
      (small: the gradient stays a good direction over the step);
    - `smoothness`: `gradient_change / (η·‖g‖)`, the paper's "effective β-smoothness"
      (for a quadratic `½·wᵀAw`, the Rayleigh quotient `‖A·g‖/‖g‖`).

    The row `η = 0` holds `L(w)`. Losses and gradients are those of one training step on
    the whole `(x, y)` (BatchNormalization uses the batch statistics, dropout draws masks,
    regularisation losses are included), read on a copy of the model stepped by
    `SGD(learning_rate=1)`; the model itself is not changed.

    Args:
        model: a built Keras model; only a copy is stepped.
        x: inputs (NumPy array), used as one batch.
        y: targets.
        loss: the loss, as given to `compile`.
        step_sizes: the step sizes `η`, numbers > 0 (use multiples of the training
            learning rate). Defaults to `(0.05, 0.1, 0.2, 0.4)`.

    Returns:
        A DataFrame indexed by `step_size` (`0` first, then `step_sizes`) with columns
        `loss`, `gradient_change`, `smoothness` (NaN at `0`) and `gradient_norm` (`‖g‖`).

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.playground import loss_along_gradient
    >>> x = np.eye(2, dtype="float32")
    >>> y = np.zeros((2, 1), dtype="float32")
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    >>> _ = model.layers[0].kernel.assign([[1.0], [1.0]])
    >>> table = loss_along_gradient(model, x, y, "mse", step_sizes=(0.5,))
    >>> [round(float(v), 3) for v in table["loss"]]  # L(w) = ‖w‖²/2, g = w
    [1.0, 0.25]
    >>> round(float(table.loc[0.5, "smoothness"]), 3)  # ∇²L = I
    1.0

    References:
        - Santurkar et al., "How Does Batch Normalization Help Optimization?", NeurIPS 2018,
          https://arxiv.org/abs/1805.11604
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"Argument `model` must be a keras.Model. Received: model={model!r}")
    x = np.asarray(x)
    y = np.asarray(y)
    if len(x) < 1 or len(y) != len(x):
        raise ValueError(f"Arguments `x` and `y` must hold the same number (>= 1) of examples. "
                         f"Received: len(x)={len(x)}, len(y)={len(y)}")
    sizes = [float(check_number("step_sizes", s, low=0, low_inclusive=False))
             for s in step_sizes]
    if not sizes:
        raise ValueError(f"Argument `step_sizes` must not be empty. "
                         f"Received: step_sizes={step_sizes!r}")
    start, trainable, probe = _gradient_probe(model, loss)

    def norm(arrays) -> float:
        return float(np.sqrt(sum(np.sum(a**2) for a in arrays)))

    loss0, g0 = probe(start, x, y)
    g_norm = norm(g0)
    rows = [{"step_size": 0.0, "loss": loss0, "gradient_change": 0.0,
             "smoothness": np.nan, "gradient_norm": g_norm}]
    for eta in sizes:
        moved = list(start)
        for g, i in zip(g0, trainable, strict=True):
            moved[i] = (start[i] - eta * g).astype(start[i].dtype)
        value, g = probe(moved, x, y)
        change = norm([a - b for a, b in zip(g, g0, strict=True)])
        rows.append({"step_size": eta, "loss": value, "gradient_change": change,
                     "smoothness": change / max(eta * g_norm, 1e-300),
                     "gradient_norm": g_norm})
    return pd.DataFrame(rows).set_index("step_size")
