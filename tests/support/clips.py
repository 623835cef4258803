"""Real clips made with the ffmpeg in the imageio-ffmpeg wheel, and signing them with a test PKI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from provenance import signing
from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.manifest import Disclosure

ROOT = Path(__file__).resolve().parent.parent.parent
CORPUS = Path(os.environ.get("PROVENANCE_CORPUS", ROOT.parent / "shared" / "corpus"))


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


# Container → ffmpeg output options (video codec chosen so the container accepts it).
_CODECS = {
    "mp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    "mov": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mov"],
    "m4v": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "ipod"],
    "fmp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mp4",
             "-movflags", "frag_keyframe+empty_moov+default_base_moof"],
    "avi": ["-c:v", "mpeg4", "-c:a", "pcm_s16le", "-f", "avi"],
    "webm": ["-c:v", "libvpx", "-c:a", "libopus", "-f", "webm"],
    "mkv": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "matroska"],
}


def make_clip(path: Path, container: str = "mp4", *, seconds: float = 1.0, source: str = "testsrc2",
              size: str = "160x120", rate: int = 15, audio: bool = True) -> Path:
    """Synthesize a short clip with ffmpeg's test sources."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", f"{source}=size={size}:rate={rate}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    cmd += ["-t", str(seconds)]
    opts = list(_CODECS[container])
    if not audio:
        opts = [o for o in opts if o not in ("-c:a", "aac", "pcm_s16le", "libopus")]
    cmd += opts + [str(path)]
    subprocess.run(cmd, check=True)
    return path


def sign_file(src: Path, out: Path, pki: DevPki, **disclosure: object) -> signing.SignResult:
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    parent = disclosure.pop("parent", None)
    sidecar = bool(disclosure.pop("sidecar", False))
    return signing.sign(src, out, creds, Disclosure(**disclosure), parent=parent, sidecar=sidecar)  # type: ignore[arg-type]
