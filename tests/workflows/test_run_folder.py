"""RunFolder: manifest, data fingerprint, lock and ownership, without training anything."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import socket
import subprocess
import sys

import numpy as np
import pytest

from keras_recipes import _paths
from keras_recipes.workflows.run_folder import (
    LOCK_FILE,
    MANIFEST_FILE,
    OWNER_FILE,
    RunFolder,
    RunFolderError,
)


def tree(root) -> dict[str, str]:
    """{relative path: sha256} of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 3)).astype("float32"), rng.integers(0, 2, size=20)


# ----------------------------------------------------------------------------- fingerprints
def test_fingerprint_tells_data_sets_apart(data):
    x, y = data
    same = RunFolder.fingerprint((x.copy(), y.copy()))
    assert RunFolder.fingerprint((x, y)) == same
    assert same["x_shape"] == [20, 3] and same["y_shape"] == [20] and same["examples"] == 20
    others = [
        (x[:10], y[:10]),                          # half the rows
        (x, y[::-1]),                              # labels permuted
        (x.astype("float64"), y),                  # same values, another dtype
        (x.reshape(20, 3, 1), y),                  # same bytes, another shape
    ]
    digests = {RunFolder.fingerprint(d)["sha256"] for d in others}
    assert len(digests) == len(others) and same["sha256"] not in digests


def test_fingerprint_of_a_dataset_counts_class_names(data):
    from keras_recipes.data import Dataset

    x, y = data
    a = RunFolder.fingerprint(Dataset(x, y, ["a", "b"], (3,), "t"))
    b = RunFolder.fingerprint(Dataset(x, y, ["b", "a"], (3,), "t"))
    assert a["sha256"] != b["sha256"] and a["x_shape"] == [20, 3]


def test_fingerprint_of_a_file_is_the_sha256_of_its_bytes(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,b\n1,2\n")
    fp = RunFolder.fingerprint(path)
    assert fp == {"kind": "file", "sha256": hashlib.sha256(b"a,b\n1,2\n").hexdigest(),
                  "size": 8}


# ----------------------------------------------------------------------------- the lock
def test_lock_names_its_owner_and_is_released(tmp_path):
    with RunFolder(tmp_path / "run", "demo").open() as run:
        holder = json.loads((tmp_path / "run" / OWNER_FILE).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        assert holder["workflow"] == "demo" and run.locked
        assert run.owner() == {k: holder[k] for k in ("pid", "host", "workflow", "started")}
        with pytest.raises(RunFolderError, match=rf"in use by another demo run \(pid "
                           rf"{os.getpid()} on host {socket.gethostname()}, started "):
            RunFolder(tmp_path / "run", "demo").open()
    assert not (tmp_path / "run").exists()  # both files removed, then the folder it made
    assert not run.locked
    RunFolder(tmp_path / "run", "demo").open().release()


def test_lock_released_on_keyboard_interrupt(tmp_path):
    with pytest.raises(KeyboardInterrupt), RunFolder(tmp_path, "demo").open() as run:
        run.claim("a.txt")
        raise KeyboardInterrupt
    assert not (tmp_path / LOCK_FILE).exists() and not (tmp_path / OWNER_FILE).exists()
    assert json.loads((tmp_path / MANIFEST_FILE).read_text())["files"] == []  # never written


#: A second process that takes the lock, says so, then waits to be killed.
_HOLDER = """
import sys, time
from keras_recipes.workflows.run_folder import RunFolder
run = RunFolder(sys.argv[1], "steamroller").open()
print("locked", flush=True)
time.sleep(120)
"""


def test_another_process_is_refused_in_one_line_and_its_death_frees_the_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = tree(tmp_path)
        with pytest.raises(RunFolderError) as info:
            RunFolder(tmp_path, "steamroller").open()
        message = str(info.value)
        assert "\n" not in message
        assert (f"is in use by another steamroller run (pid {holder.pid} on host "
                f"{socket.gethostname()}, started ") in message
        assert tree(tmp_path) == before  # the refused run changed nothing
        holder.kill()  # SIGKILL: no `finally`, no release
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_FILE, OWNER_FILE]
    run = RunFolder(tmp_path, "steamroller").open()  # the kernel released the dead lock
    assert run.owner()["pid"] == os.getpid()
    run.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_leftover_lock_files_of_a_crash_are_taken_over_whatever_they_say(tmp_path):
    # Not held by any process: the names in them are history, not a lock.
    (tmp_path / LOCK_FILE).write_text('{"pid": 1, "host": "elsewhere.example"}')
    (tmp_path / OWNER_FILE).write_text('{"pid": 1, "host": "elsewhere.example", '
                                       '"workflow": "demo", "started": "x"}')
    run = RunFolder(tmp_path, "demo").open()
    assert run.owner()["pid"] == os.getpid() and run.owner()["host"] == socket.gethostname()
    run.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


#: owner file content: what the refusal names (read back as untrusted input)
OWNER_FILES = {
    "not json": (b"{pid: 1", "another run. Wait"),
    "a list": (b"[1, 2]", "another run. Wait"),
    "wrong types": (json.dumps({"pid": "1; rm -rf /", "host": ["h"], "workflow": 3,
                                "started": None}).encode(), "another run. Wait"),
    "huge pid": (json.dumps({"pid": 10 ** 30, "workflow": "demo"}).encode(),
                           "another demo run. Wait"),
    "newlines, a bool pid": (json.dumps({"pid": True, "host": "x\ny", "workflow": "a\nb",
                             "started": "t"}).encode(),
                 "another a\\nb run (on host x\\ny, started t)"),
    "too large": (json.dumps({"pid": 7, "host": "h" * 5000}).encode(), "another run. Wait"),
    "not utf-8": (b'{"pid": 7, "host": "\xff"}', "another run. Wait"),
}


@pytest.mark.parametrize("case", list(OWNER_FILES))
def test_the_owner_file_is_untrusted_input(case, tmp_path):
    raw, expected = OWNER_FILES[case]
    with RunFolder(tmp_path, "demo").open() as held:
        (tmp_path / OWNER_FILE).write_bytes(raw)
        with pytest.raises(RunFolderError) as info:
            RunFolder(tmp_path, "demo").open()
        assert expected in str(info.value) and "\n" not in str(info.value)
        assert held.locked


def test_the_owner_file_as_a_fifo_or_a_link_names_nobody(tmp_path):
    with RunFolder(tmp_path / "run", "demo").open() as held:
        owner = tmp_path / "run" / OWNER_FILE
        owner.unlink()
        os.mkfifo(owner)  # reading it must not block
        assert held.owner() is None
        owner.unlink()
        (tmp_path / "elsewhere.json").write_text('{"pid": 7, "workflow": "demo"}')
        os.symlink(tmp_path / "elsewhere.json", owner)  # planted during the run
        assert held.owner() is None
    assert (tmp_path / "elsewhere.json").read_text() == '{"pid": 7, "workflow": "demo"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.json"]


def test_a_lock_that_is_not_a_regular_file_is_refused(tmp_path):
    os.mkfifo(tmp_path / LOCK_FILE)
    with pytest.raises(RunFolderError, match=r"holds a \.lock that is not a regular file"):
        RunFolder(tmp_path, "demo").open()
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_FILE]  # left as it was


def test_a_file_system_without_flock_gets_a_clear_error(tmp_path, monkeypatch):
    import errno
    import fcntl

    flock = fcntl.flock

    def no_flock(fd, operation):
        if operation & fcntl.LOCK_EX:
            raise OSError(errno.ENOSYS, "Function not implemented")
        return flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", no_flock)
    with pytest.raises(RunFolderError, match="has no flock locks"):
        RunFolder(tmp_path / "run", "demo").open()
    assert not (tmp_path / "run").exists()  # the folder it created is gone again


def _flags(name, value):
    """A caller's spelling of the library's arguments (as a command line would)."""
    return {("out", None): "--out", ("resume", "False"): "--fresh",
            ("fresh", "True"): "--fresh"}.get((name, value))


def test_refusals_name_the_folder_argument_as_data(tmp_path, data):
    (tmp_path / "report.md").write_text("mine")
    with pytest.raises(RunFolderError) as info:
        RunFolder(tmp_path, "demo").open(outputs=["report.md"])
    error = info.value
    assert isinstance(error, ValueError) and error.argument == "out"
    assert str(error).endswith("Move them, or use another `out`.")
    assert error.render(_flags).endswith("Move them, or use another --out.")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is RunFolderError and str(again) == str(error)
    assert again.render(_flags) == error.render(_flags)

    other = RunFolder.fingerprint((data[0][::-1], data[1]))
    with RunFolder(tmp_path / "run", "demo").open(fingerprint=RunFolder.fingerprint(data)) as run:
        run.claim("a.csv")
    for hint, library in (("resume=False", "resume=False"), ("fresh=True", "fresh=True")):
        with pytest.raises(RunFolderError) as info:
            RunFolder(tmp_path / "run", "demo").open(fingerprint=other, restart_hint=hint)
        assert str(info.value).endswith(f"Use another `out`, or {library} to replace that run.")
        assert info.value.render(_flags).endswith("Use another --out, or --fresh to replace "
                                                  "that run.")


def test_a_plain_message_keeps_its_braces():
    error = RunFolderError("Refusing to load 'stage{1}/model.keras' from 'x': a link.")
    assert str(error) == "Refusing to load 'stage{1}/model.keras' from 'x': a link."
    assert error.render(_flags) == str(error)


# ----------------------------------------------------------------------------- ownership
def test_clear_removes_only_the_runs_files(tmp_path):
    with RunFolder(tmp_path, "demo").open() as run:
        run.claim("report.md", "sub/a.csv", "deep/er/b.csv")
        for rel in ("report.md", "sub/a.csv", "deep/er/b.csv"):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(rel)
    (tmp_path / "sub" / "mine.txt").write_text("mine")
    (tmp_path / "notes.txt").write_text("notes")
    manifest = json.loads((tmp_path / MANIFEST_FILE).read_text())
    assert manifest["workflow"] == "demo"
    assert manifest["files"] == ["deep/er/b.csv", "report.md", "sub/a.csv"]
    with RunFolder(tmp_path, "demo").open(resume=False) as run:
        removed = run.clear()
    assert removed == ["deep/er/b.csv", "report.md", "sub/a.csv"]
    assert sorted(tree(tmp_path)) == [MANIFEST_FILE, "notes.txt", "sub/mine.txt"]
    assert not (tmp_path / "deep").exists()  # emptied by the removal


def test_user_files_in_the_way_are_refused_untouched(tmp_path):
    (tmp_path / "report.md").write_text("my report")
    (tmp_path / "summary.json").write_text('{"mine": true}')
    before = tree(tmp_path)
    for resume in (True, False):
        with pytest.raises(RunFolderError, match=r"holds report.md, summary.json, which no "
                           r"demo run wrote there"):
            RunFolder(tmp_path, "demo").open(resume=resume,
                                             outputs=["report.md", "summary.json", "x.csv"])
        assert tree(tmp_path) == before and not (tmp_path / LOCK_FILE).exists()
    with RunFolder(tmp_path, "demo").open() as run, pytest.raises(
            RunFolderError, match="Refusing to overwrite report.md"):
        run.claim("report.md")
    assert tree(tmp_path) == before


def test_another_workflows_folder_is_refused(tmp_path):
    with RunFolder(tmp_path, "steamroller").open() as run:
        run.claim("summary.json")
        (tmp_path / "summary.json").write_text("{}")
    before = tree(tmp_path)
    for resume in (True, False):
        with pytest.raises(RunFolderError, match="holds a steamroller run; a practical run"):
            RunFolder(tmp_path, "practical").open(resume=resume)
    assert tree(tmp_path) == before


def test_a_foreign_manifest_is_refused(tmp_path):
    (tmp_path / MANIFEST_FILE).write_text('{"name": "my package"}')
    before = tree(tmp_path)
    with pytest.raises(RunFolderError, match="manifest.json that keras-recipes did not write"):
        RunFolder(tmp_path, "demo").open()
    assert tree(tmp_path) == before


def test_other_data_is_refused_on_resume_and_replaced_when_fresh(tmp_path, data):
    x, y = data
    first, second = RunFolder.fingerprint((x, y)), RunFolder.fingerprint((x[:10], y[::-1][:10]))
    with RunFolder(tmp_path, "demo").open(fingerprint=first) as run:
        run.claim("a.csv")
        (tmp_path / "a.csv").write_text("1")
    before = tree(tmp_path)
    with pytest.raises(RunFolderError, match=r"on other data \(earlier: 20 examples, x shape "
                       r"\(20, 3\).*now: 10 examples.*or fresh=True to replace"):
        RunFolder(tmp_path, "demo").open(fingerprint=second, restart_hint="fresh=True")
    assert tree(tmp_path) == before
    RunFolder(tmp_path, "demo").open(fingerprint=first).release()  # same data: fine
    with RunFolder(tmp_path, "demo").open(fingerprint=second, resume=False) as run:
        run.clear()
    assert json.loads((tmp_path / MANIFEST_FILE).read_text())["data"] == second


def test_legacy_folder_is_adopted_by_its_workflow_only(tmp_path):
    summary = {"workflow": "steamroller", "stages": {"1": {"files": {"model": "stage1/m.keras"}}}}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "stage1").mkdir()
    (tmp_path / "stage1" / "m.keras").write_text("model")
    before = tree(tmp_path)
    with pytest.raises(RunFolderError, match="holds a steamroller run; a practical run"):
        RunFolder(tmp_path, "practical").open()
    seen = []

    def adopt(path, summary):
        seen.append(summary["workflow"])
        return ["summary.json", "stage1/m.keras"]

    run = RunFolder(tmp_path, "steamroller").open(outputs=["summary.json"], adopt=adopt)
    assert seen == ["steamroller"] and run.adopted
    assert run.files == {"summary.json", "stage1/m.keras"}
    run.release()
    assert tree(tmp_path) == before  # adopting alone writes nothing
    with RunFolder(tmp_path, "steamroller").open(resume=False, adopt=adopt) as run:
        run.clear()
    assert sorted(tree(tmp_path)) == [MANIFEST_FILE]


def test_move_in_keeps_the_users_files(tmp_path):
    with RunFolder(tmp_path, "demo").open() as run:
        run.claim("stage1/old.csv", "stage1/model.keras")
        (tmp_path / "stage1").mkdir()
        (tmp_path / "stage1" / "old.csv").write_text("old")
        (tmp_path / "stage1" / "model.keras").write_text("old model")
        (tmp_path / "stage1" / "mine.txt").write_text("mine")
        run.claim(".partial", folder=True)
        (tmp_path / ".partial" / "fig").mkdir(parents=True)
        (tmp_path / ".partial" / "model.keras").write_text("new model")
        (tmp_path / ".partial" / "fig" / "a.png").write_text("png")
        moved = run.move_in(".partial", "stage1", last=("model.keras",))
        assert moved == ["stage1/fig/a.png", "stage1/model.keras"]
        run.claim(".p2", folder=True)
        (tmp_path / ".p2").mkdir()
        (tmp_path / ".p2" / "x.csv").write_text("x")
        assert run.move_in(".p2", "stage2") == ["stage2/x.csv"]  # renamed at once
    assert tree(tmp_path)["stage1/model.keras"] == hashlib.sha256(b"new model").hexdigest()
    assert sorted(tree(tmp_path)) == [MANIFEST_FILE, "stage1/fig/a.png", "stage1/mine.txt",
                                      "stage1/model.keras", "stage2/x.csv"]
    manifest = json.loads((tmp_path / MANIFEST_FILE).read_text())
    assert manifest["files"] == ["stage1/fig/a.png", "stage1/model.keras", "stage2/x.csv"]
    assert manifest["folders"] == []


def test_a_refused_open_leaves_no_new_folder(tmp_path):
    target = tmp_path / "a" / "b"
    RunFolder(target, "demo").open().release()  # nothing written: nothing left
    assert not (tmp_path / "a").exists()


def test_unwritable_paths_are_refused_before_anything_is_created(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match=r"cannot be created: .*file' is a file"):
        RunFolder(tmp_path / "file" / "run", "demo").open()
    monkeypatch.setattr(_paths, "writable", lambda path: False)
    with pytest.raises(RunFolderError, match="is read-only"):
        RunFolder(tmp_path / "new", "demo").open()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# ------------------------------------------------------------------ the workflows use it
def _owned_by(folder, workflow, data, files=("report.md",)):
    with RunFolder(folder, workflow).open(fingerprint=RunFolder.fingerprint(data)) as run:
        run.claim(*files)
        for rel in files:
            (folder / rel).write_text(f"{workflow} wrote {rel}")


def test_workflows_refuse_other_data_and_other_owners_before_any_work(tmp_path, data):
    from keras_recipes.workflows import SteamrollerInputError, practical, steamroller

    _owned_by(tmp_path / "p", "practical", data)
    _owned_by(tmp_path / "s", "steamroller", data)
    (tmp_path / "u").mkdir()
    (tmp_path / "u" / "summary.json").write_text('{"mine": 1}')
    before = tree(tmp_path)
    with pytest.raises(RunFolderError, match=r"practical run on other data .* or fresh=True"):
        practical("moons", out=tmp_path / "p", verbose=0)
    with pytest.raises(RunFolderError, match="holds a steamroller run; a practical run"):
        practical("moons", out=tmp_path / "s", fresh=True, verbose=0)
    with pytest.raises(SteamrollerInputError, match=r"on other data .* or resume=False"):
        steamroller("moons", out=tmp_path / "s", verbose=0)
    with pytest.raises(SteamrollerInputError, match="holds a practical run; a steamroller"):
        steamroller("moons", out=tmp_path / "p", resume=False, verbose=0)
    with pytest.raises(RunFolderError, match="holds summary.json, which no practical run"):
        practical("moons", out=tmp_path / "u", fresh=True, verbose=0)
    assert tree(tmp_path) == before
