"""Certificates and keys: pre-flight checks before signing, the one certificate builder, and a development PKI.

c2pa rejects a bad certificate with a generic message at signing time; checking
here with `cryptography` first lets the user see exactly what is wrong.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provenance.errors import CredentialError, OutputExistsError, UsageError
from provenance.keys.algorithms import ALGORITHMS, hash_name

DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
# The C2PA profile names documentSigning and emailProtection, but c2pa 0.91.3 refuses a leaf
# that has documentSigning (or the C2PA claim-signing OID) without emailProtection ("missing
# required EKU"), so the pre-flight demands what c2pa really accepts.
SIGNING_EKUS = {ExtendedKeyUsageOID.EMAIL_PROTECTION}
# What provenance issues signing certificates with: both EKUs of the C2PA profile.
SIGNER_EKUS = (DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION)
# Key usages of a CA (signs certificates and CRLs) and of a signer (signs, nothing else).
CA_KEY_USAGE = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
SIGNER_KEY_USAGE = x509.KeyUsage(True, False, False, False, False, False, False, False, False)

_CURVE_ALG = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


def algorithm_for_public_key(public_key: object) -> str:
    """The C2PA signing algorithm a key naturally uses."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        alg = _CURVE_ALG.get(public_key.curve.name)
        if alg is None:
            raise CredentialError(
                f"elliptic curve {public_key.curve.name} is not allowed by C2PA",
                remedy="Use a P-256, P-384 or P-521 key.",
            )
        return alg
    if isinstance(public_key, rsa.RSAPublicKey):
        return "ps256"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    raise CredentialError(
        f"unsupported key type {type(public_key).__name__}",
        remedy="Use an EC (P-256/384/521), RSA (2048+) or Ed25519 key.",
    )


def check_algorithm(alg: str, public_key: object) -> str:
    """Refuse an algorithm that cannot be used with this key; returns the algorithm."""
    alg = alg.lower()
    if alg not in ALGORITHMS:
        raise UsageError(f"unknown algorithm {alg!r}", remedy=f"Use one of: {', '.join(ALGORITHMS)}.")
    natural = algorithm_for_public_key(public_key)
    compatible = alg.startswith("ps") and natural == "ps256" or alg == natural
    if not compatible:
        raise CredentialError(
            f"algorithm {alg} does not match the key (the key is for {natural})",
            remedy=f"Drop --alg to infer it, or pass --alg {natural}.",
        )
    return alg


def hash_algorithm(alg: str) -> hashes.HashAlgorithm:
    """The hash a C2PA algorithm signs with (es384 -> SHA-384); KeyError for one without its own (ed25519)."""
    chosen: hashes.HashAlgorithm = getattr(hashes, hash_name(alg))()
    return chosen


def load_chain(path: str | os.PathLike[str]) -> list[x509.Certificate]:
    """The PEM certificate chain in a file, leaf first; an unreadable file is a CredentialError."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise CredentialError(f"cannot read certificate file {path}: {e.strerror}") from e
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise CredentialError(
            f"{path} holds no PEM certificates",
            remedy="Give the signer's certificate chain as PEM, leaf first.",
        ) from e
    return chain


def chain_pem(chain: Sequence[x509.Certificate]) -> bytes:
    """Certificates as one PEM bundle, in the order given."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)


def private_key_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """A private key as PKCS#8 PEM, encrypted with `passphrase` when one is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def fingerprint(cert: x509.Certificate) -> str:
    """A certificate's SHA-256 fingerprint as lower-case hex (what --allowed-signer takes)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer`'s key signed `cert` (names and signature; no validity or policy checks)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _ext(cert: x509.Certificate, ext_type: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(ext_type).value
    except x509.ExtensionNotFound:
        return None


def check_signing_certificate(leaf: x509.Certificate, *, now: dt.datetime | None = None) -> None:
    """Raise CredentialError with a precise reason when c2pa would refuse this leaf."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if leaf.version is not x509.Version.v3:
        raise CredentialError("leaf certificate is not X.509 v3")
    if leaf.not_valid_after_utc < now:
        raise CredentialError(
            f"certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC",
            remedy="Renew the signing certificate.",
        )
    if leaf.not_valid_before_utc > now:
        raise CredentialError(
            f"certificate is not valid until {leaf.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC",
            remedy="Check the system clock or the certificate's validity period.",
        )
    basic = _ext(leaf, x509.BasicConstraints)
    if isinstance(basic, x509.BasicConstraints) and basic.ca:
        raise CredentialError(
            "leaf certificate is a CA certificate (CA:TRUE)",
            remedy="Sign with an end-entity certificate issued by your CA.",
        )
    usage = _ext(leaf, x509.KeyUsage)
    if isinstance(usage, x509.KeyUsage) and not usage.digital_signature:
        raise CredentialError("leaf certificate's keyUsage lacks digitalSignature")
    eku = _ext(leaf, x509.ExtendedKeyUsage)
    if not isinstance(eku, x509.ExtendedKeyUsage) or not SIGNING_EKUS & set(eku):
        raise CredentialError(
            "leaf certificate lacks the documentSigning/emailProtection EKU",
            remedy="Issue the signing certificate with EKU emailProtection (and documentSigning, 1.3.6.1.5.5.7.3.36).",
        )


def check_key_matches(leaf: x509.Certificate, public_key: object) -> None:
    """Raise CredentialError unless `public_key` is the key of `leaf`."""
    def raw(k: object) -> bytes:
        assert isinstance(k, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey))
        return k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    if raw(leaf.public_key()) != raw(public_key):
        raise CredentialError(
            "key does not match certificate",
            remedy="Pass the private key that belongs to the first certificate in --cert.",
        )


@dataclass(frozen=True)
class DevPki:
    """The files of a development PKI: the root CA to trust, the signer's chain and key."""

    root_ca: Path
    signer_chain: Path
    signer_key: Path
    algorithm: str


def new_key(alg: str) -> PrivateKey:
    """A fresh private key of the type an algorithm needs."""
    if alg == "es256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "es384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "es512":
        return ec.generate_private_key(ec.SECP521R1())
    if alg.startswith("ps"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise UsageError(f"unknown algorithm {alg!r}", remedy=f"Use one of: {', '.join(ALGORITHMS)}.")


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    # c2pa rejects a P-521 CA signing with SHA-256 (the chain shows as untrusted): match the hash to the curve.
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA512() if key.curve.key_size > 384 else hashes.SHA384()
    return hashes.SHA256()


def distinguished_name(org: str, common_name: str) -> x509.Name:
    """A certificate name of an organization and a common name."""
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def build_certificate(
    subject: x509.Name,
    public_key: PublicKey,
    issuer: x509.Name,
    issuer_key: PrivateKey,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    ca: bool,
    path_length: int | None = None,
    key_usage: x509.KeyUsage | None = None,
    extended_key_usages: Sequence[x509.ObjectIdentifier] = (),
    critical_eku: bool = False,
    subject_key_id: bool = True,
    authority_key_id: bool = True,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> x509.Certificate:
    """An X.509 v3 certificate for `public_key`, signed by `issuer_key` with the hash that suits that key.

    Extensions, in this order: basic constraints (critical), key usage (critical) when given, the
    extended key usages when any, subject and authority key identifiers unless turned off, then
    `extensions` as (value, critical) pairs.
    """
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    )
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    if extended_key_usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended_key_usages)), critical=critical_eku)
    if subject_key_id:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    if authority_key_id:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, _hash_for(issuer_key))


def _dev_certificate(subject: x509.Name, key: PrivateKey, issuer: x509.Name, issuer_key: PrivateKey, *,
                     ca: bool, days: int, path_length: int | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    return build_certificate(
        subject, key.public_key(), issuer, issuer_key, not_before=now, not_after=now + dt.timedelta(days=days),
        ca=ca, path_length=path_length, key_usage=CA_KEY_USAGE if ca else SIGNER_KEY_USAGE,
        extended_key_usages=() if ca else SIGNER_EKUS,
    )


def write_private_file(path: Path, data: bytes) -> None:
    """Write a secret with mode 0600 from the first byte (never world-readable, even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def init_dev_pki(directory: str | os.PathLike[str], *, alg: str = "es256", org: str = "Provenance Dev",
                 force: bool = False) -> DevPki:
    """Create root CA, intermediate CA and a C2PA signing certificate in `directory`."""
    alg = alg.lower()
    out = Path(directory)
    pki = DevPki(out / "root-ca.pem", out / "signer-chain.pem", out / "signer.key", alg)
    targets = [pki.root_ca, out / "intermediate-ca.pem", pki.signer_chain, pki.signer_key]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise OutputExistsError(f"refusing to overwrite {', '.join(existing)}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)

    root_key, inter_key, leaf_key = new_key(alg), new_key(alg), new_key(alg)
    root_name = distinguished_name(org, f"{org} Root CA")
    inter_name = distinguished_name(org, f"{org} Intermediate CA")
    root = _dev_certificate(root_name, root_key, root_name, root_key, ca=True, days=3650, path_length=1)
    inter = _dev_certificate(inter_name, inter_key, root_name, root_key, ca=True, days=1825, path_length=0)
    leaf = _dev_certificate(distinguished_name(org, f"{org} Signer"), leaf_key, inter_name, inter_key, ca=False,
                            days=365)

    pki.root_ca.write_bytes(chain_pem([root]))
    (out / "intermediate-ca.pem").write_bytes(chain_pem([inter]))
    pki.signer_chain.write_bytes(chain_pem([leaf, inter]))
    write_private_file(pki.signer_key, private_key_pem(leaf_key))
    return pki
