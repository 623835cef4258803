"""`provenance watermark embed|detect` and `provenance sign --watermark`, run as real processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance.keys.pki import DevPki
from provenance.watermark import ALGORITHM_ID, detect
from tests.support.cli import run_cli
from tests.support.clips import make_clip
from tests.support.watermarks import BAD_INPUTS, bad_clip, ffmpeg

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("wm-cli") / "source.mp4", seconds=3, size="320x180", rate=25)


def test_embed_then_detect(source: Path, tmp_path: Path) -> None:
    marked = tmp_path / "marked.mp4"
    result = run_cli("watermark", "embed", source, "-o", marked, "--id", "0123456789ABCDEF", "--crf", "20")
    assert result.code == 0, result.stderr
    assert result.stdout.startswith(f"marked {source} -> {marked}: id 0123456789abcdef (75 frames, 320×180, "
                                    "libx264 CRF 20, audio copied)")
    copy = tmp_path / "copy.mp4"
    ffmpeg("-i", marked, "-vf", "scale=256:144", "-c:v", "libx264", "-crf", "26", copy)
    found = run_cli("watermark", "detect", copy)
    assert found.code == 0 and f"{copy}: watermark found: id 0123456789abcdef ({ALGORITHM_ID};" in found.stdout
    report = json.loads(run_cli("watermark", "detect", copy, "--format", "json").stdout)
    assert (report["found"], report["identifier"], report["algorithm"]) == (True, "0123456789abcdef", ALGORITHM_ID)
    assert report["false_positive_bound"] < 1e-9 and report["bit_agreement"] > 0.75  # chance is 0.5
    again = run_cli("watermark", "embed", source, "-o", marked)
    assert again.code == 2 and "already exists" in again.stderr


def test_an_unmarked_clip_exits_1(source: Path) -> None:
    result = run_cli("watermark", "detect", source, "--format", "json")
    assert result.code == 1 and json.loads(result.stdout)["identifier"] is None
    assert run_cli("watermark", "detect", source).stdout.startswith(f"{source}: no watermark found (score ")


def test_a_bad_id_is_a_usage_error(source: Path, tmp_path: Path) -> None:
    result = run_cli("watermark", "embed", source, "-o", tmp_path / "out.mp4", "--id", "abc")
    assert result.code == 2 and "16 hex digits" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(tmp_path: Path, kind: str) -> None:
    bad = bad_clip(tmp_path / "bad.mp4", kind)
    before = set(tmp_path.iterdir())
    for args in (("embed", bad, "-o", tmp_path / "out.mp4"), ("detect", bad)):
        result = run_cli("watermark", *args)
        assert result.code == 2, (args, result.stderr)
        assert result.stderr.startswith("provenance: error: ") and result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr and result.stdout == ""
    assert set(tmp_path.iterdir()) == before  # no output, not even a hidden part


def test_sign_with_watermark(source: Path, pki: DevPki, tmp_path: Path) -> None:
    out, store = tmp_path / "signed.mp4", tmp_path / "manifests.sqlite3"
    result = run_cli("sign", source, "-o", out, "--cert", pki.signer_chain, "--key", pki.signer_key,
                     "--generator", "Sora", "--watermark", "--crf", "20", "--store", store)
    assert result.code == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("watermark: id ")]
    identifier = line.split()[2]
    found = detect(out)
    assert found.payload is not None and found.payload.hex == identifier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifests.sqlite3", "signed.mp4"]  # temp file gone


def test_codec_and_crf_need_watermark(source: Path, pki: DevPki, tmp_path: Path) -> None:
    result = run_cli("sign", source, "-o", tmp_path / "signed.mp4", "--cert", pki.signer_chain, "--key",
                     pki.signer_key, "--crf", "20", "--store", tmp_path / "m.sqlite3")
    assert result.code == 2 and "--watermark only" in result.stderr
    assert not (tmp_path / "signed.mp4").exists()
