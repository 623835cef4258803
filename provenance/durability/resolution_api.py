"""The C2PA Soft Binding Resolution API over a manifest repository (`provenance serve-repository`).

Routes and schemas follow the C2PA's OpenAPI document (version 1.0.0): `GET/POST /matches/byBinding`,
`POST /matches/byContent`, `GET /manifests/{manifestId}`, `GET /services/supportedAlgorithms`. The
standard has no submission route; `POST /manifests` is this project's own, protected by a bearer
token, and it stores nothing unless the manifest store validates and records an io.iscc.v0 soft
binding. The OpenAPI document is served at /openapi.json (and /docs).

A byBinding value may hold several Video-Codes (IEP-0020 allows it): a copy's whole-clip code first,
then the codes of its 2-second windows, as `provenance verify --resolver` sends them; byContent
computes the same from the uploaded asset. Each is matched against every stored code, whole clip
and segments alike (repository.base).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import struct
import tempfile
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from provenance._formats.boxes import HEADER_MAX, box_header
from provenance.durability.recovery import entry_for
from provenance.durability.repository import Entry, QueryError, Repository
from provenance.durability.softbinding import ALG, compute_query, similarity_score
from provenance.errors import ProvenanceError, SoftBindingError
from provenance.verify import Verifier

TOKEN_ENV = "PROVENANCE_REPOSITORY_TOKEN"
MAX_QUERY_BODY = 64 * 1024  # a soft-binding query is a few hundred bytes
MAX_MANIFEST_STORE = 16 * 1024 * 1024
MAX_GET_VALUE = 2048  # longer `value` parameters get 414: use POST /matches/byBinding
DEFAULT_MAX_UPLOAD = 512 * 1024 * 1024
VERIFY_PAGE_PATH = "/verify"  # where `serve-repository --verify-page` serves the verify page
_VIDEO = "video/"
_ASSET_TYPES = ("video/", "image/", "audio/", "application/", "model/", "text/")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SoftBindingQuery(BaseModel):
    """A soft-binding query: an algorithm and a value (the body of POST /matches/byBinding)."""

    alg: str = Field(description="Soft-binding algorithm name from the C2PA list, e.g. io.iscc.v0")
    value: str = Field(description="Base64 of the algorithm-specific value (io.iscc.v0: an ISCC-SEQ)")


class SoftBindingMatch(BaseModel):
    """A manifest whose soft binding matches the query, and how similar the two are (100: the same)."""

    manifestId: str  # noqa: N815 - the API's own field names
    endpoint: str | None = None
    similarityScore: int | None = Field(default=None, ge=0, le=100)  # noqa: N815


class SoftBindingQueryResult(BaseModel):
    """The manifests matching a query, nearest first."""

    matches: list[SoftBindingMatch]


class SoftBindingAlgorithm(BaseModel):
    """A soft-binding algorithm, by its name in the C2PA list."""

    alg: str


class SoftBindingAlgList(BaseModel):
    """The watermarking and fingerprinting algorithms a repository resolves."""

    watermarks: list[SoftBindingAlgorithm]
    fingerprints: list[SoftBindingAlgorithm]


class Submission(BaseModel):
    """The answer to POST /manifests: the manifest's id, and whether it was new to the repository."""

    manifestId: str  # noqa: N815
    created: bool


@dataclass(frozen=True)
class ServiceSettings:
    """How the service runs: who may submit manifests, how large an upload may be, which signers it accepts."""

    token: str | None = None  # bearer token for POST /manifests; None: submissions disabled
    max_upload: int = DEFAULT_MAX_UPLOAD  # bytes accepted by POST /matches/byContent
    require_trusted: bool = False  # accept only manifests whose signer chains to the verifier's anchors


class BodyLimit:
    """ASGI middleware: refuse a request body over its route's limit with 413, without reading it all.

    A declared Content-Length is checked up front; a chunked body is counted as it is read, and
    the 413 is raised from inside the route, where FastAPI turns it into the response.
    """

    def __init__(self, app: ASGIApp, limits: Callable[[str], int]) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, refusing its body once it is larger than its route's limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits(route_path(scope))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = JSONResponse({"detail": _too_large(limit)}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, limited_receive, send)


def _too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes"


def route_path(scope: Scope) -> str:
    """The request's path inside the app serving it (an app mounted at /verify sees /api/verify)."""
    path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
    return path[len(root):] if root and path.startswith(root) else path


async def save_body(request: Request, path: Path) -> int:
    """Stream the request body into the new file `path` as it arrives (BodyLimit refuses it past the route's
    limit); the bytes written."""
    written = 0
    with open(path, "xb") as out:
        async for chunk in request.stream():
            out.write(chunk)
            written += len(chunk)
    return written


def active_manifest_only(store: bytes) -> bytes:
    """The manifest store cut down to its active (last) manifest, for `returnActiveManifest=true`."""
    # Only boxes with plain 32-bit sizes (all c2pa writes) are cut; anything else is returned whole.
    outer = box_header(store[:HEADER_MAX], len(store))
    if outer is None or outer.type != b"jumb" or outer.size != len(store) or outer.length != 8 or outer.to_end:
        return store
    children: list[bytes] = []
    offset = 8
    while offset + 8 <= len(store):
        child = box_header(store[offset : offset + HEADER_MAX], len(store) - offset)
        if child is None or child.length != 8 or child.to_end or not child.fits(len(store) - offset):
            return store
        children.append(store[offset : offset + child.size])
        offset += child.size
    description = [c for c in children if c[4:8] == b"jumd"]
    manifests = [c for c in children if c[4:8] == b"jumb"]
    if not description or len(manifests) <= 1:
        return store
    body = description[0] + manifests[-1]
    return struct.pack(">I4s", 8 + len(body), b"jumb") + body


# The `maxResults` query parameter, the same on every route that returns matches.
_MAX_RESULTS = Query(10, alias="maxResults", ge=1, le=100, description="Most matches to return")
_BINARY = {"type": "string", "format": "binary"}


class ResolutionService:
    """What the routes do, over one repository and one verifier; `create_app` serves its route methods.

    The route methods keep FastAPI's parameter declarations, and their docstrings are the
    operations' descriptions in the OpenAPI document.
    """

    def __init__(self, repository: Repository, verifier: Verifier, settings: ServiceSettings, *,
                 verify_page: bool = False) -> None:
        self.repository = repository
        self.verifier = verifier
        self.settings = settings
        self.verify_page = verify_page  # the verify page is mounted at VERIFY_PAGE_PATH
        # c2pa's reader and ffmpeg are run one at a time: the service shares one verifier, and 2 cores.
        self._work_lock = threading.Lock()

    def body_limit(self, path: str) -> int:
        """The largest request body, in bytes, that the route at `path` accepts."""
        if path == "/matches/byContent":
            return self.settings.max_upload
        if path == "/manifests":
            return MAX_MANIFEST_STORE
        if self.verify_page and path.startswith(VERIFY_PAGE_PATH + "/"):
            return self.settings.max_upload  # the page's own BodyLimit holds each of its routes to its own limit
        return MAX_QUERY_BODY

    def query(self, alg: str, value: bytes, max_results: int) -> SoftBindingQueryResult:
        """The manifests whose soft binding matches `value`, nearest first; bad queries are 400s."""
        try:
            matches = self.repository.match(alg, value, max_results)
        except QueryError as e:
            raise HTTPException(400, e.message) from e
        except ProvenanceError as e:
            raise HTTPException(500, f"repository failure: {e.message}") from e
        return SoftBindingQueryResult(matches=[
            SoftBindingMatch(manifestId=m.manifest_id, similarityScore=similarity_score(m.distance))
            for m in matches])

    def query_by_binding(self, alg: str = Query(..., description="Soft-binding algorithm, e.g. io.iscc.v0"),
                         value: str = Query(..., description="Base64 of the soft-binding value"),
                         max_results: int = _MAX_RESULTS) -> SoftBindingQueryResult:
        """Manifests whose soft binding matches the given value."""
        if len(value) > MAX_GET_VALUE:
            raise HTTPException(414, f"value longer than {MAX_GET_VALUE} characters: use POST /matches/byBinding")
        return self.query(alg, _decode_value(value), max_results)

    def query_by_large_binding(self, body: SoftBindingQuery,
                               max_results: int = _MAX_RESULTS) -> SoftBindingQueryResult:
        """The same query with the value in a JSON body."""
        return self.query(body.alg, _decode_value(body.value), max_results)

    async def upload_file(self, request: Request, alg: str | None = Query(None, description="Algorithm to use"),
                          max_results: int = _MAX_RESULTS) -> SoftBindingQueryResult:
        """Manifests matching an uploaded asset (this repository fingerprints video)."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if not content_type.startswith(_ASSET_TYPES):
            raise HTTPException(415, f"unsupported asset type {content_type or '(none)'!r}: send the asset as video/*")
        if not content_type.startswith(_VIDEO):
            raise HTTPException(415, f"this repository computes {ALG} Video-Codes only: send the asset as video/*")
        if alg is not None and alg != ALG:
            raise HTTPException(400, f"unsupported soft-binding algorithm {alg!r}; this repository supports {ALG}")
        with tempfile.TemporaryDirectory(prefix="provenance-upload-") as work:
            asset = Path(work) / "asset"
            if await save_body(request, asset) == 0:
                raise HTTPException(400, "the request body is empty: send the asset itself")
            try:
                binding = await run_in_threadpool(self._fingerprint, asset)
            except SoftBindingError as e:
                raise HTTPException(400, f"cannot fingerprint the asset: {e.message.split(': ', 1)[-1]}") from e
        return await run_in_threadpool(self.query, ALG, binding, max_results)

    def get_manifest_by_id(self, manifest_id: str, return_active_manifest: bool = Query(
            False, alias="returnActiveManifest", description="Only the active manifest, not the whole store")
    ) -> Response:
        """A manifest store by its manifest id (the active manifest's label, urn:c2pa:…)."""
        if not manifest_id or len(manifest_id) > 512 or not manifest_id.isprintable():
            raise HTTPException(400, "invalid manifest id")
        try:
            store = self.repository.manifest_store(manifest_id)
        except ProvenanceError as e:
            raise HTTPException(500, f"repository failure: {e.message}") from e
        if store is None:
            raise HTTPException(404, f"no manifest {manifest_id!r} in this repository")
        if return_active_manifest:
            store = active_manifest_only(store)
        return Response(store, media_type="application/c2pa")

    def get_supported_bindings(self) -> SoftBindingAlgList:
        """The soft-binding algorithms this repository resolves."""
        from provenance.watermark.interface import ALGORITHM_ID

        return SoftBindingAlgList(watermarks=[SoftBindingAlgorithm(alg=ALGORITHM_ID)],
                                  fingerprints=[SoftBindingAlgorithm(alg=ALG)])

    async def submit_manifest(self, request: Request,
                              authorization: str | None = Header(None, include_in_schema=False)) -> Any:
        """Register a signed manifest store (this repository's own route, not part of the C2PA API)."""
        token = self.settings.token
        if token is None:
            raise HTTPException(403, f"submissions are disabled on this repository (no {TOKEN_ENV} set)")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        store = await request.body()
        if not store:
            raise HTTPException(400, "the request body is empty: send the manifest store (application/c2pa)")
        try:
            entry = await run_in_threadpool(self._validated_entry, store)
        except ProvenanceError as e:
            raise HTTPException(422, f"manifest store refused: {e.message}") from e
        try:
            created = await run_in_threadpool(self.repository.add, entry)
        except ProvenanceError as e:
            raise HTTPException(500, f"repository failure: {e.message}") from e
        return JSONResponse(Submission(manifestId=entry.manifest_id, created=created).model_dump(),
                            status_code=201 if created else 200)

    def _fingerprint(self, asset: Path) -> bytes:
        """The lookup value of an uploaded asset: whole-clip codes and the Video-Codes of its windows."""
        with self._work_lock:
            return compute_query(asset, with_instance=True).query_value

    def _validated_entry(self, store: bytes) -> Entry:
        with self._work_lock:
            return entry_for(store, self.verifier, require_trusted=self.settings.require_trusted)


def create_app(repository: Repository, verifier: Verifier, settings: ServiceSettings, *,
               verify_page: ASGIApp | None = None) -> FastAPI:
    """The FastAPI application; `uvicorn.run(create_app(...))` serves it. `verify_page` (the app of
    provenance.page.app.create_app) is mounted at VERIFY_PAGE_PATH."""
    from provenance import __version__

    service = ResolutionService(repository, verifier, settings, verify_page=verify_page is not None)
    app = FastAPI(
        title="provenance manifest repository",
        version=__version__,
        summary="C2PA Soft Binding Resolution API (1.0.0) over a provenance manifest repository",
        description=(f"Resolves `{ALG}` soft bindings (ISO 24138 ISCC Video-Codes) to C2PA manifest stores. "
                     "POST /manifests (bearer token) registers signed manifest stores."),
    )
    app.add_middleware(BodyLimit, limits=service.body_limit)
    app.exception_handler(RequestValidationError)(_bad_request)
    _add_routes(app, service)
    if verify_page is not None:
        app.mount(VERIFY_PAGE_PATH, verify_page)
    _document_bearer_token(app)
    return app


def _add_routes(app: FastAPI, service: ResolutionService) -> None:
    """Serve `service`'s route methods at the API's paths, each with its OpenAPI metadata."""
    matches: dict[str, Any] = {"response_model": SoftBindingQueryResult, "response_model_exclude_none": True,
                               "tags": ["matches"]}
    app.add_api_route("/matches/byBinding", service.query_by_binding, methods=["GET"],
                      operation_id="queryByBinding", **matches)
    app.add_api_route("/matches/byBinding", service.query_by_large_binding, methods=["POST"],
                      operation_id="queryByLargeBinding", **matches)
    app.add_api_route("/matches/byContent", service.upload_file, methods=["POST"], operation_id="uploadFile",
                      openapi_extra={"requestBody": {"required": True, "content": {
                          f"{kind}*": {"schema": dict(_BINARY)} for kind in _ASSET_TYPES}}}, **matches)
    app.add_api_route("/manifests/{manifest_id:path}", service.get_manifest_by_id, methods=["GET"],
                      operation_id="getManifestById", tags=["manifests"],
                      responses={200: {"content": {"application/c2pa": {"schema": dict(_BINARY)}},
                                       "description": "The manifest store"},
                                 404: {"description": "Unknown manifest id"}})
    app.add_api_route("/services/supportedAlgorithms", service.get_supported_bindings, methods=["GET"],
                      response_model=SoftBindingAlgList, operation_id="getSupportedBindings", tags=["services"])
    app.add_api_route("/manifests", service.submit_manifest, methods=["POST"], response_model=Submission,
                      status_code=201, tags=["submission"], operation_id="submitManifest",
                      openapi_extra={"requestBody": {"required": True, "content": {
                                         "application/c2pa": {"schema": dict(_BINARY)}}},
                                     "security": [{"bearer": []}]},
                      responses={200: {"description": "Already registered"},
                                 401: {"description": "Missing or wrong token"},
                                 422: {"description": "The manifest store does not validate"}})


async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A request that does not fit its route: 400 naming each problem (FastAPI's own answer is a 422)."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'request'}: {e.get('msg')}"
        for e in exc.errors())
    return JSONResponse({"detail": f"invalid request: {problems}"}, status_code=400)


def _decode_value(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise HTTPException(400, "value is not valid base64 (RFC 4648, padded)") from e


def _document_bearer_token(app: FastAPI) -> None:
    """Name the bearer token of POST /manifests in the app's OpenAPI document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
                "type": "http", "scheme": "bearer", "description": f"The repository's {TOKEN_ENV}"}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def token_from_environment() -> str | None:
    """The bearer token for submissions from PROVENANCE_REPOSITORY_TOKEN; None (submissions off) when unset or empty."""
    token = os.environ.get(TOKEN_ENV, "")
    return token or None
