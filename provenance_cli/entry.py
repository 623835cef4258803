"""The `provenance` command: answers `--version` before loading click, then hands over to `main`.

Importing click alone costs about as much as starting Python, and scripts and CI
call `provenance --version`; it needs nothing but the version string.
"""

from __future__ import annotations

import sys


def main() -> object:
    """The console script: `provenance ARGS`."""
    if sys.argv[1:] == ["--version"]:
        from provenance import __version__

        # The same line click's version option prints.
        sys.stdout.write(f"provenance, version {__version__}\n")
        return 0
    from .main import main as cli_main

    return cli_main()
