"""A library error names its argument; the same error on the command line names the flag.

Each case is one mistake made twice: through the library (an ``ArgumentError`` whose
``.argument`` and message use the Python name) and through ``keras-recipes`` (one line on
stderr naming the option).
"""

import pytest

from keras_recipes._validation import ArgumentError
from keras_recipes.cli import main


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.csv").write_text("a,b,label\n" + "".join(
        f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    (tmp_path / "text.csv").write_text("a,color,label\n" + "".join(
        f"{i},{'red' if i % 2 else 'blue'},{i % 2}\n" for i in range(40)))
    (tmp_path / "a_file").write_text("x")
    return tmp_path


def _load(**kwargs):
    from keras_recipes.data import load_dataset

    return load_dataset(kwargs.pop("path"), **kwargs)


def _config(**kwargs):
    from keras_recipes.workflows import SteamrollerConfig

    return SteamrollerConfig(out="run", **kwargs)


def _output(path):
    from keras_recipes._paths import check_output_dir

    return check_output_dir(path, "out")


def _plan(**kwargs):
    from keras_recipes.data import load_dataset
    from keras_recipes.workflows import plan_stages

    ds = load_dataset("digits")
    return plan_stages(ds.x, ds.y, **kwargs)


#: (library call, argument, library text, command line, command-line text)
CASES = {
    "no target": (
        lambda: _load(path="good.csv"), "target",
        "Argument `target` must name the target column of 'good.csv'. Received: target=None",
        ["train", "--dataset", "good.csv"],
        "--target must name the target column of 'good.csv'. Received: --target=None"),
    "target dropped": (
        lambda: _load(path="good.csv", target="label", drop=["label"]), "drop",
        "Received: target='label', drop=['label']",
        ["train", "--dataset", "good.csv", "--target", "label", "--drop", "label"],
        "Received: --target='label', --drop=['label']"),
    "unknown column": (
        lambda: _load(path="good.csv", target="label", drop=["id"]), "drop",
        "Column 'id' is not in 'good.csv'. Received: drop='id'",
        ["train", "--dataset", "good.csv", "--target", "label", "--drop", "id"],
        "Column 'id' is not in 'good.csv'. Received: --drop='id'"),
    "text column": (
        lambda: _load(path="text.csv", target="label"), None,
        "or leave the column out with `drop`.",
        ["train", "--dataset", "text.csv", "--target", "label"],
        "or leave the column out with --drop."),
    "output under a file": (
        lambda: _output("a_file/run"), "out", "Argument `out` cannot be created: ",
        ["steamroller", "--out", "a_file/run"], "--out cannot be created: "),
    "gate above 1": (
        lambda: _config(stage2_min_val_accuracy=2.0), "stage2_min_val_accuracy",
        "Argument `stage2_min_val_accuracy` must be > 0 and <= 1. "
        "Received: stage2_min_val_accuracy=2.0",
        ["steamroller", "--out", "run", "--min-val-accuracy", "2"],
        "--min-val-accuracy must be > 0 and <= 1. Received: --min-val-accuracy=2.0"),
    "too many examples": (
        lambda: _plan(stage1_per_class=1000), "stage1_per_class",
        "the training examples of the smallest chosen class. Received: stage1_per_class=1000",
        ["steamroller", "--out", "run", "--stage1-per-class", "1000"],
        "the training examples of the smallest chosen class. Received: "
        "--stage1-per-class=1000"),
    "staircase factor": (
        lambda: _config(plateau_factor=1.5), "plateau_factor",
        "Argument `plateau_factor` must be > 0 and < 1. Received: plateau_factor=1.5",
        ["steamroller", "--out", "run", "--plateau-factor", "1.5"],
        "--plateau-factor must be > 0 and < 1. Received: --plateau-factor=1.5"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_library_names_the_argument(name, folder):
    call, argument, text, _, _ = CASES[name]
    with pytest.raises(ValueError) as info:
        call()
    error = info.value
    while not isinstance(error, ArgumentError):  # a workflow wraps it, same message
        assert error.__cause__ is not None and str(error.__cause__) == str(info.value)
        error = error.__cause__
    assert error.argument == argument
    assert text in str(info.value)
    assert "--" not in str(info.value)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_command_line_names_the_flag(name, folder, capsys):
    _, _, _, argv, text = CASES[name]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("keras-recipes: error: "), err
    assert text in err, err
    assert "`" not in err and "Argument" not in err, err


def test_an_argument_error_keeps_its_data_when_pickled():
    import pickle

    from keras_recipes._validation import check_less

    with pytest.raises(ArgumentError) as info:
        check_less("min_lr", 1.0, "max_lr", 0.5)
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.argument, again.required, again.received) == ("max_lr", "> `min_lr`", 0.5)
    assert again.values == {"min_lr": 1.0, "max_lr": 0.5}
    assert str(again) == str(info.value) == ("Argument `max_lr` must be > `min_lr`. "
                                             "Received: min_lr=1.0, max_lr=0.5")
