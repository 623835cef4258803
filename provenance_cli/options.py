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
    help="PEM bundle of trusted root/intermediate CAs (e.g. the C2PA trust list). Given anchors make an "
         "untrusted signer fail. Default: <config dir>/provenance/trust-anchors.pem when it exists.")

# --trust-anchors, --tsa-trust-anchors and --allowed-signer, for the commands that verify.
trust_options = stack(
    trust_anchors_option,
    option("--tsa-trust-anchors", type=click.Path(path_type=Path), env="PROVENANCE_TSA_TRUST_ANCHORS",
           help="PEM bundle of trusted time-stamping authority CAs (e.g. the C2PA TSA trust list). Given anchors "
                "make a file without a trusted timestamp fail. Default: <config dir>/provenance/tsa-trust-anchors.pem "
                "when it exists."),
    option("--allowed-signer", "allowed_signers", multiple=True, env="PROVENANCE_ALLOWED_SIGNERS", metavar="SHA256",
           help="Accept only a signer certificate with this SHA-256 fingerprint (repeatable; see `provenance trust "
                "show`). Any other signer fails."),
)


def load_trust_anchors(path: Path | None, *, tsa: bool = False) -> TrustAnchors | None:
    """The anchors in `path`, else in the per-user default file when it exists (the TSA one with `tsa`), else None."""
    from provenance.trust.anchors import default_anchors_path, default_tsa_anchors_path, load_anchors, load_default

    if path is not None:
        return load_anchors(path)
    return load_default(default_tsa_anchors_path() if tsa else default_anchors_path())


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
