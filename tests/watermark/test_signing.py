"""`sign --watermark` (provenance.signing with WatermarkSettings): the marked clip is what is signed, its
manifest lists the c2pa.watermarked action and both soft bindings, and the repository finds it by the mark."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import c2pa
import pytest

from provenance import signing
from provenance.durability.repository import Match, open_repository
from provenance.errors import MediaError, UsageError
from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.manifest import WATERMARKED, Disclosure
from provenance.trust.anchors import load_anchors
from provenance.verdict import TRAINED_ALGORITHMIC_MEDIA, Outcome
from provenance.verify import Verifier
from provenance.watermark import ALGORITHM_ID, detect
from tests.support.clips import ffmpeg_exe
from tests.support.watermarks import MarkedClip, ffmpeg, sign_marked
from tests.test_manifest import rubric_violations

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory, pki: DevPki) -> MarkedClip:
    return sign_marked(tmp_path_factory.mktemp("sign-watermark"), pki)


def _crjson(path: Path) -> dict[str, Any]:
    with open(path, "rb") as stream, c2pa.Reader("video/mp4", stream) as reader:
        report: dict[str, Any] = json.loads(reader.crjson())
    return report["manifests"][0]  # type: ignore[no-any-return]  # the active manifest first


def _bindings(manifest: dict[str, Any]) -> dict[str, Any]:
    assertions = manifest["assertions"].items()
    return {data["alg"]: data for label, data in assertions if label.startswith("c2pa.soft-binding")}


def test_the_manifest_lists_the_action_and_both_soft_bindings(marked: MarkedClip) -> None:
    active = _crjson(marked.signed)
    assert rubric_violations(active) == []
    actions = active["assertions"]["c2pa.actions.v2"]
    assert [a["action"] for a in actions["actions"]] == ["c2pa.created", WATERMARKED]
    assert actions["allActionsIncluded"] is True
    assert actions["actions"][0]["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert "digitalSourceType" not in actions["actions"][1]  # the mark is no editorial change
    bindings = _bindings(active)
    assert set(bindings) == {"io.iscc.v0", ALGORITHM_ID}
    [block] = bindings[ALGORITHM_ID]["blocks"]
    assert bytes(block["value"]) == marked.payload.value  # crJSON shows the CBOR array of byte values


def test_the_marked_clip_verifies_and_carries_the_mark(marked: MarkedClip, pki: DevPki) -> None:
    assert Verifier(load_anchors(pki.root_ca)).verify(marked.signed).verdict is Outcome.TRUSTED
    assert detect(marked.signed).payload == marked.payload
    assert detect(marked.source).payload is None


def _audio_md5(path: Path) -> str:
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:a",
                          "-c", "copy", "-f", "md5", "-"], capture_output=True, text=True, check=True).stdout
    return out.strip()


def test_the_audio_is_copied_untouched(marked: MarkedClip) -> None:
    assert _audio_md5(marked.signed) == _audio_md5(marked.source)
    report = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(marked.signed)], capture_output=True,
                            text=True).stderr
    assert "Audio: aac" in report and "Video: h264" in report


def test_the_repository_finds_the_manifest_by_the_watermark_id(marked: MarkedClip) -> None:
    repository = open_repository(marked.store, create=False)
    assert repository is not None
    with repository:
        assert repository.match(ALGORITHM_ID, marked.payload.value) == [Match(marked.manifest_id, 0)]
        assert repository.match(ALGORITHM_ID, bytes(8)) == []


def test_a_watermark_needs_video_and_leaves_nothing_behind(tmp_path: Path, pki: DevPki) -> None:
    audio = tmp_path / "audio.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine", "-t", "1", "-c:a", "aac", audio)
    out = tmp_path / "out" / "signed.mp4"
    out.parent.mkdir()
    credentials = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    with pytest.raises(MediaError, match="cannot carry a watermark"):
        signing.sign(audio, out, credentials, Disclosure(), watermark=signing.WatermarkSettings())
    tiny = tmp_path / "tiny.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=16x16:rate=25", "-t", "1", "-c:v", "libx264", tiny)
    with pytest.raises(MediaError, match="too small"):
        signing.sign(tiny, out, credentials, Disclosure(), watermark=signing.WatermarkSettings())
    assert list(out.parent.iterdir()) == []  # neither the output nor the marked temporary file


def test_a_watermark_needs_the_soft_binding(marked: MarkedClip, pki: DevPki, tmp_path: Path) -> None:
    credentials = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    with pytest.raises(UsageError, match="needs the soft binding"):
        signing.sign_and_register(marked.source, tmp_path / "out.mp4", credentials, Disclosure(),
                                  store=tmp_path / "m.sqlite3", soft_binding=False,
                                  watermark=signing.WatermarkSettings())
    assert list(tmp_path.iterdir()) == []
