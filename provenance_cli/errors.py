"""Turn library errors into one line on stderr and a documented exit code."""

from __future__ import annotations

import signal
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import click

from provenance.errors import ProvenanceError, UsageError

from .interrupts import EXIT_BASE, Interrupted, Interrupts

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
# Interrupted by a signal: EXIT_BASE + its number, 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP (interrupts.py).


@dataclass
class Session:
    """What `run` needs to know once a command has failed; click's context is gone by then."""

    verbose: bool = False  # set by the --verbose option (or PROVENANCE_VERBOSE) as it is parsed


def remember_verbose(ctx: click.Context, param: click.Parameter, verbose: bool) -> bool:
    """Callback of --verbose: record it as soon as it is parsed, before any command is loaded or run."""
    ctx.ensure_object(Session).verbose = verbose
    return verbose


def run(cli: click.Group, argv: list[str] | None) -> Any:
    """Run `cli` on `argv` (default: the process's arguments); a failure ends the process with its exit code."""
    session = Session()
    with Interrupts() as interrupts:
        try:
            return cli.main(args=list(sys.argv[1:] if argv is None else argv), prog_name="provenance",
                            standalone_mode=False, obj=session)
        except Interrupted:
            pass
        except BaseException as e:
            if interrupts.received is None:  # failed of its own accord, not because it was interrupted
                _report(e, session.verbose)
                raise
    assert interrupts.received is not None
    # One line, on the way out: the `finally` blocks have removed temporary files and stopped children.
    click.echo(f"provenance: interrupted ({interrupts.received.name})", err=True)
    sys.exit(interrupts.received.exit_code)


def _report(error: BaseException, verbose: bool) -> None:
    """Print `error` as one line and exit with its code; return for what is not ours to report (SystemExit)."""
    match error:
        case click.exceptions.Abort():
            click.echo("provenance: aborted", err=True)
            sys.exit(EXIT_FAILED)
        case click.ClickException():
            error.show()
            sys.exit(EXIT_USAGE if error.exit_code == 2 else error.exit_code)
        case click.exceptions.Exit():
            sys.exit(error.exit_code)
        case ProvenanceError():
            if verbose:
                traceback.print_exc()
            click.echo(f"provenance: error: {error.one_line()}", err=True)
            sys.exit(EXIT_USAGE if isinstance(error, UsageError) else EXIT_FAILED)
        case KeyboardInterrupt():  # a SIGINT before the handlers were installed
            sys.exit(EXIT_BASE + signal.SIGINT)
        case Exception():  # last resort: one line, never a traceback unless asked
            if verbose:
                traceback.print_exc()
            click.echo(f"provenance: unexpected error: {type(error).__name__}: {error} (hint: re-run with --verbose)",
                       err=True)
            sys.exit(EXIT_FAILED)
