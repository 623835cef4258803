"""Render verdicts for people (text) and scripts (JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from provenance import codes
from provenance.codes import explain
from provenance.verdict import COPY, Claimant, Outcome, Recovered, Verdict, source_type_label

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


def _headline(v: Verdict) -> str:
    """The verdict in words; when only an ingredient makes it worse, what the file's own credentials are too."""
    problems = v.ingredient_problems() if v.own is not v.verdict else None
    return f"{v.verdict.value.upper()}: {problems}" if problems else HEADLINES[v.verdict]


def verdict_text(v: Verdict) -> str:
    """One file's verdict for people: a headline, then what the credentials say and what is wrong with them."""
    lines = [f"{v.path}: {_headline(v)}"]
    if v.error:
        lines.append(f"  reason:        {v.error}")
    if v.verdict in (Outcome.UNSIGNED, Outcome.ERROR) and v.recovered is None:
        return "\n".join(lines)
    if v.manifest_label:
        if v.own is Outcome.INVALID:
            lines.append("  caution:       the details below come from credentials that failed validation")
        lines.append(f"  AI-generated:  {_ai_line(v)}")
        if v.signer is not None:
            if v.trust_entity is not None:  # the name a trust list vouches for, not one the certificate claims
                lines.append(f"  signed by:     {v.trust_entity.name} ({v.trust_entity.list})")
                lines.append(f"  certificate:   {v.signer.subject}")
            else:
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
        if v.trust_list is not None and v.trust_list.source != "file":
            lines.append(f"  trust lists:   {_lists_text(v)}")
    for code in v.failure_codes:
        lines.append(f"  problem:       {code}: {explain(code)}")
    for code in NOTEWORTHY & set(v.informational_codes):
        lines.append(f"  note:          {explain(code)}")
    for reason in v.trust_failures:
        lines.append(f"  not trusted:   {reason}")
    for note in v.trust_notes:
        lines.append(f"  note:          {note}")
    for ing in v.ingredients:
        name = ing.title or "(untitled)"
        rel = f" [{ing.relationship}]" if ing.relationship else ""
        lines.append(f"  ingredient:    {name}{rel}: {ing.verdict.value}")
        for code in ing.failure_codes:
            lines.append(f"                   {code}: {explain(code)}")
    if v.verdict is Outcome.VALID and not v.trust_anchors_given:
        lines.append(f"  warning:       {_untrusted_warning(v)}")
    if v.recovered is not None:
        lines.extend(_recovered_lines(v, v.recovered))
    return "\n".join(lines)


def _lists_text(v: Verdict) -> str:
    """The official lists a verdict was judged against, e.g. "C2PA Trust List of 2026-08-05 (bundled), ..."."""
    return ", ".join(f"{t.name} of {(t.issued or '?')[:10]} ({t.source})"
                     for t in (v.trust_list, v.tsa_trust_list) if t is not None)


def _untrusted_warning(v: Verdict) -> str:
    """Why a valid file is not trusted, when no anchors were given: not on the lists, or nobody trusted at all."""
    who = "an ingredient's signer" if v.own is Outcome.TRUSTED else "the signer"
    if v.trust_list is None:
        return f"{who} was not checked against any trust anchors (use --trust-anchors)"
    return f"{who} is not on the {v.trust_list.name} (to trust other CAs, use --trust-anchors)"


def _ai_claim(ai_generated: bool | None) -> str:
    return {True: "AI-generated", False: "not AI-generated", None: "no AI disclosure"}[ai_generated]


def _signer_text(subject: str | None, sha256: str | None) -> str:
    if subject is None:
        return "an unknown signer"
    return subject + (f" (SHA-256 {sha256})" if sha256 else "")


def _claim(v: Verdict, r: Recovered) -> tuple[str, str]:
    """How to introduce a recovered manifest: anyone can register one for any content, so only a
    trusted one, under the verifier's trust anchors, speaks for the original credentials, and only
    when the file is a copy of its clip (a look-alike's credentials are another clip's)."""
    if r.match != COPY:
        return "the manifest of a similar clip in the repository says", "its own verdict"
    if r.verdict is Outcome.TRUSTED and v.trust_judged:
        return "the original credentials say", "their own verdict"
    if r.verdict is Outcome.INVALID:
        return "a manifest in the repository that fails validation claims this content", "its own verdict"
    signer = "a signer not on your trust list" if v.trust_anchors_given else "an unverified signer"
    return f"a manifest in the repository, signed by {signer}, claims this content", "its own verdict"


def _recovered_lines(v: Verdict, r: Recovered) -> list[str]:
    copy = r.match == COPY
    if v.manifest_label is not None:
        # Recovery ran because the file's own hard binding failed: its credentials are here, its bytes changed.
        cause = ("the file's content was altered after signing, and a repository manifest "
                 + ("matching its fingerprint was found" if copy else "of a clip resembling it was found"))
    else:
        cause = ("credentials were stripped or the video was re-encoded" if copy
                 else "no copy of a signed clip was found, only a clip resembling it")
    claim, own = _claim(v, r)
    gen = f" by {r.generator.name}" if r.generator else ""
    who = f", signed by {_signer_text(r.signer.subject, r.signer.sha256)}" if r.signer else ""
    carried = ", the one this file carries" if r.manifest_id == v.manifest_label else ""
    lines = [f"  {'recovered:' if copy else 'similar:':<15}{cause}; {claim}: {_ai_claim(r.ai_generated)}{gen}{who} "
             f"({own}: {r.verdict.value}; fingerprint distance {r.distance}; manifest {r.manifest_id}{carried})",
             f"  match:         {r.statement}"]
    others = [c for c in r.claimants if c.manifest_id != r.manifest_id]
    if others:
        signers = {c.signer_sha256 or c.signer_subject for c in r.claimants}
        lines.append(f"  claimants:     {len(r.claimants)} manifests in the repository match this content "
                     f"({_kinds(r.claimants)}), from {len(signers)} signer{'s' if len(signers) != 1 else ''}; "
                     "the others:")
        lines.extend(_claimant_line(c) for c in others[:SHOWN_CLAIMANTS])
        if len(others) > SHOWN_CLAIMANTS:
            lines.append(f"                 … and {len(others) - SHOWN_CLAIMANTS} more (--format json lists them all)")
    if r.limit_reached:
        lines.append("  warning:       the lookup returned as many matches as recovery checks at most; more manifests "
                     "may claim this content and were not checked")
    return lines


def _kinds(claimants: Sequence[Claimant]) -> str:
    """E.g. "1 copy, 2 look-alikes"."""
    copies = sum(c.match == COPY for c in claimants)
    similar = len(claimants) - copies
    parts = ["1 copy" if copies == 1 else f"{copies} copies"] if copies else []
    return ", ".join(parts + ([f"{similar} look-alike{'s' if similar != 1 else ''}"] if similar else []))


def _claimant_line(c: Claimant) -> str:
    label = source_type_label(c.digital_source_type)
    kind = f" ({label})" if label is not None else ""
    who = _signer_text(c.signer_subject, c.signer_sha256)
    match, line = "similar, not shown to be a copy", "look-alike:"
    if c.match == COPY and c.aligned is not None:
        match, line = f"a copy of {c.aligned.span}", "also claimed:"
    return (f"  {line:<15}{_ai_claim(c.ai_generated)}{kind}, signed by {who} "
            f"(its own verdict: {c.verdict.value}; {match}; fingerprint distance {c.distance}; "
            f"manifest {c.manifest_id})")


def verdicts_text(verdicts: Sequence[Verdict]) -> str:
    """Every verdict as text, a blank line between files."""
    return "\n\n".join(verdict_text(v) for v in verdicts)


def verdicts_json(verdicts: Sequence[Verdict]) -> str:
    """Every verdict as one JSON array, for scripts."""
    return json.dumps([v.to_dict() for v in verdicts], indent=2)


def crjson_array(documents: Sequence[str | None]) -> str:
    """c2pa's crJSON documents, one per file in the order given, as one JSON array (null where there is none)."""
    return json.dumps([None if d is None else json.loads(d) for d in documents], indent=2)
