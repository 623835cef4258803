"""The verification fast path reports exactly what c2pa's full Reader reports, or steps aside.

Every case verifies the same file twice: through provenance._fast.verify (fast_path_min_bytes=0) and
through c2pa's Reader alone (-1), and compares c2pa's report, the state and the public verdict.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path

import pytest

from provenance import media
from provenance._fast import selfcheck
from provenance._fast import verify as fastverify
from provenance._formats import jumbf
from provenance.keys.pki import DevPki
from provenance.trust.anchors import TrustAnchors, load_anchors
from provenance.verdict import Outcome, Verdict
from provenance.verify import Verifier
from tests.support.clips import CORPUS, make_clip, sign_file
from tests.support.edits import flipped, top_level_boxes

_EXPECTED = CORPUS / "expected.json"
CORPUS_MEDIA = sorted(json.loads(_EXPECTED.read_text())) if _EXPECTED.is_file() else []


def both_ways(path: Path, anchors: TrustAnchors | None = None) -> tuple[Verdict, Verdict]:
    fast = Verifier(anchors, fast_path_min_bytes=0)
    full = Verifier(anchors, fast_path_min_bytes=-1)
    kind = media.detect(path)
    fast_report, full_report = fast.read(path, kind), full.read(path, kind)
    assert fast_report is not None and full_report is not None
    assert fast_report.report == full_report.report
    assert fast_report.state == full_report.state
    assert fast_report.store == full_report.store
    fast_verdict, full_verdict = fast.verify(path), full.verify(path)
    assert fast_verdict.to_dict() == full_verdict.to_dict()
    return fast_verdict, full_verdict


def fast_path_refusal(path: Path) -> fastverify.Unavailable | None:
    """None when fastverify itself answers for this file; else why it hands it to c2pa's Reader."""
    kind = media.detect(path)
    with open(path, "rb") as f:
        store = jumbf.manifest_store_bytes(f, os.fstat(f.fileno()).st_size, kind)
        try:
            fastverify.read(f.fileno(), kind.mime, store, lambda: None)
        except fastverify.Unavailable as e:
            return e
    return None


def takes_fast_path(path: Path) -> bool:
    return fast_path_refusal(path) is None


def test_self_check_passes_with_the_pinned_c2pa() -> None:
    assert fastverify._self_check() is None


def test_shipped_sample_stays_valid_for_decades() -> None:
    from provenance._fast.selfcheck_sample import SIGNED_MP4_BASE64
    from provenance.verify import signer_from_store

    sample = base64.b64decode(SIGNED_MP4_BASE64)
    signer = signer_from_store(fastverify.sample_store(sample), None, {})
    assert signer is not None and signer.not_after >= "2120"
    assert fastverify.check_sample(sample) is None


def test_a_freshly_signed_sample_passes_and_a_broken_one_does_not() -> None:
    fresh = selfcheck.sign_tiny_mp4()
    assert fastverify.check_sample(fresh) is None
    broken = bytearray(fresh)
    at = fresh.index(b"c2pa.signature")
    broken[at + 200] ^= 0xFF  # inside the COSE signature: c2pa reports the claim signature failing
    assert fastverify.check_sample(bytes(broken)) is not None


@pytest.mark.parametrize("container", ["mp4", "mov", "m4v", "fmp4"])
def test_same_report_as_c2pa_for_each_bmff_container(tmp_path: Path, pki: DevPki, container: str) -> None:
    src = make_clip(tmp_path / f"clip.{container}", container)
    out = tmp_path / f"signed.{container}"
    sign_file(src, out, pki, generator="Sora")
    assert takes_fast_path(out)
    fast, _ = both_ways(out)
    assert fast.verdict is Outcome.VALID and fast.failure_codes == ("signingCredential.untrusted",)
    trusted, _ = both_ways(out, load_anchors(pki.root_ca))
    assert trusted.verdict is Outcome.TRUSTED and trusted.failure_codes == ()


def test_same_report_for_a_remix_with_its_parent(tmp_path: Path, pki: DevPki, signed_clip: Path,
                                                 clip: Path) -> None:
    out = tmp_path / "remix.mp4"
    sign_file(clip, out, pki, generator="Sora", parent=signed_clip, edit_source="trained")
    assert takes_fast_path(out)
    fast, _ = both_ways(out, load_anchors(pki.root_ca))
    assert fast.verdict is Outcome.TRUSTED
    assert [i.verdict for i in fast.ingredients] == [Outcome.TRUSTED]


def test_untrusted_signer_same_as_c2pa(signed_clip: Path, other_pki: DevPki) -> None:
    fast, _ = both_ways(signed_clip, load_anchors(other_pki.root_ca))
    assert fast.verdict is Outcome.VALID
    assert "signingCredential.untrusted" in fast.failure_codes


def test_tampered_media_is_left_to_c2pa(tmp_path: Path, signed_clip: Path, pki: DevPki) -> None:
    data = signed_clip.read_bytes()
    offset, size = top_level_boxes(data)[b"mdat"]
    target = tmp_path / "tampered.mp4"
    target.write_bytes(flipped(data, offset + size // 2))
    assert isinstance(fast_path_refusal(target), fastverify.HashMismatch)
    fast, _ = both_ways(target, load_anchors(pki.root_ca))
    assert fast.verdict is Outcome.INVALID
    assert "assertion.bmffHash.mismatch" in fast.failure_codes


def test_tampered_metadata_is_left_to_c2pa(tmp_path: Path, signed_clip: Path) -> None:
    data = signed_clip.read_bytes()
    offset, size = top_level_boxes(data)[b"moov"]
    target = tmp_path / "tampered.mp4"
    target.write_bytes(flipped(data, offset + size - 3))
    assert isinstance(fast_path_refusal(target), fastverify.HashMismatch)
    fast, _ = both_ways(target)
    assert fast.verdict is Outcome.INVALID


def hash_assertion_altered(signed: Path, target: Path, old: bytes, new: bytes) -> Path:
    """A copy of `signed` with `old` replaced by `new` (same length) inside its BMFF hash assertion."""
    data = signed.read_bytes()
    with open(signed, "rb") as f:
        store = jumbf.manifest_store_bytes(f, os.fstat(f.fileno()).st_size, media.MP4)
    assert store is not None
    manifest = jumbf.manifest_box(store)
    assert manifest is not None
    assertions = next(c for c in manifest.children if c.label == "c2pa.assertions")
    payload = jumbf.cbor_payload(next(a for a in assertions.children if (a.label or "").startswith("c2pa.hash.bmff")))
    assert payload is not None and old in payload and len(old) == len(new)
    at = data.index(payload)
    target.write_bytes(data[:at] + payload.replace(old, new) + data[at + len(payload):])
    return target


@pytest.mark.parametrize("old, new", [(b"sha256", b"shaXYZ"), (b"offset", b"offsex")],
                         ids=["unknown-alg", "malformed-exclusion"])
def test_malformed_hash_assertion_is_left_to_c2pa(tmp_path: Path, signed_clip: Path, pki: DevPki,
                                                 old: bytes, new: bytes) -> None:
    target = hash_assertion_altered(signed_clip, tmp_path / "altered.mp4", old, new)
    assert "BMFF hash" in str(fast_path_refusal(target))
    anchors = load_anchors(pki.root_ca)
    fast = Verifier(anchors, fast_path_min_bytes=0).verify(target)  # a verdict, never an exception
    assert fast.verdict in (Outcome.INVALID, Outcome.ERROR)
    assert fast.to_dict() == Verifier(anchors, fast_path_min_bytes=-1).verify(target).to_dict()


def test_second_manifest_box_is_left_to_c2pa(tmp_path: Path, signed_clip: Path) -> None:
    data = signed_clip.read_bytes()
    offset, size = top_level_boxes(data)[b"uuid"]
    target = tmp_path / "two-manifests.mp4"
    target.write_bytes(data + data[offset : offset + size])
    assert not takes_fast_path(target)
    fast = Verifier(fast_path_min_bytes=0).verify(target)
    assert fast.verdict is Outcome.ERROR and "more than one manifest store" in (fast.error or "")
    assert fast.to_dict() == Verifier(fast_path_min_bytes=-1).verify(target).to_dict()


def test_truncated_file_is_left_to_c2pa(tmp_path: Path, signed_clip: Path) -> None:
    data = signed_clip.read_bytes()
    target = tmp_path / "truncated.mp4"
    target.write_bytes(data[: len(data) - 100])
    assert not takes_fast_path(target)
    fast = Verifier(fast_path_min_bytes=0).verify(target)
    assert fast.verdict in (Outcome.INVALID, Outcome.ERROR)
    assert fast.to_dict() == Verifier(fast_path_min_bytes=-1).verify(target).to_dict()


def test_threshold_keeps_small_files_on_c2pa(signed_clip: Path, monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    size = signed_clip.stat().st_size
    monkeypatch.setenv("PROVENANCE_FAST_VERIFY_MIN_BYTES", str(size + 1))
    assert Verifier().fast_path_min_bytes == size + 1
    with caplog.at_level(logging.DEBUG, logger="provenance.verify"):
        below = Verifier().verify(signed_clip)
        assert "verified by c2pa's Reader alone" in caplog.text
        assert "verified on the fast path" not in caplog.text
        caplog.clear()
        monkeypatch.setenv("PROVENANCE_FAST_VERIFY_MIN_BYTES", str(size))
        at = Verifier().verify(signed_clip)
        assert "verified on the fast path" in caplog.text
    assert below.to_dict() == at.to_dict()
    monkeypatch.delenv("PROVENANCE_FAST_VERIFY_MIN_BYTES")
    assert Verifier().fast_path_min_bytes == fastverify.DEFAULT_MIN_BYTES


@pytest.mark.parametrize("with_anchors", [False, True], ids=["no-anchors", "test-anchors"])
@pytest.mark.parametrize("name", CORPUS_MEDIA or ["(corpus absent)"])
def test_corpus_same_verdict_both_ways(corpus: Path, name: str, with_anchors: bool) -> None:
    anchors = load_anchors(corpus / "certs/test_cert_root_bundle.pem") if with_anchors else None
    path = corpus / name
    fast = Verifier(anchors, fast_path_min_bytes=0).verify(path)
    assert fast.to_dict() == Verifier(anchors, fast_path_min_bytes=-1).verify(path).to_dict()
