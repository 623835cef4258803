"""Media is recognised by content, not by name; broken containers are refused before signing."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance import media
from provenance.errors import MediaError
from tests.support.clips import make_clip


@pytest.mark.parametrize(("container", "mime", "embeddable"), [
    ("mp4", "video/mp4", True), ("mov", "video/quicktime", True), ("m4v", "video/x-m4v", True),
    ("fmp4", "video/mp4", True), ("avi", "video/avi", True), ("webm", "video/webm", False),
    ("mkv", "video/x-matroska", False),
])
def test_detects_by_content_even_without_extension(tmp_path: Path, container: str, mime: str,
                                                   embeddable: bool) -> None:
    clip = make_clip(tmp_path / f"clip.{'mp4' if container == 'fmp4' else container}", container)
    renamed = clip.rename(tmp_path / "no_extension")
    kind = media.detect(renamed)
    assert (kind.mime, kind.embeddable) == (mime, embeddable)
    media.check_structure(renamed, kind)


def test_rejects_what_is_not_media(tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_text("plain text")
    (tmp_path / "empty.mp4").touch()
    with pytest.raises(MediaError, match="not a recognised media type"):
        media.detect(tmp_path / "a.mp4")
    with pytest.raises(MediaError, match="empty"):
        media.detect(tmp_path / "empty.mp4")
    with pytest.raises(MediaError, match="directory"):
        media.detect(tmp_path)
    with pytest.raises(MediaError, match="no such file"):
        media.detect(tmp_path / "nope.mp4")
    assert not media.is_media(tmp_path / "a.mp4")


@pytest.mark.parametrize("container", ["mp4", "avi"])
def test_truncation_is_detected(tmp_path: Path, container: str) -> None:
    clip = make_clip(tmp_path / f"clip.{container}", container)
    data = clip.read_bytes()
    cut = tmp_path / f"cut.{container}"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(MediaError, match="truncated"):
        media.check_structure(cut, media.detect(cut))


def test_sidecar_path_keeps_full_name() -> None:
    assert media.sidecar_path("dir/clip.webm") == Path("dir/clip.webm.c2pa")
