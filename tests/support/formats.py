"""Real files of the other kinds c2pa reads (images, audio, documents), made here, and signed with c2pa's Builder."""

from __future__ import annotations

import json
import struct
import subprocess
import zipfile
from pathlib import Path

from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.manifest import Disclosure, definition, signing_context
from tests.support.clips import ffmpeg_exe

# What each kind of file is called here → the MIME type c2pa reads it as.
MIME = {
    "png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif", "tif": "image/tiff",
    "avif": "image/avif", "jxl": "image/jxl", "svg": "image/svg+xml",
    "mp3": "audio/mpeg", "flac": "audio/flac", "wav": "audio/wav", "m4a": "audio/mp4",
    "pdf": "application/pdf", "epub": "application/x-zip", "docx": "application/x-zip",
}
_STILL = ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=1", "-frames:v", "1"]
_SOUND = ["-f", "lavfi", "-i", "anoisesrc=duration=0.3:color=pink:sample_rate=44100:seed=1"]  # no two samples alike
_FFMPEG = {
    "png": _STILL, "jpg": _STILL, "gif": _STILL, "tif": _STILL,
    "webp": [*_STILL, "-c:v", "libwebp"],
    "avif": [*_STILL, "-c:v", "libaom-av1", "-still-picture", "1", "-cpu-used", "8"],
    "jxl-codestream": [*_STILL, "-c:v", "libjxl", "-f", "image2"],
    "mp3": [*_SOUND, "-c:a", "libmp3lame"], "flac": _SOUND, "wav": _SOUND,
    "m4a": [*_SOUND, "-c:a", "aac", "-f", "ipod"],
}
SVG_TEXT = ('<?xml version="1.0" encoding="UTF-8"?>\n<!-- a licence comment, as icons carry -->\n'
            '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>\n')


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def pdf_bytes(objects: list[bytes] | None = None) -> bytes:
    """A one-page PDF with a valid cross-reference table; `objects` are added after the page's."""
    content = b"BT /F1 12 Tf 20 100 Td (hello) Tj ET"
    body = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content), *(objects or [])]
    out, offsets = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), []
    for number, obj in enumerate(body, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(body) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(body) + 1, xref)
    return bytes(out)


def make_media(path: Path, kind: str) -> Path:
    """A small real file of `kind` (a key of MIME, or "jxl-codestream") at `path`."""
    if kind in _FFMPEG:  # ffmpeg picks the output format by the name's extension
        out = path.with_name(f"{path.name}.made.{kind.removesuffix('-codestream')}")
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *_FFMPEG[kind], str(out)],
                       check=True)
        out.rename(path)
    elif kind == "jxl":  # the box container around a codestream: only it can carry a manifest
        codestream = make_media(path.with_name(path.name + ".codestream"), "jxl-codestream")
        path.write_bytes(_box(b"JXL ", b"\r\n\x87\n") + _box(b"ftyp", b"jxl \0\0\0\0jxl ")
                         + _box(b"jxlc", codestream.read_bytes()))
        codestream.unlink()
    elif kind == "svg":
        path.write_text(SVG_TEXT)
    elif kind == "pdf":
        path.write_bytes(pdf_bytes())
    elif kind == "epub":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
            z.writestr("META-INF/container.xml", "<container/>")
    elif kind == "docx":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("[Content_Types].xml", "<Types/>")
            z.writestr("word/document.xml", "<document/>")
    else:
        raise ValueError(f"no way to make a {kind} file")
    return path


def builder_sign(src: Path, out: Path, kind: str, pki: DevPki, *, embed: bool = True) -> bytes:
    """Sign `src` into `out` with c2pa's own Builder (an AI disclosure, as `provenance sign` writes it);
    the manifest store, which is all `out` gets besides the asset without `embed`."""
    import c2pa

    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    builder = c2pa.Builder(json.dumps(definition(Disclosure(generator="Sora"), title=src.name, has_parent=False)),
                           context=signing_context())
    if not embed:
        builder.set_no_embed()
    with creds.c2pa_signer() as signer, open(src, "rb") as source, open(out, "w+b") as dest:
        store: bytes = builder.sign(signer, MIME[kind], source, dest)
    return store


# Text in the files made here whose case can change without breaking the file's structure.
_TEXT = {"svg": b"licence", "epub": b"container", "docx": b"document", "pdf": b"hello"}


def altered(kind: str, plain: bytes, signed: bytes) -> bytes:
    """`signed` with one byte of the content it was signed from changed: from mid-way through `plain`, the
    first 16 bytes found once in both (a letter's case in a text-based file, so that it stays well-formed)."""
    if kind in _TEXT:
        at = signed.index(_TEXT[kind])
        return signed[:at] + signed[at:at + 1].swapcase() + signed[at + 1:]
    for start in range(len(plain) // 2, len(plain) - 16):
        window = plain[start:start + 16]
        if plain.count(window) == signed.count(window) == 1:
            at = signed.index(window)
            return signed[:at] + bytes([signed[at] ^ 0x01]) + signed[at + 1:]
    raise AssertionError(f"no content of the {kind} file found again once in the signed one")
