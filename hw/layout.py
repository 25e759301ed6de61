"""Bit layouts shared by the generator and its tests: how integers become bits.

Guaranteed: :func:`weight_words` is the exact content of a layer's weight
memory (address ``(nf*SF + sf)*planes + i``), and :func:`pack_lanes` /
:func:`unpack_lanes` are inverse for in-range values.
"""

from __future__ import annotations

import numpy as np

from bitscale.hw.inventory import planes, weight_memory


def encode(v: int, bits: int) -> int:
    """Integer value -> ``bits``-bit field: 1 bit = bipolar (value 2b-1), else two's complement/unsigned."""
    v = int(v)
    if bits == 1:
        if v not in (-1, 1):
            raise ValueError(f"a bipolar value must be -1 or +1, not {v}")
        return (v + 1) // 2
    return v & ((1 << bits) - 1)


def decode(field: int, bits: int, signed: bool) -> int:
    """Inverse of :func:`encode` (``bits == 1`` decodes as bipolar)."""
    if bits == 1:
        return 2 * (field & 1) - 1
    field &= (1 << bits) - 1
    if signed and field >> (bits - 1):
        field -= 1 << bits
    return field


def pack_lanes(values, bits: int) -> int:
    """Lane k at bits [k*bits, (k+1)*bits)."""
    word = 0
    for k, v in enumerate(values):
        word |= encode(v, bits) << (k * bits)
    return word


def unpack_lanes(word: int, n: int, bits: int, signed: bool) -> list[int]:
    return [decode(word >> (k * bits), bits, signed) for k in range(n)]


def weight_words(w: np.ndarray, pe: int, simd: int, wbits: int, abits: int, mode: str) -> list[int]:
    """Weight memory words for a (MH, MW) integer matrix.

    Row-fold nf, column-fold sf, plane i lives at ``(nf*SF + sf)*planes + i``.
    Within a word, PE p lane s is field ``p*SIMD + s``: ``wbits`` wide when
    the mode reads whole weights, one bit (bit i of the two's complement
    weight) when it reads bit-planes.
    """
    packed = weight_bytes(w, pe, simd, wbits, abits, mode)
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def weight_bytes(w: np.ndarray, pe: int, simd: int, wbits: int, abits: int, mode: str) -> np.ndarray:
    """The words of :func:`weight_words` as a (depth, ceil(width/8)) uint8 array, little-endian
    (byte 0 holds bits 0..7). Vectorized: no Python loop over weights or bits, so a 4096x4096
    layer packs in well under a second."""
    w = np.asarray(w)
    mh, mw = w.shape
    nf_n, sf_n = mh // pe, mw // simd
    wp, _ = planes(wbits, abits, mode)
    v = w.astype(np.int64)
    if wbits == 1:
        if v.size and not np.isin(v, (-1, 1)).all():
            raise ValueError("a bipolar weight must be -1 or +1")
        codes = (v + 1) // 2
    else:
        codes = v & ((1 << wbits) - 1)
    # (nf, p, sf, s) -> (nf, sf, p, s): one row per (nf, sf), fields p-major, s-minor
    small = np.uint8 if wbits <= 8 else np.uint16
    codes = codes.astype(small)
    blocks = codes.reshape(nf_n, pe, sf_n, simd).transpose(0, 2, 1, 3).reshape(nf_n * sf_n, pe * simd)
    shifts = np.arange(wbits, dtype=small)
    bits = ((blocks[:, :, None] >> shifts) & 1).astype(np.uint8)  # (rows, fields, wbits)
    if wp == 1:
        rows = bits.reshape(nf_n * sf_n, pe * simd * wbits)  # field k at bits [k*w, (k+1)*w)
    else:
        # plane i of row r is word r*wp + i: bit k = bit i of field k
        rows = bits.transpose(0, 2, 1).reshape(nf_n * sf_n * wp, pe * simd)
    return np.packbits(rows, axis=1, bitorder="little")


def memory_shape(mh: int, mw: int, pe: int, simd: int, wbits: int, abits: int, mode: str) -> tuple[int, int]:
    """(width, depth) of a layer's weight memory."""
    wp, _ = planes(wbits, abits, mode)
    width, depth = weight_memory(mh, mw, pe, simd, wbits, wp)
    return int(width), int(depth)
