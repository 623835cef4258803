"""The one COSE_Sign1 decoder: tagged or not, both headers, nothing raised on garbage."""

from __future__ import annotations

import cbor2

from provenance._formats.cose import COSE_SIGN1_TAG, decode_sign1


def _message(protected: object, unprotected: object, *, tagged: bool = True) -> bytes:
    parts = [protected, unprotected, None, b"signature"]
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, parts) if tagged else parts)


def test_headers_of_a_tagged_and_an_untagged_message() -> None:
    for tagged in (True, False):
        message = decode_sign1(_message(cbor2.dumps({1: -7, 33: b"leaf"}), {33: b"other", "sigTst2": {}},
                                        tagged=tagged))
        assert message is not None
        assert message.unprotected == {33: b"other", "sigTst2": {}}
        assert message.protected() == {1: -7, 33: b"leaf"}
        assert message.headers() == {1: -7, 33: b"leaf", "sigTst2": {}}  # the protected value wins


def test_malformed_parts_read_as_empty() -> None:
    message = decode_sign1(_message(b"\xff not cbor", ["not", "a", "map"]))
    assert message is not None
    assert message.protected() == {} and message.unprotected == {} and message.headers() == {}
    empty = decode_sign1(_message(b"", {}))
    assert empty is not None and empty.protected() == {}


def test_anything_else_is_none() -> None:
    assert decode_sign1(b"\x00garbage") is None
    assert decode_sign1(b"") is None
    assert decode_sign1(cbor2.dumps([1, 2, 3])) is None
    assert decode_sign1(cbor2.dumps(cbor2.CBORTag(98, [b"", {}, None, []]))) is None  # COSE_Sign, not Sign1
