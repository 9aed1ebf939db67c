"""Checks that an output path can be written, before any work starts.

A workflow that trains for minutes and then fails to write its report wastes the user's
time, and a command that prints "wrote X" when X was not written misleads them. These
helpers answer up front, without creating anything: a folder path must be a folder (or
creatable: its nearest existing ancestor is a writable folder), a file path must have the
right extension and a writable parent folder that exists.

The second half checks paths read back from a folder that may come from someone else (a
run folder's manifest, summary or model paths): :func:`check_relative` accepts only a plain
relative path (no ``..``, nothing absolute), :func:`resolve_inside` refuses a path that goes
through a symbolic link or leaves its folder once resolved, and :func:`find_link` finds the
first link under a folder.

They import nothing heavy, so the ``keras-recipes`` command runs them before Keras is
imported. Errors are Keras-style :class:`~keras_recipes._validation.ArgumentError` (a
``ValueError``) naming the argument.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from keras_recipes._validation import ArgumentError, literal_text, template_received

__all__ = ["check_output_dir", "check_output_file", "check_relative", "find_link",
           "read_small", "resolve_inside", "shown", "writable"]


def writable(path: str | os.PathLike) -> bool:
    """Whether this process may create and delete entries in the folder ``path``.

    Uses :func:`os.access` (``W_OK | X_OK``). On a read-only file system it answers
    ``False`` for every user; otherwise root may write everywhere.
    """
    return os.access(path, os.W_OK | os.X_OK)


def _refused(name: str, text: str, path: str | os.PathLike) -> ArgumentError:
    """``Argument `name` <text> Received: name='path'``, as an :class:`ArgumentError`."""
    text = text.strip()
    return ArgumentError(name, literal_text(text.removeprefix("must be ").rstrip(".")),
                         os.fspath(path), template=f"{{{name}:subject}} {literal_text(text)} "
                         + template_received(**{name: os.fspath(path)}))


def _nearest_existing(path: Path) -> Path:
    parent = path
    while not os.path.lexists(parent):
        if parent.parent == parent:
            break
        parent = parent.parent
    return parent


def check_output_dir(path: str | os.PathLike, name: str = "out") -> Path:
    """Check that ``path`` is a writable folder, or a folder that can be created.

    Creates nothing. Raises ``ValueError`` when ``path`` is a file, a read-only folder, or
    when its nearest existing ancestor is a file or a read-only folder.

    Args:
        path: the output folder.
        name: the argument's name, used in the message. Defaults to ``"out"``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Example:

    >>> import tempfile
    >>> from keras_recipes._paths import check_output_dir
    >>> root = tempfile.mkdtemp()
    >>> check_output_dir(f"{root}/runs/a").name
    'a'
    >>> open(f"{root}/f", "w").close()
    >>> check_output_dir(f"{root}/f/a")
    Traceback (most recent call last):
    ...
    keras_recipes._validation.ArgumentError: Argument `out` cannot be created: ... is a file, ...
    """
    path = Path(path)
    if os.path.lexists(path):
        if not path.exists():
            raise _refused(name, "is a broken link.", path)
        folder = path
        not_a_folder = f"must be a folder, but {str(path)!r} is a file."
        read_only = f"must be a writable folder, but {str(path)!r} is read-only."
    else:
        folder = _nearest_existing(path.absolute())
        not_a_folder = f"cannot be created: {str(folder)!r} is a file, not a folder."
        read_only = f"cannot be created: the folder {str(folder)!r} is read-only."
    if not folder.is_dir():
        raise _refused(name, not_a_folder, path)
    if not writable(folder):
        raise _refused(name, read_only, path)
    return path


def check_output_file(
    path: str | os.PathLike, name: str, suffixes: Sequence[str] = (),
) -> Path:
    """Check that the file ``path`` can be written: right extension, writable parent.

    Creates nothing. The parent folder must already exist (a typo in a folder name should
    not silently create a new tree). An existing file is overwritten, so it must be
    writable too.

    Args:
        path: the output file.
        name: the argument's name, used in the message.
        suffixes: accepted extensions, such as ``(".keras",)``; empty accepts any.
            Defaults to ``()``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Example:

    >>> from keras_recipes._paths import check_output_file
    >>> check_output_file("model.txt", "save", (".keras",))
    Traceback (most recent call last):
    ...
    keras_recipes._validation.ArgumentError: Argument `save` must end in .keras. Received: ...
    """
    path = Path(path)
    if suffixes and not str(path).endswith(tuple(suffixes)):
        raise _refused(name, f"must end in {' or '.join(suffixes)}. "
                         f"", path)
    if os.path.isdir(path):
        raise _refused(name, f"must be a file path, but {str(path)!r} is a "
                         f"folder.", path)
    parent = path.absolute().parent
    if not parent.exists():
        above = _nearest_existing(parent)
        why = (f"{str(above)!r} is a file, not a folder" if not above.is_dir()
               else f"the folder {str(parent)!r} does not exist")
        raise _refused(name, f"cannot be written: {why}. "
                         f"", path)
    if not parent.is_dir():
        raise _refused(name, f"cannot be written: {str(parent)!r} is a file, "
                         f"not a folder.", path)
    if not writable(parent) or (path.exists() and not os.access(path, os.W_OK)):
        raise _refused(name, f"cannot be written: {str(parent)!r} is "
                         f"read-only.", path)
    return path


# ---------------------------------------------------------------- paths read back from disk


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: a value read from disk, shown in a
    one-line message (newlines and control characters escaped)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def check_relative(value: Any, name: str = "path") -> str:
    """Return ``value`` when it is a plain relative POSIX path, else raise ``ValueError``.

    Plain means: a non-empty string of ``/``-separated names, none of them empty, ``.`` or
    ``..``; not absolute (no leading ``/``, no drive such as ``C:``); no backslash and no
    control character. That is the form keras-recipes writes; anything else in a file read
    back from a folder was written by someone else.

    Args:
        value: the path as read (any JSON value).
        name: what it is, named in the message. Defaults to ``"path"``.

    Returns:
        ``value`` itself.

    Example:

    >>> from keras_recipes._paths import check_relative
    >>> check_relative("stage1/model.keras")
    'stage1/model.keras'
    >>> check_relative("stage1/../../victim.txt", "files[0]")
    Traceback (most recent call last):
    ...
    ValueError: `files[0]` must be a relative path inside the folder (no '..', not \
absolute). Received: 'stage1/../../victim.txt'
    """
    if not isinstance(value, str):
        raise ValueError(f"`{name}` must be a string (a relative path). Received: "
                         f"{shown(value)}")
    parts = value.split("/")
    if (not value or PurePosixPath(value).is_absolute() or PureWindowsPath(value).drive
            or "\\" in value or any(part in ("", ".", "..") for part in parts)
            or any(ord(c) < 32 or ord(c) == 127 for c in value)):
        raise ValueError(f"`{name}` must be a relative path inside the folder (no '..', not "
                         f"absolute). Received: {shown(value)}")
    try:
        os.fsencode(value)
    except UnicodeError:
        raise ValueError(f"`{name}` must be a file name this system can encode. Received: "
                         f"{shown(value)}") from None
    return value


class LinkError(ValueError):
    """A path goes through a symbolic link, or out of its folder once resolved."""


def resolve_inside(root: str | os.PathLike, rel: str) -> Path:
    """``root / rel`` after checking that it stays inside ``root`` and crosses no link.

    ``rel`` must pass :func:`check_relative`. Each existing component of ``root / rel``
    must not be a symbolic link, and the resolved path (:func:`os.path.realpath`) must be
    the path itself, inside the resolved ``root``. ``root`` itself may be a link (the
    folder a user names): it is resolved first.

    Raises:
        ValueError: ``rel`` is not a plain relative path.
        LinkError: (a ``ValueError``) a component of ``rel`` is a symbolic link, or the
            path leaves ``root``.

    Example:

    >>> import os, tempfile
    >>> from keras_recipes._paths import resolve_inside
    >>> root = tempfile.mkdtemp()
    >>> resolve_inside(root, "stage1/model.keras").name
    'model.keras'
    >>> os.symlink(tempfile.gettempdir(), f"{root}/stage3")
    >>> resolve_inside(root, "stage3/model.keras")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    keras_recipes._paths.LinkError: ...stage3' is a symbolic link (to ...
    """
    check_relative(rel)
    base = Path(os.path.realpath(root))
    path = base
    for part in rel.split("/"):
        path = path / part
        if os.path.islink(path):
            raise LinkError(f"{str(path)!r} is a symbolic link (to {shown(os.readlink(path))})")
        if not os.path.lexists(path):
            path = base.joinpath(*rel.split("/"))
            break
    if os.path.realpath(path) != str(path) or base not in path.parents:
        raise LinkError(f"{str(path)!r} resolves to {os.path.realpath(path)!r}, outside "
                        f"{str(base)!r}")
    return path


def find_link(root: str | os.PathLike) -> tuple[Path, str] | None:
    """The first symbolic link under the folder ``root`` (``root`` itself excepted), with its
    target, or ``None``. Links are not followed.

    Example:

    >>> import os, tempfile
    >>> from keras_recipes._paths import find_link
    >>> root = tempfile.mkdtemp()
    >>> find_link(root) is None
    True
    >>> os.symlink("/", f"{root}/up")
    >>> find_link(root)[1]
    '/'
    """
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs) + sorted(files):
            path = os.path.join(folder, name)
            if os.path.islink(path):
                return Path(path), os.readlink(path)
    return None


def read_small(path: str | os.PathLike, limit: int = 1 << 24) -> str:
    """The UTF-8 text of the regular file ``path``, read without following a link.

    Raises:
        OSError: ``path`` cannot be opened (missing, a link: ``ELOOP``).
        ValueError: ``path`` is not a regular file (a FIFO would block), is larger than
            ``limit`` bytes, or is not UTF-8.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit} bytes")
    return data.decode("utf-8")
