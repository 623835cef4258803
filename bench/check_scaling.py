"""How well `provenance check` scales with worker processes.

Signs N small clips (default 1000, cached under bench/.cache/), then runs the real
CLI over them with --jobs 1 and --jobs 2 in the same run, alternating, best of
--repeat runs each, and prints two speed-ups:

- check: the time `check` itself reports (finding, verifying and judging the
  files), which is what the worker processes can speed up. Target: >= 1.8x on 2 cores.
- process: the whole process, interpreter start-up and imports (~0.2 s, the same
  for any --jobs) included.

    python bench/check_scaling.py [--clips 1000] [--repeat 5] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache" / "check_scaling"
TARGET = 1.8


def build_tree(count: int) -> tuple[Path, Path]:
    """`count` signed clips in a folder and the root CA that trusts their signer (cached)."""
    tree = CACHE / f"clips-{count}"
    anchors = CACHE / "pki" / "root-ca.pem"
    done = tree / ".complete"
    if done.is_file() and anchors.is_file():
        return tree, anchors
    sys.path.insert(0, str(ROOT))
    from provenance import signing
    from provenance.keys import signers
    from provenance.keys.pki import init_dev_pki
    from provenance.manifest import Disclosure
    from tests.support.clips import make_clip  # the clip recipe the tests use

    shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.mkdir(parents=True)
    pki = init_dev_pki(CACHE / "pki", org="Bench")
    source = make_clip(CACHE / "source.mp4", seconds=1.0)
    creds = signers.from_pem_files(pki.signer_chain, pki.signer_key)
    started = time.perf_counter()
    for i in range(count):
        folder = tree / f"batch-{i // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        signing.sign(source, folder / f"clip-{i:04d}.mp4", creds,
                     Disclosure(generator="bench", title=f"clip {i}"))
    done.write_text("")
    print(f"signed {count} clips in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return tree, anchors


def run_check(tree: Path, anchors: Path, jobs: int) -> tuple[float, float]:
    """Seconds of (check itself, the whole process) for one `provenance check` run."""
    cmd = [sys.executable, "-m", "provenance_cli.main", "check", str(tree), "--trust-anchors", str(anchors),
           "--jobs", str(jobs), "--format", "json", "--no-progress"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_") and k != "GITHUB_STEP_SUMMARY"}
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"check failed (exit {proc.returncode}): {proc.stderr.strip()}")
    summary = json.loads(proc.stdout)["summary"]
    if summary["passed"] != summary["files"]:
        raise SystemExit(f"expected every clip to pass: {summary}")
    return float(summary["seconds"]), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=1000, help="number of signed clips (>= 500 for the target)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per setting; the best is kept")
    parser.add_argument("--jobs", type=int, default=2, help="parallel setting compared with --jobs 1")
    args = parser.parse_args()

    tree, anchors = build_tree(args.clips)
    run_check(tree, anchors, 1)  # warm the page cache so neither setting pays for the first read
    serial: list[tuple[float, float]] = []
    parallel: list[tuple[float, float]] = []
    for _ in range(args.repeat):
        serial.append(run_check(tree, anchors, 1))
        parallel.append(run_check(tree, anchors, args.jobs))
    print(f"clips: {args.clips}  cores available: {len(os.sched_getaffinity(0))}  runs per setting: {args.repeat}")
    for index, label in enumerate(("check", "process")):
        one = min(r[index] for r in serial)
        many = min(r[index] for r in parallel)
        speedup = one / many
        verdict = f" ({'meets' if speedup >= TARGET else 'below'} the {TARGET}x target)" if index == 0 else ""
        print(f"{label:>8}: --jobs 1 {one:.3f} s ({one / args.clips * 1000:.2f} ms/clip), "
              f"--jobs {args.jobs} {many:.3f} s ({many / args.clips * 1000:.2f} ms/clip): "
              f"speed-up {speedup:.2f}x{verdict}")

if __name__ == "__main__":
    main()
