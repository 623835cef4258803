"""Options shared by several commands; each has a PROVENANCE_* environment variable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from provenance.keys.algorithms import ALGORITHMS

alg_option = click.option(
    "--alg", type=click.Choice(ALGORITHMS, case_sensitive=False), default=None, envvar="PROVENANCE_ALG",
    help="Signature algorithm (default: inferred from the key).  [env: PROVENANCE_ALG]")

trust_anchors_option = click.option(
    "--trust-anchors", type=click.Path(path_type=Path), envvar="PROVENANCE_TRUST_ANCHORS",
    help="PEM bundle of trusted root/intermediate CAs (e.g. the C2PA trust list). Given anchors make an "
         "untrusted signer fail. Default: <config dir>/provenance/trust-anchors.pem when it exists.  "
         "[env: PROVENANCE_TRUST_ANCHORS]")

tsa_trust_anchors_option = click.option(
    "--tsa-trust-anchors", type=click.Path(path_type=Path), envvar="PROVENANCE_TSA_TRUST_ANCHORS",
    help="PEM bundle of trusted time-stamping authority CAs (e.g. the C2PA TSA trust list). Given anchors make "
         "a file without a trusted timestamp fail. Default: <config dir>/provenance/tsa-trust-anchors.pem "
         "when it exists.  [env: PROVENANCE_TSA_TRUST_ANCHORS]")

allowed_signer_option = click.option(
    "--allowed-signer", "allowed_signers", multiple=True, envvar="PROVENANCE_ALLOWED_SIGNERS",
    metavar="SHA256",
    help="Accept only a signer certificate with this SHA-256 fingerprint (repeatable; see `provenance trust "
         "show`). Any other signer fails.  [env: PROVENANCE_ALLOWED_SIGNERS, space-separated]")


def load_trust_anchors(path: Path | None) -> Any:
    """--trust-anchors, else the per-user default file when it exists, else None."""
    from provenance.trust.anchors import default_anchors_path, load_anchors, load_default

    return load_anchors(path) if path is not None else load_default(default_anchors_path())


def load_tsa_trust_anchors(path: Path | None) -> Any:
    from provenance.trust.anchors import default_tsa_anchors_path, load_anchors, load_default

    return load_anchors(path) if path is not None else load_default(default_tsa_anchors_path())


def load_allowed_signers(values: tuple[str, ...]) -> frozenset[str]:
    from provenance.trust.anchors import parse_fingerprints

    return parse_fingerprints(values)


# --- signing keys ---

KEY_PASSPHRASE_ENV = "PROVENANCE_KEY_PASSPHRASE"
PKCS11_PIN_ENV = "PROVENANCE_PKCS11_PIN"

pkcs11_module_option = click.option(
    "--pkcs11-module", envvar="PROVENANCE_PKCS11_MODULE", metavar="PATH",
    help="PKCS#11 library of the HSM/token, for a pkcs11: --key, e.g. /usr/lib/softhsm/libsofthsm2.so.  "
         "[env: PROVENANCE_PKCS11_MODULE]")

signer_command_option = click.option(
    "--signer-command", envvar="PROVENANCE_SIGNER_COMMAND", metavar="CMD",
    help="Sign with an external command instead of --key: it gets the bytes to sign on stdin and writes the "
         "signature to stdout (protocol in the README). Needs --cert.  [env: PROVENANCE_SIGNER_COMMAND]")


def secret_provider(env_name: str, label: str) -> Any:
    """Secrets come from `env_name`, else a hidden prompt on a terminal; never from the command line."""
    import os
    import sys

    def provide(what: str) -> bytes | None:
        value = os.environ.get(env_name)
        if value is not None:
            return value.encode()
        if sys.stdin.isatty():
            entered: str = click.prompt(f"{label} for {what}", hide_input=True, err=True)
            return entered.encode()
        return None

    return provide


def signing_credentials(*, cert: Path | None, key: str | None, signer_command: str | None,
                        pkcs11_module: str | None, alg: str | None, tsa_url: str | None) -> Any:
    """SigningCredentials from --key (PEM, PKCS#12 or pkcs11: URI) or --signer-command."""
    from provenance.errors import UsageError
    from provenance.keys import signers

    if key and signer_command:
        raise UsageError("give either --key or --signer-command, not both")
    if signer_command:
        if cert is None:
            raise UsageError("--signer-command needs --cert", remedy="Pass the signer's certificate chain, PEM.")
        return signers.from_command(signer_command, cert, alg=alg, tsa_url=tsa_url)
    if not key:
        raise UsageError("no signing key", remedy="Pass --key (PEM, PKCS#12 or pkcs11: URI) or --signer-command.")
    return signers.load_credentials(
        key, cert=cert, alg=alg, tsa_url=tsa_url, pkcs11_module=pkcs11_module,
        passphrase=secret_provider(KEY_PASSPHRASE_ENV, "Passphrase"),
        pin=secret_provider(PKCS11_PIN_ENV, "PIN"),
    )
