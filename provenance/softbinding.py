"""Soft binding: the ISO 24138 ISCC Video-Code of a clip, as a C2PA `c2pa.soft-binding` assertion.

A soft binding survives what breaks the hard binding (a re-encode, a remux, a stripped manifest),
so the manifest can be found again in a manifest repository. The algorithm is `io.iscc.v0`, entry 3
of the C2PA soft-binding algorithm list; its value format is IEP-0020's ISCC-SEQ: 256-bit ISCC-UNITs
concatenated, here the Video-Code of the clip and the Instance-Code of the exact file that was signed.

The Video-Code is computed the way iscc-sdk computes it, so any ISCC implementation gets the same
code: ffmpeg's MPEG-7 `signature` filter on frames sampled at 5 fps, then iscc-core's
`gen_video_code_v0`. ffmpeg writes the signatures as XML (the format iscc-core documents), read with
the standard library, so no hand-written bit parser is needed.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SoftBindingError

ALG = "io.iscc.v0"
LABEL = "c2pa.soft-binding"
UNIT_BITS = 256  # IEP-0020: every ISCC-UNIT of an io.iscc.v0 value has a 256-bit body
UNIT_BYTES = UNIT_BITS // 8
FRAMES_PER_SECOND = 5  # iscc-sdk's default sampling rate for the Video-Code
# Two Video-Codes at most this many bits apart (of 256) are taken for the same video. Chosen with
# bench/durability.py (table in the README): 95 % of re-encoded or halved copies stay within it,
# while distinct clips came no closer than 51 bits (unrelated videos differ in ~128). It is also
# the farthest the repository's band index finds exactly (repository.base.INDEX_REACH).
MATCH_THRESHOLD = 47

_MPEG7_FRAME = "{urn:mpeg:mpeg7:schema:2001}FrameSignature"
_FRAME_SIGNATURE_LENGTH = 380
# ISO 24138 header fields (MainType / SubType) of the units we read.
_MAINTYPE_CONTENT = 2
_SUBTYPE_VIDEO = 3
_MAINTYPE_INSTANCE = 4


def hamming(a: bytes, b: bytes) -> int:
    """Number of differing bits between two equally long codes."""
    if len(a) != len(b):
        raise ValueError("codes of different length cannot be compared")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def similarity_score(distance: int) -> int:
    """0..100 as the Soft Binding Resolution API wants it: 100 identical, 0 as far apart as chance."""
    return max(0, min(100, round(100 * (1 - distance / (UNIT_BITS / 2)))))


@dataclass(frozen=True)
class SoftBinding:
    """An io.iscc.v0 soft binding value: ISCC-UNITs in canonical `ISCC:` form."""

    units: tuple[str, ...]

    @classmethod
    def from_value(cls, value: bytes) -> SoftBinding:
        """Decode an ISCC-SEQ (the assertion's block value or an API query); ValueError if malformed."""
        import iscc_core as ic

        try:
            return cls(tuple(ic.decode_seq(bytes(value))))
        except (TypeError, ValueError) as e:
            raise ValueError(f"not an ISCC-SEQ: {e}") from e

    @property
    def value(self) -> bytes:
        import iscc_core as ic

        encoded: bytes = ic.encode_seq(list(self.units))
        return encoded

    def _body(self, maintype: int, subtype: int | None) -> bytes | None:
        import iscc_core as ic

        for unit in self.units:
            mtype, stype, version, length, body = ic.iscc_decode(unit)
            # IEP-0020: units shorter than 256 bits or of another version are ignored for matching.
            if mtype == maintype and (subtype is None or stype == subtype) and version == 0 and length == 7:
                return bytes(body)
        return None

    @property
    def video_code(self) -> bytes | None:
        """The 32-byte body of the 256-bit Video-Code, when the value has one."""
        return self._body(_MAINTYPE_CONTENT, _SUBTYPE_VIDEO)

    @property
    def instance_code(self) -> bytes | None:
        """The 32-byte body of the Instance-Code (a cryptographic hash of the signed source)."""
        return self._body(_MAINTYPE_INSTANCE, None)

    @property
    def iscc(self) -> str:
        """The value for display: `ISCC:` and the base32 of the ISCC-SEQ (IEP-0020)."""
        import iscc_core as ic

        return "ISCC:" + str(ic.encode_base32(self.value))

    def distance(self, other: SoftBinding) -> int | None:
        """Bits between the two Video-Codes; 0 when the Instance-Codes are equal; None if incomparable."""
        mine, theirs = self.instance_code, other.instance_code
        if mine is not None and mine == theirs:
            return 0
        mine, theirs = self.video_code, other.video_code
        if mine is None or theirs is None:
            return None
        return hamming(mine, theirs)

    def matches(self, other: SoftBinding, threshold: int = MATCH_THRESHOLD) -> bool:
        distance = self.distance(other)
        return distance is not None and distance <= threshold

    def assertion(self) -> dict[str, Any]:
        """The `c2pa.soft-binding` assertion for a manifest definition.

        The block value is given as a list of byte values, as iscc-sdk does: c2pa-rs stores it as
        CBOR, and IEP-0020 readers accept it; c2pa's reader reports it back as base64.
        """
        return {
            "label": LABEL,
            "data": {
                "alg": ALG,
                "blocks": [{"scope": {}, "value": list(self.value)}],
                "name": "ISO 24138 ISCC Video-Code of the content and Instance-Code of the signed source",
            },
        }


def frame_signatures(path: str | os.PathLike[str], *, threads: int | None = None) -> list[tuple[int, ...]]:
    """MPEG-7 frame signatures of a video, sampled as iscc-sdk samples them."""
    import xml.etree.ElementTree as ElementTree

    from imageio_ffmpeg import get_ffmpeg_exe

    source = Path(path).resolve()
    with tempfile.TemporaryDirectory(prefix="provenance-iscc-") as work:
        # The signature file is named relative to the working folder, so no path needs filter escaping;
        # "file:" keeps ffmpeg from reading a name as a protocol or an option.
        cmd = [get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
        if threads is not None:
            cmd += ["-threads", str(threads)]
        cmd += ["-i", f"file:{source}", "-an", "-sn", "-dn",
                "-vf", f"fps=fps={FRAMES_PER_SECOND},signature=format=xml:filename=signature.xml",
                "-f", "null", "-"]
        try:
            proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, errors="replace", check=False)
        except OSError as e:
            raise SoftBindingError(f"cannot run ffmpeg: {e.strerror or e}") from e
        signature_file = Path(work) / "signature.xml"
        if proc.returncode != 0 or not signature_file.is_file():
            reason = (proc.stderr.strip().splitlines() or ["no video stream"])[-1]
            raise SoftBindingError(f"{path}: cannot compute the ISCC Video-Code: {reason}")
        try:
            frames = [_frame(element.text) for _, element in ElementTree.iterparse(signature_file)
                      if element.tag == _MPEG7_FRAME]
        except (ElementTree.ParseError, ValueError) as e:
            raise SoftBindingError(f"{path}: ffmpeg wrote an unreadable video signature: {e}") from e
    if not frames:
        raise SoftBindingError(f"{path}: has no video frames to fingerprint")
    return frames


def _frame(text: str | None) -> tuple[int, ...]:
    values = tuple(int(v) for v in (text or "").split())
    if len(values) != _FRAME_SIGNATURE_LENGTH:
        raise ValueError(f"frame signature has {len(values)} values, not {_FRAME_SIGNATURE_LENGTH}")
    return values


def video_code(path: str | os.PathLike[str], *, threads: int | None = None) -> str:
    """The 256-bit ISCC Video-Code of a clip, e.g. `ISCC:EMD...`."""
    import iscc_core as ic

    code: str = ic.gen_video_code_v0(frame_signatures(path, threads=threads), bits=UNIT_BITS)["iscc"]
    return code


def instance_code(path: str | os.PathLike[str]) -> str:
    """The 256-bit ISCC Instance-Code of a file's exact bytes."""
    import iscc_core as ic

    try:
        with open(path, "rb") as stream:
            code: str = ic.gen_instance_code_v0(stream, bits=UNIT_BITS)["iscc"]
    except OSError as e:
        raise SoftBindingError(f"{path}: cannot be read ({e.strerror or e})") from e
    return code


def compute(path: str | os.PathLike[str], *, with_instance: bool = True, threads: int | None = None) -> SoftBinding:
    """The soft binding of a file: its Video-Code, and (IEP-0020 recommends it) its Instance-Code."""
    units = [video_code(path, threads=threads)]
    if with_instance:
        units.append(instance_code(path))
    return SoftBinding(tuple(units))


def _block_value(raw: Any) -> bytes | None:
    """A block value as c2pa's reader reports it (base64 text) or as stored (bytes, list of ints)."""
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    if isinstance(raw, str):
        try:
            return base64.b64decode(raw, validate=True)
        except ValueError:
            return None
    if isinstance(raw, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw):
        return bytes(raw)
    return None


def _soft_binding_assertions(manifest: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for assertion in manifest.get("assertions", []):
        label = str(assertion.get("label", ""))
        # c2pa numbers repeated assertions: c2pa.soft-binding__1, ...
        if label == LABEL or label.startswith(LABEL + "__"):
            data = assertion.get("data")
            if isinstance(data, Mapping):
                yield data


def from_manifest(manifest: Mapping[str, Any]) -> SoftBinding | None:
    """The io.iscc.v0 soft binding recorded in a manifest (c2pa reader JSON), if any."""
    for data in _soft_binding_assertions(manifest):
        if data.get("alg") != ALG:
            continue
        for block in data.get("blocks", []):
            value = _block_value(block.get("value")) if isinstance(block, Mapping) else None
            if value is None:
                continue
            try:
                return SoftBinding.from_value(value)
            except ValueError:
                continue
    return None
