"""The seven steps of :func:`~keras_recipes.workflows.practical`, one named function each.

Every step is ``step(run, state) -> PracticalStep``: it works in the run's
:class:`~keras_recipes.workflows.practical.context.RunContext` (data, builder, settings,
output folder), reads from the
:class:`~keras_recipes.workflows.practical.state.PracticalState` what the steps before it
found, writes there what it finds, and returns its
:class:`~keras_recipes.workflows.practical.report.PracticalStep` for the report. Steps 1 to
4 have a check (:data:`CHECKED_STEPS`): the workflow stops at the first that fails. Steps 5
to 7 have none and run in the order :data:`FINAL_STEPS`, step 7 before step 6:

1. :func:`check_initial_loss`: a fresh network's loss against ``ln C``;
2. :func:`overfit_small_sample`: overfit a few examples per class;
3. :func:`find_learning_rate`: a rate that makes the loss fall (from step 1's loss);
4. :func:`search_grid`: a small grid around step 3's rate;
5. :func:`train_candidates`: the grid's best configurations train longer;
7. :func:`train_while_improving`: while the doctor's reading of the kept run asks for more
   training, back to step 5;
6. :func:`read_learning_curves`: the doctor's last reading and the figures.

:data:`STEPS` maps each step's number to its function.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from keras_recipes.workflows.common import finite
from keras_recipes.workflows.practical.context import RunContext
from keras_recipes.workflows.practical.report import PracticalStep
from keras_recipes.workflows.practical.state import Candidate, PracticalState, TrainedConfig

STEP_NAMES = {
    1: "check the initial loss",
    2: "overfit a small sample",
    3: "find a learning rate that makes the loss fall",
    4: "small grid over learning rate and weight decay",
    5: "train the best configurations longer",
    6: "read the learning curves",
    7: "loop",
}
#: Findings that send step 7 back to step 5 (train longer).
CONTINUE_CODES = ("underfitting", "still_improving")
#: Files the logs of step 5 write into ``config<i>/``.
CONFIG_FILES = ("history.csv", "diagnostics.csv", "summary.json", "first_batch.png",
                "step_updates.csv", "iterations.csv")


def check_initial_loss(run: RunContext, state: PracticalState) -> PracticalStep:
    """Step 1: a fresh network's loss on the training split, without weight decay, against
    ``ln C``; passes when ``|L0 − ln C| ≤ initial_loss_tolerance · ln C``.

    Fills ``state.initial_loss``.
    """
    config = run.config
    net = run.fresh(1e-3, 0.0)  # seed 004: without weight decay
    x, y = run.train
    loss = float(net.evaluate(x, y, verbose=0, batch_size=256)[0])
    state.initial_loss = loss
    expected = math.log(run.ds.num_classes)
    tol = config.initial_loss_tolerance
    passed = math.isfinite(loss) and abs(loss - expected) <= tol * expected
    if not passed and config.repair:  # the measurement as a finding the repair answers
        from keras_recipes.diagnostics import Finding

        state.findings = [Finding(
            "error", "initial_loss",
            f"The untrained network's loss is {loss:.3g}, expected ln C = {expected:.3g} "
            f"(tolerance ±{100 * tol:.0f}%).",
            {"initial_loss": finite(loss), "expected": expected},
            "Standardise the inputs and check the output layer, the labels and the "
            "initialisation.")]
    return PracticalStep(1, STEP_NAMES[1], passed,
                         f"initial loss {loss:.3f}, expected ln C = {expected:.3f} "
                         f"(tolerance ±{100 * tol:.0f}%)",
                         {"initial_loss": finite(loss), "expected": expected, "tolerance": tol})


def overfit_small_sample(run: RunContext, state: PracticalState) -> PracticalStep:
    """Step 2: overfit ``sample_per_class`` training examples per class, without
    regularisation; passes when their accuracy reaches ``overfit_accuracy``.

    Fills ``state.overfit_history``, and ``state.findings`` with the doctor's reading of
    that run when the step fails.
    """
    from keras_recipes.callbacks import EarlyStopping
    from keras_recipes.data import subset
    from keras_recipes.diagnostics import diagnose

    config = run.config
    sample = subset(*run.train, per_class=config.sample_per_class, seed=config.seed)
    x, y = sample.x, run.train[1][sample.index]
    settings = run.settings
    lr = config.overfit_lr if settings is None or settings.learning_rate is None \
        else settings.learning_rate
    net = run.fresh(lr, 0.0)  # no regularisation: we want to overfit
    # Validate on the sample itself: inference-mode accuracy (BatchNormalization's moving
    # statistics) is what must reach 100%.
    stop = EarlyStopping(monitor="val_accuracy", mode="max", patience=config.overfit_epochs,
                         stopping_threshold=config.overfit_accuracy)
    guard = []
    if config.repair:  # the watchdog's fatal stop fails the step with its finding
        from keras_recipes.callbacks import Watchdog

        guard = [Watchdog(data=(x, y), verbose=0)]
    history = net.fit(x, y, validation_data=(x, y), epochs=config.overfit_epochs,
                      batch_size=min(config.batch_size, len(x)), verbose=0,
                      callbacks=[stop, *guard, *run.progress(2, "overfit")])
    loss, acc = (float(v) for v in net.evaluate(x, y, verbose=0))
    epochs = len(history.history["loss"])
    stopped = guard[0].stop_reason if guard else None
    passed = acc >= config.overfit_accuracy and stopped is None
    state.overfit_history = history.history
    if not passed:
        state.findings = diagnose(history)
        if stopped is not None:
            state.findings = [stopped.finding,
                              *(f for f in state.findings if f.code != stopped.code)]
    why = "" if stopped is None else f"; the watchdog stopped it: {stopped.one_line()}"
    return PracticalStep(2, STEP_NAMES[2], passed,
                         f"train accuracy {acc:.3f} on {len(x)} examples after {epochs} epochs "
                         f"(goal {config.overfit_accuracy:g}){why}",
                         {"examples": len(x), "accuracy": finite(acc), "loss": finite(loss),
                          "epochs": epochs, "learning_rate": lr})


def _loss_after(run: RunContext, lr: float) -> float:
    """Train ``lr_steps`` iterations from the common init; the training loss after."""
    config = run.config
    x, y = run.train
    net = run.fresh(lr, config.step3_weight_decay)
    rng = np.random.default_rng(config.seed)
    steps, bs = config.lr_steps, config.batch_size
    idx = rng.permutation(np.resize(np.arange(len(x)), steps * bs))[: steps * bs]
    net.fit(x[idx], y[idx], batch_size=bs, epochs=1, shuffle=False, verbose=0)
    return float(net.evaluate(x, y, verbose=0, batch_size=256)[0])


def find_learning_rate(run: RunContext, state: PracticalState) -> PracticalStep:
    """Step 3: the LR finder's suggestion and ``lr_candidates`` each train ``lr_steps``
    iterations from step 1's initial weights (with ``step3_weight_decay``); passes when one
    lowers ``state.initial_loss`` (step 1's) by ``min_loss_drop``. The lowest loss wins.

    Fills ``state.learning_rate`` (``None`` when no rate made the loss fall). Writes
    ``lr_finder.csv`` and ``figures/lr_finder.png``.
    """
    from keras_recipes.lr_finder import find_lr

    config = run.config
    before = state.need("initial_loss")
    x, y = run.train
    net = run.fresh(1e-3, config.step3_weight_decay)
    finder = find_lr(net, x, y, num_steps=config.lr_steps, batch_size=config.batch_size,
                     seed=config.seed, smoothing=0.9)
    run.claim("lr_finder.csv")
    finder.to_csv(run.out / "lr_finder.csv")
    run.figure(finder.plot(), "lr_finder")
    suggestion = finite(finder.suggestion)
    candidates = sorted({*config.lr_candidates, *([suggestion] if suggestion else [])},
                        reverse=True)
    rows = []
    for lr in candidates:
        after = _loss_after(run, lr)  # from step 1's initial weights
        falls = math.isfinite(after) and after < (1 - config.min_loss_drop) * before
        rows.append({"learning_rate": lr, "loss_before": finite(before),
                     "loss_after": finite(after), "falls": falls,
                     "source": "LR finder" if lr == suggestion else "classic"})
        run.say(f"   lr {lr:.3g}: loss {before:.3f} -> {after:.3f} after "
                f"{config.lr_steps} iterations{'' if falls else ' (no fall)'}")
    run.tables["lr_candidates"] = rows
    good = [r for r in rows if r["falls"]]
    best = min(good, key=lambda r: r["loss_after"]) if good else None
    state.learning_rate = best["learning_rate"] if best else None
    summary = (f"learning rate {best['learning_rate']:.3g} brings the loss from "
               f"{best['loss_before']:.3f} to {best['loss_after']:.3f} in {config.lr_steps} "
               "iterations" if best else "no candidate made the loss fall")
    return PracticalStep(3, STEP_NAMES[3], best is not None, summary,
                         {"learning_rate": state.learning_rate,
                          "finder_suggestion": suggestion, "finder_rule": finder.rule,
                          "iterations": config.lr_steps, "candidates": rows})


def search_grid(run: RunContext, state: PracticalState) -> PracticalStep:
    """Step 4: a grid (KerasTuner) of ``state.learning_rate × lr_factors`` ×
    ``weight_decays`` for ``grid_epochs`` epochs; passes when a trial completes.

    Fills ``state.top`` with the ``top_k`` best configurations, best first. Writes
    ``grid.csv``.
    """
    from keras_recipes.tuning import grid_search

    config = run.config
    lr = state.need("learning_rate")
    space = {"learning_rate": tuple(sorted({float(f"{lr * f:.3g}") for f in config.lr_factors})),
             "weight_decay": tuple(config.weight_decays)}
    # A repair that changed the optimizer changes the grid's too (clipping stays out of it).
    optimizer = config.optimizer if run.settings is None or run.settings.optimizer is None \
        else run.settings.optimizer
    frame = grid_search(lambda hp: run.build(), *run.train, space=space,
                        validation_data=run.val, objective=config.objective,
                        epochs=config.grid_epochs, batch_size=config.batch_size,
                        optimizer=optimizer, penalty=config.penalty, seed=config.seed,
                        verbose=0)  # the workflow prints its own progress to its stream
    run.claim("grid.csv")
    frame.to_csv(run.out / "grid.csv", index=False)
    run.tables["grid"] = frame
    done = frame[frame["status"] == "COMPLETED"]
    state.top = [Candidate(float(r["learning_rate"]), float(r["weight_decay"]))
                 for r in done.head(config.top_k).to_dict("records")]
    summary = (f"{len(frame)} trials of {config.grid_epochs} epochs, "
               f"{int(frame['diverged'].sum())} diverged; best {config.objective} "
               f"{done[config.objective].iloc[0]:.4f}" if len(done) else "every trial failed")
    return PracticalStep(4, STEP_NAMES[4], bool(state.top), summary,
                         {"space": {k: list(v) for k, v in space.items()},
                          "top": [c.as_dict() for c in state.top],
                          "trials": len(frame), "diverged": int(frame["diverged"].sum())})


def _train(run: RunContext, hp: Candidate | TrainedConfig, index: int, net=None,
           initial_epoch: int = 0) -> tuple[Any, Any, Any, dict[str, float | None]]:
    """``train_epochs`` epochs of ``hp`` (a fresh network, or ``net`` from
    ``initial_epoch``), logged into ``config<index>/`` (with ``iterations.csv``, the
    smoothed loss every ``loss_every`` iterations, unless it is 0).

    Returns:
        The network, the Keras ``History``, the diagnostic logger and the scores
        (``val_loss``, ``val_accuracy``, ``smoothed_train_loss``).
    """
    import keras

    from keras_recipes.callbacks import KeepBest
    from keras_recipes.diagnostics import DiagnosticLogger

    config = run.config
    folder = run.out / f"config{index}"
    run.claim(*(f"{folder.name}/{name}" for name in CONFIG_FILES))
    before = run.folder.listing(folder.name) if run.folder is not None else set()
    folder.mkdir(parents=True, exist_ok=True)
    net = net or run.fresh(hp.learning_rate, hp.weight_decay)
    x, y = run.train
    logger = DiagnosticLogger(log_dir=folder, data=(x, y), validation_data=run.val,
                              probe_size=128, append=initial_epoch > 0)
    callbacks = [keras.callbacks.CSVLogger(str(folder / "history.csv"),
                                           append=initial_epoch > 0),
                 logger, KeepBest(monitor="val_loss", catch_interrupt=False),
                 *run.progress(5, f"config {index}")]
    iteration_loss = None
    if config.loss_every:  # seed 004, step 6: the loss every N iterations, smoothed
        from keras_recipes.workflows.practical.iteration_loss import IterationLoss

        iteration_loss = IterationLoss(folder / "iterations.csv", every=config.loss_every,
                                       smoothing=config.loss_smoothing,
                                       append=initial_epoch > 0)
        callbacks.append(iteration_loss)
    history = net.fit(x, y, validation_data=run.val, batch_size=config.batch_size,
                      epochs=initial_epoch + config.train_epochs, initial_epoch=initial_epoch,
                      callbacks=callbacks, verbose=0)  # constant rate: no decay (seed 004)
    if run.folder is not None:  # whatever else the logger wrote there
        run.folder.record(*(run.folder.listing(folder.name) - before))
    val_loss, val_acc = (float(v) for v in net.evaluate(*run.val, verbose=0, batch_size=256))
    smoothed = (iteration_loss.rows[-1]["smoothed"]
                if iteration_loss is not None and iteration_loss.rows else None)
    scores = {"val_loss": finite(val_loss), "val_accuracy": finite(val_acc),
              "smoothed_train_loss": finite(smoothed) if smoothed is not None else None}
    return net, history, logger, scores


def train_candidates(run: RunContext, state: PracticalState) -> PracticalStep:
    """Step 5: each configuration of ``state.top`` trains ``train_epochs`` epochs at a
    constant rate, with the diagnostic logger and keep-best, into ``config<i>/``.

    Fills ``state.trained`` (one :class:`TrainedConfig` per configuration, in order) and
    ``state.best``, the best of them on validation accuracy (the first one on a tie): the
    one kept.
    """
    config = run.config
    top = state.need("top")
    state.trained = []
    for i, hp in enumerate(top, start=1):
        run.say(f"-- step 5: config {i}/{len(top)} lr={hp.learning_rate:.3g} "
                f"wd={hp.weight_decay:g}, {config.train_epochs} epochs")
        net, history, logger, scores = _train(run, hp, i)
        state.trained.append(TrainedConfig(
            index=i, learning_rate=hp.learning_rate, weight_decay=hp.weight_decay,
            epochs=config.train_epochs, net=net, history=history.history, logger=logger,
            **scores))
    best = state.best = max(state.trained, key=lambda t: t.val_accuracy or -1.0)
    return PracticalStep(5, STEP_NAMES[5], True,
                         f"{len(state.trained)} configurations, best val accuracy "
                         f"{best.val_accuracy:.4f} (lr={best.learning_rate:.3g}, "
                         f"wd={best.weight_decay:g})",
                         {"configs": [t.record() for t in state.trained],
                          "iteration_loss": (f"config<i>/iterations.csv: mean training loss "
                                             f"(training mode) every {config.loss_every} "
                                             f"iterations and its debiased EMA, "
                                             f"β={config.loss_smoothing:g}")
                          if config.loss_every else None})


def train_while_improving(run: RunContext, state: PracticalState) -> PracticalStep:
    """Step 7, loop: the doctor reads ``state.best``'s curves (step 6); while it finds
    :data:`CONTINUE_CODES`, the kept configuration trains ``train_epochs`` more epochs from
    where it stopped (step 5 again), at most ``max_loops`` times.

    Updates ``state.best`` (its network, logger, history, scores and epochs) and fills
    ``state.findings`` with the doctor's last reading.
    """
    from keras_recipes.diagnostics import diagnose

    config = run.config
    best = state.need("best")
    loops = []
    while True:
        findings = diagnose(best.logger)
        asked = [f.code for f in findings if f.code in CONTINUE_CODES]
        if not asked or len(loops) >= config.max_loops:
            break
        start = best.epochs
        run.say(f"-- step 7: the curves say {', '.join(asked)}: back to step 5 for "
                f"{config.train_epochs} more epochs")
        net, history, logger, scores = _train(run, best, best.index, net=best.net,
                                              initial_epoch=start)
        for key, values in history.history.items():
            best.history.setdefault(key, []).extend(values)
        best.net, best.logger, best.epochs = net, logger, start + config.train_epochs
        best.val_loss, best.val_accuracy = scores["val_loss"], scores["val_accuracy"]
        if scores["smoothed_train_loss"] is not None:
            best.smoothed_train_loss = scores["smoothed_train_loss"]
        loops.append({"from_epoch": start, "to_epoch": best.epochs,
                      **{k: v for k, v in scores.items()
                         if k != "smoothed_train_loss" or v is not None}})
    state.findings = findings
    stop_why = ("the curves ask for more training but max_loops is reached" if asked
                else "the curves show no reason to train longer")
    return PracticalStep(7, STEP_NAMES[7], True,
                         f"{len(loops)} extra round(s) of step 5; stopped: {stop_why}",
                         {"loops": loops})


def read_learning_curves(run: RunContext, state: PracticalState) -> PracticalStep:
    """Step 6, read the learning curves: the doctor's ``state.findings`` on the kept run
    (its last reading, after step 7's extra rounds) as a step, and the figures: each of
    ``state.trained``'s learning curves, in order, then the kept run's activation
    statistics (when the probe measured a hidden layer: a user's network wrapped behind the
    standardisation as a nested model has none).
    """
    from keras_recipes import plotting

    best = state.need("best")
    for trained in state.need("trained"):
        run.figure(plotting.plot_learning_curves(trained.history),
                   f"learning_curves_{trained.index}")
    from keras_recipes.diagnostics.run_record import as_record

    if not as_record(best.logger).layer_stat("act_mean").empty:  # a nested user network
        run.figure(plotting.plot_activation_stats(best.logger), "activations")  # has none
    codes = [f.code for f in state.findings]
    warnings_ = [f for f in state.findings if f.is_warning]
    return PracticalStep(6, STEP_NAMES[6], True,
                         f"{len(state.findings)} finding(s), {len(warnings_)} warning(s): "
                         + (", ".join(codes) if codes else "nothing to report"),
                         {"codes": codes})


#: Steps 1 to 4, in order: each has a check, and the workflow stops at the first that fails.
CHECKED_STEPS = (check_initial_loss, overfit_small_sample, find_learning_rate, search_grid)
#: Steps 5, 7 and 6, in the order they run (no check): step 7 trains longer while the
#: curves ask for it, then step 6 reports the last reading.
FINAL_STEPS = (train_candidates, train_while_improving, read_learning_curves)
#: Each step's number and function.
STEPS = {1: check_initial_loss, 2: overfit_small_sample, 3: find_learning_rate,
         4: search_grid, 5: train_candidates, 6: read_learning_curves,
         7: train_while_improving}
