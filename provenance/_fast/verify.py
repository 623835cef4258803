"""Verify BMFF video (MP4, MOV, M4V) at about the cost of one SHA-256 pass.

c2pa's Reader hashes the file in freshly allocated 256 MiB buffers (about 0.5 GB
resident, half its time spent by the kernel faulting in those pages) and reads
and hashes one after the other. On large files this module splits the work:

- c2pa's Reader validates the manifest store on its own (the claim, signature,
  certificate trust, timestamp, assertion hashes, ingredients) against an empty
  asset, so it reports exactly one failure: the BMFF hash mismatches;
- at the same time the BMFF hash is computed here, from the file, with hashlib
  in small buffers (`bmffhash.bmff_hash`, the code that computes it when signing);
- when that hash equals the signed one, c2pa's mismatch is replaced by the match
  c2pa would have reported, and its state becomes what it would have been.

Anything else goes through c2pa's full Reader, so every failure the user sees
comes from c2pa itself: a hash that does not match (tampered media), a second
manifest box, boxes that overrun the file, a hard binding other than one plain
`c2pa.hash.bmff.v3` with exclusions of a form handled here, or any failure from
the manifest other than an untrusted signer. Like the signing fast path, it
checks itself once per process against c2pa's full Reader, on a tiny MP4 signed
once and shipped in `selfcheck_sample.py`, and stays off when they disagree.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provenance import limits
from provenance._fast.bmffhash import UnsupportedBinding, bmff_hash, hash_binding_of_store
from provenance._formats import bmff
from provenance._formats.fallback import FallBackToC2pa
from provenance._internal.threads import Worker
from provenance.codes import BMFF_HASH_MATCH, BMFF_HASH_MISMATCH, without_failures

log = logging.getLogger(__name__)

# Below this size c2pa's own Reader costs little more than the hash, and the self-check would dominate.
# PROVENANCE_FAST_VERIFY_MIN_BYTES moves it (0: every BMFF file, -1: never), e.g. for the test suite.
DEFAULT_MIN_BYTES = 64 << 20


def min_bytes() -> int:
    """The file size from which the fast path is taken: PROVENANCE_FAST_VERIFY_MIN_BYTES, else DEFAULT_MIN_BYTES."""
    value = os.environ.get("PROVENANCE_FAST_VERIFY_MIN_BYTES", "").strip()
    try:
        return int(value) if value else DEFAULT_MIN_BYTES
    except ValueError:
        return DEFAULT_MIN_BYTES


class Unavailable(FallBackToC2pa):
    """This file (or process) is verified by c2pa's full Reader instead."""


class HashMismatch(Unavailable):
    """The file's BMFF hash is not the signed one: c2pa's full Reader reports how.

    `report` is c2pa's report on the store alone (its hash mismatch is then the truth), for files
    c2pa's full Reader may not parse (provenance.limits)."""

    def __init__(self, message: str, report: FastReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class FastReport:
    """c2pa's report on a file (its JSON, decoded) and the validation state it gives."""

    report: dict[str, Any]
    state: str


def read(fd: int, mime: str, store: bytes | None, context: Callable[[], Any]) -> FastReport:
    """c2pa's report on the BMFF file open at `fd`, as its full Reader would give it; raises Unavailable.

    `context` makes the c2pa Context (trust settings); it is called while the file is hashed."""
    if mime not in bmff.BMFF_VIDEO_TYPES:
        raise Unavailable(f"{mime} is not ISO BMFF")
    if store is None:
        raise Unavailable("no embedded manifest store")
    if not hasattr(os, "preadv"):
        raise Unavailable("positioned file I/O (os.preadv) is not available on this platform")
    return _read(fd, store, mime, context, _self_check)


def _read(fd: int, store: bytes, mime: str, context: Callable[[], Any],
          self_check: Callable[[], str | None] | None = None) -> FastReport:
    """The fast path; `self_check`, if given, runs while the file is hashed."""
    try:
        binding = hash_binding_of_store(store)
    except UnsupportedBinding as e:
        raise Unavailable(str(e)) from e
    if binding.label.split("__")[0] != "c2pa.hash.bmff.v3":
        raise Unavailable(f"hard binding {binding.label} is not c2pa.hash.bmff.v3")
    try:
        boxes = bmff.top_level_boxes(fd, os.fstat(fd).st_size, limits.MAX_TOP_LEVEL_BOXES)
    except bmff.UnsupportedLayout as e:
        raise Unavailable(str(e)) from e
    if not boxes or boxes[-1].offset + boxes[-1].size != os.fstat(fd).st_size:
        raise Unavailable("stray bytes after the last box")  # not hashed here: c2pa's full Reader reports them
    if sum(1 for box in boxes if bmff.is_c2pa_box(fd, box)) != 1:
        raise Unavailable("the file does not hold exactly one C2PA manifest box")
    as_output = [bmff.OutputBox(b.type, b.offset, b.size, None, b.offset) for b in boxes]

    stop = threading.Event()
    hasher = Worker("provenance-hash", lambda: bmff_hash(fd, as_output, binding, stop))
    hasher.start()
    try:
        failed = self_check() if self_check is not None else None
        if failed is not None:
            raise Unavailable(f"start-up self-check failed: {failed}")
        # Refused as soon as c2pa has answered, so a file c2pa's full Reader must hash is not hashed twice.
        alone = _c2pa_without_asset(store, mime, context())
        matched = _with_hash_matched(*alone, binding.label)
    except BaseException:
        stop.set()
        raise
    finally:
        hasher.join()
    try:
        digest = hasher.result()
    except OSError as e:
        raise Unavailable(f"cannot read the file: {e}") from e
    if digest != binding.data["hash"]:
        raise HashMismatch("the BMFF hash does not match; c2pa reports the details", FastReport(alone[0], "Invalid"))
    return matched


def _c2pa_without_asset(store: bytes, mime: str, context: Any) -> tuple[dict[str, Any], str | None]:
    import c2pa

    try:
        with c2pa.Reader(mime, io.BytesIO(b""), manifest_data=store, context=context) as reader:
            return json.loads(reader.json()), reader.get_validation_state()
    except c2pa.C2paError as e:  # the full Reader says what is wrong, in its own words
        raise Unavailable(f"c2pa cannot read the store without its asset: {e}") from e


def _with_hash_matched(report: dict[str, Any], state: str | None, label: str) -> FastReport:
    """c2pa's report with its hash mismatch (the empty asset) replaced by the match it would have found."""
    active = report.get("active_manifest")
    results = report.get("validation_results") or {}
    manifest = results.get("activeManifest") or {}
    url = f"self#jumbf=/c2pa/{active}/c2pa.assertions/{label}"

    def is_ours(entry: Any) -> bool:
        return isinstance(entry, dict) and entry.get("code") == BMFF_HASH_MISMATCH and entry.get("url") == url

    status = report.get("validation_status") or []
    failures = manifest.get("failure") or []
    if state != "Invalid" or sum(map(is_ours, status)) != 1 or sum(map(is_ours, failures)) != 1:
        raise Unavailable("c2pa did not report the one expected hash mismatch")
    patched, new_state = without_failures(report, is_ours)
    deltas = results.get("ingredientDeltas") or []
    # Only failures whose effect on the state is known here; the rest are c2pa's full Reader's to report.
    if new_state == "Invalid" or any(
            (d.get("validationDeltas") or {}).get("failure") for d in deltas if isinstance(d, dict)):
        raise Unavailable("the manifest has failures of its own; c2pa's full Reader reports them")
    matched = {"code": BMFF_HASH_MATCH, "url": url, "explanation": "BMFF hash valid"}
    # without_failures made fresh dicts down to activeManifest: c2pa's report stays as it was.
    patched["validation_results"]["activeManifest"]["success"] = [*(manifest.get("success") or []), matched]
    return FastReport(patched, new_state)


# ---------------------------------------------------------------------------------------------- self-check

_lock = threading.Lock()
_checked: list[str | None] = []  # [] before the check; [None] passed; [reason] failed


def _self_check() -> str | None:
    """None when this process's c2pa agrees with this module on the self-check sample; else why not."""
    with _lock:
        if not _checked:
            _checked.append(_run_self_check())
            if _checked[0] is not None:
                log.info("verification fast path self-check failed (%s); c2pa's Reader hashes every file",
                         _checked[0])
        return _checked[0]


def _run_self_check() -> str | None:
    import base64

    from provenance._fast.selfcheck_sample import SIGNED_MP4_BASE64

    return check_sample(base64.b64decode(SIGNED_MP4_BASE64))


def check_sample(sample: bytes) -> str | None:
    """None when this module reports on a small signed MP4 exactly what c2pa's full Reader does, and
    notices a flipped media byte; otherwise what went wrong."""
    import tempfile

    import c2pa

    try:
        with c2pa.Reader("video/mp4", io.BytesIO(sample)) as reader:
            expected = json.loads(reader.json()), reader.get_validation_state()
        store = sample_store(sample)
        tampered = bytearray(sample)
        tampered[bmff.first_chunk_offset(sample)] ^= 0xFF
        with tempfile.TemporaryFile() as f:
            f.write(sample)
            f.flush()
            got = _read(f.fileno(), store, "video/mp4", lambda: None)
            f.seek(0)
            f.write(tampered)
            f.flush()
            try:
                _read(f.fileno(), store, "video/mp4", lambda: None)
                return "a flipped media byte went unnoticed"
            except HashMismatch:
                pass
    except Exception as e:  # any failure at all means "don't trust the fast path here"
        return f"{type(e).__name__}: {e}"
    if expected[1] != "Valid":
        return f"c2pa's Reader finds the self-check sample {expected[1]}"
    if (got.report, got.state) != expected:
        return "its report differs from c2pa's full Reader"
    # The verdict reads the signer's certificate next: load cryptography here, while the file is hashed.
    from cryptography import x509  # noqa: F401

    return None


def sample_store(sample: bytes) -> bytes:
    """The manifest store embedded in a signed MP4 held in memory."""
    from provenance._formats import jumbf
    from provenance.media import MP4

    store = jumbf.manifest_store_bytes(io.BytesIO(sample), len(sample), MP4)
    if store is None:
        raise ValueError("the sample has no embedded manifest store")
    return store
