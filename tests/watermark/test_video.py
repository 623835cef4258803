import subprocess
from pathlib import Path

import pytest

from provenance.errors import WatermarkError
from provenance.watermark import Payload, detect, embed
from tests.support.clips import ffmpeg_exe, make_clip
from tests.support.watermarks import BAD_INPUTS, bad_clip

pytestmark = pytest.mark.slow


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("wm") / "source.mp4", seconds=3, source="testsrc2",
                     size="320x180", rate=25)


@pytest.fixture(scope="module")
def marked(source: Path) -> tuple[Path, Payload]:
    payload = Payload.from_manifest_id("urn:c2pa:test-watermark")
    out = source.with_name("marked.mp4")
    result = embed(source, out, payload)
    assert result.frames == 75 and (result.width, result.height) == (320, 180)
    return out, payload


def test_mark_is_found_and_audio_kept(marked: tuple[Path, Payload]) -> None:
    path, payload = marked
    found = detect(path)
    assert found.payload == payload and found.score > 6
    streams = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    assert "Audio: aac" in streams


def test_mark_survives_crop_and_reencode(marked: tuple[Path, Payload]) -> None:
    path, payload = marked
    copy = path.with_name("cropped.mp4")
    ffmpeg("-i", str(path), "-vf", "crop=trunc(iw*0.45)*2:trunc(ih*0.45)*2,eq=brightness=0.1", "-c:v", "libx264",
           "-crf", "23", str(copy))
    assert detect(copy).payload == payload


def test_unmarked_clip_gives_no_payload(source: Path) -> None:
    found = detect(source)
    assert found.payload is None and not found.found


@pytest.mark.parametrize("kind", BAD_INPUTS)
def test_bad_input_is_refused_and_leaves_nothing(tmp_path: Path, kind: str) -> None:
    bad = bad_clip(tmp_path / "bad.mp4", kind)
    out = tmp_path / "out.mp4"
    with pytest.raises(WatermarkError) as raised:
        embed(bad, out, Payload.random())
    assert "\n" not in raised.value.one_line()
    assert {p.name for p in tmp_path.iterdir()} <= {"bad.mp4", "good.mp4"}  # no output, not even a hidden part
    with pytest.raises(WatermarkError):
        detect(bad)
