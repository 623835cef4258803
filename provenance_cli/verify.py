"""`provenance verify`: verdicts on the C2PA credentials of files, for people or scripts."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import EXIT_FAILED, EXIT_OK
from .options import default_lists, load_trust_anchors, option, recovery_options, trust_options


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@trust_options
@option("--format", "output_format", type=click.Choice(["text", "json", "crjson"]), default="text",
        show_default=True, env="PROVENANCE_VERIFY_FORMAT",
        help="Output format; crjson: c2pa's crJSON report of each file, in a JSON array.")
@recovery_options
def verify(files: tuple[Path, ...], trust_anchors: Path | None, tsa_trust_anchors: Path | None,
           no_default_trust: bool, allowed_signers: tuple[str, ...], output_format: str, recovery: bool,
           store: str | None, resolver: str | None) -> None:
    """Verify the C2PA credentials of FILES.

    \b
    Verdicts: trusted, valid (signer not trusted), invalid, unsigned, error.
    Without trust anchors, signers and timestamps are judged against the
    official C2PA trust lists (see `provenance trust show`).
    Exit 0 when every file passes; 1 when any file is invalid, unsigned or
    unreadable, or only valid while --trust-anchors was given, or fails a trust
    setting (--allowed-signer, --tsa-trust-anchors); 2 on usage errors.
    Credentials recovered from the manifest repository for a stripped or
    re-encoded file are reported, but never make that file pass.
    """
    from provenance.codes import explain
    from provenance.errors import ProvenanceError
    from provenance.trust.anchors import parse_fingerprints
    from provenance.verify import Verifier

    from .render import crjson_array, verdicts_json, verdicts_text

    anchors, tsa_anchors = load_trust_anchors(trust_anchors), load_trust_anchors(tsa_trust_anchors, tsa=True)
    verifier = Verifier(anchors, tsa_anchors=tsa_anchors, allowed_signers=parse_fingerprints(allowed_signers),
                        lists=default_lists(anchors, tsa_anchors, no_default_trust))
    documents: list[str | None] = []
    if output_format == "crjson":
        # c2pa's report needs its full Reader; recovery adds nothing to it, and never makes a file pass.
        read = [verifier.verify_with_crjson(f) for f in files]
        verdicts, documents = [v for v, _ in read], [d for _, d in read]
    else:
        verdicts = [verifier.verify(f) for f in files]
    if recovery and output_format != "crjson":
        from provenance.durability.recovery import recover_all

        try:
            verdicts = recover_all(verdicts, verifier, store=store, resolver=resolver)
        except ProvenanceError as e:  # the verdicts stand without recovery; say why it is missing
            click.echo(f"provenance: warning: no recovery: {e.one_line()}", err=True)
    if output_format == "crjson":
        click.echo(crjson_array(documents))
    else:
        click.echo(verdicts_json(verdicts) if output_format == "json" else verdicts_text(verdicts))
    for v in verdicts:
        if v.error:
            click.echo(f"provenance: error: {v.error}", err=True)
    for v, document in zip(verdicts, documents, strict=False):
        if document is None and not v.error:  # c2pa read it, but nothing it says is believed (several stores)
            click.echo(f"provenance: error: {v.path}: no crJSON: {'; '.join(map(explain, v.failure_codes))}", err=True)
    failed = [v for v in verdicts if not v.passed]
    if failed and output_format == "text" and len(verdicts) > 1:
        click.echo(f"\n{len(failed)} of {len(verdicts)} files failed verification", err=True)
    sys.exit(EXIT_FAILED if failed else EXIT_OK)
