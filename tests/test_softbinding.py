"""The ISCC soft binding: computed from real clips with ffmpeg, recorded by real c2pa signing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from provenance import signers, signing, softbinding
from provenance.errors import SoftBindingError
from provenance.manifest import Disclosure
from provenance.pki import DevPki
from provenance.verdict import Outcome
from provenance.verify import Verifier

from .conftest import ffmpeg_exe, make_clip, run_cli


def ffmpeg(*args: object) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)


def sign_with_binding(src: Path, out: Path, pki: DevPki, **kwargs: object) -> signing.SignResult:
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    return signing.sign(src, out, creds, Disclosure(generator="Sora"), soft_binding=True, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sb-clips")
    return {
        "testsrc2": make_clip(d / "testsrc2.mp4", seconds=3, size="320x240", rate=25),
        "mandelbrot": make_clip(d / "mandelbrot.mp4", seconds=3, source="mandelbrot", size="320x240", rate=25),
        "life": make_clip(d / "life.mp4", seconds=3, source="life", size="320x240", rate=25, audio=False),
    }


def test_video_code_is_a_256_bit_iscc_video_code(clips: dict[str, Path]) -> None:
    import iscc_core as ic

    code = softbinding.video_code(clips["testsrc2"])
    maintype, subtype, version, length, body = ic.iscc_decode(code)
    assert (maintype, subtype, version) == (ic.MT.CONTENT, ic.ST_CC.VIDEO, ic.VS.V0)
    assert length == 7 and len(body) == 32  # 256 bits, as IEP-0020 requires
    assert softbinding.video_code(clips["testsrc2"]) == code  # deterministic


def test_video_code_is_iscc_cores_code_of_the_frame_signatures(clips: dict[str, Path]) -> None:
    """The 64-bit ISCC Video-Code of the same frames is the 256-bit code's prefix (WTA-hash bit order)."""
    import iscc_core as ic

    frames = softbinding.frame_signatures(clips["mandelbrot"])
    assert frames and all(len(f) == 380 and set(f) <= {0, 1, 2} for f in frames)
    long_body = ic.iscc_decode(softbinding.video_code(clips["mandelbrot"]))[4]
    short_body = ic.iscc_decode(ic.gen_video_code_v0(frames, bits=64)["iscc"])[4]
    assert long_body[:8] == short_body


def test_reencoded_copy_is_near_and_other_content_is_far(clips: dict[str, Path], tmp_path: Path) -> None:
    smaller = tmp_path / "smaller.mp4"
    ffmpeg("-i", clips["testsrc2"], "-vf", "scale=160:120", "-c:v", "libx264", "-crf", "28", smaller)
    original = softbinding.compute(clips["testsrc2"])
    copy = softbinding.compute(smaller)
    near = original.distance(copy)
    assert near is not None and near <= softbinding.MATCH_THRESHOLD
    assert original.matches(copy)
    for other in ("mandelbrot", "life"):
        far = original.distance(softbinding.compute(clips[other]))
        assert far is not None and far > softbinding.MATCH_THRESHOLD


def test_instance_code_identifies_the_exact_file(clips: dict[str, Path], tmp_path: Path) -> None:
    binding = softbinding.compute(clips["testsrc2"])
    same_bytes = tmp_path / "copy.mp4"
    same_bytes.write_bytes(clips["testsrc2"].read_bytes())
    assert softbinding.compute(same_bytes).instance_code == binding.instance_code
    assert binding.distance(softbinding.compute(same_bytes)) == 0
    assert softbinding.compute(clips["testsrc2"], with_instance=False).instance_code is None


def test_value_round_trips_as_an_iscc_seq(clips: dict[str, Path]) -> None:
    binding = softbinding.compute(clips["life"])
    assert len(binding.value) == 2 * (2 + 32)  # two units, 2-byte header + 256-bit body each
    assert softbinding.SoftBinding.from_value(binding.value) == binding
    assert binding.iscc.startswith("ISCC:")


@pytest.mark.parametrize("garbage", [b"", b"\x00", b"not an iscc seq at all", bytes(range(40))])
def test_malformed_values_are_refused(garbage: bytes) -> None:
    with pytest.raises(ValueError):
        softbinding.SoftBinding.from_value(garbage)


def test_assertion_follows_the_soft_binding_schema(clips: dict[str, Path]) -> None:
    binding = softbinding.compute(clips["testsrc2"])
    assertion = binding.assertion()
    assert assertion["label"] == "c2pa.soft-binding"
    data = assertion["data"]
    assert data["alg"] == "io.iscc.v0"
    assert "alg_params" not in data  # IEP-0020: absent
    [block] = data["blocks"]
    assert block["scope"] == {}  # the whole clip
    assert bytes(block["value"]) == binding.value


def test_signing_records_the_soft_binding_and_stays_valid(clips: dict[str, Path], pki: DevPki,
                                                          tmp_path: Path) -> None:
    import c2pa

    out = tmp_path / "signed.mp4"
    result = sign_with_binding(clips["testsrc2"], out, pki)
    assert result.soft_binding == softbinding.compute(clips["testsrc2"])
    assert Verifier().verify(out).verdict is Outcome.VALID
    with open(out, "rb") as f, c2pa.Reader("video/mp4", f) as reader:
        report = json.loads(reader.json())
    manifest = report["manifests"][report["active_manifest"]]
    assert softbinding.from_manifest(manifest) == result.soft_binding


def test_signing_a_sidecar_webm_records_the_soft_binding(pki: DevPki, tmp_path: Path) -> None:
    src = make_clip(tmp_path / "clip.webm", "webm", seconds=2, size="160x120")
    result = sign_with_binding(src, tmp_path / "signed.webm", pki)
    assert result.sidecar is not None and result.soft_binding is not None
    assert result.soft_binding.video_code == softbinding.compute(src).video_code


def test_media_without_video_is_signed_without_soft_binding(pki: DevPki, tmp_path: Path) -> None:
    audio = tmp_path / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "1", audio)
    with pytest.raises(SoftBindingError):
        softbinding.compute(audio)
    result = sign_with_binding(audio, tmp_path / "signed.wav", pki)
    assert result.soft_binding is None


def test_undecodable_video_gives_a_clear_error(tmp_path: Path, clips: dict[str, Path]) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clips["testsrc2"].read_bytes()[:2000])  # header only, no frames
    with pytest.raises(SoftBindingError) as caught:
        softbinding.compute(broken)
    assert str(broken) in caught.value.message and "\n" not in caught.value.message


def test_cli_sign_records_and_registers_by_default(clips: dict[str, Path], pki: DevPki, tmp_path: Path) -> None:
    store = tmp_path / "manifests.sqlite3"
    env = {"PROVENANCE_STORE": str(store)}
    result = run_cli("sign", clips["testsrc2"], "-o", tmp_path / "signed.mp4", "--cert", pki.signer_chain,
                     "--key", pki.signer_key, "--generator", "Sora", env=env)
    assert result.code == 0, result.stderr
    assert "soft binding: ISCC:" in result.stdout
    assert "registered manifest urn:c2pa:" in result.stdout and str(store) in result.stdout
    from provenance.repository import open_repository

    repository = open_repository(store, create=False)
    assert repository is not None
    with repository:
        assert repository.count() == 1


def test_cli_no_soft_binding(clips: dict[str, Path], pki: DevPki, tmp_path: Path) -> None:
    import c2pa

    store = tmp_path / "manifests.sqlite3"
    out = tmp_path / "signed.mp4"
    result = run_cli("sign", clips["life"], "-o", out, "--cert", pki.signer_chain, "--key", pki.signer_key,
                     "--no-soft-binding", env={"PROVENANCE_STORE": str(store)})
    assert result.code == 0, result.stderr
    assert "soft binding" not in result.stdout
    assert not store.exists()
    with open(out, "rb") as f, c2pa.Reader("video/mp4", f) as reader:
        report = json.loads(reader.json())
    assert softbinding.from_manifest(report["manifests"][report["active_manifest"]]) is None


def test_cli_unusable_store_fails_before_writing(clips: dict[str, Path], pki: DevPki, tmp_path: Path) -> None:
    out = tmp_path / "signed.mp4"
    result = run_cli("sign", clips["life"], "-o", out, "--cert", pki.signer_chain, "--key", pki.signer_key,
                     "--store", tmp_path / "missing-folder" / "m.sqlite3")
    assert result.code == 1
    assert "missing-folder" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()
