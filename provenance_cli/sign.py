"""`provenance sign`: sign a clip as AI-generated, and register its manifest for tracing copies."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .options import (
    KEY_PASSPHRASE_ENV,
    PKCS11_PIN_ENV,
    WatermarkProgress,
    disclosure_options,
    force_option,
    load_trust_policy,
    option,
    parent_trust_options,
    sidecar_option,
    signer_options,
    soft_binding_option,
    store_option,
    tsa_url_option,
    watermark_encoding_options,
    watermark_option,
    watermark_settings,
)

if TYPE_CHECKING:
    from provenance.keys.signers import SigningCredentials
    from provenance.signing import SignResult

__all__ = ["KEY_PASSPHRASE_ENV", "PKCS11_PIN_ENV", "secret_provider", "sign", "signing_credentials"]


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@option("-o", "--output", required=True, type=click.Path(path_type=Path), env="PROVENANCE_SIGN_OUTPUT",
        help="Where to write the signed clip.")
@signer_options
@disclosure_options
@parent_trust_options
@tsa_url_option
@sidecar_option
@force_option("Overwrite an existing OUTPUT.")
@soft_binding_option
@store_option
@watermark_option
@watermark_encoding_options
def sign(input_path: Path, output: Path, cert: Path | None, key: str | None, alg: str | None,
         pkcs11_module: str | None, signer_command: str | None, generator: str | None,
         generator_version: str | None, title: str | None, ai_training: str | None, parent: Path | None,
         edit_source: str, trust_anchors: Path | None, tsa_trust_anchors: Path | None, no_default_trust: bool,
         tsa_url: str | None, sidecar: bool, force: bool, soft_binding: bool, store: str | None, watermark: bool,
         codec: str | None, crf: int | None) -> None:
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
    watermark_settings(watermark, codec, crf)  # a usage error before anything is decoded
    try:
        with WatermarkProgress("Marking") as progress:
            marking = watermark_settings(watermark, codec, crf, progress)
            result, registration = signing.sign_and_register(
                input_path, output, credentials, disclosure, store=store, soft_binding=soft_binding, parent=parent,
                sidecar=sidecar, force=force, protected=_key_files(cert, key), on_signed=signed,
                parent_trust=parent_trust, watermark=marking)
    finally:
        credentials.close()
    if result.watermark is not None:
        click.echo(f"watermark: id {result.watermark.hex} (org.provenance.wm.v1)")
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
