"""`provenance check` over a realistic tree: the exact violations and exit code in every report format.

The tree (built once per session with real clips, real signatures and a real PKI):

    provenance.toml            the policy below
    trust/anchors.pem          root CA of the `pki` fixture
    generated/trusted.mp4      AI clip, trusted signer                  → pass
    generated/renamed          the same, renamed without extension      → pass (found by content)
    generated/sidecar.webm     AI clip with a detached .c2pa manifest   → pass
    generated/untrusted.mp4    AI clip, signer from another PKI         → untrusted-signer
    generated/tampered.mp4     AI clip, one byte of video changed       → invalid-credentials
    generated/captured.mp4     signed, but declares digitalCapture      → missing-ai-disclosure
    generated/corrupt.mp4      an MP4 header and garbage                → unreadable-media
    published/unsigned.mp4     no credentials, where they are required  → missing-credentials
    drafts/unsigned.mp4        no credentials, under allow_unsigned     → exempt
    misc/unsigned.mp4          no credentials, outside require_credentials → pass
    camera/original.mp4        signed camera capture                    → pass
    camera/generated.mp4       AI clip in the camera folder (forbid_ai) → forbidden-ai
    .hidden/unsigned.mp4, .git/unsigned.mp4, notes.txt                  → not media / not entered
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.verdict import IPTC
from tests.support.cli import run_cli
from tests.support.clips import make_clip, sign_file
from tests.support.edits import flip_video_byte
from tests.support.sarif import load_sarif_validator

TREE_POLICY = """\
# Policy of the test tree.
trust_anchors = "trust/anchors.pem"
require_credentials = ["generated/", "published/", "camera/"]
require_ai_disclosure = ["generated/"]
forbid_ai = ["camera/"]
allow_unsigned = ["drafts/"]
"""

# path → (status, verdict, rule ids violated)
EXPECTED: dict[str, tuple[str, str, list[str]]] = {
    "camera/generated.mp4": ("fail", "trusted", ["forbidden-ai"]),
    "camera/original.mp4": ("pass", "trusted", []),
    "drafts/unsigned.mp4": ("exempt", "unsigned", []),
    "generated/captured.mp4": ("fail", "trusted", ["missing-ai-disclosure"]),
    "generated/corrupt.mp4": ("fail", "error", ["unreadable-media"]),
    "generated/renamed": ("pass", "trusted", []),
    "generated/sidecar.webm": ("pass", "trusted", []),
    "generated/tampered.mp4": ("fail", "invalid", ["invalid-credentials"]),
    "generated/trusted.mp4": ("pass", "trusted", []),
    "generated/untrusted.mp4": ("fail", "valid", ["untrusted-signer"]),
    "misc/unsigned.mp4": ("pass", "unsigned", []),
    "published/unsigned.mp4": ("fail", "unsigned", ["missing-credentials"]),
}
SUMMARY = "12 files checked: 5 passed, 6 failed (6 violations), 1 exempt"


def sign_camera_capture(src: Path, out: Path, pki: DevPki) -> None:
    """A signed clip that declares a camera capture (not AI), as a camera or newsroom tool would."""
    import c2pa

    manifest = {
        "claim_generator_info": [{"name": "test-camera", "version": "1.0"}],
        "title": out.name,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
            {"action": "c2pa.created", "digitalSourceType": IPTC + "digitalCapture"}]}}],
    }
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    builder = c2pa.Builder(json.dumps(manifest))
    with open(src, "rb") as source, open(out, "w+b") as dest, creds.c2pa_signer() as signer:
        builder.sign(signer, "video/mp4", source, dest)


def build_tree(base: Path, clip: Path, pki: DevPki, other_pki: DevPki) -> Path:
    """The tree described in the module docstring; built once, then reused by every test module."""
    root = base / "tree"
    if (base / "complete").is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)
    for folder in ("trust", "generated", "published", "drafts", "misc", "camera", ".hidden", ".git"):
        (root / folder).mkdir(parents=True)
    (root / "provenance.toml").write_text(TREE_POLICY)
    shutil.copy(pki.root_ca, root / "trust/anchors.pem")

    sign_file(clip, root / "generated/trusted.mp4", pki, generator="Sora", generator_version="2")
    shutil.copy(root / "generated/trusted.mp4", root / "generated/renamed")
    webm = make_clip(base / "clip.webm", "webm", seconds=0.5)
    sign_file(webm, root / "generated/sidecar.webm", pki, generator="Veo")
    sign_file(clip, root / "generated/untrusted.mp4", other_pki, generator="Sora")
    sign_file(clip, root / "generated/tampered.mp4", pki, generator="Sora")
    flip_video_byte(root / "generated/tampered.mp4")
    sign_camera_capture(clip, root / "generated/captured.mp4", pki)
    (root / "generated/corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00" + b"\xde\xad" * 400)
    for folder in ("published", "drafts", "misc", ".hidden", ".git"):
        shutil.copy(clip, root / folder / "unsigned.mp4")
    sign_camera_capture(clip, root / "camera/original.mp4", pki)
    sign_file(clip, root / "camera/generated.mp4", pki, generator="Sora")
    (root / "notes.txt").write_text("not media\n")
    (base / "complete").write_text("")
    return root


@pytest.fixture(scope="session")
def check_tree(tmp_path_factory: pytest.TempPathFactory, clip: Path, pki: DevPki, other_pki: DevPki) -> Path:
    return build_tree(tmp_path_factory.getbasetemp() / "check-tree", clip, pki, other_pki)


@pytest.fixture(scope="session")
def sarif_validator() -> Any:
    return load_sarif_validator()


def check_env(tmp: Path) -> dict[str, str]:
    """No per-user trust files, no job summary, no progress: the environment of a plain CI step."""
    return {"XDG_CONFIG_HOME": str(tmp / "config"), "GITHUB_STEP_SUMMARY": "", "PROVENANCE_PROGRESS": ""}


def run_check(tree: Path, tmp: Path, *args: object, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return run_cli("check", *args, cwd=tree, env={**check_env(tmp), **(env or {})})


def violations_by_path(files: list[dict[str, Any]]) -> dict[str, tuple[str, str, list[str]]]:
    return {f["path"]: (f["status"], f["verdict"], [v["rule"] for v in f["violations"]]) for f in files}


@pytest.mark.slow
def test_text_report(check_tree: Path, tmp_path: Path) -> None:
    result = run_check(check_tree, tmp_path)
    assert result.code == 1, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1].rstrip(":") for line in lines] == sorted(EXPECTED)  # one line per file, by path
    by_path = {line.split()[1].rstrip(":"): line for line in lines}
    for path, (status, verdict, rules) in EXPECTED.items():
        assert by_path[path].startswith(f"{status.upper():<6} {path}: {verdict}")
        for rule in rules:
            assert f"{rule}: " in by_path[path]
    assert by_path["published/unsigned.mp4"] == (
        "FAIL   published/unsigned.mp4: unsigned — missing-credentials: has no Content Credentials, "
        "and the policy requires them")
    assert by_path["drafts/unsigned.mp4"] == "EXEMPT drafts/unsigned.mp4: unsigned (exempt: allow_unsigned)"
    assert by_path["generated/untrusted.mp4"].endswith(
        "untrusted-signer: signed by CN=Someone Else Signer,O=Someone Else, which does not chain to a trust anchor")
    assert "the video data changed after signing (assertion.bmffHash.mismatch)" in by_path["generated/tampered.mp4"]
    assert by_path["camera/generated.mp4"].endswith(
        "forbidden-ai: is declared AI-generated (trainedAlgorithmicMedia), which the policy forbids here")
    assert by_path["generated/captured.mp4"].endswith(
        "missing-ai-disclosure: the credentials do not declare AI generation (digitalSourceType: digitalCapture), "
        "and the policy requires it")
    # The summary goes to stderr only (not repeated on stdout).
    assert result.stderr.strip().splitlines()[-1] == SUMMARY
    assert SUMMARY not in result.stdout


def test_json_report(check_tree: Path, tmp_path: Path) -> None:
    result = run_check(check_tree, tmp_path, "--format", "json")
    assert result.code == 1, result.stderr
    report = json.loads(result.stdout)
    assert violations_by_path(report["files"]) == EXPECTED
    assert [f["path"] for f in report["files"]] == sorted(EXPECTED)
    assert report["summary"] | {"seconds": 0} == {
        "files": 12, "passed": 5, "failed": 6, "exempt": 1, "violations": 6, "ok": False, "text": SUMMARY,
        "seconds": 0,
    }
    assert report["policy"]["source"] == "provenance.toml"
    assert report["trust_anchors"] == str(check_tree / "trust/anchors.pem")
    # Each file object is the verify JSON object plus status and violations.
    trusted = next(f for f in report["files"] if f["path"] == "generated/trusted.mp4")
    assert trusted["ai_generated"] is True and trusted["generator"] == {"name": "Sora", "version": "2"}
    assert trusted["signer"]["subject"] == "CN=Provenance Test Signer,O=Provenance Test"
    sidecar = next(f for f in report["files"] if f["path"] == "generated/sidecar.webm")
    assert sidecar["manifest_source"] == "sidecar"
    assert result.stderr.strip().splitlines()[-1] == SUMMARY


def test_junit_report(check_tree: Path, tmp_path: Path) -> None:
    result = run_check(check_tree, tmp_path, "--format", "junit")
    assert result.code == 1, result.stderr
    suites = ET.fromstring(result.stdout)
    suite = suites.find("testsuite")
    assert suite is not None
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "12", "failures": "6", "errors": "0", "skipped": "1"}
    cases = suite.findall("testcase")
    assert len(cases) == 12 == int(suites.get("tests", "0"))
    failures = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    skipped = [c.get("name") for c in cases if c.find("skipped") is not None]
    assert skipped == ["drafts/unsigned.mp4"]
    expected_failures = {path: rules for path, (status, _, rules) in EXPECTED.items() if status == "fail"}
    assert {name: (f.get("type") or "").split(",") for name, f in failures.items() if f is not None} == \
        expected_failures
    missing = failures["published/unsigned.mp4"]
    assert missing is not None and missing.text == (
        "missing-credentials: has no Content Credentials, and the policy requires them")


def test_sarif_report(check_tree: Path, tmp_path: Path, sarif_validator: Any) -> None:
    result = run_check(check_tree, tmp_path, "--format", "sarif")
    assert result.code == 1, result.stderr
    log = json.loads(result.stdout)
    errors = sorted(sarif_validator.iter_errors(log), key=str)
    assert not errors, "\n".join(e.message for e in errors[:5])
    run = log["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    found = []
    for res in run["results"]:
        assert len(res["locations"]) == 1
        artifact = res["locations"][0]["physicalLocation"]["artifactLocation"]
        assert artifact["uriBaseId"] == "%SRCROOT%"
        assert rules[res["ruleIndex"]] == res["ruleId"]
        found.append((artifact["uri"], res["ruleId"]))
    expected = sorted((path, rule) for path, (_, _, rs) in EXPECTED.items() for rule in rs)
    assert sorted(found) == expected
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == check_tree.as_uri() + "/"


def test_github_report_and_step_summary(check_tree: Path, tmp_path: Path) -> None:
    summary_file = tmp_path / "step-summary.md"
    summary_file.write_text("earlier step\n")
    result = run_check(check_tree, tmp_path, "--format", "github",
                       env={"GITHUB_STEP_SUMMARY": str(summary_file)})
    assert result.code == 1, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 6
    annotated = set()
    for line in lines:
        assert line.startswith("::error file=")
        props, message = line[len("::error "):].split("::", 1)
        fields = dict(p.split("=", 1) for p in props.split(","))
        assert fields["title"].startswith("provenance check%3A ")  # ':' escaped inside a property
        annotated.add((fields["file"], fields["title"].removeprefix("provenance check%3A ")))
        assert "\n" not in message
    assert annotated == {(p, r) for p, (_, _, rs) in EXPECTED.items() for r in rs}
    summary = summary_file.read_text()
    assert summary.startswith("earlier step\n## provenance check")  # appended, not replaced
    rows = [row for row in summary.splitlines() if row.startswith("| <code>")]
    assert len(rows) == 6
    assert "| <code>published/unsigned.mp4</code> | unsigned | <code>missing-credentials</code> |" in summary
    assert SUMMARY in summary


@pytest.mark.parametrize("report_format", ["text", "json", "junit", "sarif", "github"])
def test_output_file_and_exit_code(check_tree: Path, tmp_path: Path, report_format: str) -> None:
    out = tmp_path / f"report.{report_format}"
    result = run_check(check_tree, tmp_path, "--format", report_format, "--output", out)
    assert result.code == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == SUMMARY
    text = out.read_text()
    if report_format == "text":
        assert text.splitlines()[-1] == SUMMARY  # a report file carries its own summary
    assert list(tmp_path.glob(".report*")) == []  # no temporary file left behind


@pytest.mark.parametrize("report_format", ["text", "json", "junit", "sarif", "github"])
def test_passing_subset_exits_zero(check_tree: Path, tmp_path: Path, report_format: str) -> None:
    result = run_check(check_tree, tmp_path, "generated/trusted.mp4", "camera/original.mp4", "misc",
                       "--format", report_format)
    assert result.code == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "3 files checked: 3 passed, 0 failed"
    if report_format == "github":
        assert result.stdout == ""


@pytest.mark.slow
def test_same_report_whatever_the_number_of_workers(check_tree: Path, tmp_path: Path) -> None:
    reports = []
    for jobs in ("1", "2", "5"):
        result = run_check(check_tree, tmp_path, "--format", "json", "--jobs", jobs)
        assert result.code == 1
        report = json.loads(result.stdout)
        del report["summary"]["seconds"]
        reports.append(report)
    assert reports[0] == reports[1] == reports[2]


# ---- integration files: the GitHub Action and the pre-commit hook --------------------------------

ROOT = Path(__file__).resolve().parents[2]


def _action() -> dict[str, Any]:
    import yaml

    action: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text())
    return action


def test_action_passes_inputs_only_through_env() -> None:
    from provenance_cli.check import check as command

    action = _action()
    assert action["runs"]["using"] == "composite"
    known_env = {p.envvar for p in command.params if isinstance(p.envvar, str)}
    used_inputs = set()
    for step in action["runs"]["steps"]:
        if "run" not in step:
            continue
        assert "${{" not in step["run"], f"expression inside run: of step {step.get('name')}"
        assert step["shell"] == "bash"
        for name, value in step.get("env", {}).items():
            if name.startswith("PROVENANCE_"):
                assert name in known_env | {"PROVENANCE_PATHS"}, name
            used_inputs.update(part.split("}}")[0].strip().removeprefix("inputs.")
                               for part in str(value).split("${{")[1:] if "inputs." in part)
    assert used_inputs | {"python-version"} == set(action["inputs"])


@pytest.mark.slow
def test_action_check_step_runs(check_tree: Path, tmp_path: Path) -> None:
    """Run the action's check step script the way the runner does: inputs in env, bash, step files."""
    import os
    import subprocess
    import sys

    action = _action()
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "check")
    inputs = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
    inputs.update({"paths": "generated\npublished", "format": "github", "output": ""})
    env = {name: str(value).replace("${{ inputs.", "").replace(" }}", "") for name, value in step["env"].items()}
    env = {name: inputs.get(value, value) for name, value in env.items()}
    github_output, step_summary = tmp_path / "output", tmp_path / "summary.md"
    env.update({
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "GITHUB_OUTPUT": str(github_output),
        "GITHUB_STEP_SUMMARY": str(step_summary),
    })
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=check_tree, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    annotated = sorted(line.split(",")[0].removeprefix("::error file=") for line in proc.stdout.splitlines())
    assert annotated == sorted(p for p, (_, _, rules) in EXPECTED.items()
                               if rules and p.startswith(("generated/", "published/")))
    assert "## provenance check" in step_summary.read_text()
    assert not github_output.exists()  # no report file asked for

    env["PROVENANCE_CHECK_FORMAT"], env["PROVENANCE_CHECK_OUTPUT"] = "sarif", str(tmp_path / "out.sarif")
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=check_tree, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1 and proc.stdout == ""
    assert github_output.read_text() == f"report={tmp_path / 'out.sarif'}\n"
    assert json.loads((tmp_path / "out.sarif").read_text())["version"] == "2.1.0"


def test_pre_commit_hook_manifest(check_tree: Path, tmp_path: Path) -> None:
    import re

    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "provenance-check")
    assert hook["entry"] == "provenance check" and hook["language"] == "python"
    pattern = re.compile(hook["files"])
    matched = sorted(p for p in EXPECTED if pattern.search(p))
    assert matched == sorted(p for p in EXPECTED if p != "generated/renamed")
    assert pattern.search("Clip.MOV") and pattern.search("a.webm.c2pa") and not pattern.search("notes.txt")
    # What pre-commit runs: the entry with the matched files as arguments.
    result = run_check(check_tree, tmp_path, *matched)
    assert result.code == 1
    assert result.stderr.strip().splitlines()[-1] == "11 files checked: 4 passed, 6 failed (6 violations), 1 exempt"
