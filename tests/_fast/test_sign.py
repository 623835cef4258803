"""The fast embedded signing path: same manifest as c2pa's Builder.sign, valid, tamper-evident, frame-exact.

Every signed file here is checked with c2pa's own Reader (through `Verifier`), and
decoded with ffmpeg against the unsigned original. The reference for "the same
manifest" is c2pa's public `Builder.sign` called directly on the same definition.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
from pathlib import Path
from typing import Any

import c2pa
import pytest

from provenance import media, signing
from provenance._fast import selfcheck
from provenance._fast.copy import write_plan
from provenance._formats import bmff, jumbf
from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.manifest import Disclosure, definition, parent_ingredient, signing_context
from provenance.trust.anchors import load_anchors
from provenance.verdict import Outcome
from provenance.verify import Verifier
from tests.support.cli import run_cli
from tests.support.clips import ffmpeg_exe, make_clip, sign_file

FAST_LOGGER = "provenance._fast.sign"
# ffmpeg muxer options → (file name, MIME type): every BMFF layout the fast path rewrites.
LAYOUTS = {
    "mp4": (["-f", "mp4"], "clip.mp4", "video/mp4"),
    "mp4-faststart": (["-f", "mp4", "-movflags", "+faststart"], "clip.mp4", "video/mp4"),
    "mov": (["-f", "mov"], "clip.mov", "video/quicktime"),
    "m4v": (["-f", "ipod"], "clip.m4v", "video/x-m4v"),
    # Fragments addressed from the moof (no absolute offsets), with an mfra index (absolute offsets).
    "fmp4-moof-base": (["-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof"], "frag.mp4",
                       "video/mp4"),
    # Fragments with an explicit tfhd base-data-offset (absolute) in every track fragment.
    "fmp4-explicit-base": (["-f", "mp4", "-movflags", "frag_keyframe+empty_moov"], "frag.mp4", "video/mp4"),
    # DASH-style: a segment index (sidx, relative offsets) before the fragments.
    "fmp4-sidx": (["-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof+global_sidx"],
                  "frag.mp4", "video/mp4"),
}


def make_layout(folder: Path, layout: str) -> tuple[Path, str]:
    options, name, mime = LAYOUTS[layout]
    path = folder / name
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=15",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-t", "2", "-g", "10", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", *options, str(path)],
        check=True,
    )
    return path, mime


def framemd5(path: Path) -> list[str]:
    """Per-frame MD5 of every decoded video and audio frame."""
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0",
                          "-f", "framemd5", "-"], check=True, capture_output=True, text=True).stdout
    frames = [line for line in out.splitlines() if line and not line.startswith("#")]
    assert frames, f"ffmpeg decoded no frames from {path}"
    return frames


def active_manifest(path: Path) -> dict[str, Any]:
    with c2pa.Reader(str(path)) as reader:
        report = json.loads(reader.json())
    manifest: dict[str, Any] = report["manifests"][report["active_manifest"]]
    return manifest


def comparable(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest without what differs between any two signings (ids, times, the layout-dependent hash)."""
    assertions = []
    for a in manifest["assertions"]:
        data = dict(a["data"])
        if a["label"].startswith("c2pa.hash.bmff"):
            data.pop("hash")
        if a["label"].startswith("c2pa.actions"):
            data = json.loads(json.dumps(data))
            # An ingredient reference carries the hash of the ingredient assertion, which has a fresh instance id.
            for action in data["actions"]:
                for ref in action.get("parameters", {}).get("ingredients", []):
                    ref.pop("hash", None)
        assertions.append({"label": a["label"], "data": data})
    ingredients = [{k: v for k, v in i.items() if k in ("title", "format", "relationship", "active_manifest")}
                   for i in manifest.get("ingredients", [])]
    return {"assertions": assertions, "ingredients": ingredients, "title": manifest.get("title"),
            "claim_generator_info": manifest.get("claim_generator_info")}


def public_sign(src: Path, out: Path, mime: str, pki: DevPki, manifest: dict[str, Any],
                parent: Path | None = None) -> None:
    """c2pa's public API, called directly with provenance's settings: the reference output."""
    credentials = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    builder = c2pa.Builder(json.dumps(manifest), context=signing_context())
    if parent is not None:
        with open(parent, "rb") as stream:
            builder.add_ingredient(json.dumps(parent_ingredient(parent.name, "video/mp4")), "video/mp4", stream)
    with credentials.c2pa_signer() as signer, open(src, "rb") as source, open(out, "w+b") as dest:
        builder.sign(signer, mime, source, dest)


def fast_sign(src: Path, out: Path, pki: DevPki, caplog: pytest.LogCaptureFixture, **disclosure: Any) -> None:
    """Sign through provenance, and check it really took the fast path."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger=FAST_LOGGER):
        sign_file(src, out, pki, **disclosure)
    messages = [r.getMessage() for r in caplog.records if r.name == FAST_LOGGER]
    assert any(m.startswith("fast path signed") for m in messages), messages


def verifier(pki: DevPki) -> Verifier:
    return Verifier(load_anchors(pki.root_ca))


def mdat_payload_offset(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        boxes = bmff.top_level_boxes(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)
    mdat = max((b for b in boxes if b.type == b"mdat"), key=lambda b: b.size)
    return mdat.offset + mdat.header + mdat.size // 2


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_fast_path_matches_builder_sign(tmp_path: Path, pki: DevPki, caplog: pytest.LogCaptureFixture,
                                        layout: str) -> None:
    src, mime = make_layout(tmp_path, layout)
    fast, public = tmp_path / f"fast-{src.name}", tmp_path / f"public-{src.name}"
    fast_sign(src, fast, pki, caplog, generator="Sora", generator_version="2", ai_training="notAllowed")
    manifest = definition(Disclosure(generator="Sora", generator_version="2", ai_training="notAllowed"),
                          title=src.name, has_parent=False)
    public_sign(src, public, mime, pki, manifest)

    fast_verdict, public_verdict = verifier(pki).verify(fast), verifier(pki).verify(public)
    assert fast_verdict.verdict is Outcome.TRUSTED, fast_verdict.failure_codes
    assert fast_verdict.failure_codes == public_verdict.failure_codes == ()
    assert comparable(active_manifest(fast)) == comparable(active_manifest(public))
    assert framemd5(fast) == framemd5(src)


def test_parent_ingredient_is_carried_over(tmp_path: Path, clip: Path, signed_clip: Path, pki: DevPki,
                                           caplog: pytest.LogCaptureFixture) -> None:
    fast, public = tmp_path / "fast.mp4", tmp_path / "public.mp4"
    fast_sign(clip, fast, pki, caplog, generator="Sora", parent=signed_clip, edit_source="trained")
    manifest = definition(Disclosure(generator="Sora", edit_source="trained"), title=clip.name, has_parent=True)
    public_sign(clip, public, "video/mp4", pki, manifest, parent=signed_clip)

    verdict = verifier(pki).verify(fast)
    assert verdict.verdict is Outcome.TRUSTED, verdict.failure_codes
    assert [(i.title, i.relationship, i.verdict) for i in verdict.ingredients] == [
        (signed_clip.name, "parentOf", Outcome.TRUSTED)]
    assert comparable(active_manifest(fast)) == comparable(active_manifest(public))


def test_returned_store_is_the_embedded_one(tmp_path: Path, clip: Path, pki: DevPki,
                                            caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out.mp4"
    caplog.set_level(logging.DEBUG, logger=FAST_LOGGER)
    result = sign_file(clip, out, pki, generator="Sora")
    with open(out, "rb") as f:
        embedded = jumbf.manifest_store_bytes(f, out.stat().st_size, media.MP4)
    assert embedded is not None and result.manifest_store
    assert embedded.startswith(result.manifest_store)
    assert not embedded[len(result.manifest_store):].strip(b"\0")  # at most the slot's zero padding


@pytest.mark.parametrize("layout", ["mp4", "fmp4-explicit-base"])
def test_flipped_media_byte_is_caught(tmp_path: Path, pki: DevPki, caplog: pytest.LogCaptureFixture,
                                      layout: str) -> None:
    src, _ = make_layout(tmp_path, layout)
    out = tmp_path / "signed.mp4"
    fast_sign(src, out, pki, caplog, generator="Sora")
    data = bytearray(out.read_bytes())
    data[mdat_payload_offset(out)] ^= 0x01
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    verdict = verifier(pki).verify(tampered)
    assert verdict.verdict is Outcome.INVALID
    assert "assertion.bmffHash.mismatch" in verdict.failure_codes


def test_moved_chunk_offset_is_caught(tmp_path: Path, clip: Path, pki: DevPki,
                                      caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "signed.mp4"
    fast_sign(clip, out, pki, caplog, generator="Sora")
    data = bytearray(out.read_bytes())
    first_entry = data.index(b"stco") + 4 + 4 + 4
    struct.pack_into(">I", data, first_entry, struct.unpack_from(">I", data, first_entry)[0] + 1)
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    assert verifier(pki).verify(tampered).verdict is Outcome.INVALID


def _with_co64(data: bytes) -> bytes:
    """The same movie with its 32-bit chunk offset tables (stco) rewritten as 64-bit ones (co64).

    ffmpeg writes co64 only past 4 GiB; this makes the layout of such files at test size.
    The moov must come after the media, so its growth moves no chunk.
    """

    def rebuild(buf: bytes) -> bytes:
        out = b""
        for kind, _start, payload, end in bmff._children(bytearray(buf), 0, len(buf)):
            body = buf[payload:end]
            if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl"):
                body = rebuild(body)
            elif kind == b"stco":
                (count,) = struct.unpack_from(">I", body, 4)
                offsets = struct.unpack_from(f">{count}I", body, 8)
                kind, body = b"co64", body[:8] + struct.pack(f">{count}Q", *offsets)
            out += struct.pack(">I4s", 8 + len(body), kind) + body
        return out

    return rebuild(data)


def test_co64_chunk_offsets(tmp_path: Path, clip: Path, pki: DevPki, caplog: pytest.LogCaptureFixture) -> None:
    data = clip.read_bytes()
    moov = data.index(b"moov") - 4
    assert moov > data.index(b"mdat"), "the fixture clip should keep its moov at the end"
    src = tmp_path / "co64.mp4"
    src.write_bytes(data[:moov] + _with_co64(data[moov:]))
    assert b"co64" in src.read_bytes() and framemd5(src) == framemd5(clip)

    out = tmp_path / "signed.mp4"
    fast_sign(src, out, pki, caplog, generator="Sora")
    assert verifier(pki).verify(out).verdict is Outcome.TRUSTED
    assert framemd5(out) == framemd5(clip)


def test_already_signed_input_falls_back_to_builder_sign(tmp_path: Path, signed_clip: Path, pki: DevPki,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "resigned.mp4"
    with caplog.at_level(logging.INFO, logger=FAST_LOGGER):
        sign_file(signed_clip, out, pki, generator="Sora")
    reasons = [r.getMessage() for r in caplog.records if r.name == FAST_LOGGER and r.levelno == logging.INFO]
    assert any("already carries a C2PA manifest" in m for m in reasons), reasons
    assert verifier(pki).verify(out).verdict is Outcome.TRUSTED
    assert framemd5(out) == framemd5(signed_clip)


def test_failed_self_check_falls_back_to_builder_sign(tmp_path: Path, clip: Path, pki: DevPki,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    # As if this process's c2pa had failed the start-up check: signing must still work, the slow way.
    monkeypatch.setattr(selfcheck, "_self_check", selfcheck.SelfCheck(False, "simulated failure"))
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.INFO, logger=FAST_LOGGER):
        sign_file(clip, out, pki, generator="Sora")
    reasons = [r.getMessage() for r in caplog.records if r.name == FAST_LOGGER]
    assert any("self-check failed: simulated failure" in m for m in reasons), reasons
    assert verifier(pki).verify(out).verdict is Outcome.TRUSTED


def test_self_check_passes_with_the_pinned_c2pa() -> None:
    check = selfcheck.self_check()
    assert check.passed, check.reason


@pytest.mark.slow
def test_verbose_cli_says_why_the_fast_path_was_not_used(tmp_path: Path, signed_clip: Path, pki: DevPki) -> None:
    out = tmp_path / "resigned.mp4"
    args = ["sign", signed_clip, "-o", out, "--cert", pki.signer_chain, "--key", pki.signer_key]
    quiet = run_cli(*args)
    assert quiet.code == 0, quiet.stderr
    assert "fast signing path" not in quiet.stderr
    out.unlink()
    loud = run_cli("--verbose", *args)
    assert loud.code == 0, loud.stderr
    assert "fast signing path not used (the file already carries a C2PA manifest)" in loud.stderr


def test_sidecar_and_other_containers_use_builder_sign(tmp_path: Path, clip: Path, pki: DevPki,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    avi = make_clip(tmp_path / "clip.avi", "avi")
    caplog.set_level(logging.DEBUG, logger=FAST_LOGGER)
    sign_file(avi, tmp_path / "signed.avi", pki, generator="Sora")
    result = sign_file(clip, tmp_path / "detached.mp4", pki, generator="Sora", sidecar=True)
    assert result.sidecar is not None and result.sidecar.is_file()
    assert not [r for r in caplog.records if r.name == FAST_LOGGER and "fast path signed" in r.getMessage()]
    assert (tmp_path / "detached.mp4").read_bytes() == clip.read_bytes()


# --- the offset rewriter on its own -----------------------------------------------------------------


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full(kind: bytes, body: bytes, version: int = 0, flags: int = 0) -> bytes:
    return _box(kind, bytes([version]) + flags.to_bytes(3, "big") + body)


def test_every_absolute_offset_moves() -> None:
    moov = _moov(_box(b"stbl", _full(b"stco", struct.pack(">III", 2, 100, 200))
                      + _full(b"co64", struct.pack(">IQ", 1, 5_000_000_000))
                      + _full(b"saio", struct.pack(">II", 1, 300))))
    shifted = bmff.shifted_box(moov, 8, 1000)
    assert struct.unpack_from(">II", shifted, shifted.index(b"stco") + 12) == (1100, 1200)
    assert struct.unpack_from(">Q", shifted, shifted.index(b"co64") + 12)[0] == 5_000_001_000
    assert struct.unpack_from(">I", shifted, shifted.index(b"saio") + 12)[0] == 1300

    traf = _box(b"traf", _full(b"tfhd", struct.pack(">IQ", 1, 4000), flags=0x000001)
                + _full(b"saio", struct.pack(">II", 1, 64)))  # relative to the base: unchanged
    moof = bmff.shifted_box(_box(b"moof", traf), 8, 1000)
    assert struct.unpack_from(">Q", moof, moof.index(b"tfhd") + 12)[0] == 5000
    assert struct.unpack_from(">I", moof, moof.index(b"saio") + 12)[0] == 64

    tfra = _full(b"tfra", struct.pack(">III", 1, 0, 1) + struct.pack(">QQ", 0, 7000) + b"\x01\x01\x01", version=1)
    mfra = bmff.shifted_box(_box(b"mfra", tfra), 8, 1000)
    assert struct.unpack_from(">Q", mfra, mfra.index(b"tfra") + 28)[0] == 8000


def _moov(minf_child: bytes) -> bytes:
    return _box(b"moov", _box(b"trak", _box(b"mdia", _box(b"minf", minf_child))))


def test_unsupported_layouts_are_refused() -> None:
    overflowing = _moov(_box(b"stbl", _full(b"stco", struct.pack(">II", 1, 0xFFFFFF00))))
    with pytest.raises(bmff.UnsupportedLayout, match="overflow"):
        bmff.shifted_box(overflowing, 8, 1000)
    external = _moov(_box(b"dinf", _full(b"dref", struct.pack(">I", 1) + _full(b"url ", b"http://x/\0", flags=0))))
    with pytest.raises(bmff.UnsupportedLayout, match="another file"):
        bmff.shifted_box(external, 8, 1000)
    truncated = _box(b"moov", struct.pack(">I4s", 64, b"trak"))
    with pytest.raises(bmff.UnsupportedLayout):
        bmff.shifted_box(truncated, 8, 1000)


def test_plan_copies_media_and_rewrites_only_metadata(tmp_path: Path, clip: Path) -> None:
    fd = os.open(clip, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        new_box = _box(b"uuid", bmff.C2PA_UUID + bytes(100))
        plan = bmff.plan_insert_after_ftyp(fd, size, new_box)
        out = tmp_path / "planned.mp4"
        with open(out, "w+b") as dst:
            write_plan(fd, dst.fileno(), plan)
    finally:
        os.close(fd)
    assert plan.output_size == size + len(new_box) == out.stat().st_size
    literal = [p for p in plan.pieces() if p.data is not None]
    assert sum(p.length for p in literal) < 8192  # the new box and the moov, not the media
    assert framemd5(out) == framemd5(clip)


# --- late assertions: the soft binding is computed while the file is copied and hashed ---------------


def test_soft_binding_joins_the_manifest_after_hashing(tmp_path: Path, clip: Path, pki: DevPki,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from provenance.durability import softbinding

    out = tmp_path / "out.mp4"
    caplog.set_level(logging.DEBUG, logger=FAST_LOGGER)
    credentials = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    result = signing.sign(clip, out, credentials, Disclosure(generator="Sora"), soft_binding=True)
    assert any(r.getMessage().startswith("fast path signed") for r in caplog.records if r.name == FAST_LOGGER)
    assert verifier(pki).verify(out).verdict is Outcome.TRUSTED
    assert result.soft_binding == softbinding.compute(clip)
    assert softbinding.from_manifest(active_manifest(out)) == result.soft_binding
    # Same assertions, in the same order, as when the soft binding is known before signing.
    reference = tmp_path / "reference.mp4"
    extra = (result.soft_binding.assertion(),)
    public_sign(clip, reference, "video/mp4", pki,
                definition(Disclosure(generator="Sora", extra_assertions=extra), title=clip.name, has_parent=False))
    assert comparable(active_manifest(out)) == comparable(active_manifest(reference))


def test_a_failing_late_assertion_leaves_no_output(tmp_path: Path, pki: DevPki) -> None:
    from provenance.errors import SoftBindingError

    audio_only = tmp_path / "tone.mp4"  # an MP4, so the fast path runs, but with no frames to fingerprint
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=48000", "-t", "1", "-c:a", "aac", str(audio_only)], check=True)
    out = tmp_path / "out.mp4"
    credentials = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    with pytest.raises(SoftBindingError):
        signing.sign(audio_only, out, credentials, Disclosure(generator="Sora"), soft_binding=True)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.mp4")]  # no temporary file left


def test_late_assertions_reach_builder_sign_when_the_fast_path_declines(tmp_path: Path, signed_clip: Path,
                                                                       pki: DevPki) -> None:
    from provenance.durability import softbinding

    out = tmp_path / "resigned.mp4"
    credentials = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    result = signing.sign(signed_clip, out, credentials, Disclosure(generator="Sora"), soft_binding=True)
    assert verifier(pki).verify(out).verdict is Outcome.TRUSTED
    assert result.soft_binding is not None
    assert softbinding.from_manifest(active_manifest(out)) == result.soft_binding


def test_copy_between_filesystems(tmp_path: Path, clip: Path, pki: DevPki, caplog: pytest.LogCaptureFixture) -> None:
    """copy_file_range refuses to cross filesystems (EXDEV); the copy then goes through a buffer."""
    import tempfile

    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("needs a writable tmpfs at /dev/shm, on another filesystem than the test folder")
    if os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("/dev/shm is on the same filesystem as the test folder")
    with tempfile.TemporaryDirectory(dir=shm) as folder:
        src = Path(folder) / "clip.mp4"
        src.write_bytes(clip.read_bytes())
        out = tmp_path / "signed.mp4"
        fast_sign(src, out, pki, caplog, generator="Sora")
    assert verifier(pki).verify(out).verdict is Outcome.TRUSTED
    assert framemd5(out) == framemd5(clip)
