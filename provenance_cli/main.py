"""Entry point: a click group whose commands are imported only when run.

`provenance --help` and `--version` must not load c2pa or cryptography.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from provenance import __version__

from .errors import remember_verbose, run
from .options import option

# command name → "module:attribute" inside provenance_cli
COMMANDS = {
    "keys": "provenance_cli.keys:keys",
    "sign": "provenance_cli.sign:sign",
    "sign-batch": "provenance_cli.sign_batch:sign_batch",
    "verify": "provenance_cli.verify:verify",
    "inspect": "provenance_cli.inspect:inspect",
    "check": "provenance_cli.check:check",
    "trust": "provenance_cli.trust:trust",
    "serve-repository": "provenance_cli.serve:serve_repository",
    "serve": "provenance_cli.serve:serve",
    "watermark": "provenance_cli.watermark:watermark",
}
HELP = {
    "keys": "Create and manage signing keys.",
    "sign": "Sign a clip as AI-generated with a C2PA manifest.",
    "sign-batch": "Sign many clips in parallel (local processes or a Dask cluster); restartable.",
    "verify": "Verify C2PA credentials of one or more files.",
    "inspect": "Print a file's full C2PA manifest store as JSON.",
    "check": "CI gate: check a tree of media against a provenance policy.",
    "trust": "The trust lists in force and their updates; a signed file's certificate chain.",
    "serve-repository": "Serve the manifest repository (C2PA Soft Binding Resolution API).",
    "serve": "Serve the verify page: check a clip in a web browser.",
    "watermark": "Put an invisible watermark into a video's frames, or look for one.",
}


class LazyGroup(click.Group):
    """The `provenance` group: a command's module is imported only when that command is run or asked for help."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, without importing any of them."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command called `cmd_name`, imported now; None for an unknown name."""
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of --help, from the HELP table."""
        # Short help from a table, so listing commands imports none of them.
        with formatter.section("Commands"):
            formatter.write_dl([(name, HELP.get(name, "")) for name in sorted(COMMANDS)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="provenance")
@option("-v", "--verbose", is_flag=True, env="PROVENANCE_VERBOSE", callback=remember_verbose,
        help="Show full error details (tracebacks) and debug logs.")
def cli(verbose: bool) -> None:
    """Sign AI-generated video with C2PA Content Credentials and verify them.

    \b
    Exit codes: 0 success / every file passes, 1 a file failed verification or
    an operation failed, 2 usage error (bad options, unreadable trust anchors),
    130 / 143 / 129 interrupted by SIGINT / SIGTERM / SIGHUP.
    """
    import logging  # here, not at the top: `--version`/`--help` start faster without it

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    # c2pa-python logs every path it tries before finding its native library: a dozen lines of noise.
    logging.getLogger("c2pa.loader").setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> Any:
    """Run `provenance` on `argv` (default: the process's arguments) as the installed command does."""
    return run(cli, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
