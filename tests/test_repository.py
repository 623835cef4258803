"""The manifest repository: one suite, run against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance.errors import RepositoryError
from provenance.repository import INDEX_REACH, Entry, QueryError, Repository, open_repository
from provenance.repository.sqlite import SqliteRepository
from provenance.softbinding import ALG, MATCH_THRESHOLD, SoftBinding, hamming

from .postgres import PostgresUnavailable, throwaway_server


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


def entry(name: str, video: bytes, instance: bytes | None = None, store: bytes | None = None) -> Entry:
    units = (video_unit(video),) + ((instance_unit(instance),) if instance else ())
    return Entry(f"urn:c2pa:{name}", SoftBinding(units).value, "ab" * 32, store or name.encode())


def query(video: bytes | None = None, instance: bytes | None = None) -> bytes:
    units = ((video_unit(video),) if video else ()) + ((instance_unit(instance),) if instance else ())
    return SoftBinding(units).value


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    try:
        with throwaway_server() as url:
            yield url
    except PostgresUnavailable as e:
        pytest.skip(f"PostgreSQL tests need a local PostgreSQL server: {e}")


@pytest.fixture(params=["sqlite", "postgres"])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    if request.param == "sqlite":
        repo = open_repository(tmp_path / "manifests.sqlite3")
    else:
        import psycopg

        url = request.getfixturevalue("postgres_server")
        name = f"t_{uuid.uuid4().hex}"  # a fresh database for every test
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        repo = open_repository(url.rsplit("/", 1)[0] + "/" + name)
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


def test_index_finds_exactly_what_a_full_scan_finds(repository: Repository) -> None:
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
        got = sorted((m.manifest_id, m.distance) for m in repository.nearest(q, max_distance=INDEX_REACH, limit=500))
        assert got == expected


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
        repository.nearest(bytes(32), max_distance=INDEX_REACH + 1)


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
