"""The key pattern: a tile of ±1 chips, its layout on a frame, and adding it to luma, perceptually masked.

The tile is TILE_CHIPS × TILE_CHIPS chips. PILOT_CHIPS of them (a fixed pseudo-random choice) carry
the key's sign alone: the detector finds the tile's scale and offset by correlating with them. The
others carry the coded payload bits, each bit on one or two chips scattered over the tile,
multiplied by the key's sign there. Everything is derived from SHA-256 in counter mode, so the
pattern never depends on a random generator's version.

On a frame the chips are `chip_size` pixels apart (1/48 of the frame's smaller side, at least 5
pixels): the tile spans half the smaller side and repeats over the whole frame, identically in every
frame. Between chip centres the pattern is interpolated with raised-cosine weights, so it is smooth
(low-frequency luma, which codecs keep) and its chips sum to a partition of unity.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from provenance.watermark.coding import CODED_BITS

TILE_CHIPS = 24
CHIPS = TILE_CHIPS * TILE_CHIPS
PILOT_CHIPS = 96
DATA_CHIPS = CHIPS - PILOT_CHIPS
CHIPS_PER_SMALLER_SIDE = 48
MIN_CHIP_PIXELS = 5.0
# Masking: the mark's amplitude (8-bit luma levels, at a chip centre) falls with the local activity
# (the standard deviation of luma in 8×8 blocks), from FLAT_AMPLITUDE in flat areas to BUSY_AMPLITUDE
# in textured ones. Flat areas are where the mark is read: the detector weighs them most (the picture
# there is quiet), and encoders quantise them finely (x264's adaptive quantisation), while texture soaks
# up an encoder's bits and drops a faint pattern. Measured on real footage at CRF 35, this order halved
# the coded-bit errors of the reverse one and raised PSNR, as the encoder's decisions in texture change less.
FLAT_AMPLITUDE = 3.2
BUSY_AMPLITUDE = 0.6
ACTIVITY_FOR_BUSY = 8.0
# Each frame's mark is then scaled down to fit two budgets. PSNR: an RMS of at most MAX_RMS levels
# (about 45 dB for the mark alone, so that with the re-encode's own differences the clip stays above
# 42 dB). SSIM: an estimated loss of at most MAX_SSIM_LOSS, where a block of activity σ loses about
# mark² / (2σ² + C2) (SSIM's contrast-structure term for a small added signal, C2 = (0.03 · 255)²).
# Flat frames reach the SSIM budget first: a smooth gradient shows a mark a textured scene hides.
MAX_RMS = 1.35
MAX_SSIM_LOSS = 0.022
_SSIM_C2 = (0.03 * 255) ** 2
_BLOCK = 8

Float = npt.NDArray[np.float32]
Signs = npt.NDArray[np.int8]


def _stream(label: bytes, count: int) -> bytes:
    """`count` pseudo-random bytes: SHA-256 of the label and a counter."""
    out = bytearray()
    counter = 0
    while len(out) < count:
        out += hashlib.sha256(b"org.provenance.wm.v1 " + label + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:count])


@lru_cache(maxsize=1)
def key() -> tuple[Signs, npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """(signs, is_pilot, coded_bit): per chip (row-major), its key sign, whether it is a pilot chip,
    and for a data chip the coded bit it carries (-1 for pilot chips)."""
    bits = np.unpackbits(np.frombuffer(_stream(b"signs", CHIPS // 8), dtype=np.uint8))
    signs = (1 - 2 * bits.astype(np.int8)).astype(np.int8)
    order = np.argsort(np.frombuffer(_stream(b"order", 8 * CHIPS), dtype=">u8"), kind="stable")
    is_pilot = np.zeros(CHIPS, dtype=bool)
    is_pilot[order[:PILOT_CHIPS]] = True
    coded_bit = np.full(CHIPS, -1, dtype=np.int64)
    coded_bit[order[PILOT_CHIPS:]] = np.arange(DATA_CHIPS) % CODED_BITS
    return signs, is_pilot, coded_bit


def tile(coded: npt.NDArray[np.uint8]) -> Float:
    """The TILE_CHIPS² chip values (±1) for the coded bits (0/1)."""
    signs, is_pilot, coded_bit = key()
    data = 1 - 2 * coded[np.where(is_pilot, 0, coded_bit)].astype(np.int8)
    values = np.where(is_pilot, signs, signs * data).astype(np.float32)
    return values.reshape(TILE_CHIPS, TILE_CHIPS)


def pilot_tile() -> Float:
    """The pilot chips' signs, zero at data chips."""
    signs, is_pilot, _ = key()
    return np.where(is_pilot, signs, 0).astype(np.float32).reshape(TILE_CHIPS, TILE_CHIPS)


def chip_size(height: int, width: int) -> float:
    """Pixels between chip centres on a frame of this size."""
    return max(MIN_CHIP_PIXELS, min(height, width) / CHIPS_PER_SMALLER_SIDE)


def weights(length: int, chip: float, origin: float = 0.0) -> Float:
    """Raised-cosine interpolation weights [length, TILE_CHIPS]: how much of each chip (periodically)
    falls on each of `length` positions, chip centres `chip` apart starting at `origin`."""
    position = (np.arange(length, dtype=np.float64) - origin) / chip
    distance = (position[:, None] - np.arange(TILE_CHIPS)[None, :]) % TILE_CHIPS
    distance = np.minimum(distance, TILE_CHIPS - distance)
    w = np.where(distance < 1.0, np.cos(np.pi * distance / 2) ** 2, 0.0)
    return w.astype(np.float32)


def field(values: Float, height: int, width: int) -> Float:
    """The tile's chip values spread over a frame: a smooth periodic pattern, peak 1."""
    chip = chip_size(height, width)
    spread: Float = (weights(height, chip) @ values @ weights(width, chip).T).astype(np.float32)
    return spread


class Marker:
    """Adds the pattern of one payload to the luma planes of frames of one size.

    The amplitude is set per 8×8 block (from the activity of a 2×-subsampled frame, which is plenty
    for a gain that varies by a quarter), so marking a frame costs a few passes over its pixels.
    """

    def __init__(self, coded: npt.NDArray[np.uint8], height: int, width: int) -> None:
        self.height, self.width = height, width
        self._rows, self._cols = -(-height // _BLOCK), -(-width // _BLOCK)
        full = field(tile(coded), self._rows * _BLOCK, self._cols * _BLOCK)
        self.pattern = full[:height, :width]
        self._blocks = full.reshape(self._rows, _BLOCK, self._cols, _BLOCK)
        self._energy = (self._blocks * self._blocks).mean(axis=(1, 3))  # mean square per block
        # Gains are measured on whole blocks; partial blocks at the right and bottom take their neighbour's.
        whole_rows, whole_cols = (-(-height // 2)) // (_BLOCK // 2), (-(-width // 2)) // (_BLOCK // 2)
        self._row_of = np.minimum(np.arange(self._rows), whole_rows - 1)
        self._col_of = np.minimum(np.arange(self._cols), whole_cols - 1)
        self._last: tuple[bytes, npt.NDArray[np.uint8]] | None = None

    def gain(self, luma: npt.NDArray[np.uint8]) -> tuple[Float, Float]:
        """The mark's amplitude per 8×8 block (larger where the picture is flat), and each block's
        SSIM loss per unit of mark energy."""
        half = _BLOCK // 2
        sub = luma[::2, ::2]
        rows, cols = sub.shape[0] // half, sub.shape[1] // half
        values = sub[: rows * half, : cols * half].astype(np.float32)
        count = half * half
        mean = _block_sums(values, rows, cols, half) / count
        np.multiply(values, values, out=values)
        activity = np.sqrt(np.maximum(_block_sums(values, rows, cols, half) / count - mean * mean, 0))
        # A block's neighbours count too: an edge next to a flat area does not hide a mark on the flat side.
        padded = np.empty((rows + 2, cols + 2), dtype=np.float32)  # edge-padded by hand: np.pad costs more
        padded[1:-1, 1:-1] = activity
        padded[0, 1:-1], padded[-1, 1:-1] = activity[0], activity[-1]
        padded[:, 0], padded[:, -1] = padded[:, 1], padded[:, -2]
        activity = np.minimum(activity, (padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2]
                                         + padded[1:-1, 2:] + 4 * activity) / 8)
        activity = activity[self._row_of][:, self._col_of]
        gain: Float = FLAT_AMPLITUDE + (BUSY_AMPLITUDE - FLAT_AMPLITUDE) * np.minimum(activity / ACTIVITY_FOR_BUSY, 1)
        ssim_weight: Float = 1 / (2 * activity * activity + _SSIM_C2)
        return gain, ssim_weight

    def mark(self, luma: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """The frame's luma with the pattern added."""
        # A frame the same as the last (a still scene, decoded from skipped blocks) is marked the same.
        raw = luma.tobytes()
        if self._last is not None and self._last[0] == raw:
            return self._last[1]
        marked = self._mark(luma)
        self._last = (raw, marked)
        return marked

    def _mark(self, luma: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        gain, ssim_weight = self.gain(luma)
        energy = gain * gain * self._energy
        scale = min(1.0, MAX_RMS / max(float(np.sqrt(np.mean(energy))), 1e-9),
                    np.sqrt(MAX_SSIM_LOSS / max(float(np.mean(energy * ssim_weight)), 1e-12)))
        gain *= scale
        signal = (self._blocks * gain[:, None, :, None]).reshape(self._rows * _BLOCK, self._cols * _BLOCK)
        marked = signal[: self.height, : self.width]
        marked += luma
        marked += 0.5  # rounds to nearest as the truncating cast below floors: one pass fewer than rint
        np.clip(marked, 0, 255, out=marked)
        return marked.astype(np.uint8)


def _block_sums(values: Float, rows: int, cols: int, side: int) -> Float:
    """Sums over side × side blocks: rows first, then columns (a 4-axis reduction is several times slower)."""
    by_rows: Float = values.reshape(rows, side, cols * side).sum(axis=1)
    sums: Float = by_rows.reshape(rows, cols, side).sum(axis=2)
    return sums
