"""`check` goes on past a file that would stall it: the per-file time limit (finding 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance.check import Policy, check
from provenance.verdict import Outcome
from tests.support.cli import run_cli
from tests.support.edits import make_slow_to_verify

SLOW_LIMIT = 2.0  # seconds; the slow file takes several times that, a normal clip a small part of it


@pytest.mark.slow
def test_a_file_over_the_time_limit_is_an_error_and_the_run_goes_on(tmp_path: Path, signed_clip: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    make_slow_to_verify(tree / "a-slow.mp4", signed_clip.read_bytes())
    for name in ("b.mp4", "c.mp4", "d.mp4"):
        (tree / name).write_bytes(signed_clip.read_bytes())
    report = check([tree], root=tree, policy=Policy(), jobs=1, timeout=SLOW_LIMIT)
    by_path = {r.path: r.verdict for r in report.results}
    assert by_path["a-slow.mp4"].verdict is Outcome.ERROR
    assert f"longer than the {SLOW_LIMIT:g} s limit" in (by_path["a-slow.mp4"].error or "")
    assert [by_path[n].verdict for n in ("b.mp4", "c.mp4", "d.mp4")] == [Outcome.VALID] * 3


@pytest.mark.slow
def test_cli_flag_and_variable(tmp_path: Path, signed_clip: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    make_slow_to_verify(tree / "slow.mp4", signed_clip.read_bytes())
    (tree / "ok.mp4").write_bytes(signed_clip.read_bytes())
    limit = str(SLOW_LIMIT)
    for args, env in ((["--file-timeout", limit], None), ([], {"PROVENANCE_FILE_TIMEOUT": limit})):
        result = run_cli("check", tree, "--root", tree, "--format", "json", "--jobs", "2", "--no-recovery", *args,
                         env=env)
        assert result.code == 1, result.stderr
        files = {f["path"]: f for f in json.loads(result.stdout)["files"]}
        assert files["slow.mp4"]["verdict"] == "error" and "--file-timeout" in files["slow.mp4"]["error"]
        assert files["ok.mp4"]["verdict"] == "valid"


def test_a_crashed_worker_costs_one_file(tmp_path: Path, signed_clip: Path) -> None:
    """A worker killed while it verifies (as a crash in native code would) fails that file alone."""
    import os
    import signal
    import threading

    from provenance.check.runner import VerificationPool

    slow = tmp_path / "slow.mp4"
    make_slow_to_verify(slow, signed_clip.read_bytes())
    ok = tmp_path / "ok.mp4"
    ok.write_bytes(signed_clip.read_bytes())
    with VerificationPool(None, 1, timeout=60) as pool:
        def kill_when_busy() -> None:
            for _ in range(200):
                worker = pool._workers[0] if pool._workers else None
                if worker is not None and worker.tasks[:1] == [0] and worker.process.pid:
                    os.kill(worker.process.pid, signal.SIGKILL)
                    return
                threading.Event().wait(0.05)

        killer = threading.Thread(target=kill_when_busy)
        killer.start()
        (slow_verdict, _), (ok_verdict, _) = pool.verify([slow, ok])
        killer.join()
    assert slow_verdict.verdict is Outcome.ERROR and "crashed" in (slow_verdict.error or "")
    assert ok_verdict.verdict is Outcome.VALID


def test_workers_die_with_a_killed_check(tmp_path: Path, signed_clip: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    tree = tmp_path / "tree"
    tree.mkdir()
    make_slow_to_verify(tree / "slow.mp4", signed_clip.read_bytes())
    proc = subprocess.Popen([sys.executable, "-m", "provenance_cli.main", "check", str(tree), "--root", str(tree),
                             "--jobs", "2", "--no-recovery", "--file-timeout", "60"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def children() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == proc.pid:
                    found.append(int(entry.name))
        return found

    deadline = time.monotonic() + 30
    while len(workers := children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(workers) >= 2, "check did not start its workers"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
              for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
             and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    assert not alive, f"workers outlived their check: {alive}"
