"""IR validation and round-trip, golden model invariants (on random networks; trained ones in test_train)."""

import json

import numpy as np
import pytest

from bitscale.errors import UserError
from bitscale.nn import golden, ir
from bitscale.nn.random_net import random_cnv, random_fc, random_inputs


@pytest.mark.parametrize("w,a", [(1, 1), (2, 2), (1, 4), (4, 1), (8, 8), (16, 16), (3, 5)])
def test_fc_roundtrip_and_levels(tmp_path, w, a):
    net = random_fc([32, 24], w, a, seed=w * 17 + a)
    ir.save(net, tmp_path)
    back = ir.load(tmp_path)
    assert back.layers == net.layers
    x = random_inputs(net.input_shape, 50, seed=1)
    outs = golden.run_all(back, x)
    assert np.array_equal(outs[-1], golden.run(net, x))
    lo, hi = ir.act_range(a)
    h = outs[0]
    assert h.min() >= lo and h.max() <= hi
    if a == 1:
        assert set(np.unique(h)) <= {-1, 1}


def test_cnv_shapes():
    net = random_cnv((12, 12, 3), [8, "P", 8], [16], 2, 2, seed=3)
    x = random_inputs(net.input_shape, 5)
    outs = golden.run_all(net, x)
    assert [o.shape[1:] for o in outs] == [l.out_shape for l in net.layers]


def test_dense_matches_float_matmul():
    net = random_fc([16], 4, 3, seed=5)
    x = random_inputs(net.input_shape, 20, seed=2)
    l0 = net.layers[0]
    ref = x.astype(float) @ net.weight(l0).astype(float).T
    assert np.array_equal(golden.accumulate(net, l0, x), ref.astype(np.int64))


def test_conv_matches_direct_convolution():
    net = random_cnv((6, 7, 2), [3], [], 3, 2, num_classes=4, seed=9)
    l0 = net.layers[0]
    x = random_inputs(net.input_shape, 2, seed=4).astype(np.int64)
    w = net.tensors[f"{l0.name}.weight"]  # (OC, K, K, IC)
    acc = golden.accumulate(net, l0, x)
    for n in range(2):
        for oy in range(4):
            for ox in range(5):
                ref = (w * x[n, oy : oy + 3, ox : ox + 3, :][None]).sum(axis=(1, 2, 3))
                assert np.array_equal(acc[n, oy, ox], ref)


def _tamper(tmp_path, edit):
    net = random_fc([8], 2, 2, seed=1)
    ir.save(net, tmp_path)
    edit(tmp_path)
    with pytest.raises(UserError) as e:
        ir.load(tmp_path)
    return str(e.value)


def test_tampered_json_is_named(tmp_path):
    def edit(d):
        doc = json.loads((d / "network.json").read_text())
        doc["layers"][0]["wbits"] = 17
        (d / "network.json").write_text(json.dumps(doc))

    assert "wbits must be 1..16, not 17" in _tamper(tmp_path, edit)


def test_npz_shape_mismatch_is_named(tmp_path):
    def edit(d):
        z = dict(np.load(d / "network.npz"))
        z["dense0.weight"] = z["dense0.weight"][:, :-1]
        np.savez(d / "network.npz", **z)

    assert "has shape (8, 63), expected (8, 64)" in _tamper(tmp_path, edit)


def test_weight_out_of_range_is_named(tmp_path):
    def edit(d):
        z = dict(np.load(d / "network.npz"))
        z["dense0.weight"][0, 0] = 2  # 2-bit narrow range is {-1, 0, 1}
        np.savez(d / "network.npz", **z)

    assert "exceeds [-1, 1] for wbits=2 narrow" in _tamper(tmp_path, edit)


def test_corrupt_npz_is_named(tmp_path):
    assert "not a readable npz" in _tamper(tmp_path, lambda d: (d / "network.npz").write_bytes(b"garbage"))
