from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from provenance.check.reports import FORMATS
from provenance.errors import UsageError
from provenance.limits import DEFAULT_FILE_TIMEOUT

from .errors import EXIT_FAILED, EXIT_OK
from .options import (
    allowed_signer_option,
    load_allowed_signers,
    load_trust_anchors,
    load_tsa_trust_anchors,
    trust_anchors_option,
    tsa_trust_anchors_option,
)
from .repository_options import recovery_option, resolver_option, store_location, store_option


class _Paths(click.Path):
    """Paths from PROVENANCE_PATHS are split on whitespace (like the other list variables), not on ':'."""

    def split_envvar_value(self, rv: str) -> list[str]:
        return rv.split()


def _check_output(output: Path | None) -> None:
    """Refuse an unusable --output before spending time on the check."""
    if output is None:
        return
    if output.is_dir():
        raise UsageError(f"--output {output} is a directory", remedy="Give a file name for --output.")
    if not output.parent.is_dir():
        raise UsageError(f"--output folder {output.parent} does not exist", remedy="Create it first.")


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
@click.option("--policy", type=click.Path(path_type=Path, dir_okay=False), envvar="PROVENANCE_POLICY",
              help="Policy file (TOML). Default: provenance.toml at the root, else [tool.provenance] in its "
                   "pyproject.toml, else credentials required and intact on every file.  [env: PROVENANCE_POLICY]")
@trust_anchors_option
@tsa_trust_anchors_option
@allowed_signer_option
@click.option("--format", "report_format", type=click.Choice(sorted(FORMATS)), default="text", show_default=True,
              envvar="PROVENANCE_CHECK_FORMAT", help="Report format.  [env: PROVENANCE_CHECK_FORMAT]")
@click.option("-o", "--output", type=click.Path(path_type=Path), envvar="PROVENANCE_CHECK_OUTPUT",
              help="Write the report to this file (atomically) instead of stdout.  [env: PROVENANCE_CHECK_OUTPUT]")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=0, envvar="PROVENANCE_JOBS",
              help="Worker processes; 0 means one per available core.  [default: 0]  [env: PROVENANCE_JOBS]")
@click.option("--file-timeout", type=click.FloatRange(min=0), default=DEFAULT_FILE_TIMEOUT, metavar="SECONDS",
              envvar="PROVENANCE_FILE_TIMEOUT",
              help="A file that takes longer to verify is reported as an error and the run goes on; 0 for no "
                   f"limit.  [default: {DEFAULT_FILE_TIMEOUT:g}]  [env: PROVENANCE_FILE_TIMEOUT]")
@click.option("--include", multiple=True, metavar="GLOB", envvar="PROVENANCE_INCLUDE",
              help="Only check files matching this gitignore-style glob (repeatable).  "
                   "[env: PROVENANCE_INCLUDE, space-separated]")
@click.option("--exclude", multiple=True, metavar="GLOB", envvar="PROVENANCE_EXCLUDE",
              help="Skip files matching this gitignore-style glob (repeatable).  "
                   "[env: PROVENANCE_EXCLUDE, space-separated]")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
              envvar="PROVENANCE_ROOT",
              help="Folder that policy globs and reported paths are relative to, and where the policy is "
                   "looked for.  [default: .]  [env: PROVENANCE_ROOT]")
@click.option("--progress/--no-progress", default=None, envvar="PROVENANCE_PROGRESS",
              help="Show a progress bar on stderr. Default: only when stderr is a terminal.  "
                   "[env: PROVENANCE_PROGRESS]")
@recovery_option
@store_option
@resolver_option
def check(paths: tuple[Path, ...], policy: Path | None, trust_anchors: Path | None,
          tsa_trust_anchors: Path | None, allowed_signers: tuple[str, ...], report_format: str,
          output: Path | None, jobs: int, file_timeout: float, include: tuple[str, ...], exclude: tuple[str, ...],
          root: Path,
          progress: bool | None, recovery: bool, store: str | None, resolver: str | None) -> None:
    """Check every media file under PATHS (default: .) against a provenance policy.

    \b
    Media is found by content (magic bytes), walking folders recursively and
    skipping hidden folders; files are verified in parallel and reported in
    path order. PATHS can also come from PROVENANCE_PATHS (space-separated).

    \b
    --trust-anchors / --tsa-trust-anchors take precedence over the policy's
    trust_anchors / tsa_trust_anchors, which take precedence over the per-user
    default files; --allowed-signer adds to the policy's allowed_signers.

    \b
    Exit codes: 0 no violations, 1 at least one violation (unreadable media
    included), 2 usage error or bad policy file. The one-line summary always
    goes to stderr; in GitHub Actions a summary table is appended to the job
    summary ($GITHUB_STEP_SUMMARY).
    """
    from provenance.check import RecoverySource, load_policy
    from provenance.check import check as run_check
    from provenance.check.reports import markdown_summary
    from provenance.check.reports.text import TextFormat

    if not root.is_dir():
        raise UsageError(f"--root {root} is not a folder")
    _check_output(output)
    loaded_policy = load_policy(root, policy)
    extra_signers = load_allowed_signers(allowed_signers)
    if extra_signers:
        loaded_policy = replace(loaded_policy,
                                allowed_fingerprints=loaded_policy.allowed_fingerprints | extra_signers)
    # Explicit option, else the policy's own anchors (loaded by check), else the per-user default file.
    anchors = load_trust_anchors(trust_anchors) if trust_anchors or not loaded_policy.trust_anchors else None
    tsa_anchors = (load_tsa_trust_anchors(tsa_trust_anchors)
                   if tsa_trust_anchors or not loaded_policy.tsa_trust_anchors else None)
    show_progress = sys.stderr.isatty() if progress is None else progress

    with contextlib.ExitStack() as stack:
        bar: Any = None

        def on_start(total: int) -> None:
            nonlocal bar
            if show_progress and total:
                bar = stack.enter_context(click.progressbar(
                    length=total, label="Verifying", file=sys.stderr, show_pos=True, show_percent=True))

        def on_progress(done: int) -> None:
            if bar is not None:
                bar.update(done)

        report = run_check(list(paths) or [Path(".")], root=root, policy=loaded_policy, anchors=anchors,
                           tsa_anchors=tsa_anchors, jobs=jobs or None, include=include, exclude=exclude,
                           on_start=on_start, on_progress=on_progress, timeout=file_timeout or None,
                           recovery=RecoverySource(store_location(store), resolver) if recovery else None)

    if output is not None:
        from provenance._internal.atomic import write_bytes_atomically

        try:
            write_bytes_atomically(output, FORMATS[report_format]().format(report).encode("utf-8"))
        except OSError as e:
            raise UsageError(f"cannot write --output {output}: {e.strerror or e}") from e
    else:
        # Text on stdout leaves its summary line to stderr, so it is not shown twice.
        formatter = TextFormat(summary=False) if report_format == "text" else FORMATS[report_format]()
        click.echo(formatter.format(report), nl=False)
    _append_step_summary(markdown_summary(report))
    if report.trust_anchors is None and any(r.verdict.verdict.value == "valid" for r in report.results):
        click.echo("provenance: warning: no trust anchors, so signers were not checked; set trust_anchors in the "
                   "policy or pass --trust-anchors", err=True)
    click.echo(report.summary(), err=True)
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)
