"""Suggestion rules on synthetic curves whose answer is known by hand or in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from keras_recipes.lr_finder import SUGGESTION_RULES, combined, minimum, steepest, valley
from keras_recipes.lr_finder.suggestions import MIN_POINTS, suggest_all, trim


def test_steepest_finds_inflection_of_tanh_curve():
    # L = -tanh((log10 lr + 3) / 0.5): dL/dlog(lr) ∝ -sech², most negative at log10 lr = -3.
    lrs = np.logspace(-6, 0, 61)
    losses = -np.tanh((np.log10(lrs) + 3) / 0.5)
    assert steepest(lrs, losses) == pytest.approx(1e-3, rel=1e-9)


def test_steepest_uses_log_spacing_not_index_spacing():
    # Uneven log spacing: the drop per log unit is largest in the densely sampled stretch
    # 1e-3 → 1.2e-3 (Δloss 1 over Δlog 0.18), not at 1e-2 → 1e-1 (Δloss 3 over Δlog 2.3).
    lrs = np.array([1e-5, 1e-4, 1e-3, 1.2e-3, 1e-2, 1e-1, 1.0])
    losses = np.array([10.0, 9.9, 9.8, 8.8, 8.7, 5.7, 5.6])
    g = np.gradient(losses, np.log(lrs))
    assert steepest(lrs, losses) == lrs[np.argmin(g)]
    assert steepest(lrs, losses) in (1e-3, 1.2e-3)


def test_minimum_is_lr_at_lowest_loss_over_ten():
    lrs = np.logspace(-5, 0, 11)  # half-decade steps; the parabola bottoms at 1e-2
    assert minimum(lrs, (np.log10(lrs) + 2) ** 2) == pytest.approx(1e-3)


def test_valley_middle_of_longest_descent():
    # Longest decreasing run: indices 0..9; k = 3 → index 0 + 3 + 1 = 4.
    lrs = np.logspace(-6, 0, 13)
    losses = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 4, 8, 9]
    assert valley(lrs, losses) == lrs[4]


def test_valley_tolerates_bumps_and_counts_from_true_start():
    lrs = np.logspace(-6, 0, 10)
    # Longest decreasing subsequence 5, 4, 3, 2, 1, 0.5 at indices 0, 1, 3, 4, 5, 7 (the
    # bumps 4.5 and 1.5 are skipped): s = 0, e = 7, k = 7/3 → index 0 + 2 + 1 = 3.
    assert valley(lrs, [5, 4, 4.5, 3, 2, 1, 1.5, 0.5, 3, 6]) == lrs[3]
    # Descent 9 … 3 at indices 1..7 after a low first point: s = 1, e = 7, k = 2 → 1 + 2 + 1.
    assert valley(lrs, [1, 9, 8, 7, 6, 5, 4, 3, 5, 9]) == lrs[4]


def test_combined_is_geometric_mean_of_knee_and_minimum():
    # L_0 = 5, minimum 1.0 at 1e-2; knee level 1.0 + 0.1·(5 − 1) = 1.4, first reached at
    # 1e-3 (1.2). Pick √(1e-3 · 1e-2 / 10) = 1e-3.
    lrs = np.logspace(-5, 0, 6)
    assert combined(lrs, [5.0, 4.0, 1.2, 1.0, 1.1, 3.0]) == pytest.approx(1e-3, rel=1e-12)


def test_combined_moves_half_as_far_as_minimum_on_a_flat_noisy_bottom():
    # Two dips on a flat bottom, at 1e-2 and at 1: which one is lowest is noise.
    lrs = np.logspace(-5, 1, 7)
    far = [5.0, 4.0, 1.3, 1.05, 1.1, 1.0, 3.0]  # minimum at 1; knee 1.0 + 0.4 → 1e-3
    near = [5.0, 4.0, 1.3, 0.95, 1.1, 1.0, 3.0]  # minimum at 1e-2; knee 0.95 + 0.405 → 1e-3
    assert minimum(lrs, far) / minimum(lrs, near) == pytest.approx(100.0)
    assert combined(lrs, far) == pytest.approx(np.sqrt(1e-3 * 1.0 / 10), rel=1e-12)
    assert combined(lrs, near) == pytest.approx(np.sqrt(1e-3 * 1e-2 / 10), rel=1e-12)
    assert combined(lrs, far) / combined(lrs, near) == pytest.approx(10.0)


def test_combined_without_descent_is_first_rate_over_root_ten():
    # The loss only rises: minimum and knee are both the first point, √(lr_0² / 10).
    lrs = np.logspace(-4, 0, 9)
    assert combined(lrs, np.linspace(1.0, 3.0, 9)) == pytest.approx(1e-4 / np.sqrt(10))


@pytest.mark.parametrize("rule", sorted(SUGGESTION_RULES))
def test_non_finite_points_are_ignored(rule):
    lrs = np.logspace(-6, 0, 25)
    losses = (np.log10(lrs) + 2.5) ** 2
    holed = losses.copy()
    holed[[3, 11]] = [np.nan, np.inf]
    keep = np.isfinite(holed)
    fn = SUGGESTION_RULES[rule]
    assert fn(lrs, holed) == fn(lrs[keep], losses[keep])


@pytest.mark.parametrize("rule", sorted(SUGGESTION_RULES))
def test_too_few_finite_points_gives_none_with_warning(rule):
    lrs = np.logspace(-3, 0, MIN_POINTS + 2)
    losses = np.full(lrs.shape, np.nan)
    losses[:MIN_POINTS - 1] = [4.0, 3.0, 2.0, 1.0]
    with pytest.warns(RuntimeWarning, match="Too few finite points.*" + rule):
        assert SUGGESTION_RULES[rule](lrs, losses) is None


def test_suggest_all_warns_once_and_returns_none_for_every_rule():
    with pytest.warns(RuntimeWarning, match="Too few finite points") as record:
        out = suggest_all([1e-3, 1e-2, 1e-1], [1.0, 0.5, np.nan])
    assert out == {"steepest": None, "minimum": None, "valley": None, "combined": None}
    assert len(record) == 1


def test_bad_curves_raise():
    with pytest.raises(ValueError, match="same length"):
        steepest([1e-3, 1e-2], [1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        valley([1e-3, 1e-2, 1e-2, 1e-1, 1.0], [5, 4, 3, 2, 1])


def test_trim_skips_warmup_and_blowup_but_keeps_enough_points():
    assert trim(100) == slice(10, 95)
    assert trim(30) == slice(3, 27)
    assert trim(8) == slice(0, 8)  # trimming would leave fewer than MIN_POINTS
    assert trim(20, skip_start=0, skip_end=0) == slice(0, 20)
