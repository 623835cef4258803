"""Dask clusters for `check --cluster` and `sign-batch --cluster`: connecting, and running tasks on them.

An address is `tcp://host:port` (an existing scheduler) or `local:N` (a LocalCluster of N worker
processes on 127.0.0.1, no dashboard, started here and stopped on leaving). The scheduler is asked
never to retry a task whose worker died (`allowed-failures` 0): `provenance.tasks.run_tasks` retries
such a file itself, alone, so the file that crashed the worker is told apart from the others of its
batch and is given up on after its second crash.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

from provenance.errors import UsageError

# distributed has no type hints: its client and futures are typed as these aliases of Any.
Client = Any
Future = Any

# The per-task work is CPU-bound and short: a worker's stack sampler (every 10 ms) and GIL monitor (every 1 ms)
# take cores from it and nobody reads them here. And Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_
# set, which also stops glibc from raising its mmap threshold: every large buffer is then mapped afresh,
# 2 000 page faults and 15 % more CPU to verify a 75 MB clip. Set for a LocalCluster (its nannies hand their
# config to the workers); a cluster started on its own takes them from DASK_… variables (docs/scale.md).
LEAN_WORKERS = {"distributed.worker.profile.enabled": False, "distributed.admin.system-monitor.gil.enabled": False,
                "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
# The same settings as the environment of a `dask worker` started on its own. The trim threshold's variable
# would be lower-cased as a key of its own: the nanny's environment is given as a dict, merged over Dask's.
LEAN_WORKER_ENVIRONMENT = {
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__GIL__ENABLED": "False",
    "DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON": "{'MALLOC_TRIM_THRESHOLD_': None}",
}
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler, and to wait for its first worker
_LOCAL = re.compile(r"local:(\d+)")


class ClusterError(UsageError):
    """The Dask cluster cannot be used: not installed, unreachable, no workers, or its workers lack provenance."""

    remedy = "Check --cluster (tcp://host:8786 or local:N) and that the scheduler and its workers run."


def parse_address(address: str) -> tuple[str, int | None]:
    """("local", N) for `local:N`, else (the scheduler address, None); a UsageError for anything else."""
    if match := _LOCAL.fullmatch(address):
        workers = int(match.group(1))
        if workers < 1:
            raise ClusterError(f"--cluster {address}: a local cluster needs at least one worker")
        return "local", workers
    if re.fullmatch(r"(tcp|tls)://[^\s/]+:\d+", address):
        return address, None
    raise ClusterError(f"--cluster {address!r} is neither tcp://host:port nor local:N")


@contextlib.contextmanager
def connect(address: str) -> Iterator[Client]:
    """A Dask client on the cluster at `address`, with at least one worker; the LocalCluster is stopped on leaving."""
    kind, workers = parse_address(address)
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as e:
        raise ClusterError(f"--cluster needs Dask distributed: {e}",
                           remedy="pip install 'provenance[cluster]'.") from e
    with contextlib.ExitStack() as stack:
        stack.enter_context(dask.config.set({"distributed.scheduler.allowed-failures": 0, **LEAN_WORKERS}))
        stack.enter_context(_quiet_dask())
        if workers is not None:
            cluster = stack.enter_context(LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster, set_as_default=False))  # type: ignore[no-untyped-call]
        else:
            try:
                client = stack.enter_context(
                    Client(kind, timeout=CONNECT_TIMEOUT, set_as_default=False))  # type: ignore[no-untyped-call]
            except (OSError, TimeoutError) as e:
                raise ClusterError(f"cannot reach the Dask scheduler at {kind}: {_reason(e)}") from None
            # A scheduler started without this setting would retry a crashing file up to its own limit first.
            with contextlib.suppress(Exception):
                client.run_on_scheduler(_no_automatic_retries)
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError):
            raise ClusterError(f"the Dask scheduler at {address} has no worker after {CONNECT_TIMEOUT:g} s") from None
        yield client


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask logs every worker start and stop at INFO; only its errors are shown, unless debug logging is on."""
    logger = logging.getLogger("distributed")
    before = logger.level
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(before)


def _no_automatic_retries(dask_scheduler: Any) -> None:
    dask_scheduler.allowed_failures = 0


def _reason(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def threads(client: Client) -> int:
    """How many tasks the cluster runs at once (its worker threads), at least 1."""
    counts: dict[str, int] = client.nthreads()
    return max(1, sum(counts.values()))


class DaskWorkers:
    """`provenance.tasks.Workers` on a Dask cluster, while entered: `shared` is copied to every worker once."""

    def __init__(self, client: Client, shared: object) -> None:
        self.client = client
        self.shared = shared
        self._name = f"provenance-shared-{uuid.uuid4().hex}"

    def __enter__(self) -> DaskWorkers:
        from provenance._internal.dask_shared import SharedValue

        # A plugin, not scattered data: a worker that restarts after a crash gets the value too.
        self.client.register_plugin(SharedValue(self._name, self.shared), name=self._name)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):  # the cluster may be gone: nothing is left to clean then
            self.client.unregister_worker_plugin(self._name)

    def slots(self) -> int:
        """The cluster's worker threads, now (workers come and go)."""
        return threads(self.client)

    def submit(self, task: Any, batch: list[Any]) -> Future:
        """Schedule `task(shared, batch)` under a fresh key: the same files sent again are a new task."""
        from provenance._internal.dask_shared import call_with

        return self.client.submit(call_with, task, self._name, batch, pure=False,
                                  key=f"provenance-{uuid.uuid4().hex}")

    def wait(self, handles: list[Future], timeout: float | None) -> list[Future]:
        """The tasks that have ended (finished, failed, or lost with their worker)."""
        from distributed import wait

        try:
            with self.client.as_current():  # `wait` takes the default client, and this one is not made the default
                done: set[Future] = wait(  # type: ignore[no-untyped-call]
                    handles, timeout=timeout, return_when="FIRST_COMPLETED").done
        except TimeoutError:
            return []
        except Exception:  # a task the cluster cancelled makes `wait` raise: hand it back, `results` says why
            ended = [handle for handle in handles if handle.done()]
            if not ended:
                raise
            return ended
        return list(done)

    def results(self, handle: Future) -> list[Any] | None:
        """A task's results; None when its worker died; a ClusterError when it failed on the worker."""
        from distributed import KilledWorker

        if handle.status == "finished":
            results: list[Any] = handle.result()
            return results
        error = handle.exception() if handle.status == "error" else None
        if isinstance(error, KilledWorker):
            return None
        raise ClusterError(f"a task failed on the cluster: {type(error).__name__}: {_reason(error)}"
                           if error is not None else f"a task was {handle.status} by the cluster",
                           remedy="Check that every worker has provenance installed, at the same version as here, "
                                  "and can read the files.")

    def abandon(self, handle: Future) -> None:
        """Cancel a task still running and restart its worker: a stuck thread cannot be stopped otherwise."""
        key = handle.key
        handle.cancel()
        with contextlib.suppress(Exception):
            stuck = [worker for worker, keys in self.client.processing().items() if key in keys]
            if stuck:
                self.client.restart_workers(stuck, raise_for_error=False)
