"""Start-up: `provenance --help` and `--version` load neither c2pa nor cryptography.

Checked on the import trace of a real process (`python -X importtime`), for the
installed entry point and for `python -m provenance_cli.main`. How fast that is
gets measured in bench/speed.py, not asserted here.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from provenance import __version__

HEAVY = ("c2pa", "cryptography")
# The installed `provenance` script runs exactly this (see [project.scripts] in pyproject.toml).
ENTRY_POINT = "import sys; from provenance_cli.entry import main; sys.argv[0] = 'provenance'; sys.exit(main())"


def imported_modules(*args: str) -> tuple[set[str], str]:
    """Top-level names of every module a process imported, and what it printed."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                modules.add(name.split(".")[0])
    assert "provenance" in modules, "the import trace did not cover the program"
    return modules, proc.stdout


@pytest.mark.parametrize("how", ["entry point", "-m provenance_cli.main"])
@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_help_and_version_stay_light(how: str, flag: str) -> None:
    args = ["-c", ENTRY_POINT, flag] if how == "entry point" else ["-m", "provenance_cli.main", flag]
    modules, out = imported_modules(*args)
    assert not modules & set(HEAVY), f"{flag} imported {sorted(modules & set(HEAVY))}"
    if flag == "--version":
        assert out == f"provenance, version {__version__}\n"
    else:
        assert "Commands:" in out and "sign" in out


def test_version_answers_without_click() -> None:
    modules, _ = imported_modules("-c", ENTRY_POINT, "--version")
    assert "click" not in modules


def test_entry_point_hands_everything_else_to_click() -> None:
    proc = subprocess.run([sys.executable, "-c", ENTRY_POINT, "sign", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: provenance sign")
