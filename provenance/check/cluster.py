"""Verify files on a Dask cluster: the process pool's per-file work, run by the cluster's workers.

Workers get the trust and recovery settings once, as plain values (`VerifySettings`), build one
Verifier (and Recoverer) per worker thread from them, and verify batches of paths they read from
storage they share with this machine. Results come back as tasks finish; `verify` returns them in
the order of the paths, as `VerificationPool.verify` does, so the report is the same.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from provenance import limits
from provenance.check.runner import (
    PoolFactory,
    ProgressCallback,
    RecoverySource,
    _crashed,
    _new_verifier,
    _timed_out,
    _verify_one,
)
from provenance.cluster import Client, DaskWorkers, connect
from provenance.tasks import TaskFailure, run_tasks
from provenance.trust.anchors import TrustAnchors
from provenance.verdict import Verdict

if TYPE_CHECKING:
    from provenance.durability.recovery import Recoverer
    from provenance.trust.lists import TrustLists
    from provenance.verify import Verifier


@dataclass(frozen=True)
class VerifySettings:
    """What a worker needs to verify as this run does; `run` tells one run's settings from another's."""

    anchors: TrustAnchors | None
    tsa_anchors: TrustAnchors | None
    lists: TrustLists | None
    recovery: RecoverySource | None
    timeout: float | None
    run: str = field(default_factory=lambda: uuid.uuid4().hex)


# On a worker: (run, thread) → its Verifier and Recoverer, kept between tasks of the same run.
_verifiers: dict[tuple[str, int], tuple[Verifier, Recoverer | None]] = {}
_verifiers_lock = threading.Lock()


def verify_batch(settings: VerifySettings, paths: list[Path]) -> list[tuple[Verdict, float]]:
    """Runs on a worker: the verdict (and seconds spent) for each of `paths`, as a pool worker gives them."""
    key = (settings.run, threading.get_ident())
    with _verifiers_lock:
        if key not in _verifiers:
            for stale in [k for k in _verifiers if k[0] != settings.run]:  # an earlier run's: its store may be gone
                _close(_verifiers.pop(stale)[1])
            verifier = _new_verifier(settings.anchors, settings.tsa_anchors, settings.lists)
            _verifiers[key] = (verifier, settings.recovery.open(verifier) if settings.recovery else None)
        verifier, recoverer = _verifiers[key]
    return [_verify_one(verifier, path, recoverer) for path in paths]


def _close(recoverer: Recoverer | None) -> None:
    if recoverer is not None:
        with contextlib.suppress(Exception):
            recoverer.close()


class ClusterVerificationPool:
    """`VerificationPool`'s interface over a Dask cluster at `address` (tcp://host:port or local:N).

    A file whose worker dies is verified again alone elsewhere; one that kills a second worker, or
    takes longer than `timeout` seconds, becomes an `error` verdict with the same reason the process
    pool gives, and the run goes on.
    """

    def __init__(self, address: str, anchors: TrustAnchors | None, *, tsa_anchors: TrustAnchors | None = None,
                 lists: TrustLists | None = None, recovery: RecoverySource | None = None,
                 timeout: float | None = limits.DEFAULT_FILE_TIMEOUT) -> None:
        self.address = address
        self.settings = VerifySettings(anchors, tsa_anchors, lists, recovery,
                                       timeout if timeout and timeout > 0 else None)
        self._stack = contextlib.ExitStack()
        self._client: Client | None = None

    def __enter__(self) -> ClusterVerificationPool:
        self._client = self._stack.enter_context(connect(self.address))
        return self

    def __exit__(self, *exc: object) -> None:
        self._client = None
        self._stack.close()

    def verify(self, paths: Sequence[Path], on_progress: ProgressCallback | None = None,
               ) -> list[tuple[Verdict, float]]:
        """Verdicts (and seconds spent on each) for `paths`, in the same order."""
        assert self._client is not None, "use the pool as a context manager"
        if not paths:
            return []
        settings = self.settings
        anchors, timeout = settings.anchors, settings.timeout

        def failed(path: Path, why: TaskFailure) -> tuple[Verdict, float]:
            if why.crashed:
                return _crashed(path, anchors), 0.0
            assert timeout is not None
            return _timed_out(path, anchors, timeout), timeout

        results: dict[int, tuple[Verdict, float]] = {}
        with DaskWorkers(self._client, settings) as workers:
            for index, result in run_tasks(workers, list(paths), verify_batch, timeout=timeout, on_failure=failed):
                results[index] = result
                if on_progress:
                    on_progress(1)
        return [results[i] for i in range(len(paths))]


def cluster_pool(address: str) -> PoolFactory:
    """For `check(pool=...)`: the check's files verified on the Dask cluster at `address`."""

    def make(anchors: TrustAnchors | None, tsa_anchors: TrustAnchors | None, lists: TrustLists | None,
             recovery: RecoverySource | None, timeout: float | None) -> ClusterVerificationPool:
        return ClusterVerificationPool(address, anchors, tsa_anchors=tsa_anchors, lists=lists, recovery=recovery,
                                       timeout=timeout)

    return make
