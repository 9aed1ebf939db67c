"""Report: Markdown blocks, tables, PNG figures and atomic writes."""

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from keras_recipes.workflows import Report  # noqa: E402
from keras_recipes.workflows.common import atomic_write, atomic_write_json  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_blocks_render_as_markdown(tmp_path):
    r = Report(tmp_path, title="Run")
    r.heading("Result")
    r.text("All good.")
    r.bullets(["one", "two"])
    r.bullets([])  # nothing added
    r.code("x = 1", "python")
    expected = "# Run\n\n## Result\n\nAll good.\n\n- one\n- two\n\n```python\nx = 1\n```\n"
    assert r.to_markdown() == expected


def test_table_from_records_dataframe_and_dict(tmp_path):
    r = Report(tmp_path)
    r.table([{"stage": 1, "acc": 0.123456}, {"stage": 2, "note": "a|b"}])
    r.table(pd.DataFrame({"a": [1.5], "b": ["x"]}))
    r.table({"lr": 0.001})
    r.table([])
    blocks = r.blocks
    assert blocks[0] == ("| stage | acc | note |\n|---|---|---|\n| 1 | 0.1235 |  |\n"
                         "| 2 |  | a\\|b |")
    assert blocks[1] == "| a | b |\n|---|---|\n| 1.5 | x |"
    assert blocks[2] == "| name | value |\n|---|---|\n| lr | 0.001 |"
    assert blocks[3] == "_(no rows)_"


def test_table_keeps_chosen_columns(tmp_path):
    r = Report(tmp_path)
    r.table([{"a": 1, "b": 2, "c": 3}], columns=["c", "a"])
    assert r.blocks[0] == "| c | a |\n|---|---|\n| 3 | 1 |"


def test_figure_saved_as_png_and_embedded(tmp_path):
    r = Report(tmp_path, figure_dir="figs")
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    path = r.figure(fig, "stage1/loss", caption="Loss")
    assert path == tmp_path / "figs" / "stage1" / "loss.png"
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert not plt.fignum_exists(fig.number)  # closed
    assert r.blocks[-1] == "![Loss](figs/stage1/loss.png)\n\n*Loss*"
    r.image("figs/stage1/loss.png")
    assert r.blocks[-1] == "![](figs/stage1/loss.png)"


def test_write_is_atomic_and_leaves_no_temp_file(tmp_path):
    r = Report(tmp_path / "new", title="T")
    r.text("hello")
    path = r.write()
    assert path.read_text(encoding="utf-8") == "# T\n\nhello\n"
    assert os.listdir(tmp_path / "new") == ["report.md"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "summary.json"
    atomic_write_json(target, {"a": 1})

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert os.listdir(tmp_path) == ["summary.json"]


def test_bad_arguments(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="`out_dir` must be a folder"):
        Report(a_file)
    r = Report(tmp_path)
    with pytest.raises(ValueError, match="`name` must be a path inside `out_dir`"):
        r.figure(plt.figure(), "../escape")
    with pytest.raises(ValueError, match="`path` must be a path inside"):
        r.image("/etc/passwd")
    with pytest.raises(ValueError, match="Argument `level` must be"):
        r.heading("x", level=7)
    with pytest.raises(ValueError, match="Argument `dpi`"):
        Report(tmp_path, dpi=0)
    plt.close("all")
