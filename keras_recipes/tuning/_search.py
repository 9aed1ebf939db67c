"""The engine shared by grid_search, random_search and hyperband: KerasTuner tuners that
record a diverging trial as failed instead of stopping the search."""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import keras_tuner
import numpy as np
from absl import logging as absl_logging
from keras_tuner import errors as kt_errors

from keras_recipes._print import print_msg
from keras_recipes._validation import check_number, check_one_of
from keras_recipes.tuning.results import _last_line
from keras_recipes.tuning.search_spaces import check_space, define_hyperparameters

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")

#: What a trial's ``weight_decay`` λ means: Keras's decoupled decay, or seed 002's L2 penalty.
PENALTIES = ("decoupled", "l2")

#: Prefix of the message of a trial that diverged (a non-finite loss or objective).
DIVERGED = "diverged"


def make_optimizer(
    optimizer: str | Callable[..., keras.optimizers.Optimizer],
    learning_rate: float,
    weight_decay: float = 0.0,
    *,
    penalty: str = "decoupled",
    model: keras.Model | None = None,
    batch_size: int = 32,
) -> keras.optimizers.Optimizer:
    """Build the optimizer of one trial from its learning rate ε and weight decay λ.

    Use it to rebuild the optimizer of a row of a search's results, with the ``penalty``
    the search used.

    Args:
        optimizer: ``"sgd"`` (SGD, momentum 0.9, Nesterov: the seeds' schedule example),
            ``"adam"``, ``"adamw"``, ``"rmsprop"``, or a callable
            ``(learning_rate=..., weight_decay=...) -> Optimizer``.
        learning_rate: ε, > 0.
        weight_decay: λ, >= 0; 0 turns the penalty off. Defaults to ``0.0``.
        penalty: what λ means. ``"decoupled"``: Keras's ``weight_decay=λ`` on the optimizer.
            ``"l2"``: seed 002's penalty ``(λ/N)·Σₛ‖Wₛ‖²`` with N = ``batch_size``, added to
            every kernel of ``model`` (:func:`keras_recipes.regularizers.apply_penalty`); the
            optimizer then gets no weight decay. Defaults to ``"decoupled"``.
        model: the built model of the trial; required when ``penalty="l2"`` and λ > 0.
            Defaults to ``None``.
        batch_size: N of the ``"l2"`` penalty, the training batch size. Defaults to ``32``.

    Formula: ``"decoupled"``: Keras shrinks every trainable variable (biases included) by
    ``θ ← θ − ε·λ·θ`` *before* the optimizer's update, outside its momentum and moments.
    ``"l2"``: the loss gains ``(λ/N)·Σₛ‖Wₛ‖²`` (kernels only); its gradient ``2λ/N·W`` goes
    through the momentum (and through Adam's or RMSprop's scaling). The two agree only for
    SGD without momentum (then ``"l2"`` at λ equals ``"decoupled"`` at ``2λ/N``). With the
    default ``"sgd"`` (Nesterov momentum 0.9) they differ by about ``1/(1−0.9) = 10×``:
    with a zero loss gradient, ε = 0.1, λ = 0.01 and a penalty gradient ``λ·θ``, 200 steps
    leave ``θ·0.8186`` with decoupled decay and ``θ·0.1219`` with the penalty
    (``tests/tuning/test_penalty.py``).

    Example:

    >>> from keras_recipes.tuning import make_optimizer
    >>> opt = make_optimizer("sgd", 0.1, 1e-4)
    >>> round(float(opt.learning_rate), 4), opt.weight_decay, opt.nesterov
    (0.1, 0.0001, True)
    >>> import keras
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> opt = make_optimizer("sgd", 0.1, 1e-4, penalty="l2", model=model, batch_size=32)
    >>> opt.weight_decay is None, model.layers[0].kernel.regularizer
    (True, L2(lam=0.0001, n=32))

    References:
        Loshchilov & Hutter (2019), Decoupled Weight Decay Regularization,
        https://arxiv.org/abs/1711.05101
    """
    check_number("learning_rate", learning_rate, low=0, low_inclusive=False)
    check_number("weight_decay", weight_decay, low=0)
    check_one_of("penalty", penalty, PENALTIES)
    check_number("batch_size", batch_size, low=1, integer=True)
    lr, wd = float(learning_rate), float(weight_decay)
    if penalty == "l2":
        if wd > 0:
            if not isinstance(model, keras.Model):
                raise ValueError(
                    "Argument `model` must be the built keras.Model to penalise when "
                    f"penalty='l2' and weight_decay > 0. Received: model={model!r}"
                )
            from keras_recipes.regularizers import L2, apply_penalty

            apply_penalty(model, L2(lam=wd, n=int(batch_size)))
        wd = 0.0
    if callable(optimizer):
        return optimizer(learning_rate=lr, weight_decay=wd)
    check_one_of("optimizer", optimizer, OPTIMIZERS)
    decay = wd if wd > 0 else None
    if optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=decay)
    if optimizer == "adam":
        return keras.optimizers.Adam(lr, weight_decay=decay)
    if optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=wd)
    return keras.optimizers.RMSprop(lr, weight_decay=decay)


def _is_classification(y: np.ndarray) -> bool:
    return y.ndim == 1 and y.dtype.kind in "iub" or (
        y.ndim == 2 and y.shape[1] == 1 and y.dtype.kind in "iub"
    )


def _resolve_builder(model, x: np.ndarray, y: np.ndarray):
    """Return ``(builder(hp) -> Model, classification)``."""
    from keras_recipes.workflows.common import MODEL_NAMES

    classification = _is_classification(y)
    if isinstance(model, str):
        from keras_recipes.models import build_model

        check_one_of("model", model, MODEL_NAMES)
        shape = tuple(x.shape[1:])
        if classification:
            units, act = int(np.max(y)) + 1, "softmax"
        else:
            units, act = (1 if y.ndim == 1 else int(y.shape[1])), None
        build_model(model, shape, units, output_activation=act)  # fail now on bad shapes
        return (lambda hp: build_model(model, shape, units, output_activation=act)), classification
    if not callable(model):
        names = ", ".join(repr(name) for name in MODEL_NAMES)
        raise ValueError(
            f"Argument `model` must be {names} or a callable returning a keras.Model. "
            f"Received: model={model!r}"
        )
    try:
        takes_hp = len(inspect.signature(model).parameters) > 0
    except (TypeError, ValueError):
        takes_hp = True
    return (model if takes_hp else (lambda hp: model())), classification


class _RecipeHyperModel(keras_tuner.HyperModel):
    """Declares the space, builds the user's model, compiles it with (ε, λ) if needed."""

    def __init__(self, builder, space, optimizer, loss, metrics, seed, penalty="decoupled",
                 batch_size=32):
        super().__init__(name="keras_recipes")
        self._penalty = penalty
        self._batch_size = batch_size
        self._builder = builder
        self._space = space
        self._optimizer = optimizer
        self._loss = loss
        self._metrics = metrics
        self._seed = seed

    def build(self, hp):
        values = define_hyperparameters(hp, self._space)
        keras.utils.set_random_seed(self._seed)  # every trial starts from the same weights
        model = self._builder(hp)
        if not isinstance(model, keras.Model):
            raise kt_errors.FatalTypeError(
                f"The model builder must return a keras.Model. Received: {type(model).__name__}"
            )
        if not getattr(model, "compiled", False):
            model.compile(
                optimizer=make_optimizer(
                    self._optimizer,
                    values.get("learning_rate", 1e-3),
                    values.get("weight_decay", 0.0),
                    penalty=self._penalty,
                    model=model,
                    batch_size=self._batch_size,
                ),
                loss=self._loss,
                metrics=list(self._metrics),
            )
        return model


def _divergence(histories, objective_name: str) -> str | None:
    """A message when any execution logged a non-finite loss or objective, else None."""
    for history in histories if isinstance(histories, list) else [histories]:
        logs = getattr(history, "history", None)
        if not isinstance(logs, Mapping):
            continue
        for key in ("loss", objective_name):
            for epoch, value in enumerate(logs.get(key, ())):
                if not math.isfinite(float(value)):
                    return f"{DIVERGED}: `{key}` became {float(value)} at epoch {epoch + 1}"
    return None


def check_verbose(verbose) -> int:
    """``verbose`` as 0, 1 or 2 (``"auto"`` is 1, as in ``model.fit``)."""
    if verbose == "auto" and isinstance(verbose, str):
        return 1
    if isinstance(verbose, (bool, int, np.integer)) and int(verbose) in (0, 1, 2):
        return int(verbose)
    raise ValueError(f"Argument `verbose` must be 'auto', 0, 1 or 2. Received: "
                     f"verbose={verbose!r}")


def _number(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


def trial_line(index: int, total: int | None, trial, objective: str,
               seconds: float | None) -> str:
    """One progress line: ``Trial 2/9: learning_rate=0.01, weight_decay=0.0005 ->
    val_loss=0.4123 (3.2 s)``, or the reason of a failure instead of the score."""
    values = []
    for key, value in trial.hyperparameters.values.items():
        if key == "tuner/epochs":
            values.append(f"epochs={_number(value)}")
        elif not key.startswith("tuner/"):
            values.append(f"{key}={_number(value)}")
    status = str(getattr(trial.status, "value", trial.status))
    if status == "COMPLETED" and trial.score is not None:
        outcome = f"{objective}={_number(float(trial.score))}"
    else:
        reason = _last_line(trial.message)
        outcome = f"{status.lower()}" + (f" ({reason})" if reason else "")
    count = f"{index}/{total}" if total else f"{index}"
    took = f" ({seconds:.1f} s)" if seconds is not None else ""
    return f"Trial {count}: {', '.join(values) or 'no hyperparameters'} -> {outcome}{took}"


class _RecipeTunerMixin:
    """Records diverging trials as FAILED; stops only after repeated real errors; times
    each trial and, with ``progress`` (``verbose`` >= 1), prints one line per trial."""

    def __init__(self, *args, max_consecutive_errors: int = 3, progress: bool = False,
                 **kwargs):
        self._max_errors = max_consecutive_errors
        self._errors_in_a_row = 0
        self._started: dict[str, float] = {}
        self._progress = progress
        # KerasTuner's `clear_session()` before each trial resets Keras's interactive-logging
        # switch: the one set when the search starts decides where the lines go.
        self._interactive = keras.utils.is_interactive_logging_enabled()
        self._trials_ended = 0
        self.trial_seconds: dict[str, float] = {}
        self.finished_trials: dict[str, Any] = {}
        super().__init__(*args, **kwargs)

    def run_trial(self, trial, *args, **kwargs):
        try:
            histories = super().run_trial(trial, *args, **kwargs)
        except (kt_errors.FailedTrialError, kt_errors.FatalError):
            raise
        except Exception as exc:
            self._errors_in_a_row += 1
            if self._errors_in_a_row >= self._max_errors:
                raise kt_errors.FatalError(
                    f"{self._errors_in_a_row} trials in a row raised an error (divergence "
                    f"excluded); the last one: {type(exc).__name__}: {exc}"
                ) from exc
            raise
        self._errors_in_a_row = 0
        reason = _divergence(histories, self.oracle.objective.name)
        if reason is not None:
            raise kt_errors.FailedTrialError(reason)
        return histories

    def on_trial_begin(self, trial):
        self._started[trial.trial_id] = time.perf_counter()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        start = self._started.pop(trial.trial_id, None)
        if start is not None:
            self.trial_seconds[trial.trial_id] = time.perf_counter() - start
        super().on_trial_end(trial)
        ended = trial
        if not isinstance(self.oracle, keras_tuner.Oracle):  # a worker: ask the chief
            with contextlib.suppress(Exception):
                ended = self.finished_trials[trial.trial_id] = self.oracle.get_trial(
                    trial.trial_id)
        else:
            with contextlib.suppress(Exception):
                ended = self.oracle.get_trial(trial.trial_id)
        self._trials_ended += 1
        if self._progress:
            with contextlib.suppress(Exception):  # progress never stops a search
                total = getattr(self.oracle, "max_trials", None)
                line = trial_line(self._trials_ended, total, ended, self.oracle.objective.name,
                                  self.trial_seconds.get(trial.trial_id))
                if self._interactive:
                    print_msg(line)
                else:
                    absl_logging.info(line)


class RecipeGridSearch(_RecipeTunerMixin, keras_tuner.GridSearch):
    """``keras_tuner.GridSearch`` that records a diverging trial as failed."""


class RecipeRandomSearch(_RecipeTunerMixin, keras_tuner.RandomSearch):
    """``keras_tuner.RandomSearch`` that records a diverging trial as failed."""


class RecipeHyperband(_RecipeTunerMixin, keras_tuner.Hyperband):
    """``keras_tuner.Hyperband`` that records a diverging trial as failed."""


TUNERS = {"grid": RecipeGridSearch, "random": RecipeRandomSearch, "hyperband": RecipeHyperband}


def _check_data(x, y, validation_data):
    x = np.asarray(x)
    if y is None:
        raise ValueError("Argument `y` must hold the targets. Received: y=None")
    y = np.asarray(y)
    if x.ndim == 0 or len(x) == 0 or len(x) != len(y):
        raise ValueError(
            "Arguments `x` and `y` must be non-empty arrays of the same length. "
            f"Received: x.shape={x.shape}, y.shape={y.shape}"
        )
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError(
                "Argument `validation_data` must be an (x_val, y_val) pair. "
                f"Received: validation_data of type {type(validation_data).__name__}"
            )
        validation_data = (np.asarray(validation_data[0]), np.asarray(validation_data[1]))
    return x, y, validation_data


def _objective_name(objective) -> str:
    if isinstance(objective, keras_tuner.Objective):
        return objective.name
    if not isinstance(objective, str) or not objective:
        raise ValueError(
            "Argument `objective` must be a metric name such as 'val_loss' or a "
            f"keras_tuner.Objective. Received: objective={objective!r}"
        )
    return objective


def run_search(
    kind: str,
    model,
    x,
    y,
    *,
    space: Mapping[str, Any],
    validation_data=None,
    objective="val_loss",
    epochs: int = 1,
    batch_size: int = 32,
    optimizer="sgd",
    penalty: str = "decoupled",
    loss=None,
    metrics: Sequence[Any] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    directory: str | os.PathLike | None = None,
    project_name: str | None = None,
    overwrite: bool = True,
    seed: int = 0,
    max_trials: int | None = None,
    executions_per_trial: int = 1,
    max_consecutive_errors: int = 3,
    stop_on_nan: bool = True,
    verbose: int | str = "auto",
    return_tuner: bool = False,
    tuner_kwargs: Mapping[str, Any] | None = None,
):
    """Validate everything, run one KerasTuner search, return its results frame."""
    from keras_recipes.tuning.results import results_frame

    check_one_of("kind", kind, tuple(TUNERS))
    space = check_space(space, grid=kind == "grid")
    x, y, validation_data = _check_data(x, y, validation_data)
    check_number("epochs", epochs, low=1, integer=True)
    check_number("batch_size", batch_size, low=1, integer=True)
    check_number("seed", seed, low=0, integer=True)
    check_number("executions_per_trial", executions_per_trial, low=1, integer=True)
    check_number("max_consecutive_errors", max_consecutive_errors, low=1, integer=True)
    if max_trials is not None:
        check_number("max_trials", max_trials, low=1, integer=True)
    if not callable(optimizer):
        check_one_of("optimizer", optimizer, OPTIMIZERS)
    check_one_of("penalty", penalty, PENALTIES)
    verbose = check_verbose(verbose)
    objective_name = _objective_name(objective)
    builder, classification = _resolve_builder(model, x, y)
    if loss is None:
        loss = "sparse_categorical_crossentropy" if classification else "mse"
    if metrics is None:
        metrics = ["accuracy"] if classification else []
    if validation_data is None and objective_name.startswith("val_"):
        from keras_recipes.data import split

        train, _, val = split(x, y, fractions=(0.8, 0.2), stratify=classification, seed=seed)
        (x, y), validation_data = train, val
    if directory is not None and os.path.isfile(directory):
        raise ValueError(f"Argument `directory` must be a folder. Received: a file, "
                         f"directory={str(directory)!r}")

    distributed = "KERASTUNER_ORACLE_IP" in os.environ
    if distributed and directory is None:
        raise ValueError("Distributed tuning (KERASTUNER_* variables set) needs a `directory` "
                         "that the chief and every worker share. Received: directory=None")
    owns_dir = directory is None
    workdir = tempfile.mkdtemp(prefix="keras_recipes_tuning_") if owns_dir else str(directory)
    if distributed and "chief" not in os.environ.get("KERASTUNER_TUNER_ID", "chief"):
        overwrite = False  # only the chief may clear the shared project folder

    hypermodel = _RecipeHyperModel(builder, space, optimizer, loss, metrics, seed,
                                   penalty=penalty, batch_size=int(batch_size))
    kwargs = dict(tuner_kwargs or {})
    if kind != "hyperband":
        kwargs["max_trials"] = max_trials
        kwargs["executions_per_trial"] = executions_per_trial
    else:
        kwargs["executions_per_trial"] = executions_per_trial
    try:
        tuner = TUNERS[kind](
            hypermodel=hypermodel,
            objective=objective,
            seed=seed + 1,  # KerasTuner treats seed 0 as "no seed"
            max_consecutive_failed_trials=2**31 - 1,  # divergences never stop the search
            max_consecutive_errors=max_consecutive_errors,
            progress=verbose >= 1,
            directory=workdir,
            project_name=project_name or f"{kind}_search",
            overwrite=overwrite,
            **kwargs,
        )
        fit_callbacks = list(callbacks or [])
        if stop_on_nan and not any(isinstance(c, keras.callbacks.TerminateOnNaN)
                                   for c in fit_callbacks):
            fit_callbacks.append(keras.callbacks.TerminateOnNaN())
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Skipping variable loading.*")
            tuner.search(
                x, y,
                validation_data=validation_data,
                epochs=epochs,
                batch_size=batch_size,
                callbacks=fit_callbacks,
                verbose=2 if verbose == 2 else 0,
            )
        frame = results_frame(tuner)
    except kt_errors.FatalError as exc:
        raise RuntimeError(f"The search stopped: {exc}") from exc
    finally:
        if owns_dir and not return_tuner:
            shutil.rmtree(workdir, ignore_errors=True)
    _raise_if_nothing_ran(frame)
    return (frame, tuner) if return_tuner else frame


def _raise_if_nothing_ran(frame) -> None:
    if len(frame) == 0 or (frame["status"] == "COMPLETED").any():
        return
    errors = frame[~frame["diverged"]]
    if len(errors):
        raise RuntimeError(
            f"Every trial of the search failed. First error: {errors['message'].iloc[0]}"
        )
    warnings.warn("Every trial of the search diverged: lower the learning rates of the space.",
                  stacklevel=3)
