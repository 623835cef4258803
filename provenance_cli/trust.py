"""`provenance trust`: a signed file's certificate chain, and where the trust files live."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from .options import option


@click.group()
def trust() -> None:
    """Inspect signer certificates and the trust configuration."""


def _validity(info: Any, now: dt.datetime) -> str:
    start, end = dt.datetime.fromisoformat(info.not_before), dt.datetime.fromisoformat(info.not_after)
    state = " (EXPIRED)" if end < now else " (not yet valid)" if start > now else ""
    return f"{start:%Y-%m-%d %H:%M:%S} UTC to {end:%Y-%m-%d %H:%M:%S} UTC{state}"


def _certificate_lines(index: int, info: Any, now: dt.datetime) -> list[str]:
    return [
        f"  [{index}] {info.role}{' (CA)' if info.is_ca else ''}",
        f"      subject:   {info.subject}",
        f"      issuer:    {info.issuer}",
        f"      serial:    {info.serial}",
        f"      validity:  {_validity(info, now)}",
        f"      key:       {info.key}",
        f"      EKUs:      {', '.join(info.extended_key_usages) or '(none)'}",
        f"      SHA-256:   {info.sha256}",
    ]


def render_chain(report: Any) -> str:
    """A chain report as text: each certificate of the signer's chain, then the timestamp authority's."""
    now = dt.datetime.now(dt.timezone.utc)
    lines = [f"{report.path}: signer certificate chain ({report.manifest_source} manifest, leaf first)"]
    for i, info in enumerate(report.signer_chain):
        lines += _certificate_lines(i, info, now)
    if report.timestamp_time:
        lines.append(f"timestamp: {report.timestamp_time} (RFC 3161; the authority's chain follows)")
        for i, info in enumerate(report.tsa_chain):
            lines += _certificate_lines(i, info, now)
    else:
        lines.append("timestamp: none (the signature cannot be proven to predate the certificate's expiry)")
    lines.append(f"to pin this signer: --allowed-signer {report.signer_chain[0].sha256}")
    return "\n".join(lines)


@trust.command("show")
@click.argument("file", type=click.Path(path_type=Path))
@option("--format", "output_format", type=click.Choice(["text", "json", "pem"]), default="text", show_default=True,
        env="PROVENANCE_TRUST_FORMAT",
        help="text for people, json for scripts, pem for the signer chain as PEM (e.g. to save a CA as a "
             "trust anchor).")
def show(file: Path, output_format: str) -> None:
    """Print the signer certificate chain of a signed FILE, without judging it.

    Shows subjects, issuers, validity, EKUs and SHA-256 fingerprints of the
    signer's chain and of the timestamp authority, so you can decide what to
    pin (--allowed-signer) or trust (--trust-anchors). Use `verify` to check.
    Exit 0 on success, 1 when FILE has no readable C2PA manifest.
    """
    from provenance.trust.show import chain_report

    report = chain_report(file)
    if output_format == "json":
        data = report.to_dict()
        for info in [*data["signer_chain"], *data["tsa_chain"]]:
            info.pop("pem", None)
        click.echo(json.dumps(data, indent=2))
    elif output_format == "pem":
        click.echo("".join(info.pem for info in report.signer_chain), nl=False)
    else:
        click.echo(render_chain(report))


@trust.command("paths")
def paths() -> None:
    """Print where the per-user default trust anchor files are looked for.

    They are used when neither the option nor its environment variable is given.
    """
    from provenance.trust.anchors import default_anchors_path, default_tsa_anchors_path

    for label, path in (("trust anchors", default_anchors_path()), ("TSA trust anchors", default_tsa_anchors_path())):
        state = "present" if path.is_file() else "absent"
        click.echo(f"{label + ':':20} {path} ({state})")
