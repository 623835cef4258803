"""Policy files (strict parsing, errors that name the line) and the rules a policy compiles to."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from provenance import signing
from provenance.check import Policy, Scope, compile_policy, load_policy, load_policy_file
from provenance.errors import PolicyError
from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.manifest import Disclosure
from provenance.trust.anchors import load_anchors
from provenance.verdict import (
    COMPOSITE_WITH_TRAINED,
    COPY,
    IPTC,
    SIMILAR,
    TRAINED_ALGORITHMIC_MEDIA,
    Aligned,
    Outcome,
    Recovered,
    Verdict,
)
from provenance.verify import Verifier
from tests.support.cli import run_cli
from tests.support.tsa import openssl_available, running_tsa


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def policy_error(path: Path) -> str:
    with pytest.raises(PolicyError) as caught:
        load_policy_file(path)
    return caught.value.message


# ---- parsing -------------------------------------------------------------------------------------

def test_empty_policy_is_the_default(tmp_path: Path) -> None:
    policy = load_policy_file(write(tmp_path / "provenance.toml", "# nothing\n"))
    assert dataclasses.replace(policy, source="default") == Policy()
    assert policy.require_credentials.everything
    rules = compile_policy(policy, anchors_given=False).rules
    assert [r.info.id for r in rules] == ["unreadable-media", "invalid-credentials", "invalid-ingredient",
                                          "trust-failure", "missing-credentials"]


def test_full_policy(tmp_path: Path) -> None:
    fingerprint = "AB:" * 31 + "AB"
    path = write(tmp_path / "conf" / "policy.toml", f"""
require_credentials = ["published/", "*.mov"]
trust_anchors = "anchors/root.pem"
tsa_trust_anchors = "/etc/tsa.pem"
require_trusted = ["published/"]
require_ai_disclosure = true
accept_recovered_ai_disclosure = true
forbid_ai = ["camera/"]
require_timestamp = false
allow_unsigned = ["drafts/", "!drafts/final.mp4"]

[allowed_signers]
sha256 = ["sha256:{fingerprint}"]
subjects = ["CN=Newsroom *"]
""")
    policy = load_policy_file(path)
    assert policy.require_credentials == Scope(["published/", "*.mov"])
    assert policy.trust_anchors == (tmp_path / "conf/anchors/root.pem").resolve()  # relative to the policy file
    assert policy.tsa_trust_anchors == Path("/etc/tsa.pem")
    assert policy.require_trusted == Scope(["published/"])
    assert policy.require_ai_disclosure.everything and policy.accept_recovered_ai_disclosure
    assert not policy.require_timestamp
    assert policy.allowed_fingerprints == frozenset({"ab" * 32})
    assert policy.allowed_subjects == ("CN=Newsroom *",)
    assert policy.allow_unsigned.matches("drafts/a/b.mp4") and not policy.allow_unsigned.matches("drafts/final.mp4")
    rules = compile_policy(policy, anchors_given=True).rules
    assert [r.info.id for r in rules] == [
        "unreadable-media", "invalid-credentials", "invalid-ingredient", "trust-failure", "missing-credentials",
        "untrusted-signer", "signer-not-allowed", "missing-ai-disclosure", "forbidden-ai"]


def test_scope_globs_are_gitignore_style() -> None:
    scope = Scope(["camera/", "*.mov", "news/**/raw/*.mp4"])
    assert scope.matches("camera/a.mp4") and scope.matches("x/camera/deep/a.mp4")
    assert scope.matches("a.mov") and scope.matches("deep/er/a.mov")
    assert scope.matches("news/raw/a.mp4") and scope.matches("news/2024/05/raw/a.mp4")
    assert not scope.matches("cameras/a.mp4") and not scope.matches("news/raw/deeper/a.mp4")
    assert Scope.all().matches("anything") and not Scope.none().matches("anything")


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("require_credentials = true\nrequire_trust = true\n", 2,
     "unknown key 'require_trust' (did you mean 'require_trusted'?)"),
    ("# comment\n\nforbid_ai = \"camera/\"\n", 3, "forbid_ai must be true/false or a list of glob strings"),
    ("allow_unsigned = true\n", 1, "allow_unsigned must be a list of glob strings"),
    ("require_ai_disclosure = [\"ok/\",\n  \"\"]\n", 1, "require_ai_disclosure has an empty glob"),
    ("accept_recovered_ai_disclosure = \"yes\"\n", 1, "accept_recovered_ai_disclosure must be true or false"),
    ("trust_anchors = 3\n", 1, "trust_anchors must be a file path string"),
    ("forbid_ai = [\"camera/\"]\n\n[allowed_signers]\nsha256 = [\"abc\"]\n", 4,
     "allowed_signers.sha256 has 'abc' is not a SHA-256 certificate fingerprint"),
    ("[allowed_signers]\nsubject = [\"CN=*\"]\n", 2, "unknown key 'subject' (did you mean 'subjects'?)"),
    ("allowed_signers = { }\n", 1, "allowed_signers lists no signer"),
    ("allowed_signers = [\"CN=*\"]\n", 1, "allowed_signers must be a table"),
])
def test_bad_policy_names_the_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path / "provenance.toml", text)
    message = policy_error(path)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message


@pytest.mark.parametrize(("text", "line"), [
    ("require_credentials = true\nforbid_ai = [\"camera/\"\n", 2),  # at end of file: its last line
    ("a = 1\nb = = 2\n", 2),
    ("[allowed_signers]\nsha256 = [\"x\"]\n[allowed_signers]\n", 3),
])
def test_malformed_toml_names_the_line(tmp_path: Path, text: str, line: int) -> None:
    path = write(tmp_path / "provenance.toml", text)
    message = policy_error(path)
    assert message.startswith(f"{path}:{line}: not valid TOML: "), message


def test_pyproject_table(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n\n[tool.provenance]\nforbid_ai = ["camera/"]\n'
                                       'oops = 1\n')
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path)
    assert caught.value.message.startswith(f"{tmp_path / 'pyproject.toml'}:6: unknown key 'oops'")

    write(tmp_path / "pyproject.toml", '[tool.provenance]\nforbid_ai = ["camera/"]\n\n'
                                       '[tool.provenance.allowed_signers]\nsubjects = ["CN=A*"]\nsha256 = [1]\n')
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path)
    assert caught.value.message.startswith(f"{tmp_path / 'pyproject.toml'}:6: allowed_signers.sha256 must be")

    write(tmp_path / "pyproject.toml", '[tool.provenance]\nforbid_ai = ["camera/"]\n')
    policy = load_policy(tmp_path)
    assert policy.forbid_ai == Scope(["camera/"]) and policy.source == str(tmp_path / "pyproject.toml")

    # provenance.toml at the root wins over pyproject.toml.
    write(tmp_path / "provenance.toml", 'require_ai_disclosure = ["ai/"]\n')
    policy = load_policy(tmp_path)
    assert not policy.forbid_ai and policy.require_ai_disclosure == Scope(["ai/"])

    # An explicit --policy wins over both; a pyproject.toml without the table is an error only then.
    write(tmp_path / "other" / "pyproject.toml", '[project]\nname = "x"\n')
    assert load_policy(tmp_path / "other") == Policy()
    with pytest.raises(PolicyError, match="has no \\[tool.provenance\\] table"):
        load_policy(tmp_path, tmp_path / "other" / "pyproject.toml")
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path, tmp_path / "missing.toml")


def test_require_trusted_needs_anchors(tmp_path: Path) -> None:
    policy = load_policy_file(write(tmp_path / "provenance.toml", "require_trusted = true\n"))
    with pytest.raises(PolicyError, match="require_trusted needs trust anchors"):
        compile_policy(policy, anchors_given=False)
    assert "untrusted-signer" in [r.info.id for r in compile_policy(policy, anchors_given=True).rules]
    # Without the key, trust is required exactly when anchors are given.
    assert "untrusted-signer" not in [r.info.id for r in compile_policy(Policy(), anchors_given=False).rules]
    assert "untrusted-signer" in [r.info.id for r in compile_policy(Policy(), anchors_given=True).rules]


@pytest.mark.slow
def test_cli_policy_errors_exit_2(tmp_path: Path) -> None:
    write(tmp_path / "provenance.toml", "require_credentials = true\nforbid_ai = [\"camera/\"]\nbogus = 1\n")
    result = run_cli("check", cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert result.code == 2
    assert result.stderr.startswith("provenance: error: provenance.toml:3: unknown key 'bogus'")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr

    result = run_cli("check", "--policy", tmp_path / "nope.toml", cwd=tmp_path)
    assert result.code == 2 and "does not exist" in result.stderr

    write(tmp_path / "bad-anchors" / "provenance.toml", 'trust_anchors = "missing.pem"\n')
    result = run_cli("check", cwd=tmp_path / "bad-anchors", env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert result.code == 2 and "missing.pem" in result.stderr


# ---- rules on real verdicts ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory, signed_clip: Path, clip: Path, pki: DevPki,
             other_pki: DevPki) -> dict[str, Verdict]:
    from tests.support.clips import sign_file

    folder = tmp_path_factory.mktemp("policy-clips")
    sign_file(clip, folder / "other.mp4", other_pki, generator="Sora")
    verifier = Verifier(load_anchors(pki.root_ca))
    return {
        "ours": verifier.verify(signed_clip),
        "other": verifier.verify(folder / "other.mp4"),
        "unsigned": verifier.verify(clip),
    }


def rule_ids(policy: Policy, path: str, verdict: Verdict, *, anchors: bool = True) -> list[str]:
    evaluation = compile_policy(policy, anchors_given=anchors).evaluate(path, verdict)
    return [v.rule for v in evaluation.violations]


def test_allowed_signers_by_fingerprint_and_subject(verdicts: dict[str, Verdict], pki: DevPki) -> None:
    ours, other = verdicts["ours"], verdicts["other"]
    assert ours.signer is not None and other.signer is not None
    by_fingerprint = Policy(allowed_fingerprints=frozenset({ours.signer.sha256}))
    assert rule_ids(by_fingerprint, "a.mp4", ours) == []
    assert rule_ids(by_fingerprint, "a.mp4", other) == ["untrusted-signer", "signer-not-allowed"]

    by_subject = Policy(allowed_subjects=("CN=Provenance Test *",))
    assert rule_ids(by_subject, "a.mp4", ours) == []
    # Signer pinning applies with or without trust anchors.
    assert rule_ids(by_subject, "a.mp4", other, anchors=False) == ["signer-not-allowed"]
    violation = compile_policy(by_subject, anchors_given=False).evaluate("a.mp4", other).violations[0]
    assert violation.message == (f"signed by CN=Someone Else Signer,O=Someone Else (sha256 {other.signer.sha256}), "
                                 "who is not in allowed_signers")


def test_unsigned_and_scopes(verdicts: dict[str, Verdict]) -> None:
    unsigned = verdicts["unsigned"]
    policy = Policy(require_credentials=Scope(["published/"]), allow_unsigned=Scope(["drafts/"]),
                    require_ai_disclosure=Scope(["published/", "ai/"]))
    assert rule_ids(policy, "published/a.mp4", unsigned) == ["missing-credentials", "missing-ai-disclosure"]
    assert rule_ids(policy, "ai/a.mp4", unsigned) == ["missing-ai-disclosure"]
    assert rule_ids(policy, "elsewhere/a.mp4", unsigned) == []
    evaluation = compile_policy(policy, anchors_given=True).evaluate("drafts/a.mp4", unsigned)
    assert evaluation.exempt and evaluation.violations == ()


def test_ai_rules(verdicts: dict[str, Verdict]) -> None:
    ours = verdicts["ours"]
    assert ours.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    policy = Policy(require_ai_disclosure=Scope(["ai/"]), forbid_ai=Scope(["camera/"]))
    assert rule_ids(policy, "ai/a.mp4", ours) == []
    assert rule_ids(policy, "camera/a.mp4", ours) == ["forbidden-ai"]
    composite = dataclasses.replace(ours, digital_source_type=COMPOSITE_WITH_TRAINED)
    assert rule_ids(policy, "ai/a.mp4", composite) == []
    # algorithmicallyEnhanced is AI (forbidden in camera/) but is not a generation disclosure.
    enhanced = dataclasses.replace(ours, digital_source_type=IPTC + "algorithmicallyEnhanced")
    assert rule_ids(policy, "ai/a.mp4", enhanced) == ["missing-ai-disclosure"]
    assert rule_ids(policy, "camera/a.mp4", enhanced) == ["forbidden-ai"]
    # Broken credentials fail once, for being broken; their claims are not judged.
    broken = dataclasses.replace(ours, verdict=Outcome.INVALID, failure_codes=("assertion.bmffHash.mismatch",))
    assert rule_ids(policy, "camera/a.mp4", broken) == ["invalid-credentials"]
    assert rule_ids(policy, "ai/a.mp4", broken) == ["invalid-credentials"]


def _recovered(verdict: Verdict, outcome: Outcome = Outcome.TRUSTED, match: str = COPY) -> Recovered:
    return Recovered(manifest_id="urn:c2pa:test", distance=3, verdict=outcome, signer=verdict.signer,
                     generator=verdict.generator, ai_generated=True,
                     digital_source_type=TRAINED_ALGORITHMIC_MEDIA, source="store", match=match,
                     aligned=Aligned(0, 3000, 2, 2) if match == COPY else None)


def test_recovered_ai_disclosure(verdicts: dict[str, Verdict]) -> None:
    ours, unsigned = verdicts["ours"], verdicts["unsigned"]
    stripped = dataclasses.replace(unsigned, recovered=_recovered(ours))
    strict = Policy(require_credentials=Scope(["published/"]), require_ai_disclosure=Scope(["ai/", "published/"]))
    lenient = dataclasses.replace(strict, accept_recovered_ai_disclosure=True)
    assert rule_ids(strict, "ai/a.mp4", stripped) == ["missing-ai-disclosure"]
    assert rule_ids(lenient, "ai/a.mp4", stripped) == []
    # Recovered credentials are never a signature.
    assert rule_ids(lenient, "published/a.mp4", stripped) == ["missing-credentials"]
    # Recovered credentials that are themselves broken do not count.
    broken = dataclasses.replace(unsigned, recovered=_recovered(ours, Outcome.INVALID))
    assert rule_ids(lenient, "ai/a.mp4", broken) == ["missing-ai-disclosure"]
    # And a recovered AI disclosure is enough to break forbid_ai.
    forbid = Policy(require_credentials=Scope.none(), forbid_ai=Scope(["camera/"]))
    assert rule_ids(forbid, "camera/a.mp4", stripped) == ["forbidden-ai"]
    # A trusted manifest of a clip the file only resembles is another clip's: it decides neither rule.
    lookalike = dataclasses.replace(unsigned, recovered=_recovered(ours, match=SIMILAR))
    assert rule_ids(lenient, "ai/a.mp4", lookalike) == ["missing-ai-disclosure"]
    assert rule_ids(forbid, "camera/a.mp4", lookalike) == []


@pytest.mark.skipif(not openssl_available(), reason="openssl is needed to run the test TSA")
def test_require_timestamp(tmp_path: Path, clip: Path, pki: DevPki, verdicts: dict[str, Verdict]) -> None:
    policy = Policy(require_timestamp=Scope.all())
    violations = compile_policy(policy, anchors_given=True).evaluate("a.mp4", verdicts["ours"]).violations
    assert [(v.rule, v.message) for v in violations] == [
        ("missing-timestamp", "the signature has no timestamp, and the policy requires one")]

    with running_tsa(tmp_path / "tsa") as tsa:
        creds = signers.from_pem_files(pki.signer_chain, pki.signer_key, tsa_url=tsa.url)
        signing.sign(clip, tmp_path / "stamped.mp4", creds, Disclosure(generator="Sora"))
        anchors, tsa_anchors = load_anchors(pki.root_ca), load_anchors(tsa.pki.root_ca)
    # A timestamp from an authority nobody trusts is not enough...
    stamped = Verifier(anchors).verify(tmp_path / "stamped.mp4")
    assert stamped.timestamp is not None
    assert rule_ids(policy, "a.mp4", stamped) == ["missing-timestamp"]
    # ...one that chains to the TSA anchors is.
    stamped = Verifier(anchors, tsa_anchors=tsa_anchors).verify(tmp_path / "stamped.mp4")
    assert rule_ids(policy, "a.mp4", stamped) == []
    # With TSA anchors, a file without a timestamp fails the verifier's own trust check (fail closed).
    unstamped = tmp_path / "unstamped.mp4"
    signing.sign(clip, unstamped, signers.from_pem_files(pki.signer_chain, pki.signer_key),
                 Disclosure(generator="Sora"))
    unstamped_verdict = Verifier(anchors, tsa_anchors=tsa_anchors).verify(unstamped)
    assert rule_ids(Policy(), "a.mp4", unstamped_verdict) == ["trust-failure"]
