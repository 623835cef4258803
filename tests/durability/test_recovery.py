"""Recovery in verify: stripped, re-encoded and altered clips find their original credentials again."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from provenance import signing
from provenance.durability.recovery import (
    HARD_BINDING_MISMATCH,
    ManifestRejected,
    Recoverer,
    entry_for,
    needs_recovery,
    read_store,
    recover_all,
    register,
)
from provenance.durability.repository import Repository, open_repository
from provenance.durability.softbinding import MATCH_THRESHOLD
from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.manifest import Disclosure
from provenance.trust.anchors import load_anchors
from provenance.verdict import Outcome
from provenance.verify import Verifier
from tests.support.cli import run_cli
from tests.support.clips import ffmpeg_exe, make_clip
from tests.support.footage import excerpt, real_footage

# Without trust anchors a recovered manifest is never presented as the original credentials (anyone can register one).
RECOVERED_TEXT = ("credentials were stripped or the video was re-encoded; a manifest in the repository, signed by an "
                  "unverified signer, claims this content:")


def ffmpeg(*args: object) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)


@dataclass(frozen=True)
class Signed:
    source: Path
    signed: Path
    result: signing.SignResult
    stripped: Path
    reencoded: Path
    store: Path  # SQLite repository holding the manifest


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, pki: DevPki) -> Signed:
    d = tmp_path_factory.mktemp("recovery")
    source = make_clip(d / "source.mp4", seconds=3, source="mandelbrot", size="320x240", rate=25)
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    result = signing.sign(source, d / "signed.mp4", creds, Disclosure(generator="Sora", generator_version="2"),
                          soft_binding=True)
    stripped, reencoded = d / "stripped.mp4", d / "reencoded.mp4"
    ffmpeg("-i", result.output, "-map", "0", "-c", "copy", stripped)
    ffmpeg("-i", result.output, "-vf", "scale=160:120", "-c:v", "libx264", "-crf", "28", reencoded)
    store = d / "manifests.sqlite3"
    repository = open_repository(store)
    assert repository is not None
    with repository:
        register(repository, result.manifest_store)
    return Signed(source, result.output, result, stripped, reencoded, store)


@pytest.fixture
def repository(signed: Signed) -> Repository:
    repo = open_repository(signed.store, create=False)
    assert repo is not None
    return repo


def manifest_id(signed: Signed) -> str:
    return entry_for(signed.result.manifest_store, Verifier()).manifest_id


@pytest.mark.slow
def test_only_unsigned_or_hard_binding_failures_need_recovery(signed: Signed) -> None:
    verifier = Verifier()
    assert not needs_recovery(verifier.verify(signed.signed))
    assert needs_recovery(verifier.verify(signed.stripped))


@pytest.mark.parametrize("copy", ["stripped", "reencoded"])
def test_stripped_and_reencoded_copies_recover_the_manifest(signed: Signed, repository: Repository,
                                                            copy: str) -> None:
    verifier = Verifier()
    with repository:
        verdict = Recoverer(repository, verifier).recover(verifier.verify(getattr(signed, copy)))
    assert verdict.verdict is Outcome.UNSIGNED  # the file itself is still unsigned
    assert not verdict.passed
    r = verdict.recovered
    assert r is not None
    assert r.manifest_id == manifest_id(signed)
    assert 0 <= r.distance <= MATCH_THRESHOLD
    assert r.verdict is Outcome.VALID  # signature intact, signer not on a trust list
    assert r.ai_generated is True and r.generator is not None and r.generator.name == "Sora"
    assert r.signer is not None and r.signer.subject.startswith("CN=Provenance Test")
    assert r.source == str(signed.store)


def test_recovered_manifest_is_trusted_under_its_anchors(signed: Signed, repository: Repository,
                                                         pki: DevPki) -> None:
    verifier = Verifier(load_anchors(pki.root_ca))
    with repository:
        verdict = Recoverer(repository, verifier).recover(verifier.verify(signed.stripped))
    assert verdict.recovered is not None and verdict.recovered.verdict is Outcome.TRUSTED
    assert verdict.verdict is Outcome.UNSIGNED


@pytest.mark.slow
def test_content_altered_after_signing_is_invalid_and_recovered(signed: Signed, pki: DevPki,
                                                                tmp_path: Path) -> None:
    """A detached manifest beside a re-encoded clip: the hard binding fails, the soft binding still finds it."""
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    original = tmp_path / "clip.mp4"
    result = signing.sign(signed.source, original, creds, Disclosure(generator="Sora"), sidecar=True,
                          soft_binding=True)
    assert result.sidecar is not None
    repository = open_repository(tmp_path / "own.sqlite3")
    assert repository is not None
    with repository:
        register(repository, result.manifest_store)
        altered = tmp_path / "altered.mp4"
        ffmpeg("-i", original, "-c:v", "libx264", "-crf", "30", altered)
        result.sidecar.rename(altered.with_name(altered.name + ".c2pa"))
        verifier = Verifier()
        before = verifier.verify(altered)
        assert before.verdict is Outcome.INVALID and HARD_BINDING_MISMATCH & set(before.failure_codes)
        after = Recoverer(repository, verifier).recover(before)
    assert after.verdict is Outcome.INVALID
    assert after.recovered is not None
    assert after.recovered.manifest_id == entry_for(result.manifest_store, Verifier()).manifest_id


@pytest.mark.slow
def test_unrelated_clip_recovers_nothing(signed: Signed, repository: Repository, tmp_path: Path) -> None:
    other = make_clip(tmp_path / "other.mp4", seconds=3, source="life", size="320x240", rate=25)
    verifier = Verifier()
    with repository:
        verdict = Recoverer(repository, verifier).recover(verifier.verify(other))
    assert verdict.verdict is Outcome.UNSIGNED and verdict.recovered is None


@pytest.mark.slow
def test_trimmed_copy_recovers_the_manifest_through_its_segments(signed: Signed, pki: DevPki,
                                                                tmp_path: Path) -> None:
    """The first fifth cut off (at a frame off the one-second segment grid) and re-encoded: the
    copy's windows line up with the signed clip's segments; an unrelated trimmed clip finds nothing."""
    source = make_clip(tmp_path / "zoom.mp4", seconds=8, source="mandelbrot", size="320x240", rate=25)
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    result = signing.sign(source, tmp_path / "signed.mp4", creds, Disclosure(generator="Sora"), soft_binding=True)
    assert result.soft_binding is not None and result.soft_binding.segments
    repository = open_repository(tmp_path / "own.sqlite3")
    assert repository is not None
    with repository:
        register(repository, result.manifest_store)
        register(repository, signed.result.manifest_store)  # another clip in the same repository
    trimmed, unrelated = tmp_path / "trimmed.mp4", tmp_path / "unrelated.mp4"
    ffmpeg("-ss", "1.73", "-i", result.output, "-c:v", "libx264", "-crf", "23", trimmed)
    other = make_clip(tmp_path / "life.mp4", seconds=8, source="life", size="320x240", rate=25)
    ffmpeg("-ss", "1.73", "-i", other, "-c:v", "libx264", "-crf", "23", unrelated)
    verifier = Verifier()
    repository = open_repository(tmp_path / "own.sqlite3", create=False)
    assert repository is not None
    with repository:
        recoverer = Recoverer(repository, verifier)
        found = recoverer.recover(verifier.verify(trimmed))
        nothing = recoverer.recover(verifier.verify(unrelated))
    assert found.verdict is Outcome.UNSIGNED and found.recovered is not None
    assert found.recovered.manifest_id == entry_for(result.manifest_store, verifier).manifest_id
    assert 0 <= found.recovered.distance <= MATCH_THRESHOLD
    assert found.recovered.generator is not None and found.recovered.generator.name == "Sora"
    assert nothing.verdict is Outcome.UNSIGNED and nothing.recovered is None
    text = run_cli("verify", trimmed, env={"PROVENANCE_STORE": str(tmp_path / "own.sqlite3")})
    assert text.code == 1 and RECOVERED_TEXT in text.stdout


def test_stand_alone_store_sets_only_the_hard_binding_aside(signed: Signed, pki: DevPki) -> None:
    reading = read_store(signed.result.manifest_store, Verifier(load_anchors(pki.root_ca)), "store")
    assert reading.verdict.verdict is Outcome.TRUSTED
    assert not HARD_BINDING_MISMATCH & set(reading.verdict.failure_codes)
    assert reading.soft_binding == signed.result.soft_binding


def test_tampered_store_is_invalid_and_refused(signed: Signed) -> None:
    tampered = bytearray(signed.result.manifest_store)
    at = tampered.find(b"Sora")
    tampered[at : at + 4] = b"Fake"
    reading = read_store(bytes(tampered), Verifier(), "store")
    assert reading.verdict.verdict is Outcome.INVALID
    assert "assertion.hashedURI.mismatch" in reading.verdict.failure_codes
    with pytest.raises(ManifestRejected, match="does not validate"):
        entry_for(bytes(tampered), Verifier())
    with pytest.raises(ManifestRejected, match="not a readable C2PA manifest store"):
        entry_for(b"\x00" * 64, Verifier())


def test_a_manifest_with_too_many_segment_codes_is_refused(signed: Signed, pki: DevPki, tmp_path: Path) -> None:
    from provenance.durability.recovery import MAX_REGISTERED_SEGMENTS
    from provenance.durability.softbinding import Segment, SoftBinding

    real = signed.result.soft_binding
    assert real is not None and real.segments
    padded = SoftBinding(real.units, tuple(Segment(1000 * i, 1000 * i + 2000, real.segments[0].unit)
                                           for i in range(MAX_REGISTERED_SEGMENTS + 1)))
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    result = signing.sign(signed.source, tmp_path / "padded.mp4", creds,
                          Disclosure(generator="Sora", extra_assertions=(padded.assertion(),)))
    with pytest.raises(ManifestRejected, match=f"at most {MAX_REGISTERED_SEGMENTS}"):
        entry_for(result.manifest_store, Verifier())


def test_recover_all_leaves_no_trace_without_a_repository(signed: Signed, tmp_path: Path) -> None:
    missing = tmp_path / "never-created.sqlite3"
    [verdict] = recover_all([Verifier().verify(signed.stripped)], Verifier(), store=str(missing))
    assert verdict.recovered is None
    assert not missing.exists()


@pytest.mark.slow
def test_cli_verify_reports_recovered_credentials(signed: Signed) -> None:
    env = {"PROVENANCE_STORE": str(signed.store)}
    text = run_cli("verify", signed.reencoded, env=env)
    assert text.code == 1  # still a failure: the file itself carries no credentials
    assert "UNSIGNED" in text.stdout and RECOVERED_TEXT in text.stdout and "Sora" in text.stdout
    as_json = run_cli("verify", "--format", "json", signed.stripped, env=env)
    assert as_json.code == 1
    [verdict] = json.loads(as_json.stdout)
    assert verdict["verdict"] == "unsigned"
    recovered = verdict["recovered"]
    assert recovered["manifest_id"] == manifest_id(signed)
    assert recovered["verdict"] == "valid" and recovered["ai_generated"] is True
    assert recovered["generator"]["name"] == "Sora" and recovered["distance"] == 0
    assert recovered["signer"]["sha256"] and "chain_pem" not in recovered["signer"]
    assert recovered["source"] == str(signed.store)
    # The stripped copy is the signed clip's frames: a copy of all of it, shown as such.
    assert recovered["match"] == "copy"
    assert recovered["aligned"] == {"start_ms": 0, "end_ms": 3000, "segments": 2, "in_place": 2}
    assert recovered["statement"] == (f"this is a copy of 0:00.0–0:03.0 of the clip signed by "
                                      f"{recovered['signer']['subject']}: the same pictures in the same order "
                                      "(2 of 2 segments in place)")
    assert [c["match"] for c in recovered["claimants"]] == ["copy"]
    assert "\n  match:         this is a copy of 0:0" in text.stdout  # the re-encoded copy, in the text


def test_cli_no_recovery(signed: Signed) -> None:
    result = run_cli("verify", "--no-recovery", "--format", "json", signed.stripped,
                     env={"PROVENANCE_STORE": str(signed.store)})
    assert json.loads(result.stdout)[0]["recovered"] is None


def test_cli_signed_file_is_not_looked_up(signed: Signed) -> None:
    result = run_cli("verify", "--format", "json", signed.signed, env={"PROVENANCE_STORE": str(signed.store)})
    assert result.code == 0
    assert json.loads(result.stdout)[0]["recovered"] is None


# ---- copies and look-alikes on real footage ---------------------------------------------------------

POLICY = """\
require_credentials = false
require_ai_disclosure = true
accept_recovered_ai_disclosure = true
"""


@dataclass(frozen=True)
class Globe:
    """A signed 5 s excerpt of the rotating globe, a copy of it, and the excerpt ten seconds earlier (never signed)."""

    tree: Path  # copy.mp4 (the signed excerpt, stripped) and neighbour.mp4 (the look-alike)
    store: Path
    manifest_id: str


@pytest.fixture(scope="module")
def globe(tmp_path_factory: pytest.TempPathFactory, pki: DevPki) -> Globe:
    footage = real_footage().get("globe")
    if footage is None:
        pytest.skip("the c2pa-rs globe (test.avi) is not in the shared corpus")
    d = tmp_path_factory.mktemp("globe")
    tree = d / "tree"
    tree.mkdir()
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    result = signing.sign(excerpt(footage, 20, 5, d / "globe-20.mp4"), d / "signed.mp4", creds,
                          Disclosure(generator="Sora"), soft_binding=True)
    ffmpeg("-i", result.output, "-map", "0", "-c", "copy", tree / "copy.mp4")
    excerpt(footage, 10, 5, tree / "neighbour.mp4")
    (tree / "provenance.toml").write_text(POLICY)
    store = d / "manifests.sqlite3"
    repository = open_repository(store)
    assert repository is not None
    with repository:
        return Globe(tree, store, register(repository, result.manifest_store).manifest_id)


@pytest.mark.slow
def test_a_look_alike_is_shown_as_one_and_never_as_the_original_credentials(globe: Globe, pki: DevPki) -> None:
    env = {"PROVENANCE_STORE": str(globe.store)}
    anchors = ("--trust-anchors", pki.root_ca)
    as_json = run_cli("verify", "--format", "json", globe.tree / "neighbour.mp4", *anchors, env=env)
    [verdict] = json.loads(as_json.stdout)
    recovered = verdict["recovered"]
    # Within the fingerprint threshold, trusted, and still only a look-alike.
    assert (recovered["manifest_id"], recovered["verdict"]) == (globe.manifest_id, "trusted")
    assert recovered["distance"] <= MATCH_THRESHOLD
    assert (recovered["match"], recovered["aligned"]) == ("similar", None)
    who = recovered["signer"]["subject"]
    assert recovered["statement"] == f"this resembles the clip signed by {who} but is not shown to be a copy of it"
    text = run_cli("verify", globe.tree / "neighbour.mp4", *anchors, env=env)
    assert text.code == 1 and "the original credentials" not in text.stdout
    lines = text.stdout.splitlines()
    assert lines[1].startswith("  similar:       no copy of a signed clip was found, only a clip resembling it; the "
                               "manifest of a similar clip in the repository says: AI-generated by Sora")
    assert lines[2] == f"  match:         {recovered['statement']}"
    # The signed excerpt's own copy is one, and its credentials are the original ones.
    copy = run_cli("verify", globe.tree / "copy.mp4", *anchors, env=env).stdout
    assert "the original credentials say: AI-generated by Sora" in copy
    assert f"  match:         this is a copy of 0:00.0–0:05.0 of the clip signed by {who}" in copy


@pytest.mark.slow
def test_only_a_copy_counts_for_accept_recovered_ai_disclosure(globe: Globe, pki: DevPki) -> None:
    result = run_cli("check", globe.tree, "--root", globe.tree, "--format", "json", "--store", globe.store,
                     "--trust-anchors", pki.root_ca)
    files = {f["path"]: f for f in json.loads(result.stdout)["files"]}
    assert result.code == 1
    assert (files["copy.mp4"]["status"], files["copy.mp4"]["recovered"]["match"]) == ("pass", "copy")
    neighbour = files["neighbour.mp4"]
    assert neighbour["recovered"]["match"] == "similar" and neighbour["recovered"]["verdict"] == "trusted"
    assert [v["rule"] for v in neighbour["violations"]] == ["missing-ai-disclosure"]
