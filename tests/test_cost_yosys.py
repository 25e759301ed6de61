"""The model's block-RAM (and DSP) count equals what Yosys infers for a generated design (slow: real Yosys)."""
import json

import pytest

from bitscale.cost_model import estimate
from bitscale.hw.folding import Folding, LayerFolding
from bitscale.nn.random_net import random_fc


@pytest.mark.slow
def test_generated_design_bram_equals_yosys(tmp_path):
    gen = pytest.importorskip("bitscale.hw.generate")
    from bitscale.sim.synth import synth
    # weights 64 x 128 (block, swizzle-free), 64 x 64 (block), a dense FIFO of 9 words, params distributed
    net = random_fc([64, 32], 2, 2, in_features=64, seed=1)
    f = Folding((LayerFolding("dense0", 4, 8), LayerFolding("dense1", 4, 8, "weight-serial"),
                 LayerFolding("dense2", 2, 8)))
    gen.generate(net, f, tmp_path)
    r = synth(tmp_path, "xc7", log=lambda *a: None)
    assert json.loads((tmp_path / "synth.json").read_text())["BRAM18"] == r["BRAM18"]
    e = estimate(net, f, "pynq-z1")
    assert e.BRAM18 > 0
    assert r["BRAM18"] == e.BRAM18, (r["cells"], [m.to_json() for l in e.layers for m in l.memories])
    assert r["DSP"] == e.DSP
    assert r["LUT"] > 0 and r["FF"] > 0
