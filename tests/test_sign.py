"""Signing: the manifest declares AI generation, every container works, output is all-or-nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provenance import signing
from provenance.durability.repository import open_repository
from provenance.errors import (
    CredentialError,
    MediaError,
    OutputExistsError,
    ProvenanceError,
    SigningError,
    TimestampError,
    UsageError,
)
from provenance.keys import signers
from provenance.keys.pki import DOCUMENT_SIGNING, DevPki, build_certificate, init_dev_pki
from provenance.manifest import Disclosure
from provenance.trust.anchors import load_anchors
from provenance.trust.policy import TrustPolicy
from provenance.verdict import TRAINED_ALGORITHMIC_MEDIA, Outcome
from provenance.verify import Verifier
from tests.support.cli import run_cli
from tests.support.clips import make_clip, sign_file
from tests.support.edits import break_signature


def active_manifest(path: Path) -> dict:  # type: ignore[type-arg]
    with c2pa.Reader(str(path)) as reader:
        report = json.loads(reader.json())
    return report["manifests"][report["active_manifest"]]  # type: ignore[no-any-return]


def assertion(manifest: dict, label: str) -> dict:  # type: ignore[type-arg]
    return next(a["data"] for a in manifest["assertions"] if a["label"] == label)  # type: ignore[no-any-return]


def test_manifest_declares_ai_generation(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    out = tmp_path / "out.mp4"
    sign_file(clip, out, pki, generator="Sora", generator_version="2", title="A cat", ai_training="notAllowed")
    manifest = active_manifest(out)
    first = assertion(manifest, "c2pa.actions.v2")["actions"][0]
    assert first["action"] == "c2pa.created"
    assert first["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert first["softwareAgent"] == {"name": "Sora", "version": "2"}
    assert manifest["title"] == "A cat"
    info = manifest["claim_generator_info"][0]
    assert info["name"] == "provenance" and info["version"]
    entries = assertion(manifest, "cawg.training-mining")["entries"]
    assert {e["use"] for e in entries.values()} == {"notAllowed"}
    assert "cawg.ai_generative_training" in entries


def test_parent_makes_opened_then_edited(tmp_path: Path, clip: Path, signed_clip: Path, pki: DevPki) -> None:
    out = tmp_path / "remix.mp4"
    sign_file(clip, out, pki, generator="Sora", parent=signed_clip, edit_source="trained")
    manifest = active_manifest(out)
    actions = assertion(manifest, "c2pa.actions.v2")["actions"]
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
    assert actions[1]["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    (ingredient,) = manifest["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient.get("active_manifest")  # the parent's own manifest came along


def _recorded_parent_codes(remix: Path) -> set[str]:
    """The codes the remix's manifest recorded for its parent at signing time (not a live re-check)."""
    (ingredient,) = active_manifest(remix)["ingredients"]
    recorded = ingredient["validation_results"]["activeManifest"]
    return {c["code"] for c in recorded["success"] + recorded["failure"] + recorded.get("informational", [])}


@pytest.mark.slow
def test_a_remix_records_its_parent_judged_by_the_trust_a_verifier_uses(tmp_path: Path, clip: Path,
                                                                       signed_clip: Path, pki: DevPki) -> None:
    trusted, untrusted = tmp_path / "trusted.mp4", tmp_path / "untrusted.mp4"
    for out, trust in ((trusted, ["--trust-anchors", pki.root_ca]), (untrusted, ["--no-default-trust"])):
        result = run_cli("sign", clip, "-o", out, "--cert", pki.signer_chain, "--key", pki.signer_key,
                         "--parent", signed_clip, "--no-soft-binding", *trust)
        assert result.code == 0, result.stderr
    assert "signingCredential.trusted" in _recorded_parent_codes(trusted)
    assert "signingCredential.untrusted" not in _recorded_parent_codes(trusted)
    assert "signingCredential.untrusted" in _recorded_parent_codes(untrusted)
    # The library's default is the trust verify uses without options: the official lists, which do not
    # hold the test root.
    default = tmp_path / "default.avi"
    sign_file(make_clip(tmp_path / "source.avi", "avi"), default, pki, parent=signed_clip)
    assert "signingCredential.untrusted" in _recorded_parent_codes(default)


@pytest.mark.slow
def test_a_parent_with_a_sidecar_is_recorded_with_its_live_trust(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    parent = tmp_path / "parent.webm"
    sign_file(make_clip(tmp_path / "parent-source.webm", "webm"), parent, pki, sidecar=True)
    remix = tmp_path / "remix.mp4"
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    signing.sign(clip, remix, creds, Disclosure(), parent=parent,
                 parent_trust=TrustPolicy(load_anchors(pki.root_ca)))
    assert "signingCredential.trusted" in _recorded_parent_codes(remix)


@pytest.mark.parametrize(("container", "embedded"), [
    ("mp4", True), ("mov", True), ("m4v", True), ("fmp4", True), ("avi", True), ("webm", False), ("mkv", False),
])
def test_every_container(tmp_path: Path, pki: DevPki, container: str, embedded: bool) -> None:
    ext = "mp4" if container == "fmp4" else container
    src = make_clip(tmp_path / f"src.{ext}", container)
    out = tmp_path / f"out.{ext}"
    result = sign_file(src, out, pki, generator="Sora")
    assert (result.sidecar is None) == embedded
    v = Verifier(load_anchors(pki.root_ca)).verify(out)
    assert v.verdict is Outcome.TRUSTED, v
    assert v.manifest_source == ("embedded" if embedded else "sidecar")


def test_sidecar_on_request_leaves_media_unchanged(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    out = tmp_path / "out.mp4"
    result = sign_file(clip, out, pki, sidecar=True)
    assert result.sidecar == tmp_path / "out.mp4.c2pa"
    assert out.read_bytes() == clip.read_bytes()
    assert Verifier(load_anchors(pki.root_ca)).verify(out).verdict is Outcome.TRUSTED


def test_refuses_existing_output_and_same_file(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError):
        sign_file(clip, out, pki)
    assert out.read_bytes() == b"keep me"
    with pytest.raises(UsageError, match="same file"):
        sign_file(clip, clip, pki)
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    signing.sign(clip, out, creds, Disclosure(), force=True)
    assert Verifier().verify(out).verdict is Outcome.VALID


def test_failed_signing_leaves_no_file(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key, tsa_url="http://127.0.0.1:9/tsa")
    out = tmp_path / "out.mp4"
    with pytest.raises(SigningError):
        signing.sign(clip, out, creds, Disclosure())
    assert list(tmp_path.iterdir()) == []


def test_refuses_non_media(tmp_path: Path, pki: DevPki) -> None:
    text = tmp_path / "x.mp4"
    text.write_text("not a video")
    with pytest.raises(MediaError, match="not a recognised media type"):
        sign_file(text, tmp_path / "out.mp4", pki)
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize(("error", "tsa_url", "expected", "message"), [
    (c2pa.C2paError.Signature("Signature: internal error (an error occurred from the underlying http resolver)"),
     "http://tsa.example", TimestampError, "timestamp authority http://tsa.example failed: internal error"),
    (c2pa.C2paError.Signature("Signature: internal error (an error occurred from the underlying http resolver)"),
     None, SigningError, "c2pa could not sign: internal error"),
    # The type decides before the words: a signature failure that says "not supported" is not about the media.
    (c2pa.C2paError.Signature("Signature: COSE signature algorithm is not supported"), None, SigningError,
     "c2pa could not sign: COSE signature algorithm is not supported"),
    (c2pa.C2paError.NotSupported("NotSupported: type is unsupported"), None, MediaError,
     "clip.mp4: cannot be signed: type is unsupported"),
    (c2pa.C2paError.Other("Other: asset could not be parsed: Boxes are too deply nested, unsupported asset"),
     "http://tsa.example", MediaError, "clip.mp4: cannot be signed: asset could not be parsed"),
    (c2pa.C2paError.Other("Other: the signer went away"), None, SigningError, "c2pa could not sign: the signer"),
])
def test_c2pa_failures_are_classified_by_type(error: c2pa.C2paError, tsa_url: str | None,
                                              expected: type[ProvenanceError], message: str) -> None:
    made = signing._c2pa_error(error, Path("clip.mp4"), tsa_url)
    assert type(made) is expected
    assert made.message.startswith(message), made.message


def test_fast_path_failures_carry_the_type_builder_sign_would() -> None:
    from provenance._fast.native import _raise_c2pa

    with pytest.raises(c2pa.C2paError.Signature):
        _raise_c2pa("Signature: could not generate a trusted time stamp")


def test_sign_and_register_keeps_the_manifest_in_the_repository(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    store = tmp_path / "manifests.sqlite3"
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    signed: list[signing.SignResult] = []
    result, registration = signing.sign_and_register(clip, tmp_path / "out.mp4", creds, Disclosure(generator="Sora"),
                                                     store=store, on_signed=signed.append)
    assert signed == [result] and result.soft_binding is not None
    assert registration is not None and registration.location == str(store)
    repository = open_repository(store, create=False)
    assert repository is not None
    with repository:
        assert repository.manifest_store(registration.manifest_id) == result.manifest_store


def test_a_remix_of_a_broken_parent_is_registered_by_its_own_credentials(tmp_path: Path, clip: Path, pki: DevPki,
                                                                         signed_clip: Path) -> None:
    parent = tmp_path / "parent.mp4"
    parent.write_bytes(signed_clip.read_bytes())
    break_signature(parent)
    store = tmp_path / "manifests.sqlite3"
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    result, registration = signing.sign_and_register(clip, tmp_path / "remix.mp4", creds, Disclosure(),
                                                     store=store, parent=parent)
    assert registration is not None
    repository = open_repository(store, create=False)
    assert repository is not None
    with repository:
        assert repository.manifest_store(registration.manifest_id) == result.manifest_store


def test_sign_and_register_without_soft_binding_opens_no_repository(tmp_path: Path, clip: Path,
                                                                     pki: DevPki) -> None:
    store = tmp_path / "manifests.sqlite3"
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    result, registration = signing.sign_and_register(clip, tmp_path / "out.mp4", creds, Disclosure(),
                                                     store=store, soft_binding=False)
    assert registration is None and result.soft_binding is None
    assert not store.exists()


def test_sign_and_register_never_overwrites_the_repository(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    store = tmp_path / "manifests.sqlite3"
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    signing.sign_and_register(clip, tmp_path / "first.mp4", creds, Disclosure(), store=store)
    before = store.read_bytes()
    with pytest.raises(UsageError, match="same file as the manifest repository"):
        signing.sign_and_register(clip, store, creds, Disclosure(), store=store, force=True)
    assert store.read_bytes() == before


# --- certificate and key pre-flight -------------------------------------------------------------

def _leaf(pki: DevPki, *, eku: list[x509.ObjectIdentifier] | None, ca: bool = False,
          not_after: dt.datetime | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    issuer_key = serialization.load_pem_private_key(pki.signer_key.read_bytes(), None)
    chain = x509.load_pem_x509_certificates(pki.signer_chain.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    not_after = not_after or now + dt.timedelta(days=30)
    cert = build_certificate(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd leaf")]), key.public_key(), chain[0].subject,
        issuer_key,  # type: ignore[arg-type]
        not_before=min(now, not_after) - dt.timedelta(days=2), not_after=not_after, ca=ca,
        key_usage=x509.KeyUsage(True, False, False, False, False, ca, ca, False, False),
        extended_key_usages=eku or (), subject_key_id=False, authority_key_id=False)
    return cert, key


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"eku": [ExtendedKeyUsageOID.SERVER_AUTH]}, "lacks the documentSigning/emailProtection EKU"),
    ({"eku": None}, "lacks the documentSigning/emailProtection EKU"),
    ({"eku": [DOCUMENT_SIGNING]}, "lacks the documentSigning/emailProtection EKU"),
    ({"eku": [ExtendedKeyUsageOID.EMAIL_PROTECTION], "ca": True}, "CA certificate"),
    ({"eku": [ExtendedKeyUsageOID.EMAIL_PROTECTION], "not_after": dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)},
     "certificate expired on 2024-01-02"),
])
def test_preflight_names_the_problem(pki: DevPki, kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    cert, key = _leaf(pki, **kwargs)
    with pytest.raises(CredentialError, match=message):
        signers.from_key([cert], key)


def test_preflight_key_mismatch(pki: DevPki, other_pki: DevPki) -> None:
    with pytest.raises(CredentialError, match="key does not match certificate"):
        signers.from_pem_files(pki.signer_chain, other_pki.signer_key)


def test_algorithm_inferred_and_mismatch_refused(tmp_path: Path) -> None:
    for alg in ("es256", "es384", "es512", "ps256", "ed25519"):
        p = init_dev_pki(tmp_path / alg, alg=alg)
        assert signers.from_pem_files(p.signer_chain, p.signer_key).alg == alg
    es = init_dev_pki(tmp_path / "x", alg="es384")
    with pytest.raises(CredentialError, match="does not match the key"):
        signers.from_pem_files(es.signer_chain, es.signer_key, alg="es256")
