"""Certificates and keys: a development PKI, and pre-flight checks before signing.

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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provenance.errors import CredentialError, OutputExistsError, UsageError
from provenance.keys.algorithms import ALGORITHMS

DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
# The C2PA profile names documentSigning and emailProtection, but c2pa 0.91.3 refuses a leaf
# that has documentSigning (or the C2PA claim-signing OID) without emailProtection ("missing
# required EKU"), so the pre-flight demands what c2pa really accepts.
SIGNING_EKUS = {ExtendedKeyUsageOID.EMAIL_PROTECTION}

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


def load_chain(path: str | os.PathLike[str]) -> list[x509.Certificate]:
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
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


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


def _name(org: str, common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _certificate(
    subject: x509.Name,
    key: PrivateKey,
    issuer: x509.Name,
    issuer_key: PrivateKey,
    *,
    ca: bool,
    days: int,
    path_length: int | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        ).add_extension(
            x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
    return builder.sign(issuer_key, _hash_for(issuer_key))


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
    root_name = _name(org, f"{org} Root CA")
    inter_name = _name(org, f"{org} Intermediate CA")
    root = _certificate(root_name, root_key, root_name, root_key, ca=True, days=3650, path_length=1)
    inter = _certificate(inter_name, inter_key, root_name, root_key, ca=True, days=1825, path_length=0)
    leaf = _certificate(_name(org, f"{org} Signer"), leaf_key, inter_name, inter_key, ca=False, days=365)

    pki.root_ca.write_bytes(chain_pem([root]))
    (out / "intermediate-ca.pem").write_bytes(chain_pem([inter]))
    pki.signer_chain.write_bytes(chain_pem([leaf, inter]))
    key_pem = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private_file(pki.signer_key, key_pem)
    return pki
