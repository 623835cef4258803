"""Real signed clips to mutate, and what a mutant must not get away with.

The oracle is written here from the C2PA rules, independently of provenance's own readers (the thing
under test): its JUMBF walk and its BMFF/data-hash bookkeeping are this file's own, and
test_verify_fuzz.py checks them against each seed (the recomputed hashes equal the signed ones).
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2

from provenance.verify import Verifier

C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")


@dataclass(frozen=True)
class Node:
    """One JUMBF box of a manifest store: where it is (offsets inside the store) and what it holds."""

    type: bytes
    label: str | None
    offset: int
    size: int
    header: int
    children: tuple[Node, ...] = ()

    @property
    def payload(self) -> tuple[int, int]:
        return self.offset + self.header, self.offset + self.size

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()


def jumbf_nodes(store: bytes, start: int = 0, end: int | None = None) -> tuple[Node, ...]:
    """The JUMBF tree of a well-formed store (a seed's; mutants are never parsed with this)."""
    end = len(store) if end is None else end
    nodes = []
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", store, offset)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", store, offset + 8)[0], 16
        assert header <= size and offset + size <= end, "a seed's store is well formed"
        children: tuple[Node, ...] = ()
        label = None
        if kind == b"jumb":
            children = jumbf_nodes(store, offset + header, offset + size)
            if children and children[0].type == b"jumd":
                label = children[0].label
        elif kind == b"jumd":
            body = store[offset + header : offset + size]
            if len(body) > 17 and body[16] & 0x02:
                label = body[17 : body.index(b"\x00", 17)].decode()
        nodes.append(Node(kind, label, offset, size, header, children))
        offset += size
    return tuple(nodes)


def active_manifest(store: bytes) -> Node:
    (root,) = [n for n in jumbf_nodes(store) if n.label == "c2pa"]
    return [c for c in root.children if c.type == b"jumb"][-1]


def superbox(store: bytes, label: str) -> Node:
    """The active manifest's superbox with this label (an assertion, the claim, the signature)."""
    return next(n for n in active_manifest(store).walk() if n.type == b"jumb" and n.label == label)


def content_box(node: Node) -> Node:
    return next(c for c in node.children if c.type in (b"cbor", b"json"))


def cbor_of(store: bytes, label: str) -> Any:
    start, end = content_box(superbox(store, label)).payload
    return cbor2.loads(store[start:end])


def replace_payload(store: bytes, node: Node, payload: bytes) -> bytes:
    """`store` with `node`'s payload replaced, every enclosing box's size field moved to match."""
    start, end = node.payload
    delta = len(payload) - (end - start)
    out = bytearray(store[:start] + payload + store[end:])
    for box in jumbf_nodes(store):
        for enclosing in box.walk():
            if enclosing.offset <= node.offset < enclosing.offset + enclosing.size:
                new = enclosing.size + delta
                if enclosing.header == 16:
                    struct.pack_into(">Q", out, enclosing.offset + 8, new)
                else:
                    struct.pack_into(">I", out, enclosing.offset, new & 0xFFFFFFFF)
    return bytes(out)


def top_level(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of a well-formed BMFF file's top-level boxes."""
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, offset)
        if size == 1:
            size = struct.unpack_from(">Q", data, offset + 8)[0]
        elif size == 0:
            size = len(data) - offset
        boxes.append((kind, offset, size))
        offset += size
    return boxes


def stray_tail(data: bytes) -> int | None:
    """How many bytes (1 to 7, too few for a box header) follow the last top-level box of a BMFF file whose
    boxes otherwise tile it; None when there are none or the boxes do not tile it."""
    offset = 0
    while offset + 8 <= len(data):
        size = struct.unpack_from(">I", data, offset)[0]
        if size == 1 and offset + 16 <= len(data):
            size = struct.unpack_from(">Q", data, offset + 8)[0]
        elif size == 0:
            size = len(data) - offset
        if size < 8 or offset + size > len(data):
            return None
        offset += size
    return (len(data) - offset) or None


def riff_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(id, offset, total size incl. header and pad) of a RIFF file's top-level chunks."""
    chunks, offset = [], 12
    while offset + 8 <= len(data):
        kind, size = struct.unpack_from("<4sI", data, offset)
        chunks.append((kind, offset, 8 + size + (size & 1)))
        offset += 8 + size + (size & 1)
    return chunks


@dataclass(frozen=True)
class Seed:
    """A signed clip, where its manifest store sits, and which of its bytes the signature protects."""

    name: str  # "mp4", "mov", "fmp4", "avi", "webm"
    suffix: str  # the mutant's file suffix
    layout: str  # "bmff", "riff" or "ebml"
    data: bytes  # the signed media file
    sidecar: bytes | None  # its detached manifest store (.c2pa), when it has one
    store: bytes  # the manifest store, embedded or detached
    store_offset: int | None  # where the store starts in `data` (None: detached)
    hashed_boxes: tuple[tuple[int, int], ...]  # BMFF: (offset, size) of the top-level boxes the hash covers
    excluded_ranges: tuple[tuple[int, int], ...]  # data hash: (start, length) left out of the hash
    protected: tuple[re.Pattern[bytes], ...]  # store contents the claim signature covers (claim, each assertion)

    def changes_hashed_bytes(self, media: bytes) -> bool:
        """Whether `media` differs from the signed file anywhere the hard binding hashes.

        BMFF (`c2pa.hash.bmff.v3`): the hash covers each non-excluded top-level box together with its
        offset, so a mutant leaves the hashed bytes alone only if every such box is still there, at
        the same offset, byte for byte. A data hash covers the whole file but the excluded ranges."""
        if self.layout == "bmff":
            return any(media[o : o + s] != self.data[o : o + s] for o, s in self.hashed_boxes)
        if self.sidecar is not None and self.store_offset is None:
            return media != self.data  # a detached manifest's data hash covers the whole file
        return _without(media, self.excluded_ranges) != _without(self.data, self.excluded_ranges)

    def changes_signed_manifest(self, store_container: bytes) -> bool:
        """Whether the claim or an assertion the claim signs is no longer found, byte for byte."""
        return any(p.search(store_container) is None for p in self.protected)


def _without(data: bytes, ranges: tuple[tuple[int, int], ...]) -> bytes:
    out, at = [], 0
    for start, length in sorted(ranges):
        out.append(data[at:start])
        at = max(at, start + length)
    out.append(data[at:])
    return b"".join(out)


# The JUMBF description box's toggles: bits 0-4 (requestable, label, id, signature, private) are
# defined; c2pa hashes an assertion as it re-serializes it, so bits 5-7 (reserved) are not bound by the
# signature: a mutant that flips only those is the same assertion (issue 12's fuzz run, verify.webm-sidecar).
_TOGGLES_DEFINED = 0x1F


def _protected(store: bytes) -> tuple[re.Pattern[bytes], ...]:
    manifest = active_manifest(store)
    parts = []
    for node in manifest.walk():
        if node.type == b"jumb" and node.label and node.label.startswith("c2pa.claim"):
            start, end = content_box(node).payload
            parts.append(re.compile(re.escape(store[start:end]), re.DOTALL))
    assertions = next(n for n in manifest.children if n.label == "c2pa.assertions")
    for assertion in assertions.children[1:]:
        start, end = assertion.payload
        toggles = assertion.children[0].payload[0] + 16  # after the description's 16-byte type UUID
        same = bytes(t for t in range(256) if t & _TOGGLES_DEFINED == store[toggles] & _TOGGLES_DEFINED)
        parts.append(re.compile(re.escape(store[start:toggles]) + b"[" + re.escape(same) + b"]"
                                + re.escape(store[toggles + 1 : end]), re.DOTALL))
    return tuple(parts)


def make_seed(name: str, path: Path) -> Seed:
    data = path.read_bytes()
    sidecar_path = path.with_name(path.name + ".c2pa")
    sidecar = sidecar_path.read_bytes() if sidecar_path.is_file() else None
    layout = {"avi": "riff", "webm": "ebml"}.get(name, "bmff")
    hashed: tuple[tuple[int, int], ...] = ()
    excluded: tuple[tuple[int, int], ...] = ()
    if sidecar is not None:
        store, offset = sidecar, None
    elif layout == "bmff":
        uuid = next(b for b in top_level(data) if b[0] == b"uuid" and data[b[1] + 8 : b[1] + 24] == C2PA_UUID)
        offset = data.index(b"manifest\x00", uuid[1]) + 9 + 8
        store = data[offset : uuid[1] + uuid[2]]
    else:
        chunk = next(c for c in riff_chunks(data) if c[0] == b"C2PA")
        offset = chunk[1] + 8
        store = data[offset : offset + struct.unpack_from("<I", data, chunk[1] + 4)[0]]
    labels = [n.label for n in active_manifest(store).walk() if n.type == b"jumb"]
    if layout == "bmff":
        binding = cbor_of(store, "c2pa.hash.bmff.v3")
        boxes = top_level(data)
        hashed = tuple((o, s) for kind, o, s in boxes if not any(_excludes(e, kind, data[o : o + s])
                                                                    for e in binding["exclusions"]))
        digest = hashlib.new(binding.get("alg", "sha256"))
        for o, s in hashed:
            digest.update(o.to_bytes(8, "big") + data[o : o + s])
        assert digest.digest() == binding["hash"], f"{name}: this oracle's BMFF hash is not the signed one"
    else:
        assert "c2pa.hash.data" in labels, labels
        binding = cbor_of(store, "c2pa.hash.data")
        excluded = tuple((e["start"], e["length"]) for e in binding.get("exclusions") or [])
        digest = hashlib.new(binding.get("alg", "sha256"), _without(data, excluded))
        assert digest.digest() == binding["hash"], f"{name}: this oracle's data hash is not the signed one"
    return Seed(name, path.suffix, layout, data, sidecar, store, offset, hashed, excluded, _protected(store))


def _excludes(exclusion: dict[str, Any], kind: bytes, box: bytes) -> bool:
    if exclusion["xpath"] != "/" + kind.decode("latin-1"):
        return False
    return all(box[d["offset"] : d["offset"] + len(d["value"])] == d["value"] for d in exclusion.get("data") or [])


def with_store(seed: Seed, store: bytes) -> tuple[bytes, bytes | None]:
    """The seed's (media, sidecar) with its manifest store replaced by `store`, containers fixed up.

    BMFF: the C2PA uuid box is rebuilt around it; when the store shrank, the `free` box that follows
    grows by as much, so every hashed box stays where it was. RIFF: the C2PA chunk and the RIFF size."""
    if seed.sidecar is not None:
        return seed.data, store
    assert seed.store_offset is not None
    data = seed.data
    if seed.layout == "bmff":
        uuid = next(b for b in top_level(data) if b[0] == b"uuid" and data[b[1] + 8 : b[1] + 24] == C2PA_UUID)
        head = bytearray(data[uuid[1] : seed.store_offset])
        struct.pack_into(">I", head, 0, len(head) + len(store))
        rest = data[uuid[1] + uuid[2] :]
        shrink = uuid[2] - len(head) - len(store)
        if shrink > 0 and rest[4:8] == b"free":
            grown = struct.unpack_from(">I", rest)[0] + shrink
            rest = struct.pack(">I", grown) + rest[4:8] + b"\x00" * shrink + rest[8:]
        return data[: uuid[1]] + bytes(head) + store + rest, None
    chunk = next(c for c in riff_chunks(data) if c[0] == b"C2PA")
    body = store + (b"\x00" if len(store) & 1 else b"")
    out = bytearray(data[: chunk[1]] + b"C2PA" + struct.pack("<I", len(store)) + body + data[chunk[1] + chunk[2] :])
    struct.pack_into("<I", out, 4, len(out) - 8)
    return bytes(out), None


@dataclass(frozen=True)
class Timestamped:
    seed: Seed  # an MP4 signed with an RFC 3161 timestamp from the test TSA
    token: tuple[int, int]  # (offset, length) of the time-stamp token's DER in the file
    verifiers: tuple[Verifier, Verifier]  # fast path on and off, with the TSA's root as TSA trust anchor


def write_mutant(folder: Path, seed: Seed, media: bytes, sidecar: bytes | None) -> Path:
    path = folder / f"mutant{seed.suffix}"
    path.write_bytes(media)
    side = path.with_name(path.name + ".c2pa")
    if sidecar is not None:
        side.write_bytes(sidecar)
    elif side.exists():
        side.unlink()
    return path
