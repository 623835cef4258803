"""TrustPolicy on its own: handed a verdict and plain values (c2pa's success codes, the manifest store),
no verifier and no file. The CLI-level behaviour is in test_anchors.py and test_timestamp.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from provenance import codes
from provenance.keys.pki import chain_pem
from provenance.trust.anchors import TrustAnchors
from provenance.trust.policy import TrustPolicy
from provenance.verdict import Outcome, Signer, Verdict
from tests.support.pki import CertAuthority

SIGNER = Signer("CN=Someone", "CN=Their CA", "ab" * 32, not_after="2030-01-01T00:00:00+00:00")
TRUSTED = Verdict("clip.mp4", Outcome.TRUSTED, signer=SIGNER, manifest_label="urn:c2pa:1", trust_anchors_given=True)


def anchors() -> TrustAnchors:
    return TrustAnchors(chain_pem([CertAuthority("Policy Test Root").root]).decode(), "test", 1)


def test_an_empty_policy_leaves_the_verdict_alone() -> None:
    assert TrustPolicy().apply(TRUSTED, success_codes=(), store=None) == TRUSTED


def test_a_file_without_a_manifest_is_left_alone() -> None:
    unsigned = Verdict("clip.mp4", Outcome.UNSIGNED)
    policy = TrustPolicy(tsa_anchors=anchors(), allowed_signers=frozenset({"cd" * 32}))
    assert policy.apply(unsigned, success_codes=(), store=None) == unsigned


def test_pinned_signers() -> None:
    pinned = TrustPolicy(allowed_signers=frozenset({"ab" * 32}))
    assert pinned.apply(TRUSTED, success_codes=(), store=None) == TRUSTED
    other = TrustPolicy(allowed_signers=frozenset({"cd" * 32}))
    verdict = other.apply(TRUSTED, success_codes=(), store=None)
    assert verdict.verdict is Outcome.VALID and not verdict.passed
    (reason,) = verdict.trust_failures
    assert "ab" * 32 in reason and "not one of the allowed signers" in reason
    unreadable = other.apply(replace(TRUSTED, signer=None), success_codes=(), store=None)
    assert unreadable.trust_failures == (
        "the signer's certificate cannot be read, so it cannot match --allowed-signer",)


def test_tsa_anchors_without_a_timestamp_fail_closed() -> None:
    policy = TrustPolicy(tsa_anchors=anchors())
    before_expiry = dt.datetime(2029, 1, 1, tzinfo=dt.timezone.utc)
    verdict = policy.apply(TRUSTED, success_codes=(codes.TRUSTED,), store=None, now=before_expiry)
    # No signer anchor given: a TSA anchor must not make the signer trusted.
    assert verdict.verdict is Outcome.VALID and verdict.failure_codes == (codes.UNTRUSTED,)
    assert verdict.trust_failures == ("the file has no RFC 3161 timestamp, but TSA trust anchors were given",)
    # After the signer's certificate expired, nothing proves the signature was made before.
    after_expiry = dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc)
    expired = policy.apply(TRUSTED, success_codes=(codes.TRUSTED,), store=None, now=after_expiry)
    assert expired.verdict is Outcome.INVALID and codes.EXPIRED in expired.failure_codes
