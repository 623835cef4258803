"""Write a planned output file: the media copied inside the kernel, each copied step handed to disk writeback."""

from __future__ import annotations

import ctypes
import errno
import os
import sys
import threading
from typing import Any

from provenance._formats import bmff

_COPY_STEP = 256 << 20  # copied at a time, then handed to disk writeback
_COPY_BUFFER = 8 << 20  # the copy through user space, where copy_file_range cannot be used
_SYNC_FILE_RANGE_WRITE = 2


def pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    """Write all of `data` at `offset` of `fd`, however many writes it takes."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _copy_range(src_fd: int, src_offset: int, dst_fd: int, dst_offset: int, length: int) -> None:
    """Copy bytes between files inside the kernel where it can (copy_file_range), else through a buffer."""
    done = 0
    if hasattr(os, "copy_file_range"):
        try:
            while done < length:
                n = os.copy_file_range(src_fd, dst_fd, length - done, src_offset + done, dst_offset + done)
                if n == 0:
                    raise OSError(f"source ended {length - done} bytes early")
                done += n
            return
        except OSError as e:
            # Not supported between these files (other filesystem, old kernel): fall through.
            if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
    buffer = memoryview(bytearray(_COPY_BUFFER))
    while done < length:
        n = os.preadv(src_fd, [buffer[: min(len(buffer), length - done)]], src_offset + done)
        if n == 0:
            raise OSError(f"source ended {length - done} bytes early")
        pwrite_all(dst_fd, buffer[:n], dst_offset + done)
        done += n


class _Writeback:
    """Linux: starts writing ranges of the output to disk (sync_file_range), without waiting for them.

    The atomic commit fsyncs the output. Writing each copied step back while the
    rest is still being copied and hashed keeps dirty memory small (no writer
    throttling on big files) and leaves fsync almost nothing to wait for. A full
    device queue blocks only the copy thread, which runs alongside the hash.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._call: Any = None
        if sys.platform.startswith("linux"):
            try:
                self._call = ctypes.CDLL(None, use_errno=True).sync_file_range
            except (OSError, AttributeError):
                return
            self._call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
            self._call.restype = ctypes.c_int

    def start(self, offset: int, length: int) -> None:
        if self._call is not None:
            self._call(self.fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def write_plan(src_fd: int, dst_fd: int, plan: bmff.InsertionPlan, stop: threading.Event | None = None) -> None:
    """Write the planned output: literal boxes with pwrite, the rest copied from the source in steps.

    Once `stop` is set it returns at the next step, the output unfinished (signing failed elsewhere).
    """
    writeback = _Writeback(dst_fd)
    out = 0
    for piece in plan.pieces():
        if piece.data is not None:
            pwrite_all(dst_fd, piece.data, out)
            out += piece.length
            continue
        done = 0
        while done < piece.length:
            if stop is not None and stop.is_set():
                return
            step = min(_COPY_STEP, piece.length - done)
            _copy_range(src_fd, piece.source_offset + done, dst_fd, out, step)
            writeback.start(out, step)
            done += step
            out += step
    if out != plan.output_size:
        raise OSError(f"wrote {out} bytes, expected {plan.output_size}")
