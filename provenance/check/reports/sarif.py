"""SARIF 2.1.0, as GitHub code scanning ingests it (github/codeql-action/upload-sarif).

One result per violation, a stable ruleId per rule, one location per result whose
`artifactLocation.uri` is relative to the root (``%SRCROOT%``). Media files have no
lines, so the region is the file's first line, which code scanning needs to place an alert.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from provenance import __version__
from provenance.check.reports.interface import ReportFormat
from provenance.check.rules import ALL_RULES, RULE_ORDER
from provenance.check.runner import CheckReport

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"


def _rule(index: int) -> dict[str, Any]:
    info = ALL_RULES[index]
    return {
        "id": info.id,
        "name": info.name,
        "shortDescription": {"text": info.summary},
        "fullDescription": {"text": info.description},
        "help": {"text": info.description},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["provenance", "c2pa", "content-credentials"]},
    }


def _location(path: str) -> dict[str, Any]:
    if PurePosixPath(path).is_absolute():  # outside the root: an absolute file URI
        artifact = {"uri": "file://" + quote(path)}
    else:
        artifact = {"uri": quote(path), "uriBaseId": SRCROOT}
    return {"physicalLocation": {"artifactLocation": artifact, "region": {"startLine": 1}}}


def sarif_log(report: CheckReport) -> dict[str, Any]:
    """The run as a SARIF 2.1.0 log: one result per violation, with a stable fingerprint."""
    results = []
    for result in report.results:
        for violation in result.violations:
            fingerprint = hashlib.sha256(f"{violation.rule}\0{result.path}".encode()).hexdigest()
            results.append({
                "ruleId": violation.rule,
                "ruleIndex": RULE_ORDER[violation.rule],
                "level": "error",
                "message": {"text": violation.message},
                "locations": [_location(result.path)],
                "partialFingerprints": {"provenanceViolation/v1": fingerprint},
                "properties": {"verdict": result.verdict.verdict.value},
            })
    root_uri = report.root.as_uri().rstrip("/") + "/"
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "provenance",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [_rule(i) for i in range(len(ALL_RULES))],
            }},
            "originalUriBaseIds": {SRCROOT: {"uri": root_uri}},
            "invocations": [{"executionSuccessful": True}],
            "results": results,
        }],
    }


class SarifFormat(ReportFormat):
    """SARIF 2.1.0, for code-scanning dashboards."""
    name = "sarif"

    def format(self, report: CheckReport) -> str:
        """The SARIF log as indented JSON with a final newline."""
        return json.dumps(sarif_log(report), indent=2) + "\n"
