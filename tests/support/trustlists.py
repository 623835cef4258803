"""Trust lists made for tests (PEM and ETSI TS 119 602 LoTE JSON, as the C2PA publishes them), and a local
HTTP server to fetch them from."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from provenance.trust.lists import LIST_FILES, SIGNERS, TRUSTED_STATUS, TSA

SIGNER_LIST_NAME = "C2PA Trust List"
TSA_LIST_NAME = "C2PA TSA Trust List"
# Later than the bundled lists (2026-08-05), so a fetched one made with it is the one in force.
LATER = dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def lote(entities: Mapping[str, Sequence[x509.Certificate]], *, name: str = SIGNER_LIST_NAME,
         issued: dt.datetime = LATER, next_update: dt.datetime | None = None, sequence: int = 2,
         status: str = TRUSTED_STATUS) -> dict[str, Any]:
    """A LoTE document listing each entity's certificates as trusted services."""
    def text(value: str) -> list[dict[str, str]]:
        return [{"lang": "en", "value": value}]

    return {"LoTE": {
        "ListAndSchemeInformation": {
            "LoTEVersionIdentifier": 1, "LoTESequenceNumber": sequence, "SchemeName": text(name),
            "SchemeOperatorName": text("Test operator"), "ListIssueDateTime": iso(issued),
            "NextUpdate": iso(next_update or issued + dt.timedelta(days=365)),
        },
        "TrustedEntitiesList": [
            {"TrustedEntityInformation": {"TEName": text(entity)},
             "TrustedEntityServices": [
                 {"ServiceInformation": {
                     "ServiceName": text(cert.subject.rfc4514_string()),
                     "ServiceDigitalIdentity": {"X509Certificates": [
                         {"val": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()}]},
                     "ServiceStatus": status, "StatusStartingTime": iso(issued)}}
                 for cert in certs]}
            for entity, certs in entities.items()],
    }}


def pem(certs: Sequence[x509.Certificate]) -> bytes:
    """A PEM bundle as the C2PA writes it: a Subject line before each certificate."""
    return b"".join(f"Subject\t{c.subject.rfc4514_string()}\n".encode() + c.public_bytes(serialization.Encoding.PEM)
                    + b"\n" for c in certs)


def certificates(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


@dataclass
class ListFiles:
    """The four files `trust update` fetches, by name, as bytes (edit them to make bad lists)."""

    files: dict[str, bytes] = field(default_factory=dict)

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.files.items():
            (folder / name).write_bytes(data)
        return folder


def list_files(signers: Mapping[str, Sequence[x509.Certificate]], tsa: Mapping[str, Sequence[x509.Certificate]],
               **dates: Any) -> ListFiles:
    """Both lists, PEM and JSON each, for these entities; `dates` go to `lote` (issued, next_update, sequence)."""
    out = ListFiles()
    for kind, entities, name in ((SIGNERS, signers, SIGNER_LIST_NAME), (TSA, tsa, TSA_LIST_NAME)):
        pem_name, json_name = LIST_FILES[kind]
        out.files[pem_name] = pem([c for certs in entities.values() for c in certs])
        out.files[json_name] = json.dumps(lote(entities, name=name, **dates), indent=2).encode()
    return out


class _Handler(BaseHTTPRequestHandler):
    server: _FileServer

    def do_GET(self) -> None:
        body = self.server.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _FileServer(HTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that stops reading an oversized file is what the tests ask for, not a server error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ListServer:
    """A local HTTP server answering GET /lists/NAME with `files[NAME]` (404 for anything else)."""

    url: str
    server: _FileServer

    def serve(self, files: ListFiles) -> None:
        self.server.files = dict(files.files)


@contextmanager
def list_server() -> Iterator[ListServer]:
    server = _FileServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield ListServer(f"http://{host!s}:{port}/lists/", server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
