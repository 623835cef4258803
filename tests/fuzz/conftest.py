"""Fixtures for the fuzz lane: real signed clips (MP4, MOV, fragmented MP4, AVI, WebM with its sidecar)
and the per-target summary printed at the end of the run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from provenance.keys.pki import DevPki
from provenance.trust.anchors import load_anchors
from provenance.verify import Verifier
from tests.support.clips import make_clip, sign_file

from . import harness
from .seeds import Seed, Timestamped, make_seed

# name → (conftest container, suffix)
SEED_MEDIA = {"mp4": ("mp4", ".mp4"), "mov": ("mov", ".mov"), "fmp4": ("fmp4", ".mp4"), "avi": ("avi", ".avi"),
              "webm": ("webm", ".webm")}


@pytest.fixture(scope="session")
def fuzz_seeds(tmp_path_factory: pytest.TempPathFactory, pki: DevPki) -> dict[str, Seed]:
    """Small (about 10 KB) clips, signed with the test PKI: small, so each mutant verifies in milliseconds."""
    folder = tmp_path_factory.mktemp("fuzz-seeds")
    seeds = {}
    for name, (container, suffix) in SEED_MEDIA.items():
        source = make_clip(folder / f"source-{name}{suffix}", container, seconds=0.5, size="64x48", rate=10)
        signed = folder / f"signed-{name}{suffix}"
        sign_file(source, signed, pki, generator="Sora", generator_version="2")
        seeds[name] = make_seed(name, signed)
    return seeds


@pytest.fixture(scope="session")
def timestamped(tmp_path_factory: pytest.TempPathFactory, pki: DevPki) -> Iterator[Timestamped]:
    from provenance import signing
    from provenance.keys import signers
    from provenance.manifest import Disclosure
    from tests.support.tsa import openssl_available, running_tsa

    from .mutations import _loads
    from .seeds import content_box, superbox

    if not openssl_available():
        pytest.skip("the test TSA needs the openssl command")
    folder = tmp_path_factory.mktemp("fuzz-timestamped")
    with running_tsa(folder / "tsa") as tsa:
        source = make_clip(folder / "source.mp4", seconds=0.5, size="64x48", rate=10)
        creds = signers.from_pem_files(pki.signer_chain, pki.signer_key, tsa_url=tsa.url)
        signing.sign(source, folder / "stamped.mp4", creds, Disclosure(generator="Sora"))
        tsa_root = tsa.pki.root_ca
    seed = make_seed("mp4", folder / "stamped.mp4")
    start, end = content_box(superbox(seed.store, "c2pa.signature")).payload
    unprotected = _loads(seed.store[start:end]).value[1]
    der = next(v["tstTokens"][0]["val"] for k, v in unprotected.items() if str(k).startswith("sigTst"))
    anchors, tsa_anchors = load_anchors(pki.root_ca), load_anchors(tsa_root)
    yield Timestamped(seed, (seed.data.index(der), len(der)),
                      (Verifier(anchors, tsa_anchors=tsa_anchors, fast_path_min_bytes=0),
                       Verifier(anchors, tsa_anchors=tsa_anchors, fast_path_min_bytes=-1)))


@pytest.fixture(scope="session")
def verifiers(pki: DevPki) -> tuple[Verifier, Verifier]:
    """(fast path on for every file, fast path off), both trusting the test PKI's root."""
    anchors = load_anchors(pki.root_ca)
    return Verifier(anchors, fast_path_min_bytes=0), Verifier(anchors, fast_path_min_bytes=-1)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not harness.STATS_BY_TARGET:
        return
    lane = (f"long run, {harness.EXAMPLES_ENV}={os.environ[harness.EXAMPLES_ENV]}"
            if harness.long_run_total() is not None else "bounded run")
    terminalreporter.section(f"fuzz targets ({lane})")
    stats = {name: {"executions": s.executions, "seconds": s.seconds, "known": s.known, "findings": s.findings}
             for name, s in harness.STATS_BY_TARGET.items()}
    for line in harness.summary_lines(stats):
        terminalreporter.write_line(line)
    for name, s in sorted(harness.STATS_BY_TARGET.items()):
        for known, count in sorted(s.known.items()):
            terminalreporter.write_line(f"  {name}: known finding {known} hit {count} times")
        for finding in s.findings:
            terminalreporter.write_line(f"  {name}: NEW finding recorded in {finding}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if harness.long_run_total() is not None and harness.STATS_BY_TARGET:
        harness.write_stats(harness.STATS / "hypothesis.json")
