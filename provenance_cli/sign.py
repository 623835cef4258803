"""`provenance sign`: sign a clip as AI-generated, and register its manifest for tracing copies."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from provenance.keys.algorithms import ALGORITHMS
from provenance.manifest import AI_TRAINING_CHOICES, EDIT_SOURCE_TYPES

from .options import force_option, load_trust_policy, option, parent_trust_options, store_option

if TYPE_CHECKING:
    from provenance.keys.signers import SigningCredentials
    from provenance.signing import SignResult

KEY_PASSPHRASE_ENV = "PROVENANCE_KEY_PASSPHRASE"
PKCS11_PIN_ENV = "PROVENANCE_PKCS11_PIN"


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@option("-o", "--output", required=True, type=click.Path(path_type=Path), env="PROVENANCE_SIGN_OUTPUT",
        help="Where to write the signed clip.")
@option("--cert", type=click.Path(path_type=Path), env="PROVENANCE_CERT",
        help="Signer certificate chain, PEM, leaf first (optional when a PKCS#12 --key or the token holds it).")
@option("--key", env="PROVENANCE_KEY", metavar="KEY",
        help=f"Signer private key: a PEM file (encrypted ones ask for {KEY_PASSPHRASE_ENV} or prompt), a PKCS#12 "
             f"bundle, or a pkcs11: URI (RFC 7512; PIN from {PKCS11_PIN_ENV} or a prompt).")
@option("--alg", type=click.Choice(ALGORITHMS, case_sensitive=False), default=None, env="PROVENANCE_ALG",
        help="Signature algorithm (default: inferred from the key).")
@option("--pkcs11-module", env="PROVENANCE_PKCS11_MODULE", metavar="PATH",
        help="PKCS#11 library of the HSM/token, for a pkcs11: --key, e.g. /usr/lib/softhsm/libsofthsm2.so.")
@option("--signer-command", env="PROVENANCE_SIGNER_COMMAND", metavar="CMD",
        help="Sign with an external command instead of --key: it gets the bytes to sign on stdin and writes the "
             "signature to stdout (protocol in docs/signing-and-keys.md). Needs --cert.")
@option("--generator", env="PROVENANCE_GENERATOR", help="Name of the AI model/tool that made the clip, e.g. Sora.")
@option("--generator-version", env="PROVENANCE_GENERATOR_VERSION", help="Version of the generator.")
@option("--title", env="PROVENANCE_TITLE", help="Title of the clip (default: input file name).")
@option("--ai-training", type=click.Choice(AI_TRAINING_CHOICES), env="PROVENANCE_AI_TRAINING",
        help="Record whether the clip may be used for AI training and data mining.")
@option("--parent", type=click.Path(path_type=Path), env="PROVENANCE_PARENT",
        help="The clip this one remixes/edits; recorded as its parent ingredient.")
@option("--edit-source", type=click.Choice(sorted(EDIT_SOURCE_TYPES)), default="composite", show_default=True,
        env="PROVENANCE_EDIT_SOURCE",
        help="With --parent: 'composite' (AI mixed into captured footage) or 'trained' (fully generated).")
@parent_trust_options
@option("--tsa-url", env="PROVENANCE_TSA_URL",
        help="RFC 3161 time-stamping authority URL: the timestamp keeps the signature verifiable after the "
             "certificate expires.")
@option("--sidecar", is_flag=True, env="PROVENANCE_SIDECAR",
        help="Write a detached manifest OUTPUT.c2pa next to an unchanged copy.")
@force_option("Overwrite an existing OUTPUT.")
@option("--soft-binding/--no-soft-binding", default=True, show_default=True, env="PROVENANCE_SOFT_BINDING",
        help="Record the clip's ISCC Video-Codes (c2pa.soft-binding, io.iscc.v0: the whole clip and its 2-second "
             "segments) and register the manifest in the --store repository, so stripped, re-encoded or trimmed "
             "copies can be traced.")
@store_option
def sign(input_path: Path, output: Path, cert: Path | None, key: str | None, alg: str | None,
         pkcs11_module: str | None, signer_command: str | None, generator: str | None,
         generator_version: str | None, title: str | None, ai_training: str | None, parent: Path | None,
         edit_source: str, trust_anchors: Path | None, tsa_trust_anchors: Path | None, no_default_trust: bool,
         tsa_url: str | None, sidecar: bool, force: bool, soft_binding: bool, store: str | None) -> None:
    """Sign INPUT as AI-generated and write the signed clip to OUTPUT.

    MP4, MOV, M4V, fragmented MP4 and AVI get an embedded manifest; WebM and MKV
    (or any input with --sidecar) get OUTPUT.c2pa beside an unchanged copy.
    """
    from provenance import signing
    from provenance.manifest import Disclosure

    def signed(result: SignResult) -> None:
        click.echo(f"signed {input_path} -> {result.output}")
        if result.sidecar is not None:
            click.echo(f"detached manifest: {result.sidecar}")

    disclosure = Disclosure(generator=generator, generator_version=generator_version, title=title,
                            ai_training=ai_training, edit_source=edit_source)
    parent_trust = (load_trust_policy(trust_anchors, tsa_trust_anchors, no_default_trust)
                    if parent is not None else None)
    credentials = signing_credentials(cert=cert, key=key, signer_command=signer_command, pkcs11_module=pkcs11_module,
                                      alg=alg, tsa_url=tsa_url)
    try:
        result, registration = signing.sign_and_register(
            input_path, output, credentials, disclosure, store=store, soft_binding=soft_binding, parent=parent,
            sidecar=sidecar, force=force, protected=_key_files(cert, key), on_signed=signed,
            parent_trust=parent_trust)
    finally:
        credentials.close()
    if registration is not None and result.soft_binding is not None:
        click.echo(f"soft binding: {result.soft_binding.iscc}")
        click.echo(f"registered manifest {registration.manifest_id} in {registration.location}")


def _key_files(cert: Path | None, key: str | None) -> dict[str, Path]:
    """The certificate and key files signing reads: no output may overwrite them, even with --force."""
    files = {"certificate": cert} if cert is not None else {}
    if key and not key.lower().startswith("pkcs11:"):
        files["key"] = Path(key)
    return files


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
                        pkcs11_module: str | None, alg: str | None, tsa_url: str | None) -> SigningCredentials:
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
