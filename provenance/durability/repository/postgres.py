"""The manifest repository at scale: PostgreSQL (`--store postgresql://user@host/db`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from provenance.durability.repository.interface import (
    BAND_BITS,
    BANDS,
    SKETCH_BITS,
    Entry,
    Probes,
    Repository,
    band_keys,
    chunks,
    sketch,
)
from provenance.errors import RepositoryError

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
CREATE TABLE IF NOT EXISTS provenance_codes (
    id BIGSERIAL PRIMARY KEY,
    entry BIGINT NOT NULL REFERENCES provenance_manifests (id) ON DELETE CASCADE,
    start_ms BIGINT,  -- NULL: the whole clip
    end_ms BIGINT,
    code BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS provenance_codes_by_entry ON provenance_codes (entry);
-- Each code's band keys, with its sketch (the first 128 bits, as two signed 64-bit halves) in the
-- index: most codes sharing a band with the query by chance are dropped on their sketch, before
-- their full code is read.
CREATE TABLE IF NOT EXISTS provenance_band_keys (
    band_key INTEGER NOT NULL,
    code BIGINT NOT NULL REFERENCES provenance_codes (id) ON DELETE CASCADE,
    sketch_high BIGINT NOT NULL,
    sketch_low BIGINT NOT NULL,
    PRIMARY KEY (band_key, code) INCLUDE (sketch_high, sketch_low)
);
CREATE TABLE IF NOT EXISTS provenance_watermarks (
    entry BIGINT NOT NULL REFERENCES provenance_manifests (id) ON DELETE CASCADE,
    alg TEXT NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (alg, value, entry)
);
CREATE TABLE IF NOT EXISTS provenance_schema (version INTEGER NOT NULL);
"""
# The band index partitioned by band (PostgresRepository.partition_by_band): the same columns, keys and
# queries, so a repository keeps its schema version whichever layout it has.
_PARTITIONED = """
CREATE TABLE provenance_band_keys_by_band (
    band_key INTEGER NOT NULL,
    code BIGINT NOT NULL,
    sketch_high BIGINT NOT NULL,
    sketch_low BIGINT NOT NULL
) PARTITION BY RANGE (band_key)
"""
_PARTITIONED_KEYS = """
ALTER TABLE provenance_band_keys_by_band ADD PRIMARY KEY (band_key, code) INCLUDE (sketch_high, sketch_low),
    ADD FOREIGN KEY (code) REFERENCES provenance_codes (id) ON DELETE CASCADE
"""
# Bumped with every change to the tables; a repository at this version is opened without any DDL.
SCHEMA_VERSION = 4  # 4: provenance_watermarks
# Written by the first release: one band index over whole-clip codes.
_OLD_BANDS = "provenance_code_bands"
# Written by the second: band keys without sketches.
_OLD_KEYS = "provenance_code_keys"
_UPGRADE_BATCH = 10_000
_OLDEST_SERVER = 140000  # bit_count()
assert SKETCH_BITS == 128, "stored as two BIGINT halves"
_U64 = (1 << 64) - 1
# After adding this many rows at once, refresh the planner's statistics and the visibility map, so the
# band index stays in use and lookups stay index-only.
_BULK = 1000
# Entries inserted by one set of statements in add_many.
_INSERT_ROWS = 1000
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
    """A manifest repository in a PostgreSQL database (`postgresql://...`), tables created on first use."""
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
        except psycopg.Error as e:
            raise RepositoryError(f"cannot use PostgreSQL repository {self.location}: {_reason(e)}") from e
        try:
            version = self._db.info.server_version
            if version < _OLDEST_SERVER:
                raise RepositoryError(f"PostgreSQL {version // 10000} at {self.location} is too old",
                                      remedy="Use PostgreSQL 14 or later (lookups use its bit_count).")
            if self._schema_version() != SCHEMA_VERSION:
                self._migrate()
        except (psycopg.Error, RepositoryError) as e:
            self._db.close()
            if isinstance(e, RepositoryError):
                raise
            raise RepositoryError(f"cannot use PostgreSQL repository {self.location}: {_reason(e)}") from e

    def _schema_version(self) -> int:
        """0 for an empty database, or one written before the version was recorded."""
        if not self._exists("provenance_schema"):
            return 0
        row = self._db.execute("SELECT max(version) FROM provenance_schema").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _migrate(self) -> None:
        """Create the tables or bring an earlier release's up to date, once, whoever connects first."""
        with self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            version = self._schema_version()  # again, under the lock: another client may have just done it
            if version > SCHEMA_VERSION:
                raise RepositoryError(f"{self.location} was written by a newer provenance (schema {version})",
                                      remedy="Upgrade provenance to use this repository.")
            if version == SCHEMA_VERSION:
                return
            self._db.execute(_SCHEMA)
            # The second release read thousands of candidates' codes through this index; sketches made it idle.
            self._db.execute("DROP INDEX IF EXISTS provenance_codes_found_by_id")
            if self._exists(_OLD_KEYS):
                self._upgrade_keys()
            if self._exists(_OLD_BANDS):
                self._upgrade()
            self._db.execute("DELETE FROM provenance_schema")
            self._db.execute("INSERT INTO provenance_schema (version) VALUES (%s)", (SCHEMA_VERSION,))

    def _exists(self, table: str) -> bool:
        row = self._db.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
        return bool(row and row[0])

    def _upgrade_keys(self) -> None:
        """Give every stored code sketched band keys, then drop the second release's index."""
        with self._db.cursor() as cur:
            last = 0
            while True:
                rows = cur.execute("SELECT id, code FROM provenance_codes WHERE id > %s ORDER BY id LIMIT %s",
                                   (last, _UPGRADE_BATCH)).fetchall()
                if not rows:
                    break
                self._add_keys(cur, [(int(row_id), bytes(code)) for row_id, code in rows])
                last = int(rows[-1][0])
            cur.execute(f"DROP TABLE {_OLD_KEYS}")

    def _upgrade(self) -> None:
        """Index the whole-clip codes of entries written by the first release, then drop its index."""
        with self._db.cursor() as cur:
            rows = cur.execute("SELECT id, video_code FROM provenance_manifests m WHERE video_code IS NOT NULL"
                               " AND NOT EXISTS (SELECT 1 FROM provenance_codes c WHERE c.entry = m.id)").fetchall()
            self._add_codes(cur, [(int(entry), [(bytes(code), None, None)]) for entry, code in rows])
            cur.execute(f"DROP TABLE {_OLD_BANDS}")

    @staticmethod
    def _add_codes(cur: Any, entries: Sequence[tuple[int, list[tuple[bytes, int | None, int | None]]]]) -> None:
        """Store each entry row's (Video-Code, start ms, end ms) and index them: two statements in all."""
        rows = [(entry, *code) for entry, codes in entries for code in codes]
        if not rows:
            return
        cur.execute("INSERT INTO provenance_codes (entry, code, start_ms, end_ms)"
                    " SELECT * FROM unnest(%s::bigint[], %s::bytea[], %s::bigint[], %s::bigint[]) RETURNING id, code",
                    tuple(map(list, zip(*rows, strict=True))))
        PostgresRepository._add_keys(cur, [(int(row_id), bytes(code)) for row_id, code in cur.fetchall()])

    @staticmethod
    def _add_keys(cur: Any, codes: list[tuple[int, bytes]]) -> None:
        """Index (code row, Video-Code body) pairs by their band keys, with their sketches."""
        columns: tuple[list[int], list[int], list[int], list[int]] = ([], [], [], [])
        for row_id, body in codes:
            value = sketch(body)
            high, low = _signed64(value >> 64), _signed64(value & _U64)
            for key in band_keys(body):
                for column, item in zip(columns, (key, row_id, high, low), strict=True):
                    column.append(item)
        cur.execute("INSERT INTO provenance_band_keys (band_key, code, sketch_high, sketch_low)"
                    " SELECT * FROM unnest(%s::integer[], %s::bigint[], %s::bigint[], %s::bigint[])"
                    " ON CONFLICT DO NOTHING", columns)

    def add_many(self, entries: Iterable[Entry]) -> int:
        """Store entries in one transaction; returns how many were new (an existing manifest id is kept).

        A few statements per thousand entries, not per entry: bulk ingest is bound by the index, not by
        round trips (bench/repository_scale.py).
        """
        unique: dict[str, Entry] = {}
        for entry in entries:
            unique.setdefault(entry.manifest_id, entry)  # the first of repeated ids, as one by one
        added = 0
        with self._lock:
            try:
                with self._db.transaction(), self._db.cursor() as cur:
                    for part in chunks(list(unique.values()), _INSERT_ROWS):
                        added += self._insert(cur, part)
                if added >= _BULK:
                    self._db.execute("VACUUM (ANALYZE) provenance_manifests, provenance_codes, provenance_band_keys")
            except self._error as e:
                raise RepositoryError(f"cannot write to {self.location}: {_reason(e)}") from e
        return added

    def _insert(self, cur: Any, entries: Sequence[Entry]) -> int:
        """Insert entries with distinct manifest ids, skipping those already stored; how many were new."""
        bindings = [entry.soft_binding for entry in entries]
        cur.execute(
            "INSERT INTO provenance_manifests (manifest_id, alg, value, video_code, instance_code, cert_sha256)"
            " SELECT * FROM unnest(%s::text[], %s::text[], %s::bytea[], %s::bytea[], %s::bytea[], %s::text[])"
            " ON CONFLICT (manifest_id) DO NOTHING RETURNING id, manifest_id",
            ([e.manifest_id for e in entries], [e.alg for e in entries], [e.value for e in entries],
             [b.video_code for b in bindings], [b.instance_code for b in bindings],
             [e.cert_sha256 for e in entries]))
        ids = {str(mid): int(row_id) for row_id, mid in cur.fetchall()}
        new = [(ids[e.manifest_id], e) for e in entries if e.manifest_id in ids]
        if not new:
            return 0
        cur.execute("INSERT INTO provenance_manifest_stores (id, store)"
                    " SELECT * FROM unnest(%s::bigint[], %s::bytea[])",
                    ([row_id for row_id, _ in new], [e.manifest_store for _, e in new]))
        self._add_codes(cur, [(row_id, e.codes()) for row_id, e in new])
        marks = [(row_id, alg, value) for row_id, e in new for alg, value in e.watermarks]
        if marks:
            cur.execute("INSERT INTO provenance_watermarks (entry, alg, value)"
                        " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::bytea[]) ON CONFLICT DO NOTHING",
                        tuple(map(list, zip(*marks, strict=True))))
        return len(new)

    def _query(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        try:
            rows: list[tuple[Any, ...]] = self._db.execute(sql, params).fetchall()
        except self._error as e:
            raise RepositoryError(f"cannot read {self.location}: {_reason(e)}") from e
        return rows

    def manifest_store(self, manifest_id: str) -> bytes | None:
        """The manifest store registered under `manifest_id`, or None."""
        with self._lock:
            rows = self._query(
                "SELECT s.store FROM provenance_manifests m JOIN provenance_manifest_stores s ON s.id = m.id"
                " WHERE m.manifest_id = %s", (manifest_id,))
        return bytes(rows[0][0]) if rows else None

    def count(self) -> int:
        """How many manifests are registered."""
        with self._lock:
            return int(self._query("SELECT count(*) FROM provenance_manifests", ())[0][0])

    def _by_value(self, alg: str, value: bytes) -> list[str]:
        rows = self._query("SELECT manifest_id FROM provenance_manifests WHERE alg = %s AND value = %s",
                           (alg, value))
        return [str(r[0]) for r in rows]

    def _by_instance(self, code: bytes) -> list[str]:
        rows = self._query("SELECT manifest_id FROM provenance_manifests WHERE instance_code = %s", (code,))
        return [str(r[0]) for r in rows]

    def _by_watermark(self, alg: str, identifier: bytes) -> list[str]:
        rows = self._query("SELECT m.manifest_id FROM provenance_watermarks w JOIN provenance_manifests m"
                           " ON m.id = w.entry WHERE w.alg = %s AND w.value = %s", (alg, identifier))
        return [str(r[0]) for r in rows]

    def _candidates(self, probes: Probes) -> list[tuple[int, int, bytes]]:
        # One index probe per key (a bitmap scan over ~1 000 keys is slower), the sketches compared in
        # the index-only scan; then the full codes of the few that may be near. The first half of the
        # sketch alone drops ~9 in 10 chance rows: comparing it first makes lookups 4x faster at 10^6
        # (the casts and bit counts, not the index, were most of a lookup's time).
        keys, highs, lows = [], [], []
        for key, value in probes.pairs():
            keys.append(key)
            highs.append(_signed64(value >> 64))
            lows.append(_signed64(value & _U64))
        near = self._query(
            "SELECT DISTINCT k.band_key, k.code"
            " FROM unnest(%s::integer[], %s::bigint[], %s::bigint[]) AS probe (band_key, high, low)"
            " JOIN provenance_band_keys k ON k.band_key = probe.band_key"
            " WHERE bit_count((k.sketch_high # probe.high)::bit(64)) <= %s"
            " AND bit_count((k.sketch_high # probe.high)::bit(64))"
            " + bit_count((k.sketch_low # probe.low)::bit(64)) <= %s",
            (_array(keys), _array(highs), _array(lows), probes.max_distance, probes.max_distance))
        if not near:
            return []
        rows = self._query("SELECT id, entry, code FROM provenance_codes WHERE id = ANY(%s)",
                           (sorted({int(code) for _, code in near}),))
        codes = {int(r[0]): (int(r[1]), bytes(r[2])) for r in rows}
        return [(int(key), *codes[int(code)]) for key, code in near if int(code) in codes]

    def _manifest_ids(self, entries: Sequence[int]) -> dict[int, str]:
        rows = self._query("SELECT id, manifest_id FROM provenance_manifests WHERE id = ANY(%s)", (list(entries),))
        return {int(r[0]): str(r[1]) for r in rows}

    def _signers(self, manifest_ids: Sequence[str]) -> dict[str, str]:
        rows = self._query("SELECT manifest_id, cert_sha256 FROM provenance_manifests WHERE manifest_id = ANY(%s)",
                           (list(manifest_ids),))
        return {str(r[0]): str(r[1]) for r in rows}

    def partitioned(self) -> bool:
        """Whether the band index is partitioned by band (`partition_by_band`)."""
        with self._lock:
            rows = self._query("SELECT relkind FROM pg_class WHERE oid = to_regclass('provenance_band_keys')", ())
        return bool(rows) and rows[0][0] == "p"

    def partition_by_band(self) -> bool:
        """Rebuild the band index as one table per band (14 partitions); False when it already is.

        Queries are the same either way (each probe is pruned to its band's partition); the layout is
        for 10^7 manifests and more, where one partition per band keeps each index a fourteenth of the
        whole, lets VACUUM and index rebuilds go band by band, and lets bands be put on separate
        tablespaces (docs/scale.md). Writers wait while it runs (minutes per million manifests);
        lookups go on. Needs free disk for a second copy of the band index while it runs.
        """
        if self.partitioned():
            return False
        with self._lock:
            try:
                with self._db.transaction():
                    self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    self._db.execute("LOCK TABLE provenance_band_keys IN EXCLUSIVE MODE")
                    self._db.execute(_PARTITIONED)
                    for band in range(BANDS):
                        self._db.execute(
                            f"CREATE TABLE provenance_band_keys_{band:02d} PARTITION OF provenance_band_keys_by_band"
                            f" FOR VALUES FROM ({band << BAND_BITS}) TO ({(band + 1) << BAND_BITS})")
                    # Rows first, then the keys: one sorted build per partition beats 10^8 index insertions.
                    self._db.execute("INSERT INTO provenance_band_keys_by_band SELECT band_key, code, sketch_high,"
                                     " sketch_low FROM provenance_band_keys")
                    self._db.execute(_PARTITIONED_KEYS)
                    self._db.execute("DROP TABLE provenance_band_keys")
                    self._db.execute("ALTER TABLE provenance_band_keys_by_band RENAME TO provenance_band_keys")
                    self._db.execute("ALTER INDEX provenance_band_keys_by_band_pkey"
                                     " RENAME TO provenance_band_keys_pkey")
                self._db.execute("VACUUM (ANALYZE) provenance_band_keys")
            except self._error as e:
                raise RepositoryError(f"cannot partition the band index of {self.location}: {_reason(e)}") from e
        return True

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()


def _array(values: list[int]) -> str:
    """An integer array as a PostgreSQL array literal: psycopg's own dumper checks every element
    against a pattern, a few ms for a lookup's 3 000 values."""
    return "{" + ",".join(map(str, values)) + "}"


def _signed64(value: int) -> int:
    """An unsigned 64-bit value as the signed BIGINT with the same bits."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _reason(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
