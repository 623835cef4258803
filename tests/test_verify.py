"""Verification: conformance with other implementations, and what a verdict reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from provenance import codes, signing
from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.manifest import Disclosure
from provenance.media import detect
from provenance.trust.anchors import load_anchors
from provenance.verdict import TRAINED_ALGORITHMIC_MEDIA, Outcome
from provenance.verify import Verifier
from tests.support.clips import CORPUS, make_clip, sign_file
from tests.support.formats import MIME, altered, builder_sign, make_media

_EXPECTED = CORPUS / "expected.json"
EXPECTED_MEDIA = sorted(json.loads(_EXPECTED.read_text())) if _EXPECTED.is_file() else []


@pytest.mark.parametrize("with_anchors", [False, True], ids=["no-anchors", "test-anchors"])
@pytest.mark.parametrize("name", EXPECTED_MEDIA or ["(corpus absent)"])
def test_corpus_conformance(corpus: Path, name: str, with_anchors: bool) -> None:
    expected = json.loads((corpus / "expected.json").read_text())[name]
    anchors = load_anchors(corpus / "certs/test_cert_root_bundle.pem") if with_anchors else None
    verdict = Verifier(anchors).verify(corpus / name)
    suffix = "_with_test_anchors" if with_anchors else ""
    key = "verdict_with_test_anchors" if with_anchors else "verdict"
    assert verdict.verdict.value == expected[key]
    # The corpus lists every code a file's verdict rests on; the verdict keeps its ingredients' apart.
    reported = {*verdict.failure_codes, *(c for i in verdict.ingredients for c in i.failure_codes)}
    assert sorted(reported) == sorted(expected["failure_codes" + suffix])


@pytest.mark.parametrize("alg", ["es256", "ps256", "ed25519"])
def test_third_party_test_certificates_verify_trusted(corpus: Path, clip: Path, tmp_path: Path, alg: str) -> None:
    creds = signers.from_pem_files(corpus / f"certs/{alg}.pub", corpus / f"certs/{alg}.pem")
    assert creds.alg == alg
    out = tmp_path / f"{alg}.mp4"
    signing.sign(clip, out, creds, Disclosure(generator="Sora"))
    verdict = Verifier(load_anchors(corpus / "certs/test_cert_root_bundle.pem")).verify(out)
    assert verdict.verdict is Outcome.TRUSTED
    assert verdict.failure_codes == ()
    leaf = x509.load_pem_x509_certificates((corpus / f"certs/{alg}.pub").read_bytes())[0]
    assert verdict.signer is not None
    assert verdict.signer.sha256 == leaf.fingerprint(hashes.SHA256()).hex()


def test_verdict_reports_ai_disclosure_and_signer(signed_clip: Path, pki: DevPki) -> None:
    v = Verifier(load_anchors(pki.root_ca)).verify(signed_clip)
    assert v.verdict is Outcome.TRUSTED
    assert v.ai_generated is True
    assert v.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert v.generator is not None and (v.generator.name, v.generator.version) == ("Sora", "2")
    assert v.claim_generator is not None and v.claim_generator.startswith("provenance/")
    leaf = x509.load_pem_x509_certificates(pki.signer_chain.read_bytes())[0]
    assert v.signer is not None
    assert v.signer.subject == leaf.subject.rfc4514_string()
    assert v.signer.issuer == leaf.issuer.rfc4514_string()  # the CA, not the signer's organisation
    assert v.signer.sha256 == leaf.fingerprint(hashes.SHA256()).hex()
    assert v.manifest_source == "embedded"


def test_without_anchors_valid_passes_with_untrusted_code(signed_clip: Path) -> None:
    v = Verifier().verify(signed_clip)
    assert v.verdict is Outcome.VALID
    assert v.failure_codes == ("signingCredential.untrusted",)
    assert v.passed


def test_untrusted_signer_fails_when_anchors_given(signed_clip: Path, other_pki: DevPki) -> None:
    v = Verifier(load_anchors(other_pki.root_ca)).verify(signed_clip)
    assert v.verdict is Outcome.VALID
    assert not v.passed


def test_unsigned_clip(clip: Path) -> None:
    v = Verifier().verify(clip)
    assert v.verdict is Outcome.UNSIGNED
    assert v.signer is None and v.failure_codes == ()


@pytest.mark.parametrize("fixture, c2pa_state, codes", [
    ("remix_of_broken_parent", "Trusted", ("claimSignature.mismatch",)),
    ("remix_with_broken_ingredient", "Invalid", ("claimSignature.mismatch", "ingredient.manifest.mismatch")),
], ids=["recorded-when-signed", "found-now"])
def test_a_broken_ingredient_fails_apart_from_the_files_own_credentials(
        request: pytest.FixtureRequest, pki: DevPki, fixture: str, c2pa_state: str, codes: tuple[str, ...]) -> None:
    remix: Path = request.getfixturevalue(fixture)
    verifier = Verifier(load_anchors(pki.root_ca))
    report = verifier.read(remix, detect(remix))
    assert report is not None and report.state == c2pa_state  # what c2pa's own validation_state says
    v = verifier.verify(remix)
    assert (v.verdict, v.own, v.own_verdict) == (Outcome.INVALID, Outcome.TRUSTED, Outcome.TRUSTED)
    assert not v.passed  # fails closed
    assert v.failure_codes == ()  # the remix's own manifest has none
    (ingredient,) = v.ingredients
    assert (ingredient.title, ingredient.relationship, ingredient.verdict) == ("parent.mp4", "parentOf",
                                                                               Outcome.INVALID)
    assert ingredient.failure_codes == codes
    assert v.ingredient_problems() is not None
    assert v.ingredient_problems().startswith(  # type: ignore[union-attr]
        "this clip's own credentials are intact and its signer is trusted; its ingredient 'parent.mp4' has a "
        "broken signature")
    data = v.to_dict()
    assert (data["verdict"], data["own_verdict"], data["failure_codes"]) == ("invalid", "trusted", [])
    assert data["ingredients"][0]["failure_codes"] == list(codes)
    assert data["ingredients"][0]["problem"].startswith("has a broken signature")


def test_remix_records_parent_and_composite_disclosure(tmp_path: Path, signed_clip: Path, clip: Path,
                                                      pki: DevPki) -> None:
    child = tmp_path / "remix.mp4"
    sign_file(clip, child, pki, generator="Sora", parent=signed_clip)
    v = Verifier(load_anchors(pki.root_ca)).verify(child)
    assert v.verdict is Outcome.TRUSTED
    assert v.ai_generated is True
    assert v.digital_source_type.endswith("/compositeWithTrainedAlgorithmicMedia")  # type: ignore[union-attr]
    (ingredient,) = v.ingredients
    assert (ingredient.title, ingredient.relationship, ingredient.verdict) == ("signed.mp4", "parentOf",
                                                                               Outcome.TRUSTED)


@pytest.fixture(scope="module")
def sidecar_parent(tmp_path_factory: pytest.TempPathFactory, pki: DevPki) -> Path:
    """A WebM signed with a detached manifest (parent.webm + parent.webm.c2pa)."""
    folder = tmp_path_factory.mktemp("sidecar-parent")
    parent = folder / "parent.webm"
    sign_file(make_clip(folder / "src.webm", "webm"), parent, pki, generator="Sora")
    assert (folder / "parent.webm.c2pa").is_file()
    return parent


@pytest.mark.parametrize("container", ["mp4", "webm"])
def test_remix_of_a_parent_with_a_detached_manifest(tmp_path: Path, sidecar_parent: Path, pki: DevPki,
                                                    container: str) -> None:
    child = tmp_path / f"remix.{container}"
    sign_file(make_clip(tmp_path / f"src.{container}", container), child, pki, generator="Sora",
              parent=sidecar_parent, edit_source="trained")
    v = Verifier(load_anchors(pki.root_ca)).verify(child)
    assert v.verdict is Outcome.TRUSTED, v.failure_codes
    (ingredient,) = v.ingredients
    assert (ingredient.title, ingredient.relationship, ingredient.verdict) == ("parent.webm", "parentOf",
                                                                               Outcome.TRUSTED)
    assert ingredient.manifest_label is not None


def test_remix_of_an_altered_parent_with_a_detached_manifest_is_invalid(tmp_path: Path, sidecar_parent: Path,
                                                                        clip: Path, pki: DevPki) -> None:
    parent = tmp_path / "parent.webm"
    data = bytearray(sidecar_parent.read_bytes())
    data[len(data) // 2] ^= 0xFF
    parent.write_bytes(bytes(data))
    (tmp_path / "parent.webm.c2pa").write_bytes(sidecar_parent.with_name("parent.webm.c2pa").read_bytes())
    child = tmp_path / "remix.mp4"
    sign_file(clip, child, pki, generator="Sora", parent=parent)
    v = Verifier(load_anchors(pki.root_ca)).verify(child)
    assert v.verdict is Outcome.INVALID
    (ingredient,) = v.ingredients
    assert ingredient.verdict is Outcome.INVALID
    assert any("mismatch" in code for code in ingredient.failure_codes), ingredient.failure_codes


def test_error_verdicts_never_raise(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    verifier = Verifier()
    for path in (tmp_path / "missing.mp4", tmp_path, text, empty):
        v = verifier.verify(path)
        assert v.verdict is Outcome.ERROR
        assert v.error and str(path) in v.error


def test_json_schema_fields(signed_clip: Path) -> None:
    data = Verifier().verify(signed_clip).to_dict()
    for key in ("path", "verdict", "ai_generated", "digital_source_type", "generator", "claim_generator", "signer",
                "timestamp", "failure_codes", "informational_codes", "ingredients", "error"):
        assert key in data
    assert set(data["signer"]) >= {"subject", "issuer", "sha256"}
    json.dumps(data)  # serialisable as is


def test_sidecar_picked_up_automatically(tmp_path: Path, pki: DevPki) -> None:
    src = make_clip(tmp_path / "src.mkv", "mkv")
    out = tmp_path / "out.mkv"
    sign_file(src, out, pki, generator="Sora")
    v = Verifier(load_anchors(pki.root_ca)).verify(out)
    assert (v.verdict, v.manifest_source) == (Outcome.TRUSTED, "sidecar")
    # Without its sidecar the copy is simply unsigned: Matroska cannot embed a manifest.
    lone = tmp_path / "lone.mkv"
    lone.write_bytes(out.read_bytes())
    assert Verifier().verify(lone).verdict is Outcome.UNSIGNED


def test_trust_covers_ingredient_signers(tmp_path: Path, clip: Path, pki: DevPki, other_pki: DevPki) -> None:
    parent, child = tmp_path / "parent.mp4", tmp_path / "child.mp4"
    sign_file(clip, parent, other_pki, generator="Camera app")
    sign_file(clip, child, pki, generator="Sora", parent=parent)
    only_child_signer = Verifier(load_anchors(pki.root_ca)).verify(child)
    assert only_child_signer.verdict is Outcome.VALID  # the parent's signer is not trusted
    assert only_child_signer.own_verdict is Outcome.TRUSTED  # the child's is
    assert only_child_signer.failure_codes == ()
    assert only_child_signer.ingredients[0].failure_codes == ("signingCredential.untrusted",)
    bundle = tmp_path / "both.pem"
    bundle.write_bytes(pki.root_ca.read_bytes() + other_pki.root_ca.read_bytes())
    both = Verifier(load_anchors(bundle)).verify(child)
    # The parent's status recorded at signing said "untrusted"; the live re-check corrects it.
    assert both.verdict is Outcome.TRUSTED, both
    assert both.ingredients[0].verdict is Outcome.TRUSTED
    assert both.failure_codes == () and both.own_verdict is None  # nothing to tell apart


# Formats whose manifest store provenance finds itself, so the signer's certificate is read from it.
STORE_READ = {"png", "jpg", "webp", "avif", "jxl", "mp3", "flac", "wav", "m4a"}


@pytest.fixture(scope="module")
def other_media(tmp_path_factory: pytest.TempPathFactory, pki: DevPki) -> dict[str, tuple[Path, Path]]:
    """Each other kind c2pa reads: (unsigned file, the same signed by c2pa's Builder)."""
    folder = tmp_path_factory.mktemp("other-media")
    made = {}
    for kind in MIME:
        plain = make_media(folder / f"plain.{kind}", kind)
        builder_sign(plain, folder / f"signed.{kind}", kind, pki)
        made[kind] = plain, folder / f"signed.{kind}"
    return made


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(MIME))
def test_every_kind_c2pa_reads_gets_its_verdict(other_media: dict[str, tuple[Path, Path]], pki: DevPki,
                                                kind: str) -> None:
    plain, signed = other_media[kind]
    verifier = Verifier(load_anchors(pki.root_ca))
    unsigned = verifier.verify(plain)
    assert (unsigned.verdict, unsigned.error) == (Outcome.UNSIGNED, None)
    v = verifier.verify(signed)
    assert v.verdict is Outcome.TRUSTED, (v.failure_codes, v.error)
    assert v.ai_generated is True and v.manifest_source == "embedded"
    leaf = x509.load_pem_x509_certificates(pki.signer_chain.read_bytes())[0]
    assert v.signer is not None
    # Where c2pa alone finds the store, the names are its summary's and there is no fingerprint to show.
    assert v.signer.sha256 == (leaf.fingerprint(hashes.SHA256()).hex() if kind in STORE_READ else "")
    changed = signed.with_name(f"altered.{kind}")
    changed.write_bytes(altered(kind, plain.read_bytes(), signed.read_bytes()))
    broken = verifier.verify(changed)
    assert broken.verdict is Outcome.INVALID
    assert set(broken.failure_codes) & codes.HARD_BINDING_MISMATCH, broken.failure_codes


def test_a_bare_jpeg_xl_codestream_is_unsigned(tmp_path: Path) -> None:
    v = Verifier().verify(make_media(tmp_path / "image.jxl", "jxl-codestream"))
    assert (v.verdict, v.error) == (Outcome.UNSIGNED, None)  # c2pa: a naked codestream cannot carry a manifest


@pytest.mark.slow
def test_where_provenance_sees_no_store_the_embedded_manifest_still_beats_a_sidecar(tmp_path: Path,
                                                                                  pki: DevPki) -> None:
    plain = make_media(tmp_path / "plain.pdf", "pdf")
    detached = tmp_path / "detached.pdf"
    (tmp_path / "detached.pdf.c2pa").write_bytes(builder_sign(plain, detached, "pdf", pki, embed=False))
    verifier = Verifier(load_anchors(pki.root_ca))
    alone = verifier.verify(detached)
    assert (alone.verdict, alone.manifest_source) == (Outcome.TRUSTED, "sidecar")
    embedded = tmp_path / "embedded.pdf"
    builder_sign(plain, embedded, "pdf", pki)
    (tmp_path / "embedded.pdf.c2pa").write_bytes((tmp_path / "detached.pdf.c2pa").read_bytes())
    both = verifier.verify(embedded)
    assert (both.verdict, both.manifest_source) == (Outcome.TRUSTED, "embedded")
    assert codes.SIDECAR_IGNORED in both.informational_codes


def test_crjson_is_c2pas_report_of_the_same_reading(signed_clip: Path, clip: Path, pki: DevPki) -> None:
    verifier = Verifier(load_anchors(pki.root_ca), fast_path_min_bytes=0)  # the fast path would take this clip
    verdict, document = verifier.verify_with_crjson(signed_clip)
    assert verdict == verifier.verify(signed_clip) and verdict.verdict is Outcome.TRUSTED
    assert document is not None
    crjson = json.loads(document)
    active = crjson["manifests"][0]
    assert active["label"] == verdict.manifest_label  # the active manifest comes first
    results = {e["code"] for e in active["validationResults"]["success"]}
    # c2pa's full Reader hashed the file, with this verifier's anchors.
    assert {"assertion.bmffHash.match", "signingCredential.trusted", "claimSignature.validated"} <= results
    assert active["validationResults"]["failure"] == []
    assert verifier.verify_with_crjson(clip) == (Verifier(load_anchors(pki.root_ca)).verify(clip), "{}")
