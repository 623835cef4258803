"""Find a file's C2PA manifest store and read the signer certificates out of it.

c2pa's JSON report names the signer's organisation but not its certificate, so
the leaf certificate is taken from the `x5chain` header of the active manifest's
COSE_Sign1 signature. Files are walked box by box / segment by segment with
seeks, so a large video is never read into memory.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import re
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
    # Whether `stores` is known: False where provenance does not find stores in this container (PDF, SVG,
    # ZIP, GIF, TIFF, or a layout it does not follow); c2pa's Reader then says whether one is embedded.
    complete: bool = True


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


def _jxl_scan(f: BinaryIO, size: int) -> ContainerScan:
    walk = _Walk("JPEG XL boxes")
    offset, complete = 0, True
    while offset + 8 <= size:
        found = _box_header(f, offset, size)
        if found is None:
            break
        walk.visit()
        if found.type == b"brob":
            complete = False  # a Brotli-compressed box may hold the manifest store
        elif found.type == b"jumb" and b"c2pa" in f.read(min(found.size - found.length, 64)):
            f.seek(offset)
            walk.store(f, found.size)  # the JUMBF superbox itself is the store
        offset += found.size
    scanned = walk.result()
    return ContainerScan(scanned.store, scanned.stores, scanned.units, complete)


# MIME types c2pa gives the ID3 GEOB frame that holds a manifest store.
_ID3_C2PA = frozenset({b"application/c2pa", b"application/x-c2pa-manifest-store"})


def _id3_scan(f: BinaryIO, size: int) -> ContainerScan:
    """An ID3v2 tag at the start of an MP3 (or of a FLAC, as c2pa signs one): its frames and the GEOB frame
    holding the store. A tag laid out otherwise than c2pa writes it is counted, not searched (incomplete)."""
    from provenance.media import id3_tag_size, syncsafe

    walk = _Walk("ID3 frames")
    head = f.read(10)
    if len(head) < 10 or head[:3] != b"ID3":
        return walk.result()  # no tag, so no manifest store
    tag = id3_tag_size(head)
    if tag > limits.MAX_ID3_TAG_BYTES:
        raise LimitExceeded(f"its ID3 tag is {tag:,} bytes, over the limit of {limits.MAX_ID3_TAG_BYTES:,}")
    major, flags = head[3], head[5]
    if major not in (3, 4) or flags & 0xC0:  # another version, unsynchronised, or an extended header
        return ContainerScan(None, 0, 0, complete=False)
    offset, end, complete = 10, min(size, tag - (10 if flags & 0x10 else 0)), True
    while offset + 10 <= end:
        f.seek(offset)
        frame, raw, frame_flags = struct.unpack(">4s4sH", _read_exact(f, 10))
        if frame[0] == 0:
            break  # padding
        walk.visit()
        length = syncsafe(raw) if major == 4 else struct.unpack(">I", raw)[0]
        if frame == b"GEOB":
            fields = f.read(min(length, 512))
            # text encoding (ISO-8859-1 or UTF-8: one NUL ends a string), MIME type, file name, description
            mime_end = fields.find(b"\0", 1)
            if fields[1:mime_end] in _ID3_C2PA:
                name_end = fields.find(b"\0", mime_end + 1)
                start = fields.find(b"\0", name_end + 1) + 1 if name_end > 0 else 0
                if fields[0] not in (0, 3) or frame_flags or start <= 0:
                    complete = False
                else:
                    f.seek(offset + 10 + start)
                    walk.store(f, length - start)
        offset += 10 + length
    scanned = walk.result()
    return ContainerScan(scanned.store, scanned.stores, scanned.units, complete)


_PDF_WHITE = rb"[\x00\t\n\f\r ]"
_PDF_OBJECT = re.compile(rb"(?<!end)obj")
# The name /ObjStm, any of its letters maybe written as a #xx escape.
_PDF_OBJSTM = re.compile(rb"/(?:O|#4[fF])(?:b|#62)(?:j|#6[aA])(?:S|#53)(?:t|#74)(?:m|#6[dD])")
_PDF_COUNT = re.compile(rb"/(?:N|#4[eE])" + _PDF_WHITE + rb"*(\d+)(" + _PDF_WHITE + rb"+\d+" + _PDF_WHITE + rb"+R)?")


def _pdf_objects(data: bytes | mmap.mmap) -> int:
    """How many objects c2pa's PDF parser would load, counted generously; LimitExceeded past the limit."""
    count = 0
    for count, _ in enumerate(_PDF_OBJECT.finditer(data), 1):
        if count > limits.MAX_PDF_OBJECTS:
            raise LimitExceeded(f"the PDF has more than {limits.MAX_PDF_OBJECTS:,} objects")
    for found in _PDF_OBJSTM.finditer(data):
        # The object stream's dictionary: from its `obj` keyword to its `stream` keyword.
        start = max(data.rfind(b"obj", max(0, found.start() - 4096), found.start()), 0)
        end = data.find(b"stream", found.end(), found.end() + 4096)
        counts = list(_PDF_COUNT.finditer(data, start, end if end >= 0 else found.end() + 4096))
        if not counts or any(c.group(2) for c in counts):
            raise LimitExceeded("a PDF object stream does not say plainly how many objects it holds")
        count += max(int(c.group(1)) for c in counts)
        if count > limits.MAX_PDF_OBJECTS:
            raise LimitExceeded(f"the PDF has more than {limits.MAX_PDF_OBJECTS:,} objects")
    return count


def _whole(size: int, what: str) -> None:
    if size > limits.MAX_WHOLE_PARSE_BYTES:
        raise LimitExceeded(f"the {what} is {size:,} bytes; c2pa reads it whole, and the limit is "
                            f"{limits.MAX_WHOLE_PARSE_BYTES:,}")


def _pdf_scan(f: BinaryIO, size: int) -> ContainerScan:
    _whole(size, "PDF")
    try:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            _pdf_objects(data)
    except (OSError, ValueError, io.UnsupportedOperation):  # not a file on disk, or an empty one
        f.seek(0)
        _pdf_objects(f.read(size))
    return ContainerScan(None, 0, 0, complete=False)


def _svg_scan(f: BinaryIO, size: int) -> ContainerScan:
    _whole(size, "SVG file")
    return ContainerScan(None, 0, 0, complete=False)


def _zip_scan(f: BinaryIO, size: int) -> ContainerScan:
    """The entries the central directory declares (any end record in the last 64 KiB counts, and its ZIP64
    record); c2pa's ZIP reader keeps them all."""
    tail_at = max(0, size - (65535 + 22))
    f.seek(tail_at)
    tail = f.read(size - tail_at)
    entries, at = 0, tail.rfind(b"PK\x05\x06")
    while at >= 0:
        entries = max(entries, *struct.unpack_from("<HH", tail, at + 8)) if at + 12 <= len(tail) else entries
        locator = at - 20
        if locator >= 0 and tail[locator:locator + 4] == b"PK\x06\x07":
            f.seek(struct.unpack_from("<Q", tail, locator + 8)[0])
            record = f.read(40)
            if record[:4] == b"PK\x06\x06" and len(record) == 40:
                entries = max(entries, *struct.unpack_from("<QQ", record, 24))
        at = tail.rfind(b"PK\x05\x06", 0, at)
    if entries > limits.MAX_ZIP_ENTRIES:
        raise LimitExceeded(f"the ZIP file declares {entries:,} entries, over the limit of {limits.MAX_ZIP_ENTRIES:,}")
    return ContainerScan(None, 0, entries, complete=False)


_SCANNERS = {"bmff": _bmff_scan, "riff": _riff_scan, "jpeg": _jpeg_scan, "png": _png_scan, "jxl": _jxl_scan,
             "id3": _id3_scan, "pdf": _pdf_scan, "svg": _svg_scan, "zip": _zip_scan}


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
    if scanner is None:  # nothing embeds in a container that cannot carry a manifest
        return ContainerScan(None, 0, 0, complete=not media.embeddable)
    f.seek(0)
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
