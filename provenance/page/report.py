"""What the verify page shows for one verdict: the plain-words answer, the ingredient tree, the pictures.

Every sentence comes from provenance.explain (the terminal says the same); the page lays them out as text.
"""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path
from typing import Any

from provenance import explain
from provenance import media as media_mod
from provenance._formats import jumbf
from provenance._internal import children
from provenance.codes import explain as explain_code
from provenance.verdict import Outcome, Recovered, Verdict
from provenance.verify import _ingredients as ingredients_of  # the verdict's own rule for an ingredient's outcome

log = logging.getLogger(__name__)

POSTER_WIDTH = 480  # pixels: the poster frame is shown at most this wide
MAX_THUMBNAIL_BYTES = 1 << 20  # a c2pa thumbnail larger than this is not sent to the page
MAX_TREE_DEPTH = 8  # parents of parents shown at most this deep (a manifest may be made to nest without end)
FFMPEG_TIMEOUT = 60  # seconds for one poster frame
# An ingredient's C2PA relationship to the clip above it, in words.
RELATIONS = {"parentOf": "the clip it was edited from", "componentOf": "a part of it", "inputTo": "an input to it"}


def page_report(v: Verdict, media: Path | None) -> dict[str, Any]:
    """The page's answer for a verdict: the `verify --format json` object, its plain words and its pictures.

    `media`: the file verified, to read the manifest's thumbnails and a poster frame from (None: no pictures)."""
    store = _manifest_store(media, v) if media is not None else None
    reading = _read_store(store) if store is not None else None
    manifests: dict[str, Any] = reading[0].get("manifests", {}) if reading else {}
    thumbnails = reading[1] if reading else {}
    return {
        "verdict": v.to_dict(),
        "explained": explained(v, manifests, thumbnails),
        "poster": poster_frame(media) if media is not None and v.verdict is not Outcome.ERROR else None,
    }


def explained(v: Verdict, manifests: dict[str, Any] | None = None,
              thumbnails: dict[str, str] | None = None) -> dict[str, Any]:
    """The verdict in the page's plain words; `manifests` (c2pa's report of the file's store) adds the
    ingredients' own parents, `thumbnails` (manifest label → data URL) their pictures."""
    manifests, thumbnails = manifests or {}, thumbnails or {}
    problems = [f"{code}: {explain_code(code)}" for code in v.failure_codes]
    notes = [explain_code(c) for c in sorted(explain.NOTEWORTHY & set(v.informational_codes))]
    return {
        "badge": explain.BADGES[v.verdict],
        "outcome": v.verdict.value,
        "sentence": explain.summary(v),
        # Unsigned, unreadable and broken files: the sentence already says it.
        "meaning": explain.meaning(v) if v.manifest_label and v.own is not Outcome.INVALID else None,
        "caution": explain.CAUTION if v.manifest_label and v.own is Outcome.INVALID else None,
        "ai": explain.ai_line(v) if v.manifest_label else None,
        "signer": _signer(v),
        "timestamp": _timestamp(v),
        "problems": [*problems, *(f"not trusted: {r}" for r in v.trust_failures)],
        "notes": [*notes, *v.trust_notes],
        "warning": explain.untrusted_warning(v) if v.verdict is Outcome.VALID and not v.trust_anchors_given else None,
        "ingredient_problems": v.ingredient_problems(),
        "ingredients": [_ingredient(i.title, i.relationship, i.verdict, i.failure_codes, i.manifest_label,
                                    manifests, thumbnails, v.trust_anchors_given, 1,
                                    _ingredient_key(v.manifest_label, n))
                        for n, i in enumerate(v.ingredients)],
        "recovered": _recovered(v, v.recovered) if v.recovered is not None else None,
        "manifest_thumbnail": thumbnails.get(v.manifest_label or ""),
        "trust_list": _list_name(v),
    }


def _signer(v: Verdict) -> dict[str, Any] | None:
    if v.signer is None:
        return None
    chain = [_subject_of(pem) for pem in v.signer.chain_pem] or [v.signer.subject]
    vouched = None
    if v.own is Outcome.INVALID:
        vouched = "nobody: trust is not judged for credentials that failed validation"
    elif v.trust_entity is not None:
        vouched = f"{v.trust_entity.name}, on the {v.trust_entity.list}"
    elif v.own is Outcome.TRUSTED and v.trust_list is not None:
        vouched = (f"the trust anchors in {Path(v.trust_list.name).name}" if v.trust_list.source == "file"
                   else v.trust_list.name)
    return {"name": explain.signer_name(v), "subject": v.signer.subject, "issuer": v.signer.issuer,
            "sha256": v.signer.sha256, "not_before": v.signer.not_before, "not_after": v.signer.not_after,
            "chain": chain, "vouched_by": vouched, "claim_generator": v.claim_generator,
            "manifest_source": v.manifest_source}


def _list_name(v: Verdict) -> str | None:
    """What the signer was judged against: the anchors given (by file name), or the official lists."""
    if v.trust_list is None:
        return None
    if v.trust_list.source == "file":
        return f"the trust anchors in {Path(v.trust_list.name).name}"
    return explain.lists_text(v)


def _subject_of(pem: str) -> str:
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string()


def _timestamp(v: Verdict) -> dict[str, Any] | None:
    if v.timestamp is None:
        return None
    trusted = {True: "trusted", False: "not trusted", None: "not checked"}[v.timestamp.trusted]
    return {"time": v.timestamp.time, "tsa": v.timestamp.tsa, "trusted": v.timestamp.trusted, "trust": trusted}


def _ingredient_key(manifest_label: str | None, index: int) -> str:
    """Where the thumbnail of a manifest's `index`-th ingredient is kept in a report's thumbnails."""
    return f"{manifest_label}#ingredient{index}"


def _ingredient(title: str | None, relationship: str | None, outcome: Outcome, failure_codes: tuple[str, ...],
                label: str | None, manifests: dict[str, Any], thumbnails: dict[str, str], anchors_given: bool,
                depth: int, key: str) -> dict[str, Any]:
    """One ingredient with its own verdict, and its own ingredients (from its manifest in the store) below it."""
    from provenance.verdict import Ingredient

    ingredient = Ingredient(title, relationship, outcome, failure_codes, label)
    parents: list[dict[str, Any]] = []
    manifest = manifests.get(label or "")
    if isinstance(manifest, dict) and depth < MAX_TREE_DEPTH:
        for n, p in enumerate(ingredients_of(manifest, {}, anchors_given)):
            parents.append(_ingredient(p.title, p.relationship, p.verdict, p.failure_codes, p.manifest_label,
                                       manifests, thumbnails, anchors_given, depth + 1, _ingredient_key(label, n)))
    return {"title": title or "(untitled)", "relationship": relationship,
            "relation": RELATIONS.get(relationship or "", relationship), "verdict": outcome.value,
            "badge": explain.BADGES[outcome], "problem": ingredient.problem,
            "codes": [f"{c}: {explain_code(c)}" for c in failure_codes],
            # The thumbnail the ingredient entry carries, else its own manifest's.
            "thumbnail": thumbnails.get(key) or thumbnails.get(label or ""), "ingredients": parents}


def _recovered(v: Verdict, r: Recovered) -> dict[str, Any]:
    claim, own = explain.recovered_claim(v, r)
    aligned = None
    if r.aligned is not None:
        aligned = {"start_ms": r.aligned.start_ms, "end_ms": r.aligned.end_ms, "span": r.aligned.span,
                   "segments": r.aligned.segments, "in_place": r.aligned.in_place}
    return {"cause": explain.recovered_cause(v, r), "claim": claim, "ai": explain.ai_claim(r.ai_generated),
            "generator": r.generator.name if r.generator else None,
            "signer": r.signer.subject if r.signer else None, "verdict": r.verdict.value,
            "badge": explain.BADGES[r.verdict], "verdict_name": own, "statement": r.statement, "match": r.match,
            "aligned": aligned, "distance": r.distance, "manifest_id": r.manifest_id, "source": r.source,
            "claimants": len(r.claimants)}


def _manifest_store(media: Path, v: Verdict) -> bytes | None:
    """The raw manifest store the verdict came from (embedded, or the sidecar beside the file), if any."""
    if v.manifest_label is None:
        return None
    try:
        if v.manifest_source == "sidecar":
            return jumbf.read_sidecar(media_mod.sidecar_path(media))
        kind = media_mod.detect(media)
        with open(media, "rb") as stream:
            return jumbf.scan(stream, media.stat().st_size, kind).store
    except Exception:  # the verdict stands without pictures
        log.debug("%s: manifest store not read for thumbnails", media, exc_info=True)
        return None


def _read_store(store: bytes) -> tuple[dict[str, Any], dict[str, str]] | None:
    """c2pa's report of a manifest store on its own, and each manifest's thumbnail as a data URL."""
    import json

    import c2pa

    try:
        with c2pa.Reader(media_mod.MANIFEST_STORE.mime, io.BytesIO(store)) as reader:
            report: dict[str, Any] = json.loads(reader.json())
            thumbnails: dict[str, str] = {}
            for label, manifest in report.get("manifests", {}).items():
                if not isinstance(manifest, dict):
                    continue
                refs = {label: manifest.get("thumbnail")}
                for n, ingredient in enumerate(manifest.get("ingredients") or []):
                    if isinstance(ingredient, dict):
                        refs[_ingredient_key(label, n)] = ingredient.get("thumbnail")
                for key, ref in refs.items():
                    if isinstance(ref, dict) and isinstance(ref.get("identifier"), str):
                        picture = _data_url(reader, ref)
                        if picture:
                            thumbnails[key] = picture
            return report, thumbnails
    except Exception:  # c2pa may refuse what it read before; the verdict stands without pictures
        log.debug("manifest store not read for thumbnails", exc_info=True)
        return None


def _data_url(reader: Any, ref: dict[str, Any]) -> str | None:
    kind = str(ref.get("format", ""))
    if kind not in ("image/jpeg", "image/png", "image/webp", "image/gif"):
        return None  # only pictures a browser shows without scripts (never SVG)
    out = io.BytesIO()
    reader.resource_to_stream(ref["identifier"], out)
    data = out.getvalue()
    if not data or len(data) > MAX_THUMBNAIL_BYTES:
        return None
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def poster_frame(media: Path) -> str | None:
    """A representative frame of the clip as a JPEG data URL, made with the bundled ffmpeg; None without video."""
    from imageio_ffmpeg import get_ffmpeg_exe

    cmd = [get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(media), "-an",
           "-vf", f"thumbnail=15,scale='min({POSTER_WIDTH},iw)':-2", "-frames:v", "1",
           "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "4", "pipe:1"]
    try:
        done = children.run(cmd, capture_output=True, timeout=FFMPEG_TIMEOUT)
    except Exception:
        log.debug("%s: no poster frame", media, exc_info=True)
        return None
    if done.returncode != 0 or not done.stdout:
        return None
    return f"data:image/jpeg;base64,{base64.b64encode(done.stdout).decode()}"
