"""`DiagnosticLogger`: records what is needed to diagnose a training run."""

from __future__ import annotations

import copy
import math
import os
import time
import warnings
from typing import Any

import keras
import numpy as np

from keras_recipes import _distribute, _keras_private
from keras_recipes._export import keras_recipes_export
from keras_recipes.diagnostics import logger_args as args
from keras_recipes.diagnostics.data_facts import data_facts, summarise_data
from keras_recipes.diagnostics.inputs import num_rows, take
from keras_recipes.diagnostics.mode_gap import gap_rows, train_inference_gap
from keras_recipes.diagnostics.model_facts import (
    distribution_scope,
    examples_seen,
    model_structure,
    optimizer_values,
)
from keras_recipes.diagnostics.probe import (
    Probe,
    expected_initial_loss,
    is_classification_loss,
    loss_name,
)
from keras_recipes.diagnostics.run_output import (
    COLUMNS,
    STEP_COLUMNS,
    RunOutput,
    claim_run_folder,
)
from keras_recipes.diagnostics.step_updates import StepUpdates


@keras_recipes_export
class DiagnosticLogger(keras.callbacks.Callback):
    """Record loss, optimizer, weight, update, gradient and activation statistics.

    Add it to ``model.fit`` to keep what seed 000 lists under "information à enregistrer",
    then hand it to :func:`keras_recipes.diagnostics.diagnose` for a reading.

    At train begin, :attr:`summary` gets the structure and parameter counts, the
    train/validation/test sizes, the batch size (given, or measured once from the loss
    tracker's example count after the first step), class counts with an imbalance flag,
    input statistics with a "not normalised" flag, and the initial probe loss next to
    ``ln C``. At the first epoch's start, image inputs (``(n, h, w, 1|3|4)``, or any shape
    with ``image_shape``) of the probe batch are drawn as a grid: ``first_batch.png`` and
    TensorBoard.

    Every ``every_n_epochs`` epochs (and at the last) a *record* adds to :attr:`frame` the
    loss and metrics (non-finite flag), learning rate and numeric optimizer
    hyperparameters; per weighted layer ``||W||``, the update ``ΔW = W − W_prev`` since the
    previous record (norm, mean, variance), ``||ΔW|| / ||W_prev||`` and that ratio divided
    by the steps between records; the probe's gradient norms; per hidden layer the
    activation mean, std, rms, zero and dead-unit fractions and a histogram; the first
    ``predictions`` predictions; epoch and batch times and the ETA. With
    ``step_updates=True`` the same update statistics are kept for every step
    (:attr:`step_frame`, ``step_updates.csv``). At train end the probe loss is measured in
    training and in inference mode (``train_inference_mismatch`` rule), without changing
    BatchNorm statistics.

    Probe statistics come from one compiled function on a fixed batch
    (:class:`~keras_recipes.diagnostics.probe.Probe`), created in the model's distribution
    scope; no host transfer per batch. ``on_train_batch_end`` is not overridden, so Keras
    keeps dispatching it asynchronously. Inputs may be one array, a list or a dict of
    arrays (multi-input models). On one device, loggers of models with the same structure
    share that compiled function (a bounded cache), so in a KerasTuner search, which
    deep-copies the logger and builds a new model for every trial and execution, it is
    traced once per model structure.

    The logger never fixes a model's batch size. A ``Sequential`` model with no ``Input``
    layer that ``fit`` has not built yet (TensorFlow builds it in the first training step)
    is built at train begin from the probe's example shape with a free batch dimension,
    ``model.build((None, *shape))``, as an ``Input`` layer would. Another unbuilt model
    (subclassed) is left for Keras to build from the data; its probe statistics then start
    at the first record, without an initial probe loss.

    :attr:`frame` is tidy: ``epoch`` (0 = before training), ``layer`` (a layer, ``"model"``,
    ``"optimizer"``, ``"predictions"``), ``stat``, ``value``. With ``log_dir``, the run
    folder gets ``diagnostics.csv`` (flushed every epoch) and ``summary.json``; a deep copy
    (one per KerasTuner trial) writes into its own ``log_dir/run_NNN`` (:attr:`run_dir`).
    An internal error becomes a warning; training goes on.

    Args:
        probe: ``(x, y)`` fixed probe batch, or ``None`` to take the first
            ``probe_size`` examples of ``data``. Defaults to ``None``.
        log_dir: folder for the CSV, summary, images and TensorBoard files, or ``None``.
            Defaults to ``None``.
        every_n_epochs: epochs between records (>= 1). Defaults to ``1``.
        activations: record hidden activations. Defaults to ``True``.
        updates: record weight norms and updates. Defaults to ``True``.
        gradients: record gradient norms on the probe. Defaults to ``True``.
        predictions: number of probe predictions recorded. Defaults to ``5``.
        tensorboard: also write TensorBoard scalars, weight histograms and the image grid
            to ``log_dir/tensorboard``. Defaults to ``False``.
        data: ``(x_train, y_train)`` for the data facts and the default probe; only those
            are kept. Defaults to ``None``.
        validation_data: ``(x_val, y_val)`` for the validation facts. Defaults to ``None``.
        probe_size: examples taken from ``data`` when ``probe`` is ``None``; a record costs
            about ``probe_size / batch_size`` training steps. Defaults to ``64``.
        class_stats: ``None`` records class counts when the targets are class labels;
            ``True`` asks for them (warning if not classification); ``False`` skips them.
            Defaults to ``None``.
        histogram_bins: bins of the activation histograms. Defaults to ``40``.
        histogram_range: value range of the histograms. Defaults to ``(-5.0, 5.0)``.
        append: append to an existing ``diagnostics.csv``. Defaults to ``False``.
        activation_layers: names of the hidden layers measured; ``None`` takes those that
            apply a non-linearity. Defaults to ``None``.
        test_data: ``(x_test, y_test)`` for the test facts. Defaults to ``None``.
        batch_size: the batch size given to ``fit``, or ``None`` to measure it.
            Defaults to ``None``.
        step_updates: record update statistics at every step (a weight copy and a few
            reductions per step, one host transfer per epoch). Defaults to ``False``.
        image_grid: probe examples drawn at the first epoch's start when there is a
            ``log_dir`` (0: none). Defaults to ``16``.
        image_shape: ``(h, w)`` or ``(h, w, c)`` to draw non-image-shaped inputs.
            Defaults to ``None``.
        train_inference_check: compare training- and inference-mode probe losses at train
            end. Defaults to ``True``.

    Example:

    >>> import keras
    >>> from keras_recipes.data import load_dataset
    >>> from keras_recipes.diagnostics import DiagnosticLogger, diagnose
    >>> ds = load_dataset("digits", flatten=True)
    >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
    ...                           keras.layers.Dense(10, activation="softmax")])
    >>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> logger = DiagnosticLogger(data=(ds.x[:1000], ds.y[:1000]))
    >>> _ = model.fit(ds.x[:1000], ds.y[:1000], epochs=2, verbose=0, callbacks=[logger])
    >>> sorted(logger.frame.columns)
    ['epoch', 'layer', 'stat', 'value']
    >>> round(logger.summary["expected_initial_loss"], 3)
    2.303

    References:
        - A. Karpathy, "A Recipe for Training Neural Networks" (2019),
          http://karpathy.github.io/2019/04/25/recipe/
        - fastai ``ActivationStats`` and the "colorful dimension",
          https://docs.fast.ai/callback.hook.html
    """

    def __init__(
        self,
        probe: tuple | None = None,
        log_dir: str | os.PathLike | None = None,
        every_n_epochs: int = 1,
        activations: bool = True,
        updates: bool = True,
        gradients: bool = True,
        predictions: int = 5,
        tensorboard: bool = False,
        *,
        data: tuple | None = None,
        validation_data: tuple | None = None,
        probe_size: int = 64,
        class_stats: bool | None = None,
        histogram_bins: int = 40,
        histogram_range: tuple[float, float] = (-5.0, 5.0),
        append: bool = False,
        activation_layers: list[str] | None = None,
        test_data: tuple | None = None,
        batch_size: int | None = None,
        step_updates: bool = False,
        image_grid: int = 16,
        image_shape: tuple[int, ...] | None = None,
        train_inference_check: bool = True,
    ):
        super().__init__()
        args.counts(every_n_epochs, predictions, probe_size, histogram_bins, image_grid)
        self.log_dir = args.log_dir(log_dir)
        self.every_n_epochs = int(every_n_epochs)
        self.activations = args.boolean("activations", activations)
        self.updates = args.boolean("updates", updates)
        self.gradients = args.boolean("gradients", gradients)
        self.predictions = int(predictions)
        self.tensorboard = args.boolean("tensorboard", tensorboard)
        if self.tensorboard and self.log_dir is None:
            raise ValueError("Argument `tensorboard=True` needs a `log_dir`. "
                             "Received: log_dir=None")
        self.probe_size = int(probe_size)
        self.class_stats = args.optional_bool("class_stats", class_stats)
        self.histogram_bins = int(histogram_bins)
        self.histogram_range = args.histogram_range(histogram_range)
        self.append = args.boolean("append", append)
        self.activation_layers = args.layer_names(activation_layers)
        self.batch_size = args.optional_positive_int("batch_size", batch_size)
        self.step_updates = args.boolean("step_updates", step_updates)
        self.image_grid = int(image_grid)
        self.image_shape = args.image_shape(image_shape)
        self.train_inference_check = args.boolean("train_inference_check",
                                                  train_inference_check)

        probe_xy = args.pair("probe", probe)
        train = args.pair("data", data)
        val = args.pair("validation_data", validation_data)
        test = args.pair("test_data", test_data)
        if probe_xy[0] is None and train[0] is not None:
            probe_xy = (take(train[0], self.probe_size), take(train[1], self.probe_size))
        self._probe_x, self._probe_y = probe_xy
        self._facts = {key: data_facts(*xy) if xy[0] is not None else None
                       for key, xy in (("train", train), ("val", val), ("test", test))}
        self._copy_of: str | None = None
        self.run_dir: str | None = self.log_dir
        self._reset()

    def __deepcopy__(self, memo):
        """A copy that writes into its own ``run_NNN`` subfolder of ``log_dir``.

        KerasTuner deep-copies every callback for each trial and execution; without this,
        all trials would write into one folder.
        """
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        model = _keras_private.callback_model(self)
        for key, value in self.__dict__.items():
            skip = key == "first_batch_figure" or (model is not None and value is model)
            setattr(clone, key, None if skip else copy.deepcopy(value, memo))
        if self.log_dir is not None:
            clone._copy_of = self.log_dir
            clone.run_dir = None
        return clone

    # ----------------------------------------------------------------------------- state
    def _reset(self) -> None:
        self.summary: dict[str, Any] = {}
        self._rows: list[tuple[int, str, str, float]] = []
        self._step_rows: list[tuple[int, str, str, float]] = []
        self._probe: Probe | None = None
        self._probe_pending = False
        self._steps: StepUpdates | None = None
        self._steps_pending = False
        self._previous = None
        self._previous_step = 0
        self._epoch_start = 0.0
        self._batch_begins: list[float] = []
        self._epoch_times: list[float] = []
        self._iterations_now = 0
        self._epoch = 0
        self._first_epoch = True
        self._steps_before_epoch = 0
        self._start_iterations = 0
        self.first_batch_figure = None
        self._out = RunOutput(None, self._warn)

    @property
    def frame(self):
        """Tidy ``pandas.DataFrame`` of every record: epoch, layer, stat, value."""
        import pandas as pd

        return pd.DataFrame(self._rows, columns=list(COLUMNS))

    @property
    def step_frame(self):
        """Tidy ``pandas.DataFrame`` of per-step updates (``step_updates=True``): step,
        layer, stat, value."""
        import pandas as pd

        return pd.DataFrame(self._step_rows, columns=list(STEP_COLUMNS))

    def _warn(self, what: str, exc: BaseException) -> None:
        message = f"DiagnosticLogger: {what} skipped ({type(exc).__name__}: {exc})"
        self.summary.setdefault("notes", []).append(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)

    def _note(self, message: str) -> None:
        self.summary.setdefault("notes", []).append(message)
        warnings.warn(f"DiagnosticLogger: {message}", RuntimeWarning, stacklevel=3)

    def _add(self, epoch: int, layer: str, stat: str, value) -> None:
        try:
            v = float(value)
        except (TypeError, ValueError):
            return
        self._rows.append((int(epoch), str(layer), str(stat), v))

    # ------------------------------------------------------------------------- train begin
    def on_train_begin(self, logs=None):
        self._reset()
        try:
            self._begin()
        except Exception as exc:  # the logger must never break training
            self._warn("train-begin facts", exc)

    def _begin(self) -> None:
        model = self.model
        built = self._build(model)
        name = loss_name(getattr(model, "loss", None))
        classification = is_classification_loss(name)
        try:
            num_outputs = int(model.outputs[0].shape[-1])
        except (AttributeError, IndexError, TypeError, ValueError):
            num_outputs = None
        self.summary.update(model_structure(model))
        self.summary.update({
            "loss_name": name,
            "task": "classification" if classification else "other",
            "num_outputs": num_outputs,
            "epochs": (self.params or {}).get("epochs"),
            "steps_per_epoch": (self.params or {}).get("steps"),
            "every_n_epochs": self.every_n_epochs,
            "histogram_range": list(self.histogram_range),
            "histogram_bins": self.histogram_bins,
            "backend": keras.backend.backend(),
        })
        self.summary.update(summarise_data(self._facts, self._probe_x, self._probe_y,
                                           self.class_stats, classification, self._note))
        self.summary["batch_size"] = self.batch_size
        self.summary["batch_size_source"] = "argument" if self.batch_size else None
        # Several worker processes compute the same rows; only the chief writes them.
        chief = _distribute.is_chief(model)
        if self.log_dir is not None and chief:
            if self._copy_of is not None and self.run_dir is None:
                self.run_dir = claim_run_folder(self._copy_of)
            self.summary["run_dir"] = self.run_dir
        self._out = RunOutput(self.run_dir if chief else None, self._warn, append=self.append)
        self._out.start()
        if self.tensorboard and chief:
            self._out.open_tensorboard()
        expected = expected_initial_loss(name, num_outputs)
        self.summary["expected_initial_loss"] = expected
        self.summary["initial_loss"] = None
        if self._probe_x is None:
            self._note("no probe batch (pass probe=(x, y) or data=(x, y)): activation, "
                       "gradient and probe-loss statistics skipped")
        elif built:
            self._make_probe(model)
        else:
            self._probe_pending = True
            self._note("the model is built by its first training step (no Input layer, "
                       "subclassed model): probe statistics start at the first record after "
                       "it, with no initial probe loss")
        if self.step_updates and self.updates:
            if built:
                self._make_step_updates(model)
            else:
                self._steps_pending = True
        self._previous_step = self._start_iterations = self._iterations()
        self._record(0, {}, initial=True)
        self._out.summary(self.summary)

    def _build(self, model) -> bool:
        """Whether ``model`` is built, building a ``Sequential`` with no ``Input`` first.

        Keras builds such a model from the first batch it sees: on TensorFlow only in the
        first training step, after ``on_train_begin``. Called on the probe batch, the model
        would build with the probe's row count as a fixed batch size, saved with it in
        ``.keras`` files. A ``Sequential`` is built here instead, from the probe's example
        shape with a free batch dimension, ``model.build((None, *shape))``. Any other
        unbuilt model (subclassed) is left for Keras to build from the data: the probe is
        then made at the first record after the first training step.
        """
        if model.built:
            return True
        x = self._probe_x
        if isinstance(model, keras.Sequential) and x is not None \
                and not isinstance(x, (list, tuple, dict)):
            try:
                with distribution_scope(model):
                    model.build((None, *np.shape(x)[1:]))
            except Exception as exc:
                self._warn("building the model with a free batch dimension", exc)
        return bool(model.built)

    def _make_probe(self, model) -> None:
        self._probe_pending = False
        try:
            with distribution_scope(model):
                self._probe = Probe(
                    model, self._probe_x, self._probe_y, activations=self.activations,
                    gradients=self.gradients, predictions=self.predictions,
                    histogram_bins=self.histogram_bins,
                    histogram_range=self.histogram_range,
                    activation_layers=self.activation_layers)
            for note in self._probe.notes:
                self._note(note)
            self.summary["probe_size"] = num_rows("probe", self._probe_x)
            self.summary["hidden_layers"] = list(self._probe.hidden_names)
            if not isinstance(self._probe_y, (list, tuple, dict)):
                self.summary["probe_targets"] = np.asarray(
                    self._probe_y[: self.predictions]).tolist()
        except Exception as exc:
            self._probe = None
            self._warn("probe statistics", exc)

    def _make_step_updates(self, model) -> None:
        self._steps_pending = False
        try:
            with distribution_scope(model):
                self._steps = StepUpdates(model)
                self._steps.start()
        except Exception as exc:
            self._steps = None
            self._warn("per-step update statistics", exc)

    # ---------------------------------------------------------------------------- timing
    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch and self.image_grid and self.run_dir is not None:
            try:
                self._show_first_batch()
            except Exception as exc:  # the logger must never break training
                self._warn("image grid", exc)
        self._batch_begins = []
        self._epoch_start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_begins.append(time.perf_counter())
        if batch and self._first_epoch and self.batch_size is None \
                and self.summary.get("batch_size") is None:
            self._measure_batch_size(batch)
        if self._steps_pending and batch:
            model = _keras_private.callback_model(self)
            if model is not None and model.built:  # built by the first training step
                self._make_step_updates(model)
        if self._steps is not None and batch:
            try:
                self._steps.step(self._steps_before_epoch + batch)
            except Exception as exc:
                self._steps = None
                self._warn("per-step update statistics", exc)

    def _measure_batch_size(self, batch: int) -> None:
        """Examples seen by the loss tracker after ``batch`` steps (one host sync per fit)."""
        try:
            seen = examples_seen(self.model)
            if seen:
                self.summary["batch_size"] = int(round(seen / batch))
                self.summary["batch_size_source"] = "measured"
        except Exception as exc:
            self._warn("batch size", exc)

    def _show_first_batch(self) -> None:
        from keras_recipes.diagnostics.image_grid import batch_grid

        if self._probe_x is None:
            return
        fig = batch_grid(self._probe_x, self._probe_y, self.image_grid, self.image_shape)
        if fig is None:
            return
        path = self._out.figure(fig, "first_batch.png")
        self._out.tensorboard_figure(fig, "examples/first_batch", step=0)
        self.summary["image_grid"] = {"examples": min(self.image_grid, num_rows(
            "probe", self._probe_x)), "path": path}
        self.first_batch_figure = fig

    # -------------------------------------------------------------------------- epoch end
    def on_epoch_end(self, epoch, logs=None):
        end = time.perf_counter()
        try:
            self._epoch_times.append(end - self._epoch_start)
            epochs = (self.params or {}).get("epochs")
            last = epochs is not None and epoch + 1 >= epochs
            full = (epoch + 1) % self.every_n_epochs == 0 or last
            self._epoch = epoch + 1
            if self._first_epoch and self.summary.get("batch_size") is None \
                    and len(self._batch_begins) == 1:
                self._measure_batch_size(1)  # one step: the epoch's examples are the batch
            self._first_epoch = False
            self._record(epoch + 1, logs or {}, full=full, end=end)
        except Exception as exc:  # the logger must never break training
            self._warn(f"epoch {epoch + 1} record", exc)

    def _step_stats(self, epoch: int) -> None:
        steps = self._iterations() - self._start_iterations
        self._steps.step(steps)
        self._steps_before_epoch = steps
        rows = self._steps.collect()
        self._step_rows.extend(rows)
        self._out.rows(rows, "step_updates.csv", STEP_COLUMNS)
        by_layer: dict[str, list[float]] = {}
        for _, layer, stat, value in rows:
            if stat == "update_ratio":
                by_layer.setdefault(layer, []).append(value)
        for layer, values in by_layer.items():
            self._add(epoch, layer, "update_ratio_step_median", float(np.median(values)))
            self._add(epoch, layer, "update_ratio_step_max", float(np.max(values)))

    def _iterations(self) -> int:
        try:
            return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        except (AttributeError, TypeError, ValueError):
            return 0

    def _record(self, epoch: int, logs: dict, *, initial: bool = False, full: bool = True,
                end: float | None = None) -> None:
        start = len(self._rows)
        for key, value in sorted(logs.items()):
            self._add(epoch, "model", key, value)
        if logs:
            values = [v for v in logs.values() if isinstance(v, (int, float))]
            self._add(epoch, "model", "non_finite", any(not math.isfinite(v) for v in values))
        if not initial:
            self._timing(epoch, end)
            if self._steps is not None:
                try:
                    self._step_stats(epoch)
                except Exception as exc:
                    self._steps = None
                    self._warn("per-step update statistics", exc)
        if full:
            self._iterations_now = self._iterations()
            self._optimizer_stats(epoch)
            if self._probe_pending and not initial and self.model.built:
                self._make_probe(self.model)
            self._probe_stats(epoch, initial)
        self._out.tensorboard_record(epoch, self._rows[start:], self._tb_weights())
        self._out.rows(self._rows[start:])

    def _timing(self, epoch: int, end: float) -> None:
        duration = self._epoch_times[-1]
        begins = self._batch_begins
        steps = len(begins) or (self.params or {}).get("steps") or 0
        self._add(epoch, "model", "epoch_time_s", duration)
        if steps:
            self._add(epoch, "model", "batch_time_mean_s", duration / steps)
            self._add(epoch, "model", "steps", steps)
        if len(begins) > 1:
            gaps = np.diff(np.asarray(begins + [end]))
            self._add(epoch, "model", "batch_time_max_s", gaps.max())
            self._add(epoch, "model", "batch_time_median_s", float(np.median(gaps)))
        epochs = (self.params or {}).get("epochs")
        if epochs:
            recent = self._epoch_times[-3:]
            self._add(epoch, "model", "eta_s", max(0, epochs - epoch) * float(np.mean(recent)))

    def _optimizer_stats(self, epoch: int) -> None:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return
        try:
            for key, value in optimizer_values(optimizer):
                self._add(epoch, "optimizer", key, value)
        except Exception as exc:
            self._warn("learning rate", exc)
        self._add(epoch, "optimizer", "iterations", self._iterations_now)

    def _probe_stats(self, epoch: int, initial: bool) -> None:
        if self._probe is None or not (self.activations or self.updates or self.gradients):
            return
        try:
            stats = self._probe.measure(self._previous)
        except Exception as exc:
            self._warn(f"probe statistics at epoch {epoch}", exc)
            return
        step = self._iterations_now
        steps = max(1, step - self._previous_step)
        if self.updates:
            self._previous = self._probe.snapshot()
            self._previous_step = step
        if "loss" in stats:
            self._add(epoch, "model", "probe_loss", stats["loss"])
            if initial:
                self.summary["initial_loss"] = float(stats["loss"])
        for name, layer in stats["layers"].items():
            for key, value in layer.items():
                if key.startswith("update") and not (self.updates and not initial):
                    continue
                if key == "weight_norm" and not self.updates:
                    continue
                if key.startswith("grad") and not self.gradients:
                    continue
                self._add(epoch, name, key, value)
            if self.updates and not initial and "update_ratio" in layer:
                self._add(epoch, name, "update_ratio_per_step", layer["update_ratio"] / steps)
        if self.activations:
            for name, act in stats["activations"].items():
                for key, value in act.items():
                    if key == "hist":
                        for i, count in enumerate(np.asarray(value).reshape(-1)):
                            self._add(epoch, name, f"hist_{i:02d}", count)
                    else:
                        self._add(epoch, name, f"act_{key}", value)
        for key in ("pred_class", "pred_score", "pred_value"):
            for i, value in enumerate(np.asarray(stats.get(key, [])).reshape(-1)):
                self._add(epoch, "predictions", f"{key[5:]}_{i}", value)

    # ------------------------------------------------------------------------------ output
    def _tb_weights(self) -> list:
        if self._out.tb_writer is None or not self.updates:
            return []
        return [w for layer in self.model.layers for w in layer.trainable_weights]

    def on_train_end(self, logs=None):
        try:
            if self.train_inference_check and self._probe is not None:
                self._mode_gap()
            self.summary["epoch_times_s"] = list(self._epoch_times)
            self._out.summary(self.summary)
            self._out.close()
        except Exception as exc:  # the logger must never break training
            self._warn("train-end summary", exc)
        finally:
            self._probe = None
            self._steps = None
            self._previous = None

    def _mode_gap(self) -> None:
        """Probe loss in training and inference mode (no state changes: stateless calls)."""
        probe = self._probe
        if probe.loss_fn is None or probe.y is None:
            return
        try:
            with distribution_scope(self.model):
                gap = train_inference_gap(self.model, probe.x, probe.y, probe.loss_fn)
        except Exception as exc:
            self._warn("train/inference comparison", exc)
            return
        self.summary["train_inference"] = gap
        start = len(self._rows)
        gap["optimizer_steps"] = self._iterations()
        for layer, stat, value in gap_rows(gap):
            self._add(self._epoch, layer, stat, value)
        self._out.rows(self._rows[start:])

    # ------------------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """The constructor's scalar arguments (the data and probe arrays are not saved)."""
        return {
            "log_dir": self.log_dir, "every_n_epochs": self.every_n_epochs,
            "activations": self.activations, "updates": self.updates,
            "gradients": self.gradients, "predictions": self.predictions,
            "tensorboard": self.tensorboard, "probe_size": self.probe_size,
            "class_stats": self.class_stats, "histogram_bins": self.histogram_bins,
            "histogram_range": list(self.histogram_range), "append": self.append,
            "activation_layers": self.activation_layers, "batch_size": self.batch_size,
            "step_updates": self.step_updates, "image_grid": self.image_grid,
            "image_shape": None if self.image_shape is None else list(self.image_shape),
            "train_inference_check": self.train_inference_check,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DiagnosticLogger:
        """Rebuild from :meth:`get_config`."""
        config = dict(config)
        config["histogram_range"] = tuple(config.get("histogram_range", (-5.0, 5.0)))
        if config.get("image_shape") is not None:
            config["image_shape"] = tuple(config["image_shape"])
        return cls(**config)

