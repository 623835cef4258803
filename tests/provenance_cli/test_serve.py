"""`provenance serve` and `serve-repository --verify-page` as real processes: the page, the warning, the errors."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from provenance.keys.pki import DevPki
from tests.support.cli import run_cli
from tests.support.clips import make_clip, sign_file
from tests.support.page import post_file

pytestmark = pytest.mark.slow


@contextmanager
def serving(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
    """Run `provenance ARGS` until it says where it serves; yields (that URL, what it printed before)."""
    proc = subprocess.Popen([sys.executable, "-m", "provenance_cli.main", *args], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, env={**os.environ, **(env or {})})
    assert proc.stderr is not None
    try:
        said = ""
        while True:
            line = proc.stderr.readline()
            assert line, f"the server stopped: {said}"
            said += line
            found = re.search(r"on (http://[^ ]+?)/?(?: |$)", line.rstrip())
            if found:
                yield found.group(1), said
                return
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_serves_the_page_and_verifies_an_upload(tmp_path: Path, pki: DevPki) -> None:
    signed = tmp_path / "signed.mp4"
    sign_file(make_clip(tmp_path / "clip.mp4"), signed, pki, generator="Sora")
    with serving("serve", "--port", "0", "--trust-anchors", str(pki.root_ca), "--store",
                 str(tmp_path / "none.sqlite3")) as (url, said):
        assert "warning" not in said
        page = httpx.get(f"{url}/")
        assert page.status_code == 200 and "static/page.js" in page.text
        assert post_file(url, signed).json()["verdict"] == "trusted"


def test_a_host_other_than_loopback_is_warned_about(tmp_path: Path) -> None:
    with serving("serve", "--host", "0.0.0.0", "--port", "0", str(tmp_path)) as (url, said):
        assert "provenance: warning: --host 0.0.0.0 serves the verify page to other machines" in said
        assert f"(gallery: {tmp_path})" in said
        port = url.rsplit(":", 1)[1]
        assert httpx.get(f"http://127.0.0.1:{port}/api/gallery").json()["total"] == 0


def test_a_busy_port_is_one_clear_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = run_cli("serve", "--port", port)
    assert result.code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_folder_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("serve", tmp_path / "missing")
    assert result.code == 2
    assert "does not exist" in result.stderr


def test_serve_repository_serves_the_page_at_verify(tmp_path: Path) -> None:
    with serving("serve-repository", "--port", "0", "--verify-page",
                 env={"PROVENANCE_STORE": str(tmp_path / "manifests.sqlite3")}) as (url, said):
        assert "; verify page on " in said
        assert httpx.get(f"{url}/verify/").status_code == 200
        assert httpx.get(f"{url}/verify/api/info").json()["gallery"] is False
        assert httpx.get(f"{url}/services/supportedAlgorithms").status_code == 200
