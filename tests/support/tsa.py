"""A real RFC 3161 time-stamping authority on 127.0.0.1 for tests.

`openssl ts -reply` answers each request behind a small `http.server` handler;
the TSA's own PKI (root CA → TSA certificate with the critical timeStamping
EKU) is made here with `cryptography`.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from provenance.keys.pki import (
    CA_KEY_USAGE,
    build_certificate,
    chain_pem,
    distinguished_name,
    private_key_pem,
    write_private_file,
)

_CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/tsa-chain.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.4146.2.3
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


ORG = "Test TSA Org"
# RFC 3161 2.3: a TSA signs (digitalSignature) and vouches for what it signs (nonRepudiation).
TSA_KEY_USAGE = x509.KeyUsage(True, True, False, False, False, False, False, False, False)


@dataclass(frozen=True)
class TsaPki:
    """The TSA's certificate files and the subject it stamps under."""

    root_ca: Path  # trust anchor for the TSA
    root_key: Path  # the TSA root's key, for tests that misuse it to issue other certificates
    tsa_cert: Path
    tsa_key: Path
    tsa_subject: str


def make_tsa_pki(directory: Path, *, common_name: str = "Test Time Stamping Authority") -> TsaPki:
    """Root CA and a TSA certificate whose EKU is exactly timeStamping, marked critical (RFC 3161 2.3)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=3650)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = distinguished_name(ORG, f"{common_name} Root")
    root = build_certificate(root_name, root_key.public_key(), root_name, root_key, not_before=now, not_after=until,
                             ca=True, path_length=0, key_usage=CA_KEY_USAGE, authority_key_id=False)
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa_name = distinguished_name(ORG, common_name)
    tsa = build_certificate(tsa_name, tsa_key.public_key(), root_name, root_key, not_before=now, not_after=until,
                            ca=False, key_usage=TSA_KEY_USAGE, extended_key_usages=[ExtendedKeyUsageOID.TIME_STAMPING],
                            critical_eku=True)
    pki = TsaPki(directory / "tsa-root.pem", directory / "tsa-root.key", directory / "tsa.pem", directory / "tsa.key",
                 tsa_name.rfc4514_string())
    pki.root_ca.write_bytes(chain_pem([root]))
    write_private_file(pki.root_key, private_key_pem(root_key))
    pki.tsa_cert.write_bytes(chain_pem([tsa]))
    write_private_file(pki.tsa_key, private_key_pem(tsa_key))
    # Certificates openssl adds to the token next to the TSA's own (so verifiers can build the chain).
    (directory / "tsa-chain.pem").write_bytes(chain_pem([root]))
    (directory / "serial").write_text("01\n")
    (directory / "ts.cnf").write_text(_CONFIG.format(dir=directory))
    return pki


class _Handler(BaseHTTPRequestHandler):
    server: _TsaServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = self.rfile.read(length)
        self.server.requests += 1
        reply = self.server.reply(request)
        if reply is None:
            self.send_response(500)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


class _TsaServer(HTTPServer):
    def __init__(self, pki_dir: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pki_dir = pki_dir
        self.requests = 0
        self._lock = threading.Lock()

    def reply(self, request: bytes) -> bytes | None:
        with self._lock, tempfile.TemporaryDirectory() as tmp:
            query, response = Path(tmp) / "req.tsq", Path(tmp) / "resp.tsr"
            query.write_bytes(request)
            proc = subprocess.run(
                ["openssl", "ts", "-reply", "-config", str(self.pki_dir / "ts.cnf"),
                 "-queryfile", str(query), "-out", str(response)],
                capture_output=True, check=False,
            )
            return response.read_bytes() if proc.returncode == 0 and response.exists() else None


@dataclass(frozen=True)
class RunningTsa:
    url: str
    pki: TsaPki
    server: _TsaServer

    @property
    def requests(self) -> int:
        return self.server.requests


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


@contextmanager
def running_tsa(directory: Path) -> Iterator[RunningTsa]:
    """Serve an RFC 3161 TSA at http://127.0.0.1:<port>/ until the block ends."""
    pki = make_tsa_pki(directory)
    server = _TsaServer(directory)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield RunningTsa(f"http://{host!s}:{port}/", pki, server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
