"""Checks that an output path can be written, before any work starts.

A workflow that trains for minutes and then fails to write its report wastes the user's
time, and a command that prints "wrote X" when X was not written misleads them. These
helpers answer up front, without creating anything: a folder path must be a folder (or
creatable: its nearest existing ancestor is a writable folder), a file path must have the
right extension and a writable parent folder that exists.

They import nothing heavy, so the ``keras-recipes`` command runs them before Keras is
imported. Errors are Keras-style ``ValueError`` messages naming the argument.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["check_output_dir", "check_output_file", "writable"]


def writable(path: str | os.PathLike) -> bool:
    """Whether this process may create and delete entries in the folder ``path``.

    Uses :func:`os.access` (``W_OK | X_OK``). On a read-only file system it answers
    ``False`` for every user; otherwise root may write everywhere.
    """
    return os.access(path, os.W_OK | os.X_OK)


def _received(name: str, path: str | os.PathLike) -> str:
    return f"Received: {name}={os.fspath(path)!r}"


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
    ValueError: Argument `out` cannot be created: ... is a file, not a folder. Received: ...
    """
    path = Path(path)
    if os.path.lexists(path):
        if not path.exists():
            raise ValueError(f"Argument `{name}` is a broken link. {_received(name, path)}")
        if not path.is_dir():
            raise ValueError(f"Argument `{name}` must be a folder, but {str(path)!r} is a "
                             f"file. {_received(name, path)}")
        if not writable(path):
            raise ValueError(f"Argument `{name}` must be a writable folder, but "
                             f"{str(path)!r} is read-only. {_received(name, path)}")
        return path
    parent = _nearest_existing(path.absolute())
    if not parent.is_dir():
        raise ValueError(f"Argument `{name}` cannot be created: {str(parent)!r} is a file, "
                         f"not a folder. {_received(name, path)}")
    if not writable(parent):
        raise ValueError(f"Argument `{name}` cannot be created: the folder {str(parent)!r} "
                         f"is read-only. {_received(name, path)}")
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
    ValueError: Argument `save` must end in .keras. Received: save='model.txt'
    """
    path = Path(path)
    if suffixes and not str(path).endswith(tuple(suffixes)):
        raise ValueError(f"Argument `{name}` must end in {' or '.join(suffixes)}. "
                         f"{_received(name, path)}")
    if os.path.isdir(path):
        raise ValueError(f"Argument `{name}` must be a file path, but {str(path)!r} is a "
                         f"folder. {_received(name, path)}")
    parent = path.absolute().parent
    if not parent.exists():
        above = _nearest_existing(parent)
        why = (f"{str(above)!r} is a file, not a folder" if not above.is_dir()
               else f"the folder {str(parent)!r} does not exist")
        raise ValueError(f"Argument `{name}` cannot be written: {why}. "
                         f"{_received(name, path)}")
    if not parent.is_dir():
        raise ValueError(f"Argument `{name}` cannot be written: {str(parent)!r} is a file, "
                         f"not a folder. {_received(name, path)}")
    if not writable(parent) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"Argument `{name}` cannot be written: {str(parent)!r} is "
                         f"read-only. {_received(name, path)}")
    return path
