"""`provenance check`: finding media, verifying in worker processes, and the command line around it."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from provenance.check import Policy, check, discover, verify_files
from provenance.errors import UsageError
from provenance.keys.pki import DevPki
from provenance.trust.anchors import load_anchors
from provenance.verdict import Outcome
from tests.support.cli import run_cli
from tests.support.formats import builder_sign, make_media

# ---- finding media -------------------------------------------------------------------------------


@pytest.fixture()
def mixed_tree(tmp_path: Path, signed_clip: Path, clip: Path) -> Path:
    root = tmp_path / "tree"
    (root / "a" / "b").mkdir(parents=True)
    (root / ".cache").mkdir()
    (root / ".git" / "objects").mkdir(parents=True)
    (root / "node_modules" / "pkg").mkdir(parents=True)
    shutil.copy(signed_clip, root / "a" / "signed.mp4")
    shutil.copy(signed_clip, root / "a" / "b" / "no-extension")  # renamed: found by content
    shutil.copy(signed_clip, root / "a" / "b" / "clip.txt")  # misnamed: found by content
    shutil.copy(clip, root / "unsigned.MOV")
    (root / "a" / "b" / "broken.mp4").write_bytes(b"not a video at all")  # media name, bad content: kept
    (root / "a" / "empty.webm").write_bytes(b"")
    (root / "a" / "notes.txt").write_text("hello\n")
    (root / "a" / "random.bin").write_bytes(os.urandom(256))
    (root / "a" / "signed.mp4.c2pa").write_bytes(b"\x00\x00\x00\x20jumb\x00\x00\x00\x18jumdc2pa")  # a sidecar
    shutil.copy(clip, root / ".cache" / "hidden.mp4")
    shutil.copy(clip, root / ".git" / "objects" / "blob.mp4")
    shutil.copy(clip, root / "node_modules" / "pkg" / "demo.mp4")
    return root


def displays(candidates: list) -> list[str]:  # type: ignore[type-arg]
    return [c.display for c in candidates]


def test_discover_by_content_skipping_hidden_folders(mixed_tree: Path) -> None:
    found = discover([mixed_tree], root=mixed_tree)
    assert displays(found) == [
        "a/b/broken.mp4", "a/b/clip.txt", "a/b/no-extension", "a/empty.webm", "a/signed.mp4",
        "node_modules/pkg/demo.mp4", "unsigned.MOV",
    ]
    assert all(c.path.is_absolute() and c.error is None for c in found)


def test_include_exclude(mixed_tree: Path) -> None:
    assert displays(discover([mixed_tree], root=mixed_tree, exclude=["node_modules/", "*.txt"])) == [
        "a/b/broken.mp4", "a/b/no-extension", "a/empty.webm", "a/signed.mp4", "unsigned.MOV"]
    assert displays(discover([mixed_tree], root=mixed_tree, include=["a/b/"], exclude=["broken.*"])) == [
        "a/b/clip.txt", "a/b/no-extension"]
    assert displays(discover([mixed_tree], root=mixed_tree, include=["*.mp4", "!a/**"])) == [
        "node_modules/pkg/demo.mp4"]


def test_explicit_paths(mixed_tree: Path, tmp_path: Path, signed_clip: Path) -> None:
    # Named files are taken as given (even non-media); a named hidden folder is walked; duplicates collapse.
    found = discover([mixed_tree / "a" / "notes.txt", mixed_tree / ".cache", mixed_tree / "a" / "b",
                      mixed_tree / "a" / "b" / "clip.txt"], root=mixed_tree)
    assert displays(found) == [".cache/hidden.mp4", "a/b/broken.mp4", "a/b/clip.txt", "a/b/no-extension",
                               "a/notes.txt"]
    # A named sidecar stands for its media file (so a pre-commit hook catches a changed manifest).
    assert displays(discover([mixed_tree / "a" / "signed.mp4.c2pa", mixed_tree / "a" / "signed.mp4"],
                             root=mixed_tree)) == ["a/signed.mp4"]
    # A file outside the root is shown by its absolute path.
    assert displays(discover([signed_clip], root=mixed_tree)) == [signed_clip.as_posix()]
    with pytest.raises(UsageError, match="no such file or folder"):
        discover([mixed_tree / "missing"], root=mixed_tree)


def test_symlinked_folders_are_not_followed(tmp_path: Path, signed_clip: Path) -> None:
    root = tmp_path / "tree"
    (root / "real").mkdir(parents=True)
    shutil.copy(signed_clip, root / "real" / "clip.mp4")
    (root / "real" / "loop").symlink_to(root, target_is_directory=True)  # would never end if followed
    (root / "link.mp4").symlink_to(root / "real" / "clip.mp4")
    # The link and its target are one file: checked once, under the name met first.
    assert displays(discover([root], root=root)) == ["link.mp4"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can list any folder")
def test_unlistable_folder_fails_closed(tmp_path: Path, signed_clip: Path, pki: DevPki) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    shutil.copy(signed_clip, locked / "clip.mp4")
    locked.chmod(0)
    try:
        report = check([tmp_path], root=tmp_path, policy=Policy(), anchors=load_anchors(pki.root_ca), jobs=1)
    finally:
        locked.chmod(0o755)
    assert [(r.path, r.violations[0].rule) for r in report.failed] == [("locked", "unreadable-media")]


# ---- verifying in parallel -----------------------------------------------------------------------


def test_parallel_verdicts_match_serial_and_keep_order(tmp_path: Path, signed_clip: Path, clip: Path,
                                                       pki: DevPki) -> None:
    files = []
    for i in range(24):
        target = tmp_path / f"{i:02d}.mp4"
        if i % 3 == 0:
            shutil.copy(clip, target)
        elif i % 7 == 0:
            target.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"x" * 64)
        else:
            shutil.copy(signed_clip, target)
        files.append(target)
    anchors = load_anchors(pki.root_ca)
    progress: list[int] = []
    serial = verify_files(files, anchors, jobs=1)
    parallel = verify_files(files, anchors, jobs=2, on_progress=progress.append)
    assert [v.path for v, _ in parallel] == [str(f) for f in files]
    assert [v.to_dict() for v, _ in parallel] == [v.to_dict() for v, _ in serial]
    assert {v.verdict for v, _ in parallel} == {Outcome.TRUSTED, Outcome.UNSIGNED, Outcome.ERROR}
    assert sum(progress) == len(files) and len(progress) > 1
    assert all(seconds > 0 for _, seconds in parallel)


def test_check_reports_sorted_results(tmp_path: Path, signed_clip: Path, clip: Path, pki: DevPki) -> None:
    for name in ("z.mp4", "b/a.mp4", "a.mp4", "b/0.mp4"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(signed_clip if "a" in name else clip, tmp_path / name)
    started: list[int] = []
    report = check([tmp_path / "z.mp4", tmp_path], root=tmp_path, policy=Policy(),
                   anchors=load_anchors(pki.root_ca), jobs=2, on_start=started.append)
    assert started == [4]
    assert [(r.path, r.status) for r in report.results] == [
        ("a.mp4", "pass"), ("b/0.mp4", "fail"), ("b/a.mp4", "pass"), ("z.mp4", "fail")]
    assert report.summary() == "4 files checked: 2 passed, 2 failed (2 violations)"


@pytest.mark.slow
def test_check_meets_whatever_c2pa_reads(tmp_path: Path, pki: DevPki) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    for kind, name in [("pdf", "report"), ("mp3", "voice.mp3"), ("svg", "icon.svg"), ("jxl", "still"),
                       ("epub", "book.epub")]:  # some without an extension: found by content
        builder_sign(make_media(tmp_path / f"source.{kind}", kind), root / name, kind, pki)
    make_media(root / "plain.flac", "flac")
    (root / "broken.pdf").write_text("not a PDF")  # a media name: kept, and unreadable
    (root / "pom.xml").write_text('<?xml version="1.0"?>\n<project/>\n')  # XML, not SVG: not media
    (root / "noise.bin").write_bytes(bytes(range(256)))
    report = check([root], root=root, policy=Policy(), anchors=load_anchors(pki.root_ca), jobs=1)
    assert {r.path: (r.status, r.verdict.verdict.value, [v.rule for v in r.violations]) for r in report.results} == {
        "book.epub": ("pass", "trusted", []), "icon.svg": ("pass", "trusted", []), "report": ("pass", "trusted", []),
        "still": ("pass", "trusted", []), "voice.mp3": ("pass", "trusted", []),
        "plain.flac": ("fail", "unsigned", ["missing-credentials"]),
        "broken.pdf": ("fail", "error", ["unreadable-media"]),
    }


def test_empty_tree_passes(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no media here\n")
    result = run_cli("check", cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert result.code == 0
    assert result.stdout == ""
    assert result.stderr.strip() == "0 files checked: 0 passed, 0 failed"


# ---- command line --------------------------------------------------------------------------------


def test_every_option_has_an_environment_variable() -> None:
    from provenance_cli.check import check as command

    options = [p for p in command.params if isinstance(p, click.Option) and p.name != "help"]
    assert len(options) >= 10
    for option in options:
        assert isinstance(option.envvar, str) and option.envvar.startswith("PROVENANCE_"), option.name
        assert f"[env: {option.envvar}" in (option.help or ""), option.name


@pytest.mark.slow
def test_environment_variables_drive_the_check(tmp_path: Path, signed_clip: Path, clip: Path,
                                                pki: DevPki) -> None:
    (tmp_path / "media" / "keep").mkdir(parents=True)
    shutil.copy(signed_clip, tmp_path / "media" / "keep" / "signed.mp4")
    shutil.copy(clip, tmp_path / "media" / "unsigned.mp4")
    shutil.copy(clip, tmp_path / "elsewhere.mp4")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "gate.toml").write_text('require_credentials = ["media/"]\n')
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "PROVENANCE_PATHS": "media elsewhere.mp4",
        "PROVENANCE_POLICY": "policies/gate.toml",
        "PROVENANCE_TRUST_ANCHORS": str(pki.root_ca),
        "PROVENANCE_CHECK_FORMAT": "json",
        "PROVENANCE_CHECK_OUTPUT": "report.json",
        "PROVENANCE_JOBS": "2",
        "PROVENANCE_EXCLUDE": "*.tmp nothing/",
        "PROVENANCE_INCLUDE": "*.mp4",
        "PROVENANCE_PROGRESS": "0",
        "GITHUB_STEP_SUMMARY": "",
    }
    result = run_cli("check", cwd=tmp_path, env=env)
    assert result.code == 1, result.stderr
    assert result.stdout == ""
    report = json.loads((tmp_path / "report.json").read_text())
    assert [(f["path"], f["status"]) for f in report["files"]] == [
        ("elsewhere.mp4", "pass"), ("media/keep/signed.mp4", "pass"), ("media/unsigned.mp4", "fail")]
    assert report["policy"]["source"] == "policies/gate.toml"
    assert report["trust_anchors"] == str(pki.root_ca)

    # --root moves where the policy is looked for and what paths are relative to.
    (tmp_path / "media" / "provenance.toml").write_text('allow_unsigned = ["unsigned.mp4"]\n')
    result = run_cli("check", "--root", "media", "media", "--format", "json", cwd=tmp_path,
                     env={"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "GITHUB_STEP_SUMMARY": ""})
    assert result.code == 0, result.stderr
    assert [(f["path"], f["status"]) for f in json.loads(result.stdout)["files"]] == [
        ("keep/signed.mp4", "pass"), ("unsigned.mp4", "exempt")]


@pytest.mark.parametrize(("args", "message"), [
    (["missing-folder"], "missing-folder: no such file or folder"),
    (["--output", "no/such/dir/report.json"], "--output folder no/such/dir does not exist"),
    (["--output", "."], "--output . is a directory"),
    (["--format", "xml"], "Invalid value for '--format'"),
    (["--jobs", "-1"], "Invalid value for '-j' / '--jobs'"),
    (["--trust-anchors", "nope.pem"], "nope.pem"),
])
def test_usage_errors_exit_2(tmp_path: Path, signed_clip: Path, args: list[str], message: str) -> None:
    shutil.copy(signed_clip, tmp_path / "clip.mp4")
    result = run_cli("check", *args, cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert result.code == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # nothing written


def _run_on_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (stdout piped), as in an interactive shell."""
    main, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "provenance_cli.main", *args], cwd=cwd,
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=secondary)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    stdout = proc.communicate(timeout=120)[0].decode()
    os.close(main)
    return proc.returncode, stdout, b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_progress_bar_only_on_a_terminal(tmp_path: Path, signed_clip: Path, pki: DevPki) -> None:
    for i in range(6):
        shutil.copy(signed_clip, tmp_path / f"clip{i}.mp4")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "PROVENANCE_PROGRESS": "", "GITHUB_STEP_SUMMARY": "",
           "PROVENANCE_TRUST_ANCHORS": str(pki.root_ca)}
    code, stdout, terminal = _run_on_terminal(["check", "--jobs", "2"], tmp_path, env)
    assert code == 0
    assert "Verifying" in terminal and "6/6" in terminal
    assert "Verifying" not in stdout and len(stdout.splitlines()) == 6

    piped = run_cli("check", "--jobs", "2", cwd=tmp_path, env=env)
    assert piped.code == 0
    assert "Verifying" not in piped.stderr and "6/6" not in piped.stderr
    assert piped.stderr.strip() == "6 files checked: 6 passed, 0 failed"

    code, _, terminal = _run_on_terminal(["check", "--no-progress"], tmp_path, env)
    assert code == 0 and "Verifying" not in terminal


@pytest.mark.slow
def test_warns_when_no_trust_anchors(tmp_path: Path, signed_clip: Path, pki: DevPki) -> None:
    shutil.copy(signed_clip, tmp_path / "clip.mp4")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "GITHUB_STEP_SUMMARY": ""}
    result = run_cli("check", cwd=tmp_path, env=env)
    assert result.code == 0  # a signer not on the official lists passes when no anchors are given, as with verify
    assert result.stderr.splitlines() == [
        "provenance: warning: some signers are not on the C2PA Trust List (issued 2026-08-05, bundled); set "
        "trust_anchors in the policy or pass --trust-anchors to trust others",
        "1 file checked: 1 passed, 0 failed"]
    nobody = run_cli("check", "--no-default-trust", cwd=tmp_path, env=env)
    assert nobody.code == 0  # valid credentials pass when nothing says whom to trust
    assert nobody.stderr.splitlines() == [
        "provenance: warning: no trust anchors, so signers were not checked; set trust_anchors in the policy or "
        "pass --trust-anchors",
        "1 file checked: 1 passed, 0 failed"]
    with_anchors = run_cli("check", "--trust-anchors", pki.root_ca, cwd=tmp_path, env=env)
    assert with_anchors.code == 0 and with_anchors.stderr.splitlines() == ["1 file checked: 1 passed, 0 failed"]
