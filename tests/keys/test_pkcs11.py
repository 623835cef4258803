"""Signing with keys that never leave a real PKCS#11 token (SoftHSM2), through c2pa's callback signer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance import signing
from provenance.errors import CredentialError, UsageError
from provenance.keys import pkcs11 as p11
from provenance.keys import signers
from provenance.keys.algorithms import ALGORITHMS
from provenance.manifest import Disclosure
from provenance.trust.anchors import load_anchors
from provenance.verdict import Outcome
from provenance.verify import Verifier
from tests.support.cli import CliResult, run_cli
from tests.support.softhsm import AVAILABLE, PIN, TOKEN, UNAVAILABLE_REASON, Token, softhsm_token

pytestmark = pytest.mark.skipif(not AVAILABLE, reason=UNAVAILABLE_REASON)


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    with softhsm_token(tmp_path_factory.mktemp("softhsm")) as made:
        yield made


def pin(value: str = PIN) -> signers.SecretProvider:
    return lambda _what: value.encode()


def sign_cli(token: Token, clip: Path, out: Path, *args: object, env: dict[str, str] | None = None) -> CliResult:
    return run_cli("sign", clip, "-o", out, *args, env={**token.env, **(env or {})})


@pytest.mark.slow
@pytest.mark.parametrize("alg", ALGORITHMS)
def test_every_algorithm_signs_on_the_token(tmp_path: Path, clip: Path, token: Token, alg: str) -> None:
    creds = signers.load_credentials(token.uri(alg), cert=token.chains[alg], pkcs11_module=token.module, pin=pin(),
                                     alg=alg)
    try:
        assert creds.alg == alg and creds.key_pem is None  # nothing of the key in this process
        out = tmp_path / f"{alg}.mp4"
        signing.sign(clip, out, creds, Disclosure(generator="Veo"))
    finally:
        creds.close()
    verdict = Verifier(load_anchors(token.ca_root)).verify(out)
    assert verdict.verdict is Outcome.TRUSTED, verdict
    assert verdict.signer is not None and verdict.signer.subject.startswith(f"CN=HSM Signer {alg}")


def test_private_keys_are_not_extractable(token: Token) -> None:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    with pkcs11.lib(token.module).get_token(token_label=TOKEN).open(user_pin=PIN) as session:
        keys = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
        assert len(keys) == len(ALGORITHMS)
        for key in keys:
            assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]


@pytest.mark.slow
def test_cli_signs_with_uri_module_and_pin_from_environment(tmp_path: Path, clip: Path, token: Token) -> None:
    out = tmp_path / "out.mp4"
    result = sign_cli(token, clip, out, "--cert", token.chains["ps384"], "--key", token.uri("ps384"),
                      "--pkcs11-module", token.module)
    assert result.code == 0, result.stderr
    via_env = sign_cli(token, clip, tmp_path / "env.mp4", env={
        "PROVENANCE_KEY": token.uri("es384"), "PROVENANCE_CERT": str(token.chains["es384"]),
        "PROVENANCE_PKCS11_MODULE": token.module})
    assert via_env.code == 0, via_env.stderr
    checked = run_cli("verify", out, tmp_path / "env.mp4", "--trust-anchors", token.ca_root, "--format", "json")
    assert checked.code == 0, checked.stdout
    assert [v["verdict"] for v in json.loads(checked.stdout)] == ["trusted", "trusted"]


@pytest.mark.slow
def test_chain_read_from_the_token_when_no_cert_is_given(tmp_path: Path, clip: Path, token: Token) -> None:
    out = tmp_path / "out.mp4"
    result = sign_cli(token, clip, out, "--key", token.uri("es256", id="%65%73%32%35%36"),
                      "--pkcs11-module", token.module)
    assert result.code == 0, result.stderr
    verdict = Verifier(load_anchors(token.ca_root)).verify(out)
    assert verdict.verdict is Outcome.TRUSTED
    assert verdict.signer is not None and len(verdict.signer.chain_pem) == 2  # leaf + intermediate from the token


@pytest.mark.slow
def test_timestamped_signature_from_the_token(tmp_path: Path, clip: Path, token: Token) -> None:
    from tests.support.tsa import running_tsa

    out = tmp_path / "out.mp4"
    with running_tsa(tmp_path / "tsa") as tsa:
        result = sign_cli(token, clip, out, "--cert", token.chains["ed25519"], "--key", token.uri("ed25519"),
                          "--pkcs11-module", token.module, "--tsa-url", tsa.url)
        assert result.code == 0, result.stderr
        checked = run_cli("verify", out, "--trust-anchors", token.ca_root, "--tsa-trust-anchors", tsa.pki.root_ca,
                          "--format", "json")
    assert checked.code == 0, checked.stdout
    stamp = json.loads(checked.stdout)[0]["timestamp"]
    assert stamp["tsa"] == tsa.pki.tsa_subject and stamp["trusted"] is True


@pytest.mark.slow
def test_wrong_pin_is_one_clear_error_without_the_pin(tmp_path: Path, clip: Path, token: Token) -> None:
    out = tmp_path / "out.mp4"
    wrong_pin = "999999"
    result = sign_cli(token, clip, out, "--cert", token.chains["es256"], "--key", token.uri("es256"),
                      "--pkcs11-module", token.module, env={"PROVENANCE_PKCS11_PIN": wrong_pin})
    assert result.code == 1
    assert "wrong PIN" in result.stderr and "Traceback" not in result.stderr
    verbose = sign_cli(token, clip, out, "--cert", token.chains["es256"], "--key", token.uri("es256"),
                       "--pkcs11-module", token.module,
                       env={"PROVENANCE_PKCS11_PIN": wrong_pin, "PROVENANCE_VERBOSE": "1"})
    assert verbose.code == 1 and "Traceback" in verbose.stderr
    ok = sign_cli(token, clip, tmp_path / "ok.mp4", "--cert", token.chains["es256"],
                  "--key", token.uri("es256"), "--pkcs11-module", token.module, env={"PROVENANCE_VERBOSE": "1"})
    assert ok.code == 0, ok.stderr
    for r in (result, verbose):
        assert wrong_pin not in r.stdout + r.stderr
    assert PIN not in ok.stdout + ok.stderr
    assert not out.exists()


def test_pin_from_file_source(tmp_path: Path, clip: Path, token: Token) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    creds = signers.load_credentials(token.uri("es256") + f"?pin-source=file:{pin_file}", cert=token.chains["es256"],
                                     pkcs11_module=token.module, pin=None)
    try:
        signing.sign(clip, tmp_path / "out.mp4", creds, Disclosure())
    finally:
        creds.close()
    assert Verifier(load_anchors(token.ca_root)).verify(tmp_path / "out.mp4").verdict is Outcome.TRUSTED
    with pytest.raises(CredentialError, match="cannot read the PIN file"):
        signers.load_credentials(token.uri("es256") + f"?pin-source=file:{tmp_path / 'absent'}",
                                 cert=token.chains["es256"], pkcs11_module=token.module, pin=None)


@pytest.mark.slow
def test_token_problems_are_refused_before_signing(tmp_path: Path, clip: Path, token: Token) -> None:
    out = tmp_path / "out.mp4"
    unknown = sign_cli(token, clip, out, "--cert", token.chains["es256"], "--key", token.uri("es256", object="nope"),
                       "--pkcs11-module", token.module)
    assert unknown.code == 1 and "no private key on token" in unknown.stderr
    other_token = sign_cli(token, clip, out, "--cert", token.chains["es256"],
                           "--key", "pkcs11:token=absent;object=signer-es256", "--pkcs11-module", token.module)
    assert other_token.code == 1 and "no PKCS#11 token matches" in other_token.stderr
    # The key on the token is not the certificate's: caught by the probe signature.
    mismatch = sign_cli(token, clip, out, "--cert", token.chains["es384"], "--key", token.uri("es256"),
                        "--pkcs11-module", token.module, "--alg", "es384")
    assert mismatch.code == 1 and "does not verify with the certificate's key" in mismatch.stderr
    wrong_alg = sign_cli(token, clip, out, "--cert", token.chains["es256"], "--key", token.uri("es256"),
                         "--pkcs11-module", token.module, "--alg", "ps256")
    assert wrong_alg.code == 1 and "does not match the key" in wrong_alg.stderr
    no_module = run_cli("sign", clip, "-o", out, "--cert", token.chains["es256"], "--key", token.uri("es256"),
                        env={**token.env, "PROVENANCE_PKCS11_MODULE": ""})
    assert no_module.code == 2 and "no PKCS#11 module" in no_module.stderr
    pin_in_uri = sign_cli(token, clip, out, "--cert", token.chains["es256"],
                          "--key", token.uri("es256") + "?pin-value=" + PIN, "--pkcs11-module", token.module)
    assert pin_in_uri.code == 2 and "pin-value" in pin_in_uri.stderr
    for r in (unknown, other_token, mismatch, wrong_alg, no_module, pin_in_uri):
        assert len([line for line in r.stderr.splitlines() if line.strip()]) == 1, r.stderr
    assert not out.exists()


def test_uri_parsing() -> None:
    uri = p11.parse_uri("pkcs11:token=My%20Token;object=c2pa%3Bsigner;id=%01%02;type=private"
                        "?module-path=/usr/lib/x.so")
    assert (uri.token, uri.object, uri.key_id) == ("My Token", "c2pa;signer", b"\x01\x02")
    assert uri.query == {"module-path": "/usr/lib/x.so"}
    assert "id=0102" in uri.describe()
    for bad in ("pkcs11:", "pkcs11:token=t", "pkcs11:object=k;label=x", "pkcs11:object=k;type=cert",
                "pkcs11:object", "pkcs11:object=a;object=b", "file:key.pem"):
        with pytest.raises(UsageError):
            p11.parse_uri(bad)
    with pytest.raises(UsageError, match="disagree"):
        p11.module_path(p11.parse_uri("pkcs11:object=k?module-path=/a.so"), "/b.so")
    with pytest.raises(CredentialError, match="does not exist"):
        p11.module_path(p11.parse_uri("pkcs11:object=k"), "/nonexistent/libpkcs11.so")
