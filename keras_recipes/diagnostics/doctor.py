"""`diagnose`: the training doctor, which reads a run's logs and says what is wrong."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from keras_recipes.diagnostics import curve_rules, probe_rules
from keras_recipes.diagnostics.finding import Finding, sort_findings
from keras_recipes.diagnostics.run_record import RunRecord, as_record

#: Every rule, in report order. Each is ``RunRecord -> list[Finding]``.
RULES: dict[str, Callable[[RunRecord], list[Finding]]] = {
    "nonfinite_or_exploding": curve_rules.nonfinite_or_exploding,
    "initial_loss": curve_rules.initial_loss,
    "flat_loss": curve_rules.flat_loss,
    "overfitting": curve_rules.overfitting,
    "underfitting": curve_rules.underfitting,
    "generalization_gap": curve_rules.generalization_gap,
    "oscillating_loss": curve_rules.oscillating_loss,
    "chance_level": curve_rules.chance_level,
    "dead_units": probe_rules.dead_units,
    "saturated_units": probe_rules.saturated_units,
    "symmetric_units": probe_rules.symmetry,
    "update_ratio": probe_rules.update_ratio,
    "inputs_not_normalised": probe_rules.inputs_not_normalised,
    "class_imbalance": probe_rules.class_imbalance,
    "gradient_depth": probe_rules.gradient_depth,
    "train_inference_mismatch": probe_rules.train_inference_mismatch,
    "output_loss_mismatch": probe_rules.output_loss_mismatch,
    "split_overlap": probe_rules.split_overlap,
    "still_improving": curve_rules.still_improving,
}


def diagnose(history_or_logger: Any, rules: Sequence[str] | None = None) -> list[Finding]:
    """Read a training run and return what looks wrong, with evidence and advice.

    Use it after ``fit``: on the ``History`` it returns (learning-curve rules only) or,
    better, on a :class:`~keras_recipes.diagnostics.DiagnosticLogger` used in that fit
    (every rule). It implements the readings of seed 004 (learning curves) and seed 000
    (information à enregistrer):

    ==============================  ========================================================
    code                            fires when
    ==============================  ========================================================
    ``nonfinite_loss`` (error)      loss or val loss NaN/Inf
    ``exploding_loss`` (error)      an epoch's loss > 10 × max(initial, ln C); or the final
                                    loss > 1.05 × both epoch 1's and ln C; or > 1.5 × its
                                    minimum
    ``initial_loss``                initial probe loss > ln C + 2 max(ln C, 1 nat): logits
                                    several times too large (warning); outside
                                    [ln C / 1.5, 1.5 ln C] otherwise (info, with separate
                                    messages above and below ln C)
    ``flat_loss``                   loss moved < 5 % from epoch 1 over the next ~100 steps,
                                    and epoch 1 is not already 10 % below ln C (else the
                                    initial loss): a run that learned in epoch 1 and settled
                                    is not flat
    ``overfitting``                 val loss ≥ 10 % above its minimum while train loss falls
    ``underfitting``                final loss > 0.1 × ln C, still falling > 1 % of itself
                                    per epoch over the last quarter of the run (≥ 2 epochs,
                                    never all of it: a 2-epoch run, its last epoch), at
                                    ≥ 0.3 × the run's average rate (the curve has
                                    not bent to a floor), with the val loss falling too
    ``loss_plateau`` (info)         final loss between 0.1 and 0.9 × ln C, falling
                                    < 1 %/epoch, val loss within 0.5 ln C of it: noise
                                    floor or a small model
    ``generalization_gap``          train − val accuracy > 0.10 (or loss gap > 0.5 ln C)
    ``oscillating_loss``            train loss rose > 2 % (and > 0.01 ln C) in ≥ 2 and
                                    ≥ 25 % of the epochs
    ``chance_level``                final (val) accuracy < 1.5 / C
    ``dead_units``                  > 50 % of a hidden layer's units zero on every example
    ``saturated_units``             a tanh/sigmoid layer's mean derivative < 10 % of its peak
                                    (tanh: 1 − rms²; sigmoid: (mean − rms²) / ¼)
    ``symmetric_units``             every unit of a layer outputs the same value
    ``update_ratio_high/_low``      per-step ||ΔW||/||W|| > 1e-1 in any record of a layer, or
                                    < 1e-4 in every layer over the first 3 records (median)
                                    of a run that never overshot; the rule of thumb is ~1e-3
    ``inputs_not_normalised``       |x| > 10, std outside [0.05, 5] or |mean| > 3, and no
                                    normalising layer before the first weighted layer;
                                    warning with evidence of harm (NaN/Inf inputs, initial
                                    loss warning, NaN loss, first hidden layer rms > 10,
                                    dead or saturated), else info
    ``class_imbalance``             largest / smallest class count > 3
    ``vanishing_gradients``         grad rms first / last weighted layer < 1e-2 (> 1e2:
                                    ``exploding_gradients``)
    ``train_inference_mismatch``    probe loss in inference mode > 2 × and > 0.1 ln C above
                                    the training-mode loss on the same examples (BatchNorm
                                    moving statistics, dropout)
    ``output_loss_mismatch``        softmax/sigmoid output with from_logits=True, no
                                    probability output with from_logits=False, sigmoid
                                    outputs with a categorical loss, or a one-unit softmax
                                    (error)
    ``split_overlap``               > 5 % of the validation (test) inputs also in the
                                    training inputs (> 1 %: info)
    ``still_improving`` (info)      val loss fell > 1 % in each of the last two epochs
    ==============================  ========================================================

    Args:
        history_or_logger: a ``keras.callbacks.History``, a ``DiagnosticLogger``, a tidy
            DataFrame (``epoch, layer, stat, value``, e.g. a reloaded ``diagnostics.csv``),
            a wide DataFrame or a dict of per-epoch logs.
        rules: names of the rules to run (keys of :data:`RULES`). Defaults to all.

    Returns:
        The findings, errors first, then warnings, then notes.

    Raises:
        ValueError: an unknown source type, logs without ``loss``, ``rules`` that is not a
            list of rule names, or an unknown rule name.

    Example:

    >>> from keras_recipes.diagnostics import diagnose
    >>> logs = {"loss": [2.3, 1.0, 0.5, 0.3, 0.2, 0.1],
    ...         "val_loss": [2.3, 1.1, 0.7, 0.9, 1.2, 1.5]}
    >>> [f.code for f in diagnose(logs)]
    ['overfitting', 'generalization_gap']

    References:
        - A. Karpathy, "A Recipe for Training Neural Networks" (2019),
          http://karpathy.github.io/2019/04/25/recipe/
        - CS231n, "Babysitting the learning process",
          https://cs231n.github.io/neural-networks-3/
    """
    if rules is not None and (isinstance(rules, (str, bytes)) or not isinstance(
            rules, (list, tuple, set, frozenset)) or not all(isinstance(r, str) for r in rules)):
        raise ValueError("Argument `rules` must be a list of rule names (keys of RULES) or "
                         f"None. Received: rules={rules!r}")
    names = list(RULES) if rules is None else list(rules)
    unknown = [n for n in names if n not in RULES]
    if unknown:
        raise ValueError(f"Argument `rules` must name rules among {sorted(RULES)}. "
                         f"Received: rules={names}")
    record = as_record(history_or_logger)
    findings: list[Finding] = []
    for name in names:
        findings.extend(RULES[name](record))
    return sort_findings(findings)
