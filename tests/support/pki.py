"""A small certificate authority for tests that need certificates `keys init` does not make.

Signing certificates for keys held elsewhere (on a token, behind a command), short-lived
ones that expire during a test, and one of every C2PA algorithm.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provenance.keys.pki import DOCUMENT_SIGNING, PrivateKey, PublicKey, chain_pem, new_key, write_private_file

ALGORITHMS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")
SIGNER_EKUS = (DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION)


def pem(*certs: x509.Certificate) -> bytes:
    return chain_pem(certs)


def key_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Provenance Tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass
class CertAuthority:
    """A root CA (P-256, SHA-256) and, optionally, an intermediate that issues the signers."""

    common_name: str = "Test Root CA"
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    root: x509.Certificate = field(init=False)
    intermediate: x509.Certificate = field(init=False)
    intermediate_key: ec.EllipticCurvePrivateKey = field(init=False)

    def __post_init__(self) -> None:
        now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
        name = _name(self.common_name)
        self.root = self._ca(name, self.key, name, self.key, now, path_length=1)
        self.intermediate_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate = self._ca(_name(self.common_name + " Intermediate"), self.intermediate_key, name, self.key,
                                     now, path_length=0)

    @staticmethod
    def _ca(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
            issuer_key: ec.EllipticCurvePrivateKey, now: dt.datetime, path_length: int) -> x509.Certificate:
        return (
            x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                           critical=False)
            .sign(issuer_key, hashes.SHA256())
        )

    def issue(self, public_key: PublicKey, common_name: str = "Test Signer", *,
              not_after: dt.datetime | None = None) -> list[x509.Certificate]:
        """A C2PA signing certificate for `public_key`; returns the chain, leaf first (no root)."""
        now = dt.datetime.now(dt.timezone.utc)
        leaf = (
            x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(self.intermediate.subject)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(not_after or now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(list(SIGNER_EKUS)), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.intermediate_key.public_key()),
                           critical=False)
            .sign(self.intermediate_key, hashes.SHA256())
        )
        return [leaf, self.intermediate]

    def write_root(self, path: Path) -> Path:
        path.write_bytes(pem(self.root))
        return path


@dataclass(frozen=True)
class SignerFiles:
    alg: str
    key: PrivateKey
    chain: list[x509.Certificate]
    chain_path: Path
    key_path: Path


def signer_files(ca: CertAuthority, directory: Path, alg: str, *, passphrase: bytes | None = None,
                 not_after: dt.datetime | None = None) -> SignerFiles:
    """A new key of `alg` and its certificate chain, written as PEM files (the key with mode 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = new_key(alg)
    chain = ca.issue(key.public_key(), f"Test Signer {alg}", not_after=not_after)
    chain_path, key_path = directory / f"{alg}-chain.pem", directory / f"{alg}.key"
    chain_path.write_bytes(pem(*chain))
    write_private_file(key_path, key_pem(key, passphrase))
    return SignerFiles(alg, key, chain, chain_path, key_path)
