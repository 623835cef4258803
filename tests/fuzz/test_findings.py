"""Minimal reproducers of what the fuzz targets found, one test each.

Each is a plain regression test now that its module is fixed (P1-P2 in check/policy.py; F1 bmff.py
nesting, F2 jumbf.py negative reads, F3 bmffhash.py exclusion numbers, F4 the fast path's stray tail). A
new finding that cannot be fixed at once goes in known.py with an xfail(strict=True) reproducer here.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import cbor2
import pytest

from provenance import media
from provenance._fast import bmffhash
from provenance._formats import bmff, jumbf
from provenance.check.policy import load_policy_file, parse_policy
from provenance.errors import MediaError, PolicyError
from provenance.keys.pki import DevPki
from provenance.verdict import Outcome
from provenance.verify import Verifier
from tests.support.clips import make_clip, sign_file

from .bmff_gen import nested
from .mutations import CborEdit, apply_cbor_edits
from .seeds import C2PA_UUID, Seed, top_level, write_mutant

# ------------------------------------------------------------------------------------ fixed: policy.py


@pytest.mark.parametrize("text", [
    "a = " + "[" * 2000 + "]" * 2000,
    "a = " + "{b = " * 2000 + "1" + "}" * 2000,
])
def test_deeply_nested_toml_is_a_policy_error(tmp_path: Path, text: str) -> None:
    """P1 (policy.text): tomllib recurses once per nested array/inline table; 2000 levels raised
    RecursionError out of load_policy_file instead of a PolicyError naming the file."""
    path = tmp_path / "provenance.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match="nested too deeply") as raised:
        load_policy_file(path)
    assert str(path) in raised.value.message


@pytest.mark.parametrize("key", ["trust_anchors", "tsa_trust_anchors"])
def test_unknown_home_folder_is_a_policy_error(tmp_path: Path, key: str) -> None:
    """P2 (policy.table): `~nosuchuser/...` made Path.expanduser raise RuntimeError."""
    with pytest.raises(PolicyError, match=f"{key} cannot be resolved"):
        parse_policy({key: "~nosuchuser0/anchors.pem"}, text=f'{key} = "~nosuchuser0/anchors.pem"\n',
                     label="provenance.toml", base=tmp_path)


def test_symlink_loop_is_a_policy_error(tmp_path: Path) -> None:
    """P2 again: a trust_anchors path through a symlink loop made Path.resolve raise RuntimeError."""
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    (tmp_path / "provenance.toml").write_text('trust_anchors = "a/anchors.pem"\n', encoding="utf-8")
    try:
        policy = load_policy_file(tmp_path / "provenance.toml")
    except PolicyError as e:
        assert "trust_anchors cannot be resolved" in e.message and "provenance.toml:1" in e.message
    else:  # a Python whose resolve() tolerates loops: then the path is kept as written
        assert policy.trust_anchors is not None and policy.trust_anchors.name == "anchors.pem"


# ----------------------------------------------------------------------- reported: jumbf.py (F2)


class _Reads(io.BytesIO):
    """Records the largest single read."""

    largest = 0

    def read(self, size: int | None = -1) -> bytes:
        out = super().read(size)
        self.largest = max(self.largest, len(out))
        return out


_MB = 1 << 20
_BIG_MDAT = struct.pack(">I4s", 8 + 8 * _MB, b"mdat") + bytes(8 * _MB)


@pytest.mark.parametrize("kind,data", [
    # A C2PA uuid box whose payload ends 7 bytes into the 8-byte offset that precedes the JUMBF:
    # _bmff_scan asks for box_size - header - 16 - (end + 9) = -7 bytes.
    ("bmff", struct.pack(">I4s", 16, b"ftyp") + b"isom\x00\x00\x00\x00"
     + struct.pack(">I4s", 8 + 30, b"uuid") + C2PA_UUID + b"\x00\x00\x00\x00manifest\x00\x00" + _BIG_MDAT),
    # A JPEG APP0 segment whose length field is 0: _jpeg_scan asks for length - 2 = -2 bytes.
    ("jpeg", b"\xff\xd8\xff\xe0\x00\x00" + bytes(8 * _MB)),
])
def test_scanning_never_reads_the_rest_of_the_file(kind: str, data: bytes) -> None:
    """F2 (readers.store-bytes): jumbf.scan, on the verify path before any limit, passes a negative size
    to read(), which reads everything to the end of the file into memory at once: a 30-byte box in
    front of a 10 GB mdat costs 10 GB of memory. Documented: "a large video is never read into memory"."""
    f = _Reads(data)
    jumbf.scan(f, len(data), {"bmff": media.MP4, "jpeg": media.JPEG}[kind])
    assert f.largest < _MB, f"one read() took {f.largest:,} bytes"


# ------------------------------------------------------------------------- reported: bmff.py (F1)


def test_deeply_nested_metadata_box_is_an_unsupported_layout() -> None:
    """F1 (readers.shifted-box): 1100 moov boxes nested in one another (17.6 KB) raise RecursionError,
    not the documented UnsupportedLayout."""
    with pytest.raises(bmff.UnsupportedLayout):
        bmff.shifted_box(nested(1100), 8, 3313)


def test_signing_a_clip_with_deeply_nested_udta_boxes(tmp_path: Path, pki: DevPki) -> None:
    """F1 end to end: a real clip whose moov also holds 1100 nested udta boxes; the signing fast path's
    offset rewriter raises RecursionError, which escapes signing.sign (the CLI prints "unexpected
    error: RecursionError"). Now the fast path gives up (UnsupportedLayout) and c2pa's Builder, which refuses
    such nesting too, says so in one MediaError; nothing is written."""
    data = make_clip(tmp_path / "clip.mp4").read_bytes()
    _, offset, size = next(b for b in top_level(data) if b[0] == b"moov")
    deep = nested(1100, b"udta")
    moov = struct.pack(">I", size + len(deep)) + data[offset + 4 : offset + size] + deep
    (tmp_path / "deep.mp4").write_bytes(data[:offset] + moov + data[offset + size :])
    with pytest.raises(MediaError, match="cannot be signed: .*too deply nested"):
        sign_file(tmp_path / "deep.mp4", tmp_path / "deep.signed.mp4", pki, generator="Sora")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "deep.mp4"]


# --------------------------------------------------------------------- reported: bmffhash.py (F3)


def _store_with_exclusion(offset: object, value: object) -> bytes:
    from .jumbf_gen import box, superbox

    body = {"hash": bytes(32), "alg": "sha256", "exclusions": [{"xpath": "/uuid", "data": [{"offset": offset,
                                                                                            "value": value}]}]}
    assertion = superbox("c2pa.hash.bmff.v3", [box(b"cbor", cbor2.dumps(body))])
    return superbox("c2pa", [superbox("urn:c2pa:x", [superbox("c2pa.assertions", [assertion])])])


@pytest.mark.parametrize("offset,value", [(float("inf"), b"\x00"), (8, 2**70), (8, 2**62)])
def test_malformed_exclusion_numbers_are_an_unsupported_binding(offset: object, value: object) -> None:
    """F3 (readers.hash-binding): HashBinding.parse turns `int(offset)` / `bytes(value)` errors into
    UnsupportedBinding only for AttributeError, KeyError, TypeError and ValueError; an infinite offset
    or a huge integer value raises OverflowError or MemoryError instead."""
    with pytest.raises(bmffhash.UnsupportedBinding):
        bmffhash.hash_binding_of_store(_store_with_exclusion(offset, value))


def test_verifying_a_clip_with_an_infinite_exclusion_offset(fuzz_seeds: dict[str, Seed],
                                                            verifiers: tuple[Verifier, Verifier],
                                                            tmp_path: Path) -> None:
    """F3 end to end: the signed MP4 with its BMFF hash assertion's exclusion offset set to infinity.
    Without the fast path c2pa refuses the assertion (`error`: "could not decode assertion
    c2pa.hash.bmff.v3 ... floating point `inf`"); with it, verify() reports "internal error:
    OverflowError ... please report it" instead."""
    seed = fuzz_seeds["mp4"]
    edit = CborEdit("c2pa.hash.bmff.v3", _offset_node(seed), "replace", float("inf"))
    path = write_mutant(tmp_path, seed, *apply_cbor_edits(seed, [edit]))
    fast, full = (v.verify(path) for v in verifiers)
    assert full.verdict is Outcome.ERROR and "internal error" not in (full.error or "")
    assert "internal error" not in (fast.error or ""), fast.error


def _offset_node(seed: Seed) -> int:
    """The pre-order index (CborEdit's `node`) of exclusions[0].data[0].offset in the BMFF hash assertion."""
    from .mutations import _loads, _slots
    from .seeds import content_box, superbox

    start, end = content_box(superbox(seed.store, "c2pa.hash.bmff.v3")).payload
    slots = _slots(_loads(seed.store[start:end]))
    return next(i for i, (container, key) in enumerate(slots) if key == "offset")


# ------------------------------------------------------------------- reported: fastverify.py (F4)


@pytest.mark.parametrize("name", ["mp4", "mov", "fmp4"])
@pytest.mark.parametrize("tail", [1, 7])
def test_bytes_appended_after_the_last_box(name: str, tail: int, fuzz_seeds: dict[str, Seed],
                                           verifiers: tuple[Verifier, Verifier], tmp_path: Path) -> None:
    """F4 (verify.fmp4, minimal input `SetBoxSize('bmff', 5, -1, True)`: the last box, an excluded mfra,
    one byte shorter): a signed clip with 1 to 7 bytes appended. c2pa's Reader hashes them and finds
    assertion.bmffHash.mismatch (INVALID); the fast path, which every BMFF file of 64 MiB or more takes,
    never reads them (bmff.top_level_boxes stops when fewer than 8 bytes are left, and fastverify does not
    check that the boxes end at the end of the file) and says TRUSTED."""
    seed = fuzz_seeds[name]
    path = write_mutant(tmp_path, seed, seed.data + b"\x00" * tail, None)
    fast, full = (v.verify(path) for v in verifiers)
    assert full.verdict is Outcome.INVALID and "assertion.bmffHash.mismatch" in full.failure_codes
    assert fast.verdict is full.verdict


# --------------------------------------------------------------------- long run (make fuzz), fixed


def test_a_hash_algorithm_c2pa_does_not_allow_is_an_unsupported_binding() -> None:
    """readers.hash-binding: alg "shake_128" passed parse (hashlib has it) and then raised TypeError in
    digest(), which needs a length; only C2PA's SHA-2 algorithms are computed here."""
    body = {"hash": b"", "alg": "shake_128"}
    from .jumbf_gen import box, superbox

    assertion = superbox("c2pa.hash.bmff.v3", [box(b"cbor", cbor2.dumps(body))])
    store = superbox("c2pa", [superbox("urn:c2pa:x", [superbox("c2pa.assertions", [assertion])])])
    with pytest.raises(bmffhash.UnsupportedBinding, match="shake_128"):
        bmffhash.hash_binding_of_store(store)


def test_a_query_unit_with_a_bad_iscc_prefix_is_ignored() -> None:
    """api.by-binding-get: a well-formed ISCC-SEQ holding a unit with an invalid prefix made iscc_core raise
    ValueError inside the lookup (HTTP 500); such a unit now matches nothing."""
    from provenance.durability import softbinding

    assert softbinding.video_body("AE" + "A" * 50) is None


def test_a_hash_algorithm_that_is_not_a_string_is_an_unsupported_binding() -> None:
    """verify.manifest-cbor (second long run): an `alg` that is a CBOR array made the algorithm check
    raise TypeError (unhashable list), an internal error on the fast path."""
    from .jumbf_gen import box, superbox

    body = {"hash": b"", "alg": ["sha256"]}
    assertion = superbox("c2pa.hash.bmff.v3", [box(b"cbor", cbor2.dumps(body))])
    store = superbox("c2pa", [superbox("urn:c2pa:x", [superbox("c2pa.assertions", [assertion])])])
    with pytest.raises(bmffhash.UnsupportedBinding, match="algorithm"):
        bmffhash.hash_binding_of_store(store)


# ------------------------------------------------- third long run: the oracle, not provenance, was wrong


def _toggles_offsets(seed: Seed) -> list[int]:
    """Where, in the store's container (sidecar or media file), each description box's toggles byte is."""
    from .seeds import active_manifest

    base = 0 if seed.sidecar is not None else seed.store_offset
    assert base is not None
    return [base + node.payload[0] + 16 for node in active_manifest(seed.store).walk() if node.type == b"jumd"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mp4", "webm"])
def test_reserved_description_toggles_are_not_signed(name: str, fuzz_seeds: dict[str, Seed],
                                                     verifiers: tuple[Verifier, Verifier], tmp_path: Path) -> None:
    """verify.webm-sidecar (`Flip(at=435, mask=32)`): a reserved bit (5-7) of a JUMBF description box's
    toggles set in the hash assertion of a signed store still verified trusted, which the oracle, protecting
    the assertion byte for byte, called a wrong verdict. c2pa hashes an assertion as it re-serializes it
    (label, type, salt, content), so reserved bits are not signed and carry nothing a report shows: the
    report must be the seed's, field for field. Flipping a defined bit (requestable, label, id, signature,
    private) must never verify."""
    seed = fuzz_seeds[name]
    container = seed.sidecar if seed.sidecar is not None else seed.data

    def verdicts(at: int, mask: int) -> list[dict[str, object]]:
        mutant = bytearray(container)
        mutant[at] ^= mask
        if seed.sidecar is not None:
            path = write_mutant(tmp_path, seed, seed.data, bytes(mutant))
        else:
            path = write_mutant(tmp_path, seed, bytes(mutant), None)
        return [v.verify(path).to_dict() for v in verifiers]

    original = verdicts(0, 0)
    assert original[0]["verdict"] == "trusted"
    for at in _toggles_offsets(seed):
        for mask in (0x20, 0x40, 0x80):
            assert verdicts(at, mask) == original
        for mask in (0x01, 0x02, 0x04, 0x08, 0x10):
            assert all(v["verdict"] not in ("trusted", "valid") for v in verdicts(at, mask)), (at, mask)


@pytest.mark.parametrize("blocks", [None, 7, "blocks", {"value": "x"}])
def test_a_soft_binding_whose_blocks_are_not_a_list_is_no_soft_binding(blocks: object) -> None:
    """api.manifest-post (fourth long run): a submitted store whose c2pa.soft-binding assertion has
    `blocks: null` made `softbinding.from_manifest` raise TypeError (HTTP 500 from POST /manifests)."""
    from provenance.durability import softbinding

    manifest = {"assertions": [{"label": softbinding.LABEL, "data": {"alg": softbinding.ALG, "blocks": blocks}}]}
    assert softbinding.from_manifest(manifest) is None
