"""`check --cluster`: the same report on a Dask cluster (a LocalCluster, and a scheduler and workers run as
processes) as in local processes, files verified again after their worker is killed, and clear errors."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provenance import signing
from provenance.check import Policy, check
from provenance.check.cluster import cluster_pool
from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.manifest import Disclosure
from provenance.verdict import Outcome
from tests.support.cli import run_cli
from tests.support.dask_processes import DaskProcesses, dask_cluster, kill_readers
from tests.support.edits import break_signature, make_slow_to_verify
from tests.support.server import free_port

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory, clip: Path, signed_clip: Path, pki: DevPki) -> tuple[Path, Path]:
    """A tree of every kind of verdict (and a stripped copy recovered from the store), and that store."""
    root = tmp_path_factory.mktemp("cluster-tree")
    store = root.parent / f"{root.name}-manifests.sqlite3"
    (root / "sub").mkdir()
    for n in range(6):
        shutil.copy(signed_clip, root / f"signed-{n}.mp4")
    credentials = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    signing.sign_and_register(clip, root / "sub" / "registered.mp4", credentials, Disclosure(generator="Sora"),
                              store=store)
    shutil.copy(clip, root / "sub" / "stripped.mp4")  # the registered clip without its credentials
    shutil.copy(signed_clip, root / "sub" / "tampered.mp4")
    break_signature(root / "sub" / "tampered.mp4")
    (root / "sub" / "broken.mp4").write_bytes(b"not a video")
    return root, store


def _without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _json_report(root: Path, store: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    result = run_cli("check", root, "--root", root, "--format", "json", "--store", store, *args, env=env)
    assert result.code == 1, result.stderr  # the tampered and broken files fail
    assert "Traceback" not in result.stderr
    return _without_timings(json.loads(result.stdout))


@pytest.fixture(scope="module")
def local_report(tree: tuple[Path, Path]) -> Any:
    return _json_report(*tree, "--jobs", "2")


@pytest.fixture(scope="module")
def dask_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskProcesses]:
    with dask_cluster(2, tmp_path_factory.mktemp("dask")) as cluster:
        yield cluster


@pytest.mark.slow
def test_a_local_cluster_reports_what_local_processes_do(tree: tuple[Path, Path], local_report: Any) -> None:
    verdicts = {f["path"]: f["verdict"] for f in local_report["files"]}
    assert verdicts["sub/stripped.mp4"] != "error" and verdicts["sub/tampered.mp4"] == "invalid"
    assert any(f.get("recovered") for f in local_report["files"] if f["path"] == "sub/stripped.mp4")
    assert _json_report(*tree, "--cluster", "local:2") == local_report


@pytest.mark.slow
def test_a_scheduler_and_workers_as_processes_report_what_local_processes_do(
        tree: tuple[Path, Path], local_report: Any, dask_processes: DaskProcesses) -> None:
    assert _json_report(*tree, "--cluster", dask_processes.address) == local_report


@pytest.mark.slow
def test_workers_run_without_the_trim_threshold_sampler_and_gil_monitor(dask_processes: DaskProcesses) -> None:
    # Dask's own default environment sets the trim threshold: 15 % more CPU a large clip (docs/scale.md).
    from distributed import Client

    from provenance.cluster import connect

    def settings() -> tuple[str | None, bool, bool]:  # defined here, so it travels by value to any worker
        import os

        import dask

        return (os.environ.get("MALLOC_TRIM_THRESHOLD_"), dask.config.get("distributed.worker.profile.enabled"),
                dask.config.get("distributed.admin.system-monitor.gil.enabled"))

    with connect("local:1") as client:
        assert set(client.run(settings).values()) == {(None, False, False)}
    # The environment docs/scale.md gives `dask worker` started on its own (tests/support/dask_processes).
    with Client(dask_processes.address, set_as_default=False) as client:
        assert set(client.run(settings).values()) == {(None, False, False)}


def _slow_tree(tmp_path: Path, signed_clip: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    # Long enough to be caught being read, short enough to be verified in full once its worker is back.
    make_slow_to_verify(root / "slow.mp4", signed_clip.read_bytes(), size=512 << 20)
    for n in range(6):
        shutil.copy(signed_clip, root / f"ok-{n}.mp4")
    return root


@pytest.mark.slow
def test_a_file_whose_worker_is_killed_is_verified_again_elsewhere(tmp_path: Path, signed_clip: Path,
                                                                   dask_processes: DaskProcesses) -> None:
    root = _slow_tree(tmp_path, signed_clip)
    with kill_readers(root / "slow.mp4", times=1) as killed:
        report = check([root], root=root, policy=Policy(), pool=cluster_pool(dask_processes.address), timeout=300)
        assert killed() == 1
    paths = [r.path for r in report.results]
    assert paths == sorted(set(paths)) and len(paths) == 7  # each file exactly once
    by_path = {r.path: r.verdict for r in report.results}
    assert by_path["slow.mp4"].verdict is not Outcome.ERROR, by_path["slow.mp4"].error
    assert {by_path[f"ok-{n}.mp4"].verdict for n in range(6)} == {Outcome.VALID}


@pytest.mark.slow
def test_a_file_that_kills_two_workers_is_an_error_and_the_run_goes_on(tmp_path: Path, signed_clip: Path,
                                                                       dask_processes: DaskProcesses) -> None:
    root = _slow_tree(tmp_path, signed_clip)
    with kill_readers(root / "slow.mp4", times=2) as killed:
        report = check([root], root=root, policy=Policy(), pool=cluster_pool(dask_processes.address), timeout=300)
        assert killed() == 2
    by_path = {r.path: r for r in report.results}
    assert len(report.results) == 7
    assert by_path["slow.mp4"].verdict.verdict is Outcome.ERROR
    assert "crashed while checking this file" in (by_path["slow.mp4"].verdict.error or "")
    assert {by_path[f"ok-{n}.mp4"].verdict.verdict for n in range(6)} == {Outcome.VALID}


@pytest.mark.slow
def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path: Path, signed_clip: Path) -> None:
    shutil.copy(signed_clip, tmp_path / "a.mp4")
    result = run_cli("check", tmp_path, "--root", tmp_path, env={"PROVENANCE_CLUSTER": f"tcp://127.0.0.1:{free_port()}"})
    assert result.code == 2
    assert result.stderr.startswith("provenance: error: cannot reach the Dask scheduler at tcp://127.0.0.1:")
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


@pytest.mark.parametrize("address", ["127.0.0.1", "local:0", "local:x", "http://127.0.0.1:8786"])
def test_a_malformed_address_is_a_usage_error(tmp_path: Path, address: str) -> None:
    result = run_cli("check", tmp_path, "--root", tmp_path, "--cluster", address)
    assert result.code == 2
    assert result.stderr.startswith("provenance: error: --cluster ") and "Traceback" not in result.stderr
