"""A clip signed with `sign --watermark` and registered, and copies of it, for the watermark tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from provenance import signing
from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.manifest import Disclosure
from provenance.watermark import Payload
from tests.support.clips import ffmpeg_exe, make_clip


def ffmpeg(*args: object) -> None:
    """Run the imageio-ffmpeg ffmpeg quietly, overwriting its output."""
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)


@dataclass(frozen=True)
class MarkedClip:
    """A source clip, its marked and signed copy (registered in `store`), and that copy stripped and re-encoded."""

    source: Path
    signed: Path
    stripped: Path
    store: Path
    payload: Payload
    manifest_id: str
    result: signing.SignResult


def sign_marked(directory: Path, pki: DevPki) -> MarkedClip:
    """Sign a 3 s 320×180 clip with a watermark, register it, and make a stripped H.264 CRF 23 copy."""
    source = make_clip(directory / "source.mp4", seconds=3, source="testsrc2", size="320x180", rate=25)
    store = directory / "manifests.sqlite3"
    credentials = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    result, registration = signing.sign_and_register(
        source, directory / "signed.mp4", credentials, Disclosure(generator="Sora"), store=store,
        watermark=signing.WatermarkSettings())
    assert registration is not None and result.watermark is not None
    stripped = directory / "stripped.mp4"
    ffmpeg("-i", result.output, "-map_metadata", "-1", "-c:v", "libx264", "-crf", "23", "-c:a", "copy", stripped)
    return MarkedClip(source, result.output, stripped, store, result.watermark, registration.manifest_id, result)


BAD_INPUTS = ("audio-only", "one-frame", "tiny", "corrupt")


def bad_clip(path: Path, kind: str) -> Path:
    """A file that cannot carry a watermark (one of BAD_INPUTS); helper files go beside it."""
    if kind == "audio-only":
        ffmpeg("-f", "lavfi", "-i", "sine", "-t", "1", "-c:a", "aac", path)
    elif kind == "one-frame":
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-frames:v", "1", "-c:v", "libx264", path)
    elif kind == "tiny":
        make_clip(path, size="16x16", audio=False)
    else:
        good = make_clip(path.with_name("good.mp4"), size="320x180", audio=False)
        data = bytearray(good.read_bytes())
        data[64:] = bytes(len(data) - 64)  # the header survives, the stream is zeros
        path.write_bytes(bytes(data))
    return path
