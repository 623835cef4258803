"""Throughput of `check` and `sign-batch` in local processes and on Dask, and what a million clips cost.

On this machine, in one run, over many small signed clips and some large ones (a large clip made
once with ffmpeg, then signed separately under each name, so every copy has its own manifest):

- clips per second for `check --jobs 1`, `--jobs 2`, `--cluster local:2`, and a cluster started as
  separate processes (`dask scheduler` + 2 `dask worker`s on 127.0.0.1);
- the same for `sign-batch`, with and without the soft binding (ISCC Video-Codes: a full decode);
- the cluster's per-task overhead against the process pool (target: >= 90 % of the pool's
  throughput on the large clips);
- from the per-clip costs: core-hours per million clips, and nodes of this size for 100 clips/s.

Each run is the library's `check` or `sign_batch` in a fresh process of its own, timing every clip as
it is done: the throughput counts from the first clip done to the last, so starting the workers (a
LocalCluster takes seconds) is reported apart, as the start-up.

    python bench/scale.py [--small 500] [--large 50] [--large-mb 75] [--sign-large 50]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "bench" / ".cache" / "scale"
TARGET = 0.90  # the cluster's share of the process pool's throughput on large clips
PLATFORM_RATE = 100.0  # clips per second a platform verifies


@dataclass(frozen=True)
class Corpus:
    """Signed clips for check, and unsigned copies (hard links of one source) for sign-batch."""

    name: str
    signed: Path
    unsigned: Path
    count: int
    megabytes: float
    anchors: Path
    pki: Path


def _large_source(path: Path, megabytes: int) -> Path:
    """A 1280x720 clip of about `megabytes` MB: 20 s of test pattern at the bitrate that gives that size."""
    from tests.support.clips import ffmpeg_exe

    seconds = 20
    bitrate = int(megabytes * 8_000_000 / seconds)
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=1280x720:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                    "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-b:v", str(bitrate),
                    "-minrate", str(bitrate), "-maxrate", str(bitrate), "-bufsize", str(bitrate),
                    "-x264-params", "nal-hrd=cbr", "-pix_fmt", "yuv420p", "-c:a", "aac",  # constant: padded to size
                    str(path)], check=True)
    return path


def build(name: str, count: int, megabytes: int | None) -> Corpus:
    """The corpus (cached): `count` clips, each signed on its own, small (1 s, 160x120) or of `megabytes` MB."""
    from provenance import signing
    from provenance.keys import signers
    from provenance.keys.pki import init_dev_pki
    from provenance.manifest import Disclosure
    from tests.support.clips import make_clip

    base = CACHE / f"{name}-{count}-{megabytes or 0}"
    pki_dir = CACHE / "pki"
    corpus = Corpus(name, base / "signed", base / "unsigned", count, 0.0, pki_dir / "root-ca.pem", pki_dir)
    if not (pki_dir / "root-ca.pem").is_file():
        shutil.rmtree(pki_dir, ignore_errors=True)
        init_dev_pki(pki_dir, org="Scale bench")
    if not (base / ".complete").is_file():
        shutil.rmtree(base, ignore_errors=True)
        for folder in (corpus.signed, corpus.unsigned):
            folder.mkdir(parents=True)
        source = (_large_source(base / "source.mp4", megabytes) if megabytes
                  else make_clip(base / "source.mp4", seconds=1.0))
        creds = signers.from_pem_files(pki_dir / "signer-chain.pem", pki_dir / "signer.key")
        started = time.perf_counter()
        for i in range(count):
            signing.sign(source, corpus.signed / f"clip-{i:04d}.mp4", creds,
                         Disclosure(generator="bench", title=f"{name} clip {i}"))
            os.link(source, corpus.unsigned / f"clip-{i:04d}.mp4")
        print(f"{name}: signed {count} clips in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        (base / ".complete").write_text("")
    size = (corpus.signed / "clip-0000.mp4").stat().st_size / 1e6
    return replace(corpus, megabytes=size)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_") and k != "GITHUB_STEP_SUMMARY"}


@dataclass(frozen=True)
class Rate:
    """A steady throughput (from the first clip done to the last) and the start-up before the first clip."""

    clips_per_second: float
    startup: float  # seconds from the call to the first clip done: workers started, c2pa loaded

    @property
    def per_clip(self) -> float:
        """Seconds a clip, once the workers run."""
        return 1.0 / self.clips_per_second


def _into_page_cache(folder: Path) -> None:
    """Read every file once, so the first mode timed does not pay for the disk and the others for memory."""
    seen: set[tuple[int, int]] = set()
    for path in sorted(folder.iterdir()):
        inode = (path.stat().st_dev, path.stat().st_ino)
        if inode in seen:  # the unsigned corpus is hard links of one clip: read it once
            continue
        seen.add(inode)
        with open(path, "rb") as f:
            while f.read(8 << 20):
                pass


def measure(what: str, corpus: Corpus, mode: list[str], *, soft_binding: bool = False, store: Path | None = None,
            ) -> Rate:
    """Run `check` or `sign-batch` (the library, in a fresh process of its own) over the corpus, timing each clip."""
    _into_page_cache(corpus.signed if what == "check" else corpus.unsigned)
    os.sync()  # the last run's outputs (3.7 GB for 50 large clips) written out before this one writes its own
    with tempfile.TemporaryDirectory(dir=CACHE) as out:
        args = [sys.executable, str(Path(__file__).resolve()), "--measure", what, "--tree",
                str(corpus.signed if what == "check" else corpus.unsigned), "--pki", str(corpus.pki), "--out", out,
                "--store", str(store or Path(out) / "manifests.sqlite3"), *(["--soft-binding"] if soft_binding else []),
                f"--mode={mode[0].lstrip('-')}:{mode[1]}"]
        proc = subprocess.run(args, capture_output=True, text=True, env=_env(), check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{what} {' '.join(mode)} failed (exit {proc.returncode}): {proc.stderr.strip()[-3000:]}")
    times = json.loads(proc.stdout.strip().splitlines()[-1])
    done: list[float] = times["done"]
    if len(done) != corpus.count:
        raise SystemExit(f"{what} {' '.join(mode)}: {len(done)} clips done of {corpus.count}")
    steady = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else math.inf
    return Rate(steady, done[0] - times["start"])


def _measure_here(what: str, tree: Path, pki: Path, out: Path, store: Path, soft_binding: bool,
                  mode: list[str]) -> None:
    """In the child process: one run, printing its start time and each clip's completion time as JSON."""
    jobs = int(mode[1]) if mode[0] == "jobs" else None
    cluster = mode[1] if mode[0] == "cluster" else None
    done: list[float] = []
    start = time.perf_counter()
    if what == "check":
        from provenance.check import Policy, check
        from provenance.check.cluster import cluster_pool
        from provenance.verdict import Outcome

        report = check([tree], root=tree, policy=Policy(), anchors=pki / "root-ca.pem", jobs=jobs,
                       pool=cluster_pool(cluster) if cluster else None,
                       on_progress=lambda _n: done.append(time.perf_counter()))
        if {r.verdict.verdict for r in report.results} != {Outcome.TRUSTED}:
            raise SystemExit(f"expected every clip trusted: {report.summary()}")
    else:
        from provenance.manifest import Disclosure
        from provenance.signing_batch import BatchSettings, KeySource, jobs_from_folder, sign_batch

        key = KeySource(str(pki / "signer.key"), cert=str(pki / "signer-chain.pem"))
        batch = sign_batch(jobs_from_folder(tree, out, Disclosure(generator="bench")),
                           BatchSettings(key, store=str(store), soft_binding=soft_binding), jobs_at_once=jobs,
                           cluster=cluster, on_result=lambda _r: done.append(time.perf_counter()))
        if batch.count("signed") != len(batch.results):
            raise SystemExit(f"expected every clip signed: {batch.summary()}")
    print(json.dumps({"start": start, "done": done}))


@contextmanager
def dask_processes() -> Iterator[str]:
    """`dask scheduler` and 2 single-threaded `dask worker`s as separate processes; the scheduler's address."""
    from tests.support.dask_processes import dask_cluster

    with tempfile.TemporaryDirectory(dir=CACHE) as folder, dask_cluster(2, Path(folder)) as cluster:
        yield cluster.address


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=500, help="small signed clips (the issue asks >= 500)")
    parser.add_argument("--large", type=int, default=50, help="large signed clips (the issue asks >= 50)")
    parser.add_argument("--large-mb", type=int, default=75, help="size of a large clip in MB (50-100)")
    parser.add_argument("--sign-large", type=int, default=50,
                        help="large clips sign-batch signs (with the soft binding each is decoded in full)")
    parser.add_argument("--measure", choices=("check", "sign"), help=argparse.SUPPRESS)  # the child's side
    parser.add_argument("--tree", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pki", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--soft-binding", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)  # jobs:N or cluster:ADDRESS
    args = parser.parse_args()
    if args.measure:
        _measure_here(args.measure, args.tree, args.pki, args.out, args.store, args.soft_binding,
                      args.mode.split(":", 1))
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    small = build("small", args.small, None)
    large = build("large", args.large, args.large_mb)
    sign_large = build("large", args.sign_large, args.large_mb) if args.sign_large != args.large else large
    began = time.perf_counter()
    rows: dict[tuple[str, str], Rate] = {}
    with dask_processes() as address:
        modes = {"--jobs 1": ["--jobs", "1"], "--jobs 2": ["--jobs", "2"],
                 "--cluster local:2": ["--cluster", "local:2"], "scheduler + 2 workers": ["--cluster", address]}
        runs = [(f"check {c.name}", "check", c, False) for c in (small, large)]
        runs += [(f"sign {c.name}" + (" +soft binding" if soft else ""), "sign", c, soft)
                 for soft in (False, True) for c in (small, sign_large)]
        for kind, what, corpus, soft in runs:
            for label, mode in modes.items():
                rows[(kind, label)] = measure(what, corpus, mode, soft_binding=soft)
                print(f"{kind}, {label}: {rows[(kind, label)].clips_per_second:.2f} clips/s, "
                      f"start-up {rows[(kind, label)].startup:.1f} s", file=sys.stderr)
    print_table(rows, small, large, sign_large, modes, time.perf_counter() - began)


def print_table(rows: dict[tuple[str, str], Rate], small: Corpus, large: Corpus, sign_large: Corpus,
                modes: dict[str, list[str]], seconds: float) -> None:
    """The markdown table of docs/scale.md, and the derived figures."""
    cores = len(os.sched_getaffinity(0))
    print(f"\ncores: {cores}; small clips: {small.count} x {small.megabytes:.2f} MB; large clips: {large.count} "
          f"(check), {sign_large.count} (sign-batch) x {large.megabytes:.1f} MB; measured in {seconds:.0f} s\n")
    kinds = sorted({kind for kind, _ in rows}, key=lambda k: (k.startswith("sign"), "soft" in k, "large" in k))
    print("| clips/s (start-up s) | " + " | ".join(modes) + " |")
    print("|---|" + "---:|" * len(modes))
    for kind in kinds:
        cells = [f"{rows[(kind, m)].clips_per_second:.2f} ({rows[(kind, m)].startup:.1f})" for m in modes]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    print()
    for kind in kinds:
        pool = rows[(kind, "--jobs 2")]
        for cluster in ("--cluster local:2", "scheduler + 2 workers"):
            share = rows[(kind, cluster)].clips_per_second / pool.clips_per_second
            overhead = (rows[(kind, cluster)].per_clip - pool.per_clip) * 1000
            verdict = ""
            if "large" in kind:
                verdict = f" ({'meets' if share >= TARGET else 'below'} the {TARGET:.0%} target)"
            print(f"{kind}, {cluster}: {share:.0%} of the pool's throughput, {overhead:+.1f} ms a clip{verdict}")
    print()
    for kind in kinds:
        one_core = rows[(kind, "--jobs 1")].per_clip  # seconds of one core a clip
        node = max(rows[(kind, m)].clips_per_second for m in modes if m != "--jobs 1")  # a 2-core node's best
        print(f"{kind}: {one_core * 1e6 / 3600:,.0f} core-hours per million clips; "
              f"{math.ceil(PLATFORM_RATE / node)} nodes of {cores} cores for {PLATFORM_RATE:.0f} clips/s")


if __name__ == "__main__":
    main()
