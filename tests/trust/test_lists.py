"""The official trust lists out of the box: the bundled copies, entity names from the LoTE JSON, the newer of
bundled and fetched in force, the interim list's rule, and verify/check/trust show under them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509

from provenance import codes, signing
from provenance.errors import TrustConfigError, TrustListError
from provenance.keys import signers
from provenance.keys.pki import DevPki, chain_pem, fingerprint
from provenance.manifest import Disclosure
from provenance.trust.anchors import TrustAnchors, default_anchors_path, load_anchors
from provenance.trust.lists import (
    INTERIM_FROZEN,
    INTERIM_NAME,
    InterimList,
    TrustLists,
    bundled_lists,
    fetched_dir,
    lists_for,
    lists_in_force,
    parse_list,
)
from provenance.trust.policy import default_policy
from provenance.verdict import Outcome, TrustEntity
from provenance.verify import Verifier
from provenance_cli.render import verdict_text
from tests.support.cli import run_cli
from tests.support.clips import CORPUS
from tests.support.trustlists import LATER, certificates, list_files, lote, pem
from tests.support.tsa import RunningTsa, openssl_available, running_tsa

ENTITY = "Provenance Test Entity"
_EXPECTED = CORPUS / "expected.json"
CORPUS_MEDIA = sorted(json.loads(_EXPECTED.read_text())) if _EXPECTED.is_file() else []


def anchors_of(certs: list[x509.Certificate]) -> TrustAnchors:
    return TrustAnchors(chain_pem(certs).decode(), "test", len(certs)) if certs else TrustAnchors("", "test", 0)


def official(certs: list[x509.Certificate], tmp: Path) -> TrustLists:
    """The bundled lists with `certs` as the C2PA Trust List (the bundled TSA and interim lists)."""
    bundled = bundled_lists()
    signer_list = parse_list(pem(certs), json.dumps(lote({ENTITY: certs})).encode(), source="fetched", location=tmp)
    return replace(bundled, signers=signer_list)


# --- the bundled lists ---


def test_bundled_lists_are_the_official_snapshots() -> None:
    lists = bundled_lists()
    assert (lists.signers.name, lists.tsa.name) == ("C2PA Trust List", "C2PA TSA Trust List")
    assert lists.signers.info().issued == "2026-08-05T00:11:39Z" and lists.signers.source == "bundled"
    assert lists.signers.next_update == dt.datetime(2027, 8, 5, 0, 11, 39, tzinfo=dt.timezone.utc)
    assert (lists.signers.anchors.count, len(lists.signers.entities)) == (30, 17)
    assert (lists.tsa.anchors.count, len(lists.tsa.entities)) == (22, 13)
    assert lists.interim is not None and (lists.interim.anchors.count, lists.interim.allowed.count) == (18, 86)
    assert lists.interim.frozen == INTERIM_FROZEN == dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert lists.stale(dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc)) == ()
    assert [t.name for t in lists.stale(dt.datetime(2027, 9, 1, tzinfo=dt.timezone.utc))] == [
        "C2PA Trust List", "C2PA TSA Trust List"]
    attribution = (Path(lists.signers.location) / "ATTRIBUTION.md").read_text()
    assert "7dbff51" in attribution and "CC BY 4.0" in attribution and "506f98c" in attribution


def test_entity_names_come_from_the_lote_json() -> None:
    lists = bundled_lists()
    by_name = {e.name: e for e in lists.signers.entities}
    adobe = by_name["Adobe Inc"].services[0]
    cert = next(c for c in lists.signers.anchors.certificates() if fingerprint(c) == adobe.sha256)
    assert lists.signers.entity_of([cert]) == "Adobe Inc"
    assert lists.entry_of([cert]) == TrustEntity("Adobe Inc", "C2PA Trust List")
    google = {s.name for s in by_name["Google LLC"].services}
    assert "Google C2PA Root CA G3" in google


def test_interim_certificates_are_named_by_their_organisation() -> None:
    interim = bundled_lists().interim
    assert interim is not None
    leaf = interim.allowed.certificates()[0]
    assert interim.entity_of([leaf]) == "CLOUDINARY INC."
    assert bundled_lists().entry_of([leaf]) == TrustEntity("CLOUDINARY INC.", INTERIM_NAME)


def test_a_self_made_chain_is_on_no_list(pki: DevPki) -> None:
    assert bundled_lists().entry_of(certificates(pki.signer_chain)) is None


# --- reading a list: what is refused ---


def test_parse_list_refuses_what_does_not_hold_together(tmp_path: Path, pki: DevPki, other_pki: DevPki) -> None:
    mine, theirs = certificates(pki.root_ca), certificates(other_pki.root_ca)
    good = json.dumps(lote({ENTITY: mine})).encode()
    assert parse_list(pem(mine), good, source="fetched", location=tmp_path).anchors.count == 1
    cases = {
        "do not list the same certificates": (pem(theirs), good),
        "holds no readable certificates": (b"no certificates here\n", good),
        "is not JSON": (pem(mine), good[: len(good) // 2]),
        "does not have the LoTE structure": (pem(mine), b'{"LoTE": {}}'),
        "lists no trusted certificate": (pem(mine), json.dumps(lote({ENTITY: mine}, status=(
            "http://c2pa.org/conformance/trust-list/untrusted"))).encode()),
        "unknown ServiceStatus": (pem(mine), json.dumps(lote({ENTITY: mine}, status="http://x/trusted")).encode()),
    }
    for message, (pem_bytes, json_bytes) in cases.items():
        with pytest.raises(TrustListError, match=message):
            parse_list(pem_bytes, json_bytes, source="fetched", location=tmp_path)


def test_a_withdrawn_service_is_no_anchor(tmp_path: Path, pki: DevPki, other_pki: DevPki) -> None:
    document = lote({ENTITY: certificates(pki.root_ca), "Withdrawn": certificates(other_pki.root_ca)})
    withdrawn = document["LoTE"]["TrustedEntitiesList"][1]["TrustedEntityServices"][0]["ServiceInformation"]
    withdrawn["ServiceStatus"] = "http://c2pa.org/conformance/trust-list/untrusted"
    listed = parse_list(pem(certificates(pki.root_ca)), json.dumps(document).encode(), source="fetched",
                        location=tmp_path)
    assert listed.anchors.count == 1 and [s.trusted for e in listed.entities for s in e.services] == [True, False]
    assert listed.entity_of(certificates(other_pki.root_ca)) is None


# --- which lists are in force ---


def test_the_newer_of_bundled_and_fetched_is_in_force(pki: DevPki) -> None:
    assert lists_in_force().signers.source == "bundled"
    older = list_files({ENTITY: certificates(pki.root_ca)}, {ENTITY: certificates(pki.root_ca)},
                       issued=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    older.write(fetched_dir())
    assert lists_in_force().signers.source == "bundled" and lists_in_force().tsa.source == "bundled"
    list_files({ENTITY: certificates(pki.root_ca)}, {ENTITY: certificates(pki.root_ca)}).write(fetched_dir())
    in_force = lists_in_force()
    assert (in_force.signers.source, in_force.signers.issued, in_force.tsa.source) == ("fetched", LATER, "fetched")


def test_a_damaged_fetched_list_is_an_error_not_ignored(pki: DevPki) -> None:
    files = list_files({ENTITY: certificates(pki.root_ca)}, {ENTITY: certificates(pki.root_ca)})
    files.files["C2PA-TRUST-LIST.json"] = b"{"
    files.write(fetched_dir())
    with pytest.raises(TrustConfigError, match="fetched trust list .* cannot be used"):
        lists_in_force()


def test_given_anchors_replace_the_lists(pki: DevPki) -> None:
    anchors = load_anchors(pki.root_ca)
    assert lists_for(anchors, None) is None and lists_for(None, anchors) is None
    assert lists_for(None, None, enabled=False) is None
    assert lists_for(None, None) is not None
    with pytest.raises(TrustConfigError):
        Verifier(anchors, lists=bundled_lists())


def test_default_policy_for_signing(pki: DevPki, tmp_path: Path) -> None:
    policy = default_policy()
    assert policy.anchors is None and policy.lists is not None
    settings = policy.c2pa_settings()
    assert settings["verify"]["remote_manifest_fetch"] is False
    assert "allowed_list" in settings["trust"] and settings["trust"]["trust_anchors"].count("BEGIN CERTIFICATE") == 70
    assert default_policy(default_lists=False).lists is None
    user_file = default_anchors_path()
    user_file.parent.mkdir(parents=True)
    user_file.write_bytes(pki.root_ca.read_bytes())
    from_file = default_policy()
    assert from_file.lists is None and from_file.anchors is not None and from_file.anchors.source == str(user_file)


# --- verdicts under the lists ---


def test_a_signer_on_no_list_is_valid_and_passes(signed_clip: Path) -> None:
    verdict = Verifier(lists=bundled_lists()).verify(signed_clip)
    assert verdict.verdict is Outcome.VALID and verdict.passed and not verdict.trust_anchors_given
    assert verdict.trust_entity is None and codes.UNTRUSTED in verdict.failure_codes
    assert verdict.trust_list is not None and verdict.trust_list.name == "C2PA Trust List"
    assert verdict.trust_list.source == "bundled" and verdict.trust_list.issued == "2026-08-05T00:11:39Z"
    assert verdict.tsa_trust_list is not None and verdict.tsa_trust_list.name == "C2PA TSA Trust List"
    text = verdict_text(verdict)
    assert "trust lists:   C2PA Trust List of 2026-08-05 (bundled), C2PA TSA Trust List of 2026-08-05 (bundled)" in text
    assert "warning:       the signer is not on the C2PA Trust List" in text


def test_a_signer_chaining_to_the_official_list_is_trusted_by_name(signed_clip: Path, pki: DevPki,
                                                                   tmp_path: Path) -> None:
    verdict = Verifier(lists=official(certificates(pki.root_ca), tmp_path)).verify(signed_clip)
    assert verdict.verdict is Outcome.TRUSTED and verdict.passed, verdict
    assert verdict.trust_entity == TrustEntity(ENTITY, "C2PA Trust List") and verdict.trust_notes == ()
    text = verdict_text(verdict)
    assert f"signed by:     {ENTITY} (C2PA Trust List)" in text
    assert "certificate:   CN=Provenance Test Signer" in text
    assert verdict.to_dict()["trust_entity"] == {"name": ENTITY, "list": "C2PA Trust List"}


def test_a_tsa_list_anchor_never_vouches_for_a_signer(signed_clip: Path, pki: DevPki, tmp_path: Path) -> None:
    lists = bundled_lists()
    as_tsa = parse_list(pem(certificates(pki.root_ca)), json.dumps(lote(
        {ENTITY: certificates(pki.root_ca)}, name="C2PA TSA Trust List")).encode(), source="fetched", location=tmp_path)
    verdict = Verifier(lists=replace(lists, tsa=as_tsa)).verify(signed_clip)
    assert verdict.verdict is Outcome.VALID and codes.UNTRUSTED in verdict.failure_codes


@pytest.mark.parametrize("name", CORPUS_MEDIA or ["(corpus absent)"])
def test_corpus_under_the_official_lists(corpus: Path, name: str) -> None:
    """No corpus file is signed under the official or the interim list: each keeps its no-anchor verdict."""
    expected = json.loads((corpus / "expected.json").read_text())[name]
    verdict = Verifier(lists=bundled_lists()).verify(corpus / name)
    assert verdict.verdict.value == expected["verdict"]
    assert sorted(verdict.failure_codes) == sorted(expected["failure_codes"])
    assert verdict.trust_entity is None
    assert (verdict.trust_list is not None) == (verdict.manifest_label is not None)


# --- the interim list: trusted only with a trusted timestamp before its freeze ---

@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTsa]:
    if not openssl_available():
        pytest.skip("the test TSA needs the openssl command")
    with running_tsa(tmp_path_factory.mktemp("tsa")) as running:
        yield running


@pytest.fixture(scope="module")
def stamped_clip(tmp_path_factory: pytest.TempPathFactory, clip: Path, pki: DevPki, tsa: RunningTsa) -> Path:
    out = tmp_path_factory.mktemp("stamped") / "stamped.mp4"
    creds = signers.load_credentials(str(pki.signer_key), cert=pki.signer_chain, tsa_url=tsa.url)
    signing.sign(clip, out, creds, Disclosure(generator="Sora"))
    return out


def interim_lists(tmp: Path, *, anchors: list[x509.Certificate], allowed: list[x509.Certificate] | None = None,
                  tsa: list[x509.Certificate] | None = None, frozen: dt.datetime = INTERIM_FROZEN) -> TrustLists:
    """The bundled C2PA Trust List, `tsa` as the TSA list (default: the bundled one), and an interim list."""
    bundled = bundled_lists()
    tsa_list = bundled.tsa if tsa is None else parse_list(
        pem(tsa), json.dumps(lote({"Test TSA": tsa}, name="C2PA TSA Trust List")).encode(), source="fetched",
        location=tmp)
    return TrustLists(bundled.signers, tsa_list, InterimList(anchors_of(anchors), anchors_of(allowed or []), frozen))


AFTER_NOW = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)  # a freeze still to come: today's stamps predate it


def test_interim_signer_without_timestamp_is_valid_with_a_note(signed_clip: Path, pki: DevPki, tmp_path: Path) -> None:
    verdict = Verifier(lists=interim_lists(tmp_path, anchors=certificates(pki.root_ca), frozen=AFTER_NOW)).verify(
        signed_clip)
    assert verdict.verdict is Outcome.VALID and verdict.passed and verdict.trust_entity is None
    assert codes.UNTRUSTED in verdict.failure_codes
    (note,) = verdict.trust_notes
    assert f"on the {INTERIM_NAME} (Provenance Test)" in note and "signed before" in note
    assert f"note:          the signer is on the {INTERIM_NAME}" in verdict_text(verdict)


@pytest.mark.slow
def test_interim_signer_with_a_trusted_timestamp_before_the_freeze_is_trusted(
        stamped_clip: Path, pki: DevPki, tsa: RunningTsa, tmp_path: Path) -> None:
    tsa_root = certificates(tsa.pki.root_ca)
    lists = interim_lists(tmp_path, anchors=certificates(pki.root_ca), tsa=tsa_root, frozen=AFTER_NOW)
    verdict = Verifier(lists=lists).verify(stamped_clip)
    assert verdict.verdict is Outcome.TRUSTED, verdict
    assert verdict.trust_entity == TrustEntity("Provenance Test", INTERIM_NAME)
    assert verdict.timestamp is not None and verdict.timestamp.trusted is True
    assert f"signed by:     Provenance Test ({INTERIM_NAME})" in verdict_text(verdict)
    # The real freeze (2026-01-01) is before today's timestamp: only valid, with the note.
    after_freeze = Verifier(lists=interim_lists(tmp_path, anchors=certificates(pki.root_ca), tsa=tsa_root)).verify(
        stamped_clip)
    assert after_freeze.verdict is Outcome.VALID and after_freeze.trust_notes
    # A timestamp nobody trusts proves nothing.
    untrusted_tsa = Verifier(lists=interim_lists(tmp_path, anchors=certificates(pki.root_ca), frozen=AFTER_NOW))
    verdict = untrusted_tsa.verify(stamped_clip)
    assert verdict.verdict is Outcome.VALID and verdict.timestamp is not None and verdict.timestamp.trusted is False


@pytest.mark.slow
def test_interim_allowed_leaf_and_interim_tsa_anchors(stamped_clip: Path, pki: DevPki, other_pki: DevPki,
                                                      tsa: RunningTsa, tmp_path: Path) -> None:
    """A leaf allowed one by one counts like an anchor, and the interim anchors vouch for TSAs as the Verify site
    judged them (the TSA root here is on no TSA list, only among the interim anchors)."""
    leaf = certificates(pki.signer_chain)[0]
    lists = interim_lists(tmp_path, anchors=[*certificates(other_pki.root_ca), *certificates(tsa.pki.root_ca)],
                          allowed=[leaf], frozen=AFTER_NOW)
    verdict = Verifier(lists=lists).verify(stamped_clip)
    assert verdict.verdict is Outcome.TRUSTED, verdict
    assert verdict.trust_entity == TrustEntity("Provenance Test", INTERIM_NAME)
    assert verdict.timestamp is not None and verdict.timestamp.trusted is True


@pytest.mark.slow
def test_default_tsa_list_never_fails_a_file(stamped_clip: Path, signed_clip: Path) -> None:
    """Under the lists, an untrusted or missing timestamp is shown, never a failure (unlike given TSA anchors)."""
    for path in (stamped_clip, signed_clip):
        result = run_cli("verify", path, "--format", "json")
        (verdict,) = json.loads(result.stdout)
        assert result.code == 0 and verdict["trust_failures"] == [], verdict
        assert verdict["tsa_trust_list"]["name"] == "C2PA TSA Trust List"
    (stamped,) = json.loads(run_cli("verify", stamped_clip, "--format", "json").stdout)
    assert stamped["timestamp"]["trusted"] is False


# --- the CLI: verify, check and trust show under the lists in force ---


def fetch_lists_trusting(pki: DevPki, **dates: object) -> None:
    """As if `trust update` had fetched lists whose C2PA Trust List holds `pki`'s root."""
    list_files({ENTITY: certificates(pki.root_ca)}, {"Test TSA": certificates(pki.root_ca)}, **dates).write(
        fetched_dir())


@pytest.mark.slow
def test_verify_with_fetched_lists(signed_clip: Path, pki: DevPki, other_pki: DevPki) -> None:
    fetch_lists_trusting(pki)
    result = run_cli("verify", signed_clip)
    assert result.code == 0 and result.stderr == "", result.stderr
    assert "TRUSTED" in result.stdout and f"signed by:     {ENTITY} (C2PA Trust List)" in result.stdout
    assert "trust lists:   C2PA Trust List of 2026-09-01 (fetched)" in result.stdout
    (verdict,) = json.loads(run_cli("verify", signed_clip, "--format", "json").stdout)
    assert verdict["trust_list"] == {"name": "C2PA Trust List", "issued": "2026-09-01T00:00:00Z",
                                     "source": "fetched", "next_update": "2027-09-01T00:00:00Z"}
    assert verdict["trust_anchors_given"] is False
    # Given anchors replace the lists, as before: someone else's root makes the signer fail.
    given = run_cli("verify", signed_clip, "--trust-anchors", other_pki.root_ca, "--format", "json")
    (verdict,) = json.loads(given.stdout)
    assert given.code == 1 and verdict["verdict"] == "valid" and verdict["trust_list"]["source"] == "file"
    # --no-default-trust (and its variable): nobody is trusted, as without lists.
    for args, env in ((("--no-default-trust",), None), ((), {"PROVENANCE_NO_DEFAULT_TRUST": "1"})):
        off = run_cli("verify", signed_clip, *args, "--format", "json", env=env)
        (verdict,) = json.loads(off.stdout)
        assert off.code == 0 and verdict["verdict"] == "valid" and verdict["trust_list"] is None


@pytest.mark.slow
def test_a_stale_list_warns_once_per_run(signed_clip: Path, pki: DevPki) -> None:
    fetch_lists_trusting(pki, next_update=dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc))
    result = run_cli("verify", signed_clip, signed_clip)
    assert result.code == 0
    warnings = [line for line in result.stderr.splitlines() if "was due to be replaced" in line]
    assert warnings == [
        "provenance: warning: the C2PA Trust List in force (fetched, issued 2026-09-01) was due to be replaced on "
        "2026-10-01; run `provenance trust update`",
        "provenance: warning: the C2PA TSA Trust List in force (fetched, issued 2026-09-01) was due to be replaced "
        "on 2026-10-01; run `provenance trust update`"]


@pytest.mark.slow
def test_a_damaged_fetched_list_is_a_usage_error(signed_clip: Path, pki: DevPki) -> None:
    fetch_lists_trusting(pki)
    (fetched_dir() / "C2PA-TRUST-LIST.pem").write_text("truncated")
    result = run_cli("verify", signed_clip)
    assert result.code == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "trust update" in result.stderr


@pytest.mark.slow
def test_per_user_anchor_file_still_counts_as_given(signed_clip: Path, other_pki: DevPki) -> None:
    default_anchors_path().parent.mkdir(parents=True)
    default_anchors_path().write_bytes(other_pki.root_ca.read_bytes())
    result = run_cli("verify", signed_clip, "--format", "json")
    (verdict,) = json.loads(result.stdout)
    assert result.code == 1 and verdict["trust_list"]["source"] == "file" and verdict["trust_anchors_given"]
    shown = run_cli("trust", "show")
    assert shown.code == 0 and f"signers: the anchors in {default_anchors_path()}" in shown.stdout


@pytest.mark.slow
def test_check_under_the_lists(tmp_path: Path, signed_clip: Path, pki: DevPki) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "clip.mp4").write_bytes(signed_clip.read_bytes())
    report = run_cli("check", tree, "--root", tree, "--format", "json", "--jobs", "2")
    assert report.code == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["trust_list"]["name"] == "C2PA Trust List" and data["trust_list"]["source"] == "bundled"
    assert data["files"][0]["trust_list"]["issued"] == "2026-08-05T00:11:39Z"
    # require_trusted may be asked of the lists; the test CA is not on them, so the file fails.
    (tree / "provenance.toml").write_text("require_trusted = true\n")
    strict = run_cli("check", tree, "--root", tree)
    assert strict.code == 1 and "untrusted-signer" in strict.stdout
    nobody = run_cli("check", tree, "--root", tree, "--no-default-trust")
    assert nobody.code == 2 and "require_trusted needs trust anchors" in nobody.stderr
    fetch_lists_trusting(pki)
    trusted = run_cli("check", tree, "--root", tree, "--format", "json")
    assert trusted.code == 0, trusted.stdout
    assert json.loads(trusted.stdout)["files"][0]["trust_entity"] == {"name": ENTITY, "list": "C2PA Trust List"}


@pytest.mark.slow
def test_trust_show_lists_the_entities_in_force(pki: DevPki) -> None:
    text = run_cli("trust", "show")
    assert text.code == 0, text.stderr
    assert "signers: C2PA Trust List, issued 2026-08-05, next update 2027-08-05, bundled" in text.stdout
    assert "timestamps: C2PA TSA Trust List, issued 2026-08-05" in text.stdout
    assert "  Adobe Inc: Adobe Product Issuing CA vault-a-or2.adobe.net cai" in text.stdout
    assert f"legacy: the {INTERIM_NAME}, frozen 2026-01-01" in text.stdout and "18 root CAs" in text.stdout
    data = json.loads(run_cli("trust", "show", "--format", "json").stdout)
    assert len(data["signers"]["entities"]) == 17 and data["signers"]["stale"] is False
    assert data["interim"]["allowed_certificates"] == 86
    fetch_lists_trusting(pki)
    data = json.loads(run_cli("trust", "show", "--format", "json").stdout)
    assert data["signers"]["source"] == "fetched" and data["signers"]["entities"][0]["name"] == ENTITY
    refused = run_cli("trust", "show", "--format", "pem")
    assert refused.code == 2 and "--format pem prints a FILE's signer chain" in refused.stderr


@pytest.mark.slow
def test_trust_show_file_names_its_list_entry(signed_clip: Path, pki: DevPki) -> None:
    assert "on a trust list" not in run_cli("trust", "show", signed_clip).stdout
    fetch_lists_trusting(pki)
    text = run_cli("trust", "show", signed_clip).stdout
    assert f"on a trust list: {ENTITY} (C2PA Trust List); looked up, not validated" in text
    report = json.loads(run_cli("trust", "show", signed_clip, "--format", "json").stdout)
    assert report["trust_entity"] == {"name": ENTITY, "list": "C2PA Trust List"}


def test_trust_paths_names_the_list_folders() -> None:
    result = run_cli("trust", "paths")
    assert result.code == 0
    assert f"fetched trust lists: {fetched_dir()} (absent)" in result.stdout
    assert "bundled trust lists: " in result.stdout and "(present)" in result.stdout

