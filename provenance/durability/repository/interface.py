"""What every manifest repository does, whatever holds the rows.

A repository keeps signed manifest stores with their io.iscc.v0 soft binding and the signer's leaf
certificate fingerprint, and finds them again by the exact soft-binding value, by Instance-Code, or
by the nearest Video-Code: every Video-Code of the query (whole clip and windows) against every
stored one (whole clip and 2-second segments).

The nearest-code search is multi-index hashing (Norouzi et al.): each stored 256-bit Video-Code is
cut into 14 bands of 18 bits (the last 4 bits are in none), each kept as one indexed key. The
query's first Video-Code (the whole clip, the one any ISCC client sends) is probed with every band
value up to 1 bit away (14 × 19 keys): two codes at most 27 bits apart differ in at most 1 bit of
some band (pigeonhole: 14 bands × 2 bits > 27), so every stored code within 27 bits of it is found.
The query's other codes (its windows, up to 50) are probed with their own band values only
(14 keys each): that finds every stored code within 13 bits, and a farther one whenever a band
agrees, which a copy's many window/segment pairs make near certain (bench/durability.py counts
what the index missed against a full scan). Candidates' full distances are then computed exactly.
A copy's lookup (51 codes) costs at most 966 index probes, any query (MAX_QUERY_CODES) 1 148,
whatever the repository's size, and random 18-bit band collisions stay rare
(bench/repository_lookup.py).

Anyone able to register can register a manifest for any content, as often as they like. When more
entries match than a lookup may return, each signer's nearest entries are kept first (by the leaf
certificate fingerprint recorded with each entry), so one signer's flood of registrations never
crowds out another signer's match.
"""

from __future__ import annotations

import itertools
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, TypeVar

from provenance.durability.softbinding import (
    ALG,
    MATCH_THRESHOLD,
    UNIT_BITS,
    UNIT_BYTES,
    Segment,
    SoftBinding,
    query_codes,
    video_body,
)
from provenance.errors import UsageError

BANDS = 14
BAND_BITS = 18
PROBE_RADIUS = 1  # bits flipped per band when probing with a query's first Video-Code
# Every stored code within this distance of a query's first Video-Code is found (pigeonhole).
INDEX_REACH = BANDS * (PROBE_RADIUS + 1) - 1
# ... and within this distance of any other Video-Code of the query (one band agrees exactly).
EXACT_REACH = BANDS - 1
_BAND_MASK = (1 << BAND_BITS) - 1
_PROBE_MASKS = tuple(
    sum(1 << bit for bit in bits)
    for radius in range(PROBE_RADIUS + 1)
    for bits in itertools.combinations(range(BAND_BITS), radius)
)
SKETCH_BITS = 128
MAX_RESULTS = 100  # the most matches one Soft Binding Resolution API query returns (its maxResults)
# The most matches one local lookup returns (recovery's resource limit: each is fetched and validated).
MAX_LOOKUP_RESULTS = 256
MAX_QUERY_CODES = 64  # Video-Codes one query may hold (a copy's lookup sends at most 51)
assert MATCH_THRESHOLD <= INDEX_REACH, "the default threshold must be within the index's exact reach"


class QueryError(UsageError):
    """A lookup asked for something no repository can answer (bad value, unknown algorithm)."""

    remedy = f"Query with alg {ALG} and a base64 ISCC-SEQ value."


@dataclass(frozen=True)
class Entry:
    """One registered manifest store and the keys it is found by."""

    manifest_id: str  # the active manifest's label, e.g. urn:c2pa:…
    value: bytes  # the io.iscc.v0 soft-binding value of the whole clip (ISCC-SEQ, the first block)
    cert_sha256: str  # hex SHA-256 of the signer's leaf certificate
    manifest_store: bytes
    alg: str = ALG
    segments: tuple[Segment, ...] = ()  # the Video-Codes of its segments (timespan blocks)
    # (alg, identifier) of each watermark its manifest records (c2pa.soft-binding, e.g. org.provenance.wm.v1)
    watermarks: tuple[tuple[str, bytes], ...] = ()

    @property
    def soft_binding(self) -> SoftBinding:
        """The soft binding this entry was registered with: its units and segments."""
        return SoftBinding(SoftBinding.from_value(self.value).units, self.segments)

    def codes(self) -> list[tuple[bytes, int | None, int | None]]:
        """(Video-Code body, start ms, end ms) to index: whole clip (no span) first, each code once."""
        whole = SoftBinding.from_value(self.value).video_code
        found: dict[bytes, tuple[int | None, int | None]] = {} if whole is None else {whole: (None, None)}
        for segment in self.segments:
            body = video_body(segment.unit)
            if body is not None:
                found.setdefault(body, (segment.start_ms, segment.end_ms))
        return [(body, start, end) for body, (start, end) in found.items()]


@dataclass(frozen=True)
class Match:
    """A manifest that a lookup found for a query, and how close it is."""
    manifest_id: str
    distance: int  # bits between the closest Video-Codes; 0 for an exact value or Instance-Code match
    endpoint: str | None = None  # another resolver that holds the manifest (API `endpoint`)


@dataclass(frozen=True)
class Probes:
    """A lookup's index probes: each key with the positions of the query codes probing it (probe_plan),
    the query codes' sketches, and the farthest distance that still matches."""

    plan: dict[int, tuple[int, ...]]
    sketches: tuple[int, ...]
    max_distance: int

    @property
    def keys(self) -> list[int]:
        """The band keys the query probes, in order."""
        return sorted(self.plan)

    def pairs(self) -> list[tuple[int, int]]:
        """(key, sketch of a query code probing it) for every probe."""
        return [(key, self.sketches[i]) for key, positions in sorted(self.plan.items()) for i in positions]


def sketch(code: bytes) -> int:
    """The code's first SKETCH_BITS bits: the distance between two sketches is a lower bound of the
    distance between their codes, so a backend can drop most chance candidates before reading codes."""
    return int.from_bytes(code[: SKETCH_BITS // 8], "big")


def band_keys(code: bytes) -> list[int]:
    """The 14 index keys of a 256-bit code: band number in the high bits, the band's 18 bits below."""
    if len(code) != UNIT_BYTES:
        raise ValueError(f"a Video-Code body has {UNIT_BYTES} bytes, not {len(code)}")
    value = int.from_bytes(code, "big")
    return [(band << BAND_BITS) | ((value >> (UNIT_BITS - (band + 1) * BAND_BITS)) & _BAND_MASK)
            for band in range(BANDS)]


def probe_plan(codes: Sequence[bytes]) -> dict[int, tuple[int, ...]]:
    """The index keys a query probes, each with the positions in `codes` of the codes probing it:
    every key within PROBE_RADIUS bits of the first code's bands, the other codes' own keys."""
    plan: dict[int, set[int]] = {}
    for position, code in enumerate(codes):
        masks = _PROBE_MASKS if position == 0 else (0,)
        for key in band_keys(code):
            for mask in masks:
                plan.setdefault(key ^ mask, set()).add(position)
    return {key: tuple(sorted(positions)) for key, positions in plan.items()}


class Lookup(Protocol):
    """Where manifests are looked up: a local repository or a remote resolver."""

    @property
    def location(self) -> str:
        """Where the lookup goes, for messages: a file path, a database URL or a resolver URL."""

    @property
    def result_limit(self) -> int:
        """The largest `max_results` this lookup accepts."""
        ...

    def match(self, alg: str, value: bytes, max_results: int = 10) -> list[Match]:
        """The manifests whose soft binding of algorithm `alg` is within reach of `value`, nearest first."""

    def manifest_store(self, manifest_id: str) -> bytes | None:
        """The manifest store registered under `manifest_id`, or None."""


class Repository(ABC):
    """Storage-independent part of a manifest repository; subclasses hold the rows."""

    def __init__(self, location: str) -> None:
        self._location = location
        # One connection per repository object, shared by the server's worker threads.
        self._lock = threading.RLock()

    @property
    def location(self) -> str:
        """Where the rows live, for messages (never with a password)."""
        return self._location

    @property
    def file(self) -> Path | None:
        """The local file holding the rows, when there is one (outputs must never overwrite it)."""
        return None

    @property
    def result_limit(self) -> int:
        """The largest `max_results` a repository lookup accepts."""
        return MAX_LOOKUP_RESULTS

    # -- storage, per backend -------------------------------------------------------------
    @abstractmethod
    def add_many(self, entries: Iterable[Entry]) -> int:
        """Store entries; ones whose manifest id is already stored are skipped. Returns how many were new."""

    @abstractmethod
    def manifest_store(self, manifest_id: str) -> bytes | None:
        """The manifest store registered under `manifest_id`, or None."""

    @abstractmethod
    def count(self) -> int:
        """How many manifests are registered."""

    @abstractmethod
    def _by_value(self, alg: str, value: bytes) -> list[str]: ...

    @abstractmethod
    def _by_instance(self, code: bytes) -> list[str]: ...

    @abstractmethod
    def _by_watermark(self, alg: str, identifier: bytes) -> list[str]:
        """The manifest ids registered with this watermark identifier."""

    @abstractmethod
    def _candidates(self, probes: Probes) -> list[tuple[int, int, bytes]]:
        """(band key, entry row, Video-Code) for each of the probed keys each stored code has.

        A backend that stores each key with its code's sketch may leave out the codes whose sketch is
        farther than `probes.max_distance` from those of the query codes probing that key: their
        codes are farther still."""

    @abstractmethod
    def _manifest_ids(self, entries: Sequence[int]) -> dict[int, str]:
        """Entry row → manifest id."""

    @abstractmethod
    def _signers(self, manifest_ids: Sequence[str]) -> dict[str, str]:
        """Manifest id → hex SHA-256 of its signer's leaf certificate."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection; the repository cannot be used afterwards."""

    # -- shared behaviour -----------------------------------------------------------------
    def add(self, entry: Entry) -> bool:
        """Store one entry; False when its manifest id was already there."""
        return self.add_many([entry]) == 1

    def nearest(self, codes: Sequence[bytes], *, max_distance: int = MATCH_THRESHOLD,
                limit: int | None = 10) -> list[Match]:
        """Entries having a Video-Code at most `max_distance` bits from one of `codes`, nearest first
        (all of them with `limit` None).

        `codes[0]` is found exactly within INDEX_REACH bits; the others within EXACT_REACH bits,
        and beyond that when one of their bands agrees (see the module's description).
        """
        if not 0 <= max_distance <= INDEX_REACH:
            raise QueryError(f"max distance must be between 0 and {INDEX_REACH} bits, not {max_distance}")
        if len(codes) > MAX_QUERY_CODES:
            raise QueryError(f"a query may hold at most {MAX_QUERY_CODES} Video-Codes, not {len(codes)}")
        if not codes:
            return []
        plan = probe_plan(codes)
        query = [int.from_bytes(code, "big") for code in codes]
        with self._lock:
            candidates = self._candidates(Probes(plan, tuple(map(sketch, codes)), max_distance))
        best: dict[int, int] = {}
        for key, entry, stored in candidates:
            value = int.from_bytes(stored, "big")
            # Most candidates share a band with a query code by chance: measure against the codes
            # that probed this key first, and against all of them only when one of those is near.
            if min((value ^ query[i]).bit_count() for i in plan[key]) > max_distance:
                continue
            distance = min((value ^ q).bit_count() for q in query)
            best[entry] = min(best.get(entry, distance), distance)
        if not best:
            return []
        with self._lock:
            names = self._manifest_ids(sorted(best))
        ranked = sorted(((names[entry], d) for entry, d in best.items() if entry in names),
                        key=lambda item: (item[1], item[0]))
        return [Match(mid, d) for mid, d in (ranked if limit is None else ranked[:limit])]

    def match(self, alg: str, value: bytes, max_results: int = 10, *,
              max_distance: int = MATCH_THRESHOLD) -> list[Match]:
        """Resolve a soft-binding query: an ISCC-SEQ holding any subset of the stored ISCC-UNITs
        (IEP-0020), or a copy's whole-clip Video-Code followed by the Video-Codes of its windows."""
        from provenance.watermark.interface import ALGORITHM_ID, IDENTIFIER_BYTES

        if alg not in (ALG, ALGORITHM_ID):
            raise QueryError(f"unsupported soft-binding algorithm {alg!r}; this repository supports {ALG} and "
                             f"{ALGORITHM_ID}")
        if not 1 <= max_results <= MAX_LOOKUP_RESULTS:
            raise QueryError(f"maxResults must be between 1 and {MAX_LOOKUP_RESULTS}")
        if alg == ALGORITHM_ID:  # a watermark identifier names its manifests exactly: no nearest-code search
            if len(value) != IDENTIFIER_BYTES:
                raise QueryError(f"an {ALGORITHM_ID} value is {IDENTIFIER_BYTES} bytes, not {len(value)}")
            with self._lock:
                found = dict.fromkeys(self._by_watermark(alg, value), 0)
            if len(found) > max_results:
                found = self._per_signer(found, max_results)
            return [Match(mid, 0) for mid in sorted(found)]
        try:
            codes, instance_code = query_codes(value)
        except ValueError as e:
            raise QueryError(f"invalid {ALG} value: {e}") from e
        # Every match, not the nearest few: which ones to keep is decided below. First: it refuses big queries.
        near = self.nearest(codes, max_distance=max_distance, limit=None)
        best: dict[str, int] = {}
        with self._lock:
            # A valid ISCC-SEQ is canonical (decoding is strict), so the value is compared as sent.
            exact = self._by_value(alg, bytes(value))
            instance = self._by_instance(instance_code) if instance_code else []
        for mid in itertools.chain(exact, instance):
            best[mid] = 0
        for m in near:
            best[m.manifest_id] = min(best.get(m.manifest_id, m.distance), m.distance)
        if not best and not codes and instance_code is None:
            raise QueryError("the value holds no 256-bit Video-Code or Instance-Code to look up")
        if len(best) > max_results:
            best = self._per_signer(best, max_results)
        ranked = sorted(best.items(), key=lambda item: (item[1], item[0]))
        return [Match(mid, d) for mid, d in ranked]

    def _per_signer(self, best: dict[str, int], keep: int) -> dict[str, int]:
        """`keep` of the matches: every signer's nearest first, then every signer's second nearest, …"""
        with self._lock:
            signers = self._signers(sorted(best))
        seen: dict[str, int] = {}
        order: list[tuple[int, int, str]] = []
        for mid, distance in sorted(best.items(), key=lambda item: (item[1], item[0])):
            signer = signers.get(mid, mid)
            seen[signer] = seen.get(signer, -1) + 1
            order.append((seen[signer], distance, mid))
        return {mid: distance for _, distance, mid in sorted(order)[:keep]}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


_T = TypeVar("_T")


def chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """`items` in consecutive slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
