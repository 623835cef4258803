"""Fuzz our own JUMBF and BMFF readers directly: only their documented exceptions may come out.

- jumbf.manifest_store_bytes: None "where none is found", never an exception, for every container;
- jumbf.manifest_box / signature_of: None for anything unparsable; jumbf.x5chain: a list of bytes;
- bmff.top_level_boxes, bmff.plan_insert_after_ftyp and bmff.shifted_box: UnsupportedLayout only;
- bmffhash.hash_binding_of_store: UnsupportedBinding only; and hashing a file with a binding it
  accepted (bmffhash.bmff_hash, which fastverify runs in a thread) raises nothing but OSError.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance import media as media_mod
from provenance._fast import bmffhash
from provenance._formats import bmff, jumbf
from provenance.errors import LimitExceeded

from . import bmff_gen, harness, jumbf_gen
from .mutations import apply, byte_ops, file_mutations, store_mutations
from .seeds import C2PA_UUID, Seed

pytestmark = pytest.mark.slow  # a bounded fuzz run: seconds per target

CONTAINERS = {"bmff": media_mod.MP4, "riff": media_mod.AVI, "jpeg": media_mod.JPEG, "png": media_mod.PNG,
              "jumbf": media_mod.MANIFEST_STORE, "matroska": media_mod.WEBM, "gif": media_mod.GIF}


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="provenance-fuzz-") as folder:
        yield Path(folder)


def _jpeg() -> st.SearchStrategy[bytes]:
    """JPEG framing with APP11 JUMBF segments (length fields sometimes wrong)."""
    def segment_bytes(marker: int, body: bytes, length: int | None) -> bytes:
        declared = len(body) + 2 if length is None else length
        return b"\xff" + bytes([marker]) + struct.pack(">H", max(0, min(0xFFFF, declared))) + body

    segment = st.builds(
        segment_bytes, st.sampled_from([0xEB, 0xEB, 0xE0, 0xE1, 0xFE, 0xDB]),
        st.builds(lambda head, payload: head + payload,
                  st.just(b"JP\x00\x01\x00\x00\x00\x01") | st.binary(max_size=8),
                  st.binary(max_size=40)),
        st.none() | st.none() | st.integers(0, 3) | st.integers(0, 0xFFFF))  # the right length, or another
    end = st.sampled_from([b"\xff\xd9", b"\xff\xda", b"", b"\x00"])
    return st.builds(lambda segs, tail: b"\xff\xd8" + b"".join(segs) + tail, st.lists(segment, max_size=5), end)


def _png() -> st.SearchStrategy[bytes]:
    chunk = st.builds(lambda kind, body, delta: struct.pack(">I", max(0, len(body) + delta) & 0xFFFFFFFF) + kind
                      + body + b"\x00\x00\x00\x00",
                      st.sampled_from([b"caBX", b"IHDR", b"IDAT", b"IEND", b"tEXt"]), st.binary(max_size=40),
                      st.just(0) | st.integers(-8, 8) | st.just(2**31))
    return st.builds(lambda chunks: b"\x89PNG\r\n\x1a\n" + b"".join(chunks), st.lists(chunk, max_size=5))


def _riff() -> st.SearchStrategy[bytes]:
    chunk = st.builds(lambda kind, body, delta: kind + struct.pack("<I", max(0, len(body) + delta) & 0xFFFFFFFF)
                      + body, st.sampled_from([b"C2PA", b"LIST", b"JUNK", b"idx1", b"movi"]), st.binary(max_size=40),
                      st.just(0) | st.integers(-8, 8))
    return st.builds(lambda chunks: b"RIFF\x00\x00\x00\x00AVI " + b"".join(chunks), st.lists(chunk, max_size=5))


def _bmff_with_store() -> st.SearchStrategy[bytes]:
    uuid = st.builds(lambda purpose, store, delta: bmff_gen.raw_box(
        b"uuid", C2PA_UUID + b"\x00\x00\x00\x00" + purpose + b"\x00" + bytes(8) + store, delta),
        st.sampled_from([b"manifest", b"merkle", b""]), jumbf_gen.stores() | st.just(b""),
        st.just(0) | st.integers(-20, 20))
    return st.builds(lambda head, boxes: head + b"".join(boxes), bmff_gen.files(), st.lists(uuid, max_size=2))


# ------------------------------------------------------------------------------------ the store finders


def test_manifest_store_bytes(fuzz_seeds: dict[str, Seed]) -> None:
    """Every container's finder, on noise, on near-valid framing and on mutants of the real signed files."""
    mp4, avi = fuzz_seeds["mp4"], fuzz_seeds["avi"]
    # Mostly each container's own framing, read as that container; sometimes anything as anything.
    inputs = st.one_of(
        st.tuples(st.just("jpeg"), _jpeg()), st.tuples(st.just("png"), _png()), st.tuples(st.just("riff"), _riff()),
        st.tuples(st.just("bmff"), _bmff_with_store()), st.tuples(st.just("jumbf"), jumbf_gen.stores()),
        st.tuples(st.just("bmff"), st.builds(apply, st.just(mp4.data), file_mutations(mp4))),
        st.tuples(st.just("bmff"), st.builds(apply, st.just(mp4.data), store_mutations(mp4))),
        st.tuples(st.just("riff"), st.builds(apply, st.just(avi.data), file_mutations(avi))),
        st.tuples(st.sampled_from(sorted(CONTAINERS)), st.binary(max_size=2048) | _jpeg() | _png() | _riff()),
    )

    @harness.fuzz_settings("readers.store-bytes")
    @given(container_and_data=inputs)
    def run(container_and_data: tuple[str, bytes]) -> None:
        container, data = container_and_data
        with harness.execution("readers.store-bytes", lambda: f"{container}: {data!r}", lambda: data):
            kind = CONTAINERS[container]
            store = jumbf.manifest_store_bytes(Bounded(data), len(data), kind)
            assert store is None or (isinstance(store, bytes) and len(store) <= len(data))
            try:
                found = jumbf.scan(Bounded(data), len(data), kind)
            except LimitExceeded:
                return
            assert found.store == store and (found.store is None or found.stores == 1)

    run()


class Bounded(io.BytesIO):
    """A file that refuses reads "to the end" (a negative or missing size): the readers walk files box by
    box with seeks and bounded reads, so a large video is never read into memory (jumbf's docstring)."""

    def read(self, size: int | None = -1) -> bytes:
        assert size is not None and size >= 0, f"read({size}) at offset {self.tell()}: the rest of the file"
        return super().read(size)


# ------------------------------------------------------------------------------------ JUMBF and COSE


def _check_jumbf(store: bytes, label: str | None) -> None:
    found = jumbf.manifests(store)
    assert found is None or all(m.type == b"jumb" for m in found)
    problem = jumbf.identity_problem(store, label, [label] if label else [])
    assert problem is None or isinstance(problem, str)
    box = jumbf.manifest_box(store, label)
    assert box is None or (box.type == b"jumb" and isinstance(box.payload, bytes))
    if box is not None:
        payload = jumbf.cbor_payload(box)
        assert payload is None or isinstance(payload, bytes)
    sig = jumbf.signature_of(store, label)
    assert sig is None or isinstance(sig, bytes)
    chain = jumbf.x5chain(sig if sig is not None else store)
    assert isinstance(chain, list) and all(isinstance(c, bytes) for c in chain)


def test_jumbf_readers_on_bytes(fuzz_seeds: dict[str, Seed]) -> None:
    """manifest_box, signature_of and x5chain on noise and on mutants of the real manifest store."""
    store = fuzz_seeds["mp4"].store
    inputs = st.binary(max_size=1024) | st.builds(apply, st.just(store), st.lists(byte_ops(len(store)), min_size=1,
                                                                                    max_size=4))
    label = st.none() | st.sampled_from(jumbf_gen.LABELS) | st.text(max_size=8)

    @harness.fuzz_settings("readers.jumbf")
    @given(data=inputs, label=label)
    def run(data: bytes, label: str | None) -> None:
        with harness.execution("readers.jumbf", lambda: f"label={label!r}, store={data!r}", lambda: data):
            _check_jumbf(data, label)

    run()


def test_jumbf_readers_on_generated_stores() -> None:
    """The same readers on generated manifest stores: real framing, C2PA labels, odd sizes and contents."""
    label = st.none() | st.sampled_from(jumbf_gen.LABELS)

    @harness.fuzz_settings("readers.jumbf-structured")
    @given(data=jumbf_gen.stores(), label=label)
    def run(data: bytes, label: str | None) -> None:
        with harness.execution("readers.jumbf-structured", lambda: f"label={label!r}, store={data!r}",
                               lambda: data):
            _check_jumbf(data, label)

    run()


def test_x5chain() -> None:
    @harness.fuzz_settings("readers.x5chain")
    @given(data=jumbf_gen.cose_sign1() | st.binary(max_size=256))
    def run(data: bytes) -> None:
        with harness.execution("readers.x5chain", lambda: repr(data), lambda: data):
            chain = jumbf.x5chain(data)
            assert isinstance(chain, list) and all(isinstance(c, bytes) for c in chain)

    run()


# ------------------------------------------------------------------------------------------- BMFF


def test_top_level_boxes_and_insertion_plan(scratch: Path, fuzz_seeds: dict[str, Seed]) -> None:
    """top_level_boxes tiles the file or raises UnsupportedLayout; so does planning the manifest's insertion."""
    unsigned = fuzz_seeds["mp4"]
    inputs = bmff_gen.files() | st.binary(max_size=512) | st.builds(apply, st.just(unsigned.data),
                                                                    file_mutations(unsigned))
    path = scratch / "top-level.mp4"
    new_box = bmff_gen.raw_box(b"uuid", C2PA_UUID + bytes(40))

    @harness.fuzz_settings("readers.top-level-boxes")
    @given(data=inputs)
    def run(data: bytes) -> None:
        path.write_bytes(data)
        with harness.execution("readers.top-level-boxes", lambda: repr(data), lambda: data), \
                open(path, "rb") as f:
            fd = f.fileno()
            try:
                boxes = bmff.top_level_boxes(fd, len(data))
            except bmff.UnsupportedLayout:
                return
            end = 0
            for box in boxes:
                assert box.offset == end and box.size >= box.header and box.offset + box.size <= len(data)
                end += box.size
            assert len(data) - end < 8  # only a stub too short for a box header may follow
            try:
                plan = bmff.plan_insert_after_ftyp(fd, len(data), new_box)
            except bmff.UnsupportedLayout:
                return
            assert plan.output_size == len(data) + len(new_box)
            assert sum(p.length for p in plan.pieces()) == plan.output_size

    run()


def test_shifted_box() -> None:
    """shifted_box on generated metadata boxes: the same length back, or UnsupportedLayout."""

    @harness.fuzz_settings("readers.shifted-box")
    @given(data=bmff_gen.metadata_boxes() | st.binary(min_size=8, max_size=256),
           delta=st.integers(0, 2**32) | st.sampled_from([0, 8, 3313, 2**31, 2**32 - 1]))
    def run(data: bytes, delta: int) -> None:
        header = 16 if len(data) >= 16 and struct.unpack_from(">I", data)[0] == 1 else 8
        with harness.execution("readers.shifted-box", lambda: f"header={header}, delta={delta}, box={data!r}",
                               lambda: data):
            try:
                out = bmff.shifted_box(data, header, delta)
            except bmff.UnsupportedLayout:
                return
            assert len(out) == len(data) and out[:header] == data[:header]

    run()


# --------------------------------------------------------------------------------------- BMFF hash


def test_hash_binding_of_store(scratch: Path, fuzz_seeds: dict[str, Seed]) -> None:
    """hash_binding_of_store raises only UnsupportedBinding; a binding it accepts hashes the real signed MP4
    raising nothing but OSError (fastverify's hashing thread is only ready for that)."""
    seed = fuzz_seeds["mp4"]
    path = scratch / "signed.mp4"
    path.write_bytes(seed.data)
    mutated = st.builds(apply, st.just(seed.store), store_mutations(seed).map(lambda ops: _store_ops(ops, seed)))
    inputs = jumbf_gen.hash_stores() | jumbf_gen.stores() | st.binary(max_size=512) | mutated

    @harness.fuzz_settings("readers.hash-binding")
    @given(data=inputs)
    def run(data: bytes) -> None:
        with harness.execution("readers.hash-binding", lambda: repr(data), lambda: data):
            try:
                binding = bmffhash.hash_binding_of_store(data)
            except bmffhash.UnsupportedBinding:
                return
            assert isinstance(binding, bmffhash.HashBinding)
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                boxes = [bmff.OutputBox(b.type, b.offset, b.size, None, b.offset)
                         for b in bmff.top_level_boxes(f.fileno(), size)]
                try:
                    digest = bmffhash.bmff_hash(f.fileno(), boxes, binding, read_ahead=False)
                except OSError:
                    return
            assert isinstance(digest, bytes)

    run()


def _store_ops(ops: list[object], seed: Seed) -> list[object]:
    """store_mutations' operations count from the store's offset in the file; here they apply to the store."""
    from .mutations import InStore, SetJumbfSize

    out: list[object] = []
    for op in ops:
        if isinstance(op, InStore):
            out.append(InStore(0, op.store_length, op.op))
        elif isinstance(op, SetJumbfSize):
            out.append(SetJumbfSize(0, op.node_offset, op.size))
    return out
