"""Trust anchors: loading them (flag, environment, per-user default file), signer fingerprints, the c2pa
reader settings that apply them, and which anchor a chain ends at.

What a verdict becomes under them is `provenance.trust.policy`; `trust show` is `provenance.trust.show`.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.errors import TrustConfigError

if TYPE_CHECKING:
    from cryptography import x509

APP_NAME = "provenance"
DEFAULT_ANCHORS_FILE = "trust-anchors.pem"
DEFAULT_TSA_ANCHORS_FILE = "tsa-trust-anchors.pem"


@dataclass(frozen=True)
class TrustAnchors:
    """A bundle of CA certificates to trust, as PEM text, with where it came from."""

    pem: str
    source: str  # where they came from, for messages
    count: int

    def certificates(self) -> list[x509.Certificate]:
        """The bundle's certificates, parsed (once per process for the same PEM)."""
        return list(parse_pem(self.pem)) if self.count else []


@functools.lru_cache(maxsize=64)
def parse_pem(pem: str) -> tuple[x509.Certificate, ...]:
    """The certificates of a PEM bundle, text between the blocks ignored; ValueError when there are none."""
    from cryptography import x509

    return tuple(x509.load_pem_x509_certificates(pem.encode("ascii", "replace")))


def load_anchors(path: str | os.PathLike[str]) -> TrustAnchors:
    """Read a PEM bundle of CA certificates; a bad file is a usage error (exit 2).

    Text between the PEM blocks (as in the official C2PA trust list files) is ignored.
    """
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


def config_dir() -> Path:
    """The per-user configuration folder (e.g. ~/.config/provenance on Linux)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def default_anchors_path() -> Path:
    """The per-user default file of signer trust anchors, used when none is given."""
    return config_dir() / DEFAULT_ANCHORS_FILE


def default_tsa_anchors_path() -> Path:
    """The per-user default file of time-stamping authority trust anchors, used when none is given."""
    return config_dir() / DEFAULT_TSA_ANCHORS_FILE


def load_default(path: Path) -> TrustAnchors | None:
    """Anchors from a per-user default file when it exists; a broken one is an error, not ignored."""
    return load_anchors(path) if path.exists() else None


_HEX = re.compile(r"[0-9a-f]{64}")


def parse_fingerprint(text: str) -> str:
    """A SHA-256 certificate fingerprint as lower-case hex; colons, spaces and a sha256: prefix allowed."""
    cleaned = text.strip().lower()
    cleaned = cleaned.removeprefix("sha256:").removeprefix("sha256=")
    cleaned = cleaned.replace(":", "").replace(" ", "")
    if not _HEX.fullmatch(cleaned):
        raise TrustConfigError(
            f"{text!r} is not a SHA-256 certificate fingerprint",
            remedy="Give 64 hex digits, as printed by `provenance trust show FILE`.",
        )
    return cleaned


def parse_fingerprints(values: Iterable[str]) -> frozenset[str]:
    """Fingerprints from repeated options; each value may also hold several, split by commas or spaces."""
    out: set[str] = set()
    for value in values:
        for part in re.split(r"[,\s]+", value.strip()):
            if part:
                out.add(parse_fingerprint(part))
    return frozenset(out)


def reader_settings(anchors: TrustAnchors | None, tsa_anchors: TrustAnchors | None = None,
                    allowed: TrustAnchors | None = None) -> dict[str, Any]:
    """c2pa settings for reading: never fetch from the network while verifying.

    c2pa judges time-stamping authorities against the same anchors as signers, so TSA
    anchors are handed to it too (that is what lets it accept a signature made before
    the signer's certificate expired); `TrustPolicy.apply` then makes sure each kind of
    anchor only vouches for its own kind of certificate. `allowed` are end-entity certificates
    trusted one by one (c2pa's `trust.allowed_list`).
    """
    settings: dict[str, Any] = {
        "verify": {
            "verify_trust": True,
            "verify_timestamp_trust": True,
            "remote_manifest_fetch": False,
            "ocsp_fetch": False,
            "check_ingredient_trust": True,
        }
    }
    pems = [a.pem.strip() + "\n" for a in (anchors, tsa_anchors) if a is not None]
    if pems:
        settings["trust"] = {"trust_anchors": "".join(pems)}
    if allowed is not None and allowed.count:
        settings.setdefault("trust", {})["allowed_list"] = allowed.pem.strip() + "\n"
    return settings


@functools.lru_cache(maxsize=64)
def certificate_index(pem: str) -> tuple[dict[str, x509.Certificate], dict[x509.Name, list[x509.Certificate]]]:
    """A bundle's certificates by SHA-256 fingerprint and by subject, worked out once per process."""
    from provenance.keys.pki import fingerprint

    by_fingerprint: dict[str, x509.Certificate] = {}
    by_subject: dict[x509.Name, list[x509.Certificate]] = {}
    for cert in parse_pem(pem):
        by_fingerprint[fingerprint(cert)] = cert
        by_subject.setdefault(cert.subject, []).append(cert)
    return by_fingerprint, by_subject


def anchor_of(chain: Sequence[x509.Certificate], anchors: TrustAnchors) -> x509.Certificate | None:
    """The anchor `chain` (leaf first) ends at: the first certificate of it that is an anchor, or the anchor
    that issued (signed) it; None when there is none.

    c2pa has already validated the chain itself; this only tells which anchor it ends at.
    """
    from provenance.keys.pki import fingerprint, issued_by

    if not anchors.count:
        return None
    by_fingerprint, by_subject = certificate_index(anchors.pem)
    for cert in chain:
        if (found := by_fingerprint.get(fingerprint(cert))) is not None:
            return found
        issuer = next((a for a in by_subject.get(cert.issuer, ()) if issued_by(cert, a)), None)
        if issuer is not None:
            return issuer
    return None


def chains_to(chain: Sequence[x509.Certificate], anchors: TrustAnchors) -> bool:
    """Whether some certificate of `chain` is an anchor or was issued (signed) by one."""
    return anchor_of(chain, anchors) is not None
