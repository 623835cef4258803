"""Our own trust layer, on top of c2pa's verdict.

c2pa judges signatures, bindings and whether the signer chains to a trust anchor.
`TrustPolicy.apply` enforces what c2pa does not: pinned signer certificates
(--allowed-signer), time-stamping authorities trusted through their own anchors
(--tsa-trust-anchors), and failing closed when a setting is given but not satisfied.
It is handed plain values (the verdict, c2pa's success codes, the manifest store),
never the verifier's own types.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any

from provenance import codes
from provenance.trust.anchors import TrustAnchors, chains_to, reader_settings
from provenance.verdict import Outcome, Timestamp, Verdict


@dataclass(frozen=True)
class TrustPolicy:
    """Everything a verifier is told to trust; empty means c2pa's verdict stands as is."""

    anchors: TrustAnchors | None = None
    tsa_anchors: TrustAnchors | None = None
    allowed_signers: frozenset[str] = field(default_factory=frozenset)

    def c2pa_settings(self) -> dict[str, Any]:
        """The c2pa reader settings that hand this policy's anchors to c2pa."""
        return reader_settings(self.anchors, self.tsa_anchors)

    def apply(self, verdict: Verdict, *, success_codes: Collection[str], store: bytes | None,
              now: dt.datetime | None = None) -> Verdict:
        """The verdict after our own trust rules; failures are listed in `trust_failures`.

        `success_codes` are c2pa's success codes for the active manifest, `store` the raw manifest
        store the verdict was read from (for its timestamp token).
        """
        from provenance.trust import timestamp as ts

        if verdict.manifest_label is None:
            return verdict
        outcome = verdict.verdict
        failure_codes = set(verdict.failure_codes)
        reasons: list[str] = []

        token = ts.token_of(store, verdict.manifest_label)
        stamp = verdict.timestamp
        tsa_reason: str | None = None
        if token is not None:
            validated = codes.TIMESTAMP_VALIDATED in success_codes
            if not validated:
                tsa_reason = "the timestamp does not match the signature or its authority's signature is invalid"
            elif self.tsa_anchors is not None:
                tsa_reason = ts.check_tsa_chain(token, self.tsa_anchors.certificates())
            elif codes.TIMESTAMP_TRUSTED not in success_codes:
                tsa_reason = "the time-stamping authority does not chain to a trust anchor"
            stamp = Timestamp(token.gen_time.isoformat(), token.tsa_name, tsa_reason is None)

        if self.tsa_anchors is not None:
            if outcome is Outcome.TRUSTED and not self._signer_anchored(verdict):
                # c2pa saw the TSA anchors too; a signer may only be trusted through a signer anchor.
                outcome = Outcome.VALID
                failure_codes.add(codes.UNTRUSTED)
            if token is None:
                reasons.append("the file has no RFC 3161 timestamp, but TSA trust anchors were given")
            elif tsa_reason is not None:
                reasons.append(f"timestamp not trusted: {tsa_reason}")
            if (token is None or tsa_reason is not None) and self._signer_expired(verdict, now):
                # Without a trusted timestamp, nothing proves the signature predates the expiry.
                failure_codes.add(codes.EXPIRED)
                outcome = Outcome.INVALID

        if self.allowed_signers:
            signer = verdict.signer
            if signer is None or not signer.sha256:
                reasons.append("the signer's certificate cannot be read, so it cannot match --allowed-signer")
            elif signer.sha256.lower() not in self.allowed_signers:
                reasons.append(
                    f"signer {signer.subject} (SHA-256 {signer.sha256}) is not one of the allowed signers"
                )
        if reasons and outcome is Outcome.TRUSTED:
            outcome = Outcome.VALID
        return replace(
            verdict,
            verdict=outcome,
            timestamp=stamp,
            failure_codes=tuple(sorted(failure_codes)),
            trust_failures=(*verdict.trust_failures, *reasons),
        )

    def _signer_anchored(self, verdict: Verdict) -> bool:
        from cryptography import x509

        if self.anchors is None or verdict.signer is None or not verdict.signer.chain_pem:
            return False
        chain = [x509.load_pem_x509_certificate(p.encode()) for p in verdict.signer.chain_pem]
        return chains_to(chain, self.anchors.certificates())

    @staticmethod
    def _signer_expired(verdict: Verdict, now: dt.datetime | None) -> bool:
        if verdict.signer is None or not verdict.signer.not_after:
            return False
        not_after = dt.datetime.fromisoformat(verdict.signer.not_after)
        return not_after < (now or dt.datetime.now(dt.timezone.utc))
