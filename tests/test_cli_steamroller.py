"""`keras-recipes steamroller`: bad input answers with one line and exit code 2."""

import re

import pytest

from keras_recipes.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    return str(path)


def run(capsys, *argv):
    code = main(["steamroller", *argv])
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines()


def test_help_lists_the_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["steamroller", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--dataset", "--model", "--out", "--stage-classes", "--stage1-per-class",
                   "--fresh"):
        assert option in out


@pytest.mark.parametrize("argv, match", [
    (["--dataset", "nope"], "unknown dataset 'nope'"),
    (["--model", "resnet"], "invalid choice: 'resnet'"),
    (["--stage-classes", "11"], r"--stage-classes must be <= the number of classes \(10\)"),
    (["--stage-classes", "3,x"], r"'x' is not a label of 'digits'; its labels are: 0, 1, 2"),
    (["--stage-classes", "x"], "expected a number of classes or a comma-separated list"),
    (["--stage1-per-class", "0"], "expected a positive integer, got '0'"),
    (["--min-val-accuracy", "2"], "--min-val-accuracy must be"),
    (["--seed", "-1"], "argument --seed: expected an integer from 0 to 2"),
])
def test_bad_input_one_line_exit_2(capsys, tmp_path, argv, match):
    out = tmp_path / "run"
    code, err = run(capsys, "--out", str(out), *argv)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("keras-recipes: error: ")
    assert re.search(match, err[0])
    assert not out.exists()


def test_out_that_is_a_file(capsys, tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    code, err = run(capsys, "--out", str(a_file))
    assert code == 2 and len(err) == 1 and "--out must be a folder" in err[0]


def test_csv_without_the_target_column(capsys, tmp_path, csv_file):
    code, err = run(capsys, "--dataset", csv_file, "--target", "y", "--out",
                    str(tmp_path / "run"))
    assert code == 2 and len(err) == 1 and "Column 'y' is not in" in err[0]
    code, err = run(capsys, "--dataset", csv_file, "--out", str(tmp_path / "run"))
    assert code == 2 and len(err) == 1 and "must name the target column" in err[0]


def test_cnn_on_tabular_data(capsys, tmp_path, csv_file):
    code, err = run(capsys, "--dataset", csv_file, "--target", "label", "--model", "cnn",
                    "--out", str(tmp_path / "run"))
    assert code == 2 and len(err) == 1 and "--model cnn needs image data" in err[0]


@pytest.mark.parametrize("resumed, hint", [((True, True, True), True),
                                           ((True, False, False), False)])
def test_a_rerun_of_a_finished_run_names_the_flag_that_starts_afresh(
        capsys, monkeypatch, tmp_path, resumed, hint):
    # The library's message names its own argument (resume=False); the command adds its flag
    # when every stage was resumed, that is when the run had finished before.
    import importlib
    import types

    # the package `keras_recipes.workflows` exports a function of the subpackage's name
    workflow = importlib.import_module("keras_recipes.workflows.steamroller")

    def finished(dataset, **settings):
        stages = [types.SimpleNamespace(stage=i + 1, resumed=r) for i, r in enumerate(resumed)]
        return types.SimpleNamespace(passed=True, stages=stages)

    monkeypatch.setattr(workflow, "steamroller", finished)
    assert main(["steamroller", "--out", str(tmp_path / "run")]) == 0
    assert ("--fresh runs it again from the start" in capsys.readouterr().out) is hint
