"""Fuzz the Soft Binding Resolution API's inputs (query parameters, JSON and binary bodies, headers) through
FastAPI's TestClient, against the real app over a real SQLite repository holding a real signed manifest.

Property: never a 500 (nor an exception escaping the app: the TestClient re-raises those); every error
is a JSON `detail`; a 200 from a query is a well-formed match list.
"""

from __future__ import annotations

import base64
import json
import string
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from provenance import signing
from provenance.durability.repository import open_repository
from provenance.durability.resolution_api import ServiceSettings, create_app
from provenance.durability.softbinding import ALG
from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.manifest import Disclosure
from provenance.trust.anchors import load_anchors
from provenance.verify import Verifier
from tests.support.clips import make_clip

from . import harness
from .mutations import CborEdit, apply, byte_ops, cbor_values
from .seeds import Seed, jumbf_nodes

pytestmark = pytest.mark.slow  # a bounded fuzz run: seconds per target

TOKEN = "fuzz-token-0123456789"
MAX_UPLOAD = 256 * 1024


@dataclass(frozen=True)
class Service:
    client: TestClient
    manifest_id: str
    store: bytes
    value: bytes  # the registered clip's soft-binding value (an ISCC-SEQ)
    query_value: bytes


@pytest.fixture(scope="module")
def service(pki: DevPki) -> Iterator[Service]:
    with tempfile.TemporaryDirectory(prefix="provenance-fuzz-api-") as name:
        folder = Path(name)
        source = make_clip(folder / "source.mp4", seconds=2, size="160x120", rate=15)
        creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
        result = signing.sign(source, folder / "signed.mp4", creds, Disclosure(generator="Sora"), soft_binding=True)
        assert result.soft_binding is not None
        repository = open_repository(folder / "manifests.sqlite3")
        assert repository is not None
        with repository:
            app = create_app(repository, Verifier(load_anchors(pki.root_ca)),
                             ServiceSettings(token=TOKEN, max_upload=MAX_UPLOAD))
            with TestClient(app, raise_server_exceptions=True) as client:
                registered = client.post("/manifests", content=result.manifest_store,
                                         headers={"Authorization": f"Bearer {TOKEN}",
                                                  "Content-Type": "application/c2pa"})
                assert registered.status_code == 201, registered.text
                yield Service(client, registered.json()["manifestId"], result.manifest_store,
                              result.soft_binding.value, result.soft_binding.query_value)


# ---------------------------------------------------------------------------------------------- inputs

_header_text = st.text(st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=40)
_token_chars = string.ascii_letters + string.digits + "-_"


def headers(service_token: str = TOKEN) -> st.SearchStrategy[dict[str, str]]:
    auth = st.one_of(st.just(f"Bearer {service_token}"), st.just(f"bearer {service_token}"), st.just("Bearer "),
                     st.just(f"Basic {service_token}"), st.just(f"Bearer {service_token}x"), _header_text)
    return st.fixed_dictionaries({}, optional={
        "Authorization": auth,
        "Content-Type": st.sampled_from(["application/json", "application/c2pa", "video/mp4", "video/", "image/png",
                                         "text/plain", "multipart/form-data; boundary=x", "", "VIDEO/MP4; x=y",
                                         "application/json; charset=latin-1"]) | _header_text,
        "Content-Length": st.sampled_from(["0", "1", "-1", "abc", "99999999999999999999", "\u00b2", " 5"]),
        "Accept": _header_text,
        "X-" + "Fuzz": _header_text,
    })


def b64_values(service: Service) -> st.SearchStrategy[str]:
    """Base64 text of real soft-binding values, of mutants of them, of noise; and text that is not base64."""
    real = st.sampled_from([service.value, service.query_value])
    mutated = st.builds(apply, real, st.lists(byte_ops(len(service.query_value)), min_size=1, max_size=3))
    raw = real | mutated | st.binary(max_size=96)
    encoded = raw.map(lambda b: base64.b64encode(b).decode())
    return encoded | encoded.map(lambda s: s.rstrip("=")) | encoded.map(lambda s: s.replace("+", "-")) | st.text(
        max_size=40) | st.just("A" * 2100)


def _max_results() -> st.SearchStrategy[str]:
    return st.sampled_from(["1", "10", "100", "101", "0", "-1", "1e3", "", "ten", "99999999999999999999999"]) | st.text(
        max_size=6)


def _params(service: Service) -> st.SearchStrategy[dict[str, str]]:
    alg = st.just(ALG) | st.just(ALG.upper()) | st.text(max_size=12)
    return st.fixed_dictionaries({}, optional={"alg": alg, "value": b64_values(service), "maxResults": _max_results()})


def _json_bodies(service: Service) -> st.SearchStrategy[bytes]:
    value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                         lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                      max_size=3), max_leaves=8)
    query = st.fixed_dictionaries({}, optional={"alg": st.just(ALG) | value, "value": b64_values(service) | value,
                                                "extra": value})
    encoded = (query | value).map(lambda v: json.dumps(v).encode())
    return encoded | st.binary(max_size=64) | st.just(b'{"alg": "io.iscc.v0", "value": "' + b"A" * 70000 + b'"}')


# -------------------------------------------------------------------------------------------- property


def _check(target: str, service: Service, method: str, url: str, *, params: Any = None, content: bytes | None = None,
           headers: dict[str, str] | None = None) -> None:
    def describe() -> str:
        return f"{method} {url} params={params!r} headers={headers!r} body={content!r}"

    raw_headers = {k: v.encode("latin-1") for k, v in (headers or {}).items()}  # as they come off the wire
    with harness.execution(target, describe, lambda: content):
        response = service.client.request(method, url, params=params, content=content, headers=raw_headers)
        assert response.status_code != 500, f"500 from {describe()}: {response.text}"
        assert response.status_code < 500 or response.status_code in (501,), response.text
        if response.status_code >= 400:
            detail = response.json()["detail"]
            assert isinstance(detail, (str, list)) and detail
        elif url.startswith("/matches"):
            matches = response.json()["matches"]
            assert all(isinstance(m["manifestId"], str) and 0 <= m.get("similarityScore", 0) <= 100 for m in matches)


def test_query_by_binding_get(service: Service) -> None:
    @harness.fuzz_settings("api.by-binding-get")
    @given(params=_params(service), extra=headers())
    def run(params: dict[str, str], extra: dict[str, str]) -> None:
        _check("api.by-binding-get", service, "GET", "/matches/byBinding", params=params, headers=extra)

    run()


def test_query_by_binding_post(service: Service) -> None:
    @harness.fuzz_settings("api.by-binding-post")
    @given(body=_json_bodies(service), params=st.fixed_dictionaries({}, optional={"maxResults": _max_results()}),
           extra=headers())
    def run(body: bytes, params: dict[str, str], extra: dict[str, str]) -> None:
        extra = {"Content-Type": "application/json", **extra}
        _check("api.by-binding-post", service, "POST", "/matches/byBinding", params=params, content=body,
               headers=extra)

    run()


def test_get_manifest(service: Service) -> None:
    ids = st.one_of(st.just(service.manifest_id), st.text(max_size=40),
                    st.builds(lambda i, t: service.manifest_id[:i] + t, st.integers(0, 60), st.text(max_size=4)),
                    st.just("x" * 600), st.just("urn:c2pa:" + "/" * 20), st.just("..%2f..%2fetc%2fpasswd"))
    active = st.sampled_from(["true", "false", "1", "0", "yes", "maybe", ""]) | st.text(max_size=5)

    @harness.fuzz_settings("api.manifest-get")
    @given(manifest_id=ids, active=st.none() | active, extra=headers())
    def run(manifest_id: str, active: str | None, extra: dict[str, str]) -> None:
        params = {"returnActiveManifest": active} if active is not None else None
        _check("api.manifest-get", service, "GET", "/manifests/" + quote(manifest_id, safe="/:"), params=params,
               headers=extra)

    run()


def test_submit_manifest(service: Service) -> None:
    """POST /manifests: tokens right and wrong, and manifest stores mutated (each one c2pa validates)."""
    store = service.store
    labels = sorted({n.label for n in jumbf_nodes(store)[0].walk() if n.type == b"jumb" and n.label
                     and n.label.startswith("c2pa.") and any(c.type == b"cbor" for c in n.children)})
    actions = st.sampled_from(["replace", "delete", "add"])
    edit = st.builds(CborEdit, st.sampled_from(labels), st.integers(0, 200), actions, cbor_values(),
                     st.text(max_size=8))

    def edited(edits: list[CborEdit]) -> bytes:
        out = store
        for e in edits:
            out = e.apply_to_store(out)
        return out

    bodies = st.one_of(st.just(store), st.binary(max_size=128),
                       st.builds(apply, st.just(store), st.lists(byte_ops(len(store)), min_size=1, max_size=3)),
                       st.lists(edit, min_size=1, max_size=3).map(edited))

    @harness.fuzz_settings("api.manifest-post")
    @given(body=bodies, extra=headers(), token_ok=st.booleans())
    def run(body: bytes, extra: dict[str, str], token_ok: bool) -> None:
        if token_ok:
            extra = {**extra, "Authorization": f"Bearer {TOKEN}"}
        _check("api.manifest-post", service, "POST", "/manifests", content=body, headers=extra)

    run()


def test_query_by_content(service: Service, fuzz_seeds: dict[str, Seed]) -> None:
    """POST /matches/byContent: uploads that are mutated real clips, or not video at all (each one
    fingerprinted with ffmpeg, so few examples)."""
    clip = fuzz_seeds["mp4"].data
    bodies = st.one_of(st.just(clip), st.binary(max_size=64),
                       st.builds(apply, st.just(clip), st.lists(byte_ops(len(clip)), min_size=1, max_size=3)))
    content_type = st.sampled_from(["video/mp4", "video/quicktime", "video/webm", "image/png", "text/plain", ""])

    @harness.fuzz_settings("api.by-content")
    @given(body=bodies, kind=content_type, alg=st.none() | st.sampled_from([ALG, "x"]))
    def run(body: bytes, kind: str, alg: str | None) -> None:
        params = {"alg": alg} if alg is not None else None
        _check("api.by-content", service, "POST", "/matches/byContent", params=params, content=body,
               headers={"Content-Type": kind})

    run()
