"""Do signed clips' credentials survive stripping and re-encoding? (ISCC soft binding + repository)

Makes ≥ 50 distinct synthetic clips with ffmpeg (test sources, fractals, cellular automata, noise,
motion, colour shifts; 3–20 s), signs each with `provenance.signing.sign(soft_binding=True)` and
registers its manifest store in a fresh SQLite repository, then applies the transforms below to
each signed clip and asks the repository to recover the manifest, through the same code `verify`
uses (`Recoverer.best_match`: repository lookup, stand-alone validation of the recovered store,
distance recomputed from its signed soft binding).

Printed: the recovery rate per transform (correct manifest found), the false-match count (a
manifest of another clip returned, over every query against every unrelated registered clip), the
distances behind them, and a threshold sweep that shows why MATCH_THRESHOLD is where it is.
Targets: ≥ 99 % strip, ≥ 95 % re-encode and downscale, ≥ 90 % trim, 0 false matches.

    python bench/durability.py [--clips 56] [--jobs 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provenance import signers, signing  # noqa: E402
from provenance.manifest import Disclosure  # noqa: E402
from provenance.pki import init_dev_pki  # noqa: E402
from provenance.recovery import Recoverer, register  # noqa: E402
from provenance.repository.base import INDEX_REACH  # noqa: E402
from provenance.repository.sqlite import SqliteRepository  # noqa: E402
from provenance.softbinding import ALG, MATCH_THRESHOLD, SoftBinding, compute  # noqa: E402
from provenance.verdict import Outcome  # noqa: E402
from provenance.verify import Verifier  # noqa: E402

X264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
# name → (ffmpeg options before -i, options after -i); {d} is the clip's duration in seconds.
TRANSFORMS: dict[str, tuple[list[str], list[str]]] = {
    "strip (remux -c copy)": ([], ["-map", "0", "-c", "copy"]),
    "re-encode CRF 23": ([], [*X264, "-crf", "23"]),
    "re-encode CRF 28": ([], [*X264, "-crf", "28"]),
    "downscale 50 %": ([], ["-vf", "scale=trunc(iw/4)*2:trunc(ih/4)*2", *X264, "-crf", "23"]),
    "crop 10 %": ([], ["-vf", "crop=trunc(iw*0.45)*2:trunc(ih*0.45)*2", *X264, "-crf", "23"]),
    "trim first 20 %": (["-ss", "{trim}"], [*X264, "-crf", "23"]),
    "frame rate → 15 fps": ([], ["-vf", "fps=15", *X264, "-crf", "23"]),
}
TARGETS = {"strip (remux -c copy)": 0.99, "re-encode CRF 23": 0.95, "re-encode CRF 28": 0.95,
           "downscale 50 %": 0.95, "trim first 20 %": 0.90}


def clip_specs(count: int, seed: int) -> list[tuple[str, str]]:
    """(name, lavfi graph) for `count` distinct clips; {size}/{rate} are filled in later."""
    rng = random.Random(seed)
    motion = ["rotate=a=t*0.6:fillcolor=black", "scroll=h=0.01:v=0.004", "hue=H=2*PI*t/5",
              "noise=alls=25:allf=t+u", "negate,hue=s=0.5", "hflip,eq=contrast=1.4:saturation=1.6",
              "boxblur=2,eq=brightness=0.08", "vflip,hue=h=120", "edgedetect=mode=colormix",
              "eq=gamma_r=1.6:gamma_b=0.7,scroll=h=-0.006"]
    # One test card per layout: PAL 75 % and 100 % bars are the same picture to any visual fingerprint.
    static = ["testsrc2", "testsrc", "smptebars", "smptehdbars", "pal75bars", "colorchart", "rgbtestsrc",
              "yuvtestsrc", "colorspectrum"]
    sources = {name: f"{name}=size={{size}}:rate={{rate}}" for name in static}
    sources["colorchart"] = "colorchart=rate={rate}:patch_size=48x48,scale=s={size}"  # no size option
    specs = [(f"{name}-{i}", f"{sources[name]},{motion[i % len(motion)]}") for i, name in enumerate(static)]
    for i in range(10):
        kind = ["linear", "radial", "circular", "spiral"][i % 4]
        specs.append((f"gradients-{i}", f"gradients=size={{size}}:rate={{rate}}:seed={rng.randrange(1 << 30)}:"
                                        f"n={2 + i % 7}:type={kind}:speed={0.005 + 0.004 * i:.3f}"))
    for i in range(8):
        x, y = rng.uniform(-1.8, 0.4), rng.uniform(-0.9, 0.9)
        zoom = f"start_scale={rng.uniform(1.5, 4):.2f}:end_scale={rng.uniform(0.01, 0.3):.3f}"
        inner = ["black", "period", "convergence", "mincol"][i % 4]
        specs.append((f"mandelbrot-{i}", f"mandelbrot=size={{size}}:rate={{rate}}:start_x={x:.4f}:"
                                         f"start_y={y:.4f}:{zoom}:inner={inner}"))
    for i in range(6):
        colours = ":".join(f"{part}_color=#{rng.randrange(1 << 24):06x}" for part in ("life", "death", "mold"))
        specs.append((f"life-{i}", f"life=size={{size}}:rate={{rate}}:seed={rng.randrange(1 << 30)}:"
                                   f"ratio={0.1 + 0.1 * i:.2f}:mold={10 * i}:{colours}"))
    for i, rule in enumerate([30, 90, 110, 18, 150, 73]):
        specs.append((f"cellauto-{i}", f"cellauto=size={{size}}:rate={{rate}}:rule={rule}:"
                                       f"seed={rng.randrange(1 << 30)}:random_fill_ratio={0.2 + 0.1 * i:.2f},"
                                       f"{motion[(i + 3) % len(motion)]}"))
    for i in range(6):
        specs.append((f"zoneplate-{i}", f"zoneplate=size={{size}}:rate={{rate}}:kx={rng.randint(1, 40)}:"
                                        f"ky={rng.randint(1, 40)}:kt={rng.randint(1, 30)}:kt2={rng.randint(0, 9)}:"
                                        f"kx2={rng.randint(0, 90)}:ky2={rng.randint(0, 90)}"))
    for i in range(4):
        specs.append((f"sierpinski-{i}", f"sierpinski=size={{size}}:rate={{rate}}:seed={rng.randrange(1 << 30)}:"
                                         f"jump={rng.randint(1, 40)}:type={['carpet', 'triangle'][i % 2]},"
                                         f"{motion[(i + 5) % len(motion)]}"))
    for i in range(count - len(specs)):
        # More distinct clips when asked for: blends of two seeded generators.
        specs.append((f"blend-{i}", f"gradients=size={{size}}:rate={{rate}}:seed={rng.randrange(1 << 30)}:n=5,"
                                    f"hue=H=2*PI*t/{rng.randint(3, 9)}"))
    return specs[:count]


@dataclass
class ClipResult:
    name: str
    seconds: float
    manifest_store: bytes = b""
    signed: SoftBinding | None = None
    queries: dict[str, SoftBinding] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    still_signed_after_strip: bool = False
    work_seconds: float = 0.0


def ffmpeg(*args: str) -> None:
    from imageio_ffmpeg import get_ffmpeg_exe

    subprocess.run([get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
                   check=True, capture_output=True)


def process_clip(name: str, graph: str, seconds: float, size: str, rate: int, work: Path,
                 chain: Path, key: Path) -> ClipResult:
    """One clip, in a worker process: make it, sign it, transform it, fingerprint every copy."""
    start = time.perf_counter()
    result = ClipResult(name, seconds)
    source = work / f"{name}.mp4"
    ffmpeg("-threads", "1", "-f", "lavfi", "-i", graph.format(size=size, rate=rate), "-t", f"{seconds:.2f}",
           *X264, "-crf", "18", "-threads", "1", str(source))
    signed = work / f"{name}.signed.mp4"
    credentials = signers.from_pem_files(chain, key)
    outcome = signing.sign(source, signed, credentials, Disclosure(generator="bench", title=name), soft_binding=True)
    result.manifest_store, result.signed = outcome.manifest_store, outcome.soft_binding
    for index, (transform, (before, after)) in enumerate(TRANSFORMS.items()):
        out = work / f"{name}.t{index}.mp4"
        pre = [a.format(trim=f"{seconds * 0.2:.3f}") for a in before]
        try:
            ffmpeg("-threads", "1", *pre, "-i", str(signed), *after, "-threads", "1", str(out))
            if index == 0:
                result.still_signed_after_strip = Verifier().verify(out).verdict is not Outcome.UNSIGNED
            result.queries[transform] = compute(out, threads=1)
        except Exception as e:  # reported, never hidden
            result.failures[transform] = f"{type(e).__name__}: {e}"
    result.work_seconds = time.perf_counter() - start
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=56)
    parser.add_argument("--jobs", type=int, default=2, help="parallel clip pipelines (each runs one ffmpeg)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--keep", type=Path, help="keep clips and repository in this folder")
    args = parser.parse_args()
    if args.clips < 2:
        parser.error("--clips must be at least 2")

    if args.keep is None:
        with tempfile.TemporaryDirectory(prefix="provenance-durability-") as tmp:
            return run(args, Path(tmp))
    args.keep.mkdir(parents=True, exist_ok=True)
    return run(args, args.keep)


def run(args: argparse.Namespace, work: Path) -> int:
    pki = init_dev_pki(work / "pki", org="Durability Bench", force=True)
    rng = random.Random(args.seed)
    specs = clip_specs(args.clips, args.seed)
    sizes = ["320x240", "320x180", "480x270", "640x360"]
    started = time.perf_counter()
    results: list[ClipResult] = []
    print(f"{len(specs)} clips, {args.jobs} parallel jobs, work folder {work}", flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(process_clip, name, graph, round(rng.uniform(3, 20), 1), rng.choice(sizes),
                               rng.choice([24, 25, 30]), work, pki.signer_chain, pki.signer_key)
                   for name, graph in specs]
        for done, future in enumerate(as_completed(futures), 1):
            r = future.result()
            results.append(r)
            print(f"  [{done:>2}/{len(specs)}] {r.name:<16} {r.seconds:5.1f} s clip, {r.work_seconds:5.1f} s work"
                  + (f"  FAILED: {r.failures}" if r.failures else ""), flush=True)
    results.sort(key=lambda r: r.name)
    # The fingerprints, for looking at the numbers again without re-running ffmpeg.
    (work / "fingerprints.json").write_text(json.dumps({
        r.name: {"seconds": r.seconds, "signed": list(r.signed.units) if r.signed else None,
                 "copies": {t: list(q.units) for t, q in r.queries.items()}, "failures": r.failures}
        for r in results}, indent=1))

    verifier = Verifier()
    with SqliteRepository(work / "manifests.sqlite3") as repository:
        own = {r.name: register(repository, r.manifest_store, verifier).manifest_id for r in results}
        recoverer = Recoverer(repository, verifier)
        report(results, own, recoverer, repository)
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    return 0


def report(results: list[ClipResult], own: dict[str, str], recoverer: Recoverer,
           repository: SqliteRepository) -> None:
    signed = {r.name: r.signed for r in results if r.signed is not None}
    print(f"\nmatch threshold: {MATCH_THRESHOLD} of 256 bits (index reach {INDEX_REACH})")
    print(f"\n{'transform':<24} {'recovered':>10} {'rate':>7} {'target':>7}   distance to own manifest "
          f"(median / p95 / max)")
    false_matches = 0
    unrelated_pairs = 0
    closest_unrelated: list[int] = []
    sweep: dict[str, list[int | None]] = {}
    for transform in TRANSFORMS:
        recovered = 0
        distances: list[int] = []
        for r in results:
            query = r.queries.get(transform)
            if query is None:
                sweep.setdefault(transform, []).append(None)
                continue
            found = recoverer.best_match(query)
            recovered += found is not None and found.manifest_id == own[r.name]
            d = query.distance(r.signed) if r.signed else None
            sweep.setdefault(transform, []).append(d)
            if d is not None:
                distances.append(d)
            # Every other registered clip is an unrelated pair for this query.
            matches = repository.match(ALG, query.value, 100)
            false_matches += sum(m.manifest_id != own[r.name] for m in matches)
            others = [query.distance(b) for name, b in signed.items() if name != r.name and b is not None]
            unrelated_pairs += len(others)
            closest_unrelated.extend(d for d in others if d is not None)
        rate = recovered / len(results)
        target = TARGETS.get(transform)
        verdict = "" if target is None else ("ok" if rate >= target else "BELOW")
        spread = (f"{statistics.median(distances):5.1f} / {_p95(distances):3d} / {max(distances):3d}"
                  if distances else "-")
        print(f"{transform:<24} {recovered:>4}/{len(results):<5} {rate:>6.1%} "
              f"{(f'{target:.0%}' if target else '-'):>7} {verdict:>5}  {spread}")
    pairs = list(itertools.combinations(results, 2))
    original_distances = [d for a, b in pairs if a.signed and b.signed
                          for d in [a.signed.distance(b.signed)] if d is not None]
    unrelated_sorted = sorted(closest_unrelated)
    print(f"\nfalse matches: {false_matches} (queries of every transformed copy against all "
          f"{unrelated_pairs} unrelated registered clips)")
    print(f"closest unrelated distances (transformed copy vs other clip): {unrelated_sorted[:8]}")
    print(f"unrelated originals: {len(original_distances)} pairs, closest distances "
          f"{sorted(original_distances)[:8]}, median {statistics.median(original_distances):.0f}")
    strip_kept = [r.name for r in results if r.still_signed_after_strip]
    print(f"strip check: {len(results) - len(strip_kept)}/{len(results)} remuxed copies carry no manifest"
          + (f" (still signed: {strip_kept})" if strip_kept else ""))
    print("\nthreshold sweep (recovery by distance to own manifest; false = unrelated pairs within it):")
    thresholds = [16, 24, 32, 36, 40, 44, INDEX_REACH]
    print(f"{'transform':<24} " + " ".join(f"{t:>6}" for t in thresholds))
    for transform, values in sweep.items():
        row = [sum(v is not None and v <= t for v in values) / len(values) for t in thresholds]
        print(f"{transform:<24} " + " ".join(f"{x:>6.0%}" for x in row))
    print(f"{'false matches':<24} " + " ".join(f"{sum(d <= t for d in unrelated_sorted):>6}" for t in thresholds))


def _p95(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


if __name__ == "__main__":
    sys.exit(main())
