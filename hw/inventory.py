"""The structure rules of a compute layer, written once: hw/ builds with them, the cost model counts with them.

* bit planes (:func:`planes`, :func:`planes_v`): the weight and activation planes a SIMD word is
  iterated over (DESIGN: parallel 1 x 1, weight-serial w x 1, bit-serial w x a; XNOR-popcount 1 x 1);
* the weight memory (:func:`weight_memory`): PE*SIMD*w bits wide and NF*SF deep, or bit planes
  PE*SIMD bits wide and w times deeper;
* the FIFO in front of a layer (:func:`fifo_depth`): a whole input vector (SF + 2 words) for a
  dense layer, so its producer runs ahead while it works through later row-folds; SMALL_FIFO
  words for a conv (its sliding window buffers the rows) and between other stages;
* the activation-parameter table (:func:`param_fields`): per output channel the unsigned fields
  hw/mvtu.py packs into one row-fold's word, thresholds (two's complement at the narrowest signed
  width of the layer's table) or ``multiplier | offset << mul_bits`` for a requantizer.

The vectorized forms take numpy arrays (the cost model costs thousands of candidate foldings at
once); hw/ calls the same functions with ints.

Guaranteed: pure functions of their inputs; no Amaranth import, so the cost model reads this
without building hardware.
"""

from __future__ import annotations

import numpy as np

from bitscale.nn import ir

MODES = ("parallel", "weight-serial", "bit-serial")
# where an integer x integer product is built (Folding "mac"): logic, or a registered DSP product
MACS = ("lut", "dsp")
SMALL_FIFO = 4  # words of the FIFOs between stages (and in front of a conv)


def planes_v(wbits, abits, mode_idx):
    """(weight planes, activation planes) for arrays of bits and mode indices into MODES."""
    wbits, abits, mode_idx = np.asarray(wbits), np.asarray(abits), np.asarray(mode_idx)
    xnor = (wbits == 1) & (abits == 1)
    wp = np.where((mode_idx >= 1) & (wbits > 1) & ~xnor, wbits, 1)
    ap = np.where((mode_idx == 2) & (abits > 1) & ~xnor, abits, 1)
    return wp, ap


def planes(wbits: int, abits: int, mode: str) -> tuple[int, int]:
    """(weight planes, activation planes) iterated per SIMD word; their product is the iteration count."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    wp, ap = planes_v(wbits, abits, MODES.index(mode))
    return int(wp), int(ap)


def weight_lane_bits(wbits, wp):
    """Bits per lane of a weight-memory word: the whole weight, or one plane."""
    return np.where(np.asarray(wp) == 1, wbits, 1)


def weight_memory(mh, mw, pe, simd, wbits, wp):
    """(width, depth) of a layer's weight memory (ints or arrays)."""
    width = pe * simd * weight_lane_bits(wbits, wp)
    depth = (mh // pe) * (mw // simd) * wp
    return width, depth


PIPELINE_SIMD = 4  # dot products wider than this have registers inside their adder trees
CUT_LEVEL = 2  # adder levels between two of those registers
# iCE40 (boards/build.core_verilog: the board flow's own elaboration for a family without LUT RAM): a
# register after every adder level, for 50 MHz on the UP5K (issue #13); the default Verilog keeps CUT_LEVEL
ICE40_CUT_LEVEL = 1
# activations of at least this many bits: parallel LUT products (integer weights) start each
# plane's tree with a lane-pair level (hw/dotproduct.pair_tree: per pair a 4:1 mux of 0, x[2k], x[2k+1]
# and the pair sum, the pair sums one adder per pair shared by the planes); fewer bits: AND-gated lanes.
# bench/dot_forms.py: cheaper on xc7 and ECP5 from 4 bits, dearer at 2 (ECP5 SIMD 16 w2a2 214 -> 340 LUT)
PAIR_MIN_ABITS = 4


def tree_cuts(simd, cut_level: int = CUT_LEVEL):
    """Registers in each adder tree of a SIMD-lane dot product (hw/dotproduct.py; ints or arrays):
    none up to PIPELINE_SIMD lanes, else one after every ``cut_level`` adder levels, the last at the
    end of the tree: ceil(ceil(log2 SIMD) / cut_level)."""
    simd = np.asarray(simd, np.int64)
    depth = np.ceil(np.log2(np.maximum(simd, 1))).astype(np.int64)
    return np.where(simd > PIPELINE_SIMD, -(-depth // cut_level), 0)


# register stages of a DSP product (hw/dotproduct.py mac "dsp"): the lane's operands, the product, the
# product again (a MULT18X18D's input, pipeline and output registers: the set nextpnr-ecp5 times as
# MULT18X18D_REGS_ALL; a DSP48E1's AREG/BREG, MREG, PREG), and a fabric register behind the block
# (its output pins feed one flip-flop each, not the adder tree: ECP5 routing)
DSP_STAGES = 4


def pair_registers(simd, pair):
    """The pair form's register (hw/dotproduct.pair_tree; ints or arrays): where its trees are cut
    (SIMD > PIPELINE_SIMD), the lane-pair sums are registered before the 4:1 muxes, the lanes and the
    weights beside them: 1, else 0. (ECP5: x register -> pair adder -> mux -> adder -> first cut held
    TFC w2a2 / w4a4 LUT products at 146.4 / 137.2 MHz, #13; the cuts themselves stay where they were,
    the mux counted as the tree's first level, so the mux still feeds its adder directly, which xc7
    builds in shared LUTs.)"""
    return np.where(np.asarray(simd, np.int64) > PIPELINE_SIMD, np.asarray(pair).astype(np.int64), 0)


def dot_latency(simd, wp, dsp_products, cut_level: int = CUT_LEVEL, pair=False):
    """Registers between a dot product's inputs and its contribution ``y`` (hw/dotproduct.py; ints or
    arrays): the adder trees' cuts (:func:`tree_cuts`), DSP_STAGES for DSP products (input, pipeline
    and output registers), one for weight planes (``wp`` > 1: the plane shift registered before the
    MSB plane's negation, which nextpnr found behind the last tree cut, #13), and the pair form's
    (``pair``: LUT products over lane pairs, :func:`pair_registers`)."""
    dsp = np.asarray(dsp_products).astype(np.int64) * DSP_STAGES
    return tree_cuts(simd, cut_level) + dsp + (np.asarray(wp) > 1) + pair_registers(simd, pair)


def mvtu_latency(dot_latency, act: str):
    """Cycles from an iteration's issue to its row-fold's output word entering the MVTU's output
    queue (hw/mvtu.py): s1, s2, s2x, the dot product's registers, s3, s4, s5, then the activation's
    stages (thresholds 2: the comparisons, then their count; requantizer 4: saturation, product,
    offset and shift, then the clamp; raw accumulator 0): the output code is registered before the
    queue's write-data mux (#13)."""
    return 6 + np.asarray(dot_latency) + {"thresholds": 2, "requant": 4}.get(act, 0)


def out_queue_words(latency, cycles_per_word):
    """Words of the MVTU's output queue: room for every word issued but not yet taken when the
    consumer is always ready, so the pipeline never waits: ceil((latency + 1) / cycles per word) + 1."""
    return -(-(np.asarray(latency) + 1) // np.asarray(cycles_per_word)) + 1


def fifo_depth(is_conv, sf):
    """Words of the FIFO in front of a compute layer (ints or arrays)."""
    return np.where(is_conv, SMALL_FIFO, np.asarray(sf) + 2)


def _signed_bits(lo: int, hi: int) -> int:
    return max(ir._signed_bits(int(lo)), ir._signed_bits(int(hi)))


def param_fields(net: ir.QuantizedNetwork, layer: ir.Layer) -> tuple[np.ndarray, int] | None:
    """(fields (MH, n) unsigned int64, bits per field) of the layer's activation parameters, or None.

    Thresholds: n = 2^a - 1 per channel at the table's narrowest signed width; requantizer: one
    field per channel, the multiplier (``mul_bits`` wide) with the offset above it."""
    if layer.act == "thresholds":
        t = net.thresholds(layer).astype(np.int64)
        b = _signed_bits(t.min(), t.max()) if t.size else 1
        return t & ((1 << b) - 1), b
    if layer.act == "requant":
        mul, add, _ = net.requant(layer)
        mb, ab = requant_field_bits(mul, add)
        f = mul.astype(np.int64) | ((add.astype(np.int64) & ((1 << ab) - 1)) << mb)
        return f.reshape(-1, 1), mb + ab
    return None


def requant_field_bits(mul, add) -> tuple[int, int]:
    """(multiplier bits, offset bits) of a requantizer's parameter field."""
    return max(int(np.max(mul)).bit_length(), 1), _signed_bits(np.min(add), np.max(add))


def param_bits_per_pe(net: ir.QuantizedNetwork, layer: ir.Layer) -> int:
    """Bits of one output channel's activation parameters as hw/mvtu.py packs them."""
    pf = param_fields(net, layer)
    return 0 if pf is None else pf[0].shape[1] * pf[1]
