"""Find a file's C2PA manifest store and read the signer certificates out of it.

c2pa's JSON report names the signer's organisation but not its certificate, so
the leaf certificate is taken from the `x5chain` header of the active manifest's
COSE_Sign1 signature. Files are walked box by box / segment by segment with
seeks, so a large video is never read into memory.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from provenance import limits
from provenance._formats.bmff import C2PA_UUID
from provenance._formats.boxes import HEADER_MAX, BoxHeader, box_header
from provenance._formats.cose import decode_sign1
from provenance.errors import LimitExceeded
from provenance.media import MediaType

_COSE_X5CHAIN = 33


@dataclass(frozen=True)
class Box:
    """A JUMBF box read from a manifest store, with its label (from its description box) and children."""

    type: bytes
    label: str | None
    payload: bytes  # content after the box header (for superboxes: children incl. jumd)
    children: tuple[Box, ...] = ()


def _read_exact(f: BinaryIO, n: int) -> bytes:
    if n < 0:  # a length field that lies; read(-n) would read to the end of the file
        raise ValueError("negative length")
    data = f.read(n)
    if len(data) != n:
        raise ValueError("truncated")
    return data


@dataclass(frozen=True)
class ContainerScan:
    """What a walk over a file's boxes (chunks, segments) found, before c2pa parses anything."""

    store: bytes | None  # the manifest store, when exactly one is embedded
    stores: int  # C2PA manifest stores embedded (more than one is an attack or a broken writer)
    units: int  # boxes, chunks or segments c2pa's parser would visit (counting stops past the limit)


class _Walk:
    """Counts what a walk visits and keeps the C2PA stores it meets, within provenance.limits."""

    def __init__(self, name: str, limit: int = limits.MAX_BOXES_FOR_C2PA) -> None:
        self.name = name
        self.limit = limit
        self.units = 0
        self.stores: list[bytes] = []

    def visit(self, count: int = 1) -> None:
        self.units += count
        if self.units > self.limit:
            raise LimitExceeded(f"the file has more than {self.limit:,} {self.name}")

    def store(self, f: BinaryIO, length: int) -> None:
        if length > limits.MAX_MANIFEST_STORE_BYTES:
            raise LimitExceeded(f"its manifest store is {length:,} bytes, over the limit of "
                                f"{limits.MAX_MANIFEST_STORE_BYTES:,}")
        self.stores.append(_read_exact(f, length))

    def result(self) -> ContainerScan:
        return ContainerScan(self.stores[0] if len(self.stores) == 1 else None, len(self.stores), self.units)


# Boxes whose children c2pa's BMFF parser visits too (measured: udta, dinf and moof are; skip is not);
# a superset costs a few reads and is safe.
_BMFF_CONTAINERS = frozenset({
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"mvex", b"udta", b"edts", b"moof", b"traf",
    b"mfra", b"meta", b"tref", b"trgr", b"sinf", b"schi", b"ipro", b"iprp", b"ipco", b"grpl", b"meco",
    b"strk", b"strd", b"rinf",
})


def _box_header(f: BinaryIO, offset: int, end: int) -> BoxHeader | None:
    """The header of the box at `offset`, or None where no box fits before `end`; `f` is left after the header."""
    f.seek(offset)
    found = box_header(f.read(HEADER_MAX), end - offset)
    return found if found is not None and found.fits(end - offset) else None


def _bmff_children(f: BinaryIO, start: int, end: int, walk: _Walk, depth: int) -> None:
    offset = start
    while offset + 8 <= end and depth < 32:
        found = _box_header(f, offset, end)
        if found is None:
            return
        box_type, header, box_size = found.type, found.length, found.size
        walk.visit()
        if box_type in _BMFF_CONTAINERS:
            # `meta` is a FullBox in MP4 (4 bytes of version/flags first); QuickTime's is not: its first
            # child, the `hdlr` box, starts right after the header.
            if box_type == b"meta":
                f.seek(offset + header)
            skip = 4 if box_type == b"meta" and f.read(8)[4:8] != b"hdlr" else 0
            _bmff_children(f, offset + header + skip, offset + box_size, walk, depth + 1)
        offset += box_size


def _bmff_scan(f: BinaryIO, size: int) -> ContainerScan:
    top = _Walk("top-level boxes", limits.MAX_TOP_LEVEL_BOXES)
    nested = _Walk("boxes")  # what c2pa's full Reader would parse; its count may pass the limit here
    offset = 0
    while offset + 8 <= size:
        found = _box_header(f, offset, size)
        if found is None:
            break  # c2pa reports the broken box in its own words
        box_type, header, box_size = found.type, found.length, found.size
        top.visit()
        if nested.units <= nested.limit:
            nested.units += 1
            if box_type in _BMFF_CONTAINERS:
                with contextlib.suppress(LimitExceeded):
                    _bmff_children(f, offset + header, offset + box_size, nested, 1)
        if box_type == b"uuid" and box_size >= header + 16:
            f.seek(offset + header)
            if f.read(16) == C2PA_UUID:
                # version/flags (4), a NUL-terminated purpose, an 8-byte offset, then the JUMBF.
                head = f.read(min(box_size - header - 16, 256))
                end = head.find(b"\x00", 4)
                if end >= 0 and head[4:end] == b"manifest":
                    f.seek(offset + header + 16 + end + 1 + 8)
                    top.store(f, box_size - header - 16 - (end + 1 + 8))
        offset += box_size
    return ContainerScan(top.result().store, len(top.stores), max(nested.units, top.units))


def _riff_scan(f: BinaryIO, size: int) -> ContainerScan:
    walk = _Walk("RIFF chunks")
    offset = 12
    while offset + 8 <= size:
        f.seek(offset)
        chunk_id, chunk_size = struct.unpack("<4sI", _read_exact(f, 8))
        walk.visit()
        if chunk_id == b"C2PA":
            walk.store(f, chunk_size)
        offset += 8 + chunk_size + (chunk_size & 1)
    return walk.result()


def _jpeg_scan(f: BinaryIO, size: int) -> ContainerScan:
    walk = _Walk("JPEG segments")
    f.seek(2)
    parts: list[bytes] = []
    total = 0
    while True:
        marker = f.read(2)
        if len(marker) < 2 or marker[0] != 0xFF or marker[1] in (0xD9, 0xDA):
            break
        walk.visit()
        length = struct.unpack(">H", _read_exact(f, 2))[0]
        segment = _read_exact(f, length - 2)
        # APP11 JUMBF segments: "JP", box instance (2), sequence (4), then the box; later
        # segments repeat the 8-byte box header, which must be dropped when joining.
        if marker[1] == 0xEB and segment[:2] == b"JP":
            parts.append(segment[8:] if not parts else segment[16:])
            total += len(parts[-1])
            if total > limits.MAX_MANIFEST_STORE_BYTES:
                raise LimitExceeded(f"its manifest store is over the limit of "
                                    f"{limits.MAX_MANIFEST_STORE_BYTES:,} bytes")
    return ContainerScan(b"".join(parts) or None, 1 if parts else 0, walk.units)


def _png_scan(f: BinaryIO, size: int) -> ContainerScan:
    walk = _Walk("PNG chunks")
    offset = 8
    while offset + 8 <= size:
        f.seek(offset)
        length, chunk_type = struct.unpack(">I4s", _read_exact(f, 8))
        walk.visit()
        if chunk_type == b"caBX":
            walk.store(f, length)
        offset += 12 + length
    return walk.result()


_SCANNERS = {"bmff": _bmff_scan, "riff": _riff_scan, "jpeg": _jpeg_scan, "png": _png_scan}


def scan(f: BinaryIO, size: int, media: MediaType) -> ContainerScan:
    """Walk `f`'s structure: its embedded manifest store and how much c2pa would parse.

    Raises LimitExceeded past provenance.limits; a walk that meets a broken structure stops
    there and reports what it found (c2pa then says what is broken)."""
    if media.container == "jumbf":
        if size > limits.MAX_MANIFEST_STORE_BYTES:
            raise LimitExceeded(f"the manifest store is {size:,} bytes, over the limit of "
                                f"{limits.MAX_MANIFEST_STORE_BYTES:,}")
        f.seek(0)
        return ContainerScan(f.read(size), 1, 1)
    scanner = _SCANNERS.get(media.container)
    if scanner is None:
        return ContainerScan(None, 0, 0)
    try:
        return scanner(f, size)
    except (ValueError, struct.error):
        return ContainerScan(None, 0, 0)


def manifest_store_bytes(f: BinaryIO, size: int, media: MediaType) -> bytes | None:
    """The raw JUMBF manifest store embedded in `f`, or None where there is not exactly one."""
    try:
        return scan(f, size, media).store
    except LimitExceeded:
        return None


def _parse_boxes(data: bytes, depth: int = 0, budget: list[int] | None = None) -> Iterator[Box]:
    budget = [limits.MAX_JUMBF_BOXES] if budget is None else budget
    if depth > 16:
        raise ValueError("JUMBF nesting too deep")
    offset = 0
    while offset + 8 <= len(data):
        budget[0] -= 1
        if budget[0] < 0:
            raise ValueError(f"more than {limits.MAX_JUMBF_BOXES} JUMBF boxes")
        found = box_header(data[offset : offset + HEADER_MAX], len(data) - offset)
        if found is None:
            raise ValueError("JUMBF box header cut short")
        if not found.fits(len(data) - offset):
            raise ValueError("bad JUMBF box size")
        box_type, size = found.type, found.size
        payload = data[offset + found.length : offset + size]
        if box_type == b"jumb":
            children = tuple(_parse_boxes(payload, depth + 1, budget))
            label = children[0].label if children and children[0].type == b"jumd" else None
            yield Box(box_type, label, payload, children)
        elif box_type == b"jumd":
            # type UUID (16), toggles (1), then a NUL-terminated label when bit 1 is set.
            label = None
            if len(payload) > 17 and payload[16] & 0x02:
                end = payload.find(b"\x00", 17)
                if end < 0:
                    raise ValueError("JUMBF label not terminated")
                label = payload[17:end].decode("utf-8", "replace")
            yield Box(box_type, label, payload)
        else:
            yield Box(box_type, None, payload)
        offset += size


def _child(box: Box, label: str) -> Box | None:
    return next((c for c in box.children if c.label == label), None)


def manifests(store: bytes) -> list[Box] | None:
    """The manifest superboxes of a store in order (the active one last), or None if it cannot be read."""
    try:
        roots = list(_parse_boxes(store))
    except ValueError:
        return None
    root = next((b for b in roots if b.type == b"jumb" and b.label == "c2pa"), None)
    if root is None:
        return None
    return [c for c in root.children if c.type == b"jumb"]


def manifest_box(store: bytes, manifest_label: str | None = None) -> Box | None:
    """A manifest's superbox (the last, active one when no label is given).

    None when the label is not there or names more than one manifest: a store with two manifests
    under one label says different things to different readers, so nothing is read from it."""
    found = manifests(store)
    if not found:
        return None
    if manifest_label is None:
        return found[-1]
    matching = [m for m in found if m.label == manifest_label]
    return matching[0] if len(matching) == 1 else None


def identity_problem(store: bytes, active_label: str | None, reported_labels: Iterable[str]) -> str | None:
    """Why this store's manifests cannot be identified the way c2pa identified them, or None.

    c2pa validates the last manifest of the store as the active one and reports every manifest
    by label; everything provenance reads about a manifest must come from those same bytes."""
    found = manifests(store)
    if not found:
        return "provenance cannot read the manifest store c2pa validated"
    labels = [m.label for m in found]
    repeated = sorted({str(label) for label in labels if labels.count(label) > 1})
    if repeated:
        return f"the manifest store holds more than one manifest labelled {', '.join(repeated)}"
    if labels[-1] != active_label:
        return f"c2pa validated manifest {active_label}, but the store's active (last) manifest is {labels[-1]}"
    unknown = set(reported_labels) - {str(label) for label in labels}
    if unknown:
        return f"c2pa reports manifests the store does not hold: {', '.join(sorted(unknown))}"
    return None


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
    message = decode_sign1(cose_sign1)
    if message is None:
        return []
    headers = message.headers()
    chain = headers.get(_COSE_X5CHAIN, headers.get("x5chain"))
    if isinstance(chain, bytes):
        return [chain]
    if isinstance(chain, (list, tuple)):
        return [c for c in chain if isinstance(c, bytes)]
    return []


def read_sidecar(sidecar: Path) -> bytes:
    """A `.c2pa` sidecar's bytes, refused (LimitExceeded) above the manifest store limit rather than cut short."""
    with open(sidecar, "rb") as side:
        detached = side.read(limits.MAX_MANIFEST_STORE_BYTES + 1)
    if len(detached) > limits.MAX_MANIFEST_STORE_BYTES:
        raise LimitExceeded(f"its sidecar {sidecar.name} is over the manifest store limit of "
                            f"{limits.MAX_MANIFEST_STORE_BYTES:,} bytes")
    return detached
