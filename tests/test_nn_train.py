"""Brevitas QAT -> IR export -> golden model: exact agreement over weight/activation bits and both families."""

import json

import numpy as np
import torch

torch.set_num_threads(1)  # 2 threads on a busy 2-core machine are several times slower
import pytest

from bitscale.nn import golden, ir
from bitscale.nn import data as nndata
from bitscale.nn.train import TrainConfig, check_export, load_model, train

pytestmark = pytest.mark.training

# Pairs over {1, 2, 3, 4, 8, 16}, equal and mixed; a >= 5 uses the requantizer, a <= 4 thresholds.
FC_PAIRS = [(1, 1), (2, 2), (3, 3), (4, 4), (8, 8), (16, 16), (1, 4), (4, 1), (2, 8), (8, 2), (16, 4), (3, 16)]
CNV_PAIRS = [(1, 1), (2, 2), (4, 8), (8, 3)]


def _train(tmp_path, model, w, a, scale, epochs=2, seed=0):
    cfg = TrainConfig(
        model=model, wbits=w, abits=a, scale=scale, dataset="digits", epochs=epochs, seed=seed, batch_size=64, lr=0.01
    )
    out = tmp_path / "run"
    m = train(cfg, out, log=lambda s: None)
    return cfg, out, m


def _assert_exact(m, a):
    assert m["golden_agreement"] >= 0.999
    if a <= 8:
        assert m["golden_logits_exact"] == 1.0, m
    if a <= ir.THRESHOLD_MAX_BITS:
        # thresholds are found by evaluating Brevitas' own formula: exact
        assert m["golden_act_match"] == 1.0, m
    else:
        # requantizer: multiplier precision is bounded by the 62-bit product (docs/arithmetic.md);
        # residuals are rare and never more than one step
        assert m["golden_act_match"] >= 0.998, m
        assert m["golden_act_max_diff"] <= 1, m
        if a <= 8:
            assert m["golden_act_match"] == 1.0, m


@pytest.mark.parametrize("w,a", FC_PAIRS)
def test_fc_golden_matches_brevitas(tmp_path, w, a):
    cfg, out, m = _train(tmp_path, "fc", w, a, scale=1 / 128)
    _assert_exact(m, a)
    assert m["golden_test_acc"] > 0.3  # it learned something in 2 epochs
    net = ir.load(out)
    assert [l.wbits for l in net.compute_layers] == [w] * 4
    assert [l.out_bits for l in net.compute_layers] == [a] * 3 + [0]
    x, y = nndata.test_set(out)
    assert x.dtype == np.uint8 and x.shape[1:] == net.input_shape
    assert abs((golden.predict(net, x) == y).mean() - m["golden_test_acc"]) < 1e-12


@pytest.mark.parametrize("w,a", CNV_PAIRS)
def test_cnv_golden_matches_brevitas(tmp_path, w, a):
    cfg, out, m = _train(tmp_path, "cnv", w, a, scale=1 / 32, epochs=1)
    _assert_exact(m, a)
    net = ir.load(out)
    assert [l.kind for l in net.layers] == [
        "conv",
        "conv",
        "maxpool",
        "conv",
        "conv",
        "maxpool",
        "conv",
        "conv",
        "flatten",
        "dense",
        "dense",
        "dense",
    ]
    assert net.input_shape == (32, 32, 1)
    assert [l.mh for l in net.compute_layers] == [2, 2, 4, 4, 8, 8, 16, 16, 10]


@pytest.mark.parametrize("w,a,model", [(2, 2, "fc"), (1, 1, "fc"), (3, 6, "fc"), (2, 3, "cnv")])
def test_negative_and_zero_bn_slopes_fold_exactly(tmp_path, w, a, model):
    """Negative slopes negate weight rows, zero slopes clamp thresholds, extreme offsets saturate."""
    from bitscale.nn.export import export

    cfg, out, m = _train(tmp_path, model, w, a, scale=1 / 128 if model == "fc" else 1 / 32, epochs=1)
    _, net_model = load_model(out)
    rng = np.random.default_rng(1)
    import torch

    with torch.no_grad():
        for b in net_model.blocks:
            g = b.bn.weight
            c = len(g)
            sign = torch.as_tensor(rng.choice([-1.0, 1.0], size=c), dtype=g.dtype)
            g.mul_(sign)
            g[0] = 0.0  # zero slope: constant output
            b.bn.bias[1 % c] = 1e6  # always the top level
            if c > 2:
                b.bn.bias[2] = -1e6  # always the bottom level
    net = export(net_model, 10)
    assert any((net.weight(l) != 0).any() for l in net.compute_layers)
    x, y = nndata.test_set(out)
    r = check_export(net_model, net, x, y)
    assert r["golden_agreement"] >= 0.999
    assert r["golden_act_match"] == (1.0 if a <= ir.THRESHOLD_MAX_BITS else r["golden_act_match"])
    assert r["golden_act_match"] >= 0.999


def test_same_seed_same_network(tmp_path):
    _, out1, m1 = _train(tmp_path / "a", "fc", 2, 2, scale=1 / 128, epochs=1, seed=3)
    _, out2, m2 = _train(tmp_path / "b", "fc", 2, 2, scale=1 / 128, epochs=1, seed=3)
    _, out3, m3 = _train(tmp_path / "c", "fc", 2, 2, scale=1 / 128, epochs=1, seed=4)
    z1, z2, z3 = (dict(np.load(o / "network.npz")) for o in (out1, out2, out3))
    assert z1.keys() == z2.keys()
    assert all(np.array_equal(z1[k], z2[k]) for k in z1)
    assert m1["loss"] == m2["loss"]
    assert not all(np.array_equal(z1[k], z3[k]) for k in z1)
    assert json.loads((out1 / "config.json").read_text())["seed"] == 3


def test_float_baseline_has_no_ir(tmp_path):
    cfg, out, m = _train(tmp_path, "fc", 0, 0, scale=1 / 128, epochs=1)
    assert not (out / "network.json").exists()
    assert m["golden_agreement"] is None and m["test_acc"] > 0.3
    assert json.loads((out / "metrics.json").read_text())["config"]["wbits"] == 0


def test_widths_and_presets():
    from bitscale.errors import UserError
    from bitscale.nn.models import input_shape_for, widths_for

    assert widths_for("fc", 0.125) == {"fc": [512, 512, 512]}
    assert widths_for("tfc", 1) == {"fc": [64] * 3} and widths_for("lfc", 0.5) == {"fc": [512] * 3}
    assert widths_for("fc", 1 / 32, base=4096, layers=2) == {"fc": [128, 128]}
    assert widths_for("cnv", 1 / 32) == {"convs": [2, 2, "P", 4, 4, "P", 8, 8], "fcs": [16, 16]}
    assert input_shape_for("cnv", "fashion-mnist") == (32, 32, 1)
    assert input_shape_for("fc", "cifar10") == (3072,)
    with pytest.raises(UserError, match=r"cnv conv layer 0 width round\(64\*0.00625\)=0"):
        widths_for("cnv", 1 / 160)
    with pytest.raises(UserError, match="--scale must be a positive number"):
        widths_for("fc", -1.0)
