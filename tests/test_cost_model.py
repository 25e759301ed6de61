"""Analytical model and auto-folding: properties over random networks (cost_model/)."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitscale.boards import BOARDS
from bitscale.cost_model import auto_fold, estimate
from bitscale.cost_model import model
from bitscale.errors import UserError
from bitscale.hw import folding as fold
from bitscale.nn.random_net import random_cnv, random_fc

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def _tfc(w=1, a=1):
    return random_fc([64, 64, 64], w, a, in_features=784, seed=3)


def test_estimate_tfc_finn_folding():
    net = _tfc()
    f = fold.Folding(
        (
            fold.LayerFolding("dense0", 16, 49),
            fold.LayerFolding("dense1", 16, 16),
            fold.LayerFolding("dense2", 16, 16),
            fold.LayerFolding("dense3", 10, 16),
        )
    )
    e = estimate(net, f, "pynq-z1")
    mems = {m.role: m for m in e.layers[0].memories}
    assert mems["weights"].count == 22 and mems["weights"].floor == 22  # FINN's TFC layer 0
    # hw/ keeps the 392-bit x 16 input buffer (SIMD 49 x 8-bit pixels) in block RAM too
    assert mems["buffer"].count == 11 and e.layers[0].BRAM18 == 33
    assert e.cycles == 64 and e.fps == pytest.approx(100e6 / 64)
    doc = e.to_json()
    json.dumps(doc)
    assert set(doc["total"]) >= {"LUT", "FF", "BRAM18", "DSP", "cycles", "fps", "latency_cycles"}
    assert [l["name"] for l in doc["layers"]] == ["dense0", "dense1", "dense2", "dense3"]
    for l in doc["layers"]:
        assert set(l) >= {"name", "LUT", "FF", "BRAM18", "DSP", "cycles"}
    assert doc["total"]["BRAM18"] == sum(l["BRAM18"] for l in doc["layers"])


def test_estimate_rejects_illegal_folding_and_board():
    net = _tfc()
    bad = fold.Folding(
        (
            fold.LayerFolding("dense0", 3, 49),
            fold.LayerFolding("dense1"),
            fold.LayerFolding("dense2"),
            fold.LayerFolding("dense3"),
        )
    )
    with pytest.raises(ValueError, match="PE must divide MH=64"):  # a component's error (the CLI's: test_cost_cli)
        estimate(net, bad, "pynq-z1")
    with pytest.raises(UserError, match="unknown board"):
        estimate(net, fold.default_folding(net), "nope-board")


@SETTINGS
@given(
    w=st.integers(1, 4),
    a=st.integers(1, 4),
    seed=st.integers(0, 5),
    mode=st.sampled_from(fold.MODES),
    board=st.sampled_from(sorted(BOARDS)),
)
def test_cycles_and_monotone_tradeoffs(w, a, seed, mode, board):
    net = random_fc([32, 16], w, a, in_features=48, seed=seed)
    base = fold.default_folding(net, mode=mode, max_pe=1, max_simd=1)
    e1 = estimate(net, base, board)
    assert e1.cycles == max(fold.layer_cycles(l, base[l.name]) for l in net.compute_layers)
    # doubling PE on the first layer: never slower, never fewer LUTs
    l0 = net.compute_layers[0]
    f2 = fold.Folding((fold.LayerFolding(l0.name, 2, 1, mode),) + base.layers[1:])
    e2 = estimate(net, f2, board)
    assert e2.layers[0].cycles * 2 == e1.layers[0].cycles
    assert e2.layers[0].LUT >= e1.layers[0].LUT
    assert e2.layers[0].FF >= e1.layers[0].FF
    # serial modes never faster than parallel
    par = estimate(net, fold.default_folding(net, "parallel"), board)
    ser = estimate(net, fold.default_folding(net, "bit-serial"), board)
    assert ser.cycles >= par.cycles


@SETTINGS
@given(
    w=st.integers(1, 4),
    a=st.integers(1, 4),
    seed=st.integers(0, 3),
    board=st.sampled_from(["pynq-z1", "ulx3s-85f", "icebreaker"]),
    frac=st.floats(0.001, 1.0),
)
def test_auto_fold_legal_meets_target_and_fits(w, a, seed, board, frac):
    net = random_fc([64, 32], w, a, in_features=64, seed=seed)
    keys = ("LUT", "BRAM18", "DSP", *(("LC",) if board == "icebreaker" else ()))  # iCE40: logic cells too
    try:
        fastest = auto_fold(net, board)
    except UserError as e:
        # only legitimate when even the fully folded design is over the cap somewhere
        assert "nothing fits" in str(e)
        lean = estimate(net, fold.default_folding(net, max_pe=1, max_simd=1), board)
        assert max(lean.utilization[k] for k in keys) > 0.8 - 1e-3
        return
    fold.validate(net, fastest)
    ef = estimate(net, fastest, board)
    for k in keys:  # (1e-3: the estimate rounds each layer's LUT and FF; auto-folding sums them unrounded)
        assert ef.utilization[k] <= 0.8 + 1e-3
    target = ef.fps * frac
    f = auto_fold(net, board, target_fps=target)
    fold.validate(net, f)
    e = estimate(net, f, board)
    assert e.fps >= target * (1 - 1e-9)
    for k in keys:
        assert e.utilization[k] <= 0.8 + 1e-3

    # a slower target never costs more than the fastest folding, in the folder's own currency (board-weighted
    # utilization; on iCE40 logic cells stand for LUTs): it may trade LUTs for block RAM, e.g. on iCE40 where
    # distributed RAM is flip-flops
    def cost(est):
        return sum(est.utilization[k] for k in ("LC" if "LC" in est.utilization else "LUT", "BRAM18", "DSP"))

    assert cost(e) <= cost(ef) * 1.0001 + 1e-9
    with pytest.raises(UserError, match="out of reach"):
        auto_fold(net, board, target_fps=ef.fps * 4 + 1e6)


def test_auto_fold_errors():
    net = random_fc([1024, 1024, 1024], 2, 2, in_features=784, seed=0)
    with pytest.raises(UserError, match="nothing fits pynq-z1"):
        auto_fold(net, "pynq-z1")
    with pytest.raises(
        UserError, match="target 1e\\+09 FPS is out of reach: the fastest folding that fits pynq-z1 gives"
    ):
        auto_fold(_tfc(), "pynq-z1", target_fps=1e9)
    with pytest.raises(UserError, match="modes"):
        auto_fold(_tfc(), "pynq-z1", modes=("fast",))
    with pytest.raises(UserError, match="target FPS"):
        auto_fold(_tfc(), "pynq-z1", target_fps=-5)


def test_auto_fold_modes_restrict():
    net = random_fc([64, 32], 4, 4, in_features=64, seed=1)
    f = auto_fold(net, "ulx3s-85f", target_fps=1000, modes=("bit-serial",))
    assert {lf.mode for lf in f.layers} == {"bit-serial"}


def test_cnv_estimate_and_speed():
    net = random_cnv((16, 16, 3), [32, 32, "P", 64, 64], [128], 1, 1, seed=0)
    f = auto_fold(net, "pynq-z1")  # its speed: bench/cost_speed.py (no wall-clock asserts here)
    fold.validate(net, f)
    e = estimate(net, f, "pynq-z1")
    assert e.fits
    # vectorized: many candidate foldings of one layer per call
    info = model.layer_infos(net)[1]
    pe = np.repeat([1, 2, 4, 8, 16, 32, 64], 300)
    simd = np.tile(np.repeat([1, 2, 4], 100), 7)
    c = model.layer_costs(info, pe, simd, np.zeros_like(pe), "xc7")
    assert c["LUT"].shape == pe.shape


def test_auto_fold_puts_small_products_in_luts():
    """2- and 4-bit products cost no DSP while LUTs suffice (mac "lut"); estimate counts 0 DSPs for them."""
    for w, a in ((2, 2), (4, 4)):
        net = random_fc([64, 64], w, a, in_features=64, seed=1)
        f = auto_fold(net, "ulx3s-85f", 20_000, modes=("parallel",))
        later = [lf for lf in f.layers[1:]]  # layer 0 takes 8-bit pixels
        assert all(lf.mac == "lut" for lf in later), f
        e = estimate(net, f, "ulx3s-85f")
        assert all(le.DSP == 0 for le in e.layers[1:]), e.layers
        assert fold.Folding.from_json(json.loads(json.dumps(f.to_json()))) == f


def test_mac_choice_uses_dsps_only_when_luts_run_out():
    import dataclasses

    from bitscale.boards import get
    from bitscale.cost_model.autofold import choose_mac

    net = random_fc([64, 64], 4, 4, in_features=64, seed=2)
    f = fold.Folding(
        tuple(fold.LayerFolding(l.name, 8, 16, "parallel") for l in net.compute_layers[:2])
        + (fold.LayerFolding(net.compute_layers[2].name, 2, 16, "parallel"),)
    )
    board = get("ulx3s-85f")
    roomy = choose_mac(net, f, board)
    assert [lf.mac for lf in roomy.layers] == ["lut"] * 3
    lut_only = estimate(net, roomy, board)
    assert lut_only.DSP == 0
    tight = dataclasses.replace(board, lut=int(lut_only.LUT * 0.9))
    chosen = choose_mac(net, f, tight)
    assert "dsp" in [lf.mac for lf in chosen.layers]
    e = estimate(net, chosen, tight)
    assert e.LUT < lut_only.LUT and e.DSP > 0


def test_folding_mac_round_trip_and_errors():
    lf = fold.LayerFolding("d", 2, 4, "parallel", "lut")
    f = fold.Folding((lf,))
    assert fold.Folding.from_json(f.to_json()) == f
    assert fold.Folding.from_json({"layers": [{"name": "d"}]}).layers[0].mac == "dsp"  # old files
    net = random_fc([], 2, 2, in_features=8, seed=0)
    with pytest.raises(ValueError, match="mac must be one of lut, dsp, not 'fpga'"):
        fold.validate(net, fold.Folding((fold.LayerFolding(net.compute_layers[0].name, 1, 1, "parallel", "fpga"),)))


def test_ice40_logic_cells_rule_in_estimate_and_fit_check():
    """iCE40's capacity counts logic cells (one LUT4 + one flip-flop; nextpnr packs only a flip-flop fed by
    a single-fanout LUT with it): the estimate carries LC = model.ice40_cells(LUT, FF), its utilization and
    fit check use it, and the other families have none."""
    from bitscale.api import fit_message
    from bitscale.cost_model import Estimate

    assert model.ice40_cells(1000, 800) == 1000 + 0.75 * 800
    assert model.ice40_cells(10, 800) == 800 and model.ice40_cells(900, 0) == 900  # never below either count
    net = random_fc([64, 32], 2, 2, in_features=64, seed=1)
    f = fold.default_folding(net)
    e = estimate(net, f, "icebreaker")
    assert e.LC == round(model.ice40_cells(e.LUT, e.FF)) > e.LUT
    assert e.utilization["LC"] == e.LC / 5280 and e.to_json()["total"]["LC"] == e.LC
    assert Estimate.from_json(e.to_json()) == e
    on_ecp5 = estimate(net, f, "ulx3s-85f")
    assert on_ecp5.LC == 0 and "LC" not in on_ecp5.utilization and "LC" not in on_ecp5.to_json()["total"]
    # LUTs that fit but cells that do not: refused, and the message says so
    from dataclasses import replace

    util = {"LUT": 5000 / 5280, "FF": 2000 / 5280, "BRAM18": 0.1, "DSP": 0.0, "LC": 6500 / 5280}
    over = replace(e, LUT=5000, FF=2000, BRAM18=3, DSP=0, LC=6500, utilization=util)
    assert not over.fits
    msg = fit_message(over)
    assert "LUT 5,000/5,280 (95%)" in msg and "logic cells 6,500/5,280 (123%); over: logic cells." in msg


def test_xilinx_srl_chain_of_a_distributed_weight_rom():
    """Since #13's reset-less data registers (2b89e40), a distributed weight ROM's read register, w_word and w2
    form a 3-deep chain with one enable that synth_xilinx maps to SRL16E: per live weight bit 3 flip-flops
    fewer and one LUT more (exact-count "srl" term), on xc7/xcup only; a block-RAM weight memory has none."""
    info = model.layer_infos(random_fc([16], 4, 4, in_features=16, seed=2))[0]  # 16x16 weights: logic ROM
    one = np.array([1])
    f = {fam: model.features(info, one * 2, one * 4, one * 0, fam) for fam in ("xc7", "xcup", "ecp5", "ice40")}
    assert float(f["xc7"]["srl"][0]) == float(f["xcup"]["srl"][0]) == 2 * 4 * 4  # PE * SIMD * w live bits
    assert float(f["ecp5"]["srl"][0]) == float(f["ice40"]["srl"][0]) == 0
    assert {"pipe", "srl"} <= set(model.FIXED["FF"]) and model.PRIORS["FF"]["srl"] == -3.0
    assert model.PRIORS["LUT"]["srl"] == 1.0
    c = model.coefficients("xc7")
    assert c.coef["FF"]["srl"] == -3.0 and c.coef["LUT"]["srl"] == 1.0
    big = model.layer_infos(random_fc([256], 4, 4, in_features=256, seed=2))[0]  # 256 x 256 x 4 bits: block RAM
    assert float(model.features(big, one * 2, one * 4, one * 0, "xc7")["srl"][0]) == 0


def test_requantizer_registers_are_the_live_distinct_parameter_columns():
    """hw/mvtu.py's requantizer copies the parameter word (params5) into mul6/add6 and add6 into add7; Yosys drops
    the registers of constant columns and merges those with equal D inputs, so each stage costs the exactly
    distinct live columns (measured on held-out ECP5 runs: ho7_002 params5 48 FFs, mul6+add6 48, add7 46 for 47 /
    45 distinct columns; ho7_049, NF = 1: one each). prod7 is q_bits + the multipliers' significant bits per PE,
    y8 loses its top `shift` bits (copies of the sign)."""
    net = random_fc([16], [4, 3], [8], in_features=48, seed=1014)
    info = model.layer_infos(net)[0]
    assert info.act == "requant" and info.rq_shift > 0
    mul = net.requant(net.compute_layers[0])[0].astype(np.int64)
    for pe in (1, 2, 4, 8, 16):
        assert 0 <= info.rq_add_exact[pe] <= info.param_exact[pe] <= model.param_columns(info, np.array([pe]))[0]
        want = 0
        for p in range(pe):
            v = int(np.bitwise_or.reduce(mul[p::pe]))
            want += v.bit_length() - ((v & -v).bit_length() - 1) if v else 0
        assert info.rq_prod_bits[pe] == want
    # NF = 1: a constant table, no parameter registers at all
    assert info.param_exact[16] == 0 and info.rq_add_exact[16] == 0
    # on ECP5 each distinct column costs params5, mul6/add6 (+ add7 for an offset column): 2 or 3 registers
    from dataclasses import replace

    one = np.array([1])
    base = model.features(info, one * 8, one * 4, one * 0, "ecp5")["pipe"][0]
    more = replace(info, param_exact=tuple(v + 1 if v >= 0 else v for v in info.param_exact))
    assert model.features(more, one * 8, one * 4, one * 0, "ecp5")["pipe"][0] == base + 2


def test_dsp_lane_product_register_is_an_exact_ff_term():
    """hw/dotproduct.py registers each DSP lane's product (w + a bits after Yosys' wreduce: ho7_036 ECP5, 48
    lanes of 7 x 8 bits, 720 FFs); Xilinx packs it into the DSP48 (MREG), so it is fabric only where the
    product is not in a DSP. An exact count ("prod", FIXED), not part of the fitted tree-cut term. Since 7a20b44
    (RTL_CHANGES "dsp_stages", hw/inventory.DSP_STAGES): the operands (w per PE lane; the activation's a bits merged
    into one per layer on ECP5/iCE40) and the product three times (pipe, prod, lane); Xilinx keeps only the lane
    register of a DSP-mapped product; each further stage delays the control (s2d: valid, first, last, row fold)."""
    from bitscale.hw import inventory

    info = model.layer_infos(random_fc([48], [7, 8], [1], in_features=16, seed=1036))[0]
    one = np.array([1])

    def feats(fam, mode=0, **kw):
        return {k: float(v[0]) for k, v in model.features(info, one * 3, one * 16, one * mode, fam, **kw).items()}

    old = {fam: feats(fam, dsp_stages=False) for fam in ("ecp5", "xc7", "ice40")}
    assert old["ecp5"]["prod"] == old["ice40"]["prod"] == 3 * 16 * (7 + 8)
    assert old["xc7"]["prod"] == 0  # 7 x 9 bits: a DSP48E1 with its MREG
    assert "prod" in model.FIXED["FF"] and model.PRIORS["FF"]["prod"] == 1.0
    new = {fam: feats(fam) for fam in ("ecp5", "xc7", "ice40")}
    chain = 3 * 16 * (7 + 8)
    assert inventory.DSP_STAGES == 4
    assert new["ecp5"]["prod"] == new["ice40"]["prod"] == 3 * 16 * 7 + 16 * 8 + 3 * chain
    assert new["xc7"]["prod"] == chain and new["xc7"]["srl"] == old["xc7"]["srl"]  # the lane register only
    # the tree behind the lane registers is fabric on Xilinx too (no DSP48 post-adder): "tree", not "dtree"
    assert old["xc7"]["dtree"] > 0 and new["xc7"]["dtree"] == 0 and new["xc7"]["tree"] == old["xc7"]["dtree"]
    stage = 3 + 4  # NF 16: valid, first, last and the 4-bit row fold per extra stage
    for fam in ("ecp5", "xc7"):
        assert new[fam]["pipe"] - old[fam]["pipe"] == 3 * stage
    serial = feats("ecp5", 1)  # weight-serial: no products
    assert serial["prod"] == 0
    # a product Yosys keeps in LUTs on xc7 (2 x 3 bits): the operand registers per PE, and the reset-less 3-deep
    # product chain an SRL16E per bit (srl: FF -3, LUT +1); A/B ho7_043 xc7 conv1 (64d79ed -> 7a20b44's tree)
    small = model.layer_infos(random_fc([32, 16], [2, 2, 2], [3, 3], in_features=16, seed=5))[1]
    assert small.wbits == 2 and small.abits == 3
    s_new = {k: float(v[0]) for k, v in model.features(small, one * 2, one * 4, one * 0, "xc7").items()}
    s_old = {
        k: float(v[0]) for k, v in model.features(small, one * 2, one * 4, one * 0, "xc7", dsp_stages=False).items()
    }
    lanes = 2 * 4 * (2 + 3)
    assert s_old["prod"] == lanes and s_new["prod"] == lanes + 3 * lanes
    assert s_new["srl"] - s_old["srl"] == lanes


def test_data_width_converters_between_layers():
    """hw/top.py puts a hw/dwc.DWC between layers whose lanes differ (previous PE != SIMD; 3 -> 2 goes up to 6
    lanes, then down): its registers are an exact FF count, its down-converter's word select a fitted LUT term,
    charged to the layer it feeds. tr11_063 (fc 48-12-12-10) on xc7, per-module flip-flops in Yosys: 146 + 99
    in front of dense1 (PE 3 x 16 bits -> SIMD 2), 83 + 50 in front of dense2 (PE 2 x 8 bits -> SIMD 3)."""
    net = random_fc([12, 12], [6, 8, 12], [16, 8], in_features=48, seed=1063)
    f = fold.Folding(
        (
            fold.LayerFolding("dense0", 3, 3, "weight-serial"),
            fold.LayerFolding("dense1", 2, 2, "parallel"),
            fold.LayerFolding("dense2", 1, 3, "weight-serial"),
        )
    )
    conv = model.dwc_features(net, f)
    assert conv == {"dense1": {"LUT": 2 * 16 * 2, "FF": 146 + 99}, "dense2": {"LUT": 3 * 8, "FF": 83 + 50}}
    assert "dwc" in model.FIXED["FF"] and "dwc" not in model.FIXED["LUT"]
    e = estimate(net, f, "pynq-z1")
    c = model.coefficients("xc7").coef
    lay = model.layer_infos(net)[1]
    base = model.layer_costs(lay, 2, 2, ["parallel"], "xc7")
    assert e.layers[1].FF == round(float(base["FF"][0]) + 245 * c["FF"]["dwc"])
    assert e.layers[1].LUT == round(float(base["LUT"][0]) + 64 * c["LUT"]["dwc_mux"])
    # matched lanes: no converter
    same = fold.Folding(
        tuple(fold.LayerFolding(n, 2, 2) for n in ("dense0", "dense1")) + (fold.LayerFolding("dense2", 1, 2),)
    )
    assert model.dwc_features(net, same) == {}


def test_ice40_tree_registers_after_every_adder_level():
    """The iCE40 board flow elaborates its core with a register after every adder level (bfe72b6,
    hw/inventory.ICE40_CUT_LEVEL): SIMD 8 has 3 tree registers (4 + 2 + 1 partial sums) instead of 2 (2 + 1),
    and the output queue follows the longer dot-product latency; other families keep CUT_LEVEL."""
    from bitscale.hw import inventory

    info = model.layer_infos(random_fc([16], 1, 1, in_features=64, seed=3))[1]  # XNOR 16 -> 10: 3 bits per partial sum
    one = np.array([1])
    assert model.cut_level("ice40") == inventory.ICE40_CUT_LEVEL == 1 and model.cut_level("ecp5") == 2
    ice = model.features(info, one * 2, one * 8, one * 0, "ice40")
    ecp = model.features(info, one * 2, one * 8, one * 0, "ecp5")
    assert float(ice["cut"][0]) == 2 * (4 + 2 + 1) * 3 and float(ecp["cut"][0]) == 2 * (2 + 1) * 3
    assert float(model.features(info, one * 2, one * 8, one * 0, "ice40", level=2)["cut"][0]) == float(ecp["cut"][0])
    assert float(ice["out"][0]) >= float(ecp["out"][0])


def test_lut_products_are_unrolled_weight_plane_trees():
    """mac "lut" products (hw/dotproduct.py: no '*'): w adder trees of selected activations, one per weight plane,
    plus w - 1 plane adders per PE; not a soft multiplier's partial products. In the gated form (below PAIR_MIN_ABITS,
    and all of hw/ before 6ff8c0b) each plane is the weight-serial tree of AND-gated lanes. A '*' Yosys keeps in logic
    (mac "dsp" below the DSP threshold) keeps the soft-multiplier terms. Checked against the cached Yosys runs of
    FINN TFC with LUT products (bench/vs_finn.py; in no fit), with the features of each run's own RTL
    (calibrate_cost.design_features and the run's hw_commit, as the fit does)."""
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    info = next(i for i in model.layer_infos(_tfc(2, 2)) if i.abits == 8)  # layer 0: 2-bit weights x 8-bit pixels
    lut, dsp = (
        {
            k: float(v[0])
            for k, v in model.features(info, [16], [49], [0], "xc7", model._mac_index([m]), pair_tree=False).items()
        }
        for m in ("lut", "dsp")
    )
    ybits = 6 + 2 + 8 + 2
    assert lut["wtree"] == 784 * 2 * 8 and lut["mul"] == lut["tree"] == 0 and lut["sub"] == 16 * ybits
    assert lut["cut"] == 16 * (13 + 4 + 1) * 2 * (8 + 2)  # SIMD 49: 3 cuts, 13 + 4 + 1 partial sums per plane tree
    # a DSP48 product on xc7 (2 x 8 bits); its tree all fabric behind the lane registers (7a20b44: "tree", not "dtree")
    assert dsp["wtree"] == 0 and dsp["tree"] == 784 * 11 and dsp["dtree"] == 0
    small = next(i for i in model.layer_infos(_tfc(2, 2)) if i.abits == 2)  # 2 x 2 bits: Yosys keeps '*' in LUTs
    soft = {k: float(v[0]) for k, v in model.features(small, [8], [8], [0], "xc7").items()}
    assert soft["mul"] == 64 * 4 and soft["tree"] == 64 * 5 and soft["wtree"] == 0

    sys.path.insert(0, str(root / "bench"))
    import vs_finn
    from calibrate_cost import _descends, design_features

    coef = model.coefficients("xc7").coef["LUT"]
    for w in (2, 4):
        d = vs_finn.design("tfc", w, w, folder_mac=True)
        y = json.loads((root / "bench" / "results" / "cost_synth" / f"{d.name}.xc7.json").read_text())
        # the model of the run's own RTL (3dbbe36: gated form, +31% / +10% before c8fcd9b; a59fd51 on: the pair form)
        fe = design_features(d, "xc7", rtl={k: _descends(y, c) for k, c in model.RTL_CHANGES.items()})
        lut = coef["design"] + sum(coef[k] * fe[k] for k in model.LUT_FEATURES)
        assert abs(lut / y["LUT"] - 1) < 0.08, (d.name, y["hw_commit"], lut, y["LUT"])


def test_plane_shift_and_output_code_registers():
    """#13's ee741b4 / 9ffd9c0 / a59fd51 registers (exact FF counts in "pipe"): a weight-plane dot product's registered
    plane shift (its live bits: the weight-plane shifter's output width), MSB flag (one per layer: equal in every PE,
    merged) and the control of that extra stage, a thresholds / requantizer layer's registered output code and its valid
    bit, the loop counters' flags; each stage lengthens the pipeline, so
    the output queue follows (inventory.dot_latency / mvtu_latency). features(plane_reg=False, code_reg=False)
    describes the older RTL that cached runs were synthesized from."""
    net = random_fc([32, 32], 2, 2, in_features=64, seed=53)
    info = model.layer_infos(net)[0]  # thresholds, 2-bit weights x 8-bit pixels
    bs = model.MODES.index("bit-serial")

    def pipe(mode, **kw):
        return {k: float(v[0]) for k, v in model.features(info, [2], [4], [mode], "ecp5", **kw).items()}

    new, old = pipe(bs), pipe(bs, plane_reg=False, code_reg=False, ctr_flags=False)
    # SIMD 4 bit-serial (2 x 8 planes): popcount 3 bits, << xplane (0..7) -> 10, << wplane (0..1) -> 11 live bits
    shift = model._plane_shift_bits(info, 4, 2, 8)
    assert shift == 11
    # a59fd51's counter flags: two per counter with more than one value (NF 16, SF 16, 2 weight and 8 activation planes)
    flags = 2 * 4
    stage = 3 + 4  # the extra dot stage's control: valid, first, last and the row fold (NF 16: 4 bits)
    assert new["pipe"] - old["pipe"] == 2 * shift + 1 + stage + 2 * info.out_bits + 1 + flags
    assert pipe(bs, code_reg=False, ctr_flags=False)["pipe"] - old["pipe"] == 2 * shift + 1 + stage
    par = model.MODES.index("parallel")  # no weight planes: only the output code, and flags for NF and SF
    off = pipe(par, plane_reg=False, code_reg=False, ctr_flags=False)
    assert pipe(par)["pipe"] - off["pipe"] == 2 * info.out_bits + 1 + 2 * 2
    last = model.layer_infos(net)[-1]  # act "none": no output code register
    f = [model.features(last, [2], [8], [par], "ecp5", code_reg=c)["pipe"][0] for c in (True, False)]
    assert f[0] == f[1]


def test_pair_form_selections():
    """hw/dotproduct.pair_tree (6ff8c0b): mac "lut" products over activations of PAIR_MIN_ABITS+ bits select per lane pair
    among 0, x[2k], x[2k+1] and their sum: per PE floor(S/2) pair adders and per weight plane ceil(S/2) mux terms, a + 1
    bits each ("padd", "pmux"), instead of gated-lane trees. Bipolar weights x integers keep the gated trees (the w1
    pair form was reverted before the RTL final); below PAIR_MIN_ABITS, and for cached runs of older hw/
    (pair_tree=False), the gated form."""
    from bitscale.hw import inventory

    par, lut = model.MODES.index("parallel"), model._mac_index(["lut"])

    def feats(info, simd, **kw):
        return {k: float(v[0]) for k, v in model.features(info, [4], [simd], [par], "xc7", lut, **kw).items()}

    bip = model.layer_infos(random_fc([64, 32], 1, 8, in_features=64, seed=5))[0]  # 1-bit weights x 8-bit pixels
    f = feats(bip, 16)
    assert (f["pmux"], f["padd"], f["tree"]) == (0, 0, 4 * 16 * 2 * 8)  # select tree + sum(v) tree, gated
    prod = model.layer_infos(random_fc([64, 32], 3, 8, in_features=64, seed=5))[0]  # 3-bit weights: mac "lut"
    g = feats(prod, 16)
    assert (g["pmux"], g["padd"], g["wtree"]) == (4 * 3 * 8 * 9, 4 * 8 * 9, 0)
    old = feats(prod, 16, pair_tree=False)
    assert (old["pmux"], old["padd"], old["wtree"]) == (0, 0, 4 * 16 * 3 * 8)
    narrow = model.layer_infos(random_fc([64, 32], 3, inventory.PAIR_MIN_ABITS - 1, in_features=64, seed=5))[1]
    h = feats(narrow, 16)
    assert h["pmux"] == h["padd"] == 0 and h["wtree"] == 4 * 16 * 3 * (inventory.PAIR_MIN_ABITS - 1)
    # no training run of the pair form yet: its coefficients are the family's probe-derived priors (FAMILY_PRIORS)
    for fam in ("xc7", "ecp5", "ice40"):
        m = model.coefficients(fam)
        for k in ("pmux", "padd"):
            if f"LUT.{k}" in m.prior_only:
                assert m.coef["LUT"][k] == model.priors(fam)["LUT"][k] == model.FAMILY_PRIORS[fam]["LUT"][k]
    assert model.CostModel.prior("ecp5").coef["LUT"]["pmux"] == 2.22 and model.priors("ecp5")["LUT"]["tree"] == 1.0
