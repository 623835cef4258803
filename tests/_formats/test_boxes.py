"""The one box-header reader: 32-bit, 64-bit and to-the-end sizes, and headers cut short."""

from __future__ import annotations

import struct

from provenance._formats.boxes import BoxHeader, box_header


def test_plain_64_bit_and_to_the_end_sizes() -> None:
    assert box_header(struct.pack(">I4s", 24, b"moov") + bytes(8), 100) == BoxHeader(b"moov", 24, 8)
    assert box_header(struct.pack(">I4sQ", 1, b"mdat", 5_000_000_000), 100) == BoxHeader(b"mdat", 5_000_000_000, 16)
    assert box_header(struct.pack(">I4s", 0, b"mdat"), 100) == BoxHeader(b"mdat", 100, 8, to_end=True)


def test_a_header_cut_short_is_none() -> None:
    assert box_header(b"\x00\x00\x00\x08moo", 100) is None
    assert box_header(struct.pack(">I4s", 1, b"mdat") + bytes(7), 100) is None


def test_fits_needs_room_for_the_header_and_the_box() -> None:
    assert BoxHeader(b"free", 8, 8).fits(8)
    assert not BoxHeader(b"free", 9, 8).fits(8)  # runs past its parent
    assert not BoxHeader(b"free", 7, 8).fits(100)  # smaller than its own header
    assert not BoxHeader(b"mdat", 12, 16).fits(100)  # a 64-bit size smaller than its header
