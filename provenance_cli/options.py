"""How options are declared, and the options several commands share.

Every option has a PROVENANCE_* environment variable, declared with `option`, which
also shows it in --help. The one exception is `--force`: see `force_option`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from provenance.trust.anchors import TrustAnchors
    from provenance.trust.lists import TrustLists
    from provenance.trust.policy import TrustPolicy

F = TypeVar("F", bound=Callable[..., Any])


def option(*param_decls: str, env: str, help: str, **attrs: Any) -> Callable[[F], F]:
    """A click option that is also read from the environment variable `env`, named at the end of its help.

    A repeatable option's variable holds its values separated by spaces.
    """
    spelling = f"{env}, space-separated" if attrs.get("multiple") else env
    return click.option(*param_decls, envvar=env, help=f"{help}  [env: {spelling}]", **attrs)


def force_option(help: str) -> Callable[[F], F]:
    """--force, the one option without an environment variable: a variable left set would overwrite files unasked."""
    return click.option("--force", is_flag=True, help=f"{help} Not settable from the environment, on purpose.")


def stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator applying `decorators` as if written one above the other, so options keep their order in --help."""

    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


def _none_when_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An empty value (`--store ""`) means the default, as an unset variable does."""
    return value or None


# --- trust ---

trust_anchors_option = option(
    "--trust-anchors", type=click.Path(path_type=Path), env="PROVENANCE_TRUST_ANCHORS",
    help="PEM bundle of trusted root/intermediate CAs, used instead of the official C2PA trust lists to judge "
         "signers (by sign: the --parent's, recorded in its ingredient). Given anchors make an untrusted signer "
         "fail. Default: <config dir>/provenance/trust-anchors.pem when it exists.")
tsa_trust_anchors_option = option(
    "--tsa-trust-anchors", type=click.Path(path_type=Path), env="PROVENANCE_TSA_TRUST_ANCHORS",
    help="PEM bundle of trusted time-stamping authority CAs, used instead of the official C2PA trust lists. "
         "Given anchors make a file without a trusted timestamp fail. Default: <config "
         "dir>/provenance/tsa-trust-anchors.pem when it exists.")
no_default_trust_option = option(
    "--no-default-trust", is_flag=True, env="PROVENANCE_NO_DEFAULT_TRUST",
    help="Do not judge signers and timestamps against the official C2PA trust lists (bundled, or fetched by "
         "`provenance trust update`) when no trust anchors are given: then nobody is trusted.")

# --trust-anchors, --tsa-trust-anchors, --no-default-trust and --allowed-signer, for the commands that verify.
trust_options = stack(
    trust_anchors_option,
    tsa_trust_anchors_option,
    no_default_trust_option,
    option("--allowed-signer", "allowed_signers", multiple=True, env="PROVENANCE_ALLOWED_SIGNERS", metavar="SHA256",
           help="Accept only a signer certificate with this SHA-256 fingerprint (repeatable; see `provenance trust "
                "show`). Any other signer fails."),
)

# The same settings for `sign --parent`: the parent's credentials are judged as verify would judge them.
parent_trust_options = stack(trust_anchors_option, tsa_trust_anchors_option, no_default_trust_option)


def load_trust_policy(trust_anchors: Path | None, tsa_trust_anchors: Path | None,
                      no_default_trust: bool) -> TrustPolicy:
    """The trust the commands that verify build from these options (anchors, else the official lists)."""
    from provenance.trust.policy import TrustPolicy

    anchors, tsa_anchors = load_trust_anchors(trust_anchors), load_trust_anchors(tsa_trust_anchors, tsa=True)
    return TrustPolicy(anchors, tsa_anchors, lists=default_lists(anchors, tsa_anchors, no_default_trust))


def load_trust_anchors(path: Path | None, *, tsa: bool = False) -> TrustAnchors | None:
    """The anchors in `path`, else in the per-user default file when it exists (the TSA one with `tsa`), else None."""
    from provenance.trust.anchors import default_anchors_path, default_tsa_anchors_path, load_anchors, load_default

    if path is not None:
        return load_anchors(path)
    return load_default(default_tsa_anchors_path() if tsa else default_anchors_path())


def warn_if_stale(lists: TrustLists | None) -> None:
    """One warning on stderr for each official list in force that is past its NextUpdate."""
    for stale in lists.stale() if lists is not None else ():
        click.echo(f"provenance: warning: the {stale.name} in force ({stale.source}, issued {stale.issued:%Y-%m-%d}) "
                   f"was due to be replaced on {stale.next_update:%Y-%m-%d}; run `provenance trust update`", err=True)


def default_lists(anchors: TrustAnchors | None, tsa_anchors: TrustAnchors | None,
                  no_default_trust: bool) -> TrustLists | None:
    """The official lists in force when no anchors are given and --no-default-trust is not; warns once if stale."""
    from provenance.trust.lists import lists_for

    lists = lists_for(anchors, tsa_anchors, enabled=not no_default_trust)
    warn_if_stale(lists)
    return lists


# --- the manifest repository ---

store_option = option(
    "--store", env="PROVENANCE_STORE", metavar="PATH|URL", callback=_none_when_empty,
    help="Manifest repository: a SQLite file, or postgresql://user@host/db. Default: "
         "<data dir>/provenance/manifests.sqlite3.")

# --recovery, --store and --resolver, for the commands that verify.
recovery_options = stack(
    option("--recovery/--no-recovery", default=True, show_default=True, env="PROVENANCE_RECOVERY",
           help="For a file without credentials (or whose content changed), look its ISCC Video-Codes (whole clip and "
                "2-second windows) up in the manifest repository and report every manifest claiming its content (only "
                "a trusted one counts as the original credentials)."),
    store_option,
    option("--resolver", env="PROVENANCE_RESOLVER", metavar="URL",
           help="Look up stripped or re-encoded files on this C2PA Soft Binding Resolution API server instead of "
                "the local --store."),
)
