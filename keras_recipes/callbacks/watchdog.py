"""`Watchdog`: the training doctor's rules while a run trains; it stops a doomed run and says why.

The doctor (:func:`keras_recipes.diagnostics.diagnose`) reads a run after it ends. The rules
that need no finished run are applied here during ``fit``, on two inputs:

- the training loss (and accuracy) that Keras hands to ``on_train_batch_end``, turned into
  means over windows of steps;
- the library's compiled probe (:class:`~keras_recipes.diagnostics.Probe`) on a fixed batch,
  a few times per epoch: per-layer gradient norms, activation statistics and update ratios.

Each finding is a :class:`~keras_recipes.diagnostics.Finding` (the doctor's type, with the
doctor's codes where a doctor rule exists) wrapped in a :class:`WatchdogEvent` that adds the
step, the epoch and the layer.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import inspect
import math
import sys
import threading
import time
import warnings
from collections.abc import Iterable
from typing import Any

import keras
import numpy as np

from keras_recipes import _distribute, _keras_private
from keras_recipes._export import keras_recipes_export
from keras_recipes._print import print_msg
from keras_recipes._validation import check_bool, check_number, fail
from keras_recipes.diagnostics import curve_rules, probe_rules
from keras_recipes.diagnostics.finding import Finding
from keras_recipes.diagnostics.inputs import num_rows, take
from keras_recipes.diagnostics.model_facts import activation_name, distribution_scope
from keras_recipes.diagnostics.probe import (
    Probe,
    expected_initial_loss,
    is_classification_loss,
    loss_name,
)

#: Every code the watchdog can report, with what it means. Codes shared with the doctor
#: (:data:`keras_recipes.diagnostics.RULES`) mean the same thing there.
CODES: dict[str, str] = {
    "nonfinite_loss": "the training loss (or val loss at an epoch end) is NaN or infinite",
    "nonfinite_activations": "the probe's forward pass (a hidden layer or the loss) is NaN "
                             "or infinite",
    "nonfinite_gradients": "a gradient on the probe batch is NaN or infinite",
    "exploding_loss": "a window's mean loss is above exploding_factor x max(ln C, its start)",
    "exploding_gradients": "first / last weighted layer gradient rms above the doctor's bound",
    "vanishing_gradients": "first / last weighted layer gradient rms below the doctor's bound",
    "dead_units": "more than dead_fraction of a hidden layer's units are zero on every "
                  "probe example",
    "saturated_units": "a tanh/sigmoid layer's mean derivative is a small fraction of its peak",
    "update_ratio_low": "weights do not move: per-step ||dW||/||W|| below the low bound in "
                        "every layer (or no trainable weights)",
    "update_ratio_high": "per-step ||dW||/||W|| above the high bound in a layer",
    "flat_loss": "after `patience` steps the loss has not fallen flat_tolerance below where "
                 "it started",
    "accuracy_not_increasing": "after `patience` steps the training accuracy has not risen "
                               "and is at chance level",
    "oscillating_loss": "window means of the loss keep rising and falling",
}

#: Codes that stop training unless ``fatal=`` says otherwise.
DEFAULT_FATAL = (
    "nonfinite_loss", "nonfinite_activations", "nonfinite_gradients", "exploding_loss",
    "exploding_gradients", "vanishing_gradients", "dead_units", "saturated_units",
    "update_ratio_low", "flat_loss", "accuracy_not_increasing", "oscillating_loss",
)

#: A window's loss rises "for real" when it is above the previous window's by more than this
#: fraction (the doctor's OSC_RISE is 2 % between epoch means; window means of mini-batch
#: losses are noisier, hence the larger default).
OSCILLATION_RISE = 0.1
#: ... and by more than this many standard errors of the two window means (the spread of
#: the steps inside each window): a rise that sampling noise explains is not counted.
OSCILLATION_Z = 3.0
#: Windows looked at by the oscillation rule (the latest ones).
OSCILLATION_WINDOWS = 12
#: The training accuracy "increased" once it is this much above its first window.
ACCURACY_GAIN = 0.01
#: Steps between probes when the number of steps per epoch is unknown.
_UNKNOWN_STEPS_GAP = 25
#: Frames searched for a running KerasTuner search.
_MAX_FRAMES = 60

_ACCURACY_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy",
                  "binary_accuracy")
_LR_FINDER = "keras_recipes.lr_finder.find_lr"
_ADVICE = {
    "nonfinite": ("Lower the learning rate by 10x (or pick it with "
                  f"{_LR_FINDER}); check the initialisation (He for ReLU, Glorot for "
                  "tanh/sigmoid, never large constants) and the inputs (NaN values, scale); "
                  "clipnorm= in the optimizer bounds each step."),
    "exploding_loss": (f"Lower the learning rate by 10x (or pick it with {_LR_FINDER}); "
                       "clipnorm= in the optimizer bounds each step."),
    "exploding_gradients": ("Scale the initialisation down (Glorot/He, not larger), add "
                            "BatchNormalization, clip gradients (clipnorm=) and lower the "
                            "learning rate."),
    "vanishing_gradients": ("Use ReLU-family activations with He initialisation, "
                            "BatchNormalization, residual connections, or a shallower "
                            "model."),
    "dead_units": ("Use He initialisation for ReLU layers, keras.layers.LeakyReLU (or "
                   "ELU/GELU), a lower learning rate, and normalised inputs; "
                   "BatchNormalization before the activation keeps units alive."),
    "saturated_units": ("Scale the initialisation down (Glorot for tanh/sigmoid), normalise "
                        "the inputs, add BatchNormalization before the activation, or use "
                        "ReLU-family activations."),
    "update_ratio_low": (f"Raise the learning rate (or pick it with {_LR_FINDER}); check "
                         "for frozen layers (layer.trainable)."),
    "update_ratio_high": (f"Lower the learning rate (or pick it with {_LR_FINDER}); "
                          "retrain from a fresh initialisation, since dead units do not "
                          "recover."),
    "flat_loss": (f"Raise the learning rate (try 1e-3 for Adam, or run {_LR_FINDER}); check "
                  "the initialisation (constant or zero weights never break symmetry) and "
                  "that gradients reach the weights (frozen layers)."),
    "accuracy_not_increasing": ("Check that labels are aligned with inputs (no shuffle of "
                                "one without the other), that the loss fits the labels, and "
                                "that the model can overfit a tiny subset first."),
    "oscillating_loss": (f"Lower the learning rate (or pick it with {_LR_FINDER}), add a "
                         "decaying schedule or warm-up, or use a larger batch."),
}


@dataclasses.dataclass(frozen=True)
class WatchdogEvent:
    """One finding of a :class:`Watchdog`, with when and where it appeared.

    A workflow that repairs a run reads ``event.code`` (the finding's code, one of
    :data:`CODES`), ``event.layer`` and ``event.finding.evidence``.

    Attributes:
        finding: the :class:`~keras_recipes.diagnostics.Finding` (severity, code, message,
            evidence, advice).
        step: optimizer steps completed in this ``fit`` when it was seen (0: before the
            first step, from the probe at train begin).
        epoch: the epoch it was seen in (0-based, as Keras counts; printed 1-based).
        layer: the layer it is about, or ``None`` for the whole model.
        fatal: whether it stopped training (its code is in the watchdog's ``fatal``).

    Example:

    >>> from keras_recipes.callbacks.watchdog import WatchdogEvent
    >>> from keras_recipes.diagnostics import Finding
    >>> event = WatchdogEvent(Finding("error", "nonfinite_loss", "loss is NaN", advice="lower"),
    ...                       step=3, epoch=0, layer=None, fatal=True)
    >>> event.code, event.advice
    ('nonfinite_loss', 'lower')
    >>> print(str(event).splitlines()[0])
    step 3 (epoch 1), stopped training: [ERROR] nonfinite_loss: loss is NaN
    """

    finding: Finding
    step: int
    epoch: int
    layer: str | None = None
    fatal: bool = False

    @property
    def code(self) -> str:
        """The finding's code."""
        return self.finding.code

    @property
    def advice(self) -> str:
        """The finding's advice."""
        return self.finding.advice

    def __str__(self) -> str:
        where = f" in {self.layer}" if self.layer else ""
        stop = ", stopped training" if self.fatal else ""
        return f"step {self.step} (epoch {self.epoch + 1}){where}{stop}: {self.finding}"

    def one_line(self) -> str:
        """The event on one line (code, step, layer, message, advice)."""
        where = f" in {self.layer}" if self.layer else ""
        return (f"{self.code} at step {self.step} (epoch {self.epoch + 1}){where}: "
                f"{self.finding.message} Advice: {self.advice}")


def _codes(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_FATAL
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        fail(name, f"None or a list of finding codes among {sorted(CODES)}", value)
    codes = tuple(value)
    unknown = [c for c in codes if not isinstance(c, str) or c not in CODES]
    if unknown:
        raise ValueError(f"Argument `{name}` must list finding codes among {sorted(CODES)}. "
                         f"Received: unknown code(s) {unknown} in {name}={list(codes)}")
    return codes


def _pair(name: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        fail(name, "a pair (low, high) of positive numbers with low < high", value)
    low, high = (float(check_number(name, v, low=0, low_inclusive=False)) for v in value)
    if not low < high:
        fail(name, "a pair (low, high) of positive numbers with low < high", value)
    return low, high


def in_keras_tuner() -> bool:
    """Whether a ``keras_tuner`` tuner is running the current ``fit`` (found on the stack)."""
    module = sys.modules.get("keras_tuner")
    tuner_class = getattr(module, "Tuner", None) if module is not None else None
    if tuner_class is None:
        return False
    frame = inspect.currentframe()
    try:
        for _ in range(_MAX_FRAMES):
            if frame is None:
                return False
            if isinstance(frame.f_locals.get("self"), tuner_class):
                return True
            frame = frame.f_back
    finally:
        del frame
    return False


@keras_recipes_export
class Watchdog(keras.callbacks.Callback):
    """Apply the training doctor's rules while ``fit`` runs; stop a doomed run, say why.

    Use it on any run that may be broken (a new architecture, a new data set, a search):
    a forward pass that overflows, gradients that vanish through a deep sigmoid stack or
    weights that never move are found within the first epoch, and training stops there
    instead of at its last epoch. Healthy runs must not be stopped: every threshold is the
    doctor's, tuned on the panel of ``benchmarks/doctor_panel.py`` for no warning on
    healthy runs, and probe findings must hold on ``confirm`` probes in a row.

    Inputs, and what they cost:

    - **The training loss and accuracy**, from the logs Keras passes to
      ``on_train_batch_end``. Keras's ``CallbackList`` converts those logs to Python floats
      before any callback sees them, on every step of every ``fit`` (on TensorFlow in the
      training loop; on JAX and PyTorch in its callback thread when every callback is
      asynchronous-safe). The watchdog adds no conversion of its own and declares itself
      ``async_safe``, so it keeps JAX's and PyTorch's asynchronous callback dispatch: its
      per-step hook only stores two floats. The logged values are running means since the
      epoch began; the mean over steps ``(a, b]`` of one epoch is
      ``(b·m_b − a·m_a) / (b − a)``, exact for equal batches. Rules read means over windows
      of ``window`` steps (training mode, raw, not smoothed).
    - **The probe**: one compiled function on a fixed batch of ``probe_size`` examples
      (``probe=`` or the first examples of ``data=``), at train begin (step 0) and then
      every ``probe_every`` steps. By default that is ``probes_per_epoch`` times per epoch,
      stretched when a probe would cost more than ``max_overhead`` of the training time
      (measured: the probe's wall time against the median step's). Gradients are taken in
      inference mode on the compiled loss. Without ``probe``/``data`` the probe rules are
      skipped (a warning says so).

    Rules (codes of :data:`CODES`; ``C`` classes, ``ln C`` the loss of a uniform guess):

    ===========================  ===============================================  =========
    code                         fires when                                       source
    ===========================  ===============================================  =========
    ``nonfinite_loss``           a step's loss (or an epoch's val loss) NaN/Inf   logs
    ``nonfinite_activations``    probe loss or a hidden layer's activations       probe
                                 NaN/Inf
    ``nonfinite_gradients``      a layer's probe gradient NaN/Inf                 probe
    ``exploding_loss``           a window mean > ``exploding_factor`` (10) ×      logs
                                 max(ln C, probe loss at step 0 or first window)
    ``exploding_gradients``      median over probes of grad rms first / last      probe
                                 weighted layer > ``gradient_ratio[1]`` (1e2)
    ``vanishing_gradients``      that median < ``gradient_ratio[0]`` (1e-2), or   probe
                                 first / last hidden layer at step 0 below it
    ``dead_units``               > ``dead_fraction`` (0.5) of a hidden layer's    probe
                                 units zero on every probe example
    ``saturated_units``          tanh/sigmoid mean derivative / peak <            probe
                                 ``saturation[0]`` (0.1), or < ``saturation[1]``
                                 (0.25) since step 0
    ``update_ratio_low``         per-step ||ΔW||/||W|| < ``update_ratio[0]``       probe
                                 (1e-4) in every layer (or no trainable weight)
    ``update_ratio_high``        per-step ||ΔW||/||W|| > ``update_ratio[1]``       probe
                                 (1e-1) in a layer
    ``flat_loss``                after ``patience`` steps, the window mean is     logs
                                 within ``flat_tolerance`` (5 %) of the first
                                 window and not 10 % below ln C
    ``accuracy_not_increasing``  after ``patience`` steps, the training accuracy  logs
                                 rose < 0.01 above its first window and is
                                 below 1.5 / C
    ``oscillating_loss``         over the last 12 windows, ≥ 2 and ≥ 25 % of the  logs
                                 changes are rises > ``oscillation_rise`` (10 %),
                                 > 0.01 ln C and > 3 standard errors (the spread
                                 of the steps inside the windows, pooled)
    ===========================  ===============================================  =========

    Probe rules (gradients, dead, saturated, update ratios) fire when their condition
    holds at ``confirm`` probes in a row; the others at once. Each code is reported once
    per ``fit``. A finding whose code is in ``fatal`` sets ``model.stop_training``; the
    run then ends after the current step (on JAX and PyTorch a loss finding is read in
    Keras's callback thread, so up to a few steps later). Other findings are printed as
    they appear (``verbose=1``).

    After ``fit``: :attr:`stop_reason` is the fatal :class:`WatchdogEvent` (``None`` when
    not stopped), with ``stop_reason.finding``, ``.step``, ``.epoch``, ``.layer`` and
    ``.advice``; :attr:`events` lists every event in step order, and :meth:`report`
    prints them. Inside a KerasTuner search (found on the call stack, or
    ``fail_trial=True``) a stopped run raises ``keras_tuner.errors.FailedTrialError`` at
    train end with the reason on one line: the trial is recorded as ``FAILED`` with it
    (KerasTuner ends a search after ``max_consecutive_failed_trials``, default 3, failed
    trials in a row).

    Distribution: the probe is built in the model's ``tf.distribute`` scope (or under the
    active ``keras.distribution``), and reads mirrored variables as the logger does. All
    inputs to a decision are the same on every worker (the logged loss is the global
    batch's; the probe batch and weights are replicated), so every worker takes the same
    decision at the same step; under ``MultiWorkerMirroredStrategy`` the probe cadence is
    fixed (not timed) for that reason. On the PyTorch backend the probe has no gradients:
    gradient rules are skipped.

    Args:
        probe: ``(x, y)`` fixed probe batch, or ``None`` to take the first ``probe_size``
            examples of ``data``. Defaults to ``None``.
        data: ``(x_train, y_train)``; only the probe examples are kept. Defaults to
            ``None``.
        probe_size: examples taken from ``data``. Defaults to ``64``.
        probe_every: steps between probes, or ``None`` for ``probes_per_epoch`` per epoch
            within ``max_overhead``. Defaults to ``None``.
        probes_per_epoch: probes per epoch when ``probe_every`` is ``None``. Defaults to
            ``4``.
        max_overhead: most probe time per training time when ``probe_every`` is ``None``
            (``0`` for no limit). Defaults to ``0.02``.
        window: steps per loss window, or ``None`` for steps per epoch /
            ``probes_per_epoch`` (at least 4, or 1 with one batch per epoch). Defaults to
            ``None``.
        patience: steps before ``flat_loss`` and ``accuracy_not_increasing`` may fire.
            Defaults to ``100`` (the doctor's ``FLAT_STEPS``).
        confirm: probes in a row on which a probe rule must hold. Defaults to ``2``.
        fatal: codes that stop training, or ``None`` for :data:`DEFAULT_FATAL` (every code
            but ``update_ratio_high``); ``[]`` never stops. Defaults to ``None``.
        exploding_factor: see ``exploding_loss``. Defaults to ``10.0``.
        flat_tolerance: see ``flat_loss``. Defaults to ``0.05``.
        oscillation_rise: see ``oscillating_loss``. Defaults to ``0.1``.
        gradient_ratio: ``(low, high)`` bounds of the gradient depth ratio. Defaults to
            ``(1e-2, 1e2)``.
        dead_fraction: see ``dead_units``. Defaults to ``0.5``.
        saturation: ``(anytime, since_start)`` bounds of the mean derivative over its peak.
            Defaults to ``(0.1, 0.25)``.
        update_ratio: ``(low, high)`` bounds of the per-step update ratio. Defaults to
            ``(1e-4, 1e-1)``.
        fail_trial: raise ``FailedTrialError`` at train end when stopped; ``None`` does it
            inside a KerasTuner search only. Defaults to ``None``.
        verbose: 0 (silent) or 1 (print each finding as it appears). Defaults to ``1``.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.callbacks import Watchdog
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(256, 8)).astype("float32")
    >>> y = (x[:, 0] > 0).astype("int64")
    >>> model = keras.Sequential([
    ...     keras.Input((8,)),
    ...     keras.layers.Dense(16, activation="relu", kernel_initializer=
    ...                        keras.initializers.Constant(1e38)),
    ...     keras.layers.Dense(2, activation="softmax")])
    >>> model.compile("adam", "sparse_categorical_crossentropy")
    >>> watchdog = Watchdog(data=(x, y), verbose=0)
    >>> _ = model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[watchdog])
    >>> watchdog.stop_reason.code, watchdog.stop_reason.step
    ('nonfinite_activations', 0)

    References:
        - X. Zhang et al., "AUTOTRAINER: An Automatic DNN Training Problem Detection and
          Repair System", ICSE 2021, https://doi.org/10.1109/ICSE43902.2021.00043
        - M. Wardat et al., "DeepDiagnosis: Automatically Diagnosing Faults and
          Recommending Actionable Fixes in Deep Learning Programs", ICSE 2022,
          https://doi.org/10.1145/3510003.3510071
    """

    #: The per-step hook only stores floats under a lock and never reads the model's
    #: variables: Keras may run it in its callback thread (JAX, PyTorch).
    async_safe = True

    def __init__(
        self,
        probe: tuple | None = None,
        *,
        data: tuple | None = None,
        probe_size: int = 64,
        probe_every: int | None = None,
        probes_per_epoch: int = 4,
        max_overhead: float = 0.02,
        window: int | None = None,
        patience: int = curve_rules.FLAT_STEPS,
        confirm: int = 2,
        fatal: Iterable[str] | None = None,
        exploding_factor: float = curve_rules.SPIKE_FACTOR,
        flat_tolerance: float = curve_rules.FLAT_TOLERANCE,
        oscillation_rise: float = OSCILLATION_RISE,
        gradient_ratio: tuple[float, float] = probe_rules.GRADIENT_DEPTH_RATIO,
        dead_fraction: float = probe_rules.DEAD_FRACTION,
        saturation: tuple[float, float] = (probe_rules.SATURATION_DERIVATIVE,
                                           probe_rules.SATURATION_AT_INIT),
        update_ratio: tuple[float, float] = probe_rules.RATIO_WARN,
        fail_trial: bool | None = None,
        verbose: int = 1,
    ) -> None:
        super().__init__()
        from keras_recipes.diagnostics import logger_args as args

        self.probe_size = args.integer("probe_size", probe_size, low=1)
        self.probe_every = (None if probe_every is None
                            else args.integer("probe_every", probe_every, low=1))
        self.probes_per_epoch = args.integer("probes_per_epoch", probes_per_epoch, low=1)
        self.max_overhead = float(check_number("max_overhead", max_overhead, low=0))
        self.window = None if window is None else args.integer("window", window, low=1)
        self.patience = args.integer("patience", patience, low=1)
        self.confirm = args.integer("confirm", confirm, low=1)
        self.fatal = _codes("fatal", fatal)
        self.exploding_factor = float(check_number("exploding_factor", exploding_factor,
                                                   low=1, low_inclusive=False))
        self.flat_tolerance = float(check_number("flat_tolerance", flat_tolerance, low=0,
                                                 high=1, low_inclusive=False))
        self.oscillation_rise = float(check_number("oscillation_rise", oscillation_rise,
                                                   low=0, low_inclusive=False))
        self.gradient_ratio = _pair("gradient_ratio", gradient_ratio)
        self.dead_fraction = float(check_number("dead_fraction", dead_fraction, low=0,
                                                high=1, high_inclusive=False))
        self.saturation = _pair("saturation", saturation)
        if self.saturation[1] > 1:
            fail("saturation", "a pair (anytime, since_start) with 0 < anytime < "
                 "since_start <= 1", saturation)
        self.update_ratio = _pair("update_ratio", update_ratio)
        if fail_trial is not None:
            fail_trial = check_bool("fail_trial", fail_trial)
        self.fail_trial = fail_trial
        self.verbose = args.integer("verbose", verbose, low=0)
        probe_xy = args.pair("probe", probe)
        train = args.pair("data", data)
        if probe_xy[0] is None and train[0] is not None:
            probe_xy = (take(train[0], self.probe_size), take(train[1], self.probe_size))
        self._probe_x, self._probe_y = probe_xy
        self._lock = None
        self._reset()

    # ---------------------------------------------------------------------------- state
    def __deepcopy__(self, memo):
        """A copy without the model, the lock or the probe (KerasTuner copies callbacks)."""
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        model = _keras_private.callback_model(self)
        for key, value in self.__dict__.items():
            skip = key in ("_lock", "_probe", "_previous") or (
                model is not None and value is model)
            setattr(clone, key, None if skip else copy.deepcopy(value, memo))
        return clone

    def _reset(self) -> None:
        self.stop_reason: WatchdogEvent | None = None
        self.stopped_epoch: int | None = None
        self.stopped_step: int | None = None
        self.notes: list[str] = []
        self._events: list[WatchdogEvent] = []
        self._seen: set[str] = set()
        self._epoch = 0
        self._steps_before_epoch = 0
        self._epoch_steps = 0
        self._probe = None
        self._probe_pending = False
        self._previous = None
        self._previous_step = 0
        self._next_probe = 0
        self._gap = 1
        self._records: list[dict] = []
        self._streaks: dict[str, int] = {}
        self._probe_times: collections.deque = collections.deque(maxlen=8)
        self._step_times: collections.deque = collections.deque(maxlen=64)
        self._last_begin: float | None = None
        self._last_done = 0
        self._points: dict[int, tuple[float, float | None]] = {}
        self._window_start = 0  # in-epoch step count where the open window starts
        self._window_mean = (0.0, None)  # running means at the window start
        # (end step, mean loss, mean accuracy, spread of the steps' losses inside it)
        self._windows: list[tuple[int, float, float | None, float]] = []
        self._flat_armed = True
        self._accuracy_armed = True
        self._ref = None
        self._classes = None
        self._accuracy_key = None
        self._w = 1
        self._fail = False
        self._fixed_cadence = False
        self._full_batch = False
        self._initial_loss: float | None = None
        self._kinds: dict[str, str | None] = {}
        self._weighted: list[str] = []
        self._ratios: list[float] = []
        self._initial_ratio: float | None = None
        self._always_saturated: set[str] = set()

    @property
    def events(self) -> list[WatchdogEvent]:
        """Every event of the last ``fit``, in step order (stable for equal steps)."""
        return sorted(self._events, key=lambda e: e.step)

    def report(self) -> str:
        """Every finding of the last ``fit`` in step order, and whether it stopped training.

        Returns:
            A string: one header line, then each :class:`WatchdogEvent` (its finding's
            severity, code, message, evidence and advice). The same events are in
            :attr:`events`.
        """
        events = self.events
        if self.stop_reason is not None:
            r = self.stop_reason
            head = (f"Watchdog: {len(events)} finding(s); training stopped at step {r.step} "
                    f"(epoch {r.epoch + 1}) by {r.code}.")
        else:
            head = f"Watchdog: {len(events)} finding(s); training was not stopped."
        lines = [head]
        if not events:
            lines.append("Nothing looked wrong.")
        lines.extend(str(e) for e in events)
        return "\n".join(lines)

    def _emit(self, severity: str, code: str, message: str, evidence: dict, step: int,
              layer: str | None = None) -> None:
        """Record a finding (once per code per fit); stop training if its code is fatal."""
        if code in self._seen:
            return
        self._seen.add(code)
        key = "nonfinite" if code.startswith("nonfinite") else code
        finding = Finding(severity, code, message, evidence, _ADVICE[key])
        fatal = code in self.fatal and self.stop_reason is None
        event = WatchdogEvent(finding, int(step), self._epoch, layer, fatal)
        self._events.append(event)
        if fatal:
            self.stop_reason = event
            self.stopped_epoch = self._epoch
            self.stopped_step = int(step)
            model = _keras_private.callback_model(self)
            if model is not None:
                model.stop_training = True
        if self.verbose:
            print_msg(f"Watchdog: {event}")

    # ------------------------------------------------------------------------ train begin
    def on_train_begin(self, logs=None):
        self._reset()
        self._lock = threading.Lock()
        model = _keras_private.callback_model(self)
        params = self.params or {}
        steps = params.get("steps")
        nominal = (max(1, math.ceil(steps / self.probes_per_epoch)) if steps
                   else _UNKNOWN_STEPS_GAP)
        self._gap = self.probe_every or nominal
        # Windows of at least 4 steps estimate the noise of their mean; one step is
        # enough when every step sees the whole training set (one batch per epoch).
        self._full_batch = steps == 1
        self._w = self.window or (nominal if self._full_batch else max(4, nominal))
        found = _distribute.strategy(model)
        self._fixed_cadence = self.probe_every is not None or _distribute._multi_worker(found)
        self._fail = (self.fail_trial if self.fail_trial is not None
                      else in_keras_tuner())
        name = loss_name(getattr(model, "loss", None))
        try:
            units = int(model.outputs[0].shape[-1])
        except (AttributeError, IndexError, TypeError, ValueError):
            units = None
        self._ref = expected_initial_loss(name, units)
        if is_classification_loss(name) and units:
            self._classes = units if units > 1 else 2
        if not model.trainable_weights and model.built:
            self._emit("warning", "update_ratio_low",
                       "The model has no trainable weights (model.trainable = False?): "
                       "training cannot change it.", {"trainable_weights": 0}, 0)
            return
        if self._probe_x is None:
            self.notes.append("no probe batch (pass probe=(x, y) or data=(x, y)): "
                              "gradient, activation and update rules skipped")
            warnings.warn("Watchdog: " + self.notes[-1], RuntimeWarning, stacklevel=2)
            return
        if model.built:
            self._make_probe(model)
            if self._probe is not None:
                self._probe_now(0)
        else:
            self._probe_pending = True

    def _make_probe(self, model) -> None:
        self._probe_pending = False
        try:
            with distribution_scope(model):
                self._probe = Probe(model, self._probe_x, self._probe_y, predictions=0)
            self.notes.extend(self._probe.notes)
            kinds = {layer.name: activation_name(layer) for layer in model.layers}
            self._kinds = {n: kinds.get(n) for n in self._probe.hidden_names}
            classes = {layer.name: type(layer).__name__ for layer in model.layers}
            self._weighted = [n for n in self._probe.groups
                              if classes.get(n) not in probe_rules._NORMALISATION_LAYERS]
        except Exception as exc:  # the watchdog never breaks training
            self._probe = None
            self._note(f"probe rules skipped ({type(exc).__name__}: {exc})")

    def _note(self, message: str) -> None:
        self.notes.append(message)
        warnings.warn(f"Watchdog: {message}", RuntimeWarning, stacklevel=3)

    # ------------------------------------------------------------------------------ steps
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_steps = 0
        self._points = {}
        self._window_start = 0
        self._window_mean = (0.0, None)

    def on_train_batch_begin(self, batch, logs=None):
        now = time.perf_counter()
        done = self._steps_before_epoch + batch
        if self._last_begin is not None and done > self._last_done:
            self._step_times.append((now - self._last_begin) / (done - self._last_done))
        if self.stop_reason is None:
            with self._lock:
                self._close_windows(final=False)
            if self._probe_pending and batch:
                model = _keras_private.callback_model(self)
                if model is not None and model.built:
                    self._make_probe(model)
            if self._probe is not None and done >= self._next_probe:
                self._probe_now(done)
        self._last_done = done
        self._last_begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        # Runs in Keras's callback thread on JAX and PyTorch: floats only, under the lock.
        if self.stop_reason is not None or not logs or self._lock is None:
            return
        loss = logs.get("loss")
        if loss is None:
            return
        if self._accuracy_key is None:
            self._accuracy_key = next((k for k in _ACCURACY_KEYS if k in logs), "")
        acc = logs.get(self._accuracy_key) if self._accuracy_key else None
        k = batch + 1
        step = self._steps_before_epoch + k
        with self._lock:
            loss = float(loss)
            if not math.isfinite(loss):
                self._emit("error", "nonfinite_loss",
                           f"The training loss became {loss} at step {step}: training "
                           "diverged.", {"metric": "loss", "value": loss, "step": step},
                           step)
                return
            self._points[k] = (loss, None if acc is None else float(acc))
            self._epoch_steps = max(self._epoch_steps, k)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._lock is None:
            return
        with self._lock:
            if self.stop_reason is None:
                self._close_windows(final=True)
            step = self._steps_before_epoch + self._epoch_steps
            for key in sorted(logs):
                if key == "val_loss" and self.stop_reason is None:
                    value = float(logs[key])
                    if not math.isfinite(value):
                        self._emit("error", "nonfinite_loss",
                                   f"The validation loss became {value} at the end of epoch "
                                   f"{epoch + 1}.", {"metric": key, "value": value}, step)
        self._steps_before_epoch = step

    # ---------------------------------------------------------------------- loss windows
    def _close_windows(self, final: bool) -> None:
        """Close every window whose end point has been logged (all of them at epoch end)."""
        while self.stop_reason is None:
            target = self._window_start + self._w
            ends = [k for k in self._points if k >= target]
            if not ends:
                break
            self._close_at(min(ends))
        if final and self.stop_reason is None and self._points:
            last = max(self._points)
            if last - self._window_start >= max(1, self._w // 2):
                self._close_at(last)

    def _close_at(self, k: int) -> None:
        loss_k, acc_k = self._points[k]
        a = self._window_start
        loss_a, acc_a = self._window_mean
        loss = (k * loss_k - a * loss_a) / (k - a)
        acc = None
        if acc_k is not None and (a == 0 or acc_a is not None):
            acc = (k * acc_k - a * (acc_a or 0.0)) / (k - a)
        # Means of the segments between logged points (single steps when every step is
        # logged): their spread gives the standard error of the window's mean.
        segments, j, m = [], a, loss_a
        for i in sorted(p for p in self._points if a < p <= k):
            mean_i = self._points[i][0]
            segments.append((i * mean_i - j * m) / (i - j))
            j, m = i, mean_i
        # (sum of squared deviations, degrees of freedom, segments): pooled over the
        # windows the oscillation rule compares, a short window's noise is not guessed
        # from two values.
        n = len(segments)
        spread = (float(np.sum((np.asarray(segments) - np.mean(segments)) ** 2)), n - 1, n)
        for old in [i for i in self._points if i < k]:
            del self._points[old]
        self._window_start, self._window_mean = k, (loss_k, acc_k)
        step = self._steps_before_epoch + k
        self._windows.append((step, loss, acc, spread))
        self._loss_rules(step)

    def _loss_rules(self, step: int) -> None:
        windows = self._windows
        losses = np.array([w[1] for w in windows])
        first = float(losses[0])
        ref = self._ref
        # Where the loss started: the probe's loss at step 0, else the first window.
        start = self._initial_loss if self._initial_loss is not None else first
        scale = max(ref or 0.0, start)
        source = (f"train loss, training mode, mean over windows of {self._w} step(s) "
                  "(from Keras's running means)")
        last = float(losses[-1])
        if last > self.exploding_factor * scale:
            self._emit("error", "exploding_loss",
                       f"The train loss reached {last:.3g} at step {step}, more than "
                       f"{self.exploding_factor:g}x max(ln C, its start) "
                       f"= {scale:.3g}: the steps overshoot.",
                       {"window_loss": last, "start_loss": start,
                        "reference_loss": ref, "source": source}, step)
        if self.stop_reason is not None:
            return
        if self._flat_armed and step >= self.patience:
            change = (first - last) / max(abs(first), 1e-12)
            learned = ref is not None and last < (1 - curve_rules.FLAT_LEARNED) * ref
            if change >= self.flat_tolerance or learned:
                self._flat_armed = False
            else:
                self._emit("warning", "flat_loss",
                           f"After {step} steps the train loss ({last:.3g}) is not "
                           f"{100 * self.flat_tolerance:g}% below its first window "
                           f"({first:.3g}): nothing is being learned.",
                           {"first_window_loss": first, "window_loss": last,
                            "relative_drop": change, "reference_loss": ref,
                            "source": source}, step)
        accs = [w[2] for w in windows]
        if self.stop_reason is None and self._accuracy_armed and self._classes \
                and step >= self.patience and accs[0] is not None and accs[-1] is not None:
            chance = 1.0 / self._classes
            gain = accs[-1] - accs[0]
            if gain >= ACCURACY_GAIN or accs[-1] >= curve_rules.CHANCE_FACTOR * chance:
                self._accuracy_armed = False
            else:
                self._emit("warning", "accuracy_not_increasing",
                           f"After {step} steps the training accuracy ({accs[-1]:.3g}) has "
                           f"not risen above its first window ({accs[0]:.3g}) and is at "
                           f"chance level (1/C = {chance:.3g}).",
                           {"first_window_accuracy": accs[0], "window_accuracy": accs[-1],
                            "chance": chance, "source": source.replace("loss", "accuracy",
                                                                        1)}, step)
        recent = windows[-OSCILLATION_WINDOWS:]
        if self.stop_reason is None and len(recent) >= 5:
            values = np.array([w[1] for w in recent])
            squares, dof = sum(w[3][0] for w in recent), sum(w[3][1] for w in recent)
            if dof > 0:
                variance = squares / dof
            else:  # one logged point per window: no noise only if each is the whole set
                variance = 0.0 if self._full_batch else math.inf
            errors = np.sqrt(variance / np.array([w[3][2] for w in recent]))
            rise = np.diff(values)
            rel = rise / np.maximum(np.abs(values[:-1]), 1e-12)
            floor = curve_rules.OSC_ABS * (ref or 0.0)
            noise = OSCILLATION_Z * np.sqrt(errors[1:] ** 2 + errors[:-1] ** 2)
            real = (rel > self.oscillation_rise) & (rise > floor) & (rise > noise)
            rises = int(np.sum(real))
            if rises >= curve_rules.OSC_MIN_RISES and \
                    rises / len(rel) >= curve_rules.OSC_FRACTION:
                self._emit("warning", "oscillating_loss",
                           f"The train loss rose by more than {100 * self.oscillation_rise:g}"
                           f"% (and more than {OSCILLATION_Z:g} standard errors of the "
                           f"window means) in {rises} of the last {len(rel)} window changes: "
                           "it oscillates instead of falling.",
                           {"rises": rises, "changes": len(rel),
                            "largest_rise": float(rel.max()), "source": source}, step)

    # ------------------------------------------------------------------------------ probe
    def _probe_now(self, done: int) -> None:
        model = self.model  # on JAX, puts the running fit's state back into the variables
        start = time.perf_counter()
        try:
            with distribution_scope(model):
                stats = self._probe.measure(self._previous)
                self._previous = self._probe.snapshot()
        except Exception as exc:  # the watchdog never breaks training
            self._probe = None
            self._note(f"probe rules skipped after step {done} ({type(exc).__name__}: "
                       f"{exc})")
            return
        seconds = time.perf_counter() - start
        if self._records:  # the first call traces the function
            self._probe_times.append(seconds)
        steps = max(1, done - self._previous_step)
        self._previous_step = done
        self._records.append({"step": done, "stats": stats, "steps": steps})
        if done == 0 and stats.get("loss") is not None and math.isfinite(float(stats["loss"])):
            self._initial_loss = float(stats["loss"])
        with self._lock:
            self._probe_rules(done, stats, steps, first=len(self._records) == 1)
        self._next_probe = done + self._cadence()

    def _cadence(self) -> int:
        if self._fixed_cadence or not self.max_overhead or not self._probe_times \
                or not self._step_times:
            return self._gap
        probe = float(np.median(self._probe_times))
        step = float(np.median(self._step_times))
        if step <= 0:
            return self._gap
        return max(self._gap, math.ceil(probe / (self.max_overhead * step)))

    def _held(self, key: str, condition: bool) -> bool:
        """Whether ``condition`` has held on ``confirm`` probes in a row (``key``)."""
        self._streaks[key] = self._streaks.get(key, 0) + 1 if condition else 0
        return self._streaks[key] >= self.confirm

    def _probe_rules(self, step: int, stats: dict, steps: int, first: bool) -> None:
        source = (f"probe batch of {num_rows('probe', self._probe_x)} examples, inference "
                  "mode")
        loss = stats.get("loss")
        acts = stats.get("activations", {})
        layers = stats.get("layers", {})
        bad = [n for n, a in acts.items()
               if not (math.isfinite(float(a["mean"])) and math.isfinite(float(a["rms"])))]
        huge = [n for n in bad if math.isfinite(float(acts[n]["mean"]))]
        if bad or (loss is not None and not math.isfinite(float(loss))):
            what = ("NaN or infinite" if len(huge) < len(bad) else
                    "beyond 1.8e19 in magnitude (their squares overflow float32)")
            self._emit("error", "nonfinite_activations",
                       "The forward pass on the probe batch is not finite"
                       + (f": the activations of {', '.join(bad)} are {what}"
                          if bad else f": the loss is {float(loss)}")
                       + (" before the first step." if step == 0 else f" at step {step}."),
                       {"layers": bad, "probe_loss": None if loss is None else float(loss),
                        "source": source}, step, bad[0] if bad else None)
            return
        grads = {n: float(v["grad_rms"]) for n, v in layers.items() if "grad_rms" in v}
        bad = [n for n, v in grads.items() if not math.isfinite(v)]
        if bad:
            self._emit("error", "nonfinite_gradients",
                       f"The gradients of {', '.join(bad)} on the probe batch are NaN or "
                       f"infinite at step {step}.", {"layers": bad, "source": source},
                       step, bad[0])
            return
        self._activation_rules(step, acts, first, source)
        self._gradient_rule(step, grads, first, source)
        self._update_rules(step, layers, steps, first, source)

    def _gradient_rule(self, step, grads, first, source) -> None:
        layers = [n for n in self._weighted if n in grads]
        if len(layers) < 2:
            return
        top, bottom = grads[layers[0]], grads[layers[-1]]
        ratios = self._ratios
        # A gradient of exactly 0 at the bottom is no path at all (dead units, a frozen
        # or disconnected layer), not a vanishing one.
        if bottom > 0 and top > 0:
            ratios.append(top / bottom)
        if first and len(layers) >= 3 and grads[layers[-2]] > 0 and top > 0:
            self._initial_ratio = top / grads[layers[-2]]
        if not ratios:
            return
        low, high = self.gradient_ratio
        median = float(np.median(ratios))
        start = self._initial_ratio
        evidence = {"first_layer": layers[0], "last_layer": layers[-1],
                    "median_grad_rms_ratio": median, "initial_hidden_ratio": start,
                    "source": source}
        vanishing = median < low or (start is not None and 0 < start < low)
        if self._held("vanishing_gradients", vanishing):
            self._emit("warning", "vanishing_gradients",
                       f"The gradient reaching {layers[0]} is "
                       f"{min(median, start or median):.2g}x the one at the top of the "
                       "network: gradients vanish across depth.", evidence, step, layers[0])
        if self._held("exploding_gradients", median > high):
            self._emit("warning", "exploding_gradients",
                       f"The gradient reaching {layers[0]} is {median:.2g}x the one at "
                       f"{layers[-1]}: gradients explode across depth.", evidence, step,
                       layers[0])

    def _activation_rules(self, step, acts, first, source) -> None:
        dead = {n: float(a["dead_fraction"]) for n, a in acts.items()
                if float(a["dead_fraction"]) > self.dead_fraction}
        if self._held("dead_units", bool(dead)):
            layer = next(iter(dead))
            self._emit("warning", "dead_units",
                       f"{len(dead)} hidden layer(s) have more than {self.dead_fraction:.0%} "
                       f"dead units (zero on every probe example) at step {step}: "
                       f"{', '.join(dead)}.", {"dead_fraction": dead, "source": source},
                       step, layer)
        anytime, since_start = self.saturation
        derivative = {}
        for name, a in acts.items():
            kind = self._kinds.get(name)
            rms, mean = float(a["rms"]), float(a["mean"])
            if kind == "tanh":
                derivative[name] = max(0.0, 1.0 - rms * rms)
            elif kind == "sigmoid":
                derivative[name] = max(0.0, mean - rms * rms) / 0.25
        if first:
            self._always_saturated = {n for n, v in derivative.items() if v < since_start}
        # Layers below `since_start` at every probe since step 0.
        self._always_saturated = {n for n in self._always_saturated
                                  if derivative.get(n, 1.0) < since_start}
        sat = {n: v for n, v in derivative.items()
               if v < anytime or n in self._always_saturated}
        if self._held("saturated_units", bool(sat)):
            layer = min(sat, key=sat.get)
            self._emit("warning", "saturated_units",
                       f"{', '.join(sat)}: the mean derivative of the activation is only "
                       f"{min(sat.values()):.2g} of its peak on the probe batch at step "
                       f"{step}: the units sit in the flat tails of tanh/sigmoid.",
                       {"mean_derivative_over_peak": sat, "source": source}, step, layer)

    def _update_rules(self, step, layers, steps, first, source) -> None:
        if first:
            return
        ratios = {n: float(v["update_ratio"]) / steps for n, v in layers.items()
                  if "update_ratio" in v}
        if not ratios:
            return
        low, high = self.update_ratio
        above = {n: v for n, v in ratios.items() if v > high}
        if self._held("update_ratio_high", bool(above)):
            self._emit("warning", "update_ratio_high",
                       f"Weights move by more than {high:g} of their norm per step in "
                       f"{', '.join(above)} (rule of thumb: ~1e-3).",
                       {"ratio_per_step": above, "steps": steps, "source": source}, step,
                       max(above, key=above.get))
        still = all(0 <= v < low for v in ratios.values())
        # Weights that did not change at all since the last probe need no confirmation.
        frozen = all(v == 0 for v in ratios.values())
        if self._held("update_ratio_low", still) or frozen:
            self._emit("warning", "update_ratio_low",
                       f"Weights move by less than {low:g} of their norm per step in every "
                       f"layer (rule of thumb: ~1e-3): training barely changes the model.",
                       {"ratio_per_step": ratios, "steps": steps, "source": source}, step)

    # -------------------------------------------------------------------------- train end
    def on_train_end(self, logs=None):
        self._probe = None
        self._previous = None
        self._lock = None
        if self.stop_reason is not None and self._fail:
            from keras_tuner import errors as kt_errors

            raise kt_errors.FailedTrialError(
                "Watchdog stopped the trial: " + self.stop_reason.one_line())

    # ----------------------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments except the probe data."""
        return {
            "probe_size": self.probe_size, "probe_every": self.probe_every,
            "probes_per_epoch": self.probes_per_epoch, "max_overhead": self.max_overhead,
            "window": self.window, "patience": self.patience, "confirm": self.confirm,
            "fatal": list(self.fatal), "exploding_factor": self.exploding_factor,
            "flat_tolerance": self.flat_tolerance, "oscillation_rise": self.oscillation_rise,
            "gradient_ratio": list(self.gradient_ratio), "dead_fraction": self.dead_fraction,
            "saturation": list(self.saturation), "update_ratio": list(self.update_ratio),
            "fail_trial": self.fail_trial, "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Watchdog:
        """Rebuild from :meth:`get_config`."""
        config = dict(config)
        for key in ("gradient_ratio", "saturation", "update_ratio"):
            if key in config:
                config[key] = tuple(config[key])
        return cls(**config)
