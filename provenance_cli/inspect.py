"""`provenance inspect`: a file's whole C2PA manifest store, as JSON."""

from __future__ import annotations

from pathlib import Path

import click

from .options import option


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@option("--detailed", is_flag=True, env="PROVENANCE_INSPECT_DETAILED",
        help="Print c2pa's detailed report (claims, signatures, hashes).")
@option("--format", "output_format", type=click.Choice(["json", "crjson"]), default="json", show_default=True,
        env="PROVENANCE_INSPECT_FORMAT",
        help="c2pa's manifest store report (json), or its crJSON (crjson): the form the C2PA Conformance "
             "Program reads.")
def inspect(file: Path, detailed: bool, output_format: str) -> None:
    """Print FILE's full C2PA manifest store as JSON."""
    from provenance.errors import UsageError
    from provenance.inspect import manifest_store_json

    if detailed and output_format == "crjson":
        raise UsageError("--detailed is a form of the json report, not of crjson", remedy="Give one of them.")
    click.echo(manifest_store_json(file, detailed=detailed, crjson=output_format == "crjson"))
