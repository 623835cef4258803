"""`provenance keys`: create signing keys."""

from __future__ import annotations

from pathlib import Path

import click

from provenance.keys.algorithms import ALGORITHMS

from .options import force_option, option


@click.group()
def keys() -> None:
    """Create and manage signing keys."""


@keys.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@option("--alg", type=click.Choice(ALGORITHMS, case_sensitive=False), default="es256", show_default=True,
        env="PROVENANCE_KEYS_ALG", help="Key algorithm.")
@option("--org", default="Provenance Dev", show_default=True, env="PROVENANCE_ORG",
        help="Organisation name in the certificates.")
@force_option("Overwrite existing files.")
def init(directory: Path, alg: str, org: str, force: bool) -> None:
    """Create a development PKI: root CA, intermediate CA and a C2PA signing certificate.

    Hand DIR/root-ca.pem to verifiers as a trust anchor; sign with
    DIR/signer-chain.pem and DIR/signer.key. For development and tests only.
    """
    from provenance.keys.pki import init_dev_pki

    pki = init_dev_pki(directory, alg=alg, org=org, force=force)
    click.echo(f"trust anchor:  {pki.root_ca}")
    click.echo(f"signer chain:  {pki.signer_chain}")
    click.echo(f"signer key:    {pki.signer_key} (mode 0600)")
    click.echo(f"algorithm:     {pki.algorithm}")
