"""Soft binding: ISO 24138 ISCC Video-Codes of a clip, as a C2PA `c2pa.soft-binding` assertion.

A soft binding survives what breaks the hard binding (a re-encode, a remux, a stripped manifest),
so the manifest can be found again in a manifest repository. The algorithm is `io.iscc.v0`, entry 3
of the C2PA soft-binding algorithm list; its value format is IEP-0020's ISCC-SEQ: 256-bit ISCC-UNITs
concatenated.

The first block covers the whole clip (empty scope): its Video-Code and the Instance-Code of the
exact file that was signed, so any ISCC tool reads it as before. The Video-Code is computed the way
iscc-sdk computes it: ffmpeg's MPEG-7 `signature` filter on frames sampled at 5 fps, then iscc-core's
`gen_video_code_v0`. ffmpeg writes the signatures as XML (the format iscc-core documents), read with
the standard library, so no hand-written bit parser is needed.

One Video-Code of a whole clip moves too far when a fifth of a clip whose look keeps changing is cut
away. So further blocks, each scoped to a `timespan` (milliseconds from the start, as the C2PA
soft-binding scope defines it), hold the Video-Codes of 2-second segments (10 sampled frames)
starting every second, computed from the same frame signatures (no second decode).

A copy was cut anywhere: neither on the one-second grid of the segments nor on the 200 ms grid of
the sampled frames. So a lookup computes its own 2-second windows, from frame signatures of the copy
sampled at 25 fps in the same ffmpeg pass: 10 frames 200 ms apart, as in a segment, starting every
40 ms in runs that span one second (`query_positions`). Whatever the cut, some window of each run
samples the frames of a signed segment to within 20 ms.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from provenance._internal import children
from provenance._internal.children import Cancel
from provenance.errors import SoftBindingError

ALG = "io.iscc.v0"
LABEL = "c2pa.soft-binding"
UNIT_BITS = 256  # IEP-0020: every ISCC-UNIT of an io.iscc.v0 value has a 256-bit body
UNIT_BYTES = UNIT_BITS // 8
FRAMES_PER_SECOND = 5  # iscc-sdk's default sampling rate for the Video-Code
FRAME_MS = 1000 // FRAMES_PER_SECOND
SEGMENT_FRAMES = 2 * FRAMES_PER_SECOND  # segments are 2 s long...
SEGMENT_STRIDE = FRAMES_PER_SECOND  # ...and start every second
MAX_SEGMENTS = 32  # longer clips get their segments spread out evenly (the manifest stays small)
QUERY_RATE = 25  # a lookup's windows are cut from frames sampled at this rate...
QUERY_STEP = QUERY_RATE // FRAMES_PER_SECOND  # ...taking every 5th, 200 ms apart as in a segment
QUERY_RUN = QUERY_RATE  # consecutive window starts (40 ms apart) in a run: one second of offsets
QUERY_SEGMENTS = 2 * QUERY_RUN  # windows a lookup computes at most
QUERY_FRAME_MS = 1000 // QUERY_RATE
WINDOW_SPAN = (SEGMENT_FRAMES - 1) * QUERY_STEP + 1  # frames at QUERY_RATE from a window's first to its last
# Two soft bindings match when some Video-Code of one (whole clip or segment) is at most this many
# bits (of 256) from some Video-Code of the other. Chosen with bench/durability.py (table in
# docs/durability.md): every remuxed or re-encoded copy, 98 % of halved ones and 96 % of copies with their first
# fifth cut match, while no two distinct clips came closer than 32 bits, whatever pair of codes was
# compared (unrelated videos differ in ~128). It is also the farthest the repository's band index
# finds exactly for a query's whole-clip code (repository.base.INDEX_REACH).
MATCH_THRESHOLD = 27

_MPEG7_FRAME = "{urn:mpeg:mpeg7:schema:2001}FrameSignature"
_FRAME_SIGNATURE_LENGTH = 380
# ISO 24138 header fields (MainType / SubType) of the units we read.
_MAINTYPE_CONTENT = 2
_SUBTYPE_VIDEO = 3
_MAINTYPE_INSTANCE = 4


def hamming(a: bytes, b: bytes) -> int:
    """Number of differing bits between two equally long codes."""
    if len(a) != len(b):
        raise ValueError("codes of different length cannot be compared")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def similarity_score(distance: int) -> int:
    """0..100 as the Soft Binding Resolution API wants it: 100 identical, 0 as far apart as chance."""
    return max(0, min(100, round(100 * (1 - distance / (UNIT_BITS / 2)))))


def video_body(unit: str) -> bytes | None:
    """The 32-byte body of a 256-bit version-0 Video-Code unit, None for any other unit."""
    return _body(unit, _MAINTYPE_CONTENT, _SUBTYPE_VIDEO)


@functools.lru_cache(maxsize=4096)  # a lookup asks for the same units' bodies several times
def _body(unit: str, maintype: int, subtype: int | None) -> bytes | None:
    import iscc_core as ic

    try:
        mtype, stype, version, length, body = ic.iscc_decode(unit)
    except (TypeError, ValueError):  # a unit from a query or a manifest is anybody's text
        return None
    # IEP-0020: units shorter than 256 bits or of another version are ignored for matching.
    if mtype == maintype and (subtype is None or stype == subtype) and version == 0 and length == 7:
        return bytes(body)
    return None


@dataclass(frozen=True)
class Segment:
    """The Video-Code of part of a clip: the frames sampled from `start_ms` up to `end_ms`."""

    start_ms: int
    end_ms: int
    unit: str  # a 256-bit ISCC Video-Code, `ISCC:EMD...`

    def scope(self) -> dict[str, Any]:
        """The block scope of the C2PA soft-binding assertion (timespan in ms from the start)."""
        return {"timespan": {"start": self.start_ms, "end": self.end_ms}}


@dataclass(frozen=True)
class SoftBinding:
    """An io.iscc.v0 soft binding: ISCC-UNITs of the whole clip, and Video-Codes of its segments.

    `units` is the whole-clip block (or, decoded from a query, every unit the query holds);
    `segments` are the timespan blocks of a signed clip, or the windows a lookup computed.
    """

    units: tuple[str, ...]
    segments: tuple[Segment, ...] = ()

    @classmethod
    def from_value(cls, value: bytes) -> SoftBinding:
        """Decode an ISCC-SEQ (a block value or an API query); ValueError if malformed."""
        return cls(_decode_seq(value))

    @property
    def value(self) -> bytes:
        """The whole-clip ISCC-SEQ: the first block's value, and what exact lookups compare."""
        import iscc_core as ic

        encoded: bytes = ic.encode_seq(list(self.units))
        return encoded

    @property
    def query_value(self) -> bytes:
        """Every unit in one ISCC-SEQ, as a lookup sends it (IEP-0020 allows several Video-Codes)."""
        import iscc_core as ic

        encoded: bytes = ic.encode_seq([*self.units, *(s.unit for s in self.segments)])
        return encoded

    def _first(self, maintype: int, subtype: int | None) -> bytes | None:
        return next((b for u in self.units if (b := _body(u, maintype, subtype)) is not None), None)

    @property
    def video_code(self) -> bytes | None:
        """The 32-byte body of the whole clip's 256-bit Video-Code (the first one), when there is one."""
        return self._first(_MAINTYPE_CONTENT, _SUBTYPE_VIDEO)

    @property
    def video_codes(self) -> tuple[bytes, ...]:
        """Every distinct 256-bit Video-Code body, whole clip first, then the segments in order."""
        units = [*self.units, *(s.unit for s in self.segments)]
        bodies = (video_body(u) for u in units)
        return tuple(dict.fromkeys(b for b in bodies if b is not None))

    @property
    def instance_code(self) -> bytes | None:
        """The 32-byte body of the Instance-Code (a cryptographic hash of the signed source)."""
        return self._first(_MAINTYPE_INSTANCE, None)

    @property
    def iscc(self) -> str:
        """The value for display: `ISCC:` and the base32 of the ISCC-SEQ (IEP-0020)."""
        import iscc_core as ic

        return "ISCC:" + str(ic.encode_base32(self.value))

    def distance(self, other: SoftBinding) -> int | None:
        """Bits between the closest pair of Video-Codes (whole clip or segment, one from each side);
        0 when the Instance-Codes are equal; None if there is nothing to compare."""
        mine, theirs = self.instance_code, other.instance_code
        if mine is not None and mine == theirs:
            return 0
        ours, others = self.video_codes, other.video_codes
        if not ours or not others:
            return None
        return min(hamming(a, b) for a in ours for b in others)

    def matches(self, other: SoftBinding, threshold: int = MATCH_THRESHOLD) -> bool:
        """Whether `other` is within `threshold` bits of this soft binding (see `distance`)."""
        distance = self.distance(other)
        return distance is not None and distance <= threshold

    def assertion(self) -> dict[str, Any]:
        """The `c2pa.soft-binding` assertion for a manifest definition.

        The whole clip comes first (empty scope), then one block per segment (timespan scope).
        The spec makes a block value a CBOR byte string; c2pa's Builder takes the definition as JSON,
        which has none, so values are lists of byte values (as iscc-sdk writes them), stored as CBOR
        arrays. c2pa-rs reads both forms (serde_bytes) and reports either as base64; so does `from_manifest`.
        """
        import iscc_core as ic

        blocks: list[dict[str, Any]] = [{"scope": {}, "value": list(self.value)}]
        blocks += [{"scope": s.scope(), "value": list(ic.encode_seq([s.unit]))} for s in self.segments]
        return {
            "label": LABEL,
            "created": True,  # computed by the claim generator from the content: a created assertion
            "data": {
                "alg": ALG,
                "blocks": blocks,
                "name": "ISO 24138 ISCC Video-Code of the content and Instance-Code of the signed source; "
                        "Video-Codes of its 2-second segments",
            },
        }

    @classmethod
    def largest(cls) -> SoftBinding:
        """A stand-in as large as any real clip's binding gets (every body byte 0xFF, the most
        segments, timespans up to 2^32 ms), for sizing a manifest before the real value exists."""
        import iscc_core as ic

        body = b"\xff" * UNIT_BYTES
        video = "ISCC:" + ic.encode_component(ic.MT.CONTENT, ic.ST_CC.VIDEO, ic.VS.V0, UNIT_BITS, body)
        instance = "ISCC:" + ic.encode_component(ic.MT.INSTANCE, ic.ST.NONE, ic.VS.V0, UNIT_BITS, body)
        longest = MAX_TIMESPAN_MS
        return cls((video, instance), tuple(Segment(longest, longest, video) for _ in range(MAX_SEGMENTS)))


# The two header bytes of a 256-bit version-0 unit whose MainType and SubType are one nibble each.
_WIRE_UNIT = 2 + UNIT_BYTES
_VIDEO_HEADER = bytes([_MAINTYPE_CONTENT << 4 | _SUBTYPE_VIDEO, 0x07])
_INSTANCE_HEADER = bytes([_MAINTYPE_INSTANCE << 4, 0x07])


def query_codes(value: bytes) -> tuple[tuple[bytes, ...], bytes | None]:
    """(SoftBinding.from_value(value).video_codes, its .instance_code); ValueError if malformed.

    A value made only of 256-bit version-0 Video-Code and Instance-Code units (what every lookup
    sends) is split in place: decoding it to base32 unit strings and back cost a lookup of 51 codes
    about 14 ms of client CPU, as much as the database's work. Anything else takes the strict path.
    """
    data = bytes(value)
    headers = [data[at : at + 2] for at in range(0, len(data), _WIRE_UNIT)]
    if data and len(data) % _WIRE_UNIT == 0 and all(h in (_VIDEO_HEADER, _INSTANCE_HEADER) for h in headers):
        bodies = [(h, data[at + 2 : at + _WIRE_UNIT]) for h, at in zip(headers, range(0, len(data), _WIRE_UNIT),
                                                                         strict=True)]
        videos = tuple(dict.fromkeys(body for h, body in bodies if h == _VIDEO_HEADER))
        return videos, next((body for h, body in bodies if h == _INSTANCE_HEADER), None)
    binding = SoftBinding.from_value(data)
    return binding.video_codes, binding.instance_code


def _decode_seq(value: bytes) -> tuple[str, ...]:
    import iscc_core as ic

    try:
        return tuple(ic.decode_seq(bytes(value)))
    except (TypeError, ValueError) as e:
        raise ValueError(f"not an ISCC-SEQ: {e}") from e


def stored_positions(frames: int) -> list[int]:
    """First sampled frame of each segment recorded at signing.

    One every SEGMENT_STRIDE frames, plus one ending with the clip, so the tail is covered too; a
    clip with more than MAX_SEGMENTS of them gets MAX_SEGMENTS spread evenly instead. A clip no
    longer than one segment has none (its whole-clip code is that segment).
    """
    last = frames - SEGMENT_FRAMES
    if last <= 0:
        return []
    starts = list(range(0, last + 1, SEGMENT_STRIDE))
    if starts[-1] != last:
        starts.append(last)
    if len(starts) > MAX_SEGMENTS:
        starts = [round(i * last / (MAX_SEGMENTS - 1)) for i in range(MAX_SEGMENTS)]
    return starts


def query_positions(frames: int) -> list[int]:
    """First frame (of `frames` sampled at QUERY_RATE) of each window a lookup computes.

    A window at every frame, up to QUERY_SEGMENTS of them; a longer copy gets runs of QUERY_RUN
    consecutive windows at its start and its end. A run covers every 40 ms offset of the signed
    clip's one-second segment grid, so wherever a copy was cut, one window of each run samples the
    frames of a segment to within 20 ms.
    """
    last = frames - WINDOW_SPAN
    if last < 0:
        return []
    if last + 1 <= QUERY_SEGMENTS:
        return list(range(last + 1))
    runs = QUERY_SEGMENTS // QUERY_RUN
    span = last + 1 - QUERY_RUN
    return sorted({round(i * span / (runs - 1)) + j for i in range(runs) for j in range(QUERY_RUN)})


def frame_signatures(path: str | os.PathLike[str], *, threads: int | None = None,
                     cancel: Cancel | None = None) -> list[tuple[int, ...]]:
    """MPEG-7 frame signatures of a video, sampled as iscc-sdk samples them."""
    return _signature_streams(path, (FRAMES_PER_SECOND,), threads=threads, cancel=cancel)[0]


def _signature_streams(path: str | os.PathLike[str], rates: tuple[int, ...], *, threads: int | None = None,
                       cancel: Cancel | None = None) -> list[list[tuple[int, ...]]]:
    """MPEG-7 frame signatures of a video sampled at each of `rates` (frames per second), one decode.

    ffmpeg writes each stream's signatures into a file this process holds open and passes to it as
    /dev/fd/N; on Linux the file has no name (O_TMPFILE), so nothing is left in $TMPDIR even if this
    process is killed. Without descriptor passing (Windows) ffmpeg writes into a temporary folder.
    """
    import xml.etree.ElementTree as ElementTree

    from imageio_ffmpeg import get_ffmpeg_exe

    source = Path(path).resolve()
    with contextlib.ExitStack() as stack:
        work: Path | None = None
        files: list[IO[bytes]] = []
        if os.name == "posix":
            files = [stack.enter_context(tempfile.TemporaryFile()) for _ in rates]
            names = [f"/dev/fd/{f.fileno()}" for f in files]
            where: dict[str, Any] = {"pass_fds": tuple(f.fileno() for f in files)}
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="provenance-iscc-")))
            names = [f"s{i}.xml" for i in range(len(rates))]
            where = {"cwd": work}
        # The names need no filter escaping; "file:" keeps ffmpeg from reading a name as a protocol or an option.
        cmd = [get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
        if threads is not None:
            cmd += ["-threads", str(threads)]
        cmd += ["-i", f"file:{source}"]
        if len(rates) == 1:  # exactly as iscc-sdk runs it
            cmd += ["-an", "-sn", "-dn", "-vf", f"fps=fps={rates[0]},signature=format=xml:filename={names[0]}",
                    "-f", "null", "-"]
        else:
            branches = "".join(f"[in{i}]" for i in range(len(rates)))
            graph = f"[0:v:0]split={len(rates)}{branches};" + ";".join(
                f"[in{i}]fps=fps={rate},signature=format=xml:filename={names[i]}[out{i}]"
                for i, rate in enumerate(rates))
            cmd += ["-filter_complex", graph]
            for i in range(len(rates)):
                cmd += ["-map", f"[out{i}]", "-f", "null", "-"]
        try:
            proc = children.run(cmd, capture_output=True, text=True, errors="replace", cancel=cancel, **where)
        except OSError as e:
            raise SoftBindingError(f"cannot run ffmpeg: {e.strerror or e}") from e
        if work is not None:
            files = [stack.enter_context(open(work / n, "rb")) for n in names if (work / n).is_file()]
        written = len(files) == len(rates) and all(os.fstat(f.fileno()).st_size > 0 for f in files)
        if proc.returncode != 0 or not written:
            reason = (proc.stderr.strip().splitlines() or ["no video stream"])[-1]
            raise SoftBindingError(f"{path}: cannot compute the ISCC Video-Code: {reason}")
        try:
            streams = []
            for f in files:
                f.seek(0)
                streams.append([_frame(element.text) for _, element in ElementTree.iterparse(f)
                                if element.tag == _MPEG7_FRAME])
        except (ElementTree.ParseError, ValueError) as e:
            raise SoftBindingError(f"{path}: ffmpeg wrote an unreadable video signature: {e}") from e
    if not all(streams):
        raise SoftBindingError(f"{path}: has no video frames to fingerprint")
    return streams


def _frame(text: str | None) -> tuple[int, ...]:
    values = tuple(int(v) for v in (text or "").split())
    if len(values) != _FRAME_SIGNATURE_LENGTH:
        raise ValueError(f"frame signature has {len(values)} values, not {_FRAME_SIGNATURE_LENGTH}")
    return values


def video_unit(frames: list[tuple[int, ...]]) -> str:
    """The 256-bit ISCC Video-Code (`ISCC:EMD...`) of a run of frame signatures."""
    import iscc_core as ic

    code: str = ic.gen_video_code_v0(frames, bits=UNIT_BITS)["iscc"]
    return code


def video_code(path: str | os.PathLike[str], *, threads: int | None = None) -> str:
    """The 256-bit ISCC Video-Code of a whole clip, e.g. `ISCC:EMD...`."""
    return video_unit(frame_signatures(path, threads=threads))


def segments(frames: list[tuple[int, ...]], starts: list[int]) -> tuple[Segment, ...]:
    """The Video-Codes of the SEGMENT_FRAMES-long windows starting at `starts` (sampled frame numbers)."""
    return tuple(Segment(start * FRAME_MS, (start + SEGMENT_FRAMES) * FRAME_MS,
                         video_unit(frames[start : start + SEGMENT_FRAMES])) for start in starts)


def instance_code(path: str | os.PathLike[str]) -> str:
    """The 256-bit ISCC Instance-Code of a file's exact bytes."""
    import iscc_core as ic

    try:
        with open(path, "rb") as stream:
            code: str = ic.gen_instance_code_v0(stream, bits=UNIT_BITS)["iscc"]
    except OSError as e:
        raise SoftBindingError(f"{path}: cannot be read ({e.strerror or e})") from e
    return code


def compute(path: str | os.PathLike[str], *, with_instance: bool = True, threads: int | None = None,
            cancel: Cancel | None = None) -> SoftBinding:
    """The soft binding recorded at signing: the whole clip's Video-Code, (IEP-0020 recommends it)
    its Instance-Code, and the Video-Codes of its segments; one decode. `cancel` stops the decode."""
    frames = frame_signatures(path, threads=threads, cancel=cancel)
    units = [video_unit(frames)]
    if with_instance:
        units.append(instance_code(path))
    return SoftBinding(tuple(units), segments(frames, stored_positions(len(frames))))


class Query:
    """What a lookup knows about a copy: the soft binding it sends, and its frame signatures at
    QUERY_RATE, so the Video-Code of a window starting at any of its frames can be computed later
    (to check a candidate's segments in place: `durability.alignment`). Window codes are kept once computed."""

    def __init__(self, binding: SoftBinding, frames: list[tuple[int, ...]], windows: dict[int, bytes]) -> None:
        self.binding = binding
        # Each signature's 380 values (0..2) as bytes: a tenth of the memory of a tuple of ints.
        self.frames = [bytes(f) for f in frames]
        self._windows = dict(windows)
        self.computed = 0  # window codes computed after the lookup's own (the alignment's cost)

    @property
    def duration_ms(self) -> int:
        """How long the copy is, as sampled."""
        return len(self.frames) * QUERY_FRAME_MS

    @property
    def last_start(self) -> int:
        """The last frame a window can start at; negative when the copy is shorter than one window."""
        return len(self.frames) - WINDOW_SPAN

    @property
    def sent(self) -> dict[int, bytes]:
        """The windows the lookup sent, by first frame: their Video-Code bodies (a copy of them)."""
        return dict(self._windows)

    def window(self, start: int) -> bytes:
        """The 256-bit Video-Code body of the window whose first frame is `start` (0..last_start)."""
        if not 0 <= start <= self.last_start:
            raise ValueError(f"no window starts at frame {start}")
        body = self._windows.get(start)
        if body is None:
            body = _window_body(self.frames, start)
            self._windows[start] = body
            self.computed += 1
        return body


def _window_unit(frames: list[tuple[int, ...]] | list[bytes], start: int) -> str:
    return video_unit([tuple(f) for f in frames[start : start + WINDOW_SPAN : QUERY_STEP]])


def _window_body(frames: list[bytes], start: int) -> bytes:
    body = video_body(_window_unit(frames, start))
    assert body is not None  # video_unit makes 256-bit version-0 Video-Codes
    return body


def lookup_query(path: str | os.PathLike[str], *, with_instance: bool = True,
                 threads: int | None = None, cancel: Cancel | None = None) -> Query:
    """A copy's lookup: the soft binding it sends (whole clip's Video-Code and Instance-Code, the
    Video-Codes of its windows at `query_positions`, repeated codes once) and its frames; one decode.
    `cancel` stops the decode from another thread."""
    frames, dense = _signature_streams(path, (FRAMES_PER_SECOND, QUERY_RATE), threads=threads, cancel=cancel)
    units = [video_unit(frames)]
    if with_instance:
        units.append(instance_code(path))
    distinct: dict[str, Segment] = {}
    windows: dict[int, bytes] = {}
    for start in query_positions(len(dense)):
        unit = _window_unit(dense, start)
        body = video_body(unit)
        assert body is not None
        windows[start] = body
        if unit not in units:  # a still picture gives one code many times
            start_ms = start * QUERY_FRAME_MS
            distinct.setdefault(unit, Segment(start_ms, start_ms + SEGMENT_FRAMES * FRAME_MS, unit))
    return Query(SoftBinding(tuple(units), tuple(distinct.values())), dense, windows)


def compute_query(path: str | os.PathLike[str], *, with_instance: bool = True,
                  threads: int | None = None) -> SoftBinding:
    """The soft binding a lookup sends (`lookup_query`), without the frames."""
    return lookup_query(path, with_instance=with_instance, threads=threads).binding


def _block_value(raw: Any) -> bytes | None:
    """A block value as c2pa's reader reports it (base64 text) or as stored (bytes, list of ints)."""
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    if isinstance(raw, str):
        try:
            return base64.b64decode(raw, validate=True)
        except ValueError:
            return None
    if isinstance(raw, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw):
        return bytes(raw)
    return None


def _soft_binding_assertions(manifest: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for assertion in manifest.get("assertions", []):
        label = str(assertion.get("label", ""))
        # c2pa numbers repeated assertions: c2pa.soft-binding__1, ...
        if label == LABEL or label.startswith(LABEL + "__"):
            data = assertion.get("data")
            if isinstance(data, Mapping):
                yield data


_NO_TIMESPAN = (-1, -1)
# Over 49 days of video; a larger value is not a clip's timespan and would overflow a repository's 64-bit integers.
MAX_TIMESPAN_MS = (1 << 32) - 1


def _timespan(scope: Any) -> tuple[int, int] | None:
    """(start, end) in ms of a block scope; _NO_TIMESPAN for the whole asset; None if malformed."""
    if not isinstance(scope, Mapping) or "timespan" not in scope:
        return _NO_TIMESPAN
    span = scope["timespan"]
    if not isinstance(span, Mapping):
        return None
    start, end = span.get("start"), span.get("end")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= MAX_TIMESPAN_MS:
        return start, end
    return None


def from_manifest(manifest: Mapping[str, Any]) -> SoftBinding | None:
    """The io.iscc.v0 soft binding recorded in a manifest (c2pa reader JSON), if any.

    The first whole-asset block gives `units`; blocks scoped to a timespan give the segments.
    Blocks that cannot be read are skipped.
    """
    for data in _soft_binding_assertions(manifest):
        if data.get("alg") != ALG:
            continue
        whole: tuple[str, ...] | None = None
        parts: list[Segment] = []
        blocks = data.get("blocks")
        for block in blocks if isinstance(blocks, list) else ():  # attacker-controlled: null, a map, a number
            if not isinstance(block, Mapping):
                continue
            value, span = _block_value(block.get("value")), _timespan(block.get("scope"))
            if value is None or span is None:
                continue
            try:
                units = _decode_seq(value)
            except ValueError:
                continue
            if span != _NO_TIMESPAN:
                parts.extend(Segment(span[0], span[1], u) for u in units if video_body(u) is not None)
            elif whole is None:
                whole = units
        if whole is not None or parts:
            return SoftBinding(whole or (), tuple(parts))
    return None
