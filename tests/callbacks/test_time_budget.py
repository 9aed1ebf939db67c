"""TimeBudget: stop when the next epoch would overrun, with a fake clock, then in fit."""

from __future__ import annotations

import copy

import pytest

from keras_recipes.callbacks import StopReason, TimeBudget


class FakeModel:
    stop_training = False


class FakeClock:
    """Returns the queued instants in order."""

    def __init__(self, instants):
        self.instants = list(instants)

    def __call__(self):
        return self.instants.pop(0)


def run(budget, epoch_seconds, start=100.0):
    """Drive ``budget`` through epochs of the given durations; returns epochs run."""
    clock, t = [start], start
    for d in epoch_seconds:
        clock += [t, t + d]  # epoch begin, epoch end
        t += d
    budget._clock = FakeClock(clock)
    model = FakeModel()
    model.stop_training = False
    budget.set_model(model)
    budget.on_train_begin()
    epochs = 0
    for epoch in range(len(epoch_seconds)):
        epochs += 1
        budget.on_epoch_begin(epoch)
        budget.on_epoch_end(epoch)
        if model.stop_training:
            break
    return epochs


def test_stops_before_the_epoch_that_would_overrun():
    # 10 s epochs, 35 s budget: after 3 epochs, 30 s + 10 s > 35 s → stop at 30 s.
    budget = TimeBudget(seconds=35)
    assert run(budget, [10.0] * 6) == 3
    assert budget.stop_reason is StopReason.TIME_BUDGET
    assert budget.stopped_epoch == 2
    assert budget.elapsed == pytest.approx(30.0)
    assert budget.epoch_times == pytest.approx([10.0, 10.0, 10.0])


def test_uses_the_last_epoch_time_so_a_slow_first_epoch_does_not_count():
    # First epoch 20 s (compilation), then 5 s: 20+5=25, 30, 35, 40 ≤ 40 → 45 > 40 stops.
    budget = TimeBudget(seconds=40)
    assert run(budget, [20.0] + [5.0] * 10) == 5
    assert budget.elapsed == pytest.approx(40.0)


def test_safety_factor_and_budget_never_reached():
    budget = TimeBudget(seconds=35, safety_factor=2.0)  # 20 + 2·10 > 35 → stop after 2
    assert run(budget, [10.0] * 6) == 2
    roomy = TimeBudget(seconds=1000)
    assert run(roomy, [10.0] * 4) == 4
    assert roomy.stop_reason is StopReason.NOT_STOPPED


def test_two_runs_deepcopy_config(config_roundtrip):
    budget = TimeBudget(seconds=35)
    run(budget, [10.0] * 6)
    assert run(budget, [1.0] * 5) == 5  # a stale start time would stop at once
    assert budget.stop_reason is StopReason.NOT_STOPPED
    assert copy.deepcopy(budget).get_config() == budget.get_config()
    config_roundtrip(TimeBudget(seconds=60, safety_factor=1.5))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seconds": 0}, "Argument `seconds` must be > 0"),
        ({"seconds": -5}, "Argument `seconds` must be > 0"),
        ({"seconds": 10, "safety_factor": 0}, "Argument `safety_factor` must be > 0"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TimeBudget(**kwargs)


def test_fit_with_a_tiny_budget_runs_one_epoch(tiny_digits, tiny_mlp):
    x, y = tiny_digits
    model = tiny_mlp()
    budget = TimeBudget(seconds=1e-3, verbose=1)
    history = model.fit(x, y, epochs=5, batch_size=100, verbose=0, callbacks=[budget])
    assert len(history.epoch) == 1
    assert budget.stop_reason is StopReason.TIME_BUDGET
    assert budget.elapsed >= budget.epoch_times[0] > 0
