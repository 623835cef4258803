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
    from provenance.signing import WatermarkSettings
    from provenance.trust.anchors import TrustAnchors
    from provenance.trust.lists import TrustLists
    from provenance.trust.policy import TrustPolicy
    from provenance.watermark.interface import Progress

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


# --- signing: the key, what the manifest states, and how the output is written (sign and sign-batch) ---

KEY_PASSPHRASE_ENV = "PROVENANCE_KEY_PASSPHRASE"
PKCS11_PIN_ENV = "PROVENANCE_PKCS11_PIN"


def signer_options(function: F) -> F:
    """--cert, --key, --alg, --pkcs11-module and --signer-command (choices loaded only when a command is)."""
    from provenance.keys.algorithms import ALGORITHMS

    return stack(
        option("--cert", type=click.Path(path_type=Path), env="PROVENANCE_CERT",
               help="Signer certificate chain, PEM, leaf first (optional when a PKCS#12 --key or the token holds "
                    "it)."),
        option("--key", env="PROVENANCE_KEY", metavar="KEY",
               help=f"Signer private key: a PEM file (encrypted ones ask for {KEY_PASSPHRASE_ENV} or prompt), a "
                    f"PKCS#12 bundle, or a pkcs11: URI (RFC 7512; PIN from {PKCS11_PIN_ENV} or a prompt)."),
        option("--alg", type=click.Choice(ALGORITHMS, case_sensitive=False), default=None, env="PROVENANCE_ALG",
               help="Signature algorithm (default: inferred from the key)."),
        option("--pkcs11-module", env="PROVENANCE_PKCS11_MODULE", metavar="PATH",
               help="PKCS#11 library of the HSM/token, for a pkcs11: --key, e.g. /usr/lib/softhsm/libsofthsm2.so."),
        option("--signer-command", env="PROVENANCE_SIGNER_COMMAND", metavar="CMD",
               help="Sign with an external command instead of --key: it gets the bytes to sign on stdin and writes "
                    "the signature to stdout (protocol in docs/signing-and-keys.md). Needs --cert."),
    )(function)


def disclosure_options(function: F) -> F:
    """--generator, --generator-version, --title, --ai-training, --parent and --edit-source."""
    from provenance.manifest import AI_TRAINING_CHOICES, EDIT_SOURCE_TYPES

    return stack(
        option("--generator", env="PROVENANCE_GENERATOR",
               help="Name of the AI model/tool that made the clip, e.g. Sora."),
        option("--generator-version", env="PROVENANCE_GENERATOR_VERSION", help="Version of the generator."),
        option("--title", env="PROVENANCE_TITLE", help="Title of the clip (default: input file name)."),
        option("--ai-training", type=click.Choice(AI_TRAINING_CHOICES), env="PROVENANCE_AI_TRAINING",
               help="Record whether the clip may be used for AI training and data mining."),
        option("--parent", type=click.Path(path_type=Path), env="PROVENANCE_PARENT",
               help="The clip this one remixes/edits; recorded as its parent ingredient."),
        option("--edit-source", type=click.Choice(sorted(EDIT_SOURCE_TYPES)), default="composite",
               show_default=True, env="PROVENANCE_EDIT_SOURCE",
               help="With --parent: 'composite' (AI mixed into captured footage) or 'trained' (fully generated)."),
    )(function)


tsa_url_option = option(
    "--tsa-url", env="PROVENANCE_TSA_URL",
    help="RFC 3161 time-stamping authority URL: the timestamp keeps the signature verifiable after the "
         "certificate expires.")
sidecar_option = option(
    "--sidecar", is_flag=True, env="PROVENANCE_SIDECAR",
    help="Write a detached manifest OUTPUT.c2pa next to an unchanged copy.")
soft_binding_option = option(
    "--soft-binding/--no-soft-binding", default=True, show_default=True, env="PROVENANCE_SOFT_BINDING",
    help="Record the clip's ISCC Video-Codes (c2pa.soft-binding, io.iscc.v0: the whole clip and its 2-second "
         "segments) and register the manifest in the --store repository, so stripped, re-encoded or trimmed "
         "copies can be traced.")

# --- a Dask cluster, for the commands that run per-file work in parallel ---

jobs_option = option(
    "-j", "--jobs", type=click.IntRange(min=0), default=0, env="PROVENANCE_JOBS",
    help="Worker processes; 0 means one per available core.  [default: 0]")
progress_option = option(
    "--progress/--no-progress", default=None, env="PROVENANCE_PROGRESS",
    help="Show a progress bar on stderr. Default: only when stderr is a terminal.")
cluster_option = option(
    "--cluster", env="PROVENANCE_CLUSTER", metavar="ADDRESS", callback=_none_when_empty,
    help="Run the per-file work on a Dask cluster instead of local worker processes: tcp://host:8786 (an existing "
         "scheduler; its workers must see the files at the same paths) or local:N (N worker processes on this "
         "machine). Needs the `cluster` extra (Dask distributed).")

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

# --- the watermark ---

# --codec and --crf, for `watermark embed` and `sign --watermark`: the re-encode of the marked video.
watermark_option = option(
    "--watermark", is_flag=True, env="PROVENANCE_WATERMARK",
    help="For generator operators: first re-encode the video with an invisible watermark in its frames (audio "
         "copied), then sign the marked clip; the manifest lists the c2pa.watermarked action and a second "
         "c2pa.soft-binding (org.provenance.wm.v1) with the mark's random 64-bit identifier, and the repository "
         "finds the manifest by it. Needs the soft binding.")

watermark_encoding_options = stack(
    option("--codec", env="PROVENANCE_WATERMARK_CODEC", metavar="ENCODER", callback=_none_when_empty,
           help="ffmpeg video encoder of the marked clip, e.g. libx264, libx265, libvpx-vp9; the audio is copied. "
                "Default: libx264 (H.264)."),
    option("--crf", type=click.IntRange(0, 63), env="PROVENANCE_WATERMARK_CRF",
           help="Constant rate factor of the marked clip's encode (lower: better and larger). Default: 18."),
)


def watermark_settings(watermark: bool, codec: str | None, crf: int | None,
                       progress: Progress | None = None) -> WatermarkSettings | None:
    """The --watermark, --codec and --crf options as the library's settings; None without --watermark."""
    from provenance.errors import UsageError
    from provenance.signing import WatermarkSettings

    if not watermark:
        if codec is not None or crf is not None:
            raise UsageError("--codec and --crf apply to --watermark only", remedy="Add --watermark, or drop them.")
        return None
    return WatermarkSettings(codec=codec, crf=crf, progress=progress)


class WatermarkProgress:
    """A progress bar on stderr, when it is a terminal, fed by the watermark's progress callbacks
    (seconds done, seconds in all or None while unknown)."""

    def __init__(self, label: str) -> None:
        import sys

        self.label = label
        self.shown = sys.stderr.isatty()
        self._bar: Any = None
        self._done = 0

    def __enter__(self) -> WatermarkProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.render_finish()

    def __call__(self, done: float, total: float | None) -> None:
        """Move the bar to `done` seconds of `total` (shown in tenths of a second)."""
        import sys

        if not self.shown or total is None or total <= 0:
            return
        if self._bar is None:
            self._bar = click.progressbar(length=max(1, round(total * 10)), label=self.label, file=sys.stderr,
                                          show_percent=True, show_eta=True)
        position = min(round(done * 10), self._bar.length)
        if position > self._done:
            self._bar.update(position - self._done)
            self._done = position
