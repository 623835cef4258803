"""Find a file's credentials again when they were stripped or the file was re-encoded.

When a file carries no manifest, or its hard binding no longer matches, its ISCC Video-Codes (the
whole clip's and those of its 2-second windows) are computed and looked up in a manifest repository
(local, or a remote resolver). A match is reported
next to the file's own verdict, which stays `unsigned`/`invalid`: the recovered manifest describes
the original clip, it is no signature on this file.

A recovered manifest store is validated on its own (c2pa reads it as `application/c2pa`). It comes
without the asset it was bound to, so its hard binding cannot match anything and is set aside; its
claim signature, assertion hashes and signer trust are checked as usual. The fingerprint distance
is recomputed from the soft binding inside that signed manifest, so a resolver's word is never
taken for it.

A fingerprint match only says "this looks like that". Each match is therefore placed on the signed
clip's timeline (`alignment`): a *copy* matches its recorded segments in order, at one offset, over
most of the file; anything else is only *similar* (another part of the same shot, the same scene
filmed again), and only a copy's credentials are the file's original ones.

Anyone who can register a manifest can register one for any content, so every match within the
threshold is checked (up to MAX_CANDIDATES, a resource limit; reaching it is reported), the best is
chosen by its own verdict first (trusted, then valid, then invalid), then copies before look-alikes,
then distance, and every match is kept as a claimant, so a competing claim is shown, never silently
dropped or preferred.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from provenance._internal.children import Cancel
from provenance._internal.threads import Worker
from provenance.codes import HARD_BINDING_MISMATCH, without_failures
from provenance.durability import softbinding
from provenance.durability.alignment import align
from provenance.durability.repository import Entry, Lookup, Repository, open_repository
from provenance.durability.repository.interface import MAX_LOOKUP_RESULTS
from provenance.errors import ProvenanceError, RepositoryError, SoftBindingError, c2pa_reason
from provenance.verdict import COPY, SIMILAR, Claimant, Outcome, Recovered, Verdict
from provenance.verify import ManifestReport, Verifier

# The most repository matches whose manifest stores one file's recovery fetches and validates: a
# resource limit (a store is read by c2pa in milliseconds), far above what honest registrations reach.
MAX_CANDIDATES = MAX_LOOKUP_RESULTS
# Segment codes a registered manifest may bring (signing records at most softbinding.MAX_SEGMENTS);
# the bound keeps one submission from filling the index.
MAX_REGISTERED_SEGMENTS = 8 * softbinding.MAX_SEGMENTS
_RANK = {Outcome.TRUSTED: 0, Outcome.VALID: 1, Outcome.INVALID: 2}


class ManifestRejected(RepositoryError):
    """A manifest store offered to a repository is not one it may keep."""

    remedy = "Register the manifest store of a clip signed by `provenance sign` (with its soft binding)."


def needs_recovery(verdict: Verdict) -> bool:
    """No manifest at all, or one whose hard binding fails (the content changed since signing)."""
    if verdict.verdict is Outcome.UNSIGNED:
        return True
    return verdict.verdict is Outcome.INVALID and bool(HARD_BINDING_MISMATCH & set(verdict.failure_codes))


def _hard_binding_mismatch(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("code") in HARD_BINDING_MISMATCH


def unbound(report: ManifestReport) -> ManifestReport:
    """The report of a stand-alone store with its (necessarily failing) hard binding set aside."""
    data, state = without_failures(report.report, _hard_binding_mismatch)
    return replace(report, report=data, state=state)


@dataclass(frozen=True)
class StoreReading:
    """A stand-alone manifest store, validated: its own verdict and the soft binding it records."""

    verdict: Verdict
    soft_binding: softbinding.SoftBinding | None
    watermarks: tuple[bytes, ...] = ()  # the watermark identifiers it records (provenance.durability.watermark_lookup)


def read_store(store: bytes, verifier: Verifier, name: str) -> StoreReading:
    """Validate a manifest store that comes without its asset; RepositoryError if c2pa cannot read it."""
    import c2pa

    try:
        report = unbound(verifier.read_store(store, "repository"))
    except c2pa.C2paError as e:
        raise ManifestRejected(f"not a readable C2PA manifest store ({c2pa_reason(e)})") from e
    verdict = verifier.verdict_of(name, report)
    label = report.report.get("active_manifest")
    manifest = report.report.get("manifests", {}).get(label, {}) if label else {}
    from provenance.durability import watermark_lookup

    mark = watermark_lookup.from_manifest(manifest)
    return StoreReading(verdict, softbinding.from_manifest(manifest), () if mark is None else (mark,))


def entry_for(store: bytes, verifier: Verifier, *, require_trusted: bool = False) -> Entry:
    """The repository entry for a manifest store, refused unless the store validates and has a soft binding."""
    from provenance.durability import watermark_lookup

    reading = read_store(store, verifier, "manifest store")
    verdict = reading.verdict
    if verdict.manifest_label is None:
        raise ManifestRejected("the manifest store has no active manifest")
    # Its own credentials decide: a remix of a broken parent is still its signer's (recovery reports the parent).
    if verdict.own is Outcome.INVALID:
        problems = ", ".join(verdict.failure_codes) or "c2pa rejected it"
        raise ManifestRejected(f"the manifest store does not validate: {problems}")
    if require_trusted and (verdict.verdict is not Outcome.TRUSTED or verdict.trust_failures):
        raise ManifestRejected("the manifest's signer does not chain to this repository's trust anchors",
                               remedy="Sign with a certificate issued under one of the repository's anchors.")
    if reading.soft_binding is None:
        raise ManifestRejected(f"the manifest records no {softbinding.ALG} soft binding")
    if len(reading.soft_binding.segments) > MAX_REGISTERED_SEGMENTS:
        raise ManifestRejected(f"the soft binding holds {len(reading.soft_binding.segments)} segment codes; "
                               f"a repository keeps at most {MAX_REGISTERED_SEGMENTS}")
    if verdict.signer is None or not verdict.signer.sha256:
        raise ManifestRejected("the signer's certificate cannot be read from the manifest store")
    return Entry(verdict.manifest_label, reading.soft_binding.value, verdict.signer.sha256, store,
                 segments=reading.soft_binding.segments,
                 watermarks=tuple((watermark_lookup.ALG, mark) for mark in reading.watermarks))


class Recoverer:
    """Looks up files whose credentials are gone; reusable across files.

    With no `lookup` (no repository exists yet: nothing was ever registered) a file is still searched
    for a watermark, reported as unregistered when found.
    """

    def __init__(self, lookup: Lookup | None, verifier: Verifier, *,
                 threshold: int = softbinding.MATCH_THRESHOLD, candidates: int = MAX_CANDIDATES) -> None:
        self.lookup = lookup
        self.verifier = verifier
        self.threshold = threshold
        self.candidates = candidates

    def close(self) -> None:
        """Close the repository looked up in (a remote resolver holds nothing open)."""
        if isinstance(self.lookup, Repository):
            self.lookup.close()

    def recover(self, verdict: Verdict) -> Verdict:
        """The verdict with `recovered` filled when the repository knows the file's content."""
        if not needs_recovery(verdict):
            return verdict
        from provenance.durability import watermark_lookup

        if self.lookup is None or (isinstance(self.lookup, Repository) and self.lookup.count() == 0):
            return watermark_lookup.unregistered(verdict)  # nothing registered: skip the fingerprint
        path = verdict.path
        cancel = Cancel()

        def compute() -> softbinding.Query | None:
            try:
                return softbinding.lookup_query(path, cancel=cancel)
            except SoftBindingError:
                return None  # no video to fingerprint (e.g. audio only): nothing to look up

        # Every path below needs the fingerprint (a recovered mark is confirmed by it), so its decode
        # runs beside the watermark search's instead of after it.
        fingerprinting = Worker("recovery-fingerprint", compute)
        fingerprinting.start()
        try:
            # The mark names its manifest exactly: looked for first, the fingerprint search only without it.
            mark = watermark_lookup.search(path)
            if mark is not None:
                verdict = watermark_lookup.recover(verdict, mark, self.lookup, self.verifier, fingerprinting.result,
                                                   read_store)
                if verdict.recovered is not None:
                    return verdict
            query = fingerprinting.result()
        finally:
            cancel.cancel()  # only ever stops a decode nobody waits for any more
        if query is None:
            return verdict
        found = self.best_match(query, self.lookup)
        return verdict if found is None else replace(verdict, recovered=found)

    def best_match(self, query: softbinding.Query, lookup: Lookup) -> Recovered | None:
        """The best registered manifest that really matches, with every other match as a claimant.

        Best means the best verdict of its own (trusted, valid, invalid), then a copy before a
        look-alike, then the nearest: a flood of nearer registrations by an untrusted signer never
        outranks a trusted one.
        """
        limit = min(self.candidates, lookup.result_limit)
        matches = lookup.match(softbinding.ALG, query.binding.query_value, limit)
        found: list[Recovered] = []
        for match in matches[:limit]:  # a remote resolver may send more than asked
            store = lookup.manifest_store(match.manifest_id)
            if store is None:
                continue
            try:
                reading = read_store(store, self.verifier, match.manifest_id)
            except ProvenanceError:
                continue  # an unreadable store is no credential
            if reading.soft_binding is None:
                continue
            distance = query.binding.distance(reading.soft_binding)
            if distance is None or distance > self.threshold:
                continue
            placed = align(query, reading.soft_binding, self.threshold)
            copy = placed if placed is not None and placed.match == COPY else None
            v = reading.verdict
            found.append(Recovered(
                manifest_id=v.manifest_label or match.manifest_id,
                distance=distance,
                verdict=v.verdict,
                signer=v.signer,
                generator=v.generator,
                ai_generated=v.ai_generated,
                digital_source_type=v.digital_source_type,
                source=lookup.location,
                match=COPY if copy else SIMILAR,
                aligned=copy.where if copy else None,
            ))
        if not found:
            return None
        found.sort(key=lambda r: (_RANK.get(r.verdict, len(_RANK)), r.match != COPY, r.distance, r.manifest_id))
        claimants = tuple(Claimant(
            manifest_id=r.manifest_id,
            distance=r.distance,
            verdict=r.verdict,
            signer_subject=r.signer.subject if r.signer else None,
            signer_sha256=r.signer.sha256 if r.signer else None,
            ai_generated=r.ai_generated,
            digital_source_type=r.digital_source_type,
            match=r.match,
            aligned=r.aligned,
        ) for r in found)
        return replace(found[0], claimants=claimants, limit_reached=len(matches) >= limit)


def register(repository: Repository, manifest_store: bytes, verifier: Verifier | None = None) -> Entry:
    """Validate a freshly signed manifest store and keep it in the repository; its entry."""
    entry = entry_for(manifest_store, verifier or Verifier())
    try:
        repository.add(entry)
    except RepositoryError as e:
        raise RepositoryError(f"the clip was signed, but registering its manifest failed: {e.message}") from e
    return entry


def recover_all(verdicts: list[Verdict], verifier: Verifier, *, store: str | None = None,
                resolver: str | None = None) -> list[Verdict]:
    """Recovery for each verdict that needs it, against a resolver URL or a repository (default: local).

    Nothing is opened, and no fingerprint computed, unless some verdict needs recovery.
    """
    if not any(needs_recovery(v) for v in verdicts):
        return verdicts
    recoverer = open_recoverer(verifier, store=store, resolver=resolver)
    try:
        return [recoverer.recover(v) for v in verdicts]
    finally:
        recoverer.close()


def open_recoverer(verifier: Verifier, *, store: str | None = None, resolver: str | None = None) -> Recoverer:
    """A Recoverer on a resolver URL or a repository (default: local); with no repository yet, one that only
    searches for watermarks (creating a repository just to find it empty would leave a file behind)."""
    if resolver:
        from provenance.durability.resolver import Resolver

        return Recoverer(Resolver(resolver), verifier)
    return Recoverer(open_repository(store, create=False), verifier)
