"""What every manifest repository does, whatever holds the rows.

A repository keeps signed manifest stores with their io.iscc.v0 soft binding and the signer's leaf
certificate fingerprint, and finds them again by the exact soft-binding value, by Instance-Code, or
by the nearest Video-Code.

The nearest-code search is multi-index hashing (Norouzi et al.): the 256-bit Video-Code is cut into
16 bands of 16 bits, each stored as one indexed key. Two codes at most 47 bits apart agree within 2
bits on at least one band (pigeonhole: 16 bands × 3 bits > 47), so probing each band with every value
up to 2 bits away (137 values) finds every such code through the index; the candidates' full
distance is then computed exactly. A query costs 2 192 index probes, whatever the repository's size.
"""

from __future__ import annotations

import itertools
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from ..errors import UsageError
from ..softbinding import ALG, MATCH_THRESHOLD, UNIT_BYTES, SoftBinding, hamming

BANDS = 16
BAND_BITS = 16
PROBE_RADIUS = 2  # bits flipped per band when probing
# Every stored code within this distance of a query is found (pigeonhole over the bands).
INDEX_REACH = BANDS * (PROBE_RADIUS + 1) - 1
_PROBE_MASKS = tuple(
    sum(1 << bit for bit in bits)
    for radius in range(PROBE_RADIUS + 1)
    for bits in itertools.combinations(range(BAND_BITS), radius)
)
MAX_RESULTS = 100
assert MATCH_THRESHOLD <= INDEX_REACH, "the default threshold must be within the index's exact reach"


class QueryError(UsageError):
    """A lookup asked for something no repository can answer (bad value, unknown algorithm)."""

    remedy = f"Query with alg {ALG} and a base64 ISCC-SEQ value."


@dataclass(frozen=True)
class Entry:
    """One registered manifest store and the keys it is found by."""

    manifest_id: str  # the active manifest's label, e.g. urn:c2pa:…
    value: bytes  # the io.iscc.v0 soft-binding value (ISCC-SEQ)
    cert_sha256: str  # hex SHA-256 of the signer's leaf certificate
    manifest_store: bytes
    alg: str = ALG

    @property
    def soft_binding(self) -> SoftBinding:
        return SoftBinding.from_value(self.value)


@dataclass(frozen=True)
class Match:
    manifest_id: str
    distance: int  # bits between the Video-Codes; 0 for an exact value or Instance-Code match
    endpoint: str | None = None  # another resolver that holds the manifest (API `endpoint`)


def band_keys(code: bytes) -> list[int]:
    """The 16 index keys of a 256-bit code: band number in the high bits, band value in the low 16."""
    if len(code) != UNIT_BYTES:
        raise ValueError(f"a Video-Code body has {UNIT_BYTES} bytes, not {len(code)}")
    return [(band << BAND_BITS) | int.from_bytes(code[2 * band : 2 * band + 2], "big") for band in range(BANDS)]


def probe_keys(code: bytes) -> list[int]:
    """Every band key within PROBE_RADIUS bits of the query's bands."""
    return [key ^ mask for key in band_keys(code) for mask in _PROBE_MASKS]


class Lookup(Protocol):
    """Where manifests are looked up: a local repository or a remote resolver."""

    @property
    def location(self) -> str: ...

    def match(self, alg: str, value: bytes, max_results: int = 10) -> list[Match]: ...

    def manifest_store(self, manifest_id: str) -> bytes | None: ...


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

    # -- storage, per backend -------------------------------------------------------------
    @abstractmethod
    def add_many(self, entries: Iterable[Entry]) -> int:
        """Store entries; ones whose manifest id is already stored are skipped. Returns how many were new."""

    @abstractmethod
    def manifest_store(self, manifest_id: str) -> bytes | None: ...

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def _by_value(self, alg: str, value: bytes) -> list[str]: ...

    @abstractmethod
    def _by_instance(self, code: bytes) -> list[str]: ...

    @abstractmethod
    def _candidates(self, keys: Sequence[int]) -> list[tuple[str, bytes]]:
        """(manifest id, Video-Code) of every entry having one of the band keys."""

    @abstractmethod
    def close(self) -> None: ...

    # -- shared behaviour -----------------------------------------------------------------
    def add(self, entry: Entry) -> bool:
        """Store one entry; False when its manifest id was already there."""
        return self.add_many([entry]) == 1

    def nearest(self, code: bytes, *, max_distance: int = MATCH_THRESHOLD, limit: int = 10) -> list[Match]:
        """Entries whose Video-Code is at most `max_distance` bits from `code`, nearest first."""
        if not 0 <= max_distance <= INDEX_REACH:
            raise QueryError(f"max distance must be between 0 and {INDEX_REACH} bits, not {max_distance}")
        with self._lock:
            candidates = self._candidates(probe_keys(code))
        found = {mid: hamming(code, stored) for mid, stored in candidates}
        matches = [Match(mid, d) for mid, d in found.items() if d <= max_distance]
        return sorted(matches, key=lambda m: (m.distance, m.manifest_id))[:limit]

    def match(self, alg: str, value: bytes, max_results: int = 10, *,
              max_distance: int = MATCH_THRESHOLD) -> list[Match]:
        """Resolve a soft-binding query (IEP-0020: any subset of the stored ISCC-UNITs)."""
        if alg != ALG:
            raise QueryError(f"unsupported soft-binding algorithm {alg!r}; this repository supports {ALG}")
        if not 1 <= max_results <= MAX_RESULTS:
            raise QueryError(f"maxResults must be between 1 and {MAX_RESULTS}")
        try:
            query = SoftBinding.from_value(value)
        except ValueError as e:
            raise QueryError(f"invalid {ALG} value: {e}") from e
        best: dict[str, int] = {}
        with self._lock:
            exact = self._by_value(alg, query.value)
            instance = self._by_instance(query.instance_code) if query.instance_code else []
        for mid in itertools.chain(exact, instance):
            best[mid] = 0
        if query.video_code is not None:
            for m in self.nearest(query.video_code, max_distance=max_distance, limit=max_results):
                best[m.manifest_id] = min(best.get(m.manifest_id, m.distance), m.distance)
        if not best and query.video_code is None and query.instance_code is None:
            raise QueryError("the value holds no 256-bit Video-Code or Instance-Code to look up")
        ranked = sorted(best.items(), key=lambda item: (item[1], item[0]))
        return [Match(mid, d) for mid, d in ranked[:max_results]]

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
