"""RFC 3161 timestamps against a real time-stamping authority on 127.0.0.1 (openssl ts behind http.server)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provenance import media, signing
from provenance._formats import jumbf
from provenance.errors import TimestampError
from provenance.keys import signers
from provenance.keys.pki import DOCUMENT_SIGNING, SIGNER_KEY_USAGE, DevPki, build_certificate
from provenance.manifest import Disclosure
from provenance.trust import timestamp as ts
from provenance.trust.anchors import load_anchors
from provenance.verdict import Outcome
from provenance.verify import Verifier
from tests.support.cli import run_cli
from tests.support.clips import make_clip
from tests.support.pki import CertAuthority, signer_files
from tests.support.tsa import RunningTsa, make_tsa_pki, openssl_available, running_tsa

pytestmark = pytest.mark.skipif(not openssl_available(), reason="the test TSA needs the openssl command")


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTsa]:
    with running_tsa(tmp_path_factory.mktemp("tsa")) as running:
        yield running


@pytest.fixture(scope="module")
def other_tsa_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root of an unrelated TSA: as TSA anchors it must not make our TSA trusted."""
    return make_tsa_pki(tmp_path_factory.mktemp("other-tsa"), common_name="Other TSA").root_ca


@pytest.fixture(scope="module")
def stamped(tmp_path_factory: pytest.TempPathFactory, clip: Path, pki: DevPki,
            tsa: RunningTsa) -> tuple[Path, dt.datetime, dt.datetime]:
    out = tmp_path_factory.mktemp("stamped") / "stamped.mp4"
    before = dt.datetime.now(dt.timezone.utc)
    result = run_cli("sign", clip, "-o", out, "--cert", pki.signer_chain, "--key", pki.signer_key,
                     "--generator", "Sora", "--tsa-url", tsa.url)
    after = dt.datetime.now(dt.timezone.utc)
    assert result.code == 0, result.stderr
    return out, before, after


def verify_json(*args: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = run_cli("verify", *args, "--format", "json")
    return result.code, json.loads(result.stdout)[0]


@pytest.mark.slow
def test_verify_shows_timestamp_time_and_authority(stamped: tuple[Path, dt.datetime, dt.datetime], pki: DevPki,
                                                   tsa: RunningTsa) -> None:
    out, before, after = stamped
    assert tsa.requests >= 1
    code, verdict = verify_json(out, "--trust-anchors", pki.root_ca, "--tsa-trust-anchors", tsa.pki.root_ca)
    assert code == 0 and verdict["verdict"] == "trusted", verdict
    stamp = verdict["timestamp"]
    stamped_at = dt.datetime.fromisoformat(stamp["time"])
    # genTime has whole seconds and the TSA states 1 s accuracy.
    assert before - dt.timedelta(seconds=2) <= stamped_at <= after + dt.timedelta(seconds=2)
    assert stamp["tsa"] == tsa.pki.tsa_subject and stamp["trusted"] is True
    text = run_cli("verify", out, "--trust-anchors", pki.root_ca, "--tsa-trust-anchors", tsa.pki.root_ca)
    assert f"signed at:     {stamp['time']} (timestamp by {tsa.pki.tsa_subject}, trusted)" in text.stdout


@pytest.mark.slow
def test_timestamp_trust_needs_tsa_anchors(stamped: tuple[Path, dt.datetime, dt.datetime], pki: DevPki,
                                           tsa: RunningTsa, other_tsa_root: Path) -> None:
    out = stamped[0]
    # No TSA setting: the signer check decides, and the timestamp is shown as not trusted.
    code, verdict = verify_json(out, "--trust-anchors", pki.root_ca)
    assert code == 0 and verdict["verdict"] == "trusted"
    assert verdict["timestamp"]["trusted"] is False and verdict["trust_failures"] == []
    assert "NOT trusted" in run_cli("verify", out, "--trust-anchors", pki.root_ca).stdout
    # TSA anchors of someone else: fails closed, with the reason.
    code, verdict = verify_json(out, "--trust-anchors", pki.root_ca, "--tsa-trust-anchors", other_tsa_root)
    assert code == 1 and verdict["timestamp"]["trusted"] is False
    (reason,) = verdict["trust_failures"]
    assert "does not chain to a TSA trust anchor" in reason
    # The environment variable works like the flag.
    env_result = run_cli("verify", out, "--trust-anchors", pki.root_ca,
                         env={"PROVENANCE_TSA_TRUST_ANCHORS": str(other_tsa_root)})
    assert env_result.code == 1 and "not trusted:" in env_result.stdout


def test_tsa_anchors_require_a_timestamp(signed_clip: Path, pki: DevPki, tsa: RunningTsa) -> None:
    code, verdict = verify_json(signed_clip, "--trust-anchors", pki.root_ca, "--tsa-trust-anchors", tsa.pki.root_ca)
    assert code == 1
    assert verdict["timestamp"] is None
    assert verdict["trust_failures"] == ["the file has no RFC 3161 timestamp, but TSA trust anchors were given"]


@dataclass(frozen=True)
class ExpiredSigner:
    with_timestamp: Path
    without_timestamp: Path
    root: Path
    not_after: dt.datetime


@pytest.fixture(scope="module")
def expired(tmp_path_factory: pytest.TempPathFactory, clip: Path, tsa: RunningTsa) -> ExpiredSigner:
    """Two clips signed by a certificate valid for a few more seconds, then left to expire.

    Signing with an already expired certificate is refused by the pre-flight check (and would
    be dishonest), so the certificate really is valid when used and expires afterwards.
    """
    directory = tmp_path_factory.mktemp("expiring")
    ca = CertAuthority("Expiry Test Root")
    not_after = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=6)
    files = signer_files(ca, directory, "es256", not_after=not_after)
    outputs = []
    for name, url in (("stamped.mp4", tsa.url), ("unstamped.mp4", None)):
        creds = signers.load_credentials(str(files.key_path), cert=files.chain_path, tsa_url=url)
        signing.sign(clip, directory / name, creds, Disclosure(generator="Sora"))
        outputs.append(directory / name)
    while dt.datetime.now(dt.timezone.utc) <= not_after + dt.timedelta(seconds=1):
        time.sleep(0.2)
    return ExpiredSigner(outputs[0], outputs[1], ca.write_root(directory / "root.pem"), not_after)


@pytest.mark.slow
def test_timestamp_keeps_an_expired_signature_valid(expired: ExpiredSigner, tsa: RunningTsa) -> None:
    code, verdict = verify_json(expired.with_timestamp, "--trust-anchors", expired.root,
                                "--tsa-trust-anchors", tsa.pki.root_ca)
    assert dt.datetime.fromisoformat(verdict["signer"]["not_after"]) == expired.not_after
    assert dt.datetime.fromisoformat(verdict["timestamp"]["time"]) <= expired.not_after
    assert code == 0 and verdict["verdict"] == "trusted", verdict
    assert verdict["timestamp"]["trusted"] is True


@pytest.mark.slow
def test_without_timestamp_the_expiry_is_reported(expired: ExpiredSigner, tsa: RunningTsa) -> None:
    code, verdict = verify_json(expired.without_timestamp, "--trust-anchors", expired.root)
    assert code == 1 and verdict["verdict"] == "invalid"
    assert "signingCredential.expired" in verdict["failure_codes"]
    text = run_cli("verify", expired.without_timestamp, "--trust-anchors", expired.root)
    assert "signingCredential.expired: the signer's certificate had expired" in text.stdout
    assert "signed at:     unknown (no trusted timestamp)" in text.stdout


def test_an_untrusted_timestamp_does_not_rescue_an_expired_signature(expired: ExpiredSigner,
                                                                      other_tsa_root: Path) -> None:
    # c2pa judges the TSA against the signer anchors when no TSA anchors are given: untrusted → expired.
    code, verdict = verify_json(expired.with_timestamp, "--trust-anchors", expired.root)
    assert code == 1 and "signingCredential.expired" in verdict["failure_codes"]
    # TSA anchors that do not cover this TSA: the same, plus the reason.
    code, verdict = verify_json(expired.with_timestamp, "--trust-anchors", expired.root,
                                "--tsa-trust-anchors", other_tsa_root)
    assert code == 1 and verdict["verdict"] == "invalid"
    assert "signingCredential.expired" in verdict["failure_codes"]
    assert any("does not chain to a TSA trust anchor" in r for r in verdict["trust_failures"])


def test_a_tsa_anchor_cannot_vouch_for_a_signer(tmp_path: Path, clip: Path, tsa: RunningTsa, pki: DevPki) -> None:
    """c2pa sees signer and TSA anchors together; a signer chaining only to a TSA root stays untrusted."""
    tsa_root = x509.load_pem_x509_certificate(tsa.pki.root_ca.read_bytes())
    tsa_root_key = serialization.load_pem_private_key(tsa.pki.root_key.read_bytes(), None)
    assert isinstance(tsa_root_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    leaf = build_certificate(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Signer under a TSA root")]), key.public_key(),
        tsa_root.subject, tsa_root_key, not_before=now - dt.timedelta(minutes=5), not_after=now + dt.timedelta(days=1),
        ca=False, key_usage=SIGNER_KEY_USAGE, subject_key_id=False,
        extended_key_usages=[ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING],
    )
    out = tmp_path / "out.mp4"
    signing.sign(clip, out, signers.from_key([leaf], key, tsa_url=tsa.url), Disclosure())
    # The chain itself is sound: with the TSA root as a *signer* anchor it is trusted.
    assert Verifier(load_anchors(tsa.pki.root_ca)).verify(out).verdict is Outcome.TRUSTED
    verdict = Verifier(load_anchors(pki.root_ca), tsa_anchors=load_anchors(tsa.pki.root_ca)).verify(out)
    assert verdict.verdict is Outcome.VALID and "signingCredential.untrusted" in verdict.failure_codes
    assert verdict.timestamp is not None and verdict.timestamp.trusted is True
    assert not verdict.passed


def test_token_parsing(stamped: tuple[Path, dt.datetime, dt.datetime], tsa: RunningTsa, tmp_path: Path) -> None:
    out = stamped[0]
    with open(out, "rb") as f:
        store = jumbf.manifest_store_bytes(f, out.stat().st_size, media.detect(out))
    assert store is not None
    token = ts.token_of(store, None)
    assert token is not None
    tsa_cert = x509.load_pem_x509_certificate(tsa.pki.tsa_cert.read_bytes())
    assert token.certificates()[0] == tsa_cert and token.tsa_name == tsa.pki.tsa_subject
    assert ts.check_tsa_chain(token, [x509.load_pem_x509_certificate(tsa.pki.root_ca.read_bytes())]) is None
    # Early c2pa versions stored the whole TimeStampResp: ask the TSA for one and read it the same way.
    query = tmp_path / "q.tsq"
    (tmp_path / "data").write_bytes(b"some signature bytes")
    subprocess.run(["openssl", "ts", "-query", "-data", str(tmp_path / "data"), "-sha256", "-cert", "-out", str(query)],
                   check=True, capture_output=True)
    request = urllib.request.Request(tsa.url, data=query.read_bytes(),
                                     headers={"Content-Type": "application/timestamp-query"})
    with urllib.request.urlopen(request, timeout=30) as response:
        reply = response.read()
    from_response = ts.parse_token(reply)
    assert from_response.tsa_name == tsa.pki.tsa_subject and from_response.certificates()[0] == tsa_cert
    with pytest.raises(ValueError):
        ts.parse_token(b"\x30\x03\x02\x01\x00")
    with pytest.raises(ValueError):
        ts.parse_token(b"not DER at all")


def _tsa_cert(root: x509.Certificate, root_key: ec.EllipticCurvePrivateKey, *, critical: bool,
              ekus: list[x509.ObjectIdentifier]) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    # No key usage and no subject key identifier: what a sloppy TSA might be issued.
    return build_certificate(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sloppy TSA")]), key.public_key(), root.subject, root_key,
        not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=1), ca=False,
        extended_key_usages=ekus, critical_eku=critical, subject_key_id=False,
    )


def test_tsa_certificate_profile_is_enforced() -> None:
    ca = CertAuthority("TSA Profile Root")
    now = dt.datetime.now(dt.timezone.utc)

    def token(cert: x509.Certificate, at: dt.datetime = now) -> ts.TimestampToken:
        der = cert.public_bytes(serialization.Encoding.DER)
        return ts.TimestampToken(at, cert.subject.rfc4514_string(), (der,), 1, "1.2.3")

    good = _tsa_cert(ca.root, ca.key, critical=True, ekus=[ExtendedKeyUsageOID.TIME_STAMPING])
    assert ts.check_tsa_chain(token(good), [ca.root]) is None
    not_critical = _tsa_cert(ca.root, ca.key, critical=False, ekus=[ExtendedKeyUsageOID.TIME_STAMPING])
    assert ts.check_tsa_chain(token(not_critical), [ca.root]) is not None
    extra_use = _tsa_cert(ca.root, ca.key, critical=True,
                          ekus=[ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.CODE_SIGNING])
    assert ts.check_tsa_chain(token(extra_use), [ca.root]) is not None
    # Stamped at a time the TSA certificate was not valid.
    assert ts.check_tsa_chain(token(good, now - dt.timedelta(days=3)), [ca.root]) is not None
    assert ts.check_tsa_chain(token(good), []) == "no TSA trust anchors are configured"
    assert ts.check_tsa_chain(ts.TimestampToken(now, None, (), 1, "1.2.3"), [ca.root]) is not None


def test_trust_show_includes_the_tsa_chain(stamped: tuple[Path, dt.datetime, dt.datetime], tsa: RunningTsa) -> None:
    result = run_cli("trust", "show", stamped[0], "--format", "json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["timestamp_time"]
    assert report["tsa_chain"][0]["subject"] == tsa.pki.tsa_subject
    assert report["tsa_chain"][0]["extended_key_usages"] == ["timeStamping"]
    text = run_cli("trust", "show", stamped[0]).stdout
    assert "timestamp:" in text and "[0] tsa" in text


@pytest.mark.slow
def test_failing_tsa_fails_signing_and_leaves_nothing(tmp_path: Path, pki: DevPki) -> None:
    src = make_clip(tmp_path / "src.mp4")
    with running_tsa(tmp_path / "broken-tsa") as broken:
        (tmp_path / "broken-tsa" / "ts.cnf").unlink()  # openssl can no longer answer: HTTP 500
        creds = signers.from_pem_files(pki.signer_chain, pki.signer_key, tsa_url=broken.url)
        out = tmp_path / "out" / "signed.mp4"
        out.parent.mkdir()
        with pytest.raises(TimestampError):
            signing.sign(src, out, creds, Disclosure())
        result = run_cli("sign", src, "-o", out, "--cert", pki.signer_chain, "--key", pki.signer_key,
                         "--tsa-url", broken.url)
    assert result.code == 1 and "timestamp authority" in result.stderr and "Traceback" not in result.stderr
    assert list(out.parent.iterdir()) == []
