"""Every kind of tampering with a signed clip is caught: `invalid` with the right code, or `error`."""

from __future__ import annotations

import struct
from pathlib import Path

import cbor2
import pytest

from provenance.keys.pki import DevPki
from provenance.trust.anchors import load_anchors
from provenance.verdict import Outcome
from provenance.verify import Verifier
from tests.support.clips import make_clip, sign_file
from tests.support.edits import flipped, top_level_boxes


@pytest.fixture(scope="module")
def signed_bytes(signed_clip: Path) -> bytes:
    return signed_clip.read_bytes()


@pytest.fixture(scope="module")
def verifier(pki: DevPki) -> Verifier:
    return Verifier(load_anchors(pki.root_ca))


def verify_bytes(tmp_path: Path, verifier: Verifier, data: bytes):  # type: ignore[no-untyped-def]
    target = tmp_path / "tampered.mp4"
    target.write_bytes(data)
    return verifier.verify(target)


def test_untouched_clip_is_trusted(signed_clip: Path, verifier: Verifier) -> None:
    assert verifier.verify(signed_clip).verdict is Outcome.TRUSTED


def test_flipped_byte_in_video_data(tmp_path: Path, verifier: Verifier, signed_bytes: bytes) -> None:
    offset, size = top_level_boxes(signed_bytes)[b"mdat"]
    v = verify_bytes(tmp_path, verifier, flipped(signed_bytes, offset + size // 2))
    assert v.verdict is Outcome.INVALID
    assert "assertion.bmffHash.mismatch" in v.failure_codes


def test_flipped_byte_in_moov(tmp_path: Path, verifier: Verifier, signed_bytes: bytes) -> None:
    offset, size = top_level_boxes(signed_bytes)[b"moov"]
    v = verify_bytes(tmp_path, verifier, flipped(signed_bytes, offset + size // 2))
    assert v.verdict in (Outcome.INVALID, Outcome.ERROR)
    if v.verdict is Outcome.INVALID:
        assert "assertion.bmffHash.mismatch" in v.failure_codes


def _box_payload_offset(data: bytes, label: str) -> tuple[int, int]:
    """Offset and length (in the file) of the CBOR payload of a JUMBF box with `label`."""
    needle = label.encode() + b"\x00"
    at = data.index(needle)
    cbor_at = data.index(b"cbor", at)
    size = struct.unpack(">I", data[cbor_at - 4 : cbor_at])[0]
    return cbor_at + 4, size - 8


def test_flipped_byte_in_manifest_assertion(tmp_path: Path, verifier: Verifier, signed_bytes: bytes) -> None:
    # Change the generator's name inside the actions assertion: "Sora" → "Sorb".
    start, length = _box_payload_offset(signed_bytes, "c2pa.actions.v2")
    at = signed_bytes.index(b"Sora", start, start + length)
    data = signed_bytes[: at + 3] + b"b" + signed_bytes[at + 4 :]
    v = verify_bytes(tmp_path, verifier, data)
    assert v.verdict is Outcome.INVALID
    assert "assertion.hashedURI.mismatch" in v.failure_codes


def test_flipped_byte_in_signature(tmp_path: Path, verifier: Verifier, signed_bytes: bytes) -> None:
    start, length = _box_payload_offset(signed_bytes, "c2pa.signature")
    sig = signed_bytes[start : start + length]
    # Flip a byte of the COSE_Sign1 signature value itself.
    signature_value = cbor2.loads(sig).value[3]
    sig_at = start + sig.rindex(signature_value)
    v = verify_bytes(tmp_path, verifier, flipped(signed_bytes, sig_at + 5))
    assert v.verdict is Outcome.INVALID
    assert "claimSignature.mismatch" in v.failure_codes


@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated(tmp_path: Path, verifier: Verifier, signed_bytes: bytes, keep: float) -> None:
    v = verify_bytes(tmp_path, verifier, signed_bytes[: int(len(signed_bytes) * keep)])
    assert v.verdict in (Outcome.INVALID, Outcome.ERROR)
    assert v.verdict is not Outcome.VALID


def test_manifest_transplanted_from_another_clip(tmp_path: Path, pki: DevPki, verifier: Verifier,
                                                 signed_bytes: bytes) -> None:
    other = make_clip(tmp_path / "other.mp4", source="mandelbrot")
    other_bytes = other.read_bytes()
    uuid_off, uuid_size = top_level_boxes(signed_bytes)[b"uuid"]
    ftyp_off, ftyp_size = top_level_boxes(other_bytes)[b"ftyp"]
    # Put clip A's manifest box into clip B right after B's ftyp. The moov chunk offsets of B
    # now point uuid_size bytes too early, but the hash check must fail first regardless.
    grafted = (
        other_bytes[: ftyp_off + ftyp_size]
        + signed_bytes[uuid_off : uuid_off + uuid_size]
        + other_bytes[ftyp_off + ftyp_size :]
    )
    v = verify_bytes(tmp_path, verifier, grafted)
    assert v.verdict in (Outcome.INVALID, Outcome.ERROR)
    if v.verdict is Outcome.INVALID:
        assert "assertion.bmffHash.mismatch" in v.failure_codes


def test_sidecar_tampering_is_caught(tmp_path: Path, pki: DevPki, verifier: Verifier) -> None:
    src = make_clip(tmp_path / "src.webm", "webm")
    out = tmp_path / "signed.webm"
    result = sign_file(src, out, pki, generator="Sora")
    assert result.sidecar is not None and result.sidecar.is_file()
    assert out.read_bytes() == src.read_bytes()  # the media itself is unchanged
    assert verifier.verify(out).verdict is Outcome.TRUSTED
    data = out.read_bytes()
    out.write_bytes(flipped(data, len(data) // 2))
    v = verifier.verify(out)
    assert v.verdict is Outcome.INVALID
    assert "assertion.dataHash.mismatch" in v.failure_codes
