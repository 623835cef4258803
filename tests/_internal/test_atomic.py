"""Outputs appear whole or not at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from provenance._internal import atomic
from provenance._internal.atomic import atomic_files, write_bytes_atomically
from provenance.errors import OutputError


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


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE"), reason="Linux only")
def test_nothing_has_a_name_until_commit(tmp_path: Path) -> None:
    """O_TMPFILE: a process killed while writing leaves no file at all, not even a hidden one."""
    with atomic_files() as out:
        with out.open(tmp_path / "a.mp4") as f:
            f.write(b"A" * 100_000)
        assert list(tmp_path.iterdir()) == []
    assert (tmp_path / "a.mp4").read_bytes() == b"A" * 100_000
    assert list(tmp_path.iterdir()) == [tmp_path / "a.mp4"]


@pytest.mark.parametrize("named", [False, True], ids=["unnamed", "named-fallback"])
def test_modes_follow_the_umask_or_the_replaced_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     named: bool) -> None:
    if named:  # as on a system or filesystem without O_TMPFILE
        monkeypatch.setattr(atomic, "_O_TMPFILE", 0)
    write_bytes_atomically(tmp_path / "new", b"n")
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o666 & ~_umask()
    kept = tmp_path / "kept"
    kept.write_bytes(b"old")
    kept.chmod(0o604)
    write_bytes_atomically(kept, b"new")
    assert kept.read_bytes() == b"new" and kept.stat().st_mode & 0o777 == 0o604
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept", "new"]


def test_named_fallback_is_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic, "_O_TMPFILE", 0)
    with pytest.raises(RuntimeError), atomic_files() as out:
        with out.open(tmp_path / "x") as f:
            f.write(b"half")
        assert [p.name.endswith(".part") for p in tmp_path.iterdir()] == [True]
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_stale_parts_of_dead_runs_are_removed(tmp_path: Path) -> None:
    """What a SIGKILL can leave where O_TMPFILE is missing; the next run for the target removes it,
    and only when its owner on this host is gone."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "out.mp4"
    stale = tmp_path / f".out.mp4.{dead.pid}@{atomic._HOST}.0123abcd.part"
    live = tmp_path / f".out.mp4.{os.getppid()}@{atomic._HOST}.0123abcd.part"
    elsewhere = tmp_path / f".out.mp4.{dead.pid}@00000000.0123abcd.part"
    other_target = tmp_path / f".other.mp4.{dead.pid}@{atomic._HOST}.0123abcd.part"
    for path in (stale, live, elsewhere, other_target):
        path.write_bytes(b"partial")
    write_bytes_atomically(target, b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (target, live, elsewhere, other_target))


def test_errors_name_the_target_not_the_temporary_file(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "report.json"
    with pytest.raises(OutputError, match=f"cannot write {missing}: folder {missing.parent} does not exist"):
        write_bytes_atomically(missing, b"x")
    with pytest.raises(OutputError, match="it is a directory"):
        write_bytes_atomically(tmp_path, b"x")
