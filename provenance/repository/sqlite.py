"""The embedded manifest repository: one SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import RepositoryError
from .base import Entry, Repository, band_keys, chunks

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifests (
    id INTEGER PRIMARY KEY,
    manifest_id TEXT NOT NULL UNIQUE,
    alg TEXT NOT NULL,
    value BLOB NOT NULL,
    video_code BLOB,
    instance_code BLOB,
    cert_sha256 TEXT NOT NULL,
    registered_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS manifests_by_value ON manifests (alg, value);
CREATE INDEX IF NOT EXISTS manifests_by_instance ON manifests (instance_code);
CREATE INDEX IF NOT EXISTS manifests_by_cert ON manifests (cert_sha256);
CREATE TABLE IF NOT EXISTS manifest_stores (
    id INTEGER PRIMARY KEY REFERENCES manifests (id) ON DELETE CASCADE,
    store BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS code_bands (
    band_key INTEGER NOT NULL,
    entry INTEGER NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    PRIMARY KEY (band_key, entry)
) WITHOUT ROWID;
"""
# After adding this many rows at once, refresh the query planner's statistics.
_BULK = 1000
# Stay well under SQLite's bound-parameter limit in one statement.
_MAX_PARAMS = 30000


class SqliteRepository(Repository):
    def __init__(self, path: Path, *, create: bool = True) -> None:
        super().__init__(str(path))
        self.path = path
        if not create and not path.is_file():
            raise RepositoryError(f"no manifest repository at {path}")
        if not path.parent.is_dir():
            raise RepositoryError(f"folder {path.parent} does not exist",
                                  remedy="Create it first or choose another --store.")
        try:
            # Autocommit mode; writes are grouped in explicit transactions below.
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA foreign_keys = ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RepositoryError(f"{path} was written by a newer provenance (schema {version})",
                                      remedy="Upgrade provenance to read this repository.")
            if version < SCHEMA_VERSION:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        except sqlite3.DatabaseError as e:
            raise RepositoryError(f"{path} is not a usable manifest repository: {e}",
                                  remedy="Give a repository file written by provenance, or a new path.") from e

    def add_many(self, entries: Iterable[Entry]) -> int:
        added = 0
        now = datetime.now(timezone.utc).isoformat()
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for entry in entries:
                    binding = entry.soft_binding
                    cursor = self._db.execute(
                        "INSERT INTO manifests (manifest_id, alg, value, video_code, instance_code, cert_sha256,"
                        " registered_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (manifest_id) DO NOTHING",
                        (entry.manifest_id, entry.alg, entry.value, binding.video_code, binding.instance_code,
                         entry.cert_sha256, now),
                    )
                    if cursor.rowcount != 1:
                        continue
                    row_id = cursor.lastrowid
                    self._db.execute("INSERT INTO manifest_stores (id, store) VALUES (?, ?)",
                                     (row_id, entry.manifest_store))
                    if binding.video_code is not None:
                        self._db.executemany("INSERT OR IGNORE INTO code_bands (band_key, entry) VALUES (?, ?)",
                                             [(key, row_id) for key in band_keys(binding.video_code)])
                    added += 1
                self._db.execute("COMMIT")
                if added >= _BULK:
                    self._db.execute("ANALYZE")
            except sqlite3.Error as e:
                self._rollback()
                raise RepositoryError(f"cannot write to {self.location}: {e}") from e
            except BaseException:
                self._rollback()
                raise
        return added

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _query(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise RepositoryError(f"cannot read {self.location}: {e}") from e

    def manifest_store(self, manifest_id: str) -> bytes | None:
        with self._lock:
            rows = self._query("SELECT s.store FROM manifests m JOIN manifest_stores s ON s.id = m.id"
                               " WHERE m.manifest_id = ?", (manifest_id,))
        return bytes(rows[0][0]) if rows else None

    def count(self) -> int:
        with self._lock:
            return int(self._query("SELECT count(*) FROM manifests", ())[0][0])

    def _by_value(self, alg: str, value: bytes) -> list[str]:
        rows = self._query("SELECT manifest_id FROM manifests WHERE alg = ? AND value = ?", (alg, value))
        return [str(r[0]) for r in rows]

    def _by_instance(self, code: bytes) -> list[str]:
        rows = self._query("SELECT manifest_id FROM manifests WHERE instance_code = ?", (code,))
        return [str(r[0]) for r in rows]

    def _candidates(self, keys: Sequence[int]) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        for part in chunks(keys, _MAX_PARAMS):
            marks = ",".join("?" * len(part))
            rows = self._query(
                "SELECT manifest_id, video_code FROM manifests WHERE id IN"
                f" (SELECT entry FROM code_bands WHERE band_key IN ({marks}))", part)
            out.extend((str(r[0]), bytes(r[1])) for r in rows)
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()
