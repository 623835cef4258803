"""`provenance inspect`: a file's whole C2PA manifest store, as JSON."""

from __future__ import annotations

from pathlib import Path

import click

from .options import option


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@option("--detailed", is_flag=True, env="PROVENANCE_INSPECT_DETAILED",
        help="Print c2pa's detailed report (claims, signatures, hashes).")
def inspect(file: Path, detailed: bool) -> None:
    """Print FILE's full C2PA manifest store as JSON."""
    from provenance.inspect import manifest_store_json

    click.echo(manifest_store_json(file, detailed=detailed))
