"""`provenance` run as a real process, the way a user or CI runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class CliResult:
    """What a `provenance` process did: its exit code and what it printed."""

    code: int
    stdout: str
    stderr: str


def run_cli(*args: object, env: dict[str, str] | None = None, cwd: Path | None = None,
            input: str | None = None) -> CliResult:
    """Run `provenance` as a real process, the way a user or CI does."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PROVENANCE_TRUST_ANCHORS", None) if env is None else None
    proc = subprocess.run([sys.executable, "-m", "provenance_cli.main", *map(str, args)], capture_output=True,
                          text=True, env=full_env, cwd=cwd, input=input, timeout=300)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
