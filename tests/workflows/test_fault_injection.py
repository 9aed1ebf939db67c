"""Faults during and between steamroller runs: every case ends resumed or refused in one line.

A fault is a ``kill -9`` (during stage 1, between stages, during stage 3), a folder turned
read-only mid-run (``chattr +i``: root ignores file modes), a full disk (a 2 MB ``tmpfs``),
two runs at once, or one file of a finished run damaged (each JSON file truncated, a model
truncated or emptied, a stage folder deleted). Each case must end either with a rerun
that finishes and leaves a consistent folder (every file the manifest lists exists, every
stage's files exist, no lock, no scratch folder) or with one line on stderr naming the file
and the fix; files beside the run folder are never touched.

The runs are tiny (a 3-class table of 150 rows, 2-epoch stages, 10-step range tests) but a
whole run in a fresh process still takes 20-100 s, so most cases are marked slow. The
cases without training run in this process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from keras_recipes.workflows.run_folder import LOCK_FILE, MANIFEST_FILE, OWNER_FILE, RunFolder

ARGS = ["steamroller", "--dataset", "data.csv", "--target", "label", "--out", "run",
        "--stage1-epochs", "30", "--stage2-epochs", "2", "--stage3-epochs", "2",
        "--min-val-accuracy", "0.01", "--lr-finder-steps", "10", "--no-grow", "--quiet"]
#: Temporary files of atomic writes that a kill -9 can leave behind (never listed).
_TMP = re.compile(r"^\..+\.[a-z0-9_]+\.tmp\.\w+$")


def tree(root) -> dict[str, str]:
    """{relative path: sha256} of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


def write_table(path: Path, rows: int = 150) -> None:
    rng = np.random.default_rng(0)
    y = np.arange(rows) % 3
    x = rng.normal(size=(rows, 4)) + 2.0 * y[:, None]
    path.write_text("f1,f2,f3,f4,label\n" + "".join(
        ",".join(f"{v:.5f}" for v in xi) + f",{yi}\n" for xi, yi in zip(x, y, strict=True)))


def workspace(root: Path) -> Path:
    """``root`` with data.csv and a victim folder beside the (future) run folder."""
    root.mkdir(parents=True, exist_ok=True)
    write_table(root / "data.csv")
    (root / "victim" / "dir").mkdir(parents=True)
    (root / "victim" / "a.txt").write_text("victim a\n")
    (root / "victim" / "dir" / "c.txt").write_text("victim c\n")
    return root


def outside(root: Path) -> dict[str, str]:
    """Every file of ``root`` outside its run folder."""
    return {k: v for k, v in tree(root).items() if not k.startswith("run/")}


def start(cwd: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "keras_recipes.cli", *ARGS, *extra],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def cli(cwd: Path, *extra: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "keras_recipes.cli", *ARGS, *extra],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("keras-recipes:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


def wait_for(proc: subprocess.Popen, ready, what: str, timeout: float = 400) -> None:
    deadline = time.time() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}: {proc.communicate()}")
        if time.time() > deadline:
            proc.kill()
            pytest.fail(f"no {what} within {timeout} s")
        time.sleep(0.05)


def assert_consistent(run: Path, status: str = "passed") -> None:
    """A finished run: the manifest lists exactly the run's files, all present and sound."""
    import keras

    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == status
    if (run / MANIFEST_FILE).exists():  # absent only in a folder adopted from before them
        manifest = json.loads((run / MANIFEST_FILE).read_text())
        listed = set(manifest["files"])
        on_disk = {k for k in tree(run) if not _TMP.match(Path(k).name)} - {MANIFEST_FILE}
        assert listed == on_disk, (listed ^ on_disk)
        assert manifest["folders"] == []
    assert not (run / LOCK_FILE).exists()
    assert not list(run.glob(".stage*.partial"))
    for key, record in summary["stages"].items():
        files = [v for k, v in record["files"].items() if k != "figures"]
        files += list(record["files"].get("figures", {}).values())
        assert all((run / f).is_file() for f in files), key
        assert isinstance(json.loads((run / f"stage{key}" / "stage.json").read_text()), dict)
        keras.saving.load_model(run / record["files"]["model"], safe_mode=True)
    assert sorted(summary["stages"]) == ["1", "2", "3"]


# ------------------------------------------------------------------ without training
def _chattr(flag: str, path: Path) -> None:
    # -f: files that appear or vanish while it recurses are not an error
    subprocess.run(["chattr", "-R", "-f", flag, str(path)], capture_output=True)


def _is_immutable(path: Path) -> bool:
    done = subprocess.run(["lsattr", "-d", str(path)], capture_output=True, text=True)
    return done.returncode == 0 and "i" in done.stdout.split()[0]


@contextlib.contextmanager
def immutable(path: Path):
    """``path`` read-only for everyone, root included (``chattr -R +i``), then writable."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    _chattr("+i", path)
    try:
        if not _is_immutable(path):
            pytest.skip("chattr +i has no effect here (needs root, on ext4, xfs or tmpfs)")
        yield
    finally:
        for _ in range(3):  # again, in case a file appeared during the first pass
            _chattr("-i", path)


@contextlib.contextmanager
def small_disk(path: Path, size: str = "2m"):
    """A ``tmpfs`` of ``size`` mounted at ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_folder_turned_read_only_reports_the_write_not_the_lock(tmp_path):
    run = tmp_path / "run"
    fp = RunFolder.fingerprint((np.zeros((3, 2)), np.arange(3)))
    with RunFolder(run, "steamroller").open(fingerprint=fp) as folder:
        folder.claim("summary.json")
    before = tree(run)
    folder = RunFolder(run, "steamroller").open(fingerprint=fp)
    with immutable(run):
        with pytest.raises(OSError) as info, folder:
            folder.claim("report.md")  # the manifest cannot be rewritten
        assert info.value.filename == str(folder.root / MANIFEST_FILE)
        assert any(".lock" in note for note in getattr(info.value, "__notes__", []))
        lock_files = {name: tree(run)[name] for name in (LOCK_FILE, OWNER_FILE)}
        assert tree(run) == {**before, **lock_files}  # left, but no longer locked
    RunFolder(run, "steamroller").open(fingerprint=fp).release()  # the lock is free
    assert tree(run) == before


def test_a_full_disk_names_the_file(tmp_path):
    with small_disk(tmp_path / "disk", "1m") as disk:
        fp = RunFolder.fingerprint((np.zeros((3, 2)), np.arange(3)))
        folder = RunFolder(disk / "run", "steamroller").open(fingerprint=fp)
        with contextlib.suppress(OSError), open(disk / "ballast", "wb", buffering=0) as f:
            while True:  # fill the disk
                f.write(b"\0" * 4096)
        with pytest.raises(OSError, match="No space left on device") as info, folder:
            folder.claim(*(f"stage1/file{i}.csv" for i in range(2000)))
        assert info.value.filename == str(folder.root / MANIFEST_FILE)
        assert sorted(os.listdir(disk / "run")) == []  # lock removed, no temporary file


def _crafted_steamroller_folder(run: Path) -> None:
    """What a steamroller run leaves after stage 1, written through the library."""
    from keras_recipes.data.dataset import as_classification_dataset

    ds = as_classification_dataset("moons", workflow="The steamroller")
    with RunFolder(run, "steamroller").open(fingerprint=RunFolder.fingerprint(ds)) as folder:
        folder.claim("summary.json", "report.md")
        (run / "summary.json").write_text(json.dumps(
            {"version": 1, "workflow": "steamroller", "config": {}, "stages": {},
             "status": "running"}, indent=2))
        (run / "report.md").write_text("# report\n")


@pytest.mark.parametrize("name, expected", [
    (MANIFEST_FILE, r"damaged manifest.json \(truncated or corrupt: .*Delete it to have "
                    r"them listed again from summary.json"),
    ("summary.json", r"summary.json' is damaged \(truncated or corrupt: .*delete it or pass "
                     r"--fresh to start afresh"),
])
def test_a_truncated_json_file_is_refused_in_one_line(name, expected, tmp_path, capsys):
    from keras_recipes.cli import main

    run = tmp_path / "run"
    _crafted_steamroller_folder(run)
    raw = (run / name).read_bytes()
    (run / name).write_bytes(raw[: len(raw) // 2])
    before = tree(tmp_path)
    assert main(["steamroller", "--dataset", "moons", "--out", str(run), "--quiet"]) == 2
    assert re.search(expected, error_line(capsys.readouterr().err))
    assert tree(tmp_path) == before


# ------------------------------------------------------------------ kill -9
def _kill_when(root: Path, ready) -> tuple[subprocess.CompletedProcess, dict, dict]:
    """Start a run in ``root``, kill -9 it once ``ready(run)``, then run it again."""
    run = root / "run"
    proc = start(root)
    wait_for(proc, lambda: ready(run), "the moment to kill")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    before = outside(root)
    return cli(root), before, outside(root)


MOMENTS = {
    "during stage 1": lambda run: (run / ".stage1.partial" / "lr_finder.csv").exists(),
    "between stages": lambda run: (run / "stage1" / "model.keras").exists(),
    "during stage 3": lambda run: (run / ".stage3.partial").exists(),
}


@pytest.mark.slow
def test_kill_9_at_three_moments_then_resume(tmp_path):
    roots = {name: workspace(tmp_path / str(i)) for i, name in enumerate(MOMENTS)}
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(MOMENTS, pool.map(
            lambda name: _kill_when(roots[name], MOMENTS[name]), MOMENTS), strict=True))
    for name, (second, before, after) in results.items():
        assert second.returncode == 0, (name, second.stderr[-3000:])
        assert after == before, name
        assert_consistent(roots[name] / "run")


# ------------------------------------------------------------------ read-only, full disk
@pytest.mark.slow
def test_a_folder_turned_read_only_mid_run(tmp_path):
    root = workspace(tmp_path)
    run = root / "run"
    proc = start(root)
    try:
        wait_for(proc, lambda: (run / ".stage1.partial").exists(), "stage 1")
        with immutable(run):
            _, stderr = proc.communicate(timeout=600)
            assert proc.returncode == 2, stderr[-3000:]
            line = error_line(stderr)
        assert str(run.name) in line and LOCK_FILE not in line, line
        assert re.search(r"(Operation not permitted|Permission denied|Read-only)", line), line
    finally:
        if proc.poll() is None:
            proc.kill()
    before = outside(root)
    again = cli(root)  # the dead run's lock is stale: taken over
    assert again.returncode == 0, again.stderr[-3000:]
    assert outside(root) == before
    assert_consistent(run)


@pytest.mark.slow
def test_a_full_disk_mid_run(tmp_path):
    root = workspace(tmp_path)
    with small_disk(root / "disk", "2m") as disk:
        (disk / "ballast.bin").write_bytes(os.urandom(1 << 20))  # someone else's file
        shutil.copy(root / "data.csv", disk / "data.csv")
        before = tree(disk)
        first = cli(disk)
        assert first.returncode == 2, first.stderr[-3000:]
        line = error_line(first.stderr)
        assert "No space left on device" in line and "run/" in line, line
        assert LOCK_FILE not in line
        assert {k: v for k, v in tree(disk).items() if not k.startswith("run/")} == before
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        again = cli(disk)
        assert again.returncode == 0, again.stderr[-3000:]
        assert {k: v for k, v in tree(disk).items() if not k.startswith("run/")} == before
        assert_consistent(disk / "run")


# ------------------------------------------------------------------ two runs at once
@pytest.mark.slow
def test_two_runs_started_together(tmp_path):
    root = workspace(tmp_path)
    before = outside(root)
    first, second = start(root), start(root)
    outs = [p.communicate(timeout=900) for p in (first, second)]
    codes = sorted((p.returncode, err) for p, (_, err) in zip((first, second), outs,
                                                               strict=True))
    assert codes[0][0] == 0, codes[0][1][-3000:]
    if codes[1][0] != 0:  # they overlapped: the second was refused in one line
        assert codes[1][0] == 2 and "is in use by another steamroller run" in error_line(
            codes[1][1])
    assert outside(root) == before
    assert_consistent(root / "run")


# ------------------------------------------------------------------ damaged files
@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = workspace(tmp_path_factory.mktemp("finished"))
    result = cli(root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def _truncate(rel: str):
    def damage(run: Path) -> None:
        raw = (run / rel).read_bytes()
        (run / rel).write_bytes(raw[: len(raw) // 2])
    return damage


def _empty(rel: str):
    return lambda run: (run / rel).write_bytes(b"")


def _delete_stage(n: int):
    return lambda run: shutil.rmtree(run / f"stage{n}")


def _old_empty_lock(run: Path) -> None:
    (run / LOCK_FILE).write_bytes(b"")
    old = time.time() - 3600  # a crash between creating the lock and writing it
    os.utime(run / LOCK_FILE, (old, old))


#: name: (damage, (expected exit, the error line says) or None for a resumed run,
#: the fix: extra arguments, or a callable that repairs the folder, then a rerun)
DAMAGES = {
    "manifest.json truncated": (_truncate(MANIFEST_FILE), (2, "damaged manifest.json"),
                                lambda run: (run / MANIFEST_FILE).unlink()),
    "summary.json truncated": (_truncate("summary.json"), (2, "summary.json' is damaged"),
                               ["--fresh"]),
    "stage2/stage.json truncated": (_truncate("stage2/stage.json"), None, None),
    "stage3/model.keras truncated": (_truncate("stage3/model.keras"), None, None),
    "stage3/model.keras emptied": (_empty("stage3/model.keras"), None, None),
    "stage1/model.keras emptied": (_empty("stage1/model.keras"), None, None),
    "stage2 folder deleted": (_delete_stage(2), None, None),
    "an old empty lock": (_old_empty_lock, None, None),
}


def _damage_and_rerun(finished: Path, work: Path, name: str):
    shutil.copytree(finished, work)
    damage, refusal, fix = DAMAGES[name]
    damage(work / "run")
    before_all, before_out = tree(work), outside(work)
    first = cli(work)
    after_first = tree(work)
    second = None
    if fix is not None:
        if callable(fix):
            fix(work / "run")
        second = cli(work, *([] if callable(fix) else fix))
    return first, second, before_all, before_out, after_first, outside(work)


@pytest.mark.slow
def test_one_damaged_file_at_a_time(finished, tmp_path):
    works = {name: tmp_path / str(i) for i, name in enumerate(DAMAGES)}
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(DAMAGES, pool.map(
            lambda name: _damage_and_rerun(finished, works[name], name), DAMAGES),
            strict=True))
    for name, (first, second, before_all, before_out, after_first, after_out) in \
            results.items():
        refusal = DAMAGES[name][1]
        if refusal is not None:
            code, says = refusal
            assert first.returncode == code, (name, first.stderr[-3000:])
            line = error_line(first.stderr)
            assert says in line and ("--fresh" in line or "Delete it" in line), (name, line)
            assert after_first == before_all, name  # refused: not a byte changed
            assert second.returncode == 0, (name, second.stderr[-3000:])
        else:
            assert first.returncode == 0, (name, first.stderr[-3000:])
        assert after_out == before_out, name
        assert_consistent(works[name] / "run")
