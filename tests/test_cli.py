import subprocess
import sys

import pytest

from keras_recipes.cli import main


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
    assert path.is_file()
