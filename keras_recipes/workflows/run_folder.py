"""`RunFolder`: an output folder that knows what it owns, on which data, and who runs in it."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from keras_recipes._paths import (
    LinkError,
    check_output_dir,
    check_relative,
    find_link,
    read_small,
    resolve_inside,
    shown,
)
from keras_recipes._validation import ArgumentError, literal_text
from keras_recipes.workflows.common import atomic_write_json

__all__ = ["RunFolder", "RunFolderError"]

#: Name of the manifest inside a run folder.
MANIFEST_FILE = "manifest.json"
#: Name of the lock file inside a run folder (an ``flock`` lock while a run works in it;
#: removed when the run ends, left unlocked by a process that died).
LOCK_FILE = ".lock"
#: Name of the file beside the lock that names its holder (pid, host, workflow, start).
OWNER_FILE = ".lock.owner"
_FORMAT = "keras_recipes.run_folder"
_VERSION = 1
#: The largest manifest (bytes) read back; a run's lists a few hundred paths.
_MAX_MANIFEST = 16 << 20
#: The largest owner file read back (about 150 bytes when a run writes it).
_MAX_OWNER = 1 << 12
#: How every manifest keras-recipes writes begins: a truncated one begins the same way.
_MARK = '{\n  "format": "keras_recipes.run_folder"'
#: Names a manifest may not list: the manifest itself, the lock and its owner file.
_RESERVED = (MANIFEST_FILE, LOCK_FILE, OWNER_FILE)


class RunFolderError(ArgumentError):
    """The folder cannot hold this run; nothing in it was changed.

    An :class:`~keras_recipes._validation.ArgumentError` about the run folder's argument:
    its message template names that argument as ``{out}`` (and how to start afresh, such
    as ``{resume=False}``), so a caller spells them its own way (the command line:
    ``--out``, ``--fresh``; :meth:`render`). ``RunFolderError(message)`` takes a message
    without fields; ``RunFolderError(template=...)`` a template (literal braces doubled).

    Example:

    >>> from keras_recipes.workflows.run_folder import RunFolderError
    >>> error = RunFolderError(template="The folder 'x' is taken. Use another {out}.")
    >>> str(error)
    "The folder 'x' is taken. Use another `out`."
    >>> error.render(lambda name, value: "--out" if name == "out" else None)
    "The folder 'x' is taken. Use another --out."
    """

    def __init__(self, message: str = "", *, template: str | None = None):
        super().__init__("out", template=literal_text(message) if template is None
                         else template)

    def __reduce__(self):
        return (_run_folder_error, (self.template,))


def _run_folder_error(template: str) -> RunFolderError:
    return RunFolderError(template=template)


def _refused(message: str, then: str) -> RunFolderError:
    """A :class:`RunFolderError`: ``message`` as it is (paths, values read from disk), then
    ``then``, a template that names arguments as fields (``"use another {out}."``)."""
    return RunFolderError(template=literal_text(message) + then)


def _assignment(hint: str) -> str:
    """``hint`` (``"resume=False"``) as a template field, so a caller can spell it."""
    return f"{{{hint}}}" if re.fullmatch(r"\w+=\w+", hint) else literal_text(hint)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


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


def _plain(value: Any, limit: int = 60) -> str:
    """``value`` read from disk, as text for a one-line message (escaped, cut)."""
    text = repr(str(value))[1:-1]
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_data(data: Any) -> str | None:
    """Why ``data`` is not a fingerprint as :meth:`RunFolder.fingerprint` writes it, or
    ``None`` when it is one (or ``null``)."""
    if data is None:
        return None
    if not isinstance(data, dict):
        return f"`data` must be an object or null. Received: {shown(data)}"
    digest = data.get("sha256")
    if not (isinstance(digest, str) and len(digest) == 64
            and all(c in "0123456789abcdef" for c in digest)):
        return f"`data.sha256` must be 64 hexadecimal digits. Received: {shown(digest)}"
    kind = data.get("kind")
    if kind == "file":
        if not (_is_int(data.get("size")) and data["size"] >= 0):
            return f"`data.size` must be a whole number. Received: {shown(data.get('size'))}"
    elif kind == "arrays":
        for key in ("x_shape", "y_shape"):
            shape = data.get(key)
            if not (isinstance(shape, list) and len(shape) <= 32
                    and all(_is_int(d) and d >= 0 for d in shape)):
                return f"`data.{key}` must be a list of sizes. Received: {shown(shape)}"
        if not _is_int(data.get("examples")):
            return (f"`data.examples` must be a whole number. Received: "
                    f"{shown(data.get('examples'))}")
    else:
        return f"`data.kind` must be 'file' or 'arrays'. Received: {shown(kind)}"
    return None


class RunFolder:
    """A workflow's output folder: what it owns, which data it holds, and an exclusive lock.

    Use it in a workflow that writes many files into one user-chosen folder and may be
    rerun there. It keeps four promises:

    - **nothing lost**: the folder's ``manifest.json`` lists every file the run wrote
      (paths relative to the folder) and the workflow's name. Starting afresh
      (:meth:`clear`) removes only those files; a file of the user's that the run would
      overwrite is refused, before any work (:meth:`open` with ``outputs``) and again at
      write time (:meth:`claim`).
    - **nothing mixed**: the manifest holds a fingerprint of the data (SHA-256 of the
      arrays ``x`` and ``y`` with their shapes and dtypes, or of a file's bytes). A run
      that would resume on other data, or a folder owned by another workflow, is refused.
      So is a resume into a manifest that lists files but no fingerprint: which data that
      run used cannot be checked.
    - **nothing outside**: a folder may come from someone else, so whatever is read back
      from it is checked before use. Every path of the manifest must be a plain relative
      path (no ``..``, nothing absolute; :func:`~keras_recipes._paths.check_relative`),
      every field must have its type, and a symbolic link anywhere under the folder
      refuses it (the folder's own path may be a link: it is resolved once, at
      :meth:`open`). Before each removal, rename or write the path is resolved again and
      must still lie inside the folder without crossing a link.
    - **one run at a time**: :meth:`open` takes an exclusive ``flock`` lock on ``.lock``
      with :class:`filelock.FileLock` (one try, no wait) and writes the process id, host,
      workflow and start time into ``.lock.owner`` beside it; a second run is refused
      with a message naming the owner (that file is read back as untrusted input, see
      :meth:`owner`). The kernel releases the lock when its process ends, however it
      ends: after a ``kill -9`` the next run takes the lock at once, with no stale-lock
      guessing. :meth:`release` (or leaving the ``with`` block, including on
      ``KeyboardInterrupt``) removes both files, then releases the lock; when an error is
      already on its way up, a failure of the release itself (a folder turned read-only)
      never replaces that error. A file system without ``flock`` is refused with a clear
      error rather than locked by another means.

    Folders written before manifests existed are adopted: when ``summary.json`` names the
    same workflow, ``adopt(path, summary)`` lists the files that run wrote (each checked
    like a manifest entry). Every refusal raises :class:`RunFolderError` (a
    ``ValueError``) in one line and leaves the folder as it was.

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
        self._root: Path | None = None
        self._filelock: FileLock | None = None
        self._lock_id: tuple[int, int] | None = None
        self._made: list[Path] = []
        self._touched = False

    @property
    def root(self) -> Path:
        """The folder's resolved path (links in the user's path followed once, at
        :meth:`open`); every file operation goes through it."""
        return self._root if self._root is not None else Path(os.path.realpath(self.path))

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
                with another data fingerprint, or with files but no fingerprint, is
                refused. ``False`` when the run will :meth:`clear` the earlier one: any
                data is accepted. Defaults to ``True``.
            outputs: relative paths (files, or folders) this run may write; any of them
                that exists and was not written by this workflow is refused.
                Defaults to ``()``.
            adopt: ``adopt(path, summary) -> relative paths`` for a folder written before
                manifests, whose ``summary.json`` names this workflow. Defaults to ``None``.
            restart_hint: the argument assignment that replaces an earlier run
                (``"name=value"``), named in the message that refuses other data as a
                field that callers spell their own way (:class:`RunFolderError`).
                Defaults to ``"resume=False"``.

        Raises:
            RunFolderError: the path cannot be written, holds a symbolic link, a damaged
                or foreign ``manifest.json`` or one with a bad entry, another run holds
                the lock, the folder belongs to another workflow, holds other data
                (``resume=True``) or holds user files that this run would overwrite. The
                folder is unchanged.
        """
        try:
            check_output_dir(self.path, "out")
        except ValueError as exc:
            raise RunFolderError(str(exc)) from exc
        self._made = [p for p in (self.path, *self.path.parents) if not os.path.lexists(p)]
        self.path.mkdir(parents=True, exist_ok=True)
        self._root = Path(os.path.realpath(self.path))
        try:
            self._refuse_links()  # before the lock: a refused folder gets no byte
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

    def _refuse_links(self) -> None:
        found = find_link(self.root)
        if found is not None:
            link, target = found
            rel = link.relative_to(self.root).as_posix()
            raise _refused(
                f"The folder {str(self.path)!r} holds a symbolic link, {shown(rel)} (to "
                f"{shown(target)}); a run could delete or overwrite files outside the "
                "folder through it, so it is refused and nothing was changed. Replace the "
                "link by a real file or folder, or use ", "another {out}.")

    def _bad_manifest(self, why: str) -> RunFolderError:
        return _refused(
            f"The folder {str(self.path)!r} holds a {MANIFEST_FILE} with a bad entry: {why}. "
            "keras-recipes never writes such an entry, so the folder is refused and nothing "
            "was changed. Use ", "another {out}.")

    def _read_manifest(self) -> dict[str, Any]:
        """The manifest, checked: plain relative paths, each field of its type."""
        path = self.root / MANIFEST_FILE
        try:
            raw = read_small(path, _MAX_MANIFEST)
        except (OSError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise _refused(
                f"The folder {str(self.path)!r} holds a {MANIFEST_FILE} that cannot be read "
                f"({why}); use ", "another {out}.") from None
        try:
            record = json.loads(raw)
        except ValueError as exc:
            if not raw.strip() or _FORMAT in raw or _MARK.startswith(raw):
                state = "empty" if not raw.strip() else f"truncated or corrupt: {exc}"
                raise _refused(
                    f"The folder {str(self.path)!r} holds a damaged {MANIFEST_FILE} ({state}); "
                    "it lists the files keras-recipes runs wrote there. Delete it to have "
                    "them listed again from summary.json (any other file then counts as "
                    "yours and is kept), or use ", "another {out}.") from None
            raise self._foreign_manifest(f"not JSON: {exc}") from None
        if not isinstance(record, dict) or record.get("format") != _FORMAT:
            raise self._foreign_manifest("not a run-folder manifest")
        version = record.get("version", _VERSION)
        if not _is_int(version) or version > _VERSION:
            raise _refused(
                f"The folder {str(self.path)!r} holds a {MANIFEST_FILE} of version "
                f"{shown(version)}, newer than this keras-recipes reads ({_VERSION}); "
                "use a newer keras-recipes, or ", "another {out}.")
        if not isinstance(record.get("workflow"), str):
            raise self._bad_manifest(f"`workflow` must be a string. Received: "
                                     f"{shown(record.get('workflow'))}")
        for key in ("files", "folders"):
            entries = record.get(key, [])
            if not isinstance(entries, list):
                raise self._bad_manifest(f"`{key}` must be a list of relative paths. "
                                         f"Received: {shown(entries)}")
            for i, entry in enumerate(entries):
                try:
                    check_relative(entry, f"{key}[{i}]")
                except ValueError as exc:
                    raise self._bad_manifest(str(exc)) from None
                if entry in _RESERVED:
                    raise self._bad_manifest(f"`{key}[{i}]` names the folder's own "
                                             f"{entry}. Received: {shown(entry)}")
        why = _check_data(record.get("data"))
        if why is not None:
            raise self._bad_manifest(why)
        for key in ("created", "updated"):
            if not isinstance(record.get(key), str | None):
                raise self._bad_manifest(f"`{key}` must be a date string. Received: "
                                         f"{shown(record.get(key))}")
        return record

    def _foreign_manifest(self, why: str) -> RunFolderError:
        return _refused(
            f"The folder {str(self.path)!r} holds a {MANIFEST_FILE} that keras-recipes did "
            f"not write ({why}); use ", "another {out}.")

    def _load(self, adopt) -> None:
        if os.path.lexists(self.root / MANIFEST_FILE):
            record = self._read_manifest()
            owner = record["workflow"]
            if owner != self.workflow:
                raise self._other_workflow(owner)
            self.files = set(record.get("files", []))
            self.folders = set(record.get("folders", []))
            self.data = record.get("data")
            self.created = record.get("created")
            return
        summary_path = self.root / "summary.json"
        if not summary_path.is_file():
            return
        try:
            summary = json.loads(read_small(summary_path))
        except (OSError, ValueError):
            return  # not a run's summary: a user file, checked against `outputs`
        owner = _legacy_owner(summary)
        if owner is None:
            return
        if owner != self.workflow:
            raise self._other_workflow(owner)
        if adopt is not None:
            files = set()
            for i, entry in enumerate(adopt(self.path, summary)):
                try:
                    files.add(self._rel(entry))
                except ValueError:
                    raise _refused(
                        f"The folder {str(self.path)!r} holds a summary.json (from before "
                        f"manifests) whose file {i} is not a relative path inside the "
                        f"folder. Received: {shown(os.fspath(entry))}. keras-recipes never "
                        "writes such an entry, so the folder is refused and nothing was "
                        "changed. Use ", "another {out}.") from None
            self.files = files
            self.folders = {f for f in self.files
                            if (self.root / f).is_dir() and not (self.root / f).is_symlink()}
            self.files -= self.folders
            self.adopted = True

    def _other_workflow(self, owner: str) -> RunFolderError:
        return _refused(
            f"The folder {str(self.path)!r} holds a {_plain(owner)} run; a "
            f"{self.workflow} run would overwrite or mix with it. Use ", "another {out}.")

    def _check(self, fingerprint, resume: bool, outputs: Iterable[str], hint: str) -> None:
        if resume and fingerprint is not None and self.data is None and (
                self.files or self.folders) and not self.adopted:
            raise _refused(
                f"The folder {str(self.path)!r} holds a {self.workflow} run whose "
                f"{MANIFEST_FILE} records no data fingerprint, so resuming cannot check that "
                "it ran on this data. Use ",
                f"another {{out}}, or {_assignment(hint)} to replace that run.")
        if (resume and fingerprint is not None and self.data is not None
                and self.data.get("sha256") != fingerprint.get("sha256")):
            raise _refused(
                f"The folder {str(self.path)!r} holds a {self.workflow} run on other data "
                f"(earlier: {_describe_data(self.data)}; now: {_describe_data(fingerprint)}). "
                "Use ", f"another {{out}}, or {_assignment(hint)} to replace that run.")
        foreign = sorted(rel for rel in {self._rel(p) for p in outputs}
                         if os.path.lexists(self.root / rel) and not self.owns(rel))
        if foreign:
            shown_ = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more"
                                               if len(foreign) > 4 else "")
            raise _refused(
                f"The folder {str(self.path)!r} holds {shown_}, which no {self.workflow} run "
                "wrote there; this run would overwrite them. Move them, or use ",
                "another {out}.")

    # ------------------------------------------------------------------ the lock
    @property
    def lock_path(self) -> Path:
        """Path of the lock file."""
        return self.root / LOCK_FILE

    @property
    def owner_path(self) -> Path:
        """Path of the file beside the lock that names the run holding it."""
        return self.root / OWNER_FILE

    @property
    def locked(self) -> bool:
        """Whether this object holds the folder's lock."""
        return self._filelock is not None and self._filelock.is_locked

    def _lock(self) -> None:
        """Take the folder's ``flock`` lock (one try, no wait), then name this run beside it.

        :class:`filelock.FileLock` opens ``.lock`` without following a link and without
        truncating it; the kernel releases the lock when the holding process ends, however
        it ends, so a lock of a dead run is simply free again.
        """
        path = self._at(LOCK_FILE, "lock")
        existed = os.path.lexists(path)
        lock = FileLock(path, blocking=False, thread_local=False, fallback_to_soft=False,
                        on_acquired=self._check_lock_file)
        try:
            lock.acquire()
        except Timeout:
            raise self._busy(self.owner()) from None
        except OSError as exc:
            if not existed:  # the empty file that this failed attempt created
                with contextlib.suppress(OSError):
                    if os.lstat(path).st_size == 0 and stat.S_ISREG(os.lstat(path).st_mode):
                        path.unlink()
            hint = (" (this file system has no flock locks; use an {out} on another disk)"
                    if exc.errno == errno.ENOSYS else "")
            raise _refused(f"Cannot take the lock {str(self.lock_path)!r}: "
                           f"{exc.strerror or exc}", f"{hint}.") from None
        self._filelock = lock
        info = {"pid": os.getpid(), "host": socket.gethostname(), "workflow": self.workflow,
                "started": _now()}
        try:
            atomic_write_json(self._at(OWNER_FILE), info)
        except (OSError, RunFolderError) as exc:
            with contextlib.suppress(Exception):
                self._unlock()
            why = getattr(exc, "strerror", None) or str(exc)
            raise RunFolderError(f"Cannot write the lock's owner file "
                                 f"{str(self.owner_path)!r}: {why}.") from None

    def _check_lock_file(self, fd: int) -> None:
        """Called by :class:`~filelock.FileLock` once it holds ``fd``: only a regular file
        may serve as the lock, and its identity is kept to remove that file, and no other,
        at release."""
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refused(
                f"The folder {str(self.path)!r} holds a {LOCK_FILE} that is not a regular "
                "file; nothing was changed. Remove it, or use ", "another {out}.")
        self._lock_id = (info.st_dev, info.st_ino)

    def owner(self) -> dict[str, Any] | None:
        """The run that holds (or last held) the lock, as its owner file names it.

        The owner file is read as untrusted input: it must be a regular file (not a link)
        of at most 4 KiB holding a JSON object. Only the fields of the right type are kept:
        ``pid`` (a positive whole number), ``host``, ``workflow`` and ``started``
        (strings). Returns ``None`` when there is no such file or it is not readable as
        such. After a crash the file names the dead run until the next run replaces it.

        Example:

        >>> import os, tempfile
        >>> from keras_recipes.workflows.run_folder import RunFolder
        >>> with RunFolder(tempfile.mkdtemp(), "demo").open() as run:
        ...     run.owner()["pid"] == os.getpid(), run.owner()["workflow"]
        (True, 'demo')
        """
        try:
            record = json.loads(read_small(self.owner_path, _MAX_OWNER))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict):
            return None
        pid = record.get("pid")
        owner = {"pid": pid} if _is_int(pid) and 0 < pid < 1 << 31 else {}
        owner.update({key: record[key] for key in ("host", "workflow", "started")
                      if isinstance(record.get(key), str)})
        return owner

    def _busy(self, holder: dict[str, Any] | None) -> RunFolderError:
        holder = holder or {}
        workflow = holder.get("workflow")
        who = f"another {_plain(workflow)} run" if workflow else "another run"
        parts = []
        if "pid" in holder:
            parts.append(f"pid {holder['pid']}")
        if "host" in holder:
            parts.append(f"on host {_plain(holder['host'])}")
        details = " ".join(parts)
        if "started" in holder:
            started = f"started {_plain(holder['started'])}"
            details = f"{details}, {started}" if details else started
        if details:
            who = f"{who} ({details})"
        return _refused(f"The folder {str(self.path)!r} is in use by {who}. Wait for it to "
                        "finish, or use ", "another {out}.")

    def _unlock(self) -> None:
        """Remove the owner file and the lock file (while still holding the lock, so no
        other run's files are removed), then release the lock."""
        lock, self._filelock = self._filelock, None
        if lock is None:
            return
        try:
            with contextlib.suppress(FileNotFoundError):
                self.owner_path.unlink()
            with contextlib.suppress(FileNotFoundError):
                info = os.lstat(self.lock_path)
                if (info.st_dev, info.st_ino) == self._lock_id:
                    self.lock_path.unlink()
        finally:
            self._lock_id = None
            lock.release()

    def release(self) -> RunFolder:
        """Save the manifest (when this run changed it), remove the lock; return ``self``.

        Safe to call twice, and from a ``finally`` block. Called while an exception is on
        its way up (from ``finally`` or ``except``), a failure of its own (a folder turned
        read-only, a full disk) is attached to that exception as a note instead of
        replacing it; otherwise it is raised, naming the file that could not be written.
        """
        return self._release(sys.exc_info()[1])

    def _release(self, pending: BaseException | None) -> RunFolder:
        errors: list[BaseException] = []
        try:
            if self._touched:
                self.files = {f for f in self.files if os.path.lexists(self.root / f)}
                self.folders = {f for f in self.folders if os.path.lexists(self.root / f)}
                self._save()
        except Exception as exc:
            errors.append(exc)
        try:
            self._unlock()
        except Exception as exc:
            errors.append(exc)
        finally:
            if not self._touched:
                self._unmake()
        if errors and pending is None:
            raise errors[0]  # the manifest first: it says what the run wrote
        for error in errors:
            with contextlib.suppress(Exception):
                pending.add_note(f"While releasing {str(self.path)!r}: {error}")
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

    def __exit__(self, exc_type, exc, tb) -> None:
        self._release(exc)

    # ------------------------------------------------------------------ ownership
    def _rel(self, path: str | os.PathLike) -> str:
        p = Path(path)
        if p.is_absolute():
            for base in (self.root, self.path.absolute(), self.path):
                with contextlib.suppress(ValueError):
                    p = p.relative_to(base)
                    break
        rel = PurePosixPath(p.as_posix())
        if rel.is_absolute() or ".." in rel.parts or str(rel) in ("", "."):
            raise ValueError(f"{str(path)!r} is not a path inside the run folder "
                             f"{str(self.path)!r}")
        return check_relative(str(rel))

    def _at(self, rel: str, action: str = "write") -> Path:
        """The path of ``rel`` (relative) inside the folder, checked just before ``action``:
        it must not cross a symbolic link nor leave the resolved folder."""
        try:
            return resolve_inside(self.root, rel)
        except LinkError as exc:
            raise _refused(
                f"Refusing to {action} {shown(rel)} in {str(self.path)!r}: {exc}. A run "
                "folder may not hold links; nothing more was changed. Use ", "another {out}."
            ) from None

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
            RunFolderError: one of them exists and was not written by this workflow, or
                lies behind a symbolic link.
        """
        rels = [self._rel(p) for p in paths]
        for rel in rels:
            self._at(rel)
        new = [r for r in rels if not self.owns(r)]
        taken = [r for r in new if os.path.lexists(self.root / r)]
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
        for rel in new:
            self._at(rel)
        if new:
            self.files.update(new)
            self._save()

    def _files_under(self, rel: str) -> list[str]:
        """The files under the folder ``rel``, relative to it; a link refuses the folder."""
        root = self._at(rel, "read")
        names = []
        for folder, dirs, files in os.walk(root, followlinks=False):
            for name in dirs + files:
                if os.path.islink(os.path.join(folder, name)):
                    inner = Path(folder, name).relative_to(self.root).as_posix()
                    self._at(inner, "read")  # raises, naming the link
            names += [Path(folder, name).relative_to(root).as_posix() for name in files]
        return sorted(names)

    def listing(self, folder: str | os.PathLike) -> set[str]:
        """The files now under ``folder`` (relative to the run folder), for :meth:`record`."""
        rel = self._rel(folder)
        if not (self.root / rel).is_dir():
            return set()
        return {f"{rel}/{name}" for name in self._files_under(rel)}

    def scratch(self, rel: str | os.PathLike) -> Path:
        """Claim ``rel`` as a work folder of the run, empty it, and return its path.

        An earlier run's work folder of that name (an interrupted stage) is removed first.

        Example:

        >>> import tempfile
        >>> from keras_recipes.workflows.run_folder import RunFolder
        >>> with RunFolder(tempfile.mkdtemp(), "demo").open() as run:
        ...     work = run.scratch(".partial")
        ...     sorted(run.folders), work.is_dir()
        (['.partial'], True)
        """
        rel = self._rel(rel)
        self.claim(rel, folder=True)
        path = self._at(rel, "remove")
        if os.path.lexists(path):
            self._delete(path)
        path.mkdir(parents=True)
        return path

    def move_in(self, source: str, dest: str, *, last: Iterable[str] = ()) -> list[str]:
        """Move the claimed folder ``source`` to ``dest``, replacing only the run's files.

        When ``dest`` is missing the folder is renamed at once (atomic). Otherwise its
        files move one by one: the ``last`` names (such as ``model.keras``, whose presence
        means "finished") are removed first and moved in last, files of an earlier run that
        the new one did not write are removed, and anything else in ``dest`` (the user's
        files) stays. Every path is checked first: a link in ``source`` or ``dest`` refuses
        the move before anything moves.

        Returns:
            The relative paths now in ``dest`` that belong to the run.
        """
        src_rel, dst_rel = self._rel(source), self._rel(dest)
        src, dst = self._at(src_rel, "move"), self._at(dst_rel, "move")
        names = self._files_under(src_rel)
        moved = [f"{dst_rel}/{n}" for n in names]
        if not os.path.lexists(dst):
            self.files.update(moved)
            self._save()
            os.replace(src, dst)
        else:
            self.claim(*moved)  # refuses before moving anything if a user file is in the way
            targets = {n: self._at(f"{dst_rel}/{n}", "overwrite") for n in names}
            final = set(last)
            for n in names:
                if PurePosixPath(n).name in final:
                    with contextlib.suppress(FileNotFoundError):
                        targets[n].unlink()
            ordered = sorted(names, key=lambda n: PurePosixPath(n).name in final)
            for n in ordered:
                targets[n].parent.mkdir(parents=True, exist_ok=True)
                self._at(f"{dst_rel}/{n}", "overwrite")
                os.replace(src / n, targets[n])
            stale = [f for f in self.files
                     if f.startswith(f"{dst_rel}/") and f not in set(moved)]
            self._remove(stale)
            self._delete(self._at(src_rel, "remove"))
        self.folders.discard(src_rel)
        self._save()
        return moved

    def clear(self) -> list[str]:
        """Remove every file and folder the run wrote (and only those); return them.

        Folders left empty by the removal go too, the run folder itself excepted. Every
        path is checked before the first removal: one behind a link refuses them all.
        """
        removed = sorted(self.files | self.folders)
        for rel in removed:
            self._at(rel, "remove")
        for rel in sorted(self.folders):
            self._delete(self._at(rel, "remove"))
        self._remove(list(self.files))
        self.folders = set()
        self._save()
        return removed

    @staticmethod
    def _delete(path: Path) -> None:
        """Remove the file or folder ``path`` (already checked); a missing one is fine."""
        if path.is_dir() and not path.is_symlink():
            def skip_missing(function, name, exc):
                exc = exc[1] if isinstance(exc, tuple) else exc
                if not isinstance(exc, FileNotFoundError | NotADirectoryError):
                    raise exc

            # rmtree never follows a link inside the tree it removes.
            if sys.version_info >= (3, 12):
                shutil.rmtree(path, onexc=skip_missing)
            else:
                shutil.rmtree(path, onerror=skip_missing)
        else:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                path.unlink()

    def _remove(self, rels: list[str]) -> None:
        paths = [(rel, self._at(rel, "remove")) for rel in rels]
        parents: set[Path] = set()
        for rel, path in paths:
            self._delete(path)
            self.files.discard(rel)
            parents.update(p for p in path.parents if p != self.root and self.root in p.parents)
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
        atomic_write_json(self._at(MANIFEST_FILE), record)
