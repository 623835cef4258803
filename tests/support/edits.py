"""Edits that tamper with a signed clip's bytes."""

from __future__ import annotations

import struct
from pathlib import Path


def top_level_boxes(data: bytes) -> dict[bytes, tuple[int, int]]:
    """Box type → (offset, size) of the first top-level box of each type."""
    boxes: dict[bytes, tuple[int, int]] = {}
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.setdefault(kind, (offset, size))
        offset += size
    return boxes


def flipped(data: bytes, index: int) -> bytes:
    """`data` with the byte at `index` inverted."""
    return data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :]


def flip_video_byte(path: Path) -> None:
    """Change one byte in the middle of the top-level mdat box (the video data)."""
    data = bytearray(path.read_bytes())
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"mdat":
            data[offset + size // 2] ^= 0xFF
            path.write_bytes(bytes(data))
            return
        offset += size
    raise AssertionError(f"{path} has no mdat box")


def signature_byte(data: bytes, manifest: int = 0) -> int:
    """Where a byte of the COSE signature value of the `manifest`-th manifest in `data` lies (0: the first;
    in a remix the ingredient's manifests come before the active one, which is last)."""
    import cbor2

    at = -1
    for _ in range(manifest + 1):
        at = data.index(b"c2pa.signature\x00", at + 1)
    cbor_at = data.index(b"cbor", at)
    size = struct.unpack(">I", data[cbor_at - 4 : cbor_at])[0]
    sig = data[cbor_at + 4 : cbor_at - 4 + size]
    return cbor_at + 4 + sig.rindex(cbor2.loads(sig).value[3]) + 5


def break_signature(path: Path, manifest: int = 0) -> None:
    """Flip a byte of the signature of the `manifest`-th manifest in the file (see `signature_byte`)."""
    data = path.read_bytes()
    path.write_bytes(flipped(data, signature_byte(data, manifest)))


def make_slow_to_verify(target: Path, signed: bytes, size: int = 4 << 30) -> Path:
    """A signed clip followed by a `size`-byte box of zeros (a sparse file: no disk used), hashed twice by a
    verifier (the fast path, then c2pa's full Reader once the hash mismatches): at 4 GiB, several seconds."""
    with open(target, "wb") as f:
        f.write(signed + struct.pack(">I4sQ", 1, b"abcd", size))
        f.truncate(len(signed) + size)
    return target
