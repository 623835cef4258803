"""The signer's certificate chain is read from the COSE x5chain in every container."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import pytest
from cryptography import x509

from provenance import media
from provenance._formats import jumbf
from provenance.keys.pki import DevPki
from tests.support.clips import make_clip, sign_file


def chain_of(path: Path, store_path: Path | None = None) -> list[x509.Certificate]:
    source = store_path or path
    kind = media.detect(source)
    with open(source, "rb") as f:
        store = jumbf.manifest_store_bytes(f, os.fstat(f.fileno()).st_size, kind)
    assert store is not None
    sig = jumbf.signature_of(store, None)
    assert sig is not None
    return [x509.load_der_x509_certificate(der) for der in jumbf.x5chain(sig)]


@pytest.mark.parametrize("container", ["mp4", "mov", "fmp4", "avi", "webm"])
def test_chain_from_our_files(tmp_path: Path, pki: DevPki, container: str) -> None:
    ext = "mp4" if container == "fmp4" else container
    out = tmp_path / f"out.{ext}"
    result = sign_file(make_clip(tmp_path / f"in.{ext}", container), out, pki)
    expected = x509.load_pem_x509_certificates(pki.signer_chain.read_bytes())
    assert chain_of(out, result.sidecar) == expected


def test_chain_from_third_party_jpeg(corpus: Path) -> None:
    chain = chain_of(corpus / "public-testfiles/adobe-20220124-C.jpg")
    assert "C2PA Signer" in chain[0].subject.rfc4514_string()


def test_garbage_gives_nothing() -> None:
    assert jumbf.x5chain(b"\x00garbage") == []
    assert jumbf.signature_of(b"\x00\x00\x00\x08jumb", None) is None


def test_a_64_bit_box_header_cut_short_gives_nothing() -> None:
    # A superbox whose last 8 bytes announce a 64-bit size with no room left for it.
    inner = b"\x00\x00\x00\x01jumb"
    store = (8 + len(inner)).to_bytes(4, "big") + b"jumb" + inner
    assert jumbf.manifest_box(store) is None
    assert jumbf.signature_of(store, None) is None


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


@pytest.mark.parametrize("full_box", [True, False])
def test_the_boxes_inside_an_mp4_or_quicktime_meta_are_counted(full_box: bool) -> None:
    """MP4's `meta` is a FullBox (version and flags before its children), QuickTime's is not: both count
    their hdlr and the 3 boxes after it (the walk used to read the wrong bytes and lose QuickTime's)."""
    children = _box(b"hdlr", b"\x00" * 24) + _box(b"free", b"") * 3
    meta = _box(b"meta", (b"\x00" * 4 if full_box else b"") + children)
    data = _box(b"ftyp", b"isom\x00\x00\x02\x00") + _box(b"moov", _box(b"udta", meta))
    found = jumbf.scan(io.BytesIO(data), len(data), media.MP4)
    assert found.units == 2 + 1 + 1 + 4  # ftyp, moov; udta; meta; hdlr and 3 free
