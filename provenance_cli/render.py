"""Render verdicts for people (text) and scripts (JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from provenance.codes import explain
from provenance.explain import (
    CAUTION,
    NOTEWORTHY,
    ai_claim,
    ai_line,
    headline,
    lists_text,
    recovered_cause,
    recovered_claim,
    untrusted_warning,
)
from provenance.verdict import COPY, Claimant, Outcome, Recovered, Verdict, source_type_label

# Other claimants listed one per line; the rest are counted (all are in --format json).
SHOWN_CLAIMANTS = 10


def verdict_text(v: Verdict) -> str:
    """One file's verdict for people: a headline, then what the credentials say and what is wrong with them."""
    lines = [f"{v.path}: {headline(v)}"]
    if v.error:
        lines.append(f"  reason:        {v.error}")
    if v.verdict in (Outcome.UNSIGNED, Outcome.ERROR) and v.recovered is None:
        return "\n".join(lines + _watermark_lines(v))
    if v.manifest_label:
        if v.own is Outcome.INVALID:
            lines.append(f"  caution:       {CAUTION}")
        lines.append(f"  AI-generated:  {ai_line(v)}")
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
            lines.append(f"  trust lists:   {lists_text(v)}")
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
        lines.append(f"  warning:       {untrusted_warning(v)}")
    if v.recovered is not None:
        lines.extend(_recovered_lines(v, v.recovered))
    return "\n".join(lines + _watermark_lines(v))


def _watermark_lines(v: Verdict) -> list[str]:
    """The provenance watermark found in the frames, and what it led to (recovered, unregistered, mismatch)."""
    if v.watermark is None:
        return []
    return [f"  watermark:     {v.watermark.statement} (score {v.watermark.score:.1f} σ, "
            f"{v.watermark.bit_agreement:.1%} of coded bits agree)"]


def _signer_text(subject: str | None, sha256: str | None) -> str:
    if subject is None:
        return "an unknown signer"
    return subject + (f" (SHA-256 {sha256})" if sha256 else "")


def _recovered_lines(v: Verdict, r: Recovered) -> list[str]:
    copy = r.match == COPY
    cause = recovered_cause(v, r)
    claim, own = recovered_claim(v, r)
    gen = f" by {r.generator.name}" if r.generator else ""
    who = f", signed by {_signer_text(r.signer.subject, r.signer.sha256)}" if r.signer else ""
    carried = ", the one this file carries" if r.manifest_id == v.manifest_label else ""
    lines = [f"  {'recovered:' if copy else 'similar:':<15}{cause}; {claim}: {ai_claim(r.ai_generated)}{gen}{who} "
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
    return (f"  {line:<15}{ai_claim(c.ai_generated)}{kind}, signed by {who} "
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
