"""The CLI as users run it: exit codes, one-line errors, no tracebacks, nothing partial written."""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
from pathlib import Path

import click
import pytest

from provenance.errors import UsageError
from provenance.keys.pki import DevPki
from provenance.media import sidecar_path as media_sidecar
from provenance_cli.errors import run
from tests.support.cli import run_cli
from tests.support.clips import make_clip


def sign_args(pki: DevPki) -> list[object]:
    return ["--cert", pki.signer_chain, "--key", pki.signer_key]


def assert_one_line_error(stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("provenance: error:")
    assert "Traceback" not in stderr


def nested_boxes(path: Path, depth: int) -> Path:
    body = struct.pack(">I4s", 8, b"free")
    for i in range(depth):
        body = struct.pack(">I4s", 8 + len(body), (b"moov", b"trak", b"mdia")[i % 3]) + body
    path.write_bytes(struct.pack(">I4s4sI4s", 20, b"ftyp", b"isom", 0, b"isom") + body)
    return path


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory, signed_clip: Path) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    (d / "empty.mp4").touch()
    (d / "notes.mp4").write_text("this is text, not video\n")
    data = signed_clip.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (d / "data.bin").write_bytes(bytes(range(256)) * 4)
    (d / "random.bin").write_bytes(random.Random(14).randbytes(4096))  # fixed, so it never looks like a format
    (d / "folder").mkdir()
    return {
        "missing": d / "missing.mp4",
        "directory": d / "folder",
        "empty": d / "empty.mp4",
        "text": d / "notes.mp4",
        "truncated": d / "truncated.mp4",
        "unsupported": d / "data.bin",
        "random": d / "random.bin",
        "nested": nested_boxes(d / "nested.mp4", 5000),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "text", "truncated", "unsupported", "nested"])
def test_sign_bad_input(tmp_path: Path, pki: DevPki, bad_inputs: dict[str, Path], case: str) -> None:
    out = tmp_path / "out.mp4"
    result = run_cli("sign", bad_inputs[case], "-o", out, *sign_args(pki))
    assert result.code == 1
    assert_one_line_error(result.stderr)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "text", "unsupported", "random", "nested"])
def test_verify_bad_input(bad_inputs: dict[str, Path], case: str) -> None:
    result = run_cli("verify", bad_inputs[case], "--format", "json")
    assert result.code == 1
    assert_one_line_error(result.stderr)
    (verdict,) = json.loads(result.stdout)
    assert verdict["verdict"] == "error" and verdict["error"]


def test_verify_truncated_signed_clip_fails(bad_inputs: dict[str, Path]) -> None:
    result = run_cli("verify", bad_inputs["truncated"], "--format", "json")
    assert result.code == 1
    (verdict,) = json.loads(result.stdout)
    assert verdict["verdict"] in ("invalid", "error")


def test_verbose_shows_traceback(tmp_path: Path, pki: DevPki, bad_inputs: dict[str, Path]) -> None:
    result = run_cli("--verbose", "sign", bad_inputs["text"], "-o", tmp_path / "o.mp4", *sign_args(pki))
    assert result.code == 1
    assert "Traceback" in result.stderr


def test_verbose_from_the_environment_shows_traceback(tmp_path: Path, pki: DevPki,
                                                      bad_inputs: dict[str, Path]) -> None:
    result = run_cli("sign", bad_inputs["text"], "-o", tmp_path / "o.mp4", *sign_args(pki),
                     env={"PROVENANCE_VERBOSE": "1"})
    assert result.code == 1
    assert "Traceback" in result.stderr


def test_an_option_value_that_looks_like_verbose_is_not_verbose(tmp_path: Path, pki: DevPki,
                                                                 bad_inputs: dict[str, Path]) -> None:
    result = run_cli("sign", bad_inputs["text"], "-o", tmp_path / "o.mp4", *sign_args(pki), "--title", "-v")
    assert result.code == 1
    assert_one_line_error(result.stderr)


def test_a_library_error_is_printed_as_its_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    @click.group()
    def group() -> None:
        pass

    @group.command()
    def refuse() -> None:
        raise UsageError("nothing to do", remedy="Give it something.")

    with pytest.raises(SystemExit) as exited:
        run(group, ["refuse"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == "provenance: error: nothing to do (hint: Give it something.)\n"


@pytest.mark.slow
def test_verbose_verify_says_which_way_without_c2pa_loader_noise(signed_clip: Path) -> None:
    fast = run_cli("--verbose", "verify", signed_clip, env={"PROVENANCE_FAST_VERIFY_MIN_BYTES": "0"})
    assert fast.code == 0
    assert "verified on the fast path" in fast.stderr
    assert "Library not found" not in fast.stderr
    full = run_cli("--verbose", "verify", signed_clip, env={"PROVENANCE_FAST_VERIFY_MIN_BYTES": "-1"})
    assert full.code == 0 and "verified by c2pa's Reader alone" in full.stderr
    assert full.stdout == fast.stdout


@pytest.mark.slow
def test_sign_then_verify_exit_codes(tmp_path: Path, clip: Path, pki: DevPki, other_pki: DevPki) -> None:
    out = tmp_path / "signed.mp4"
    signed = run_cli("sign", clip, "-o", out, *sign_args(pki), "--generator", "Sora", "--generator-version", "2")
    assert signed.code == 0, signed.stderr
    # No anchors: judged against the official lists, which do not hold the test CA; valid passes, with a warning.
    plain = run_cli("verify", out)
    assert plain.code == 0
    assert "VALID" in plain.stdout and "the signer is not on the C2PA Trust List" in plain.stdout
    nobody = run_cli("verify", out, "--no-default-trust")
    assert nobody.code == 0
    assert "VALID" in nobody.stdout and "not checked against any trust anchors" in nobody.stdout
    trusted = run_cli("verify", out, "--trust-anchors", pki.root_ca)
    assert trusted.code == 0 and "TRUSTED" in trusted.stdout and "by Sora 2" in trusted.stdout
    # Anchors given but the signer chains elsewhere: fails closed.
    untrusted = run_cli("verify", out, "--trust-anchors", other_pki.root_ca)
    assert untrusted.code == 1
    # The environment variable works like the flag.
    via_env = run_cli("verify", out, env={"PROVENANCE_TRUST_ANCHORS": str(other_pki.root_ca)})
    assert via_env.code == 1
    unsigned = run_cli("verify", clip)
    assert unsigned.code == 1 and "UNSIGNED" in unsigned.stdout


def test_verify_json_array_for_many_files(signed_clip: Path, clip: Path, pki: DevPki) -> None:
    result = run_cli("verify", signed_clip, clip, "--trust-anchors", pki.root_ca, "--format", "json")
    assert result.code == 1
    verdicts = json.loads(result.stdout)
    assert [v["verdict"] for v in verdicts] == ["trusted", "unsigned"]
    assert verdicts[0]["ai_generated"] is True
    assert verdicts[0]["generator"] == {"name": "Sora", "version": "2"}


def test_text_explains_failure_codes(tmp_path: Path, signed_clip: Path, pki: DevPki) -> None:
    data = bytearray(signed_clip.read_bytes())
    mdat = data.index(b"mdat")
    data[mdat + 200] ^= 0xFF
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    result = run_cli("verify", tampered, "--trust-anchors", pki.root_ca)
    assert result.code == 1
    assert "INVALID" in result.stdout
    assert "assertion.bmffHash.mismatch: the video data changed after signing" in result.stdout


def test_text_tells_a_broken_ingredient_from_the_files_own_credentials(remix_of_broken_parent: Path,
                                                                        pki: DevPki) -> None:
    result = run_cli("verify", remix_of_broken_parent, "--trust-anchors", pki.root_ca)
    assert result.code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == (f"{remix_of_broken_parent}: INVALID: this clip's own credentials are intact and its signer "
                        "is trusted; its ingredient 'parent.mp4' has a broken signature")
    assert not any(line.startswith(("  caution:", "  problem:")) for line in lines)  # nothing wrong of its own
    assert "  ingredient:    parent.mp4 [parentOf]: invalid" in lines
    assert any("claimSignature.mismatch: the signature does not match" in line for line in lines)


def test_verify_crjson_one_document_a_file(signed_clip: Path, clip: Path, pki: DevPki,
                                           bad_inputs: dict[str, Path]) -> None:
    alone = run_cli("verify", signed_clip, "--trust-anchors", pki.root_ca, env={"PROVENANCE_VERIFY_FORMAT": "crjson"})
    assert (alone.code, alone.stderr) == (0, "")
    (document,) = json.loads(alone.stdout)
    label = json.loads(run_cli("verify", signed_clip, "--format", "json").stdout)[0]["manifest_label"]
    assert document["manifests"][0]["label"] == label
    # c2pa judged the signer with the verifier's anchors.
    assert "signingCredential.trusted" in {e["code"] for e in document["manifests"][0]["validationResults"]["success"]}

    several = run_cli("verify", signed_clip, clip, bad_inputs["random"], "--trust-anchors", pki.root_ca,
                      "--format", "crjson")
    assert several.code == 1  # as verify: the unsigned and the unreadable file fail
    signed, unsigned, unreadable = json.loads(several.stdout)
    assert signed["manifests"][0]["label"] == label
    assert (unsigned, unreadable) == ({}, None)
    assert_one_line_error(several.stderr)
    assert str(bad_inputs["random"]) in several.stderr


def test_verify_crjson_of_a_remix_with_a_broken_ingredient(remix_with_broken_ingredient: Path, pki: DevPki) -> None:
    result = run_cli("verify", remix_with_broken_ingredient, "--trust-anchors", pki.root_ca, "--format", "crjson")
    assert result.code == 1  # as verify: the ingredient is broken
    (document,) = json.loads(result.stdout)
    active = document["manifests"][0]
    assert active["validationResults"]["failure"] == []  # c2pa's report keeps them apart too
    (delta,) = active["ingredientDeltas"]
    assert "claimSignature.mismatch" in {e["code"] for e in delta["validationDeltas"]["failure"]}


def test_inspect_crjson(signed_clip: Path, clip: Path) -> None:
    store = json.loads(run_cli("inspect", signed_clip).stdout)
    result = run_cli("inspect", signed_clip, env={"PROVENANCE_INSPECT_FORMAT": "crjson"})
    assert result.code == 0
    document = json.loads(result.stdout)
    assert document["manifests"][0]["label"] == store["active_manifest"]
    assert "validationResults" in document["manifests"][0]
    unsigned = run_cli("inspect", clip, "--format", "crjson")
    assert unsigned.code == 1
    assert_one_line_error(unsigned.stderr)
    both = run_cli("inspect", signed_clip, "--format", "crjson", "--detailed")
    assert both.code == 2
    assert_one_line_error(both.stderr)


@pytest.mark.parametrize("anchors", ["missing.pem", "text"])
def test_unreadable_trust_anchors_is_usage_error(tmp_path: Path, signed_clip: Path, anchors: str) -> None:
    path = tmp_path / anchors
    if anchors == "text":
        path.write_text("not a certificate")
    result = run_cli("verify", signed_clip, "--trust-anchors", path)
    assert result.code == 2
    assert_one_line_error(result.stderr)


@pytest.mark.slow
def test_sign_refusals(tmp_path: Path, clip: Path, pki: DevPki, other_pki: DevPki) -> None:
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"old")
    refused = run_cli("sign", clip, "-o", existing, *sign_args(pki))
    assert refused.code == 2 and existing.read_bytes() == b"old"
    assert_one_line_error(refused.stderr)
    same = run_cli("sign", clip, "-o", clip, *sign_args(pki))
    assert same.code == 2
    mismatch = run_cli("sign", clip, "-o", tmp_path / "m.mp4", "--cert", pki.signer_chain,
                       "--key", other_pki.signer_key)
    assert mismatch.code == 1 and "key does not match certificate" in mismatch.stderr
    assert not (tmp_path / "m.mp4").exists()


@pytest.mark.slow
def test_sidecar_formats_via_cli(tmp_path: Path, pki: DevPki) -> None:
    src = make_clip(tmp_path / "in.webm", "webm")
    out = tmp_path / "out.webm"
    result = run_cli("sign", src, "-o", out, *sign_args(pki))
    assert result.code == 0
    assert (tmp_path / "out.webm.c2pa").is_file()
    verified = run_cli("verify", out, "--trust-anchors", pki.root_ca, "--format", "json")
    assert json.loads(verified.stdout)[0]["verdict"] == "trusted"


def test_inspect(signed_clip: Path, clip: Path) -> None:
    result = run_cli("inspect", signed_clip)
    assert result.code == 0
    store = json.loads(result.stdout)
    assert store["active_manifest"] in store["manifests"]
    detailed = run_cli("inspect", signed_clip, "--detailed")
    assert "claim" in json.loads(detailed.stdout)["manifests"][store["active_manifest"]]
    unsigned = run_cli("inspect", clip)
    assert unsigned.code == 1
    assert_one_line_error(unsigned.stderr)


@pytest.mark.slow
def test_format_variables_belong_to_their_command(signed_clip: Path) -> None:
    as_json = run_cli("verify", signed_clip, env={"PROVENANCE_VERIFY_FORMAT": "json"})
    assert json.loads(as_json.stdout)[0]["verdict"] == "valid"
    # The old shared name is no longer read: the text report stays.
    as_text = run_cli("verify", signed_clip, env={"PROVENANCE_FORMAT": "json"})
    assert as_text.stdout.startswith(f"{signed_clip}: VALID")
    chain = run_cli("trust", "show", signed_clip, env={"PROVENANCE_TRUST_FORMAT": "json"})
    assert json.loads(chain.stdout)["signer_chain"]


def test_no_variable_makes_sign_overwrite(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"old")
    refused = run_cli("sign", clip, "-o", existing, *sign_args(pki), env={"PROVENANCE_FORCE": "1"})
    assert refused.code == 2 and existing.read_bytes() == b"old"
    assert_one_line_error(refused.stderr)


def test_keys_init_reads_its_own_algorithm_variable(tmp_path: Path) -> None:
    created = run_cli("keys", "init", tmp_path / "pki", env={"PROVENANCE_KEYS_ALG": "es384", "PROVENANCE_ALG": "ps256"})
    assert created.code == 0 and "algorithm:     es384" in created.stdout


@pytest.mark.slow
def test_check_trust_anchors_option_over_policy_over_default_file(tmp_path: Path, signed_clip: Path, pki: DevPki,
                                                                 other_pki: DevPki) -> None:
    (tmp_path / "media").mkdir()
    shutil.copy(signed_clip, tmp_path / "media" / "signed.mp4")
    default = tmp_path / "config" / "provenance" / "trust-anchors.pem"
    default.parent.mkdir(parents=True)
    default.write_bytes(other_pki.root_ca.read_bytes())
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "PROVENANCE_TRUST_ANCHORS": "", "GITHUB_STEP_SUMMARY": ""}

    def anchors_used(*args: object) -> tuple[int, Path]:
        result = run_cli("check", "media", "--format", "json", *args, cwd=tmp_path, env=env)
        return result.code, Path(json.loads(result.stdout)["trust_anchors"]).resolve()

    assert anchors_used() == (1, default.resolve())
    (tmp_path / "provenance.toml").write_text(f'trust_anchors = "{pki.root_ca}"\n')
    assert anchors_used() == (0, pki.root_ca.resolve())
    assert anchors_used("--trust-anchors", other_pki.root_ca) == (1, other_pki.root_ca.resolve())


@pytest.mark.slow
def test_every_output_gets_the_mode_a_new_file_gets_and_keys_stay_private(tmp_path: Path, pki: DevPki) -> None:
    # Run under a known umask, so "what a new file gets" is a number: 0o666 & ~0o027.
    umask = os.umask(0o027)
    try:
        webm = make_clip(tmp_path / "clip.webm", "webm")
        signed = tmp_path / "signed.webm"
        sign = run_cli("sign", webm, "-o", signed, "--cert", pki.signer_chain, "--key", pki.signer_key)
        report = tmp_path / "report.json"
        check = run_cli("check", tmp_path, "--format", "json", "--output", report)
        keys = run_cli("keys", "init", tmp_path / "keys")
    finally:
        os.umask(umask)
    assert sign.code == 0, sign.stderr
    assert check.code in (0, 1), check.stderr
    assert keys.code == 0, keys.stderr
    for output in (signed, media_sidecar(signed), report):
        assert output.stat().st_mode & 0o777 == 0o640, output
    assert [p.stat().st_mode & 0o777 for p in (tmp_path / "keys").glob("*.key")] == [0o600]
