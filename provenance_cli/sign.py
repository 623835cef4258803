from __future__ import annotations

from pathlib import Path

import click

from provenance.manifest import AI_TRAINING_CHOICES, EDIT_SOURCE_TYPES

from .options import alg_option, pkcs11_module_option, signer_command_option, signing_credentials
from .repository_options import soft_binding_option, store_location, store_option


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Where to write the signed clip.")
@click.option("--cert", type=click.Path(path_type=Path), envvar="PROVENANCE_CERT",
              help="Signer certificate chain, PEM, leaf first (optional when a PKCS#12 --key or the token "
                   "holds it).  [env: PROVENANCE_CERT]")
@click.option("--key", envvar="PROVENANCE_KEY", metavar="KEY",
              help="Signer private key: a PEM file (encrypted ones ask for PROVENANCE_KEY_PASSPHRASE or prompt), "
                   "a PKCS#12 bundle, or a pkcs11: URI (RFC 7512; PIN from PROVENANCE_PKCS11_PIN or a prompt).  "
                   "[env: PROVENANCE_KEY]")
@alg_option
@pkcs11_module_option
@signer_command_option
@click.option("--generator", envvar="PROVENANCE_GENERATOR",
              help="Name of the AI model/tool that made the clip, e.g. Sora.  [env: PROVENANCE_GENERATOR]")
@click.option("--generator-version", envvar="PROVENANCE_GENERATOR_VERSION",
              help="Version of the generator.  [env: PROVENANCE_GENERATOR_VERSION]")
@click.option("--title", envvar="PROVENANCE_TITLE", help="Title of the clip (default: input file name).")
@click.option("--ai-training", type=click.Choice(AI_TRAINING_CHOICES), envvar="PROVENANCE_AI_TRAINING",
              help="Record whether the clip may be used for AI training and data mining.")
@click.option("--parent", type=click.Path(path_type=Path), envvar="PROVENANCE_PARENT",
              help="The clip this one remixes/edits; recorded as its parent ingredient.")
@click.option("--edit-source", type=click.Choice(sorted(EDIT_SOURCE_TYPES)), default="composite",
              show_default=True, envvar="PROVENANCE_EDIT_SOURCE",
              help="With --parent: 'composite' (AI mixed into captured footage) or 'trained' (fully generated).")
@click.option("--tsa-url", envvar="PROVENANCE_TSA_URL",
              help="RFC 3161 time-stamping authority URL: the timestamp keeps the signature verifiable after the "
                   "certificate expires.  [env: PROVENANCE_TSA_URL]")
@click.option("--sidecar", is_flag=True, envvar="PROVENANCE_SIDECAR",
              help="Write a detached manifest OUTPUT.c2pa next to an unchanged copy.")
@click.option("--force", is_flag=True, envvar="PROVENANCE_FORCE", help="Overwrite an existing OUTPUT.")
@soft_binding_option
@store_option
def sign(input_path: Path, output: Path, cert: Path | None, key: str | None, alg: str | None,
         pkcs11_module: str | None, signer_command: str | None, generator: str | None,
         generator_version: str | None, title: str | None, ai_training: str | None, parent: Path | None,
         edit_source: str, tsa_url: str | None, sidecar: bool, force: bool, soft_binding: bool,
         store: str | None) -> None:
    """Sign INPUT as AI-generated and write the signed clip to OUTPUT.

    MP4, MOV, M4V, fragmented MP4 and AVI get an embedded manifest; WebM and MKV
    (or any input with --sidecar) get OUTPUT.c2pa beside an unchanged copy.
    """
    from provenance import signing
    from provenance.manifest import Disclosure

    disclosure = Disclosure(generator=generator, generator_version=generator_version, title=title,
                            ai_training=ai_training, edit_source=edit_source)
    credentials = signing_credentials(cert=cert, key=key, signer_command=signer_command, pkcs11_module=pkcs11_module,
                                      alg=alg, tsa_url=tsa_url)
    # Opened before signing, so an unusable --store fails before anything is written.
    repository = None
    if soft_binding:
        from provenance.durability.repository import open_repository

        repository = open_repository(store_location(store))
    try:
        try:
            result = signing.sign(input_path, output, credentials, disclosure, parent=parent, sidecar=sidecar,
                                  force=force, soft_binding=soft_binding,
                                  protected=_protected(cert, key, repository))
        finally:
            credentials.close()
        click.echo(f"signed {input_path} -> {result.output}")
        if result.sidecar is not None:
            click.echo(f"detached manifest: {result.sidecar}")
        if repository is not None and result.soft_binding is not None:
            from provenance.durability.recovery import register

            entry = register(repository, result.manifest_store)
            click.echo(f"soft binding: {result.soft_binding.iscc}")
            click.echo(f"registered manifest {entry.manifest_id} in {repository.location}")
    finally:
        if repository is not None:
            repository.close()


def _protected(cert: Path | None, key: str | None, repository: object) -> dict[str, Path]:
    """Files besides the clips that signing uses: no output may overwrite them, even with --force."""
    files = {"certificate": cert} if cert is not None else {}
    if key and not key.lower().startswith("pkcs11:"):
        files["key"] = Path(key)
    store = getattr(repository, "path", None)  # the SQLite manifest repository, when that is the store
    if isinstance(store, Path):
        files["manifest repository"] = store
    return files
