"""The seven steps of :func:`~keras_recipes.workflows.practical`, one function each."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from keras_recipes.workflows.common import atomic_write
from keras_recipes.workflows.practical_report import PracticalStep

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
                "step_updates.csv")


def _finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


class _Run:
    """State shared by the steps: data, builder, output folder, printing."""

    def __init__(self, ds, build, out: Path, cfg: dict[str, Any], stream: TextIO):
        from keras_recipes.data import split

        self.ds, self.build, self.out, self.cfg, self.stream = ds, build, out, cfg, stream
        self.train, self.val, self.test = split(ds.x, ds.y, seed=cfg["seed"])
        self.figures: dict[str, str] = {}
        self.tables: dict[str, Any] = {}
        self.folder = None  # the RunFolder: records every file before it is written

    def claim(self, *paths: str) -> None:
        if self.folder is not None:
            self.folder.claim(*paths)

    def say(self, text: str) -> None:
        if self.cfg["verbose"]:
            print(text, file=self.stream, flush=True)

    def fresh(self, lr: float, weight_decay: float):
        import keras

        from keras_recipes.tuning import make_optimizer

        keras.utils.set_random_seed(self.cfg["seed"])  # every trial starts from one init
        net = self.build()
        net.compile(optimizer=make_optimizer(self.cfg["optimizer"], lr, weight_decay,
                                             penalty=self.cfg["penalty"], model=net,
                                             batch_size=self.cfg["batch_size"]),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return net

    def figure(self, fig, name: str) -> str:
        import matplotlib.pyplot as plt

        path = self.out / "figures" / f"{name}.png"
        self.claim(f"figures/{name}.png")
        try:
            atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png",
                                                       bbox_inches="tight"))
        finally:
            plt.close(fig)
        self.figures[name] = f"figures/{name}.png"
        return self.figures[name]

    def progress(self, number: int, name: str) -> list:
        if not self.cfg["verbose"]:
            return []
        from keras_recipes.workflows.progress import StageProgress

        return [StageProgress(number, 7, name, stream=self.stream)]


def _step1(run: _Run) -> PracticalStep:
    net = run.fresh(1e-3, 0.0)  # seed 004: without weight decay
    x, y = run.train
    loss = float(net.evaluate(x, y, verbose=0, batch_size=256)[0])
    expected = math.log(run.ds.num_classes)
    tol = run.cfg["initial_loss_tolerance"]
    passed = math.isfinite(loss) and abs(loss - expected) <= tol * expected
    return PracticalStep(1, STEP_NAMES[1], passed,
                         f"initial loss {loss:.3f}, expected ln C = {expected:.3f} "
                         f"(tolerance ±{100 * tol:.0f}%)",
                         {"initial_loss": _finite(loss), "expected": expected, "tolerance": tol})


def _step2(run: _Run) -> tuple[PracticalStep, Any]:
    from keras_recipes.callbacks import EarlyStopping
    from keras_recipes.data import subset

    cfg = run.cfg
    sample = subset(*run.train, per_class=cfg["sample_per_class"], seed=cfg["seed"])
    x, y = sample.x, run.train[1][sample.index]
    net = run.fresh(cfg["overfit_lr"], 0.0)  # no regularisation: we want to overfit
    # Validate on the sample itself: inference-mode accuracy (BatchNormalization's moving
    # statistics) is what must reach 100%.
    stop = EarlyStopping(monitor="val_accuracy", mode="max", patience=cfg["overfit_epochs"],
                         stopping_threshold=cfg["overfit_accuracy"])
    history = net.fit(x, y, validation_data=(x, y), epochs=cfg["overfit_epochs"],
                      batch_size=min(cfg["batch_size"], len(x)), verbose=0,
                      callbacks=[stop, *run.progress(2, "overfit")])
    loss, acc = (float(v) for v in net.evaluate(x, y, verbose=0))
    epochs = len(history.history["loss"])
    passed = acc >= cfg["overfit_accuracy"]
    return PracticalStep(2, STEP_NAMES[2], passed,
                         f"train accuracy {acc:.3f} on {len(x)} examples after {epochs} epochs "
                         f"(goal {cfg['overfit_accuracy']:g})",
                         {"examples": len(x), "accuracy": _finite(acc), "loss": _finite(loss),
                          "epochs": epochs, "learning_rate": cfg["overfit_lr"]}), history


def _loss_after(run: _Run, lr: float, steps: int) -> float:
    """Train ``steps`` iterations from the common init; return the training loss after."""
    cfg = run.cfg
    x, y = run.train
    net = run.fresh(lr, cfg["step3_weight_decay"])
    rng = np.random.default_rng(cfg["seed"])
    bs = cfg["batch_size"]
    idx = rng.permutation(np.resize(np.arange(len(x)), steps * bs))[: steps * bs]
    net.fit(x[idx], y[idx], batch_size=bs, epochs=1, shuffle=False, verbose=0)
    return float(net.evaluate(x, y, verbose=0, batch_size=256)[0])


def _step3(run: _Run, before: float) -> PracticalStep:
    from keras_recipes.lr_finder import find_lr

    cfg = run.cfg
    x, y = run.train
    net = run.fresh(1e-3, cfg["step3_weight_decay"])
    finder = find_lr(net, x, y, num_steps=cfg["lr_steps"], batch_size=cfg["batch_size"],
                     seed=cfg["seed"], smoothing=0.9)
    run.claim("lr_finder.csv")
    finder.to_csv(run.out / "lr_finder.csv")
    run.figure(finder.plot(), "lr_finder")
    suggestion = _finite(finder.suggestion) if finder.suggestion is not None else None
    candidates = sorted({*cfg["lr_candidates"], *([suggestion] if suggestion else [])},
                        reverse=True)
    rows = []
    for lr in candidates:
        after = _loss_after(run, lr, cfg["lr_steps"])  # from step 1's initial weights
        falls = math.isfinite(after) and after < (1 - cfg["min_loss_drop"]) * before
        rows.append({"learning_rate": lr, "loss_before": _finite(before),
                     "loss_after": _finite(after), "falls": falls,
                     "source": "LR finder" if lr == suggestion else "classic"})
        run.say(f"   lr {lr:.3g}: loss {before:.3f} -> {after:.3f} after "
                f"{cfg['lr_steps']} iterations{'' if falls else ' (no fall)'}")
    run.tables["lr_candidates"] = rows
    good = [r for r in rows if r["falls"]]
    best = min(good, key=lambda r: r["loss_after"]) if good else None
    summary = (f"learning rate {best['learning_rate']:.3g} brings the loss from "
               f"{best['loss_before']:.3f} to {best['loss_after']:.3f} in {cfg['lr_steps']} "
               "iterations" if best else "no candidate made the loss fall")
    return PracticalStep(3, STEP_NAMES[3], best is not None, summary,
                         {"learning_rate": best["learning_rate"] if best else None,
                          "finder_suggestion": suggestion, "finder_rule": finder.rule,
                          "iterations": cfg["lr_steps"], "candidates": rows})


def _step4(run: _Run, lr: float) -> PracticalStep:
    from keras_recipes.tuning import grid_search

    cfg = run.cfg
    space = {"learning_rate": tuple(sorted({float(f"{lr * f:.3g}") for f in cfg["lr_factors"]})),
             "weight_decay": tuple(float(w) for w in cfg["weight_decays"])}
    frame = grid_search(lambda hp: run.build(), *run.train, space=space,
                        validation_data=run.val, objective=cfg["objective"],
                        epochs=cfg["grid_epochs"], batch_size=cfg["batch_size"],
                        optimizer=cfg["optimizer"], penalty=cfg["penalty"], seed=cfg["seed"])
    run.claim("grid.csv")
    frame.to_csv(run.out / "grid.csv", index=False)
    run.tables["grid"] = frame
    done = frame[frame["status"] == "COMPLETED"]
    top = done.head(cfg["top_k"])[["learning_rate", "weight_decay"]].to_dict("records")
    summary = (f"{len(frame)} trials of {cfg['grid_epochs']} epochs, {int(frame['diverged'].sum())}"
               f" diverged; best {cfg['objective']} "
               f"{done[cfg['objective']].iloc[0]:.4f}" if len(done) else "every trial failed")
    return PracticalStep(4, STEP_NAMES[4], bool(top), summary,
                         {"space": {k: list(v) for k, v in space.items()}, "top": top,
                          "trials": len(frame), "diverged": int(frame["diverged"].sum())})


def _train(run: _Run, config: dict[str, float], index: int, net=None, initial_epoch: int = 0):
    import keras

    from keras_recipes.callbacks import KeepBest
    from keras_recipes.diagnostics import DiagnosticLogger

    cfg = run.cfg
    folder = run.out / f"config{index}"
    run.claim(*(f"{folder.name}/{name}" for name in CONFIG_FILES))
    before = run.folder.listing(folder.name) if run.folder is not None else set()
    folder.mkdir(parents=True, exist_ok=True)
    net = net or run.fresh(config["learning_rate"], config["weight_decay"])
    x, y = run.train
    logger = DiagnosticLogger(log_dir=folder, data=(x, y), validation_data=run.val,
                              probe_size=128, append=initial_epoch > 0)
    callbacks = [keras.callbacks.CSVLogger(str(folder / "history.csv"),
                                           append=initial_epoch > 0),
                 logger, KeepBest(monitor="val_loss", catch_interrupt=False),
                 *run.progress(5, f"config {index}")]
    history = net.fit(x, y, validation_data=run.val, batch_size=cfg["batch_size"],
                      epochs=initial_epoch + cfg["train_epochs"], initial_epoch=initial_epoch,
                      callbacks=callbacks, verbose=0)  # constant rate: no decay (seed 004)
    if run.folder is not None:  # whatever else the logger wrote there
        run.folder.record(*(run.folder.listing(folder.name) - before))
    val_loss, val_acc = (float(v) for v in net.evaluate(*run.val, verbose=0, batch_size=256))
    return net, history, logger, {"val_loss": _finite(val_loss), "val_accuracy": _finite(val_acc)}


def _step5_6_7(run: _Run, top: list[dict[str, float]]):
    from keras_recipes import plotting
    from keras_recipes.diagnostics import diagnose

    cfg = run.cfg
    results = []
    for i, config in enumerate(top, start=1):
        run.say(f"-- step 5: config {i}/{len(top)} lr={config['learning_rate']:.3g} "
                f"wd={config['weight_decay']:g}, {cfg['train_epochs']} epochs")
        net, history, logger, scores = _train(run, config, i)
        results.append({"index": i, **config, **scores, "epochs": cfg["train_epochs"],
                        "net": net, "history": history.history, "logger": logger})
    ranked = sorted(results, key=lambda r: -(r["val_accuracy"] or -1.0))
    best = ranked[0]
    step5 = PracticalStep(5, STEP_NAMES[5], True,
                          f"{len(results)} configurations, best val accuracy "
                          f"{best['val_accuracy']:.4f} (lr={best['learning_rate']:.3g}, "
                          f"wd={best['weight_decay']:g})",
                          {"configs": [{k: r[k] for k in ("index", "learning_rate",
                                        "weight_decay", "val_loss", "val_accuracy", "epochs")}
                                       for r in results]})
    loops = []
    while True:
        findings = diagnose(best["logger"])
        codes = [f.code for f in findings]
        go_on = any(c in CONTINUE_CODES for c in codes) and len(loops) < cfg["max_loops"]
        if not go_on:
            break
        start = best["epochs"]
        run.say(f"-- step 7: the curves say {', '.join(c for c in codes if c in CONTINUE_CODES)}"
                f": back to step 5 for {cfg['train_epochs']} more epochs")
        net, history, logger, scores = _train(run, best, best["index"], net=best["net"],
                                              initial_epoch=start)
        for key, values in history.history.items():
            best["history"].setdefault(key, []).extend(values)
        best.update(scores, net=net, logger=logger, epochs=start + cfg["train_epochs"])
        loops.append({"from_epoch": start, "to_epoch": best["epochs"], **scores})
    for r in results:
        run.figure(plotting.plot_learning_curves(r["history"]), f"learning_curves_{r['index']}")
    run.figure(plotting.plot_activation_stats(best["logger"]), "activations")
    warnings_ = [f for f in findings if f.is_warning]
    step6 = PracticalStep(6, STEP_NAMES[6], True,
                          f"{len(findings)} finding(s), {len(warnings_)} warning(s): "
                          + (", ".join(codes) if codes else "nothing to report"),
                          {"codes": codes})
    stop_why = ("the curves ask for more training but max_loops is reached"
                if any(c in CONTINUE_CODES for c in codes) else "the curves show no reason "
                "to train longer")
    step7 = PracticalStep(7, STEP_NAMES[7], True,
                          f"{len(loops)} extra round(s) of step 5; stopped: {stop_why}",
                          {"loops": loops})
    return [step5, step6, step7], best, findings
