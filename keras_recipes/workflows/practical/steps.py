"""The seven steps of :func:`~keras_recipes.workflows.practical`, one function each.

Each step takes the run's :class:`RunContext` and its
:class:`~keras_recipes.workflows.practical.config.PracticalConfig` and returns a
:class:`~keras_recipes.workflows.practical.report.PracticalStep` (with what the next step
needs). The workflow calls them in order and stops at the first failed check:

- :func:`step1` initial loss against ``ln C``;
- :func:`step2` overfit a small sample;
- :func:`step3` a learning rate that makes the loss fall (needs step 1's loss);
- :func:`step4` a small grid around it (needs step 3's rate);
- :func:`step5` train the grid's best configurations longer;
- :func:`step7` loop: while the doctor's reading asks for more training, back to step 5;
- :func:`step6` the final reading of the curves, with the figures (after step 7's rounds).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from keras_recipes.workflows.common import finite, save_figure
from keras_recipes.workflows.practical.config import PracticalConfig
from keras_recipes.workflows.practical.report import PracticalStep

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


class RunContext:
    """What the steps share: the data and its split, the model builder, the output folder,
    the tables and figures for the report, and printing.

    Args:
        ds: the classification :class:`~keras_recipes.data.Dataset`.
        build: ``() -> uncompiled keras.Model``.
        out: the output folder.
        config: the run's settings (``seed`` splits the data; ``verbose`` sets printing).
        stream: where to print.
        folder: the :class:`~keras_recipes.workflows.run_folder.RunFolder` that records every
            file before it is written, or ``None`` (nothing recorded).
    """

    def __init__(self, ds, build, out: Path, config: PracticalConfig, stream: TextIO,
                 folder=None):
        from keras_recipes.data import split

        self.ds, self.build, self.out, self.stream = ds, build, Path(out), stream
        self.config = config
        self.train, self.val, self.test = split(ds.x, ds.y, seed=config.seed)
        self.figures: dict[str, str] = {}
        self.tables: dict[str, Any] = {}
        self.folder = folder

    def claim(self, *paths: str) -> None:
        if self.folder is not None:
            self.folder.claim(*paths)

    def say(self, text: str) -> None:
        if self.config.verbose:
            print(text, file=self.stream, flush=True)

    def fresh(self, lr: float, weight_decay: float):
        """A compiled network, from the same initial weights each time (the config's seed)."""
        import keras

        from keras_recipes.tuning import make_optimizer

        config = self.config
        keras.utils.set_random_seed(config.seed)  # every trial starts from one init
        net = self.build()
        net.compile(optimizer=make_optimizer(config.optimizer, lr, weight_decay,
                                             penalty=config.penalty, model=net,
                                             batch_size=config.batch_size),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return net

    def figure(self, fig, name: str) -> str:
        """Save ``fig`` as ``figures/<name>.png`` for the report; the relative path."""
        rel = f"figures/{name}.png"
        self.claim(rel)
        save_figure(fig, self.out / rel, tight=True)
        self.figures[name] = rel
        return rel

    def progress(self, number: int, name: str) -> list:
        if not self.config.verbose:
            return []
        from keras_recipes.workflows.progress import StageProgress

        return [StageProgress(number, 7, name, stream=self.stream)]


def step1(run: RunContext, config: PracticalConfig) -> PracticalStep:
    """Step 1: a fresh network's loss on the training split, without weight decay, against
    ``ln C``; passes when ``|L0 − ln C| ≤ initial_loss_tolerance · ln C``."""
    net = run.fresh(1e-3, 0.0)  # seed 004: without weight decay
    x, y = run.train
    loss = float(net.evaluate(x, y, verbose=0, batch_size=256)[0])
    expected = math.log(run.ds.num_classes)
    tol = config.initial_loss_tolerance
    passed = math.isfinite(loss) and abs(loss - expected) <= tol * expected
    return PracticalStep(1, STEP_NAMES[1], passed,
                         f"initial loss {loss:.3f}, expected ln C = {expected:.3f} "
                         f"(tolerance ±{100 * tol:.0f}%)",
                         {"initial_loss": finite(loss), "expected": expected, "tolerance": tol})


def step2(run: RunContext, config: PracticalConfig) -> tuple[PracticalStep, Any]:
    """Step 2: overfit ``sample_per_class`` training examples per class, without
    regularisation; passes when their accuracy reaches ``overfit_accuracy``.

    Returns:
        The step and the Keras ``History`` (the doctor reads it when the step fails).
    """
    from keras_recipes.callbacks import EarlyStopping
    from keras_recipes.data import subset

    sample = subset(*run.train, per_class=config.sample_per_class, seed=config.seed)
    x, y = sample.x, run.train[1][sample.index]
    net = run.fresh(config.overfit_lr, 0.0)  # no regularisation: we want to overfit
    # Validate on the sample itself: inference-mode accuracy (BatchNormalization's moving
    # statistics) is what must reach 100%.
    stop = EarlyStopping(monitor="val_accuracy", mode="max", patience=config.overfit_epochs,
                         stopping_threshold=config.overfit_accuracy)
    history = net.fit(x, y, validation_data=(x, y), epochs=config.overfit_epochs,
                      batch_size=min(config.batch_size, len(x)), verbose=0,
                      callbacks=[stop, *run.progress(2, "overfit")])
    loss, acc = (float(v) for v in net.evaluate(x, y, verbose=0))
    epochs = len(history.history["loss"])
    passed = acc >= config.overfit_accuracy
    return PracticalStep(2, STEP_NAMES[2], passed,
                         f"train accuracy {acc:.3f} on {len(x)} examples after {epochs} epochs "
                         f"(goal {config.overfit_accuracy:g})",
                         {"examples": len(x), "accuracy": finite(acc), "loss": finite(loss),
                          "epochs": epochs, "learning_rate": config.overfit_lr}), history


def _loss_after(run: RunContext, config: PracticalConfig, lr: float) -> float:
    """Train ``lr_steps`` iterations from the common init; the training loss after."""
    x, y = run.train
    net = run.fresh(lr, config.step3_weight_decay)
    rng = np.random.default_rng(config.seed)
    steps, bs = config.lr_steps, config.batch_size
    idx = rng.permutation(np.resize(np.arange(len(x)), steps * bs))[: steps * bs]
    net.fit(x[idx], y[idx], batch_size=bs, epochs=1, shuffle=False, verbose=0)
    return float(net.evaluate(x, y, verbose=0, batch_size=256)[0])


def step3(run: RunContext, config: PracticalConfig, before: float) -> PracticalStep:
    """Step 3: the LR finder's suggestion and ``lr_candidates`` each train ``lr_steps``
    iterations from step 1's initial weights (with ``step3_weight_decay``); passes when one
    lowers the loss ``before`` (step 1's) by ``min_loss_drop``. The lowest loss wins.

    Writes ``lr_finder.csv`` and ``figures/lr_finder.png``.
    """
    from keras_recipes.lr_finder import find_lr

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
        after = _loss_after(run, config, lr)  # from step 1's initial weights
        falls = math.isfinite(after) and after < (1 - config.min_loss_drop) * before
        rows.append({"learning_rate": lr, "loss_before": finite(before),
                     "loss_after": finite(after), "falls": falls,
                     "source": "LR finder" if lr == suggestion else "classic"})
        run.say(f"   lr {lr:.3g}: loss {before:.3f} -> {after:.3f} after "
                f"{config.lr_steps} iterations{'' if falls else ' (no fall)'}")
    run.tables["lr_candidates"] = rows
    good = [r for r in rows if r["falls"]]
    best = min(good, key=lambda r: r["loss_after"]) if good else None
    summary = (f"learning rate {best['learning_rate']:.3g} brings the loss from "
               f"{best['loss_before']:.3f} to {best['loss_after']:.3f} in {config.lr_steps} "
               "iterations" if best else "no candidate made the loss fall")
    return PracticalStep(3, STEP_NAMES[3], best is not None, summary,
                         {"learning_rate": best["learning_rate"] if best else None,
                          "finder_suggestion": suggestion, "finder_rule": finder.rule,
                          "iterations": config.lr_steps, "candidates": rows})


def step4(run: RunContext, config: PracticalConfig, lr: float) -> PracticalStep:
    """Step 4: a grid (KerasTuner) of ``lr × lr_factors`` × ``weight_decays`` for
    ``grid_epochs`` epochs; passes when a trial completes. ``details["top"]`` holds the
    ``top_k`` best configurations. Writes ``grid.csv``."""
    from keras_recipes.tuning import grid_search

    space = {"learning_rate": tuple(sorted({float(f"{lr * f:.3g}") for f in config.lr_factors})),
             "weight_decay": tuple(config.weight_decays)}
    frame = grid_search(lambda hp: run.build(), *run.train, space=space,
                        validation_data=run.val, objective=config.objective,
                        epochs=config.grid_epochs, batch_size=config.batch_size,
                        optimizer=config.optimizer, penalty=config.penalty, seed=config.seed,
                        verbose=0)  # the workflow prints its own progress to its stream
    run.claim("grid.csv")
    frame.to_csv(run.out / "grid.csv", index=False)
    run.tables["grid"] = frame
    done = frame[frame["status"] == "COMPLETED"]
    top = done.head(config.top_k)[["learning_rate", "weight_decay"]].to_dict("records")
    summary = (f"{len(frame)} trials of {config.grid_epochs} epochs, "
               f"{int(frame['diverged'].sum())} diverged; best {config.objective} "
               f"{done[config.objective].iloc[0]:.4f}" if len(done) else "every trial failed")
    return PracticalStep(4, STEP_NAMES[4], bool(top), summary,
                         {"space": {k: list(v) for k, v in space.items()}, "top": top,
                          "trials": len(frame), "diverged": int(frame["diverged"].sum())})


def _train(run: RunContext, config: PracticalConfig, hp: dict[str, float], index: int,
           net=None, initial_epoch: int = 0):
    """``train_epochs`` epochs of ``hp`` (a fresh network, or ``net`` from
    ``initial_epoch``), logged into ``config<index>/`` (with ``iterations.csv``, the
    smoothed loss every ``loss_every`` iterations, unless it is 0)."""
    import keras

    from keras_recipes.callbacks import KeepBest
    from keras_recipes.diagnostics import DiagnosticLogger

    folder = run.out / f"config{index}"
    run.claim(*(f"{folder.name}/{name}" for name in CONFIG_FILES))
    before = run.folder.listing(folder.name) if run.folder is not None else set()
    folder.mkdir(parents=True, exist_ok=True)
    net = net or run.fresh(hp["learning_rate"], hp["weight_decay"])
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
    scores = {"val_loss": finite(val_loss), "val_accuracy": finite(val_acc)}
    if iteration_loss is not None and iteration_loss.rows:
        scores["smoothed_train_loss"] = finite(iteration_loss.rows[-1]["smoothed"])
    return net, history, logger, scores


def step5(run: RunContext, config: PracticalConfig, top: list[dict[str, float]]
          ) -> tuple[PracticalStep, list[dict[str, Any]], dict[str, Any]]:
    """Step 5: each configuration of ``top`` (``learning_rate``, ``weight_decay``) trains
    ``train_epochs`` epochs at a constant rate, with the diagnostic logger and keep-best,
    into ``config<i>/``.

    Returns:
        The step, one result per configuration in order (``index``, ``learning_rate``,
        ``weight_decay``, ``val_loss``, ``val_accuracy``, ``epochs``, and ``net``,
        ``history`` as a dict of lists, ``logger``) and the best of them on validation
        accuracy (the first one on a tie), the one kept.
    """
    results = []
    for i, hp in enumerate(top, start=1):
        run.say(f"-- step 5: config {i}/{len(top)} lr={hp['learning_rate']:.3g} "
                f"wd={hp['weight_decay']:g}, {config.train_epochs} epochs")
        net, history, logger, scores = _train(run, config, hp, i)
        results.append({"index": i, **hp, **scores, "epochs": config.train_epochs,
                        "net": net, "history": history.history, "logger": logger})
    ranked = sorted(results, key=lambda r: -(r["val_accuracy"] or -1.0))
    best = ranked[0]
    step = PracticalStep(5, STEP_NAMES[5], True,
                         f"{len(results)} configurations, best val accuracy "
                         f"{best['val_accuracy']:.4f} (lr={best['learning_rate']:.3g}, "
                         f"wd={best['weight_decay']:g})",
                         {"configs": [{k: r[k] for k in ("index", "learning_rate",
                                       "weight_decay", "val_loss", "val_accuracy", "epochs",
                                       "smoothed_train_loss") if k in r}
                                      for r in results],
                          "iteration_loss": (f"config<i>/iterations.csv: mean training loss "
                                             f"(training mode) every {config.loss_every} "
                                             f"iterations and its debiased EMA, "
                                             f"β={config.loss_smoothing:g}")
                          if config.loss_every else None})
    return step, results, best


def step7(run: RunContext, config: PracticalConfig,
          best: dict[str, Any]) -> tuple[PracticalStep, list[Any]]:
    """Step 7, loop: the doctor reads ``best``'s curves (step 6); while it finds
    :data:`CONTINUE_CODES`, ``best`` trains ``train_epochs`` more epochs from where it
    stopped (step 5 again), at most ``max_loops`` times. ``best`` is updated in place (its
    network, logger, history, scores and epochs).

    Returns:
        The step and the doctor's last reading (step 6's findings).
    """
    from keras_recipes.diagnostics import diagnose

    loops = []
    while True:
        findings = diagnose(best["logger"])
        codes = [f.code for f in findings]
        asked = [c for c in codes if c in CONTINUE_CODES]
        if not asked or len(loops) >= config.max_loops:
            break
        start = best["epochs"]
        run.say(f"-- step 7: the curves say {', '.join(asked)}: back to step 5 for "
                f"{config.train_epochs} more epochs")
        net, history, logger, scores = _train(run, config, best, best["index"],
                                              net=best["net"], initial_epoch=start)
        for key, values in history.history.items():
            best["history"].setdefault(key, []).extend(values)
        best.update(scores, net=net, logger=logger, epochs=start + config.train_epochs)
        loops.append({"from_epoch": start, "to_epoch": best["epochs"], **scores})
    stop_why = ("the curves ask for more training but max_loops is reached" if asked
                else "the curves show no reason to train longer")
    step = PracticalStep(7, STEP_NAMES[7], True,
                         f"{len(loops)} extra round(s) of step 5; stopped: {stop_why}",
                         {"loops": loops})
    return step, findings


def step6(run: RunContext, config: PracticalConfig, results: list[dict[str, Any]],
          best: dict[str, Any], findings: list[Any]) -> PracticalStep:
    """Step 6, read the learning curves: the doctor's ``findings`` on the kept run ``best``
    (its last reading, after step 7's extra rounds) as a step, and the figures: each of
    ``results``' learning curves, in order, then ``best``'s activation statistics.
    """
    from keras_recipes import plotting

    for r in results:
        run.figure(plotting.plot_learning_curves(r["history"]), f"learning_curves_{r['index']}")
    run.figure(plotting.plot_activation_stats(best["logger"]), "activations")
    codes = [f.code for f in findings]
    warnings_ = [f for f in findings if f.is_warning]
    return PracticalStep(6, STEP_NAMES[6], True,
                         f"{len(findings)} finding(s), {len(warnings_)} warning(s): "
                         + (", ".join(codes) if codes else "nothing to report"),
                         {"codes": codes})
