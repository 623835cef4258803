"""Report formats for `provenance check`, all behind one interface (`ReportFormat.format`).

Modelled on pip-audit's output formats: the CLI picks a format by name and writes
whatever string it returns; the library never prints.
"""

from __future__ import annotations

from provenance.check.reports.github import GithubFormat
from provenance.check.reports.interface import ReportFormat
from provenance.check.reports.json_report import JsonFormat
from provenance.check.reports.junit import JunitFormat
from provenance.check.reports.markdown import markdown_summary
from provenance.check.reports.sarif import SarifFormat
from provenance.check.reports.text import TextFormat

FORMATS: dict[str, type[ReportFormat]] = {
    "text": TextFormat,
    "json": JsonFormat,
    "junit": JunitFormat,
    "sarif": SarifFormat,
    "github": GithubFormat,
}


def get_format(name: str) -> ReportFormat:
    """A fresh instance of the report format called `name` (a key of FORMATS)."""
    return FORMATS[name]()


__all__ = ["FORMATS", "ReportFormat", "get_format", "markdown_summary"]
