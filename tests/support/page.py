"""The verify page served for real on 127.0.0.1 (uvicorn in a thread), and headless Chromium to look at it."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from provenance.page.app import PageSettings, create_app

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


@contextlib.contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve the ASGI `app` with uvicorn on a free local port in a thread; yields its base URL."""
    import uvicorn

    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the page's server did not start")
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


@contextlib.contextmanager
def serve_page(settings: PageSettings) -> Iterator[str]:
    """The verify page with `settings`, served for real; yields its base URL."""
    with serve_app(create_app(settings)) as url:
        yield url


def chromium_paths() -> tuple[str, str] | None:
    """(browser, chromedriver) from the system's packages, or None when either is missing."""
    browser = next((found for name in CHROMIUM if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def start_chromium(downloads: Path | None = None) -> Any:
    """Headless Chromium under Selenium, with a fixed window size for comparable screenshots."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    assert paths is not None
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1600", "--no-first-run", "--disable-extensions", "--mute-audio"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if downloads is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    return webdriver.Chrome(service=Service(paths[1]), options=options)


def screenshot_dir(default: Path) -> Path:
    """Where screenshots go: PROVENANCE_SCREENSHOTS when set, else `default`."""
    folder = Path(os.environ.get("PROVENANCE_SCREENSHOTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def post_file(url: str, path: Path, **params: str) -> httpx.Response:
    """POST a file's bytes to the page's /api/verify as the raw body."""
    return httpx.post(f"{url}/api/verify", params=params, content=path.read_bytes(),
                      headers={"content-type": "application/octet-stream"}, timeout=120)


def signed_and_stripped(folder: Path, pki: Any, store: Path) -> tuple[Path, Path]:
    """A clip signed with its soft binding and registered in the repository `store`, and a copy of it with the
    credentials stripped (remuxed by ffmpeg): (signed, stripped)."""
    import subprocess

    from provenance import signing
    from provenance.durability.recovery import register
    from provenance.durability.repository import open_repository
    from provenance.keys import signers
    from provenance.manifest import Disclosure
    from tests.support.clips import ffmpeg_exe, make_clip

    source = make_clip(folder / "source.mp4", seconds=3, source="mandelbrot", size="320x240", rate=25)
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    result = signing.sign(source, folder / "original.mp4", creds, Disclosure(generator="Sora", generator_version="2"),
                          soft_binding=True)
    stripped = folder / "stripped.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(result.output),
                    "-map", "0", "-c", "copy", str(stripped)], check=True)
    repository = open_repository(store)
    assert repository is not None
    with repository:
        register(repository, result.manifest_store)
    return Path(result.output), stripped
