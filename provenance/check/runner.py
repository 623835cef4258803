"""Run `provenance check`: find media, verify it in worker processes, apply the policy.

Each worker process builds one `Verifier` and verifies chunks of files; results
are put back in path order whatever order the workers finish in.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from provenance import limits
from provenance.check.policy import Policy
from provenance.check.rules import RuleSet, Violation, compile_policy
from provenance.check.walk import Candidate, discover
from provenance.errors import ProvenanceError
from provenance.tasks import batch_size, pool_context
from provenance.trust.anchors import TrustAnchors
from provenance.verdict import Outcome, Verdict

if TYPE_CHECKING:
    from provenance.durability.recovery import Recoverer
    from provenance.trust.lists import TrustLists
    from provenance.verify import Verifier

ProgressCallback = Callable[[int], None]  # called with the number of files just finished


@dataclass(frozen=True)
class FileResult:
    """One file's verdict under the policy: the rules it breaks, or that it is exempt."""

    path: str  # root-relative with forward slashes (absolute when outside the root)
    verdict: Verdict
    violations: tuple[Violation, ...] = ()
    exempt: bool = False
    seconds: float = 0.0

    @property
    def status(self) -> str:
        """The file's status: "exempt", "fail" (a rule is broken) or "pass"."""
        if self.exempt:
            return "exempt"
        return "fail" if self.violations else "pass"


@dataclass(frozen=True)
class CheckReport:
    """The outcome of a check: every file's result in path order, and the settings it ran with."""

    root: Path
    policy: Policy
    results: tuple[FileResult, ...]
    rules: tuple[str, ...]  # ids of the rules the policy turned on
    trust_anchors: str | None = None  # where the anchors came from
    tsa_trust_anchors: str | None = None
    seconds: float = 0.0
    # The official lists the files were judged against, when no anchors were given (None with anchors).
    trust_lists: TrustLists | None = None

    @property
    def failed(self) -> list[FileResult]:
        """The files that break at least one rule."""
        return [r for r in self.results if r.status == "fail"]

    @property
    def passed(self) -> list[FileResult]:
        """The files that break no rule and are not exempt."""
        return [r for r in self.results if r.status == "pass"]

    @property
    def exempt(self) -> list[FileResult]:
        """The files the policy exempts."""
        return [r for r in self.results if r.exempt]

    @property
    def violation_count(self) -> int:
        """How many rules were broken, over all files."""
        return sum(len(r.violations) for r in self.results)

    @property
    def ok(self) -> bool:
        """Whether no file failed: the gate passes."""
        return not self.failed

    def summary(self) -> str:
        """The one-line summary, e.g. '9 files checked: 4 passed, 4 failed (5 violations), 1 exempt'."""
        n = len(self.results)
        parts = [f"{len(self.passed)} passed", f"{len(self.failed)} failed"]
        if self.violation_count:
            v = self.violation_count
            parts[-1] += f" ({v} violation{'s' if v != 1 else ''})"
        if self.exempt:
            parts.append(f"{len(self.exempt)} exempt")
        return f"{n} file{'s' if n != 1 else ''} checked: " + ", ".join(parts)


@dataclass(frozen=True)
class RecoverySource:
    """Where to look up files whose credentials were stripped: a resolver URL, else a store (default: local)."""

    store: str | None = None
    resolver: str | None = None

    def open(self, verifier: Verifier) -> Recoverer:
        """A Recoverer over this source, judging matches with `verifier` (with no repository yet, it only
        searches for watermarks)."""
        from provenance.durability.recovery import open_recoverer

        return open_recoverer(verifier, store=self.store, resolver=self.resolver)


def default_jobs() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count, in containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


# ---- worker side ---------------------------------------------------------------------------------

_worker_verifier: Verifier | None = None
_worker_recoverer: Recoverer | None = None


def _new_verifier(anchors: TrustAnchors | None, tsa_anchors: TrustAnchors | None,
                  lists: TrustLists | None) -> Verifier:
    from provenance.verify import Verifier

    return Verifier(anchors, tsa_anchors=tsa_anchors, lists=lists)


def _init_worker(anchors: TrustAnchors | None, tsa_anchors: TrustAnchors | None, lists: TrustLists | None,
                 recovery: RecoverySource | None) -> None:
    """Runs once per worker process: one Verifier (and Recoverer), heavy modules loaded up front."""
    global _worker_verifier, _worker_recoverer
    import c2pa  # noqa: F401  (loaded now, while the parent is still walking the tree)
    import cryptography.x509  # noqa: F401

    _worker_verifier = _new_verifier(anchors, tsa_anchors, lists)
    _worker_recoverer = recovery.open(_worker_verifier) if recovery is not None else None


def _verify_one(verifier: Verifier, path: Path, recoverer: Recoverer | None = None) -> tuple[Verdict, float]:
    from provenance.errors import ProvenanceError

    start = time.perf_counter()
    verdict = verifier.verify(path)  # never raises: a bug becomes this file's `error` verdict
    if recoverer is not None:
        # Recovery only adds information; if the repository fails the file is judged without it (fail closed).
        with contextlib.suppress(ProvenanceError):
            verdict = recoverer.recover(verdict)
    return verdict, time.perf_counter() - start


def _worker_main(conn: Connection, parent: int, anchors: TrustAnchors | None, tsa_anchors: TrustAnchors | None,
                 lists: TrustLists | None, recovery: RecoverySource | None) -> None:
    """A worker process: verifies the batches of paths it is sent, answering file by file, until sent None."""
    from provenance._internal.children import die_with

    die_with(parent)  # a killed `check` must not leave its workers verifying
    _init_worker(anchors, tsa_anchors, lists, recovery)
    assert _worker_verifier is not None
    conn.send(None)  # ready: the time limit of the first file starts now, not before c2pa is loaded
    while (paths := conn.recv()) is not None:
        for path in paths:
            conn.send(_verify_one(_worker_verifier, path, _worker_recoverer))


# ---- parent side ---------------------------------------------------------------------------------

class VerifierCrashed(ProvenanceError):
    """Worker processes die before verifying anything (a broken install, not a bad file)."""

    remedy = "Re-run with --jobs 1 --file-timeout 0 --verbose to see why."


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    ready: bool = False
    tasks: list[int] = field(default_factory=list)  # files sent and not yet answered, the current one first
    deadline: float = 0.0  # when the current file runs out of time


class VerificationPool:
    """Verifies files in `jobs` worker processes, each file within `timeout` seconds.

    A file over its time limit, or one that kills its worker (a crash in native code), becomes an
    `error` verdict; its worker is replaced and the run goes on. With one job and no time limit
    the files are verified in this process. Entering the pool starts a couple of workers at once,
    so they load c2pa while the caller is still finding the files.
    """

    warm_workers = 2

    def __init__(self, anchors: TrustAnchors | None, jobs: int, *, tsa_anchors: TrustAnchors | None = None,
                 lists: TrustLists | None = None, recovery: RecoverySource | None = None,
                 timeout: float | None = limits.DEFAULT_FILE_TIMEOUT) -> None:
        self.anchors = anchors
        self.tsa_anchors = tsa_anchors
        self.lists = lists
        self.recovery = recovery
        self.jobs = max(1, jobs)
        self.timeout = timeout if timeout and timeout > 0 else None
        self._workers: list[_Worker] = []

    @property
    def in_process(self) -> bool:
        """Whether files are verified in this process: one job, no time limit."""
        return self.jobs == 1 and self.timeout is None

    def __enter__(self) -> VerificationPool:
        if not self.in_process:
            for _ in range(min(self.jobs, self.warm_workers)):
                self._workers.append(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self._workers:
            self._stop(worker, kill=exc[0] is not None)
        self._workers.clear()

    def _start(self) -> _Worker:
        ctx = pool_context()
        parent, child = ctx.Pipe()
        process = ctx.Process(  # type: ignore[attr-defined]
            target=_worker_main, args=(child, os.getpid(), self.anchors, self.tsa_anchors, self.lists, self.recovery),
            daemon=True,
            name="provenance-check")
        process.start()
        child.close()
        return _Worker(process, parent)

    @staticmethod
    def _stop(worker: _Worker, *, kill: bool) -> None:
        if not kill and not worker.tasks:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
            worker.process.join(5)
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.conn.close()

    def verify(self, paths: Sequence[Path], on_progress: ProgressCallback | None = None,
               ) -> list[tuple[Verdict, float]]:
        """Verdicts (and seconds spent on each) for `paths`, in the same order."""
        items = list(paths)
        if self.in_process:
            verifier = _new_verifier(self.anchors, self.tsa_anchors, self.lists)
            recoverer = self.recovery.open(verifier) if self.recovery is not None else None
            out = []
            try:
                for path in items:
                    out.append(_verify_one(verifier, path, recoverer))
                    if on_progress:
                        on_progress(1)
            finally:
                if recoverer is not None:
                    recoverer.close()
            return out

        while len(self._workers) < min(self.jobs, len(items)):
            self._workers.append(self._start())
        results: dict[int, tuple[Verdict, float]] = {}
        pending = list(range(len(items)))[::-1]  # popped from the end, in path order

        def finish(index: int, result: tuple[Verdict, float]) -> None:
            results[index] = result
            if on_progress:
                on_progress(1)

        # Small batches keep a worker busy while its answers travel; one file a batch would leave it waiting.
        batch = batch_size(len(items), len(self._workers))
        while len(results) < len(items):
            for worker in self._workers:
                if worker.ready and not worker.tasks and pending:
                    worker.tasks = [pending.pop() for _ in range(min(batch, len(pending)))]
                    worker.deadline = time.monotonic() + (self.timeout or 0)
                    worker.conn.send([items[i] for i in worker.tasks])
            busy = [w for w in self._workers if w.tasks or not w.ready]
            wait = None
            if self.timeout is not None and any(w.tasks for w in busy):
                wait = max(0.0, min(w.deadline for w in busy if w.tasks) - time.monotonic())
            for conn in cast(list[Connection], multiprocessing.connection.wait([w.conn for w in busy], wait)):
                worker = next(w for w in self._workers if w.conn is conn)
                try:
                    message = conn.recv()
                except (EOFError, OSError):  # the worker died: a crash in native code
                    if not worker.tasks:  # before it took any file: it cannot start at all
                        raise VerifierCrashed("a verification worker process exited while starting") from None
                    finish(worker.tasks[0], (_crashed(items[worker.tasks[0]], self.anchors), 0.0))
                    self._replace(worker, pending)
                    continue
                if not worker.ready:
                    worker.ready = True
                else:
                    finish(worker.tasks.pop(0), message)
                    worker.deadline = time.monotonic() + (self.timeout or 0)
            now = time.monotonic()
            for worker in list(self._workers):
                if self.timeout is not None and worker.tasks and now >= worker.deadline:
                    index = worker.tasks[0]
                    finish(index, (_timed_out(items[index], self.anchors, self.timeout), self.timeout))
                    self._replace(worker, pending)
        return [results[i] for i in range(len(items))]

    def _replace(self, worker: _Worker, pending: list[int]) -> None:
        """A new worker in place of `worker`; the files of its batch after the current one go back in the queue."""
        pending.extend(reversed(worker.tasks[1:]))
        worker.tasks = []
        self._stop(worker, kill=True)
        self._workers[self._workers.index(worker)] = self._start()


class WorkerPool(Protocol):
    """What verifies the files of a check: a `VerificationPool`, or one on a Dask cluster (check/cluster.py)."""

    def __enter__(self) -> WorkerPool: ...

    def __exit__(self, *exc: object) -> None: ...

    def verify(self, paths: Sequence[Path], on_progress: ProgressCallback | None = None,
               ) -> list[tuple[Verdict, float]]:
        """Verdicts (and seconds spent on each) for `paths`, in the same order."""


# (anchors, TSA anchors, lists, recovery, per-file timeout) → the pool that verifies a check's files
PoolFactory = Callable[[TrustAnchors | None, TrustAnchors | None, "TrustLists | None", RecoverySource | None,
                        float | None], WorkerPool]


def verify_files(paths: Sequence[Path], anchors: TrustAnchors | None, *, jobs: int,
                 tsa_anchors: TrustAnchors | None = None, lists: TrustLists | None = None,
                 recovery: RecoverySource | None = None, on_progress: ProgressCallback | None = None,
                 timeout: float | None = limits.DEFAULT_FILE_TIMEOUT) -> list[tuple[Verdict, float]]:
    """Verdicts (and seconds spent) for `paths`, in the same order, with up to `jobs` worker processes."""
    with VerificationPool(anchors, min(jobs, len(paths)), tsa_anchors=tsa_anchors, lists=lists, recovery=recovery,
                          timeout=timeout) as pool:
        return pool.verify(paths, on_progress)


def _crashed(path: Path, anchors: TrustAnchors | None) -> Verdict:
    return Verdict(str(path), Outcome.ERROR, trust_anchors_given=anchors is not None,
                   error=f"{path}: the verifier process crashed while checking this file")


def _timed_out(path: Path, anchors: TrustAnchors | None, timeout: float) -> Verdict:
    return Verdict(str(path), Outcome.ERROR, trust_anchors_given=anchors is not None,
                   error=f"{path}: verification took longer than the {timeout:g} s limit (--file-timeout)")


def _relabel(verdict: Verdict, candidate: Candidate) -> Verdict:
    """Show the root-relative path in the verdict and its error message."""
    error = verdict.error.replace(str(candidate.path), candidate.display) if verdict.error else None
    return replace(verdict, path=candidate.display, error=error)


AnchorSource = TrustAnchors | str | os.PathLike[str] | None  # loaded anchors, a PEM file to load, or none given


def _choose_anchors(given: AnchorSource, from_policy: Path | None, default_file: Path | None) -> TrustAnchors | None:
    """The trust anchors that count: `given` (read when it is a path), else the policy's file, else
    `default_file` when it exists, else None."""
    from provenance.trust.anchors import load_anchors, load_default

    if isinstance(given, TrustAnchors):
        return given
    if given is not None:
        return load_anchors(given)
    if from_policy is not None:
        return load_anchors(from_policy)
    return load_default(default_file) if default_file is not None else None


def check(paths: Sequence[Path], *, root: Path, policy: Policy, anchors: AnchorSource = None,
          tsa_anchors: AnchorSource = None, allowed_signers: Iterable[str] = (), user_defaults: bool = False,
          default_lists: bool = False, jobs: int | None = None, include: Sequence[str] = (),
          exclude: Sequence[str] = (),
          recovery: RecoverySource | None = None, on_start: Callable[[int], None] | None = None,
          on_progress: ProgressCallback | None = None,
          timeout: float | None = limits.DEFAULT_FILE_TIMEOUT, pool: PoolFactory | None = None) -> CheckReport:
    """Check every media file under `paths` against `policy`; results sorted by path.

    `anchors` and `tsa_anchors` (loaded, or files to load) override the policy's trust_anchors and
    tsa_trust_anchors; with `user_defaults`, the per-user default files are used where neither gives
    any; with `default_lists`, the official trust lists in force when no anchors of either kind are
    found (provenance.trust.lists). `allowed_signers` (SHA-256 fingerprints) add to the policy's. With
    `recovery`, files whose credentials are gone are looked up in that manifest repository. A file that
    takes longer than `timeout` seconds (None or 0: no limit) is an `error`; `jobs` None or 0 means one
    per core. `pool` makes the pool that verifies the files instead of `jobs` local processes, e.g.
    `provenance.check.cluster.cluster_pool(address)` for a Dask cluster: the report is the same.
    Raises UsageError/PolicyError for bad arguments; never for a bad media file (that
    becomes a violation).
    """
    from provenance.trust.anchors import default_anchors_path, default_tsa_anchors_path, parse_fingerprints
    from provenance.trust.lists import lists_for

    started = time.perf_counter()
    extra_signers = parse_fingerprints(allowed_signers)
    if extra_signers:
        policy = replace(policy, allowed_fingerprints=policy.allowed_fingerprints | extra_signers)
    anchors = _choose_anchors(anchors, policy.trust_anchors, default_anchors_path() if user_defaults else None)
    tsa_anchors = _choose_anchors(tsa_anchors, policy.tsa_trust_anchors,
                                 default_tsa_anchors_path() if user_defaults else None)
    lists = lists_for(anchors, tsa_anchors, enabled=default_lists)
    ruleset: RuleSet = compile_policy(policy, anchors_given=anchors is not None, lists_in_force=lists is not None)
    workers = (pool(anchors, tsa_anchors, lists, recovery, timeout) if pool is not None else
               VerificationPool(anchors, jobs or default_jobs(), tsa_anchors=tsa_anchors, lists=lists,
                                recovery=recovery, timeout=timeout))
    with workers:
        candidates = discover(paths, root=root, include=include, exclude=exclude)
        if on_start:
            on_start(len(candidates))
        readable = [c.path for c in candidates if c.error is None]
        verdicts = dict(zip(readable, workers.verify(readable, on_progress), strict=True))
    results = []
    for candidate in candidates:
        if candidate.error is not None:
            verdict = Verdict(candidate.display, Outcome.ERROR, error=f"{candidate.display}: {candidate.error}",
                              trust_anchors_given=anchors is not None)
            seconds = 0.0
            if on_progress:
                on_progress(1)
        else:
            raw, seconds = verdicts[candidate.path]
            verdict = _relabel(raw, candidate)
        evaluation = ruleset.evaluate(candidate.display, verdict)
        results.append(FileResult(candidate.display, verdict, evaluation.violations, evaluation.exempt, seconds))
    return CheckReport(
        root=Path(os.path.abspath(root)),
        policy=policy,
        results=tuple(sorted(results, key=lambda r: r.path)),
        rules=tuple(rule.info.id for rule in ruleset.rules),
        trust_anchors=anchors.source if anchors is not None else None,
        tsa_trust_anchors=tsa_anchors.source if tsa_anchors is not None else None,
        seconds=time.perf_counter() - started,
        trust_lists=lists,
    )
