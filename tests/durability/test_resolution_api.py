"""The C2PA Soft Binding Resolution API: the real server (`provenance serve-repository`) on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from provenance import signing
from provenance.durability.resolution_api import MAX_GET_VALUE, MAX_MANIFEST_STORE, MAX_QUERY_BODY, active_manifest_only
from provenance.durability.resolver import Resolver
from provenance.durability.softbinding import ALG, SoftBinding
from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.manifest import Disclosure
from provenance.watermark import ALGORITHM_ID
from tests.support.cli import run_cli
from tests.support.clips import ffmpeg_exe, make_clip
from tests.support.server import TOKEN, free_port, start_server, stop


@dataclass(frozen=True)
class Server:
    url: str
    store: Path


@dataclass(frozen=True)
class Clip:
    result: signing.SignResult
    binding: SoftBinding
    stripped: Path
    reencoded: Path
    trimmed: Path  # first fifth cut off, re-encoded


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    store = tmp_path_factory.mktemp("server") / "manifests.sqlite3"
    proc, url = start_server(store)
    try:
        yield Server(url, store)
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, pki: DevPki) -> Clip:
    d = tmp_path_factory.mktemp("api-clip")
    source = make_clip(d / "source.mp4", seconds=3, source="testsrc2", size="320x240", rate=25)
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    result = signing.sign(source, d / "signed.mp4", creds, Disclosure(generator="Sora"), soft_binding=True)
    assert result.soft_binding is not None
    stripped, reencoded = d / "stripped.mp4", d / "reencoded.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(result.output), "-c", "copy", str(stripped)],
                   check=True)
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(result.output), "-c:v", "libx264", "-crf", "28",
                    str(reencoded)], check=True)
    trimmed = d / "trimmed.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-ss", "0.63", "-i", str(result.output), "-c:v", "libx264",
                    "-crf", "23", str(trimmed)], check=True)
    return Clip(result, result.soft_binding, stripped, reencoded, trimmed)


@pytest.fixture(scope="module")
def registered(server: Server, clip: Clip) -> str:
    """The clip's manifest submitted to the server; its manifest id."""
    response = httpx.post(f"{server.url}/manifests", content=clip.result.manifest_store,
                          headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/c2pa"})
    assert response.status_code in (200, 201), response.text
    manifest_id: str = response.json()["manifestId"]
    return manifest_id


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@pytest.mark.slow
def test_supported_algorithms(server: Server) -> None:
    response = httpx.get(f"{server.url}/services/supportedAlgorithms")
    assert response.json() == {"watermarks": [{"alg": ALGORITHM_ID}], "fingerprints": [{"alg": ALG}]}


def test_openapi_document_names_the_standard_operations(server: Server) -> None:
    document = httpx.get(f"{server.url}/openapi.json").json()
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert {"queryByBinding", "queryByLargeBinding", "uploadFile", "getManifestById",
            "getSupportedBindings"} <= operations
    assert "/manifests" in document["paths"]  # our submission route is documented too


@pytest.mark.slow
def test_submission_needs_the_token(server: Server, clip: Clip) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = httpx.post(f"{server.url}/manifests", content=clip.result.manifest_store, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


def test_submission_is_idempotent(server: Server, clip: Clip, registered: str) -> None:
    again = Resolver(server.url, token=TOKEN)
    assert again.submit(clip.result.manifest_store) == registered
    response = httpx.post(f"{server.url}/manifests", content=clip.result.manifest_store,
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response.json() == {"manifestId": registered, "created": False}


@pytest.mark.parametrize("damage", ["tamper", "truncate", "garbage"])
def test_invalid_manifest_stores_are_refused_and_nothing_is_written(server: Server, clip: Clip, damage: str,
                                                                    registered: str) -> None:
    store = clip.result.manifest_store
    if damage == "tamper":
        bad = bytearray(store)
        at = bad.find(b"Sora")
        bad[at : at + 4] = b"Fake"
        body = bytes(bad)
    elif damage == "truncate":
        body = store[: len(store) // 2]
    else:
        body = b"\x00" * 300
    before = httpx.post(f"{server.url}/matches/byBinding", json={"alg": ALG, "value": b64(clip.binding.value)},
                        params={"maxResults": 100}).json()
    response = httpx.post(f"{server.url}/manifests", content=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("manifest store refused:")
    after = httpx.post(f"{server.url}/matches/byBinding", json={"alg": ALG, "value": b64(clip.binding.value)},
                       params={"maxResults": 100}).json()
    assert after == before


def test_query_by_binding_get_and_post(server: Server, clip: Clip, registered: str) -> None:
    value = b64(clip.binding.value)
    got = httpx.get(f"{server.url}/matches/byBinding", params={"alg": ALG, "value": value})
    assert got.status_code == 200
    assert got.json() == {"matches": [{"manifestId": registered, "similarityScore": 100}]}
    posted = httpx.post(f"{server.url}/matches/byBinding", json={"alg": ALG, "value": value})
    assert posted.json() == got.json()


def test_query_with_only_the_video_code_of_a_reencoded_copy(server: Server, clip: Clip, registered: str) -> None:
    from provenance.durability.softbinding import compute

    copy = compute(clip.reencoded, with_instance=False)
    response = httpx.get(f"{server.url}/matches/byBinding", params={"alg": ALG, "value": b64(copy.value)})
    [match] = response.json()["matches"]
    assert match["manifestId"] == registered and 60 <= match["similarityScore"] < 100


def test_query_with_the_codes_of_a_trimmed_copy(server: Server, clip: Clip, registered: str) -> None:
    """A lookup value holding the copy's whole-clip code and the codes of its windows (IEP-0020:
    several Video-Codes in one ISCC-SEQ) finds the manifest by its segments, by POST and by GET."""
    from provenance.durability.softbinding import compute_query

    copy = compute_query(clip.trimmed)
    assert copy.segments
    value = b64(copy.query_value)
    response = httpx.post(f"{server.url}/matches/byBinding", json={"alg": ALG, "value": value})
    assert response.status_code == 200
    assert [m["manifestId"] for m in response.json()["matches"]] == [registered]
    assert len(value) <= MAX_GET_VALUE  # longer values get 414: test_bad_queries_get_4xx_with_a_message
    by_get = httpx.get(f"{server.url}/matches/byBinding", params={"alg": ALG, "value": value})
    assert by_get.json() == response.json()


def test_query_by_content_of_a_trimmed_copy(server: Server, clip: Clip, registered: str) -> None:
    response = httpx.post(f"{server.url}/matches/byContent", content=clip.trimmed.read_bytes(),
                          headers={"Content-Type": "video/mp4"}, timeout=120)
    assert response.status_code == 200
    assert [m["manifestId"] for m in response.json()["matches"]] == [registered]


@pytest.mark.slow
def test_query_by_content_of_an_unrelated_clip_finds_nothing(server: Server, registered: str,
                                                             tmp_path: Path) -> None:
    other = make_clip(tmp_path / "other.mp4", seconds=3, source="mandelbrot", size="320x240", rate=25)
    response = httpx.post(f"{server.url}/matches/byContent", content=other.read_bytes(),
                          headers={"Content-Type": "video/mp4"}, timeout=120)
    assert response.status_code == 200 and response.json() == {"matches": []}


@pytest.mark.parametrize("params,status,message", [
    ({"alg": ALG, "value": "not base64!"}, 400, "not valid base64"),
    ({"alg": "com.example.mark", "value": "AAAA"}, 400, "unsupported soft-binding algorithm"),
    ({"alg": ALG, "value": "AAAA"}, 400, "invalid io.iscc.v0 value"),
    ({"alg": ALG}, 400, "value"),
    ({"alg": ALG, "value": "AAAA", "maxResults": "0"}, 400, "maxResults"),
    ({"alg": ALG, "value": "A" * (MAX_GET_VALUE + 4)}, 414, "use POST"),
])
def test_bad_queries_get_4xx_with_a_message(server: Server, params: dict[str, str], status: int,
                                           message: str) -> None:
    response = httpx.get(f"{server.url}/matches/byBinding", params=params)
    assert response.status_code == status
    assert message in response.json()["detail"]


def test_malformed_json_body(server: Server) -> None:
    response = httpx.post(f"{server.url}/matches/byBinding", content=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400


@pytest.mark.parametrize("path,limit", [("/matches/byBinding", MAX_QUERY_BODY), ("/manifests", MAX_MANIFEST_STORE)])
def test_oversized_bodies_get_413(server: Server, path: str, limit: int) -> None:
    body = b"x" * (limit + 1)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    declared = httpx.post(f"{server.url}{path}", content=body, headers=headers)
    assert declared.status_code == 413 and str(limit) in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams in
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    streamed = httpx.post(f"{server.url}{path}", content=chunks(), headers=headers)
    assert streamed.status_code == 413


def test_query_by_content(server: Server, clip: Clip, registered: str) -> None:
    response = httpx.post(f"{server.url}/matches/byContent", content=clip.reencoded.read_bytes(),
                          headers={"Content-Type": "video/mp4"}, timeout=120)
    assert response.status_code == 200
    assert response.json()["matches"][0]["manifestId"] == registered


@pytest.mark.parametrize("content_type,status", [("image/png", 415), ("font/woff2", 415), ("", 415)])
def test_query_by_content_refuses_other_asset_types(server: Server, content_type: str, status: int) -> None:
    response = httpx.post(f"{server.url}/matches/byContent", content=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
                          headers={"Content-Type": content_type})
    assert response.status_code == status and response.json()["detail"]


def test_query_by_content_that_is_not_video(server: Server) -> None:
    response = httpx.post(f"{server.url}/matches/byContent", content=b"RIFF" + b"\x00" * 500,
                          headers={"Content-Type": "video/mp4"}, timeout=60)
    assert response.status_code == 400 and "cannot fingerprint" in response.json()["detail"]


def test_get_manifest_by_id(server: Server, clip: Clip, registered: str) -> None:
    response = httpx.get(f"{server.url}/manifests/{quote(registered, safe='')}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/c2pa"
    assert response.content == clip.result.manifest_store
    active = httpx.get(f"{server.url}/manifests/{quote(registered, safe='')}",
                       params={"returnActiveManifest": "true"})
    assert active.content == active_manifest_only(clip.result.manifest_store)
    missing = httpx.get(f"{server.url}/manifests/urn:c2pa:00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and "no manifest" in missing.json()["detail"]


@pytest.mark.slow
def test_verify_with_resolver_recovers_from_the_server(server: Server, clip: Clip, registered: str,
                                                       tmp_path: Path) -> None:
    result = run_cli("verify", "--format", "json", "--resolver", server.url, clip.stripped,
                     env={"PROVENANCE_STORE": str(tmp_path / "empty.sqlite3")})
    assert result.code == 1
    [verdict] = json.loads(result.stdout)
    assert verdict["verdict"] == "unsigned"
    assert verdict["recovered"]["manifest_id"] == registered
    assert verdict["recovered"]["source"] == server.url
    assert verdict["recovered"]["verdict"] == "valid"
    trimmed = run_cli("verify", "--format", "json", "--resolver", server.url, clip.trimmed,
                      env={"PROVENANCE_STORE": str(tmp_path / "empty.sqlite3")})
    assert json.loads(trimmed.stdout)[0]["recovered"]["manifest_id"] == registered


@pytest.mark.slow
def test_verify_with_an_unreachable_resolver_is_a_clear_error(clip: Clip) -> None:
    result = run_cli("verify", "--resolver", f"http://127.0.0.1:{free_port()}", clip.stripped)
    assert result.code == 1
    assert "cannot reach resolver" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_submissions_are_disabled_without_a_token(tmp_path: Path, clip: Clip) -> None:
    proc, url = start_server(tmp_path / "m.sqlite3", token=None)
    try:
        response = httpx.post(f"{url}/manifests", content=clip.result.manifest_store,
                              headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 403 and "PROVENANCE_REPOSITORY_TOKEN" in response.json()["detail"]
    finally:
        stop(proc)


@pytest.mark.slow
def test_trust_anchors_limit_submissions_to_trusted_signers(tmp_path: Path, clip: Clip, pki: DevPki,
                                                           other_pki: DevPki) -> None:
    proc, url = start_server(tmp_path / "m.sqlite3", "--trust-anchors", str(other_pki.root_ca))
    try:
        refused = Resolver(url, token=TOKEN)
        with pytest.raises(Exception, match="HTTP 422"):
            refused.submit(clip.result.manifest_store)
    finally:
        stop(proc)
    proc, url = start_server(tmp_path / "n.sqlite3", "--trust-anchors", str(pki.root_ca))
    try:
        assert Resolver(url, token=TOKEN).submit(clip.result.manifest_store).startswith("urn:c2pa:")
    finally:
        stop(proc)


@pytest.mark.slow
def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("serve-repository", "--store", tmp_path / "m.sqlite3", "--port", port)
    assert result.code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
