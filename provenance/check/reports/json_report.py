"""JSON: the verify JSON object of every file plus its status and violations, and a summary."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from provenance import __version__
from provenance.check.reports.interface import ReportFormat
from provenance.check.runner import CheckReport, FileResult

# 2: each file's verdict has `own_verdict` and its ingredients a `problem`; rule `invalid-ingredient` (issue 14)
# 3: each file's verdict has `watermark`, and `recovered` has `via`, `watermark_id`, `watermark_confidence` (issue 15)
SCHEMA_VERSION = 3


def file_json(result: FileResult) -> dict[str, Any]:
    """One file's entry: its verdict (the `verify --format json` object), status and violations."""
    data = result.verdict.to_dict()
    data["status"] = result.status
    data["violations"] = [{"rule": v.rule, "message": v.message} for v in result.violations]
    return data


def report_json(report: CheckReport) -> dict[str, Any]:
    """The whole run as the JSON document `check --format json` writes."""
    lists = report.trust_lists
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "provenance", "version": __version__},
        "root": str(report.root),
        "policy": report.policy.to_json(),
        "trust_anchors": report.trust_anchors,
        "tsa_trust_anchors": report.tsa_trust_anchors,
        "trust_list": asdict(lists.signers.info()) if lists is not None else None,
        "tsa_trust_list": asdict(lists.tsa.info()) if lists is not None else None,
        "rules": list(report.rules),
        "summary": {
            "files": len(report.results),
            "passed": len(report.passed),
            "failed": len(report.failed),
            "exempt": len(report.exempt),
            "violations": report.violation_count,
            "ok": report.ok,
            "text": report.summary(),
            "seconds": round(report.seconds, 3),
        },
        "files": [file_json(r) for r in report.results],
    }


class JsonFormat(ReportFormat):
    """The report as JSON (see docs/json-schema.md)."""
    name = "json"

    def format(self, report: CheckReport) -> str:
        """The JSON document, indented, with a final newline."""
        return json.dumps(report_json(report), indent=2) + "\n"
