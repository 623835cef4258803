from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--detailed", is_flag=True, help="Print c2pa's detailed report (claims, signatures, hashes).")
def inspect(file: Path, detailed: bool) -> None:
    """Print FILE's full C2PA manifest store as JSON."""
    from provenance.inspect import manifest_store_json

    click.echo(manifest_store_json(file, detailed=detailed))
