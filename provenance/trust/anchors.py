"""Trust configuration for verifiers, the c2pa settings that apply it, and our own trust layer.

c2pa judges signatures, bindings and whether the signer chains to a trust anchor.
On top of that, `TrustPolicy.apply` enforces what c2pa does not: pinned signer
certificates (--allowed-signer), time-stamping authorities trusted through their
own anchors (--tsa-trust-anchors), and failing closed when a setting is given but
not satisfied.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.errors import MediaError, TrustConfigError
from provenance.verdict import Outcome, Timestamp, Verdict

if TYPE_CHECKING:
    from cryptography import x509

    from provenance.verify import ManifestReport

APP_NAME = "provenance"
DEFAULT_ANCHORS_FILE = "trust-anchors.pem"
DEFAULT_TSA_ANCHORS_FILE = "tsa-trust-anchors.pem"
UNTRUSTED = "signingCredential.untrusted"
EXPIRED = "signingCredential.expired"


@dataclass(frozen=True)
class TrustAnchors:
    pem: str
    source: str  # where they came from, for messages
    count: int

    def certificates(self) -> list[x509.Certificate]:
        from cryptography import x509

        return x509.load_pem_x509_certificates(self.pem.encode("ascii", "replace"))


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
    return config_dir() / DEFAULT_ANCHORS_FILE


def default_tsa_anchors_path() -> Path:
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


def reader_settings(anchors: TrustAnchors | None, tsa_anchors: TrustAnchors | None = None) -> dict[str, Any]:
    """c2pa settings for reading: never fetch from the network while verifying.

    c2pa judges time-stamping authorities against the same anchors as signers, so TSA
    anchors are handed to it too (that is what lets it accept a signature made before
    the signer's certificate expired); `TrustPolicy.apply` then makes sure each kind of
    anchor only vouches for its own kind of certificate.
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
    return settings


def _codes(report: dict[str, Any], kind: str) -> set[str]:
    entries = report.get("validation_results", {}).get("activeManifest", {}).get(kind, [])
    return {e["code"] for e in entries if isinstance(e, dict) and "code" in e}


def chains_to(chain: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate]) -> bool:
    """Whether some certificate of `chain` is an anchor or was issued (signed) by one.

    c2pa has already validated the chain itself; this only tells which anchor it ends at.
    """
    from cryptography.exceptions import InvalidSignature

    anchor_der = {a.fingerprint(_sha256()) for a in anchors}
    for cert in chain:
        if cert.fingerprint(_sha256()) in anchor_der:
            return True
        for anchor in anchors:
            if cert.issuer != anchor.subject:
                continue
            try:
                cert.verify_directly_issued_by(anchor)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return True
    return False


def _sha256() -> Any:
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()


@dataclass(frozen=True)
class TrustPolicy:
    """Everything a verifier is told to trust; empty means c2pa's verdict stands as is."""

    anchors: TrustAnchors | None = None
    tsa_anchors: TrustAnchors | None = None
    allowed_signers: frozenset[str] = field(default_factory=frozenset)

    def c2pa_settings(self) -> dict[str, Any]:
        return reader_settings(self.anchors, self.tsa_anchors)

    def apply(self, verdict: Verdict, report: ManifestReport, *, now: dt.datetime | None = None) -> Verdict:
        """The verdict after our own trust rules; failures are listed in `trust_failures`."""
        from provenance.trust import timestamp as ts

        if verdict.manifest_label is None:
            return verdict
        success = _codes(report.report, "success")
        outcome = verdict.verdict
        failure_codes = set(verdict.failure_codes)
        reasons: list[str] = []

        token = ts.token_of(report.store, verdict.manifest_label)
        stamp = verdict.timestamp
        tsa_reason: str | None = None
        if token is not None:
            validated = "timeStamp.validated" in success
            if not validated:
                tsa_reason = "the timestamp does not match the signature or its authority's signature is invalid"
            elif self.tsa_anchors is not None:
                tsa_reason = ts.check_tsa_chain(token, self.tsa_anchors.certificates())
            elif "timeStamp.trusted" not in success:
                tsa_reason = "the time-stamping authority does not chain to a trust anchor"
            stamp = Timestamp(token.gen_time.isoformat(), token.tsa_name, tsa_reason is None)

        if self.tsa_anchors is not None:
            if outcome is Outcome.TRUSTED and not self._signer_anchored(verdict):
                # c2pa saw the TSA anchors too; a signer may only be trusted through a signer anchor.
                outcome = Outcome.VALID
                failure_codes.add(UNTRUSTED)
            if token is None:
                reasons.append("the file has no RFC 3161 timestamp, but TSA trust anchors were given")
            elif tsa_reason is not None:
                reasons.append(f"timestamp not trusted: {tsa_reason}")
            if (token is None or tsa_reason is not None) and self._signer_expired(verdict, now):
                # Without a trusted timestamp, nothing proves the signature predates the expiry.
                failure_codes.add(EXPIRED)
                outcome = Outcome.INVALID

        if self.allowed_signers:
            signer = verdict.signer
            if signer is None or not signer.sha256:
                reasons.append("the signer's certificate cannot be read, so it cannot match --allowed-signer")
            elif signer.sha256.lower() not in self.allowed_signers:
                reasons.append(
                    f"signer {signer.subject} (SHA-256 {signer.sha256}) is not one of the allowed signers"
                )
        if reasons and outcome is Outcome.TRUSTED:
            outcome = Outcome.VALID
        return replace(
            verdict,
            verdict=outcome,
            timestamp=stamp,
            failure_codes=tuple(sorted(failure_codes)),
            trust_failures=(*verdict.trust_failures, *reasons),
        )

    def _signer_anchored(self, verdict: Verdict) -> bool:
        from cryptography import x509

        if self.anchors is None or verdict.signer is None or not verdict.signer.chain_pem:
            return False
        chain = [x509.load_pem_x509_certificate(p.encode()) for p in verdict.signer.chain_pem]
        return chains_to(chain, self.anchors.certificates())

    @staticmethod
    def _signer_expired(verdict: Verdict, now: dt.datetime | None) -> bool:
        if verdict.signer is None or not verdict.signer.not_after:
            return False
        not_after = dt.datetime.fromisoformat(verdict.signer.not_after)
        return not_after < (now or dt.datetime.now(dt.timezone.utc))


# --- `provenance trust show`: what an operator needs to decide what to pin ---

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
    path: str
    manifest_source: str  # "embedded" or "sidecar"
    signer_chain: tuple[CertificateInfo, ...]
    timestamp_time: str | None = None
    tsa_chain: tuple[CertificateInfo, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

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
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

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
        sha256=cert.fingerprint(_sha256()).hex(),
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
    from provenance import limits
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
            with open(sidecar, "rb") as side:
                return side.read(limits.MAX_MANIFEST_STORE_BYTES), "sidecar"
    except OSError as e:
        raise MediaError(f"{p}: {e.strerror or e}") from e
    if not store:
        raise MediaError(f"{p}: has no C2PA manifest", remedy="Give a file signed with C2PA credentials.")
    return store, "embedded"


def chain_report(path: str | os.PathLike[str]) -> ChainReport:
    """The active manifest's signer chain and timestamp authority, read straight from the file.

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
    except ValueError as e:
        raise MediaError(f"{path}: a certificate in the manifest is malformed ({e})") from e
    return ChainReport(
        path=str(path),
        manifest_source=source,
        signer_chain=signer_chain,
        timestamp_time=token.gen_time.isoformat() if token is not None else None,
        tsa_chain=tsa,
    )
