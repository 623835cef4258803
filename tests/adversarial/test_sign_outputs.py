"""Red team finding 8: where `sign` writes.

An unwritable destination gives one line naming the destination (not a `.part` temporary file) with
a remedy, exit 2. And no path the command writes (the signed clip and its detached manifest) may be
one of the files it reads (source, parent, key, certificate), however it is reached: the same name,
a hard link or a symlink, with --force or without.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance.keys.pki import DevPki
from tests.support.cli import CliResult, run_cli
from tests.support.clips import make_clip

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def _without_permission_override() -> None:
    """preexec for the CLI: root without the capabilities that ignore file permissions, so a
    read-only folder is read-only for it too (the tests may run as root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            os._exit(99)


def _run_unprivileged(*args: object, cwd: Path | None = None) -> CliResult:
    preexec = _without_permission_override if os.geteuid() == 0 else None
    proc = subprocess.run([sys.executable, "-m", "provenance_cli.main", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300, preexec_fn=preexec)
    if proc.returncode == 99:
        pytest.skip("cannot drop CAP_DAC_OVERRIDE here")
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def _sign(src: Path, out: Path, pki: DevPki, *extra: object, cwd: Path | None = None) -> CliResult:
    return run_cli("sign", src, "-o", out, "--cert", pki.signer_chain, "--key", pki.signer_key, "--no-soft-binding",
                   *extra, cwd=cwd)


def _one_clean_line(result: CliResult) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr
    assert ".part" not in result.stderr  # never the temporary file
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("container", ["mp4", "webm"])
def test_unwritable_destination_names_it_with_a_remedy(tmp_path: Path, read_only: Path, pki: DevPki,
                                                       container: str) -> None:
    src = make_clip(tmp_path / f"clip.{container}", container)
    out = read_only / f"out.{container}"
    result = _run_unprivileged("sign", src, "-o", out, "--cert", pki.signer_chain, "--key", pki.signer_key)
    assert result.code == 2, result.stderr
    line = _one_clean_line(result)
    assert line.startswith(f"provenance: error: cannot write {out}: permission denied (hint: "), line
    assert str(read_only) in line.split("(hint:", 1)[1]  # the remedy says where
    assert list(read_only.iterdir()) == []


def test_unwritable_check_report(tmp_path: Path, read_only: Path) -> None:
    (tmp_path / "tree").mkdir()
    report = read_only / "report.json"
    result = _run_unprivileged("check", tmp_path / "tree", "--no-recovery", "--format", "json", "--output", report,
                               cwd=tmp_path)
    assert result.code == 2, result.stderr
    assert f"cannot write {report}: permission denied" in result.stderr
    assert "Traceback" not in result.stderr and ".part" not in result.stderr
    assert list(read_only.iterdir()) == []


def test_detached_manifest_would_overwrite_the_input(tmp_path: Path, pki: DevPki) -> None:
    """The finding's case: v.c2pa is really a WebM; its signed copy `v` gets the sidecar `v.c2pa`."""
    src = make_clip(tmp_path / "v.c2pa", "webm")
    before = src.read_bytes()
    result = _sign(src, tmp_path / "v", pki, "--force")
    assert result.code == 2, result.stderr
    line = _one_clean_line(result)
    assert f"the detached manifest {src} is the same file as the input {src}" in line
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.c2pa"]


def test_output_hard_linked_to_the_input(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    src = tmp_path / "clip.mp4"
    shutil.copy(clip, src)
    os.link(src, tmp_path / "out.mp4")
    result = _sign(src, tmp_path / "out.mp4", pki, "--force")
    assert result.code == 2, result.stderr
    assert "is the same file as the input" in _one_clean_line(result)
    assert src.read_bytes() == clip.read_bytes()


def test_sidecar_symlinked_to_the_input(tmp_path: Path, pki: DevPki) -> None:
    src = make_clip(tmp_path / "a.webm", "webm")
    before = src.read_bytes()
    (tmp_path / "b.webm.c2pa").symlink_to(src)
    result = _sign(src, tmp_path / "b.webm", pki, "--force")
    assert result.code == 2, result.stderr
    assert "the detached manifest" in _one_clean_line(result)
    assert src.read_bytes() == before
    assert not (tmp_path / "b.webm").exists()


def test_output_onto_the_parent(tmp_path: Path, clip: Path, signed_clip: Path, pki: DevPki) -> None:
    parent = tmp_path / "parent.mp4"
    shutil.copy(signed_clip, parent)
    result = _sign(clip, parent, pki, "--force", "--parent", parent)
    assert result.code == 2, result.stderr
    assert f"is the same file as the parent {parent}" in _one_clean_line(result)
    assert parent.read_bytes() == signed_clip.read_bytes()


@pytest.mark.parametrize("which", ["key", "certificate"])
def test_output_onto_the_signing_key_or_certificate(tmp_path: Path, clip: Path, pki: DevPki, which: str) -> None:
    key, chain = tmp_path / "signer.key", tmp_path / "signer-chain.pem"
    shutil.copy(pki.signer_key, key)
    shutil.copy(pki.signer_chain, chain)
    target = key if which == "key" else chain
    before = target.read_bytes()
    result = run_cli("sign", clip, "-o", target, "--cert", chain, "--key", key, "--force", "--no-soft-binding")
    assert result.code == 2, result.stderr
    assert f"is the same file as the {which} {target}" in _one_clean_line(result)
    assert target.read_bytes() == before


def test_force_still_replaces_an_unrelated_output_keeping_its_mode(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    out.chmod(0o640)
    result = _sign(clip, out, pki, "--force")
    assert result.code == 0, result.stderr
    assert out.read_bytes()[4:8] == b"ftyp" and out.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
