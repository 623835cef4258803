"""The verify page as a web app: the page itself, and `POST /api/verify`, its JSON API.

An upload is streamed into a private temporary folder of its own (the size limit enforced as it
arrives), sniffed by content, verified with the same call as `provenance verify` (and recovery when a
repository is there), and the folder removed on every path: answered, refused, failed, or the client
gone. Nothing the client sends is ever used as a path. Every response carries a Content-Security-Policy
that allows only the page's own scripts and styles: no CDN, no inline script, no request elsewhere.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from provenance.durability.recovery import Recoverer
from provenance.durability.resolution_api import (
    DEFAULT_MAX_UPLOAD,
    ASGIApp,
    BodyLimit,
    Message,
    Receive,
    Scope,
    Send,
    save_body,
)
from provenance.errors import ProvenanceError
from provenance.page.gallery import Gallery
from provenance.page.report import page_report
from provenance.verdict import Verdict
from provenance.verify import Verifier

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
           (b"cross-origin-opener-policy", b"same-origin"), (b"cross-origin-resource-policy", b"same-origin")]
# The page's files: served by these names only.
STATIC = {"page.css": "text/css; charset=utf-8", "page.js": "text/javascript; charset=utf-8"}
FORMATS = ("json", "crjson", "page")
MAX_NAME = 200  # characters of the client's file name kept, for display only
MAX_FORM_BODY = 64 * 1024  # every route but the upload takes a few bytes at most
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")
_BINARY = {"type": "string", "format": "binary"}


@dataclass(frozen=True)
class PageSettings:
    """How the page verifies: the verifier, the upload limit, recovery, and the folder of a gallery."""

    verifier: Verifier
    max_upload: int = DEFAULT_MAX_UPLOAD  # bytes accepted by POST /api/verify
    recovery: bool = True  # look stripped or re-encoded files up in a manifest repository
    store: str | None = None  # that repository (default: the local one), unless `recoverer` is given
    recoverer: Recoverer | None = None  # e.g. serve-repository's own repository
    gallery: Path | None = None  # a folder whose media the page lists and verifies in the background
    upload_dir: Path | None = None  # where uploads' temporary folders go (default: the system's)


class SecurityHeaders:
    """ASGI middleware: the Content-Security-Policy and its companions on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, adding the headers to the response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def display_name(given: str | None) -> str:
    """The client's name for its file, for display only: its last path segment, printable, shortened."""
    name = _UNPRINTABLE.sub("", re.split(r"[\\/]", given or "")[-1]).strip()
    return name[:MAX_NAME] or "upload"


class VerifyPage:
    """What the page's routes do; one verification at a time (c2pa, ffmpeg and 2 cores are shared)."""

    def __init__(self, settings: PageSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self.gallery = Gallery(settings.gallery, self.report) if settings.gallery is not None else None

    def body_limit(self, path: str) -> int:
        """The largest request body the route at `path` accepts."""
        return self.settings.max_upload if path == "/api/verify" else MAX_FORM_BODY

    def verdict(self, path: Path) -> Verdict:
        """The verdict `provenance verify` gives the file, with recovery as configured."""
        with self._lock:
            verdict = self.settings.verifier.verify(path)
            if self.settings.recoverer is not None:
                return self.settings.recoverer.recover(verdict)
            if self.settings.recovery:
                from provenance.durability.recovery import recover_all

                try:
                    return recover_all([verdict], self.settings.verifier, store=self.settings.store)[0]
                except ProvenanceError:  # the verdict stands without recovery
                    return verdict
            return verdict

    def report(self, path: Path) -> tuple[Verdict, dict[str, Any]]:
        """The verdict on the file at `path` and the page's report of it."""
        verdict = self.verdict(path)
        with self._lock:
            return verdict, page_report(verdict, path)

    def crjson(self, path: Path) -> str | None:
        """c2pa's crJSON of the file, read with the verifier's trust settings; None where c2pa gives none."""
        with self._lock:
            return self.settings.verifier.verify_with_crjson(path)[1]

    def answer(self, path: Path, name: str, output: str) -> Response:
        """The response for the file at `path`, shown as `name`: the JSON verdict, the page's report or crJSON."""
        if output == "crjson":
            document = self.crjson(path)
            if document is None:
                raise HTTPException(422, "c2pa gives no crJSON for this file (unreadable, or several manifest stores)")
            return Response(document, media_type="application/json",
                            headers={"content-disposition": 'attachment; filename="crjson.json"'})
        if output == "page":
            verdict, report = self.report(path)
            report["verdict"] = _named(verdict, path, name).to_dict()
            return JSONResponse(report)
        verdict = _named(self.verdict(path), path, name)
        return JSONResponse(verdict.to_dict())

    async def verify_upload(self, request: Request,
                            output: str = Query("json", alias="format", pattern="^(json|crjson|page)$",
                                                description="json: the `verify --format json` object; crjson: "
                                                            "c2pa's crJSON report; page: the page's report (the "
                                                            "verdict, its plain words, a poster frame)"),
                            name: str | None = Query(None, max_length=1000,
                                                     description="The file's name, shown in the answer (never "
                                                                 "used as a path); multipart: its filename")
                            ) -> Response:
        """Verify an uploaded file, sent as the raw body (application/octet-stream) or as the multipart form
        field `file`; it is deleted once answered. 413 over the upload limit."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        folder = self.settings.upload_dir
        with tempfile.TemporaryDirectory(prefix="provenance-page-", dir=folder) as work:
            upload = Path(work) / "upload"  # never a name from the client
            if content_type == "multipart/form-data":
                size, filename = await save_multipart_file(request, upload)
                name = name or filename
            else:
                size = await save_body(request, upload)
            if size == 0:
                raise HTTPException(400, "the upload is empty: send the file as the body, or as the form field 'file'")
            return await run_in_threadpool(self.answer, upload, display_name(name), output)

    def info(self) -> dict[str, Any]:
        """What the page needs to know first: the upload limit, whether there is a gallery."""
        from provenance import __version__

        return {"version": __version__, "max_upload": self.settings.max_upload, "gallery": self.gallery is not None}

    def gallery_list(self) -> dict[str, Any]:
        """The gallery's media, each with its badge once verified, and how far verification is."""
        return self._gallery().progress()

    async def gallery_item(self, item_id: int,
                           output: str = Query("page", alias="format", pattern="^(json|crjson|page)$")) -> Response:
        """One gallery item's report (as POST /api/verify answers it); 409 while it is still being verified."""
        item = self._gallery().item(item_id)
        if item is None:
            raise HTTPException(404, "no such item in the gallery")
        if output == "crjson":
            return await run_in_threadpool(self.answer, item.path, item.name, "crjson")
        if item.verdict is None or item.report is None:
            raise HTTPException(409, "not verified yet")
        body = {**item.report, "verdict": _named(item.verdict, item.path, item.name).to_dict()}
        return JSONResponse(body if output == "page" else body["verdict"])

    def gallery_media(self, item_id: int) -> FileResponse:
        """The gallery item's file itself, for the page's player."""
        item = self._gallery().item(item_id)
        if item is None:
            raise HTTPException(404, "no such item in the gallery")
        return FileResponse(item.path, media_type=_media_type(item.path))

    def _gallery(self) -> Gallery:
        if self.gallery is None:
            raise HTTPException(404, "no gallery: start `provenance serve DIR` to list a folder's media")
        return self.gallery


def _named(verdict: Verdict, path: Path, name: str) -> Verdict:
    """The verdict shown under the file's name instead of the path it was verified at."""
    error = verdict.error.replace(str(path), name) if verdict.error else None
    return replace(verdict, path=name, error=error)


def _media_type(path: Path) -> str:
    from provenance import media as media_mod

    try:
        return media_mod.detect(path).mime
    except ProvenanceError:
        return "application/octet-stream"


async def save_multipart_file(request: Request, path: Path, field: str = "file") -> tuple[int, str | None]:
    """Stream the multipart form field `field` into the new file `path` as it arrives; the bytes written and the
    filename the client gave. Other fields are read past, not kept."""
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise HTTPException(400, "a multipart/form-data body needs a boundary")
    headers: dict[bytes, bytes] = {}
    header = [b"", b""]
    state: dict[str, Any] = {"in_file": False, "found": False, "filename": None, "written": 0}
    with open(path, "xb") as out:

        def on_part_begin() -> None:
            headers.clear()

        def on_header_field(data: bytes, start: int, end: int) -> None:
            header[0] += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            header[1] += data[start:end]

        def on_header_end() -> None:
            headers[header[0].lower()] = header[1]
            header[0] = header[1] = b""

        def on_headers_finished() -> None:
            _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
            state["in_file"] = disposition.get(b"name") == field.encode() and not state["found"]
            if state["in_file"]:
                filename = disposition.get(b"filename")
                state["filename"] = filename.decode("utf-8", "replace") if filename else None

        def on_part_data(data: bytes, start: int, end: int) -> None:
            if state["in_file"]:
                out.write(data[start:end])
                state["written"] += end - start

        def on_part_end() -> None:
            if state["in_file"]:
                state["found"], state["in_file"] = True, False

        parser = MultipartParser(boundary, {
            "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
            "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data, "on_part_end": on_part_end})
        try:
            async for chunk in request.stream():
                parser.write(chunk)
            parser.finalize()
        except MultipartParseError as e:
            raise HTTPException(400, f"malformed multipart body: {e}") from e
    if not state["found"]:
        raise HTTPException(400, f"the multipart body has no field {field!r}: send the file as the field 'file'")
    return int(state["written"]), state["filename"]


def _static(name: str) -> bytes:
    return (resources.files("provenance.page") / "static" / name).read_bytes()


def create_app(settings: PageSettings) -> FastAPI:
    """The verify page's app; `uvicorn.run(create_app(...))` serves it, or mount it inside another app."""
    from provenance import __version__

    page = VerifyPage(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if page.gallery is not None:  # verified in the background while the page is served
            page.gallery.start()
        try:
            yield
        finally:
            if page.gallery is not None:
                page.gallery.stop()

    app = FastAPI(title="provenance verify page", version=__version__, lifespan=lifespan,
                  summary="Verify a file's C2PA Content Credentials in the browser; the same as a JSON API",
                  description="POST /api/verify answers the `provenance verify --format json` object.")
    app.add_middleware(BodyLimit, limits=page.body_limit)
    app.add_middleware(SecurityHeaders)
    index = _static("index.html")
    assets = {name: _static(name) for name in STATIC}

    def home() -> Response:
        """The page."""
        return Response(index, media_type="text/html; charset=utf-8")

    def asset(name: str) -> Response:
        """One of the page's own files."""
        if name not in assets:
            raise HTTPException(404, "no such file")
        return Response(assets[name], media_type=STATIC[name], headers={"cache-control": "no-cache"})

    app.add_api_route("/", home, methods=["GET"], include_in_schema=False)
    app.add_api_route("/static/{name}", asset, methods=["GET"], include_in_schema=False)
    app.add_api_route("/api/verify", page.verify_upload, methods=["POST"], operation_id="verifyUpload",
                      tags=["verify"], openapi_extra={"requestBody": {"required": True, "content": {
                          "application/octet-stream": {"schema": dict(_BINARY)},
                          "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                                             "properties": {"file": dict(_BINARY)}}}}}},
                      responses={200: {"description": "The verdict (format=json), crJSON or the page's report"},
                                 400: {"description": "Empty or malformed upload"},
                                 413: {"description": "Larger than the upload limit"},
                                 422: {"description": "No crJSON for this file"}})
    app.add_api_route("/api/info", page.info, methods=["GET"], operation_id="pageInfo", tags=["page"])
    app.add_api_route("/api/gallery", page.gallery_list, methods=["GET"], operation_id="galleryList",
                      tags=["gallery"])
    app.add_api_route("/api/gallery/{item_id}", page.gallery_item, methods=["GET"], operation_id="galleryItem",
                      tags=["gallery"])
    app.add_api_route("/api/gallery/{item_id}/media", page.gallery_media, methods=["GET"],
                      operation_id="galleryMedia", tags=["gallery"])
    return app
