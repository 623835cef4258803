"""What every fuzz target shares: its budget, its hypothesis settings, and the record of what it ran.

Two lanes. The bounded lane (the default, part of `make test`) runs each target a fixed, small number of
derandomized examples, so CI sees the same inputs on every run. The long lane is selected by
PROVENANCE_FUZZ_EXAMPLES=N (`make fuzz`): N executions in all, shared between the targets by weight
(cheap targets get more), random, with hypothesis' example database under .fuzz-corpus/ (gitignored) so
every failing input found is kept and replayed first on the next run.

Each execution goes through `execution(target, ...)`, which counts it, times it, and, on the final
replay of a failing example (hypothesis' minimal one), writes the input and the traceback to
.fuzz-corpus/findings/. An exception that matches a known finding (tests/fuzz/known.py: reported, not yet
fixed, in a module this harness may not change) is counted as known and not raised, so the lane keeps
looking for new ones; tests/fuzz/test_findings.py keeps each known finding's reproducer.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("PROVENANCE_FUZZ_CORPUS", ROOT / ".fuzz-corpus"))
FINDINGS = CORPUS / "findings"
STATS = CORPUS / "stats"
EXAMPLES_ENV = "PROVENANCE_FUZZ_EXAMPLES"

# target → (examples in the bounded lane, weight in the long lane). The bounded lane totals well under a
# minute on 2 cores; in the long lane a weight-w target gets w/sum(weights) of the executions.
TARGETS: dict[str, tuple[int, int]] = {
    "verify.mp4": (100, 40),
    "verify.mov": (30, 15),
    "verify.fmp4": (30, 15),
    "verify.avi": (30, 15),
    "verify.webm": (25, 10),
    "verify.webm-sidecar": (30, 15),
    "verify.mp4-store": (100, 40),
    "verify.manifest-cbor": (100, 40),
    "verify.mp4-timestamp": (40, 30),
    "readers.store-bytes": (500, 150),
    "readers.jumbf": (300, 150),
    "readers.jumbf-structured": (200, 100),
    "readers.x5chain": (200, 80),
    "readers.top-level-boxes": (300, 100),
    "readers.shifted-box": (300, 150),
    "readers.hash-binding": (200, 100),
    "policy.text": (300, 80),
    "policy.table": (300, 100),
    "policy.pyproject": (150, 40),
    "api.by-binding-get": (100, 50),
    "api.by-binding-post": (100, 50),
    "api.manifest-get": (80, 30),
    "api.manifest-post": (80, 40),
    "api.by-content": (12, 4),
    "atheris.readers": (0, 400),  # the coverage-guided run of the readers (`make fuzz` only)
}


def long_run_total() -> int | None:
    value = os.environ.get(EXAMPLES_ENV, "").strip()
    return int(value) if value else None


def examples(target: str) -> int:
    bounded, weight = TARGETS[target]
    total = long_run_total()
    if total is None:
        return bounded
    return max(1, round(total * weight / sum(w for _, w in TARGETS.values())))


def fuzz_settings(target: str) -> settings:
    """Settings for one target's @given test in the current lane."""
    common: dict[str, Any] = {
        "max_examples": examples(target),
        "deadline": None,
        "suppress_health_check": list(HealthCheck),
        "print_blob": True,  # the failure report carries a @reproduce_failure blob as well as the example
    }
    if long_run_total() is None:
        return settings(derandomize=True, database=None, **common)
    return settings(derandomize=False, database=DirectoryBasedExampleDatabase(CORPUS / "hypothesis"),
                    phases=tuple(Phase), **common)


@dataclass
class Stats:
    executions: int = 0
    seconds: float = 0.0
    known: dict[str, int] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)  # files under FINDINGS


STATS_BY_TARGET: dict[str, Stats] = {}


def _is_final() -> bool:
    """Whether hypothesis is replaying its minimal failing example (the one it reports)."""
    try:
        from hypothesis.control import current_build_context

        return bool(current_build_context().is_final)
    except Exception:  # outside a hypothesis test (a plain regression test)
        return False


def record_finding(target: str, describe: Callable[[], str], blob: bytes | None, error: BaseException) -> Path:
    """Write one failing input (its description and, when it is bytes, the bytes) and the traceback."""
    text = "".join(traceback.format_exception(error))
    digest = hashlib.sha256(text.encode() + (blob or b"")).hexdigest()[:12]
    folder = FINDINGS / target
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.txt"
    path.write_text(f"target: {target}\ninput: {describe()}\n\n{text}", encoding="utf-8")
    if blob is not None:
        (folder / f"{digest}.bin").write_bytes(blob)
    return path


@contextmanager
def execution(target: str, describe: Callable[[], str] = lambda: "(see the falsifying example)",
              blob: Callable[[], bytes | None] = lambda: None) -> Iterator[None]:
    """One execution of `target`: counted, timed, a failure recorded, a known finding set aside."""
    from .known import match

    stats = STATS_BY_TARGET.setdefault(target, Stats())
    stats.executions += 1
    start = time.perf_counter()
    try:
        yield
    except Exception as error:
        known = match(error)
        if known is not None:
            stats.known[known] = stats.known.get(known, 0) + 1
            return
        if _is_final():
            stats.findings.append(str(record_finding(target, describe, blob(), error)))
        raise
    finally:
        stats.seconds += time.perf_counter() - start


def write_stats(path: Path) -> None:
    STATS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({name: {"executions": s.executions, "seconds": round(s.seconds, 3),
                                       "known": s.known, "findings": s.findings}
                                for name, s in sorted(STATS_BY_TARGET.items())}, indent=2), encoding="utf-8")


def summary_lines(stats: dict[str, dict[str, Any]]) -> list[str]:
    """A table: executions, executions per second, known findings hit and new findings per target."""
    lines = [f"{'target':<28} {'executions':>10} {'exec/s':>9} {'known':>6} {'new':>4}"]
    total = 0
    for name, s in sorted(stats.items()):
        rate = s["executions"] / s["seconds"] if s["seconds"] else 0.0
        total += s["executions"]
        lines.append(f"{name:<28} {s['executions']:>10} {rate:>9.1f} {sum(s['known'].values()):>6} "
                     f"{len(s['findings']):>4}")
    lines.append(f"{'total':<28} {total:>10}")
    return lines
