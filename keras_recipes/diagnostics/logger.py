"""`DiagnosticLogger`: records what is needed to diagnose a training run."""

from __future__ import annotations

import io
import json
import math
import os
import time
import warnings
from typing import Any

import keras
import numpy as np

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_number, check_positive
from keras_recipes.diagnostics.data_facts import data_facts
from keras_recipes.diagnostics.probe import (
    Probe,
    expected_initial_loss,
    is_classification_loss,
    loss_name,
)

_COLUMNS = ("epoch", "layer", "stat", "value")


def _pairs(name: str, value) -> tuple[np.ndarray, np.ndarray | None]:
    if value is None:
        return None, None
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"Argument `{name}` must be a pair (x, y) of arrays or None. "
                         f"Received: {name} of type {type(value).__name__}")
    x, y = (np.asarray(v) for v in value)
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(f"Argument `{name}` must hold at least one example. "
                         f"Received: x of shape {x.shape}")
    if y.shape[:1] != x.shape[:1]:
        raise ValueError(f"Argument `{name}` must hold as many targets as inputs. Received: "
                         f"x has {len(x)} rows, y has {y.shape[0] if y.ndim else 0}")
    return x, y


@keras_recipes_export
class DiagnosticLogger(keras.callbacks.Callback):
    """Record loss, optimizer, weight, update, gradient and activation statistics.

    Add it to ``model.fit`` to keep the information the seeds list under "information à
    enregistrer", then hand it to :func:`keras_recipes.diagnostics.diagnose` for a reading.

    Once, at train begin, :attr:`summary` receives the model structure and parameter counts,
    the train/validation sizes, class counts with an imbalance flag (max/min count > 3),
    input statistics with a "not normalised" flag, and the initial probe loss next to the
    expected one: ``ln C`` for a softmax cross-entropy over ``C`` classes.

    Every ``every_n_epochs`` epochs (and at the last epoch) one *record* adds to
    :attr:`frame` the loss and metrics (with a non-finite flag), the learning rate and the
    optimizer's numeric hyperparameters, then per weighted layer the weight norm ``||W||``,
    the update ``ΔW = W − W_prev`` since the previous record (norm, mean, variance), the
    ratio ``||ΔW|| / ||W_prev||`` and its per-step value (divided by the steps between
    records), the gradient norm on the probe batch, per hidden layer the activation mean,
    std, rms, exact-zero fraction, dead-unit fraction and a histogram, the probe batch's first
    ``predictions`` predictions, and the epoch time, mean batch time and ETA.

    All statistics come from one compiled function on the fixed probe batch
    (:class:`~keras_recipes.diagnostics.probe.Probe`): no host transfer happens per batch.
    The only per-batch work is one ``time.perf_counter()`` in ``on_train_batch_begin``;
    ``on_train_batch_end`` is not overridden, so Keras keeps dispatching it asynchronously.

    :attr:`frame` is a tidy DataFrame with columns ``epoch`` (epochs completed; 0 is the
    state before training), ``layer`` (a layer name, or ``"model"``, ``"optimizer"``,
    ``"predictions"``) , ``stat`` and ``value``. With ``log_dir``,
    ``log_dir/diagnostics.csv`` is appended and flushed at every epoch, so a crash loses at
    most one epoch, and ``log_dir/summary.json`` holds the summary.

    The logger never breaks training: an internal error becomes a warning and skips that
    statistic.

    Args:
        probe: ``(x, y)`` fixed probe batch, or ``None`` to take the first
            ``probe_size`` examples of ``data``. Defaults to ``None``.
        log_dir: folder for ``diagnostics.csv``, ``summary.json`` and TensorBoard files, or
            ``None``. Defaults to ``None``.
        every_n_epochs: epochs between records (>= 1). Defaults to ``1``.
        activations: record hidden activations. Defaults to ``True``.
        updates: record weight norms and updates. Defaults to ``True``.
        gradients: record gradient norms on the probe. Defaults to ``True``.
        predictions: number of probe predictions recorded. Defaults to ``5``.
        tensorboard: also write TensorBoard scalars and weight histograms to
            ``log_dir/tensorboard`` (TensorFlow's summary writer). Defaults to ``False``.
        data: ``(x_train, y_train)`` for the one-off data facts (sizes, class counts,
            input statistics) and the default probe; only the facts and the probe are kept.
            Defaults to ``None``.
        validation_data: ``(x_val, y_val)`` for the validation facts. Defaults to ``None``.
        probe_size: examples taken from ``data`` when ``probe`` is ``None``. One record
            costs about ``probe_size / batch_size`` training steps (a forward and a
            backward pass); larger probes give sharper statistics. Defaults to ``64``.
        class_stats: ``None`` records class counts when the targets are class labels;
            ``True`` asks for them (a warning if the model or targets are not
            classification); ``False`` skips them. Defaults to ``None``.
        histogram_bins: bins of the activation histograms. Defaults to ``40``.
        histogram_range: value range of the histograms. Defaults to ``(-5.0, 5.0)``.
        append: append to an existing ``diagnostics.csv`` instead of starting it afresh.
            Defaults to ``False``.
        activation_layers: names of the hidden layers whose activations are recorded;
            ``None`` takes every layer that applies a non-linearity. Defaults to ``None``.

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
    ):
        super().__init__()
        check_positive("every_n_epochs", every_n_epochs, integer=True)
        check_number("predictions", predictions, low=0, integer=True)
        check_positive("probe_size", probe_size, integer=True)
        check_positive("histogram_bins", histogram_bins, integer=True)
        if class_stats not in (None, True, False):
            raise ValueError("Argument `class_stats` must be None, True or False. "
                             f"Received: class_stats={class_stats!r}")
        lo, hi = (float(v) for v in histogram_range)
        if not lo < hi:
            raise ValueError("Argument `histogram_range` must be (low, high) with low < high. "
                             f"Received: histogram_range={tuple(histogram_range)}")
        if log_dir is not None:
            log_dir = os.fspath(log_dir)
            if os.path.exists(log_dir) and not os.path.isdir(log_dir):
                raise ValueError("Argument `log_dir` must be a folder (or a path to create). "
                                 f"Received: log_dir={log_dir!r}, which is a file")
        if tensorboard and log_dir is None:
            raise ValueError("Argument `tensorboard=True` needs a `log_dir`. "
                             "Received: log_dir=None")
        self.log_dir = log_dir
        self.every_n_epochs = int(every_n_epochs)
        self.activations = bool(activations)
        self.updates = bool(updates)
        self.gradients = bool(gradients)
        self.predictions = int(predictions)
        self.tensorboard = bool(tensorboard)
        self.probe_size = int(probe_size)
        self.class_stats = class_stats
        self.histogram_bins = int(histogram_bins)
        self.histogram_range = (lo, hi)
        self.append = bool(append)
        self.activation_layers = None if activation_layers is None else [
            str(n) for n in activation_layers]

        probe_xy = _pairs("probe", probe)
        train = _pairs("data", data)
        val = _pairs("validation_data", validation_data)
        if probe_xy[0] is None and train[0] is not None:
            probe_xy = (train[0][: self.probe_size], train[1][: self.probe_size])
        self._probe_x, self._probe_y = probe_xy
        self._train_facts = data_facts(*train) if train[0] is not None else None
        self._val_facts = data_facts(*val) if val[0] is not None else None
        self._reset()

    # ----------------------------------------------------------------------------- state
    def _reset(self) -> None:
        self.summary: dict[str, Any] = {}
        self._rows: list[tuple[int, str, str, float]] = []
        self._probe: Probe | None = None
        self._previous = None
        self._previous_step = 0
        self._epoch_start = 0.0
        self._batch_begins: list[float] = []
        self._epoch_times: list[float] = []
        self._tb_writer = None
        self._iterations_now = 0

    @property
    def frame(self):
        """Tidy ``pandas.DataFrame`` of every record: epoch, layer, stat, value."""
        import pandas as pd

        return pd.DataFrame(self._rows, columns=list(_COLUMNS))

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
        name = loss_name(getattr(model, "loss", None))
        classification = is_classification_loss(name)
        try:
            num_outputs = int(model.outputs[0].shape[-1])
        except (AttributeError, IndexError, TypeError, ValueError):
            num_outputs = None
        self.summary.update(self._structure(model))
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
        self._data_summary(classification)
        if self.log_dir is not None:
            os.makedirs(self.log_dir, exist_ok=True)
            path = os.path.join(self.log_dir, "diagnostics.csv")
            if not self.append or not os.path.exists(path) or os.path.getsize(path) == 0:
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(",".join(_COLUMNS) + "\n")
        if self.tensorboard:
            self._open_tensorboard()

        expected = expected_initial_loss(name, num_outputs)
        self.summary["expected_initial_loss"] = expected
        self.summary["initial_loss"] = None
        if self._probe_x is None:
            self._note("no probe batch (pass probe=(x, y) or data=(x, y)): activation, "
                       "gradient and probe-loss statistics skipped")
        else:
            try:
                self._probe = Probe(
                    model, self._probe_x, self._probe_y, activations=self.activations,
                    gradients=self.gradients, predictions=self.predictions,
                    histogram_bins=self.histogram_bins, histogram_range=self.histogram_range,
                    activation_layers=self.activation_layers)
                for note in self._probe.notes:
                    self._note(note)
                self.summary["probe_size"] = int(len(self._probe_x))
                self.summary["hidden_layers"] = list(self._probe.hidden_names)
                self.summary["probe_targets"] = np.asarray(
                    self._probe_y[: self.predictions]).tolist()
            except Exception as exc:
                self._probe = None
                self._warn("probe statistics", exc)
        self._previous_step = self._iterations()
        self._record(0, {}, initial=True)
        self._write_summary()

    def _structure(self, model) -> dict[str, Any]:
        layers = []
        for layer in model.layers:
            trainable = int(sum(np.prod(w.shape) for w in layer.trainable_weights))
            frozen = int(sum(np.prod(w.shape) for w in layer.non_trainable_weights))
            try:
                shape = list(layer.output.shape)
            except (AttributeError, ValueError, RuntimeError):
                shape = None
            layers.append({"name": layer.name, "class": type(layer).__name__,
                           "output_shape": shape, "trainable_params": trainable,
                           "non_trainable_params": frozen})
        text = io.StringIO()
        try:
            model.summary(print_fn=lambda line, *a, **k: text.write(line + "\n"))
        except (TypeError, ValueError):
            pass
        trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        frozen = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
        return {"model_name": model.name, "layers": layers, "trainable_params": trainable,
                "non_trainable_params": frozen, "total_params": trainable + frozen,
                "structure": text.getvalue()}

    def _data_summary(self, classification: bool) -> None:
        for key, facts in (("train", self._train_facts), ("val", self._val_facts)):
            if facts is None:
                self.summary[f"{key}_size"] = None
                continue
            self.summary[f"{key}_size"] = facts["size"]
            if key == "train":
                self.summary["input_stats"] = facts["input_stats"]
                self.summary["inputs_normalised"] = facts["input_stats"]["normalised"]
            want = self.class_stats
            if want is False:
                continue
            if "class_counts" not in facts or not classification:
                if want is True:
                    self._note(f"class statistics asked for, but the {key} targets or the "
                               "model's loss are not classification: class counts skipped")
                continue
            self.summary[f"{key}_class_counts"] = facts["class_counts"]
            if key == "train":
                self.summary["imbalance_ratio"] = facts["imbalance_ratio"]
                self.summary["imbalanced"] = facts["imbalanced"]
        if self._train_facts is None and self._probe_x is not None:
            facts = data_facts(self._probe_x, self._probe_y)
            self.summary["input_stats"] = facts["input_stats"]
            self.summary["inputs_normalised"] = facts["input_stats"]["normalised"]
            self.summary["input_stats_source"] = "probe"

    # ---------------------------------------------------------------------------- timing
    def on_epoch_begin(self, epoch, logs=None):
        self._batch_begins = []
        self._epoch_start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_begins.append(time.perf_counter())

    # -------------------------------------------------------------------------- epoch end
    def on_epoch_end(self, epoch, logs=None):
        end = time.perf_counter()
        try:
            self._epoch_times.append(end - self._epoch_start)
            epochs = (self.params or {}).get("epochs")
            last = epochs is not None and epoch + 1 >= epochs
            full = (epoch + 1) % self.every_n_epochs == 0 or last
            self._record(epoch + 1, logs or {}, full=full, end=end)
        except Exception as exc:  # the logger must never break training
            self._warn(f"epoch {epoch + 1} record", exc)

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
        if full:
            self._iterations_now = self._iterations()
            self._optimizer_stats(epoch)
            self._probe_stats(epoch, initial)
        if self._tb_writer is not None:
            self._tensorboard_record(epoch, self._rows[start:])
        self._flush(self._rows[start:])

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
            self._add(epoch, "optimizer", "learning_rate",
                      keras.ops.convert_to_numpy(optimizer.learning_rate))
        except Exception as exc:
            self._warn("learning rate", exc)
        try:
            config = optimizer.get_config()
        except (NotImplementedError, TypeError, ValueError):
            config = {}
        for key, value in sorted(config.items()):
            if key == "learning_rate":
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._add(epoch, "optimizer", key, value)
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
    def _flush(self, rows) -> None:
        if self.log_dir is None or not rows:
            return
        try:
            path = os.path.join(self.log_dir, "diagnostics.csv")
            with open(path, "a", encoding="utf-8") as fh:
                fh.writelines(f"{e},{layer},{s},{v!r}\n" for e, layer, s, v in rows)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            self._warn("writing diagnostics.csv", exc)

    def _write_summary(self) -> None:
        if self.log_dir is None:
            return
        try:
            os.makedirs(self.log_dir, exist_ok=True)
            with open(os.path.join(self.log_dir, "summary.json"), "w", encoding="utf-8") as fh:
                json.dump(self.summary, fh, indent=2, default=str)
        except OSError as exc:
            self._warn("writing summary.json", exc)

    def _open_tensorboard(self) -> None:
        try:
            import tensorflow as tf

            self._tb_writer = tf.summary.create_file_writer(
                os.path.join(self.log_dir, "tensorboard"))
        except Exception as exc:
            self._tb_writer = None
            self._warn("TensorBoard output (needs TensorFlow)", exc)

    def _tensorboard_record(self, epoch: int, rows) -> None:
        try:
            import tensorflow as tf

            with self._tb_writer.as_default(step=epoch):
                for _, layer, stat, value in rows:
                    if not stat.startswith("hist_"):
                        tf.summary.scalar(f"{layer}/{stat}", value)
                if self.updates:
                    for layer in self.model.layers:
                        for w in layer.trainable_weights:
                            tf.summary.histogram(f"weights/{w.path}",
                                                 keras.ops.convert_to_numpy(w.value))
            self._tb_writer.flush()
        except Exception as exc:
            self._warn("TensorBoard record", exc)

    def on_train_end(self, logs=None):
        try:
            self.summary["epoch_times_s"] = list(self._epoch_times)
            self._write_summary()
            if self._tb_writer is not None:
                self._tb_writer.close()
        except Exception as exc:  # the logger must never break training
            self._warn("train-end summary", exc)
        finally:
            self._tb_writer = None
            self._probe = None
            self._previous = None

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
            "activation_layers": self.activation_layers,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DiagnosticLogger:
        """Rebuild from :meth:`get_config`."""
        config = dict(config)
        config["histogram_range"] = tuple(config.get("histogram_range", (-5.0, 5.0)))
        return cls(**config)
