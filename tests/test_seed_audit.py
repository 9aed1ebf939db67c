"""docs/seed_audit.md names only tests that exist, and its counts match its rows."""

from __future__ import annotations

import collections
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AUDIT = ROOT / "docs" / "seed_audit.md"
ROW = re.compile(r"^\| (\d+|S\d+) \|")
CODE = re.compile(r"`([^`]+)`")
REFERENCE = re.compile(r"^(?:(?P<file>(?:T|tests)/[\w/]+\.py))?(?:::(?P<name>.+))?$")


def references() -> list[tuple[str, str, str | None]]:
    """``(row, file, test name or None)`` for every test named in a table row.

    ``T/`` stands for ``tests/``; a ``::name`` without a file refers to the last file
    named before it (in the same row or an earlier one); parametrised ids (``[...]``)
    are dropped.
    """
    found, last = [], None
    for line in AUDIT.read_text(encoding="utf-8").splitlines():
        row = ROW.match(line)
        if not row:
            continue
        for span in CODE.findall(line):
            span = span.strip()
            if not (span.startswith(("T/", "tests/", "::")) and (".py" in span or
                                                                 span.startswith("::"))):
                continue
            match = REFERENCE.match(span)
            assert match, f"row {row.group(1)}: cannot read {span!r}"
            file = match.group("file")
            if file:
                last = "tests/" + file.split("/", 1)[1]
            assert last, f"row {row.group(1)}: {span!r} names no file"
            name = match.group("name")
            found.append((row.group(1), last, None if name is None
                          else re.sub(r"\[.*\]$", "", name)))
    return found


REFERENCES = references()


def test_the_audit_names_tests():
    assert len(REFERENCES) > 200
    assert {row for row, _, _ in REFERENCES} >= {"45", "191", "240", "S11", "S45"}


@pytest.mark.parametrize("row, file, name", REFERENCES,
                         ids=[f"{r}-{Path(f).name}-{n}" for r, f, n in REFERENCES])
def test_every_named_test_exists(row, file, name):
    path = ROOT / file
    assert path.is_file(), f"row {row}: {file} does not exist"
    if name is not None:
        source = path.read_text(encoding="utf-8")
        assert re.search(rf"^\s*(?:async\s+)?def {re.escape(name)}\(", source, re.MULTILINE), \
            f"row {row}: {file} defines no test {name!r}"


def test_counts_table_matches_the_rows():
    text = AUDIT.read_text(encoding="utf-8")
    items, slips = collections.Counter(), collections.Counter()
    for line in text.splitlines():
        row = ROW.match(line)
        if row:
            status = line.split(" | ")[3].strip()
            (slips if row.group(1).startswith("S") else items)[status] += 1
    now = re.search(r"^\| checklist, now \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$", text,
                    re.MULTILINE)
    assert now, "no 'checklist, now' row in the counts table"
    assert [int(v) for v in now.groups()] == [items["✅"], items["⚠"], items["❌"],
                                              items["❌W"], sum(items.values())]
    slips_now = re.search(r"^\| slips, now \| (\d+) \| (\d+) \| (\d+) \| — \| (\d+) \|$", text,
                          re.MULTILINE)
    assert slips_now
    assert [int(v) for v in slips_now.groups()] == [slips["✅"], slips["⚠"], slips["❌"],
                                                    sum(slips.values())]
