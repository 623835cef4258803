"""ISO BMFF (MP4, MOV, M4V, fragmented MP4) layout for inserting one box after `ftyp`.

Inserting a box moves every later byte by the box's size, so every absolute file
offset stored in the metadata must move too: the chunk offsets of each track
(`stco`/`co64`), sample auxiliary information offsets in a sample table (`saio`),
explicit fragment base offsets (`tfhd` base_data_offset) and the random-access
index (`tfra`). Offsets relative to a box (`trun`, `sidx`, `saio` inside a
fragment) stay valid. The media data itself is never read here: the plan says
which byte ranges of the source to copy and which small boxes to write rewritten.

Layouts this module does not handle raise `UnsupportedLayout`; the caller then
uses c2pa's own (slower) writer, so nothing here needs to be clever about them.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from provenance._formats.boxes import HEADER_MAX, box_header
from provenance._formats.fallback import FallBackToC2pa

# The extended type of the `uuid` box that holds a C2PA manifest store in BMFF.
C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
BMFF_VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/x-m4v"})
# Boxes whose children are plain boxes (`meta` is handled apart: a FullBox in MP4, not in QuickTime).
_CONTAINERS = frozenset(
    {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"mvex", b"udta", b"edts", b"moof", b"traf", b"mfra"}
)
# Top-level boxes that can hold absolute offsets; everything else is copied byte for byte.
_REWRITTEN = frozenset({b"moov", b"moof", b"mfra"})
# Metadata boxes are read into memory to be rewritten; a bigger one is not a video we expect.
MAX_METADATA_BOX = 64 * 1024 * 1024
_U32_MAX = 0xFFFFFFFF


class UnsupportedLayout(FallBackToC2pa):
    """The file is valid enough, but not a layout the offset rewriter handles."""


@dataclass(frozen=True)
class Box:
    """A top-level box of a file: its type, where it starts, its size and its header's length."""

    type: bytes
    offset: int
    size: int
    header: int  # 8, or 16 with a 64-bit size


@dataclass(frozen=True)
class Piece:
    """One stretch of the output: literal bytes, or `length` bytes copied from the source at `source_offset`."""

    data: bytes | None
    source_offset: int
    length: int


@dataclass(frozen=True)
class OutputBox:
    """A top-level box of the output and where its bytes come from."""

    type: bytes
    offset: int  # in the output
    size: int
    data: bytes | None  # new or rewritten bytes; None when copied unchanged from the source
    source_offset: int


@dataclass(frozen=True)
class InsertionPlan:
    """How to write a file with one box inserted: the output's top-level boxes and where their bytes come from."""

    insert_at: int  # output offset of the inserted box (the end of `ftyp`)
    boxes: tuple[OutputBox, ...]
    output_size: int

    def pieces(self) -> list[Piece]:
        """The output as few pieces as possible: adjacent unchanged boxes become one source range."""
        pieces: list[Piece] = []
        for box in self.boxes:
            last = pieces[-1] if pieces else None
            if box.data is not None:
                pieces.append(Piece(box.data, 0, box.size))
            elif last is not None and last.data is None and last.source_offset + last.length == box.source_offset:
                pieces[-1] = Piece(None, last.source_offset, last.length + box.size)
            else:
                pieces.append(Piece(None, box.source_offset, box.size))
        return pieces


def _pread_exact(fd: int, length: int, offset: int) -> bytes:
    data = os.pread(fd, length, offset)
    if len(data) != length:
        raise UnsupportedLayout(f"file ends inside the box at byte {offset}")
    return data


def top_level_boxes(fd: int, size: int, limit: int | None = None) -> list[Box]:
    """Headers of the top-level boxes, read with a few small preads; more than `limit` is unsupported."""
    boxes: list[Box] = []
    offset = 0
    while offset + 8 <= size:
        if limit is not None and len(boxes) >= limit:
            raise UnsupportedLayout(f"more than {limit} top-level boxes")
        found = box_header(os.pread(fd, HEADER_MAX, offset), size - offset)
        if found is None:
            raise UnsupportedLayout(f"truncated box header at byte {offset}")
        if not found.fits(size - offset):
            raise UnsupportedLayout(f"box {found.type!r} at byte {offset} runs past the end of the file")
        boxes.append(Box(found.type, offset, found.size, found.length))
        offset += found.size
    return boxes


def _children(buf: bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) of each box in buf[start:end]."""
    offset = start
    while offset + 8 <= end:
        found = box_header(buf[offset : min(offset + HEADER_MAX, end)], end - offset)
        if found is None:
            raise UnsupportedLayout("truncated box header")
        if not found.fits(end - offset):
            raise UnsupportedLayout(f"box {found.type!r} overruns its parent")
        yield found.type, offset, offset + found.length, offset + found.size
        offset += found.size


def _need(at: int, end: int, what: bytes) -> None:
    if at > end:
        raise UnsupportedLayout(f"{what.decode('latin-1')} box is too short")


def _shift_table(buf: bytearray, at: int, end: int, count: int, fmt: str, delta: int) -> None:
    width = struct.calcsize(fmt)
    if at + count * width > end:
        raise UnsupportedLayout("offset table overruns its box")
    limit = _U32_MAX if width == 4 else 2**64 - 1
    for i in range(count):
        pos = at + i * width
        value = struct.unpack_from(fmt, buf, pos)[0] + delta
        if value > limit:
            raise UnsupportedLayout("a 32-bit chunk offset would overflow")
        struct.pack_into(fmt, buf, pos, value)


def _shift_chunk_offsets(buf: bytearray, payload: int, end: int, fmt: str, delta: int) -> None:
    _need(payload + 8, end, b"stco")
    (count,) = struct.unpack_from(">I", buf, payload + 4)
    _shift_table(buf, payload + 8, end, count, fmt, delta)


def _shift_saio(buf: bytearray, payload: int, end: int, delta: int) -> None:
    version = buf[payload]
    flags = int.from_bytes(buf[payload + 1 : payload + 4], "big")
    at = payload + 4 + (8 if flags & 1 else 0)
    _need(at + 4, end, b"saio")
    (count,) = struct.unpack_from(">I", buf, at)
    _shift_table(buf, at + 4, end, count, ">Q" if version == 1 else ">I", delta)


def _shift_tfhd(buf: bytearray, payload: int, end: int, delta: int) -> None:
    _need(payload + 8, end, b"tfhd")
    flags = int.from_bytes(buf[payload + 1 : payload + 4], "big")
    if flags & 0x000001:  # base-data-offset-present: an absolute file offset
        _shift_table(buf, payload + 8, end, 1, ">Q", delta)


def _shift_tfra(buf: bytearray, payload: int, end: int, delta: int) -> None:
    _need(payload + 16, end, b"tfra")
    version = buf[payload]
    (sizes, count) = struct.unpack_from(">II", buf, payload + 8)
    time_width = 8 if version == 1 else 4
    entry = 2 * time_width + ((sizes >> 4) & 3) + ((sizes >> 2) & 3) + (sizes & 3) + 3
    at = payload + 16
    if at + count * entry > end:
        raise UnsupportedLayout("tfra table overruns its box")
    fmt = ">Q" if version == 1 else ">I"
    for i in range(count):
        _shift_table(buf, at + i * entry + time_width, end, 1, fmt, delta)


def _check_dref(buf: bytearray, payload: int, end: int) -> None:
    # Media in another file would not move with this one; only self-contained references are handled.
    _need(payload + 8, end, b"dref")
    for _type, _box, entry_payload, entry_end in _children(buf, payload + 8, end):
        _need(entry_payload + 4, entry_end, b"dref")
        if not buf[entry_payload + 3] & 1:
            raise UnsupportedLayout("a track refers to media data in another file")


_MAX_DEPTH = 32  # real files nest metadata boxes a handful deep


def _shift(buf: bytearray, start: int, end: int, delta: int, parent: bytes, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise UnsupportedLayout(f"boxes nested more than {_MAX_DEPTH} deep")
    for box_type, _box, payload, box_end in _children(buf, start, end):
        if box_type in _CONTAINERS:
            _shift(buf, payload, box_end, delta, box_type, depth + 1)
        elif box_type == b"meta":
            _need(payload + 8, box_end, box_type)
            # QuickTime's meta holds boxes directly; MP4's is a FullBox (4 more bytes first).
            first = payload if buf[payload + 4 : payload + 8] == b"hdlr" else payload + 4
            _shift(buf, first, box_end, delta, box_type, depth + 1)
        elif box_type == b"stco":
            _shift_chunk_offsets(buf, payload, box_end, ">I", delta)
        elif box_type == b"co64":
            _shift_chunk_offsets(buf, payload, box_end, ">Q", delta)
        elif box_type == b"saio" and parent == b"stbl":
            _shift_saio(buf, payload, box_end, delta)
        elif box_type == b"tfhd":
            _shift_tfhd(buf, payload, box_end, delta)
        elif box_type == b"tfra":
            _shift_tfra(buf, payload, box_end, delta)
        elif box_type == b"dref":
            _check_dref(buf, payload, box_end)
        elif box_type in (b"iloc", b"cmov"):
            raise UnsupportedLayout(f"{box_type.decode('latin-1')} boxes are not rewritten")


def shifted_box(data: bytes, header: int, delta: int) -> bytes:
    """A top-level metadata box with every absolute file offset inside it moved by `delta`."""
    buf = bytearray(data)
    try:
        _shift(buf, header, len(buf), delta, data[4:8])
    except struct.error as e:
        raise UnsupportedLayout(f"malformed {data[4:8]!r} box: {e}") from e
    return bytes(buf)


def is_c2pa_box(fd: int, box: Box) -> bool:
    """Whether `box` of the file open at `fd` is a C2PA manifest box (a `uuid` box with the C2PA UUID)."""
    return box.type == b"uuid" and os.pread(fd, 16, box.offset + box.header) == C2PA_UUID


def first_chunk_offset(data: bytes) -> int:
    """The first chunk offset (`stco` entry) in the `moov` box of a small MP4 held in memory (a self-check sample)."""
    buf = bytearray(data)
    moov = next(((payload, end) for kind, _box, payload, end in _children(buf, 0, len(buf)) if kind == b"moov"), None)
    if moov is None:
        raise UnsupportedLayout("no moov box")
    at = buf.index(b"stco", *moov) + 4 + 4 + 4  # type, version/flags, entry count
    return int(struct.unpack_from(">I", buf, at)[0])


def plan_insert_after_ftyp(fd: int, size: int, new_box: bytes) -> InsertionPlan:
    """How to write `fd`'s content with `new_box` right after `ftyp`, offsets fixed."""
    boxes = top_level_boxes(fd, size)
    if not boxes or boxes[0].type != b"ftyp":
        raise UnsupportedLayout("the file does not start with an ftyp box")
    if boxes[-1].offset + boxes[-1].size != size:
        raise UnsupportedLayout("stray bytes after the last box")
    if not any(b.type == b"moov" for b in boxes):
        raise UnsupportedLayout("no moov box")
    if any(is_c2pa_box(fd, b) for b in boxes):
        raise UnsupportedLayout("the file already carries a C2PA manifest")
    if any(b.type == b"meta" for b in boxes):
        raise UnsupportedLayout("a top-level meta box (item-based file) is not rewritten")
    if len(new_box) < 8 or struct.unpack(">I", new_box[:4])[0] != len(new_box):
        raise ValueError("the inserted box's size field must match its length")
    delta = len(new_box)
    ftyp = boxes[0]
    planned = [OutputBox(ftyp.type, 0, ftyp.size, None, 0), OutputBox(new_box[4:8], ftyp.size, delta, new_box, 0)]
    for box in boxes[1:]:
        data = None
        if box.type in _REWRITTEN:
            if box.size > MAX_METADATA_BOX:
                raise UnsupportedLayout(f"{box.type!r} box of {box.size} bytes is too large to rewrite")
            original = _pread_exact(fd, box.size, box.offset)
            rewritten = shifted_box(original, box.header, delta)
            data = rewritten if rewritten != original else None
        planned.append(OutputBox(box.type, box.offset + delta, box.size, data, box.offset))
    return InsertionPlan(ftyp.size, tuple(planned), size + delta)
