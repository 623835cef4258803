"""Options for the manifest repository, shared by sign, verify and serve-repository."""

from __future__ import annotations

import click

store_option = click.option(
    "--store", envvar="PROVENANCE_STORE", metavar="PATH|URL",
    help="Manifest repository: a SQLite file, or postgresql://user@host/db. Default: "
         "<data dir>/provenance/manifests.sqlite3.  [env: PROVENANCE_STORE]")

resolver_option = click.option(
    "--resolver", envvar="PROVENANCE_RESOLVER", metavar="URL",
    help="Look up stripped or re-encoded files on this C2PA Soft Binding Resolution API server instead of "
         "the local --store.  [env: PROVENANCE_RESOLVER]")

recovery_option = click.option(
    "--recovery/--no-recovery", default=True, show_default=True, envvar="PROVENANCE_RECOVERY",
    help="For a file without credentials (or whose content changed), look its ISCC Video-Codes (whole clip and "
         "2-second windows) up in the manifest repository and report every manifest claiming its content (only a "
         "trusted one counts as the original credentials).  "
         "[env: PROVENANCE_RECOVERY]")

soft_binding_option = click.option(
    "--soft-binding/--no-soft-binding", default=True, show_default=True, envvar="PROVENANCE_SOFT_BINDING",
    help="Record the clip's ISCC Video-Codes (c2pa.soft-binding, io.iscc.v0: the whole clip and its 2-second "
         "segments) and register the manifest in the --store repository, so stripped, re-encoded or trimmed copies "
         "can be traced.  [env: PROVENANCE_SOFT_BINDING]")


def store_location(store: str | None) -> str | None:
    """An empty --store / PROVENANCE_STORE means the default location."""
    return store or None
