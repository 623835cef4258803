"""What `provenance` writes into a manifest, read back from the signed file: the statements of the C2PA
Conformance Program's rubrics (release 1.0, spec-2.4 conformance and local signals) that a generator's
output must meet, checked on the crJSON c2pa produces (the input the rubrics read) and on the claim's
own CBOR, for every kind of clip `sign` makes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa
import cbor2
import pytest

from provenance import media, signing
from provenance._formats import jumbf
from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.manifest import SPEC_VERSION, TRAINING_MINING_LABEL, Disclosure
from provenance.verdict import COMPOSITE_WITH_TRAINED, TRAINED_ALGORITHMIC_MEDIA
from tests.support.clips import make_clip
from tests.support.tsa import RunningTsa, openssl_available, running_tsa

# The standard assertions a provenance manifest may carry (the rubric's allow-list holds these and more).
OUR_STANDARD_ASSERTIONS = {"c2pa.actions.v2", "c2pa.hash.bmff.v3", "c2pa.hash.data", "c2pa.soft-binding",
                           "c2pa.ingredient.v3"}
INCEPTION_ACTIONS = {"c2pa.created", "c2pa.opened"}
GENAI_SOURCE_TYPES = {TRAINED_ALGORITHMIC_MEDIA, COMPOSITE_WITH_TRAINED}


@dataclass(frozen=True)
class Case:
    container: str
    suffix: str
    soft_binding: bool = False
    ai_training: str | None = None
    timestamp: bool = False
    parent: bool = False
    edit_source: str = "composite"


CASES = {
    "mp4-fast-path": Case("mp4", ".mp4", soft_binding=True),
    "mp4-ai-training": Case("mp4", ".mp4", ai_training="notAllowed"),
    "mp4-constrained-training": Case("mp4", ".mp4", soft_binding=True, ai_training="constrained"),
    "mp4-timestamp": Case("mp4", ".mp4", timestamp=True),
    "mov": Case("mov", ".mov", soft_binding=True),
    "fmp4": Case("fmp4", ".mp4"),
    "avi": Case("avi", ".avi", soft_binding=True),
    "webm-sidecar": Case("webm", ".webm"),
    "remix-composite": Case("mp4", ".mp4", parent=True, soft_binding=True),
    "remix-trained": Case("mp4", ".mp4", parent=True, edit_source="trained"),
}


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTsa | None]:
    if not openssl_available():
        yield None
        return
    with running_tsa(tmp_path_factory.mktemp("tsa")) as running:
        yield running


def _sign(case: Case, directory: Path, pki: DevPki, tsa: RunningTsa | None) -> Path:
    if case.timestamp and tsa is None:
        pytest.skip("the test TSA needs the openssl command")
    source = make_clip(directory / f"source{case.suffix}", case.container, seconds=1.0, size="64x48", rate=10)
    tsa_url = tsa.url if case.timestamp and tsa is not None else None
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key, tsa_url=tsa_url)
    parent = None
    if case.parent:
        parent = directory / "parent.mp4"
        signing.sign(make_clip(directory / "parent-source.mp4", seconds=1.0, size="64x48", rate=10), parent, creds,
                     Disclosure(generator="Sora"))
    out = directory / f"signed{case.suffix}"
    signing.sign(source, out, creds, Disclosure(generator="Sora", generator_version="2", ai_training=case.ai_training,
                                                edit_source=case.edit_source),
                 parent=parent, sidecar=case.container == "webm", soft_binding=case.soft_binding)
    return out


def _crjson(path: Path) -> dict[str, Any]:
    kind = media.detect(path)
    sidecar = media.sidecar_path(path)
    with open(path, "rb") as stream:
        reader = c2pa.Reader(kind.mime, stream, sidecar.read_bytes()) if sidecar.is_file() else c2pa.Reader(kind.mime,
                                                                                                          stream)
        with reader:
            return json.loads(reader.crjson())  # type: ignore[no-any-return]


def _store(path: Path) -> bytes:
    sidecar = media.sidecar_path(path)
    if sidecar.is_file():
        return sidecar.read_bytes()
    data = path.read_bytes()
    found = jumbf.manifest_store_bytes(io.BytesIO(data), len(data), media.detect(path))
    assert found is not None
    return found


def _cbor_after(store: bytes, label: bytes) -> Any:
    """The CBOR content of the last JUMBF box labelled `label` (the active manifest is the last one)."""
    at = store.rindex(label + b"\x00")
    return cbor2.loads(store[store.index(b"cbor", at) + 4 :])


def _labels(refs: list[dict[str, Any]]) -> list[str]:
    return [ref["url"].rsplit("/", 1)[-1] for ref in refs]


def rubric_violations(manifest: dict[str, Any]) -> list[str]:
    """The spec-2.4 conformance statements and the signals rubric's "ambiguous actions" test that a
    provenance manifest could fail, evaluated as the rubrics do, on one crJSON manifest."""
    claim = manifest["claim.v2"]
    assertions = manifest["assertions"]
    created, gathered = _labels(claim["created_assertions"]), _labels(claim["gathered_assertions"])
    actions_data = assertions.get("c2pa.actions.v2", {})
    actions = actions_data.get("actions", [])
    problems = []
    version = str(claim["claim_generator_info"].get("specVersion", ""))
    if tuple(int(p) for p in version.split(".")[:2] if p.isdigit()) < (2, 4):
        problems.append("mandatory_spec_version")
    if actions_data.get("allActionsIncluded") is not True:
        problems.append("mandatory_all_actions_included")
    if "c2pa.actions.v2" not in created or any(label.startswith("c2pa.actions") for label in gathered):
        problems.append("inception_action_position")
    if not actions or actions[0].get("action") not in INCEPTION_ACTIONS:
        problems.append("inception_action_first")
    unsupported = [label for label in assertions if label.startswith("c2pa.")
                   and label.split("__")[0] not in OUR_STANDARD_ASSERTIONS]
    if unsupported:
        problems.append(f"no_unsupported_assertions: {unsupported}")
    if any(not str(a.get("action", "")).startswith("c2pa.") or a.get("action") == "c2pa.unknown" for a in actions):
        problems.append("ambiguous_actions")
    if "c2pa.soft-binding" in assertions and "c2pa.soft-binding" not in created:
        problems.append("soft binding gathered")
    return problems


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_every_clip_meets_the_conformance_rubric(name: str, tmp_path: Path, pki: DevPki,
                                                 tsa: RunningTsa | None) -> None:
    case = CASES[name]
    out = _sign(case, tmp_path, pki, tsa)
    report = _crjson(out)
    active = report["manifests"][0]  # crJSON lists the active manifest first

    assert rubric_violations(active) == []
    claim = _cbor_after(_store(out), b"c2pa.claim.v2")
    assert claim["claim_generator_info"]["specVersion"] == SPEC_VERSION

    actions = active["assertions"]["c2pa.actions.v2"]["actions"]
    if case.parent:
        # Signals rubric: a perceptible generative-AI transformation of the parent, nothing generated anew.
        assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
        edits = [a for a in actions if a["action"] not in INCEPTION_ACTIONS]
        assert edits and all(a["digitalSourceType"] in GENAI_SOURCE_TYPES for a in edits)
        assert not any(a["action"] == "c2pa.created" for a in actions)
        assert len(report["manifests"]) == 2  # the parent's manifest came along as the ingredient's
    else:
        # Signals rubric: fully generative-AI media (created with trainedAlgorithmicMedia).
        assert actions == [{"action": "c2pa.created", "softwareAgent": {"name": "Sora", "version": "2"},
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}]

    training = active["assertions"].get(TRAINING_MINING_LABEL)
    assert "c2pa.training-mining" not in active["assertions"]
    if case.ai_training is None:
        assert training is None
    else:
        entries = training["entries"]
        assert set(entries) == {"cawg.ai_generative_training", "cawg.ai_inference", "cawg.ai_training",
                                "cawg.data_mining"}
        assert {e["use"] for e in entries.values()} == {case.ai_training}
        assert all(("constraint_info" in e) == (case.ai_training == "constrained") for e in entries.values())

    if case.timestamp:
        assert active["signature"]["timeStampInfo"]["timestamp"]


def test_a_remix_records_its_parent_as_an_ingredient_c2pa_validates(tmp_path: Path, pki: DevPki) -> None:
    out = _sign(CASES["remix-trained"], tmp_path, pki, None)
    report = _crjson(out)
    ingredient = report["manifests"][0]["assertions"]["c2pa.ingredient.v3"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["activeManifest"]["url"].endswith(report["manifests"][1]["label"])
