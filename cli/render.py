"""Render verdicts for people (text) and scripts (JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from provenance.codes import explain
from provenance.verdict import Outcome, Verdict

HEADLINES = {
    Outcome.TRUSTED: "TRUSTED: the credentials are intact and the signer is trusted",
    Outcome.VALID: "VALID: the credentials are intact, but the signer is not on your trust list",
    Outcome.INVALID: "INVALID: the credentials are broken or the file was altered after signing",
    Outcome.UNSIGNED: "UNSIGNED: the file carries no Content Credentials",
    Outcome.ERROR: "ERROR: the file could not be read as media",
}


def _ai_line(v: Verdict) -> str:
    kind = v.digital_source_type.rsplit("/", 1)[-1] if v.digital_source_type else None
    by = ""
    if v.generator is not None:
        by = f" by {v.generator.name}" + (f" {v.generator.version}" if v.generator.version else "")
    if v.ai_generated is True:
        return f"yes ({kind}){by}"
    if v.ai_generated is False:
        return f"no ({kind}){by}"
    return "not declared" + (f" ({kind})" if kind else "")


def verdict_text(v: Verdict) -> str:
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
        r = v.recovered
        gen = f" by {r.generator.name}" if r.generator else ""
        ai = {True: "AI-generated", False: "not AI-generated", None: "no AI disclosure"}[r.ai_generated]
        who = f", signed by {r.signer.subject}" if r.signer else ""
        lines.append(
            "  recovered:     credentials were stripped or the video was re-encoded; "
            f"the original credentials say: {ai}{gen}{who} "
            f"(their own verdict: {r.verdict.value}; fingerprint distance {r.distance}; manifest {r.manifest_id})"
        )
    return "\n".join(lines)


def verdicts_text(verdicts: Sequence[Verdict]) -> str:
    return "\n\n".join(verdict_text(v) for v in verdicts)


def verdicts_json(verdicts: Sequence[Verdict]) -> str:
    return json.dumps([v.to_dict() for v in verdicts], indent=2)
