"""The watermark's data types: its payload, what embedding and detection return, its algorithm id.

The mark carries a 64-bit identifier (`Payload`), protected by a 40-bit check value and a
convolutional code (provenance.watermark.coding). The identifier is what the manifest repository
indexes: a `c2pa.soft-binding` assertion with `alg` ALGORITHM_ID and the 8 identifier bytes as its
value, so the Soft Binding Resolution API's `byBinding` finds the manifest from a detection.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provenance.watermark import coding, detector

# A reverse-domain id of our own: this algorithm is NOT on the C2PA soft-binding algorithm list
# (softbinding-algorithm-list); a resolver that only knows that list will not recognise it.
ALGORITHM_ID = "org.provenance.wm.v1"
IDENTIFIER_BYTES = coding.IDENTIFIER_BITS // 8
# P(an unmarked clip yields a payload whose check value matches), per clip: at most DECODE_ATTEMPTS
# decodes, each trying LIST_SIZE candidates, each passing the 40-bit check with probability 2^-40 when
# its bits are unrelated to the key (docs/watermark.md derives it).
FALSE_POSITIVE_BOUND = detector.DECODE_ATTEMPTS * coding.LIST_SIZE * 2.0 ** -coding.CHECK_BITS

# Progress callbacks get (seconds of video done, seconds in all, or None when the length is unknown).
Progress = Callable[[float, "float | None"], None]


@dataclass(frozen=True)
class Payload:
    """The 64-bit identifier a mark carries (the soft-binding value registered with the manifest)."""

    identifier: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.identifier, bytes) or len(self.identifier) != IDENTIFIER_BYTES:
            raise ValueError(f"a watermark identifier is {IDENTIFIER_BYTES} bytes")

    @classmethod
    def random(cls) -> Payload:
        """A fresh random identifier (register it with the manifest)."""
        return cls(secrets.token_bytes(IDENTIFIER_BYTES))

    @classmethod
    def from_manifest_id(cls, manifest_id: str) -> Payload:
        """The identifier derived from a manifest id (its URN, e.g. `urn:c2pa:…`): the first 8 bytes
        of the SHA-256 of its UTF-8 text. The same manifest id always gives the same payload."""
        return cls(hashlib.sha256(manifest_id.encode("utf-8")).digest()[:IDENTIFIER_BYTES])

    @classmethod
    def from_hex(cls, text: str) -> Payload:
        """The payload written as 16 hexadecimal digits (as `hex` gives it)."""
        try:
            return cls(bytes.fromhex(text))
        except ValueError as e:
            raise ValueError(f"not a watermark identifier (16 hex digits): {text!r}") from e

    @property
    def hex(self) -> str:
        """The identifier as 16 lowercase hexadecimal digits."""
        return self.identifier.hex()

    @property
    def value(self) -> bytes:
        """The soft-binding value for the manifest and for `byBinding` lookups: the 8 identifier bytes."""
        return self.identifier


@dataclass(frozen=True)
class EmbedResult:
    """A marked clip: where it is, what it carries, how it was encoded."""

    output: Path
    payload: Payload
    frames: int
    width: int
    height: int
    codec: str
    crf: int
    audio_copied: bool


@dataclass(frozen=True)
class Detection:
    """What detection found in a clip.

    `payload` is None when no mark was found (or none decoded with a valid check value).
    `score` is the pilot correlation peak in standard deviations (unmarked clips stay near 4-5;
    marks found well are far above); `bit_agreement` the share of coded bits that agree with the
    decoded codeword (0.5 is chance). `false_positive_bound` bounds the probability that an
    unmarked clip gives any payload at all.
    """

    payload: Payload | None
    score: float
    bit_agreement: float
    frames: int
    width: int
    height: int
    tile_pixels: tuple[float, float] | None  # the tile period found (x, y), in pixels of the clip as read
    false_positive_bound: float = FALSE_POSITIVE_BOUND
    algorithm: str = ALGORITHM_ID

    @property
    def found(self) -> bool:
        """Whether a payload was recovered."""
        return self.payload is not None
