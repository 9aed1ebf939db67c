"""Run folders from someone else: nothing outside the folder is ever removed or written.

Every case builds victim files beside the run folder (in pytest's ``tmp_path``), hands the
library a crafted folder, and checks that the victims and the folder keep every byte. The
command-line cases run ``keras-recipes`` in fresh processes (all at once, to share the
start-up time); the others call :class:`RunFolder` and the workflows in this process.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_recipes._paths import check_relative, resolve_inside
from keras_recipes.workflows.run_folder import (
    LOCK_FILE,
    MANIFEST_FILE,
    OWNER_FILE,
    RunFolder,
    RunFolderError,
)
from tests.helpers import cli, error_line

FORMAT = "keras_recipes.run_folder"


def tree(root) -> dict[str, str]:
    """{relative path: sha256, or '->target' for a link, or '/' for a folder} under ``root``,
    links not followed."""
    out = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = Path(folder, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "->" + os.readlink(path)
            elif path.is_dir():
                out[rel] = "/"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def make_victim(base: Path) -> Path:
    """Files and a folder of the user's, outside any run folder."""
    victim = base / "victim"
    (victim / "dir" / "sub").mkdir(parents=True)
    for rel, text in {"a.txt": "a", "b.txt": "b", "d.txt": "d", "model.keras": "not a model",
                      "dir/c.txt": "c", "dir/sub/e.txt": "e"}.items():
        (victim / rel).write_text(f"victim {text}\n")
    return victim


def write_manifest(run: Path, **fields) -> None:
    run.mkdir(parents=True, exist_ok=True)
    record = {"format": FORMAT, "version": 1, "workflow": "steamroller", "data": None,
              "files": [], "folders": [], **fields}
    (run / MANIFEST_FILE).write_text(json.dumps(record))


@pytest.fixture
def world(tmp_path):
    """(run folder, victim folder, snapshot function of the whole tmp_path)."""
    victim = make_victim(tmp_path)
    return tmp_path / "run", victim, lambda: tree(tmp_path)


FP = RunFolder.fingerprint((np.zeros((4, 2)), np.arange(4)))


# ------------------------------------------------------------------ bad manifest entries
BAD_MANIFESTS = {
    "absolute file": ({"files": ["{victim}/a.txt"]}, "files[0]"),
    "file above": ({"files": ["ok.txt", "../victim/b.txt"]}, "files[1]"),
    "folder above": ({"folders": ["../victim/dir"]}, "folders[0]"),
    "absolute folder": ({"folders": ["{victim}"]}, "folders[0]"),
    "through a stage folder": ({"files": ["stage1/../../victim/d.txt"]}, "files[0]"),
    "backslashes": ({"files": ["..\\victim\\a.txt"]}, "files[0]"),
    "drive": ({"files": ["C:/victim/a.txt"]}, "files[0]"),
    "empty": ({"files": [""]}, "files[0]"),
    "dot": ({"folders": ["."]}, "folders[0]"),
    "trailing slash": ({"folders": ["stage1/"]}, "folders[0]"),
    "newline": ({"files": ["a\nb.txt"]}, "files[0]"),
    "not a string": ({"files": [123]}, "files[0]"),
    "a dict": ({"files": [{"path": "a.txt"}]}, "files[0]"),
    "files not a list": ({"files": "../victim/a.txt"}, "`files` must be a list"),
    "folders null": ({"folders": None}, "`folders` must be a list"),
    "the lock": ({"files": [LOCK_FILE]}, "names the folder's own .lock"),
    "the lock owner": ({"folders": [OWNER_FILE]}, "names the folder's own .lock.owner"),
    "the manifest": ({"files": [MANIFEST_FILE]}, "names the folder's own manifest.json"),
    "data a string": ({"data": "abc"}, "`data` must be an object or null"),
    "data without digest": ({"data": {"kind": "arrays"}}, "`data.sha256`"),
    "data bad shape": ({"data": {**FP, "x_shape": "4x2"}}, "`data.x_shape`"),
    "data bad kind": ({"data": {**FP, "kind": "pickle"}}, "`data.kind`"),
    "workflow a list": ({"workflow": ["steamroller"]}, "`workflow` must be a string"),
    "created a number": ({"created": 5}, "`created` must be a date string"),
}


@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resume"])
@pytest.mark.parametrize("case", list(BAD_MANIFESTS))
def test_a_bad_manifest_entry_refuses_the_folder_untouched(case, resume, world):
    run, victim, snapshot = world
    fields, expected = BAD_MANIFESTS[case]
    fields = json.loads(json.dumps(fields).replace("{victim}", str(victim)))
    write_manifest(run, **fields)
    (run / "ok.txt").write_text("the run's")
    before = snapshot()
    with pytest.raises(RunFolderError, match="bad entry") as info:
        RunFolder(run, "steamroller").open(fingerprint=FP, resume=resume)
    message = str(info.value)
    assert expected in message and "\n" not in message and "nothing was changed" in message
    assert snapshot() == before  # no lock left, nothing removed, inside or out


def test_a_newer_manifest_version_is_refused(world):
    run, _, snapshot = world
    write_manifest(run, version=99, files=["a.txt"])
    before = snapshot()
    with pytest.raises(RunFolderError, match="version 99, newer than"):
        RunFolder(run, "steamroller").open(resume=False)
    assert snapshot() == before


def test_data_null_with_files_refuses_a_resume_but_not_a_fresh_run(world):
    run, _, snapshot = world
    write_manifest(run, files=["stage1/model.keras"], folders=[".stage2.partial"])
    (run / "stage1").mkdir()
    (run / "stage1" / "model.keras").write_text("m")
    (run / ".stage2.partial").mkdir()
    (run / "mine.txt").write_text("mine")
    before = snapshot()
    with pytest.raises(RunFolderError, match=r"records no data fingerprint, so resuming "
                       r"cannot check .* or resume=False to replace"):
        RunFolder(run, "steamroller").open(fingerprint=FP, resume=True)
    assert snapshot() == before
    with RunFolder(run, "steamroller").open(fingerprint=FP, resume=False) as folder:
        assert folder.clear() == [".stage2.partial", "stage1/model.keras"]
    after = snapshot()
    assert {k: v for k, v in after.items() if "victim" in k} == {
        k: v for k, v in before.items() if "victim" in k}
    assert sorted(tree(run)) == [MANIFEST_FILE, "mine.txt"]
    assert json.loads((run / MANIFEST_FILE).read_text())["data"] == FP


def test_an_empty_run_with_data_null_still_opens(world):
    run, _, _ = world
    write_manifest(run)  # what a run that wrote nothing leaves
    RunFolder(run, "steamroller").open(fingerprint=FP).release()


# ------------------------------------------------------------------ symbolic links
def _link_stage3(run: Path, victim: Path) -> None:
    write_manifest(run, files=["stage3/model.keras", "stage3/history.csv"], data=FP)
    os.symlink(victim, run / "stage3")


def _link_file(run: Path, victim: Path) -> None:
    write_manifest(run, files=["summary.json"], data=FP)
    os.symlink(victim / "a.txt", run / "summary.json")


def _link_deep(run: Path, victim: Path) -> None:
    write_manifest(run, folders=[".stage1.partial"], data=FP)
    (run / ".stage1.partial" / "figures").mkdir(parents=True)
    os.symlink(victim / "dir", run / ".stage1.partial" / "figures" / "up")


def _link_manifest(run: Path, victim: Path) -> None:
    write_manifest(victim, files=["a.txt"], data=FP)
    run.mkdir()
    os.symlink(victim / MANIFEST_FILE, run / MANIFEST_FILE)


def _link_lock(run: Path, victim: Path) -> None:
    write_manifest(run, data=FP)
    os.symlink(victim / "d.txt", run / LOCK_FILE)


def _link_owner(run: Path, victim: Path) -> None:
    write_manifest(run, data=FP)
    os.symlink(victim / "d.txt", run / OWNER_FILE)


def _link_unlisted(run: Path, victim: Path) -> None:
    write_manifest(run, data=FP)
    os.symlink(victim, run / "shortcut")


LINKS = {"stage folder": _link_stage3, "file": _link_file, "deep folder": _link_deep,
         "manifest": _link_manifest, "lock": _link_lock, "lock owner": _link_owner,
         "unlisted": _link_unlisted}


@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resume"])
@pytest.mark.parametrize("case", list(LINKS))
def test_a_link_inside_the_folder_refuses_it_untouched(case, resume, world):
    run, victim, snapshot = world
    LINKS[case](run, victim)
    before = snapshot()
    with pytest.raises(RunFolderError, match="holds a symbolic link") as info:
        RunFolder(run, "steamroller").open(fingerprint=FP, resume=resume,
                                           outputs=["summary.json", "stage3/model.keras"])
    assert "\n" not in str(info.value) and "Replace the link" in str(info.value)
    assert snapshot() == before


def test_the_folder_itself_may_be_a_link(world, tmp_path):
    run, victim, snapshot = world
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "alias")
    with RunFolder(tmp_path / "alias", "steamroller").open(fingerprint=FP) as folder:
        folder.claim("stage1/a.csv")
        (tmp_path / "alias" / "stage1").mkdir()
        (tmp_path / "alias" / "stage1" / "a.csv").write_text("1")
    assert sorted(tree(real)) == [MANIFEST_FILE, "stage1", "stage1/a.csv"]
    with RunFolder(tmp_path / "alias", "steamroller").open(resume=False) as folder:
        assert folder.clear() == ["stage1/a.csv"]
    assert sorted(tree(real)) == [MANIFEST_FILE]
    assert (tmp_path / "alias").is_symlink()


def test_a_link_that_appears_after_open_is_refused_at_each_operation(world):
    """Paths are resolved again just before each removal, move or write."""
    run, victim, snapshot = world
    with RunFolder(run, "steamroller").open(fingerprint=FP) as folder:
        folder.claim("stage3/model.keras", "stage3/history.csv")
        (run / "stage3").mkdir()
        for name in ("model.keras", "history.csv"):
            (run / "stage3" / name).write_text("run")
        work = folder.scratch(".stage3.partial")
        (work / "model.keras").write_text("new")
        for name in ("model.keras", "history.csv"):
            (run / "stage3" / name).unlink()
        (run / "stage3").rmdir()
        os.symlink(victim, run / "stage3")  # swapped in by someone else mid-run
        before = snapshot()
        with pytest.raises(RunFolderError, match=r"Refusing to move 'stage3'.*symbolic link"):
            folder.move_in(".stage3.partial", "stage3", last=("model.keras",))
        with pytest.raises(RunFolderError, match=r"Refusing to remove 'stage3/history.csv'"):
            folder.clear()
        with pytest.raises(RunFolderError, match=r"Refusing to write 'stage3/report.md'"):
            folder.claim("stage3/report.md")
        assert snapshot() == before
        os.unlink(run / "stage3")


def test_resolve_inside_and_check_relative():
    assert check_relative("a/b.csv") == "a/b.csv"
    for bad in ("/a", "../a", "a/../b", "a//b", "./a", "a\\b", "C:a", "", "a\x00b", 3, None):
        with pytest.raises(ValueError):
            check_relative(bad)


def test_resolve_inside_follows_no_link(tmp_path):
    (tmp_path / "root" / "in").mkdir(parents=True)
    os.symlink(tmp_path, tmp_path / "root" / "up")
    assert resolve_inside(tmp_path / "root", "in/x") == tmp_path / "root" / "in" / "x"
    with pytest.raises(ValueError, match="symbolic link"):
        resolve_inside(tmp_path / "root", "up/x")


# ------------------------------------------------------------------ damaged, not foreign
def test_a_truncated_manifest_is_called_damaged(world):
    run, _, snapshot = world
    with RunFolder(run, "steamroller").open(fingerprint=FP) as folder:
        folder.claim("summary.json")
    raw = (run / MANIFEST_FILE).read_bytes()
    for cut, state in ((len(raw) // 2, "truncated or corrupt"), (20, "truncated or corrupt"),
                       (0, "empty")):
        (run / MANIFEST_FILE).write_bytes(raw[:cut])
        before = snapshot()
        with pytest.raises(RunFolderError, match=rf"holds a damaged manifest.json \({state}.*"
                           r"Delete it to have them listed again from summary.json"):
            RunFolder(run, "steamroller").open(fingerprint=FP)
        assert snapshot() == before
    (run / MANIFEST_FILE).write_text("# my notes\n")
    with pytest.raises(RunFolderError, match="manifest.json that keras-recipes did not write"):
        RunFolder(run, "steamroller").open(fingerprint=FP)


def test_a_fifo_manifest_does_not_block(world):
    run, _, _ = world
    run.mkdir()
    os.mkfifo(run / MANIFEST_FILE)
    with pytest.raises(RunFolderError, match="cannot be read"):
        RunFolder(run, "steamroller").open()


def test_a_crafted_owner_file_gives_one_line(world):
    run, _, _ = world
    with RunFolder(run, "steamroller").open():
        (run / OWNER_FILE).write_text(json.dumps({"pid": 10 ** 30, "host": "x\ny",
                                                  "workflow": "a\nb", "started": ["?"]}))
        with pytest.raises(RunFolderError, match="in use by another") as info:
            RunFolder(run, "steamroller").open()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", [LOCK_FILE, OWNER_FILE])
def test_a_hard_link_at_the_lock_files_never_changes_its_target(name, world):
    """The lock file is opened without truncation and never written; the owner file is
    replaced by a rename: a hard link planted at either keeps the victim's bytes."""
    run, victim, snapshot = world
    write_manifest(run, data=FP)
    os.link(victim / "d.txt", run / name)
    outside = tree(victim)
    with RunFolder(run, "steamroller").open(fingerprint=FP) as folder:
        assert folder.owner()["workflow"] == "steamroller"
    assert tree(victim) == outside
    assert sorted(p.name for p in run.iterdir()) == [MANIFEST_FILE]  # names gone, bytes kept


# ------------------------------------------------------------------ legacy folders
def test_a_legacy_summary_with_outside_paths_is_refused(world):
    from keras_recipes.workflows.steamroller.folder import adopt

    run, victim, snapshot = world
    run.mkdir()
    summary = {"workflow": "steamroller", "stages": {"1": {"files": {
        "model": str(victim / "model.keras"), "history": "../victim/a.txt"}}}}
    (run / "summary.json").write_text(json.dumps(summary))
    before = snapshot()
    with pytest.raises(RunFolderError, match="from before manifests.*not a relative path"):
        RunFolder(run, "steamroller").open(resume=False, adopt=adopt)
    assert snapshot() == before


# ------------------------------------------------------------------ the release
def test_the_release_never_hides_the_error_in_flight(world, monkeypatch):
    from keras_recipes.workflows import run_folder as module

    run, _, _ = world

    write = module.atomic_write_json

    def read_only(path, record):  # the manifest cannot be written (the lock's owner can)
        if Path(path).name != MANIFEST_FILE:
            return write(path, record)
        raise PermissionError(13, "Permission denied", str(path))

    with pytest.raises(KeyError, match="the real failure") as info:
        with RunFolder(run, "steamroller").open(fingerprint=FP) as folder:
            folder.claim("a.txt")
            monkeypatch.setattr(module, "atomic_write_json", read_only)
            raise KeyError("the real failure")
    assert any("manifest.json" in note for note in getattr(info.value, "__notes__", []))
    assert not (run / LOCK_FILE).exists()
    folder = RunFolder(run, "steamroller").open(fingerprint=FP)
    folder._touched = True  # as if it had claimed a file
    with pytest.raises(PermissionError, match="manifest.json"):
        folder.release()  # no error in flight: the failure is raised
    assert not (run / LOCK_FILE).exists()


# ------------------------------------------------------------------ summaries, in process
def _steamroller_folder(run: Path, summary: dict) -> None:
    from keras_recipes.data.dataset import as_classification_dataset

    ds = as_classification_dataset("moons", workflow="The steamroller")
    write_manifest(run, data=RunFolder.fingerprint(ds), files=["summary.json"])
    (run / "summary.json").write_text(json.dumps(summary))


@pytest.mark.parametrize("files, expected", [
    ({"model": "{victim}/model.keras"}, "a relative path inside the run folder"),
    ({"model": "stage1/../../victim/model.keras"}, "a relative path inside"),
    ({"model": "stage2/model.keras"}, "a path inside stage1/"),
    ({"model": "stage1/model.h5"}, "a .keras file"),
    ({"figures": {"lr_finder": "/etc/hostname"}}, "files.figures.lr_finder"),
])
def test_a_summary_pointing_outside_is_refused(files, expected, world):
    from keras_recipes.workflows import SteamrollerInputError, steamroller

    run, victim, snapshot = world
    files = json.loads(json.dumps(files).replace("{victim}", str(victim)))
    _steamroller_folder(run, {"workflow": "steamroller", "config": {}, "stages": {
        "1": {"name": "overfit", "status": "passed", "files": files}}})
    before = snapshot()
    with pytest.raises(SteamrollerInputError, match="is damaged or was not written by "
                       "keras-recipes") as info:
        steamroller("moons", out=run, verbose=0)
    assert expected in str(info.value) and "\n" not in str(info.value)
    assert snapshot() == before


@pytest.mark.parametrize("summary, expected", [
    ([1, 2], "the whole file must be an object"),
    ({"stages": []}, "stages must be of type dict"),
    ({"stages": {"one": {}}}, "a key of stages must be a stage number"),
    ({"stages": {"1": {"gate": {"value": "high"}}}}, "stages.1.gate.value"),
    ({"stages": {"1": {"gate": None}}}, "stages.1.gate must be of type dict"),
    ({"config": "digits"}, "config must be of type dict"),
])
def test_a_summary_of_the_wrong_shape_is_refused(summary, expected, world):
    from keras_recipes.workflows import SteamrollerInputError, steamroller

    run, _, snapshot = world
    _steamroller_folder(run, summary)
    before = snapshot()
    with pytest.raises(SteamrollerInputError, match="resume=False") as info:
        steamroller("moons", out=run, verbose=0)
    assert expected in str(info.value)
    assert snapshot() == before


# ------------------------------------------------------------------ the fuzz
_DANGER = ["{victim}/a.txt", "{victim}", "../victim/b.txt", "../victim/dir",
           "stage1/../../victim/d.txt", "../../", "..", "/", "stage1/..", "{victim}/dir/sub"]
_INSIDE = ["stage1/model.keras", "stage1", "summary.json", "mine.txt", "deep/er/x.csv",
           ".stage1.partial", "deep"]
_entry = st.one_of(st.sampled_from(_DANGER + _INSIDE), st.text(max_size=12),
                   st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2))
_paths = st.one_of(st.lists(_entry, max_size=6), _entry)
_data = st.one_of(st.none(), st.just(FP), st.integers(), st.text(max_size=5),
                  st.fixed_dictionaries({"kind": st.sampled_from(["arrays", "file", "x"]),
                                         "sha256": st.sampled_from([FP["sha256"], "z"])}))
_manifest = st.fixed_dictionaries(
    {"format": st.sampled_from([FORMAT, FORMAT, "other"]),
     "workflow": st.sampled_from(["steamroller", "steamroller", "practical", 1]),
     "data": _data, "files": _paths, "folders": _paths},
    optional={"version": st.sampled_from([1, 2, "1"]), "created": st.sampled_from(["x", 0])})


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(manifest=_manifest, resume=st.booleans(), with_link=st.booleans())
def test_fuzzed_manifests_never_touch_anything_outside(tmp_path, manifest, resume, with_link):
    case = tmp_path / os.urandom(6).hex()  # one folder per example
    victim = make_victim(case)
    run = case / "run"
    (run / "stage1").mkdir(parents=True)
    (run / "deep" / "er").mkdir(parents=True)
    for rel in ("stage1/model.keras", "summary.json", "mine.txt", "deep/er/x.csv"):
        (run / rel).write_text(rel)
    if with_link:
        os.symlink(victim, run / "deep" / "link")
    text = json.dumps(manifest).replace("{victim}", str(victim))
    (run / MANIFEST_FILE).write_text(text)
    outside = tree(victim)
    inside = tree(run)
    try:
        folder = RunFolder(run, "steamroller").open(fingerprint=FP, resume=resume)
    except RunFolderError as exc:
        assert "\n" not in str(exc)
        assert tree(run) == inside  # refused: not a byte changed
    else:
        assert not with_link
        try:
            folder.clear()
        finally:
            folder.release()
        assert os.path.isdir(run) and not (run / LOCK_FILE).exists()
    assert tree(victim) == outside, case
    assert sorted(p.name for p in case.iterdir()) == ["run", "victim"]


# ------------------------------------------------------------------ the command line
def _digits_fingerprint() -> dict:
    from keras_recipes.data.dataset import as_classification_dataset

    return RunFolder.fingerprint(as_classification_dataset("digits", workflow="x"))


def _fresh_attack(work: Path, victim: Path) -> list[str]:
    write_manifest(work / "runA", files=[str(victim / "a.txt"), "../victim/b.txt"],
                   folders=["../victim/dir"])
    return ["steamroller", "--dataset", "digits", "--out", "runA", "--fresh"]


def _resume_attack(work: Path, victim: Path) -> list[str]:
    write_manifest(work / "runB", data=_digits_fingerprint(),
                   files=["stage1/../../victim/d.txt"])
    (work / "runB" / "stage1").mkdir()
    return ["steamroller", "--dataset", "digits", "--out", "runB"]


def _practical_attack(work: Path, victim: Path) -> list[str]:
    write_manifest(work / "runC", workflow="practical", files=[str(victim / "a.txt")])
    return ["practical", "--out", "runC"]


def _linked_stage(work: Path, victim: Path) -> list[str]:
    write_manifest(work / "runD", files=["stage3/model.keras", "stage3/history.csv"])
    (victim / "history.csv").write_text("victim history\n")
    os.symlink(victim, work / "runD" / "stage3")
    return ["steamroller", "--dataset", "digits", "--out", "runD", "--fresh"]


def _outside_model(work: Path, victim: Path) -> list[str]:
    write_manifest(work / "runE", data=_digits_fingerprint(), files=["summary.json"])
    summary = {"workflow": "steamroller", "config": {}, "status": "passed", "stages": {
        "1": {"name": "overfit", "status": "passed",
              "files": {"model": str(victim / "model.keras")}}}}
    (work / "runE" / "summary.json").write_text(json.dumps(summary))
    return ["steamroller", "--dataset", "digits", "--out", "runE"]


ATTACKS = {
    "fresh run deletes absolute, '..' files and a folder": (_fresh_attack, "files[0]"),
    "resume moves a stage over stage1/../../victim": (_resume_attack, "files[0]"),
    "practical with an absolute path": (_practical_attack, "files[0]"),
    "stage folder linked to another folder": (_linked_stage, "holds a symbolic link"),
    "summary loads a model from outside": (_outside_model, "stages.1.files.model"),
}


@pytest.mark.integration
def test_crafted_folders_from_the_command_line(tmp_path):
    works, befores, argvs = {}, {}, {}
    for i, (name, (prepare, _)) in enumerate(ATTACKS.items()):
        work = tmp_path / str(i)
        victim = make_victim(work)
        argvs[name] = prepare(work, victim)
        works[name] = work
        befores[name] = tree(work)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(ATTACKS, pool.map(lambda n: cli(works[n], *argvs[n]), ATTACKS),
                           strict=True))
    for name, (_, expected) in ATTACKS.items():
        result = results[name]
        assert result.returncode == 2, (name, result.stderr[-2000:])
        line = error_line(result)
        assert expected in line, (name, line)
        assert tree(works[name]) == befores[name], name  # victims and run folder alike


# ---------------------------------------------------------------- SteamrollerReport.load


def _summary_with_model(out, model_path):
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(
        {"workflow": "steamroller", "status": "passed",
         "stages": {"1": {"name": "overfit", "files": {"model": model_path}}}}))


@pytest.mark.parametrize("model_path", ["../victim.keras", "/tmp/victim.keras",
                                        "stage1/../../victim.keras", "stage2/model.keras"])
def test_report_load_refuses_model_paths_outside_their_stage_folder(tmp_path, model_path):
    from keras_recipes.workflows import SteamrollerReport

    _summary_with_model(tmp_path / "run", model_path)
    with pytest.raises(RunFolderError, match="summary.json"):
        SteamrollerReport.load(tmp_path / "run", load_models=True)


def test_report_load_refuses_a_model_reached_through_a_link(tmp_path):
    from keras_recipes.workflows import SteamrollerReport

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.keras").write_bytes(b"not loaded")
    _summary_with_model(tmp_path / "run", "stage1/model.keras")
    os.symlink(elsewhere, tmp_path / "run" / "stage1")
    with pytest.raises(RunFolderError, match="symbolic link"):
        SteamrollerReport.load(tmp_path / "run", load_models=True)
    assert (elsewhere / "model.keras").read_bytes() == b"not loaded"


def test_report_load_refuses_a_damaged_summary_in_one_line(tmp_path):
    from keras_recipes.workflows import SteamrollerReport

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.json").write_text('{"stages": {"1": ')
    with pytest.raises(RunFolderError) as info:
        SteamrollerReport.load(tmp_path / "run")
    assert "\n" not in str(info.value)
