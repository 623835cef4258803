"""Recognise media by content (magic bytes), not by file name."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from provenance.errors import MediaError


@dataclass(frozen=True)
class MediaType:
    """A kind of media file: its MIME type, what it holds, its container format and usual extension."""

    mime: str  # as c2pa names it (c2pa.Reader.get_supported_mime_types())
    kind: str  # "video", "image", "audio", "document" or "manifest"
    container: str  # "bmff", "riff", "matroska", "jpeg", "png", "id3", "pdf", ...
    extension: str
    # Whether c2pa can embed a manifest into this container (else a sidecar is written).
    embeddable: bool = True


_BMFF_BRANDS = {
    b"qt  ": MediaType("video/quicktime", "video", "bmff", "mov"),
    b"M4V ": MediaType("video/x-m4v", "video", "bmff", "m4v"),
    b"M4VH": MediaType("video/x-m4v", "video", "bmff", "m4v"),
    b"M4VP": MediaType("video/x-m4v", "video", "bmff", "m4v"),
    b"M4A ": MediaType("audio/mp4", "audio", "bmff", "m4a"),
    b"M4B ": MediaType("audio/mp4", "audio", "bmff", "m4b"),
    **dict.fromkeys((b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"),
                    MediaType("image/heic", "image", "bmff", "heic")),
    **dict.fromkeys((b"mif1", b"msf1"), MediaType("image/heif", "image", "bmff", "heif")),
    **dict.fromkeys((b"avif", b"avis"), MediaType("image/avif", "image", "bmff", "avif")),
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
TIFF = MediaType("image/tiff", "image", "tiff", "tif")  # DNG and TIFF-based raw files too
JXL = MediaType("image/jxl", "image", "jxl", "jxl")  # the box container; a bare codestream cannot carry a manifest
JXL_CODESTREAM = MediaType("image/jxl", "image", "jxl-codestream", "jxl", embeddable=False)
SVG = MediaType("image/svg+xml", "image", "svg", "svg")
MP3 = MediaType("audio/mpeg", "audio", "id3", "mp3")
FLAC = MediaType("audio/flac", "audio", "id3", "flac")  # c2pa keeps a FLAC's manifest in an ID3 tag before it
PDF = MediaType("application/pdf", "document", "pdf", "pdf")
# ZIP-based files (EPUB, Office Open XML, OpenDocument, plain ZIP): c2pa reads them all alike.
ZIP = MediaType("application/x-zip", "document", "zip", "zip")
# A detached manifest store (`.c2pa` sidecar) is recognised too, so it is never taken for media.
MANIFEST_STORE = MediaType("application/c2pa", "manifest", "jumbf", "c2pa", embeddable=False)

_HEAD_SIZE = 64
# How far into an XML file its root element is looked for (past the declaration, comments and DOCTYPE).
_XML_PROLOG_MAX = 64 << 10
_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_XML_ROOT = re.compile(rb"<([A-Za-z_][-.\w]*:)?([A-Za-z_][-.\w]*)")
# Top-level box types a QuickTime file may start with when it has no ftyp.
_LEGACY_QT_BOXES = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def _mpeg_audio_frame(head: bytes) -> bool:
    """Whether `head` starts with an MPEG audio layer III frame header (an MP3 without an ID3 tag)."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer, bitrate, rate = (head[1] >> 3) & 3, (head[1] >> 1) & 3, head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer == 1 and bitrate not in (0, 15) and rate != 3


def _xml_root(data: bytes) -> bytes | None:
    """The local name of an XML document's root element, past its declaration, comments and DOCTYPE;
    None when `data` is not XML or ends first."""
    at = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while True:
        while at < len(data) and data[at] in b" \t\r\n":
            at += 1
        if data.startswith(b"<?", at):
            close = b"?>"
        elif data.startswith(b"<!--", at):
            close = b"-->"
        elif data.startswith((b"<!DOCTYPE", b"<!doctype"), at):
            bracket, gt = data.find(b"[", at), data.find(b">", at)
            close = b"]>" if 0 <= bracket < gt else b">"  # an internal subset holds '>' of its own
        else:
            found = _XML_ROOT.match(data, at)
            return found.group(2) if found else None
        end = data.find(close, at)
        if end < 0:
            return None
        at = end + len(close)


def sniff(head: bytes) -> MediaType | None:
    """Media type from the first bytes of a file, or None when unrecognised (an SVG is recognised when its root
    element lies within `head`; `sniff_file` reads on for it, and tells an ID3-tagged FLAC from an MP3)."""
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
    if head[:12] == _JXL_CONTAINER:
        return JXL
    if head[:2] == b"\xff\x0a":
        return JXL_CODESTREAM
    if head[:5] == b"%PDF-":
        return PDF
    if head[:3] == b"ID3":
        return MP3  # or FLAC: `detect` looks past the tag
    if head[:4] == b"fLaC":
        return FLAC
    if _mpeg_audio_frame(head):
        return MP3
    if head[:4] == b"PK\x03\x04":
        return ZIP
    if _xml_root(head) == b"svg":
        return SVG
    if len(head) >= 12 and head[4:8] == b"jumb" and b"c2pa" in head[:_HEAD_SIZE]:
        return MANIFEST_STORE
    if len(head) >= 8 and head[4:8] in _LEGACY_QT_BOXES:
        return QUICKTIME
    return None


def syncsafe(raw: bytes) -> int:
    """An ID3v2 "syncsafe" integer: 7 bits a byte, most significant first."""
    value = 0
    for byte in raw:
        value = value << 7 | (byte & 0x7F)
    return value


def id3_tag_size(head: bytes) -> int:
    """The bytes an ID3v2 tag at the start of a file takes, header and footer included."""
    return 10 + syncsafe(head[6:10]) + (10 if head[5] & 0x10 else 0)


def sniff_file(f: BinaryIO) -> MediaType | None:
    """Media type of the open file `f` by its content, reading no more than it takes; None when unrecognised."""
    head = f.read(_HEAD_SIZE)
    kind = sniff(head)
    if kind is None and head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        kind = sniff(head + f.read(_XML_PROLOG_MAX - len(head)))  # an SVG whose root element comes later
    elif kind is MP3 and head[:3] == b"ID3" and len(head) >= 10:
        f.seek(id3_tag_size(head))
        kind = FLAC if f.read(4) == b"fLaC" else MP3
    return kind


def detect(path: str | os.PathLike[str]) -> MediaType:
    """Media type of a file on disk; raises MediaError with a plain reason when unusable."""
    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: no such file", remedy="Check the path.")
    if p.is_dir():
        raise MediaError(f"{p}: is a directory, not a media file", remedy="Give a file, or use `provenance check DIR`.")
    try:
        with p.open("rb") as f:
            media = sniff_file(f)
            empty = f.tell() == 0
    except OSError as e:
        raise MediaError(f"{p}: cannot be read ({e.strerror})", remedy="Check the file's permissions.") from e
    if empty:
        raise MediaError(f"{p}: file is empty")
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
