import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keras_recipes import cli
from keras_recipes.cli import main
from keras_recipes.workflows import common

ROOT = str(Path(__file__).resolve().parents[1])


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "datasets" in out and "train" in out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: keras-recipes" in capsys.readouterr().out


def test_datasets_command(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "digits          yes" in out and "mnist           no" in out


@pytest.mark.parametrize("argv,match", [
    (["train", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["train", "--epochs", "0"], "expected a positive integer"),
    (["train", "--model", "rnn"], "invalid choice: 'rnn'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["train", "--dataset", "regression"], "regression set"),
    (["train", "--dataset", "moons", "--model", "cnn"], "needs image data"),
])
def test_bad_arguments_one_line_exit_2(argv, match, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keras-recipes: error:")
    assert match in lines[0]
    assert "Traceback" not in captured.err


def test_console_script_exit_code():
    result = subprocess.run(
        [sys.executable, "-m", "keras_recipes.cli", "train", "--dataset", "nope"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0


@pytest.mark.integration
def test_train_cnn_runs(capsys, tmp_path):
    path = tmp_path / "m.keras"
    assert main(["train", "--dataset", "digits", "--model", "cnn", "--epochs", "1",
                 "--save", str(path)]) == 0
    out = capsys.readouterr().out
    assert "digits cnn: test accuracy" in out
    assert os.listdir(tmp_path) == ["m.keras"]  # written atomically: no temporary file left


def test_importing_the_command_line_starts_no_backend():
    # As the console script does: `__main__` is the `keras-recipes` launcher. (A plain
    # `import keras_recipes` elsewhere imports Keras to register the library's objects.)
    code = ("import sys; sys.modules['__main__'].__file__ = '/bin/keras-recipes'; "
            "import keras_recipes.cli as c; "
            "print('keras' in sys.modules, 'tensorflow' in sys.modules, 'jax' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.stdout.split() == ["False", "False", "False"], proc.stderr


def test_model_choices_are_the_presets(capsys):
    assert cli.MODELS is common.MODEL_NAMES
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--model {mlp,cnn}" in capsys.readouterr().out


@pytest.mark.parametrize("raised, code, line", [
    (cli.UsageError("--out is wrong"), 2, "prog: error: --out is wrong"),
    (OSError(errno.ENOSPC, "No space left on device", "runs/x.csv"), 2,
     "prog: error: No space left on device: runs/x.csv"),
    (KeyboardInterrupt(), 130, "prog: interrupted"),
])
def test_run_guarded_turns_errors_into_one_line(raised, code, line, capsys):
    def call():
        raise raised

    assert cli.run_guarded(call, prog="prog") == code
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [line] and captured.out == ""


def test_run_guarded_returns_the_exit_code_and_lets_bugs_through(capsys):
    assert cli.run_guarded(lambda: None) == 0
    assert cli.run_guarded(lambda: 1) == 1
    with pytest.raises(ZeroDivisionError):
        cli.run_guarded(lambda: 1 / 0)
    assert capsys.readouterr().err == ""


def test_usage_errors_name_the_flags():
    from keras_recipes._validation import ArgumentError, check_less, check_number

    cli.build_parser()  # the options the messages are spelled with
    with pytest.raises(cli.UsageError) as exc:
        with cli.usage_errors():
            raise ArgumentError("stage_classes", ">= 2", 1, values={"out": "x",
                                                                  "stage_classes": 1})
    assert str(exc.value) == ("--stage-classes must be >= 2. Received: --out='x', "
                              "--stage-classes=1")
    # the library's own message names the arguments
    assert str(exc.value.__cause__) == ("Argument `stage_classes` must be >= 2. Received: "
                                        "out='x', stage_classes=1")
    with pytest.raises(cli.UsageError, match=r"^--max-lr must be > --min-lr\. Received: "
                       r"--min-lr=1, --max-lr=0\.1$"), cli.usage_errors():
        check_less("min_lr", 1, "max_lr", 0.1)
    # an argument that no option sets keeps its name; another option's name is its own
    with pytest.raises(cli.UsageError, match=r"^Argument `momentum` must be"), \
            cli.usage_errors():
        check_number("momentum", -1, low=0)
    with pytest.raises(cli.UsageError, match=r"^--min-val-accuracy must be > 0 and <= 1\. "
                       r"Received: --min-val-accuracy=2$"), cli.usage_errors():
        check_number("stage2_min_val_accuracy", 2, low=0, high=1, low_inclusive=False)
    with pytest.raises(KeyError), cli.usage_errors(ValueError):  # other errors pass through
        raise KeyError("k")


def test_a_wrapped_argument_error_is_spelled_from_its_cause():
    from keras_recipes._validation import ArgumentError
    from keras_recipes.workflows.steamroller.config import SteamrollerInputError

    cli.build_parser()
    with pytest.raises(cli.UsageError, match=r"^Use another --out, or --fresh\.$"), \
            cli.usage_errors():
        try:
            raise ArgumentError(None, template="Use another {out}, or {resume=False}.")
        except ArgumentError as inner:
            raise SteamrollerInputError(str(inner)) from inner
    # a wrapper that says something else is shown as it is
    with pytest.raises(cli.UsageError, match=r"^outer says so$"), cli.usage_errors():
        try:
            raise ArgumentError("out", "a folder", "x")
        except ArgumentError as inner:
            raise ValueError("outer says so") from inner


def test_check_csv_out(tmp_path):
    cli.check_csv_out(tmp_path / "new" / "trials.csv")  # a folder that can be created: fine
    with pytest.raises(cli.UsageError, match=r"^--out must be a CSV file path, but .* is a "
                       r"folder$"):
        cli.check_csv_out(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(cli.UsageError, match=r"^--out "):
        cli.check_csv_out(tmp_path / "file" / "trials.csv")
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_load_for_cli_accepts_a_regression_set_only_when_asked():
    from argparse import Namespace

    args = Namespace(dataset="regression", model="mlp", seed=0, target=None)
    with pytest.raises(cli.UsageError, match="regression set; this command needs classes"):
        cli.load_for_cli(args)
    ds = cli.load_for_cli(args, classes=False)
    assert ds.task == "regression" and len(ds.x) == len(ds.y) > 0
