"""Analytical cost model: (QuantizedNetwork, Folding, Board) -> Estimate.

Per compute layer (the MVTU of hw/mvtu.py, plus the sliding-window generator
in front of a conv and the max-pool behind it) the model counts:

* cycles per frame: :func:`bitscale.hw.folding.layer_cycles` (exact; the RTL
  has no bubbles), FPS = f_clk / max over layers, latency = sum over layers plus
  pipeline stages (an upper bound: a layer starts before its predecessor has finished).
* BRAM: every memory the hardware builds (weights, input buffer, parameter
  table, line buffers), styled by :func:`bitscale.cost_model.bram.memory_style`
  and mapped by :func:`bitscale.cost_model.bram.block_count` (Yosys' own rule).
* DSP: the multipliers Yosys maps to DSP blocks (parallel integer lanes whose
  product is at least ``dsp_min_product`` bits wide; requantizer multipliers).
* LUT and FF: a linear model over structural features (docs/cost_model.md):
  popcount inputs, adder-tree lane bits, soft multiplier partial products,
  accumulator bits, threshold comparator bits, shifter bits, distributed
  memory LUTs, line-buffer datapath, a constant per layer. Coefficients per
  family come from ``coefficients.json``, fitted to Yosys by
  bench/calibrate_cost.py.

Everything is numpy-vectorized over candidate foldings of one layer
(:func:`layer_costs`), which is what auto-folding uses; :func:`estimate` is
the scalar, per-layer-detailed view. Guaranteed: ``estimate`` raises
ValueError for an illegal folding (hw/folding.validate; the API and CLI report it as a UserError)
and is a pure function of its inputs.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from bitscale.boards import FAMILY, Board
from bitscale.boards import get as get_board
from bitscale.cost_model import bram
from bitscale.cost_model.dsp import mul_dsp
from bitscale.hw import folding as fold
from bitscale.hw import inventory
from bitscale.hw.mul2dsp import requant_operand
from bitscale.nn import ir, requant

MODES = fold.MODES
COEF_PATH = Path(__file__).with_name("coefficients.json")
LUT_FEATURES = (
    "layer",
    "pop",
    "tree",
    "dtree",
    "mul",
    "acc",
    "thr",
    "shift",
    "neg",
    "sub",
    "wtree",
    "lutram",
    "rom",
    "fifo",
    "ctrl",
    "rq",
    "swg",
    "swg_bits",
    "pool_bits",
    "outq",
    "srl",
    "dwc_mux",
    "pmux",
    "padd",
)
FF_FEATURES = (
    "layer",
    "acc",
    "out",
    "xin",
    "wreg",
    "wordreg",
    "cut",
    "ram_ff",
    "ctrl",
    "swg",
    "swg_bits",
    "pool_bits",
    "pipe",
    "srl",
    "prod",
    "dwc",
)
# coefficients that are exact counts, not fitted (bench/calibrate_cost.py keeps them at the prior): "pipe" counts
# the fmax pipeline's flip-flops of hw/mvtu.py one by one, "outq" its output queue's muxes, and most cached
# Yosys runs predate that pipeline (dbbf3bf), so a fit would drive them to zero
# Family facts (boards.Family): depth one LUT stores per bit of a distributed ROM / serves per bit of a
# distributed written memory, DSP inference threshold and operand widths.
LUT_DEPTH = {f.name: f.lut_rom_depth for f in FAMILY.values()}
RAM_DEPTH = {f.name: f.lut_ram_depth for f in FAMILY.values()}
DSP_MIN_PRODUCT = {f.name: f.dsp_min_product for f in FAMILY.values()}
# A (random) weight ROM built as logic: Yosys + ABC spend about one LUT per 16 entries of a bit column, on
# LUT6 as on LUT4, not the 64 a LUT6 could hold: measured on the xc7 per-module counts of the cached
# calibration and held-out designs with a logic weight ROM (columns 20..3840 deep: LUTs ~ depth/16 per
# column); ECP5's fit is best at its LUT depth, 16 (leave-one-out 5.5% vs 7.7% at 4)
ROM_DEPTH = {f.name: min(f.lut_rom_depth, 16) for f in FAMILY.values()}
DSP_OPERANDS = {f.name: f.dsp_operands for f in FAMILY.values()}

# The structural priors the fit is pulled towards (bench/calibrate_cost.py), and the model's values for a
# family without a fit. "design" is the per-design intercept: top-level FIFOs, width converters and glue.
PRIORS = {
    "LUT": {
        "layer": 60.0,
        "pop": 1.0,
        "tree": 1.0,
        "dtree": 0.5,
        "mul": 1.0,
        "acc": 1.0,
        "thr": 0.5,
        "shift": 1.0,
        "neg": 1.0,
        "sub": 1.0,
        "wtree": 1.0,
        "lutram": 1.0,
        "rom": 1.0,
        "fifo": 1.0,
        "ctrl": 4.0,
        "rq": 1.0,
        "swg": 80.0,
        "swg_bits": 2.0,
        "pool_bits": 2.0,
        "outq": 1.0,
        "srl": 1.0,
        "dwc_mux": 0.5,
        "pmux": 1.5,
        "padd": 1.0,
        "design": 50.0,
    },
    "FF": {
        "layer": 40.0,
        "acc": 1.0,
        "out": 1.0,
        "xin": 2.0,
        "wreg": 1.0,
        "wordreg": 1.0,
        "cut": 1.0,
        "ram_ff": 1.0,
        "ctrl": 2.0,
        "swg": 40.0,
        "swg_bits": 2.0,
        "pool_bits": 2.0,
        "pipe": 1.0,
        "srl": -3.0,
        "prod": 1.0,
        "dwc": 1.0,
        "design": 50.0,
    },
}
# "srl" (Xilinx): a distributed weight ROM's live bits pass three reset-less registers with one enable (the
# ROM's read register, w_word, w2: hw/mvtu.py since 2b89e40), which synth_xilinx's shregmap (-minlen 3) turns
# into one SRL16E each: 3 flip-flops fewer and one LUT more per bit (held-out xc7 rows: FF -3.0 x SRL16E count)
# "prod" (FF): the fabric product register behind each DSP-mapped lane product (hw/dotproduct.py since fa9b8c1;
# Xilinx packs it into the DSP48's MREG), w + a bits per lane, exact (ho7_036 ECP5: 720 = 48 lanes x 15 bits)
# "dwc" (FF) / "dwc_mux" (LUT): the data-width converters hw/top.py puts between layers whose lanes differ
# (hw/dwc.py), counted per design from the folding of neighbouring layers (dwc_features): FF exact (its
# registers), LUT fitted (its down-converter's word-select mux inputs); 0 in features(), whose candidates do not
# know their neighbours (auto-folding does not see them)
FIXED = {"FF": ("pipe", "srl", "prod", "dwc"), "LUT": ("outq", "srl")}
# Per-family priors where the structural ones do not carry over: the pair form's "pmux" / "padd" (hw/dotproduct.pair_tree,
# 6ff8c0b), which no training run of that RTL has yet, so the fit returns them as they are. From #13l's one-dot probes
# (bench/results/dot_forms.json: each DotProduct alone, gated and pair form, Yosys), moved to the fitted in-design scale:
# chosen so that the model's pair form over its gated form ("wtree"/"tree"/"sub" at the family's fitted coefficients)
# equals Yosys' pair / gated on the six cases with >= 4-bit activations (within -9.5% .. +6.5%; two of them bipolar
# weights x integers, whose one selection plane was the same pair_tree until its revert); iCE40 (no run of its own)
# from the ECP5 cases (LUT4). A standalone dot costs Yosys 1.3-1.6x the in-design fit on ECP5, so the absolute
# probe counts are not used.
FAMILY_PRIORS = {
    "xc7": {"LUT": {"pmux": 1.5, "padd": 1.08}},
    "xcup": {"LUT": {"pmux": 1.5, "padd": 1.08}},
    "ecp5": {"LUT": {"pmux": 2.22, "padd": 0.58}},
    "ice40": {"LUT": {"pmux": 2.1, "padd": 0.49}},
}


def priors(family: str) -> dict[str, dict[str, float]]:
    """The fit's priors for ``family``: PRIORS with the family's FAMILY_PRIORS."""
    return {t: {**PRIORS[t], **FAMILY_PRIORS.get(family, {}).get(t, {})} for t in PRIORS}


# RTL changes whose older form features() can still describe (keyword: the hw/ commit that made it), so that
# bench/calibrate_cost.py fits a cached run of older hw/ with its own RTL's terms (features(..., name=False))
RTL_CHANGES = {
    "plane_reg": "ee741b4",
    "code_reg": "9ffd9c0",
    "pair_tree": "6ff8c0b",
    "ctr_flags": "a59fd51",
    "dsp_stages": "7a20b44",
}
DESIGN = "design"
TARGETS = {"LUT": LUT_FEATURES, "FF": FF_FEATURES}
# a family without its own fit uses its sibling's (same LUT size)
_SIBLING = {f.name: f.fit_sibling for f in FAMILY.values() if f.fit_sibling}


@dataclass(frozen=True)
class CostModel:
    """The LUT and FF model of one family: a coefficient per structural feature (summed over a design's
    layers) plus one per-design intercept (``"design"``).

    The one model both :func:`estimate` / auto-folding and bench/calibrate_cost.py evaluate, so the
    calibration's reported errors are those of the model users run. Built from coefficients.json,
    whose keys must be exactly the feature lists plus ``"design"`` (an unknown or missing key is an
    error, never a silent default). ``prior_only`` names (``"LUT.swg"``) the coefficients that are only
    the fit's prior: their feature is zero on every calibration design of the family.
    """

    family: str
    coef: dict  # {"LUT": {feature: c, ..., "design": c}, "FF": {...}}
    source: str = "prior"  # "fitted", "fitted (<sibling>)" or "prior"
    prior_only: tuple[str, ...] = ()

    def __post_init__(self):
        for target, names in TARGETS.items():
            got = self.coef.get(target)
            if not isinstance(got, dict):
                raise ValueError(f"cost model {self.family}: no {target} coefficients")
            want = set(names) | {DESIGN}
            missing, unknown = sorted(want - set(got)), sorted(set(got) - want)
            if missing or unknown:
                raise ValueError(
                    f"cost model {self.family} {target}: coefficients do not match the features "
                    f"(missing {missing}, unknown {unknown})"
                )
        unknown = [
            k
            for k in self.prior_only
            if k.partition(".")[0] not in TARGETS or k.partition(".")[2] not in self.coef[k.partition(".")[0]]
        ]
        if unknown:
            raise ValueError(f"cost model {self.family}: prior_only names unknown coefficients {unknown}")

    @staticmethod
    def prior(family: str) -> "CostModel":
        return CostModel(family, priors(family), "prior")

    @staticmethod
    def from_json(family: str, doc: dict, source: str = "fitted") -> "CostModel":
        """One family's entry of coefficients.json: {"LUT": {...}, "FF": {...}, "prior_only": [...]}."""
        coef = {t: {k: float(v) for k, v in (doc.get(t) or {}).items()} for t in TARGETS}
        extra = set(doc) - set(TARGETS) - {"prior_only"}
        if extra:
            raise ValueError(f"cost model {family}: unknown entries {sorted(extra)}")
        return CostModel(family, coef, source, tuple(doc.get("prior_only", ())))

    def to_json(self) -> dict:
        return {**{t: dict(self.coef[t]) for t in TARGETS}, "prior_only": list(self.prior_only)}

    @staticmethod
    def for_family(family: str, path: Path | None = None) -> "CostModel":
        """The fitted model of ``family`` (its sibling's where it has no fit; the priors without any)."""
        path = path or COEF_PATH
        fitted = {}
        if path.is_file():
            fitted = _load_coefficients(str(path), path.stat().st_mtime).get("families", {})
        if family in fitted:
            return CostModel.from_json(family, fitted[family])
        sib = _SIBLING.get(family)
        if sib in fitted:
            m = CostModel.from_json(family, fitted[sib], f"fitted ({sib})")
            return replace(m, prior_only=())
        return CostModel.prior(family)

    def layer(self, target: str, f: dict) -> np.ndarray:
        """One layer's ``target`` (LUT or FF) from its features (arrays over candidate foldings)."""
        c = self.coef[target]
        return np.asarray(sum(c[k] * f[k] for k in TARGETS[target]))

    def design(self, target: str) -> int:
        """The per-design intercept, as estimate() adds it to the layers' rounded sum."""
        return int(round(self.coef[target][DESIGN]))


@lru_cache(maxsize=None)
def _load_coefficients(path: str, mtime: float) -> dict:
    return json.loads(Path(path).read_text())


def coefficients(family: str) -> CostModel:
    """The family's :class:`CostModel` (fitted where available, else the priors)."""
    return CostModel.for_family(family)


# --- per-layer static data -----------------------------------------------------------


@dataclass(frozen=True)
class LayerInfo:
    """What the model needs of one compute layer, independent of its folding."""

    name: str
    kind: str
    mh: int
    mw: int
    pixels: int
    wbits: int
    abits: int
    acc_bits: int
    out_bits: int  # activation bits out, or acc_bits for the raw last layer
    act: str
    n_params: int  # thresholds per channel, or 2 (multiplier, offset) for requant, 0 for none
    param_bits: int  # bits per threshold / (mul + add) bits per channel for requant
    mul_bits: int  # requant multiplier bits (0 otherwise)
    conv_in: tuple | None  # (H, W, C, K) for a conv's sliding window
    pool: tuple | None  # (H, W, C, K, S, bits) of a max-pool right after this layer
    # live (non-constant) bit columns of the parameter ROM per PE (index = PE): Yosys drops constant
    # columns of a ROM before mapping it, and NF-deep threshold tables have many (shared sign bits)
    param_live: tuple = ()
    # distinct live bit columns (up to complement) per PE: what a ROM built as logic costs, since
    # Yosys/ABC build each distinct column function once
    param_distinct: tuple = ()
    # requant: bits of the multiplier's other operand, the accumulator saturated into the exact range
    # nn/requant.operand_range gives (hw/mvtu.py); 0 = the full accumulator
    q_bits: int = 0
    bias: bool = False  # act 'none' with a per-channel bias (imported nets): an NF-deep constant table
    # flip-flops behind the parameter ROM (hw/mvtu.py's params5, and a requantizer's mul6/add6/add7 copies of
    # it), per PE (index): Yosys drops registers of constant columns and merges those with identical D
    # inputs, so each stage costs the exactly distinct (not up to complement) live columns it holds
    param_exact: tuple = ()  # all live columns of the table
    rq_add_exact: tuple = ()  # requantizer: the offset field's live columns (add6 -> add7)
    # requantizer product register prod7 per PE (index = PE count): sum over the PEs of the multiplier's
    # significant bits, bit length minus common trailing zeros of the PE's multipliers (Yosys sizes the
    # product q_bits + that: wreduce, and constant low bits of mul6 make constant product bits)
    rq_prod_bits: tuple = ()
    rq_shift: int = 0  # the requantizer's right shift: the top ``shift`` bits of y8 copy its sign (merged)


def _param_live(net: ir.QuantizedNetwork, l: ir.Layer) -> tuple[tuple, tuple]:
    """Per PE (index; -1 where PE does not divide MH): (live bit columns, distinct live columns up to
    complement) of the NF-deep parameter ROM."""
    vals, bits = inventory.param_fields(net, l) or (np.zeros((l.mh, 0), np.int64), 1)
    bitcols = ((vals[:, :, None] >> np.arange(bits)) & 1).astype(np.uint8)  # (MH, n, bits)
    live = [-1] * (l.mh + 1)
    distinct = [-1] * (l.mh + 1)
    for pe in range(1, l.mh + 1):
        if l.mh % pe:
            continue
        cols = bitcols.reshape(l.mh // pe, -1)  # (NF, PE * n * bits), one column per ROM bit
        keep = (cols != cols[:1]).any(axis=0)
        live[pe] = int(np.count_nonzero(keep))
        c = cols[:, keep]
        c = np.where(c[:1] == 1, 1 - c, c)  # a column and its complement are one function
        distinct[pe] = int(np.unique(c, axis=1).shape[1]) if c.size else 0
    return tuple(live), tuple(distinct)


def _param_regs(net: ir.QuantizedNetwork, l: ir.Layer, mul_bits: int) -> tuple[tuple, tuple, tuple]:
    """Per PE (index; -1 where PE does not divide MH): (exactly distinct live columns of the parameter ROM,
    those of a requantizer's offset fields, sum over the PEs of the requantizer multipliers' significant
    bits). See LayerInfo."""
    vals, bits = inventory.param_fields(net, l) or (np.zeros((l.mh, 0), np.int64), 1)
    bitcols = ((vals[:, :, None] >> np.arange(bits)) & 1).astype(np.uint8)  # (MH, n, bits)
    requant_ = l.act == "requant"
    exact, add_exact, prod = ([-1] * (l.mh + 1) for _ in range(3))
    for pe in range(1, l.mh + 1):
        if l.mh % pe:
            continue
        cols = bitcols.reshape(l.mh // pe, -1)  # (NF, PE * n * bits)
        keep = (cols != cols[:1]).any(axis=0)
        exact[pe] = int(np.unique(cols[:, keep], axis=1).shape[1]) if keep.any() else 0
        if requant_:
            is_add = (np.arange(cols.shape[1]) % bits) >= mul_bits
            k = keep & is_add
            add_exact[pe] = int(np.unique(cols[:, k], axis=1).shape[1]) if k.any() else 0
            mul = (vals[:, 0] & ((1 << mul_bits) - 1)).reshape(l.mh // pe, pe)
            tot = 0
            for p in range(pe):
                v = int(np.bitwise_or.reduce(mul[:, p]))
                if v:
                    tot += v.bit_length() - ((v & -v).bit_length() - 1)
            prod[pe] = tot
    if not requant_:
        add_exact, prod = [], []
    return tuple(exact), tuple(add_exact), tuple(prod)


def _signed_bits(lo: int, hi: int) -> int:
    return max(ir._signed_bits(int(lo)), ir._signed_bits(int(hi)))


def layer_infos(net: ir.QuantizedNetwork) -> tuple[LayerInfo, ...]:
    out = []
    layers = list(net.layers)
    for i, l in enumerate(layers):
        if not l.is_compute:
            continue
        acc = ir.acc_bits(l)
        n_params = param_bits = mul_bits = q_bits = shift = 0
        pf = inventory.param_fields(net, l)  # the parameter table hw/mvtu.py packs
        if pf is not None:
            n_params, param_bits = pf[0].shape[1], pf[1]
        if l.act == "requant":
            mul, add, shift = net.requant(l)
            mul_bits = inventory.requant_field_bits(mul, add)[0]
            q_bits = requant_operand(net, l)[3]
        pool = None
        for nxt in layers[i + 1 :]:
            if nxt.is_compute:
                break
            if nxt.kind == "maxpool":
                h, w, c = nxt.in_shape
                pool = (h, w, c, nxt.kernel, nxt.stride, nxt.in_bits)
                break
        conv_in = (*l.in_shape, l.kernel, l.stride, l.pad) if l.kind == "conv" else None
        live, distinct = _param_live(net, l) if n_params else ((), ())
        exact, add_exact, prod = _param_regs(net, l, mul_bits) if n_params else ((), (), ())
        out.append(
            LayerInfo(
                l.name,
                l.kind,
                l.mh,
                l.mw,
                l.out_pixels,
                l.wbits,
                l.in_bits,
                acc,
                l.out_bits if l.act != "none" else acc,
                l.act,
                n_params,
                param_bits,
                mul_bits,
                conv_in,
                pool,
                live,
                distinct,
                q_bits,
                bool(l.bias),
                exact,
                add_exact,
                prod,
                int(shift),
            )
        )
    return tuple(out)


# --- vectorized per-layer costs -------------------------------------------------------------


def _mode_index(modes) -> np.ndarray:
    if isinstance(modes, str):
        modes = [modes]
    return np.array([MODES.index(m) for m in np.atleast_1d(modes)], dtype=np.int64)


def _ceil(a, b):
    return -(-a // b)


def _clog2(x):
    x = np.asarray(x, dtype=np.int64)
    return np.where(x > 1, np.ceil(np.log2(np.maximum(x, 1))).astype(np.int64), 0)


def planes(info: LayerInfo, mode_idx: np.ndarray):
    """(weight planes, activation planes) per candidate (hw/inventory.planes_v)."""
    return inventory.planes_v(info.wbits, info.abits, mode_idx)


def memories(info: LayerInfo, pe, simd, mode_idx):
    """Every memory of the layer as (role, name, width, depth, live width) arrays (hw/mvtu.py, swg.py,
    maxpool.py). ``width`` decides the style (as hw/ does); ``live width`` (the bit columns that are not
    constant, which is what Yosys maps) decides the count."""
    return [m if len(m) == 5 else (*m, m[2]) for m in _memories(info, pe, simd, mode_idx)]


def param_columns(info: LayerInfo, pe, distinct: bool = False):
    """Live (non-constant) bit columns of the parameter ROM at ``pe`` (array), or the distinct ones
    up to complement; the declared width where the table has no entry for ``pe``."""
    pe = np.asarray(pe, np.int64)
    full = pe * info.n_params * info.param_bits
    table = info.param_distinct if distinct else info.param_live
    if not table:
        return full
    table = np.asarray(table, np.int64)
    idx = np.clip(pe, 0, len(table) - 1)
    return np.where((pe < len(table)) & (table[idx] >= 0), table[idx], full)


def _memories(info: LayerInfo, pe, simd, mode_idx):
    pe, simd = np.asarray(pe, np.int64), np.asarray(simd, np.int64)
    wp, _ = planes(info, mode_idx)
    nf, sf = info.mh // pe, info.mw // simd
    mems: list[tuple] = [("weights", "weights", *inventory.weight_memory(info.mh, info.mw, pe, simd, info.wbits, wp))]
    # input buffer: the SIMD words of one vector, kept for the other row-folds
    mems.append(("buffer", "inbuf", np.where(nf > 1, simd * info.abits, 0), np.where(nf > 1, sf, 0)))
    if info.n_params:
        mems.append(("params", "params", pe * info.n_params * info.param_bits, nf, param_columns(info, pe)))
    if info.conv_in is not None:
        h, w, c, k, *sp = info.conv_in  # (H, W, C, K[, stride, pad])
        mems.append(("buffer", "swg", simd * info.abits, fold.ring_rows(h, k, *sp) * w * (c // simd)))
    if info.pool is not None:
        h, w, c, k, s, b = info.pool
        ow = ir.conv_out_hw(h, w, k, s)[1]  # the pool's output row (no padding)
        lanes = pe  # the pool takes the producing layer's PE lanes (PE | MH = C)
        if k == s:
            mems.append(("pool", "pool", lanes * b, ow * (c // lanes)))
        else:  # hw/maxpool.WindowMax behind a sliding window: its ring, then CF partial maxima
            mems.append(("buffer", "pool_swg", lanes * b, fold.ring_rows(h, k, s) * w * (c // lanes)))
            mems.append(("pool", "pool", lanes * b, c // lanes))
    # the FIFO in front of the layer (hw/inventory.fifo_depth); amaranth's SyncFIFOBuffered keeps
    # depth - 1 words in its memory
    mems.append(("fifo", "fifo", simd * info.abits, inventory.fifo_depth(info.conv_in is not None, sf) - 1))
    return mems


def _dsp_lanes(info: LayerInfo, family: str) -> int:
    """DSP blocks per parallel-mode integer lane (0 when Yosys keeps the product in LUTs)."""
    ymin = DSP_MIN_PRODUCT[family]
    if ymin is None or info.wbits < 2 or info.abits < 2:
        return 0
    # signed(w) * unsigned(a): after wreduce a w+a bit product (measured: w4a4 stays in LUTs on xc7,
    # w2 x 8-bit pixels goes to a DSP48E1; ECP5 maps every >= 2 x 2 bit product to a MULT18X18D)
    # signed w x signed (a + 1) with a (w + a)-bit product: Yosys' mul2dsp rule (cost_model/dsp.py)
    return mul_dsp(info.wbits, info.abits + 1, True, True, family, y=info.wbits + info.abits)


def _requant_dsp(info: LayerInfo, family: str) -> int:
    if info.act != "requant" or DSP_MIN_PRODUCT[family] is None:
        return 0
    # signed(q_bits) x signed(mul_bits + 1) (the unsigned multiplier gains a sign bit), split by Yosys'
    # mul2dsp rule (cost_model/dsp.py: equal to Yosys on the tests/data/dsp_grid.json multipliers)
    return mul_dsp(_rq_operand(info), info.mul_bits + 1, True, True, family)


def _rq_operand(info: LayerInfo) -> int:
    """Bits of the requantizer multiplier's accumulator operand (saturated, hw/mvtu.py)."""
    return info.q_bits or info.acc_bits


def _pipeline_regs(
    info: LayerInfo,
    pe,
    simd,
    wp,
    ap,
    family: str,
    plane_reg: bool = True,
    code_reg: bool = True,
    ctr_flags: bool = True,
    dsp_prod=False,
    dsp_stages: bool = True,
):
    """Flip-flops of hw/mvtu.py's fmax pipeline beyond the registers the other FF features count: the
    weight and input words once more (w2; x_live, x_buf where NF > 1), the s2x control, the input FIFO's
    output register (hw/fifo.py), the final
    accumulators (acc5) and parameter word (params5, its distinct live columns), and the activation's
    stages: thresholds' comparison bits, or the requantizer's q6, mul6, add6, prod7, add7 and y8 per PE,
    of which synth_xilinx packs all but add6 into a one-DSP48 requantizer (AREG, BREG, MREG, CREG, PREG);
    the output code registered in front of the output queue (``code_reg``: hw/ since 9ffd9c0), a weight-plane
    dot product's registered plane shift and MSB flag (``plane_reg``: since ee741b4, :func:`_plane_shift_bits`), and
    the issue stage's "at 0" / "at last" flag registers of each loop counter with more than one value (``ctr_flags``;
    a one-value counter's flags are constants, which Yosys removes), and the control stages that follow a DSP
    product's registers beyond the first (``dsp_stages``, ``dsp_prod``: the candidates with DSP products;
    hw/inventory.DSP_STAGES)."""
    pe, simd = np.asarray(pe, np.int64), np.asarray(simd, np.int64)
    nf = info.mh // pe
    # one control stage (hw/mvtu.py's s2d: valid, first, last, and the row fold where it addresses a parameter
    # table) per dot-product register
    stage = 3 + (_clog2(nf) if (info.n_params or info.bias) else 0)
    regs = pe * simd * inventory.weight_lane_bits(info.wbits, wp) + simd * info.abits * (1 + (nf > 1))
    regs = regs + pe * info.acc_bits + 4 + _clog2(nf) + _clog2(wp) + _clog2(ap)
    regs = regs + simd * info.abits + 1  # the output register of the FIFO in front (hw/fifo.py)
    if info.act == "none":  # the last layer: the design's output FIFO's read and output registers too
        regs = regs + 2 * pe * info.out_bits + 1
    if info.n_params:  # params5: the table's exactly distinct live columns (constant ones vanish, equal ones merge)
        regs = regs + _per_pe(info.param_exact, pe, param_columns(info, pe, distinct=True))
    if ctr_flags:  # nf, sf, wi, aj: two flag registers each where the counter counts
        regs = regs + 2 * ((nf > 1).astype(np.int64) + (info.mw // simd > 1) + (wp > 1) + (ap > 1))
    if plane_reg:  # per PE the shifted plane sum's live bits, and the MSB-plane flag (one: equal in every PE, merged),
        # and the control stage that delays the valid/first/last (and the row fold, which addresses the parameter
        # table) with the dot product (hw/mvtu.py's s2d stages; iCE40 cal_fc_w2a2_bs: s2d2_first/last/valid/nf)
        regs = regs + np.where(wp > 1, pe * _plane_shift_bits(info, simd, wp, ap) + 1 + stage, 0)
    if dsp_stages:  # a DSP product's input, pipeline and lane registers (the product register was there before)
        regs = regs + np.where(dsp_prod, (inventory.DSP_STAGES - 1) * stage, 0)
    if code_reg and info.act in ("thresholds", "requant"):  # act7_* / act9_*: the output code, and its valid bit
        regs = regs + pe * info.out_bits + 1
    if info.act == "thresholds":
        regs = regs + pe * info.n_params + 1
    elif info.act == "requant":
        q, mb = _rq_operand(info), info.mul_bits
        bb = info.param_bits - mb
        add = _per_pe(info.rq_add_exact, pe, pe * bb)  # add6 (and add7): copies of params5's offset columns
        per = add
        if not (family in ("xc7", "xcup") and _requant_dsp(info, family) == 1):
            # mul6 and add6 (one register per distinct params5 column: equal D inputs merge), add7, q6, prod7
            # (q + the multipliers' significant bits), y8 (its top `shift` bits are copies of its sign bit)
            mul_add = _per_pe(info.param_exact, pe, pe * (mb + bb))
            prod = pe * q + _per_pe(info.rq_prod_bits, pe, pe * mb)
            y8 = np.clip(max(q + mb, bb) + 1 - info.rq_shift, 1, requant.sum_bits(q, mb, bb))
            per = mul_add + add + pe * q + prod + pe * y8
        regs = regs + per + 3
    return regs


def _plane_shift_bits(info: LayerInfo, simd, wp, ap):
    """Live bits of hw/dotproduct.py's registered plane shift ``t << wplane`` (weight planes, since ee741b4): the
    weight-plane shifter's output width (:func:`_shifter_bits`); its ybits-wide register's other bits are constant
    zeros or copies of the sign, which Yosys drops or merges."""
    simd, wp, ap = (np.asarray(v, np.int64) for v in (simd, wp, ap))
    pop = _clog2(simd + 1)
    ybits = pop + info.wbits + info.abits + 2
    _, xw = _log_shifter(pop, ap, ybits)
    t = np.where(ap > 1, xw, pop + 2 if info.abits == 1 else pop + info.abits)
    return _log_shifter(t, wp, ybits)[1]


def _per_pe(table: tuple, pe, default):
    """``table[pe]`` (a per-PE-count tuple of LayerInfo, -1 where PE does not divide MH) for an array of PE
    counts, ``default`` where the table has no entry."""
    pe = np.asarray(pe, np.int64)
    if not table:
        return default
    t = np.asarray(table, np.int64)
    idx = np.clip(pe, 0, len(t) - 1)
    return np.where((pe < len(t)) & (t[idx] >= 0), t[idx], default)


def _dwc_cost(i: int, o: int, bits: int) -> tuple[int, int]:
    """(LUT mux inputs, flip-flops) of hw/dwc.DWC(i, o, bits): an up-converter (o = k i) holds k - 1 words and
    the output word, (2k - 1) i bits, plus its count and valid; a down-converter (i = k o) holds the input word,
    k o bits, plus its index and full flag, and selects one of k parts per output bit (o bits x (k - 1) mux
    inputs); other ratios go up to lcm(i, o) lanes, then down. (tr11_063 on xc7: 146 + 99 and 83 + 50
    flip-flops, exactly.)"""
    if i == o:
        return 0, 0
    if o % i == 0:
        k = o // i
        return 0, (2 * k - 1) * i * bits + max(k - 1, 1).bit_length() + 1
    if i % o == 0:
        k = i // o
        return o * bits * (k - 1), k * o * bits + max(k - 1, 1).bit_length() + 1
    mid = i * o // math.gcd(i, o)
    up, down = _dwc_cost(i, mid, bits), _dwc_cost(mid, o, bits)
    return up[0] + down[0], up[1] + down[1]


def dwc_features(
    net: ir.QuantizedNetwork, folding: fold.Folding, infos: tuple[LayerInfo, ...] | None = None
) -> dict[str, dict[str, float]]:
    """Per compute layer: {"LUT": mux inputs, "FF": flip-flops} (features ``dwc_mux``, ``dwc``) of the data-width
    converters hw/top.py builds in front of it where the stream's lanes (the previous layer's PE) differ from its
    SIMD, and in front of a max-pool it feeds whose channels its lanes do not divide (hw/top.Accelerator._plan)."""
    out: dict[str, dict[str, float]] = {}
    by_name = {i.name: i for i in (infos if infos is not None else layer_infos(net))}
    lanes, bits, owner = 0, ir.INPUT_BITS, None

    def add(name, cost):
        d = out.setdefault(name, {"LUT": 0.0, "FF": 0.0})
        d["LUT"] += cost[0]
        d["FF"] += cost[1]

    for layer in net.layers:
        if layer.kind == "flatten":
            continue
        if layer.kind == "maxpool":
            c = layer.in_shape[2]
            if lanes and c % lanes and owner is not None:
                g = math.gcd(c, lanes)
                add(owner, _dwc_cost(lanes, g, bits))
                lanes = g
            continue
        lf = folding[layer.name]
        if lanes and lanes != lf.simd:  # (the first layer's stream comes in at its SIMD)
            add(layer.name, _dwc_cost(lanes, lf.simd, bits))
        lanes, bits, owner = lf.pe, by_name[layer.name].out_bits, layer.name
    return out


def _swg_counter_bits(conv_in: tuple, simd):
    """log2 of the ranges of the sliding window's counters (hw/swg.py): output row/column, ky, kx, channel
    fold, the kx*CF word counter, the ring's read base / write slot / fill level and the write word."""
    h, w, c, k, stride, pad = conv_in
    oh, ow = ir.conv_out_hw(h, w, k, stride, pad)
    cf = c // np.asarray(simd, np.int64)
    r = fold.ring_rows(h, k, stride, pad)
    return (
        _clog2(oh)
        + _clog2(ow)
        + 2 * _clog2(k)
        + _clog2(cf)
        + _clog2(k * cf)
        + 2 * _clog2(r)
        + _clog2(r + 1)
        + _clog2(w * cf)
    )


def _log_shifter(p, s, cap):
    """(mux bits, output width) of ``t << k`` for a ``p``-bit ``t`` and ``k`` in range(s) (arrays): a
    log2 shifter whose stage j passes min(p + 2^(j+1) - 1, cap) bits (Amaranth sizes the shift amount
    to ceil(log2 s) bits, so the range is the next power of two)."""
    p, k = np.asarray(p, np.int64), _clog2(s)
    bits = np.zeros(np.broadcast(p, k, cap).shape, np.int64)
    for j in range(int(np.max(k, initial=0))):
        bits = bits + np.where(j < k, np.minimum(p + (2 << j) - 1, cap), 0)
    return bits, np.minimum(p + (1 << k) - 1, cap)


def _shifter_bits(info: LayerInfo, simd, wp, ap, ybits):
    """Mux bits per PE of the plane shifters of hw/dotproduct.py: the activation plane's shift of a
    popcount (bit-serial), then the weight plane's shift of that (or of the AND-gated activation sum,
    weight-serial); their inputs are narrow, so this is far below ybits x log2(planes)."""
    pop = _clog2(simd + 1)
    w, a = info.wbits, info.abits
    if w == 1 and a == 1:
        return np.zeros_like(np.asarray(simd * wp * ap))
    # activation-plane shift: 2*popcount - popcount (bipolar weights) or popcount(w_i & x_j)
    xs, xw = _log_shifter(np.where(wp == 1, pop + 2, pop), ap, ybits)
    xs = np.where(ap > 1, xs, 0)
    # weight-plane shift of the activation-plane result, the bipolar-activation popcount or the AND tree
    t = np.where(ap > 1, xw, pop + 2 if a == 1 else pop + a)
    ws, _ = _log_shifter(t, wp, ybits)
    return xs + np.where(wp > 1, ws, 0)


def _cut_term_bits(info: LayerInfo, wp, ap):
    """Bits registered per partial sum where hw/dotproduct.py cuts its adder trees (SIMD > 4: after two
    levels, ceil(SIMD/4) partial sums per tree), summed over the dot product's trees."""
    w, a = info.wbits, info.abits
    if w == 1 and a == 1:
        return 3 * np.ones_like(wp)  # one popcount
    par = (wp == 1) & (ap == 1)
    if w == 1:
        par_bits = 2 * (a + 2)  # select tree + activation-sum tree
    elif a == 1:
        par_bits = w + 3
    else:
        par_bits = w + a + 2
    plane_bits = np.where(wp > 1, np.where(ap > 1, 3, 6 if a == 1 else a + 2), 6)  # popcounts / AND tree
    return np.where(par, par_bits, plane_bits)


def _lut_products(info: LayerInfo, par, mac_idx) -> np.ndarray:
    """Where (array over candidates) the layer's integer x integer products are mac "lut" products: hw/dotproduct.py's
    unrolled weight planes, w adder trees of AND-gated activations (their cut registers w (a + 2) bits per partial
    sum), no multiplier."""
    return np.asarray(par) & (info.wbits >= 2 and info.abits >= 2) & (np.asarray(mac_idx) != DSP_MAC)


def _mac_index(macs) -> np.ndarray:
    """Indices into hw/inventory.MACS of an array of MAC resource names (or indices)."""
    arr = np.atleast_1d(np.asarray(macs))
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return np.array([inventory.MACS.index(m) for m in arr], dtype=np.int64)


DSP_MAC = inventory.MACS.index("dsp")


def dsp_product_lanes(info: LayerInfo, family: str, mac_idx: ArrayLike = DSP_MAC) -> np.ndarray:
    """DSP blocks per parallel-mode lane (array over ``mac_idx``): Yosys' count for DSP products,
    0 for LUT products (hw/dotproduct.py builds those without a multiplier)."""
    return np.where(np.asarray(mac_idx) == DSP_MAC, _dsp_lanes(info, family), 0)


def cut_level(family: str) -> int:
    """Adder levels between two registers of a dot product's trees: hw/inventory.CUT_LEVEL, but a register after
    every level on iCE40, whose board flow elaborates its core with ICE40_CUT_LEVEL (boards/build.core_verilog,
    since bfe72b6; the default Verilog keeps CUT_LEVEL)."""
    return inventory.ICE40_CUT_LEVEL if family == "ice40" else inventory.CUT_LEVEL


def features(
    info: LayerInfo,
    pe,
    simd,
    mode_idx,
    family: str,
    mac_idx: ArrayLike = DSP_MAC,
    level: int | None = None,
    plane_reg: bool = True,
    code_reg: bool = True,
    ctr_flags: bool = True,
    pair_tree: bool = True,
    dsp_stages: bool = True,
) -> dict[str, np.ndarray]:
    """Structural LUT/FF features of one layer for arrays of (PE, SIMD, mode index, MAC index). ``level``: the
    adder levels between tree registers (default :func:`cut_level` of the family; bench/calibrate_cost.py passes
    the level a cached run was elaborated with). ``plane_reg`` / ``code_reg``: False for a cached run of hw/ before
    ee741b4 (no registered plane shift: one dot-product register fewer with weight planes) / 9ffd9c0 (no registered
    output code: one stage fewer for thresholds and requantizers), which also shortens the output queue; ``ctr_flags``:
    False before the loop counters' flag registers; ``pair_tree``: False before the pair form of the selections;
    ``dsp_stages``: False before a DSP product's input, pipeline and lane registers (one product register)
    (RTL_CHANGES)."""
    pe = np.asarray(pe, np.int64)
    simd = np.asarray(simd, np.int64)
    mode_idx = np.asarray(mode_idx, np.int64)
    mac_idx = np.asarray(mac_idx, np.int64)
    one = np.ones(np.broadcast(pe, simd, mode_idx, mac_idx).shape)
    w, a = info.wbits, info.abits
    wp, ap = planes(info, mode_idx)
    lanes = (pe * simd).astype(float)
    xnor = w == 1 and a == 1
    par = (wp == 1) & (ap == 1)
    pop = np.zeros_like(one)
    tree = np.zeros_like(one)
    dtree = np.zeros_like(one)
    mul = np.zeros_like(one)
    wtree = np.zeros_like(one)
    pmux = np.zeros_like(one)
    padd = np.zeros_like(one)
    if xnor:
        pop = lanes * one
    else:
        # parallel (full weights, full activations)
        if w == 1:
            p_tree = 2.0 * a
        elif a == 1:
            p_tree = 1.0 * w
        else:
            p_tree = float(w + a + 1)
        # a '*' Yosys keeps in logic (mac "dsp" below the family's DSP threshold): its soft multiplier's
        # partial products + the lane's adders
        in_dsp = dsp_product_lanes(info, family, mac_idx) > 0
        lut_form = _lut_products(info, par, mac_idx)
        soft_mul = np.where((w >= 2 and a >= 2) & ~in_dsp & ~lut_form, 1.0, 0.0)
        # products in DSP blocks: Xilinx packed part of the adder tree into the DSP post-adders while the tree read
        # the block's output register; behind the fabric lane register (dsp_stages) a tree (SIMD > 1) is all fabric
        behind = in_dsp & ((not dsp_stages) | (simd <= 1))
        dtree = np.where(par & behind, lanes * p_tree, dtree)
        tree = np.where(par & ~behind & ~lut_form, lanes * p_tree, tree)
        mul = np.where(par, lanes * soft_mul * w * a, mul)
        # weight planes only (weight-serial, or bit-serial with bipolar activations)
        ws = (wp > 1) & (ap == 1)
        if a == 1:
            pop = np.where(ws, 2 * lanes, pop)
        else:
            wtree = np.where(ws, lanes * a, 0) * one  # adder tree of AND-gated a-bit activations
        # mac "lut" products (hw/dotproduct.py: no '*'): the weight planes unrolled, one adder tree of AND-gated
        # a-bit activations per plane: w times the weight-serial tree (FINN TFC w2a2 layer 0 on xc7, Yosys: 25
        # LUT per lane, where a soft multiplier's partial products + adders would be 35)
        wtree = np.where(lut_form, lanes * w * a, wtree) * one
        # the pair form (hw/dotproduct.pair_tree, since 6ff8c0b) of those selections, from PAIR_MIN_ABITS-bit
        # activations: per PE floor(S/2) lane-pair adders of a + 1 bits, shared by the planes ("padd"), and per plane
        # ceil(S/2) 4:1-mux terms of a + 1 bits (0, x[2k], x[2k+1], the pair sum) into a tree ("pmux"), not the gated
        # trees. (6ff8c0b built bipolar weights x integers this way too, until #13l's revert before the RTL final; no
        # fitted or held-out run of that form is kept, so the model has no flag for it.)
        if pair_tree and a >= inventory.PAIR_MIN_ABITS:
            pair = lut_form
            pmux = np.where(pair, pe * w * _ceil(simd, 2) * (a + 1), 0) * one
            padd = np.where(pair, pe * (simd // 2) * (a + 1), 0) * one
            wtree = np.where(pair, 0, wtree) * one
        # activation planes only (bipolar weights, bit-serial)
        pop = np.where((wp == 1) & (ap > 1), 2 * lanes, pop)
        # both planes: popcount of AND
        pop = np.where((wp > 1) & (ap > 1), lanes, pop)
    ybits = _clog2(simd + 1) + w + a + 2
    shift = pe * _shifter_bits(info, simd, wp, ap, ybits)
    # weight planes: the MSB plane's contribution is negated (an adder and a mux per bit)
    neg = np.where(wp > 1, pe * ybits, 0)
    # bipolar operands: y = 2*A - B, a second sum and a subtractor per PE (hw/dotproduct.py)
    if xnor:
        sub = 0 * one
    elif w == 1:
        sub = pe * ybits * one  # 2*sum(b ? x : 0) - sum(x), every mode
    elif a == 1:
        sub = np.where(wp > 1, pe * ybits, 0) * one  # weight planes x bipolar activations
    else:
        # mac "lut" products: the w plane sums shifted and added, the MSB plane's subtracted: w - 1 adders per PE
        sub = np.where(_lut_products(info, par, mac_idx), pe * ybits * (w - 1), 0) * one
    # registers inside the adder trees: after every 2 levels, ceil(SIMD/4^k) partial sums at the k-th
    # (hw/inventory.tree_cuts of them; the ones a shallow tree has no level for hold its final sum)
    lvl = cut_level(family) if level is None else level
    cuts = inventory.tree_cuts(simd, lvl)
    cut_terms = sum(np.where(k < cuts, np.maximum(_ceil(simd, (1 << lvl) ** (k + 1)), 1), 0) for k in range(16))
    cut = pe * cut_terms * np.where(_lut_products(info, par, mac_idx), w * (a + 2), _cut_term_bits(info, wp, ap))
    # mac "dsp": the registers around each integer product (hw/dotproduct.py), signed w x unsigned a: w + a bits
    # per product register (wreduce). Before dsp_stages one product register, which Xilinx packs into the DSP48
    # (MREG) where the product is a DSP. Since, hw/inventory.DSP_STAGES: the lane's weight (w bits) and activation
    # (a bits) registered, the product registered twice (pipeline, output) and once more in the fabric (lane). ECP5
    # and iCE40 keep them all as flip-flops (MULT18X18D registers are packed by the board flow only,
    # boards/regpack.py), the activation registers merged into one per layer (equal in every PE); Xilinx packs all
    # but the lane register into a DSP-mapped product's DSP48 (AREG/BREG, MREG, PREG), and where the product stays
    # in LUTs keeps the operand registers per PE and turns the reset-less 3-deep product chain into one SRL16E per
    # bit ("srl": FF -3, LUT +1). A/B on the held-out designs, Yosys 64d79ed -> #13d: see docs/cost_model.md.
    dsp_prod = par & (w >= 2 and a >= 2) & (mac_idx == DSP_MAC)
    xilinx = family in ("xc7", "xcup")
    xil_dsp = xilinx & (dsp_product_lanes(info, family, mac_idx) > 0)
    chain = pe * simd * (w + a)  # one product register of the layer
    prod_srl = 0 * one
    if dsp_stages:
        stages = inventory.DSP_STAGES
        operands = pe * simd * w + (pe if xilinx else 1) * simd * a
        fabric = np.where(xil_dsp, chain, operands + (stages - 1) * chain)
        if xilinx and stages - 1 >= 3:
            prod_srl = np.where(dsp_prod & ~xil_dsp, chain, 0) * one
    else:
        stages = 1
        fabric = np.where(xil_dsp, 0, chain)
    prod_ff = np.where(dsp_prod, fabric, 0) * one
    # the output queue (hw/mvtu.py): room for every word in flight through the pipeline
    dot_lat = inventory.dot_latency(simd, wp if plane_reg else 1, dsp_prod, lvl) - dsp_prod * (
        inventory.DSP_STAGES - stages
    )
    lat = inventory.mvtu_latency(dot_lat, info.act) - (not code_reg and info.act in ("thresholds", "requant"))
    out_words = inventory.out_queue_words(lat, (info.mw // simd) * wp * ap)
    acc = pe * info.acc_bits * one
    thr = pe * info.n_params * info.param_bits * one if info.act == "thresholds" else 0 * one
    lut_ram = np.zeros_like(one)
    rom = np.zeros_like(one)
    ff_wreg = np.zeros_like(one)
    fifo = np.zeros_like(one)
    ram_ff = np.zeros_like(one)
    srl = np.zeros_like(one)
    for role, _, mw_, md, live in memories(info, pe, simd, mode_idx):
        mw_ = np.asarray(mw_) * one
        md = np.asarray(md) * one
        dist = ~bram.block_mask(mw_, md, role, family) & (md > 0)
        if role in ("buffer", "pool", "fifo") and family == "ice40":
            ram_ff += np.where(dist, mw_ * md, 0)  # no LUT RAM: every bit is a flip-flop
        if role == "fifo":
            fifo += np.where(dist, mw_ * _ceil(md, max(2 * RAM_DEPTH[family] // 4, 1)), 0)
            continue
        if role == "params":
            # a logic ROM: identical / constant columns are built once / not at all, and so are
            # their read-register FFs (identical FFs are merged); a table of sorted thresholds / per-channel
            # constants is far from random, so it keeps a LUT's full depth per column
            cols = param_columns(info, pe, distinct=True) * one
            rom += np.where(dist, cols * _ceil(md, LUT_DEPTH[family]), 0)
            ff_wreg += np.where(dist, cols, 0)
            continue
        if role == "weights":  # a distributed ROM is logic: one (random) function per bit column
            rom += np.where(dist, mw_ * _ceil(md, ROM_DEPTH[family]), 0)
            if family in ("xc7", "xcup"):  # read register -> w_word -> w2: one SRL16E per live bit (FIXED)
                srl += np.where(dist, live * one, 0)
        else:
            lut_ram += np.where(dist, mw_ * _ceil(md, RAM_DEPTH[family]), 0)
        ff_wreg += np.where(dist, live * one, 0)
    # control: loop counters, FIFO pointers and the weight address, each log2 of its range
    nf_, sf_ = info.mh // pe, info.mw // simd
    if info.bias:  # hw/mvtu.py starts each accumulator at its channel's bias: a constant table by row-fold
        rom = rom + np.where(nf_ > 1, pe * info.acc_bits * _ceil(nf_, ROM_DEPTH[family]), 0)
    fifo_d = inventory.fifo_depth(info.conv_in is not None, sf_)
    ctrl = (_clog2(nf_) + _clog2(sf_) + _clog2(wp * ap) + _clog2(fifo_d) + _clog2(nf_ * sf_ * wp)) * one
    if info.conv_in is not None:
        ctrl = ctrl + _swg_counter_bits(info.conv_in, simd)
    if info.pool is not None and info.pool[3] != info.pool[4]:
        # a max-pool with kernel != stride: its own sliding window on the PE lanes, then hw/maxpool.WindowMax
        # (tap and channel-fold counters)
        ph, pw, pc, pk, ps, _ = info.pool
        ctrl = ctrl + _swg_counter_bits((ph, pw, pc, pk, ps, 0), pe) + _clog2(pk * pk) + _clog2(pc // pe)
    # requantizer (hw/mvtu.py), per PE: the offset adder and the output clamp (requant.sum_bits), and where
    # the accumulator is saturated (q_bits < acc_bits) two comparisons against constants and a mux; the
    # product itself is in DSPs (or the soft "mul" term); no flip-flops (the output register is "out")
    rq = 0 * one
    if info.act == "requant":
        q = _rq_operand(info)
        # the offset adder is fabric on every family since the requantizer is pipelined (product register,
        # then the sum: held-out ho7_002 on xc7, +157 LUT = its 4 x 27-bit adders + the output queue)
        adder = requant.sum_bits(q, info.mul_bits, info.param_bits - info.mul_bits)
        rq = pe * (adder + info.out_bits + (info.acc_bits + q if q < info.acc_bits else 0)) * one
    if info.act == "requant" and _requant_dsp(info, family) == 0:
        mul = mul + pe * _rq_operand(info) * info.mul_bits  # the requantizer's product in soft logic (iCE40)
    swg = (1.0 if info.conv_in is not None else 0.0) * one
    swg_bits = swg * simd * a
    if info.pool is not None and info.pool[3] != info.pool[4]:  # the pool's own sliding window
        swg = swg + 1.0
        swg_bits = swg_bits + np.minimum(pe, info.pool[2]) * info.pool[5] * one
    pool_bits = np.zeros_like(one)
    if info.pool is not None:
        pool_bits = np.minimum(pe, info.pool[2]) * info.pool[5] * one
    return {
        "layer": one,
        "pop": pop,
        "tree": tree,
        "dtree": dtree,
        "mul": mul,
        "acc": acc,
        "thr": thr,
        "shift": shift * one,
        "neg": neg * one,
        "sub": sub,
        "wtree": wtree,
        "lutram": lut_ram,
        "rom": rom,
        "fifo": fifo,
        "ctrl": ctrl,
        "rq": rq,
        "swg": swg,
        "swg_bits": swg_bits,
        "pool_bits": pool_bits,
        # registered weight word and dot products (hw/ since 0f56264)
        "wordreg": (pe * simd * inventory.weight_lane_bits(w, wp) + pe * ybits) * one,
        "pipe": _pipeline_regs(info, pe, simd, wp, ap, family, plane_reg, code_reg, ctr_flags, dsp_prod, dsp_stages)
        * one,
        "pmux": pmux,
        "padd": padd,
        # the output queue's entries (hw/mvtu.py): a load/shift/hold mux per bit
        "outq": pe * info.out_bits * out_words * one,
        "dwc": 0 * one,  # per design, from neighbouring foldings: dwc_features
        "dwc_mux": 0 * one,
        "out": pe * info.out_bits * out_words * one,
        "xin": simd * a * one,
        "wreg": ff_wreg,
        "cut": cut * one,
        "prod": prod_ff,
        "ram_ff": ram_ff,
        "srl": srl + prod_srl,
    }


def layer_costs(
    info: LayerInfo, pe, simd, modes, family: str, coef: CostModel | None = None, macs: ArrayLike = DSP_MAC
) -> dict[str, np.ndarray]:
    """LUT, FF, BRAM, BRAM floor, DSP and cycles of one layer for arrays of candidate foldings.

    ``modes`` is an array of mode names or mode indices into hw/folding.MODES; ``macs`` of MAC
    resource names or indices into hw/inventory.MACS (default: DSP products).
    """
    coef = coef or coefficients(family)
    pe = np.atleast_1d(np.asarray(pe, np.int64))
    simd = np.atleast_1d(np.asarray(simd, np.int64))
    mode_idx = np.atleast_1d(np.asarray(modes)) if np.asarray(modes).dtype.kind in "iu" else _mode_index(modes)
    mac_idx = _mac_index(macs)
    pe, simd, mode_idx, mac_idx = np.broadcast_arrays(pe, simd, mode_idx, mac_idx)
    f = features(info, pe, simd, mode_idx, family, mac_idx)
    lut = coef.layer("LUT", f)
    ff = coef.layer("FF", f)
    wp, ap = planes(info, mode_idx)
    cycles = (info.mh // pe) * (info.mw // simd) * wp * ap * info.pixels
    if info.conv_in is not None:  # a strided conv can be bound by its window's input side
        h, w, c = info.conv_in[:3]
        cycles = np.maximum(cycles, h * w * (c // simd))
    if info.pool is not None:  # a max-pool with kernel != stride can be the slowest stage
        h, w, c, k, s, _ = info.pool
        words_in = h * w * (c // pe)
        pool_c = (
            words_in if k == s else np.maximum(words_in, int(np.prod(ir.conv_out_hw(h, w, k, s))) * k * k * (c // pe))
        )
        cycles = np.maximum(cycles, pool_c)
    n_bram = np.zeros(pe.shape, np.int64)
    n_floor = np.zeros(pe.shape, np.int64)
    for role, _, w_, d_, lw in memories(info, pe, simd, mode_idx):
        w_ = np.broadcast_to(np.asarray(w_, np.int64), pe.shape)
        d_ = np.broadcast_to(np.asarray(d_, np.int64), pe.shape)
        lw = np.broadcast_to(np.asarray(lw, np.int64), pe.shape)
        block = bram.block_mask(w_, d_, role, family)
        n_bram += np.where(block, bram.block_count(lw, d_, family, writable=(role in ("buffer", "pool", "fifo"))), 0)
        n_floor += np.where(block, bram.floor(lw, d_, family), 0)
    par = (wp == 1) & (ap == 1)
    # (memory addresses come from counters, not constant multiplies, so they take no DSPs)
    dsp = np.where(par, pe * simd * dsp_product_lanes(info, family, mac_idx), 0) + pe * _requant_dsp(info, family)
    return {"LUT": lut, "FF": ff, "BRAM18": n_bram, "bram_floor": n_floor, "DSP": dsp, "cycles": cycles}


# --- the scalar, detailed estimate -------------------------------------------------------------


@dataclass(frozen=True)
class LayerEstimate:
    name: str
    kind: str
    pe: int
    simd: int
    mode: str
    LUT: int
    FF: int
    BRAM18: int
    DSP: int
    cycles: int
    bram_floor: int
    memories: tuple[bram.MemoryMap, ...] = field(default=())
    wbits: int = 0  # the layer's weight bits and the bits of the activations entering it
    abits: int = 0  # (per layer: mixed-precision networks differ layer by layer)
    mac: str = "dsp"  # the Folding's MAC resource (hw/folding.LayerFolding.mac)

    def to_json(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "memories"}
        d["memories"] = [m.to_json() for m in self.memories]
        return d

    @staticmethod
    def from_json(doc: dict) -> "LayerEstimate":
        return LayerEstimate(**{**doc, "memories": tuple(bram.MemoryMap.from_json(m) for m in doc["memories"])})


@dataclass(frozen=True)
class Estimate:
    """Per-layer and total cost of a folded network on a board.

    ``BRAM18`` counts the board family's block-RAM primitive (RAMB18-equivalents
    on Xilinx, DP16KD on ECP5, EBR on iCE40); ``bram_kind`` names it.
    """

    board: str
    family: str
    bram_kind: str
    clock_mhz: float
    layers: tuple[LayerEstimate, ...]
    LUT: int
    FF: int
    BRAM18: int
    DSP: int
    cycles: int
    fps: float
    latency_cycles: int
    bram_floor: int
    utilization: dict
    design_LUT: int = 0  # the per-design intercept (top-level FIFOs, glue), included in LUT and FF
    design_FF: int = 0
    LC: int = 0  # iCE40 logic cells (:func:`ice40_cells` of LUT and FF; what the part's capacity counts), 0 elsewhere

    @property
    def fits(self) -> bool:
        return all(v <= 1.0 for v in self.utilization.values())

    def to_json(self) -> dict:
        return {
            "format": "bitscale.Estimate",
            "board": self.board,
            "family": self.family,
            "bram_kind": self.bram_kind,
            "clock_mhz": self.clock_mhz,
            "layers": [l.to_json() for l in self.layers],
            "design": {"LUT": self.design_LUT, "FF": self.design_FF},
            "total": {
                "LUT": self.LUT,
                "FF": self.FF,
                "BRAM18": self.BRAM18,
                "DSP": self.DSP,
                "cycles": self.cycles,
                "fps": self.fps,
                "latency_cycles": self.latency_cycles,
                "bram_floor": self.bram_floor,
                "fits": self.fits,
                "utilization": dict(self.utilization),
                **({"LC": self.LC} if self.family == "ice40" else {}),
            },
        }

    @staticmethod
    def from_json(doc: dict) -> "Estimate":
        """The inverse of :meth:`to_json` (``from_json(e.to_json()) == e``)."""
        if doc.get("format") != "bitscale.Estimate":
            raise ValueError(f"not a bitscale.Estimate document (format {doc.get('format')!r})")
        t, d = doc["total"], doc.get("design", {})
        return Estimate(
            doc["board"],
            doc["family"],
            doc["bram_kind"],
            doc["clock_mhz"],
            tuple(LayerEstimate.from_json(lay) for lay in doc["layers"]),
            t["LUT"],
            t["FF"],
            t["BRAM18"],
            t["DSP"],
            t["cycles"],
            t["fps"],
            t["latency_cycles"],
            t["bram_floor"],
            dict(t["utilization"]),
            d.get("LUT", 0),
            d.get("FF", 0),
            t.get("LC", 0),
        )


# iCE40 logic cells. A logic cell (nextpnr's ICESTORM_LC) holds one LUT4, one flip-flop and one carry; the part's
# capacity (iCEBreaker: 5,280) counts cells. nextpnr packs a flip-flop into the cell of the LUT4 that drives its
# D input when that LUT drives nothing else; every other flip-flop (fed by another flip-flop, a block RAM, a
# multi-fanout LUT: most of the pipeline, word and FIFO registers here) takes a cell of its own. Measured
# (bench/ice40_lc.py: synth_ice40 + nextpnr-ice40 --pack-only on 8 designs, bench/results/ice40_lc.json): 20-32%
# of the flip-flops share a cell, so cells = LUT + 0.75 FF (within 4% of nextpnr on Yosys' own LUT/FF counts).
ICE40_FF_PACKED = 0.25


def ice40_cells(lut, ff):
    """iCE40 logic cells for ``lut`` LUT4s and ``ff`` flip-flops (scalars or arrays): LUT + (1 - packed) FF,
    never below either count."""
    return np.maximum(np.maximum(np.asarray(lut) + (1.0 - ICE40_FF_PACKED) * np.asarray(ff), lut), ff)


ICE40_RULE = f"LC = max(LUT + {1 - ICE40_FF_PACKED:g} FF, LUT, FF)"


# Latency bound, beyond the layers' own cycles (measured in cocotb, tests/test_sim_accelerator.py checks
# the bound): per compute layer the MVTU pipeline (issue .. output register, 8-13 stages since the
# fmax pipelining of #13), the FIFO in front of it (with its output register) and a width converter;
# per other layer (pool, flatten) a few stages plus a FIFO; per design the input and output FIFOs and
# the output packing.
PIPELINE_CYCLES = 16
OTHER_LAYER_CYCLES = 5
STREAM_CYCLES = 8


def estimate(
    net: ir.QuantizedNetwork, folding: fold.Folding, board: Board | str, cost_model: CostModel | None = None
) -> Estimate:
    """Cost and speed of ``net`` folded by ``folding`` on ``board``; UserError on an illegal folding.

    ``cost_model``: the LUT/FF model (default: the board family's fitted one; bench/calibrate_cost.py
    passes the models it fits, so its reported errors are this function's)."""
    if isinstance(board, str):
        board = get_board(board)
    fold.validate(net, folding)
    family = board.family
    coef = cost_model or coefficients(family)
    out = []
    infos = layer_infos(net)
    dwc = dwc_features(net, folding, infos)  # the converters between layers, charged to the layer they feed
    for info in infos:
        lf = folding[info.name]
        c = layer_costs(info, lf.pe, lf.simd, [lf.mode], family, coef, [lf.mac])
        conv = dwc.get(info.name, {"LUT": 0.0, "FF": 0.0})
        c["LUT"] = c["LUT"] + coef.coef["LUT"]["dwc_mux"] * conv["LUT"]
        c["FF"] = c["FF"] + coef.coef["FF"]["dwc"] * conv["FF"]
        m_idx = _mode_index([lf.mode])
        maps = []
        for role, name, w_, d_, lw in memories(info, np.array([lf.pe]), np.array([lf.simd]), m_idx):
            w_, d_, lw = int(np.ravel(w_)[0]), int(np.ravel(d_)[0]), int(np.ravel(lw)[0])
            if w_ * d_:
                style = "block" if bool(bram.block_mask(w_, d_, role, family)) else "distributed"
                maps.append(
                    bram.map_memory(lw, d_, family, role, name=f"{info.name}.{name}", style=style, declared_width=w_)
                )
        assert sum(m.count for m in maps) == int(c["BRAM18"][0])
        out.append(
            LayerEstimate(
                info.name,
                info.kind,
                lf.pe,
                lf.simd,
                lf.mode,
                int(round(float(c["LUT"][0]))),
                int(round(float(c["FF"][0]))),
                int(c["BRAM18"][0]),
                int(c["DSP"][0]),
                int(c["cycles"][0]),
                int(c["bram_floor"][0]),
                tuple(maps),
                wbits=info.wbits,
                abits=info.abits,
                mac=lf.mac,
            )
        )
    cycles = max(l.cycles for l in out)
    tot = {k: sum(getattr(l, k) for l in out) for k in ("LUT", "FF", "BRAM18", "DSP", "bram_floor")}
    design = {k: coef.design(k) for k in ("LUT", "FF")}
    tot["LUT"] += design["LUT"]
    tot["FF"] += design["FF"]
    util = {
        "LUT": tot["LUT"] / board.lut,
        "FF": tot["FF"] / board.ff,
        "BRAM18": tot["BRAM18"] / board.bram,
        "DSP": tot["DSP"] / board.dsp if board.dsp else (0.0 if tot["DSP"] == 0 else float("inf")),
    }
    lc = int(round(float(ice40_cells(tot["LUT"], tot["FF"])))) if family == "ice40" else 0
    if family == "ice40":  # the part's capacity counts logic cells (board.lut), which LUTs and FFs share
        util["LC"] = lc / board.lut
    n_compute = len(net.compute_layers)
    latency = (
        sum(l.cycles for l in out)
        + PIPELINE_CYCLES * n_compute
        + OTHER_LAYER_CYCLES * (len(net.layers) - n_compute)
        + STREAM_CYCLES
    )
    return Estimate(
        board.name,
        family,
        board.bram_kind,
        board.clock_mhz,
        tuple(out),
        tot["LUT"],
        tot["FF"],
        tot["BRAM18"],
        tot["DSP"],
        cycles,
        board.clock_mhz * 1e6 / cycles,
        latency,
        tot["bram_floor"],
        util,
        design["LUT"],
        design["FF"],
        lc,
    )
