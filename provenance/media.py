"""Recognise media by content (magic bytes), not by file name."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from provenance.errors import MediaError


@dataclass(frozen=True)
class MediaType:
    """A kind of media file: its MIME type, what it holds, its container format and usual extension."""

    mime: str
    kind: str  # "video", "image" or "audio"
    container: str  # "bmff", "riff", "matroska", "jpeg", "png", ...
    extension: str
    # Whether c2pa can embed a manifest into this container (else a sidecar is written).
    embeddable: bool = True


_BMFF_BRANDS = {
    b"qt  ": MediaType("video/quicktime", "video", "bmff", "mov"),
    b"M4V ": MediaType("video/x-m4v", "video", "bmff", "m4v"),
    b"M4VH": MediaType("video/x-m4v", "video", "bmff", "m4v"),
    b"M4VP": MediaType("video/x-m4v", "video", "bmff", "m4v"),
    b"M4A ": MediaType("audio/mp4", "audio", "bmff", "m4a"),
    b"heic": MediaType("image/heic", "image", "bmff", "heic"),
    b"heix": MediaType("image/heic", "image", "bmff", "heic"),
    b"mif1": MediaType("image/heif", "image", "bmff", "heif"),
    b"avif": MediaType("image/avif", "image", "bmff", "avif"),
}
MP4 = MediaType("video/mp4", "video", "bmff", "mp4")
QUICKTIME = _BMFF_BRANDS[b"qt  "]
AVI = MediaType("video/avi", "video", "riff", "avi")
WAV = MediaType("audio/wav", "audio", "riff", "wav")
WEBP = MediaType("image/webp", "image", "riff", "webp")
WEBM = MediaType("video/webm", "video", "matroska", "webm", embeddable=False)
MKV = MediaType("video/x-matroska", "video", "matroska", "mkv", embeddable=False)
JPEG = MediaType("image/jpeg", "image", "jpeg", "jpg")
PNG = MediaType("image/png", "image", "png", "png")
GIF = MediaType("image/gif", "image", "gif", "gif")
TIFF = MediaType("image/tiff", "image", "tiff", "tif")
# A detached manifest store (`.c2pa` sidecar) is recognised too, so it is never taken for media.
MANIFEST_STORE = MediaType("application/c2pa", "manifest", "jumbf", "c2pa", embeddable=False)

_HEAD_SIZE = 64
# Top-level box types a QuickTime file may start with when it has no ftyp.
_LEGACY_QT_BOXES = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def sniff(head: bytes) -> MediaType | None:
    """Media type from the first bytes of a file, or None when unrecognised."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _BMFF_BRANDS.get(head[8:12], MP4)
    if len(head) >= 12 and head[:4] == b"RIFF":
        return {b"AVI ": AVI, b"WAVE": WAV, b"WEBP": WEBP}.get(head[8:12])
    if head[:4] == b"\x1a\x45\xdf\xa3":
        # The EBML DocType string sits in the header; WebM says so, anything else is Matroska.
        return WEBM if b"webm" in head[:_HEAD_SIZE] else MKV
    if head[:3] == b"\xff\xd8\xff":
        return JPEG
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if len(head) >= 12 and head[4:8] == b"jumb" and b"c2pa" in head[:_HEAD_SIZE]:
        return MANIFEST_STORE
    if len(head) >= 8 and head[4:8] in _LEGACY_QT_BOXES:
        return QUICKTIME
    return None


def detect(path: str | os.PathLike[str]) -> MediaType:
    """Media type of a file on disk; raises MediaError with a plain reason when unusable."""
    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: no such file", remedy="Check the path.")
    if p.is_dir():
        raise MediaError(f"{p}: is a directory, not a media file", remedy="Give a file, or use `provenance check DIR`.")
    try:
        with p.open("rb") as f:
            head = f.read(_HEAD_SIZE)
    except OSError as e:
        raise MediaError(f"{p}: cannot be read ({e.strerror})", remedy="Check the file's permissions.") from e
    if not head:
        raise MediaError(f"{p}: file is empty")
    media = sniff(head)
    if media is None:
        raise MediaError(f"{p}: not a recognised media type")
    return media


def is_media(path: str | os.PathLike[str]) -> bool:
    """True when the file's content is a media type we verify (sidecars excluded)."""
    try:
        return detect(path).kind != "manifest"
    except MediaError:
        return False


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """Where a detached manifest for `path` lives: the full name plus `.c2pa`."""
    p = Path(path)
    return p.with_name(p.name + ".c2pa")


def check_structure(path: str | os.PathLike[str], media: MediaType) -> None:
    """Cheap container sanity check before signing, so a truncated file is refused plainly.

    Walks only the top-level boxes (BMFF) or the RIFF header: a few seeks, no data read.
    """
    import struct

    from provenance._formats.boxes import HEADER_MAX, box_header

    p = Path(path)
    size = p.stat().st_size
    with p.open("rb") as f:
        if media.container == "bmff":
            offset, seen = 0, set()
            while offset < size:
                f.seek(offset)
                header = f.read(HEADER_MAX)
                if len(header) < 8:
                    raise MediaError(f"{p}: truncated or corrupt (incomplete box header at byte {offset})")
                box = box_header(header, size - offset)
                # A 64-bit size cut off by the end of the file (box None) is a box that runs past it too.
                if box is None or box.size < 8 or box.size > size - offset:
                    name = header[4:8].decode("latin-1")
                    raise MediaError(f"{p}: truncated or corrupt ('{name}' box at byte {offset} "
                                     f"runs past the end of the file)")
                seen.add(box.type)
                offset += box.size
            if media.kind == "video" and b"moov" not in seen:
                raise MediaError(f"{p}: not a playable video (no 'moov' box)")
        elif media.container == "riff":
            f.seek(4)
            declared = struct.unpack("<I", f.read(4))[0] + 8
            if declared > size:
                raise MediaError(f"{p}: truncated ({declared} bytes declared, {size} present)")
