"""Bit layouts shared by the generator and its tests: how integers become bits.

Guaranteed: :func:`weight_words` is the exact content of a layer's weight
memory (address ``(nf*SF + sf)*planes + i``), and :func:`pack_lanes` /
:func:`unpack_lanes` are inverse for in-range values.
"""
from __future__ import annotations

import numpy as np

from bitscale.hw.dotproduct import planes


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
    mh, mw = w.shape
    nf_n, sf_n = mh // pe, mw // simd
    wp, _ = planes(wbits, abits, mode)
    words = []
    for nf in range(nf_n):
        for sf in range(sf_n):
            block = w[nf * pe:(nf + 1) * pe, sf * simd:(sf + 1) * simd]
            flat = [int(v) for v in block.reshape(-1)]  # p-major, s-minor
            if wp == 1:
                words.append(pack_lanes(flat, wbits))
            else:
                codes = [encode(v, wbits) for v in flat]
                for i in range(wp):
                    words.append(sum(((c >> i) & 1) << k for k, c in enumerate(codes)))
    return words


def memory_shape(mh: int, mw: int, pe: int, simd: int, wbits: int, abits: int, mode: str) -> tuple[int, int]:
    """(width, depth) of a layer's weight memory."""
    wp, _ = planes(wbits, abits, mode)
    width = pe * simd * (wbits if wp == 1 else 1)
    return width, (mh // pe) * (mw // simd) * wp
