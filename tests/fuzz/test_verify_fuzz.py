"""Fuzz the verify path: mutants of real signed clips through `Verifier.verify`, fast path on and off.

Properties, for every mutant:
- `verify` returns a Verdict (it must never raise for a bad file);
- a mutant that changes a byte the hard binding hashes, or the claim or an assertion the claim signs,
  is never TRUSTED or VALID (changes confined to excluded regions may be);
- the fast path and c2pa's Reader alone reach the same verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance import media
from provenance._formats import jumbf
from provenance.verdict import Outcome, Verdict
from provenance.verify import Verifier

from . import harness
from .mutations import (
    CborEdit,
    Flip,
    InStore,
    Op,
    Overwrite,
    apply,
    apply_cbor_edits,
    cbor_edits,
    file_mutations,
    store_mutations,
)
from .seeds import Seed, Timestamped, stray_tail, top_level, write_mutant

pytestmark = pytest.mark.slow  # a bounded fuzz run: seconds per target

ACCEPTED = (Outcome.TRUSTED, Outcome.VALID)


def check_mutant(seed: Seed, media_bytes: bytes, sidecar: bytes | None, folder: Path,
                 verifiers: tuple[Verifier, Verifier]) -> tuple[Verdict, Verdict]:
    """Verify one mutant both ways and check the three properties."""
    path = write_mutant(folder, seed, media_bytes, sidecar)
    fast, full = (v.verify(path) for v in verifiers)
    assert isinstance(fast, Verdict) and isinstance(full, Verdict)
    for verdict in (fast, full):
        # verify() turns its own bugs into an `error` verdict that says "internal error": still a bug.
        assert "internal error" not in (verdict.error or ""), f"INTERNAL ERROR: {verdict.error}"
    container = sidecar if seed.sidecar is not None else media_bytes
    assert container is not None
    hashed = seed.changes_hashed_bytes(media_bytes)
    signed = seed.changes_signed_manifest(container)
    if hashed or signed:
        what = "a hashed byte" if hashed else "the signed claim or an assertion"
        for way, verdict in (("fast path", fast), ("c2pa's Reader", full)):
            assert verdict.verdict not in ACCEPTED, (
                f"WRONG VERDICT ({way}): the mutant changes {what} but verifies {verdict.verdict}: "
                f"{verdict.to_dict()}")
    tail = stray_tail(media_bytes) if seed.layout == "bmff" else None
    assert fast.verdict is full.verdict, (
        f"FAST/FULL DISAGREE: fast path {fast.verdict}, c2pa's Reader {full.verdict}"
        f"{f' ({tail} stray bytes after the last box)' if tail else ''}: {fast.to_dict()} != {full.to_dict()}")
    if fast.verdict is not Outcome.ERROR:
        assert fast.to_dict() == full.to_dict(), "FAST/FULL DISAGREE on the report"
    return fast, full


def _run(target: str, seed: Seed, folder: Path, verifiers: tuple[Verifier, Verifier],
         make: Callable[[], tuple[bytes, bytes | None]], describe: Callable[[], str]) -> None:
    mutant: list[bytes] = []

    def blob() -> bytes | None:
        return mutant[0] if mutant else None

    media_bytes, sidecar = make()  # outside: a failure here is this harness's own bug, not a finding
    with harness.execution(target, describe, blob):
        mutant.append(sidecar if sidecar is not None and sidecar != seed.sidecar else media_bytes)
        check_mutant(seed, media_bytes, sidecar, folder, verifiers)


def _digest(fn: Any, name: str) -> Any:
    """Give each parametrized inner test its own key in hypothesis' example database."""
    fn._hypothesis_internal_add_digest = name.encode()
    return fn


# ----------------------------------------------------------------------------------------- sanity


@pytest.mark.parametrize("name", ["mp4", "mov", "fmp4", "avi", "webm"])
def test_seed_is_trusted_both_ways_and_the_oracle_sees_tampering(name: str, fuzz_seeds: dict[str, Seed],
                                                                 verifiers: tuple[Verifier, Verifier],
                                                                 tmp_path: Path) -> None:
    seed = fuzz_seeds[name]
    # The oracle found the same manifest store as provenance._formats.jumbf does.
    kind = media.sniff(seed.data[:64])
    assert kind is not None
    if seed.sidecar is None:
        with open(write_mutant(tmp_path, seed, seed.data, None), "rb") as f:
            assert jumbf.manifest_store_bytes(f, len(seed.data), kind) == seed.store
    assert not seed.changes_hashed_bytes(seed.data) and not seed.changes_signed_manifest(seed.sidecar or seed.data)
    fast, full = check_mutant(seed, seed.data, seed.sidecar, tmp_path, verifiers)
    assert fast.verdict is full.verdict is Outcome.TRUSTED
    # A flipped byte in the media data: the oracle says it is hashed, and both ways find it INVALID.
    if seed.layout == "bmff":
        offset, size = next((o, s) for kind_, o, s in top_level(seed.data) if kind_ == b"mdat")
        flipped = Flip(offset + size // 2, 0x01).apply(seed.data)
    else:
        flipped = Flip(len(seed.data) // 4, 0x01).apply(seed.data)
    assert seed.changes_hashed_bytes(flipped)
    fast, full = check_mutant(seed, flipped, seed.sidecar, tmp_path, verifiers)
    assert fast.verdict is full.verdict is Outcome.INVALID
    # An edited assertion value: the oracle says the signed manifest changed, and both ways find it INVALID.
    edited = apply_cbor_edits(seed, [CborEdit("c2pa.actions.v2", 0, "add", "extra", "fuzz")])
    assert seed.changes_signed_manifest(edited[1] if seed.sidecar is not None else edited[0])
    fast, full = check_mutant(seed, *edited, tmp_path, verifiers)
    assert fast.verdict is full.verdict is Outcome.INVALID


# ------------------------------------------------------------------------------------------ fuzz


@pytest.mark.parametrize("name", ["mp4", "mov", "fmp4", "avi", "webm"])
def test_file_mutants(name: str, fuzz_seeds: dict[str, Seed], verifiers: tuple[Verifier, Verifier],
                      tmp_path: Path) -> None:
    """Byte flips, insertions, deletions, truncation, box size/type edits, duplicated, removed and
    shuffled top-level boxes (BMFF boxes, RIFF chunks) anywhere in the file."""
    seed = fuzz_seeds[name]
    target = f"verify.{name}"

    @harness.fuzz_settings(target)
    @given(ops=file_mutations(seed))
    def run(ops: list[Op]) -> None:
        _run(target, seed, tmp_path, verifiers, lambda: (apply(seed.data, ops), seed.sidecar),
             lambda: f"{name} seed, ops={ops!r}")

    _digest(run, name)()


def test_sidecar_mutants(fuzz_seeds: dict[str, Seed], verifiers: tuple[Verifier, Verifier], tmp_path: Path) -> None:
    """The WebM's detached manifest store (.c2pa) mutated, the WebM itself untouched."""
    seed = fuzz_seeds["webm"]
    assert seed.sidecar is not None
    sidecar = seed.sidecar

    @harness.fuzz_settings("verify.webm-sidecar")
    @given(ops=file_mutations(seed, target_sidecar=True))
    def run(ops: list[Op]) -> None:
        _run("verify.webm-sidecar", seed, tmp_path, verifiers, lambda: (seed.data, apply(sidecar, ops)),
             lambda: f"webm seed, sidecar ops={ops!r}")

    run()


def test_store_mutants(fuzz_seeds: dict[str, Seed], verifiers: tuple[Verifier, Verifier], tmp_path: Path) -> None:
    """Mutations concentrated inside the MP4's manifest store (the C2PA uuid box), JUMBF sizes included."""
    seed = fuzz_seeds["mp4"]

    @harness.fuzz_settings("verify.mp4-store")
    @given(ops=store_mutations(seed))
    def run(ops: list[Op]) -> None:
        _run("verify.mp4-store", seed, tmp_path, verifiers, lambda: (apply(seed.data, ops), None),
             lambda: f"mp4 seed, ops={ops!r}")

    run()


def test_timestamped_mutants(timestamped: Timestamped, tmp_path: Path) -> None:
    """An MP4 with an RFC 3161 timestamp, verified with TSA trust anchors: its token's DER flipped and
    overwritten, the signature's CBOR (where the token sits) edited, the store mutated."""
    seed = timestamped.seed
    offset, length = timestamped.token
    in_token = st.builds(InStore, st.just(offset), st.just(length), st.one_of(
        st.builds(Flip, st.integers(0, length - 1), st.integers(1, 255)),
        st.builds(Overwrite, st.integers(0, length - 1), st.binary(min_size=1, max_size=8))))
    signature_edits = cbor_edits(seed).map(
        lambda edits: [CborEdit("c2pa.signature", e.node, e.action, e.value, e.key) for e in edits])
    mutations = st.lists(in_token, min_size=1, max_size=3) | signature_edits | store_mutations(seed)

    def make(ops: list[Any]) -> tuple[bytes, bytes | None]:
        if isinstance(ops[0], CborEdit):
            return apply_cbor_edits(seed, ops)
        return apply(seed.data, ops), None

    @harness.fuzz_settings("verify.mp4-timestamp")
    @given(ops=mutations)
    def run(ops: list[Any]) -> None:
        _run("verify.mp4-timestamp", seed, tmp_path, timestamped.verifiers, lambda: make(ops),
             lambda: f"timestamped mp4 seed, ops={ops!r}")

    verdict = timestamped.verifiers[0].verify(write_mutant(tmp_path, seed, seed.data, None))
    assert verdict.verdict is Outcome.TRUSTED and verdict.timestamp is not None and verdict.timestamp.trusted
    run()


def test_manifest_cbor_edits(fuzz_seeds: dict[str, Seed], verifiers: tuple[Verifier, Verifier],
                             tmp_path: Path) -> None:
    """Values inside the manifest (claim, assertions, signature) changed and re-encoded, sizes fixed, so
    c2pa reads them and reports on them: the report the verdict is built from is attacker-controlled."""

    @harness.fuzz_settings("verify.manifest-cbor")
    @given(data=st.data(), name=st.sampled_from(["mp4", "avi", "webm"]))
    def run(data: st.DataObject, name: str) -> None:
        seed = fuzz_seeds[name]
        edits = data.draw(cbor_edits(seed), label="edits")
        _run("verify.manifest-cbor", seed, tmp_path, verifiers, lambda: apply_cbor_edits(seed, edits),
             lambda: f"{name} seed, edits={edits!r}")

    run()
