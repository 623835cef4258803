"""How fast the manifest repository finds a copy's manifest among 100 000 stored manifests.

Fills a fresh repository (SQLite, and PostgreSQL with --postgres) with N manifests' worth of random
256-bit Video-Codes, as signing stores them: each manifest has its whole-clip code and one code per
2-second segment, the segment count that of a clip lasting between --seconds MIN and MAX (default
3–20 s, as in bench/durability.py: about 12 codes per manifest). Then it times lookups through
`Repository.match` (the path `verify` and the resolution API use), each with as many codes as a
real copy's lookup sends (its whole-clip code and QUERY_SEGMENTS window codes):

- re-encoded copy: the whole-clip code and every window within MATCH_THRESHOLD bits of the stored
  ones (must be found: the whole-clip code is within the index's exact reach);
- trimmed copy: the whole-clip code far off (60 bits), 6 windows within MATCH_THRESHOLD bits of
  stored segments (in each of its 2 runs of windows, the one lined up with a segment and its two
  40 ms neighbours) and the rest random (found when one window's band agrees: always within
  EXACT_REACH bits, mostly beyond; the recall is printed);
- unrelated clip: every code random (must find nothing).

The baseline, measured in the same run on the same rows, is the obvious way without the band index:
read every stored code and compute its distance to every code of the query. Every indexed answer
is checked against the baseline's for the first --checked queries of each kind (the baseline takes
seconds per query). Target: ≤ 50 ms per query at 100 000 manifests.

    python bench/repository_lookup.py [--manifests 100000] [--seconds 3 20] [--queries 200] [--postgres]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provenance.durability.repository import Entry, Repository  # noqa: E402
from provenance.durability.repository.interface import EXACT_REACH, INDEX_REACH  # noqa: E402
from provenance.durability.repository.postgres import PostgresRepository  # noqa: E402
from provenance.durability.repository.sqlite import SqliteRepository  # noqa: E402
from provenance.durability.softbinding import (  # noqa: E402
    ALG,
    FRAMES_PER_SECOND,
    MATCH_THRESHOLD,
    QUERY_SEGMENTS,
    Segment,
    SoftBinding,
    hamming,
    stored_positions,
)

TARGET_MS = 50.0
_BATCH = 5000
ALIGNED_WINDOWS = 6  # a trimmed copy's windows near a segment: 3 in each of its 2 runs


@dataclass(frozen=True)
class Stored:
    whole: bytes
    segments: tuple[bytes, ...]


def video_unit(body: bytes) -> str:
    import iscc_core as ic

    code: str = ic.encode_component(mtype=ic.MT.CONTENT, stype=ic.ST_CC.VIDEO, version=ic.VS.V0,
                                    bit_length=256, digest=body)
    return "ISCC:" + code


def manifests(count: int, seconds: tuple[float, float], rng: random.Random) -> list[Stored]:
    out = []
    for _ in range(count):
        frames = round(rng.uniform(*seconds) * FRAMES_PER_SECOND)
        out.append(Stored(rng.randbytes(32), tuple(rng.randbytes(32) for _ in stored_positions(frames))))
    return out


def fill(repo: Repository, stored: list[Stored]) -> float:
    start = time.perf_counter()
    for first in range(0, len(stored), _BATCH):
        repo.add_many(
            Entry(f"urn:bench:{i}", SoftBinding((video_unit(m.whole),)).value, "00" * 32, b"bench",
                  segments=tuple(Segment(1000 * n, 1000 * n + 2000, video_unit(code))
                                 for n, code in enumerate(m.segments)))
            for i, m in enumerate(stored[first : first + _BATCH], start=first))
    return time.perf_counter() - start


def brute_force(repo: Repository) -> Callable[[Sequence[bytes]], list[tuple[str, int]]]:
    """The baseline: every stored code read and compared with every code of the query."""
    if isinstance(repo, SqliteRepository):
        sql = "SELECT m.manifest_id, c.code FROM codes c JOIN manifests m ON m.id = c.entry"
    else:
        sql = ("SELECT m.manifest_id, c.code FROM provenance_codes c"
               " JOIN provenance_manifests m ON m.id = c.entry")

    def search(codes: Sequence[bytes]) -> list[tuple[str, int]]:
        rows = repo._query(sql, ())  # type: ignore[attr-defined]  # noqa: SLF001 - read directly on purpose
        query = [int.from_bytes(c, "big") for c in codes]
        best: dict[str, int] = {}
        for mid, stored in rows:
            value = int.from_bytes(bytes(stored), "big")
            distance = min((value ^ q).bit_count() for q in query)
            if distance <= MATCH_THRESHOLD and distance < best.get(str(mid), MATCH_THRESHOLD + 1):
                best[str(mid)] = distance
        return sorted(best.items())

    return search


def near(code: bytes, bits: int, rng: random.Random) -> bytes:
    value = int.from_bytes(code, "big")
    for bit in rng.sample(range(256), bits):
        value ^= 1 << bit
    return value.to_bytes(32, "big")


def reencoded(m: Stored, rng: random.Random) -> list[bytes]:
    windows = [near(c, rng.randint(0, MATCH_THRESHOLD), rng) for c in m.segments[:QUERY_SEGMENTS]]
    return [near(m.whole, rng.randint(0, MATCH_THRESHOLD), rng), *windows]


def trimmed(m: Stored, rng: random.Random) -> list[bytes]:
    aligned = [near(c, rng.randint(0, MATCH_THRESHOLD), rng)
               for c in rng.sample(m.segments, min(ALIGNED_WINDOWS, len(m.segments)))]
    others = [rng.randbytes(32) for _ in range(QUERY_SEGMENTS - len(aligned))]
    return [near(m.whole, 60, rng), *aligned, *others]


def unrelated(rng: random.Random) -> list[bytes]:
    return [rng.randbytes(32) for _ in range(QUERY_SEGMENTS + 1)]


def timed_ms(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


def run(name: str, repo: Repository, stored: list[Stored], queries: int, checked: int,
        rng: random.Random) -> bool:
    print(f"\n{name}: {repo.location}")
    seconds = fill(repo, stored)
    codes = sum(1 + len(m.segments) for m in stored)
    print(f"  filled {repo.count()} manifests, {codes} Video-Codes ({codes / len(stored):.1f} per manifest) "
          f"in {seconds:.0f} s")
    baseline = brute_force(repo)
    picks = [rng.randrange(len(stored)) for _ in range(queries)]
    cases: list[tuple[str, str | None, list[bytes]]] = []
    cases += [("re-encoded copy", f"urn:bench:{i}", reencoded(stored[i], rng)) for i in picks]
    cases += [("trimmed copy", f"urn:bench:{i}", trimmed(stored[i], rng)) for i in picks]
    cases += [("unrelated clip", None, unrelated(rng)) for _ in range(queries)]
    repo.match(ALG, SoftBinding(tuple(video_unit(c) for c in cases[0][2])).value)  # warm the caches once
    indexed: dict[str, list[float]] = {}
    scanned: dict[str, list[float]] = {}
    found: dict[str, int] = {}
    answers = []
    wrong = 0
    for kind, _owner, query in cases:
        value = SoftBinding(tuple(video_unit(c) for c in query)).value
        ms, result = timed_ms(lambda value=value: repo.match(ALG, value, 100))  # type: ignore[misc]
        indexed.setdefault(kind, []).append(ms)
        answers.append({m.manifest_id: m.distance for m in result})  # type: ignore[attr-defined]
    # The full scans come after every timed lookup: each reads all 1.2 million codes, which would
    # leave the next timed lookup a cold cache no real workload gives it.
    for (kind, owner, query), got in zip(cases, answers, strict=True):
        found[kind] = found.get(kind, 0) + (owner in got)
        if kind == "re-encoded copy" and owner not in got:
            wrong += 1  # within the exact reach of the whole-clip code: must be found
        if kind == "unrelated clip" and got:
            wrong += 1
        if len(scanned.get(kind, [])) < checked:
            base_ms, expected = timed_ms(lambda query=query: baseline(query))  # type: ignore[misc]
            scanned.setdefault(kind, []).append(base_ms)
            scan = dict(expected)  # type: ignore[call-overload]
            # Never a match the scan does not report; every one the index guarantees.
            wrong += any(scan.get(mid) != d for mid, d in got.items())
            wrong += any(mid not in got for mid in scan if guaranteed(query, codes_of(stored, mid)))
    ok = wrong == 0
    for kind in indexed:
        med, p95 = statistics.median(indexed[kind]), statistics.quantiles(indexed[kind], n=20)[-1]
        base = statistics.median(scanned[kind])
        ok = ok and p95 <= TARGET_MS
        recall = "" if kind == "unrelated clip" else f", own manifest found {found[kind]}/{queries}"
        print(f"  {kind:>16}: median {med:6.2f} ms, p95 {p95:6.2f} ms (target ≤ {TARGET_MS:.0f} ms) | "
              f"full scan median {base:7.0f} ms = {base / med:6.0f}x slower{recall}")
    print(f"  answers differing from the full scan: {wrong} (checked {sum(map(len, scanned.values()))} queries)")
    return ok


def codes_of(stored: list[Stored], manifest_id: str) -> list[bytes]:
    m = stored[int(manifest_id.rsplit(":", 1)[1])]
    return [m.whole, *m.segments]


def guaranteed(query: Sequence[bytes], codes: Sequence[bytes]) -> bool:
    """Whether the index must find a manifest with these codes (repository.base: exact reaches)."""
    first, windows = query[0], query[1:]
    return (min(hamming(first, c) for c in codes) <= MATCH_THRESHOLD
            or any(hamming(w, c) <= EXACT_REACH for w in windows for c in codes))


@contextmanager
def sqlite_repo() -> Iterator[Repository]:
    with tempfile.TemporaryDirectory() as tmp, SqliteRepository(Path(tmp) / "bench.sqlite3") as repo:
        yield repo


@contextmanager
def postgres_repo(shared_buffers: str) -> Iterator[Repository]:
    from tests.support.postgres import throwaway_server

    with throwaway_server({"shared_buffers": shared_buffers}) as url, PostgresRepository(url) as repo:
        yield repo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifests", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, nargs=2, default=(3.0, 20.0), metavar=("MIN", "MAX"),
                        help="clip durations the segment counts are drawn from")
    parser.add_argument("--queries", type=int, default=200, help="queries of each kind")
    parser.add_argument("--checked", type=int, default=20, help="queries of each kind checked by a full scan")
    parser.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL server")
    parser.add_argument("--skip-sqlite", action="store_true", help="only PostgreSQL (with --postgres)")
    parser.add_argument("--shared-buffers", default="128MB",
                        help="the PostgreSQL server's shared_buffers (default: PostgreSQL's own default, smaller "
                             "than the band index of 100 000 manifests)")
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    stored = manifests(args.manifests, tuple(args.seconds), rng)
    print(f"{args.manifests} manifests of random 256-bit Video-Codes (clips of {args.seconds[0]:g}–"
          f"{args.seconds[1]:g} s), {args.queries} queries of each kind with up to {QUERY_SEGMENTS + 1} codes, "
          f"match threshold {MATCH_THRESHOLD} bits (exact reach {INDEX_REACH} for the whole-clip code, "
          f"{EXACT_REACH} for windows)")
    ok = True
    if not args.skip_sqlite:
        with sqlite_repo() as repo:
            ok = run("SQLite", repo, stored, args.queries, args.checked, rng) and ok
    if args.postgres:
        with postgres_repo(args.shared_buffers) as repo:
            ok = run(f"PostgreSQL (shared_buffers {args.shared_buffers})", repo, stored, args.queries, args.checked,
                     rng) and ok
    print("\nresult:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
