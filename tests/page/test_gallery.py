"""A folder's media for the verify page: found as `check` finds them, verified in the background."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from provenance.page.gallery import Gallery
from provenance.page.report import page_report
from provenance.verdict import Verdict
from provenance.verify import Verifier
from tests.support.clips import make_clip

pytestmark = pytest.mark.slow


def test_the_gallery_lists_media_verifies_them_and_names_only_its_own_items(tmp_path: Path) -> None:
    make_clip(tmp_path / "b.mp4")
    (tmp_path / "nested").mkdir()
    make_clip(tmp_path / "nested" / "a.mp4")
    (tmp_path / "b.mp4.c2pa").write_bytes(b"not a manifest")  # a sidecar is read with its media, and is no item
    (tmp_path / "notes.txt").write_text("no media")
    (tmp_path / ".hidden").mkdir()
    make_clip(tmp_path / ".hidden" / "c.mp4")
    verifier = Verifier()

    def report(path: Path) -> tuple[Verdict, dict[str, object]]:
        verdict = verifier.verify(path)
        return verdict, page_report(verdict, path)

    gallery = Gallery(tmp_path, report)
    assert [(i.index, i.name) for i in gallery.items] == [(0, "b.mp4"), (1, "nested/a.mp4")]
    assert gallery.progress()["done"] == 0
    gallery.start()
    deadline = time.monotonic() + 120
    while gallery.progress()["done"] < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    gallery.stop()
    progress = gallery.progress()
    assert (progress["total"], progress["done"]) == (2, 2)
    assert {i["name"]: i["badge"] for i in progress["items"]} == {"b.mp4": "Unreadable",
                                                                   "nested/a.mp4": "No credentials"}
    assert str(progress["items"][1]["poster"]).startswith("data:image/jpeg")
    assert gallery.item(-1) is None and gallery.item(2) is None
    item = gallery.item(1)
    assert item is not None and item.path == tmp_path / "nested" / "a.mp4"
