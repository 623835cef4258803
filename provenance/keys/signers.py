"""Signing credentials: a certificate chain plus something that can sign with its key.

Every kind of key source produces a `SigningCredentials`, which hands c2pa a
`c2pa.Signer`:

- a PEM private key file, plain or encrypted (PKCS#8 / traditional), or a
  PKCS#12 bundle (.p12/.pfx) carrying the key and its certificate chain: the key
  is loaded in-process and given to c2pa's own signer;
- a PKCS#11 URI (``pkcs11:token=...;object=...``): the key stays on the token
  and signs through c2pa's callback signer (see `provenance.keys.pkcs11`);
- an external command (``--signer-command``): the bytes to sign go to its stdin
  and the signature comes back on its stdout, so any KMS can plug in.

Certificate, key and algorithm are checked with `cryptography` before anything
is signed; a key that signs elsewhere is asked for one probe signature, verified
against the certificate, so a wrong key or format fails before the media is touched.
Secrets (keys, passphrases, PINs) never appear in messages or reprs.
"""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from provenance._internal import children
from provenance.errors import CredentialError, ProvenanceError, SigningError, UsageError
from provenance.keys import pki
from provenance.keys.secret import SecretProvider

COMMAND_TIMEOUT = 120.0  # seconds one external signature may take (a KMS round trip, an HSM queue)


class RemoteSigner(Protocol):
    """Something outside this process that signs: returns the signature in c2pa's format."""

    description: str

    def sign(self, data: bytes) -> bytes:
        """The signature over `data`, in c2pa's format."""
        ...

    def close(self) -> None:
        """Release whatever the signer holds open."""
        ...


@dataclass(frozen=True)
class SigningCredentials:
    """A signer's certificate chain (leaf first), its algorithm, and the key or remote signer that signs for it."""

    chain: tuple[x509.Certificate, ...]
    alg: str
    # PEM of an in-process private key; never logged (repr=False). None when the key signs elsewhere.
    key_pem: bytes | None = field(default=None, repr=False)
    tsa_url: str | None = None
    remote: RemoteSigner | None = field(default=None, repr=False, compare=False)
    # Why the last signing callback failed; c2pa itself only reports "the callback failed".
    _failures: list[ProvenanceError] = field(default_factory=list, repr=False, compare=False)

    @property
    def leaf(self) -> x509.Certificate:
        """The signer's own certificate."""
        return self.chain[0]

    def c2pa_signer(self) -> Any:
        """A new c2pa.Signer (usable as a context manager) for one signing run."""
        import c2pa

        if self.remote is None:
            assert self.key_pem is not None
            info = c2pa.C2paSignerInfo(
                self.alg.encode(), pki.chain_pem(self.chain), self.key_pem,
                self.tsa_url.encode() if self.tsa_url else None,
            )
            return c2pa.Signer.from_info(info)

        remote, failures = self.remote, self._failures
        failures.clear()

        def callback(data: bytes) -> bytes:
            try:
                return remote.sign(data)
            except ProvenanceError as e:
                failures.append(e)
            except Exception as e:  # never let a message from elsewhere (which might quote input) through
                failures.append(SigningError(f"{remote.description} failed ({type(e).__name__})"))
            return b""

        return c2pa.Signer.from_callback(
            callback, c2pa.C2paSigningAlg[self.alg.upper()], pki.chain_pem(self.chain).decode("ascii"),
            self.tsa_url,
        )

    def callback_failure(self) -> ProvenanceError | None:
        """The precise reason a remote signature failed in the last c2pa call, if that was the cause (read once)."""
        failure = self._failures[0] if self._failures else None
        self._failures.clear()
        return failure

    def close(self) -> None:
        """Release a token session or similar; in-process keys need nothing."""
        if self.remote is not None:
            self.remote.close()


# --- key files: PEM (plain or encrypted) and PKCS#12 ---


@dataclass(frozen=True)
class KeyFile:
    """A private key read from a file, with any certificates the same file carries."""

    key: pki.PrivateKey = field(repr=False)
    certificates: tuple[x509.Certificate, ...]  # found in the same file (PKCS#12, or PEM with certificates)
    kind: str  # "PEM" or "PKCS#12"


def _checked_key(key: object, path: Path) -> pki.PrivateKey:
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise CredentialError(f"key file {path} holds an unsupported key type",
                              remedy="Use an EC (P-256/384/521), RSA (2048+) or Ed25519 key.")
    return key


def _encrypted_remedy() -> str:
    return "Set PROVENANCE_KEY_PASSPHRASE or run on a terminal to be prompted."


def _load_pem(path: Path, data: bytes, passphrase: SecretProvider | None) -> KeyFile:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        # Encrypted: only now ask for the passphrase.
        secret = passphrase(f"key file {path}") if passphrase is not None else None
        if secret is None:
            raise CredentialError(f"key file {path} is encrypted", remedy=_encrypted_remedy()) from None
        try:
            key = serialization.load_pem_private_key(data, password=secret)
        except ValueError:
            # Never echo cryptography's message: it can quote the input.
            raise CredentialError(f"wrong passphrase for key file {path}",
                                  remedy="Check PROVENANCE_KEY_PASSPHRASE.") from None
    except ValueError:
        raise CredentialError(
            f"key file {path} is not a readable PEM private key",
            remedy="Give the PEM private key that matches --cert.",
        ) from None
    certs: tuple[x509.Certificate, ...] = ()
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            certs = tuple(x509.load_pem_x509_certificates(data))
        except ValueError:
            certs = ()
    return KeyFile(_checked_key(key, path), certs, "PEM")


def _load_pkcs12(path: Path, data: bytes, passphrase: SecretProvider | None) -> KeyFile:
    from cryptography.hazmat.primitives.serialization import pkcs12

    bundle = None
    for attempt in (None, b""):
        try:
            bundle = pkcs12.load_pkcs12(data, attempt)
            break
        except ValueError:
            continue
    if bundle is None:
        secret = passphrase(f"PKCS#12 bundle {path}") if passphrase is not None else None
        if secret is None:
            raise CredentialError(
                f"key file {path} is not a PEM key; read as a PKCS#12 bundle it needs a passphrase",
                remedy=_encrypted_remedy(),
            )
        try:
            bundle = pkcs12.load_pkcs12(data, secret)
        except ValueError:
            raise CredentialError(f"cannot open {path}: wrong passphrase, or not a PKCS#12 bundle",
                                  remedy="Check PROVENANCE_KEY_PASSPHRASE and the file.") from None
    if bundle.key is None:
        raise CredentialError(f"PKCS#12 bundle {path} holds no private key")
    certs = [c.certificate for c in ([bundle.cert] if bundle.cert else []) + list(bundle.additional_certs)]
    return KeyFile(_checked_key(bundle.key, path), tuple(certs), "PKCS#12")


def load_key_file(path: str | os.PathLike[str], passphrase: SecretProvider | None = None) -> KeyFile:
    """A private key from a PEM file or a PKCS#12 bundle; `passphrase` is asked only when needed."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise CredentialError(f"cannot read key file {p}: {e.strerror}") from e
    if b"-----BEGIN" in data:
        return _load_pem(p, data, passphrase)
    return _load_pkcs12(p, data, passphrase)


def load_private_key(path: str | os.PathLike[str], passphrase: bytes | None = None) -> pki.PrivateKey:
    """A private key from a PEM or PKCS#12 file with a known passphrase (or none)."""
    return load_key_file(path, (lambda _what: passphrase) if passphrase is not None else None).key


def order_chain(leaf: x509.Certificate, pool: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """`leaf` followed by its issuers found in `pool`; roots (self-signed) are left to the verifier's anchors."""
    chain = [leaf]
    remaining = [c for c in pool if c != leaf]
    while remaining:
        current = chain[-1]
        if current.issuer == current.subject:
            break
        issuer = next((c for c in remaining if c.subject == current.issuer and pki.issued_by(current, c)), None)
        if issuer is None or issuer.issuer == issuer.subject:
            break
        chain.append(issuer)
        remaining.remove(issuer)
    return chain


def _public_der(key: object) -> bytes:
    assert isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey))
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _chain_for_key(key_file: KeyFile, cert: str | os.PathLike[str] | None, key_name: str) -> list[x509.Certificate]:
    if cert is not None:
        return pki.load_chain(cert)
    public = _public_der(key_file.key.public_key())
    leaf = next((c for c in key_file.certificates if _public_der(c.public_key()) == public), None)
    if leaf is None:
        raise UsageError(
            f"--cert is required: {key_name} carries no certificate for its key",
            remedy="Pass the signer's certificate chain (PEM, leaf first) with --cert.",
        )
    return order_chain(leaf, key_file.certificates)


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
    """Credentials from a certificate chain (leaf first) and the leaf's private key, pre-flighted."""
    leaf = chain[0]
    pki.check_signing_certificate(leaf)
    pki.check_key_matches(leaf, private_key.public_key())
    chosen = _algorithm(alg, leaf)
    return SigningCredentials(tuple(chain), chosen, pki.private_key_pem(private_key), tsa_url)


def _algorithm(alg: str | None, leaf: x509.Certificate) -> str:
    return pki.check_algorithm(alg, leaf.public_key()) if alg else pki.algorithm_for_public_key(leaf.public_key())


# --- keys that sign elsewhere: PKCS#11 tokens and external commands ---


def ecdsa_raw_signature(signature: bytes, curve: ec.EllipticCurve) -> bytes:
    """ECDSA signature as raw r||s (what COSE and c2pa need); accepts DER (ASN.1) input too."""
    size = (curve.key_size + 7) // 8
    if len(signature) == 2 * size:
        return signature
    try:
        r, s = utils.decode_dss_signature(signature)
    except ValueError:
        raise SigningError(
            f"the ECDSA signature is {len(signature)} bytes: neither raw r||s ({2 * size} bytes) nor DER",
            remedy="Make the signer output raw r||s or a DER ECDSA-Sig-Value.",
        ) from None
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def verify_signature(public_key: object, alg: str, data: bytes, signature: bytes) -> bool:
    """Whether `signature` (in c2pa's format) over `data` verifies with `public_key` under `alg`."""
    try:
        if alg == "ed25519" and isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        elif alg.startswith("es") and isinstance(public_key, ec.EllipticCurvePublicKey):
            size = (public_key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                return False
            der = utils.encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                             int.from_bytes(signature[size:], "big"))
            public_key.verify(der, data, ec.ECDSA(pki.hash_algorithm(alg)))
        elif alg.startswith("ps") and isinstance(public_key, rsa.RSAPublicKey):
            h = pki.hash_algorithm(alg)
            public_key.verify(signature, data, padding.PSS(padding.MGF1(h), h.digest_size), h)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _probe(remote: RemoteSigner, leaf: x509.Certificate, alg: str) -> None:
    """One signature over random bytes, checked against the certificate, before any media is signed."""
    challenge = b"provenance signer check " + secrets.token_bytes(32)
    signature = remote.sign(challenge)
    if not verify_signature(leaf.public_key(), alg, challenge, signature):
        raise CredentialError(
            f"{remote.description}: its signature does not verify with the certificate's key ({alg})",
            remedy="The key does not belong to the first certificate in --cert, or the signer uses another "
                   "algorithm or signature format (see docs/signing-and-keys.md, the signer command).",
        )


def _remote_credentials(remote: RemoteSigner, chain: list[x509.Certificate], alg: str | None,
                        tsa_url: str | None) -> SigningCredentials:
    try:
        leaf = chain[0]
        pki.check_signing_certificate(leaf)
        chosen = _algorithm(alg, leaf)
        _probe(remote, leaf, chosen)
    except BaseException:
        remote.close()
        raise
    return SigningCredentials(tuple(chain), chosen, None, tsa_url, remote)


class CommandSigner:
    """Runs an external command per signature: bytes to sign on stdin, signature on stdout."""

    def __init__(self, command: str, alg: str, curve: ec.EllipticCurve | None, *,
                 timeout: float = COMMAND_TIMEOUT) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as e:
            raise UsageError(f"cannot parse --signer-command: {e}") from e
        if not self.argv:
            raise UsageError("--signer-command is empty")
        self.alg, self.curve, self.timeout = alg, curve, timeout
        self.description = f"signer command {self.argv[0]}"

    def sign(self, data: bytes) -> bytes:
        """Run the command once with `data` on its stdin; its stdout is the signature (DER ECDSA made raw)."""
        env = {**os.environ, "PROVENANCE_SIGN_ALG": self.alg}
        try:
            # stderr is left alone so the command's own diagnostics reach the user.
            proc = children.run(self.argv, input=data, stdout=subprocess.PIPE, env=env, timeout=self.timeout)
        except FileNotFoundError:
            raise CredentialError(f"{self.description}: command not found",
                                  remedy="Check --signer-command; give a full path if it is not on PATH.") from None
        except PermissionError:
            raise CredentialError(f"{self.description}: not executable") from None
        except subprocess.TimeoutExpired:
            raise SigningError(f"{self.description} gave no signature within {self.timeout:.0f} s") from None
        if proc.returncode != 0:
            raise SigningError(f"{self.description} exited with status {proc.returncode}",
                               remedy="See the command's own messages above.")
        signature: bytes = proc.stdout
        if not signature:
            raise SigningError(f"{self.description} wrote no signature on stdout")
        if self.curve is not None:
            return ecdsa_raw_signature(signature, self.curve)
        return signature

    def close(self) -> None:
        """Nothing to release: each signature is its own process."""


class _TokenSigner:
    def __init__(self, token: Any, alg: str) -> None:
        self.token = token
        self.description = token.description
        self._sign = token.sign_for(alg)

    def sign(self, data: bytes) -> bytes:
        signature: bytes = self._sign(data)
        return signature

    def close(self) -> None:
        self.token.close()


def from_command(command: str, cert: str | os.PathLike[str], *, alg: str | None = None,
                 tsa_url: str | None = None, timeout: float = COMMAND_TIMEOUT) -> SigningCredentials:
    """Credentials whose signatures come from an external command (the protocol is in docs/signing-and-keys.md)."""
    chain = pki.load_chain(cert)
    chosen = _algorithm(alg, chain[0])
    public = chain[0].public_key()
    curve = public.curve if isinstance(public, ec.EllipticCurvePublicKey) else None
    return _remote_credentials(CommandSigner(command, chosen, curve, timeout=timeout), chain, chosen, tsa_url)


def from_pkcs11(uri: str, cert: str | os.PathLike[str] | None, *, module: str | None, pin: SecretProvider | None,
                alg: str | None = None, tsa_url: str | None = None) -> SigningCredentials:
    """Credentials for a key on a PKCS#11 token; the chain comes from --cert or from the token."""
    from provenance.keys import pkcs11

    token = pkcs11.open_signer(uri, module, pin)
    try:
        if cert is not None:
            chain = pki.load_chain(cert)
        else:
            pool = [x509.load_der_x509_certificate(d) for d in token.certificates_der()]
            if not pool:
                raise UsageError(f"--cert is required: the token holds no certificate for {token.uri.describe()}",
                                 remedy="Pass the signer's certificate chain (PEM, leaf first) with --cert.")
            chain = order_chain(pool[0], pool)
        chosen = _algorithm(alg, chain[0])
        remote = _TokenSigner(token, chosen)
    except BaseException:
        token.close()
        raise
    return _remote_credentials(remote, chain, chosen, tsa_url)


def load_credentials(
    key: str,
    *,
    cert: str | os.PathLike[str] | None = None,
    alg: str | None = None,
    tsa_url: str | None = None,
    passphrase: SecretProvider | None = None,
    pin: SecretProvider | None = None,
    pkcs11_module: str | None = None,
) -> SigningCredentials:
    """Credentials from any key source --key accepts: PEM file, PKCS#12 bundle or PKCS#11 URI."""
    from provenance.keys import pkcs11

    if pkcs11.is_uri(key):
        return from_pkcs11(key, cert, module=pkcs11_module, pin=pin, alg=alg, tsa_url=tsa_url)
    key_file = load_key_file(key, passphrase)
    chain = _chain_for_key(key_file, cert, f"{key_file.kind} file {key}")
    return from_key(chain, key_file.key, alg=alg, tsa_url=tsa_url)
