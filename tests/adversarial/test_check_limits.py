"""`check` goes on past a file that would stall it: the per-file time limit (finding 2)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from provenance.check import Policy, check
from provenance.verdict import Outcome

from ..conftest import run_cli


def _slow_file(signed: bytes) -> bytes:
    # Just under the box limit for c2pa's full Reader, and hash-mismatching: about 1-2 s to verify.
    return signed + (struct.pack(">I", 8) + b"abcd") * 9_900


def test_a_file_over_the_time_limit_is_an_error_and_the_run_goes_on(tmp_path: Path, signed_clip: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a-slow.mp4").write_bytes(_slow_file(signed_clip.read_bytes()))
    for name in ("b.mp4", "c.mp4", "d.mp4"):
        (tree / name).write_bytes(signed_clip.read_bytes())
    report = check([tree], root=tree, policy=Policy(), jobs=1, timeout=0.1)
    by_path = {r.path: r.verdict for r in report.results}
    assert by_path["a-slow.mp4"].verdict is Outcome.ERROR
    assert "longer than the 0.1 s limit" in (by_path["a-slow.mp4"].error or "")
    assert [by_path[n].verdict for n in ("b.mp4", "c.mp4", "d.mp4")] == [Outcome.VALID] * 3


def test_without_a_limit_the_slow_file_gets_its_verdict(tmp_path: Path, signed_clip: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "slow.mp4").write_bytes(_slow_file(signed_clip.read_bytes()))
    report = check([tree], root=tree, policy=Policy(), jobs=2, timeout=None)
    assert report.results[0].verdict.verdict is Outcome.INVALID


def test_cli_flag_and_variable(tmp_path: Path, signed_clip: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "slow.mp4").write_bytes(_slow_file(signed_clip.read_bytes()))
    (tree / "ok.mp4").write_bytes(signed_clip.read_bytes())
    for args, env in ((["--file-timeout", "0.1"], None), ([], {"PROVENANCE_FILE_TIMEOUT": "0.1"})):
        result = run_cli("check", tree, "--root", tree, "--format", "json", "--jobs", "2", "--no-recovery", *args,
                         env=env)
        assert result.code == 1, result.stderr
        files = {f["path"]: f for f in json.loads(result.stdout)["files"]}
        assert files["slow.mp4"]["verdict"] == "error" and "--file-timeout" in files["slow.mp4"]["error"]
        assert files["ok.mp4"]["verdict"] == "valid"
