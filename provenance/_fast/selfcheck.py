"""The signing fast path's start-up self-check: sign and verify a tiny MP4 once per process.

It proves, with this process's c2pa library, that the native calls behave as the fast
path expects: c2pa's Reader accepts the hash computed here, the chunk offsets still
point at the media, and a flipped media byte makes it invalid. The same tiny MP4,
signed once and shipped in selfcheck_sample.py, checks the verification fast path.
"""

from __future__ import annotations

import io
import json
import logging
import struct
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provenance._fast.builder import ManifestBuilders
from provenance._fast.embed import Timings, write_signed
from provenance._fast.native import TESTED_C2PA_PYTHON, native
from provenance._formats.bmff import first_chunk_offset
from provenance.codes import UNTRUSTED

if TYPE_CHECKING:
    from provenance.keys.signers import SigningCredentials

log = logging.getLogger(__name__)

_MEDIA_PAYLOAD = b"provenance fast path self-check media payload"


@dataclass(frozen=True)
class SelfCheck:
    """The outcome of the self-check: whether it passed, why not, and how long it took."""

    passed: bool
    reason: str = ""
    seconds: float = 0.0


_self_check: SelfCheck | None = None
_lock = threading.Lock()


def self_check() -> SelfCheck:
    """Sign and verify a tiny MP4 through the fast path, once per process (see the module docstring)."""
    global _self_check
    with _lock:
        if _self_check is not None:
            return _self_check
    started = time.perf_counter()
    try:
        _run_self_check()
        result = SelfCheck(True, seconds=time.perf_counter() - started)
    except Exception as e:  # any failure at all means "don't trust the fast path here"
        result = SelfCheck(False, f"{type(e).__name__}: {e}", time.perf_counter() - started)
    _log_self_check(result)
    with _lock:
        _self_check = result
    return result


def _log_self_check(result: SelfCheck) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("c2pa-python")
    except PackageNotFoundError:
        installed = "unknown"
    if installed != TESTED_C2PA_PYTHON:
        log.info("c2pa-python %s is installed; the fast path was written for %s", installed, TESTED_C2PA_PYTHON)
    if result.passed:
        log.debug("fast path self-check passed in %.3fs", result.seconds)
    else:
        log.info("fast path self-check failed (%s); signing will use c2pa's Builder.sign", result.reason)


def tiny_mp4() -> bytes:
    """A minimal MP4 (ftyp, moov with one track's chunk offset table, mdat, mfra) for the self-check."""

    def box(kind: bytes, *parts: bytes) -> bytes:
        body = b"".join(parts)
        return struct.pack(">I4s", 8 + len(body), kind) + body

    def full(kind: bytes, *parts: bytes) -> bytes:
        return box(kind, b"\x00\x00\x00\x00", *parts)

    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 512), b"isomiso2mp41")

    def moov(chunk_offset: int) -> bytes:
        stbl = box(b"stbl", full(b"stco", struct.pack(">II", 1, chunk_offset)))
        return box(b"moov", box(b"trak", box(b"mdia", box(b"minf", stbl))))

    chunk_offset = len(ftyp) + len(moov(0)) + 8
    # free and mfra are excluded from the hash, so they exercise the exclusions.
    return ftyp + moov(chunk_offset) + box(b"mdat", _MEDIA_PAYLOAD) + box(b"free", b"\0" * 8) + box(b"mfra")


def _run_self_check() -> None:
    signed = sign_tiny_mp4()
    at = first_chunk_offset(signed)
    if signed[at : at + len(_MEDIA_PAYLOAD)] != _MEDIA_PAYLOAD:
        raise AssertionError("chunk offset does not point at the media after signing")
    report, state = _read(signed)
    failures = {s.get("code") for s in report.get("validation_status", [])} - {UNTRUSTED}
    if state not in ("Valid", "Trusted") or failures:
        raise AssertionError(f"signed sample does not verify: {state} {sorted(failures)}")
    tampered = bytearray(signed)
    tampered[at] ^= 0xFF
    _, tampered_state = _read(bytes(tampered))
    if tampered_state != "Invalid":
        raise AssertionError(f"a flipped media byte was not detected ({tampered_state})")


def sign_tiny_mp4(days: int = 1) -> bytes:
    """tiny_mp4() signed through the fast path by a throwaway certificate valid for `days`."""
    import tempfile

    from provenance.verdict import TRAINED_ALGORITHMIC_MEDIA

    native()
    definition = {
        "claim_generator_info": [{"name": "provenance-self-check"}],
        "title": "self-check",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
            {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}]}}],
    }
    builders = ManifestBuilders(definition, throwaway_credentials(days), [])
    # Files without names (O_TMPFILE on Linux): a process killed during the check leaves nothing in $TMPDIR.
    with tempfile.TemporaryFile() as src, tempfile.TemporaryFile() as dst:
        src.write(tiny_mp4())
        src.flush()
        try:
            write_signed(builders, "video/mp4", src.fileno(), dst.fileno(), Timings())
        finally:
            builders.close()
        dst.seek(0)
        return dst.read()


def _read(data: bytes) -> tuple[dict[str, Any], str | None]:
    import c2pa

    with c2pa.Reader("video/mp4", io.BytesIO(data)) as reader:
        return json.loads(reader.json()), reader.get_validation_state()


def throwaway_credentials(days: int = 1) -> SigningCredentials:
    """An in-memory CA and signer valid for `days`: the self-check never touches the user's key or timestamp server."""
    import datetime as dt

    from provenance.keys import pki
    from provenance.keys.signers import SigningCredentials

    not_before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    not_after = not_before + dt.timedelta(days=days)
    ca_key, leaf_key = pki.new_key("es256"), pki.new_key("es256")
    ca_name = pki.distinguished_name("provenance self-check", "CA")
    ca = pki.build_certificate(ca_name, ca_key.public_key(), ca_name, ca_key, not_before=not_before,
                               not_after=not_after, ca=True, path_length=0, key_usage=pki.CA_KEY_USAGE,
                               authority_key_id=False)
    leaf = pki.build_certificate(pki.distinguished_name("provenance self-check", "signer"), leaf_key.public_key(),
                                 ca_name, ca_key, not_before=not_before, not_after=not_after, ca=False,
                                 key_usage=pki.SIGNER_KEY_USAGE, extended_key_usages=pki.SIGNER_EKUS)
    return SigningCredentials((leaf, ca), "es256", key_pem=pki.private_key_pem(leaf_key))
