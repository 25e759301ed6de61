"""The model's block-RAM (and DSP) count equals what Yosys infers for a generated design (slow: real Yosys)."""

import json

import pytest

from bitscale.cost_model import estimate
from bitscale.hw.folding import Folding, LayerFolding
from bitscale.nn.random_net import random_fc


@pytest.mark.slow
@pytest.mark.yosys
def test_generated_design_bram_equals_yosys(tmp_path):
    gen = pytest.importorskip("bitscale.hw.generate")
    from bitscale.boards.synth import synth

    # weights 64 x 128 (block, swizzle-free), 64 x 64 (block), a dense FIFO of 9 words, params distributed
    net = random_fc([64, 32], 2, 2, in_features=64, seed=1)
    f = Folding(
        (LayerFolding("dense0", 4, 8), LayerFolding("dense1", 4, 8, "weight-serial"), LayerFolding("dense2", 2, 8))
    )
    gen.generate(net, f, tmp_path)
    r = synth(tmp_path, "xc7", log=lambda *a: None)
    assert json.loads((tmp_path / "synth.json").read_text())["BRAM18"] == r["BRAM18"]
    e = estimate(net, f, "pynq-z1")
    assert e.BRAM18 > 0
    assert r["BRAM18"] == e.BRAM18, (r["cells"], [m.to_json() for l in e.layers for m in l.memories])
    assert r["DSP"] == e.DSP
    assert r["LUT"] > 0 and r["FF"] > 0
    # per-module breakdown (synth_xilinx keeps the hierarchy): each module's own cells, summing to the total
    mods = r["modules"]
    assert {"bitscale_top.dense0", "bitscale_top.dense1", "bitscale_top.dense2"} <= set(mods)
    for k in ("LUT", "FF", "BRAM18", "DSP"):
        assert sum(m[k] for m in mods.values()) == r[k], k


@pytest.mark.slow
@pytest.mark.yosys
def test_ice40_synth_maps_small_rams_to_logic_and_ebr_equals_model(tmp_path):
    """iCE40 has no LUT RAM: `bitscale synth --family ice40` must still map a design whose small input
    buffers are ram_style "distributed" (it failed with "no valid mapping found" before), and the EBR
    count must be the model's."""
    gen = pytest.importorskip("bitscale.hw.generate")
    from bitscale.boards.synth import synth

    net = random_fc([32, 16], 2, 2, in_features=32, seed=1)
    f = Folding((LayerFolding("dense0", 4, 8), LayerFolding("dense1", 4, 8), LayerFolding("dense2", 2, 8)))
    design = gen.generate(net, f, tmp_path)
    assert any((l.get("input_buffer") or {}).get("style") == "distributed" for l in design["layers"])
    r = synth(tmp_path, "ice40", place=False, log=lambda *a: None)
    e = estimate(net, f, "icebreaker")
    assert r["bram_kind"] == "EBR" and r["BRAM18"] == e.BRAM18 > 0
    assert r["LUT"] > 0 and r["FF"] > 0
    assert 'ram_style = "distributed"' in (tmp_path / "bitscale_top.v").read_text()  # the build itself is unchanged
