"""`practical`: seed 004's seven-step practical approach to hyperparameters, from one call."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from keras_recipes._paths import check_output_dir
from keras_recipes._validation import check_number, check_one_of
from keras_recipes.workflows._atomic import atomic_write
from keras_recipes.workflows.practical_report import (
    ADVICE,
    PracticalReport,
    PracticalStep,
    write_practical_report,
)
from keras_recipes.workflows.run_folder import RunFolder

MODEL_NAMES = ("mlp", "cnn")
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


def _outputs(top_k: int) -> list[str]:
    """Every path a run with ``top_k`` configurations may write in its folder."""
    return ["report.md", "summary.json", "lr_finder.csv", "grid.csv", "model.keras",
            "figures/lr_finder.png", "figures/activations.png",
            *(f"figures/learning_curves_{i}.png" for i in range(1, top_k + 1)),
            *(f"config{i}/{name}" for i in range(1, top_k + 1) for name in CONFIG_FILES)]


def _adopt(out: Path, summary: dict[str, Any]) -> list[str]:
    """The files a run from before manifests wrote (its ``summary.json`` names top_k)."""
    top_k = summary.get("config", {}).get("top_k", 0)
    top_k = top_k if isinstance(top_k, int) and 0 < top_k < 1000 else 0
    return [f for f in _outputs(top_k) if (out / f).is_file()]


def _finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def _load(dataset, target, seed, drop=None):
    from keras_recipes.data.dataset import as_classification_dataset

    return as_classification_dataset(dataset, target=target, seed=seed, drop=drop,
                                     workflow="The practical workflow")


def _builder(model, input_shape, num_classes, standardize_on=None) -> Callable[[], Any]:
    """``() -> uncompiled keras.Model``; checked once now.

    With ``standardize_on`` (the training inputs), the network starts with a
    ``keras.layers.Normalization`` holding their statistics.
    """
    import keras

    from keras_recipes.workflows.standardize import standardization_layer, wrap_with_layer

    def normalization():
        return None if standardize_on is None else standardization_layer(standardize_on)

    if isinstance(model, str):
        check_one_of("model", model, MODEL_NAMES)
        from keras_recipes.models import build_model

        def build():
            return build_model(model, input_shape, num_classes, normalization=normalization())
    elif callable(model):
        def build():
            net = model(tuple(input_shape), int(num_classes))
            layer = normalization()
            if layer is None or not isinstance(net, keras.Model):
                return net
            return wrap_with_layer(net, layer, input_shape)
    else:
        raise ValueError("Argument `model` must be 'mlp', 'cnn' or a callable "
                         f"model(input_shape, num_classes) -> keras.Model. Received: {model!r}")
    net = build()
    if not isinstance(net, keras.Model) or net.output_shape[-1] != num_classes:
        raise ValueError(f"Argument `model` must build a keras.Model with {num_classes} "
                         f"outputs. Received: {type(net).__name__} "
                         f"{getattr(net, 'output_shape', '')}")
    return build


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


def practical(
    dataset: Any = "digits",
    model: str | Callable[..., Any] = "mlp",
    *,
    out: str | os.PathLike = "runs/practical",
    target: str | None = None,
    drop: str | Sequence[str] | None = None,
    seed: int = 0,
    standardize: bool = True,
    optimizer: str = "adam",
    penalty: str = "decoupled",
    initial_loss_tolerance: float = 0.5,
    sample_per_class: int = 2,
    overfit_lr: float = 1e-2,
    overfit_epochs: int = 200,
    overfit_accuracy: float = 1.0,
    lr_candidates: Sequence[float] = (1e-1, 1e-2, 1e-3, 1e-4),
    lr_steps: int = 100,
    min_loss_drop: float = 0.1,
    step3_weight_decay: float = 1e-4,
    lr_factors: Sequence[float] = (1 / 3, 1.0, 3.0),
    weight_decays: Sequence[float] = (1e-4, 1e-5, 0.0),
    grid_epochs: int = 2,
    objective: str = "val_loss",
    top_k: int = 2,
    train_epochs: int = 15,
    max_loops: int = 1,
    batch_size: int = 32,
    fresh: bool = False,
    verbose: int = 1,
    stream: TextIO | None = None,
) -> PracticalReport:
    """Run seed 004's seven-step approach and write a report into ``out``.

    Use it on a new problem to get, in one call, a checked model, a learning rate, a weight
    decay and a report that says what each step found. The steps:

    1. check the initial loss (no weight decay) against ``ln C``;
    2. overfit a small sample (``sample_per_class`` per class, no regularisation) to 100%;
    3. find a learning rate that makes the loss fall within ``lr_steps`` iterations on all
       the training data with a little weight decay: the LR finder's suggestion and the
       classic ``1e-1 … 1e-4`` each train from the same initial weights; the lowest loss
       after ``lr_steps`` iterations wins;
    4. a small grid (KerasTuner, :func:`keras_recipes.tuning.grid_search`) around it:
       ``lr × lr_factors`` × ``weight_decays`` for ``grid_epochs`` (1–5) epochs;
    5. the ``top_k`` configurations train ``train_epochs`` (10–20) epochs at a constant
       rate, with the diagnostic logger and keep-best;
    6. the doctor reads the best run's curves;
    7. loop: when the curves say the model still improves or underfits, back to step 5 for
       ``train_epochs`` more epochs, at most ``max_loops`` times.

    A failed check (steps 1–3) stops the workflow; the report says what to try next. ``out``
    receives ``report.md`` with PNG figures, ``summary.json``, ``lr_finder.csv``,
    ``grid.csv``, ``config<i>/history.csv`` and ``diagnostics.csv``, and ``model.keras``.

    Args:
        dataset: data set name, ``.npz``/``.csv`` path or a ``Dataset``. Defaults to
            ``"digits"``.
        model: ``"mlp"``, ``"cnn"`` or a callable ``(input_shape, num_classes) ->
            keras.Model`` (uncompiled, softmax output). Defaults to ``"mlp"``.
        out: output folder. Defaults to ``"runs/practical"``.
        target: target column of a ``.csv`` data set. Defaults to ``None``.
        drop: columns of a ``.csv`` data set that are not features. Defaults to ``None``.
        seed: seed of the split, the sample and every initialisation. Defaults to ``0``.
        standardize: standardise the inputs with the training split's mean and variance,
            inside the model (``keras.layers.Normalization`` first, saved with it); per
            feature for tables, per channel for images. Defaults to ``True``.
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` or ``"rmsprop"`` (see
            :func:`keras_recipes.tuning.make_optimizer`). Defaults to ``"adam"``.
        penalty: what the weight decays mean: ``"decoupled"``, Keras's ``weight_decay``
            (``θ ← θ − ε·λ·θ`` before each update); ``"l2"``, seed 002's penalty
            ``(λ/N)·Σₛ‖Wₛ‖²`` on every kernel, N = ``batch_size`` (the notes' λ). They differ
            about 10× under momentum 0.9 (see :func:`keras_recipes.tuning.make_optimizer`).
            Defaults to ``"decoupled"``.
        initial_loss_tolerance: step 1 passes when ``|L0 − ln C| ≤ tol·ln C``.
            Defaults to ``0.5``.
        sample_per_class: examples per class of step 2's sample. Defaults to ``2``.
        overfit_lr: step 2's learning rate. Defaults to ``1e-2``.
        overfit_epochs: step 2's epoch budget. Defaults to ``200``.
        overfit_accuracy: step 2's goal. Defaults to ``1.0``.
        lr_candidates: step 3's classic rates. Defaults to ``(1e-1, 1e-2, 1e-3, 1e-4)``.
        lr_steps: step 3's iterations (and range-test steps). Defaults to ``100``.
        min_loss_drop: relative drop that counts as "the loss falls". Defaults to ``0.1``.
        step3_weight_decay: step 3's "little weight decay". Defaults to ``1e-4``.
        lr_factors: step 4's grid around step 3's rate. Defaults to ``(1/3, 1, 3)``.
        weight_decays: step 4's weight decays (seed 004). Defaults to ``(1e-4, 1e-5, 0)``.
        grid_epochs: epochs per grid trial. Defaults to ``2``.
        objective: the grid's objective. Defaults to ``"val_loss"``.
        top_k: configurations kept for step 5. Defaults to ``2``.
        train_epochs: step 5's epochs. Defaults to ``15``.
        max_loops: most extra rounds of step 5 asked by step 7. Defaults to ``1``.
        batch_size: batch size. Defaults to ``32``.
        fresh: replace an earlier practical run in ``out`` even when it ran on other data.
            Without it such a folder is refused; a run on the same data is always replaced.
            Either way only the files earlier practical runs wrote there (as listed in
            ``manifest.json``) are removed. Defaults to ``False``.
        verbose: 0 silent, 1 one line per step and epoch progress. Defaults to ``1``.
        stream: where to print. Defaults to ``None`` (``sys.stdout``).

    Returns:
        A :class:`PracticalReport`.

    Raises:
        ValueError: bad input (unknown data set or model, ``out`` is a file, a CSV without
            its target column...), before any training. The subclass
            :class:`~keras_recipes.workflows.run_folder.RunFolderError` when ``out`` cannot be
            written, holds another workflow's run, a run on other data (without ``fresh``),
            files of the user's that the run would overwrite, or a run in progress; the
            folder is then left untouched.

    Formula: step 1 expects ``L0 = −ln(1/C) = ln C`` for a softmax over ``C`` classes.

    Example:

    >>> from keras_recipes.workflows import practical
    >>> report = practical("digits", out="/tmp/practical_demo", lr_candidates=(1e-2,),
    ...                    lr_steps=20, lr_factors=(1.0,), weight_decays=(0.0,),
    ...                    grid_epochs=1, top_k=1, train_epochs=2, verbose=0)
    >>> [s.number for s in report.steps][:3]
    [1, 2, 3]

    References:
        Karpathy, A recipe for training neural networks (2019),
        https://karpathy.github.io/2019/04/25/recipe/;
        Smith (2017), Cyclical Learning Rates, https://arxiv.org/abs/1506.01186
    """
    begin = time.perf_counter()
    check_number("seed", seed, low=0, integer=True)
    check_one_of("optimizer", optimizer, ("sgd", "adam", "adamw", "rmsprop"))
    check_one_of("penalty", penalty, ("decoupled", "l2"))
    for name, value in (("sample_per_class", sample_per_class), ("overfit_epochs",
                        overfit_epochs), ("lr_steps", lr_steps), ("grid_epochs", grid_epochs),
                        ("top_k", top_k), ("train_epochs", train_epochs),
                        ("batch_size", batch_size)):
        check_number(name, value, low=1, integer=True)
    check_number("max_loops", max_loops, low=0, integer=True)
    check_number("initial_loss_tolerance", initial_loss_tolerance, low=0, low_inclusive=False)
    check_number("overfit_lr", overfit_lr, low=0, low_inclusive=False)
    check_number("overfit_accuracy", overfit_accuracy, low=0, high=1, low_inclusive=False)
    check_number("min_loss_drop", min_loss_drop, low=0, high=1, high_inclusive=False)
    check_number("step3_weight_decay", step3_weight_decay, low=0)
    for name, values, low_ok in (("lr_candidates", lr_candidates, False),
                                 ("lr_factors", lr_factors, False),
                                 ("weight_decays", weight_decays, True)):
        if not values:
            raise ValueError(f"Argument `{name}` must not be empty. Received: {name}={values}")
        for v in values:
            check_number(name, v, low=0, low_inclusive=low_ok)
    out = check_output_dir(out, "out")  # creates nothing yet
    ds = _load(dataset, target, seed, drop)
    standardize_on = None
    if standardize:
        from keras_recipes.data import split

        standardize_on = split(ds.x, ds.y, seed=int(seed))[0][0]
    build = _builder(model, ds.input_shape, ds.num_classes, standardize_on)
    cfg = {"seed": int(seed), "optimizer": optimizer, "penalty": penalty,
           "standardize": bool(standardize),
           "initial_loss_tolerance": initial_loss_tolerance,
           "sample_per_class": int(sample_per_class), "overfit_lr": overfit_lr,
           "overfit_epochs": int(overfit_epochs), "overfit_accuracy": overfit_accuracy,
           "lr_candidates": [float(v) for v in lr_candidates], "lr_steps": int(lr_steps),
           "min_loss_drop": min_loss_drop, "step3_weight_decay": step3_weight_decay,
           "lr_factors": [float(v) for v in lr_factors],
           "weight_decays": [float(v) for v in weight_decays], "grid_epochs": int(grid_epochs),
           "objective": objective, "top_k": int(top_k), "train_epochs": int(train_epochs),
           "max_loops": int(max_loops), "batch_size": int(batch_size), "verbose": int(verbose)}
    # Lock the folder; refuse another workflow's run, or one on other data (unless fresh).
    folder = RunFolder(out, "practical").open(
        fingerprint=RunFolder.fingerprint(ds), resume=not fresh, outputs=_outputs(int(top_k)),
        adopt=_adopt, restart_hint="fresh=True")
    try:
        folder.clear()  # each run starts afresh: only an earlier practical run's files go
        run = _Run(ds, build, out, cfg, stream or sys.stdout)
        run.folder = folder

        steps: list[PracticalStep] = []
        findings: list[Any] = []
        best = None
        test_accuracy = None

        lap = [time.perf_counter()]

        def record(step: PracticalStep) -> bool:
            now = time.perf_counter()
            step.seconds, lap[0] = round(now - lap[0], 2), now
            steps.append(step)
            run.say(f"== step {step.number}/7 {step.name}: {'ok' if step.passed else 'FAILED'}"
                    f" - {step.summary} [{step.seconds:.1f}s]")
            return step.passed

        from keras_recipes.diagnostics import diagnose, print_report

        if record(_step1(run)):
            step2, history = _step2(run)
            if not record(step2):
                findings = diagnose(history)
            elif record(_step3(run, steps[0].details["initial_loss"])):
                step4 = _step4(run, steps[-1].details["learning_rate"])
                if record(step4):
                    later, chosen, findings = _step5_6_7(run, step4.details["top"])
                    for s in later:
                        record(s)
                    net = chosen["net"]
                    test_accuracy = _finite(net.evaluate(*run.test, verbose=0,
                                                         batch_size=256)[1])
                    run.claim("model.keras")
                    atomic_write(out / "model.keras", lambda tmp: net.save(tmp))
                    best = {k: chosen[k] for k in ("learning_rate", "weight_decay", "epochs",
                                                   "val_loss", "val_accuracy")}
        report = PracticalReport(steps, best, test_accuracy, findings, out,
                                 time.perf_counter() - begin)
        failed = report.failed_step
        if failed is not None and verbose:
            print(f"The workflow stopped at step {failed.number} ({failed.name}).",
                  file=run.stream)
            if findings:
                print_report(findings, file=run.stream)
            for line in ADVICE.get(failed.number, []):
                print(f"  try: {line}", file=run.stream)
        elif verbose and test_accuracy is not None:
            print(f"test accuracy {test_accuracy:.4f} with {best}; report: {out / 'report.md'}",
                  file=run.stream)
        run.claim("report.md", "summary.json")
        write_practical_report(report, dataset_name=ds.name, sizes=(len(run.train[0]),
                               len(run.val[0]), len(run.test[0])), num_classes=ds.num_classes,
                               config=cfg, tables=run.tables, figures=run.figures)
        return report
    finally:
        folder.release()  # also on KeyboardInterrupt
