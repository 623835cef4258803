"""The payload's channel code: CRC-32 check value, key-derived scrambling, a K=9 rate-1/3 convolutional code.

A payload is its 64-bit identifier followed by the CRC-32 of those 8 bytes: 96 bits. They are XORed
with a fixed pseudo-random sequence (so all-zero or all-one soft decisions never decode to a valid
payload), then convolutionally encoded at rate 1/3 with constraint length 9 (generators 557, 663 and 711
octal, the best known free distance, 18) and terminated with 8 zero tail bits: 312 coded bits. The detector soft-decodes
them with a Viterbi decoder (maximum-likelihood sequence for Gaussian soft values).
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np
import numpy.typing as npt

IDENTIFIER_BITS = 64
CHECK_BITS = 32
INFO_BITS = IDENTIFIER_BITS + CHECK_BITS
_K = 9  # constraint length
_GENERATORS = (0o557, 0o663, 0o711)
_TAIL = _K - 1
CODED_BITS = len(_GENERATORS) * (INFO_BITS + _TAIL)
_STATES = 1 << (_K - 1)

Bits = npt.NDArray[np.uint8]
Soft = npt.NDArray[np.float64]


def _scrambler() -> Bits:
    digest = hashlib.sha256(b"org.provenance.wm.v1 scrambler").digest()
    return np.unpackbits(np.frombuffer(digest, dtype=np.uint8))[:INFO_BITS]


_SCRAMBLE = _scrambler()


def check_value(identifier: bytes) -> bytes:
    """The CRC-32 (zlib's, big-endian) of the 8 identifier bytes."""
    return zlib.crc32(identifier).to_bytes(4, "big")


def _parity(x: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    x = x.copy()
    for shift in (16, 8, 4, 2, 1):
        x ^= x >> shift
    return (x & 1).astype(np.uint8)


def _trellis() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """next_state[state, bit] and outputs[state, bit, generator] of the encoder's shift register."""
    states = np.arange(_STATES, dtype=np.int64)
    next_state = np.empty((_STATES, 2), dtype=np.int64)
    outputs = np.empty((_STATES, 2, len(_GENERATORS)), dtype=np.uint8)
    for bit in (0, 1):
        register = (bit << (_K - 1)) | states  # newest bit in the top position
        next_state[:, bit] = register >> 1
        for g, generator in enumerate(_GENERATORS):
            outputs[:, bit, g] = _parity(register & generator)
    return next_state, outputs


_NEXT, _OUT = _trellis()
# For each state, the two (previous state, input bit) pairs that lead to it.
_PREV = np.empty((_STATES, 2), dtype=np.int64)
_PREV_BIT = np.empty((_STATES, 2), dtype=np.int64)
_fill = np.zeros(_STATES, dtype=np.int64)
for _s in range(_STATES):
    for _b in (0, 1):
        _n = _NEXT[_s, _b]
        _PREV[_n, _fill[_n]], _PREV_BIT[_n, _fill[_n]] = _s, _b
        _fill[_n] += 1
# +1/-1 form of each branch's outputs, for correlation metrics.
_BRANCH = 1.0 - 2.0 * _OUT[_PREV, _PREV_BIT].astype(np.float64)  # [state, which, generator]


def encode(identifier: bytes) -> Bits:
    """The CODED_BITS channel bits (0/1) carrying an 8-byte identifier and its check value."""
    if len(identifier) != IDENTIFIER_BITS // 8:
        raise ValueError(f"an identifier has {IDENTIFIER_BITS // 8} bytes")
    info = np.unpackbits(np.frombuffer(identifier + check_value(identifier), dtype=np.uint8)) ^ _SCRAMBLE
    bits = np.concatenate([info, np.zeros(_TAIL, dtype=np.uint8)])
    coded = np.empty((len(bits), len(_GENERATORS)), dtype=np.uint8)
    state = 0
    for i, bit in enumerate(bits):
        coded[i] = _OUT[state, bit]
        state = int(_NEXT[state, bit])
    return coded.reshape(-1)


def decode(soft: Soft) -> tuple[bytes, bool]:
    """Viterbi-decode soft values (positive means bit 0) into (identifier, whether its check value matches)."""
    if soft.shape != (CODED_BITS,):
        raise ValueError(f"expected {CODED_BITS} soft values")
    steps = soft.reshape(-1, len(_GENERATORS))
    metric = np.full(_STATES, -np.inf)
    metric[0] = 0.0
    choices = np.empty((len(steps), _STATES), dtype=np.int8)
    for i, received in enumerate(steps):
        candidates = metric[_PREV] + _BRANCH @ received  # [state, which]
        if i >= INFO_BITS:  # tail: only zero input bits
            candidates = np.where(_PREV_BIT == 0, candidates, -np.inf)
        best = np.argmax(candidates, axis=1)
        choices[i] = best
        metric = candidates[np.arange(_STATES), best]
    state = 0  # terminated: the register ends empty
    bits = np.empty(len(steps), dtype=np.uint8)
    for i in range(len(steps) - 1, -1, -1):
        which = choices[i, state]
        bits[i] = _PREV_BIT[state, which]
        state = int(_PREV[state, which])
    info = np.packbits(bits[:INFO_BITS] ^ _SCRAMBLE).tobytes()
    identifier, check = info[: IDENTIFIER_BITS // 8], info[IDENTIFIER_BITS // 8 :]
    return identifier, check == check_value(identifier)
