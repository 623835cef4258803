"""The long run's summary (`make fuzz`): executions per target, findings, and coverage of the fuzzed modules.

    python -m tests.fuzz.report [COVERAGE_DATA_FILE]

Reads .fuzz-corpus/stats/*.json (written by the pytest lane and the atheris harness) and coverage.py's
data file (default .fuzz-corpus/.coverage). Exits 1 when any target recorded a new finding.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .harness import CORPUS, STATS, summary_lines
from .known import KNOWN

FUZZED_MODULES = tuple(f"provenance/{m}" for m in (
    "verify.py",
    "_fast/verify.py",
    "_formats/jumbf.py",
    "_formats/bmff.py",
    "_formats/boxes.py",
    "_formats/cose.py",
    "_fast/bmffhash.py",
    "media.py",
    "trust/anchors.py",
    "trust/timestamp.py",
    "check/policy.py",
    "durability/resolution_api.py",
    "durability/repository/interface.py",
    "durability/repository/sqlite.py",
    "durability/recovery.py",
    "durability/softbinding.py",
))


def _stats() -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for path in sorted(STATS.glob("*.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def _coverage(data_file: Path) -> None:
    if not data_file.is_file():
        print(f"(no coverage data at {data_file})")
        return
    import coverage

    cov = coverage.Coverage(data_file=str(data_file))
    cov.load()
    root = Path(__file__).resolve().parents[2]
    measured = {str(Path(f).resolve()) for f in cov.get_data().measured_files()}
    include = [str(root / m) for m in FUZZED_MODULES if str(root / m) in measured]
    missing = [m for m in FUZZED_MODULES if str(root / m) not in measured]
    cov.report(include=include, file=sys.stdout)
    for name in missing:
        print(f"{name}: not imported by any target")


def main(argv: list[str]) -> int:
    data_file = Path(argv[0]) if argv else CORPUS / ".coverage"
    stats = _stats()
    print("\n== fuzz summary: executions per target ==")
    for line in summary_lines(stats):
        print(line)
    new = [(name, f) for name, s in sorted(stats.items()) for f in s["findings"]]
    known_hits = {k: sum(s["known"].get(k, 0) for s in stats.values()) for k in (k.id for k in KNOWN)}
    print(f"\n== unhandled exceptions and wrong verdicts: {len(new)} new, "
          f"{sum(1 for v in known_hits.values() if v)} known finding(s) hit ==")
    for name, finding in new:
        print(f"  NEW  {name}: {finding}")
    for known in KNOWN:
        print(f"  known {known.id}: hit {known_hits[known.id]} times - {known.summary}")
    print("\n== coverage (coverage.py --branch) of the fuzzed modules ==")
    _coverage(data_file)
    print(f"\ncorpus and findings: {CORPUS}")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
