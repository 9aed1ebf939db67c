"""The ``keras-recipes`` console command.

Each sub-command is one ``_cmd_*`` function registered in :func:`build_parser`. Arguments
are checked before Keras is imported, so a bad argument answers at once with one line on
stderr and exit code 2, never a traceback.

The scripts in ``recipes/`` call the library themselves and share the command's checks
from here: :class:`ArgumentParser` (a bad flag is one line), the flag types
(:func:`positive_int`, :func:`learning_rate_arg`...), :func:`add_data_model_args` and
:func:`load_for_cli`, :func:`usage_errors` (a library ``ValueError`` becomes a one-line
message; an :class:`~keras_recipes._validation.ArgumentError` names the flag of its
argument, :func:`flag_message`) and :func:`run_guarded` (messages and exit codes). The
steamroller's options are generated from its config's fields (:func:`add_config_options`).

Order of work in every command: parse the flags, check the output paths, load the data
(NumPy and pandas only) and check what depends on it (``--stage-classes`` labels, the
workflows' settings), and only then import Keras and its backend. A refusal therefore
costs the start-up and the data loading, never the backend import.

Backend noise: :func:`run_guarded` sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless the user set it,
and, while the command runs, drops from the process's stderr the lines that TensorFlow's
C++ runtime writes before its logging is set up and that the level does not hide (absl's
"All log messages before absl::InitializeLog()", the oneDNN, CUDA-driver and CPU-feature
notices, ``failed call to cuInit`` on a machine without a GPU). Numerics are unchanged
(oneDNN stays on). ``TF_CPP_MIN_LOG_LEVEL=0`` shows everything.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence

from keras_recipes._distribute_env import setup_problem
from keras_recipes._paths import check_output_dir, check_output_file
from keras_recipes._validation import FLOAT32_MAX, FLOAT32_TINY, INT64_MAX
from keras_recipes.data.dataset import DATASET_NAMES, OFFLINE_DATASETS
from keras_recipes.workflows import common

#: The ``--model`` choices: :data:`keras_recipes.workflows.common.MODEL_NAMES`.
MODELS = common.MODEL_NAMES


class UsageError(Exception):
    """A bad command-line argument: printed as one line, exit code 2."""


#: How the options spell the library's argument names: ``{(name, None): "--flag",
#: (name, "value"): "--flag"}``, filled by :meth:`ArgumentParser.add_argument` (and by
#: :func:`add_config_options` for a field whose option has another name).
_SPELLINGS: dict[tuple[str, str | None], str] = {}


def _remember(name: str, flag: str, value: str | None = None) -> None:
    _SPELLINGS.setdefault((name, value), flag)


def flag_spelling(name: str, value: str | None) -> str | None:
    """How the command line names the library's argument ``name``
    (:data:`keras_recipes._validation.Spelling`): ``--out`` for ``out``, ``--out=`` before a
    value, ``--fresh`` for ``resume=False``; ``None`` when no option sets it."""
    if value:
        return _SPELLINGS.get((name, value))
    flag = _SPELLINGS.get((name, None))
    return None if flag is None else flag + ("=" if value == "" else "")


def flag_message(exc: BaseException) -> str:
    """The message of ``exc`` with the library's argument names spelled as options.

    A library error that carries its arguments as data
    (:class:`~keras_recipes._validation.ArgumentError`) is rendered with
    :func:`flag_spelling`; an error that wraps one with the same message (``raise
    SteamrollerInputError(str(exc)) from exc``) is rendered from it. Any other message is
    shown as it is.
    """
    from keras_recipes._validation import ArgumentError

    found: BaseException | None = exc
    while found is not None and not isinstance(found, ArgumentError):
        cause = found.__cause__
        found = cause if cause is not None and str(cause) == str(exc) else None
    return str(exc) if found is None else found.render(flag_spelling)


@contextlib.contextmanager
def usage_errors(*types: type[BaseException]) -> Iterator[None]:
    """Turn the exceptions ``types`` (default ``ValueError``) raised inside into a
    :class:`UsageError` whose message names command-line options (:func:`flag_message`)."""
    caught = types or (ValueError,)
    try:
        yield
    except caught as exc:
        raise UsageError(flag_message(exc)) from exc


def check_dir(path: str | os.PathLike | None, flag: str) -> None:
    """An output folder that cannot be written answers before any work."""
    if path is not None:
        with usage_errors(ValueError):
            check_output_dir(path, flag.lstrip("-").replace("-", "_"))


class HelpFormatter(argparse.HelpFormatter):
    """Help that shows every option's default: ``(default: X)`` is appended to the help of
    an option whose default is neither ``None`` nor ``False``, unless the help already says
    ``(default``; an on/off flag says in its own words what happens without it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or default is None or default is False
                or default is argparse.SUPPRESS or "(default" in text):
            return text
        shown = ",".join(map(str, default)) if isinstance(default, list | tuple) else default
        shown = str(shown).replace("%", "%%")
        return f"{text} (default: {shown})" if text else f"(default: {shown})"


class ArgumentParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose errors raise :class:`UsageError`: one line
    on stderr and exit code 2 under :func:`run_guarded` (argparse prints the usage too).
    Its help shows every option's default (:class:`HelpFormatter`), and each option it adds
    is remembered as the spelling of its destination (:func:`flag_spelling`), so a library
    error about that argument names the option."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs and action.dest not in ("help", "version"):
            _remember(action.dest, longs[0])
            if isinstance(action.const, bool):  # a flag without a value: dest=const
                _remember(action.dest, longs[0], str(action.const))
        return action

    def error(self, message: str):
        raise UsageError(message)


def dataset_arg(value: str) -> str:
    """Flag type: a data set name or an existing ``.npz``/``.csv`` path."""
    if value in DATASET_NAMES or value.endswith((".npz", ".csv")):
        if value.endswith((".npz", ".csv")) and not os.path.isfile(value):
            raise argparse.ArgumentTypeError(f"no such data file: {value!r}")
        return value
    raise argparse.ArgumentTypeError(
        f"unknown dataset {value!r}; choose from {', '.join(DATASET_NAMES)} "
        "or a .npz/.csv path"
    )


def _parsed(kind: Callable[[str], float], value: str, invalid: float) -> float:
    """``kind(value)``, or ``invalid`` (a value the flag type's range check refuses) when
    ``value`` does not parse, so that both give the same message."""
    try:
        return kind(value)
    except ValueError:
        return invalid


def positive_int(value: str) -> int:
    """Flag type: an integer >= 1 that fits in int64 (larger ones overflow in NumPy and
    TensorFlow)."""
    n = _parsed(int, value, 0)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    if n > INT64_MAX:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer of at most 2**63 - 1 (int64), got {value!r}")
    return n


def positive_float(value: str) -> float:
    """Flag type: a finite number > 0."""
    v = _parsed(float, value, -1.0)
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got {value!r}")
    return v


def non_negative_int(value: str) -> int:
    """Flag type: an integer >= 0 that fits in int64 (0 turns a check off)."""
    return 0 if value.strip() == "0" else positive_int(value)


def learning_rate_arg(value: str) -> float:
    """Flag type: a learning rate that float32 holds as a normal number (1.18e-38 to
    3.4e38); Keras trains in float32, where a smaller rate is subnormal or 0."""
    v = positive_float(value)
    if not FLOAT32_TINY <= v <= FLOAT32_MAX:
        raise argparse.ArgumentTypeError(
            f"expected a learning rate from {FLOAT32_TINY:.3g} to {FLOAT32_MAX:.3g} (outside "
            f"that range it is 0, subnormal or infinite in float32), got {value!r}")
    return v


def seed_arg(value: str) -> int:
    """Flag type: a random seed, from 0 to 2**32 - 1."""
    n = _parsed(int, value, -1)
    if not 0 <= n < 2**32:
        raise argparse.ArgumentTypeError(
            f"expected an integer from 0 to 2**32 - 1, got {value!r}")
    return n


def add_data_model_args(p: argparse.ArgumentParser, *, epochs: int | None = None,
                        workflow: bool = False, standardize: bool | None = None) -> None:
    """The ``--dataset``, ``--target``, ``--drop``, ``--model``, ``--seed`` (and
    ``--epochs``) options, and ``--no-standardize`` when ``standardize`` (or ``workflow``)
    is true: such a command standardises the inputs inside the model by default
    (:func:`standardization_for`)."""
    p.add_argument("--dataset", type=dataset_arg, default="digits",
                   help="data set name or .npz/.csv path (default: digits)")
    p.add_argument("--target", default=None, help="target column of a .csv data set")
    p.add_argument("--drop", default=None, type=lambda v: [c for c in v.split(",") if c],
                   metavar="COLUMNS", help="comma-separated columns of a .csv data set that "
                   "are not features (an id, a date)")
    p.add_argument("--model", choices=MODELS, default="mlp", help="baseline model (default: mlp)")
    if workflow if standardize is None else standardize:
        p.add_argument("--no-standardize", dest="standardize", action="store_false",
                       help="use the raw inputs (default: standardise them inside the model "
                       "with the training split's mean and variance, so a saved model "
                       "predicts on raw data)")
    p.add_argument("--seed", type=seed_arg, default=0, help="random seed (default: 0)")
    if epochs is not None:
        p.add_argument("--epochs", type=positive_int, default=epochs,
                       help=f"training epochs (default: {epochs})")


def load_for_cli(args, *, classes: bool = True):
    """Load ``args.dataset`` for ``args.model``; raise :class:`UsageError` on bad input.

    ``args`` holds ``dataset``, ``model``, ``seed``, ``target`` and optionally ``drop`` (the
    options of :func:`add_data_model_args`). With ``classes=False`` a regression set is
    accepted too.
    """
    from keras_recipes.data import DatasetUnavailableError, load_dataset

    with usage_errors(ValueError, DatasetUnavailableError):
        ds = load_dataset(args.dataset, flatten=False, seed=args.seed, target=args.target,
                          drop=getattr(args, "drop", None))
    if classes and ds.task != "classification":
        raise UsageError(f"dataset {args.dataset!r} is a regression set; this command "
                         "needs classes")
    if ds.task == "classification" and ds.num_classes < 2:
        raise UsageError(f"dataset {args.dataset!r} holds a single class "
                         f"({', '.join(map(str, ds.class_names or [0]))}); classification "
                         "needs at least 2")
    if args.model == "cnn" and len(ds.input_shape) != 3:
        raise UsageError(f"--model cnn needs image data; {args.dataset!r} has input shape "
                         f"{ds.input_shape}")
    return ds


def standardization_for(args, x_train):
    """The layer that standardises the inputs inside the model (the workflows' own,
    :func:`keras_recipes.workflows.standardize.standardization_layer` of the training
    split), or ``None`` under ``--no-standardize``. Imports Keras."""
    if not getattr(args, "standardize", True):
        return None
    from keras_recipes.workflows.standardize import standardization_layer

    return standardization_layer(x_train)


def stage_classes_arg(value: str) -> int | list[str]:
    """Flag type of ``--stage-classes``: a number of classes, or class labels.

    A single integer (``2``) is a number of classes: the first ones in label order. A
    comma-separated list (``3,8``, ``barolo,barbera``) names the labels as the data file
    writes them; at least two are needed, so a list is never mistaken for a number. The
    labels are checked against the data by :func:`resolve_stage_classes`.
    """
    text = value.strip()
    if "," not in text:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                "expected a number of classes or a comma-separated list of at least two "
                f"labels, got {value!r}") from None
    labels = [v.strip() for v in text.split(",")]
    if not all(labels):
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of labels with no empty one, got {value!r}")
    return labels


def resolve_stage_classes(value: int | Sequence[str | int], ds) -> int | list[int]:
    """``--stage-classes`` checked against ``ds``: a number of classes as it is, labels as
    the class indices the workflows take.

    A label matches a class name as written, or as a number (``3.0`` finds ``3``).

    Raises:
        UsageError: a number below 2 or above the number of classes, a label the data does
            not hold (the message lists the labels it holds), a label named twice.
    """
    from keras_recipes.data.dataset import _canonical_label

    names = [str(n) for n in ds.class_names or []]
    if isinstance(value, int):
        if value < 2:
            raise UsageError(f"--stage-classes must be >= 2 (a number of classes) or list at "
                             f"least two labels. Received: --stage-classes={value}")
        if value > len(names):
            raise UsageError(f"--stage-classes must be <= the number of classes "
                             f"({len(names)}). Received: --stage-classes={value}")
        return value
    labels = [str(v) for v in value]
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index.setdefault(name, i)
    for i, name in enumerate(names):
        index.setdefault(_canonical_label(name), i)
    chosen = [index.get(label, index.get(_canonical_label(label))) for label in labels]
    unknown = [label for label, i in zip(labels, chosen, strict=True) if i is None]
    if unknown:
        listed = ", ".join(repr(u) for u in unknown)
        verb = "is not a label" if len(unknown) == 1 else "are not labels"
        raise UsageError(f"--stage-classes: {listed} {verb} of {ds.name!r}; its labels "
                         f"are: {', '.join(names)}")
    if len(labels) < 2 or len(set(chosen)) != len(chosen):
        raise UsageError("--stage-classes must list at least 2 distinct labels. Received: "
                         f"--stage-classes={','.join(labels)}")
    return chosen


def configured_backend() -> str:
    """The Keras backend this process will use, read as Keras reads it (``KERAS_BACKEND``,
    then ``keras.json`` under ``KERAS_HOME`` or ``~/.keras``), without importing Keras."""
    name = os.environ.get("KERAS_BACKEND")
    if name:
        return name
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            name = json.load(f).get("backend")
    except (OSError, ValueError, AttributeError):
        name = None
    return name if isinstance(name, str) and name else "tensorflow"


def check_distribute(name: str | None) -> None:
    """``--distribute`` checked before Keras is imported: its backend (from
    :func:`configured_backend`) and, for ``multiworker``, ``TF_CONFIG``. The workflow checks
    again once the backend runs."""
    if name is None:
        return
    problem = setup_problem(name, configured_backend())
    if problem:
        raise UsageError(f"--distribute={name} {problem}")


def add_lr_find_args(p: argparse.ArgumentParser) -> None:
    """The range test's ``--optimizer``, ``--min-lr``, ``--max-lr``, ``--num-steps``,
    ``--batch-size`` and ``--rule`` options (check them with :func:`check_lr_range`)."""
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="optimizer of the range test")
    p.add_argument("--min-lr", type=learning_rate_arg, default=1e-7,
                   help="first learning rate of the range")
    p.add_argument("--max-lr", type=learning_rate_arg, default=10.0,
                   help="last learning rate of the range")
    p.add_argument("--num-steps", type=positive_int, default=100,
                   help="training steps of the range test, >= 10")
    p.add_argument("--batch-size", type=positive_int, default=32, help="batch size")
    p.add_argument("--rule", choices=("combined", "valley", "steepest", "minimum"),
                   default="combined",
                   help="suggestion rule: combined suits a one-cycle peak (default: combined)")


def check_lr_range(min_lr: float, max_lr: float, num_steps: int) -> None:
    """The range test's bounds: ``--min-lr < --max-lr`` and at least 10 steps."""
    if not min_lr < max_lr:
        raise UsageError(f"--max-lr must be > --min-lr (got {min_lr:g} and {max_lr:g})")
    if num_steps < 10:
        raise UsageError(f"--num-steps must be >= 10 (got {num_steps})")


def check_csv_out(path: str | os.PathLike, flag: str = "--out") -> None:
    """An output CSV path that is not a folder and whose folder can be created."""
    if os.path.isdir(path):
        raise UsageError(f"{flag} must be a CSV file path, but {os.fspath(path)!r} is a "
                         "folder")
    check_dir(os.path.dirname(os.path.abspath(path)), flag)


def write_lr_find(result, out: str | os.PathLike) -> tuple[str, str]:
    """Write a range test's ``lr_find.csv`` and ``lr_find.png`` into ``out`` (created if
    needed), each atomically; returns their paths."""
    csv_path = os.path.join(out, "lr_find.csv")
    png_path = os.path.join(out, "lr_find.png")
    common.atomic_write_text(csv_path, result.to_csv())
    common.save_figure(result.plot(), png_path)
    return csv_path, png_path


def _cmd_datasets(args) -> int:
    print("name            offline  source")
    for name in DATASET_NAMES:
        offline = "yes" if name in OFFLINE_DATASETS else "no"
        source = ("scikit-learn (bundled)" if name == "digits" else
                  "generated" if name in OFFLINE_DATASETS else
                  "keras.datasets (downloaded once, then cached)")
        print(f"{name:<15} {offline:<8} {source}")
    print("A .npz file (arrays x, y) or a .csv file (--target COLUMN) is also accepted.")
    return 0


def _split_and_build(args, ds):
    """Seed with ``--seed``, split ``ds`` and build ``--model`` on it: (model, train, val, test).

    The network standardises its inputs with the training split's statistics unless
    ``--no-standardize`` is given.
    """
    import keras

    from keras_recipes.data import split

    keras.utils.set_random_seed(args.seed)
    train, val, test = split(ds.x, ds.y, seed=args.seed)
    model = common.build_network(args.model, ds.input_shape, ds.num_classes,
                                 normalization=standardization_for(args, train[0]))
    return model, train, val, test


def _cmd_train(args) -> int:
    if args.save:
        with usage_errors(ValueError):
            check_output_file(args.save, "save", (".keras",))
    ds = load_for_cli(args)
    import keras

    model, train, val, test = _split_and_build(args, ds)
    model.compile(optimizer=keras.optimizers.Adam(args.lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(*train, validation_data=val, epochs=args.epochs,
                        batch_size=args.batch_size, verbose=2 if args.verbose else 0,
                        callbacks=[keras.callbacks.TerminateOnNaN()])
    loss, acc = model.evaluate(*test, verbose=0)
    losses = [float(v) for v in history.history.get("loss", [])]
    if not losses or not all(map(math.isfinite, [*losses, loss])):
        epoch = next((i for i, v in enumerate(losses) if not math.isfinite(v)), len(losses))
        print(f"keras-recipes: error: training diverged (loss {loss:g} in epoch {epoch + 1}); "
              f"try a lower --lr than {args.lr:g}"
              + ("; nothing saved" if args.save else ""), file=sys.stderr)
        return 1
    print(f"{ds.name} {args.model}: test accuracy {acc:.4f} (loss {loss:.4f}, "
          f"{args.epochs} epochs, {len(train[0])} train / {len(test[0])} test examples)")
    if args.save:
        common.atomic_write(args.save, model.save)  # a complete file or none
        print(f"saved {args.save}")
    return 0


def _cmd_lr_find(args) -> int:
    check_lr_range(args.min_lr, args.max_lr, args.num_steps)
    check_dir(args.out, "--out")
    ds = load_for_cli(args)
    import keras

    from keras_recipes.lr_finder import find_lr

    model, (x, y), _, _ = _split_and_build(args, ds)
    optimizer = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[args.optimizer]
    model.compile(optimizer=optimizer(args.min_lr), loss="sparse_categorical_crossentropy")
    result = find_lr(model, x, y, min_lr=args.min_lr, max_lr=args.max_lr,
                     num_steps=args.num_steps, batch_size=args.batch_size, suggest=args.rule,
                     seed=args.seed)
    csv_path, png_path = write_lr_find(result, args.out)
    print(f"{ds.name} {args.model} ({args.optimizer}): {result!r}")
    print(f"wrote {csv_path} and {png_path}")
    return 0


def _cmd_diagnose(args) -> int:
    check_dir(args.log_dir, "--log-dir")
    ds = load_for_cli(args)
    import warnings

    import keras

    from keras_recipes.diagnostics import DiagnosticLogger, diagnose, print_report

    model, train, val, _ = _split_and_build(args, ds)
    model.compile(optimizer=keras.optimizers.Adam(args.lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    logger = DiagnosticLogger(data=train, validation_data=val, log_dir=args.log_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(*train, validation_data=val, epochs=args.epochs, batch_size=args.batch_size,
                  verbose=0, callbacks=[logger])
    for w in caught:
        if str(w.message).startswith("DiagnosticLogger"):
            print(f"note: {w.message}")
    s = logger.summary
    print(f"{ds.name} {args.model}: {s.get('trainable_params')} trainable parameters, "
          f"{s.get('train_size')} train / {s.get('val_size')} val examples, "
          f"{args.epochs} epochs at lr={args.lr:g}")
    print_report(diagnose(logger), file=sys.stdout)
    if args.log_dir:
        path = os.path.join(args.log_dir, "diagnostics.csv")
        failed = [str(w.message) for w in caught if "writing" in str(w.message)]
        if failed or not os.path.isfile(path):
            print(f"keras-recipes: error: {path} was not written"
                  + (f" ({failed[0]})" if failed else ""), file=sys.stderr)
            return 2
        print(f"wrote {path}")
    return 0


#: Flag types of the option kinds of the workflows' config fields
#: (:func:`keras_recipes.workflows.steamroller.config._option`).
_KINDS: dict[str, Callable[[str], object] | None] = {
    "count": positive_int, "count0": non_negative_int, "positive": positive_float,
    "classes": stage_classes_arg, "path": None, "choice": None}


def _options(config_class) -> Iterator[tuple[dataclasses.Field, dict, str, str]]:
    """``(field, option, flag, dest)`` of each field of ``config_class`` with an option."""
    for field in dataclasses.fields(config_class):
        option = field.metadata.get("option")
        if option is None:
            continue
        flag = option["flag"] or "--" + field.name.replace("_", "-")
        negated = flag == "--no-" + field.name.replace("_", "-")
        dest = field.name if negated else flag[2:].replace("-", "_")
        yield field, option, flag, dest


def add_config_options(p: argparse.ArgumentParser, config_class) -> None:
    """One option per field of the dataclass ``config_class`` whose metadata holds an
    ``"option"``: its flag, type, default and help all come from the field, so a new
    setting of the workflow is one edit there.

    A ``"switch"`` becomes a flag without a value that sets the field to the option's
    ``value``: ``--no-grow`` (``grow=False``) and ``--repair`` (``repair=True``) keep the
    field's name as destination;
    another name (``--fresh`` for ``resume=False``) is its own destination, read back by
    :func:`config_settings`.
    """
    for field, option, flag, dest in _options(config_class):
        if option["kind"] == "switch":
            if dest == field.name:  # --no-grow sets grow=False, --repair repair=True
                p.add_argument(flag, dest=dest, action="store_const", const=option["value"],
                               default=field.default, help=option["help"])
            else:
                p.add_argument(flag, dest=dest, action="store_true", help=option["help"])
            _remember(field.name, flag, str(option["value"]))
        else:
            kind = _KINDS[option["kind"]]
            p.add_argument(flag, dest=dest, default=field.default, help=option["help"],
                           **({"type": kind} if kind is not None else {}),
                           **({"choices": option["choices"]} if option["choices"] else {}))
        _remember(field.name, flag)


def config_settings(args: argparse.Namespace, config_class) -> dict:
    """The ``config_class`` keyword arguments of the options :func:`add_config_options`
    added (those ``args`` holds)."""
    settings = {}
    for field, option, _, dest in _options(config_class):
        if not hasattr(args, dest):
            continue
        value = getattr(args, dest)
        if option["kind"] == "switch" and dest != field.name:
            value = option["value"] if value else field.default
        settings[field.name] = value
    return settings


def check_steamroller(ds, settings: dict) -> None:
    """The steamroller's settings and stage plan checked on ``ds`` without Keras: the
    workflow's own :class:`~keras_recipes.workflows.SteamrollerConfig` and
    :func:`~keras_recipes.workflows.plan_stages`, the plan cut on the labels alone.

    ``settings`` are :func:`~keras_recipes.workflows.steamroller` keyword arguments, with
    ``stage_classes`` already a number or class indices (:func:`resolve_stage_classes`).
    """
    import numpy as np

    from keras_recipes.workflows.steamroller.config import (
        SteamrollerConfig,
        SteamrollerInputError,
    )
    from keras_recipes.workflows.steamroller.stages import plan_stages

    with usage_errors(SteamrollerInputError, ValueError):
        config = SteamrollerConfig(**{**settings, "distribute": None})  # checked apart
        plan_stages(np.zeros((len(ds.y), 0), dtype="float32"), ds.y, ds.class_names,
                    stage_classes=config.stage_classes,
                    stage1_per_class=int(config.stage1_per_class), seed=int(config.seed))


def steamroller_settings(args, stage_classes) -> dict:
    """The :func:`~keras_recipes.workflows.steamroller` keyword arguments of the flags in
    ``args`` (those :func:`add_data_model_args` adds and the steamroller's own)."""
    from keras_recipes.workflows.steamroller.config import SteamrollerConfig

    return {**config_settings(args, SteamrollerConfig), "model": args.model,
            "stage_classes": stage_classes, "seed": args.seed, "target": args.target,
            "drop": args.drop, "standardize": args.standardize}


def _cmd_steamroller(args) -> int:
    check_dir(args.out, "--out")
    check_distribute(args.distribute)  # a set-up this process cannot run: refused at once
    # Bad data, labels or settings answer at once, before TensorFlow is imported.
    ds = load_for_cli(args)
    settings = steamroller_settings(args, resolve_stage_classes(args.stage_classes, ds))
    check_steamroller(ds, settings)
    from keras_recipes.workflows.run_folder import RunFolderError
    from keras_recipes.workflows.steamroller import SteamrollerInputError, steamroller

    with usage_errors(SteamrollerInputError, RunFolderError):
        report = steamroller(args.dataset, **settings)
    if args.quiet:
        print(repr(report))
    elif report.stages and all(stage.resumed for stage in report.stages):
        print("(--fresh runs it again from the start.)", flush=True)  # finished before
    return 0 if report.passed else 1


def _cmd_practical(args) -> int:
    check_dir(args.out, "--out")
    ds = load_for_cli(args)  # bad data answers with exit 2 before any training
    settings = dict(
        out=args.out, seed=args.seed, optimizer=args.optimizer, grid_epochs=args.grid_epochs,
        top_k=args.top_k, train_epochs=args.train_epochs, max_loops=args.max_loops,
        batch_size=args.batch_size, fresh=args.fresh, standardize=args.standardize,
        repair=args.repair, verbose=0 if args.quiet else 1)
    from keras_recipes.workflows.practical.config import PracticalConfig

    with usage_errors(ValueError):  # the workflow's checks, before Keras is imported
        PracticalConfig(dataset=ds, model=args.model, **settings)
    from keras_recipes.workflows.practical import practical
    from keras_recipes.workflows.run_folder import RunFolderError

    with usage_errors(RunFolderError):
        report = practical(ds, args.model, **settings)
    if args.quiet:
        print(report)
    return 0 if report.passed else 1


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (sub-commands included)."""
    from keras_recipes import __version__
    from keras_recipes.workflows.steamroller.config import SteamrollerConfig

    parser = ArgumentParser(prog="keras-recipes", description=(
        "Training recipes for Keras 3. Every command runs offline on the embedded "
        "'digits' data set by default."))
    parser.add_argument("--version", action="version", version=f"keras-recipes {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)

    p = sub.add_parser("datasets", help="list the data set names and which work offline")
    p.set_defaults(func=_cmd_datasets)

    p = sub.add_parser("train", help="train a baseline model and print its test accuracy")
    add_data_model_args(p, epochs=30, standardize=True)
    p.add_argument("--lr", type=learning_rate_arg, default=1e-3, help="Adam learning rate")
    p.add_argument("--batch-size", type=positive_int, default=32, help="batch size")
    p.add_argument("--save", default=None, help="write the trained model to this .keras "
                   "path (the standardisation is inside: it predicts on raw inputs)")
    p.add_argument("--verbose", action="store_true", help="print one line per epoch")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("lr-find", help="learning-rate range test: write its CSV and plot")
    add_data_model_args(p, standardize=True)
    p.add_argument("--out", required=True, help="directory for lr_find.csv and lr_find.png")
    add_lr_find_args(p)
    p.set_defaults(func=_cmd_lr_find)

    p = sub.add_parser("diagnose", help="train with the diagnostic logger and print the "
                       "training doctor's report")
    add_data_model_args(p, epochs=15, standardize=True)
    p.add_argument("--lr", type=learning_rate_arg, default=1e-3, help="Adam learning rate")
    p.add_argument("--batch-size", type=positive_int, default=32, help="batch size")
    p.add_argument("--log-dir", default=None,
                   help="directory for diagnostics.csv and summary.json")
    p.set_defaults(func=_cmd_diagnose)
    p = sub.add_parser("steamroller", help="the three-stage steamroller: overfit a few "
                       "examples, generalise on a few classes, then train on everything")
    add_data_model_args(p, workflow=True)
    add_config_options(p, SteamrollerConfig)  # every option from the config's fields
    p.set_defaults(func=_cmd_steamroller)

    p = sub.add_parser("practical", help="seed 004's seven steps: initial loss, overfit a "
                       "sample, LR that makes the loss fall, grid, train longer, read, loop")
    add_data_model_args(p, workflow=True)
    p.add_argument("--out", default="runs/practical",
                   help="run folder: report.md, summary.json, logs, model (default: "
                   "runs/practical)")
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd", "rmsprop"), default="adam",
                   help="optimizer of every step")
    p.add_argument("--grid-epochs", type=positive_int, default=2,
                   help="epochs per grid trial (seed 004: 1 to 5; default: 2)")
    p.add_argument("--top-k", type=positive_int, default=2,
                   help="configurations trained longer (default: 2)")
    p.add_argument("--train-epochs", type=positive_int, default=15,
                   help="epochs of step 5 (seed 004: 10 to 20; default: 15)")
    p.add_argument("--max-loops", type=int, choices=range(0, 10), default=1, metavar="N",
                   help="extra rounds of step 5 when the curves ask for it, 0 to 9 "
                   "(default: 1)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="batch size")
    p.add_argument("--fresh", action="store_true",
                   help="replace an earlier practical run in --out even when it ran on "
                   "other data (only the files it wrote are removed)")
    p.add_argument("--repair", action="store_true",
                   help="watch step 2 with the Watchdog and, when a check of steps 1-4 fails "
                   "with a finding that has a known remedy, apply the remedy and run the "
                   "checks again, at most twice (default: off)")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")
    p.set_defaults(func=_cmd_practical)
    return parser


#: Lines TensorFlow's C++ runtime writes on stderr before its logging is set up (so that
#: ``TF_CPP_MIN_LOG_LEVEL`` does not hide them), in the ``I0000 00:00:... file.cc:N] text``
#: form, and the line absl writes before them.
_ABSL_HEADER = b"WARNING: All log messages before absl::InitializeLog() is called"
_LOG_LINE = re.compile(rb"^([IWEF])\d{4} [\d:.]+\s+\d+ ([\w.]+):\d+\] (.*)")
#: The CPU-feature notice continues on a line of its own.
_CPU_FEATURES = b"To enable the following instructions:"
_SEVERITY = {b"I": 0, b"W": 1, b"E": 2, b"F": 3}
#: First characters of the lines :func:`backend_noise` may drop.
_LOG_STARTS = (b"I", b"W", b"E", b"F", b"T")
#: Errors that only say there is no GPU: hidden from level 1 on, like the notices.
_NO_GPU = (b"failed call to cuInit", b"Could not find cuda drivers")


def backend_noise(line: bytes, level: int) -> bool:
    """Whether ``line`` (of the process's stderr) is backend start-up noise to drop at
    ``TF_CPP_MIN_LOG_LEVEL=level``: absl's header line, a C++ log line below ``level``
    (``I`` < 1, ``W`` < 2, ``E`` < 3, what the level promises), the continuation of the
    CPU-feature notice, and the "no CUDA driver" errors of a machine without a GPU."""
    if level < 1:
        return False
    text = line.rstrip(b"\r\n")
    if text.startswith((_ABSL_HEADER, _CPU_FEATURES)):
        return True
    match = _LOG_LINE.match(text)
    if match is None:
        return False
    return _SEVERITY[match.group(1)] < level or any(s in text for s in _NO_GPU)


class _StderrFilter:
    """Pass the process's file descriptor 2 through a pipe and drop :func:`backend_noise`.

    Everything else is written through unchanged and at once: whole lines, and a partial
    line as soon as it cannot be the start of a log line (a progress bar's ``\r``).
    """

    def __init__(self, level: int):
        self.level = level
        self.saved: int | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        sys.stderr.flush()
        self.saved = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self.thread = threading.Thread(target=self._pump, args=(read_end,), daemon=True,
                                       name="keras-recipes-stderr")
        self.thread.start()

    def _write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self.saved, data)

    def _pump(self, read_end: int) -> None:
        pending = b""
        try:
            while chunk := os.read(read_end, 65536):
                pending += chunk
                while ends := [i for i in (pending.find(b"\n"), pending.find(b"\r")) if i >= 0]:
                    line, pending = pending[:min(ends) + 1], pending[min(ends) + 1:]
                    if not backend_noise(line, self.level):
                        self._write(line)
                if pending and pending[:1] not in _LOG_STARTS:  # not a log line: pass it on
                    self._write(pending)
                    pending = b""
        except OSError:
            pass
        finally:
            if pending and not backend_noise(pending, self.level):
                self._write(pending)
            os.close(read_end)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(self.saved, 2)  # closes this process's write end: the pump reads to the end
        if self.thread is not None:
            self.thread.join(timeout=5)
        os.close(self.saved)


@contextlib.contextmanager
def quiet_backend() -> Iterator[None]:
    """Keep TensorFlow's start-up notices off stderr while the command runs.

    Sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless the user set it (it must be set before the
    backend is imported), and, when stderr is this process's own (not captured by a test
    or a notebook) and the level is not ``0``, filters :func:`backend_noise` out of file
    descriptor 2. Nothing else changes: oneDNN stays on, numerics are the same.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        level = int(os.environ["TF_CPP_MIN_LOG_LEVEL"])
    except ValueError:
        level = 0
    own = sys.stderr is sys.__stderr__ and sys.stderr is not None
    with contextlib.suppress(Exception):
        own = own and sys.stderr.fileno() == 2
    stream = _StderrFilter(level) if own and level >= 1 else None
    if stream is not None:
        try:
            stream.start()
        except OSError:
            stream = None
    try:
        yield
    finally:
        if stream is not None:
            stream.stop()


def run_guarded(call: Callable[[], int | None], prog: str = "keras-recipes") -> int:
    """Run ``call()`` and return its exit code, or 2 for bad input and 130 for Ctrl-C.

    A :class:`UsageError`, or an ``OSError`` (a disk that fills up, a folder that turns
    read-only mid-run), prints one line ``{prog}: error: ...`` on stderr, never a traceback.
    The backend's start-up notices are kept off stderr (:func:`quiet_backend`).
    """
    with quiet_backend():
        return _run_guarded(call, prog)


def _run_guarded(call: Callable[[], int | None], prog: str) -> int:
    try:
        return int(call() or 0)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"{prog}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``keras-recipes`` command; returns the exit code."""
    parser = build_parser()

    def command() -> int:
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 0
        return args.func(args)

    return run_guarded(command)


if __name__ == "__main__":
    sys.exit(main())
