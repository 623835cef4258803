"""The ctypes binding to c2pa's native embeddable-signing functions, which c2pa-python exports but does not wrap.

This relies on the pinned c2pa-python (pyproject.toml); the self-check (selfcheck.py) proves, once per
process, that the functions behave as the fast signing path expects.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any, NoReturn

from provenance._formats.fallback import FallBackToC2pa

# The c2pa-python release whose native library this module was written and tested against.
TESTED_C2PA_PYTHON = "0.38.1"
_C2PA_HASH_BMFF = 1  # C2paHashType::BmffHash

_Bytes = ctypes.POINTER(ctypes.c_ubyte)

# name → (argument types, result type) of the native functions used here.
_PROTOTYPES: dict[str, tuple[list[Any], Any]] = {
    "c2pa_builder_needs_placeholder": ([ctypes.c_void_p, ctypes.c_char_p], ctypes.c_int),
    "c2pa_builder_hash_type": ([ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)], ctypes.c_int),
    "c2pa_builder_placeholder": ([ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(_Bytes)], ctypes.c_int64),
    "c2pa_builder_sign_embeddable": ([ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(_Bytes)], ctypes.c_int64),
    "c2pa_error": ([], ctypes.c_void_p),
    "c2pa_free": ([ctypes.c_void_p], ctypes.c_int),
}


class FastPathUnavailable(FallBackToC2pa):
    """This process or this file cannot use the fast signing path; Builder.sign signs it."""


class NativeLibrary:
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

    def _take_bytes(self, pointer: Any, length: int) -> bytes:
        try:
            return ctypes.string_at(pointer, length)
        finally:
            self.lib.c2pa_free(pointer)

    def placeholder(self, builder: Any, fmt: bytes) -> bytes:
        """The unsigned C2PA box c2pa would embed for `builder` in a file of MIME type `fmt`, sized for the signed one.

        Raises FastPathUnavailable unless c2pa would bind that format with a BMFF hash and a placeholder.
        """
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
        return self._take_bytes(out, length)

    def sign_embeddable(self, builder: Any, fmt: bytes) -> bytes:
        """The signed C2PA box for `builder`'s manifest, whose hash assertion must already hold the file's hash."""
        out = _Bytes()
        length = self.lib.c2pa_builder_sign_embeddable(builder._handle, fmt, ctypes.byref(out))
        if length <= 0 or not out:
            # The signer's own failures (key, certificate, timestamp authority) are reported like Builder.sign's.
            _raise_c2pa(self.error())
        return self._take_bytes(out, length)


def _raise_c2pa(message: str) -> NoReturn:
    from c2pa import c2pa as c2pa_impl

    # The typed C2paError (C2paError.Signature, ...) that Builder.sign raises for the same native message.
    c2pa_impl._raise_typed_c2pa_error(message)
    raise c2pa_impl.C2paError(message)  # not reached: the call above always raises


_native: NativeLibrary | None = None
_native_failure: str | None = None
_lock = threading.Lock()


def native() -> NativeLibrary:
    """The native functions, bound on first use; raises FastPathUnavailable when this process cannot bind them."""
    global _native, _native_failure
    with _lock:
        if _native is None and _native_failure is None:
            try:
                _native = NativeLibrary()
            except (FastPathUnavailable, OSError, AttributeError) as e:
                _native_failure = str(e)
        if _native is None:
            raise FastPathUnavailable(_native_failure or "native library unavailable")
        return _native
