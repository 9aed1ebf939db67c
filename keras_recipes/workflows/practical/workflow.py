"""`practical`: seed 004's seven-step practical approach to hyperparameters, from one call."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from keras_recipes.workflows.common import atomic_write, build_network, finite
from keras_recipes.workflows.practical.config import PracticalConfig
from keras_recipes.workflows.practical.context import RunContext
from keras_recipes.workflows.practical.report import (
    ADVICE,
    PracticalReport,
    PracticalStep,
    write_practical_report,
)
from keras_recipes.workflows.practical.state import PracticalState
from keras_recipes.workflows.practical.steps import CHECKED_STEPS, CONFIG_FILES, FINAL_STEPS
from keras_recipes.workflows.run_folder import RunFolder


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


def _load(config: PracticalConfig):
    from keras_recipes.data.dataset import as_classification_dataset

    return as_classification_dataset(config.dataset, target=config.target, seed=config.seed,
                                     drop=config.drop, workflow="The practical workflow")


def _builder(config: PracticalConfig, ds, settings: Any = None) -> Callable[[], Any]:
    """``() -> uncompiled keras.Model`` for ``ds``; built once now, so a callable that gives
    something else than a ``keras.Model`` with ``C`` outputs fails before any training.

    With ``config.standardize`` (or ``settings.standardize``, when settings are given), the
    network starts with a ``keras.layers.Normalization`` holding the training split's
    statistics; ``settings`` also set a preset's activation, initialisation and BatchNorm.
    """
    from keras_recipes.workflows.standardize import standardization_layer, wrap_with_layer

    standardize_on = None
    options = settings.model_options() if settings is not None else {}
    if config.standardize if settings is None else settings.standardize:
        from keras_recipes.data import split

        standardize_on = split(ds.x, ds.y, seed=config.seed)[0][0]

    def build():
        layer = None if standardize_on is None else standardization_layer(standardize_on)
        if isinstance(config.model, str):
            return build_network(config.model, ds.input_shape, ds.num_classes,
                                 normalization=layer, **options)
        # A user's callable is called with (input_shape, num_classes) only; the
        # standardisation runs in front of its network.
        net = build_network(config.model, ds.input_shape, ds.num_classes)
        return net if layer is None else wrap_with_layer(net, layer, ds.input_shape)

    build()
    return build


def _seven_steps(run: RunContext, record: Callable[[PracticalStep], bool],
                 state: PracticalState | None = None, checked: bool = True) -> PracticalState:
    """Steps 1 to 7 over one :class:`PracticalState`, each passed to ``record`` (which says
    whether it passed); stops at the first failed check. Returns the state: its ``best`` is
    the kept configuration (``None`` when a check failed), its ``findings`` the doctor's
    reading. ``checked=False`` runs steps 5-7 only, on ``state`` (whose checks passed)."""
    state = PracticalState() if state is None else state
    if checked:
        for step in CHECKED_STEPS:
            if not record(step(run, state)):
                return state
    # Step 7 reads the curves and trains longer while they ask; step 6 then records the
    # last reading and draws the figures. Steps 5-7 are recorded in their numbers' order
    # and timed together, on step 5.
    done = [step(run, state) for step in FINAL_STEPS]
    for step in sorted(done, key=lambda s: s.number):
        record(step)
    return state


#: The repair's gate of the practical workflow: how many of the four checks passed.
REPAIR_METRIC = "checks passed (of 4)"


def _repaired(config: PracticalConfig, ds, out: Path, stream: TextIO, folder,
              steps: list[PracticalStep], record: Callable[[PracticalStep], bool]):
    """Steps 1-4 under :func:`~keras_recipes.workflows.repair.run_with_repair`, then steps
    5-7 on the last attempt. Each attempt starts again from step 1 on a fresh network
    (every later step builds on step 1's and step 2's), in the emptied run folder; the
    report keeps the last attempt's steps. Returns ``(run, state, log)``."""
    from keras_recipes.workflows.repair import StageOutcome, range_test, run_with_repair

    last: dict[str, Any] = {}

    def context(settings) -> RunContext:
        return RunContext(ds, _builder(config, ds, settings), out, config, stream,
                          folder=folder, settings=settings)

    def attempt(settings) -> StageOutcome:
        if last:
            folder.clear()  # the failed attempt's files
            steps.clear()
        run = context(settings)
        state = PracticalState()
        passed = 0
        for step in CHECKED_STEPS:
            if not record(step(run, state)):
                break
            passed += 1
        last.update(run=run, state=state)
        return StageOutcome(float(passed), passed == len(CHECKED_STEPS), state.findings,
                            settings.learning_rate)

    def build(settings):
        return context(settings).fresh(settings.learning_rate or config.overfit_lr, 0.0)

    probe = context(config.training_settings())
    log = run_with_repair(attempt, config.training_settings(),
                          rewritable=isinstance(config.model, str),
                          range_test=range_test(build, *probe.train,
                                                batch_size=config.batch_size,
                                                num_steps=config.lr_steps, seed=config.seed),
                          on_repair=lambda line: probe.say(f"-- {line}"))
    run, state = last["run"], last["state"]
    if log.passed:
        _seven_steps(run, record, state, checked=False)
    return run, state, log


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
    config: PracticalConfig | None = None,
    loss_every: int = 10,
    loss_smoothing: float = 0.9,
    repair: bool = False,
    training: Any = None,
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
        lr_steps: step 3's iterations (and range-test steps), >= 10. Defaults to ``100``.
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
        config: all the settings above at once, as a :class:`PracticalConfig`; when given,
            the other arguments (except ``stream``) are not read. Defaults to ``None``
            (a config from the other arguments).
        loss_every: steps 5 and 7 write ``config<i>/iterations.csv``, the mean training
            loss of every ``loss_every`` iterations and its bias-corrected moving average
            (seed 000: a smoothed loss every N iterations, not only per epoch); ``0``
            writes no such file. Defaults to ``10``.
        loss_smoothing: β of that moving average, in ``[0, 1)``. Defaults to ``0.9``.
        repair: watch step 2 with a :class:`~keras_recipes.callbacks.Watchdog` (its fatal
            stop fails the step) and, when a check of steps 1-4 fails with a finding that
            has a known remedy (step 1's loss far from ln C is the finding
            ``initial_loss``), apply the remedy and run the checks again from step 1, at
            most twice (:func:`~keras_recipes.workflows.repair.run_with_repair`); a rate
            remedy changes step 2's rate. A preset takes every remedy; a callable
            ``model`` only rate, optimizer, clipping and inputs, and the report lists the
            others. ``summary.json`` holds the log under ``"repair"`` and ``report.md``
            shows it. ``False`` changes nothing. See ``docs/repair.md``.
            Defaults to ``False``.
        training: a :class:`~keras_recipes.workflows.repair.TrainingSettings` for a
            preset's activation, initialisation and BatchNorm and for gradient clipping
            (``learning_rate`` and ``optimizer`` left ``None``). Defaults to ``None``.

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
    if config is None:  # checks every setting, before any data is loaded
        config = PracticalConfig(
            dataset=dataset, model=model, out=out, target=target, drop=drop, seed=seed,
            standardize=standardize, optimizer=optimizer, penalty=penalty,
            initial_loss_tolerance=initial_loss_tolerance, sample_per_class=sample_per_class,
            overfit_lr=overfit_lr, overfit_epochs=overfit_epochs,
            overfit_accuracy=overfit_accuracy, lr_candidates=lr_candidates, lr_steps=lr_steps,
            min_loss_drop=min_loss_drop, step3_weight_decay=step3_weight_decay,
            lr_factors=lr_factors, weight_decays=weight_decays, grid_epochs=grid_epochs,
            objective=objective, top_k=top_k, train_epochs=train_epochs, max_loops=max_loops,
            batch_size=batch_size, fresh=fresh, verbose=verbose, loss_every=loss_every,
            loss_smoothing=loss_smoothing, repair=repair, training=training)
    elif not isinstance(config, PracticalConfig):
        raise ValueError("Argument `config` must be a PracticalConfig or None. "
                         f"Received: config={config!r}")
    out = config.out
    ds = _load(config)
    settings = config.training_settings() if config.repair or config.training is not None \
        else None
    build = _builder(config, ds, settings)
    # Lock the folder; refuse another workflow's run, or one on other data (unless fresh).
    folder = RunFolder(out, "practical").open(
        fingerprint=RunFolder.fingerprint(ds), resume=not config.fresh,
        outputs=_outputs(config.top_k), adopt=_adopt, restart_hint="fresh=True")
    try:
        folder.clear()  # each run starts afresh: only an earlier practical run's files go
        stream = stream or sys.stdout
        run = RunContext(ds, build, out, config, stream, folder=folder, settings=settings)
        steps: list[PracticalStep] = []
        lap = [time.perf_counter()]

        def record(step: PracticalStep) -> bool:
            now = time.perf_counter()
            step.seconds, lap[0] = round(now - lap[0], 2), now
            steps.append(step)
            run.say(f"== step {step.number}/7 {step.name}: {'ok' if step.passed else 'FAILED'}"
                    f" - {step.summary} [{step.seconds:.1f}s]")
            return step.passed

        log = None
        if config.repair:
            run, state, log = _repaired(config, ds, out, stream, folder, steps, record)
        else:
            state = _seven_steps(run, record)
        best = test_accuracy = None
        if state.best is not None:  # every check passed
            net = state.best.net
            test_accuracy = finite(net.evaluate(*run.test, verbose=0, batch_size=256)[1])
            run.claim("model.keras")
            atomic_write(out / "model.keras", lambda tmp: net.save(tmp))
            best = state.best.choice()
        report = PracticalReport(steps, best, test_accuracy, state.findings, out,
                                 time.perf_counter() - begin, repair=log)
        _print_outcome(report, run)
        run.claim("report.md", "summary.json")
        write_practical_report(report, dataset_name=ds.name, sizes=(len(run.train[0]),
                               len(run.val[0]), len(run.test[0])), num_classes=ds.num_classes,
                               config=config.summary_dict(), tables=run.tables,
                               figures=run.figures)
        return report
    finally:
        folder.release()  # also on KeyboardInterrupt


def _print_outcome(report: PracticalReport, run: RunContext) -> None:
    """The failed step with the doctor's reading and what to try, or the test score."""
    if not run.config.verbose:
        return
    log = report.repair
    if log is not None and (len(log) > 1 or not log.passed
                            or any(a.skipped_remedies for a in log)):
        from keras_recipes.workflows.repair import repair_table

        print("Repair of the checks (steps 1-4):", file=run.stream)
        print(repair_table(log, REPAIR_METRIC), file=run.stream)
    failed = report.failed_step
    if failed is not None:
        from keras_recipes.diagnostics import print_report

        print(f"The workflow stopped at step {failed.number} ({failed.name}).",
              file=run.stream)
        if report.findings:
            print_report(report.findings, file=run.stream)
        for line in ADVICE.get(failed.number, []):
            print(f"  try: {line}", file=run.stream)
    elif report.test_accuracy is not None:
        print(f"test accuracy {report.test_accuracy:.4f} with {report.best}; report: "
              f"{report.out / 'report.md'}", file=run.stream)
