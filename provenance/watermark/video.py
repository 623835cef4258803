"""Marking a video file and detecting the mark in one, with the ffmpeg of the imageio-ffmpeg wheel.

`embed`: one ffmpeg decodes the video stream to raw YUV 4:2:0 frames (a YUV4MPEG2 pipe, which
carries the size and frame rate), the luma of each frame gets the pattern, and a second ffmpeg
encodes the frames (H.264 by default) and copies the audio streams of the source untouched. The
chroma planes pass through unchanged. The output is written atomically: it appears whole or not at
all, even when encoding fails or the process is killed.

`detect`: ffmpeg decodes the video stream scaled so its smaller side is DETECT_SIDE pixels, as
grey frames, sampling at most DETECT_RATE frames a second; the frames are summed and searched
(provenance.watermark.detector).
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from provenance._internal import children
from provenance._internal.atomic import atomic_files
from provenance._internal.children import Cancel
from provenance._internal.threads import Worker
from provenance.errors import WatermarkError
from provenance.watermark import coding, detector, pattern
from provenance.watermark.interface import Detection, EmbedResult, Payload, Progress

DEFAULT_CODEC = "libx264"
DEFAULT_CRF = 18  # visually lossless for x264: the mark, not the re-encode, should be the only change
DEFAULT_PRESET = "medium"
DETECT_SIDE = 288
DETECT_RATE = 8.0  # frames a second read at most (every 4th at 25 or 30 fps): neighbours add little
MIN_SIDE = 128  # the tile needs room to repeat: a smaller frame cannot carry a mark
DETECT_MIN_SIDE = 64  # a marked clip halved (or cropped) may be searched down to this size
MIN_FRAMES = 2
# Output formats by file name suffix (the output is a nameless file until it is complete).
FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
_QUEUE_FRAMES = 4


@dataclass(frozen=True)
class _Probe:
    width: int
    height: int
    seconds: float | None
    has_audio: bool
    rate: float | None  # frames a second, as ffmpeg reports the stream


def _ffmpeg() -> str:
    from imageio_ffmpeg import get_ffmpeg_exe

    exe: str = get_ffmpeg_exe()
    return exe


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\d+:\d+.*?: Video: .*?(?<![0-9])(\d{1,5})x(\d{1,5})(?![0-9])")


def probe(path: Path, *, cancel: Cancel | None = None) -> _Probe:
    """The first video stream's size, the duration, and whether there is audio (ffmpeg's own report)."""
    try:
        proc = children.run([_ffmpeg(), "-hide_banner", "-nostdin", "-i", f"file:{path}"],
                            capture_output=True, text=True, errors="replace", cancel=cancel)
    except OSError as e:
        raise WatermarkError(f"cannot run ffmpeg: {e.strerror or e}") from e
    report = proc.stderr
    if not path.is_file():
        raise WatermarkError(f"{path}: no such file", remedy="Give the path of a video file.")
    video = _VIDEO.search(report)
    if "Input #0" not in report:
        reason = next((line for line in reversed(report.splitlines()) if "rror" in line), "not a media file")
        raise WatermarkError(f"{path}: cannot be read as video ({reason.strip()})")
    if video is None:
        raise WatermarkError(f"{path}: has no video stream", remedy="Give a video file; audio-only files "
                             "cannot carry a watermark in the frames.")
    duration = _DURATION.search(report)
    seconds = (int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3])) if duration else None
    has_audio = re.search(r"Stream #\d+:\d+.*?: Audio: ", report) is not None
    line = report[video.start():].split("\n", 1)[0]
    rate = re.search(r"(\d+(?:\.\d+)?) fps", line)
    return _Probe(int(video[1]), int(video[2]), seconds, has_audio, float(rate[1]) if rate else None)


@dataclass(frozen=True)
class _Y4m:
    width: int
    height: int
    rate: Fraction
    planes: tuple[tuple[int, int], ...]  # (height, width) of each plane
    header: bytes

    @property
    def frame_bytes(self) -> int:
        return sum(h * w for h, w in self.planes)


def _read_header(stream: IO[bytes]) -> _Y4m | None:
    line = stream.readline()
    if not line:
        return None
    if not line.startswith(b"YUV4MPEG2 "):
        raise WatermarkError("ffmpeg wrote no YUV4MPEG2 stream")
    fields = {t[:1]: t[1:] for t in line.split()[1:]}
    width, height = int(fields[b"W"]), int(fields[b"H"])
    num, _, den = fields.get(b"F", b"25:1").partition(b":")
    rate = Fraction(int(num), int(den or 1)) if int(num) > 0 and int(den or 1) > 0 else Fraction(25)
    colour = fields.get(b"C", b"420jpeg").decode("ascii", "replace")
    if colour == "mono":
        planes: tuple[tuple[int, int], ...] = ((height, width),)
    elif colour.startswith("420"):
        chroma = ((height + 1) // 2, (width + 1) // 2)
        planes = ((height, width), chroma, chroma)
    else:
        raise WatermarkError(f"unexpected YUV4MPEG2 colour space {colour}")
    return _Y4m(width, height, rate, planes, line)


def _frames(stream: IO[bytes], y4m: _Y4m) -> Iterator[bytes]:
    """The raw frames of a YUV4MPEG2 stream after its header."""
    size = y4m.frame_bytes
    while True:
        marker = stream.readline()
        if not marker:
            return
        if not marker.startswith(b"FRAME"):
            raise WatermarkError("ffmpeg wrote a malformed YUV4MPEG2 frame")
        data = stream.read(size)
        if len(data) < size:
            return  # a truncated last frame (the decoder stopped): dropped
        yield data


def _decoder(source: Path, pix_fmt: str, filters: str | None = None) -> list[str]:
    cmd = [_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", f"file:{source}",
           "-map", "0:v:0", "-an", "-sn", "-dn"]
    if filters:
        # A frame dropped by `select` must stay dropped: the default constant-rate output would duplicate it.
        cmd += ["-vf", filters, "-fps_mode", "passthrough"]
    return cmd + ["-f", "yuv4mpegpipe", "-pix_fmt", pix_fmt, "-strict", "-1", "pipe:1"]


def _failure(stderr: bytes, fallback: str) -> str:
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else fallback


def _check_size(path: Path, width: int, height: int, smallest: int = MIN_SIDE) -> None:
    if min(width, height) < smallest:
        raise WatermarkError(f"{path}: {width}×{height} is too small to carry a watermark "
                             f"(the smaller side needs {smallest} pixels or more)",
                             remedy=f"Give a video at least {smallest} pixels high and wide.")


def embed(source: str | os.PathLike[str], output: str | os.PathLike[str], payload: Payload, *,
          codec: str = DEFAULT_CODEC, crf: int = DEFAULT_CRF, preset: str | None = DEFAULT_PRESET,
          progress: Progress | None = None, cancel: Cancel | None = None) -> EmbedResult:
    """Write `output`: `source` re-encoded with `codec` at `crf`, its frames carrying `payload`.

    Audio streams are copied untouched. `preset` is passed to encoders that take one (x264, x265;
    None: the encoder's default). The output's container follows its suffix (FORMATS); it is written
    atomically. `progress` is called after each frame; `cancel` stops both ffmpeg processes.
    Raises WatermarkError for input that cannot carry a mark, OutputError/OutputWriteError for the output.
    """
    source, output = Path(source), Path(output)
    container = FORMATS.get(output.suffix.lower())
    if container is None:
        raise WatermarkError(f"{output}: unknown output format {output.suffix!r}",
                             remedy=f"Name the output with one of {', '.join(sorted(FORMATS))}.")
    if output.exists() and output.resolve() == source.resolve():
        raise WatermarkError(f"{output}: the output would overwrite the source", remedy="Choose another output path.")
    if not source.is_file():
        raise WatermarkError(f"{source}: no such file", remedy="Give the path of a video file.")
    coded = coding.encode(payload.identifier)
    # The probe (duration for progress, audio streams) runs beside the decode instead of before it.
    probing = Worker("wm-probe", lambda: probe(source, cancel=cancel))
    probing.start()
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(atomic_files())
        target = writer.open(output)
        work: Path | None = None
        if os.name == "posix":
            name, where = f"/dev/fd/{target.fileno()}", {"pass_fds": (target.fileno(),)}
        else:  # no descriptor passing: encode into a temporary folder, then copy into the output
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="provenance-wm-")))
            name, where = str(work / f"marked{output.suffix}"), {}
        frames, size = _transcode(source, name, container, coded, probing, codec, crf, preset, progress, cancel,
                                  where)
        if work is not None:
            with open(name, "rb") as encoded:
                shutil.copyfileobj(encoded, target)
        info = probing.result()
    return EmbedResult(output, payload, frames, size[1], size[0], codec, crf, info.has_audio)


def _encoder(name: str, container: str, source: Path, codec: str, crf: int, preset: str | None) -> list[str]:
    cmd = [_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", "yuv4mpegpipe", "-i", "pipe:0", "-i", f"file:{source}", "-map", "0:v:0",
           "-map", "1:a?", "-c:a", "copy", "-c:v", codec, "-crf", str(crf), "-pix_fmt", "yuv420p"]
    if preset is not None and codec in ("libx264", "libx265"):
        cmd += ["-preset", preset]
    if codec == "libvpx-vp9":
        cmd += ["-b:v", "0", "-row-mt", "1"]  # constant quality, as -crf means for x264
    if codec == "libx265":
        cmd += ["-tag:v", "hvc1", "-x265-params", "log-level=error"]
    return cmd + ["-map_metadata", "1", "-f", container, name]


def _transcode(source: Path, name: str, container: str, coded: npt.NDArray[np.uint8], probing: Worker[_Probe],
               codec: str, crf: int, preset: str | None, progress: Progress | None, cancel: Cancel | None,
               where: dict[str, Any]) -> tuple[int, tuple[int, int]]:
    """Decode, mark and encode; (frames, (height, width)). Both children are killed on any failure."""
    own_cancel = Cancel()
    stop = own_cancel if cancel is None else cancel
    decoder = children.popen(_decoder(source, "yuv420p"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             bufsize=1 << 20)
    stop.adopt(decoder)
    encoder: subprocess.Popen[bytes] | None = None
    decoder_errors = Worker("wm-decoder-stderr", lambda: decoder.stderr.read() if decoder.stderr else b"")
    decoder_errors.start()
    try:
        assert decoder.stdout is not None
        y4m = _read_header(decoder.stdout)
        if y4m is None:
            decoder.wait()
            probing.result()  # raises the clearer error: not media, no video stream
            raise WatermarkError(f"{source}: cannot decode its video: "
                                 f"{_failure(decoder_errors.result(), 'no frames')}")
        _check_size(source, y4m.width, y4m.height)
        encoder = children.popen(_encoder(name, container, source, codec, crf, preset),
                                 stdin=subprocess.PIPE, stderr=subprocess.PIPE, **where)
        stop.adopt(encoder)
        encoder_errors = Worker("wm-encoder-stderr", lambda: encoder.stderr.read() if encoder.stderr else b"")
        encoder_errors.start()
        marker = pattern.Marker(coded, y4m.height, y4m.width)
        luma_bytes = y4m.width * y4m.height
        # A frame's parts are written as they are: joining them would copy every frame twice more.
        pending: queue.Queue[tuple[memoryview, memoryview] | None] = queue.Queue(_QUEUE_FRAMES)

        def write() -> None:
            assert encoder is not None and encoder.stdin is not None
            try:
                encoder.stdin.write(y4m.header)
                while (frame := pending.get()) is not None:
                    luma, chroma = frame
                    encoder.stdin.write(b"FRAME\n")
                    encoder.stdin.write(luma)
                    encoder.stdin.write(chroma)
            finally:
                with contextlib.suppress(OSError):
                    encoder.stdin.close()

        writing = Worker("wm-encoder-stdin", write)
        writing.start()
        count = 0
        try:
            for raw in _frames(decoder.stdout, y4m):
                luma = np.frombuffer(raw, dtype=np.uint8, count=luma_bytes).reshape(y4m.height, y4m.width)
                pending.put((marker.mark(luma).data, memoryview(raw)[luma_bytes:]))
                count += 1
                if writing.finished.is_set():
                    break  # the encoder stopped reading: its error is reported below
                if progress is not None:
                    progress(float(count / y4m.rate), probing.result().seconds if probing.finished.is_set() else None)
        finally:
            pending.put(None)
        with contextlib.suppress(OSError, BrokenPipeError):
            writing.result()
        decoder.wait()
        encoder.wait()
        if decoder.returncode != 0:
            probing.result()
            raise WatermarkError(f"{source}: cannot decode its video: "
                                 f"{_failure(decoder_errors.result(), 'ffmpeg failed')}")
        if encoder.returncode != 0:
            raise WatermarkError(f"cannot encode the marked video with {codec}: "
                                 f"{_failure(encoder_errors.result(), 'ffmpeg failed')}",
                                 remedy="Check --codec and --crf, and that the output format takes the "
                                        "source's audio codec.")
        if count < MIN_FRAMES:
            raise WatermarkError(f"{source}: has {count} frame{'s' * (count != 1)}; a watermark needs "
                                 f"at least {MIN_FRAMES}", remedy="Give a video clip, not a still image.")
        return count, (y4m.height, y4m.width)
    finally:
        for child in (decoder, encoder):
            if child is None:
                continue
            if child.poll() is None:
                child.kill()
            child.wait()
            stop.forget(child)
            for pipe in (child.stdin, child.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()


@dataclass(frozen=True)
class DetectionInput:
    """A clip as detection reads it: its size, and the scale factor to detection frames."""

    width: int
    height: int
    factor: float  # detection pixels per clip pixel
    seconds_per_frame: float  # between the frames read


def detection_frames(path: str | os.PathLike[str], *, progress: Progress | None = None,
                     cancel: Cancel | None = None,
                     max_seconds: float | None = None) -> tuple[DetectionInput, Iterator[npt.NDArray[np.uint8]]]:
    """The grey frames detection reads from `path`: at most DETECT_RATE a second, the smaller side
    scaled to DETECT_SIDE. The iterator raises WatermarkError when the video cannot be decoded."""
    source = Path(path)
    info = probe(source, cancel=cancel)
    _check_size(source, info.width, info.height, DETECT_MIN_SIDE)
    factor = DETECT_SIDE / min(info.width, info.height)
    width, height = max(2, round(info.width * factor)), max(2, round(info.height * factor))
    step = max(1, math.ceil((info.rate or DETECT_RATE) / DETECT_RATE - 0.01))
    filters = f"scale={width}:{height}:flags=area"
    if step > 1:  # sample frames (decoding them all is unavoidable); \, is a comma inside the expression
        filters = f"select=not(mod(n\\,{step})),{filters}"
    shape = DetectionInput(info.width, info.height, factor, step / (info.rate or DETECT_RATE))
    cmd = _decoder(source, "gray", filters)
    if max_seconds is not None:
        cmd[cmd.index("-i"):cmd.index("-i")] = ["-t", f"{max_seconds:.3f}"]

    def frames() -> Iterator[npt.NDArray[np.uint8]]:
        count = 0
        with children.popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=1 << 20) as decoder:
            if cancel is not None:
                cancel.adopt(decoder)
            errors = Worker("wm-detect-stderr", lambda: decoder.stderr.read() if decoder.stderr else b"")
            errors.start()
            try:
                assert decoder.stdout is not None
                y4m = _read_header(decoder.stdout)
                if y4m is not None:
                    for raw in _frames(decoder.stdout, y4m):
                        yield np.frombuffer(raw, dtype=np.uint8).reshape(y4m.height, y4m.width)
                        count += 1
                        if progress is not None:
                            progress(count * shape.seconds_per_frame, info.seconds)
                decoder.wait()
            finally:
                if decoder.poll() is None:
                    decoder.kill()
                if cancel is not None:
                    cancel.forget(decoder)
        if decoder.returncode != 0 and count == 0:
            raise WatermarkError(f"{source}: cannot decode its video: {_failure(errors.result(), 'ffmpeg failed')}")

    return shape, frames()


def detect(path: str | os.PathLike[str], *, progress: Progress | None = None, cancel: Cancel | None = None,
           max_seconds: float | None = None) -> Detection:
    """Look for a mark in the video of `path`; a Detection whether or not one is found.

    Reads at most DETECT_RATE frames a second, scaled to DETECT_SIDE pixels on the smaller side,
    and at most `max_seconds` of video from the start when given. Raises WatermarkError when the
    file has no decodable video stream or too few frames.
    """
    shape, frames = detection_frames(path, progress=progress, cancel=cancel, max_seconds=max_seconds)
    accumulator = detector.Accumulator()
    for frame in frames:
        accumulator.add(frame)
    return detection(accumulator.read(), shape, accumulator.frames, path)


def detection(reading: detector.Reading, shape: DetectionInput, frames: int,
              path: str | os.PathLike[str] = "the clip") -> Detection:
    """The Detection for a reading of `frames` frames of a clip read as `shape`."""
    if frames < MIN_FRAMES:
        raise WatermarkError(f"{path}: has too few frames to look for a watermark "
                             f"(at least {MIN_FRAMES} are needed)", remedy="Give a video clip, not a still image.")
    h = reading.hypothesis
    return Detection(
        payload=Payload(reading.identifier) if reading.identifier is not None else None,
        score=h.score if h is not None else 0.0,
        bit_agreement=reading.bit_agreement,
        frames=frames,
        width=shape.width,
        height=shape.height,
        tile_pixels=(h.period_x / shape.factor, h.period_y / shape.factor) if h is not None else None,
    )
