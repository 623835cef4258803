"""Formats c2pa parses whole or by a count the file declares (PDF, SVG, ZIP, ID3): refused before c2pa
parses them when what they declare is over a limit (docs/security.md, Limits)."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

from provenance import codes, limits
from provenance.keys.pki import DevPki
from provenance.media import id3_tag_size, syncsafe
from provenance.trust.anchors import load_anchors
from provenance.verdict import Outcome
from provenance.verify import Verifier
from tests.support.formats import builder_sign, make_media, pdf_bytes


def refused(path: Path) -> str:
    """Why the file was refused; fails unless it was, within a second."""
    started = time.monotonic()
    v = Verifier().verify(path)
    assert time.monotonic() - started < 1.0
    assert v.verdict is Outcome.ERROR and v.error is not None and ": refused: " in v.error, v
    return v.error


@pytest.mark.parametrize("name", [b"/ObjStm", b"/Obj#53tm"])
def test_a_pdf_object_stream_declaring_a_million_objects(tmp_path: Path, name: bytes) -> None:
    # c2pa loads each object of an object stream: a million took 4.6 s and 1.2 GB from a 4.7 MB file.
    bomb = b"<< /Type %s /N 1000000 /First 10 /Length 4 >>\nstream\nxxxx\nendstream" % name
    (tmp_path / "bomb.pdf").write_bytes(pdf_bytes([bomb]))
    assert "more than 100,000 objects" in refused(tmp_path / "bomb.pdf")


def test_a_pdf_object_stream_whose_count_is_indirect(tmp_path: Path) -> None:
    stream = b"<< /Type /ObjStm /N 6 0 R /First 10 /Length 4 >>\nstream\nxxxx\nendstream"
    (tmp_path / "indirect.pdf").write_bytes(pdf_bytes([stream, b"1000000"]))
    assert "does not say plainly how many objects" in refused(tmp_path / "indirect.pdf")


def test_a_pdf_of_too_many_objects(tmp_path: Path) -> None:
    (tmp_path / "many.pdf").write_bytes(pdf_bytes([b"[1]"] * limits.MAX_PDF_OBJECTS))
    assert "more than 100,000 objects" in refused(tmp_path / "many.pdf")


@pytest.mark.parametrize("kind", ["pdf", "svg"])
def test_a_document_c2pa_reads_whole_is_refused_over_the_size_limit(tmp_path: Path, kind: str) -> None:
    big = make_media(tmp_path / f"big.{kind}", kind)
    with open(big, "r+b") as f:  # sparse: no disk used
        f.truncate(limits.MAX_WHOLE_PARSE_BYTES + 1)
    assert "c2pa reads it whole" in refused(big)


def test_a_zip_declaring_a_billion_entries(tmp_path: Path) -> None:
    """The ZIP64 end record's count is what c2pa's ZIP reader goes by."""
    made = make_media(tmp_path / "small.epub", "epub").read_bytes()
    end = made.rindex(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack_from("<II", made, end + 12)
    record = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, 10**9, 10**9, cd_size, cd_offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, end, 1)
    eocd = bytearray(made[end:])
    eocd[8:12] = b"\xff\xff\xff\xff"
    (tmp_path / "billion.epub").write_bytes(made[:end] + record + locator + bytes(eocd))
    assert "declares 1,000,000,000 entries" in refused(tmp_path / "billion.epub")


def test_an_id3_tag_declared_larger_than_the_limit(tmp_path: Path) -> None:
    audio = make_media(tmp_path / "plain.mp3", "mp3").read_bytes()
    audio = audio[id3_tag_size(audio):]  # the frames, without ffmpeg's own tag
    (tmp_path / "huge-tag.mp3").write_bytes(b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + audio)  # 256 MiB declared
    assert "ID3 tag" in refused(tmp_path / "huge-tag.mp3")


def test_two_manifest_stores_in_an_id3_tag_are_not_believed(tmp_path: Path, pki: DevPki) -> None:
    signed = tmp_path / "signed.mp3"
    builder_sign(make_media(tmp_path / "plain.mp3", "mp3"), signed, "mp3", pki)
    data = signed.read_bytes()
    assert data[3] == 4  # c2pa writes ID3v2.4, whose frame sizes are syncsafe
    at = data.index(b"GEOB")
    frame = data[at:at + 10 + syncsafe(data[at + 4:at + 8])]
    size = id3_tag_size(data) - 10 + len(frame)
    header = data[:6] + bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    (tmp_path / "two.mp3").write_bytes(header + data[10:at] + frame + data[at:])
    v, crjson = Verifier(load_anchors(pki.root_ca)).verify_with_crjson(tmp_path / "two.mp3")
    assert (v.verdict, v.failure_codes) == (Outcome.INVALID, (codes.SEVERAL_STORES,))
    assert crjson is None  # c2pa would report one of them: none is believed
