"""The BMFF hash both fast paths compute equals the one c2pa signed, however the file is read in chunks."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from pathlib import Path

import pytest

from provenance import media
from provenance._fast.bmffhash import HASH_BUFFER, HashBinding, UnsupportedBinding, bmff_hash, hash_binding_of_store
from provenance._formats import bmff, jumbf
from tests.support.clips import ffmpeg_exe, sign_file
from tests.support.edits import flipped


def signed_binding(path: Path) -> HashBinding:
    with open(path, "rb") as f:
        store = jumbf.manifest_store_bytes(f, os.fstat(f.fileno()).st_size, media.detect(path))
    assert store is not None
    return hash_binding_of_store(store)


def file_hash(path: Path, binding: HashBinding, **options: object) -> bytes:
    with open(path, "rb") as f:
        fd = f.fileno()
        boxes = bmff.top_level_boxes(fd, os.fstat(fd).st_size)
        as_output = [bmff.OutputBox(b.type, b.offset, b.size, None, b.offset) for b in boxes]
        return bmff_hash(fd, as_output, binding, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def big_signed_clip(tmp_path_factory: pytest.TempPathFactory, pki: object) -> Path:
    """A clip whose media data spans several default-sized chunks (lossless noise: about 3 MB a second)."""
    folder = tmp_path_factory.mktemp("bmffhash")
    clip = folder / "noise.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
                    "-i", "nullsrc=s=320x240:r=25,geq=random(1)*255:128:128", "-t", "4",
                    "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p", str(clip)],
                   check=True)
    out = folder / "signed.mp4"
    sign_file(clip, out, pki)  # type: ignore[arg-type]
    return out


def test_big_clip_spans_several_chunks(big_signed_clip: Path) -> None:
    with open(big_signed_clip, "rb") as f:
        boxes = bmff.top_level_boxes(f.fileno(), os.fstat(f.fileno()).st_size)
    assert max(b.size for b in boxes) > 2 * HASH_BUFFER


@pytest.mark.parametrize("read_ahead", [True, False], ids=["read-ahead", "serial"])
@pytest.mark.parametrize("chunk_size", [4096, 65_537, 1 << 20, HASH_BUFFER])
def test_hash_equals_the_signed_hash_for_any_chunk_size(big_signed_clip: Path, chunk_size: int,
                                                        read_ahead: bool) -> None:
    binding = signed_binding(big_signed_clip)
    assert file_hash(big_signed_clip, binding, chunk_size=chunk_size, read_ahead=read_ahead) == binding.data["hash"]


def test_one_flipped_byte_changes_the_hash(tmp_path: Path, big_signed_clip: Path) -> None:
    binding = signed_binding(big_signed_clip)
    with open(big_signed_clip, "rb") as f:
        mdat = next(b for b in bmff.top_level_boxes(f.fileno(), os.fstat(f.fileno()).st_size) if b.type == b"mdat")
    # Past the first chunk, so the byte is read by the read-ahead thread, not the first read.
    target = tmp_path / "flipped.mp4"
    target.write_bytes(flipped(big_signed_clip.read_bytes(), mdat.offset + HASH_BUFFER + 12_345))
    assert file_hash(target, binding) != binding.data["hash"]


@pytest.mark.parametrize("read_ahead", [True, False], ids=["read-ahead", "serial"])
def test_a_file_shorter_than_its_boxes_is_an_error(tmp_path: Path, big_signed_clip: Path, read_ahead: bool) -> None:
    binding = signed_binding(big_signed_clip)
    with open(big_signed_clip, "rb") as f:
        fd = f.fileno()
        boxes = bmff.top_level_boxes(fd, os.fstat(fd).st_size)
    short = tmp_path / "short.mp4"
    short.write_bytes(big_signed_clip.read_bytes()[: boxes[-1].offset + boxes[-1].size // 2])
    as_output = [bmff.OutputBox(b.type, b.offset, b.size, None, b.offset) for b in boxes]
    with open(short, "rb") as f, pytest.raises(OSError, match="source ended inside"):
        bmff_hash(f.fileno(), as_output, binding, chunk_size=65_536, read_ahead=read_ahead)


def test_setting_stop_abandons_the_hash(big_signed_clip: Path) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(OSError) as raised:
        file_hash(big_signed_clip, signed_binding(big_signed_clip), stop=stop, chunk_size=65_536)
    assert raised.value.errno == errno.ECANCELED


@pytest.mark.parametrize("data, reason", [
    ({"hash": b"", "alg": "shaXYZ"}, "algorithm 'shaXYZ' is not available"),
    ({"hash": b"", "merkle": [{}]}, "not a plain"),
    ({"hash": "not bytes"}, "not a plain"),
    ({"hash": b"", "exclusions": [{"xpath": "/uuid", "data": [{"offsex": 8, "value": b"x"}]}]}, "malformed"),
    ({"hash": b"", "exclusions": [{"xpath": "/uuid", "data": [{"offset": 8, "value": "text"}]}]}, "malformed"),
    ({"hash": b"", "exclusions": ["/uuid"]}, "malformed"),
    ({"hash": b"", "exclusions": [{"xpath": "/moov/trak"}]}, "not handled"),
    ({"hash": b"", "exclusions": [{"xpath": "/uuid", "length": 10}]}, "not handled"),
])
def test_bindings_it_cannot_compute_are_refused_up_front(data: dict[str, object], reason: str) -> None:
    with pytest.raises(UnsupportedBinding, match=reason):
        HashBinding.parse("c2pa.hash.bmff.v3", data)


def test_parsed_exclusions_are_what_c2pa_wrote(big_signed_clip: Path) -> None:
    binding = signed_binding(big_signed_clip)
    assert binding.alg == "sha256"
    kinds = [kind for kind, _ in binding.exclusions]
    assert b"uuid" in kinds  # the manifest's own box, recognised by its C2PA UUID
    uuid_required = dict(binding.exclusions)[b"uuid"]
    assert (8, bmff.C2PA_UUID) in uuid_required
