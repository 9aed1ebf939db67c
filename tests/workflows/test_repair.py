"""Repair of a failed stage: remedies, planning, the two-attempt driver, its log and report.

Expected settings are written by hand from the catalogue in docs/repair.md. The end-to-end
tests train tiny Keras networks with a planted fault, read them with the doctor, and check
that ``run_with_repair`` applies the remedy the fault calls for and that the gate then passes.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from keras_recipes.diagnostics import Finding
from keras_recipes.workflows.repair import (
    CATALOGUE,
    REMEDIES,
    RepairAttempt,
    RepairLog,
    StageOutcome,
    TrainingSettings,
    plan_repair,
    repair_table,
    run_with_repair,
)

TS = TrainingSettings

# ---------------------------------------------------------------- each remedy on its finding

CASES = [
    # (finding, settings before, remedy, settings after): one row per path of the catalogue
    ("inputs_not_normalised", TS(standardize=False), "standardize_inputs", TS()),
    ("nonfinite_loss", TS(learning_rate=1.0), "lower_rate", TS(learning_rate=0.1)),
    ("nonfinite_loss", TS(standardize=False, learning_rate=1.0), "standardize_inputs",
     TS(learning_rate=1.0)),
    ("exploding_loss", TS(learning_rate=0.5), "lower_rate", TS(learning_rate=0.05)),
    ("oscillating_loss", TS(learning_rate=3e-3), "lower_rate", TS(learning_rate=3e-4)),
    ("exploding_gradients", TS(), "clip_gradients", TS(clipnorm=1.0)),
    ("exploding_gradients", TS(clipnorm=5.0), "clip_gradients", TS(clipnorm=1.0)),
    ("exploding_gradients", TS(clipnorm=0.5, learning_rate=0.2), "lower_rate",
     TS(clipnorm=0.5, learning_rate=0.02)),
    ("flat_loss", TS(learning_rate=1e-4), "raise_rate", TS(learning_rate=1e-3)),
    ("update_ratio_low", TS(learning_rate=1e-5, optimizer="sgd"), "raise_rate",
     TS(learning_rate=1e-4, optimizer="sgd")),
    # a rate already at 5: ×10 would leave the range test's [1e-7, 10], so another optimizer
    ("update_ratio_low", TS(learning_rate=5.0, optimizer="sgd"), "adam_optimizer",
     TS(learning_rate=5.0, optimizer="adam")),
    ("loss_plateau", TS(learning_rate=2e-4), "raise_rate", TS(learning_rate=2e-3)),
    ("underfitting", TS(learning_rate=1e-3), "raise_rate", TS(learning_rate=1e-2)),
    ("saturated_units", TS(activation="tanh", kernel_initializer="glorot_uniform"),
     "relu_activation", TS(activation="relu", kernel_initializer="he_uniform")),
    ("saturated_units", TS(batch_norm=False), "batch_norm", TS()),
    ("vanishing_gradients", TS(activation="sigmoid", batch_norm=False), "relu_activation",
     TS(kernel_initializer="he_uniform", batch_norm=False)),
    ("vanishing_gradients", TS(kernel_initializer="glorot_normal", batch_norm=False),
     "he_init", TS(kernel_initializer="he_uniform", batch_norm=False)),
    ("vanishing_gradients", TS(batch_norm=False), "batch_norm", TS()),
    ("dead_units", TS(kernel_initializer="glorot_uniform"), "he_init",
     TS(kernel_initializer="he_uniform")),
    ("dead_units", TS(batch_norm=False), "batch_norm", TS()),
    ("dead_units", TS(), "leaky_relu", TS(activation="leaky_relu")),
    ("initial_loss", TS(standardize=False), "standardize_inputs", TS()),
    ("initial_loss", TS(batch_norm=False), "batch_norm", TS()),
]


@pytest.mark.parametrize(("code", "before", "remedy", "after"), CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_each_remedy_on_its_finding(code, before, remedy, after):
    plan = plan_repair(code, before, rewritable=True)
    assert plan.remedy is REMEDIES[remedy]
    assert plan.finding_code == code and plan.skipped == () and plan.reason == ""
    _assert_same(plan.remedy.apply(before), after)


def _assert_same(got: TrainingSettings, expected: TrainingSettings) -> None:
    """Equal settings, the learning rate to float precision."""
    assert got.replace(learning_rate=None) == expected.replace(learning_rate=None)
    if expected.learning_rate is None:
        assert got.learning_rate is None
    else:
        assert got.learning_rate == pytest.approx(expected.learning_rate, rel=1e-9)


def test_every_catalogue_entry_names_known_remedies():
    assert all(name in REMEDIES for names in CATALOGUE.values() for name in names)
    architecture = {n for n, r in REMEDIES.items() if r.changes_architecture}
    assert architecture == {"he_init", "batch_norm", "relu_activation", "leaky_relu"}


def test_a_remedy_already_in_place_is_not_planned():
    plan = plan_repair("inputs_not_normalised", TS(), rewritable=True)
    assert plan.remedy is None and "no remedy left for inputs_not_normalised" in plan.reason
    # He is the baselines' default (None), so He initialisation does not apply to it.
    assert not REMEDIES["he_init"].applies_to(TS())
    assert not REMEDIES["relu_activation"].applies_to(TS())


def test_findings_of_every_form_and_their_priority():
    sigmoid = TS(activation="sigmoid", kernel_initializer="glorot_uniform")
    finding = Finding("warning", "vanishing_gradients", "grads vanish")
    # The doctor's list: flat_loss comes first, but the cause (vanishing gradients) wins.
    for findings in ([Finding("warning", "flat_loss", "flat"), finding],
                     [{"code": "flat_loss"}, {"code": "vanishing_gradients"}],
                     ["chance_level", "flat_loss", "vanishing_gradients"]):
        plan = plan_repair(findings, sigmoid, rewritable=True)
        assert (plan.remedy.name, plan.finding_code) == ("relu_activation",
                                                         "vanishing_gradients")
    assert plan_repair(finding, sigmoid, rewritable=True).remedy.name == "relu_activation"
    # A flat sigmoid run can also end above its first epoch's loss (exploding_loss): the
    # layer measurement wins. A diverging rate kills ReLU units: the rate is answered first.
    assert plan_repair(["exploding_loss", "vanishing_gradients"], sigmoid,
                       rewritable=True).remedy.name == "relu_activation"
    assert plan_repair(["dead_units", "exploding_loss"], TS(learning_rate=10.0),
                       rewritable=True).remedy.name == "lower_rate"
    none = plan_repair(None, sigmoid, rewritable=True)
    assert none.remedy is None and none.reason == "no finding to repair"
    unknown = plan_repair(["chance_level", "overfitting"], sigmoid, rewritable=True)
    assert unknown.remedy is None and unknown.finding_code == "chance_level"
    assert unknown.reason == "no known remedy for chance_level, overfitting"


# ---------------------------------------------------------------- rates


def test_rate_reference_when_the_stage_picked_the_rate():
    lower = REMEDIES["lower_rate"]
    assert lower.apply(TS(), reference_rate=0.02).learning_rate == pytest.approx(0.002)
    assert lower.apply(TS()).learning_rate == pytest.approx(1e-4)  # from Adam's 1e-3
    # The settings' own rate comes first.
    assert lower.apply(TS(learning_rate=0.3), reference_rate=0.02).learning_rate == \
        pytest.approx(0.03)


@pytest.mark.parametrize(("direction", "suggestion", "expected"), [
    ("lower_rate", 0.03, 0.03),  # inside [1/1000, 1/10] of 1.0: kept
    ("lower_rate", 0.5, 0.1),  # less than one decade below: one decade
    ("lower_rate", 1e-6, 1e-3),  # more than three decades below: three
    ("lower_rate", None, 0.1),  # no suggestion: one decade
    ("lower_rate", float("nan"), 0.1),
    ("raise_rate", 40.0, 10.0),  # the [1e-7, 10] bound of any repaired rate
])
def test_rate_remedies_clamp_the_range_test(direction, suggestion, expected):
    calls = []

    def fake_range_test(settings, min_lr, max_lr):
        calls.append((settings.learning_rate, min_lr, max_lr))
        return suggestion

    rate = 1.0 if direction == "lower_rate" else 0.1
    after, note = REMEDIES[direction].apply_with_note(TS(learning_rate=rate),
                                                     range_test=fake_range_test)
    assert after.learning_rate == pytest.approx(expected)
    sweep = (1e-4, 1.0) if direction == "lower_rate" else (0.1, 100.0)
    assert calls == [(rate, pytest.approx(sweep[0]), pytest.approx(sweep[1]))]
    assert note.startswith("learning_rate: ") and "range test" in note


def test_raise_rate_with_a_range_test_inside_its_window():
    after = REMEDIES["raise_rate"].apply(TS(learning_rate=1e-4),
                                         range_test=lambda s, lo, hi: 3e-3)
    assert after.learning_rate == pytest.approx(3e-3)  # within [1e-3, 1e-1]


# ---------------------------------------------------------------- a user's network


def test_a_user_network_gets_only_remedies_that_keep_its_architecture():
    raw = TS(activation="sigmoid", standardize=False)
    plan = plan_repair("saturated_units", raw, rewritable=False)
    assert plan.remedy.name == "standardize_inputs"
    assert plan.skipped == ("relu_activation", "batch_norm")
    stuck = plan_repair("saturated_units", TS(activation="sigmoid"), rewritable=False)
    assert stuck.remedy is None
    assert stuck.reason == "no remedy that a user's network can take left for saturated_units"
    assert stuck.skipped == ("relu_activation", "batch_norm")
    vanishing = plan_repair("vanishing_gradients", TS(), rewritable=False)
    assert vanishing.remedy is None
    assert vanishing.skipped == ("relu_activation", "he_init", "batch_norm")
    dead = plan_repair("dead_units", TS(learning_rate=0.1), rewritable=False)
    assert (dead.remedy.name, dead.skipped) == ("lower_rate",
                                                ("he_init", "batch_norm", "leaky_relu"))
    both = plan_repair(["dead_units", "exploding_gradients"], TS(), rewritable=False)
    assert both.remedy.name == "clip_gradients"
    assert both.skipped == ("batch_norm", "he_init", "leaky_relu")


def test_run_with_repair_on_a_user_network_reports_what_it_could_not_apply():
    seen = []

    def train(settings):
        seen.append(settings)
        return 0.4, False, [Finding("warning", "saturated_units", "flat tails")]

    log = run_with_repair(train, TS(activation="sigmoid", standardize=False),
                          rewritable=False)
    assert [a.remedy for a in log] == [None, "standardize_inputs"]
    assert [s.activation for s in seen] == ["sigmoid", "sigmoid"]
    assert all(a.skipped_remedies == ("relu_activation", "batch_norm") for a in log)
    assert not log.passed
    assert log.stop_reason == ("the gate failed: no remedy that a user's network can take "
                               "left for saturated_units")
    table = repair_table(log)
    assert "cannot be rewritten: relu_activation, batch_norm." in table


# ---------------------------------------------------------------- the driver


def test_at_most_two_repairs():
    calls = []

    def train(settings):
        calls.append(settings.learning_rate)
        return 0.2, False, ["oscillating_loss"]

    log = run_with_repair(train, TS(learning_rate=1.0))
    # The rate may move twice: 1 → 0.1 → 0.01, then no third repair.
    assert calls == pytest.approx([1.0, 0.1, 0.01])
    assert [a.attempt for a in log] == [0, 1, 2]
    assert [a.remedy for a in log] == [None, "lower_rate", "lower_rate"]
    assert log.stop_reason == "the gate failed: the 2 repair(s) allowed per stage are used up"
    assert not log.passed and not log.repaired
    once = run_with_repair(train, TS(learning_rate=1.0), max_attempts=0)
    assert len(once) == 1 and len(calls) == 4
    assert plan_repair("oscillating_loss", TS(), rewritable=True, attempt=3).remedy is None


def test_a_remedy_is_not_repeated_while_another_applies():
    def train(settings):
        return None, False, [Finding("error", "exploding_gradients", "grads explode")]

    messages = []
    log = run_with_repair(train, TS(learning_rate=0.01), on_repair=messages.append)
    assert [a.remedy for a in log] == [None, "clip_gradients", "lower_rate"]
    _assert_same(log.settings, TS(learning_rate=1e-3, clipnorm=1.0))
    assert messages == [
        "repair 1/2: exploding_gradients → clip_gradients (clipnorm: none → 1)",
        "repair 2/2: exploding_gradients → lower_rate (learning_rate: 0.01 → 0.001 "
        "(÷10, no range test))"]


def test_the_driver_stops_when_the_gate_passes_or_nothing_applies():
    outcomes = iter([(0.5, False, ["flat_loss"], 1e-4), StageOutcome(0.97, True, [])])
    log = run_with_repair(lambda s: next(outcomes), TS())
    assert [a.remedy for a in log] == [None, "raise_rate"]
    # The stage picked 1e-4 itself: the repair raises from there.
    assert log.settings.learning_rate == pytest.approx(1e-3)
    assert log.attempts[1].change == ("learning_rate: 0.0001 → 0.001 (×10, no range test)")
    assert log.passed and log.repaired
    assert log.stop_reason == "the gate passed after 1 repair(s)"
    first = run_with_repair(lambda s: (0.99, True, None), TS())
    assert len(first) == 1 and first.passed and not first.repaired
    nothing = run_with_repair(lambda s: (0.3, False, ["chance_level"]), TS())
    assert len(nothing) == 1 and nothing.attempts[0].finding_code == "chance_level"
    assert nothing.stop_reason == "the gate failed: no known remedy for chance_level"


def test_driver_errors():
    with pytest.raises(ValueError, match="must return a StageOutcome or a tuple"):
        run_with_repair(lambda s: 0.9, TS())
    with pytest.raises(ValueError, match="Argument `train_stage` must be callable"):
        run_with_repair(None, TS())
    with pytest.raises(ValueError, match="Argument `settings` must be a TrainingSettings"):
        run_with_repair(lambda s: (1, True, None), {"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="Argument `max_attempts` must be >= 0"):
        run_with_repair(lambda s: (1, True, None), TS(), max_attempts=-1)
    with pytest.raises(ValueError, match="Argument `rewritable` must be a bool"):
        plan_repair("flat_loss", TS(), rewritable="no")
    with pytest.raises(ValueError, match="Argument `tried` must name remedies"):
        plan_repair("flat_loss", TS(), rewritable=True, tried=["magic"])
    with pytest.raises(ValueError, match="Each finding must be a Finding"):
        plan_repair([3], TS(), rewritable=True)


def test_settings_errors():
    with pytest.raises(ValueError, match="Argument `learning_rate` must be > 0"):
        TS(learning_rate=0)
    with pytest.raises(ValueError, match="Argument `optimizer` must be None or one of"):
        TS(optimizer="lion")
    with pytest.raises(ValueError, match="Argument `clipnorm` must be > 0"):
        TS(clipnorm=-1)
    with pytest.raises(ValueError, match="Argument `activation` must be one of"):
        TS(activation="cube")
    with pytest.raises(ValueError, match="Argument `standardize` must be a bool"):
        TS(standardize="yes")
    with pytest.raises(ValueError, match="Argument `kernel_initializer` must be None or"):
        TS(kernel_initializer=3)


# ---------------------------------------------------------------- JSON and the report


def _log() -> RepairLog:
    return RepairLog((RepairAttempt(0, None, "", float("nan"), False, "nonfinite_loss",
                                    ("batch_norm",)),
                      RepairAttempt(1, "lower_rate", "learning_rate: 10 → 0.03 | test",
                                    0.9583, True)),
                     TS(learning_rate=0.03, clipnorm=1.0), "the gate passed after 1 repair(s)")


def test_json_round_trip():
    log = _log()
    data = json.loads(json.dumps(log.to_json(), allow_nan=False))
    assert data["attempts"][0]["gate_value"] is None  # NaN is not JSON
    assert data["passed"] is True
    back = RepairLog.from_json(data)
    assert back.settings == log.settings and back.stop_reason == log.stop_reason
    assert back.attempts[1] == log.attempts[1]
    assert back.attempts[0] == RepairAttempt(0, None, "", None, False, "nonfinite_loss",
                                             ("batch_norm",))
    assert TS.from_json(TS(activation="tanh").to_json()) == TS(activation="tanh")


@pytest.mark.parametrize(("data", "message"), [
    ([], "A repair attempt must be a dict"),
    ({"attempt": 0}, "lacks"),
    ({"attempt": -1, "remedy": None, "change": "", "gate_value": None, "passed": True},
     "Argument `attempt` must be >= 0"),
    ({"attempt": 0, "remedy": 3, "change": "", "gate_value": None, "passed": True},
     "bad 'remedy'"),
    ({"attempt": 0, "remedy": None, "change": "", "gate_value": "0.9", "passed": True},
     "bad 'gate_value'"),
    ({"attempt": 0, "remedy": None, "change": "", "gate_value": 0.9, "passed": "yes"},
     "bad 'passed'"),
    ({"attempt": 0, "remedy": None, "change": "", "gate_value": 0.9, "passed": True,
      "skipped_remedies": "batch_norm"}, "bad 'skipped_remedies'"),
])
def test_from_json_refuses_malformed_attempts(data, message):
    with pytest.raises(ValueError, match=message):
        RepairAttempt.from_json(data)


def test_from_json_refuses_malformed_logs_and_settings():
    with pytest.raises(ValueError, match="A repair log must be a dict"):
        RepairLog.from_json({"attempts": [], "stop_reason": "x"})
    with pytest.raises(ValueError, match="Unknown training settings: \\['momentum'\\]"):
        TS.from_json({"momentum": 0.9})
    with pytest.raises(ValueError, match="Argument `learning_rate`"):
        TS.from_json({"learning_rate": -1})


def test_repair_table():
    expected = "\n".join([
        "| attempt | remedy | what changed | val_accuracy | finding |",
        "|---|---|---|---|---|",
        "| 0 | as configured |  | nan (failed) | nonfinite_loss |",
        "| 1 | lower_rate | learning_rate: 10 → 0.03 \\| test | 0.9583 (passed) |  |",
        "",
        "Not applied, since the network is the user's own and cannot be rewritten: "
        "batch_norm.",
        "",
        "Repair: the gate passed after 1 repair(s).",
    ])
    assert repair_table(_log(), metric="val_accuracy") == expected
    assert repair_table(list(_log().attempts)).splitlines()[0] == \
        "| attempt | remedy | what changed | gate | finding |"


# ---------------------------------------------------------------- the optimizer's clipping


def test_configure_optimizer_keeps_the_schedule():
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=100)
    opt = keras.optimizers.AdamW(schedule, weight_decay=1e-4, clipvalue=0.5)
    clipped = TS(clipnorm=1.0).configure_optimizer(opt)
    assert isinstance(clipped, keras.optimizers.AdamW)
    assert (clipped.clipnorm, clipped.clipvalue, clipped.weight_decay) == (1.0, None, 1e-4)
    lr = clipped.get_config()["learning_rate"]
    assert lr["class_name"] == "CosineDecay"
    assert lr["config"]["initial_learning_rate"] == 0.1 and lr["config"]["decay_steps"] == 100
    assert TS().configure_optimizer(opt) is opt


@pytest.mark.backend
def test_clipping_reaches_the_compiled_step():
    """One SGD step at rate 1 on a gradient of norm 40: the kernel moves by exactly 1."""
    import keras

    model = keras.Sequential([keras.Input((2,)),
                              keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    opt = TS(clipnorm=1.0).configure_optimizer(keras.optimizers.SGD(1.0))
    model.compile(optimizer=opt, loss="mse")
    x = np.array([[1.0, 0.0]], "float32")
    y = np.array([[20.0]], "float32")  # dL/dw = 2 (0 − 20) x = (−40, 0)
    model.train_on_batch(x, y)
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel).ravel()
    np.testing.assert_allclose(kernel, [1.0, 0.0], atol=1e-6)


# ---------------------------------------------------------------- planted faults, end to end

GATE = 0.9  # validation accuracy
EPOCHS = 6


def _xor(n: int = 480, seed: int = 0):
    """Two features away from the axes, label = same sign (a task no linear model solves)."""
    rng = np.random.default_rng(seed)
    x = (rng.uniform(0.2, 1.0, (n, 2)) * rng.choice([-1.0, 1.0], (n, 2))).astype("float32")
    y = (x[:, 0] * x[:, 1] > 0).astype("int64")
    return (x[:360], y[:360]), (x[360:], y[360:])


def _compiled(settings, x_train, hidden):
    import keras

    from keras_recipes.models import build_model
    from keras_recipes.tuning import make_optimizer
    from keras_recipes.workflows.standardize import standardization_layer

    norm = standardization_layer(x_train) if settings.standardize else None
    model = build_model("mlp", x_train.shape[1:], 2, hidden=hidden, normalization=norm,
                        **settings.model_options())
    optimizer = make_optimizer(settings.optimizer or "adam", settings.learning_rate or 1e-2)
    model.compile(optimizer=settings.configure_optimizer(optimizer),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, keras


def _stage(train, val, hidden):
    """A stage as a workflow runs it: build, train with the diagnostic logger, gate, doctor."""
    from keras_recipes.diagnostics import DiagnosticLogger, diagnose

    def train_stage(settings):
        import keras

        keras.utils.set_random_seed(0)
        model, _ = _compiled(settings, train[0], hidden)
        logger = DiagnosticLogger(probe=(train[0][:128], train[1][:128]), validation_data=val)
        model.fit(*train, validation_data=val, epochs=EPOCHS, batch_size=32, verbose=0,
                  callbacks=[logger])
        accuracy = float(model.evaluate(*val, verbose=0)[1])
        return StageOutcome(accuracy, accuracy >= GATE, diagnose(logger),
                            settings.learning_rate or 1e-2)

    return train_stage


@pytest.mark.integration
def test_planted_sigmoid_stack_gets_relu():
    """Six sigmoid layers (Glorot, no BatchNorm): gradients vanish, the gate fails; ReLU with
    He initialisation passes it."""
    train, val = _xor()
    log = run_with_repair(_stage(train, val, (16,) * 6),
                          TS(activation="sigmoid", kernel_initializer="glorot_uniform",
                             batch_norm=False))
    first, second = log.attempts
    assert not first.passed and first.finding_code == "vanishing_gradients"
    assert second.remedy == "relu_activation" and second.passed
    assert log.settings == TS(activation="relu", kernel_initializer="he_uniform",
                              batch_norm=False)


@pytest.mark.integration
def test_planted_huge_rate_is_lowered_by_a_new_range_test():
    """Adam at 10: the loss explodes; a range test below 10 picks a rate that passes."""
    from keras_recipes.workflows.repair import range_test

    train, val = _xor()
    test = range_test(lambda s: _compiled(s, train[0], (16,))[0], *train, num_steps=50,
                      rule="valley")  # the rule of the steamroller's constant-rate stages
    log = run_with_repair(_stage(train, val, (16,)), TS(learning_rate=10.0), range_test=test)
    first, second = log.attempts
    assert not first.passed and first.finding_code in ("nonfinite_loss", "exploding_loss")
    assert second.remedy == "lower_rate" and second.passed
    assert 10.0 / 1000 <= log.settings.learning_rate <= 10.0 / 10
    assert "range test on [0.001, 10] suggests" in second.change
    assert math.isclose(log.settings.learning_rate,
                        float(second.change.split("→ ")[1].split(" ")[0]), rel_tol=1e-2)


@pytest.mark.integration
def test_planted_raw_feature_at_1e4_is_standardised():
    """One feature ×1e4, raw inputs, no BatchNorm: the gate fails with unnormalised inputs;
    the standardised network passes."""
    (x, y), (xv, yv) = _xor()
    scale = np.array([1e4, 1.0], "float32")
    train, val = (x * scale, y), (xv * scale, yv)
    log = run_with_repair(_stage(train, val, (16,)), TS(standardize=False, batch_norm=False))
    first, second = log.attempts
    assert not first.passed and first.finding_code == "inputs_not_normalised"
    assert second.remedy == "standardize_inputs" and second.passed
    assert log.settings == TS(batch_norm=False)


@pytest.mark.integration
def test_the_guide_runs(capsys):
    """docs/repair.md's code blocks run in order, and print what the guide shows."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).parents[2] / "docs" / "repair.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2
    namespace: dict = {}
    exec(compile(blocks[0], "docs/repair.md", "exec"), namespace)  # noqa: S102
    shown = [line[2:] for line in blocks[0].splitlines() if line.startswith("# ")]
    assert capsys.readouterr().out.splitlines() == shown
    exec(compile(blocks[1], "docs/repair.md", "exec"), namespace)  # noqa: S102
    log = namespace["log"]
    assert [a.remedy for a in log] == [None, "lower_rate"] and log.passed
    assert log.attempts[0].finding_code in ("nonfinite_loss", "exploding_loss")
    assert "| attempt | remedy | what changed | val_accuracy | finding |" in \
        capsys.readouterr().out
