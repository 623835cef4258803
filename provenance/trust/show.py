"""`provenance trust show`: a signed file's certificate chains, read straight from the file, so an
operator can decide which signer to pin (--allowed-signer) or which CA to trust (--trust-anchors);
and, without a file, the trust in force (the official lists' entities and dates, or the anchor files).

Nothing here validates anything; that is `provenance.verify`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.errors import MediaError
from provenance.verdict import TrustEntity

if TYPE_CHECKING:
    from cryptography import x509

    from provenance.trust.anchors import TrustAnchors
    from provenance.trust.lists import InterimList, TrustList, TrustLists
    from provenance.trust.policy import TrustPolicy

_EKU_NAMES = {
    "1.3.6.1.5.5.7.3.36": "documentSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",
    "1.3.6.1.5.5.7.3.1": "serverAuth",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.4.1.62558.2.1": "c2paClaimSigning",
    "2.5.29.37.0": "anyExtendedKeyUsage",
}


@dataclass(frozen=True)
class CertificateInfo:
    """One certificate of a chain as `trust show` prints it."""

    role: str  # "signer", "intermediate", "root", "tsa"
    subject: str
    issuer: str
    serial: str  # hex
    not_before: str
    not_after: str
    key: str  # e.g. "EC P-256", "RSA 3072", "Ed25519"
    extended_key_usages: tuple[str, ...]
    is_ca: bool
    sha256: str  # hex, the value --allowed-signer takes for the signer
    pem: str = field(repr=False)


@dataclass(frozen=True)
class ChainReport:
    """A file's signer chain and time-stamping authority chain, leaf first, as `trust show` prints them."""

    path: str
    manifest_source: str  # "embedded" or "sidecar"
    signer_chain: tuple[CertificateInfo, ...]
    timestamp_time: str | None = None
    tsa_chain: tuple[CertificateInfo, ...] = ()
    # The trust list entry the signer's chain ends at, looked up, not validated (`verify` does that).
    trust_entity: TrustEntity | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data."""
        return asdict(self)


def _key_description(public_key: object) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(public_key, ec.EllipticCurvePublicKey):
        names = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"EC {names.get(public_key.curve.name, public_key.curve.name)}"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448"
    return type(public_key).__name__


def describe_certificate(cert: x509.Certificate, role: str) -> CertificateInfo:
    """What `trust show` says about one certificate playing `role` in a chain."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from provenance.keys.pki import fingerprint

    try:
        ekus = tuple(
            _EKU_NAMES.get(o.dotted_string, o.dotted_string)
            for o in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        )
    except x509.ExtensionNotFound:
        ekus = ()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertificateInfo(
        role=role,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        key=_key_description(cert.public_key()),
        extended_key_usages=ekus,
        is_ca=is_ca,
        sha256=fingerprint(cert),
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )


def _roles(certs: Sequence[x509.Certificate], leaf_role: str) -> list[CertificateInfo]:
    out = []
    for i, cert in enumerate(certs):
        if i == 0:
            role = leaf_role
        elif cert.issuer == cert.subject:
            role = "root"
        else:
            role = "intermediate"
        out.append(describe_certificate(cert, role))
    return out


def read_manifest_store(path: str | os.PathLike[str]) -> tuple[bytes, str]:
    """The raw manifest store of a file (embedded, or its .c2pa sidecar) without validating it."""
    from provenance import media as media_mod
    from provenance._formats import jumbf

    p = Path(path)
    kind = media_mod.detect(p)
    sidecar = media_mod.sidecar_path(p)
    try:
        # The embedded manifest wins over a sidecar, as in verify.
        with open(p, "rb") as stream:
            store = jumbf.manifest_store_bytes(stream, os.fstat(stream.fileno()).st_size, kind)
        if not store and sidecar.is_file():
            return jumbf.read_sidecar(sidecar), "sidecar"
    except OSError as e:
        raise MediaError(f"{p}: {e.strerror or e}") from e
    if not store:
        raise MediaError(f"{p}: has no C2PA manifest", remedy="Give a file signed with C2PA credentials.")
    return store, "embedded"


def chain_report(path: str | os.PathLike[str], lists: TrustLists | None = None) -> ChainReport:
    """The active manifest's signer chain and timestamp authority, read straight from the file, and the
    entry of `lists` its chain ends at.

    Nothing is validated here (use `verify` for that): the point is to show an operator
    which certificates to pin or trust.
    """
    from cryptography import x509

    from provenance._formats import jumbf
    from provenance.trust import timestamp as ts

    store, source = read_manifest_store(path)
    # The active manifest is the last one in the store (C2PA 2.x, 11.1).
    signature = jumbf.signature_of(store, None)
    der_chain = jumbf.x5chain(signature) if signature else []
    try:
        certs = [x509.load_der_x509_certificate(der) for der in der_chain]
    except (ValueError, x509.InvalidVersion) as e:
        raise MediaError(f"{path}: the signer's certificate chain is malformed") from e
    if not certs:
        raise MediaError(f"{path}: the manifest's signature carries no certificate chain")
    try:
        # cryptography parses names lazily, so a malformed certificate raises only here.
        signer_chain = tuple(_roles(certs, "signer"))
        token = ts.token_of(store, None)
        tsa = tuple(_roles(token.certificates(), "tsa")) if token is not None else ()
        entity = lists.entry_of(certs) if lists is not None else None
    except ValueError as e:
        raise MediaError(f"{path}: a certificate in the manifest is malformed ({e})") from e
    return ChainReport(
        path=str(path),
        manifest_source=source,
        signer_chain=signer_chain,
        timestamp_time=token.gen_time.isoformat() if token is not None else None,
        tsa_chain=tsa,
        trust_entity=entity,
    )


# ---- the trust in force ----------------------------------------------------------------------------


def _anchors_dict(anchors: TrustAnchors) -> dict[str, Any]:
    return {"name": anchors.source, "source": "file", "certificates": anchors.count}


def _list_dict(listed: TrustList, now: dt.datetime) -> dict[str, Any]:
    info = listed.info()
    return {
        "name": listed.name, "issued": info.issued, "next_update": info.next_update, "sequence": listed.sequence,
        "source": listed.source, "location": str(listed.location), "stale": listed.stale(now),
        "certificates": listed.anchors.count,
        "entities": [{"name": e.name, "services": [asdict(s) for s in e.services]} for e in listed.entities],
    }


def _interim_dict(interim: InterimList) -> dict[str, Any]:
    from provenance.keys.pki import fingerprint
    from provenance.trust.lists import organisation

    return {
        "name": interim.name, "frozen": interim.info().issued, "source": "bundled", "location": str(interim.location),
        "anchors": [{"organisation": organisation(c), "subject": c.subject.rfc4514_string(), "sha256": fingerprint(c)}
                    for c in interim.anchors.certificates()],
        "allowed_certificates": interim.allowed.count,
    }


def trust_report(policy: TrustPolicy, now: dt.datetime | None = None) -> dict[str, Any]:
    """What `trust show` without a file prints: for signers and for time-stamping authorities, the anchor
    file or official list in force (its entities and dates), and the interim list; None for what is not set."""
    now = now or dt.datetime.now(dt.timezone.utc)
    lists = policy.lists
    if lists is None:
        return {"signers": _anchors_dict(policy.anchors) if policy.anchors else None,
                "tsa": _anchors_dict(policy.tsa_anchors) if policy.tsa_anchors else None, "interim": None}
    return {"signers": _list_dict(lists.signers, now), "tsa": _list_dict(lists.tsa, now),
            "interim": _interim_dict(lists.interim) if lists.interim else None}
