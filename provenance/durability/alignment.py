"""Is a file a copy of a signed clip, or only like it? The fingerprint's answer, in time.

A fingerprint match says "this looks like that". A copy (the same frames re-encoded, rescaled,
trimmed or re-timed) also shows it in time: placed at one offset, the copy's 2-second windows match
the segments the signed clip recorded (the soft binding's blocks scoped to a timespan) one after the
other, over most of the copy. Another part of the same shot, or the same scene filmed again, matches
scattered segments: out of order, at inconsistent offsets, or no nearer to the segment in its place
than to other parts of the signed clip.

Offsets are tried where windows the lookup sent matched the candidate's segments (those most pairs
agree on first), and 40 ms (one frame at the lookup's 25 fps) either side. The lookup's windows run
over a second at each end of the copy, so with segments a second apart some window is in line with a
segment; a clip over 33 s has its 32 segments further apart, and the best pair is then brought in line
by trying the windows within half a second of it. At an offset, each segment
lying wholly inside the copy is compared with the copy's window in the same place (computed from the
copy's frame signatures when the lookup did not send it). A segment is *in place* when that window is
within the match threshold and either near-identical (NEAR bits) or nearer to this segment than to any
other part of the signed clip (segments a second or more away) by MARGIN bits. The file is a copy when

- the segments compared cover at least half of it (MIN_COVERAGE),
- at least three quarters of them are in place (MIN_IN_PLACE), and
- a lone segment (a copy of about two seconds) is near-identical.

A signed clip too short for segments (two seconds or less) is one segment: its whole-clip code,
compared with the copy's. The thresholds come from bench/durability_real.py (docs/durability.md):
on real footage, look-alikes (a rotating globe 5–10 s later) come within 19–24 bits of a segment,
never nearer to it than to the rest of the clip by more than 5 bits over most of a copy; copies
brightened or halved and re-encoded stay in place at 13–24 bits with margins of 7 bits or more.
Cropping changes every frame's signature: a cropped copy matches nothing (docs/durability.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from provenance.durability.softbinding import (
    FRAME_MS,
    MATCH_THRESHOLD,
    QUERY_FRAME_MS,
    QUERY_RUN,
    WINDOW_SPAN,
    Query,
    SoftBinding,
    video_body,
)
from provenance.verdict import COPY, SIMILAR, Aligned

NEAR = 12  # bits: a window this near its segment shows the same pictures (look-alikes came no nearer than 19)
MARGIN = 6  # bits a window must be nearer to its segment than to any other part of the signed clip
OTHER_MS = 1000  # segments at least this far apart show other parts of the clip
MIN_COVERAGE = 0.5
MIN_IN_PLACE = 0.75
OFFSETS = 4  # offsets tried per candidate (each with its neighbours one frame away)
# The 5 fps sampling of a segment keeps the last frame of each 200 ms slot, the lookup's 25 fps one the
# last of each 40 ms slot: a segment's frames lie this much later than those of a window starting with it.
PHASE_MS = (FRAME_MS - QUERY_FRAME_MS) // 2


@dataclass(frozen=True)
class Alignment:
    """The best placement of a file on a signed clip's timeline found, and whether it shows a copy."""

    match: str  # COPY or SIMILAR
    where: Aligned  # the part of the signed clip the file is placed on, and the segments compared there


@dataclass(frozen=True)
class _Segment:
    position: int  # first frame at QUERY_RATE
    end_ms: int
    code: int


def _segments(signed: SoftBinding) -> list[_Segment]:
    found: dict[tuple[int, int], _Segment] = {}
    for s in signed.segments:
        body = video_body(s.unit)
        if body is not None:  # a manifest may repeat a block: each segment once
            segment = _Segment(round(s.start_ms / QUERY_FRAME_MS), s.end_ms, int.from_bytes(body, "big"))
            found.setdefault((segment.position, segment.code), segment)
    return sorted(found.values(), key=lambda s: s.position)


def _offsets(query: Query, segments: list[_Segment], threshold: int) -> list[int]:
    """Offsets (in frames at QUERY_RATE: signed clip = file + offset) where sent windows matched segments:
    those most window/segment pairs agree on first, then the nearest pairs. Pairs of the same two codes count
    once: a still stretch matches itself at every offset, a moving one only where the file lies."""
    votes: dict[int, dict[tuple[int, int], int]] = {}
    for start, body in query.sent.items():
        code = int.from_bytes(body, "big")
        for s in segments:
            distance = (code ^ s.code).bit_count()
            if distance <= threshold:
                votes.setdefault(s.position - start, {})[code, s.code] = distance
    return sorted(votes, key=lambda o: (-len(votes[o]), sum(votes[o].values()), o))[:OFFSETS]


def _sparse(segments: list[_Segment]) -> bool:
    """Whether segments lie further apart than a run of the lookup's windows spans (a clip over 33 s):
    then a run may hold no window in line with any segment, and every pair it matched is off by up to
    half the gap."""
    return any(b.position - a.position > QUERY_RUN for a, b in zip(segments, segments[1:], strict=False))


def _in_line(query: Query, segments: list[_Segment], around: int) -> int:
    """The offset within half a run of `around` where the file's windows are nearest to the segments they
    would lie on (three of them, spread over the file: one alone may repeat elsewhere in the clip)."""
    reach = QUERY_RUN // 2
    inside = [s for s in segments if 0 <= s.position - around <= query.last_start]
    spread = list(dict.fromkeys([inside[0], inside[len(inside) // 2], inside[-1]])) if inside else []

    def distances(offset: int) -> int:
        starts = [(s.position - offset, s.code) for s in spread]
        return sum((int.from_bytes(query.window(start), "big") ^ code).bit_count()
                   if 0 <= start <= query.last_start else MATCH_THRESHOLD + 1 for start, code in starts)

    return min(range(around - reach, around + reach + 1), key=lambda o: (distances(o), abs(o - around)))


def _coverage(starts: list[int], frames: int) -> float:
    covered, reach = 0, 0
    for start in sorted(starts):
        end = min(start + WINDOW_SPAN, frames)
        covered += max(0, end - max(start, reach))
        reach = max(reach, end)
    return covered / frames if frames else 0.0


def _at(query: Query, segments: list[_Segment], offset: int, threshold: int) -> tuple[Alignment, int]:
    """The file placed at `offset` on the signed clip: its windows compared with the segments there;
    with the sum of their distances (of two placements alike, the nearer is the better)."""
    starts: list[int] = []
    own: list[int] = []
    in_place = 0
    for s in segments:
        start = s.position - offset
        if not 0 <= start <= query.last_start:
            continue
        window = int.from_bytes(query.window(start), "big")
        distance = (window ^ s.code).bit_count()
        others = [(window ^ o.code).bit_count() for o in segments
                  if abs(o.position - s.position) * QUERY_FRAME_MS >= OTHER_MS]
        nearest_other = min(others, default=None)
        in_place += distance <= threshold and (
            distance <= NEAR or (nearest_other is not None and nearest_other - distance >= MARGIN))
        starts.append(start)
        own.append(distance)
    copy = (bool(own) and _coverage(starts, len(query.frames)) >= MIN_COVERAGE
            and in_place >= math.ceil(MIN_IN_PLACE * len(own)) and (len(own) > 1 or own[0] <= NEAR))
    begin = offset * QUERY_FRAME_MS + PHASE_MS
    end = min(begin + query.duration_ms, max(s.end_ms for s in segments))
    return Alignment(COPY if copy else SIMILAR, Aligned(max(0, begin), max(0, end), len(own), in_place)), sum(own)


def align(query: Query, signed: SoftBinding, threshold: int = MATCH_THRESHOLD) -> Alignment | None:
    """Where the file best sits on the signed clip's timeline, and whether that shows a copy; None when
    nothing can be compared (the file is shorter than one window, or nothing of it matched a segment)."""
    segments = _segments(signed)
    if not segments:
        return _whole_clip(query, signed)
    best: tuple[tuple[bool, int, int], Alignment] | None = None
    offsets = _offsets(query, segments, threshold)
    if offsets and _sparse(segments):  # the best pair may be off by up to half a gap: bring it in line too
        offsets.append(_in_line(query, segments, offsets[0]))
    for around in offsets:
        for offset in (around - 1, around, around + 1):
            found, distances = _at(query, segments, offset, threshold)
            rank = (found.match == COPY, found.where.in_place, -distances)
            if found.where.segments and (best is None or rank > best[0]):
                best = rank, found
    return None if best is None else best[1]


def _whole_clip(query: Query, signed: SoftBinding) -> Alignment | None:
    """A signed clip without segments is one: its whole-clip code, against the file's."""
    mine, theirs = query.binding.video_code, signed.video_code
    if mine is None or theirs is None:
        return None
    same = query.binding.instance_code is not None and query.binding.instance_code == signed.instance_code
    near = same or (int.from_bytes(mine, "big") ^ int.from_bytes(theirs, "big")).bit_count() <= NEAR
    return Alignment(COPY if near else SIMILAR, Aligned(0, query.duration_ms, 1, int(near)))
