"""Recovery through the watermark (provenance.durability.watermark_lookup): a stripped, marked clip finds its
manifest exactly, from the local repository and through a real `serve-repository`; an unmarked clip is never
reported; a mark moved onto other content is a mismatch, never a recovery; an unknown id is still reported."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provenance.durability import watermark_lookup
from provenance.durability.repository import Entry, Match, QueryError, Repository, open_repository
from provenance.durability.softbinding import SoftBinding
from provenance.keys.pki import DevPki
from provenance.verdict import MISMATCH, RECOVERED, UNREGISTERED
from provenance.watermark import ALGORITHM_ID, Payload, embed
from tests.support.cli import run_cli
from tests.support.clips import make_clip
from tests.support.server import start_server, stop
from tests.support.watermarks import MarkedClip, ffmpeg, sign_marked


def test_the_algorithm_id_is_the_watermark_s() -> None:
    assert watermark_lookup.ALG == ALGORITHM_ID == "org.provenance.wm.v1"


def test_the_assertion_reads_back() -> None:
    payload = Payload.from_hex("0123456789abcdef")
    assertion = watermark_lookup.assertion(payload)
    assert assertion["label"] == "c2pa.soft-binding" and assertion["created"] is True
    assert watermark_lookup.from_manifest({"assertions": [assertion]}) == payload.value
    wrong = {**assertion, "data": {**assertion["data"], "blocks": [{"scope": {}, "value": [1, 2, 3]}]}}
    assert watermark_lookup.from_manifest({"assertions": [wrong]}) is None
    malformed = {"label": "c2pa.soft-binding", "data": {"alg": ALGORITHM_ID, "blocks": 7}}
    assert watermark_lookup.from_manifest({"assertions": [malformed]}) is None


# ---- the repositories find a manifest by its watermark id, exactly -------------------------------------------

def _entry(name: str, *marks: bytes) -> Entry:
    import iscc_core as ic

    unit = "ISCC:" + ic.encode_component(ic.MT.CONTENT, ic.ST_CC.VIDEO, ic.VS.V0, 256, uuid.uuid4().bytes * 2)
    return Entry(f"urn:c2pa:{name}", SoftBinding((unit,)).value, "ab" * 32, name.encode(),
                 watermarks=tuple((ALGORITHM_ID, m) for m in marks))


@pytest.fixture(params=["sqlite", "postgres"])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    if request.param == "sqlite":
        location = str(tmp_path / "manifests.sqlite3")
    else:
        import psycopg

        url = request.getfixturevalue("postgres_server")
        name = f"wm_{uuid.uuid4().hex}"
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        location = url.rsplit("/", 1)[0] + "/" + name
    repo = open_repository(location)
    assert repo is not None
    with repo:
        yield repo


def test_a_watermark_id_finds_its_manifests_exactly(repository: Repository) -> None:
    mark, other = bytes.fromhex("00112233445566ff"), bytes.fromhex("00112233445566fe")
    repository.add_many([_entry("a", mark), _entry("b"), _entry("c", mark)])
    assert repository.match(ALGORITHM_ID, mark) == [Match("urn:c2pa:a", 0), Match("urn:c2pa:c", 0)]
    assert repository.match(ALGORITHM_ID, other) == []  # one bit off is another id: no nearest search
    with pytest.raises(QueryError, match="8 bytes"):
        repository.match(ALGORITHM_ID, mark + b"\x00")


# ---- recovery from a real marked clip ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory, pki: DevPki) -> MarkedClip:
    return sign_marked(tmp_path_factory.mktemp("wm-recovery"), pki)


def _verify(*args: object) -> tuple[int, dict[str, Any]]:
    result = run_cli("verify", "--format", "json", *args)
    [verdict] = json.loads(result.stdout)
    return result.code, verdict


def _recovered_through_the_watermark(verdict: dict[str, Any], marked: MarkedClip, source: str) -> None:
    recovered = verdict["recovered"]
    assert verdict["verdict"] == "unsigned"
    assert recovered["via"] == "watermark" and recovered["watermark_id"] == marked.payload.hex
    assert recovered["manifest_id"] == marked.manifest_id and recovered["source"] == source
    assert recovered["match"] == "copy" and recovered["verdict"] == "trusted"
    assert 0.9 < recovered["watermark_confidence"] <= 1
    assert verdict["watermark"]["status"] == RECOVERED
    assert verdict["watermark"]["manifest_id"] == marked.manifest_id


@pytest.mark.slow
def test_a_stripped_clip_recovers_its_manifest_from_the_local_repository(marked: MarkedClip, pki: DevPki) -> None:
    code, verdict = _verify(marked.stripped, "--store", marked.store, "--trust-anchors", pki.root_ca)
    assert code == 1  # recovered credentials never make a file pass
    _recovered_through_the_watermark(verdict, marked, str(marked.store))
    text = run_cli("verify", marked.stripped, "--store", marked.store).stdout
    assert f"  watermark:     carries a provenance watermark, id {marked.payload.hex}, registered with manifest " \
           f"{marked.manifest_id}, whose fingerprint matches this clip" in text


@pytest.mark.slow
def test_a_stripped_clip_recovers_its_manifest_through_serve_repository(marked: MarkedClip, pki: DevPki) -> None:
    server, url = start_server(marked.store)
    try:
        code, verdict = _verify(marked.stripped, "--resolver", url, "--trust-anchors", pki.root_ca)
    finally:
        stop(server)
    assert code == 1
    _recovered_through_the_watermark(verdict, marked, url)


@pytest.mark.slow
def test_an_unmarked_clip_is_never_reported(marked: MarkedClip, tmp_path: Path) -> None:
    unmarked = tmp_path / "unmarked.mp4"
    ffmpeg("-i", marked.source, "-c:v", "libx264", "-crf", "23", unmarked)
    _, verdict = _verify(unmarked, "--store", marked.store)
    assert verdict["watermark"] is None
    assert verdict["recovered"] is None or verdict["recovered"]["via"] == "fingerprint"


@pytest.mark.slow
def test_a_mark_moved_onto_another_clip_is_a_mismatch(marked: MarkedClip, tmp_path: Path) -> None:
    other = make_clip(tmp_path / "other.mp4", seconds=3, source="mandelbrot", size="320x180", rate=25)
    moved = embed(other, tmp_path / "moved.mp4", marked.payload).output
    code, verdict = _verify(moved, "--store", marked.store)
    assert code == 1 and verdict["recovered"] is None
    finding = verdict["watermark"]
    assert (finding["status"], finding["identifier"], finding["manifest_id"]) == (MISMATCH, marked.payload.hex,
                                                                                   marked.manifest_id)
    assert finding["distance"] > watermark_lookup.CONFIRM_BITS
    assert "the mark was copied onto other content" in finding["statement"]
    assert "so nothing is recovered" in run_cli("verify", moved, "--store", marked.store).stdout


@pytest.mark.slow
def test_an_unknown_id_is_still_reported(marked: MarkedClip, tmp_path: Path) -> None:
    unknown = Payload.random()
    unregistered = make_clip(tmp_path / "unregistered.mp4", seconds=3, source="testsrc", size="320x180", rate=25)
    clip = embed(unregistered, tmp_path / "unknown.mp4", unknown).output
    for store in (marked.store, tmp_path / "never-created.sqlite3"):  # a repository without it, and none at all
        _, verdict = _verify(clip, "--store", store)
        assert verdict["watermark"]["status"] == UNREGISTERED
        assert verdict["watermark"]["identifier"] == unknown.hex and verdict["recovered"] is None
    assert not (tmp_path / "never-created.sqlite3").exists()
    statement = f"carries a provenance watermark, id {unknown.hex}; its manifest is not in the repository"
    assert statement in run_cli("verify", clip, "--store", marked.store).stdout
    # check reports it too, in its JSON and on the file's line, with no repository at all.
    tree = tmp_path / "tree"
    tree.mkdir()
    clip.rename(tree / clip.name)
    none = tmp_path / "still-never-created.sqlite3"
    report = json.loads(run_cli("check", tree, "--format", "json", "--store", none).stdout)
    (result,) = report["files"]
    assert (result["watermark"]["status"], result["watermark"]["identifier"]) == (UNREGISTERED, unknown.hex)
    assert statement in run_cli("check", tree, "--store", none).stdout
    assert not none.exists()


POLICY = """\
require_credentials = false
require_ai_disclosure = true
accept_recovered_ai_disclosure = true
"""


@pytest.mark.slow
def test_check_accepts_a_disclosure_recovered_through_the_watermark(marked: MarkedClip, pki: DevPki,
                                                                    tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    ffmpeg("-i", marked.stripped, "-c", "copy", tree / "copy.mp4")
    (tree / "provenance.toml").write_text(POLICY)
    result = run_cli("check", tree, "--root", tree, "--format", "json", "--store", marked.store,
                     "--trust-anchors", pki.root_ca)
    [file] = json.loads(result.stdout)["files"]
    assert result.code == 0 and file["status"] == "pass"
    assert file["recovered"]["via"] == "watermark"
