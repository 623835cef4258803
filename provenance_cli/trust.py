"""`provenance trust`: the trust in force, a signed file's certificate chain, updating the official lists, and
where the trust files live."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from provenance.errors import UsageError
from provenance.trust.update import DEFAULT_URL

from .options import option, warn_if_stale


@click.group()
def trust() -> None:
    """Inspect signer certificates and the trust configuration; update the official trust lists."""


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
    if report.trust_entity is not None:
        lines.append(f"on a trust list: {report.trust_entity.name} ({report.trust_entity.list}); looked up, not "
                     "validated (use verify)")
    lines.append(f"to pin this signer: --allowed-signer {report.signer_chain[0].sha256}")
    return "\n".join(lines)


def _date(iso: str | None) -> str:
    return (iso or "?")[:10]


def _list_lines(label: str, data: dict[str, Any] | None) -> list[str]:
    """One kind of trust in force (signers or TSAs) as text: an anchor file, or an official list and its entities."""
    if data is None:
        return [f"{label}: nobody (no trust anchors, and the official lists are off)"]
    if data["source"] == "file":
        return [f"{label}: the anchors in {data['name']} ({data['certificates']} certificates); the official lists "
                "are not in force"]
    stale = " (STALE: run `provenance trust update`)" if data["stale"] else ""
    lines = [f"{label}: {data['name']}, issued {_date(data['issued'])}, next update {_date(data['next_update'])}"
             f"{stale}, {data['source']} ({data['location']})",
             f"  {len(data['entities'])} entities, {data['certificates']} certificates:"]
    for entity in data["entities"]:
        services = [s["name"] + ("" if s["trusted"] else " (withdrawn)") for s in entity["services"]]
        lines.append(f"  {entity['name']}: {'; '.join(services)}")
    return lines


def render_trust(data: dict[str, Any]) -> str:
    """The trust in force as text: signers, time-stamping authorities, and the interim list."""
    lines = _list_lines("signers", data["signers"]) + _list_lines("timestamps", data["tsa"])
    interim = data["interim"]
    if interim is not None:
        organisations = sorted({a["organisation"] for a in interim["anchors"]})
        lines += [f"legacy: the {interim['name']}, frozen {_date(interim['frozen'])}, {interim['source']} "
                  f"({interim['location']}): {len(interim['anchors'])} root CAs and {interim['allowed_certificates']} "
                  f"allowed signer certificates, trusted only for content a trusted timestamp dates before "
                  f"{_date(interim['frozen'])}",
                  f"  {', '.join(organisations)}"]
    return "\n".join(lines)


@trust.command("show")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@option("--format", "output_format", type=click.Choice(["text", "json", "pem"]), default="text", show_default=True,
        env="PROVENANCE_TRUST_FORMAT",
        help="text for people, json for scripts, pem for FILE's signer chain as PEM (e.g. to save a CA as a "
             "trust anchor).")
def show(file: Path | None, output_format: str) -> None:
    """Print the trust in force, or the signer certificate chain of a signed FILE.

    \b
    Without FILE: the official C2PA trust lists verify uses when no trust
    anchors are given (their entities, issue and next-update dates, and
    whether they are bundled or fetched by `trust update`), or the per-user
    anchor files that replace them.

    With FILE: subjects, issuers, validity, EKUs and SHA-256 fingerprints of
    the signer's chain and of the timestamp authority, without judging them,
    so you can decide what to pin (--allowed-signer) or trust
    (--trust-anchors); and the trust list entry the chain ends at. Use
    `verify` to check. Exit 0 on success, 1 when FILE has no readable C2PA
    manifest.
    """
    from provenance.trust.lists import lists_in_force
    from provenance.trust.policy import default_policy
    from provenance.trust.show import chain_report, trust_report

    if file is None:
        if output_format == "pem":
            raise UsageError("--format pem prints a FILE's signer chain", remedy="Give a FILE, or --format text/json.")
        policy = default_policy()
        warn_if_stale(policy.lists)
        data = trust_report(policy)
        click.echo(json.dumps(data, indent=2) if output_format == "json" else render_trust(data))
        return
    report = chain_report(file, lists_in_force())
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
    """Print where the per-user trust files and the trust lists are.

    The anchor files are used when neither the option nor its environment
    variable is given; the fetched lists (`trust update`) when they are newer
    than the bundled ones.
    """
    from provenance.trust.anchors import default_anchors_path, default_tsa_anchors_path
    from provenance.trust.lists import BUNDLED_DIR, fetched_dir

    for label, path in (("trust anchors", default_anchors_path()), ("TSA trust anchors", default_tsa_anchors_path()),
                        ("fetched trust lists", fetched_dir()), ("bundled trust lists", BUNDLED_DIR)):
        state = "present" if path.exists() else "absent"
        click.echo(f"{label + ':':20} {path} ({state})")


@trust.command("update")
@option("--url", default=DEFAULT_URL, show_default=True, env="PROVENANCE_TRUST_URL", metavar="BASE",
        help="Where the four list files are (C2PA-TRUST-LIST.pem/.json, C2PA-TSA-TRUST-LIST.pem/.json): https, or "
             "http only to 127.0.0.1/localhost.")
def update(url: str) -> None:
    """Fetch the official C2PA trust lists into the user data folder.

    \b
    Fetches the C2PA Trust List and the C2PA TSA Trust List, each as PEM and
    LoTE JSON, and keeps them only when every file parses, follows the LoTE
    schema, lists certificates, agrees between PEM and JSON, and is no older
    (issue date, sequence number) than the list in force. Then all four files
    are written together; otherwise nothing is. From then on verify and check
    use the newer of the bundled and the fetched lists.
    Exit 0 when updated or already up to date, 1 when refused or unreachable,
    2 for a bad --url.
    """
    from provenance.trust.update import update as update_lists

    result = update_lists(url)
    for change in result.lists:
        before, after = change.previous, change.fetched
        what = (f"issued {after.issued:%Y-%m-%d} (sequence {after.sequence}), replacing the {before.source} list "
                f"of {before.issued:%Y-%m-%d}" if change.newer else f"up to date (issued {after.issued:%Y-%m-%d})")
        click.echo(f"{after.name}: {what}; {len(after.entities)} entities, {after.anchors.count} certificates")
        if change.newer and after.stale():
            click.echo(f"provenance: warning: the fetched {after.name} was already due to be replaced on "
                       f"{after.next_update:%Y-%m-%d}", err=True)
    click.echo(f"written to {result.folder}" if result.written else "nothing written: the lists in force are current")
