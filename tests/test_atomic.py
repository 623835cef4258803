"""Outputs appear whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance.atomic import atomic_files, write_bytes_atomically


def test_commit_renames_all_together(tmp_path: Path) -> None:
    with atomic_files() as out:
        with out.open(tmp_path / "a") as f:
            f.write(b"A")
        with out.open(tmp_path / "b") as f:
            f.write(b"B")
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == []
    assert (tmp_path / "a").read_bytes() == b"A" and (tmp_path / "b").read_bytes() == b"B"


def test_failure_leaves_nothing_and_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_files() as out:
        with out.open(target) as f:
            f.write(b"half")
        raise RuntimeError("boom")
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    assert target.read_bytes() == b"old"
    write_bytes_atomically(target, b"new")
    assert target.read_bytes() == b"new"
