"""The verify page's JSON API on a real server: uploads raw and multipart, the limit, temporary files, isolation."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from provenance.durability.recovery import Recoverer
from provenance.durability.repository import open_repository
from provenance.durability.resolution_api import ServiceSettings
from provenance.durability.resolution_api import create_app as create_repository_app
from provenance.keys.pki import DevPki
from provenance.page.app import PageSettings, create_app, display_name
from provenance.trust.anchors import load_anchors
from provenance.verify import Verifier
from tests.support.clips import make_clip, sign_file
from tests.support.page import post_file, serve_app, serve_page, signed_and_stripped

pytestmark = pytest.mark.slow
LIMIT = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, pki: DevPki, other_pki: DevPki) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("page-api")
    plain = make_clip(d / "plain.mp4")
    sign_file(plain, d / "signed.mp4", pki, generator="Sora", generator_version="2")
    sign_file(plain, d / "other.mp4", other_pki, generator="Veo")
    (d / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 8)
    (d / "big.bin").write_bytes(b"\x00" * (LIMIT + 1))
    return {"plain": plain, "signed": d / "signed.mp4", "other": d / "other.mp4", "corrupt": d / "corrupt.mp4",
            "big": d / "big.bin"}


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="module")
def url(pki: DevPki, uploads: Path) -> Iterator[str]:
    settings = PageSettings(verifier=Verifier(load_anchors(pki.root_ca)), max_upload=LIMIT, recovery=False,
                            upload_dir=uploads)
    with serve_page(settings) as base:
        yield base


def left_over(uploads: Path) -> list[Path]:
    return list(uploads.iterdir())


def test_a_raw_body_answers_the_verify_json_object(url: str, clips: dict[str, Path], uploads: Path) -> None:
    response = post_file(url, clips["signed"], name="my clip.mp4")
    assert response.status_code == 200
    verdict = response.json()
    assert verdict["verdict"] == "trusted"
    assert verdict["path"] == "my clip.mp4"
    assert verdict["generator"] == {"name": "Sora", "version": "2"}
    assert verdict["signer"]["subject"].startswith("CN=")
    assert "content-security-policy" in response.headers
    assert left_over(uploads) == []


def test_a_multipart_field_file_is_verified_under_its_filename(url: str, clips: dict[str, Path],
                                                               uploads: Path) -> None:
    with open(clips["other"], "rb") as f:
        response = httpx.post(f"{url}/api/verify", files={"file": ("../../etc/passwd", f, "video/mp4")},
                              data={"note": "ignored"}, timeout=120)
    assert response.status_code == 200
    verdict = response.json()
    assert verdict["verdict"] == "valid"  # signed by a CA the anchors do not hold
    assert verdict["path"] == "passwd"  # the client's name is only ever shown, never a path
    assert left_over(uploads) == []


def test_a_multipart_body_without_the_field_is_refused(url: str, uploads: Path) -> None:
    response = httpx.post(f"{url}/api/verify", files={"other": ("x.mp4", b"abc", "video/mp4")}, timeout=30)
    assert response.status_code == 400
    assert "'file'" in response.json()["detail"]
    assert left_over(uploads) == []


def test_unsigned_and_corrupt_files_get_their_verdicts(url: str, clips: dict[str, Path], uploads: Path) -> None:
    assert post_file(url, clips["plain"]).json()["verdict"] == "unsigned"
    corrupt = post_file(url, clips["corrupt"], name="corrupt.mp4").json()
    assert corrupt["verdict"] == "error"
    assert str(uploads) not in corrupt["error"]  # the temporary path is never shown
    assert corrupt["error"].startswith("corrupt.mp4")
    assert left_over(uploads) == []


def test_an_empty_body_is_a_400(url: str, uploads: Path) -> None:
    response = httpx.post(f"{url}/api/verify", content=b"", headers={"content-type": "application/octet-stream"})
    assert response.status_code == 400
    assert left_over(uploads) == []


def test_over_the_limit_is_a_413_declared_or_streamed(url: str, clips: dict[str, Path], uploads: Path) -> None:
    declared = post_file(url, clips["big"])
    assert declared.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        for _ in range(LIMIT // 65536 + 2):
            yield b"\x00" * 65536

    streamed = httpx.post(f"{url}/api/verify", content=chunks(), headers={"content-type": "application/octet-stream"},
                          timeout=60)
    assert streamed.status_code == 413
    assert "larger than" in streamed.json()["detail"]
    assert left_over(uploads) == []


def test_a_client_that_hangs_up_mid_upload_leaves_no_file(url: str, uploads: Path) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(b"POST /api/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Length: 1000000\r\n\r\n" + b"\x00" * 200_000)
        deadline = time.monotonic() + 10
        while not left_over(uploads) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left_over(uploads), "the upload never reached the server"
    deadline = time.monotonic() + 10
    while left_over(uploads) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left_over(uploads) == []


def test_concurrent_uploads_each_get_their_own_verdict(url: str, clips: dict[str, Path], uploads: Path) -> None:
    names = ["signed", "other", "plain", "corrupt"] * 2
    answers: dict[int, str] = {}

    def post(i: int) -> None:
        verdict = post_file(url, clips[names[i]], name=f"{i}-{names[i]}").json()
        answers[i] = f"{verdict['path']}={verdict['verdict']}"

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(names))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = {"signed": "trusted", "other": "valid", "plain": "unsigned", "corrupt": "error"}
    assert answers == {i: f"{i}-{n}={expected[n]}" for i, n in enumerate(names)}
    assert left_over(uploads) == []


def test_crjson_and_the_page_report(url: str, clips: dict[str, Path]) -> None:
    crjson = post_file(url, clips["signed"], format="crjson")
    assert crjson.status_code == 200
    assert "manifests" in json.dumps(crjson.json())
    page = post_file(url, clips["signed"], format="page", name="clip.mp4").json()
    assert page["verdict"]["verdict"] == "trusted"
    assert page["explained"]["badge"] == "Trusted"
    assert page["explained"]["sentence"].startswith("Made with AI: generated by Sora 2, signed by ")
    assert page["poster"].startswith("data:image/jpeg;base64,")
    assert post_file(url, clips["corrupt"], format="crjson").status_code == 422


def test_the_openapi_document_describes_the_upload(url: str) -> None:
    document = httpx.get(f"{url}/openapi.json").json()
    operation = document["paths"]["/api/verify"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/octet-stream", "multipart/form-data"}
    assert {"200", "413"} <= set(operation["responses"])
    assert {p["name"] for p in operation["parameters"]} == {"format", "name"}


def test_only_the_pages_own_files_are_served(url: str) -> None:
    page = httpx.get(f"{url}/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(f"{url}/static/page.js").status_code == 200
    for bad in ("/static/..%2Fapp.py", "/static/index.html", "/static/%2e%2e%2f%2e%2e%2fpyproject.toml"):
        assert httpx.get(f"{url}{bad}").status_code == 404, bad
    assert httpx.get(f"{url}/api/gallery").status_code == 404  # no folder given


def test_display_names_are_only_ever_a_last_segment() -> None:
    assert display_name("C:\\Users\\me\\clip.mp4") == "clip.mp4"
    assert display_name("../../x\x00y\n.mp4") == "xy.mp4"
    assert display_name(None) == "upload"
    assert display_name("/") == "upload"


def test_serve_repository_mounts_the_page_with_recovery_through_its_store(tmp_path: Path, clips: dict[str, Path],
                                                                          pki: DevPki) -> None:
    _, stripped = signed_and_stripped(tmp_path, pki, tmp_path / "manifests.sqlite3")
    repository = open_repository(tmp_path / "manifests.sqlite3")
    assert repository is not None
    with repository:
        verifier = Verifier(load_anchors(pki.root_ca))
        page = create_app(PageSettings(verifier=verifier, max_upload=LIMIT, recoverer=Recoverer(repository, verifier)))
        app = create_repository_app(repository, verifier, ServiceSettings(max_upload=LIMIT), verify_page=page)
        with serve_app(app) as base:
            assert httpx.get(f"{base}/verify/").status_code == 200
            assert httpx.get(f"{base}/verify").headers["location"].endswith("/verify/")  # relative URLs hold
            assert "static/page.js" in httpx.get(f"{base}/verify/").text
            verdict = post_file(f"{base}/verify", clips["signed"]).json()
            assert verdict["verdict"] == "trusted"
            assert post_file(f"{base}/verify", clips["big"]).status_code == 413
            found = post_file(f"{base}/verify", stripped).json()
            assert found["verdict"] == "unsigned"
            assert found["recovered"]["match"] == "copy"
            assert found["recovered"]["verdict"] == "trusted"
            assert httpx.get(f"{base}/services/supportedAlgorithms").status_code == 200
