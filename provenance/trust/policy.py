"""Our own trust layer, on top of c2pa's verdict.

c2pa judges signatures, bindings and whether the signer chains to a trust anchor.
`TrustPolicy.apply` enforces what c2pa does not: pinned signer certificates
(--allowed-signer), time-stamping authorities trusted through their own anchors
(--tsa-trust-anchors), failing closed when a setting is given but not satisfied, and,
under the official lists (no anchors given), which list vouches for the signer: the
C2PA Trust List, or the frozen interim list for content stamped before its freeze.
It is handed plain values (the verdict, c2pa's success codes, the manifest store),
never the verifier's own types.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from provenance import codes
from provenance.errors import TrustConfigError
from provenance.trust.anchors import TrustAnchors, chains_to, reader_settings
from provenance.verdict import Outcome, Timestamp, TrustEntity, TrustListInfo, Verdict

if TYPE_CHECKING:
    from cryptography import x509

    from provenance.trust.lists import TrustLists
    from provenance.trust.timestamp import TimestampToken


@dataclass(frozen=True)
class TrustPolicy:
    """Everything a verifier is told to trust; empty means c2pa's verdict stands as is.

    `lists` (the official lists, `provenance.trust.lists`) only go with no anchors: given anchors replace them.
    """

    anchors: TrustAnchors | None = None
    tsa_anchors: TrustAnchors | None = None
    allowed_signers: frozenset[str] = field(default_factory=frozenset)
    lists: TrustLists | None = None

    def __post_init__(self) -> None:
        if self.lists is not None and (self.anchors is not None or self.tsa_anchors is not None):
            raise TrustConfigError("the official trust lists cannot be combined with trust anchors",
                                   remedy="Give anchors (they replace the lists) or the lists, not both.")

    def c2pa_settings(self) -> dict[str, Any]:
        """The c2pa reader settings that hand this policy's anchors (or lists) to c2pa."""
        if self.lists is not None:
            interim = self.lists.interim
            return reader_settings(self.lists.c2pa_anchors(), allowed=interim.allowed if interim else None)
        return reader_settings(self.anchors, self.tsa_anchors)

    def judged_against(self) -> tuple[TrustListInfo | None, TrustListInfo | None]:
        """What signers and timestamps are judged against, as verdicts name it."""
        if self.lists is not None:
            return self.lists.signers.info(), self.lists.tsa.info()
        return _file_info(self.anchors), _file_info(self.tsa_anchors)

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
        notes: list[str] = []
        entity: TrustEntity | None = None

        token = ts.token_of(store, verdict.manifest_label)
        stamp = verdict.timestamp
        validated = codes.TIMESTAMP_VALIDATED in success_codes
        tsa_reason: str | None = None
        if token is not None:
            if not validated:
                tsa_reason = "the timestamp does not match the signature or its authority's signature is invalid"
            elif self.tsa_anchors is not None:
                tsa_reason = ts.check_tsa_chain(token, self.tsa_anchors.certificates())
            elif self.lists is not None:
                tsa_reason = ts.check_tsa_chain(token, self.lists.tsa.anchors.certificates())
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

        if self.lists is not None and (outcome is Outcome.TRUSTED or self._allowed_leaf(verdict, failure_codes)):
            entity, note, stamp_trusted = self._listed(verdict, token if validated else None, tsa_reason is None)
            if entity is None:
                # c2pa trusted the chain through a TSA list anchor, or through the interim list without proof
                # of the date: neither vouches for this signer.
                outcome = Outcome.VALID
                failure_codes.add(codes.UNTRUSTED)
            else:
                outcome = Outcome.TRUSTED
                failure_codes.discard(codes.UNTRUSTED)
            if note is not None:
                notes.append(note)
            if stamp_trusted and stamp is not None:
                stamp = replace(stamp, trusted=True)

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
        trust_list, tsa_trust_list = self.judged_against()
        return replace(
            verdict,
            verdict=outcome,
            timestamp=stamp,
            failure_codes=tuple(sorted(failure_codes)),
            trust_failures=(*verdict.trust_failures, *reasons),
            trust_list=trust_list,
            tsa_trust_list=tsa_trust_list,
            trust_entity=entity,
            trust_notes=(*verdict.trust_notes, *notes),
        )

    def _listed(self, verdict: Verdict, token: TimestampToken | None,
                stamp_trusted: bool) -> tuple[TrustEntity | None, str | None, bool]:
        """Which list entry vouches for a signer c2pa trusted under the lists (None: none does); a note when the
        signer is on the interim list but no trusted timestamp dates the signature before its freeze; and whether
        the timestamp is trusted the way the interim list trusted authorities (through its own anchors)."""
        from provenance.trust import timestamp as ts

        assert self.lists is not None
        entity = self.lists.entry_of(_chain(verdict))
        interim = self.lists.interim
        if entity is None or interim is None or entity.list != interim.name:
            return entity, None, False
        # The Verify site judged timestamps against the interim anchors (they hold TSA CAs) as well.
        if token is not None and token.gen_time < interim.frozen and (
                stamp_trusted or ts.check_tsa_chain(token, interim.anchors.certificates()) is None):
            return entity, None, not stamp_trusted
        return None, (f"the signer is on the {interim.name} ({entity.name}), which vouches only for content that a "
                      f"trusted timestamp shows was signed before {interim.frozen:%Y-%m-%d}"), False

    def _allowed_leaf(self, verdict: Verdict, failure_codes: set[str]) -> bool:
        """Whether c2pa found nothing wrong but the signer's trust, and the signer's own certificate is allowed
        one by one on the interim list: c2pa (0.38) ignores `trust.allowed_list`, so that check is ours."""
        interim = self.lists.interim if self.lists is not None else None
        if interim is None or verdict.verdict is not Outcome.VALID or failure_codes != {codes.UNTRUSTED}:
            return False
        chain = _chain(verdict)
        return bool(chain) and interim.allows(chain[0])

    def _signer_anchored(self, verdict: Verdict) -> bool:
        if self.anchors is None:
            return False
        chain = _chain(verdict)
        return bool(chain) and chains_to(chain, self.anchors)

    @staticmethod
    def _signer_expired(verdict: Verdict, now: dt.datetime | None) -> bool:
        if verdict.signer is None or not verdict.signer.not_after:
            return False
        not_after = dt.datetime.fromisoformat(verdict.signer.not_after)
        return not_after < (now or dt.datetime.now(dt.timezone.utc))


def _chain(verdict: Verdict) -> list[x509.Certificate]:
    """The signer's certificate chain, leaf first; empty when the verdict does not carry it."""
    from cryptography import x509

    if verdict.signer is None:
        return []
    return [x509.load_pem_x509_certificate(p.encode()) for p in verdict.signer.chain_pem]


def _file_info(anchors: TrustAnchors | None) -> TrustListInfo | None:
    return None if anchors is None else TrustListInfo(anchors.source, None, "file")


def default_policy(*, user_files: bool = True, default_lists: bool = True) -> TrustPolicy:
    """The trust a verifier uses when given no trust options: the per-user anchor files
    (<config dir>/provenance/trust-anchors.pem, tsa-trust-anchors.pem) when they exist, else the
    official lists in force (`provenance.trust.lists`). `c2pa_settings()` of it are c2pa's settings
    (e.g. to record a parent ingredient's validation when signing). Raises TrustConfigError for an
    unreadable anchor file or a damaged fetched list."""
    from provenance.trust.anchors import default_anchors_path, default_tsa_anchors_path, load_default
    from provenance.trust.lists import lists_for

    anchors = load_default(default_anchors_path()) if user_files else None
    tsa_anchors = load_default(default_tsa_anchors_path()) if user_files else None
    return TrustPolicy(anchors, tsa_anchors, lists=lists_for(anchors, tsa_anchors, enabled=default_lists))
