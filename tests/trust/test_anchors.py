"""Trust configuration for verifiers: anchors (flag, environment, per-user default), pinned
signers, `trust show`, and failing closed whenever a trust setting is given and not met."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509

from provenance.errors import MediaError, TrustConfigError
from provenance.keys.pki import DevPki, fingerprint
from provenance.trust import anchors as trust
from provenance.trust.anchors import load_anchors
from provenance.trust.show import chain_report
from provenance.verdict import Outcome
from provenance.verify import Verifier
from tests.support.cli import run_cli


def leaf_fingerprint(pki: DevPki) -> str:
    return fingerprint(x509.load_pem_x509_certificates(pki.signer_chain.read_bytes())[0])


def verify_json(*args: object, env: dict[str, str] | None = None) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    result = run_cli("verify", *args, "--format", "json", env=env)
    return result.code, json.loads(result.stdout)[0], result.stderr


# --- --allowed-signer: pinning in our own layer ---


@pytest.mark.slow
def test_pinned_signer_passes(signed_clip: Path, pki: DevPki) -> None:
    code, verdict, _ = verify_json(signed_clip, "--allowed-signer", leaf_fingerprint(pki))
    assert code == 0 and verdict["trust_failures"] == []
    # Colons and upper case (as other tools print fingerprints) are accepted.
    colons = ":".join(leaf_fingerprint(pki)[i:i + 2] for i in range(0, 64, 2)).upper()
    code, _, _ = verify_json(signed_clip, "--allowed-signer", colons, "--trust-anchors", pki.root_ca)
    assert code == 0


def test_signer_not_pinned_fails_with_reason(signed_clip: Path, pki: DevPki, other_pki: DevPki) -> None:
    code, verdict, _ = verify_json(signed_clip, "--trust-anchors", pki.root_ca,
                                   "--allowed-signer", leaf_fingerprint(other_pki))
    assert code == 1
    # The chain is trusted, but pinning is enforced on top: not shown as trusted.
    assert verdict["verdict"] == "valid"
    (reason,) = verdict["trust_failures"]
    assert leaf_fingerprint(pki) in reason and "not one of the allowed signers" in reason
    text = run_cli("verify", signed_clip, "--allowed-signer", leaf_fingerprint(other_pki))
    assert text.code == 1 and "not trusted:   signer CN=Provenance Test Signer" in text.stdout


def test_pins_from_environment(signed_clip: Path, pki: DevPki, other_pki: DevPki) -> None:
    both = f"{leaf_fingerprint(other_pki)} {leaf_fingerprint(pki)}"
    code, _, _ = verify_json(signed_clip, env={"PROVENANCE_ALLOWED_SIGNERS": both})
    assert code == 0
    code, verdict, _ = verify_json(signed_clip, env={"PROVENANCE_ALLOWED_SIGNERS": leaf_fingerprint(other_pki)})
    assert code == 1 and verdict["trust_failures"]


def test_pins_do_not_replace_anchors(signed_clip: Path, pki: DevPki, other_pki: DevPki) -> None:
    # Pinned, but the anchors given do not cover the signer: both settings must hold.
    code, verdict, _ = verify_json(signed_clip, "--allowed-signer", leaf_fingerprint(pki),
                                   "--trust-anchors", other_pki.root_ca)
    assert code == 1 and verdict["verdict"] == "valid" and verdict["trust_failures"] == []


def test_pins_apply_to_unsigned_and_broken_files_too(clip: Path, pki: DevPki) -> None:
    code, verdict, _ = verify_json(clip, "--allowed-signer", leaf_fingerprint(pki))
    assert code == 1 and verdict["verdict"] == "unsigned"


@pytest.mark.parametrize("bad", ["abc", "zz" * 32, "sha256:" + "0" * 63])
def test_malformed_fingerprint_is_usage_error(signed_clip: Path, bad: str) -> None:
    result = run_cli("verify", signed_clip, "--allowed-signer", bad)
    assert result.code == 2
    assert "is not a SHA-256 certificate fingerprint" in result.stderr and "Traceback" not in result.stderr


def test_parse_fingerprints() -> None:
    fp = "ab" * 32
    assert trust.parse_fingerprints([f"SHA256:{fp.upper()}", f"{fp}, {'cd' * 32}"]) == {fp, "cd" * 32}
    with pytest.raises(TrustConfigError):
        trust.parse_fingerprint("ab" * 31)


# --- anchors: flag, environment and the per-user default file ---


def config_env(home: Path) -> dict[str, str]:
    """An environment whose per-user config dir is `home` (platformdirs honours XDG_CONFIG_HOME)."""
    return {"XDG_CONFIG_HOME": str(home), "PROVENANCE_TRUST_ANCHORS": "", "PROVENANCE_TSA_TRUST_ANCHORS": ""}


@pytest.mark.slow
def test_per_user_default_anchors(tmp_path: Path, signed_clip: Path, pki: DevPki, other_pki: DevPki) -> None:
    env = config_env(tmp_path)
    paths = run_cli("trust", "paths", env=env)
    default = tmp_path / "provenance" / "trust-anchors.pem"
    assert paths.code == 0 and f"{default} (absent)" in paths.stdout
    assert str(tmp_path / "provenance" / "tsa-trust-anchors.pem") in paths.stdout
    default.parent.mkdir()
    default.write_bytes(pki.root_ca.read_bytes())
    code, verdict, _ = verify_json(signed_clip, env=env)
    assert code == 0 and verdict["verdict"] == "trusted" and verdict["trust_anchors_given"] is True
    # A default of someone else's root: the file's signer is untrusted, which fails closed.
    default.write_bytes(other_pki.root_ca.read_bytes())
    code, verdict, _ = verify_json(signed_clip, env=env)
    assert code == 1 and verdict["verdict"] == "valid"
    # The flag wins over the default file.
    code, verdict, _ = verify_json(signed_clip, "--trust-anchors", pki.root_ca, env=env)
    assert code == 0 and verdict["verdict"] == "trusted"
    # A broken default file is an error, not silently ignored.
    default.write_text("not a certificate\n")
    result = run_cli("verify", signed_clip, env=env)
    assert result.code == 2 and "holds no PEM certificates" in result.stderr


def test_per_user_default_tsa_anchors_fail_closed(tmp_path: Path, signed_clip: Path, pki: DevPki) -> None:
    env = config_env(tmp_path)
    (tmp_path / "provenance").mkdir()
    # Any CA will do: the clip has no timestamp at all, so a TSA setting cannot be met.
    (tmp_path / "provenance" / "tsa-trust-anchors.pem").write_bytes(pki.root_ca.read_bytes())
    code, verdict, _ = verify_json(signed_clip, "--trust-anchors", pki.root_ca, env=env)
    assert code == 1 and verdict["trust_failures"]


def test_anchor_bundle_with_text_between_certificates(tmp_path: Path, signed_clip: Path, pki: DevPki,
                                                      other_pki: DevPki) -> None:
    """The official C2PA trust list interleaves 'Subject ...' lines with the PEM blocks."""
    bundle = tmp_path / "C2PA-TRUST-LIST.pem"
    bundle.write_text("Subject\tCN=Someone Else Root CA\n" + other_pki.root_ca.read_text()
                      + "\nSubject\tCN=Provenance Test Root CA\n" + pki.root_ca.read_text())
    anchors = load_anchors(bundle)
    assert anchors.count == 2 and len(anchors.certificates()) == 2
    assert Verifier(anchors).verify(signed_clip).verdict is Outcome.TRUSTED


def test_reader_settings_never_fetch() -> None:
    settings = trust.reader_settings(None)
    assert settings["verify"]["remote_manifest_fetch"] is False and settings["verify"]["ocsp_fetch"] is False
    assert "trust" not in settings


# --- `trust show` ---


def test_trust_show_prints_the_chain(signed_clip: Path, pki: DevPki) -> None:
    leaf, intermediate = x509.load_pem_x509_certificates(pki.signer_chain.read_bytes())
    result = run_cli("trust", "show", signed_clip, "--format", "json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    signer, inter = report["signer_chain"]
    assert signer["role"] == "signer" and inter["role"] == "intermediate" and inter["is_ca"] is True
    assert signer["subject"] == leaf.subject.rfc4514_string()
    assert signer["issuer"] == intermediate.subject.rfc4514_string()
    assert signer["sha256"] == fingerprint(leaf) and inter["sha256"] == fingerprint(intermediate)
    assert set(signer["extended_key_usages"]) == {"documentSigning", "emailProtection"}
    assert signer["not_after"] == leaf.not_valid_after_utc.isoformat()
    assert signer["key"] == "EC P-256" and report["manifest_source"] == "embedded"
    assert report["timestamp_time"] is None and report["tsa_chain"] == []
    text = run_cli("trust", "show", signed_clip).stdout
    assert f"to pin this signer: --allowed-signer {fingerprint(leaf)}" in text
    assert "validity:" in text and "EKUs:      documentSigning, emailProtection" in text
    chain_pem = run_cli("trust", "show", signed_clip, "--format", "pem").stdout
    assert x509.load_pem_x509_certificates(chain_pem.encode()) == [leaf, intermediate]


def test_trust_show_pin_round_trip(signed_clip: Path) -> None:
    """What `trust show` prints is exactly what --allowed-signer accepts."""
    report = json.loads(run_cli("trust", "show", signed_clip, "--format", "json").stdout)
    code, _, _ = verify_json(signed_clip, "--allowed-signer", report["signer_chain"][0]["sha256"])
    assert code == 0


def test_trust_show_sidecar_and_errors(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    from tests.support.clips import make_clip, sign_file

    mkv = make_clip(tmp_path / "src.mkv", "mkv")
    sign_file(mkv, tmp_path / "out.mkv", pki)
    result = run_cli("trust", "show", tmp_path / "out.mkv", "--format", "json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["manifest_source"] == "sidecar"
    unsigned = run_cli("trust", "show", clip)
    assert unsigned.code == 1 and "has no C2PA manifest" in unsigned.stderr
    assert len(unsigned.stderr.strip().splitlines()) == 1
    with pytest.raises(MediaError):
        chain_report(tmp_path / "missing.mp4")
