"""Find a file's C2PA manifest store and read the signer certificates out of it.

c2pa's JSON report names the signer's organisation but not its certificate, so
the leaf certificate is taken from the `x5chain` header of the active manifest's
COSE_Sign1 signature. Files are walked box by box / segment by segment with
seeks, so a large video is never read into memory.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

import cbor2

from .media import MediaType

C2PA_BMFF_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
_MAX_STORE = 64 * 1024 * 1024  # a manifest store larger than this is refused as hostile
_COSE_X5CHAIN = 33
_COSE_SIGN1_TAG = 18


@dataclass(frozen=True)
class Box:
    type: bytes
    label: str | None
    payload: bytes  # content after the box header (for superboxes: children incl. jumd)
    children: tuple[Box, ...] = ()


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ValueError("truncated")
    return data


def _bmff_store(f: BinaryIO, size: int) -> bytes | None:
    offset = 0
    while offset + 8 <= size:
        f.seek(offset)
        box_size, box_type = struct.unpack(">I4s", _read_exact(f, 8))
        header = 8
        if box_size == 1:
            box_size = struct.unpack(">Q", _read_exact(f, 8))[0]
            header = 16
        elif box_size == 0:
            box_size = size - offset
        if box_size < header:
            return None
        if box_type == b"uuid" and box_size - header <= _MAX_STORE and _read_exact(f, 16) == C2PA_BMFF_UUID:
            body = _read_exact(f, box_size - header - 16)
            # version/flags (4), purpose string, then an 8-byte offset before the JUMBF.
            end = body.index(b"\x00", 4)
            if body[4:end] == b"manifest":
                return body[end + 1 + 8 :]
        offset += box_size
    return None


def _riff_store(f: BinaryIO, size: int) -> bytes | None:
    offset = 12
    while offset + 8 <= size:
        f.seek(offset)
        chunk_id, chunk_size = struct.unpack("<4sI", _read_exact(f, 8))
        if chunk_id == b"C2PA" and chunk_size <= _MAX_STORE:
            return _read_exact(f, chunk_size)
        offset += 8 + chunk_size + (chunk_size & 1)
    return None


def _jpeg_store(f: BinaryIO, size: int) -> bytes | None:
    f.seek(2)
    parts: list[bytes] = []
    while True:
        marker = f.read(2)
        if len(marker) < 2 or marker[0] != 0xFF or marker[1] in (0xD9, 0xDA):
            break
        length = struct.unpack(">H", _read_exact(f, 2))[0]
        segment = _read_exact(f, length - 2)
        # APP11 JUMBF segments: "JP", box instance (2), sequence (4), then the box; later
        # segments repeat the 8-byte box header, which must be dropped when joining.
        if marker[1] == 0xEB and segment[:2] == b"JP":
            parts.append(segment[8:] if not parts else segment[16:])
    return b"".join(parts) or None


def _png_store(f: BinaryIO, size: int) -> bytes | None:
    offset = 8
    while offset + 8 <= size:
        f.seek(offset)
        length, chunk_type = struct.unpack(">I4s", _read_exact(f, 8))
        if chunk_type == b"caBX" and length <= _MAX_STORE:
            return _read_exact(f, length)
        offset += 12 + length
    return None


_FINDERS = {"bmff": _bmff_store, "riff": _riff_store, "jpeg": _jpeg_store, "png": _png_store}


def manifest_store_bytes(f: BinaryIO, size: int, media: MediaType) -> bytes | None:
    """The raw JUMBF manifest store embedded in `f`, or None where none is found."""
    if media.container == "jumbf":
        f.seek(0)
        return f.read(min(size, _MAX_STORE))
    finder = _FINDERS.get(media.container)
    if finder is None:
        return None
    try:
        return finder(f, size)
    except (ValueError, struct.error):
        return None


def _parse_boxes(data: bytes, depth: int = 0) -> Iterator[Box]:
    if depth > 16:
        raise ValueError("JUMBF nesting too deep")
    offset = 0
    while offset + 8 <= len(data):
        size, box_type = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            if offset + 16 > len(data):
                raise ValueError("JUMBF box header cut short")
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
            header = 16
        elif size == 0:
            size = len(data) - offset
        if size < header or offset + size > len(data):
            raise ValueError("bad JUMBF box size")
        payload = data[offset + header : offset + size]
        if box_type == b"jumb":
            children = tuple(_parse_boxes(payload, depth + 1))
            label = children[0].label if children and children[0].type == b"jumd" else None
            yield Box(box_type, label, payload, children)
        elif box_type == b"jumd":
            # type UUID (16), toggles (1), then a NUL-terminated label when bit 1 is set.
            label = None
            if len(payload) > 17 and payload[16] & 0x02:
                end = payload.index(b"\x00", 17)
                label = payload[17:end].decode("utf-8", "replace")
            yield Box(box_type, label, payload)
        else:
            yield Box(box_type, None, payload)
        offset += size


def _child(box: Box, label: str) -> Box | None:
    return next((c for c in box.children if c.label == label), None)


def manifest_box(store: bytes, manifest_label: str | None = None) -> Box | None:
    """A manifest's superbox in a store (the last, active one when no label is given)."""
    try:
        roots = list(_parse_boxes(store))
    except ValueError:
        return None
    root = next((b for b in roots if b.type == b"jumb" and b.label == "c2pa"), None)
    if root is None:
        return None
    manifests = [c for c in root.children if c.type == b"jumb"]
    if not manifests:
        return None
    return next((m for m in manifests if m.label == manifest_label), manifests[-1])


def cbor_payload(box: Box) -> bytes | None:
    """The CBOR content of a JUMBF superbox (an assertion, a signature)."""
    content = next((c for c in box.children if c.type == b"cbor"), None)
    return content.payload if content is not None else None


def signature_of(store: bytes, manifest_label: str | None) -> bytes | None:
    """The COSE_Sign1 bytes of a manifest (the last one when no label is given)."""
    manifest = manifest_box(store, manifest_label)
    sig_box = _child(manifest, "c2pa.signature") if manifest is not None else None
    return cbor_payload(sig_box) if sig_box is not None else None


def x5chain(cose_sign1: bytes) -> list[bytes]:
    """DER certificates from a COSE_Sign1's x5chain header, leaf first."""
    try:
        message = cbor2.loads(cose_sign1)
    except Exception:  # cbor2 raises several unrelated types on garbage
        return []
    if isinstance(message, cbor2.CBORTag) and message.tag == _COSE_SIGN1_TAG:
        message = message.value
    if not isinstance(message, (list, tuple)) or len(message) != 4:
        return []
    protected_raw, unprotected = message[0], message[1]
    headers: dict[object, object] = {}
    if isinstance(unprotected, Mapping):
        headers.update(unprotected)
    if isinstance(protected_raw, bytes) and protected_raw:
        try:
            protected = cbor2.loads(protected_raw)
        except Exception:
            protected = {}
        if isinstance(protected, Mapping):
            headers.update(protected)
    chain = headers.get(_COSE_X5CHAIN, headers.get("x5chain"))
    if isinstance(chain, bytes):
        return [chain]
    if isinstance(chain, (list, tuple)):
        return [c for c in chain if isinstance(c, bytes)]
    return []
