"""Files made to stop, slow or fool the verifier: each is built here and gets an exact verdict.

Findings 2, 3, 4, 6 and 9 of the red-team issue, beside the attacks that already held. Every case
runs on the fast path and on c2pa's full Reader; the limits are provenance.limits."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from provenance import codes, limits
from provenance._formats import jumbf
from provenance.keys.pki import DevPki
from provenance.media import MP4
from provenance.verdict import Outcome
from provenance.verify import Verifier
from tests.support.clips import make_clip, sign_file

from .attacks import c2pa_box, sign_with_c2pa, top_level

PATHS = pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "c2pa-reader"])


def _verifier(fast: bool, **kwargs: object) -> Verifier:
    return Verifier(fast_path_min_bytes=0 if fast else -1, **kwargs)  # type: ignore[arg-type]


def _box(box_type: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I", 8 + len(payload)) + box_type + payload


@pytest.fixture(scope="module")
def signed(signed_clip: Path) -> bytes:
    return signed_clip.read_bytes()


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    target = tmp_path / name
    target.write_bytes(data)
    return target


@PATHS
def test_untouched_clip_is_valid(signed_clip: Path, fast: bool) -> None:
    assert _verifier(fast).verify(signed_clip).verdict is Outcome.VALID


# ---- finding 2 and 3: box floods ------------------------------------------------------------------

@PATHS
def test_200k_empty_top_level_boxes_are_refused(tmp_path: Path, signed: bytes, fast: bool) -> None:
    target = _write(tmp_path, "flood.mp4", signed + _box(b"abcd") * 200_000)
    verdict = _verifier(fast).verify(target)
    assert verdict.verdict is Outcome.ERROR
    assert f"more than {limits.MAX_TOP_LEVEL_BOXES:,} top-level boxes" in (verdict.error or "")


@PATHS
def test_8_9_million_free_boxes_are_refused(tmp_path: Path, signed: bytes, fast: bool) -> None:
    target = _write(tmp_path, "free-flood.mp4", signed + _box(b"free") * 8_900_000)
    verdict = _verifier(fast).verify(target)
    assert verdict.verdict is Outcome.ERROR
    assert "refused" in (verdict.error or "")


@PATHS
def test_boxes_over_c2pa_limit_but_under_the_hard_one_are_checked_by_provenance(tmp_path: Path, signed: bytes,
                                                                                 fast: bool) -> None:
    count = (limits.MAX_BOXES_FOR_C2PA + limits.MAX_TOP_LEVEL_BOXES) // 2
    target = _write(tmp_path, "many.mp4", signed + _box(b"abcd") * count)
    verdict = _verifier(fast).verify(target)
    assert verdict.verdict is Outcome.INVALID
    assert "assertion.bmffHash.mismatch" in verdict.failure_codes


@PATHS
def test_200k_boxes_nested_in_a_container_c2pa_parses(tmp_path: Path, signed: bytes, fast: bool) -> None:
    target = _write(tmp_path, "nested.mp4", signed + _box(b"udta", _box(b"free") * 200_000))
    verdict = _verifier(fast).verify(target)
    assert verdict.verdict is Outcome.INVALID
    assert "assertion.bmffHash.mismatch" in verdict.failure_codes


@PATHS
def test_deep_nesting(tmp_path: Path, signed: bytes, fast: bool) -> None:
    nested = b""
    for _ in range(5000):
        nested = _box(b"udta", nested)
    verdict = _verifier(fast).verify(_write(tmp_path, "deep.mp4", signed + nested))
    assert verdict.verdict is Outcome.ERROR
    assert "too deply nested" in (verdict.error or "")  # c2pa's words (and spelling)


# ---- sizes ---------------------------------------------------------------------------------------

@PATHS
def test_manifest_store_over_the_limit_is_refused_before_c2pa(tmp_path: Path, signed: bytes, fast: bool) -> None:
    offset, size = c2pa_box(signed)
    grow = limits.MAX_MANIFEST_STORE_BYTES + 1
    box = signed[offset:offset + size]
    huge = struct.pack(">I", size + grow) + box[4:] + b"\0" * grow
    target = _write(tmp_path, "huge-store.mp4", signed[:offset] + huge + signed[offset + size:])
    verdict = _verifier(fast).verify(target)
    assert verdict.verdict is Outcome.ERROR
    assert "over the limit" in (verdict.error or "")


@PATHS
@pytest.mark.parametrize("field", [0xFFFFFFF0, 1], ids=["past-the-end", "64-bit-cut-short"])
def test_box_sizes_that_lie(tmp_path: Path, signed: bytes, fast: bool, field: int) -> None:
    kind, offset, _ = next(b for b in top_level(signed) if b[0] == b"mdat")
    data = bytearray(signed)
    data[offset:offset + 4] = struct.pack(">I", field)
    verdict = _verifier(fast).verify(_write(tmp_path, "lying.mp4", bytes(data)))
    assert verdict.verdict in (Outcome.INVALID, Outcome.ERROR)


@PATHS
def test_zero_size_box_at_the_end_runs_to_the_end(tmp_path: Path, signed: bytes, fast: bool) -> None:
    verdict = _verifier(fast).verify(_write(tmp_path, "zero.mp4", signed + struct.pack(">I", 0) + b"free" + b"x" * 64))
    assert verdict.verdict is Outcome.INVALID


@PATHS
def test_second_moov(tmp_path: Path, signed: bytes, fast: bool) -> None:
    _, offset, size = next(b for b in top_level(signed) if b[0] == b"moov")
    verdict = _verifier(fast).verify(_write(tmp_path, "two-moov.mp4", signed + signed[offset:offset + size]))
    assert verdict.verdict is Outcome.INVALID
    assert "assertion.bmffHash.mismatch" in verdict.failure_codes


@PATHS
def test_second_c2pa_box(tmp_path: Path, signed: bytes, fast: bool) -> None:
    offset, size = c2pa_box(signed)
    verdict = _verifier(fast).verify(_write(tmp_path, "two-c2pa.mp4", signed + signed[offset:offset + size]))
    assert verdict.verdict is Outcome.ERROR
    assert "more than one manifest store" in (verdict.error or "")


# ---- finding 9: what our signature covers ---------------------------------------------------------

@PATHS
@pytest.mark.parametrize("box_type", [b"free", b"skip"])
def test_a_box_appended_to_our_clip_breaks_it(tmp_path: Path, signed: bytes, fast: bool, box_type: bytes) -> None:
    verdict = _verifier(fast).verify(_write(tmp_path, "appended.mp4", signed + _box(box_type, b"attacker data")))
    assert verdict.verdict is Outcome.INVALID
    assert verdict.failure_codes == ("assertion.bmffHash.mismatch", "signingCredential.untrusted")


def test_our_clips_exclude_only_what_c2pa_needs(signed: bytes) -> None:
    from provenance._fast.bmffhash import hash_binding_of_store

    store = jumbf.manifest_store_bytes(io.BytesIO(signed), len(signed), MP4)
    assert store is not None
    assert [kind for kind, _ in hash_binding_of_store(store).exclusions] == [b"uuid", b"ftyp", b"mfra"]


@PATHS
def test_a_third_party_clip_that_excludes_free_boxes_says_so(tmp_path: Path, clip: Path, pki: DevPki,
                                                             fast: bool) -> None:
    """c2pa's default signing leaves free boxes out of the hash: such a clip stays valid, with the reason shown."""
    third_party = tmp_path / "third-party.mp4"
    sign_with_c2pa(clip, third_party, pki)
    appended = _write(tmp_path, "appended.mp4", third_party.read_bytes() + _box(b"free", b"attacker data"))
    verdict = _verifier(fast).verify(appended)
    assert verdict.verdict is Outcome.VALID
    assert codes.ADDITIONAL_EXCLUSIONS in verdict.informational_codes
    from tests.support.cli import run_cli

    shown = run_cli("verify", "--no-recovery", appended)
    assert "note:          the signer left parts of the file out of the hash" in shown.stdout
    assert "can change without breaking the signature" in shown.stdout


# ---- finding 6: a sidecar beside an embedded manifest ---------------------------------------------

@PATHS
def test_garbage_sidecar_beside_an_embedded_manifest_is_ignored(tmp_path: Path, signed: bytes, fast: bool) -> None:
    target = _write(tmp_path, "clip.mp4", signed)
    _write(tmp_path, "clip.mp4.c2pa", b"\0garbage" * 100)
    verdict = _verifier(fast).verify(target)
    assert verdict.verdict is Outcome.VALID and verdict.manifest_source == "embedded"
    assert codes.SIDECAR_IGNORED in verdict.informational_codes
    from tests.support.cli import run_cli

    shown = run_cli("verify", "--no-recovery", target)
    assert "note:          a detached .c2pa manifest lies beside the file; the manifest embedded" in shown.stdout


@PATHS
def test_someone_elses_sidecar_cannot_replace_the_embedded_signer(tmp_path: Path, clip: Path, signed: bytes,
                                                                  pki: DevPki, other_pki: DevPki, fast: bool) -> None:
    target = _write(tmp_path, "clip.mp4", signed)
    own = _verifier(fast).verify(target).signer
    # A detached manifest signed by someone else over exactly these bytes.
    other = sign_file(target, tmp_path / "other.mp4", other_pki, generator="Evil", sidecar=True)
    assert other.sidecar is not None
    _write(tmp_path, "clip.mp4.c2pa", other.sidecar.read_bytes())
    verdict = _verifier(fast).verify(target)
    assert verdict.signer == own and verdict.generator is not None and verdict.generator.name == "Sora"
    assert codes.SIDECAR_IGNORED in verdict.informational_codes


def test_oversized_sidecar_is_refused(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.webm", "webm")
    with open(tmp_path / "clip.webm.c2pa", "wb") as f:
        f.truncate(limits.MAX_MANIFEST_STORE_BYTES + 1)
    verdict = Verifier().verify(clip)
    assert verdict.verdict is Outcome.ERROR
    assert "over the manifest store limit" in (verdict.error or "")


# ---- finding 4: a certificate cryptography cannot read --------------------------------------------

def _with_unreadable_issuer(signed: bytes) -> bytes:
    store = jumbf.manifest_store_bytes(io.BytesIO(signed), len(signed), MP4)
    assert store is not None
    signature = jumbf.signature_of(store, None)
    assert signature is not None
    leaf = jumbf.x5chain(signature)[0]
    at = leaf.index(b"Provenance Test Intermediate CA")  # the issuer's CN, a UTF8String: tag 0x0C
    assert leaf[at - 2] == 0x0C
    broken = leaf[:at - 2] + b"\x01" + leaf[at - 1:]
    return signed.replace(leaf, broken)


@PATHS
def test_malformed_certificate_name_gives_a_verdict(tmp_path: Path, signed: bytes, fast: bool) -> None:
    target = _write(tmp_path, "bad-cert.mp4", _with_unreadable_issuer(signed))
    verdict = _verifier(fast).verify(target)
    assert verdict.verdict is Outcome.INVALID and verdict.signer is None
    assert codes.IDENTITY in verdict.failure_codes
    assert any("certificate cannot be read" in r for r in verdict.trust_failures)


def test_one_bad_file_does_not_silence_the_others(tmp_path: Path, signed: bytes, signed_clip: Path) -> None:
    import json

    from tests.support.cli import run_cli

    bad = _write(tmp_path, "bad-cert.mp4", _with_unreadable_issuer(signed))
    result = run_cli("verify", "--no-recovery", "--format", "json", bad, signed_clip)
    assert result.code == 1
    verdicts = json.loads(result.stdout)
    assert [v["verdict"] for v in verdicts] == ["invalid", "valid"]
    shown = run_cli("trust", "show", bad)
    assert shown.code == 1 and "certificate in the manifest is malformed" in shown.stderr
    assert "Traceback" not in shown.stderr


def test_a_bug_in_the_reader_becomes_an_error_verdict(signed_clip: Path) -> None:
    """The safety net itself: whatever goes wrong inside, verify answers with a verdict."""

    class BuggyVerifier(Verifier):
        def read(self, path: Path, kind: object, *, crjson: bool = False) -> None:  # type: ignore[override]
            raise KeyError("a bug")

    verdict = BuggyVerifier().verify(signed_clip)
    assert verdict.verdict is Outcome.ERROR
    assert verdict.error == f"{signed_clip}: internal error: KeyError: 'a bug'; please report it"
    assert not verdict.passed


def test_inspect_reads_as_verify_does(tmp_path: Path, signed: bytes) -> None:
    from tests.support.cli import run_cli

    flood = _write(tmp_path, "flood.mp4", signed + _box(b"abcd") * 200_000)
    result = run_cli("inspect", flood)
    assert result.code == 1 and result.stdout == ""
    assert f"{flood}: refused: the file has more than {limits.MAX_TOP_LEVEL_BOXES:,} top-level boxes" in result.stderr
    target = _write(tmp_path, "clip.mp4", signed)
    _write(tmp_path, "clip.mp4.c2pa", b"\0garbage")
    shown = run_cli("inspect", target)
    assert shown.code == 0 and '"active_manifest"' in shown.stdout


@PATHS
def test_certificate_with_an_unknown_x509_version_gives_a_verdict(tmp_path: Path, signed: bytes, fast: bool) -> None:
    """Found by the long fuzz run (through the resolution API): cryptography's InvalidVersion is no ValueError."""
    store = jumbf.manifest_store_bytes(io.BytesIO(signed), len(signed), MP4)
    assert store is not None
    signature = jumbf.signature_of(store, None)
    assert signature is not None
    leaf = jumbf.x5chain(signature)[0]
    at = leaf.index(b"\xa0\x03\x02\x01\x02")  # [0] EXPLICIT INTEGER 2: X.509 v3
    broken = leaf[:at + 4] + b"\x03" + leaf[at + 5:]
    verdict = _verifier(fast).verify(_write(tmp_path, "bad-version.mp4", signed.replace(leaf, broken)))
    assert verdict.verdict is Outcome.INVALID and verdict.signer is None
    assert any("certificate cannot be read" in r for r in verdict.trust_failures)
