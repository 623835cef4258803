"""Turn library errors into one line on stderr and a documented exit code."""

from __future__ import annotations

import signal
import sys
import traceback
from typing import Any, NoReturn

import click

from provenance.errors import ProvenanceError, UsageError

from .interrupts import EXIT_BASE, Interrupted, Interrupts

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
# Interrupted by a signal: EXIT_BASE + its number, 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP (interrupts.py).


def _verbose(argv: list[str]) -> bool:
    import os

    return "-v" in argv or "--verbose" in argv or os.environ.get("PROVENANCE_VERBOSE", "") not in ("", "0")


def fail(error: ProvenanceError) -> NoReturn:
    """Raise inside a command; `run` prints it."""
    raise error


def run(cli: click.Group, argv: list[str] | None) -> Any:
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = _verbose(args)
    with Interrupts() as interrupts:
        try:
            return cli.main(args=args, prog_name="provenance", standalone_mode=False)
        except Interrupted:
            pass
        except BaseException as e:
            if interrupts.received is None:  # failed of its own accord, not because it was interrupted
                _report(e, verbose)
                raise
    assert interrupts.received is not None
    # One line, on the way out: the `finally` blocks have removed temporary files and stopped children.
    click.echo(f"provenance: interrupted ({interrupts.received.name})", err=True)
    sys.exit(interrupts.received.exit_code)


def _report(error: BaseException, verbose: bool) -> None:
    """Print `error` as one line and exit with its code; return for what is not ours to report (SystemExit)."""
    if isinstance(error, click.exceptions.Abort):
        click.echo("provenance: aborted", err=True)
        sys.exit(EXIT_FAILED)
    if isinstance(error, click.ClickException):
        error.show()
        sys.exit(EXIT_USAGE if error.exit_code == 2 else error.exit_code)
    if isinstance(error, click.exceptions.Exit):
        sys.exit(error.exit_code)
    if isinstance(error, ProvenanceError):
        if verbose:
            traceback.print_exc()
        click.echo(f"provenance: error: {error.message} (hint: {error.remedy})", err=True)
        sys.exit(EXIT_USAGE if isinstance(error, UsageError) else EXIT_FAILED)
    if isinstance(error, KeyboardInterrupt):  # a SIGINT before the handlers were installed
        sys.exit(EXIT_BASE + signal.SIGINT)
    if isinstance(error, Exception):  # last resort: one line, never a traceback unless asked
        if verbose:
            traceback.print_exc()
        click.echo(f"provenance: unexpected error: {type(error).__name__}: {error} (hint: re-run with --verbose)",
                   err=True)
        sys.exit(EXIT_FAILED)
