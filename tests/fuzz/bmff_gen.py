"""Strategies for ISO BMFF box trees: the metadata boxes provenance._formats.bmff rewrites (stco, co64, saio,
tfhd, tfra, dref, meta) inside the containers it walks, with counts and sizes that are sometimes wrong."""

from __future__ import annotations

import struct

from hypothesis import strategies as st

CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"mvex", b"udta", b"edts", b"moof", b"traf",
              b"mfra")
u32 = st.integers(0, 0xFFFFFFFF)
small_count = st.integers(0, 6) | st.sampled_from([0xFFFFFFFF, 0x40000000, 2**31])


def raw_box(kind: bytes, payload: bytes, size_delta: int = 0, wide: bool = False) -> bytes:
    if wide:
        return struct.pack(">I4sQ", 1, kind, max(0, 16 + len(payload) + size_delta)) + payload
    return struct.pack(">I4s", max(0, 8 + len(payload) + size_delta) & 0xFFFFFFFF, kind) + payload


def _full(version: int, flags: int) -> bytes:
    return bytes([version & 0xFF]) + (flags & 0xFFFFFF).to_bytes(3, "big")


def _table(count: int, entries: list[int], fmt: str) -> bytes:
    return struct.pack(">I", count) + b"".join(struct.pack(fmt, e) for e in entries)


def leaf() -> st.SearchStrategy[tuple[bytes, bytes]]:
    """(type, payload) of one offset-bearing (or otherwise special) leaf box."""
    entries32 = st.lists(u32, max_size=6)
    entries64 = st.lists(st.integers(0, 2**64 - 1), max_size=6)
    stco = st.builds(lambda v, c, e: (b"stco", _full(v, 0) + _table(c, e, ">I")), st.integers(0, 1), small_count,
                     entries32)
    co64 = st.builds(lambda v, c, e: (b"co64", _full(v, 0) + _table(c, e, ">Q")), st.integers(0, 1), small_count,
                     entries64)
    saio = st.builds(lambda v, f, c, e, aux: (b"saio", _full(v, f) + (aux if f & 1 else b"") + _table(
        c, e, ">Q" if v == 1 else ">I")), st.integers(0, 2), st.integers(0, 3), small_count,
        st.lists(st.integers(0, 0xFFFFFFFF), max_size=4), st.binary(min_size=8, max_size=8))
    tfhd = st.builds(lambda f, track, base: (b"tfhd", _full(0, f) + struct.pack(">IQ", track, base)),
                     st.sampled_from([0, 1, 0x20000, 0x20001, 0xFFFFFF]), u32, st.integers(0, 2**64 - 1))
    tfra = st.builds(lambda v, sizes, c, body: (b"tfra", _full(v, 0) + struct.pack(">III", 1, sizes, c) + body),
                     st.integers(0, 1), st.integers(0, 63), small_count, st.binary(max_size=64))
    dref = st.builds(lambda c, flags, tail: (b"dref", _full(0, 0) + struct.pack(">I", c) + b"".join(
        raw_box(b"url ", _full(0, f)) for f in flags) + tail), small_count,
        st.lists(st.integers(0, 1), max_size=3), st.binary(max_size=8))
    other = st.builds(lambda kind, payload: (kind, payload),
                      st.sampled_from([b"iloc", b"cmov", b"mdhd", b"free", b"hdlr", b"trun", b"sidx", b"url "]),
                      st.binary(max_size=24))
    return st.one_of(stco, co64, saio, tfhd, tfra, dref, other)


def _tree(depth: int) -> st.SearchStrategy[bytes]:
    size_delta = st.just(0) | st.just(0) | st.integers(-12, 12)
    leaves = st.builds(lambda kp, d, w: raw_box(kp[0], kp[1], d, w), leaf(), size_delta, st.booleans())
    if depth == 0:
        return leaves
    children = st.lists(_tree(depth - 1) | leaves, max_size=4).map(b"".join)
    container = st.builds(lambda k, body, d: raw_box(k, body, d), st.sampled_from(CONTAINERS), children, size_delta)
    meta = st.builds(lambda qt, body: raw_box(b"meta", (b"" if qt else _full(0, 0)) + raw_box(b"hdlr", bytes(20))
                                              + body), st.booleans(), children)
    return container | meta


def nested(depth: int, kind: bytes = b"moov") -> bytes:
    """`depth` containers inside one another, an stco at the bottom."""
    inner = raw_box(b"stco", _full(0, 0) + _table(1, [1000], ">I"))
    for _ in range(depth):
        inner = raw_box(kind, inner)
    return inner


def metadata_boxes() -> st.SearchStrategy[bytes]:
    """One top-level metadata box (moov/moof/mfra) with a generated tree inside, or a very deep one."""
    top = st.builds(lambda kind, body, wide: raw_box(kind, body, 0, wide), st.sampled_from([b"moov", b"moof", b"mfra"]),
                    st.lists(_tree(3), max_size=4).map(b"".join), st.booleans())
    deep = st.builds(nested, st.integers(1, 3000), st.sampled_from([b"moov", b"trak", b"meta"]))
    return top | top | top | deep


def files() -> st.SearchStrategy[bytes]:
    """A BMFF file: ftyp, then top-level boxes (some metadata boxes), maybe trailing bytes."""
    ftyp = st.just(raw_box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2")) | st.binary(max_size=16)
    plain = st.builds(lambda k, p, d, w: raw_box(k, p, d, w),
                      st.sampled_from([b"mdat", b"free", b"uuid", b"meta", b"moov", b"skip"]), st.binary(max_size=32),
                      st.just(0) | st.integers(-16, 16), st.booleans())
    body = st.lists(metadata_boxes() | plain, max_size=4).map(b"".join)
    size_zero = st.builds(lambda p: struct.pack(">I4s", 0, b"mdat") + p, st.binary(max_size=16))
    return st.builds(lambda f, b, tail: f + b + tail, ftyp, body, st.just(b"") | st.binary(max_size=12) | size_zero)
