"""`RunFolder`: an output folder that knows what it owns, on which data, and who runs in it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from keras_recipes._paths import check_output_dir
from keras_recipes.workflows.common import atomic_write_json

__all__ = ["RunFolder", "RunFolderError"]

#: Name of the manifest inside a run folder.
MANIFEST_FILE = "manifest.json"
#: Name of the lock file inside a run folder (present only while a run works in it).
LOCK_FILE = ".lock"
_FORMAT = "keras_recipes.run_folder"
_VERSION = 1
#: An unreadable lock file older than this (seconds) is a leftover of a crash.
_UNREADABLE_LOCK_AGE = 10.0


class RunFolderError(ValueError):
    """The folder cannot hold this run; nothing in it was changed."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return False
    return True


def _describe_data(fp: dict[str, Any] | None) -> str:
    if not fp:
        return "unknown data"
    if fp.get("kind") == "file":
        return f"file of {fp.get('size')} bytes, sha256 {str(fp.get('sha256'))[:12]}"
    return (f"{fp.get('examples')} examples, x shape {tuple(fp.get('x_shape') or ())}, "
            f"sha256 {str(fp.get('sha256'))[:12]}")


def _legacy_owner(summary: Any) -> str | None:
    """The workflow that wrote ``summary`` in a folder from before manifests, if any."""
    if not isinstance(summary, dict):
        return None
    if summary.get("workflow") == "steamroller" and isinstance(summary.get("stages"), dict):
        return "steamroller"
    config = summary.get("config")
    if (isinstance(summary.get("steps"), list) and isinstance(config, dict)
            and "grid_epochs" in config and "passed" in summary):
        return "practical"
    return None


class RunFolder:
    """A workflow's output folder: what it owns, which data it holds, and an exclusive lock.

    Use it in a workflow that writes many files into one user-chosen folder and may be
    rerun there. It keeps three promises:

    - **nothing lost**: the folder's ``manifest.json`` lists every file the run wrote
      (paths relative to the folder) and the workflow's name. Starting afresh
      (:meth:`clear`) removes only those files; a file of the user's that the run would
      overwrite is refused, before any work (:meth:`open` with ``outputs``) and again at
      write time (:meth:`claim`).
    - **nothing mixed**: the manifest holds a fingerprint of the data (SHA-256 of the
      arrays ``x`` and ``y`` with their shapes and dtypes, or of a file's bytes). A run
      that would resume on other data, or a folder owned by another workflow, is refused.
    - **one run at a time**: :meth:`open` creates ``.lock`` with ``O_CREAT | O_EXCL``
      holding the process id, host, workflow and start time; a second run is refused
      with a message naming the owner. A lock left by a dead process on this host is
      stale and taken over. :meth:`release` (or leaving the ``with`` block, including on
      ``KeyboardInterrupt``) removes it.

    Folders written before manifests existed are adopted: when ``summary.json`` names the
    same workflow, ``adopt(path, summary)`` lists the files that run wrote. Every refusal
    raises :class:`RunFolderError` (a ``ValueError``) and leaves the folder as it was.

    Args:
        path: the run folder (created by :meth:`open` when missing).
        workflow: the owning workflow's name, such as ``"steamroller"``.

    Example:

    >>> import tempfile
    >>> import numpy as np
    >>> from keras_recipes.workflows.run_folder import RunFolder, RunFolderError
    >>> out = tempfile.mkdtemp()
    >>> data = RunFolder.fingerprint((np.zeros((4, 2)), np.arange(4)))
    >>> with RunFolder(out, "demo").open(fingerprint=data) as run:
    ...     run.claim("result.txt")
    ...     _ = open(f"{out}/result.txt", "w").write("42")
    >>> sorted(RunFolder(out, "demo").open(fingerprint=data).release().files)
    ['result.txt']
    >>> RunFolder(out, "other").open()
    Traceback (most recent call last):
    ...
    keras_recipes.workflows.run_folder.RunFolderError: The folder ... holds a demo run...
    """

    def __init__(self, path: str | os.PathLike, workflow: str):
        self.path = Path(path)
        self.workflow = str(workflow)
        self.files: set[str] = set()
        self.folders: set[str] = set()
        self.data: dict[str, Any] | None = None
        self.created: str | None = None
        self.adopted = False
        self._token: str | None = None
        self._made: list[Path] = []
        self._touched = False

    # ------------------------------------------------------------------ fingerprints
    @staticmethod
    def fingerprint(data: Any) -> dict[str, Any]:
        """A content fingerprint of ``data``: ``(x, y)``, an object with ``x`` and ``y``
        (a :class:`~keras_recipes.data.Dataset`), or a file path.

        Arrays hash their dtype, shape and bytes (and ``class_names`` when ``data`` has
        them), so a file rewritten under the same name, with fewer rows or other labels,
        gets another fingerprint. The result is a JSON-friendly dict.
        """
        h = hashlib.sha256()
        if isinstance(data, str | os.PathLike):
            size = 0
            with open(data, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
                    size += len(chunk)
            return {"kind": "file", "sha256": h.hexdigest(), "size": size}
        if hasattr(data, "x") and hasattr(data, "y"):
            x, y, names = data.x, data.y, getattr(data, "class_names", None)
        else:
            (x, y), names = data, None
        shapes = {}
        for key, array in (("x", x), ("y", y)):
            array = np.ascontiguousarray(np.asarray(array))
            shapes[key] = list(array.shape)
            h.update(f"{key}:{array.dtype.str}:{array.shape};".encode())
            if array.dtype.hasobject:
                h.update(repr(array.tolist()).encode())
            else:
                h.update(memoryview(array.reshape(-1)).cast("B"))
        if names is not None:
            h.update(json.dumps([str(n) for n in names]).encode())
        return {"kind": "arrays", "sha256": h.hexdigest(), "x_shape": shapes["x"],
                "y_shape": shapes["y"], "examples": shapes["x"][0] if shapes["x"] else 0}

    # ------------------------------------------------------------------ opening
    def open(
        self,
        *,
        fingerprint: dict[str, Any] | None = None,
        resume: bool = True,
        outputs: Iterable[str] = (),
        adopt: Callable[[Path, dict[str, Any]], Iterable[str]] | None = None,
        restart_hint: str = "resume=False",
    ) -> RunFolder:
        """Lock the folder and check that it can hold this run; return ``self``.

        Args:
            fingerprint: this run's data (:meth:`fingerprint`), or ``None`` to skip the
                data check. Defaults to ``None``.
            resume: ``True`` when the run goes on from what the folder holds: a folder
                with another data fingerprint is refused. ``False`` when the run will
                :meth:`clear` the earlier one: any data is accepted. Defaults to ``True``.
            outputs: relative paths (files, or folders) this run may write; any of them
                that exists and was not written by this workflow is refused.
                Defaults to ``()``.
            adopt: ``adopt(path, summary) -> relative paths`` for a folder written before
                manifests, whose ``summary.json`` names this workflow. Defaults to ``None``.
            restart_hint: how the caller asks to replace an earlier run, named in the
                message that refuses other data. Defaults to ``"resume=False"``.

        Raises:
            RunFolderError: the path cannot be written, another run holds the lock, the
                folder belongs to another workflow, holds other data (``resume=True``) or
                holds user files that this run would overwrite. The folder is unchanged.
        """
        try:
            check_output_dir(self.path, "out")
        except ValueError as exc:
            raise RunFolderError(str(exc)) from exc
        self._made = [p for p in (self.path, *self.path.parents) if not os.path.lexists(p)]
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self._lock()
        except BaseException:
            self._unmake()
            raise
        try:
            self._load(adopt)
            self._check(fingerprint, resume, outputs, restart_hint)
        except BaseException:
            self.release()
            raise
        self.data = fingerprint if fingerprint is not None else self.data
        return self

    def _load(self, adopt) -> None:
        manifest = self.path / MANIFEST_FILE
        if os.path.lexists(manifest):
            try:
                with open(manifest, encoding="utf-8") as f:
                    record = json.load(f)
                if not isinstance(record, dict) or record.get("format") != _FORMAT:
                    raise ValueError("not a run-folder manifest")
            except (OSError, ValueError) as exc:
                raise RunFolderError(
                    f"The folder {str(self.path)!r} holds a {MANIFEST_FILE} that keras-recipes "
                    f"did not write ({exc}); use another `out`.") from None
            owner = str(record.get("workflow"))
            if owner != self.workflow:
                raise self._other_workflow(owner)
            self.files = {str(f) for f in record.get("files", [])}
            self.folders = {str(f) for f in record.get("folders", [])}
            self.data = record.get("data")
            self.created = record.get("created")
            return
        summary_path = self.path / "summary.json"
        if not summary_path.is_file():
            return
        try:
            with open(summary_path, encoding="utf-8") as f:
                summary = json.load(f)
        except (OSError, ValueError):
            return  # not a run's summary: a user file, checked against `outputs`
        owner = _legacy_owner(summary)
        if owner is None:
            return
        if owner != self.workflow:
            raise self._other_workflow(owner)
        if adopt is not None:
            self.files = {self._rel(p) for p in adopt(self.path, summary)}
            self.folders = {f for f in self.files if (self.path / f).is_dir()}
            self.files -= self.folders
            self.adopted = True

    def _other_workflow(self, owner: str) -> RunFolderError:
        return RunFolderError(
            f"The folder {str(self.path)!r} holds a {owner} run; a {self.workflow} run would "
            f"overwrite or mix with it. Use another `out`.")

    def _check(self, fingerprint, resume: bool, outputs: Iterable[str], hint: str) -> None:
        if (resume and fingerprint is not None and self.data is not None
                and self.data.get("sha256") != fingerprint.get("sha256")):
            raise RunFolderError(
                f"The folder {str(self.path)!r} holds a {self.workflow} run on other data "
                f"(earlier: {_describe_data(self.data)}; now: {_describe_data(fingerprint)}). "
                f"Use another `out`, or {hint} to replace that run.")
        foreign = sorted(rel for rel in {self._rel(p) for p in outputs}
                         if os.path.lexists(self.path / rel) and not self.owns(rel))
        if foreign:
            shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more"
                                              if len(foreign) > 4 else "")
            raise RunFolderError(
                f"The folder {str(self.path)!r} holds {shown}, which no {self.workflow} run "
                "wrote there; this run would overwrite them. Move them, or use another `out`.")

    # ------------------------------------------------------------------ the lock
    @property
    def lock_path(self) -> Path:
        """Path of the lock file."""
        return self.path / LOCK_FILE

    @property
    def locked(self) -> bool:
        """Whether this object holds the folder's lock."""
        return self._token is not None

    def _lock(self) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "workflow": self.workflow,
                "started": _now(), "token": uuid.uuid4().hex}
        for _ in range(5):
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                raw, holder = self._read_lock()
                if raw is not None and self._stale(holder):
                    self._break(raw)
                    continue
                if raw is None:  # removed between our attempt and our read: try again
                    continue
                raise RunFolderError(self._busy(holder)) from None
            except OSError as exc:
                raise RunFolderError(f"Cannot create the lock file {str(self.lock_path)!r}: "
                                     f"{exc.strerror or exc}.") from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(info, f)
                f.flush()
                os.fsync(f.fileno())
            self._token = info["token"]
            return
        raise RunFolderError(f"Cannot take the lock {str(self.lock_path)!r}: other runs keep "
                             "taking it. Try again.")

    def _read_lock(self) -> tuple[str | None, dict[str, Any] | None]:
        try:
            raw = self.lock_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, None
        except OSError:
            return "", None
        try:
            holder = json.loads(raw)
        except ValueError:
            holder = None
        return raw, holder if isinstance(holder, dict) else None

    def owner(self) -> dict[str, Any] | None:
        """The lock's content (``pid``, ``host``, ``workflow``, ``started``), or ``None``."""
        return self._read_lock()[1]

    def _stale(self, holder: dict[str, Any] | None) -> bool:
        if holder is None:  # a crash between creating and writing the lock
            with contextlib.suppress(OSError):
                return time.time() - self.lock_path.stat().st_mtime > _UNREADABLE_LOCK_AGE
            return False
        if holder.get("host") != socket.gethostname():
            return False  # cannot tell whether a process on another host is alive
        try:
            pid = int(holder.get("pid"))
        except (TypeError, ValueError):
            return False
        return pid != os.getpid() and not _alive(pid)

    def _break(self, raw: str) -> None:
        """Remove a stale lock whose content is ``raw``, unless another run replaced it."""
        aside = self.path / f"{LOCK_FILE}.stale.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        try:
            os.rename(self.lock_path, aside)
        except FileNotFoundError:
            return
        try:
            same = aside.read_text(encoding="utf-8") == raw
        except OSError:
            same = True
        if not same:  # another run took the lock in between: give it back
            with contextlib.suppress(OSError):
                os.link(aside, self.lock_path)
        with contextlib.suppress(OSError):
            aside.unlink()

    def _busy(self, holder: dict[str, Any] | None) -> str:
        if holder is None:
            who = "another run"
        else:
            who = (f"another {holder.get('workflow', '')} run (pid {holder.get('pid')} on "
                   f"host {holder.get('host')}, started {holder.get('started')})")
        return (f"The folder {str(self.path)!r} is in use by {who}. Wait for it to finish or "
                f"use another `out`; if that run is gone, delete {str(self.lock_path)!r}.")

    def release(self) -> RunFolder:
        """Save the manifest (when this run changed it), remove the lock; return ``self``.

        Safe to call twice, and from a ``finally`` block.
        """
        try:
            if self._touched:
                self.files = {f for f in self.files if os.path.lexists(self.path / f)}
                self.folders = {f for f in self.folders if os.path.lexists(self.path / f)}
                self._save()
        finally:
            if self._token is not None:
                raw, holder = self._read_lock()
                if holder is not None and holder.get("token") == self._token:
                    with contextlib.suppress(FileNotFoundError):
                        self.lock_path.unlink()
                self._token = None
            if not self._touched:
                self._unmake()
        return self

    def _unmake(self) -> None:
        for folder in self._made:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break
        self._made = []

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    # ------------------------------------------------------------------ ownership
    def _rel(self, path: str | os.PathLike) -> str:
        p = Path(path)
        if p.is_absolute():
            try:
                p = p.relative_to(self.path.absolute())
            except ValueError:
                p = p.relative_to(self.path)
        rel = PurePosixPath(p.as_posix())
        if rel.is_absolute() or ".." in rel.parts or str(rel) in ("", "."):
            raise ValueError(f"{str(path)!r} is not a path inside the run folder "
                             f"{str(self.path)!r}")
        return str(rel)

    def owns(self, path: str | os.PathLike) -> bool:
        """Whether the run wrote ``path`` (relative to the folder), or a folder above it."""
        rel = self._rel(path)
        return rel in self.files or rel in self.folders or any(
            rel.startswith(f"{d}/") for d in self.folders)

    def claim(self, *paths: str | os.PathLike, folder: bool = False) -> None:
        """Record ``paths`` as written by this run, before writing them.

        Args:
            *paths: paths relative to the run folder.
            folder: the paths are folders whose whole content is the run's (such as a
                private work folder). Defaults to ``False``.

        Raises:
            RunFolderError: one of them exists and was not written by this workflow.
        """
        rels = [self._rel(p) for p in paths]
        new = [r for r in rels if not self.owns(r)]
        taken = [r for r in new if os.path.lexists(self.path / r)]
        if taken:
            raise RunFolderError(f"Refusing to overwrite {', '.join(taken)} in "
                                 f"{str(self.path)!r}: no {self.workflow} run wrote it.")
        if new:
            (self.folders if folder else self.files).update(new)
            self._save()

    def record(self, *paths: str | os.PathLike) -> None:
        """Record ``paths`` as written by this run, after the fact.

        For files whose names a library call chose (a logger's extra outputs): list the
        folder before the call and record what is new after it.
        """
        new = {self._rel(p) for p in paths} - self.files
        if new:
            self.files.update(new)
            self._save()

    def listing(self, folder: str | os.PathLike) -> set[str]:
        """The files now under ``folder`` (relative to the run folder), for :meth:`record`."""
        root = self.path / self._rel(folder)
        return {self._rel(p.relative_to(self.path)) for p in root.rglob("*")
                if p.is_file()} if root.is_dir() else set()

    def move_in(self, source: str, dest: str, *, last: Iterable[str] = ()) -> list[str]:
        """Move the claimed folder ``source`` to ``dest``, replacing only the run's files.

        When ``dest`` is missing the folder is renamed at once (atomic). Otherwise its
        files move one by one: the ``last`` names (such as ``model.keras``, whose presence
        means "finished") are removed first and moved in last, files of an earlier run that
        the new one did not write are removed, and anything else in ``dest`` (the user's
        files) stays.

        Returns:
            The relative paths now in ``dest`` that belong to the run.
        """
        src_rel, dst_rel = self._rel(source), self._rel(dest)
        src, dst = self.path / src_rel, self.path / dst_rel
        names = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())
        moved = [f"{dst_rel}/{n}" for n in names]
        if not os.path.lexists(dst):
            self.files.update(moved)
            self._save()
            os.replace(src, dst)
        else:
            self.claim(*moved)  # refuses before moving anything if a user file is in the way
            final = set(last)
            for rel in moved:
                if PurePosixPath(rel).name in final:
                    with contextlib.suppress(FileNotFoundError):
                        (self.path / rel).unlink()
            ordered = sorted(names, key=lambda n: PurePosixPath(n).name in final)
            for n in ordered:
                target = dst / n
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src / n, target)
            stale = [f for f in self.files
                     if f.startswith(f"{dst_rel}/") and f not in set(moved)]
            self._remove(stale)
            shutil.rmtree(src, ignore_errors=True)
        self.folders.discard(src_rel)
        self._save()
        return moved

    def clear(self) -> list[str]:
        """Remove every file and folder the run wrote (and only those); return them.

        Folders left empty by the removal go too, the run folder itself excepted.
        """
        removed = sorted(self.files | self.folders)
        for rel in sorted(self.folders):
            shutil.rmtree(self.path / rel, ignore_errors=True)
        self._remove(list(self.files))
        self.folders = set()
        self._save()
        return removed

    def _remove(self, rels: list[str]) -> None:
        parents: set[Path] = set()
        for rel in rels:
            path = self.path / rel
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            self.files.discard(rel)
            parents.update(p for p in (self.path / rel).parents
                           if p != self.path and self.path in p.parents)
        for folder in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty

    def _save(self) -> None:
        self._touched = True
        record = {"format": _FORMAT, "version": _VERSION, "workflow": self.workflow,
                  "created": self.created or _now(), "updated": _now(), "data": self.data,
                  "files": sorted(self.files), "folders": sorted(self.folders)}
        if self.adopted:
            record["adopted"] = True
        self.created = record["created"]
        atomic_write_json(self.path / MANIFEST_FILE, record)
