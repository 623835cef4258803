"""COSE_Sign1 (RFC 9052), the signature of a C2PA claim, decoded just far enough to read its headers.

Nothing here checks a signature (c2pa does). Malformed input gives None or empty headers, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2

COSE_SIGN1_TAG = 18


@dataclass(frozen=True)
class CoseSign1:
    """The headers of a COSE_Sign1 message: the protected one as serialized, the unprotected one as a map."""

    protected_bytes: bytes  # empty when absent or not a byte string
    unprotected: Mapping[Any, Any]  # empty when absent or not a map

    def protected(self) -> Mapping[Any, Any]:
        """The protected header, decoded; empty when absent or unreadable."""
        if not self.protected_bytes:
            return {}
        try:
            header = cbor2.loads(self.protected_bytes)
        except Exception:  # cbor2 raises several unrelated types on garbage
            return {}
        return header if isinstance(header, Mapping) else {}

    def headers(self) -> dict[Any, Any]:
        """Both headers in one map; where both hold a label, the protected value wins."""
        return {**self.unprotected, **self.protected()}


def decode_sign1(data: bytes) -> CoseSign1 | None:
    """The COSE_Sign1 message `data` holds (tagged or not), or None when it holds none."""
    try:
        message = cbor2.loads(data)
    except Exception:  # cbor2 raises several unrelated types on garbage
        return None
    if isinstance(message, cbor2.CBORTag) and message.tag == COSE_SIGN1_TAG:
        message = message.value
    if not isinstance(message, (list, tuple)) or len(message) != 4:
        return None
    protected, unprotected = message[0], message[1]
    return CoseSign1(protected if isinstance(protected, bytes) else b"",
                     unprotected if isinstance(unprotected, Mapping) else {})
