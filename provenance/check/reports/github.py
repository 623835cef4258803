"""GitHub Actions workflow commands: one `::error` annotation per violation.

Escaping follows the Actions toolkit (@actions/core's command.ts): in the message,
``%``, CR and LF; in properties, also ``:`` and ``,``.
"""

from __future__ import annotations

from provenance.check.reports.interface import ReportFormat
from provenance.check.runner import CheckReport


def escape_data(text: str) -> str:
    """`text` escaped for the message part of a GitHub Actions workflow command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """`text` escaped for a property value of a GitHub Actions workflow command."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: str) -> str:
    """One `::command key=value,...::message` line, escaped."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


class GithubFormat(ReportFormat):
    """GitHub Actions workflow commands: an `::error` annotation per violation, on the file it concerns."""
    name = "github"

    def format(self, report: CheckReport) -> str:
        """One `::error` annotation line per violation."""
        lines = [
            workflow_command("error", v.message, file=r.path, title=f"provenance check: {v.rule}")
            for r in report.results
            for v in r.violations
        ]
        return "".join(line + "\n" for line in lines)
