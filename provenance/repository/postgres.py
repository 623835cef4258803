"""The manifest repository at scale: PostgreSQL (`--store postgresql://user@host/db`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import RepositoryError
from .base import Entry, Repository, band_keys

_SCHEMA = """
CREATE TABLE IF NOT EXISTS provenance_manifests (
    id BIGSERIAL PRIMARY KEY,
    manifest_id TEXT NOT NULL UNIQUE,
    alg TEXT NOT NULL,
    value BYTEA NOT NULL,
    video_code BYTEA,
    instance_code BYTEA,
    cert_sha256 TEXT NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS provenance_manifests_by_value ON provenance_manifests (alg, value);
CREATE INDEX IF NOT EXISTS provenance_manifests_by_instance ON provenance_manifests (instance_code);
CREATE INDEX IF NOT EXISTS provenance_manifests_by_cert ON provenance_manifests (cert_sha256);
CREATE TABLE IF NOT EXISTS provenance_manifest_stores (
    id BIGINT PRIMARY KEY REFERENCES provenance_manifests (id) ON DELETE CASCADE,
    store BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS provenance_code_bands (
    band_key INTEGER NOT NULL,
    entry BIGINT NOT NULL REFERENCES provenance_manifests (id) ON DELETE CASCADE,
    PRIMARY KEY (band_key, entry)
);
"""
# After adding this many rows at once, refresh the planner's statistics so the band index stays in use.
_BULK = 1000
# Serialises concurrent first-time schema creation by several processes.
_SCHEMA_LOCK = 0x70726F76


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:  # psycopg raises its own ProgrammingError for unparsable strings
        return "postgresql://…"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


class PostgresRepository(Repository):
    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError as e:
            raise RepositoryError("PostgreSQL support is not installed",
                                  remedy="pip install 'provenance[postgres]'") from e
        super().__init__(redact(url))
        self._error: type[Exception] = psycopg.Error
        try:
            self._db: Any = psycopg.connect(url, autocommit=True, connect_timeout=10)
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                self._db.execute(_SCHEMA)
        except psycopg.Error as e:
            raise RepositoryError(f"cannot use PostgreSQL repository {self.location}: {_reason(e)}") from e

    def add_many(self, entries: Iterable[Entry]) -> int:
        added = 0
        with self._lock:
            try:
                with self._db.transaction(), self._db.cursor() as cur:
                    for entry in entries:
                        binding = entry.soft_binding
                        cur.execute(
                            "INSERT INTO provenance_manifests (manifest_id, alg, value, video_code, instance_code,"
                            " cert_sha256) VALUES (%s, %s, %s, %s, %s, %s)"
                            " ON CONFLICT (manifest_id) DO NOTHING RETURNING id",
                            (entry.manifest_id, entry.alg, entry.value, binding.video_code,
                             binding.instance_code, entry.cert_sha256),
                        )
                        row = cur.fetchone()
                        if row is None:
                            continue
                        cur.execute("INSERT INTO provenance_manifest_stores (id, store) VALUES (%s, %s)",
                                    (row[0], entry.manifest_store))
                        if binding.video_code is not None:
                            cur.execute(
                                "INSERT INTO provenance_code_bands (band_key, entry)"
                                " SELECT DISTINCT unnest(%s::integer[]), %s ON CONFLICT DO NOTHING",
                                (band_keys(binding.video_code), row[0]))
                        added += 1
                if added >= _BULK:
                    self._db.execute("ANALYZE provenance_manifests, provenance_code_bands")
            except self._error as e:
                raise RepositoryError(f"cannot write to {self.location}: {_reason(e)}") from e
        return added

    def _query(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        try:
            rows: list[tuple[Any, ...]] = self._db.execute(sql, params).fetchall()
        except self._error as e:
            raise RepositoryError(f"cannot read {self.location}: {_reason(e)}") from e
        return rows

    def manifest_store(self, manifest_id: str) -> bytes | None:
        with self._lock:
            rows = self._query(
                "SELECT s.store FROM provenance_manifests m JOIN provenance_manifest_stores s ON s.id = m.id"
                " WHERE m.manifest_id = %s", (manifest_id,))
        return bytes(rows[0][0]) if rows else None

    def count(self) -> int:
        with self._lock:
            return int(self._query("SELECT count(*) FROM provenance_manifests", ())[0][0])

    def _by_value(self, alg: str, value: bytes) -> list[str]:
        rows = self._query("SELECT manifest_id FROM provenance_manifests WHERE alg = %s AND value = %s",
                           (alg, value))
        return [str(r[0]) for r in rows]

    def _by_instance(self, code: bytes) -> list[str]:
        rows = self._query("SELECT manifest_id FROM provenance_manifests WHERE instance_code = %s", (code,))
        return [str(r[0]) for r in rows]

    def _candidates(self, keys: Sequence[int]) -> list[tuple[str, bytes]]:
        rows = self._query(
            "SELECT manifest_id, video_code FROM provenance_manifests WHERE id IN"
            " (SELECT entry FROM provenance_code_bands WHERE band_key = ANY(%s))", (list(keys),))
        return [(str(r[0]), bytes(r[1])) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _reason(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
