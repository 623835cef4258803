"""Finding 1: every fact about a manifest comes from the bytes c2pa validated, or the file is invalid."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance import codes
from provenance.keys.pki import DevPki
from provenance.trust.anchors import TrustAnchors, load_anchors
from provenance.verdict import Outcome
from provenance.verify import Verifier
from tests.support.clips import make_clip, sign_file

from .attacks import forged_signer_clip


@pytest.fixture(scope="module")
def both_roots(tmp_path_factory: pytest.TempPathFactory, pki: DevPki, other_pki: DevPki) -> TrustAnchors:
    """A trust list holding both roots, as the C2PA trust list holds many members."""
    bundle = tmp_path_factory.mktemp("anchors") / "both.pem"
    bundle.write_text(pki.root_ca.read_text() + other_pki.root_ca.read_text())
    return load_anchors(bundle)


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory, pki: DevPki, other_pki: DevPki) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("forged")
    victim = sign_file(make_clip(work / "victim.mp4"), work / "victim.signed.mp4", pki, generator="Sora").output
    attacker_src = make_clip(work / "attacker.mp4", source="mandelbrot")
    return victim, forged_signer_clip(victim, attacker_src, other_pki, work)


def test_the_attack_file_is_one_c2pa_accepts(forged: tuple[Path, Path], both_roots: TrustAnchors) -> None:
    """Without this, the tests below would prove nothing: c2pa itself finds the forged file trusted."""
    import c2pa

    settings = Verifier(both_roots).policy.c2pa_settings()
    with open(forged[1], "rb") as f, c2pa.Reader("video/mp4", f, context=c2pa.Context.from_dict(settings)) as r:
        assert r.get_validation_state() == "Trusted"


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "c2pa-reader"])
def test_relabelled_copy_of_a_legitimate_manifest_is_invalid(forged: tuple[Path, Path], both_roots: TrustAnchors,
                                                              pki: DevPki, fast: bool) -> None:
    victim, attack = forged
    legit = Verifier(both_roots).verify(victim).signer
    assert legit is not None
    verifier = Verifier(both_roots, allowed_signers=[legit.sha256], fast_path_min_bytes=0 if fast else -1)
    verdict = verifier.verify(attack)
    assert verdict.verdict is Outcome.INVALID
    assert codes.IDENTITY in verdict.failure_codes
    assert verdict.signer is None and verdict.title is None and verdict.ai_generated is None
    assert any("more than one manifest labelled" in reason for reason in verdict.trust_failures)
    assert not verdict.passed


def test_cli_and_check_refuse_the_forgery(forged: tuple[Path, Path], both_roots: TrustAnchors,
                                          tmp_path: Path) -> None:
    from tests.support.cli import run_cli

    victim, attack = forged
    legit = Verifier(both_roots).verify(victim).signer
    assert legit is not None
    result = run_cli("verify", attack, "--trust-anchors", both_roots.source, "--allowed-signer", legit.sha256)
    assert result.code == 1
    assert "INVALID" in result.stdout and legit.subject not in result.stdout
    policy = tmp_path / "policy.toml"
    policy.write_text(f'require_trusted = true\nallowed_signers = {{ sha256 = ["{legit.sha256}"] }}\n'
                      f'trust_anchors = "{both_roots.source}"\n')
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "clip.mp4").write_bytes(attack.read_bytes())
    checked = run_cli("check", tree, "--policy", policy)
    assert checked.code == 1, checked.stdout + checked.stderr
    assert "clip.mp4" in checked.stdout and "invalid" in checked.stdout.lower()
