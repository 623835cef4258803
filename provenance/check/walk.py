"""Find the media files under the paths given to `provenance check`.

Media (whatever c2pa reads: video, images, audio, PDF, SVG, ZIP-based documents)
is recognised by content (magic bytes), so a clip renamed without its extension
is still checked. A file with a media extension whose content is not
recognisable is kept too: it is reported as unreadable rather than skipped.
Hidden folders (``.git`` among them) are not entered.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from provenance import media as media_mod
from provenance.check.policy import Scope
from provenance.errors import UsageError

# Extensions that make a file a candidate whatever its content (a corrupt clip must not be skipped).
MEDIA_EXTENSIONS = frozenset({
    "mp4", "m4v", "m4a", "mov", "qt", "3gp", "avi", "wav", "webm", "mkv", "mka", "mp3", "flac",
    "jpg", "jpeg", "png", "gif", "tif", "tiff", "webp", "heic", "heif", "avif", "jxl", "svg", "dng",
    "pdf",
})


@dataclass(frozen=True)
class Candidate:
    """A media file found under the paths given to `check`, or a path that could not be listed."""
    path: Path  # absolute
    display: str  # root-relative with forward slashes; absolute when outside the root
    error: str | None = None  # set when the path could not even be listed


def display_path(path: Path, root: Path) -> str:
    """`path` relative to `root` with forward slashes, or absolute when it is outside the root."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _absolute(path: Path) -> Path:
    # Not resolve(): a symlinked file keeps the name it has in the tree.
    return Path(os.path.abspath(path))


def looks_like_media(path: Path) -> bool:
    """By content first; a known media extension also counts (so corrupt clips are reported)."""
    if path.suffix.lower().lstrip(".") in MEDIA_EXTENSIONS:
        return True
    try:
        with path.open("rb") as f:
            kind = media_mod.sniff_file(f)
    except OSError:
        return False
    return kind is not None and kind.kind != "manifest"


def _filters_allow(display: str, include: Scope, exclude: Scope) -> bool:
    if include and not include.matches(display):
        return False
    return not exclude.matches(display)


def _walk(top: Path, root: Path, exclude: Scope) -> Iterable[Candidate]:
    errors: list[OSError] = []
    for folder, dirs, files in os.walk(top, onerror=errors.append):
        here = Path(folder)
        kept = []
        for name in dirs:
            if name.startswith("."):
                continue
            if exclude and exclude.matches(display_path(here / name, root) + "/"):
                continue
            kept.append(name)
        dirs[:] = sorted(kept)
        for name in files:
            path = here / name
            if path.is_file() and looks_like_media(path):
                yield Candidate(path, display_path(path, root))
    for error in errors:
        where = _absolute(Path(error.filename)) if error.filename else top
        yield Candidate(where, display_path(where, root), f"cannot list folder: {error.strerror or error}")


def discover(paths: Sequence[Path], *, root: Path, include: Sequence[str] = (),
             exclude: Sequence[str] = ()) -> list[Candidate]:
    """Media files under `paths` (files are taken as given), sorted by display path, without duplicates."""
    root = _absolute(root)
    include_scope, exclude_scope = Scope(include), Scope(exclude)
    found: dict[str, Candidate] = {}
    for given in paths:
        path = _absolute(given)
        if not os.path.lexists(path):
            raise UsageError(f"{given}: no such file or folder", remedy="Check the paths given to check.")
        if path.is_dir():
            candidates: Iterable[Candidate] = _walk(path, root, exclude_scope)
        else:
            path = _media_of_sidecar(path)
            candidates = [Candidate(path, display_path(path, root))]
        for candidate in candidates:
            if _filters_allow(candidate.display, include_scope, exclude_scope):
                found.setdefault(_identity(candidate.path), candidate)
    return sorted(found.values(), key=lambda c: c.display)


def _media_of_sidecar(path: Path) -> Path:
    """A named `clip.mp4.c2pa` sidecar stands for `clip.mp4` (a pre-commit hook passes changed sidecars)."""
    if path.suffix.lower() != ".c2pa":
        return path
    media = path.with_name(path.name[: -len(".c2pa")])
    return media if media.is_file() else path


def _identity(path: Path) -> str:
    try:
        return str(path.resolve())
    except OSError:
        return str(path)
