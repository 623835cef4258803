"""The docs cannot drift: help blocks equal the real `--help`, every command has one, links resolve.

The help blocks are checked by the code that writes them (tests/support/help_blocks.py), so the test
and `make docs-help` never disagree about what a block should hold.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import help_blocks

ROOT = help_blocks.ROOT
README_MAX_LINES = 300
LINKED_FILES = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    return help_blocks.help_outputs()


def prose(text: str) -> str:
    """Markdown without fenced blocks and code spans, where nothing is a link."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"[^\w\- ]", "", text.lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's -1, -2 for repeated headings."""
    seen: dict[str, int] = {}
    found = set()
    for match in HEADING.finditer(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(match[1])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    text = prose(path.read_text(encoding="utf-8"))
    targets = [m[1] for m in INLINE_LINK.finditer(text)] + [m[1] for m in REFERENCE_LINK.finditer(text)]
    return [target for target in targets if not SCHEME.match(target)]


def test_there_are_docs_to_check() -> None:
    assert (ROOT / "README.md").is_file() and (ROOT / "ARCHITECTURE.md").is_file()
    assert len(LINKED_FILES) > 3, "docs/*.md is missing"


def test_the_cli_has_the_commands_the_docs_expect(outputs: dict[str, str]) -> None:
    # The walk of the click group found the group itself and its nested subcommands.
    assert "provenance" in outputs
    assert any(len(command.split()) == 3 for command in outputs), sorted(outputs)
    assert all(text.startswith(f"Usage: {command} ") for command, text in outputs.items())


def test_help_blocks_show_the_real_help(outputs: dict[str, str]) -> None:
    problems = help_blocks.problems(outputs)
    assert not problems, (
        f"the --help shown in the docs is out of date; run `{help_blocks.REGENERATE}`:\n  " + "\n  ".join(problems)
    )


def test_every_command_has_a_help_block(outputs: dict[str, str]) -> None:
    covered = {block.command for path in help_blocks.doc_files() for block in help_blocks.blocks_in(path)}
    missing = sorted(set(outputs) - covered)
    assert not missing, (
        f"no help block for {', '.join(missing)} in README.md or docs/: add the lines "
        f"`<!-- help: COMMAND -->` and `<!-- /help -->` where it is documented, then run "
        f"`{help_blocks.REGENERATE}`"
    )


@pytest.mark.parametrize("path", LINKED_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(path: Path) -> None:
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        file_part = file_part.split("?", 1)[0]
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with that anchor in {linked.relative_to(ROOT)}")
    assert not broken, f"broken links in {path.relative_to(ROOT)}:\n  " + "\n  ".join(broken)


def test_readme_stays_short() -> None:
    lines = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines < README_MAX_LINES, (
        f"README.md has {lines} lines (limit {README_MAX_LINES}): move details to a page under docs/"
    )


# The helpers themselves, on small inputs.


def test_render_fills_an_empty_block_and_rewrites_a_stale_one() -> None:
    text = (
        "intro\n<!-- help: provenance x -->\n<!-- /help -->\n"
        "middle\n<!-- help: provenance y -->\n```text\nold\n```\n<!-- /help -->\nend\n"
    )
    out = help_blocks.render(text, {"provenance x": "X help\n", "provenance y": "Y help\n"})
    assert out == (
        "intro\n<!-- help: provenance x -->\n```text\nX help\n```\n<!-- /help -->\n"
        "middle\n<!-- help: provenance y -->\n```text\nY help\n```\n<!-- /help -->\nend\n"
    )


def test_problems_name_stale_unknown_malformed_and_missing_blocks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- help: provenance a -->\n```text\nstale\n```\n<!-- /help -->\n"
        "<!-- help: provenance gone -->\n```text\nx\n```\n<!-- /help -->\n"
        "<!-- help: provenance broken -->\n```text\nno end\n",
        encoding="utf-8",
    )
    found = help_blocks.problems({"provenance a": "A\n", "provenance b": "B\n"}, files=[page])
    text = "\n".join(found)
    assert "differs from the real `provenance a --help`" in text
    assert "`provenance gone` is not a command" in text
    assert "`<!-- help: provenance broken -->` is not followed by" in text
    assert "`provenance b` has no help block" in text


def test_slugs_match_githubs() -> None:
    assert slug("The CI gate: `provenance check`") == "the-ci-gate-provenance-check"
    assert slug("Trusted timestamps (RFC 3161)") == "trusted-timestamps-rfc-3161"
    assert slug("Report formats (`--format`)") == "report-formats---format"


def test_the_cluster_docs_give_the_worker_environment_local_clusters_use() -> None:
    from provenance.cluster import LEAN_WORKER_ENVIRONMENT

    exports = (ROOT / "docs" / "scale.md").read_text(encoding="utf-8")
    for name, value in LEAN_WORKER_ENVIRONMENT.items():
        assert f'{name}={value}' in exports or f'{name}="{value}"' in exports, name
