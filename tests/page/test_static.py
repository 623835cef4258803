"""The verify page in a real headless Chromium: what a person sees for each kind of clip.

The page's files (provenance/page/static) are driven through Selenium against the real server on
127.0.0.1, with real clips signed, tampered, stripped and remixed here. A screenshot of each state is
saved under the test's temporary folder, or PROVENANCE_SCREENSHOTS when it is set.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provenance.keys.pki import DevPki
from provenance.page.app import PageSettings
from provenance.trust.anchors import load_anchors
from provenance.verify import Verifier
from tests.support.clips import make_clip, sign_file
from tests.support.edits import flip_video_byte
from tests.support.page import chromium_paths, screenshot_dir, serve_page, signed_and_stripped, start_chromium

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium_paths() is None, reason="needs chromium and chromedriver (Debian: apt-get install "
                                                        "chromium chromium-driver; `make test-deps` does it as root)"),
]
SCRIPT_PAYLOAD = "<script>window.__pwned = 'script'</script>"
IMG_PAYLOAD = "<img src=x onerror=\"window.__pwned = 'img'\">"
WAIT = 180  # seconds for one verdict to show (the machine is shared)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, pki: DevPki, other_pki: DevPki,
          remix_of_broken_parent: Path) -> dict[str, Path]:
    """Each kind of clip under the name it is uploaded as (the page says "Checked NAME.")."""
    d = tmp_path_factory.mktemp("page-clips")
    plain = make_clip(d / "unsigned.mp4", seconds=2)
    sign_file(plain, d / "trusted.mp4", pki, generator="Sora", generator_version="2")
    sign_file(plain, d / "untrusted.mp4", other_pki, generator="Veo", generator_version="3")
    shutil.copy(d / "trusted.mp4", d / "tampered.mp4")
    flip_video_byte(d / "tampered.mp4")
    shutil.copy(remix_of_broken_parent, d / "remix.mp4")
    (d / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2" + b"\xde\xad" * 4000)
    sign_file(plain, d / "payload.mp4", pki, generator=IMG_PAYLOAD, title=SCRIPT_PAYLOAD)
    return {p.stem: p for p in d.iterdir()}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, pki: DevPki) -> tuple[Path, Path]:
    """A repository holding a signed clip, and a stripped copy of that clip: (repository, stripped)."""
    d = tmp_path_factory.mktemp("page-store")
    _, stripped = signed_and_stripped(d, pki, d / "manifests.sqlite3")
    return d / "manifests.sqlite3", stripped


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory, pki: DevPki, clips: dict[str, Path]) -> Path:
    """A folder of media: a WebM whose manifest is a sidecar beside it, a signed MP4, a corrupt file."""
    d = tmp_path_factory.mktemp("page-gallery")
    webm = make_clip(d / "source.webm", "webm", seconds=1)
    sign_file(webm, d / "sidecar.webm", pki, generator="Sora", generator_version="2", sidecar=True)
    webm.unlink()
    shutil.copy(clips["trusted"], d / "signed.mp4")
    shutil.copy(clips["corrupt"], d / "broken.mp4")
    return d


@pytest.fixture(scope="module")
def settings(pki: DevPki, store: tuple[Path, Path]) -> PageSettings:
    return PageSettings(verifier=Verifier(load_anchors(pki.root_ca)), store=str(store[0]))


@pytest.fixture(scope="module")
def url(settings: PageSettings) -> Iterator[str]:
    with serve_page(settings) as base:
        yield base


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[Any]:
    driver = start_chromium(downloads)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshot_dir(tmp_path_factory.mktemp("screenshots"))


def text(browser: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.ID, element_id).text)


def visible(browser: Any, element_id: str) -> bool:
    from selenium.webdriver.common.by import By

    return bool(browser.find_element(By.ID, element_id).is_displayed())


def screenshot(browser: Any, shots: Path, name: str) -> Path:
    height = browser.execute_script("window.scrollTo(0, 0); return document.documentElement.scrollHeight")
    browser.set_window_size(1280, max(900, min(int(height) + 40, 4000)))
    path = shots / f"{name}.png"
    browser.get_screenshot_as_file(str(path))
    browser.set_window_size(1280, 1600)
    return path


def upload(browser: Any, url: str, path: Path) -> None:
    """Open the page, pick `path` with the file input, and wait until its verdict is shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url + "/")
    WebDriverWait(browser, 30).until(lambda d: "up to" in d.find_element(By.ID, "drop-limit").text)
    browser.find_element(By.ID, "file-input").send_keys(str(path))
    WebDriverWait(browser, WAIT).until(
        lambda d: d.find_element(By.ID, "status").text in (f"Checked {path.name}.",)
        or d.find_element(By.ID, "status").get_attribute("class") == "status failed")
    assert text(browser, "status") == f"Checked {path.name}.", text(browser, "status")
    assert text(browser, "result-file") == path.name


def ingredient_tree(browser: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [str(node.text) for node in browser.find_elements(By.CSS_SELECTOR, "#ingredients .tree-node")]


def test_a_trusted_clip(browser: Any, url: str, clips: dict[str, Path], shots: Path) -> None:
    upload(browser, url, clips["trusted"])
    assert text(browser, "badge") == "Trusted"
    assert text(browser, "sentence") == "Made with AI: generated by Sora 2, signed by Provenance Test"
    assert text(browser, "meaning") == "The credentials are intact and the signer is trusted"
    facts = text(browser, "facts")
    assert "AI-generated\nyes (trainedAlgorithmicMedia) by Sora 2" in facts
    assert "Signed at\nunknown (no trusted timestamp)" in facts
    assert visible(browser, "signer-section")
    assert "Vouched for by\nthe trust anchors in root-ca.pem" in text(browser, "signer-facts")
    assert text(browser, "chain").count("CN=") == 2
    assert not visible(browser, "problems-section")
    assert not visible(browser, "recovered-section")
    assert not visible(browser, "ingredients-section")
    # The clip plays from the local file, with the server's frame as its poster.
    assert browser.execute_script("return document.getElementById('player').src").startswith("blob:")
    assert browser.execute_script("return document.getElementById('player').poster").startswith("data:image/jpeg")
    screenshot(browser, shots, "1-trusted")


def test_the_reports_download_as_json_and_crjson(browser: Any, url: str, clips: dict[str, Path],
                                                 downloads: Path) -> None:
    import json
    import time

    from selenium.webdriver.common.by import By

    upload(browser, url, clips["trusted"])
    browser.find_element(By.ID, "download-json").click()
    browser.find_element(By.ID, "download-crjson").click()
    saved = {"json": downloads / "trusted.mp4.verdict.json", "crjson": downloads / "trusted.mp4.crjson.json"}
    deadline = time.monotonic() + 60
    while not all(p.is_file() for p in saved.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    verdict = json.loads(saved["json"].read_text())
    assert (verdict["path"], verdict["verdict"]) == ("trusted.mp4", "trusted")
    assert "manifests" in json.loads(saved["crjson"].read_text())


def test_a_clip_whose_signer_is_not_trusted(browser: Any, url: str, clips: dict[str, Path], shots: Path) -> None:
    upload(browser, url, clips["untrusted"])
    assert text(browser, "badge") == "Valid, signer unknown"
    assert text(browser, "sentence") == "Made with AI: generated by Veo 3, signed by Someone Else"
    assert text(browser, "meaning") == "The credentials are intact, but the signer is not on your trust list"
    assert "Vouched for by\nno trust list this server uses" in text(browser, "signer-facts")
    assert "signingCredential.untrusted" in text(browser, "problems")
    screenshot(browser, shots, "2-untrusted")


def test_a_tampered_clip(browser: Any, url: str, clips: dict[str, Path], shots: Path) -> None:
    upload(browser, url, clips["tampered"])
    assert text(browser, "badge") == "Altered"
    assert text(browser, "sentence").startswith("The credentials are broken or the file was altered after signing; "
                                                "they claim: Made with AI: generated by Sora 2")
    assert not visible(browser, "meaning")  # the sentence says it already
    assert text(browser, "caution") == "The details below come from credentials that failed validation"
    assert "Vouched for by\nnobody: trust is not judged" in text(browser, "signer-facts")
    assert visible(browser, "problems-section")
    assert text(browser, "problems-title") == "What is wrong"
    assert "mismatch" in text(browser, "problems")
    screenshot(browser, shots, "3-tampered")


def test_an_unsigned_clip(browser: Any, url: str, clips: dict[str, Path], shots: Path) -> None:
    upload(browser, url, clips["unsigned"])
    assert text(browser, "badge") == "No credentials"
    assert text(browser, "sentence") == ("This file carries no Content Credentials: nothing says who made it or "
                                         "whether AI did")
    assert not visible(browser, "signer-section")
    assert not visible(browser, "recovered-section")
    screenshot(browser, shots, "4-unsigned")


def test_a_stripped_copy_finds_its_credentials_again(browser: Any, url: str, store: tuple[Path, Path],
                                                     shots: Path) -> None:
    upload(browser, url, store[1])
    assert text(browser, "badge") == "No credentials"
    assert "credentials for its content were found again" in text(browser, "sentence")
    assert visible(browser, "recovered-section")
    assert text(browser, "recovered-title") == "Credentials found again, not carried by the file"
    assert text(browser, "recovered-cause").startswith("Credentials were stripped or the video was re-encoded; the "
                                                       "original credentials say: AI-generated by Sora")
    facts = text(browser, "recovered-facts")
    assert "Match\na copy of the signed clip" in facts
    assert "Their own verdict\nTrusted" in facts
    assert visible(browser, "timeline-block")
    assert "The part of the signed clip this file is a copy of: 0:00.0–0:03.0" in text(browser, "timeline-caption")
    width = browser.execute_script("return document.getElementById('timeline-match').getBoundingClientRect().width")
    assert width > 100  # the matched part covers most of the bar
    screenshot(browser, shots, "5-stripped-recovered")


def test_a_remix_whose_parent_is_broken(browser: Any, url: str, clips: dict[str, Path], shots: Path) -> None:
    upload(browser, url, clips["remix"])
    assert text(browser, "badge") == "Altered"
    assert text(browser, "meaning") == ("This clip's own credentials are intact and its signer is trusted; its "
                                        "ingredient 'parent.mp4' has a broken signature")
    assert visible(browser, "ingredients-section")
    tree = ingredient_tree(browser)
    assert len(tree) == 1
    assert tree[0].startswith("no image\nparent.mp4\nthe clip it was edited from\nAltered\nIt has a broken signature.")
    screenshot(browser, shots, "6-remix-broken-parent")


def test_a_corrupt_file(browser: Any, url: str, clips: dict[str, Path], shots: Path) -> None:
    upload(browser, url, clips["corrupt"])
    assert text(browser, "badge") == "Unreadable"
    assert text(browser, "sentence").startswith("This file could not be read as media")
    assert "corrupt.mp4" in text(browser, "facts")
    assert not visible(browser, "download-crjson")
    screenshot(browser, shots, "7-corrupt")


def test_manifest_strings_are_shown_as_text_and_never_run(browser: Any, url: str, clips: dict[str, Path],
                                                          shots: Path) -> None:
    upload(browser, url, clips["payload"])
    assert browser.execute_script("return window.__pwned === undefined")
    assert text(browser, "sentence") == f"Made with AI: generated by {IMG_PAYLOAD}, signed by Provenance Test"
    assert f"Title\n{SCRIPT_PAYLOAD}" in text(browser, "facts")
    assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"], main script').length") == 0
    scripts = browser.execute_script("return Array.from(document.scripts).map(s => s.src)")
    assert [s.rsplit("/", 1)[-1] for s in scripts] == ["page.js"]
    # Nothing was even attempted: the browser logged no blocked inline script.
    assert not [e for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    screenshot(browser, shots, "8-script-payload")


def test_the_gallery_verifies_a_folder_and_opens_a_webm_with_a_sidecar(browser: Any, settings: PageSettings,
                                                                       gallery: Path, shots: Path) -> None:
    from dataclasses import replace

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with serve_page(replace(settings, gallery=gallery)) as base:
        browser.get(base + "/")
        WebDriverWait(browser, WAIT).until(lambda d: d.find_element(By.ID, "gallery-progress-text").text
                                           == "3 files checked")
        cards = {c.find_element(By.CLASS_NAME, "gallery-name").text: c
                 for c in browser.find_elements(By.CLASS_NAME, "gallery-card")}
        assert set(cards) == {"broken.mp4", "signed.mp4", "sidecar.webm"}  # the .c2pa sidecar is no item
        assert cards["broken.mp4"].find_element(By.CLASS_NAME, "badge").text == "Unreadable"
        assert cards["signed.mp4"].find_element(By.CLASS_NAME, "badge").text == "Trusted"
        screenshot(browser, shots, "9-gallery")
        cards_id = cards["sidecar.webm"].get_attribute("data-id")
        cards["sidecar.webm"].click()
        WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "result-file").text == "sidecar.webm")
        assert text(browser, "badge") == "Trusted"
        assert "Manifest\ndetached (.c2pa sidecar)" in text(browser, "facts")
        assert browser.execute_script("return document.getElementById('player').src").endswith(
            f"/api/gallery/{cards_id}/media")
        WebDriverWait(browser, 30).until(lambda d: d.execute_script(
            "return document.getElementById('player').readyState") >= 1)  # Chromium plays the WebM itself
        screenshot(browser, shots, "10-gallery-webm-sidecar")


def luminance(rgb: tuple[float, ...]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# Each text's colour and the background behind it (the first ancestor with an opaque one), as the browser computes.
COLOURS = """
const parse = (c) => c.match(/[\\d.]+/g).map(Number);
const background = (node) => {
  for (; node; node = node.parentElement) {
    const c = parse(getComputedStyle(node).backgroundColor);
    if (c.length < 4 || c[3] > 0.9) return c;
  }
  return [255, 255, 255];
};
return Array.from(document.querySelectorAll(arguments[0])).filter((n) => n.offsetParent && n.textContent.trim())
  .map((n) => [n.id || n.className, parse(getComputedStyle(n).color), background(n)]);
"""


def test_accessibility_basics(browser: Any, url: str, clips: dict[str, Path], store: tuple[Path, Path]) -> None:
    """What can be checked without axe-core (not available offline): labels, keyboard use, contrast ≥ 4.5:1."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(url + "/")
    # Every form control has a label, every image a text alternative, every button a name.
    unlabelled = browser.execute_script(
        "return Array.from(document.querySelectorAll('input, select, textarea'))"
        ".filter(i => !i.labels || i.labels.length === 0).map(i => i.id)")
    assert unlabelled == []
    assert browser.execute_script("return document.documentElement.lang") == "en"
    # The drop zone is a real file input: the first Tab reaches it.
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert browser.execute_script("return document.activeElement.id") == "file-input"
    assert browser.execute_script("return getComputedStyle(document.getElementById('drop-zone')).outlineStyle") \
        == "solid"  # and shows where the focus is
    checked = 0
    for clip in (clips["trusted"], clips["untrusted"], clips["tampered"], clips["remix"], clips["corrupt"], store[1]):
        upload(browser, url, clip)
        assert browser.execute_script("return Array.from(document.images).filter(i => !i.hasAttribute('alt'))"
                                      ".length") == 0
        nameless = ("return Array.from(document.querySelectorAll('button'))"
                    ".filter(b => !(b.getAttribute('aria-label') || b.textContent.trim())).length")
        assert browser.execute_script(nameless) == 0
        for where, colour, behind in browser.execute_script(COLOURS, "h1, h2, h3, p, dt, dd, li span, .badge, "
                                                                     ".button, label span, .status"):
            assert contrast(tuple(colour), tuple(behind)) >= 4.5, (clip.name, where, colour, behind)
            checked += 1
    assert checked > 100


def test_the_page_is_light_and_asks_nothing_of_anyone_else(browser: Any, url: str, clips: dict[str, Path]) -> None:
    upload(browser, url, clips["trusted"])
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(r => r.name)")
    assert resources and all(r.startswith((url, "blob:", "data:")) for r in resources), resources
    static = Path(__file__).resolve().parents[2] / "provenance" / "page" / "static"
    weight = sum(p.stat().st_size for p in static.iterdir())
    assert weight < 200 * 1024


# A file dropped on the zone: made in the page from bytes the server has (a drop cannot be typed by Selenium).
DROP = """
const [url, name, done] = arguments;
fetch(url).then((r) => r.blob()).then((blob) => {
  const data = new DataTransfer();
  data.items.add(new File([blob], name, { type: "video/mp4" }));
  const zone = document.getElementById("drop-zone");
  zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
  zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
  done(true);
});
"""


def test_a_clip_dropped_on_the_zone_is_checked(browser: Any, settings: PageSettings, gallery: Path,
                                               shots: Path) -> None:
    from dataclasses import replace

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with serve_page(replace(settings, gallery=gallery)) as base:
        browser.get(base + "/")
        screenshot(browser, shots, "0-start")
        WebDriverWait(browser, WAIT).until(lambda d: d.find_element(By.ID, "gallery-progress-text").text
                                           == "3 files checked")
        signed = next(c.get_attribute("data-id") for c in browser.find_elements(By.CLASS_NAME, "gallery-card")
                      if c.find_element(By.CLASS_NAME, "gallery-name").text == "signed.mp4")
        assert browser.execute_async_script(DROP, f"{base}/api/gallery/{signed}/media", "dropped.mp4")
        WebDriverWait(browser, WAIT).until(lambda d: d.find_element(By.ID, "status").text == "Checked dropped.mp4.")
        assert text(browser, "result-file") == "dropped.mp4"
        assert text(browser, "badge") == "Trusted"


def test_an_image_shows_its_frame_and_c2pas_thumbnails_of_its_ingredients(browser: Any, url: str, corpus: Path,
                                                                          shots: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    upload(browser, url, corpus / "public-testfiles" / "adobe-20220124-CAI.jpg")
    assert text(browser, "badge") == "Valid, signer unknown"
    assert text(browser, "sentence") == "No AI disclosure: signed by C2PA Test Signing Cert on 2023-01-24"
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "poster-only").is_displayed())
    assert text(browser, "player-note") == "This browser cannot play this file; a frame of it is shown."
    thumbnails = browser.find_elements(By.CSS_SELECTOR, "#ingredients img.tree-thumb")
    assert [t.get_attribute("alt") for t in thumbnails] == ["Thumbnail of A.jpg", "Thumbnail of I.jpg"]
    assert all(t.get_attribute("src").startswith("data:image/jpeg") for t in thumbnails)
    assert browser.execute_script("return Array.from(document.querySelectorAll('#ingredients img'))"
                                  ".every(i => i.complete && i.naturalWidth > 0)")
    screenshot(browser, shots, "11-image-with-ingredient-thumbnails")
