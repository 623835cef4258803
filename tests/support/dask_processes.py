"""A real Dask cluster as separate processes on 127.0.0.1: `dask scheduler` and `dask worker`s, and killing workers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from provenance.cluster import LEAN_WORKER_ENVIRONMENT
from tests.support.server import free_port

DASK = Path(sys.executable).with_name("dask")


@dataclass
class DaskProcesses:
    """A scheduler and its workers, started as `dask` commands; `address` is the scheduler's tcp:// address."""

    address: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)


def _wait_for_workers(address: str, count: int, log: Path) -> None:
    from distributed import Client

    with Client(address, timeout=30, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        try:
            client.wait_for_workers(count, timeout=180)  # a loaded machine starts a worker slowly
        except TimeoutError as e:
            raise RuntimeError(f"{e}: {log.read_text()[-3000:]}") from e


@contextlib.contextmanager
def dask_cluster(workers: int, directory: Path) -> Iterator[DaskProcesses]:
    """`dask scheduler` on a free port and `workers` single-threaded `dask worker`s, stopped on leaving."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    cluster = DaskProcesses(address)
    log = directory / "dask.log"
    with open(log, "ab") as out:
        try:
            cluster.processes.append(subprocess.Popen(
                [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
                 "--scheduler-file", str(directory / "scheduler.json")], stdout=out, stderr=out))
            deadline = time.monotonic() + 60
            while not (directory / "scheduler.json").is_file():
                if time.monotonic() > deadline or cluster.processes[0].poll() is not None:
                    raise RuntimeError(f"dask scheduler did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)
            assert json.loads((directory / "scheduler.json").read_text())["address"] == address
            for n in range(workers):
                cluster.processes.append(subprocess.Popen(
                    [str(DASK), "worker", address, "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "1",
                     "--no-dashboard", "--name", f"worker-{n}", "--local-directory", str(directory),
                     "--death-timeout", "5"],
                    stdout=out, stderr=out, env={**os.environ, **LEAN_WORKER_ENVIRONMENT}))
            _wait_for_workers(address, workers, log)
            yield cluster
        finally:
            _stop(cluster.processes)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Every process at once: the workers, given --death-timeout, stop soon after the scheduler."""
    for proc in processes:
        proc.terminate()
    deadline = time.monotonic() + 15
    for proc in processes:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pids_with_open(path: Path) -> list[int]:
    """Processes that have `path` open: the worker reading it right now."""
    target = str(path.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == target for fd in (entry / "fd").iterdir()):
                found.append(int(entry.name))
    return found


@contextlib.contextmanager
def kill_readers(path: Path, times: int) -> Iterator[Callable[[], int]]:
    """In the background, SIGKILL whichever process reads `path`, `times` times; yields how many were killed."""
    killed: list[int] = []
    stop = threading.Event()

    def hunt() -> None:
        while len(killed) < times and not stop.is_set():
            for pid in pids_with_open(path):
                if pid not in killed:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                    break
            stop.wait(0.05)

    hunter = threading.Thread(target=hunt, daemon=True)
    hunter.start()
    try:
        yield lambda: len(killed)
    finally:
        stop.set()
        hunter.join()
