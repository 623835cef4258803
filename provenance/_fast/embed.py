"""Write a BMFF file with its signed C2PA manifest embedded, in one pass, through c2pa's embeddable workflow.

1. `c2pa_builder_placeholder` sizes the manifest and names the hash exclusions (native.py);
2. the output is written as `ftyp` + a box of that size + the rest of the source:
   the media data is copied inside the kernel (copy.py), the absolute offsets in
   `moov`/`moof`/`mfra` move by the box size (provenance/_formats/bmff.py);
3. at the same time the BMFF hash of the output is computed here with hashlib
   from the source bytes, in small buffers (bmffhash.py);
4. `c2pa_builder_sign_embeddable` signs a manifest carrying that hash, and the
   signed box, no larger than the placeholder, is written over it.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from provenance._fast.bmffhash import HashBinding, bmff_hash, hash_binding_of_store, store_from_box
from provenance._fast.builder import ManifestBuilders
from provenance._fast.copy import pwrite_all, write_plan
from provenance._fast.native import FastPathUnavailable, native
from provenance._formats import bmff
from provenance._internal.threads import Worker

log = logging.getLogger(__name__)


@dataclass
class Timings:
    """Seconds spent in each step of one fast signing (logged under --verbose)."""

    prepare: float = 0.0
    copy_and_hash: float = 0.0
    late_assertions: float = 0.0
    sign: float = 0.0


def hash_binding(placeholder: bytes) -> HashBinding:
    """The hash assertion inside a placeholder box."""
    return hash_binding_of_store(store_from_box(placeholder))


def write_signed(builders: ManifestBuilders, mime: str, src_fd: int, dst_fd: int, timings: Timings, *,
                 stand_ins: Sequence[dict[str, Any]] = (),
                 late: Callable[[], Sequence[dict[str, Any]]] | None = None) -> bytes:
    """Write the file open at `src_fd`, signed, into the empty `dst_fd`; returns the manifest store.

    The manifest is sized with `stand_ins`; `late`, called once the file is hashed, gives the assertions
    that take their place.
    """
    api = native()
    fmt = mime.encode()
    started = time.perf_counter()
    placeholder = api.placeholder(builders.new(stand_ins), fmt)
    if placeholder[4:8] != b"uuid" or placeholder[8:24] != bmff.C2PA_UUID:
        raise FastPathUnavailable("the placeholder is not a C2PA uuid box")
    binding = hash_binding(placeholder)
    plan = bmff.plan_insert_after_ftyp(src_fd, os.fstat(src_fd).st_size, placeholder)
    timings.prepare = time.perf_counter() - started

    started = time.perf_counter()

    stop = threading.Event()
    copier = Worker("provenance-copy", lambda: write_plan(src_fd, dst_fd, plan, stop))
    copier.start()
    try:
        digest = bmff_hash(src_fd, plan.boxes, binding, read_ahead=False)  # the copy runs beside it
    except BaseException:
        stop.set()  # failed or interrupted: the copy need not finish
        raise
    finally:
        _finish(copier, stop)
    timings.copy_and_hash = time.perf_counter() - started

    started = time.perf_counter()
    extra = late() if late is not None else []
    timings.late_assertions = time.perf_counter() - started

    started = time.perf_counter()
    signed = api.sign_embeddable(builders.new(extra, binding.with_hash(digest)), fmt)
    if len(signed) > len(placeholder):
        raise FastPathUnavailable(f"signed manifest ({len(signed)} bytes) outgrew its slot ({len(placeholder)})")
    log.debug("signed manifest: %d bytes in a slot of %d", len(signed), len(placeholder))
    # A smaller manifest keeps the slot's size: zeros after the JUMBF, as c2pa pads its own placeholders.
    padded = struct.pack(">I", len(placeholder)) + signed[4:] + bytes(len(placeholder) - len(signed))
    pwrite_all(dst_fd, padded, plan.insert_at)
    timings.sign = time.perf_counter() - started
    return store_from_box(signed)


def _finish(copier: Worker[None], stop: threading.Event) -> None:
    """copier.result(), even when an interrupt (KeyboardInterrupt and the like) arrives meanwhile.

    The copy thread writes to a descriptor that the caller closes next; closed under it, the number
    could be reused by another file and written into. So the thread is always waited for (told to
    stop first when interrupted), and the interrupt raised once it has ended.
    """
    interrupted: BaseException | None = None
    while not copier.finished.is_set():
        try:
            copier.finished.wait()
        except BaseException as e:
            stop.set()
            interrupted = interrupted or e
    if interrupted is not None:
        raise interrupted
    copier.result()
