"""Turn library errors into one line on stderr and a documented exit code."""

from __future__ import annotations

import sys
import traceback
from typing import Any, NoReturn

import click

from provenance.errors import ProvenanceError, UsageError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _verbose(argv: list[str]) -> bool:
    import os

    return "-v" in argv or "--verbose" in argv or os.environ.get("PROVENANCE_VERBOSE", "") not in ("", "0")


def fail(error: ProvenanceError) -> NoReturn:
    """Raise inside a command; `run` prints it."""
    raise error


def run(cli: click.Group, argv: list[str] | None) -> Any:
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = _verbose(args)
    try:
        return cli.main(args=args, prog_name="provenance", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("provenance: aborted", err=True)
        sys.exit(EXIT_FAILED)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_USAGE if e.exit_code == 2 else e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except ProvenanceError as e:
        if verbose:
            traceback.print_exc()
        click.echo(f"provenance: error: {e.message} (hint: {e.remedy})", err=True)
        sys.exit(EXIT_USAGE if isinstance(e, UsageError) else EXIT_FAILED)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # last resort: one line, never a traceback unless asked
        if verbose:
            traceback.print_exc()
        click.echo(f"provenance: unexpected error: {type(e).__name__}: {e} (hint: re-run with --verbose)", err=True)
        sys.exit(EXIT_FAILED)
