"""Sign and verify speed against the physical limit, measured as whole processes (`make bench`).

The limit for signing a video is one SHA-256 pass plus one copy of the file:
`openssl dgst -sha256` and `cp` of the same file, measured here in the same run.
Every command runs as its own process, at least 3 times, interleaved (so a busy
neighbour slows all of them alike); the table shows median, min and max wall time
and the peak resident memory the kernel reports for the process (`os.wait4`).
The page cache is warm for every command alike, and dirty pages are flushed
between runs, so no run pays for the previous one's writeback.

    python bench/speed.py            # a >= 1 GB MP4
    python bench/speed.py --large    # and a >= 3 GB one: memory must stay flat
    python bench/speed.py --runs 5 --skip-iscc

The test media is made once into bench/.cache by stream-copy concatenation of a
short high-bitrate clip (ffmpeg from imageio-ffmpeg), with a development PKI.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
GB = 1_000_000_000
SEGMENT_SECONDS = 10


@dataclass
class Measure:
    name: str
    seconds: list[float] = field(default_factory=list)
    peak_rss_kb: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rss_mb(self) -> float:
        return max(self.peak_rss_kb) / 1024


# Runs each command for `run`: a process started with `python -S`, so it stays small. A child's peak RSS
# (ru_maxrss) includes the memory of the process it was forked from, so forking from this script (tens
# of MB) would inflate every figure; forked from the launcher it is overstated by at most a few MB.
_LAUNCHER = """
import os, sys, time
for line in sys.stdin:
    argv = line.rstrip("\\n").split("\\0")
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status), flush=True)
"""
_launcher: subprocess.Popen[str] | None = None


def run(cmd: Sequence[str | Path]) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one process; stops the benchmark if it fails."""
    global _launcher
    if _launcher is None:
        _launcher = subprocess.Popen([sys.executable, "-S", "-E", "-c", _LAUNCHER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
    assert _launcher.stdin is not None and _launcher.stdout is not None
    _launcher.stdin.write("\0".join(map(str, cmd)) + "\n")
    _launcher.stdin.flush()
    seconds, rss, code = _launcher.stdout.readline().split()
    if int(code) != 0:
        raise SystemExit(f"command failed ({code}): {' '.join(map(str, cmd))}")
    return float(seconds), int(rss)


def settle() -> None:
    """Flush dirty pages (and let deleted files' blocks be released) before the next measured command."""
    os.sync()
    time.sleep(0.5)


def ffmpeg() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def provenance_exe() -> Path:
    exe = Path(sys.executable).with_name("provenance")
    if not exe.exists():
        raise SystemExit(f"{exe} not found; run `make bench` (it installs the project first)")
    return exe


def check_disk(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise SystemExit(f"not enough disk space in {folder}: {free / GB:.1f} GB free, {needed / GB:.1f} GB needed")


def make_media(size: int) -> Path:
    """A >= `size` bytes MP4 (H.264 + AAC), made once by concatenating a high-bitrate clip."""
    CACHE.mkdir(parents=True, exist_ok=True)
    segment = CACHE / "segment.mp4"
    if not segment.exists():
        print(f"making a {SEGMENT_SECONDS} s high-bitrate clip in {CACHE} ...", flush=True)
        check_disk(CACHE, 1 * GB)
        subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
                        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30,noise=alls=30:allf=t",
                        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(SEGMENT_SECONDS),
                        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-pix_fmt", "yuv420p",
                        "-c:a", "aac", str(segment) + ".part.mp4"], check=True)
        os.replace(str(segment) + ".part.mp4", segment)
    copies = -(-size // segment.stat().st_size)
    target = CACHE / f"video-{size // GB}gb.mp4"
    if target.exists() and target.stat().st_size >= size:
        return target
    check_disk(CACHE, copies * segment.stat().st_size + 2 * GB)
    print(f"concatenating {copies} copies into {target.name} ...", flush=True)
    listing = CACHE / "concat.txt"
    listing.write_text("".join(f"file '{segment.name}'\n" for _ in range(copies)))
    partial = target.with_name(target.name + ".part.mp4")
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                    "-i", str(listing), "-c", "copy", str(partial)], check=True)
    os.replace(partial, target)
    return target


def dev_pki() -> tuple[Path, Path]:
    from provenance.keys.pki import init_dev_pki

    folder = CACHE / "pki"
    if not (folder / "signer.key").exists():
        init_dev_pki(folder, org="Provenance Bench", force=True)
    return folder / "signer-chain.pem", folder / "signer.key"


def supports(option: str, *command: str) -> bool:
    out = subprocess.run([str(provenance_exe()), *command, "--help"], capture_output=True, text=True).stdout
    return option in out


def warm(path: Path) -> None:
    """Read the file once, so every command starts from the same warm page cache."""
    with open(path, "rb") as f:
        while f.read(16 << 20):
            pass


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory = f", {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB RAM"
    fs = subprocess.run(["df", "-T", str(CACHE)], capture_output=True, text=True).stdout.splitlines()
    fs_type = fs[-1].split()[1] if len(fs) > 1 else "?"
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (f"{cpu}, {os.cpu_count()} cores{memory}, {fs_type}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}{load}")


def table(rows: Sequence[Measure], digits: int = 2) -> str:
    lines = [f"| {'command':<44} | median s | min s | max s | peak RSS MB |", f"|{'-' * 46}|---:|---:|---:|---:|"]
    for m in rows:
        lines.append(f"| {m.name:<44} | {m.median:8.{digits}f} | {min(m.seconds):5.{digits}f} "
                     f"| {max(m.seconds):5.{digits}f} | {m.rss_mb:11.0f} |")
    return "\n".join(lines)


def ratio_line(label: str, value: float, target: float, best: float | None = None) -> str:
    """A ratio of medians against its target; `best` is the same ratio of minimum times (least noise)."""
    verdict = "meets" if value <= target else "MISSES"
    fastest = f", fastest runs {best:.2f}x" if best is not None else ""
    return f"  {label:<52} {value:5.2f}x   (target <= {target}x: {verdict}{fastest})"


def bench_file(video: Path, runs: int, chain: Path, key: Path, iscc: bool) -> None:
    size = video.stat().st_size
    out = CACHE / "signed.mp4"
    copy = CACHE / "copy.mp4"
    check_disk(CACHE, 2 * size + GB)
    exe = provenance_exe()
    soft_binding = supports("--no-soft-binding", "sign")
    sign_cmd: list[str | Path] = [exe, "sign", video, "-o", out, "--cert", chain, "--key", key, "--force"]
    fast_sign = [*sign_cmd, "--no-soft-binding"] if soft_binding else sign_cmd

    hash_m, copy_m, durable_m = Measure("openssl dgst -sha256"), Measure("cp"), Measure("cp + sync (durable copy)")
    sign_m, verify_m = Measure("provenance sign --no-soft-binding"), Measure("provenance verify")
    # The same verification by c2pa's Reader alone (the fast path off): the baseline it replaces.
    reader_m = Measure("provenance verify, c2pa Reader alone")
    warm(video)
    steps: tuple[tuple[Measure, Sequence[str | Path], Path | None], ...] = (
        (hash_m, ["openssl", "dgst", "-sha256", video], None),
        (copy_m, ["cp", video, copy], copy),
        (durable_m, ["sh", "-c", 'cp "$1" "$2" && sync "$2"', "sh", video, copy], copy),
        (sign_m, fast_sign, None),
        (reader_m, ["env", "PROVENANCE_FAST_VERIFY_MIN_BYTES=-1", exe, "verify", out], None),
        (verify_m, [exe, "verify", out], out),
    )
    for _ in range(runs):
        for m, cmd, made in steps:
            settle()
            seconds, rss = run(cmd)
            m.seconds.append(seconds)
            m.peak_rss_kb.append(rss)
            if made is not None:
                made.unlink()
    rows = [hash_m, copy_m, durable_m, sign_m, verify_m, reader_m]

    decode_m = iscc_m = default_m = None
    if iscc and soft_binding:
        decode_m, iscc_m = Measure("ffmpeg -i FILE -f null - (bare decode)"), Measure("ISCC soft binding alone")
        default_m = Measure("provenance sign (default: soft binding on)")
        store = CACHE / "bench-store.sqlite"
        fingerprint = ("import sys; from provenance.durability.softbinding import compute; compute(sys.argv[1])")
        extra: tuple[tuple[Measure, Sequence[str | Path]], ...] = (
            (decode_m, [ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", video, "-f", "null", "-"]),
            (iscc_m, [sys.executable, "-c", fingerprint, video]),
            (default_m, [*sign_cmd, "--store", store]),
        )
        for _ in range(runs):
            for m, cmd in extra:
                settle()
                seconds, rss = run(cmd)
                m.seconds.append(seconds)
                m.peak_rss_kb.append(rss)
                out.unlink(missing_ok=True)
        store.unlink(missing_ok=True)
        rows += [decode_m, iscc_m, default_m]
    out.unlink(missing_ok=True)

    load = f", load average now {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"\n{video.name}: {size / GB:.2f} GB, {runs} runs each{load}")
    print(table(rows))
    def fastest(m: Measure) -> float:
        return min(m.seconds)

    print("ratios (medians):")
    print(ratio_line("sign / (hash + copy)", sign_m.median / (hash_m.median + copy_m.median), 1.5,
                     fastest(sign_m) / (fastest(hash_m) + fastest(copy_m))))
    print(ratio_line("sign / (hash + durable copy)", sign_m.median / (hash_m.median + durable_m.median), 1.5,
                     fastest(sign_m) / (fastest(hash_m) + fastest(durable_m))))
    print(ratio_line("verify / hash", verify_m.median / hash_m.median, 1.1, fastest(verify_m) / fastest(hash_m)))
    print(f"  {'(c2pa Reader alone) / hash':<52} {reader_m.median / hash_m.median:5.2f}x   "
          f"(fastest runs {fastest(reader_m) / fastest(hash_m):.2f}x)")
    print(f"  peak RSS: sign {sign_m.rss_mb:.0f} MB (target <= 128), verify {verify_m.rss_mb:.0f} MB (target <= 600), "
          f"c2pa Reader alone {reader_m.rss_mb:.0f} MB")
    if decode_m and iscc_m and default_m:
        print(ratio_line("ISCC fingerprint / bare decode", iscc_m.median / decode_m.median, 1.2,
                         fastest(iscc_m) / fastest(decode_m)))
        print(ratio_line("default sign / max(decode, sign without soft binding)",
                         default_m.median / max(decode_m.median, sign_m.median), 1.2,
                         fastest(default_m) / max(fastest(decode_m), fastest(sign_m))))


def bench_startup(runs: int) -> None:
    bare, version = Measure("python -c pass"), Measure("provenance --version")
    startup: tuple[tuple[Measure, Sequence[str | Path]], ...] = (
        (bare, [sys.executable, "-c", "pass"]), (version, [provenance_exe(), "--version"]))
    for _ in range(runs):
        for m, cmd in startup:
            seconds, rss = run(cmd)
            m.seconds.append(seconds)
            m.peak_rss_kb.append(rss)
    print(f"\nstart-up, {runs} runs each")
    print(table([bare, version], digits=3))
    print(ratio_line("provenance --version / python -c pass (medians)", version.median / bare.median, 2.0,
                     min(version.seconds) / min(bare.seconds)))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help="also measure a >= 3 GB file")
    parser.add_argument("--runs", type=int, default=3, help="runs per command (at least 3)")
    parser.add_argument("--skip-iscc", action="store_true", help="skip the soft binding (decode-bound) measures")
    args = parser.parse_args(argv)
    runs = max(3, args.runs)
    if shutil.which("openssl") is None:
        raise SystemExit("openssl is needed for the hash baseline (apt-get install openssl)")
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    chain, key = dev_pki()
    bench_startup(max(20, runs))
    bench_file(make_media(1 * GB), runs, chain, key, iscc=not args.skip_iscc)
    if args.large:
        bench_file(make_media(3 * GB), runs, chain, key, iscc=False)


if __name__ == "__main__":
    main()
