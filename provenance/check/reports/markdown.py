"""The Markdown table appended to a GitHub Actions job summary ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

import html

from provenance.check.runner import CheckReport

MAX_ROWS = 500  # the job summary is capped at 1 MiB per step


def _cell(text: str) -> str:
    return html.escape(text).replace("|", "&#124;").replace("\r", " ").replace("\n", " ")


def markdown_summary(report: CheckReport) -> str:
    """A Markdown summary of the run (for a CI job summary): the outcome and a table of violations."""
    mark = "✅" if report.ok else "❌"
    lines = ["## provenance check", "", f"{mark} **{_cell(report.summary())}**", ""]
    rows = [(r, v) for r in report.results for v in r.violations]
    if rows:
        lines += ["| File | Verdict | Rule | Problem |", "| --- | --- | --- | --- |"]
        for result, violation in rows[:MAX_ROWS]:
            lines.append(f"| <code>{_cell(result.path)}</code> | {result.verdict.verdict.value} "
                         f"| <code>{violation.rule}</code> | {_cell(violation.message)} |")
        if len(rows) > MAX_ROWS:
            lines += ["", f"… and {len(rows) - MAX_ROWS} more violations (see the full report)."]
        lines.append("")
    return "\n".join(lines) + "\n"
