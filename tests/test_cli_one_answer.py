"""One CSV, one answer on every sub-command: `train`, `lr-find` and `diagnose` standardise
inside the model as the workflows do, `--stage-classes` takes the labels as the file writes
them, refusals come before the backend import, every option's help shows its default, and
the backend's start-up notices stay off stderr."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from keras_recipes import cli
from keras_recipes.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]
WINE_NAMES = ("barolo", "grignolino", "barbera")
NOISE = re.compile(r"cuda|AVX|oneDNN|absl|cpu_feature_guard", re.IGNORECASE)


@pytest.fixture(scope="module")
def wine_csv(tmp_path_factory) -> str:
    """scikit-learn's wine as a CSV: an ``id`` column, 13 raw features and string labels."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    table = frame.drop(columns="target")
    table.insert(0, "id", range(len(table)))
    table["label"] = [WINE_NAMES[t] for t in frame["target"]]
    path = tmp_path_factory.mktemp("wine") / "wine.csv"
    table.to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def quality_csv(tmp_path_factory) -> str:
    """A CSV whose labels are the integers 3 to 8 (as a wine-quality table's)."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3, 9), 30)
    table = pd.DataFrame({"a": rng.normal(size=len(labels)) + labels,
                          "b": rng.normal(size=len(labels)), "quality": labels})
    path = tmp_path_factory.mktemp("quality") / "quality.csv"
    table.to_csv(path, index=False)
    return str(path)


def wine_args(path: str) -> list[str]:
    return ["--dataset", path, "--target", "label", "--drop", "id"]


def env_without_tf_log_level() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(KERAS_BACKEND="tensorflow", MPLBACKEND="Agg", PYTHONHASHSEED="0")
    return env


# ---------------------------------------------------------------- --stage-classes


@pytest.mark.parametrize("value, expected", [
    ("2", 2), ("10", 10), ("3,8", ["3", "8"]), ("barolo, barbera", ["barolo", "barbera"]),
    (" 3 ,8 ", ["3", "8"]),
])
def test_stage_classes_arg_reads_a_count_or_labels(value, expected):
    assert cli.stage_classes_arg(value) == expected


@pytest.mark.parametrize("value, match", [
    ("barolo", "comma-separated list of at least two labels"),
    ("2.5", "comma-separated list of at least two labels"),
    ("3,", "no empty one"), (",", "no empty one"),
])
def test_stage_classes_arg_refuses(value, match):
    with pytest.raises(Exception, match=match):
        cli.stage_classes_arg(value)


def test_stage_classes_resolve_to_class_indices(wine_csv, quality_csv, digits):
    wine = load_dataset(wine_csv, target="label", drop=["id"])
    assert wine.class_names == ["barbera", "barolo", "grignolino"]
    assert cli.resolve_stage_classes(["barolo", "barbera"], wine) == [1, 0]
    assert cli.resolve_stage_classes(2, wine) == 2
    quality = load_dataset(quality_csv, target="quality")
    assert quality.class_names == ["3", "4", "5", "6", "7", "8"]
    # Labels as the file writes them, not class indices; a number in another spelling too.
    assert cli.resolve_stage_classes(["3", "8"], quality) == [0, 5]
    assert cli.resolve_stage_classes(["3.0", "8"], quality) == [0, 5]
    assert cli.resolve_stage_classes(3, quality) == 3  # one integer stays a count
    assert cli.resolve_stage_classes(["3", "8"], digits) == [3, 8]  # labels are indices


@pytest.mark.parametrize("value, match", [
    (["barolo", "nebbiolo"], r"^--stage-classes: 'nebbiolo' is not a label of 'wine\.csv'; "
     r"its labels are: barbera, barolo, grignolino$"),
    (["3", "8"], r"^--stage-classes: '3', '8' are not labels of 'wine\.csv'; its labels are: "
     r"barbera, barolo, grignolino$"),
    (["barolo", "barolo"], "must list at least 2 distinct labels"),
    (1, r"must be >= 2"),
    (4, r"must be <= the number of classes \(3\)"),
])
def test_stage_classes_refusals_name_the_labels(wine_csv, value, match):
    wine = load_dataset(wine_csv, target="label", drop=["id"])
    with pytest.raises(cli.UsageError, match=match):
        cli.resolve_stage_classes(value, wine)


def test_steamroller_refuses_unknown_labels_in_one_line(capsys, tmp_path, wine_csv):
    out = tmp_path / "run"
    code = cli.main(["steamroller", *wine_args(wine_csv), "--stage-classes", "barolo,nebbiolo",
                     "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0] == ("keras-recipes: error: --stage-classes: 'nebbiolo' is not a label of "
                      "'wine.csv'; its labels are: barbera, barolo, grignolino")
    assert not out.exists()


def test_steamroller_takes_string_labels(monkeypatch, capsys, tmp_path, wine_csv):
    """`barolo,barbera` reaches the workflow as the class indices of those labels."""
    import importlib

    # The package, not the function of the same name that ``workflows`` re-exports.
    package = importlib.import_module("keras_recipes.workflows.steamroller")
    seen = {}

    def fake(dataset, **settings):
        seen.update(settings, dataset=dataset)
        return type("Report", (), {"passed": True, "stages": []})()

    monkeypatch.setattr(package, "steamroller", fake)
    code = cli.main(["steamroller", *wine_args(wine_csv), "--stage-classes", "barolo,barbera",
                     "--out", str(tmp_path / "run"), "--stage1-per-class", "5"])
    assert code == 0, capsys.readouterr().err
    assert seen["stage_classes"] == [1, 0] and seen["dataset"] == wine_csv
    assert seen["standardize"] is True and seen["stage1_per_class"] == 5


# ---------------------------------------------------------------- standardisation


@pytest.mark.slow  # heavy: `make test-all`
def test_train_standardises_and_saves_a_model_that_predicts_on_raw_data(
        capsys, tmp_path, wine_csv):
    path = tmp_path / "wine.keras"
    code = cli.main(["train", *wine_args(wine_csv), "--epochs", "30", "--save", str(path)])
    out = capsys.readouterr().out
    assert code == 0
    accuracy = float(re.search(r"test accuracy ([\d.]+)", out).group(1))
    assert accuracy >= 0.9, out  # raw wine features span 0.1 to 1680: 0.5 without it
    # The standardisation travels in the file: a fresh process predicts on raw inputs.
    raw = pd.read_csv(wine_csv)
    x = raw.drop(columns=["id", "label"]).to_numpy("float32")
    expected = keras.saving.load_model(path).predict(x, verbose=0)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", expected)
    code = textwrap.dedent(f"""
        import numpy as np, keras_recipes, keras
        model = keras.saving.load_model({str(path)!r})
        assert any(isinstance(l, keras.layers.Normalization) for l in model._flatten_layers())
        x = np.load({str(tmp_path / "x.npy")!r})
        p = model.predict(x, verbose=0)
        print(float(np.max(np.abs(p - np.load({str(tmp_path / "expected.npy")!r})))))
        print(p.argmax(axis=1).tolist())
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**env_without_tf_log_level(), "TF_CPP_MIN_LOG_LEVEL": "3"},
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    gap, predicted = proc.stdout.strip().splitlines()
    assert float(gap) < 1e-5
    names = sorted(WINE_NAMES)
    truth = np.array([names.index(v) for v in raw["label"]])
    assert np.mean(np.array(json.loads(predicted)) == truth) >= 0.9


@pytest.fixture
def built(monkeypatch):
    """Record the ``normalization`` each command builds its network with."""
    calls = []
    build = cli.common.build_network

    def spy(*args, **kwargs):
        calls.append(kwargs.get("normalization"))
        return build(*args, **kwargs)

    monkeypatch.setattr(cli.common, "build_network", spy)
    return calls


@pytest.mark.parametrize("command", [
    ["lr-find", "--num-steps", "10", "--batch-size", "64"],
    ["diagnose", "--epochs", "1", "--batch-size", "256"],
])
@pytest.mark.parametrize("standardize", [True, False])
def test_lr_find_and_diagnose_standardise_unless_told(built, capsys, tmp_path, wine_csv,
                                                      command, standardize):
    argv = [*command, *wine_args(wine_csv)]
    if command[0] == "lr-find":
        argv += ["--out", str(tmp_path / "lr")]
    if not standardize:
        argv.append("--no-standardize")
    assert cli.main(argv) == 0, capsys.readouterr().err
    (layer,) = built
    if not standardize:
        assert layer is None
        return
    assert isinstance(layer, keras.layers.Normalization)
    x = load_dataset(wine_csv, target="label", drop=["id"]).x
    z = np.asarray(layer(x))
    assert abs(float(z.mean())) < 0.2 and 0.7 < float(z.std()) < 1.3  # standardised


# ---------------------------------------------------------------- help shows defaults


def _blocks(help_text: str) -> dict[str, str]:
    """``{"--option": its whole help block}`` of an argparse help text."""
    blocks: dict[str, str] = {}
    current = None
    for line in help_text.splitlines():
        match = re.match(r"^  (-\w, )?(--[\w-]+)", line)
        if match:
            current = match.group(2)
            blocks[current] = line
        elif current and line.startswith("    "):
            blocks[current] += " " + line.strip()
        else:
            current = None
    return {k: re.sub(r"\s+", " ", v) for k, v in blocks.items()}


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


REQUIRED = {"lr-find": ["--out", "x"]}


@pytest.mark.parametrize("command", ["datasets", "train", "lr-find", "diagnose", "steamroller",
                                     "practical"])
def test_every_option_help_shows_its_default(capsys, command):
    commands = _blocks(_help(capsys))
    assert "--version" in commands
    blocks = _blocks(_help(capsys, command))
    defaults = vars(cli.build_parser().parse_args([command, *REQUIRED.get(command, [])]))
    checked = 0
    for option, block in blocks.items():
        if option == "--help" or option in REQUIRED.get(command, []):  # no default
            continue
        dest = option[2:].replace("-", "_")
        takes_value = re.match(rf"^\s*(-\w, )?{option} (\S|\{{)", block) is not None
        if dest not in defaults:  # an on/off flag stored under another name (--no-grow)
            assert "(default" in block, f"{command} {option}: {block}"
            checked += 1
            continue
        value = defaults[dest]
        if value is None or value is False:
            continue
        shown = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        if takes_value:
            assert re.search(rf"\(default: {re.escape(shown)}[);]", block), \
                f"{command} {option}: {block}"
        else:
            assert "(default" in block, f"{command} {option}: {block}"
        checked += 1
    if command != "datasets":
        assert checked >= 3


# ---------------------------------------------------------------- backend noise


@pytest.mark.parametrize("line, level, dropped", [
    (b"WARNING: All log messages before absl::InitializeLog() is called are written to "
     b"STDERR\n", 2, True),
    (b"I0000 00:00:1796652034.829876   10873 port.cc:153] oneDNN custom operations are on.\n",
     3, True),
    (b"I0000 00:00:1796652034.830325   10873 cudart_stub.cc:31] Could not find cuda drivers "
     b"on your machine, GPU will not be used.\n", 1, True),
    (b"To enable the following instructions: AVX2 FMA, in other operations, rebuild "
     b"TensorFlow with the appropriate compiler flags.\n", 3, True),
    (b"E0000 00:00:1796652051.253938   10873 cuda_platform.cc:52] failed call to cuInit: "
     b"INTERNAL: CUDA error\n", 2, True),
    (b"E0000 00:00:1796652051.253938   10873 other.cc:52] a real error\n", 2, False),
    (b"W0000 00:00:1796652051.253938   10873 other.cc:52] a warning\n", 2, True),
    (b"W0000 00:00:1796652051.253938   10873 other.cc:52] a warning\n", 1, False),
    (b"I0000 00:00:1796652034.829876   10873 port.cc:153] oneDNN custom operations\n", 0,
     False),
    (b"keras-recipes: error: --stage-classes must be >= 2\n", 3, False),
    (b"Epoch 1/3\n", 3, False),
])
def test_backend_noise(line, level, dropped):
    assert cli.backend_noise(line, level) is dropped


def test_stderr_filter_drops_noise_only(capfd):
    stream = cli._StderrFilter(level=3)
    stream.start()
    try:
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                    b"written to STDERR\nI0000 00:00:17.8 1 port.cc:153] oneDNN custom "
                    b"operations are on.\nkept line\n")
        os.write(2, b"partial without newline")
    finally:
        stream.stop()
    assert capfd.readouterr().err == "kept line\npartial without newline"


# ---------------------------------------------------------------- fresh processes


def test_refusals_come_before_the_backend_import(tmp_path, wine_csv):
    """In a fresh process: each refusal leaves TensorFlow, Keras and JAX unimported, and a
    bad --stage-classes on digits costs well under a second of work after start-up."""
    taken = tmp_path / "taken"
    taken.write_text("x")
    cases = [
        ["steamroller", "--stage-classes", "3,18", "--out", str(tmp_path / "a")],
        ["steamroller", *wine_args(wine_csv), "--stage-classes", "3,8", "--out",
         str(tmp_path / "b")],
        ["steamroller", "--stage-classes", "11", "--out", str(tmp_path / "c")],
        ["steamroller", "--stage-classes", "1", "--out", str(tmp_path / "c")],
        ["steamroller", "--stage1-per-class", "500", "--out", str(tmp_path / "c")],
        ["steamroller", "--distribute", "jax-data-parallel", "--out", str(tmp_path / "c")],
        ["steamroller", "--out", str(taken)],
        ["train", "--save", str(tmp_path / "m.h5")],
        ["train", "--dataset", str(tmp_path / "none.csv")],
        ["lr-find", "--out", str(tmp_path / "d"), "--min-lr", "1", "--max-lr", "0.1"],
        ["diagnose", "--model", "cnn", *wine_args(wine_csv)],
        ["practical", "--out", str(taken)],
    ]
    code = textwrap.dedent(f"""
        import json, sys, time
        # As the console script: `__main__` is the `keras-recipes` launcher.
        sys.modules["__main__"].__file__ = "/bin/keras-recipes"
        from keras_recipes.cli import main
        results = []
        for argv in {cases!r}:
            start = time.process_time()
            code = main(argv)
            heavy = [m for m in ("tensorflow", "keras", "jax", "torch") if m in sys.modules]
            results.append([code, time.process_time() - start, heavy])
        print(json.dumps(results))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env_without_tf_log_level(), timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == len(cases), errors  # one line each
    assert all(e.startswith("keras-recipes: error: ") for e in errors)
    assert not any(NOISE.search(e) for e in errors), errors
    for argv, (exit_code, _seconds, heavy), error in zip(cases, results, errors, strict=True):
        assert exit_code == 2 and heavy == [], (argv, error)
    assert results[0][1] < 0.5, results[0]  # digits, 3,18: CPU seconds after start-up
    assert "'18' is not a label of 'digits'" in errors[0]
    assert "its labels are: barbera, barolo, grignolino" in errors[1]
    assert "must be <= the number of classes (10)" in errors[2]
    assert "--stage1-per-class must be <= " in errors[4]
    assert "needs the jax backend" in errors[5]


def test_console_command_prints_no_backend_noise(tmp_path):
    command = Path(sys.executable).parent / "keras-recipes"
    proc = subprocess.run([str(command), "train", "--dataset", "digits", "--epochs", "1"],
                          capture_output=True, text=True, env=env_without_tf_log_level(),
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test accuracy" in proc.stdout
    noisy = [line for line in proc.stderr.splitlines() if NOISE.search(line)]
    assert noisy == [], proc.stderr


def test_steamroller_flags_reach_the_workflow_settings():
    args = cli.build_parser().parse_args(
        ["steamroller", "--schedule", "staircase", "--plateau-factor", "0.5",
         "--plateau-patience", "2", "--minibatch-steps", "0", "--minibatch-max-loss", "0.05"])
    settings = cli.steamroller_settings(args, 2)
    assert settings["schedule"] == "staircase"
    assert (settings["plateau_factor"], settings["plateau_patience"]) == (0.5, 2)
    assert (settings["minibatch_steps"], settings["minibatch_max_loss"]) == (0, 0.05)


@pytest.mark.parametrize("argv, flag", [
    (["--plateau-factor", "1.5"], "plateau_factor"),
    (["--minibatch-steps", "-3"], "--minibatch-steps"),
])
def test_steamroller_refuses_bad_staircase_and_minibatch_flags(capsys, tmp_path, argv, flag):
    code = cli.main(["steamroller", "--out", str(tmp_path / "run"), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert flag.lstrip("-").replace("_", "-") in err[0].replace("_", "-")
    assert not (tmp_path / "run").exists()
