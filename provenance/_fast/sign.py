"""Sign BMFF video (MP4, MOV, M4V, fragmented MP4) at about the cost of one copy plus one hash.

c2pa's public `Builder.sign` moves every byte through 8 KiB Python stream
callbacks, writes a full temporary copy of the output, and hashes in 256 MiB
buffers (about 0.5 GB resident). The fast path produces the same standard
(non-Merkle) `c2pa.hash.bmff.v3` manifest another way, with c2pa's native
embeddable workflow, which c2pa-python 0.38.1 exports but does not wrap (embed.py
says how; native.py binds it).

This module decides when it applies. Before its first use in a process the path
signs and verifies a tiny MP4 (selfcheck.py, cached per process); when that, or
anything about a file, does not fit, `sign_embedded` returns None and the caller
signs with `Builder.sign`. The reason is logged at INFO (shown with `--verbose`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from provenance._fast.builder import ManifestBuilders, ingredient_archives
from provenance._fast.embed import Timings, write_signed
from provenance._fast.native import FastPathUnavailable
from provenance._fast.selfcheck import self_check
from provenance._formats.bmff import BMFF_VIDEO_TYPES
from provenance._formats.fallback import FallBackToC2pa
from provenance._internal.threads import Worker
from provenance.errors import SigningError

if TYPE_CHECKING:
    from provenance.keys.signers import SigningCredentials

log = logging.getLogger(__name__)


class LateAssertions(Protocol):
    """Assertions computed while the file is copied and hashed (e.g. a soft binding).

    `stand_ins()` must encode to at least the size of `result()`: the manifest is
    sized with them before the real values exist (a smaller result is padded).
    """

    def stand_ins(self) -> list[dict[str, Any]]:
        """Assertions of the largest size the real ones can have, to size the manifest with."""

    def result(self) -> list[dict[str, Any]]:
        """The real assertions, once computed (waiting for them if need be)."""


class BackgroundAssertions:
    """`LateAssertions` computed in a thread that starts at once; `result()` waits for it.

    `cancel`, called from another thread, makes `compute` end early (e.g. kills its child process).
    """

    def __init__(self, compute: Callable[[], list[dict[str, Any]]], stand_ins: list[dict[str, Any]], *,
                 cancel: Callable[[], None] | None = None) -> None:
        self._stand_ins = stand_ins
        self._cancel = cancel
        self._worker = Worker("provenance-late", compute)
        self._worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel the computation if it still runs and wait (at most `timeout` s) for it to end."""
        if not self._worker.finished.is_set():
            if self._cancel is not None:
                self._cancel()
            self._worker.finished.wait(timeout)

    def stand_ins(self) -> list[dict[str, Any]]:
        """The stand-in assertions given at the start."""
        return self._stand_ins

    def result(self) -> list[dict[str, Any]]:
        """The computed assertions, once the thread has ended; its exception, re-raised here, if it failed."""
        return self._worker.result()


def sign_embedded(builder: Any, definition: dict[str, Any], credentials: SigningCredentials, mime: str,
                  src: BinaryIO, dst: BinaryIO, *, ingredient_ids: Sequence[str] = (),
                  late: LateAssertions | None = None) -> bytes | None:
    """Sign `src` into the empty file `dst` with an embedded manifest; None means "use Builder.sign".

    `definition` and the ingredients `ingredient_ids` of `builder` make up the
    manifest; `builder` itself is left untouched, so the caller can still sign with
    it. Failures of the signer itself (key, certificate, timestamp authority) raise
    c2pa.C2paError as Builder.sign would; write errors raise SigningError.
    """
    if mime not in BMFF_VIDEO_TYPES:
        return None
    started = time.perf_counter()
    timings = Timings()
    try:
        if not hasattr(os, "preadv"):
            raise FastPathUnavailable("positioned file I/O (os.preadv) is not available on this platform")
        check = self_check()
        if not check.passed:
            raise FastPathUnavailable(f"start-up self-check failed: {check.reason}")
        dst.flush()
        builders = ManifestBuilders(definition, credentials, ingredient_archives(builder, ingredient_ids))
        try:
            store = write_signed(builders, mime, src.fileno(), dst.fileno(), timings,
                                 stand_ins=late.stand_ins() if late else (), late=late.result if late else None)
        finally:
            builders.close()
    except FallBackToC2pa as e:
        log.info("fast signing path not used (%s); signing with c2pa's Builder.sign", e)
        _reset(dst)
        return None
    except OSError as e:
        _reset(dst)
        raise SigningError(
            f"cannot write the signed file: {e.strerror or e}",
            remedy="Check free disk space and write permission in the output folder.",
        ) from e
    log.debug(
        "fast path signed in %.2fs (prepare %.2fs, copy+hash %.2fs, waiting for late assertions %.2fs, sign %.2fs)",
        time.perf_counter() - started, timings.prepare, timings.copy_and_hash, timings.late_assertions,
        timings.sign,
    )
    return store


def _reset(dst: BinaryIO) -> None:
    """Empty the output again, so Builder.sign starts from a clean file."""
    try:
        dst.seek(0)
        dst.truncate()
    except (OSError, ValueError):
        pass
