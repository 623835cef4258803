"""Strategies for manifest stores and COSE signatures that are nearly right: real JUMBF framing, C2PA
labels, CBOR content, with sizes, labels and values that are sometimes wrong."""

from __future__ import annotations

import struct
from typing import Any

import cbor2
from hypothesis import strategies as st

from .mutations import Flip, Insert, Overwrite, SetJumbfSize, Truncate, apply, cbor_values

LABELS = ("c2pa", "urn:c2pa:00000000-0000-4000-8000-000000000000", "c2pa.assertions", "c2pa.claim.v2",
          "c2pa.claim", "c2pa.signature", "c2pa.hash.bmff.v3", "c2pa.hash.bmff.v2", "c2pa.hash.bmff",
          "c2pa.hash.data", "c2pa.hash.bmff.v3__1", "c2pa.actions.v2", "c2pa.soft-binding")


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def jumd(label: str | None, toggles: int = 0x03, type_uuid: bytes = bytes(16)) -> bytes:
    body = type_uuid + bytes([toggles])
    if label is not None:
        body += label.encode("utf-8", "surrogatepass") + b"\x00"
    return box(b"jumd", body)


def superbox(label: str | None, children: list[bytes], toggles: int = 0x03) -> bytes:
    return box(b"jumb", jumd(label, toggles) + b"".join(children))


def _cbor(value: Any) -> bytes:
    return bytes(cbor2.dumps(value))


def _numbers() -> st.SearchStrategy[Any]:
    big = st.sampled_from([2**31, 2**32, 2**63 - 1, 2**63, 2**64, 2**70, -(2**63)])
    return st.integers(-4, 64) | big | st.floats()


def well_formed_exclusions() -> st.SearchStrategy[list[dict[str, Any]]]:
    """Exclusions of the form bmffhash accepts (a 4-letter type, required bytes), any offsets and values in them."""
    value = st.binary(max_size=20) | _numbers() | st.text(max_size=4) | st.lists(st.integers(-1, 300), max_size=4)
    entry = st.fixed_dictionaries({"xpath": st.sampled_from(["/uuid", "/mdat", "/moov", "/free"]),
                                   "data": st.lists(st.fixed_dictionaries({"offset": _numbers(), "value": value}),
                                                    min_size=1, max_size=2)})
    return st.lists(entry, min_size=1, max_size=3)


def exclusion_values() -> st.SearchStrategy[Any]:
    """BMFF hash exclusions: mostly well-formed `{xpath, data: [{offset, value}]}`, some not.

    Integers stay out of the range where `bytes(n)` would really allocate gigabytes."""
    big = st.sampled_from([2**31, 2**32, 2**63 - 1, 2**63, 2**64, 2**70, -(2**63)])
    number = st.integers(-4, 64) | big | st.floats()
    value = st.binary(max_size=20) | number | st.text(max_size=4) | st.lists(st.integers(-1, 300), max_size=4)
    data_entry = st.fixed_dictionaries({"offset": number, "value": value}) | cbor_values()
    xpath = st.sampled_from(["/uuid", "/ftyp", "/mdat", "/moov", "/free", "/skip", "/mfra", "/", "/uuid/x",
                             "uuid", "/\u00e9\u00e9\u00e9\u00e9", "/\u4e2d\u4e2d\u4e2d\u4e2d"]) | st.text(max_size=6)
    exclusion = st.fixed_dictionaries({"xpath": xpath}, optional={
        "data": st.lists(data_entry, max_size=3) | cbor_values(), "length": number, "subset": cbor_values(),
        "version": number})
    # The form bmffhash accepts (a 4-letter type, required bytes), with any offsets and values in it.
    well_formed = st.fixed_dictionaries({"xpath": st.sampled_from(["/uuid", "/mdat", "/moov", "/free"]),
                                         "data": st.lists(st.fixed_dictionaries({"offset": number, "value": value}),
                                                          min_size=1, max_size=2)})
    return st.lists(well_formed | well_formed | exclusion | cbor_values(), max_size=4) | cbor_values()


def bmff_hash_assertion() -> st.SearchStrategy[Any]:
    alg = st.sampled_from(["sha256", "sha384", "sha512", "sha1", "md5", "shake_128", "blake2b", "sm3", "nope",
                           ""]) | st.none() | st.integers() | st.text(max_size=8)
    plain = st.fixed_dictionaries({"hash": st.binary(min_size=0, max_size=64)}, optional={
        "alg": alg, "exclusions": exclusion_values(), "merkle": st.sampled_from([None, False, 0, [], True]),
        "name": st.text(max_size=8)})
    return st.integers(0, 3).flatmap(lambda i: plain if i else cbor_values())  # mostly the plain form


def cose_sign1() -> st.SearchStrategy[bytes]:
    """COSE_Sign1-shaped CBOR: tag 18 (or none) over [protected, unprotected, payload, signature]."""
    certs = st.lists(st.binary(max_size=40), max_size=3)
    chain = certs | st.binary(max_size=40) | cbor_values()
    headers = st.dictionaries(st.sampled_from([1, 33, "x5chain", "sigTst", 4]) | st.integers(-4, 40),
                              chain, max_size=3)
    protected = headers.map(_cbor) | st.binary(max_size=24) | cbor_values()
    message = st.tuples(protected, headers | cbor_values(), st.none() | st.binary(max_size=8),
                        st.binary(max_size=16)).map(list)
    shaped = message | st.lists(cbor_values(), max_size=5)
    return st.builds(lambda m, tagged: _cbor(cbor2.CBORTag(18, m) if tagged else m), shaped, st.booleans())


def content_box() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.builds(box, st.just(b"cbor"), bmff_hash_assertion().map(_cbor)),
        st.builds(box, st.just(b"cbor"), cose_sign1()),
        st.builds(box, st.just(b"cbor"), st.binary(max_size=32)),
        st.builds(box, st.just(b"json"), st.binary(max_size=16)),
        st.builds(box, st.sampled_from([b"bidb", b"uuid", b"jumd", b"jumb", b"free"]), st.binary(max_size=24)),
    )


def _tree(depth: int) -> st.SearchStrategy[bytes]:
    label = st.sampled_from(LABELS) | st.none() | st.text(max_size=10)
    toggles = st.sampled_from([0x03, 0x02, 0x00, 0x01, 0x07, 0xFF])
    if depth == 0:
        return content_box()
    child = _tree(depth - 1) | content_box()
    return st.builds(lambda lab, kids, tog: superbox(lab, kids, tog), label, st.lists(child, max_size=4), toggles)


def _manifest() -> st.SearchStrategy[bytes]:
    """The usual shape: c2pa ▸ manifest ▸ (assertions ▸ hash assertion, claim, signature)."""
    hash_label = st.sampled_from(["c2pa.hash.bmff.v3", "c2pa.hash.bmff.v2", "c2pa.hash.bmff", "c2pa.hash.data",
                                  "c2pa.hash.bmff.v3__2", "c2pa.hash.boxes"])
    assertion = st.builds(lambda lab, body: superbox(lab, [box(b"cbor", _cbor(body))]), hash_label,
                          bmff_hash_assertion())
    assertions = st.builds(lambda items, extra: superbox("c2pa.assertions", items + extra),
                           st.lists(assertion, min_size=0, max_size=2), st.lists(_tree(1), max_size=1))
    signature = st.builds(lambda sig: superbox("c2pa.signature", [box(b"cbor", sig)]), cose_sign1())
    claim = st.builds(lambda body: superbox("c2pa.claim.v2", [box(b"cbor", _cbor(body))]), cbor_values())
    parts = st.tuples(assertions, claim, signature)
    manifest = st.builds(lambda lab, children: superbox(lab, children),
                         st.sampled_from(LABELS[1:2]) | st.text(max_size=8),
                         parts.map(list) | parts.flatmap(lambda p: st.permutations(list(p))))
    return st.builds(lambda ms: superbox("c2pa", ms), st.lists(manifest, min_size=1, max_size=2))


def hash_stores() -> st.SearchStrategy[bytes]:
    """A well-formed store whose active manifest's one hard binding is a BMFF hash with generated content."""
    def store(label: str, body: Any) -> bytes:
        assertion = superbox(label, [box(b"cbor", _cbor(body))])
        return superbox("c2pa", [superbox(LABELS[1], [superbox("c2pa.assertions", [assertion])])])

    plain = st.fixed_dictionaries({"hash": st.binary(max_size=64), "alg": st.just("sha256"),
                                   "exclusions": well_formed_exclusions()})
    return st.builds(store, st.sampled_from(["c2pa.hash.bmff.v3", "c2pa.hash.bmff.v2", "c2pa.hash.bmff.v3__1"]),
                     plain | bmff_hash_assertion())


def stores() -> st.SearchStrategy[bytes]:
    """Manifest stores: the usual shape or a random tree, then perhaps a few byte-level edits."""
    base = _manifest() | _tree(3)
    return st.builds(lambda data, edits: apply(data, edits), base, st.lists(st.one_of(
        st.builds(Flip, st.integers(0, 4096), st.integers(1, 255)),
        st.builds(Overwrite, st.integers(0, 4096), st.binary(min_size=1, max_size=4)),
        st.builds(Insert, st.integers(0, 4096), st.binary(min_size=1, max_size=8)),
        st.builds(SetJumbfSize, st.just(0), st.integers(0, 64), st.integers(0, 0xFFFFFFFF)),
        st.builds(Truncate, st.integers(0, 4096)),
    ), max_size=2))
