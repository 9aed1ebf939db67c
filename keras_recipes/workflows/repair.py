"""Repair a failed stage: the remedy a finding calls for, applied to plain settings, twice at most.

When a workflow stage fails its gate, or the watchdog stops it, the finding that explains the
failure often has a known remedy (AUTOTRAINER, ICSE 2021; DeepDiagnosis, ICSE 2022): a lower
or higher learning rate, He initialisation for ReLU, BatchNormalization, another activation
for saturated units, gradient clipping, standardised inputs, another optimizer. This module
holds that knowledge as data, over a plain description of how a stage trains:

- :class:`TrainingSettings`: what a workflow passes to the model builder and to ``compile``
  (rate, optimizer, clipping, standardisation, activation, initializer, BatchNorm);
- :class:`Remedy` and :data:`REMEDIES`: each remedy by name, what it changes, whether it
  changes the architecture, and :meth:`Remedy.apply` over the settings;
- :data:`CATALOGUE`: finding code → remedies to try, in order; the codes are listed by
  priority (causes before symptoms) for a run with several findings;
- :func:`plan_repair`: the remedy to apply for some findings, and the remedies a user's
  network could not take (it gets only those that leave the architecture alone);
- :func:`run_with_repair`: train, plan, apply, retrain, at most :data:`MAX_ATTEMPTS` times;
  it returns a :class:`RepairLog` of :class:`RepairAttempt` rows (JSON round trip);
- :func:`repair_table`: the log as a short Markdown table for a report;
- :func:`range_test`: the learning-rate range test that the rate remedies run again.

Nothing here imports Keras at import time.

References:
    Zhang et al. (2021), AUTOTRAINER: An Automatic DNN Training Problem Detection and Repair
    System, ICSE, https://doi.org/10.1109/ICSE43902.2021.00043 ;
    Wardat et al. (2022), DeepDiagnosis: Automatically Diagnosing Faults and Recommending
    Actionable Fixes in Deep Learning Programs, ICSE, https://arxiv.org/abs/2112.04036
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from keras_recipes._validation import check_bool, check_learning_rate, check_number, received
from keras_recipes.workflows.common import finite

__all__ = [
    "CATALOGUE",
    "MAX_ATTEMPTS",
    "OPTIMIZERS",
    "REMEDIES",
    "RangeTest",
    "Remedy",
    "RepairAttempt",
    "RepairLog",
    "RepairPlan",
    "StageOutcome",
    "TrainingSettings",
    "plan_repair",
    "range_test",
    "repair_table",
    "run_with_repair",
]

#: Repairs per stage at most (the issue: "rerun that stage, at most twice").
MAX_ATTEMPTS = 2
#: Optimizer names a workflow builds (:func:`keras_recipes.tuning.make_optimizer`'s).
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
#: The clipping remedy's norm: Keras's ``clipnorm`` rescales each variable's gradient to an
#: L2 norm of at most this (Pascanu et al. 2013, https://arxiv.org/abs/1211.5063).
CLIPNORM = 1.0
#: A rate remedy moves the rate by at least this factor (one decade: the notes' "try a
#: learning rate 10× lower and 10× higher") ...
RATE_STEP = 10.0
#: ... and at most this factor, whatever the new range test suggests.
RATE_SPAN = 1000.0
#: The range test of a rate remedy sweeps this factor beyond the failed rate.
SWEEP_SPAN = 1e4
#: Reference rate when neither the settings nor the stage say which rate failed (Adam's).
FALLBACK_RATE = 1e-3
#: Bounds of a repaired rate (the range test's default sweep, 1e-7 to 10).
MIN_RATE, MAX_RATE = 1e-7, 10.0
#: Activations whose units saturate (flat tails), and the ReLU family (He initialisation).
SATURATING = ("sigmoid", "tanh", "hard_sigmoid", "softsign")
RELU_FAMILY = ("relu", "leaky_relu", "elu", "selu", "gelu", "silu", "swish")
#: Initializer names that are He's (``None``, the baselines' default, is He too).
HE_INITIALIZERS = ("he_uniform", "he_normal")

#: ``range_test(settings, min_lr, max_lr) -> suggested rate or None``: a learning-rate range
#: test of the network ``settings`` describe, between ``min_lr`` and ``max_lr``.
RangeTest = Callable[["TrainingSettings", float, float], "float | None"]


# ---------------------------------------------------------------- settings


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """How a stage trains, in the terms the remedies change.

    Use it as the plain, typed record that a workflow maps onto its model builder and its
    ``compile``: :meth:`model_options` for a preset network
    (:func:`keras_recipes.models.build_model`), :meth:`configure_optimizer` for the
    optimizer, ``learning_rate`` and ``standardize`` for the rate and the inputs.

    Attributes:
        learning_rate: the rate to train at; ``None`` lets the stage pick it (its range
            test). Defaults to ``None``.
        optimizer: one of :data:`OPTIMIZERS`; ``None`` keeps the stage's own. Defaults to
            ``None``.
        clipnorm: Keras's per-variable gradient clipping norm; ``None`` clips nothing.
            Defaults to ``None``.
        standardize: standardise the inputs with the training split's statistics (a
            ``keras.layers.Normalization`` in front of the network). Defaults to ``True``.
        activation: the hidden activation of a preset network (one of
            :data:`keras_recipes.models.ACTIVATIONS`). Defaults to ``"relu"``.
        kernel_initializer: a Keras initializer name for the hidden kernels; ``None`` is
            the baselines' He initialisation. Defaults to ``None``.
        batch_norm: BatchNormalization between each hidden layer and its activation.
            Defaults to ``True``.

    Example:

    >>> from keras_recipes.workflows.repair import TrainingSettings
    >>> s = TrainingSettings(activation="sigmoid", batch_norm=False)
    >>> s.model_options()
    {'activation': 'sigmoid', 'kernel_initializer': None, 'batch_norm': False}
    >>> TrainingSettings.from_json(s.to_json()) == s
    True
    """

    learning_rate: float | None = None
    optimizer: str | None = None
    clipnorm: float | None = None
    standardize: bool = True
    activation: str = "relu"
    kernel_initializer: str | None = None
    batch_norm: bool = True

    def __post_init__(self) -> None:
        if self.learning_rate is not None:
            check_learning_rate("learning_rate", self.learning_rate)
            object.__setattr__(self, "learning_rate", float(self.learning_rate))
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Argument `optimizer` must be None or one of {list(OPTIMIZERS)}."
                             f" {received(optimizer=self.optimizer)}")
        if self.clipnorm is not None:
            check_number("clipnorm", self.clipnorm, low=0, low_inclusive=False)
            object.__setattr__(self, "clipnorm", float(self.clipnorm))
        check_bool("standardize", self.standardize)
        check_bool("batch_norm", self.batch_norm)
        from keras_recipes.models import ACTIVATIONS  # imports Keras: only when one is made

        if self.activation not in ACTIVATIONS:
            raise ValueError(f"Argument `activation` must be one of {list(ACTIVATIONS)}. "
                             f"{received(activation=self.activation)}")
        if self.kernel_initializer is not None and not isinstance(self.kernel_initializer,
                                                                  str):
            raise ValueError("Argument `kernel_initializer` must be None or a Keras "
                             f"initializer name. "
                             f"{received(kernel_initializer=self.kernel_initializer)}")
        object.__setattr__(self, "standardize", bool(self.standardize))
        object.__setattr__(self, "batch_norm", bool(self.batch_norm))

    def replace(self, **changes: Any) -> TrainingSettings:
        """A checked copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def model_options(self) -> dict[str, Any]:
        """The keyword arguments of a preset builder (:func:`~keras_recipes.models.build_model`).

        Pass them to the library's own networks only: a user's network cannot be rewritten.
        """
        return {"activation": self.activation, "kernel_initializer": self.kernel_initializer,
                "batch_norm": self.batch_norm}

    def configure_optimizer(self, optimizer: Any) -> Any:
        """``optimizer`` with this clipping: a copy built from its config with
        ``clipnorm`` set (and ``clipvalue``/``global_clipnorm`` cleared, since Keras takes one
        of them), or ``optimizer`` itself when ``clipnorm`` is ``None``. Call it before
        ``compile``. A learning-rate schedule goes along in the config.

        Example:

        >>> import keras
        >>> from keras_recipes.workflows.repair import TrainingSettings
        >>> opt = TrainingSettings(clipnorm=1.0).configure_optimizer(keras.optimizers.Adam(0.01))
        >>> opt.clipnorm, round(float(opt.learning_rate), 4)
        (1.0, 0.01)
        """
        if self.clipnorm is None:
            return optimizer
        config = {**optimizer.get_config(), "clipnorm": self.clipnorm, "clipvalue": None,
                  "global_clipnorm": None}
        return type(optimizer).from_config(config)

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON-safe dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainingSettings:
        """Settings from :meth:`to_json`'s dict (checked: it may come from a run folder).

        Raises:
            ValueError: not a dict, an unknown key or a bad value.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"Training settings must be a dict. {received(data=data)}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown training settings: {unknown}. Allowed: {sorted(known)}.")
        return cls(**dict(data))


def _shown(name: str, value: Any) -> str:
    if value is None:
        return {"learning_rate": "the stage's pick", "optimizer": "the stage's own",
                "clipnorm": "none", "kernel_initializer": "default (He)"}.get(name, "None")
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def describe_change(before: TrainingSettings, after: TrainingSettings) -> str:
    """``"activation: sigmoid → relu; kernel_initializer: glorot_uniform → he_uniform"``.

    Example:

    >>> from keras_recipes.workflows.repair import TrainingSettings, describe_change
    >>> describe_change(TrainingSettings(), TrainingSettings(clipnorm=1.0))
    'clipnorm: none → 1'
    """
    parts = [f"{f.name}: {_shown(f.name, getattr(before, f.name))} → "
             f"{_shown(f.name, getattr(after, f.name))}"
             for f in dataclasses.fields(TrainingSettings)
             if getattr(before, f.name) != getattr(after, f.name)]
    return "; ".join(parts) or "nothing"


# ---------------------------------------------------------------- remedies


class Remedy:
    """One remedy: its name, what it changes, and whether it changes the architecture.

    Use the instances of :data:`REMEDIES` (looked up by :func:`plan_repair`); a remedy is
    stateless and applies to :class:`TrainingSettings`.

    Args:
        name: a stable short identifier, e.g. ``"clip_gradients"``.
        changes: what it changes, one phrase for a person.
        changes_architecture: whether the network itself changes (activation,
            initialisation, BatchNorm); a user's network gets only the others.
        target: the settings it sets.
        when: ``settings -> bool``: whether the remedy would change anything (an activation
            remedy does nothing to a ReLU network).

    Example:

    >>> from keras_recipes.workflows.repair import REMEDIES, TrainingSettings
    >>> clip = REMEDIES["clip_gradients"]
    >>> clip.changes_architecture, clip.apply(TrainingSettings()).clipnorm
    (False, 1.0)
    """

    #: A remedy that may be applied again in the second repair (the rate remedies).
    repeatable = False

    def __init__(self, name: str, changes: str, changes_architecture: bool,
                 target: Mapping[str, Any] | None = None,
                 when: Callable[[TrainingSettings], bool] | None = None) -> None:
        self.name = name
        self.changes = changes
        self.changes_architecture = bool(changes_architecture)
        self._target = dict(target or {})
        self._when = when

    def __repr__(self) -> str:
        return f"Remedy({self.name!r})"

    def applies_to(self, settings: TrainingSettings, *,
                   reference_rate: float | None = None) -> bool:
        """Whether applying the remedy would change ``settings``."""
        if self._when is not None and not self._when(settings):
            return False
        return any(getattr(settings, k) != v for k, v in self._target.items())

    def apply(self, settings: TrainingSettings, *, range_test: RangeTest | None = None,
              reference_rate: float | None = None) -> TrainingSettings:
        """The settings with the remedy applied.

        Args:
            settings: the settings that failed.
            range_test: a :data:`RangeTest` for the rate remedies (see :func:`range_test`);
                others ignore it. Defaults to ``None``.
            reference_rate: the rate the failed run trained at, when ``settings`` left the
                pick to the stage (``learning_rate=None``). Defaults to ``None``.
        """
        return self.apply_with_note(settings, range_test=range_test,
                                    reference_rate=reference_rate)[0]

    def apply_with_note(self, settings: TrainingSettings, *,
                        range_test: RangeTest | None = None,
                        reference_rate: float | None = None) -> tuple[TrainingSettings, str]:
        """:meth:`apply`, and one line saying what changed (and how a rate was chosen)."""
        after = settings.replace(**self._target)
        return after, describe_change(settings, after)


class _RateRemedy(Remedy):
    """Lower (``direction=-1``) or raise (``+1``) the rate, with a new range test.

    The failed rate ``r`` is the settings' ``learning_rate``, else the rate the failed run
    used, else :data:`FALLBACK_RATE`. With a range test, the network sweeps
    ``[r / 10⁴, r]`` (lower) or ``[r, r · 10⁴]`` (raise) and its suggestion is kept within
    one to three decades of ``r``: ``[r / 1000, r / 10]`` or ``[10 r, 1000 r]``. Without
    one, or when it suggests nothing, the rate moves by one decade. The result stays within
    ``[1e-7, 10]``.
    """

    repeatable = True

    def __init__(self, name: str, changes: str, direction: int) -> None:
        super().__init__(name, changes, changes_architecture=False)
        self.direction = direction

    def _reference(self, settings: TrainingSettings, reference_rate: float | None) -> float:
        for rate in (settings.learning_rate, reference_rate):
            if rate is not None and math.isfinite(rate) and rate > 0:
                return float(rate)
        return FALLBACK_RATE

    def applies_to(self, settings: TrainingSettings, *,
                   reference_rate: float | None = None) -> bool:
        rate = self._reference(settings, reference_rate)
        return rate / RATE_STEP >= MIN_RATE if self.direction < 0 else \
            rate * RATE_STEP <= MAX_RATE

    def apply_with_note(self, settings: TrainingSettings, *,
                        range_test: RangeTest | None = None,
                        reference_rate: float | None = None) -> tuple[TrainingSettings, str]:
        rate = self._reference(settings, reference_rate)
        up = self.direction > 0
        near, far = (rate * RATE_STEP, rate * RATE_SPAN) if up else \
            (rate / RATE_SPAN, rate / RATE_STEP)
        step = "×" if up else "÷"
        how = f"{step}{RATE_STEP:g}, no range test"
        new = rate * RATE_STEP if up else rate / RATE_STEP
        if range_test is not None:
            low, high = (rate, rate * SWEEP_SPAN) if up else (rate / SWEEP_SPAN, rate)
            low, high = max(low, MIN_RATE / 10), min(high, MAX_RATE * 10)
            suggestion = finite(range_test(settings.replace(learning_rate=rate), low, high))
            if suggestion is not None and suggestion > 0:
                new = min(max(suggestion, near), far)
                how = (f"range test on [{low:.3g}, {high:.3g}] suggests {suggestion:.3g}, "
                       f"kept within [{near:.3g}, {far:.3g}]")
            else:
                how = f"range test on [{low:.3g}, {high:.3g}] suggests nothing: {step}" \
                      f"{RATE_STEP:g}"
        new = min(max(new, MIN_RATE), MAX_RATE)
        after = settings.replace(learning_rate=new)
        before = settings.replace(learning_rate=rate) if settings.learning_rate is None \
            else settings
        return after, f"{describe_change(before, after)} ({how})"


def _not(field: str, values: Iterable[Any]) -> Callable[[TrainingSettings], bool]:
    values = tuple(values)
    return lambda s: getattr(s, field) not in values


def _is(field: str, values: Iterable[Any]) -> Callable[[TrainingSettings], bool]:
    values = tuple(values)
    return lambda s: getattr(s, field) in values


def _he_missing(settings: TrainingSettings) -> bool:
    return settings.activation in RELU_FAMILY and settings.kernel_initializer not in (
        None, *HE_INITIALIZERS)


#: Every remedy, by name.
REMEDIES: dict[str, Remedy] = {r.name: r for r in (
    _RateRemedy("lower_rate", "learning rate lowered, with a new range test", -1),
    _RateRemedy("raise_rate", "learning rate raised, with a new range test", +1),
    Remedy("standardize_inputs", "inputs standardised with the training split's statistics",
           False, {"standardize": True}),
    Remedy("clip_gradients", f"gradients clipped to norm {CLIPNORM:g} (clipnorm)", False,
           {"clipnorm": CLIPNORM}, when=lambda s: s.clipnorm is None or s.clipnorm > CLIPNORM),
    Remedy("adam_optimizer", "Adam instead of SGD or RMSprop", False, {"optimizer": "adam"},
           when=_is("optimizer", ("sgd", "rmsprop"))),
    Remedy("he_init", "He initialisation for the ReLU layers", True,
           {"kernel_initializer": "he_uniform"}, when=_he_missing),
    Remedy("batch_norm", "BatchNormalization after each hidden layer", True,
           {"batch_norm": True}),
    Remedy("relu_activation", "ReLU with He initialisation instead of a saturating "
           "activation", True, {"activation": "relu", "kernel_initializer": "he_uniform"},
           when=_is("activation", SATURATING)),
    Remedy("leaky_relu", "LeakyReLU instead of ReLU (dead units)", True,
           {"activation": "leaky_relu"}, when=_is("activation", ("relu",))),
)}

#: Finding code → remedies to try, in order. The codes are in priority order: when a run
#: has several findings, the first one listed here with a remedy that applies is answered.
#: Measurements of one layer (saturated units, vanishing gradients) come before the loss
#: curve's ``exploding_loss``, which a flat run at ln C can also show; ``exploding_loss``
#: comes before ``dead_units``, which a diverging rate also causes.
CATALOGUE: dict[str, tuple[str, ...]] = {
    "inputs_not_normalised": ("standardize_inputs",),
    "nonfinite_loss": ("standardize_inputs", "lower_rate", "clip_gradients"),
    "exploding_gradients": ("clip_gradients", "lower_rate", "batch_norm"),
    "saturated_units": ("relu_activation", "batch_norm", "standardize_inputs"),
    "vanishing_gradients": ("relu_activation", "he_init", "batch_norm"),
    "exploding_loss": ("standardize_inputs", "lower_rate", "clip_gradients"),
    "initial_loss": ("standardize_inputs", "batch_norm"),
    "dead_units": ("he_init", "batch_norm", "leaky_relu", "lower_rate"),
    "oscillating_loss": ("lower_rate",),
    "update_ratio_low": ("raise_rate", "adam_optimizer"),
    "flat_loss": ("raise_rate", "adam_optimizer"),
    "loss_plateau": ("raise_rate", "adam_optimizer"),
    "underfitting": ("raise_rate", "adam_optimizer"),
}


# ---------------------------------------------------------------- planning


@dataclasses.dataclass(frozen=True)
class RepairPlan:
    """What :func:`plan_repair` decided.

    Attributes:
        remedy: the remedy to apply, or ``None``.
        finding_code: the finding it answers (``None`` when no finding has a remedy).
        skipped: names of the architecture remedies that the findings called for but that
            a user's network cannot take, in order, each once.
        reason: why ``remedy`` is ``None`` (empty otherwise).
    """

    remedy: Remedy | None
    finding_code: str | None
    skipped: tuple[str, ...] = ()
    reason: str = ""


def _code(finding: Any) -> str:
    if isinstance(finding, str):
        return finding
    if isinstance(finding, Mapping):
        code = finding.get("code")
    else:
        code = getattr(finding, "code", None)
    if not isinstance(code, str):
        raise ValueError("Each finding must be a Finding, a dict with a 'code' or a code. "
                         f"{received(finding=finding)}")
    return code


def _codes(findings: Any) -> list[str]:
    if findings is None:
        return []
    if isinstance(findings, str | Mapping) or hasattr(findings, "code"):
        findings = [findings]
    return [_code(f) for f in findings]


def plan_repair(
    findings: Any,
    settings: TrainingSettings,
    *,
    rewritable: bool,
    attempt: int = 1,
    tried: Sequence[str] = (),
    reference_rate: float | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> RepairPlan:
    """The remedy to apply after a failed stage, and those a user's network cannot take.

    Use it to decide a repair by hand; :func:`run_with_repair` calls it between attempts.
    The findings are ranked by :data:`CATALOGUE`'s order; for each, its remedies are tried
    in order and the first that would change ``settings`` is chosen, a remedy of ``tried``
    only if it is a rate remedy (rates may move twice) and no other applies. A user's
    network (``rewritable=False``) gets only the remedies that leave the architecture alone
    (rate, optimizer, clipping, inputs); the others are listed in ``skipped``, for every
    finding given, whether or not a remedy was found.

    Args:
        findings: a :class:`~keras_recipes.diagnostics.Finding`, or anything with a
            ``code`` such as the watchdog's ``stop_reason``; a list of them (the doctor's
            reading, with the watchdog's stop); dicts with a ``"code"`` (from
            ``summary.json``); codes; or ``None``.
        settings: the settings of the failed attempt.
        rewritable: ``True`` for a network the library builds (a preset); ``False`` for a
            user's network.
        attempt: the number of the repair about to be made, from 1. Defaults to ``1``.
        tried: names of the remedies already applied to this stage. Defaults to ``()``.
        reference_rate: the rate the failed run used, when ``settings.learning_rate`` is
            ``None``. Defaults to ``None``.
        max_attempts: repairs allowed per stage. Defaults to :data:`MAX_ATTEMPTS`.

    Returns:
        A :class:`RepairPlan`.

    Example:

    >>> from keras_recipes.workflows.repair import TrainingSettings, plan_repair
    >>> sigmoid = TrainingSettings(activation="sigmoid", kernel_initializer="glorot_uniform")
    >>> plan_repair("saturated_units", sigmoid, rewritable=True).remedy
    Remedy('relu_activation')
    >>> plan = plan_repair("saturated_units", TrainingSettings(standardize=False),
    ...                    rewritable=False)
    >>> plan.remedy, plan.skipped
    (Remedy('standardize_inputs'), ('relu_activation', 'batch_norm'))
    """
    check_bool("rewritable", rewritable)
    check_number("attempt", attempt, low=1, integer=True)
    check_number("max_attempts", max_attempts, low=0, integer=True)
    if not isinstance(settings, TrainingSettings):
        raise ValueError(f"Argument `settings` must be a TrainingSettings. "
                         f"{received(settings=settings)}")
    tried = tuple(tried)
    unknown = [name for name in tried if name not in REMEDIES]
    if unknown:
        raise ValueError(f"Argument `tried` must name remedies of {sorted(REMEDIES)}. "
                         f"{received(tried=list(tried))}")
    codes = _codes(findings)
    known = sorted({c for c in codes if c in CATALOGUE}, key=list(CATALOGUE).index)
    skipped: list[str] = []
    if not rewritable:
        for code in known:
            skipped += [n for n in CATALOGUE[code]
                        if REMEDIES[n].changes_architecture and n not in skipped]
    skipped_t = tuple(skipped)
    if not known:
        reason = ("no finding to repair" if not codes else
                  f"no known remedy for {', '.join(dict.fromkeys(codes))}")
        return RepairPlan(None, codes[0] if codes else None, skipped_t, reason)
    if attempt > max_attempts:
        return RepairPlan(None, known[0], skipped_t,
                          f"the {max_attempts} repair(s) allowed per stage are used up")

    def allowed(name: str) -> bool:
        remedy = REMEDIES[name]
        return (rewritable or not remedy.changes_architecture) and remedy.applies_to(
            settings, reference_rate=reference_rate)

    for again in (False, True):
        for code in known:
            for name in CATALOGUE[code]:
                if (name in tried) == again and allowed(name) and (
                        not again or REMEDIES[name].repeatable):
                    return RepairPlan(REMEDIES[name], code, skipped_t)
    where = "" if rewritable else " that a user's network can take"
    return RepairPlan(None, known[0], skipped_t,
                      f"no remedy{where} left for {', '.join(known)}")


# ---------------------------------------------------------------- attempts and their log


@dataclasses.dataclass(frozen=True)
class StageOutcome:
    """What one training of a stage gives back to :func:`run_with_repair`.

    Attributes:
        gate_value: the gate's metric (``None`` when not finite).
        passed: whether the gate passed.
        findings: the watchdog's finding or the doctor's (see :func:`plan_repair`).
        learning_rate: the rate the stage trained at, the reference of a rate remedy when
            the settings left the pick to the stage. Defaults to ``None``.
    """

    gate_value: float | None
    passed: bool
    findings: Any = ()
    learning_rate: float | None = None

    @classmethod
    def of(cls, value: Any) -> StageOutcome:
        """A :class:`StageOutcome` from itself or a tuple ``(gate_value, passed,
        findings[, learning_rate])``."""
        if isinstance(value, StageOutcome):
            return value
        if isinstance(value, tuple) and len(value) in (3, 4):
            return cls(*value)
        raise ValueError("Argument `train_stage` must return a StageOutcome or a tuple "
                         "(gate_value, passed, findings[, learning_rate]). "
                         f"Received: {value!r}")


@dataclasses.dataclass(frozen=True)
class RepairAttempt:
    """One training of a stage in a repair log.

    Attempt 0 is the stage as configured; attempt ``k ≥ 1`` follows the ``k``-th remedy.

    Attributes:
        attempt: its number, from 0.
        remedy: the remedy applied before it (``None`` for attempt 0).
        change: what the remedy changed, with how a new rate was chosen.
        gate_value: the gate's value after it (``None`` when not finite).
        passed: whether the gate passed.
        finding_code: the finding of this attempt that the next repair answers (or the
            first finding when none has a remedy); ``None`` when there was none.
        skipped_remedies: remedies this attempt's findings called for that a user's
            network cannot take.
    """

    attempt: int
    remedy: str | None
    change: str
    gate_value: float | None
    passed: bool
    finding_code: str | None = None
    skipped_remedies: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The attempt as a JSON-safe dict."""
        return {"attempt": self.attempt, "remedy": self.remedy, "change": self.change,
                "gate_value": finite(self.gate_value), "passed": self.passed,
                "finding_code": self.finding_code,
                "skipped_remedies": list(self.skipped_remedies)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RepairAttempt:
        """An attempt from :meth:`to_json`'s dict, checked (it may come from a run folder).

        Raises:
            ValueError: not a dict, a missing key or a value of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"A repair attempt must be a dict. {received(data=data)}")
        missing = [k for k in ("attempt", "remedy", "change", "gate_value", "passed")
                   if k not in data]
        if missing:
            raise ValueError(f"A repair attempt lacks {missing}. {received(data=dict(data))}")
        attempt = check_number("attempt", data["attempt"], low=0, integer=True)
        skipped = data.get("skipped_remedies", [])
        checks = {"remedy": _optional_str(data["remedy"]),
                  "change": isinstance(data["change"], str),
                  "gate_value": data["gate_value"] is None or (
                      isinstance(data["gate_value"], int | float)
                      and not isinstance(data["gate_value"], bool)),
                  "passed": isinstance(data["passed"], bool),
                  "finding_code": _optional_str(data.get("finding_code")),
                  "skipped_remedies": isinstance(skipped, list | tuple)
                  and all(isinstance(s, str) for s in skipped)}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"A repair attempt has a bad {bad[0]!r}. "
                             f"{received(**{bad[0]: data.get(bad[0])})}")
        return cls(int(attempt), data["remedy"], data["change"],
                   finite(data["gate_value"]), data["passed"], data.get("finding_code"),
                   tuple(skipped))


def _optional_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


@dataclasses.dataclass(frozen=True)
class RepairLog:
    """The attempts of one stage under :func:`run_with_repair`, and where they ended.

    Attributes:
        attempts: the :class:`RepairAttempt` rows, attempt 0 first.
        settings: the settings of the last attempt (those a next stage should keep).
        stop_reason: why the repair stopped, one sentence.
    """

    attempts: tuple[RepairAttempt, ...]
    settings: TrainingSettings
    stop_reason: str

    @property
    def passed(self) -> bool:
        """Whether the last attempt passed its gate."""
        return bool(self.attempts) and self.attempts[-1].passed

    @property
    def repaired(self) -> bool:
        """Whether a remedy turned a failed gate into a passed one."""
        return self.passed and len(self.attempts) > 1

    def __iter__(self):
        return iter(self.attempts)

    def __len__(self) -> int:
        return len(self.attempts)

    def to_json(self) -> dict[str, Any]:
        """The log as a JSON-safe dict (for a run's ``summary.json``)."""
        return {"attempts": [a.to_json() for a in self.attempts],
                "settings": self.settings.to_json(), "passed": self.passed,
                "stop_reason": self.stop_reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RepairLog:
        """A log from :meth:`to_json`'s dict, checked.

        Raises:
            ValueError: a malformed log.
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("attempts"), list) \
                or not isinstance(data.get("stop_reason"), str) or "settings" not in data:
            raise ValueError("A repair log must be a dict with a list of 'attempts', its "
                             f"'settings' and a 'stop_reason'. {received(data=data)}")
        attempts = tuple(RepairAttempt.from_json(a) for a in data["attempts"])
        return cls(attempts, TrainingSettings.from_json(data["settings"]), data["stop_reason"])


def run_with_repair(
    train_stage: Callable[[TrainingSettings], Any],
    settings: TrainingSettings,
    *,
    rewritable: bool = True,
    max_attempts: int = MAX_ATTEMPTS,
    range_test: RangeTest | None = None,
    on_repair: Callable[[str], None] | None = None,
) -> RepairLog:
    """Train a stage; while its gate fails with a finding that has a remedy, repair and
    train it again, at most ``max_attempts`` times.

    Use it inside a workflow with ``repair=True``: ``train_stage`` trains the stage from
    scratch with the settings it is given and returns its gate and findings. Each failed
    attempt is planned with :func:`plan_repair` (remedies already applied are not repeated,
    except a rate moving again); the remedy is applied with ``range_test`` for a rate.

    Args:
        train_stage: ``settings -> StageOutcome`` (or ``(gate_value, passed, findings[,
            learning_rate])``): train the stage with these settings.
        settings: the stage's settings as configured.
        rewritable: ``False`` for a user's network (see :func:`plan_repair`). Defaults to
            ``True``.
        max_attempts: repairs allowed, ``0`` to train once. Defaults to
            :data:`MAX_ATTEMPTS` (2).
        range_test: the rate remedies' range test (see :func:`range_test`); ``None`` moves
            a rate by one decade. Defaults to ``None``.
        on_repair: called with one line before each repaired attempt (for progress).
            Defaults to ``None``.

    Returns:
        A :class:`RepairLog`.

    Example:

    >>> from keras_recipes.workflows.repair import TrainingSettings, run_with_repair
    >>> def train(settings):  # a stage whose gate passes once inputs are standardised
    ...     if settings.standardize:
    ...         return 0.95, True, []
    ...     return 0.3, False, ["inputs_not_normalised"]
    >>> log = run_with_repair(train, TrainingSettings(standardize=False))
    >>> [(a.remedy, a.passed) for a in log], log.repaired
    ([(None, False), ('standardize_inputs', True)], True)
    """
    if not callable(train_stage):
        raise ValueError(f"Argument `train_stage` must be callable. "
                         f"{received(train_stage=train_stage)}")
    check_bool("rewritable", rewritable)
    check_number("max_attempts", max_attempts, low=0, integer=True)
    if not isinstance(settings, TrainingSettings):
        raise ValueError(f"Argument `settings` must be a TrainingSettings. "
                         f"{received(settings=settings)}")
    attempts: list[RepairAttempt] = []
    tried: list[str] = []
    remedy_name, change = None, ""
    while True:
        outcome = StageOutcome.of(train_stage(settings))
        passed = bool(outcome.passed)
        plan = plan_repair(outcome.findings, settings, rewritable=rewritable,
                           attempt=len(attempts) + 1, tried=tried,
                           reference_rate=outcome.learning_rate, max_attempts=max_attempts)
        codes = _codes(outcome.findings)
        attempts.append(RepairAttempt(
            len(attempts), remedy_name, change, finite(outcome.gate_value), passed,
            plan.finding_code if plan.finding_code is not None else (codes[0] if codes
                                                                     else None),
            plan.skipped))
        if passed:
            done = len(attempts) - 1
            reason = ("the gate passed" if not done else
                      f"the gate passed after {done} repair(s)")
            return RepairLog(tuple(attempts), settings, reason)
        if plan.remedy is None:
            return RepairLog(tuple(attempts), settings, f"the gate failed: {plan.reason}")
        settings, change = plan.remedy.apply_with_note(
            settings, range_test=range_test, reference_rate=outcome.learning_rate)
        remedy_name = plan.remedy.name
        tried.append(remedy_name)
        if on_repair is not None:
            on_repair(f"repair {len(attempts)}/{max_attempts}: {plan.finding_code} → "
                      f"{remedy_name} ({change})")


# ---------------------------------------------------------------- the report


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def repair_table(log: RepairLog | Sequence[RepairAttempt], metric: str = "gate") -> str:
    """The attempts as a short Markdown table, then what could not be applied and why the
    repair stopped.

    Args:
        log: a :class:`RepairLog` (or its attempts).
        metric: the gate's metric, for the column header. Defaults to ``"gate"``.

    Example:

    >>> from keras_recipes.workflows.repair import RepairAttempt, repair_table
    >>> print(repair_table([RepairAttempt(0, None, "", 0.5, False, "flat_loss"),
    ...                     RepairAttempt(1, "raise_rate", "learning_rate: 0.0001 → 0.001",
    ...                                   0.93, True)], metric="val_accuracy"))
    | attempt | remedy | what changed | val_accuracy | finding |
    |---|---|---|---|---|
    | 0 | as configured |  | 0.5 (failed) | flat_loss |
    | 1 | raise_rate | learning_rate: 0.0001 → 0.001 | 0.93 (passed) |  |
    """
    attempts = list(log.attempts if isinstance(log, RepairLog) else log)
    lines = [f"| attempt | remedy | what changed | {_cell(metric)} | finding |",
             "|---|---|---|---|---|"]
    for a in attempts:
        value = "nan" if a.gate_value is None else f"{a.gate_value:.4g}"
        lines.append(f"| {a.attempt} | {_cell(a.remedy or 'as configured')} | "
                     f"{_cell(a.change)} | {value} ({'passed' if a.passed else 'failed'}) | "
                     f"{_cell(a.finding_code or '')} |")
    skipped = list(dict.fromkeys(s for a in attempts for s in a.skipped_remedies))
    if skipped:
        lines += ["", "Not applied, since the network is the user's own and cannot be "
                  f"rewritten: {', '.join(_cell(s) for s in skipped)}."]
    if isinstance(log, RepairLog):
        lines += ["", f"Repair: {_cell(log.stop_reason)}."]
    return "\n".join(lines)


# ---------------------------------------------------------------- the rate remedies' test


def range_test(
    build: Callable[[TrainingSettings], Any],
    x: Any,
    y: Any = None,
    *,
    batch_size: int = 32,
    num_steps: int = 100,
    seed: int = 0,
    rule: str = "combined",
    smoothing: float = 0.9,
) -> RangeTest:
    """A :data:`RangeTest` that runs :func:`keras_recipes.lr_finder.find_lr` on a fresh
    network.

    Args:
        build: ``settings -> compiled keras.Model``: the stage's network and optimizer for
            these settings (the rate does not matter: the test sets it).
        x, y: the stage's training inputs and labels.
        batch_size: the stage's batch size. Defaults to ``32``.
        num_steps: steps of the sweep (at least 10). Defaults to ``100``.
        seed: the seed of the network's weights and of the batches. Defaults to ``0``.
        rule: the suggestion rule (see ``find_lr``'s ``suggest``). Defaults to
            ``"combined"``.
        smoothing: the EMA factor of the loss. Defaults to ``0.9`` (the workflows').

    Returns:
        ``(settings, min_lr, max_lr) -> suggestion or None``.
    """
    check_number("num_steps", num_steps, low=10, integer=True)
    check_number("batch_size", batch_size, low=1, integer=True)

    def test(settings: TrainingSettings, min_lr: float, max_lr: float) -> float | None:
        import keras

        from keras_recipes.lr_finder import find_lr

        keras.utils.set_random_seed(seed)
        model = build(settings)
        result = find_lr(model, x, y, min_lr=min_lr, max_lr=max_lr, num_steps=num_steps,
                         batch_size=batch_size, seed=seed, smoothing=smoothing, suggest=rule)
        return result.suggestion

    return test
