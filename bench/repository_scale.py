"""The PostgreSQL manifest repository at 10^6 manifests: ingest, size, lookups, and the band-partitioned layout.

Fills a throwaway PostgreSQL server with --manifests manifests (default 1 000 000) shaped as
bench/repository_lookup.py makes them (a whole-clip Video-Code plus one per 2-second segment of a
3–20 s clip: about 12 codes per manifest, each with 14 band keys, so about 12 million codes and
170 million band keys), in two parts:

- the seed, all but the last --tail manifests: pseudo-random codes made inside the server
  (sha256 of the row's number) and band keys derived in SQL the way `band_keys` and `sketch` derive
  them (checked against the library's own keys for the tail), loaded with the indexes and foreign
  keys built afterwards, as any bulk load does; through `add_many` the seed alone would take hours
  of client CPU on this machine (ISCC decoding, ~3 ms per manifest);
- the tail (default 40 000 manifests), through the repository's own `add_many` in transactions of
  --batch, from --writers concurrent processes (default 2) on top of the seed: the bulk-ingest rate
  of a repository that already holds 10^6 manifests.

Then it prints every table's and index's size and bytes per manifest (what 10^7 and 10^8 need,
docs/scale.md); lookup median and p95 through `Repository.match` (what verify, check and the
resolution API run) for every kind of query (a re-encoded copy, a trimmed copy, an unrelated clip,
an exact copy: its registered value with the Instance-Code; and fetching a manifest store by id;
target p95 ≤ 50 ms for every kind); then the same after `partition_by_band` rebuilds the band index
as 14 partitions, every answer compared with the one-index layout's (must be identical). The
baseline of the nearest-code lookups is a full scan of every stored code (--checked per kind; each
reads all 12 million codes).

    python bench/repository_scale.py [--manifests 1000000] [--tail 40000] [--writers 2] [--queries 200] [--cold]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import repository_lookup as lookup  # noqa: E402  (the same codes and queries)
from provenance.durability.repository import Entry  # noqa: E402
from provenance.durability.repository.interface import BAND_BITS, BANDS  # noqa: E402
from provenance.durability.repository.postgres import PostgresRepository  # noqa: E402
from provenance.durability.softbinding import (  # noqa: E402
    ALG,
    FRAMES_PER_SECOND,
    Segment,
    SoftBinding,
    stored_positions,
)

TARGET_MS = 50.0
CHUNK = 5000  # manifests generated from one seed: any manifest can be made again from its chunk's seed


def instance_unit(body: bytes) -> str:
    import iscc_core as ic

    return "ISCC:" + str(ic.encode_component(ic.MT.INSTANCE, ic.ST.NONE, ic.VS.V0, 256, body))


def chunk_manifests(seed: int, chunk: int, count: int, seconds: tuple[float, float]) -> list[lookup.Stored]:
    return lookup.manifests(count, seconds, random.Random(f"{seed}:{chunk}"))


def instance_body(index: int) -> bytes:
    return random.Random(f"instance:{index}").randbytes(32)


def entries(stored: Sequence[lookup.Stored], first: int) -> list[Entry]:
    return [Entry(f"urn:bench:{i}",
                  SoftBinding((lookup.video_unit(m.whole), instance_unit(instance_body(i)))).value,
                  f"{i % 97:064x}", b"bench manifest store " + str(i).encode(),
                  segments=tuple(Segment(1000 * n, 1000 * n + 2000, lookup.video_unit(code))
                                 for n, code in enumerate(m.segments)))
            for i, m in enumerate(stored, start=first)]


# The band keys and sketch halves of a code, in SQL: `band_keys` and `sketch` of the library.
_KEYS_SQL = f"""
INSERT INTO provenance_band_keys (band_key, code, sketch_high, sketch_low)
SELECT (b << {BAND_BITS}) | substring(c.bits FROM b * {BAND_BITS} + 1 FOR {BAND_BITS})::integer, c.id,
       substring(c.bits FROM 1 FOR 64)::bigint, substring(c.bits FROM 65 FOR 64)::bigint
FROM (SELECT id, ('x' || encode(code, 'hex'))::bit(256) AS bits FROM provenance_codes
      WHERE id BETWEEN %s AND %s) c, generate_series(0, {BANDS - 1}) b
"""


def seed(url: str, count: int, seconds: tuple[float, float], rng: random.Random) -> None:
    """`count` manifests made inside the server, indexes built afterwards."""
    started = time.perf_counter()
    per_manifest = [1 + len(stored_positions(round(rng.uniform(*seconds) * FRAMES_PER_SECOND))) for _ in range(count)]
    with PostgresRepository(url) as repo:
        db = repo._db  # noqa: SLF001 - a bulk load, on purpose below the repository's interface
        db.execute("ALTER TABLE provenance_band_keys DROP CONSTRAINT provenance_band_keys_pkey,"
                   " DROP CONSTRAINT provenance_band_keys_code_fkey")
        db.execute("CREATE TEMPORARY TABLE seed_counts (entry BIGINT, codes INTEGER)")
        with db.cursor().copy("COPY seed_counts (entry, codes) FROM STDIN") as copy:
            for i, n in enumerate(per_manifest, start=1):
                copy.write_row((i, n))
        db.execute("INSERT INTO provenance_manifests (id, manifest_id, alg, value, video_code, instance_code,"
                   " cert_sha256) SELECT entry, 'urn:seed:' || entry, %s, sha256(('v' || entry)::bytea),"
                   " sha256(('c' || entry || ':0')::bytea), sha256(('i' || entry)::bytea),"
                   " lpad(to_hex(entry %% 97), 64, '0')"
                   " FROM seed_counts", (ALG,))
        db.execute("SELECT setval('provenance_manifests_id_seq', %s)", (count,))
        db.execute("INSERT INTO provenance_manifest_stores (id, store) SELECT entry, 'seed manifest store'::bytea"
                   " FROM seed_counts")
        db.execute("INSERT INTO provenance_codes (entry, start_ms, end_ms, code)"
                   " SELECT entry, CASE WHEN n > 0 THEN 1000 * (n - 1) END, CASE WHEN n > 0 THEN 1000 * n + 1000 END,"
                   " sha256(('c' || entry || ':' || n)::bytea)"
                   " FROM seed_counts, generate_series(0, codes - 1) n ORDER BY entry, n")
        print(f"  seed: {count} manifests, {sum(per_manifest)} codes in {time.perf_counter() - started:.0f} s",
              flush=True)
        last = int(db.execute("SELECT max(id) FROM provenance_codes").fetchone()[0])
        for first in range(1, last + 1, 1_000_000):
            db.execute(_KEYS_SQL, (first, first + 999_999))
        print(f"  seed: band keys in {time.perf_counter() - started:.0f} s", flush=True)
        db.execute("ALTER TABLE provenance_band_keys ADD PRIMARY KEY (band_key, code)"
                   " INCLUDE (sketch_high, sketch_low)")
        db.execute("ALTER TABLE provenance_band_keys ADD CONSTRAINT provenance_band_keys_code_fkey"
                   " FOREIGN KEY (code) REFERENCES provenance_codes (id) ON DELETE CASCADE")
        db.execute("VACUUM (ANALYZE) provenance_manifests, provenance_manifest_stores, provenance_codes,"
                   " provenance_band_keys")
    print(f"  seed: indexes and foreign keys built, vacuumed: {time.perf_counter() - started:.0f} s in all", flush=True)


def _writer(url: str, chunks: list[int], first: int, total: int, seed: int, seconds: tuple[float, float],
            batch: int, done: multiprocessing.queues.Queue[tuple[int, float]]) -> None:
    """One writer process: its chunks of the tail, in transactions of `batch`."""
    with PostgresRepository(url) as repo:
        for chunk in chunks:
            start = first + chunk * CHUNK
            made = entries(chunk_manifests(seed, chunk, min(CHUNK, total - start), seconds), start)
            for part in range(0, len(made), batch):
                repo.add_many(made[part : part + batch])
                done.put((len(made[part : part + batch]), time.perf_counter()))


def fill(url: str, first: int, total: int, writers: int, seed: int, seconds: tuple[float, float],
         batch: int) -> None:
    """Manifests `first`..`total` through add_many, from `writers` processes at once."""
    count = total - first
    chunks = list(range((count + CHUNK - 1) // CHUNK))
    ctx = multiprocessing.get_context("fork")
    done: multiprocessing.queues.Queue[tuple[int, float]] = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(url, chunks[w::writers], first, total, seed, seconds, batch, done))
             for w in range(writers)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    written = 0
    while written < count:
        n, _ended = done.get(timeout=3600)
        written += n
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"a writer failed (exit {p.exitcode})")
    with PostgresRepository(url) as repo:
        codes = int(repo._query("SELECT count(*) FROM provenance_codes c JOIN provenance_manifests m"  # noqa: SLF001
                                " ON m.id = c.entry WHERE m.manifest_id LIKE 'urn:bench:%%'", ())[0][0])
        # The SQL-made keys must be the library's: compare on the codes add_many wrote.
        mismatched = int(repo._query(  # noqa: SLF001
            "SELECT count(*) FROM (SELECT k.band_key, k.code, k.sketch_high, k.sketch_low FROM provenance_band_keys k"
            " JOIN provenance_codes c ON c.id = k.code WHERE c.id > (SELECT max(id) FROM provenance_codes) - 20000"
            " EXCEPT SELECT (b << %s) | substring(x.bits FROM b * %s + 1 FOR %s)::integer, x.id,"
            " substring(x.bits FROM 1 FOR 64)::bigint, substring(x.bits FROM 65 FOR 64)::bigint"
            " FROM (SELECT id, ('x' || encode(code, 'hex'))::bit(256) AS bits FROM provenance_codes"
            " WHERE id > (SELECT max(id) FROM provenance_codes) - 20000) x, generate_series(0, %s) b) d",
            (BAND_BITS, BAND_BITS, BAND_BITS, BANDS - 1))[0][0])
    if mismatched:
        raise SystemExit(f"the seed's SQL band keys differ from the library's on {mismatched} keys")
    print(f"  ingest through add_many, {writers} writers, on top of {first} manifests: {count} manifests, "
          f"{codes} Video-Codes, {codes * BANDS} band keys in {elapsed:.0f} s = {count / elapsed:.0f} manifests/s, "
          f"{codes / elapsed:.0f} codes/s, {codes * BANDS / elapsed:.0f} band keys/s", flush=True)


def sizes(url: str, total: int) -> None:
    with PostgresRepository(url) as repo:
        rows = repo._query(  # noqa: SLF001
            "SELECT c.relname, c.relkind, pg_relation_size(c.oid), pg_total_relation_size(c.oid)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relname LIKE 'provenance%%' AND c.relkind IN ('r', 'i', 'p', 'I')"
            " ORDER BY c.relname", ())
    total_bytes = 0
    for name, kind, own, _all in rows:
        if own == 0:
            continue
        label = "index" if kind in ("i", "I") else "table"
        total_bytes += int(own)
        print(f"  {label} {name:<48} {own / 2**20:9.0f} MiB  {own / total:7.0f} B/manifest")
    print(f"  {'all':<54} {total_bytes / 2**20:9.0f} MiB  {total_bytes / total:7.0f} B/manifest")


def queries(url: str, seed: int, first: int, total: int, count: int, seconds: tuple[float, float],
            rng: random.Random) -> list[tuple[str, str | None, bytes]]:
    """(kind, the manifest it should find, ISCC-SEQ value) for `count` queries of each kind: copies of
    manifests anywhere in the repository (their codes read back), exact copies of the tail's."""
    picks = [rng.randrange(1, total + 1) for _ in range(count)]
    stored: dict[int, tuple[str, lookup.Stored]] = {}
    with PostgresRepository(url) as repo:
        rows = repo._query(  # noqa: SLF001
            "SELECT m.id, m.manifest_id, c.code FROM provenance_manifests m JOIN provenance_codes c ON c.entry = m.id"
            " WHERE m.id = ANY(%s) ORDER BY m.id, c.start_ms NULLS FIRST", (sorted(set(picks)),))
    by_id: dict[int, list[tuple[str, bytes]]] = {}
    for row_id, mid, code in rows:
        by_id.setdefault(int(row_id), []).append((str(mid), bytes(code)))
    for row_id, codes in by_id.items():
        stored[row_id] = (codes[0][0], lookup.Stored(codes[0][1], tuple(c for _, c in codes[1:])))

    def value(codes: Sequence[bytes], instance: bytes | None = None) -> bytes:
        units = tuple(lookup.video_unit(c) for c in codes[:1])
        units += (instance_unit(instance),) if instance is not None else ()
        units += tuple(lookup.video_unit(c) for c in codes[1:])
        return SoftBinding(units).value

    tail = [rng.randrange(first, total) for _ in range(count)]
    cache: dict[int, list[lookup.Stored]] = {}

    def tail_whole(i: int) -> bytes:
        chunk = (i - first) // CHUNK
        if chunk not in cache:
            cache[chunk] = chunk_manifests(seed, chunk, min(CHUNK, total - first - chunk * CHUNK), seconds)
        return cache[chunk][i - first - chunk * CHUNK].whole

    out: list[tuple[str, str | None, bytes]] = []
    out += [("re-encoded copy", stored[i][0], value(lookup.reencoded(stored[i][1], rng))) for i in picks]
    out += [("trimmed copy", stored[i][0], value(lookup.trimmed(stored[i][1], rng))) for i in picks]
    out += [("unrelated clip", None, value(lookup.unrelated(rng))) for _ in range(count)]
    out += [("exact copy", f"urn:bench:{i}", value([tail_whole(i)], instance_body(i))) for i in tail]
    return out


def prewarm(url: str) -> None:
    """Load what a lookup reads into shared buffers (pg_prewarm), as a server sized to hold it would have it.

    That is the band index, then the codes and manifests a lookup reads by id: a trimmed copy's
    candidates are spread over the whole codes table.
    """
    started = time.perf_counter()
    with PostgresRepository(url) as repo:
        db = repo._db  # noqa: SLF001 - server administration, below the repository's interface
        db.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        indexes = [str(r[0]) for r in db.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'i' AND c.relname LIKE 'provenance_band_keys%%'"
            " ORDER BY c.relname").fetchall()]
        by_id = ["provenance_codes", "provenance_codes_pkey", "provenance_manifests", "provenance_manifests_pkey"]
        pages = [int(db.execute("SELECT pg_prewarm(%s)", (name,)).fetchone()[0]) for name in indexes + by_id]
    band, rest = sum(pages[:len(indexes)]), sum(pages[len(indexes):])
    print(f"  prewarmed: band index {band * 8 / 2**20:.1f} GiB ({len(indexes)} index(es)), codes and manifests "
          f"{rest * 8 / 2**20:.1f} GiB, in {time.perf_counter() - started:.0f} s", flush=True)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


def lookups(url: str, cases: list[tuple[str, str | None, bytes]], checked: int, label: str,
            ) -> tuple[bool, list[dict[str, int]]]:
    ok = True
    with PostgresRepository(url) as repo:
        repo.match(ALG, cases[0][2], 100)  # one warm-up
        times: dict[str, list[float]] = {}
        answers: list[dict[str, int]] = []
        found: dict[str, int] = {}
        for kind, owner, value in cases:
            ms, result = timed(lambda value=value: repo.match(ALG, value, 100))  # type: ignore[misc]
            got = {m.manifest_id: m.distance for m in result}  # type: ignore[attr-defined]
            times.setdefault(kind, []).append(ms)
            answers.append(got)
            found[kind] = found.get(kind, 0) + (owner in got)
            if kind == "unrelated clip" and got:
                ok = False
            if kind in ("re-encoded copy", "exact copy") and owner not in got:
                ok = False
        for kind, owner, _ in cases:
            if kind == "exact copy" and owner is not None:
                ms, store = timed(lambda owner=owner: repo.manifest_store(owner))  # type: ignore[misc]
                times.setdefault("manifest store by id", []).append(ms)
                ok = ok and store is not None
        scans: dict[str, list[float]] = {}
        if checked:
            baseline = lookup.brute_force(repo)
            for (kind, _owner, value), got in zip(cases, answers, strict=True):
                if kind == "exact copy" or len(scans.get(kind, [])) >= checked:
                    continue
                codes = SoftBinding.from_value(value).video_codes
                ms, expected = timed(lambda codes=codes: baseline(codes))  # type: ignore[misc]
                scans.setdefault(kind, []).append(ms)
                scan = dict(expected)  # type: ignore[call-overload]
                ok = ok and all(scan.get(mid) == d for mid, d in got.items() if d > 0)
    print(f"  lookups ({label}):")
    for kind, values in times.items():
        med, p95 = statistics.median(values), statistics.quantiles(values, n=20)[-1]
        ok = ok and p95 <= TARGET_MS
        base = f" | full scan median {statistics.median(scans[kind]):8.0f} ms" if kind in scans else ""
        owned = kind in found and kind != "unrelated clip"
        recall = f", own manifest found {found[kind]}/{len(values)}" if owned else ""
        print(f"    {kind:>20}: median {med:6.2f} ms, p95 {p95:6.2f} ms (target ≤ {TARGET_MS:.0f} ms){base}{recall}")
    return ok, answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifests", type=int, default=1_000_000)
    parser.add_argument("--tail", type=int, default=40_000, help="manifests written through add_many")
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=5000, help="manifests per add_many transaction")
    parser.add_argument("--seconds", type=float, nargs=2, default=(3.0, 20.0), metavar=("MIN", "MAX"))
    parser.add_argument("--queries", type=int, default=200, help="queries of each kind")
    parser.add_argument("--checked", type=int, default=2, help="queries of each kind checked by a full scan")
    # The band index (8 GB at 10^6) and the codes (1.4 GB) are held in memory, as docs/scale.md sizes a
    # server: without that every lookup reads about a thousand pages it has never read (p95 twice as high).
    parser.add_argument("--shared-buffers", default="12GB")
    parser.add_argument("--cold", action="store_true", help="time lookups without prewarming what they read")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    from tests.support.postgres import throwaway_server

    seconds: tuple[float, float] = (args.seconds[0], args.seconds[1])
    settings = {"shared_buffers": args.shared_buffers, "max_wal_size": "16GB", "checkpoint_timeout": "30min",
                "maintenance_work_mem": "1GB", "work_mem": "64MB"}
    print(f"{args.manifests} manifests (clips of {seconds[0]:g}–{seconds[1]:g} s), {args.writers} writers, "
          f"PostgreSQL {', '.join(f'{k}={v}' for k, v in settings.items())}", flush=True)
    first = args.manifests - args.tail
    with throwaway_server(settings) as url:
        seed(url, first, seconds, random.Random(args.seed))
        fill(url, first, args.manifests, args.writers, args.seed, seconds, args.batch)
        sizes(url, args.manifests)
        cases = queries(url, args.seed, first, args.manifests, args.queries, seconds,
                        random.Random(args.seed))
        if not args.cold:
            prewarm(url)
        ok, flat = lookups(url, cases, args.checked, "one band index")
        with PostgresRepository(url) as repo:
            started = time.perf_counter()
            repo.partition_by_band()
            print(f"\n  band index rebuilt partitioned by band in {time.perf_counter() - started:.0f} s", flush=True)
        sizes(url, args.manifests)
        if not args.cold:
            prewarm(url)
        ok_parts, parts = lookups(url, cases, 0, "partitioned by band")
        differing = sum(a != b for a, b in zip(flat, parts, strict=True))
        print(f"  answers differing between the two layouts: {differing} of {len(cases)}")
        ok = ok and ok_parts and differing == 0
    print("\nresult:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
