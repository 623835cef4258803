"""How fast the manifest repository finds the nearest ISCC Video-Code among 100 000 stored codes.

Fills a fresh repository (SQLite, and PostgreSQL with --postgres) with N random 256-bit Video-Codes,
then times two kinds of query through `Repository.match` (the path `verify` and the resolution API
use): a stored code with up to MATCH_THRESHOLD bits flipped (must be found), and a random code
(must find nothing). The baseline, measured in the same run on the same rows, is the obvious way
without the band index: read every stored code and compute each distance. Every indexed answer is
checked against the baseline's. Target: ≤ 50 ms per query at 100 000 codes.

    python bench/repository_lookup.py [--codes 100000] [--queries 200] [--postgres]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provenance.repository import Entry, Repository  # noqa: E402
from provenance.repository.postgres import PostgresRepository  # noqa: E402
from provenance.repository.sqlite import SqliteRepository  # noqa: E402
from provenance.softbinding import ALG, MATCH_THRESHOLD, SoftBinding, hamming  # noqa: E402

TARGET_MS = 50.0
_BATCH = 5000


def video_unit(body: bytes) -> str:
    import iscc_core as ic

    code: str = ic.encode_component(mtype=ic.MT.CONTENT, stype=ic.ST_CC.VIDEO, version=ic.VS.V0,
                                    bit_length=256, digest=body)
    return "ISCC:" + code


def fill(repo: Repository, codes: list[bytes]) -> float:
    start = time.perf_counter()
    for first in range(0, len(codes), _BATCH):
        repo.add_many(
            Entry(f"urn:bench:{i}", SoftBinding((video_unit(code),)).value, "00" * 32, b"bench")
            for i, code in enumerate(codes[first : first + _BATCH], start=first))
    return time.perf_counter() - start


def brute_force(repo: Repository) -> Callable[[bytes], list[tuple[str, int]]]:
    """The baseline: every stored code read and compared."""
    if isinstance(repo, SqliteRepository):
        sql = "SELECT manifest_id, video_code FROM manifests"
    else:
        sql = "SELECT manifest_id, video_code FROM provenance_manifests"

    def search(code: bytes) -> list[tuple[str, int]]:
        rows = repo._query(sql, ())  # noqa: SLF001 - the benchmark reads the rows directly on purpose
        found = [(str(mid), hamming(code, bytes(stored))) for mid, stored in rows]
        return sorted((m, d) for m, d in found if d <= MATCH_THRESHOLD)

    return search


def near(code: bytes, bits: int, rng: random.Random) -> bytes:
    value = int.from_bytes(code, "big")
    for bit in rng.sample(range(256), bits):
        value ^= 1 << bit
    return value.to_bytes(32, "big")


def timed_ms(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


def run(name: str, repo: Repository, codes: list[bytes], queries: int, rng: random.Random) -> bool:
    print(f"\n{name}: {repo.location}")
    seconds = fill(repo, codes)
    print(f"  filled {repo.count()} codes in {seconds:.1f} s")
    baseline = brute_force(repo)
    cases = [("near a stored code", near(rng.choice(codes), rng.randint(0, MATCH_THRESHOLD), rng))
             for _ in range(queries)]
    cases += [("random code", rng.randbytes(32)) for _ in range(queries)]
    repo.match(ALG, SoftBinding((video_unit(cases[0][1]),)).value)  # warm the caches once
    indexed: dict[str, list[float]] = {}
    scanned: dict[str, list[float]] = {}
    wrong = 0
    for kind, code in cases:
        value = SoftBinding((video_unit(code),)).value
        ms, matches = timed_ms(lambda value=value: repo.match(ALG, value, 100))  # type: ignore[misc]
        indexed.setdefault(kind, []).append(ms)
        base_ms, expected = timed_ms(lambda code=code: baseline(code))  # type: ignore[misc]
        scanned.setdefault(kind, []).append(base_ms)
        got = sorted((m.manifest_id, m.distance) for m in matches)  # type: ignore[attr-defined]
        wrong += got != expected
        if kind == "near a stored code" and not got:
            wrong += 1
    ok = wrong == 0
    for kind in indexed:
        med, p95 = statistics.median(indexed[kind]), statistics.quantiles(indexed[kind], n=20)[-1]
        base = statistics.median(scanned[kind])
        ok = ok and p95 <= TARGET_MS
        print(f"  {kind:>20}: median {med:6.2f} ms, p95 {p95:6.2f} ms (target ≤ {TARGET_MS:.0f} ms) | "
              f"full scan baseline median {base:7.1f} ms = {base / med:5.1f}x slower")
    print(f"  answers differing from the full scan: {wrong} of {len(cases)}")
    return ok


@contextmanager
def sqlite_repo() -> Iterator[Repository]:
    with tempfile.TemporaryDirectory() as tmp, SqliteRepository(Path(tmp) / "bench.sqlite3") as repo:
        yield repo


@contextmanager
def postgres_repo() -> Iterator[Repository]:
    from tests.postgres import throwaway_server

    with throwaway_server() as url, PostgresRepository(url) as repo:
        yield repo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codes", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL server")
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    codes = [rng.randbytes(32) for _ in range(args.codes)]
    print(f"{args.codes} random 256-bit Video-Codes, {args.queries} queries of each kind, "
          f"match threshold {MATCH_THRESHOLD} bits")
    ok = True
    with sqlite_repo() as repo:
        ok = run("SQLite", repo, codes, args.queries, rng) and ok
    if args.postgres:
        with postgres_repo() as repo:
            ok = run("PostgreSQL", repo, codes, args.queries, rng) and ok
    print("\nresult:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
