"""GitHub Actions workflow commands: one `::error` annotation per violation.

Escaping follows the Actions toolkit (@actions/core's command.ts): in the message,
``%``, CR and LF; in properties, also ``:`` and ``,``.
"""

from __future__ import annotations

from provenance.check.reports.interface import ReportFormat
from provenance.check.runner import CheckReport


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: str) -> str:
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


class GithubFormat(ReportFormat):
    name = "github"

    def format(self, report: CheckReport) -> str:
        lines = [
            workflow_command("error", v.message, file=r.path, title=f"provenance check: {v.rule}")
            for r in report.results
            for v in r.violations
        ]
        return "".join(line + "\n" for line in lines)
