"""The `--help` output shown in README.md, ARCHITECTURE.md and docs/, taken from the real CLI.

A help block is three parts, each starting a line:

    <!-- help: provenance sign -->
    ```text
    (the output of `provenance sign --help`)
    ```
    <!-- /help -->

`python -m tests.support.help_blocks --write` (`make docs-help`) rewrites every block from the real
output; a block may start as the two marker lines alone, and `--write` fills it in. Without `--write`
it only lists what is out of date and exits 1 if anything is. tests/test_docs.py runs the same checks.

The output is taken from `python -m provenance_cli.main ... --help` run as a process, in this working
tree, with COLUMNS=100 and a fixed environment that holds no PROVENANCE_* variable, so that it is the
same on every machine and in every shell.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = "provenance"
COLUMNS = "100"
REGENERATE = "make docs-help"

# The only variables the help processes inherit; everything else is fixed here.
INHERITED = ("PATH", "HOME", "TMPDIR", "SYSTEMROOT")

OPEN = re.compile(r"^<!-- help: (?P<command>[^\n]*?) -->$", re.MULTILINE)
# A body never runs into the next block's markers, so one broken block cannot swallow the next.
BLOCK = re.compile(
    r"^<!-- help: (?P<command>[^\n]*?) -->\n"
    r"(?:```text\n(?P<body>(?:(?!<!-- /?help).)*?)```\n)?"
    r"<!-- /help -->$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class Block:
    """One help block in one Markdown file."""

    path: Path
    line: int
    command: str
    body: str | None  # None: the two marker lines with nothing between them yet

    def where(self) -> str:
        return f"{shown(self.path)}:{self.line}"


def shown(path: Path) -> str:
    """A path as messages show it: relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md, ARCHITECTURE.md and every Markdown file under docs/, the files help blocks may live in."""
    files = [root / name for name in ("README.md", "ARCHITECTURE.md") if (root / name).is_file()]
    return files + sorted((root / "docs").rglob("*.md"))


def commands() -> list[str]:
    """`provenance` and every command and subcommand under it, as typed: `provenance trust show`."""
    from provenance_cli.main import cli

    found: list[str] = []

    def walk(command: click.Command, ctx: click.Context) -> None:
        found.append(ctx.command_path)
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, click.Context(sub, info_name=name, parent=ctx))

    walk(cli, click.Context(cli, info_name=PROGRAM))
    return found


def help_environment() -> dict[str, str]:
    """The environment of the help processes: no PROVENANCE_* variable, a fixed width and locale."""
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env.update({"COLUMNS": COLUMNS, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8", "PYTHONHASHSEED": "0"})
    return env


def normalize(text: str) -> str:
    """Output as a block holds it: no trailing blanks on any line, exactly one final newline."""
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()) + "\n"


def help_output(command: str) -> str:
    """What `COMMAND --help` prints, normalized."""
    args = command.split()[1:]
    proc = subprocess.run(
        [sys.executable, "-m", "provenance_cli.main", *args, "--help"],
        cwd=ROOT, env=help_environment(), capture_output=True, text=True, timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"`{command} --help` exited with {proc.returncode}: {proc.stderr.strip()}")
    return normalize(proc.stdout)


def help_outputs(names: list[str] | None = None) -> dict[str, str]:
    """The help output of every command (or of `names`), keyed by command as typed."""
    names = commands() if names is None else names
    with ThreadPoolExecutor(max_workers=min(8, len(names) or 1)) as pool:
        return dict(zip(names, pool.map(help_output, names), strict=True))


def blocks_in(path: Path) -> Iterator[Block]:
    text = path.read_text(encoding="utf-8")
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        yield Block(path, line, match["command"].strip(), match["body"])


def malformed(path: Path) -> list[str]:
    """Opening markers that do not start a complete block (no fence, no closing marker)."""
    text = path.read_text(encoding="utf-8")
    starts = {match.start() for match in BLOCK.finditer(text)}
    return [
        f"{shown(path)}:{text.count(chr(10), 0, match.start()) + 1}: `<!-- help: {match['command']} -->` "
        "is not followed by a ```text fence and `<!-- /help -->`"
        for match in OPEN.finditer(text) if match.start() not in starts
    ]


def render(text: str, outputs: Mapping[str, str]) -> str:
    """`text` with every block of a known command holding that command's output."""

    def fill(match: re.Match[str]) -> str:
        command = match["command"].strip()
        if command not in outputs:
            return match[0]
        return f"<!-- help: {command} -->\n```text\n{outputs[command]}```\n<!-- /help -->"

    return BLOCK.sub(fill, text)


def problems(outputs: Mapping[str, str], files: list[Path] | None = None) -> list[str]:
    """Everything that keeps the docs from showing the real help: stale, unknown, malformed, missing blocks."""
    files = doc_files() if files is None else files
    found: list[str] = []
    covered: set[str] = set()
    for path in files:
        found += malformed(path)
        for block in blocks_in(path):
            covered.add(block.command)
            if block.command not in outputs:
                found.append(f"{block.where()}: `{block.command}` is not a command of the CLI; remove the block")
            elif block.body != outputs[block.command]:
                found.append(f"{block.where()}: the block differs from the real `{block.command} --help`")
    names = ", ".join(shown(path) for path in files)
    for command in outputs:
        if command not in covered:
            found.append(f"`{command}` has no help block in any of {names}: add the lines "
                         f"`<!-- help: {command} -->` and `<!-- /help -->` where it is documented")
    return found


def write(outputs: Mapping[str, str], files: list[Path] | None = None) -> list[Path]:
    """Rewrite every block from `outputs`; return the files that changed."""
    changed = []
    for path in doc_files() if files is None else files:
        text = path.read_text(encoding="utf-8")
        new = render(text, outputs)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.help_blocks", description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the blocks from the real --help output")
    args = parser.parse_args(argv)
    try:
        outputs = help_outputs()
    except (ImportError, RuntimeError, subprocess.TimeoutExpired) as e:  # the CLI itself is broken
        print(f"cannot take the help output from the CLI: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    if args.write:
        for path in write(outputs):
            print(f"rewrote the help blocks in {shown(path)}")
    left = problems(outputs)
    for problem in left:
        print(problem, file=sys.stderr)
    if left and not args.write:
        print(f"run `{REGENERATE}` to rewrite the blocks", file=sys.stderr)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
