"""The masking: where the mark's energy goes in a frame, and the two budgets that bound it."""

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from provenance.watermark import coding, pattern
from tests.support.clips import ffmpeg_exe

HEIGHT, WIDTH = 180, 320


def marker() -> pattern.Marker:
    return pattern.Marker(coding.encode(bytes.fromhex("0123456789abcdef")), HEIGHT, WIDTH)


def mark_of(luma: np.ndarray) -> np.ndarray:
    return marker().mark(luma).astype(np.float64) - luma


def rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(values * values)))


def gradient() -> np.ndarray:
    ramp = np.linspace(40, 200, WIDTH)[None, :] + np.linspace(0, 30, HEIGHT)[:, None]
    return ramp.round().astype(np.uint8)


def ssim(a: np.ndarray, b: np.ndarray, tmp: Path) -> float:
    """Luma SSIM of two grey frames, from ffmpeg's ssim filter (as the benchmark measures clips)."""
    (tmp / "a.gray").write_bytes(a.tobytes())
    (tmp / "b.gray").write_bytes(b.tobytes())
    raw = ["-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{WIDTH}x{HEIGHT}"]
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", *raw, "-i", str(tmp / "a.gray"), *raw, "-i",
                          str(tmp / "b.gray"), "-lavfi", "ssim", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    found = re.search(r"All:([\d.]+)", out)
    assert found is not None, out[-300:]
    return float(found[1])


def test_the_mark_is_strongest_where_the_picture_is_flat() -> None:
    rng = np.random.default_rng(1)
    luma = np.full((HEIGHT, WIDTH), 120, dtype=np.uint8)
    luma[:, WIDTH // 2:] = rng.integers(60, 180, size=(HEIGHT, WIDTH - WIDTH // 2), dtype=np.uint8)
    mark = mark_of(luma)
    flat, busy = rms(mark[:, : WIDTH // 2 - 16]), rms(mark[:, WIDTH // 2 + 16:])
    assert flat > 1.0 and busy < flat / 3  # texture gets BUSY_AMPLITUDE, mostly rounded away


def test_a_smooth_gradient_stays_within_the_ssim_budget(tmp_path: Path) -> None:
    luma = gradient()
    marked = marker().mark(luma)
    assert ssim(marked, luma, tmp_path) >= 0.98
    # Flat blocks lose about mark² / C2 of SSIM each, so the budget fixes the mark's RMS there;
    # rounding to whole levels moves each pixel by at most 0.5.
    limit = np.sqrt(pattern.MAX_SSIM_LOSS * pattern._SSIM_C2)
    assert 0.8 * limit < rms(marked.astype(np.float64) - luma) <= limit + 0.5


@pytest.mark.parametrize("noise", [0.0, 1.0, 2.0, 4.0, 8.0, 30.0])
def test_no_frame_is_marked_above_the_rms_budget(noise: float) -> None:
    rng = np.random.default_rng(2)
    luma = np.clip(gradient() + rng.normal(0, noise, size=(HEIGHT, WIDTH)), 0, 255).astype(np.uint8)
    assert rms(mark_of(luma)) <= pattern.MAX_RMS + 0.5  # rounding moves a pixel by at most 0.5


def test_a_repeated_frame_is_marked_as_a_fresh_marker_would() -> None:
    rng = np.random.default_rng(3)
    still, other = (np.clip(gradient() + rng.normal(0, s, size=(HEIGHT, WIDTH)), 0, 255).astype(np.uint8)
                    for s in (2.0, 6.0))
    reused = marker()
    for frame in (still, still, other, still):
        assert np.array_equal(reused.mark(frame), marker().mark(frame))
