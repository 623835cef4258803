"""Sign BMFF video (MP4, MOV, M4V, fragmented MP4) at about the cost of one copy plus one hash.

c2pa's public `Builder.sign` moves every byte through 8 KiB Python stream
callbacks, writes a full temporary copy of the output, and hashes in 256 MiB
buffers (about 0.5 GB resident). This module produces the same standard
(non-Merkle) `c2pa.hash.bmff.v3` manifest another way, with c2pa's native
embeddable workflow, which c2pa-python 0.38.1 exports but does not wrap:

1. `c2pa_builder_placeholder` sizes the manifest and names the hash exclusions;
2. the output is written as `ftyp` + a box of that size + the rest of the source:
   the media data is copied inside the kernel (`copy_file_range`), the absolute
   offsets in `moov`/`moof`/`mfra` move by the box size (`bmff.py`);
3. at the same time the BMFF hash of the output is computed here with hashlib
   from the source bytes, in small buffers (`bmffhash.py`);
4. `c2pa_builder_sign_embeddable` signs a manifest carrying that hash, and the
   signed box, no larger than the placeholder, is written over it.

This relies on the pinned c2pa-python (pyproject.toml). Before its first use in a
process the path signs and verifies a tiny MP4 (cached per process); when that, or
anything about a file, does not fit, `sign_embedded` returns None and the caller
signs with `Builder.sign`. The reason is logged at INFO (shown with `--verbose`).
"""

from __future__ import annotations

import ctypes
import errno
import io
import json
import logging
import os
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, Protocol

from provenance._fast.bmffhash import HashBinding, UnsupportedBinding, bmff_hash, hash_binding_of_store, store_from_box
from provenance._formats import bmff
from provenance._formats.bmff import BMFF_VIDEO_TYPES
from provenance._internal.threads import Worker
from provenance.errors import SigningError
from provenance.manifest import signing_context

if TYPE_CHECKING:
    from provenance.keys.signers import SigningCredentials

log = logging.getLogger(__name__)

# The c2pa-python release whose native library this module was written and tested against.
TESTED_C2PA_PYTHON = "0.38.1"
_COPY_STEP = 256 << 20  # copied at a time, then handed to disk writeback
_COPY_BUFFER = 8 << 20  # the copy through user space, where copy_file_range cannot be used
_SYNC_FILE_RANGE_WRITE = 2
_C2PA_HASH_BMFF = 1  # C2paHashType::BmffHash

_Bytes = ctypes.POINTER(ctypes.c_ubyte)


class FastPathUnavailable(Exception):
    """This process or this file cannot use the fast path; use Builder.sign."""


class LateAssertions(Protocol):
    """Assertions computed while the file is copied and hashed (e.g. a soft binding).

    `stand_ins()` must encode to at least the size of `result()`: the manifest is
    sized with them before the real values exist (a smaller result is padded).
    """

    def stand_ins(self) -> list[dict[str, Any]]: ...

    def result(self) -> list[dict[str, Any]]: ...


class BackgroundAssertions:
    """`LateAssertions` computed in a thread that starts at once; `result()` waits for it.

    `cancel`, called from another thread, makes `compute` end early (e.g. kills its child process).
    """

    def __init__(self, compute: Callable[[], list[dict[str, Any]]], stand_ins: list[dict[str, Any]], *,
                 cancel: Callable[[], None] | None = None) -> None:
        self._stand_ins = stand_ins
        self._result: list[dict[str, Any]] | None = None
        self._error: BaseException | None = None
        self._cancel = cancel
        # An Event, not Thread.join/is_alive, which an interrupted join leaves wrong (see threads.Worker).
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(compute,), name="provenance-late", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel the computation if it still runs and wait (at most `timeout` s) for it to end."""
        if not self._done.is_set():
            if self._cancel is not None:
                self._cancel()
            self._done.wait(timeout)

    def _run(self, compute: Callable[[], list[dict[str, Any]]]) -> None:
        try:
            self._result = compute()
        except BaseException as e:  # re-raised by result(), in the signing thread
            self._error = e
        finally:
            self._done.set()

    def stand_ins(self) -> list[dict[str, Any]]:
        return self._stand_ins

    def result(self) -> list[dict[str, Any]]:
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


# name → (argument types, result type) of the native functions used here.
_PROTOTYPES: dict[str, tuple[list[Any], Any]] = {
    "c2pa_builder_needs_placeholder": ([ctypes.c_void_p, ctypes.c_char_p], ctypes.c_int),
    "c2pa_builder_hash_type": ([ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)], ctypes.c_int),
    "c2pa_builder_placeholder": ([ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(_Bytes)], ctypes.c_int64),
    "c2pa_builder_sign_embeddable": ([ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(_Bytes)], ctypes.c_int64),
    "c2pa_error": ([], ctypes.c_void_p),
    "c2pa_free": ([ctypes.c_void_p], ctypes.c_int),
}


class _Native:
    """The native functions, bound to the library c2pa-python already loaded.

    A second `CDLL` on the same handle gives this module its own function objects,
    so the prototypes declared here never change the wrapper's.
    """

    def __init__(self) -> None:
        from c2pa import c2pa as c2pa_impl

        loaded = c2pa_impl._lib
        self.lib = ctypes.CDLL(loaded._name, handle=loaded._handle)
        for name, (argtypes, restype) in _PROTOTYPES.items():
            try:
                function = getattr(self.lib, name)
            except AttributeError as e:
                raise FastPathUnavailable(f"the c2pa library does not export {name}") from e
            function.argtypes = argtypes
            function.restype = restype

    def error(self) -> str:
        """The library's last error message on this thread."""
        pointer = self.lib.c2pa_error()
        message = ""
        if pointer:
            message = ctypes.string_at(pointer).decode("utf-8", "replace")
            self.lib.c2pa_free(pointer)
        return message or "unknown error"

    def take_bytes(self, pointer: Any, length: int) -> bytes:
        try:
            return ctypes.string_at(pointer, length)
        finally:
            self.lib.c2pa_free(pointer)

    def placeholder(self, builder: Any, fmt: bytes) -> bytes:
        handle = builder._handle
        kind = ctypes.c_int(-1)
        if self.lib.c2pa_builder_hash_type(handle, fmt, ctypes.byref(kind)) != 0 or kind.value != _C2PA_HASH_BMFF:
            raise FastPathUnavailable(f"c2pa would not use a BMFF hash for {fmt.decode()}")
        if self.lib.c2pa_builder_needs_placeholder(handle, fmt) != 1:
            raise FastPathUnavailable(f"c2pa needs no placeholder for {fmt.decode()}")
        out = _Bytes()
        length = self.lib.c2pa_builder_placeholder(handle, fmt, ctypes.byref(out))
        if length <= 0 or not out:
            raise FastPathUnavailable(f"c2pa_builder_placeholder failed: {self.error()}")
        return self.take_bytes(out, length)

    def sign_embeddable(self, builder: Any, fmt: bytes) -> bytes:
        out = _Bytes()
        length = self.lib.c2pa_builder_sign_embeddable(builder._handle, fmt, ctypes.byref(out))
        if length <= 0 or not out:
            # The signer's own failures (key, certificate, timestamp authority) are reported like Builder.sign's.
            _raise_c2pa(self.error())
        return self.take_bytes(out, length)


def _raise_c2pa(message: str) -> NoReturn:
    import c2pa

    raise c2pa.C2paError(message)


_native: _Native | None = None
_native_failure: str | None = None
_lock = threading.Lock()


def _api() -> _Native:
    global _native, _native_failure
    with _lock:
        if _native is None and _native_failure is None:
            try:
                _native = _Native()
            except (FastPathUnavailable, OSError, AttributeError) as e:
                _native_failure = str(e)
        if _native is None:
            raise FastPathUnavailable(_native_failure or "native library unavailable")
        return _native


# ---------------------------------------------------------------------------------------------- manifests


def hash_binding(placeholder: bytes) -> HashBinding:
    """The hash assertion inside a placeholder box."""
    return hash_binding_of_store(store_from_box(placeholder))


@dataclass
class _Builders:
    """Fresh c2pa Builders for the same manifest, each with a signing context.

    The embeddable calls take the signer from the builder's context, and the final
    manifest needs assertions added after the first builder sized it.
    """

    definition: dict[str, Any]
    credentials: SigningCredentials
    ingredient_archives: list[bytes]
    opened: list[Any] = field(default_factory=list)

    def new(self, late: Sequence[dict[str, Any]], hash_binding: dict[str, Any] | None = None) -> Any:
        """A builder for the manifest, with `late` assertions last, as Builder.sign would have them."""
        import c2pa

        definition = dict(self.definition)
        first = [hash_binding] if hash_binding is not None else []
        definition["assertions"] = [*first, *self.definition.get("assertions", []), *late]
        try:
            context = signing_context(self.credentials.c2pa_signer())
            self.opened.append(context)
            builder = c2pa.Builder(json.dumps(definition), context=context)
            self.opened.append(builder)
            for archive in self.ingredient_archives:
                builder.add_ingredient_from_archive(io.BytesIO(archive))
        except c2pa.C2paError as e:
            raise FastPathUnavailable(f"cannot prepare a builder: {e}") from e
        return builder

    def close(self) -> None:
        for resource in reversed(self.opened):
            resource.close()
        self.opened.clear()


def builder_with(builder: Any, definition: dict[str, Any], ingredient_ids: Sequence[str],
                 extra_assertions: Sequence[dict[str, Any]], *, embedded: bool = True) -> Any:
    """A new Builder for `Builder.sign`: `builder`'s manifest plus assertions that were computed late."""
    import c2pa

    archives = [_ingredient_archive(builder, ingredient_id) for ingredient_id in ingredient_ids]
    manifest = dict(definition)
    manifest["assertions"] = [*definition.get("assertions", []), *extra_assertions]
    rebuilt = c2pa.Builder(json.dumps(manifest), context=signing_context())
    for archive in archives:
        rebuilt.add_ingredient_from_archive(io.BytesIO(archive))
    if not embedded:
        rebuilt.set_no_embed()
    return rebuilt


def _ingredient_archive(builder: Any, ingredient_id: str) -> bytes:
    """One ingredient of `builder` (its manifest, thumbnail, validation results), to add to another builder."""
    buffer = io.BytesIO()
    builder.write_ingredient_archive(ingredient_id, buffer)
    return buffer.getvalue()


def _ingredient_archives(builder: Any, ingredient_ids: Sequence[str]) -> list[bytes]:
    import c2pa

    try:
        return [_ingredient_archive(builder, ingredient_id) for ingredient_id in ingredient_ids]
    except c2pa.C2paError as e:
        raise FastPathUnavailable(f"cannot carry the ingredients over: {e}") from e


# ---------------------------------------------------------------------------------------------- writing


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
        _pwrite_all(dst_fd, buffer[:n], dst_offset + done)
        done += n


def _pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


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
            _pwrite_all(dst_fd, piece.data, out)
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


# ---------------------------------------------------------------------------------------------- signing


@dataclass
class Timings:
    """Seconds spent in each step of one fast signing (logged under --verbose)."""

    prepare: float = 0.0
    copy_and_hash: float = 0.0
    late_assertions: float = 0.0
    sign: float = 0.0


def _sign_file(builders: _Builders, mime: str, src_fd: int, dst_fd: int, late: LateAssertions | None,
               timings: Timings) -> bytes:
    """The embeddable workflow on open descriptors; returns the manifest store."""
    api = _api()
    fmt = mime.encode()
    started = time.perf_counter()
    placeholder = api.placeholder(builders.new(late.stand_ins() if late else []), fmt)
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
    extra = late.result() if late else []
    timings.late_assertions = time.perf_counter() - started

    started = time.perf_counter()
    signed = api.sign_embeddable(builders.new(extra, binding.with_hash(digest)), fmt)
    if len(signed) > len(placeholder):
        raise FastPathUnavailable(f"signed manifest ({len(signed)} bytes) outgrew its slot ({len(placeholder)})")
    log.debug("signed manifest: %d bytes in a slot of %d", len(signed), len(placeholder))
    # A smaller manifest keeps the slot's size: zeros after the JUMBF, as c2pa pads its own placeholders.
    padded = struct.pack(">I", len(placeholder)) + signed[4:] + bytes(len(placeholder) - len(signed))
    _pwrite_all(dst_fd, padded, plan.insert_at)
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
        builders = _Builders(definition, credentials, _ingredient_archives(builder, ingredient_ids))
        try:
            store = _sign_file(builders, mime, src.fileno(), dst.fileno(), late, timings)
        finally:
            builders.close()
    except (FastPathUnavailable, bmff.UnsupportedLayout, UnsupportedBinding) as e:
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


# ---------------------------------------------------------------------------------------------- self-check


@dataclass(frozen=True)
class SelfCheck:
    passed: bool
    reason: str = ""
    seconds: float = 0.0


_self_check: SelfCheck | None = None


def self_check() -> SelfCheck:
    """Sign and verify a tiny MP4 through the fast path, once per process.

    It proves, with this process's c2pa library, that the native calls behave as
    this module expects: c2pa's Reader accepts the hash computed here, the chunk
    offsets still point at the media, and a flipped media byte makes it invalid.
    """
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


_MEDIA_PAYLOAD = b"provenance fast path self-check media payload"


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


def sample_media_offset(data: bytes) -> int:
    at = data.index(b"stco") + 4 + 4 + 4  # type, version/flags, entry count
    (offset,) = struct.unpack_from(">I", data, at)
    return int(offset)


def _run_self_check() -> None:
    signed = sign_tiny_mp4()
    at = sample_media_offset(signed)
    if signed[at : at + len(_MEDIA_PAYLOAD)] != _MEDIA_PAYLOAD:
        raise AssertionError("chunk offset does not point at the media after signing")
    report, state = _read(signed)
    failures = {s.get("code") for s in report.get("validation_status", [])} - {"signingCredential.untrusted"}
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

    _api()
    definition = {
        "claim_generator_info": [{"name": "provenance-self-check"}],
        "title": "self-check",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
            {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}]}}],
    }
    builders = _Builders(definition, _throwaway_credentials(days), [])
    # Files without names (O_TMPFILE on Linux): a process killed during the check leaves nothing in $TMPDIR.
    with tempfile.TemporaryFile() as src, tempfile.TemporaryFile() as dst:
        src.write(tiny_mp4())
        src.flush()
        try:
            _sign_file(builders, "video/mp4", src.fileno(), dst.fileno(), None, Timings())
        finally:
            builders.close()
        dst.seek(0)
        return dst.read()


def _read(data: bytes) -> tuple[dict[str, Any], str | None]:
    import c2pa

    with c2pa.Reader("video/mp4", io.BytesIO(data)) as reader:
        return json.loads(reader.json()), reader.get_validation_state()


def _throwaway_credentials(days: int = 1) -> SigningCredentials:
    """An in-memory CA and signer, so the self-check never touches the user's key or timestamp server."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from provenance.keys.pki import DOCUMENT_SIGNING
    from provenance.keys.signers import SigningCredentials

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "provenance self-check"),
                          x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("CA")).issuer_name(name("CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder().subject_name(name("signer")).issuer_name(name("CA"))
        .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    return SigningCredentials((leaf, ca), "es256", key_pem=key_pem)
