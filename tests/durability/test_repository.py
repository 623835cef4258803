"""The manifest repository: one suite, run against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provenance.durability.repository import INDEX_REACH, Entry, QueryError, Repository, open_repository
from provenance.durability.repository.interface import EXACT_REACH, MAX_QUERY_CODES
from provenance.durability.repository.sqlite import SqliteRepository
from provenance.durability.softbinding import ALG, MATCH_THRESHOLD, Segment, SoftBinding, hamming
from provenance.errors import RepositoryError


def video_unit(body: bytes) -> str:
    import iscc_core as ic

    return "ISCC:" + ic.encode_component(mtype=ic.MT.CONTENT, stype=ic.ST_CC.VIDEO, version=ic.VS.V0,
                                         bit_length=256, digest=body)


def instance_unit(body: bytes) -> str:
    import iscc_core as ic

    return "ISCC:" + ic.encode_component(mtype=ic.MT.INSTANCE, stype=ic.ST.NONE, version=ic.VS.V0,
                                         bit_length=256, digest=body)


def flip(code: bytes, bits: int, rng: random.Random) -> bytes:
    value = int.from_bytes(code, "big")
    for bit in rng.sample(range(256), bits):
        value ^= 1 << bit
    return value.to_bytes(32, "big")


def entry(name: str, video: bytes, instance: bytes | None = None, store: bytes | None = None,
          segments: tuple[bytes, ...] = ()) -> Entry:
    units = (video_unit(video),) + ((instance_unit(instance),) if instance else ())
    spans = tuple(Segment(1000 * i, 1000 * i + 2000, video_unit(code)) for i, code in enumerate(segments))
    return Entry(f"urn:c2pa:{name}", SoftBinding(units).value, "ab" * 32, store or name.encode(), segments=spans)


def query(video: bytes | None = None, instance: bytes | None = None, windows: tuple[bytes, ...] = ()) -> bytes:
    """A lookup value: the whole clip's code first, then the codes of the copy's windows."""
    units = ((video_unit(video),) if video else ()) + ((instance_unit(instance),) if instance else ())
    return SoftBinding(units + tuple(video_unit(w) for w in windows)).value


def fresh_database(request: pytest.FixtureRequest, prefix: str = "t") -> str:
    """The URL of a new, empty database on the throwaway PostgreSQL server."""
    import psycopg

    url = request.getfixturevalue("postgres_server")
    name = f"{prefix}_{uuid.uuid4().hex}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgres"])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    if request.param == "sqlite":
        repo = open_repository(tmp_path / "manifests.sqlite3")
    else:
        repo = open_repository(fresh_database(request))  # a fresh database for every test
    assert repo is not None
    with repo:
        yield repo


def test_add_fetch_and_count(repository: Repository) -> None:
    rng = random.Random(1)
    first = entry("one", rng.randbytes(32), store=b"store one")
    assert repository.count() == 0
    assert repository.add(first) is True
    assert repository.add(first) is False  # same manifest id: kept once
    assert repository.count() == 1
    assert repository.manifest_store("urn:c2pa:one") == b"store one"
    assert repository.manifest_store("urn:c2pa:unknown") is None


def test_exact_value_lookup(repository: Repository) -> None:
    rng = random.Random(2)
    video, instance = rng.randbytes(32), rng.randbytes(32)
    stored = entry("exact", video, instance)
    repository.add(stored)
    [match] = repository.match(ALG, stored.value)
    assert (match.manifest_id, match.distance) == ("urn:c2pa:exact", 0)


def test_instance_code_alone_finds_the_exact_source(repository: Repository) -> None:
    rng = random.Random(3)
    video, instance = rng.randbytes(32), rng.randbytes(32)
    repository.add(entry("source", video, instance))
    [match] = repository.match(ALG, query(instance=instance))
    assert (match.manifest_id, match.distance) == ("urn:c2pa:source", 0)
    assert repository.match(ALG, query(instance=rng.randbytes(32))) == []


def test_nearest_video_code_within_the_threshold(repository: Repository) -> None:
    rng = random.Random(4)
    base = rng.randbytes(32)
    distances = {"same": 0, "near": 10, "edge": MATCH_THRESHOLD, "beyond": MATCH_THRESHOLD + 1, "far": 100}
    codes = {name: flip(base, bits, rng) for name, bits in distances.items()}
    repository.add_many(entry(name, code) for name, code in codes.items())
    found = repository.match(ALG, query(video=base))
    assert [(m.manifest_id, m.distance) for m in found] == [
        ("urn:c2pa:same", 0), ("urn:c2pa:near", 10), ("urn:c2pa:edge", MATCH_THRESHOLD)]
    assert len(repository.match(ALG, query(video=base), max_results=2)) == 2


@pytest.mark.slow
def test_index_finds_exactly_what_a_full_scan_finds(repository: Repository) -> None:
    """A query's first code is found exactly within INDEX_REACH bits, as a full scan finds it."""
    rng = random.Random(5)
    stored = {f"c{i}": rng.randbytes(32) for i in range(1500)}
    # Near neighbours at every distance up to the index's reach, so the pigeonhole bound is exercised.
    for i in range(INDEX_REACH + 1):
        stored[f"near{i}"] = flip(stored["c0"], i, rng)
    repository.add_many(entry(name, code) for name, code in stored.items())
    queries = [stored["c0"]] + [flip(rng.choice(list(stored.values())), rng.randint(0, 30), rng)
                                for _ in range(25)]
    for q in queries:
        expected = sorted((f"urn:c2pa:{n}", hamming(q, c)) for n, c in stored.items()
                          if hamming(q, c) <= INDEX_REACH)
        got = sorted((m.manifest_id, m.distance)
                     for m in repository.nearest([q], max_distance=INDEX_REACH, limit=500))
        assert got == expected


@pytest.mark.slow
def test_window_codes_are_found_within_the_exact_reach(repository: Repository) -> None:
    """A query's other codes (its windows) find every stored code within EXACT_REACH bits, and
    never report a distance a full scan would not."""
    rng = random.Random(7)
    stored = {f"c{i}": rng.randbytes(32) for i in range(800)}
    for i in range(EXACT_REACH + 1):
        stored[f"near{i}"] = flip(stored["c1"], i, rng)
    repository.add_many(entry(name, code) for name, code in stored.items())
    far_first = rng.randbytes(32)  # the copy's whole-clip code: near nothing
    for target in (stored["c1"], *rng.sample(list(stored.values()), 10)):
        windows = [rng.randbytes(32), flip(target, rng.randint(0, EXACT_REACH), rng), rng.randbytes(32)]
        codes = [far_first, *windows]
        scan = {f"urn:c2pa:{n}": min(hamming(q, c) for q in codes) for n, c in stored.items()}
        got = {m.manifest_id: m.distance for m in repository.nearest(codes, max_distance=INDEX_REACH, limit=500)}
        for mid, distance in got.items():
            assert distance == scan[mid] <= INDEX_REACH  # nothing a full scan would not report
        must = {mid: d for mid, d in scan.items()
                if min(hamming(w, stored[mid.removeprefix("urn:c2pa:")]) for w in windows) <= EXACT_REACH}
        assert must and must.items() <= got.items()


def test_a_segment_finds_its_manifest(repository: Repository) -> None:
    """A trimmed copy: its whole-clip code is far from the signed clip's, one of its windows is near
    a signed segment."""
    rng = random.Random(8)
    whole, segments = rng.randbytes(32), tuple(rng.randbytes(32) for _ in range(8))
    repository.add(entry("trimmed-source", whole, segments=segments))
    repository.add_many(entry(f"other{i}", rng.randbytes(32), segments=tuple(rng.randbytes(32) for _ in range(8)))
                        for i in range(50))
    copy_whole = flip(whole, 70, rng)
    windows = (rng.randbytes(32), flip(segments[5], 12, rng), rng.randbytes(32))
    [match] = repository.match(ALG, query(video=copy_whole, windows=windows))
    assert (match.manifest_id, match.distance) == ("urn:c2pa:trimmed-source", 12)
    unrelated = (rng.randbytes(32), rng.randbytes(32))
    assert repository.match(ALG, query(video=copy_whole, windows=unrelated)) == []
    # A segment's code is matched by its own distance, like the whole clip's.
    assert repository.match(ALG, query(video=flip(segments[2], MATCH_THRESHOLD + 1, rng))) == []


def test_too_many_codes_in_one_query_are_refused(repository: Repository) -> None:
    rng = random.Random(9)
    windows = tuple(rng.randbytes(32) for _ in range(MAX_QUERY_CODES))
    with pytest.raises(QueryError, match=f"at most {MAX_QUERY_CODES} Video-Codes"):
        repository.match(ALG, query(video=rng.randbytes(32), windows=windows))
    with pytest.raises(QueryError, match=f"at most {MAX_QUERY_CODES} Video-Codes"):
        repository.nearest([rng.randbytes(32) for _ in range(MAX_QUERY_CODES + 1)])


@pytest.mark.parametrize("alg,value,message", [
    ("com.example.watermark", None, "unsupported soft-binding algorithm"),
    (ALG, b"\x00\x01garbage", "invalid io.iscc.v0 value"),
    (ALG, b"", "invalid io.iscc.v0 value"),
])
def test_bad_queries_are_refused(repository: Repository, alg: str, value: bytes | None, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        repository.match(alg, value if value is not None else query(video=bytes(32)))


def test_query_limits(repository: Repository) -> None:
    with pytest.raises(QueryError):
        repository.match(ALG, query(video=bytes(32)), max_results=0)
    with pytest.raises(QueryError):
        repository.nearest([bytes(32)], max_distance=INDEX_REACH + 1)


def test_sqlite_repository_persists(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    rng = random.Random(6)
    code = rng.randbytes(32)
    with SqliteRepository(path) as repo:
        repo.add(entry("kept", code))
    reopened = open_repository(path, create=False)
    assert reopened is not None
    with reopened:
        assert [m.manifest_id for m in reopened.match(ALG, query(video=code))] == ["urn:c2pa:kept"]


def test_missing_sqlite_file_is_not_created_when_only_reading(tmp_path: Path) -> None:
    path = tmp_path / "none.sqlite3"
    assert open_repository(path, create=False) is None
    assert not path.exists()


def test_a_file_that_is_not_a_repository_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just words " * 100)
    with pytest.raises(RepositoryError, match="not a usable manifest repository"):
        open_repository(path)


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="does not exist"):
        open_repository(tmp_path / "no" / "such" / "m.sqlite3")


def test_unreachable_postgres_is_a_clear_error_without_the_password() -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RepositoryError) as caught:
        open_repository(f"postgresql://user:hunter2@127.0.0.1:{port}/db")
    assert "hunter2" not in caught.value.message
    assert f"postgresql://user@127.0.0.1:{port}/db" in caught.value.message


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_repository_from_a_newer_provenance_is_refused(kind: str, tmp_path: Path,
                                                        request: pytest.FixtureRequest) -> None:
    location = str(tmp_path / "m.sqlite3") if kind == "sqlite" else fresh_database(request)
    repo = open_repository(location)
    assert repo is not None
    with repo:
        repo.add(entry("kept", bytes(32)))
        newer = ("PRAGMA user_version = 99" if kind == "sqlite" else "UPDATE provenance_schema SET version = 99")
        repo._db.execute(newer)  # type: ignore[attr-defined]  # noqa: SLF001
    for _ in range(2):  # refused, and refusing leaves it as it was
        with pytest.raises(RepositoryError, match=r"newer provenance \(schema 99\)") as caught:
            open_repository(location, create=False)
        assert caught.value.remedy is not None and "Upgrade provenance" in caught.value.remedy


# The first release's schema (one band index over whole-clip codes): repositories it wrote are upgraded.
_V1_SQLITE = """
CREATE TABLE manifests (id INTEGER PRIMARY KEY, manifest_id TEXT NOT NULL UNIQUE, alg TEXT NOT NULL,
    value BLOB NOT NULL, video_code BLOB, instance_code BLOB, cert_sha256 TEXT NOT NULL, registered_at TEXT NOT NULL);
CREATE TABLE manifest_stores (id INTEGER PRIMARY KEY REFERENCES manifests (id) ON DELETE CASCADE, store BLOB NOT NULL);
CREATE TABLE code_bands (band_key INTEGER NOT NULL, entry INTEGER NOT NULL REFERENCES manifests (id)
    ON DELETE CASCADE, PRIMARY KEY (band_key, entry)) WITHOUT ROWID;
PRAGMA user_version = 1;
"""
_V1_POSTGRES = """
CREATE TABLE provenance_manifests (id BIGSERIAL PRIMARY KEY, manifest_id TEXT NOT NULL UNIQUE, alg TEXT NOT NULL,
    value BYTEA NOT NULL, video_code BYTEA, instance_code BYTEA, cert_sha256 TEXT NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE provenance_manifest_stores (id BIGINT PRIMARY KEY REFERENCES provenance_manifests (id)
    ON DELETE CASCADE, store BYTEA NOT NULL);
CREATE TABLE provenance_code_bands (band_key INTEGER NOT NULL, entry BIGINT NOT NULL
    REFERENCES provenance_manifests (id) ON DELETE CASCADE, PRIMARY KEY (band_key, entry));
"""


def _first_release_repository(kind: str, tmp_path: Path, request: pytest.FixtureRequest,
                              rows: list[tuple[str, bytes]]) -> tuple[str, str]:
    """A repository as the first release left it, holding `rows` (name, whole-clip code); its
    location and the name of the table it no longer needs."""
    if kind == "sqlite":
        import sqlite3

        path = tmp_path / "v1.sqlite3"
        with sqlite3.connect(path) as db:
            db.executescript(_V1_SQLITE)
            for i, (name, code) in enumerate(rows, 1):
                db.execute("INSERT INTO manifests VALUES (?, ?, ?, ?, ?, NULL, ?, '2026-01-01')",
                           (i, f"urn:c2pa:{name}", ALG, query(video=code), code, "ab" * 32))
                db.execute("INSERT INTO manifest_stores VALUES (?, ?)", (i, name.encode()))
        db.close()
        return str(path), "code_bands"
    import psycopg

    location = fresh_database(request, "v1")
    with psycopg.connect(location, autocommit=True) as db:
        db.execute(_V1_POSTGRES)
        for name, code in rows:
            row = db.execute("INSERT INTO provenance_manifests (manifest_id, alg, value, video_code, cert_sha256)"
                             " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                             (f"urn:c2pa:{name}", ALG, query(video=code), code, "ab" * 32)).fetchone()
            assert row is not None
            db.execute("INSERT INTO provenance_manifest_stores VALUES (%s, %s)", (row[0], name.encode()))
    return location, "provenance_code_bands"


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_first_release_repository_is_upgraded(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    rng = random.Random(10)
    rows = [(f"old{i}", rng.randbytes(32)) for i in range(20)]
    location, old_table = _first_release_repository(kind, tmp_path, request, rows)
    name, code = rows[7]
    near = flip(code, 9, rng)
    for reopened in (False, True):  # opening again changes nothing
        repo = open_repository(location, create=False)
        assert repo is not None
        with repo:
            assert repo.count() == len(rows) + reopened
            found = {m.manifest_id: m.distance for m in repo.match(ALG, query(video=near))}
            assert found == {f"urn:c2pa:{name}": 9, **({"urn:c2pa:new": 9} if reopened else {})}
            assert repo.manifest_store(f"urn:c2pa:{name}") == name.encode()
            # New entries (with segments) beside the old ones.
            assert repo.add(entry("new", bytes(32), segments=(code,))) is not reopened
            assert {m.manifest_id for m in repo.match(ALG, query(video=code))} == {f"urn:c2pa:{name}", "urn:c2pa:new"}
            tables = ("SELECT name FROM sqlite_master WHERE name = ?" if kind == "sqlite"
                      else "SELECT tablename FROM pg_tables WHERE tablename = %s")
            assert repo._query(tables, (old_table,)) == []  # type: ignore[attr-defined]  # noqa: SLF001


# The second release's PostgreSQL schema: band keys without sketches, in provenance_code_keys.
_V2_POSTGRES = _V1_POSTGRES.replace("CREATE TABLE provenance_code_bands", "CREATE TABLE unused_bands") + """
CREATE TABLE provenance_codes (id BIGSERIAL PRIMARY KEY, entry BIGINT NOT NULL REFERENCES provenance_manifests (id)
    ON DELETE CASCADE, start_ms BIGINT, end_ms BIGINT, code BYTEA NOT NULL);
CREATE TABLE provenance_code_keys (band_key INTEGER NOT NULL, code BIGINT NOT NULL REFERENCES provenance_codes (id)
    ON DELETE CASCADE, PRIMARY KEY (band_key, code));
DROP TABLE unused_bands;
"""


def test_a_second_release_postgres_repository_is_upgraded(request: pytest.FixtureRequest) -> None:
    import psycopg

    from provenance.durability.repository.interface import band_keys

    location = fresh_database(request, "v2")
    rng = random.Random(11)
    rows = [(f"old{i}", rng.randbytes(32), rng.randbytes(32)) for i in range(30)]
    with psycopg.connect(location, autocommit=True) as db:
        db.execute(_V2_POSTGRES)
        for name, whole, segment in rows:
            row = db.execute("INSERT INTO provenance_manifests (manifest_id, alg, value, video_code, cert_sha256)"
                             " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                             (f"urn:c2pa:{name}", ALG, query(video=whole), whole, "ab" * 32)).fetchone()
            assert row is not None
            db.execute("INSERT INTO provenance_manifest_stores VALUES (%s, %s)", (row[0], name.encode()))
            for code, start in ((whole, None), (segment, 0)):
                code_row = db.execute("INSERT INTO provenance_codes (entry, start_ms, end_ms, code)"
                                      " VALUES (%s, %s, %s, %s) RETURNING id",
                                      (row[0], start, None if start is None else 2000, code)).fetchone()
                assert code_row is not None
                for key in band_keys(code):
                    db.execute("INSERT INTO provenance_code_keys VALUES (%s, %s)", (key, code_row[0]))
    name, whole, segment = rows[12]
    for _ in range(2):  # opening again changes nothing
        repo = open_repository(location, create=False)
        assert repo is not None
        with repo:
            assert repo.count() == len(rows)
            found = {m.manifest_id: m.distance for m in repo.match(ALG, query(video=flip(whole, 20, rng)))}
            assert found == {f"urn:c2pa:{name}": 20}
            by_segment = repo.match(ALG, query(video=rng.randbytes(32), windows=(flip(segment, 5, rng),)))
            assert [(m.manifest_id, m.distance) for m in by_segment] == [(f"urn:c2pa:{name}", 5)]
            assert repo._query("SELECT tablename FROM pg_tables WHERE tablename = %s",  # type: ignore[attr-defined]  # noqa: SLF001
                               ("provenance_code_keys",)) == []


def test_a_band_partitioned_postgres_repository_answers_as_before(request: pytest.FixtureRequest) -> None:
    from provenance.durability.repository.interface import BANDS
    from provenance.durability.repository.postgres import PostgresRepository

    rng = random.Random(17)
    wholes = [rng.randbytes(32) for _ in range(200)]
    segments = [rng.randbytes(32) for _ in range(200)]
    entries = [entry(f"p{i}", wholes[i], segments=(segments[i],)) for i in range(200)]
    queries = [query(video=flip(wholes[i], bits, rng)) for i, bits in ((3, 4), (40, 22), (99, 27), (150, 28))]
    queries += [query(video=rng.randbytes(32), windows=(flip(segments[i], 9, rng),)) for i in (7, 123)]
    queries.append(query(video=rng.randbytes(32)))  # unrelated: nothing
    location = fresh_database(request, "part")
    repo = open_repository(location)
    assert isinstance(repo, PostgresRepository)
    other = open_repository(location)  # another client, which has looked before the layout changes
    assert other is not None
    with repo, other:
        assert repo.add_many(entries) == len(entries)
        before = [repo.match(ALG, q) for q in queries]
        assert [other.match(ALG, q) for q in queries] == before
        assert not repo.partitioned()
        assert repo.partition_by_band() is True
        assert repo.partitioned() and repo.partition_by_band() is False  # once only
        assert [repo.match(ALG, q) for q in queries] == before
        assert [other.match(ALG, q) for q in queries] == before  # a client connected before the change
        assert [len(found) for found in before] == [1, 1, 1, 0, 1, 1, 0]
        partitions = repo._query("SELECT count(*) FROM pg_inherits"  # type: ignore[attr-defined]  # noqa: SLF001
                                 " WHERE inhparent = 'provenance_band_keys'::regclass", ())
        assert partitions == [(BANDS,)]
        late = entry("late", rng.randbytes(32))
        assert repo.add(late) is True  # writes land in the partitions
        assert [m.manifest_id for m in repo.match(ALG, query(video=flip(late.soft_binding.video_code or b"", 6, rng)))
                ] == ["urn:c2pa:late"]
    reopened = open_repository(location, create=False)  # the schema check accepts the partitioned layout
    assert reopened is not None
    with reopened:
        assert reopened.count() == len(entries) + 1
        assert [reopened.match(ALG, q) for q in queries] == before


def _open_when_all_are_ready(path: Path, ready: Any, results: Any) -> None:
    ready.wait()
    try:
        SqliteRepository(path).close()
        results.put("ok")
    except RepositoryError as e:
        results.put(e.message)


@pytest.mark.slow
def test_processes_opening_a_new_sqlite_repository_at_once_all_succeed(tmp_path: Path) -> None:
    """sign-batch workers open the repository together; the first open switches it to WAL, which SQLite's
    busy timeout does not cover (before the fix 8 of 30 such rounds failed with "database is locked")."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    outcomes = []
    for round_ in range(10):
        path = tmp_path / f"round{round_}.sqlite3"
        ready, results = ctx.Barrier(4), ctx.Queue()
        workers = [ctx.Process(target=_open_when_all_are_ready, args=(path, ready, results)) for _ in range(4)]
        for w in workers:
            w.start()
        outcomes += [results.get(timeout=60) for _ in workers]
        for w in workers:
            w.join()
    assert outcomes == ["ok"] * 40
