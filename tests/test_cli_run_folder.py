"""Run folders from the command line: owned, locked, tied to their data; nothing lost.

Each case runs the command in a fresh process and compares the bytes of every file in the
folder before and after. The runs are tiny (a few epochs, 10-step range tests).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from keras_recipes import _paths
from keras_recipes.cli import main
from tests.helpers import cli, error_line

TINY = ["--target", "label", "--stage1-epochs", "2", "--stage2-epochs", "1",
        "--stage3-epochs", "1", "--lr-finder-steps", "10", "--quiet"]


def tree(root) -> dict[str, str]:
    """{relative path: sha256} of every file under ``root`` (the lock file included)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


def write_table(path: Path, rows: int = 150, seed: int = 0, permute: bool = False) -> None:
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % 3
    x = rng.normal(size=(rows, 4)) + 2.0 * y[:, None]
    if permute:
        y = rng.permutation(y)
    path.write_text("f1,f2,f3,f4,label\n" + "".join(
        ",".join(f"{v:.5f}" for v in xi) + f",{yi}\n" for xi, yi in zip(x, y, strict=True)))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """A tiny steamroller run on a 3-class table: (folder holding data.csv and run/, exit)."""
    root = tmp_path_factory.mktemp("first")
    write_table(root / "data.csv")
    result = cli(root, "steamroller", "--dataset", "data.csv", "--out", "run", *TINY)
    assert result.returncode in (0, 1), result.stderr  # 1: a gate failed, still a run
    return root, result.returncode


def copy_of(first_run, tmp_path) -> Path:
    root, _ = first_run
    shutil.copytree(root, tmp_path / "w")
    return tmp_path / "w"


@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.integration
def test_the_run_lists_what_it_wrote(first_run):
    root, _ = first_run
    manifest = json.loads((root / "run" / "manifest.json").read_text())
    assert manifest["workflow"] == "steamroller"
    assert manifest["data"]["x_shape"] == [150, 4] and manifest["data"]["examples"] == 150
    on_disk = set(tree(root / "run")) - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    assert not (root / "run" / ".lock").exists()


@pytest.mark.slow
def test_fresh_removes_only_the_runs_files(first_run, tmp_path):
    work = copy_of(first_run, tmp_path)
    run = work / "run"
    (run / "stage1" / "mine.txt").write_text("my notes on stage 1")
    (run / "notes.txt").write_text("my notes")
    (run / "stage9").mkdir()
    (run / "stage9" / "keep.csv").write_text("1,2\n")
    mine = {k: v for k, v in tree(run).items() if k in ("stage1/mine.txt", "notes.txt",
                                                         "stage9/keep.csv")}
    result = cli(work, "steamroller", "--dataset", "data.csv", "--out", "run", "--fresh",
                 "--seed", "1", *TINY)
    assert result.returncode in (0, 1), result.stderr
    after = tree(run)
    assert {k: after.get(k) for k in mine} == mine
    manifest = json.loads((run / "manifest.json").read_text())
    assert not set(mine) & set(manifest["files"])
    assert set(manifest["files"]) == set(after) - set(mine) - {"manifest.json"}
    assert json.loads((run / "summary.json").read_text())["config"]["seed"] == 1


def _user_folder(work: Path) -> None:
    run = work / "mine"
    (run / "stage1").mkdir(parents=True)
    (run / "report.md").write_text("# my own report\n")
    (run / "summary.json").write_text('{"my": "summary"}\n')
    (run / "stage1" / "mine.txt").write_text("mine\n")


def _rewrite_csv(work: Path) -> None:
    write_table(work / "data.csv", rows=75, seed=1, permute=True)  # half the rows


def _drop_manifest(work: Path) -> None:
    (work / "run" / "manifest.json").unlink()


def _hold_lock(work: Path):
    from keras_recipes.workflows.run_folder import RunFolder

    return RunFolder(work / "run", "steamroller").open()  # this test process holds it


#: name: (prepare the copy, command line, folder to compare, exit code, the error line says)
CASES = {
    "fresh over the user's own report and summary": (
        _user_folder, ["steamroller", "--dataset", "data.csv", "--out", "mine", "--fresh",
                       *TINY], "mine", 2,
        "holds report.md, summary.json, which no steamroller run wrote there"),
    "practical into a steamroller run": (
        None, ["practical", "--dataset", "data.csv", "--target", "label", "--out", "run",
               "--fresh", "--quiet"], "run", 2, "holds a steamroller run; a practical run"),
    "resume after the CSV was rewritten": (
        _rewrite_csv, ["steamroller", "--dataset", "data.csv", "--out", "run", *TINY], "run",
        2, "on other data (earlier: 150 examples, x shape (150, 4)"),
    "resume with other settings": (
        None, ["steamroller", "--dataset", "data.csv", "--out", "run", "--seed", "3", *TINY],
        "run", 2, "Use another --out, or --fresh to start afresh."),
    "a second run while the lock is held": (
        _hold_lock, ["steamroller", "--dataset", "data.csv", "--out", "run", *TINY], "run", 2,
        f"in use by another steamroller run (pid {os.getpid()} on host "),
    "an old folder without manifest resumes": (
        _drop_manifest, ["steamroller", "--dataset", "data.csv", "--out", "run", *TINY],
        "run", None, None),  # a finished run: its status, its summary, nothing written
}


@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.integration
def test_refusals_and_resumes_leave_the_folder_untouched(first_run, tmp_path):
    works, befores, locks = {}, {}, []
    for i, (name, (prepare, _, folder, _, _)) in enumerate(CASES.items()):
        works[name] = copy_of(first_run, tmp_path / str(i))
        held = prepare(works[name]) if prepare is not None else None
        if held is not None:
            locks.append(held)
        befores[name] = tree(works[name] / folder)
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            results = dict(zip(CASES, pool.map(
                lambda name: cli(works[name], *CASES[name][1]), CASES), strict=True))
    finally:
        for held in locks:
            held.release()
    for name, (_, _, folder, code, expected) in CASES.items():
        result = results[name]
        assert result.returncode == (first_run[1] if code is None else code), (
            name, result.stderr)
        if expected is not None:
            line = error_line(result)
            assert expected in line, (name, line)
            assert "resume=False" not in line and "`" not in line, line
        lock_files = (".lock", ".lock.owner")  # held by this process while the copy ran
        assert {k: v for k, v in tree(works[name] / folder).items() if k not in lock_files} == {
            k: v for k, v in befores[name].items() if k not in lock_files}, name
    assert not any((w / "run" / lock).exists() for w in works.values()
                   for lock in (".lock", ".lock.owner"))


@pytest.mark.slow
def test_two_concurrent_runs_and_an_interrupt(tmp_path):
    args = ["steamroller", "--out", "run", "--stage3-epochs", "60"]  # digits: a minute
    first = subprocess.Popen([sys.executable, "-m", "keras_recipes.cli", *args],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        deadline = time.time() + 120
        while not (tmp_path / "run" / ".lock").exists():
            if first.poll() is not None or time.time() > deadline:
                pytest.fail(f"the first run ended or hung: {first.communicate()}")
            time.sleep(0.2)
        lock = (tmp_path / "run" / ".lock").read_bytes()
        second = cli(tmp_path, *args)
        assert second.returncode == 2
        assert f"in use by another steamroller run (pid {first.pid} on host" in error_line(
            second)
        assert (tmp_path / "run" / ".lock").read_bytes() == lock  # still the first run's
        first.send_signal(signal.SIGINT)
        first.wait(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130
    assert not (tmp_path / "run" / ".lock").exists()  # released in `finally`


# ------------------------------------------------------------ unwritable output, in-process
@pytest.mark.parametrize("argv, flag", [
    (["diagnose", "--epochs", "1", "--log-dir", "{ro}/logs"], "--log-dir"),
    (["lr-find", "--out", "{ro}/lr"], "--out"),
    (["steamroller", "--out", "{ro}/run"], "--out"),
    (["practical", "--out", "{ro}/run"], "--out"),
    (["train", "--epochs", "1", "--save", "{ro}/m.keras"], "--save"),
])
def test_read_only_output_one_line_before_any_work(argv, flag, tmp_path, monkeypatch,
                                                   capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(_paths, "writable", lambda path: Path(path) != ro)
    assert main([a.format(ro=ro) for a in argv]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"keras-recipes: error: {flag} ")
    assert "read-only" in lines[0] and "wrote" not in captured.out
    assert list(ro.iterdir()) == []


@pytest.mark.integration
def test_training_that_diverges_does_not_exit_0(tmp_path, capsys):
    path = tmp_path / "m.keras"
    assert main(["train", "--dataset", "moons", "--lr", "1e30", "--epochs", "2",
                 "--save", str(path)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "training diverged" in lines[0] and "nothing saved" in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_diagnose_never_claims_a_write_that_failed(tmp_path, capsys):
    logs = tmp_path / "logs"
    (logs / "diagnostics.csv").mkdir(parents=True)  # the log file cannot be written
    assert main(["diagnose", "--dataset", "moons", "--epochs", "1", "--log-dir",
                 str(logs)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "diagnostics.csv was not written" in lines[0]
    assert "wrote" not in captured.out
