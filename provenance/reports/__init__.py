"""Report formats for `provenance check`, all behind one interface (`ReportFormat.format`).

Modelled on pip-audit's output formats: the CLI picks a format by name and writes
whatever string it returns; the library never prints.
"""

from __future__ import annotations

from .base import ReportFormat
from .github import GithubFormat
from .json_report import JsonFormat
from .junit import JunitFormat
from .markdown import markdown_summary
from .sarif import SarifFormat
from .text import TextFormat

FORMATS: dict[str, type[ReportFormat]] = {
    "text": TextFormat,
    "json": JsonFormat,
    "junit": JunitFormat,
    "sarif": SarifFormat,
    "github": GithubFormat,
}


def get_format(name: str) -> ReportFormat:
    return FORMATS[name]()


__all__ = ["FORMATS", "ReportFormat", "get_format", "markdown_summary"]
