"""`Report`: a Markdown report with PNG figures, written atomically into a folder."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from keras_recipes._validation import check_number
from keras_recipes.workflows.common import atomic_write_text, save_figure


def _cell(value: Any, floatfmt: str) -> str:
    if isinstance(value, float):
        text = "nan" if math.isnan(value) else format(value, floatfmt)
    elif hasattr(value, "item") and not isinstance(value, str | bytes):
        return _cell(value.item(), floatfmt)
    else:
        text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


class Report:
    """Collect Markdown blocks and PNG figures, then write ``report.md`` atomically.

    Use it to turn the outcome of a training workflow into one readable page: headings,
    paragraphs, bullet lists, tables (from a DataFrame or a list of dicts) and matplotlib
    figures. Figures are saved as PNG files under ``out_dir/figure_dir`` when they are
    added, and embedded with relative links, so the folder can be moved or zipped as a
    whole. Every file is written to a temporary name and then renamed, so an interrupted
    run never leaves a half-written ``report.md`` or PNG.

    Args:
        out_dir: folder that receives ``report.md`` and the figures; created on demand.
        title: first-level heading of the page. Defaults to ``"Report"``.
        figure_dir: sub-folder of ``out_dir`` for figures added with :meth:`figure`.
            Defaults to ``"figures"``.
        dpi: resolution of the saved PNG files. Defaults to ``100``.

    Example:

    >>> import tempfile
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from keras_recipes.workflows import Report
    >>> out = tempfile.mkdtemp()
    >>> report = Report(out, title="Run")
    >>> report.heading("Result")
    >>> report.table([{"stage": 1, "accuracy": 1.0}])
    >>> fig, ax = plt.subplots()
    >>> _ = ax.plot([3, 2, 1])
    >>> report.figure(fig, "loss", caption="Training loss").name
    'loss.png'
    >>> report.write().name
    'report.md'
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        title: str = "Report",
        figure_dir: str = "figures",
        dpi: int = 100,
    ):
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise ValueError(
                f"Argument `out_dir` must be a folder, but it is a file. "
                f"Received: out_dir={str(out_dir)!r}"
            )
        self.title = str(title)
        self.figure_dir = self._relative("figure_dir", figure_dir)
        self.dpi = int(check_number("dpi", dpi, low=1, integer=True))
        self.blocks: list[str] = []

    # ------------------------------------------------------------------ helpers
    def _relative(self, name: str, value: str | os.PathLike) -> PurePosixPath:
        rel = PurePosixPath(Path(value).as_posix())
        if rel.is_absolute() or ".." in rel.parts or Path(value).is_absolute():
            raise ValueError(
                f"Argument `{name}` must be a path inside `out_dir` (relative, without '..'). "
                f"Received: {name}={str(value)!r}"
            )
        return rel

    # ------------------------------------------------------------------ blocks
    def heading(self, text: str, level: int = 2) -> None:
        """Add a heading of ``level`` 1–6."""
        check_number("level", level, low=1, high=6, integer=True)
        self.blocks.append(f"{'#' * int(level)} {text}")

    def text(self, text: str) -> None:
        """Add a paragraph of Markdown text."""
        self.blocks.append(str(text).strip())

    def bullets(self, items: Iterable[Any]) -> None:
        """Add a bullet list, one item per entry (skipped when ``items`` is empty)."""
        lines = [f"- {str(item).strip()}" for item in items]
        if lines:
            self.blocks.append("\n".join(lines))

    def code(self, text: str, language: str = "") -> None:
        """Add a fenced code block."""
        self.blocks.append(f"```{language}\n{str(text).rstrip()}\n```")

    def table(
        self,
        rows: Any,
        columns: Sequence[str] | None = None,
        floatfmt: str = ".4g",
    ) -> None:
        """Add a pipe table.

        Args:
            rows: a pandas DataFrame, a list of dicts, or a dict of ``key → value``
                (written as a two-column table).
            columns: columns to keep, in order. Defaults to every column, in the order met.
            floatfmt: format of float cells. Defaults to ``".4g"``.
        """
        if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
            records = rows.to_dict(orient="records")
            names = [str(c) for c in rows.columns]
        elif isinstance(rows, Mapping):
            records = [{"name": k, "value": v} for k, v in rows.items()]
            names = ["name", "value"]
        else:
            records = [dict(r) for r in rows]
            names = []
            for r in records:
                names.extend(str(k) for k in r if str(k) not in names)
        if columns is not None:
            names = [str(c) for c in columns]
        if not records or not names:
            self.blocks.append("_(no rows)_")
            return
        lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
        for r in records:
            by_name = {str(k): v for k, v in r.items()}
            lines.append("| " + " | ".join(_cell(by_name.get(n), floatfmt) for n in names)
                         + " |")
        self.blocks.append("\n".join(lines))

    def figure(self, fig: Any, name: str, caption: str = "", close: bool = True) -> Path:
        """Save a matplotlib figure as ``figure_dir/name.png`` and embed it.

        Args:
            fig: a ``matplotlib.figure.Figure``.
            name: file name, with or without ``.png``; may hold sub-folders.
            caption: alternative text and caption. Defaults to ``""``.
            close: close the figure after saving, to free its memory. Defaults to ``True``.

        Returns:
            The path of the PNG file.
        """
        rel = self.figure_dir / self._relative("name", name)
        if rel.suffix.lower() != ".png":
            rel = rel.with_name(rel.name + ".png")
        path = self.out_dir / rel
        save_figure(fig, path, dpi=self.dpi, tight=True, close=close)
        self.image(rel, caption)
        return path

    def image(self, path: str | os.PathLike, caption: str = "") -> None:
        """Embed an image that already lies in ``out_dir`` (path relative to it)."""
        rel = self._relative("path", path)
        alt = str(caption).replace("]", ")").replace("[", "(")
        block = f"![{alt}]({rel.as_posix()})"
        if caption:
            block += f"\n\n*{caption}*"
        self.blocks.append(block)

    # ------------------------------------------------------------------ output
    def to_markdown(self) -> str:
        """The whole page as a Markdown string."""
        return "\n\n".join([f"# {self.title}", *self.blocks]) + "\n"

    def write(self, filename: str = "report.md") -> Path:
        """Write the page to ``out_dir/filename`` atomically and return its path."""
        rel = self._relative("filename", filename)
        return atomic_write_text(self.out_dir / rel, self.to_markdown())

    def __repr__(self) -> str:
        return f"Report(out_dir={str(self.out_dir)!r}, title={self.title!r}, " \
               f"blocks={len(self.blocks)})"
