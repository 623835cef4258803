"""Report formats with awkward file names: escaping, encoding, and validity of every format."""

from __future__ import annotations

import dataclasses
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from provenance.check import CheckReport, Policy, Scope, check
from provenance.check.reports import FORMATS, get_format, markdown_summary
from provenance.check.reports.github import escape_data, escape_property, workflow_command
from provenance.check.reports.markdown import MAX_ROWS
from provenance.keys.pki import DevPki
from provenance.trust.anchors import load_anchors
from tests.support.sarif import load_sarif_validator

ODD_NAMES = [
    "plain.mp4",
    "dir with space/clip #1 ü.mp4",
    "odd, name: 100%.mp4",
    "pipe | and `tick`.mp4",
    "line\nbreak.mp4",
    "ctrl\x01char.mp4",
]


@pytest.fixture(scope="module")
def sarif_validator() -> Any:
    return load_sarif_validator()


@pytest.fixture(scope="module")
def odd_report(tmp_path_factory: pytest.TempPathFactory, clip: Path, signed_clip: Path, pki: DevPki,
               other_pki: DevPki) -> CheckReport:
    root = tmp_path_factory.mktemp("odd")
    for name in ODD_NAMES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(signed_clip if name == "plain.mp4" else clip, root / name)
    outside = tmp_path_factory.mktemp("outside") / "far away.mp4"
    shutil.copy(clip, outside)
    return check([root, outside], root=root, policy=Policy(), anchors=load_anchors(pki.root_ca), jobs=2)


def test_every_format_renders_every_file(odd_report: CheckReport) -> None:
    assert len(odd_report.results) == len(ODD_NAMES) + 1
    assert len(odd_report.failed) == len(ODD_NAMES)  # every unsigned clip, the outside one included
    for name in FORMATS:
        text = get_format(name).format(odd_report)
        assert text.endswith("\n")


def test_text_keeps_one_line_per_file(odd_report: CheckReport) -> None:
    lines = get_format("text").format(odd_report).splitlines()
    assert len(lines) == len(odd_report.results) + 1  # + the summary
    assert any(line.startswith("FAIL   line\\nbreak.mp4: unsigned") for line in lines)
    assert any(line.startswith("FAIL   ctrl\\x01char.mp4: unsigned") for line in lines)
    assert lines[-1] == odd_report.summary()


def test_sarif_uris_are_encoded_and_valid(odd_report: CheckReport, sarif_validator: Any) -> None:
    log = json.loads(get_format("sarif").format(odd_report))
    assert not list(sarif_validator.iter_errors(log))
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    assert "dir%20with%20space/clip%20%231%20%C3%BC.mp4" in uris
    assert "odd%2C%20name%3A%20100%25.mp4" in uris
    assert "line%0Abreak.mp4" in uris
    outside = [r for r in log["runs"][0]["results"] if "far%20away" in json.dumps(r)]
    artifact = outside[0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact["uri"].startswith("file:///") and "uriBaseId" not in artifact
    # The schema check is a real one: a result without a message is refused.
    del log["runs"][0]["results"][0]["message"]
    assert list(sarif_validator.iter_errors(log))


def test_junit_is_well_formed_despite_control_characters(odd_report: CheckReport) -> None:
    suites = ET.fromstring(get_format("junit").format(odd_report))
    names = [case.get("name") for case in suites.iter("testcase")]
    assert "ctrl\ufffdchar.mp4" in names and "line\nbreak.mp4" in names
    assert int(suites.get("failures", "0")) == len(ODD_NAMES)


def test_github_escaping(odd_report: CheckReport) -> None:
    lines = get_format("github").format(odd_report).splitlines()
    assert len(lines) == len(ODD_NAMES)  # a newline in a file name does not split a command
    assert ("::error file=odd%2C name%3A 100%25.mp4,title=provenance check%3A missing-credentials::"
            "has no Content Credentials, and the policy requires them") in lines
    assert any(line.startswith("::error file=line%0Abreak.mp4,") for line in lines)


def test_workflow_command_escaping_rules() -> None:
    # As @actions/core escapes: data escapes %, CR, LF; properties also ':' and ','.
    assert escape_data("50% done\r\nnext: a,b") == "50%25 done%0D%0Anext: a,b"
    assert escape_property("50% done\r\nnext: a,b") == "50%25 done%0D%0Anext%3A a%2Cb"
    assert workflow_command("error", "two\nlines", file="a,b.mp4", title="t: x") == (
        "::error file=a%2Cb.mp4,title=t%3A x::two%0Alines")


def test_markdown_summary_escapes_and_caps(odd_report: CheckReport) -> None:
    summary = markdown_summary(odd_report)
    assert "<code>pipe &#124; and `tick`.mp4</code>" in summary
    assert "line break.mp4" in summary  # a newline would end the table row
    rows = [line for line in summary.splitlines() if line.startswith("| <code>")]
    assert len(rows) == len(ODD_NAMES)

    one = odd_report.failed[0]
    many = dataclasses.replace(odd_report, results=tuple(
        dataclasses.replace(one, path=f"f{i:04d}.mp4") for i in range(MAX_ROWS + 7)))
    capped = markdown_summary(many)
    assert len([line for line in capped.splitlines() if line.startswith("| <code>")]) == MAX_ROWS
    assert "… and 7 more violations" in capped


def test_passing_report_formats(odd_report: CheckReport) -> None:
    passing = dataclasses.replace(odd_report, results=tuple(r for r in odd_report.results if r.status == "pass"),
                                  policy=dataclasses.replace(odd_report.policy, require_credentials=Scope.none()))
    assert passing.ok
    assert get_format("github").format(passing) == ""
    assert json.loads(get_format("sarif").format(passing))["runs"][0]["results"] == []
    assert markdown_summary(passing).splitlines()[2] == f"✅ **{passing.summary()}**"
    assert json.loads(get_format("json").format(passing))["summary"]["ok"] is True


@pytest.mark.slow
def test_a_broken_ingredient_fails_with_its_own_codes_in_every_format(
        tmp_path: Path, remix_of_broken_parent: Path, pki: DevPki, sarif_validator: Any) -> None:
    shutil.copy(remix_of_broken_parent, tmp_path / "remix.mp4")
    report = check([tmp_path], root=tmp_path, policy=Policy(), anchors=load_anchors(pki.root_ca), jobs=1)
    assert not report.ok
    (result,) = report.results
    message = ("this clip's own credentials are intact and its signer is trusted; its ingredient 'parent.mp4' has a "
               "broken signature (claimSignature.mismatch)")
    assert [(v.rule, v.message) for v in result.violations] == [("invalid-ingredient", message)]

    data = json.loads(get_format("json").format(report))
    assert data["schema_version"] == 3
    (entry,) = data["files"]
    assert (entry["status"], entry["verdict"], entry["own_verdict"], entry["failure_codes"]) == (
        "fail", "invalid", "trusted", [])
    assert entry["ingredients"][0]["failure_codes"] == ["claimSignature.mismatch"]
    assert entry["violations"] == [{"rule": "invalid-ingredient", "message": message}]

    log = json.loads(get_format("sarif").format(report))
    assert not list(sarif_validator.iter_errors(log))
    (found,) = log["runs"][0]["results"]
    assert (found["ruleId"], found["message"]["text"]) == ("invalid-ingredient", message)
    assert "invalid-ingredient" in [r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]]

    failure = ET.fromstring(get_format("junit").format(report)).find(".//failure")
    assert failure is not None and failure.get("type") == "invalid-ingredient"
    assert failure.text == f"invalid-ingredient: {message}"
    assert get_format("text").format(report).splitlines()[0] == (
        "FAIL   remix.mp4: invalid, AI-generated (compositeWithTrainedAlgorithmicMedia) — "
        f"invalid-ingredient: {message}")
