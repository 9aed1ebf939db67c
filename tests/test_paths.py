"""Output-path checks: they answer before any work and create nothing."""

import pytest

from keras_recipes import _paths
from keras_recipes._paths import check_output_dir, check_output_file


def listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_output_dir(tmp_path, monkeypatch):
    (tmp_path / "f").write_text("x")
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert check_output_dir(tmp_path) == tmp_path
    with pytest.raises(ValueError, match=r"Argument `out` must be a folder, but .*f' is a "
                       r"file\. Received: out="):
        check_output_dir(tmp_path / "f")
    with pytest.raises(ValueError, match=r"Argument `log_dir` cannot be created: .*f' is a "
                       "file, not a folder"):
        check_output_dir(tmp_path / "f" / "sub" / "x", "log_dir")
    monkeypatch.setattr(_paths, "writable", lambda path: False)
    with pytest.raises(ValueError, match=r"must be a writable folder, but .* is read-only"):
        check_output_dir(tmp_path)
    with pytest.raises(ValueError, match=r"cannot be created: the folder .* is read-only"):
        check_output_dir(tmp_path / "new")
    assert listing(tmp_path) == ["f"]


def test_output_file(tmp_path, monkeypatch):
    (tmp_path / "f").write_text("x")
    assert check_output_file(tmp_path / "m.keras", "save", (".keras",)).name == "m.keras"
    cases = [
        (tmp_path / "model.txt", r"`save` must end in \.keras\. Received: save="),
        (tmp_path / "missing" / "m.keras", r"the folder .*missing' does not exist"),
        (tmp_path / "f" / "m.keras", r"f' is a file, not a folder"),
        (tmp_path / "f" / "a" / "m.keras", r"f' is a file, not a folder"),
    ]
    (tmp_path / "d.keras").mkdir()
    cases.append((tmp_path / "d.keras", r"must be a file path, but .*d.keras' is a folder"))
    for path, match in cases:
        with pytest.raises(ValueError, match=match):
            check_output_file(path, "save", (".keras",))
    monkeypatch.setattr(_paths, "writable", lambda path: False)
    with pytest.raises(ValueError, match=r"cannot be written: .* is read-only"):
        check_output_file(tmp_path / "m.keras", "save", (".keras",))
    assert listing(tmp_path) == ["d.keras", "f"]
