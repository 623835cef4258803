"""Trust anchors for verification, and the c2pa settings that apply them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import TrustConfigError


@dataclass(frozen=True)
class TrustAnchors:
    pem: str
    source: str  # where they came from, for messages
    count: int


def load_anchors(path: str | os.PathLike[str]) -> TrustAnchors:
    """Read a PEM bundle of CA certificates; a bad file is a usage error (exit 2)."""
    from cryptography import x509

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise TrustConfigError(f"cannot read trust anchors {p}: {e.strerror or e}") from e
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise TrustConfigError(f"{p} holds no PEM certificates") from e
    return TrustAnchors(data.decode("ascii", "replace"), str(p), len(certs))


def reader_settings(anchors: TrustAnchors | None) -> dict[str, Any]:
    """c2pa settings for reading: never fetch from the network while verifying."""
    settings: dict[str, Any] = {
        "verify": {
            "verify_trust": True,
            "remote_manifest_fetch": False,
            "ocsp_fetch": False,
            "check_ingredient_trust": True,
        }
    }
    if anchors is not None:
        settings["trust"] = {"trust_anchors": anchors.pem}
    return settings
