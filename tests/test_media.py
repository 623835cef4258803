"""Media is recognised by content, not by name; broken containers are refused before signing."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance import media
from provenance.errors import MediaError
from tests.support.clips import make_clip
from tests.support.formats import MIME, make_media


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


@pytest.fixture(scope="module")
def other_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One real file of each other kind c2pa reads, without an extension."""
    folder = tmp_path_factory.mktemp("other-media")
    return {kind: make_media(folder / kind, kind) for kind in [*MIME, "jxl-codestream"]}


@pytest.mark.parametrize("kind", [*MIME, "jxl-codestream"])
def test_detects_every_kind_c2pa_reads_by_content(other_media: dict[str, Path], kind: str) -> None:
    import c2pa

    found = media.detect(other_media[kind])
    assert found.mime == MIME.get(kind, "image/jxl")
    assert found.mime in c2pa.Reader.get_supported_mime_types()
    assert found.embeddable is (kind != "jxl-codestream")  # a bare JPEG XL codestream holds no manifest
    assert media.is_media(other_media[kind])


def test_an_svg_is_known_by_its_root_element(tmp_path: Path) -> None:
    long_prolog = tmp_path / "icon"
    long_prolog.write_text('<?xml version="1.0"?>\n<!--' + "licence text " * 400 + '-->\n'
                           '<!DOCTYPE svg [ <!ENTITY gt ">"> ]>\n<svg:svg xmlns:svg="http://www.w3.org/2000/svg"/>')
    assert media.detect(long_prolog) is media.SVG  # its root lies past the first bytes
    for name, text in [("pom.xml", '<?xml version="1.0"?>\n<project><svg/></project>'),
                       ("page.html", "<!DOCTYPE html>\n<html><body><svg></svg></body></html>")]:
        (tmp_path / name).write_text(text)
        assert not media.is_media(tmp_path / name)  # XML, but no SVG: not c2pa's to read


def test_an_id3_tag_before_flac_is_looked_past(tmp_path: Path, other_media: dict[str, Path]) -> None:
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 1, 0]) + bytes(128)  # a 128-byte tag (syncsafe size)
    tagged = tmp_path / "tagged"
    tagged.write_bytes(tag + other_media["flac"].read_bytes())
    assert media.detect(tagged) is media.FLAC
    tagged.write_bytes(tag + other_media["mp3"].read_bytes()[media.id3_tag_size(other_media["mp3"].read_bytes()):])
    assert media.detect(tagged) is media.MP3
