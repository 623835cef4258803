"""Mutations of a signed clip, each a small value that prints as its own reproducer.

A mutant is a seed plus a list of operations applied in order. Offsets and box indices are taken modulo
the current length or box count, so every operation applies to every input and shrinks well. Three
families: byte and box edits of the whole file; byte edits inside the manifest store; and edits of the
CBOR values inside the manifest (re-encoded, every enclosing size fixed, so c2pa parses and reports on
them; the claim signature or the assertion hashes no longer match).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Protocol

import cbor2
from hypothesis import strategies as st

from .seeds import C2PA_UUID, Seed, content_box, jumbf_nodes, replace_payload, superbox, with_store


class Op(Protocol):
    def apply(self, data: bytes) -> bytes: ...


def _boxes(data: bytes, layout: str) -> list[tuple[int, int]]:
    """(offset, size) of the top-level boxes (BMFF) or chunks (RIFF) of a possibly broken file, as far as
    they parse; the last one is cut at the end of the file."""
    out: list[tuple[int, int]] = []
    offset = 12 if layout == "riff" else 0
    while offset + 8 <= len(data):
        if layout == "riff":
            size = 8 + struct.unpack_from("<I", data, offset + 4)[0]
            size += size & 1
        else:
            size = struct.unpack_from(">I", data, offset)[0]
            if size == 1 and offset + 16 <= len(data):
                size = struct.unpack_from(">Q", data, offset + 8)[0]
            elif size == 0:
                size = len(data) - offset
        if size < 8:
            break
        out.append((offset, min(size, len(data) - offset)))
        offset += size
    return out


@dataclass(frozen=True)
class Flip:
    at: int
    mask: int

    def apply(self, data: bytes) -> bytes:
        if not data:
            return data
        i = self.at % len(data)
        return data[:i] + bytes([data[i] ^ self.mask]) + data[i + 1 :]


@dataclass(frozen=True)
class Overwrite:
    at: int
    value: bytes

    def apply(self, data: bytes) -> bytes:
        i = self.at % (len(data) + 1)
        return data[:i] + self.value + data[i + len(self.value) :]


@dataclass(frozen=True)
class Insert:
    at: int
    value: bytes

    def apply(self, data: bytes) -> bytes:
        i = self.at % (len(data) + 1)
        return data[:i] + self.value + data[i:]


@dataclass(frozen=True)
class Delete:
    at: int
    length: int

    def apply(self, data: bytes) -> bytes:
        i = self.at % (len(data) + 1)
        return data[:i] + data[i + self.length :]


@dataclass(frozen=True)
class Truncate:
    keep: int

    def apply(self, data: bytes) -> bytes:
        return data[: self.keep % (len(data) + 1)]


@dataclass(frozen=True)
class SetBoxSize:
    """Rewrite a top-level box's (or RIFF chunk's) size field."""

    layout: str
    index: int
    size: int  # absolute, or relative to the current size when `relative`
    relative: bool

    def apply(self, data: bytes) -> bytes:
        boxes = _boxes(data, self.layout)
        if not boxes:
            return data
        offset, current = boxes[self.index % len(boxes)]
        if self.layout == "riff":
            value = (current - 8 + self.size if self.relative else self.size) & 0xFFFFFFFF
            return data[: offset + 4] + struct.pack("<I", value) + data[offset + 8 :]
        value = (current + self.size if self.relative else self.size) & 0xFFFFFFFF
        return data[:offset] + struct.pack(">I", value) + data[offset + 4 :]


@dataclass(frozen=True)
class SetBoxType:
    layout: str
    index: int
    kind: bytes

    def apply(self, data: bytes) -> bytes:
        boxes = _boxes(data, self.layout)
        if not boxes:
            return data
        offset, _ = boxes[self.index % len(boxes)]
        at = offset if self.layout == "riff" else offset + 4
        return data[:at] + self.kind + data[at + 4 :]


@dataclass(frozen=True)
class DuplicateBox:
    layout: str
    index: int
    to: int  # position among the boxes where the copy goes

    def apply(self, data: bytes) -> bytes:
        boxes = _boxes(data, self.layout)
        if not boxes:
            return data
        offset, size = boxes[self.index % len(boxes)]
        copy = data[offset : offset + size]
        where = [o for o, _ in boxes] + [boxes[-1][0] + boxes[-1][1]]
        at = where[self.to % len(where)]
        return data[:at] + copy + data[at:]


@dataclass(frozen=True)
class RemoveBox:
    layout: str
    index: int

    def apply(self, data: bytes) -> bytes:
        boxes = _boxes(data, self.layout)
        if not boxes:
            return data
        offset, size = boxes[self.index % len(boxes)]
        return data[:offset] + data[offset + size :]


@dataclass(frozen=True)
class Shuffle:
    """Reorder the top-level boxes: the box at position i moves to order[i] (a permutation, by sorting)."""

    layout: str
    order: tuple[int, ...]

    def apply(self, data: bytes) -> bytes:
        boxes = _boxes(data, self.layout)
        if len(boxes) < 2:
            return data
        start, end = boxes[0][0], boxes[-1][0] + boxes[-1][1]
        keys = [self.order[i % len(self.order)] if self.order else 0 for i in range(len(boxes))]
        ranked = sorted(range(len(boxes)), key=lambda i: (keys[i], i))
        body = b"".join(data[boxes[i][0] : boxes[i][0] + boxes[i][1]] for i in ranked)
        return data[:start] + body + data[end:]


@dataclass(frozen=True)
class AppendBox:
    """Append a box: a `free`/`skip` box, or a second C2PA uuid box with the given payload."""

    kind: bytes
    payload: bytes

    def apply(self, data: bytes) -> bytes:
        body = (C2PA_UUID + self.payload) if self.kind == b"uuid" else self.payload
        return data + struct.pack(">I", 8 + len(body)) + self.kind + body


@dataclass(frozen=True)
class InStore:
    """A byte operation confined to the manifest store: `op`'s offsets count from the store's start."""

    store_offset: int
    store_length: int
    op: Flip | Overwrite | Insert | Delete

    def apply(self, data: bytes) -> bytes:
        start, end = self.store_offset, self.store_offset + self.store_length
        return data[:start] + self.op.apply(data[start:end]) + data[end:]


@dataclass(frozen=True)
class SetJumbfSize:
    """Rewrite the size field of one JUMBF box of the store (box index in the seed's store, pre-order)."""

    store_offset: int
    node_offset: int
    size: int

    def apply(self, data: bytes) -> bytes:
        at = self.store_offset + self.node_offset
        return data[:at] + struct.pack(">I", self.size & 0xFFFFFFFF) + data[at + 4 :]


# ----------------------------------------------------------------------------------- strategies


_INTERESTING_SIZES = (0, 1, 7, 8, 9, 15, 16, 17, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
_BOX_TYPES = (b"free", b"skip", b"uuid", b"mdat", b"moov", b"moof", b"mfra", b"ftyp", b"meta", b"wide",
              b"C2PA", b"JUNK", b"LIST", b"idx1")


def _box_bytes() -> st.SearchStrategy[bytes]:
    """Inserted bytes: noise, or the start of a plausible box."""
    header = st.builds(lambda n, t, tail: struct.pack(">I", n) + t + tail,
                       st.sampled_from(_INTERESTING_SIZES) | st.integers(0, 0xFFFFFFFF),
                       st.sampled_from(_BOX_TYPES), st.binary(max_size=24))
    return st.binary(min_size=1, max_size=64) | header | st.just(C2PA_UUID)


def byte_ops(size: int) -> st.SearchStrategy[Op]:
    at = st.integers(0, max(0, size - 1))
    flip = st.builds(Flip, at, st.integers(1, 255))
    return st.one_of(  # size-preserving edits weighted up: they get past the container parsers
        flip, flip, flip,
        st.builds(Overwrite, at, st.binary(min_size=1, max_size=16)),
        st.builds(Insert, at, _box_bytes()),
        st.builds(Delete, at, st.integers(1, 64)),
        st.builds(Truncate, st.integers(0, size)),
    )


def box_ops(seed: Seed) -> st.SearchStrategy[Op]:
    layout = seed.layout
    index = st.integers(0, 15)
    return st.one_of(
        st.builds(SetBoxSize, st.just(layout), index, st.sampled_from(_INTERESTING_SIZES) | st.integers(0, 0xFFFFFFFF),
                  st.just(False)),
        st.builds(SetBoxSize, st.just(layout), index, st.integers(-64, 64), st.just(True)),
        st.builds(SetBoxType, st.just(layout), index, st.sampled_from(_BOX_TYPES)),
        st.builds(DuplicateBox, st.just(layout), index, index),
        st.builds(RemoveBox, st.just(layout), index),
        st.builds(Shuffle, st.just(layout), st.lists(st.integers(0, 7), min_size=1, max_size=8).map(tuple)),
        st.builds(AppendBox, st.sampled_from((b"free", b"skip", b"uuid")), st.binary(max_size=32))
        if layout == "bmff" else st.nothing(),
    )


def file_mutations(seed: Seed, *, target_sidecar: bool = False) -> st.SearchStrategy[list[Op]]:
    """Whole-file mutations of the media (or of the detached manifest store)."""
    data = seed.sidecar if target_sidecar and seed.sidecar is not None else seed.data
    ops = byte_ops(len(data))
    if seed.layout in ("bmff", "riff") and not target_sidecar:
        ops = ops | box_ops(seed)
    return st.lists(ops, min_size=1, max_size=3)


def store_mutations(seed: Seed) -> st.SearchStrategy[list[Op]]:
    """Byte and box-size edits concentrated inside the embedded manifest store."""
    assert seed.store_offset is not None
    start, length = seed.store_offset, len(seed.store)
    nodes = [n for root in jumbf_nodes(seed.store) for n in root.walk()]
    size_edit = st.builds(
        SetJumbfSize, st.just(start), st.sampled_from([n.offset for n in nodes]),
        st.sampled_from(_INTERESTING_SIZES) | st.integers(0, 0xFFFFFFFF) | st.sampled_from(
            [n.size + d for n in nodes for d in (-1, 1)]))
    in_store = st.builds(InStore, st.just(start), st.just(length), st.one_of(
        st.builds(Flip, st.integers(0, length - 1), st.integers(1, 255)),
        st.builds(Overwrite, st.integers(0, length - 1), st.binary(min_size=1, max_size=16)),
        st.builds(Insert, st.integers(0, length), _box_bytes()),
        st.builds(Delete, st.integers(0, length - 1), st.integers(1, 64)),
    ))
    return st.lists(size_edit | in_store, min_size=1, max_size=3)


# ------------------------------------------------------------------------------ manifest CBOR edits


def cbor_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=24), st.binary(max_size=48),
        st.sampled_from(["c2pa.created", "c2pa.opened", "http://cv.iptc.org/newscodes/digitalsourcetype/"
                         "trainedAlgorithmicMedia", "self#jumbf=c2pa.assertions/c2pa.actions.v2", "sha256",
                         "sha384", "shake_128", "md5", "/uuid", "/mdat", "parentOf", "", "\x00"]),
    )
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=12) | st.integers(-8, 40), inner, max_size=4),
                        max_leaves=12)


class _Tag:
    """A CBOR tag whose value can be edited (cbor2's CBORTag is read-only)."""

    def __init__(self, tag: int, value: Any) -> None:
        self.tag, self.value = tag, value

    def __getitem__(self, key: Any) -> Any:
        return self.value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.value = value

    def __delitem__(self, key: Any) -> None:
        self.value = None


def _loads(payload: bytes) -> Any:
    """Decoded CBOR with every array a list and every tag a _Tag, so any value in it can be edited."""

    def editable(value: Any) -> Any:
        if isinstance(value, (cbor2.CBORTag, _Tag)):
            return _Tag(value.tag, editable(value.value))
        if isinstance(value, (list, tuple)):
            return [editable(v) for v in value]
        if isinstance(value, dict):
            return {k: editable(v) for k, v in value.items()}
        return value

    # The hook's arguments are (decoder, tag) in cbor2 5 and (tag, immutable) in cbor2 6.
    def hook(a: Any, b: Any) -> Any:
        tag = a if isinstance(a, cbor2.CBORTag) else b
        return _Tag(tag.tag, tag.value)

    return editable(cbor2.loads(payload, tag_hook=hook))


def _dumps(value: Any) -> bytes:
    def default(encoder: Any, item: Any) -> None:
        if not isinstance(item, _Tag):
            raise TypeError(f"cannot encode {type(item)}")
        encoder.encode(cbor2.CBORTag(item.tag, item.value))

    return bytes(cbor2.dumps(value, default=default))


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every value nested in a decoded CBOR item, pre-order."""
    out: list[tuple[Any, Any]] = []

    def visit(container: Any, key: Any) -> None:
        out.append((container, key))
        child = container[key]
        if isinstance(child, _Tag):
            visit(child, "value")
        elif isinstance(child, dict):
            for k in list(child):
                visit(child, k)
        elif isinstance(child, list):
            for i in range(len(child)):
                visit(child, i)

    visit({"root": value}, "root")
    return out


@dataclass(frozen=True)
class CborEdit:
    """Change one value inside a manifest box's CBOR: replace it, delete it, or add a key/element next to it."""

    label: str  # the superbox: c2pa.claim.v2, an assertion, c2pa.signature
    node: int  # which value (pre-order, modulo the count)
    action: str  # "replace", "delete", "add"
    value: Any
    key: Any = None  # for "add" into a map

    def apply_to_store(self, store: bytes) -> bytes:
        box = content_box(superbox(store, self.label))
        start, end = box.payload
        slots = _slots(_loads(store[start:end]))
        root = slots[0][0]
        container, key = slots[self.node % len(slots)]
        if self.action == "replace" or (self.action == "delete" and key == "root"):
            container[key] = self.value
        elif self.action == "delete":
            del container[key]
        else:
            child = container[key]
            if isinstance(child, dict):
                child[self.key if _hashable(self.key) else "k"] = self.value
            elif isinstance(child, list):
                child.append(self.value)
            else:
                container[key] = [child, self.value]
        return replace_payload(store, box, _dumps(root["root"]))


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def cbor_edits(seed: Seed) -> st.SearchStrategy[list[CborEdit]]:
    labels = [n.label for n in jumbf_nodes(seed.store)[0].walk()
              if n.type == b"jumb" and n.label and n.label.startswith("c2pa.")
              and any(c.type == b"cbor" for c in n.children)]
    edit = st.builds(CborEdit, st.sampled_from(sorted(set(labels))), st.integers(0, 200),
                     st.sampled_from(["replace", "delete", "add"]), cbor_values(),
                     st.text(max_size=12) | st.integers(-8, 40))
    return st.lists(edit, min_size=1, max_size=3)


def apply_cbor_edits(seed: Seed, edits: list[CborEdit]) -> tuple[bytes, bytes | None]:
    store = seed.store
    for edit in edits:
        store = edit.apply_to_store(store)
    return with_store(seed, store)


def apply(data: bytes, ops: list[Op]) -> bytes:
    for op in ops:
        data = op.apply(data)
    return data
