"""A real PKCS#11 token for tests: SoftHSM2, with a key pair per C2PA algorithm and a certificate for each.

The private keys are made on the token, sensitive and not extractable, as on a real HSM; the
certificates are issued by a `CertAuthority` and written as PEM chains beside the token.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from provenance.keys.algorithms import ALGORITHMS
from provenance.keys.pki import PublicKey, chain_pem
from tests.support.pki import CertAuthority

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)
MODULE = next((m for m in MODULE_CANDIDATES if Path(m).is_file()), None)
AVAILABLE = MODULE is not None and shutil.which("softhsm2-util") is not None
UNAVAILABLE_REASON = ("SoftHSM2 is not installed "
                      "(Debian/Ubuntu: apt-get install softhsm2; `make test-deps` does it as root)")

TOKEN = "provenance-test"
PIN = "246810"
SO_PIN = "13579111"
PIN_ENV = "PROVENANCE_PKCS11_PIN"


@dataclass(frozen=True)
class Token:
    """A SoftHSM2 token made for a test: its module, config, the chain issued for each key, and their root."""

    module: str
    conf: Path
    chains: dict[str, Path]  # algorithm → PEM chain of the certificate issued for the token's key
    ca_root: Path
    env: dict[str, str]  # what a `provenance` process needs to use the token: its config and the PIN

    def uri(self, alg: str, **extra: str) -> str:
        """The pkcs11: URI of the token's key for `alg`; `extra` attributes added or overriding."""
        attrs = {"token": TOKEN, "object": f"signer-{alg}", **extra}
        return "pkcs11:" + ";".join(f"{k}={v}" for k, v in attrs.items())


def _public_key(pkcs11_public: Any) -> PublicKey:
    from asn1crypto.core import OctetString
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_ec_public_key
    from pkcs11.util.rsa import encode_rsa_public_key

    if pkcs11_public.key_type == KeyType.EC:
        key = serialization.load_der_public_key(encode_ec_public_key(pkcs11_public))
    elif pkcs11_public.key_type == KeyType.RSA:
        key = serialization.load_der_public_key(encode_rsa_public_key(pkcs11_public))
    else:
        key = ed25519.Ed25519PublicKey.from_public_bytes(OctetString.load(pkcs11_public[Attribute.EC_POINT]).native)
    assert isinstance(key, PublicKey)
    return key


def _generate(session: Any, alg: str) -> Any:
    """A key pair made on the token; the private half is sensitive and not extractable."""
    from asn1crypto.core import ObjectIdentifier
    from pkcs11 import Attribute, KeyType, Mechanism
    from pkcs11.util.ec import encode_named_curve_parameters

    label, key_id = f"signer-{alg}", alg.encode()
    private = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True}
    if alg.startswith("ps"):
        public, _ = session.generate_keypair(KeyType.RSA, 2048, store=True, label=label, id=key_id,
                                             private_template=private)
        return public
    if alg == "ed25519":
        params = session.create_domain_parameters(
            KeyType.EC_EDWARDS, {Attribute.EC_PARAMS: ObjectIdentifier("1.3.101.112").dump()}, local=True)
        public, _ = params.generate_keypair(store=True, label=label, id=key_id, private_template=private,
                                            mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN)
        return public
    curve = {"es256": "secp256r1", "es384": "secp384r1", "es512": "secp521r1"}[alg]
    params = session.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True)
    public, _ = params.generate_keypair(store=True, label=label, id=key_id, private_template=private)
    return public


def _store_certificate(session: Any, cert: x509.Certificate, label: str, key_id: bytes) -> None:
    from pkcs11 import Attribute, CertificateType, ObjectClass

    session.create_object({
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        Attribute.TOKEN: True,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
        Attribute.SUBJECT: cert.subject.public_bytes(),
        Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
    })


@contextmanager
def softhsm_token(directory: Path, algorithms: Sequence[str] = ALGORITHMS) -> Iterator[Token]:
    """A token built in `directory` with a key for each of `algorithms`; skips the test where SoftHSM2 is absent.

    SOFTHSM2_CONF points at it in this process meanwhile (the module reads it there too). The es256 key,
    when made, also has its certificate and the intermediate's stored on the token.
    """
    import pkcs11

    if not AVAILABLE or MODULE is None:
        pytest.skip(UNAVAILABLE_REASON)
    (directory / "tokens").mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN,
                        "--so-pin", SO_PIN], check=True, capture_output=True, env=os.environ)
        ca = CertAuthority("Token Test Root")
        chains: dict[str, Path] = {}
        lib = pkcs11.lib(MODULE)
        lib.reinitialize()  # the token was created after the module was first loaded in this process
        with lib.get_token(token_label=TOKEN).open(rw=True, user_pin=PIN) as session:
            for alg in algorithms:
                chain = ca.issue(_public_key(_generate(session, alg)), f"HSM Signer {alg}")
                chains[alg] = directory / f"{alg}-chain.pem"
                chains[alg].write_bytes(chain_pem(chain))
                if alg == "es256":  # one key whose certificates live on the token too
                    _store_certificate(session, chain[0], "signer-es256", b"es256")
                    _store_certificate(session, chain[1], "intermediate", b"ca")
        yield Token(MODULE, conf, chains, ca.write_root(directory / "root.pem"),
                    {"SOFTHSM2_CONF": str(conf), PIN_ENV: PIN})
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous
