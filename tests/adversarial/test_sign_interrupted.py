"""Red team finding 7: a `provenance sign` killed midway leaves nothing behind.

Each test starts the real CLI on a clip big enough that signing takes a second or more, waits (by
polling /proc, with a deadline) until the output is being written and the soft-binding ffmpeg runs,
then sends the signal. Afterwards: nothing new in the destination folder, the ffmpeg child dead, the
private $TMPDIR empty, and the documented exit code (130 SIGINT, 143 SIGTERM; SIGKILL kills).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from provenance.keys.pki import DevPki
from tests.support.clips import ffmpeg_exe

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")

T = TypeVar("T")
DEADLINE = 30.0  # seconds; generous for a loaded machine, normally reached in well under one


@pytest.fixture(scope="module")
def noisy_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s of 640x360 noise (~75 MB): ffmpeg needs over a second to fingerprint it."""
    path = tmp_path_factory.mktemp("interrupted") / "noise.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=640x360:rate=30,noise=alls=60:allf=t", "-t", "20",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def long_clip(noisy_clip: Path) -> Path:
    """The noise twice over (~150 MB, remuxed): c2pa's own writer needs well over half a second for it."""
    path = noisy_clip.with_name("noise-twice.mp4")
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", "1",
                    "-i", str(noisy_clip), "-c", "copy", str(path)], check=True)
    return path


@dataclass
class Run:
    proc: subprocess.Popen[str]
    dest: Path
    tmpdir: Path
    source: Path

    def fds(self) -> dict[int, str]:
        """fd number → what it points at, for the signing process."""
        found = {}
        try:
            entries = list(Path(f"/proc/{self.proc.pid}/fd").iterdir())
        except OSError:
            return {}
        for entry in entries:
            try:
                found[int(entry.name)] = os.readlink(entry)
            except OSError:
                continue
        return found

    def writing_output(self) -> bool:
        """An output file in the destination folder is open (O_TMPFILE shows as "DEST/#ino (deleted)")."""
        return any(target.startswith(f"{self.dest}/") for target in self.fds().values())

    def source_position(self) -> int:
        """Read position of the signing's own descriptor of the source (c2pa streaming through it)."""
        for fd, target in self.fds().items():
            if target == str(self.source):
                try:
                    info = Path(f"/proc/{self.proc.pid}/fdinfo/{fd}").read_text()
                except OSError:
                    continue
                return int(info.split()[1])
        return 0


def _start(tmp_path: Path, source: Path, pki: DevPki, *extra: str) -> Run:
    dest, tmpdir = tmp_path / "dest", tmp_path / "tmp"
    dest.mkdir()
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "provenance_cli.main", "sign", str(source), "-o", str(dest / "signed.mp4"),
         "--cert", str(pki.signer_chain), "--key", str(pki.signer_key), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return Run(proc, dest, tmpdir, source)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, ...


def _fingerprinting_ffmpeg(pid: int) -> tuple[int, str] | None:
    """The running ffmpeg child computing the soft binding: (pid, start time, to tell it from a reused pid)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None or int(fields[1]) != pid or fields[0] == "Z":
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"ffmpeg" in cmdline and b"signature=" in cmdline:  # not imageio's `ffmpeg -version` probe
            return int(entry.name), fields[19]
    return None


def _alive(child: tuple[int, str]) -> bool:
    fields = _stat_fields(child[0])
    return fields is not None and fields[19] == child[1] and fields[0] not in ("Z", "X")


def _wait_for(what: str, run: Run, probe: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        if run.proc.poll() is not None:
            out, err = run.proc.communicate()
            pytest.fail(f"sign ended (exit {run.proc.returncode}) before {what}: {out} {err}")
        time.sleep(0.005)
    run.proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def _wait_gone(child: tuple[int, str]) -> bool:
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not _alive(child)


@pytest.fixture
def cleanup() -> Iterator[list[tuple[int, str]]]:
    """Children a failed test might leave running: killed afterwards, so they never pile up."""
    children: list[tuple[int, str]] = []
    yield children
    for child in children:
        if _alive(child):
            os.kill(child[0], signal.SIGKILL)


EXPECTED_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_signal_while_copying_and_fingerprinting(tmp_path: Path, noisy_clip: Path, pki: DevPki,
                                                signum: signal.Signals, cleanup: list[tuple[int, str]]) -> None:
    run = _start(tmp_path, noisy_clip, pki)
    ffmpeg = _wait_for("the output and the ffmpeg child", run,
                       lambda: _fingerprinting_ffmpeg(run.proc.pid) if run.writing_output() else None)
    cleanup.append(ffmpeg)
    assert run.writing_output()  # the output is open while ffmpeg runs: the moment the finding is about

    run.proc.send_signal(signum)
    out, err = run.proc.communicate(timeout=DEADLINE)

    assert run.proc.returncode == EXPECTED_EXIT[signum], err
    if signum != signal.SIGKILL:
        assert err.splitlines() == [f"provenance: interrupted ({signum.name})"], err
        assert "signed" not in out
    assert _wait_gone(ffmpeg), f"ffmpeg {ffmpeg[0]} outlived `provenance sign`"
    assert sorted(p.name for p in run.dest.iterdir()) == []  # no .part, no output, no sidecar
    assert sorted(p.name for p in run.tmpdir.iterdir()) == []  # no provenance-iscc-*, no self-check folder


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_signal_inside_c2pa_callbacks(tmp_path: Path, long_clip: Path, pki: DevPki, signum: signal.Signals) -> None:
    """--sidecar signs through c2pa's Builder.sign, which pulls the file through Python stream
    callbacks: the signal lands inside one. ctypes would swallow an exception raised there (and hand
    c2pa a garbage byte count); the interrupt must still stop signing, at once and cleanly."""
    run = _start(tmp_path, long_clip, pki, "--sidecar", "--no-soft-binding")
    _wait_for("c2pa to stream the source", run, lambda: run.writing_output() and run.source_position() > 0)

    started = time.monotonic()
    run.proc.send_signal(signum)
    out, err = run.proc.communicate(timeout=DEADLINE)

    assert run.proc.returncode == EXPECTED_EXIT[signum], err
    assert err.splitlines() == [f"provenance: interrupted ({signum.name})"], err  # no "Exception ignored"
    assert sorted(p.name for p in run.dest.iterdir()) == []
    assert sorted(p.name for p in run.tmpdir.iterdir()) == []
    # c2pa stops at its next read instead of finishing the copy (~1 s here; generous for a loaded machine).
    assert time.monotonic() - started < 5


@pytest.mark.slow
def test_nothing_named_while_writing(tmp_path: Path, noisy_clip: Path, pki: DevPki,
                                     cleanup: list[tuple[int, str]]) -> None:
    """The output has no name until it is complete (O_TMPFILE): a SIGKILL has nothing to leave."""
    run = _start(tmp_path, noisy_clip, pki)
    ffmpeg = _wait_for("the output and the ffmpeg child", run,
                       lambda: _fingerprinting_ffmpeg(run.proc.pid) if run.writing_output() else None)
    cleanup.append(ffmpeg)
    open_outputs = [t for t in run.fds().values() if t.startswith(f"{run.dest}/")]
    listing = sorted(p.name for p in run.dest.iterdir())
    tmp_listing = sorted(p.name for p in run.tmpdir.iterdir())
    out, err = run.proc.communicate(timeout=DEADLINE)
    assert run.proc.returncode == 0, err
    assert open_outputs and all(t.endswith(" (deleted)") for t in open_outputs), open_outputs
    assert listing == [] and tmp_listing == []
    assert sorted(p.name for p in run.dest.iterdir()) == ["signed.mp4"]
    # A new output gets the mode a new file gets under the umask (0o666 & ~umask), not 0600.
    umask = os.umask(0o022)
    os.umask(umask)
    assert (run.dest / "signed.mp4").stat().st_mode & 0o777 == 0o666 & ~umask
