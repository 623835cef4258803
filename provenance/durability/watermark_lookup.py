"""Recovery through the watermark in the frames (provenance.watermark, docs/watermark.md).

A clip marked by `provenance sign --watermark` carries an 8-byte identifier in its pixels, and its
manifest records the same identifier in a second `c2pa.soft-binding` assertion (alg
`org.provenance.wm.v1`). A clip whose manifest is gone is searched for the mark; a repository or
resolver that knows the identifier returns the manifest exactly (`byBinding`, no nearest-neighbour
search).

The identifier alone proves nothing about the pictures: the mark can be estimated from marked clips
and added to other content. So a manifest found by its identifier counts only when its own ISCC
soft binding agrees with the clip's fingerprint (CONFIRM_BITS); otherwise the finding is reported as
a mismatch, never as a recovery.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from provenance.durability import softbinding
from provenance.durability.alignment import align
from provenance.durability.repository import QueryError
from provenance.errors import ProvenanceError, RepositoryError, WatermarkError
from provenance.verdict import (
    COPY,
    MISMATCH,
    RECOVERED,
    UNREGISTERED,
    Claimant,
    Outcome,
    Recovered,
    Verdict,
    WatermarkFinding,
)
from provenance.watermark.interface import ALGORITHM_ID, IDENTIFIER_BYTES

if TYPE_CHECKING:
    from provenance.durability.repository import Lookup
    from provenance.verify import Verifier
    from provenance.watermark.interface import Detection, Payload

ALG = ALGORITHM_ID  # the soft-binding algorithm the manifest and `byBinding` name

VIA = "watermark"
# Seconds of video read when looking for a mark: evidence accumulates over frames, and a few seconds
# are enough for any clip the mark survives in (the benchmark's 5-second excerpts).
SEARCH_SECONDS = 12.0
# A manifest found by its watermark id stands for the clip when some Video-Code of the clip is at most
# this many bits (of 256) from one of the manifest's. Looser than the fingerprint search's 27 bits:
# the id already names one manifest, and a cropped or heavily re-encoded copy (which the mark
# survives) moves its ISCC codes further; unrelated clips stay near 128 bits apart.
CONFIRM_BITS = 64
_RANK = {Outcome.TRUSTED: 0, Outcome.VALID: 1, Outcome.INVALID: 2}


def assertion(payload: Payload) -> dict[str, Any]:
    """The `c2pa.soft-binding` assertion recording a watermark's identifier, encoded as the ISCC one is
    (one whole-asset block whose value is a list of byte values)."""
    return {
        "label": softbinding.LABEL,
        "created": True,  # the claim generator embedded the mark: a created assertion
        "data": {
            "alg": ALG,
            "blocks": [{"scope": {}, "value": list(payload.value)}],
            "name": "provenance watermark in the luma of the frames: its 64-bit identifier",
        },
    }


def from_manifest(manifest: Mapping[str, Any]) -> bytes | None:
    """The watermark identifier (8 bytes) a manifest (c2pa reader JSON) records, if any."""
    for data in softbinding._soft_binding_assertions(manifest):
        if data.get("alg") != ALG:
            continue
        blocks = data.get("blocks")
        for block in blocks if isinstance(blocks, list) else ():  # attacker-controlled
            if isinstance(block, Mapping):
                value = softbinding._block_value(block.get("value"))
                if value is not None and len(value) == IDENTIFIER_BYTES:
                    return value
    return None


def search(path: str) -> Detection | None:
    """The mark found in the first SEARCH_SECONDS of `path`, or None (no mark, or no video to search)."""
    from provenance.watermark import detect

    try:
        found = detect(path, max_seconds=SEARCH_SECONDS)
    except WatermarkError:
        return None  # audio only, too small, a still: nothing to search
    return found if found.found else None


def finding(found: Detection, status: str, manifest_id: str | None = None,
            distance: int | None = None) -> WatermarkFinding:
    """What the verdict reports about a detected mark."""
    assert found.payload is not None
    return WatermarkFinding(identifier=found.payload.hex, algorithm=found.algorithm, score=round(found.score, 2),
                            bit_agreement=round(found.bit_agreement, 4), status=status, manifest_id=manifest_id,
                            distance=distance)


def recover(verdict: Verdict, found: Detection, lookup: Lookup, verifier: Verifier,
            query: Callable[[], softbinding.Query | None],
            read_store: Callable[[bytes, Verifier, str], Any]) -> Verdict:
    """The verdict with what a detected mark leads to: `recovered` (via the watermark) when a registered
    manifest carries its id and its fingerprint agrees with the clip's; else `watermark` says the id is
    unregistered, or registered with a manifest whose fingerprint does not match (a copied mark).

    `query` gives the clip's fingerprint lookup (computed once, when a manifest is found); `read_store` is
    recovery's validation of a stand-alone store (handed in: recovery imports this module)."""

    payload = found.payload
    assert payload is not None
    try:
        matches = lookup.match(ALG, payload.value, min(lookup.result_limit, 10))
    except (QueryError, RepositoryError):
        # A repository or resolver that does not resolve this algorithm cannot know the identifier; one
        # that cannot be reached fails the fingerprint lookup next, with its own message.
        matches = []
    agreeing: list[Recovered] = []
    mismatch: tuple[str, int | None] | None = None
    for match in matches:
        store = lookup.manifest_store(match.manifest_id)
        if store is None:
            continue
        try:
            reading = read_store(store, verifier, match.manifest_id)
        except ProvenanceError:
            continue  # an unreadable store is no credential
        v = reading.verdict
        manifest_id = v.manifest_label or match.manifest_id
        if payload.value not in reading.watermarks:
            continue  # the resolver's word is not taken: the signed manifest must record this id
        fingerprint = query()
        distance = (fingerprint.binding.distance(reading.soft_binding)
                    if fingerprint is not None and reading.soft_binding is not None else None)
        if distance is None or distance > CONFIRM_BITS:
            mismatch = mismatch or (manifest_id, distance)
            continue
        assert fingerprint is not None and reading.soft_binding is not None
        placed = align(fingerprint, reading.soft_binding)
        agreeing.append(Recovered(
            manifest_id=manifest_id, distance=distance, verdict=v.verdict, signer=v.signer, generator=v.generator,
            ai_generated=v.ai_generated, digital_source_type=v.digital_source_type, source=lookup.location,
            match=COPY, aligned=placed.where if placed is not None and placed.match == COPY else None,
            via=VIA, watermark_id=payload.hex, watermark_confidence=round(found.bit_agreement, 4)))
    if agreeing:
        agreeing.sort(key=lambda r: (_RANK.get(r.verdict, len(_RANK)), r.distance, r.manifest_id))
        best = agreeing[0]
        claimants = tuple(Claimant(
            manifest_id=r.manifest_id, distance=r.distance, verdict=r.verdict,
            signer_subject=r.signer.subject if r.signer else None, signer_sha256=r.signer.sha256 if r.signer else None,
            ai_generated=r.ai_generated, digital_source_type=r.digital_source_type, match=r.match, aligned=r.aligned,
        ) for r in agreeing)
        return replace(verdict, recovered=replace(best, claimants=claimants),
                       watermark=finding(found, RECOVERED, best.manifest_id, best.distance))
    if mismatch is not None:
        return replace(verdict, watermark=finding(found, MISMATCH, *mismatch))
    return replace(verdict, watermark=finding(found, UNREGISTERED))


def unregistered(verdict: Verdict) -> Verdict:
    """The verdict of a file with no repository to look in: a mark it carries is still reported."""
    found = search(verdict.path)
    return verdict if found is None else replace(verdict, watermark=finding(found, UNREGISTERED))
