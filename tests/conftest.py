"""Shared fixtures: real clips made with ffmpeg, a real development PKI, the CLI as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from provenance import signing
from provenance.keys import signers
from provenance.keys.pki import DevPki, init_dev_pki
from provenance.manifest import Disclosure

ROOT = Path(__file__).resolve().parent.parent
# Every BMFF verification in the suite (in this process and in CLI processes) takes the verification
# fast path where it applies, so the correctness tests hold for it; test_fastverify compares both paths.
os.environ["PROVENANCE_FAST_VERIFY_MIN_BYTES"] = "0"
CORPUS = Path(os.environ.get("PROVENANCE_CORPUS", ROOT.parent / "shared" / "corpus"))


@pytest.fixture(autouse=True)
def _own_user_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test gets its own platform data dir, so `sign` never registers into the real default
    manifest repository and one test's registrations never show up as another's recovered credentials."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
    monkeypatch.delenv("PROVENANCE_STORE", raising=False)


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


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return init_dev_pki(tmp_path_factory.mktemp("pki"), org="Provenance Test")


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """A second, unrelated PKI: its signer is untrusted by `pki`'s root."""
    return init_dev_pki(tmp_path_factory.mktemp("other-pki"), org="Someone Else")


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


def sign_file(src: Path, out: Path, pki: DevPki, **disclosure: object) -> signing.SignResult:
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    parent = disclosure.pop("parent", None)
    sidecar = bool(disclosure.pop("sidecar", False))
    return signing.sign(src, out, creds, Disclosure(**disclosure), parent=parent, sidecar=sidecar)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def signed_clip(tmp_path_factory: pytest.TempPathFactory, clip: Path, pki: DevPki) -> Path:
    out = tmp_path_factory.mktemp("signed") / "signed.mp4"
    sign_file(clip, out, pki, generator="Sora", generator_version="2")
    return out


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "expected.json").is_file():
        pytest.skip(f"conformance corpus not found at {CORPUS}")
    return CORPUS


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: object, env: dict[str, str] | None = None, cwd: Path | None = None,
            input: str | None = None) -> CliResult:
    """Run `provenance` as a real process, the way a user or CI does."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PROVENANCE_TRUST_ANCHORS", None) if env is None else None
    proc = subprocess.run([sys.executable, "-m", "provenance_cli.main", *map(str, args)], capture_output=True,
                          text=True, env=full_env, cwd=cwd, input=input, timeout=300)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
