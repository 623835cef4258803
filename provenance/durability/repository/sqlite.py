"""The embedded manifest repository: one SQLite file."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from provenance.durability.repository.interface import Entry, Probes, Repository, band_keys, chunks
from provenance.errors import RepositoryError

SCHEMA_VERSION = 3  # 2: every Video-Code of an entry (whole clip and segments) in `codes`; 3: `watermarks`
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
"""
# The nearest-code index (repository.base): each Video-Code of an entry, and its band keys.
_CODES = """
CREATE TABLE IF NOT EXISTS codes (
    id INTEGER PRIMARY KEY,
    entry INTEGER NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    start_ms INTEGER,  -- NULL: the whole clip
    end_ms INTEGER,
    code BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS codes_by_entry ON codes (entry);
CREATE TABLE IF NOT EXISTS code_keys (
    band_key INTEGER NOT NULL,
    code INTEGER NOT NULL REFERENCES codes (id) ON DELETE CASCADE,
    PRIMARY KEY (band_key, code)
) WITHOUT ROWID;
"""
# The watermark identifiers an entry's manifest records, found exactly.
_WATERMARKS = """
CREATE TABLE IF NOT EXISTS watermarks (
    entry INTEGER NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    alg TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (alg, value, entry)
) WITHOUT ROWID;
"""
# After adding this many rows at once, refresh the query planner's statistics.
_BULK = 1000
# How long opening a repository waits for other processes opening it at the same moment.
_OPEN_WAIT_SECONDS = 30
# Stay well under SQLite's bound-parameter limit in one statement.
_MAX_PARAMS = 30000


class SqliteRepository(Repository):
    """A manifest repository in a SQLite file, created on first use (its folder must exist) unless `create` is False."""
    def __init__(self, path: Path, *, create: bool = True) -> None:
        super().__init__(str(path))
        self.path = path
        if not create and not path.is_file():
            raise RepositoryError(f"no manifest repository at {path}")
        if not path.parent.is_dir():
            raise RepositoryError(f"folder {path.parent} does not exist",
                                  remedy="Create it first or choose another --store.")
        unusable = f"{path} is not a usable manifest repository"
        remedy = "Give a repository file written by provenance, or a new path."
        try:
            # Autocommit mode; writes are grouped in explicit transactions below.
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        except sqlite3.DatabaseError as e:
            raise RepositoryError(f"{unusable}: {e}", remedy=remedy) from e
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise self._newer(version)
            if version < SCHEMA_VERSION:
                self._use_wal()
                self._upgrade()
        except (sqlite3.DatabaseError, RepositoryError) as e:
            self._db.close()
            if isinstance(e, RepositoryError):
                raise
            raise RepositoryError(f"{unusable}: {e}", remedy=remedy) from e

    def _use_wal(self) -> None:
        """Switch the file to write-ahead logging. SQLite's busy timeout does not cover this switch, so
        processes opening a new repository at once (sign-batch workers) wait for each other here."""
        deadline = time.monotonic() + _OPEN_WAIT_SECONDS
        while True:
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _newer(self, version: int) -> RepositoryError:
        return RepositoryError(f"{self.path} was written by a newer provenance (schema {version})",
                               remedy="Upgrade provenance to read this repository.")

    def _upgrade(self) -> None:
        """Create the schema, or bring a version-1 file (one band index over whole-clip codes) up to date."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                # Read again under the write lock: another process may have just done it.
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise self._newer(version)
                if version == SCHEMA_VERSION:
                    self._db.execute("COMMIT")
                    return
                for statement in (_SCHEMA + _CODES + _WATERMARKS).split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                if version == 1:
                    rows = self._db.execute("SELECT id, video_code FROM manifests WHERE video_code IS NOT NULL")
                    for entry, code in rows.fetchall():
                        self._add_codes(entry, [(bytes(code), None, None)])
                    self._db.execute("DROP TABLE IF EXISTS code_bands")
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _add_codes(self, entry: int | None, codes: list[tuple[bytes, int | None, int | None]]) -> None:
        for code, start, end in codes:
            cursor = self._db.execute("INSERT INTO codes (entry, start_ms, end_ms, code) VALUES (?, ?, ?, ?)",
                                      (entry, start, end, code))
            self._db.executemany("INSERT OR IGNORE INTO code_keys (band_key, code) VALUES (?, ?)",
                                 [(key, cursor.lastrowid) for key in band_keys(code)])

    @property
    def file(self) -> Path:
        """The SQLite file."""
        return self.path

    def add_many(self, entries: Iterable[Entry]) -> int:
        """Store entries in one transaction; returns how many were new (an existing manifest id is kept)."""
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
                    self._add_codes(row_id, entry.codes())
                    self._db.executemany("INSERT OR IGNORE INTO watermarks (entry, alg, value) VALUES (?, ?, ?)",
                                         [(row_id, alg, value) for alg, value in entry.watermarks])
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
        """The manifest store registered under `manifest_id`, or None."""
        with self._lock:
            rows = self._query("SELECT s.store FROM manifests m JOIN manifest_stores s ON s.id = m.id"
                               " WHERE m.manifest_id = ?", (manifest_id,))
        return bytes(rows[0][0]) if rows else None

    def count(self) -> int:
        """How many manifests are registered."""
        with self._lock:
            return int(self._query("SELECT count(*) FROM manifests", ())[0][0])

    def _by_value(self, alg: str, value: bytes) -> list[str]:
        rows = self._query("SELECT manifest_id FROM manifests WHERE alg = ? AND value = ?", (alg, value))
        return [str(r[0]) for r in rows]

    def _by_instance(self, code: bytes) -> list[str]:
        rows = self._query("SELECT manifest_id FROM manifests WHERE instance_code = ?", (code,))
        return [str(r[0]) for r in rows]

    def _by_watermark(self, alg: str, identifier: bytes) -> list[str]:
        rows = self._query("SELECT m.manifest_id FROM watermarks w JOIN manifests m ON m.id = w.entry"
                           " WHERE w.alg = ? AND w.value = ?", (alg, identifier))
        return [str(r[0]) for r in rows]

    def _candidates(self, probes: Probes) -> list[tuple[int, int, bytes]]:
        # Reading codes from this file costs about what checking a sketch would: `nearest` filters them.
        keys = probes.keys
        out: list[tuple[int, int, bytes]] = []
        for part in chunks(keys, _MAX_PARAMS):
            marks = ",".join("?" * len(part))
            rows = self._query("SELECT k.band_key, c.entry, c.code FROM code_keys k JOIN codes c ON c.id = k.code"
                               f" WHERE k.band_key IN ({marks})", part)
            out.extend((int(r[0]), int(r[1]), bytes(r[2])) for r in rows)
        return out

    def _manifest_ids(self, entries: Sequence[int]) -> dict[int, str]:
        return {int(k): str(v) for k, v in self._column("id", "manifest_id", entries).items()}

    def _signers(self, manifest_ids: Sequence[str]) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._column("manifest_id", "cert_sha256", manifest_ids).items()}

    def _column(self, key: str, value: str, keys: Sequence[object]) -> dict[Any, Any]:
        """manifests.`value` for each of `keys` in manifests.`key`, in as few queries as SQLite allows."""
        out: dict[Any, Any] = {}
        for part in chunks(keys, _MAX_PARAMS):
            marks = ",".join("?" * len(part))
            out.update(self._query(f"SELECT {key}, {value} FROM manifests WHERE {key} IN ({marks})", part))
        return out

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()
