# pyright: reportGeneralTypeIssues=false
# (Amaranth's m.If/m.Elif/m.Else: hw/amaranth_types.py)
"""Dot product over SIMD lanes, in one of three MAC modes (docs/hardware.md).

The unit is combinational: each cycle it gives the *contribution* ``y`` of one
iteration; the caller (hw/mvtu.py) adds ``iterations`` consecutive
contributions into its accumulator. Guaranteed: for every weight and
activation vector in range, the sum of the contributions over the
``iterations`` cycles (weight plane ``i`` outer, activation plane ``j``
inner) equals ``sum(w * x)`` exactly, and ``iterations`` equals
:func:`bitscale.hw.folding.iterations` for the layer and mode.

Encodings: a weight of ``wbits == 1`` is the bit b with value 2b-1 (bipolar),
otherwise ``wbits``-bit two's complement; an activation of ``abits == 1`` is a
bipolar bit, otherwise ``abits``-bit unsigned.

* parallel: full products, one cycle.
* weight-serial: one weight bit-plane per cycle (``w`` is then one bit per
  lane), ``(-1 if MSB else 1) * 2^i * sum_s bit_i(w_s) * x_s``.
* bit-serial: weight plane i and activation plane j per cycle,
  ``+-2^(i+j) * popcount(bit_i(w) & bit_j(x))``.
* binary x binary: ``2 * popcount(xnor(w, x)) - SIMD``, one cycle in any mode.
* bipolar weights x integers: ``2 * sum(b * v) - sum(v)``; integer weights x
  bipolar activations: ``2 * sum(w * b) - sum(w)``.

MAC resource (``mac``, per layer in the Folding), for integer x integer products in
parallel mode (every other case has no multiplier and ignores it):

* ``"lut"``: no ``*`` at all: the products are unrolled weight bit-planes,
  ``sum_i (-1 if i = w-1 else 1) * 2^i * sum_s (bit_i(w_s) ? x_s : 0)``: selections and
  adders, which Yosys cannot turn into DSP blocks (tests/test_hw_yosys.py: 0 DSP cells).
  With activations of PAIR_MIN_ABITS or more bits each plane's sum is a :func:`pair_tree`
  (per lane pair a 4:1 mux of 0, x[2k], x[2k+1] and their sum, which every plane shares; where the
  trees are cut, the pair sums are registered, the lanes and weights beside them: latency + 1,
  hw/inventory.pair_registers), else a tree of AND-gated lanes (bipolar weights x integers always:
  their pair level cost fmax). The weight planes' sums are combined in a balanced tree, the MSB
  plane subtracted at its node (no separate negation).
* ``"dsp"``: ``w_s * x_s`` in a DSP block's three register stages plus one in the fabric
  (hw/inventory.DSP_STAGES, latency + 4): the lane's weight and activation registered
  (``dspa``/``dspb``: the block's input registers, one pair per product), the product
  registered twice (``pipe``, ``prod``: its pipeline and output registers), then once more
  (``lane``), so each output pin of the block feeds one flip-flop, not the adder tree. Yosys
  maps the product to a DSP block where the family does; xilinx_dsp packs the registers into
  a DSP48E1, boards/regpack.pack_mult_registers into the MULT18X18D after Yosys' ECP5 flow
  (nextpnr times that block as MULT18X18D_REGS_ALL), so the only fabric paths are a register
  into the block and the block's output register into one flip-flop.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bitscale.hw.amaranth_types import bit, lanes
from bitscale.hw import inventory
from bitscale.hw.inventory import (  # noqa: F401
    CUT_LEVEL,
    MACS,
    MODES,
    PAIR_MIN_ABITS,
    PIPELINE_SIMD,
    planes,
    tree_cuts,
)


def tree_sum(terms, cut=None, level=0):
    """Balanced adder tree (shallower logic than a chain).

    ``cut``: optional (every, register, n) — the partial sums after every ``every`` adder levels
    pass through ``register(value) -> Signal`` (pipeline cuts), ``n`` of them in all, the ones the
    tree is too shallow for at its end: every tree with the same ``n`` has the same latency.
    """
    terms = list(terms)
    if not terms:
        return 0
    done = 0
    while len(terms) > 1:
        if cut is not None and level and level % cut[0] == 0 and done < cut[2]:
            terms = [cut[1](t) for t in terms]
            done += 1
        nxt = [terms[k] + terms[k + 1] for k in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms = nxt
        level += 1
    while cut is not None and done < cut[2]:
        terms = [cut[1](terms[0])]
        done += 1
    return terms[0]


def lane_pairs(x_lanes):
    """The sums ``x[2k] + x[2k+1]`` of a dot product's lane pairs (weight-independent: one adder per pair,
    shared by every weight plane of :func:`pair_tree`)."""
    return [x_lanes[s] + x_lanes[s + 1] for s in range(0, len(x_lanes) - 1, 2)]


def pair_tree(sel, x_lanes, pairs, cut=None):
    """``sum_s (sel[s] ? x[s] : 0)`` as a tree whose first level picks, per lane pair, one of
    ``0, x[2k], x[2k+1], pairs[k]`` (a 4:1 mux per bit: one LUT6 on xc7, from its two select bits, the
    two lanes' bits and the pair sum's) instead of adding two AND-gated lanes: on xc7 an adder of gated
    operands costs two LUTs per bit (the carry chain's DI needs the gated bit on its own), and the
    pair sums are shared by every weight plane. Measured on one dot product (Yosys, -nodsp, SIMD 49,
    4-bit weights, 8-bit activations): xc7 2497 -> 1630 LUT, ECP5 4230 -> 3318 (docs/hardware.md).
    The mux level counts as the tree's first adder level for the cuts (same registers, same depth);
    :class:`DotProduct` registers ``pairs``, ``x_lanes`` and ``sel`` before it where the tree is cut."""
    n = len(x_lanes)
    terms = [
        Mux(sel[2 * k], Mux(sel[2 * k + 1], p, x_lanes[2 * k]), Mux(sel[2 * k + 1], x_lanes[2 * k + 1], 0))
        for k, p in enumerate(pairs)
    ]
    if n % 2:
        terms.append(Mux(sel[n - 1], x_lanes[n - 1], 0))
    return tree_sum(terms, cut, level=int(n > 1))


def popcount(bits, cut=None):
    return tree_sum((bits[k] for k in range(len(bits))), cut)


# SIMD above PIPELINE_SIMD: the adder trees get a register after every CUT_LEVEL levels
# (hw/inventory.tree_cuts of them)


def has_products(wbits: int, abits: int, mode: str) -> bool:
    """Integer x integer products in one cycle (parallel mode): the only case with multipliers."""
    wp, ap = planes(wbits, abits, mode)
    return wp * ap == 1 and wbits > 1 and abits > 1


def pair_form(wbits: int, abits: int, mode: str, mac: str, pair_min_abits: int = PAIR_MIN_ABITS) -> bool:
    """LUT products whose plane sums are :func:`pair_tree` s (activations of ``pair_min_abits`` or more bits)."""
    return has_products(wbits, abits, mode) and mac == "lut" and abits >= pair_min_abits


def dot_latency(
    simd: int,
    wbits: int,
    abits: int,
    mode: str,
    mac: str,
    cut_level: int = CUT_LEVEL,
    pair_min_abits: int = PAIR_MIN_ABITS,
) -> int:
    """Registers between a DotProduct's inputs and ``y`` (see :class:`DotProduct`; the rule: hw/inventory.dot_latency)."""
    wp, _ = planes(wbits, abits, mode)
    dsp = has_products(wbits, abits, mode) and mac == "dsp"
    pair = pair_form(wbits, abits, mode, mac, pair_min_abits)
    return int(inventory.dot_latency(simd, wp, dsp, cut_level, pair))


def signed_sum(terms):
    """``sum(t if not neg else -t)`` over ``(t, neg)`` as a balanced tree whose nodes subtract a negative
    operand (one adder each, no negation of its own)."""
    terms = list(terms)
    while len(terms) > 1:
        nxt = []
        for k in range(0, len(terms) - 1, 2):
            (a, na), (b, nb) = terms[k], terms[k + 1]
            nxt.append((a + b, na) if na == nb else (a - b, False) if nb else (b - a, False))
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms = nxt
    t, neg = terms[0]
    return -t if neg else t


class DotProduct(wiring.Component):
    """One iteration's contribution of a SIMD-lane dot product.

    Ports: ``w`` (SIMD weights, ``wbits`` each in full-weight modes or one bit
    each when weights are bit-serial), ``x`` (SIMD activations, ``abits``
    each), ``wplane``/``xplane`` (the planes of this cycle), ``en`` (the
    pipeline moves), ``y`` (signed contribution, ``ybits`` wide).

    ``latency`` (registers between the inputs and ``y``, each updated when ``en``; ``y``
    belongs to the inputs of ``latency`` ``en`` cycles before): for SIMD > PIPELINE_SIMD
    one after every ``cut_level`` (default CUT_LEVEL) adder levels (hw/inventory.tree_cuts), plus
    DSP_STAGES for DSP products (:attr:`product_reg`: operands, product twice, lane), plus one with weight planes
    (the plane-shifted sum and the MSB-plane flag registered, the negation behind them), plus one in
    the pair form where the trees are cut (the pair sums, lanes and weights: hw/inventory.pair_registers).
    """

    # signature members, created by wiring.Component.__init__
    w: Signal
    x: Signal
    wplane: Signal
    xplane: Signal
    en: Signal
    y: Signal

    def __init__(
        self,
        simd: int,
        wbits: int,
        abits: int,
        mode: str,
        mac: str = "dsp",
        cut_level: int = CUT_LEVEL,
        pair_min_abits: int = PAIR_MIN_ABITS,
    ):
        for what, v in (("wbits", wbits), ("abits", abits)):
            if not 1 <= v <= 16:
                raise ValueError(f"{what} must be 1..16, not {v!r}")
        if simd < 1:
            raise ValueError(f"SIMD must be >= 1, not {simd!r}")
        if mac not in MACS:
            raise ValueError(f"mac must be one of {', '.join(MACS)}, not {mac!r}")
        if cut_level < 1:
            raise ValueError(f"cut_level must be >= 1, not {cut_level!r}")
        self.simd, self.wbits, self.abits, self.mode, self.mac = simd, wbits, abits, mode, mac
        self.cut_level = cut_level
        # pair_tree selections from this many activation bits (bench/dot_forms.py compares the forms)
        self.pair_min_abits = pair_min_abits
        self.wplanes, self.aplanes = planes(wbits, abits, mode)
        self.iterations = self.wplanes * self.aplanes
        self.wlane = 1 if self.wplanes > 1 else wbits
        # integer x integer products, one cycle: the only case with multipliers
        self.has_products = has_products(wbits, abits, mode)
        self.product_reg = self.has_products and mac == "dsp"
        # LUT products with lane-pair selections (pair_tree)
        self.pair_form = pair_form(wbits, abits, mode, mac, pair_min_abits)
        self.latency = dot_latency(simd, wbits, abits, mode, mac, cut_level, pair_min_abits)
        # |y| <= SIMD * 2^(w-1) * 2^a (bipolar corrections included); two spare bits.
        self.ybits = simd.bit_length() + wbits + abits + 2
        super().__init__(
            {
                "w": In(simd * self.wlane),
                "x": In(simd * abits),
                "wplane": In(range(max(self.wplanes, 2))),
                "xplane": In(range(max(self.aplanes, 2))),
                "en": In(1),
                "y": Out(signed(self.ybits)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        simd, wl, ab = self.simd, self.wlane, self.abits
        w_lanes = lanes(self.w, wl, simd)
        x_lanes = lanes(self.x, ab, simd)
        bip_w = self.wbits == 1
        bip_x = ab == 1

        cut = None
        wplane, xplane = self.wplane, self.xplane  # as seen after the cut
        regs = []

        def register(v, name="cut"):
            # no reset on the DSP product's registers (data registers: the DSP block's own after
            # synthesis, boards/regpack.py); the tree cuts keep theirs
            r = Signal(
                v.shape() if hasattr(v, "shape") else signed(self.ybits),
                name=f"{name}{len(regs)}",
                reset_less=name in ("dspa", "dspb", "pipe", "prod", "lane", "shift", "pair", "xlane", "wlane"),
            )
            with m.If(self.en):
                m.d.sync += r.eq(v)
            regs.append(r)
            return r

        n_cuts = int(tree_cuts(self.simd, self.cut_level))
        if n_cuts:
            cut = (self.cut_level, register, n_cuts)
            for _ in range(n_cuts):
                wplane, xplane = register(wplane), register(xplane)

        # lane-pair sums where the LUT products use pair_tree (integer activations of PAIR_MIN_ABITS+ bits);
        # bipolar weights x integers keep the gated tree (the pair level before the first tree cut cost
        # TFC w1a1's 8-bit layer 0 ECP5 fmax: 151.5 -> 144.6 MHz)
        pairs = lane_pairs(x_lanes) if self.pair_form else None
        if pairs is not None and inventory.pair_registers(simd, True):
            # the pair register: pair sums, lanes and weights, so that no adder precedes the muxes
            # before the first tree cut (wplane/xplane are constant in parallel mode)
            pairs = [register(p, "pair") for p in pairs]
            x_lanes = [register(x, "xlane") for x in x_lanes]
            w_lanes = [register(w, "wlane") for w in w_lanes]

        if bip_w and bip_x:
            # binary x binary: XNOR-popcount
            matches = popcount([~(bit(w_lanes[s], 0) ^ bit(x_lanes[s], 0)) for s in range(simd)], cut)
            y = 2 * matches - simd
        elif self.wplanes == 1 and self.aplanes == 1:
            if bip_w:
                # sum((2b-1) v) = 2 sum(b v) - sum(v)
                sel = tree_sum((Mux(w_lanes[s][0], x_lanes[s], 0) for s in range(simd)), cut)
                y = 2 * sel - tree_sum(x_lanes, cut)
            elif bip_x:
                # sum(w (2b-1)) = sum(b ? w : -w)
                y = tree_sum(
                    (Mux(x_lanes[s][0], w_lanes[s].as_signed(), -w_lanes[s].as_signed()) for s in range(simd)), cut
                )
            elif self.mac == "dsp":
                # one product per lane in a DSP block's three register stages (DSP_STAGES): the lane's
                # weight and activation registered here (the block's input registers: one pair per
                # product, so the only fabric path in is the caller's register -> the block), the
                # product registered twice (pipeline and output registers); boards/regpack.py packs
                # all four into the MULT18X18D on ECP5, xilinx_dsp into AREG/BREG/MREG/PREG on xc7
                # (registers numbered by stage: dspa, dspb, pipe, prod, lane, lanes 0..SIMD-1 each; sim/twins.py)
                wa = [register(w_lanes[s].as_signed(), "dspa") for s in range(simd)]
                xb = [register(x_lanes[s], "dspb") for s in range(simd)]
                pipes = [register(wa[s] * xb[s], "pipe") for s in range(simd)]
                prods = [register(p, "prod") for p in pipes]
                y = tree_sum([register(p, "lane") for p in prods], cut)
            else:
                # LUT products, no multiplier: weight bit-planes unrolled, the MSB plane negative,
                # each plane a tree over lane pairs (pair_tree) from PAIR_MIN_ABITS-bit activations
                planes_ = [
                    self._select_sum([bit(w, i) for w in w_lanes], x_lanes, pairs, cut) for i in range(self.wbits)
                ]
                # the planes combined in a balanced tree, the MSB plane subtracted at its node (ECP5: the
                # chain of adders and the negation after the last tree cut held TFC w4a4 at 140.3 MHz)
                y = signed_sum((t << i, i == self.wbits - 1) for i, t in enumerate(planes_))
        elif self.wplanes == 1:
            # bipolar weights, activation plane j: 2^j (2 popcount(b & x_j) - popcount(x_j))
            xj = [x_lanes[s].bit_select(self.xplane, 1) for s in range(simd)]
            t = 2 * popcount([bit(w_lanes[s], 0) & xj[s] for s in range(simd)], cut) - popcount(xj, cut)
            y = t << xplane
        else:
            # weight plane i (one bit per lane); MSB plane carries the negative weight
            wi = [bit(w_lanes[s], 0) for s in range(simd)]
            if bip_x:
                t = 2 * popcount([wi[s] & bit(x_lanes[s], 0) for s in range(simd)], cut) - popcount(wi, cut)
            elif self.aplanes == 1:
                t = tree_sum((Mux(wi[s], x_lanes[s], 0) for s in range(simd)), cut)
            else:
                xj = [x_lanes[s].bit_select(self.xplane, 1) for s in range(simd)]
                t = popcount([wi[s] & xj[s] for s in range(simd)], cut) << xplane
            # the plane shift registered, the MSB plane's negation behind it (ECP5: the shift and the
            # negation's carry chain after the last tree cut were fc64 bit-serial's critical path)
            shifted = Signal(signed(self.ybits))
            m.d.comb += shifted.eq(t << wplane)
            mag, neg = register(shifted, "shift"), register(wplane == self.wbits - 1, "neg")
            y = Mux(neg, -mag, mag)
        m.d.comb += self.y.eq(y)
        return m

    @staticmethod
    def _select_sum(sel, x_lanes, pairs, cut):
        """``sum_s (sel[s] ? x[s] : 0)``: :func:`pair_tree` over the lane pairs when there are, else
        AND-gated lanes into a plain tree."""
        if pairs is None:
            return tree_sum((Mux(sel[s], x_lanes[s], 0) for s in range(len(x_lanes))), cut)
        return pair_tree(sel, x_lanes, pairs, cut)
