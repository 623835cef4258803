"""Wall time and peak memory of `provenance verify` on hostile files, against the limits.

Builds each attack file from one signed clip (in a temporary folder), runs the real CLI on it with
the fast path forced on and off, and prints wall time and peak RSS beside the targets (under 5 s and
600 MB) and the ratio to verifying the untouched clip in the same run.

    python bench/adversarial.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_SECONDS = 5.0
MAX_RSS_MB = 600


def _box(box_type: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I", 8 + len(payload)) + box_type + payload


NAMES = ["untouched signed clip (baseline)", "+200 000 empty boxes (1.6 MB)", "+8.9 million free boxes (71 MB)",
         "+19 000 empty boxes", "+200 000 boxes nested in udta"]


def attack_files(work: Path) -> dict[str, Path]:
    """Made in a child process, so this one stays small: a child's peak RSS starts from its parent's."""
    subprocess.run([sys.executable, __file__, "--make", str(work)], check=True)
    return {name: work / f"attack-{i}.mp4" for i, name in enumerate(NAMES)}


def make_attack_files(work: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from provenance.keys.pki import init_dev_pki
    from tests.support.clips import make_clip, sign_file  # the recipes the tests use

    pki = init_dev_pki(work / "pki", org="Bench")
    signed = sign_file(make_clip(work / "clip.mp4"), work / "signed.mp4", pki, generator="bench").output
    data = signed.read_bytes()
    contents = [data, data + _box(b"abcd") * 200_000, data + _box(b"free") * 8_900_000, data + _box(b"abcd") * 19_000,
                data + _box(b"udta", _box(b"free") * 200_000)]
    for i, content in enumerate(contents):
        (work / f"attack-{i}.mp4").write_bytes(content)


def run(path: Path, fast: bool) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) and verdict of one `provenance verify`."""
    env = {**os.environ, "PROVENANCE_FAST_VERIFY_MIN_BYTES": "0" if fast else "-1"}
    cmd = [sys.executable, "-m", "provenance_cli.main", "verify", "--no-recovery", str(path)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    proc.stdout.read()
    _, _, usage = os.wait4(proc.pid, 0)  # the child's own peak RSS (KiB on Linux)
    seconds = time.perf_counter() - started
    return seconds, usage.ru_maxrss / 1024, first.split(": ", 1)[-1].split(":")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of each file; the median is shown")
    parser.add_argument("--make", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        make_attack_files(args.make)
        return
    with tempfile.TemporaryDirectory(prefix="bench-adversarial-") as tmp:
        files = attack_files(Path(tmp))
        print(f"{'file':<36} {'path':<12} {'seconds':>8} {'x base':>7} {'RSS MB':>7}  verdict")
        base: dict[bool, float] = {}
        worst = (0.0, 0.0)
        for name, path in files.items():
            for fast in (True, False):
                runs = sorted(run(path, fast) for _ in range(args.runs))
                seconds, rss, verdict = runs[len(runs) // 2]
                base.setdefault(fast, seconds)
                worst = (max(worst[0], seconds), max(worst[1], rss))
                label = "fast path" if fast else "c2pa Reader"
                print(f"{name:<36} {label:<12} {seconds:8.2f} {seconds / base[fast]:7.1f} {rss:7.0f}  {verdict}")
        ok = worst[0] < MAX_SECONDS and worst[1] < MAX_RSS_MB
        print(f"\nworst: {worst[0]:.2f} s (target < {MAX_SECONDS:g}), {worst[1]:.0f} MB (target < {MAX_RSS_MB}): "
              f"{'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
