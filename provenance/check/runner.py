"""Run `provenance check`: find media, verify it in worker processes, apply the policy.

Each worker process builds one `Verifier` and verifies chunks of files; results
are put back in path order whatever order the workers finish in.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..trust import TrustAnchors
from ..verdict import Outcome, Verdict
from .policy import Policy
from .rules import RuleSet, Violation, compile_policy
from .walk import Candidate, discover

if TYPE_CHECKING:
    from ..recovery import Recoverer
    from ..verify import Verifier

ProgressCallback = Callable[[int], None]  # called with the number of files just finished


@dataclass(frozen=True)
class FileResult:
    path: str  # root-relative with forward slashes (absolute when outside the root)
    verdict: Verdict
    violations: tuple[Violation, ...] = ()
    exempt: bool = False
    seconds: float = 0.0

    @property
    def status(self) -> str:
        if self.exempt:
            return "exempt"
        return "fail" if self.violations else "pass"


@dataclass(frozen=True)
class CheckReport:
    root: Path
    policy: Policy
    results: tuple[FileResult, ...]
    rules: tuple[str, ...]  # ids of the rules the policy turned on
    trust_anchors: str | None = None  # where the anchors came from
    tsa_trust_anchors: str | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "fail"]

    @property
    def passed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "pass"]

    @property
    def exempt(self) -> list[FileResult]:
        return [r for r in self.results if r.exempt]

    @property
    def violation_count(self) -> int:
        return sum(len(r.violations) for r in self.results)

    @property
    def ok(self) -> bool:
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

    def open(self, verifier: Verifier) -> Recoverer | None:
        from ..recovery import open_recoverer

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


def _new_verifier(anchors: TrustAnchors | None, tsa_anchors: TrustAnchors | None) -> Verifier:
    from ..verify import Verifier

    return Verifier(anchors, tsa_anchors=tsa_anchors)


def _init_worker(anchors: TrustAnchors | None, tsa_anchors: TrustAnchors | None,
                 recovery: RecoverySource | None) -> None:
    """Runs once per worker process: one Verifier (and Recoverer), heavy modules loaded up front."""
    global _worker_verifier, _worker_recoverer
    import c2pa  # noqa: F401  (loaded now, while the parent is still walking the tree)
    import cryptography.x509  # noqa: F401

    _worker_verifier = _new_verifier(anchors, tsa_anchors)
    _worker_recoverer = recovery.open(_worker_verifier) if recovery is not None else None


def _warm_up() -> None:
    """A no-op task whose only effect is to make the pool start its workers now."""


def _verify_one(verifier: Verifier, path: Path, recoverer: Recoverer | None = None) -> tuple[Verdict, float]:
    from ..errors import ProvenanceError

    start = time.perf_counter()
    try:
        verdict = verifier.verify(path)
    except Exception as e:  # a verifier bug must fail this file, not the whole run
        verdict = Verdict(str(path), Outcome.ERROR, error=f"{path}: verification failed: {type(e).__name__}: {e}",
                          trust_anchors_given=verifier.anchors is not None)
    if recoverer is not None:
        # Recovery only adds information; if the repository fails the file is judged without it (fail closed).
        with contextlib.suppress(ProvenanceError):
            verdict = recoverer.recover(verdict)
    return verdict, time.perf_counter() - start


def _verify_chunk(paths: list[Path]) -> list[tuple[Verdict, float]]:
    assert _worker_verifier is not None, "worker not initialised"
    return [_verify_one(_worker_verifier, p, _worker_recoverer) for p in paths]


# ---- parent side ---------------------------------------------------------------------------------

def _chunks(items: list[Path], jobs: int) -> list[list[Path]]:
    # Small enough to balance the load at the end and move the progress bar, big enough to keep IPC cheap.
    size = max(1, min(16, len(items) // (jobs * 16)))
    return [items[i:i + size] for i in range(0, len(items), size)]


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork is the cheapest start on Linux; the parent has no threads and has not loaded c2pa's library.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


class VerificationPool:
    """Verifies files in `jobs` worker processes (in this process when jobs is 1).

    Entering the pool starts a couple of workers at once, so they load c2pa while
    the caller is still finding the files; the others start when work is submitted
    (so checking one file on a many-core machine does not start a process per core).
    """

    warm_workers = 2

    def __init__(self, anchors: TrustAnchors | None, jobs: int, *, tsa_anchors: TrustAnchors | None = None,
                 recovery: RecoverySource | None = None) -> None:
        self.anchors = anchors
        self.tsa_anchors = tsa_anchors
        self.recovery = recovery
        self.jobs = max(1, jobs)
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> VerificationPool:
        if self.jobs > 1:
            self._executor = ProcessPoolExecutor(max_workers=self.jobs, mp_context=_pool_context(),
                                                 initializer=_init_worker,
                                                 initargs=(self.anchors, self.tsa_anchors, self.recovery))
            for _ in range(min(self.jobs, self.warm_workers)):
                self._executor.submit(_warm_up)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._executor is not None:
            # On an error or Ctrl-C, drop the queued work instead of finishing it.
            self._executor.shutdown(wait=True, cancel_futures=exc[0] is not None)
            self._executor = None

    def verify(self, paths: Sequence[Path], on_progress: ProgressCallback | None = None,
               ) -> list[tuple[Verdict, float]]:
        """Verdicts (and seconds spent on each) for `paths`, in the same order."""
        items = list(paths)
        if self._executor is None:
            verifier = _new_verifier(self.anchors, self.tsa_anchors)
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

        results: dict[Path, tuple[Verdict, float]] = {}
        futures: dict[Future[list[tuple[Verdict, float]]], list[Path]] = {
            self._executor.submit(_verify_chunk, chunk): chunk for chunk in _chunks(items, self.jobs)
        }
        for future in as_completed(futures):
            chunk = futures[future]
            try:
                done = future.result()
            except BrokenProcessPool:  # a worker died (e.g. a crash in native code): fail closed
                done = [(_crashed(p, self.anchors), 0.0) for p in chunk]
            results.update(zip(chunk, done, strict=True))
            if on_progress:
                on_progress(len(chunk))
        return [results[p] for p in items]


def verify_files(paths: Sequence[Path], anchors: TrustAnchors | None, *, jobs: int,
                 tsa_anchors: TrustAnchors | None = None, recovery: RecoverySource | None = None,
                 on_progress: ProgressCallback | None = None) -> list[tuple[Verdict, float]]:
    """Verdicts (and seconds spent) for `paths`, in the same order, with up to `jobs` worker processes."""
    with VerificationPool(anchors, min(jobs, len(paths)), tsa_anchors=tsa_anchors, recovery=recovery) as pool:
        return pool.verify(paths, on_progress)


def _crashed(path: Path, anchors: TrustAnchors | None) -> Verdict:
    return Verdict(str(path), Outcome.ERROR, trust_anchors_given=anchors is not None,
                   error=f"{path}: the verifier process crashed while checking this file or one near it")


def _relabel(verdict: Verdict, candidate: Candidate) -> Verdict:
    """Show the root-relative path in the verdict and its error message."""
    error = verdict.error.replace(str(candidate.path), candidate.display) if verdict.error else None
    return replace(verdict, path=candidate.display, error=error)


def check(paths: Sequence[Path], *, root: Path, policy: Policy, anchors: TrustAnchors | None = None,
          tsa_anchors: TrustAnchors | None = None, jobs: int | None = None, include: Sequence[str] = (),
          exclude: Sequence[str] = (), recovery: RecoverySource | None = None,
          on_start: Callable[[int], None] | None = None, on_progress: ProgressCallback | None = None,
          ) -> CheckReport:
    """Check every media file under `paths` against `policy`; results sorted by path.

    `anchors` and `tsa_anchors` override the policy's trust_anchors and tsa_trust_anchors. With
    `recovery`, files whose credentials are gone are looked up in that manifest repository.
    Raises UsageError/PolicyError for bad arguments; never for a bad media file (that
    becomes a violation).
    """
    from ..trust import load_anchors

    started = time.perf_counter()
    if anchors is None and policy.trust_anchors is not None:
        anchors = load_anchors(policy.trust_anchors)
    if tsa_anchors is None and policy.tsa_trust_anchors is not None:
        tsa_anchors = load_anchors(policy.tsa_trust_anchors)
    ruleset: RuleSet = compile_policy(policy, anchors_given=anchors is not None)
    with VerificationPool(anchors, jobs or default_jobs(), tsa_anchors=tsa_anchors, recovery=recovery) as pool:
        candidates = discover(paths, root=root, include=include, exclude=exclude)
        if on_start:
            on_start(len(candidates))
        readable = [c.path for c in candidates if c.error is None]
        verdicts = dict(zip(readable, pool.verify(readable, on_progress), strict=True))
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
    )
