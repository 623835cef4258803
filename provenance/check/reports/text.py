"""Plain text: one line per file (status, path, verdict, violations in plain words), then the summary."""

from __future__ import annotations

from provenance.check.reports.interface import ReportFormat, one_line
from provenance.check.runner import CheckReport, FileResult
from provenance.verdict import source_type_label

STATUS = {"pass": "PASS", "fail": "FAIL", "exempt": "EXEMPT"}


def _ai(result: FileResult) -> str:
    v = result.verdict
    if v.ai_generated is None or v.verdict.value in ("unsigned", "error"):
        return ""
    label = source_type_label(v.digital_source_type)
    kind = "?" if label is None else label
    return f", AI-generated ({kind})" if v.ai_generated else f", not AI-generated ({kind})"


def file_line(result: FileResult) -> str:
    """One file's line: status, path, verdict, AI disclosure, exemption, what recovery found, and violations."""
    head = f"{STATUS[result.status]:<6} {result.path}: {result.verdict.verdict.value}{_ai(result)}"
    if result.exempt:
        head += " (exempt: allow_unsigned)"
    # What recovery found goes beside the verdict: the file's own credentials are still what is judged.
    found = result.verdict.recovered or result.verdict.watermark
    if found is not None:
        head += f" ({found.statement})"
    if result.violations:
        head += " — " + "; ".join(f"{v.rule}: {v.message}" for v in result.violations)
    return one_line(head)


class TextFormat(ReportFormat):
    """Plain text: a line per file, then the summary unless it goes elsewhere."""
    name = "text"

    def __init__(self, *, summary: bool = True) -> None:
        # The CLI prints the summary on stderr anyway; it leaves it out when the report goes to a terminal.
        self.summary = summary

    def format(self, report: CheckReport) -> str:
        """The lines of every file, then the summary line when asked for."""
        lines = [file_line(r) for r in report.results]
        if self.summary:
            lines.append(report.summary())
        return "".join(line + "\n" for line in lines)
