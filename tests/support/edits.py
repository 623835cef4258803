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
