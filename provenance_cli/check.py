"""`provenance check`: the CI gate over a tree of media, and its report."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from provenance.check.reports import FORMATS
from provenance.errors import UsageError
from provenance.limits import DEFAULT_FILE_TIMEOUT

from .errors import EXIT_FAILED, EXIT_OK
from .options import (
    cluster_option,
    jobs_option,
    option,
    progress_option,
    recovery_options,
    trust_options,
    warn_if_stale,
)

if TYPE_CHECKING:
    from provenance.check import CheckReport


class _Paths(click.Path):
    """Paths from PROVENANCE_PATHS are split on whitespace (like the other list variables), not on ':'."""

    def split_envvar_value(self, rv: str) -> list[str]:
        return rv.split()


class ProgressBar:
    """A progress bar on stderr while files are verified, when `shown` and there are any."""

    def __init__(self, shown: bool) -> None:
        self.shown = shown
        self._bar: Any = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def start(self, total: int, label: str = "Verifying") -> None:
        """Show the bar, now that the number of files is known."""
        if self.shown and total:
            self._bar = self._stack.enter_context(click.progressbar(
                length=total, label=label, file=sys.stderr, show_pos=True, show_percent=True))

    def update(self, done: int) -> None:
        """Advance the bar by `done` files."""
        if self._bar is not None:
            self._bar.update(done)


def _check_output(output: Path | None) -> None:
    """Refuse an unusable --output before spending time on the check."""
    if output is None:
        return
    if output.is_dir():
        raise UsageError(f"--output {output} is a directory", remedy="Give a file name for --output.")
    if not output.parent.is_dir():
        raise UsageError(f"--output folder {output.parent} does not exist", remedy="Create it first.")


def _write_report(report: CheckReport, report_format: str, output: Path | None) -> None:
    """The report to --output (atomically), else to stdout."""
    if output is not None:
        from provenance._internal.atomic import write_bytes_atomically

        try:
            write_bytes_atomically(output, FORMATS[report_format]().format(report).encode("utf-8"))
        except OSError as e:
            raise UsageError(f"cannot write --output {output}: {e.strerror or e}") from e
    else:
        from provenance.check.reports.text import TextFormat

        # Text on stdout leaves its summary line to stderr, so it is not shown twice.
        formatter = TextFormat(summary=False) if report_format == "text" else FORMATS[report_format]()
        click.echo(formatter.format(report), nl=False)


def _append_step_summary(markdown: str) -> None:
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as f:
            f.write(markdown)
    except OSError as e:
        click.echo(f"provenance: warning: cannot write the job summary to {target}: {e.strerror or e}", err=True)


@click.command()
@click.argument("paths", nargs=-1, type=_Paths(path_type=Path), envvar="PROVENANCE_PATHS")
@option("--policy", type=click.Path(path_type=Path, dir_okay=False), env="PROVENANCE_POLICY",
        help="Policy file (TOML). Default: provenance.toml at the root, else [tool.provenance] in its "
             "pyproject.toml, else credentials required and intact on every file.")
@trust_options
@option("--format", "report_format", type=click.Choice(sorted(FORMATS)), default="text", show_default=True,
        env="PROVENANCE_CHECK_FORMAT", help="Report format.")
@option("-o", "--output", type=click.Path(path_type=Path), env="PROVENANCE_CHECK_OUTPUT",
        help="Write the report to this file (atomically) instead of stdout.")
@jobs_option
@cluster_option
@option("--file-timeout", type=click.FloatRange(min=0), default=DEFAULT_FILE_TIMEOUT, metavar="SECONDS",
        env="PROVENANCE_FILE_TIMEOUT",
        help="A file that takes longer to verify is reported as an error and the run goes on; 0 for no "
             f"limit.  [default: {DEFAULT_FILE_TIMEOUT:g}]")
@option("--include", multiple=True, metavar="GLOB", env="PROVENANCE_INCLUDE",
        help="Only check files matching this gitignore-style glob (repeatable).")
@option("--exclude", multiple=True, metavar="GLOB", env="PROVENANCE_EXCLUDE",
        help="Skip files matching this gitignore-style glob (repeatable).")
@option("--root", type=click.Path(path_type=Path, file_okay=False), default=Path("."), env="PROVENANCE_ROOT",
        help="Folder that policy globs and reported paths are relative to, and where the policy is "
             "looked for.  [default: .]")
@progress_option
@recovery_options
def check(paths: tuple[Path, ...], policy: Path | None, trust_anchors: Path | None,
          tsa_trust_anchors: Path | None, no_default_trust: bool, allowed_signers: tuple[str, ...], report_format: str,
          output: Path | None, jobs: int, cluster: str | None, file_timeout: float, include: tuple[str, ...],
          exclude: tuple[str, ...],
          root: Path, progress: bool | None, recovery: bool, store: str | None, resolver: str | None) -> None:
    """Check every media file under PATHS (default: .) against a provenance policy.

    \b
    Media is found by content (magic bytes), walking folders recursively and
    skipping hidden folders; files are verified in parallel and reported in
    path order. PATHS can also come from PROVENANCE_PATHS (space-separated).

    \b
    --trust-anchors / --tsa-trust-anchors take precedence over the policy's
    trust_anchors / tsa_trust_anchors, which take precedence over the per-user
    default files; with none of them, the official C2PA trust lists are used
    (unless --no-default-trust). --allowed-signer adds to the policy's
    allowed_signers.

    \b
    Exit codes: 0 no violations, 1 at least one violation (unreadable media
    included), 2 usage error or bad policy file. The one-line summary always
    goes to stderr; in GitHub Actions a summary table is appended to the job
    summary ($GITHUB_STEP_SUMMARY).
    """
    from provenance.check import RecoverySource, load_policy
    from provenance.check import check as run_check
    from provenance.check.cluster import cluster_pool
    from provenance.check.reports import markdown_summary

    if not root.is_dir():
        raise UsageError(f"--root {root} is not a folder")
    _check_output(output)
    loaded_policy = load_policy(root, policy)
    with ProgressBar(sys.stderr.isatty() if progress is None else progress) as bar:
        report = run_check(list(paths) or [Path(".")], root=root, policy=loaded_policy, anchors=trust_anchors,
                           tsa_anchors=tsa_trust_anchors, allowed_signers=allowed_signers, user_defaults=True,
                           default_lists=not no_default_trust, jobs=jobs, include=include, exclude=exclude,
                           timeout=file_timeout, pool=cluster_pool(cluster) if cluster is not None else None,
                           recovery=RecoverySource(store, resolver) if recovery else None,
                           on_start=bar.start, on_progress=bar.update)
    _write_report(report, report_format, output)
    _append_step_summary(markdown_summary(report))
    warn_if_stale(report.trust_lists)
    if report.trust_anchors is None and any(r.verdict.verdict.value == "valid" for r in report.results):
        if report.trust_lists is not None:
            listed = report.trust_lists.signers
            click.echo(f"provenance: warning: some signers are not on the {listed.name} (issued "
                       f"{listed.issued:%Y-%m-%d}, {listed.source}); set trust_anchors in the policy or pass "
                       "--trust-anchors to trust others", err=True)
        else:
            click.echo("provenance: warning: no trust anchors, so signers were not checked; set trust_anchors in "
                       "the policy or pass --trust-anchors", err=True)
    click.echo(report.summary(), err=True)
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)
