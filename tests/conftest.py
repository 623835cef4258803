"""Shared fixtures: real clips made with ffmpeg, a real development PKI, the CLI as a process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance.keys.pki import DevPki, init_dev_pki
from tests.support.clips import CORPUS, make_clip, sign_file
from tests.support.edits import break_signature
from tests.support.postgres import PostgresUnavailable, throwaway_server

# Every BMFF verification in the suite (in this process and in CLI processes) takes the verification
# fast path where it applies, so the correctness tests hold for it; test_fastverify compares both paths.
os.environ["PROVENANCE_FAST_VERIFY_MIN_BYTES"] = "0"


@pytest.fixture(autouse=True)
def _own_user_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test gets its own platform data and config dirs, so `sign` never registers into the real default
    manifest repository, one test's registrations never show up as another's recovered credentials, and
    neither the developer's own trust anchor files nor the lists their `trust update` fetched change a result."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    for variable in ("PROVENANCE_STORE", "PROVENANCE_NO_DEFAULT_TRUST", "PROVENANCE_TRUST_URL"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return init_dev_pki(tmp_path_factory.mktemp("pki"), org="Provenance Test")


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """A second, unrelated PKI: its signer is untrusted by `pki`'s root."""
    return init_dev_pki(tmp_path_factory.mktemp("other-pki"), org="Someone Else")


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


@pytest.fixture(scope="session")
def signed_clip(tmp_path_factory: pytest.TempPathFactory, clip: Path, pki: DevPki) -> Path:
    out = tmp_path_factory.mktemp("signed") / "signed.mp4"
    sign_file(clip, out, pki, generator="Sora", generator_version="2")
    return out


@pytest.fixture(scope="session")
def remix_of_broken_parent(tmp_path_factory: pytest.TempPathFactory, clip: Path, signed_clip: Path,
                           pki: DevPki) -> Path:
    """A remix signed from a parent whose signature was already broken: the remix's own credentials are
    intact (c2pa's state is Valid/Trusted), its ingredient records `claimSignature.mismatch`."""
    folder = tmp_path_factory.mktemp("broken-parent")
    parent = folder / "parent.mp4"
    parent.write_bytes(signed_clip.read_bytes())
    break_signature(parent)
    sign_file(clip, folder / "remix.mp4", pki, generator="Sora", parent=parent)
    return folder / "remix.mp4"


@pytest.fixture(scope="session")
def remix_with_broken_ingredient(tmp_path_factory: pytest.TempPathFactory, clip: Path, signed_clip: Path,
                                 pki: DevPki) -> Path:
    """A remix of a good parent whose copy of the parent's manifest, inside the remix, had its signature broken
    afterwards: c2pa's live re-check of the ingredient fails (its state is Invalid), the remix's own manifest not."""
    folder = tmp_path_factory.mktemp("broken-ingredient")
    parent = folder / "parent.mp4"
    parent.write_bytes(signed_clip.read_bytes())
    sign_file(clip, folder / "remix.mp4", pki, generator="Sora", parent=parent)
    break_signature(folder / "remix.mp4", manifest=0)  # the ingredient's manifest comes first in the store
    return folder / "remix.mp4"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "expected.json").is_file():
        pytest.skip(f"conformance corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a throwaway local PostgreSQL server, for the whole session; skips where there is none."""
    try:
        with throwaway_server() as url:
            yield url
    except PostgresUnavailable as e:
        pytest.skip(f"PostgreSQL tests need a local PostgreSQL server: {e}")
