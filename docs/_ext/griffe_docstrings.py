"""Griffe extension for the API reference: render the library's docstrings as written.

The docstrings follow Keras's layout: an ``Example:`` heading followed by doctest lines at
the docstring's own indentation. Markdown would read ``>>>`` as nested block quotes and a
printed list such as ``['head']`` as a link reference, so each doctest run (from its first
``>>>`` line to the next blank line) is wrapped in a ``pycon`` code fence. An ``Args:`` item
that names several arguments over more than one line (``weight_decay, clipnorm, ...,`` then
``name: description``) is joined onto one line, so Google-style parsing sees one item.
"""

from __future__ import annotations

import re

import griffe

_CONTINUED_NAMES = re.compile(r"^(\s+)([A-Za-z_][\w]*(?:, [A-Za-z_][\w]*)*,)\s*$")


def fence_doctests(text: str) -> str:
    """Wrap each top-level doctest run of ``text`` in a ``pycon`` fence."""
    out: list[str] = []
    in_fence = False
    in_doctest = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if in_doctest and not line.strip():
            out.append("```")
            in_doctest = False
        if not in_fence and not in_doctest and line.startswith(">>>"):
            out.append("```pycon")
            in_doctest = True
        out.append(line)
    if in_doctest:
        out.append("```")
    return "\n".join(out)


def join_name_lists(text: str) -> str:
    """Join an argument item whose comma-separated names run onto the next line."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _CONTINUED_NAMES.match(line)
        if match and i + 1 < len(lines):
            out.append(line.rstrip() + " " + lines[i + 1].strip())
            i += 2
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class DocstringLayout(griffe.Extension):
    """Apply :func:`fence_doctests` and :func:`join_name_lists` to every docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(join_name_lists(obj.docstring.value))
