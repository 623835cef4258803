"""What `provenance` writes into a manifest, read back from the signed file's own bytes: the fields the
C2PA Conformance Program's spec-2.4 rubric asks of a generator (issue 14, first part)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import cbor2
import pytest

from provenance import media, signing
from provenance._formats import jumbf
from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.manifest import SPEC_VERSION, Disclosure
from tests.support.clips import make_clip


def _active_claim(path: Path) -> tuple[dict[str, Any], bytes]:
    """The active manifest's claim (CBOR decoded) and the whole store, from the file or its sidecar."""
    sidecar = media.sidecar_path(path)
    if sidecar.is_file():
        store = sidecar.read_bytes()
    else:
        data = path.read_bytes()
        found = jumbf.manifest_store_bytes(io.BytesIO(data), len(data), media.detect(path))
        assert found is not None
        store = found
    at = store.rindex(b"c2pa.claim.v2")  # the active manifest is the last one
    return cbor2.loads(store[store.index(b"cbor", at) + 4 :]), store


def _assertion_data(store: bytes, label: str) -> Any:
    at = store.rindex(label.encode() + b"\x00")
    return cbor2.loads(store[store.index(b"cbor", at) + 4 :])


def _labels(refs: list[dict[str, Any]]) -> list[str]:
    return [ref["url"].rsplit("/", 1)[-1] for ref in refs]


@pytest.mark.parametrize(("container", "suffix", "soft_binding"), [
    ("mp4", ".mp4", True),  # the fast path
    ("mp4", ".mp4", False),
    ("avi", ".avi", False),  # c2pa's Builder.sign
    ("webm", ".webm", False),  # a sidecar
])
def test_the_generator_states_what_it_made(container: str, suffix: str, soft_binding: bool, tmp_path: Path,
                                           pki: DevPki) -> None:
    source = make_clip(tmp_path / f"source{suffix}", container, seconds=1.0, size="64x48", rate=10)
    out = tmp_path / f"signed{suffix}"
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    signing.sign(source, out, creds, Disclosure(generator="Sora", ai_training="notAllowed"),
                 sidecar=container == "webm", soft_binding=soft_binding)
    claim, store = _active_claim(out)

    assert claim["claim_generator_info"]["specVersion"] == SPEC_VERSION
    created, gathered = _labels(claim["created_assertions"]), _labels(claim.get("gathered_assertions", []))
    # The inception action is in the first actions assertion the claim generator created.
    assert [label for label in created if label.startswith("c2pa.actions")][0] == "c2pa.actions.v2"
    assert not [label for label in gathered if label.startswith("c2pa.actions")]
    actions = _assertion_data(store, "c2pa.actions.v2")
    assert actions["allActionsIncluded"] is True
    assert actions["actions"][0]["action"] == "c2pa.created"
    assert ("c2pa.soft-binding" in created) is soft_binding
    assert "c2pa.soft-binding" not in gathered
