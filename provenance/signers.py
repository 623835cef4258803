"""Signing credentials: a certificate chain plus something that can sign with its key.

Every kind of key source produces a `SigningCredentials`, which hands c2pa a
`c2pa.Signer`. The certificate and key are checked with `cryptography` first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import pki
from .errors import CredentialError


@dataclass(frozen=True)
class SigningCredentials:
    chain: tuple[x509.Certificate, ...]
    alg: str
    # PEM of an in-process private key; never logged (repr=False).
    key_pem: bytes = field(repr=False)
    tsa_url: str | None = None

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    def c2pa_signer(self) -> Any:
        import c2pa

        info = c2pa.C2paSignerInfo(
            self.alg.encode(),
            pki.chain_pem(self.chain),
            self.key_pem,
            self.tsa_url.encode() if self.tsa_url else None,
        )
        return c2pa.Signer.from_info(info)


def load_private_key(path: str | os.PathLike[str], passphrase: bytes | None = None) -> pki.PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise CredentialError(f"cannot read key file {path}: {e.strerror}") from e
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as e:
        raise CredentialError(
            f"key file {path} is encrypted",
            remedy="Set PROVENANCE_KEY_PASSPHRASE or run on a terminal to be prompted.",
        ) from e
    except ValueError as e:
        # Never echo the key or cryptography's message (it can quote the input).
        raise CredentialError(
            f"key file {path} is not a readable PEM private key (or the passphrase is wrong)",
            remedy="Give the PEM private key that matches --cert.",
        ) from e
    if not isinstance(key, pki.PrivateKey):
        raise CredentialError(f"key file {path} holds an unsupported key type")
    return key


def from_pem_files(
    cert: str | os.PathLike[str],
    key: str | os.PathLike[str],
    *,
    alg: str | None = None,
    tsa_url: str | None = None,
    passphrase: bytes | None = None,
) -> SigningCredentials:
    """Credentials from a PEM chain (leaf first) and a PEM private key, pre-flighted."""
    chain = pki.load_chain(cert)
    private_key = load_private_key(key, passphrase)
    return from_key(chain, private_key, alg=alg, tsa_url=tsa_url)


def from_key(
    chain: list[x509.Certificate],
    private_key: pki.PrivateKey,
    *,
    alg: str | None = None,
    tsa_url: str | None = None,
) -> SigningCredentials:
    leaf = chain[0]
    pki.check_signing_certificate(leaf)
    pki.check_key_matches(leaf, private_key.public_key())
    chosen = pki.check_algorithm(alg, leaf.public_key()) if alg else pki.algorithm_for_public_key(leaf.public_key())
    key_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SigningCredentials(tuple(chain), chosen, key_pem, tsa_url)
