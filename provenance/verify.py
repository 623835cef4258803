"""Verify one file: c2pa's reader → a `Verdict`.

The verdict is c2pa's own overall `validation_state`; this module only gathers
what a person needs next to it (AI disclosure, signer, codes, ingredients).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from provenance import codes, limits
from provenance import media as media_mod
from provenance._fast import verify as fastverify
from provenance._formats import jumbf
from provenance.errors import LimitExceeded, MediaError, c2pa_reason
from provenance.trust.anchors import TrustAnchors
from provenance.trust.lists import TrustLists
from provenance.trust.policy import TrustPolicy
from provenance.verdict import (
    Generator,
    Ingredient,
    Outcome,
    Signer,
    Timestamp,
    Verdict,
    is_ai_source_type,
)

_STATE = {"Trusted": Outcome.TRUSTED, "Valid": Outcome.VALID, "Invalid": Outcome.INVALID}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ManifestReport:
    """What c2pa's reader said about a file, before it is turned into a verdict."""

    report: dict[str, Any]
    state: str | None
    store: bytes | None  # raw manifest store, for the signer's certificate
    source: str  # "embedded" or "sidecar"
    # Codes provenance adds about the file itself (e.g. an ignored sidecar), shown as informational.
    notes: tuple[str, ...] = ()
    crjson: str | None = None  # c2pa's crJSON of the same reading, when it was asked for


class Verifier:
    """Verifies files against one trust configuration; reusable across files."""

    def __init__(self, anchors: TrustAnchors | None = None, *, tsa_anchors: TrustAnchors | None = None,
                 allowed_signers: Iterable[str] = (), lists: TrustLists | None = None,
                 fast_path_min_bytes: int | None = None) -> None:
        """Trust `anchors` (signers), `tsa_anchors` (time-stamping authorities) and only `allowed_signers`;
        or, with no anchors, the official `lists` (provenance.trust.lists.lists_for).

        `fast_path_min_bytes`: BMFF files from this size on may take provenance._fast.verify
        (default fastverify.min_bytes(); 0 for every file, -1 for none)."""
        self.anchors = anchors
        self.policy = TrustPolicy(anchors, tsa_anchors, frozenset(allowed_signers), lists)
        self._context: Any = None
        self.fast_path_min_bytes = fastverify.min_bytes() if fast_path_min_bytes is None else fast_path_min_bytes

    def _c2pa_context(self) -> Any:
        if self._context is None:
            import c2pa

            self._context = c2pa.Context.from_dict(self.policy.c2pa_settings())
        return self._context

    def read_store(self, store: bytes, source: str) -> ManifestReport:
        """c2pa's report on a stand-alone manifest store (e.g. one recovered from a repository).

        No asset comes with it, so c2pa reports its hard binding as mismatched; the caller decides
        what that means (see provenance.durability.recovery).
        """
        import io

        import c2pa

        if len(store) > limits.MAX_MANIFEST_STORE_BYTES:
            raise LimitExceeded(f"the manifest store is {len(store):,} bytes, over the limit of "
                                f"{limits.MAX_MANIFEST_STORE_BYTES:,}")
        reader = c2pa.Reader(media_mod.MANIFEST_STORE.mime, io.BytesIO(store), context=self._c2pa_context())
        return self._report(reader, store, source)

    def read(self, path: Path, kind: media_mod.MediaType, *, crjson: bool = False) -> ManifestReport | None:
        """c2pa's report for a file (embedded or sidecar manifest), or None if it has none.

        An embedded manifest wins over a sidecar beside the file: whoever can drop a file in the
        folder must not be able to replace the credentials the file carries. With `crjson`, c2pa's
        full Reader reads the file (never the fast path) and its crJSON is kept in the report."""
        if kind.container == "jumbf":
            raise MediaError(f"{path}: is a detached manifest store; verify the media file beside it")
        sidecar = media_mod.sidecar_path(path)
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            found = jumbf.scan(stream, size, kind)
            has_sidecar = sidecar.is_file()
            if found.stores == 0 and found.complete and has_sidecar:
                return self._read_with_sidecar(stream, kind, sidecar, crjson=crjson)
            notes = (codes.SIDECAR_IGNORED,) if has_sidecar else ()
            if not kind.embeddable and found.store is None:
                return None
            too_many = found.units > limits.MAX_BOXES_FOR_C2PA
            if too_many and crjson:
                raise LimitExceeded(f"the file has more than {limits.MAX_BOXES_FOR_C2PA:,} boxes, too many for "
                                    f"c2pa's full Reader, which crJSON needs")
            if too_many or (not crjson and 0 <= self.fast_path_min_bytes <= size):
                try:
                    fast = fastverify.read(stream.fileno(), kind.mime, found.store, self._c2pa_context)
                    log.debug("%s: verified on the fast path (c2pa validated the manifest, provenance hashed "
                              "the file)", path)
                    return ManifestReport(fast.report, fast.state, found.store, "embedded", notes)
                except fastverify.HashMismatch as e:
                    if too_many:
                        return ManifestReport(e.report.report, e.report.state, found.store, "embedded", notes)
                    log.info("%s: verified by c2pa's Reader alone (%s)", path, e)
                except fastverify.Unavailable as e:
                    if too_many:
                        raise LimitExceeded(f"the file has more than {limits.MAX_BOXES_FOR_C2PA:,} boxes, too many "
                                            f"for c2pa's full check, and provenance's own check does not apply "
                                            f"({e})") from e
                    log.info("%s: verified by c2pa's Reader alone (%s)", path, e)
            else:
                why = ("crJSON asked for" if crjson else "fast path off" if self.fast_path_min_bytes < 0
                       else f"{size} bytes; fast path from {self.fast_path_min_bytes}")
                log.debug("%s: verified by c2pa's Reader alone (%s)", path, why)
            import c2pa  # only here: the fast path loads it while hashing

            stream.seek(0)
            reader = c2pa.Reader.try_create(kind.mime, stream, context=self._c2pa_context())
            if reader is None:  # where provenance cannot see embedded stores, only now is the sidecar's turn
                return self._read_with_sidecar(stream, kind, sidecar, crjson=crjson) if has_sidecar else None
            if found.stores > 1:  # c2pa refuses this for BMFF; where it does not, nothing is believed
                reader.close()
                return self._two_stores(path, found.stores)
            return self._report(reader, found.store, "embedded", notes, crjson=crjson)

    def _read_with_sidecar(self, stream: BinaryIO, kind: media_mod.MediaType, sidecar: Path, *,
                           crjson: bool = False) -> ManifestReport:
        import c2pa

        detached = jumbf.read_sidecar(sidecar)
        stream.seek(0)
        reader = c2pa.Reader(kind.mime, stream, detached, context=self._c2pa_context())
        return self._report(reader, detached, "sidecar", crjson=crjson)

    @staticmethod
    def _two_stores(path: Path, count: int) -> ManifestReport:
        """A file with several embedded stores: readers may each pick another, so none is believed."""
        failure = {"code": codes.SEVERAL_STORES,
                   "explanation": f"{path} embeds {count} C2PA manifest stores"}
        return ManifestReport({"validation_status": [failure]}, "Invalid", None, "embedded")

    @staticmethod
    def _report(reader: Any, store: bytes | None, source: str, notes: tuple[str, ...] = (), *,
                crjson: bool = False) -> ManifestReport:
        with reader:
            return ManifestReport(json.loads(reader.json()), reader.get_validation_state(), store, source, notes,
                                  reader.crjson() if crjson else None)

    def verify(self, path: str | os.PathLike[str]) -> Verdict:
        """The verdict on one file; never raises for a bad file: problems become an `error` verdict (a bug in
        here too)."""
        return self._verify_safely(Path(path), crjson=False)[0]

    def verify_with_crjson(self, path: str | os.PathLike[str]) -> tuple[Verdict, str | None]:
        """The verdict on one file, and c2pa's crJSON of the same reading, by c2pa's full Reader with this
        verifier's trust settings: "{}" for a file without credentials (as c2pa gives it), None where c2pa
        gives none (an unreadable file) or none is believed (several manifest stores). Never raises."""
        return self._verify_safely(Path(path), crjson=True)

    def _verify_safely(self, p: Path, *, crjson: bool) -> tuple[Verdict, str | None]:
        try:
            return self._verify(p, crjson=crjson)
        except Exception as e:  # a bug must cost this file its verdict, never the run its output
            log.debug("%s: internal error", p, exc_info=True)
            return Verdict(str(p), Outcome.ERROR, trust_anchors_given=self.anchors is not None,
                           error=f"{p}: internal error: {type(e).__name__}: {e}; please report it"), None

    def _verify(self, p: Path, *, crjson: bool) -> tuple[Verdict, str | None]:
        given = self.anchors is not None
        try:
            kind = media_mod.detect(p)
            report = self.read(p, kind, crjson=crjson)
        except LimitExceeded as e:
            error = f"{p}: refused: {e.message}"
        except MediaError as e:
            error = e.message
        except OSError as e:
            error = f"{p}: {e.strerror or e}"
        except Exception as e:
            import c2pa  # not at the top: a large file's fast path loads it while hashing

            if not isinstance(e, c2pa.C2paError):
                raise
            error = f"{p}: cannot be read as media: {c2pa_reason(e)}"
        else:
            if report is None:
                return Verdict(str(p), Outcome.UNSIGNED, trust_anchors_given=given), "{}" if crjson else None
            return self.verdict_of(str(p), report), report.crjson
        return Verdict(str(p), Outcome.ERROR, error=error, trust_anchors_given=given), None

    def verdict_of(self, path: str, report: ManifestReport) -> Verdict:
        """The verdict on c2pa's report: c2pa's own, then this verifier's trust policy on top, then the ingredients."""
        verdict = verdict_from_report(path, report, anchors_given=self.anchors is not None)
        verdict = self.policy.apply(verdict, success_codes=codes.active_manifest_codes(report.report, "success"),
                                    store=report.store)
        return _with_ingredients(verdict)


def _with_ingredients(verdict: Verdict) -> Verdict:
    """`verdict` (the file's own) with its ingredients counted: a broken ingredient makes the file `invalid`,
    an untrusted one takes `trusted` down to `valid`, so that nothing hides behind an intact active manifest."""
    outcome = verdict.verdict
    if outcome in (Outcome.TRUSTED, Outcome.VALID) and any(i.verdict is Outcome.INVALID for i in verdict.ingredients):
        outcome = Outcome.INVALID
    elif outcome is Outcome.TRUSTED and any(codes.UNTRUSTED in i.failure_codes for i in verdict.ingredients):
        outcome = Outcome.VALID
    return verdict if outcome is verdict.verdict else replace(verdict, verdict=outcome, own_verdict=verdict.verdict)


def _same_entry(entry: dict[str, Any], entries: list[dict[str, Any]]) -> bool:
    return any((entry.get("code"), entry.get("url")) == (e.get("code"), e.get("url")) for e in entries)


def _unique_sorted(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(values)))


def _actions(manifest: dict[str, Any]) -> Iterator[Any]:
    for assertion in manifest.get("assertions", []):
        if isinstance(assertion, dict) and str(assertion.get("label", "")).startswith("c2pa.actions"):
            data = assertion.get("data")
            actions = data.get("actions") if isinstance(data, dict) else None
            yield from actions if isinstance(actions, list) else []


def _disclosure(manifest: dict[str, Any]) -> tuple[str | None, Generator | None]:
    """The digital source type and generator the manifest declares.

    An action declaring an AI source type wins; otherwise the first action that
    names any source type (e.g. a camera's digitalCapture).
    """
    declaring = [a for a in _actions(manifest) if isinstance(a, dict) and isinstance(a.get("digitalSourceType"), str)]
    chosen = next((a for a in declaring if is_ai_source_type(a["digitalSourceType"])), None)
    chosen = chosen or (declaring[0] if declaring else None)
    if chosen is None:
        return None, None
    agent = chosen.get("softwareAgent")
    generator = None
    if isinstance(agent, dict) and agent.get("name"):
        generator = Generator(str(agent["name"]), agent.get("version"))
    elif isinstance(agent, str):
        generator = Generator(agent)
    return chosen["digitalSourceType"], generator


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info:
        first = info[0]
        return f"{first.get('name')}/{first['version']}" if first.get("version") else first.get("name")
    generator = manifest.get("claim_generator")
    return str(generator) if generator else None


def signer_from_store(store: bytes | None, label: str | None, manifest: dict[str, Any]) -> Signer | None:
    """The signer's real certificate from the COSE x5chain; c2pa's summary as a fallback.

    Raises UnreadableSigner when the manifest carries a certificate that cannot be read: c2pa
    accepted bytes that provenance cannot describe, so nothing may be said about who signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    sig = jumbf.signature_of(store, label) if store else None
    chain = jumbf.x5chain(sig) if sig else []
    if chain:
        try:
            certs = [x509.load_der_x509_certificate(der) for der in chain]
            leaf = certs[0]
            # cryptography parses names and dates lazily: a malformed one raises here, not on load.
            return Signer(
                subject=leaf.subject.rfc4514_string(),
                issuer=leaf.issuer.rfc4514_string(),
                sha256=leaf.fingerprint(hashes.SHA256()).hex(),
                not_before=leaf.not_valid_before_utc.isoformat(),
                not_after=leaf.not_valid_after_utc.isoformat(),
                chain_pem=tuple(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs),
                serial=str(leaf.serial_number),
            )
        except (ValueError, x509.InvalidVersion) as e:  # InvalidVersion is no ValueError
            raise UnreadableSigner(f"the signer's certificate cannot be read ({e})") from e
    info = manifest.get("signature_info") or {}
    if info.get("common_name") or info.get("issuer"):
        return Signer(subject=f"CN={info.get('common_name', '?')}", issuer=f"O={info.get('issuer', '?')}", sha256="")
    return None


class UnreadableSigner(ValueError):
    """The certificate in a manifest cannot be parsed by provenance."""


def _identity(report: ManifestReport, label: str | None, manifest: dict[str, Any]) -> tuple[Signer | None, str | None]:
    """The signer of the manifest c2pa validated, and why its identity is in doubt (None when it is not)."""
    store = report.store
    if store is not None and label is not None:
        problem = jumbf.identity_problem(store, label, report.report.get("manifests", {}).keys())
        if problem is not None:
            return None, problem
    try:
        signer = signer_from_store(store, label, manifest)
    except UnreadableSigner as e:
        return None, str(e)
    serial = (manifest.get("signature_info") or {}).get("cert_serial_number")
    if signer is not None and signer.serial and serial and str(serial) != signer.serial:
        return None, "the certificate c2pa validated is not the one in the manifest's signature"
    return signer, None


def _timestamp(manifest: dict[str, Any], store: bytes | None, label: str | None) -> Timestamp | None:
    """Time and authority from the RFC 3161 token; whether it is trusted is TrustPolicy's call."""
    from provenance.trust.timestamp import token_of

    token = token_of(store, label)
    if token is not None:
        return Timestamp(token.gen_time.isoformat(), token.tsa_name)
    time = (manifest.get("signature_info") or {}).get("time")
    return Timestamp(time) if time else None


def _ingredient_failures(ingredient: dict[str, Any], deltas: dict[str, dict[str, Any]]) -> list[str]:
    """Failures recorded in the ingredient at signing time, corrected by c2pa's live re-check."""
    recorded = ingredient.get("validation_results", {}).get("activeManifest", {})
    failures = codes.codes_of(recorded.get("failure", [])) + codes.codes_of(ingredient.get("validation_status", []))
    delta = deltas.get(ingredient.get("label", ""), {})
    fixed = set(codes.codes_of(delta.get("success", [])))
    if codes.TRUSTED in fixed:
        failures = [c for c in failures if c != codes.UNTRUSTED]
    return failures + codes.codes_of(delta.get("failure", []))


def _ingredient_deltas(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Map each ingredient assertion label (e.g. c2pa.ingredient.v3) to its validation delta."""
    out: dict[str, dict[str, Any]] = {}
    for entry in results.get("ingredientDeltas", []):
        uri = entry.get("ingredientAssertionURI", "")
        out[uri.rsplit("/", 1)[-1]] = entry.get("validationDeltas", {})
    return out


def _ingredients(manifest: dict[str, Any], results: dict[str, Any], anchors_given: bool) -> tuple[Ingredient, ...]:
    deltas = _ingredient_deltas(results)
    out = []
    for ing in manifest.get("ingredients", []):
        failures = _unique_sorted(_ingredient_failures(ing, deltas))
        if not ing.get("active_manifest"):
            outcome = Outcome.UNSIGNED
        elif set(failures) - {codes.UNTRUSTED}:
            outcome = Outcome.INVALID
        elif codes.UNTRUSTED in failures or not anchors_given:
            outcome = Outcome.VALID
        else:
            outcome = Outcome.TRUSTED
        out.append(Ingredient(ing.get("title"), ing.get("relationship"), outcome, failures, ing.get("active_manifest")))
    return tuple(out)


def verdict_from_report(path: str, report: ManifestReport, *, anchors_given: bool) -> Verdict:
    """c2pa's own verdict on a report's active manifest, with what a person needs next to it and its
    ingredients' own verdicts; neither the trust policy nor the ingredients counted yet (`Verifier.verdict_of`)."""
    data = report.report
    label = data.get("active_manifest")
    manifest = data.get("manifests", {}).get(label, {}) if label else {}
    results = data.get("validation_results", {})
    # c2pa lists its live re-check of ingredients in validation_status and counts it in its state; they are
    # the ingredients' codes, kept apart (`_with_ingredients` counts them again, failing closed).
    theirs = [e for d in _ingredient_deltas(results).values() for e in d.get("failure", []) if isinstance(e, dict)]
    own, state = (codes.without_failures(data, lambda e: isinstance(e, dict) and _same_entry(e, theirs))
                  if theirs else (data, report.state))
    failures = _unique_sorted(codes.codes_of(own.get("validation_status", [])))
    ingredients = _ingredients(manifest, results, anchors_given)
    outcome = _STATE.get(state or "", Outcome.INVALID)
    signer, doubt = _identity(report, label, manifest) if label else (None, None)
    if doubt is not None:
        # Nothing the manifest says can be attributed to anyone: keep only why.
        return Verdict(path=path, verdict=Outcome.INVALID, failure_codes=_unique_sorted([*failures, codes.IDENTITY]),
                       manifest_label=label, manifest_source=report.source, trust_anchors_given=anchors_given,
                       trust_failures=(doubt,))
    source_type, generator = _disclosure(manifest)
    informational = _unique_sorted([*codes.active_manifest_codes(data, "informational"), *report.notes])
    return Verdict(
        path=path,
        verdict=outcome,
        ai_generated=is_ai_source_type(source_type),
        digital_source_type=source_type,
        generator=generator,
        claim_generator=_claim_generator(manifest),
        title=manifest.get("title"),
        signer=signer,
        timestamp=_timestamp(manifest, report.store, label),
        failure_codes=failures,
        informational_codes=informational,
        ingredients=ingredients,
        manifest_label=label,
        manifest_source=report.source,
        trust_anchors_given=anchors_given,
    )
