"""IR format 2 layers in the golden model: padded/strided/1x1 convs, max-pool with kernel != stride."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from bitscale.nn import golden, ir
from bitscale.nn.random_net import random_cnv, random_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

from bitscale.errors import UserError


@settings(max_examples=30, deadline=None)
@given(
    k=st.sampled_from([1, 3, 5]),
    s=st.sampled_from([1, 2]),
    same=st.booleans(),
    bits=st.sampled_from([1, 2, 4]),
    h=st.integers(5, 8),
    c=st.integers(1, 3),
    seed=st.integers(0, 999),
)
def test_im2col_conv_matches_torch(k, s, same, bits, h, c, seed):
    """acc of the golden conv == torch conv2d on the map padded with golden.pad_value (code 0)."""
    rng = np.random.default_rng(seed)
    pad = k // 2 if same else 0
    x = rng.choice([-1, 1], size=(2, h, h + 1, c)) if bits == 1 else rng.integers(0, 1 << bits, (2, h, h + 1, c))
    w = rng.integers(-3, 4, size=(4, k, k, c))
    cols = golden.im2col(x, k, s, pad, golden.pad_value(bits))
    got = cols @ w.reshape(4, -1).T
    xt = torch.tensor(x.transpose(0, 3, 1, 2), dtype=torch.float64)
    xt = F.pad(xt, (pad, pad, pad, pad), value=float(golden.pad_value(bits)))
    ref = F.conv2d(xt, torch.tensor(w.transpose(0, 3, 1, 2), dtype=torch.float64), stride=s)
    np.testing.assert_array_equal(got, ref.numpy().transpose(0, 2, 3, 1).astype(np.int64))
    assert got.shape[1:3] == ir.conv_out_hw(h, h + 1, k, s, pad)


@pytest.mark.parametrize("k,s", [(2, 1), (3, 2), (2, 2), (3, 1)])
def test_maxpool_kernel_ne_stride_matches_torch(k, s):
    x = np.random.default_rng(k * 10 + s).integers(0, 16, size=(2, 7, 8, 3))
    ref = F.max_pool2d(torch.tensor(x.transpose(0, 3, 1, 2), dtype=torch.float64), k, s)
    np.testing.assert_array_equal(golden.maxpool(x, k, s), ref.numpy().transpose(0, 2, 3, 1))


def _mixed(seed=0, wbits=2, abits=2):
    convs = [("conv", 4, 5, 1, 2), ("conv", 4, 3, 2, 1), ("pool", 3, 2), ("conv", 6, 1, 1, 0), ("pool", 2, 1)]
    return random_cnv((12, 12, 3), convs, [8], wbits, abits, num_classes=5, seed=seed)


@pytest.mark.parametrize("wbits,abits", [(1, 1), (2, 2), (4, 4)])
def test_mixed_network_roundtrip(tmp_path, wbits, abits):
    net = _mixed(1, wbits, abits)
    ir.save(net, tmp_path)
    back = ir.load(tmp_path)
    assert back.layers == net.layers
    x = random_inputs(net.input_shape, 8, seed=2)
    np.testing.assert_array_equal(golden.run(back, x), golden.run(net, x))
    assert json.loads((tmp_path / "network.json").read_text())["version"] == ir.FORMAT_VERSION


def test_version1_file_still_loads(tmp_path):
    """A format-1 network.json (no 'pad' field) loads as valid stride-1 convs."""
    net = random_cnv((6, 6, 2), [3, "P"], [5], 2, 2, num_classes=3, seed=3)
    ir.save(net, tmp_path)
    doc = json.loads((tmp_path / "network.json").read_text())
    doc["version"] = 1
    for layer in doc["layers"]:
        layer.pop("pad")
    (tmp_path / "network.json").write_text(json.dumps(doc))
    back = ir.load(tmp_path)
    assert back.layers == net.layers


def test_bad_pad_is_named(tmp_path):
    net = _mixed()
    ir.save(net, tmp_path)
    doc = json.loads((tmp_path / "network.json").read_text())
    doc["layers"][0]["pad"] = 5
    (tmp_path / "network.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match="pad"):
        ir.load(tmp_path)
