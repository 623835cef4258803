"""`check` with a manifest repository: a stripped clip's recovered AI disclosure can satisfy
require_ai_disclosure (when the policy says so, and the recovered manifest is trusted under the trust
anchors), but never stands in for credentials on the file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from provenance.keys.pki import DevPki
from tests.support.cli import run_cli
from tests.support.clips import ffmpeg_exe, make_clip

POLICY = """\
require_credentials = ["signed/"]
require_ai_disclosure = ["uploads/", "signed/"]
accept_recovered_ai_disclosure = true
"""


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory, pki: DevPki) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tree")
    store = root.parent / f"{root.name}-manifests.sqlite3"
    source = make_clip(root.parent / f"{root.name}-source.mp4", seconds=3, source="mandelbrot", size="320x240",
                       rate=25)
    signed = root.parent / f"{root.name}-signed.mp4"
    result = run_cli("sign", source, "-o", signed, "--cert", pki.signer_chain, "--key", pki.signer_key,
                     "--generator", "Sora", "--store", store)
    assert result.code == 0, result.stderr
    for folder in ("uploads", "signed"):
        (root / folder).mkdir()
        # Stripped: remuxed with -c copy, which drops the manifest box but keeps every frame.
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(signed), "-map", "0",
                        "-c", "copy", str(root / folder / "stripped.mp4")], check=True)
    (root / "provenance.toml").write_text(POLICY)
    return root, store


def check_json(root: Path, *args: object) -> tuple[int, dict[str, dict]]:  # type: ignore[type-arg]
    result = run_cli("check", root, "--root", root, "--format", "json", "--jobs", "2", *args)
    assert result.code in (0, 1), result.stderr
    files = {f["path"]: f for f in json.loads(result.stdout)["files"]}
    return result.code, files


@pytest.mark.slow
def test_recovered_disclosure_satisfies_policy_but_not_credentials(tree: tuple[Path, Path], pki: DevPki) -> None:
    root, store = tree
    code, files = check_json(root, "--store", store, "--trust-anchors", pki.root_ca)
    upload, signed = files["uploads/stripped.mp4"], files["signed/stripped.mp4"]
    assert upload["verdict"] == "unsigned" and upload["recovered"]["ai_generated"] is True
    assert upload["recovered"]["verdict"] == "trusted"
    assert upload["violations"] == []
    # The same recovered credentials do not count as credentials on the file itself.
    assert signed["recovered"] is not None
    assert [v["rule"] for v in signed["violations"]] == ["missing-credentials"]
    assert code == 1


@pytest.mark.slow
def test_an_untrusted_recovered_disclosure_does_not_count(tree: tuple[Path, Path]) -> None:
    """Without trust anchors nothing recovered is trusted: anyone could have registered it."""
    root, store = tree
    _, files = check_json(root, "--store", store)
    upload = files["uploads/stripped.mp4"]
    assert upload["recovered"]["verdict"] == "valid" and upload["recovered"]["ai_generated"] is True
    assert [v["rule"] for v in upload["violations"]] == ["missing-ai-disclosure"]


def test_without_recovery_the_upload_fails(tree: tuple[Path, Path]) -> None:
    root, store = tree
    _, files = check_json(root, "--store", store, "--no-recovery")
    upload = files["uploads/stripped.mp4"]
    assert upload["recovered"] is None
    assert [v["rule"] for v in upload["violations"]] == ["missing-ai-disclosure"]
