"""`keras-recipes lr-find`: writes the CSV and the PNG to --out; bad arguments exit 2."""

from __future__ import annotations

import pandas as pd
import pytest

from keras_recipes.cli import main

pytestmark = pytest.mark.integration


def test_lr_find_writes_csv_and_png(tmp_path, capsys):
    out = tmp_path / "lr"
    code = main(["lr-find", "--dataset", "digits", "--model", "mlp", "--out", str(out),
                 "--num-steps", "15", "--min-lr", "1e-4", "--max-lr", "1"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["lr_find.csv", "lr_find.png"]
    history = pd.read_csv(out / "lr_find.csv")
    assert list(history.columns) == ["lr", "loss", "smoothed_loss"] and len(history) == 15
    assert (out / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "LRFinderResult(" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--min-lr", "1", "--max-lr", "0.1"], "--max-lr must be > --min-lr"),
        (["--num-steps", "5"], "--num-steps must be >= 10"),
        (["--rule", "best"], "invalid choice"),
        (["--dataset", "regression"], "regression"),
    ],
)
def test_bad_arguments_exit_2(tmp_path, capsys, args, match):
    assert main(["lr-find", "--out", str(tmp_path / "o"), *args]) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_out_is_required_and_must_be_a_directory(tmp_path, capsys):
    assert main(["lr-find"]) == 2
    assert "--out" in capsys.readouterr().err
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert main(["lr-find", "--out", str(target)]) == 2
    assert "--out must be a folder" in capsys.readouterr().err
