"""`provenance serve-repository` as a real server process on a free local port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TOKEN = "test-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(store: Path, *extra: str, token: str | None = TOKEN) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PROVENANCE_STORE": str(store)}
    env.pop("PROVENANCE_REPOSITORY_TOKEN", None)
    if token:
        env["PROVENANCE_REPOSITORY_TOKEN"] = token
    proc = subprocess.Popen([sys.executable, "-m", "provenance_cli.main", "serve-repository", "--port", str(port),
                             *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/services/supportedAlgorithms", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    stop(proc)
    raise RuntimeError("server did not start within 60 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
