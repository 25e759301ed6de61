"""hw/inventory.py: the structure rules hw/ builds with are the ones the cost model counts (#17 item 2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitscale.cost_model import model
from bitscale.hw import inventory
from bitscale.hw.folding import LayerFolding, default_folding, iterations
from bitscale.hw.layout import memory_shape
from bitscale.hw.mvtu import MVTU
from bitscale.hw.top import Accelerator
from bitscale.nn.random_net import random_fc

SETTINGS = settings(max_examples=20, deadline=None, derandomize=True)


@SETTINGS
@given(w=st.integers(1, 8), a=st.integers(1, 8), mode=st.sampled_from(inventory.MODES))
def test_planes_scalar_and_vectorized_agree(w, a, mode):
    wp, ap = inventory.planes(w, a, mode)
    vwp, vap = inventory.planes_v(np.array([w]), np.array([a]), np.array([inventory.MODES.index(mode)]))
    assert (wp, ap) == (int(vwp[0]), int(vap[0]))
    if w == 1 and a == 1 or mode == "parallel":
        assert (wp, ap) == (1, 1)
    else:
        assert wp == (w if w > 1 else 1) and ap == (a if mode == "bit-serial" and a > 1 else 1)


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")  # built to be inspected only
@settings(max_examples=10, deadline=None, derandomize=True)
@given(w=st.integers(1, 4), a=st.integers(1, 6), seed=st.integers(0, 3), mode=st.sampled_from(inventory.MODES))
def test_hw_and_cost_model_read_one_inventory(w, a, seed, mode):
    net = random_fc([16, 8], w, a, in_features=16, seed=seed)
    folding = default_folding(net, mode=mode, max_pe=4, max_simd=4)
    acc = Accelerator(net, folding)
    stages = dict(acc.stages)
    for layer, info in zip(net.compute_layers, model.layer_infos(net)):
        lf: LayerFolding = folding[layer.name]
        mvtu: MVTU = stages[layer.name]
        wp, ap = inventory.planes(layer.wbits, layer.in_bits, lf.mode)
        # planes: the MVTU, the folding's cycle count and the model
        mwp, map_ = model.planes(info, model._mode_index([lf.mode]))
        assert (mvtu.wplanes, mvtu.aplanes) == (wp, ap) == (int(mwp[0]), int(map_[0]))
        assert iterations(layer, lf.mode) == wp * ap
        # the weight memory: hw/layout and the model's memory list
        mems = {
            m[0]: m for m in model.memories(info, np.array([lf.pe]), np.array([lf.simd]), model._mode_index([lf.mode]))
        }
        assert (mvtu.mem_width, mvtu.mem_depth) == memory_shape(
            layer.mh, layer.mw, lf.pe, lf.simd, layer.wbits, layer.in_bits, lf.mode
        )
        assert (mvtu.mem_width, mvtu.mem_depth) == (
            int(np.ravel(mems["weights"][2])[0]),
            int(np.ravel(mems["weights"][3])[0]),
        )
        # the FIFO in front of the layer: hw/top and the model (which counts depth - 1 stored words)
        fifo = stages[f"{layer.name}_fifo"]
        assert fifo.depth == int(inventory.fifo_depth(layer.kind == "conv", layer.mw // lf.simd))
        assert int(np.ravel(mems["fifo"][3])[0]) == fifo.depth - 1
        # the parameter table: what the MVTU packs, field by field, is the inventory's
        pf = inventory.param_fields(net, layer)
        if pf is None:
            assert info.n_params == 0
            continue
        fields, bits = pf
        assert (info.n_params, info.param_bits) == (fields.shape[1], bits)
        for nf, word in enumerate(mvtu._params):
            got = [(word >> (k * bits)) & ((1 << bits) - 1) for k in range(lf.pe * fields.shape[1])]
            assert got == fields[nf * lf.pe : (nf + 1) * lf.pe].reshape(-1).tolist()


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")  # built to be inspected only
def test_pair_register_counted_once():
    """The pair form's register (hw/inventory.pair_registers) where its trees are cut: the vectorized rule the
    cost model reads is the DotProduct's latency, and the MVTU's."""
    from bitscale.hw.dotproduct import DotProduct

    simd = np.array([3, 4, 5, 8, 16, 16, 49])
    pair = np.array([1, 1, 1, 1, 1, 0, 1])
    assert inventory.pair_registers(simd, pair).tolist() == [0, 0, 1, 1, 1, 0, 1]
    lat = inventory.dot_latency(simd, np.ones_like(simd), np.zeros_like(simd), inventory.CUT_LEVEL, pair)
    assert lat.tolist() == [0, 0, 3, 3, 3, 2, 4]
    for s, p, want in zip(simd, pair, lat):
        # 4-bit weights x 8-bit activations: the pair form from PAIR_MIN_ABITS, the gated form above it
        dp = DotProduct(int(s), 4, 8, "parallel", "lut", pair_min_abits=inventory.PAIR_MIN_ABITS if p else 9)
        assert dp.pair_form == bool(p) and dp.latency == want
