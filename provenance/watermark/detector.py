"""Finding the pattern in decoded luma frames and reading its payload.

Frames are whitened (luma less its local mean, divided by a power of the local variance of what remains, so
edges and textures, loud noise to the mark, weigh less than flat areas) and summed: the mark, the same in every frame,
adds up; moving content averages out. The sum is then folded by the tile's period, for each
candidate scale: every pixel goes to the bin of its position within the tile, BINS_PER_CHIP bins per
chip. A circular cross-correlation (FFT) of the folded tile with the pilot chips gives, at once, the
score of every offset; a crop only moves the tile, so it only moves the peak. The scale is scanned
isotropically (a resized copy, the smaller side 288 pixels here whatever it was), then refined
separately along each axis. At the best hypotheses the data chips are read by the matched filter,
their soft values summed per coded bit and list-decoded; the payload counts only if its check value
matches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from provenance.watermark import coding, pattern

BINS_PER_CHIP = 4
BINS = BINS_PER_CHIP * pattern.TILE_CHIPS
# The tile spans half the smaller side of the marked frame; a crop to 53 % makes it 95 % of it.
SMALLEST_PERIOD = 0.40
LARGEST_PERIOD = 0.95
SCAN_STEP = 0.004  # relative step of the isotropic scale scan
REFINE_STEPS = (0.002, 0.001)  # then per axis, each a search of -2..+2 steps
# Decodes tried per clip (the best hypotheses); enters the false-positive bound. A false peak sometimes
# outscores the true one by a little: on 256 harshly coded copies, 4 recovered 2 more than 2 did.
DECODE_ATTEMPTS = 4
# No decode is tried below this pilot score (the peak's distance from the mean, in standard
# deviations of the correlation over all offsets): unmarked clips rarely get there.
MIN_SCORE = 4.0
# Box sizes (pixels at detection scale) of the local mean taken away and of the local variance (the noise
# there). Chips are 6 px apart at detection scale, more after a crop or on a frame under 240 px: 11 and 13
# (were 9 and 11) recovered 2 more of 32 copies after the 71 % crop and 3 more after the combined transform.
_WHITEN = 11
_SPREAD = 13

Float = npt.NDArray[np.float32]


def whiten(luma: npt.NDArray[np.generic]) -> Float:
    """A frame's luma less its local mean, weighted by the local variance v of that residual as v^-1.5.

    Signal amplitude over noise variance is the optimal weight where noise strength varies (busy
    picture areas are loud noise). The embedder's amplitude falls with activity too (it marks flat
    areas most), hence a steeper weight than 1/v; the +1 keeps flat areas finite.
    """
    y = luma.astype(np.float32)
    residual: Float = y - ndimage.uniform_filter(y, _WHITEN, mode="reflect")
    variance = np.maximum(ndimage.uniform_filter(residual * residual, _SPREAD, mode="reflect"), 0) + 1
    residual /= variance * np.sqrt(variance)
    np.clip(residual, -3, 3, out=residual)
    return residual


@dataclass(frozen=True)
class Hypothesis:
    """Where the tile is: its period along each axis (pixels), its offset (bins), and the pilot score."""

    period_y: float
    period_x: float
    offset_y: int
    offset_x: int
    score: float
    sign: int  # -1 when the picture was negated


@dataclass(frozen=True)
class Reading:
    """What the best hypotheses gave: the identifier if one decoded with a valid check value."""

    identifier: bytes | None
    hypothesis: Hypothesis | None
    bit_agreement: float  # share of coded bits whose soft value agrees with the decoded codeword
    attempts: int
    # What the best hypothesis decoded to, check value valid or not (for measuring bit accuracy
    # only: without a valid check value it means nothing).
    unverified: bytes | None = None


def _pilot_spectrum() -> npt.NDArray[np.complex128]:
    w = pattern.weights(BINS, BINS_PER_CHIP, origin=(BINS_PER_CHIP - 1) / 2)
    template = w @ pattern.pilot_tile() @ w.T
    return np.conj(np.fft.rfft2(template - template.mean()))


class Accumulator:
    """Sums whitened luma frames of one size, then looks for the tile in the sum."""

    def __init__(self) -> None:
        self.total: Float | None = None
        self.frames = 0

    def add(self, luma: npt.NDArray[np.generic]) -> None:
        """Add one frame's luma (2-D, any dtype); every frame must have the first one's size."""
        residual = whiten(luma)
        if self.total is None:
            self.total = residual
        elif residual.shape != self.total.shape:
            raise ValueError("frames of different sizes")
        else:
            self.total += residual
        self.frames += 1

    def read(self) -> Reading:
        """Search every scale and offset; decode at the best hypotheses."""
        if self.total is None:
            return Reading(None, None, 0.0, 0)
        return Search(self.total).read()


class Search:
    """The scale and offset search over one summed, whitened frame."""

    def __init__(self, total: Float) -> None:
        self.total = total - total.mean()
        self.height, self.width = total.shape
        self._flat = self.total.reshape(-1).astype(np.float64)
        self._pilot = _pilot_spectrum()
        self._chip_weights = pattern.weights(BINS, BINS_PER_CHIP, origin=(BINS_PER_CHIP - 1) / 2)

    def _bins(self, length: int, period: float) -> npt.NDArray[np.int64]:
        """The bin of each position within the tile (along one axis), counted from the centre."""
        position = ((np.arange(length) - length / 2) % period) * (BINS / period)
        return np.minimum(position.astype(np.int64), BINS - 1)

    def fold(self, period_y: float, period_x: float) -> Float:
        """The summed frame folded into one tile of BINS × BINS bins (mean per bin)."""
        rows, cols = self._bins(self.height, period_y), self._bins(self.width, period_x)
        index = (rows[:, None] * BINS + cols[None, :]).reshape(-1)
        sums = np.bincount(index, weights=self._flat, minlength=BINS * BINS).reshape(BINS, BINS)
        counts = np.outer(np.bincount(rows, minlength=BINS), np.bincount(cols, minlength=BINS))
        folded: Float = (sums / np.maximum(counts, 1)).astype(np.float32)
        return folded

    def correlate(self, period_y: float, period_x: float) -> Hypothesis:
        """The best offset at these periods, and its score."""
        folded = self.fold(period_y, period_x)
        scores = np.fft.irfft2(np.fft.rfft2(folded - folded.mean()) * self._pilot, s=folded.shape)
        spread = float(scores.std()) or 1.0
        peak = int(np.argmax(np.abs(scores)))
        dy, dx = divmod(peak, BINS)
        value = float(scores[dy, dx])
        return Hypothesis(period_y, period_x, dy, dx, abs(value - float(scores.mean())) / spread,
                          1 if value >= 0 else -1)

    def scan(self) -> list[Hypothesis]:
        """The isotropic scan: the best hypothesis at each scale, best first."""
        side = min(self.height, self.width)
        count = int(np.log(LARGEST_PERIOD / SMALLEST_PERIOD) / np.log1p(SCAN_STEP)) + 1
        periods = side * SMALLEST_PERIOD * (1 + SCAN_STEP) ** np.arange(count)
        found = [self.correlate(p, p) for p in periods]
        return sorted(found, key=lambda h: -h.score)

    def refine(self, start: Hypothesis) -> Hypothesis:
        """Each axis' period on its own, in ever finer steps around `start`."""
        best = start
        for step in REFINE_STEPS:
            for axis in ("y", "x"):
                for k in (-2, -1, 1, 2):
                    factor = 1 + k * step
                    trial = (self.correlate(best.period_y * factor, best.period_x) if axis == "y"
                             else self.correlate(best.period_y, best.period_x * factor))
                    if trial.score > best.score:
                        best = trial
        return best

    def soft_bits(self, h: Hypothesis) -> npt.NDArray[np.float64]:
        """Soft values of the coded bits (positive: 0) read at hypothesis `h`."""
        folded = np.roll(self.fold(h.period_y, h.period_x), (-h.offset_y, -h.offset_x), axis=(0, 1)) * h.sign
        chips = (self._chip_weights.T @ folded @ self._chip_weights).reshape(-1).astype(np.float64)
        signs, is_pilot, coded_bit = pattern.key()
        data = ~is_pilot
        soft = np.bincount(coded_bit[data], weights=chips[data] * signs[data], minlength=coding.CODED_BITS)
        return soft.astype(np.float64)

    def read(self) -> Reading:
        """Decode at the best DECODE_ATTEMPTS distinct scales whose score reaches MIN_SCORE."""
        candidates: list[Hypothesis] = []
        for h in self.scan():
            if h.score < MIN_SCORE or len(candidates) == DECODE_ATTEMPTS:
                break
            # Neighbouring scales of one peak are one hypothesis.
            if all(abs(np.log(h.period_x / c.period_x)) > 0.02 for c in candidates):
                candidates.append(h)
        best = Reading(None, None, 0.0, 0)
        for attempt, start in enumerate(candidates, 1):
            h = self.refine(start)
            soft = self.soft_bits(h)
            identifier, valid = coding.decode(soft)
            codeword = 1 - 2 * coding.encode(identifier).astype(np.float64)
            agreement = float(np.mean(np.sign(soft) == codeword))
            if valid:
                return Reading(identifier, h, agreement, attempt, identifier)
            if best.hypothesis is None or h.score > best.hypothesis.score:
                best = Reading(None, h, agreement, attempt, identifier)
        return Reading(None, best.hypothesis, best.bit_agreement, len(candidates), best.unverified)
