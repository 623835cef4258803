"""Render verdicts for people (text) and scripts (JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from provenance import codes
from provenance.codes import explain
from provenance.verdict import Claimant, Outcome, Recovered, Verdict, source_type_label

# Informational codes a person must see: each says something an attacker may have used.
NOTEWORTHY = frozenset({codes.ADDITIONAL_EXCLUSIONS, codes.SIDECAR_IGNORED})

HEADLINES = {
    Outcome.TRUSTED: "TRUSTED: the credentials are intact and the signer is trusted",
    Outcome.VALID: "VALID: the credentials are intact, but the signer is not on your trust list",
    Outcome.INVALID: "INVALID: the credentials are broken or the file was altered after signing",
    Outcome.UNSIGNED: "UNSIGNED: the file carries no Content Credentials",
    Outcome.ERROR: "ERROR: the file could not be read as media",
}
# Other claimants listed one per line; the rest are counted (all are in --format json).
SHOWN_CLAIMANTS = 10


def _ai_line(v: Verdict) -> str:
    kind = source_type_label(v.digital_source_type)
    by = ""
    if v.generator is not None:
        by = f" by {v.generator.name}" + (f" {v.generator.version}" if v.generator.version else "")
    if v.ai_generated is True:
        return f"yes ({kind}){by}"
    if v.ai_generated is False:
        return f"no ({kind}){by}"
    return "not declared" + (f" ({kind})" if kind else "")


def verdict_text(v: Verdict) -> str:
    """One file's verdict for people: a headline, then what the credentials say and what is wrong with them."""
    lines = [f"{v.path}: {HEADLINES[v.verdict]}"]
    if v.error:
        lines.append(f"  reason:        {v.error}")
    if v.verdict in (Outcome.UNSIGNED, Outcome.ERROR) and v.recovered is None:
        return "\n".join(lines)
    if v.manifest_label:
        if v.verdict is Outcome.INVALID:
            lines.append("  caution:       the details below come from credentials that failed validation")
        lines.append(f"  AI-generated:  {_ai_line(v)}")
        if v.signer is not None:
            lines.append(f"  signed by:     {v.signer.subject}")
            lines.append(f"  issued by:     {v.signer.issuer}")
            # Names can be copied into any certificate; the fingerprint tells two signers apart.
            if v.signer.sha256:
                lines.append(f"  fingerprint:   SHA-256 {v.signer.sha256}")
        if v.timestamp is not None:
            tsa = f" by {v.timestamp.tsa}" if v.timestamp.tsa else ""
            trusted = {True: ", trusted", False: ", NOT trusted", None: ""}[v.timestamp.trusted]
            lines.append(f"  signed at:     {v.timestamp.time} (timestamp{tsa}{trusted})")
        else:
            lines.append("  signed at:     unknown (no trusted timestamp)")
        if v.claim_generator:
            lines.append(f"  signed with:   {v.claim_generator}")
        if v.manifest_source == "sidecar":
            lines.append("  manifest:      detached (.c2pa sidecar)")
    for code in v.failure_codes:
        lines.append(f"  problem:       {code}: {explain(code)}")
    for code in NOTEWORTHY & set(v.informational_codes):
        lines.append(f"  note:          {explain(code)}")
    for reason in v.trust_failures:
        lines.append(f"  not trusted:   {reason}")
    for ing in v.ingredients:
        name = ing.title or "(untitled)"
        rel = f" [{ing.relationship}]" if ing.relationship else ""
        lines.append(f"  ingredient:    {name}{rel}: {ing.verdict.value}")
        for code in ing.failure_codes:
            lines.append(f"                   {code}: {explain(code)}")
    if v.verdict is Outcome.VALID and not v.trust_anchors_given:
        lines.append("  warning:       the signer was not checked against any trust anchors (use --trust-anchors)")
    if v.recovered is not None:
        lines.extend(_recovered_lines(v, v.recovered))
    return "\n".join(lines)


def _ai_claim(ai_generated: bool | None) -> str:
    return {True: "AI-generated", False: "not AI-generated", None: "no AI disclosure"}[ai_generated]


def _signer_text(subject: str | None, sha256: str | None) -> str:
    if subject is None:
        return "an unknown signer"
    return subject + (f" (SHA-256 {sha256})" if sha256 else "")


def _claim(v: Verdict, r: Recovered) -> tuple[str, str]:
    """How to introduce a recovered manifest: anyone can register one for any content, so only a
    trusted one, under the verifier's trust anchors, speaks for the original credentials."""
    if r.verdict is Outcome.TRUSTED and v.trust_anchors_given:
        return "the original credentials say", "their own verdict"
    if r.verdict is Outcome.INVALID:
        return "a manifest in the repository that fails validation claims this content", "its own verdict"
    signer = "a signer not on your trust list" if v.trust_anchors_given else "an unverified signer"
    return f"a manifest in the repository, signed by {signer}, claims this content", "its own verdict"


def _recovered_lines(v: Verdict, r: Recovered) -> list[str]:
    if v.manifest_label is not None:
        # Recovery ran because the file's own hard binding failed: its credentials are here, its bytes changed.
        cause = ("the file's content was altered after signing, and a repository manifest matching its "
                 "fingerprint was found")
    else:
        cause = "credentials were stripped or the video was re-encoded"
    claim, own = _claim(v, r)
    gen = f" by {r.generator.name}" if r.generator else ""
    who = f", signed by {_signer_text(r.signer.subject, r.signer.sha256)}" if r.signer else ""
    carried = ", the one this file carries" if r.manifest_id == v.manifest_label else ""
    lines = [f"  recovered:     {cause}; {claim}: {_ai_claim(r.ai_generated)}{gen}{who} "
             f"({own}: {r.verdict.value}; fingerprint distance {r.distance}; manifest {r.manifest_id}{carried})"]
    others = [c for c in r.claimants if c.manifest_id != r.manifest_id]
    if others:
        signers = {c.signer_sha256 or c.signer_subject for c in r.claimants}
        lines.append(f"  claimants:     {len(r.claimants)} manifests in the repository claim this content, from "
                     f"{len(signers)} signer{'s' if len(signers) != 1 else ''}; the others:")
        lines.extend(_claimant_line(c) for c in others[:SHOWN_CLAIMANTS])
        if len(others) > SHOWN_CLAIMANTS:
            lines.append(f"                 … and {len(others) - SHOWN_CLAIMANTS} more (--format json lists them all)")
    if r.limit_reached:
        lines.append("  warning:       the lookup returned as many matches as recovery checks at most; more manifests "
                     "may claim this content and were not checked")
    return lines


def _claimant_line(c: Claimant) -> str:
    label = source_type_label(c.digital_source_type)
    kind = f" ({label})" if label is not None else ""
    who = _signer_text(c.signer_subject, c.signer_sha256)
    return (f"  also claimed:  {_ai_claim(c.ai_generated)}{kind}, signed by {who} "
            f"(its own verdict: {c.verdict.value}; fingerprint distance {c.distance}; manifest {c.manifest_id})")


def verdicts_text(verdicts: Sequence[Verdict]) -> str:
    """Every verdict as text, a blank line between files."""
    return "\n\n".join(verdict_text(v) for v in verdicts)


def verdicts_json(verdicts: Sequence[Verdict]) -> str:
    """Every verdict as one JSON array, for scripts."""
    return json.dumps([v.to_dict() for v in verdicts], indent=2)
