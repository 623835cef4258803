"""A small certificate authority for tests that need certificates `keys init` does not make.

Signing certificates for keys held elsewhere (on a token, behind a command), short-lived
ones that expire during a test, and one of every C2PA algorithm.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from provenance.keys.pki import (
    CA_KEY_USAGE,
    SIGNER_EKUS,
    SIGNER_KEY_USAGE,
    PrivateKey,
    PublicKey,
    build_certificate,
    chain_pem,
    distinguished_name,
    new_key,
    private_key_pem,
    write_private_file,
)

ORG = "Provenance Tests"


@dataclass
class CertAuthority:
    """A root CA (P-256, SHA-256) and an intermediate under it that issues the signers."""

    common_name: str = "Test Root CA"
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    root: x509.Certificate = field(init=False)
    intermediate: x509.Certificate = field(init=False)
    intermediate_key: ec.EllipticCurvePrivateKey = field(init=False)

    def __post_init__(self) -> None:
        now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
        name = distinguished_name(ORG, self.common_name)
        self.root = self._ca(name, self.key, name, self.key, now, path_length=1)
        self.intermediate_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate = self._ca(distinguished_name(ORG, self.common_name + " Intermediate"),
                                     self.intermediate_key, name, self.key, now, path_length=0)

    @staticmethod
    def _ca(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
            issuer_key: ec.EllipticCurvePrivateKey, now: dt.datetime, path_length: int) -> x509.Certificate:
        return build_certificate(subject, key.public_key(), issuer, issuer_key, not_before=now,
                                 not_after=now + dt.timedelta(days=3650), ca=True, path_length=path_length,
                                 key_usage=CA_KEY_USAGE)

    def issue(self, public_key: PublicKey, common_name: str = "Test Signer", *,
              not_after: dt.datetime | None = None) -> list[x509.Certificate]:
        """A C2PA signing certificate for `public_key`; returns the chain, leaf first (no root)."""
        now = dt.datetime.now(dt.timezone.utc)
        leaf = build_certificate(
            distinguished_name(ORG, common_name), public_key, self.intermediate.subject, self.intermediate_key,
            not_before=now - dt.timedelta(minutes=5), not_after=not_after or now + dt.timedelta(days=30),
            ca=False, key_usage=SIGNER_KEY_USAGE, extended_key_usages=SIGNER_EKUS,
        )
        return [leaf, self.intermediate]

    def write_root(self, path: Path) -> Path:
        """Write the root certificate as PEM (a trust anchor file); returns `path`."""
        path.write_bytes(chain_pem([self.root]))
        return path


@dataclass(frozen=True)
class SignerFiles:
    """A signer's key and chain, in memory and as the PEM files written for it."""

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
    chain_path.write_bytes(chain_pem(chain))
    write_private_file(key_path, private_key_pem(key, passphrase))
    return SignerFiles(alg, key, chain, chain_path, key_path)
