"""ISO BMFF box headers (ISO/IEC 14496-12, 4.2), the framing that MP4, MOV and JUMBF share.

A header is a 32-bit size and a four-character type; size 1 means a 64-bit size follows, size 0
that the box runs to the end of its parent (or of the file). Every box reader decodes headers here
and applies its own limits and errors to the result.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER_MAX = 16  # bytes that hold any header


@dataclass(frozen=True)
class BoxHeader:
    """A decoded box header."""

    type: bytes
    size: int  # of the whole box, header included; for size 0, the room the box was read with
    length: int  # of the header itself: 8, or 16 with a 64-bit size
    to_end: bool = False  # declared with size 0 (to the end of its parent)

    def fits(self, room: int) -> bool:
        """Whether the box holds at least its own header and ends within `room` bytes of its start."""
        return self.length <= self.size <= room


def box_header(head: bytes | bytearray, room: int) -> BoxHeader | None:
    """The header at the start of `head`, a box's first HEADER_MAX bytes (fewer where they run out).

    `room` is how far the box may reach (to the end of its parent), which size 0 stands for. None
    when `head` is too short for the header: under 8 bytes, or a 64-bit size cut off.
    """
    if len(head) < 8:
        return None
    size, kind = struct.unpack_from(">I4s", head)
    if size == 1:
        if len(head) < 16:
            return None
        return BoxHeader(kind, struct.unpack_from(">Q", head, 8)[0], 16)
    if size == 0:
        return BoxHeader(kind, room, 8, to_end=True)
    return BoxHeader(kind, size, 8)
