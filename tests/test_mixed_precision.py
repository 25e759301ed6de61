"""Per-layer (mixed) precision: training, export, golden model, hardware, and bad input.

A mixed network is bit-exact end to end like a uniform one: Brevitas == golden on
a trained net with per-layer bits (1-bit, ternary, threshold and requantizer layers
side by side), the Amaranth accelerator == golden for random per-layer bits and
modes (fc and cnv), and one trained mixed net through cocotb (slow).
"""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

torch.set_num_threads(1)

from bitscale.cli import main
from bitscale.errors import UserError
from bitscale.hw.folding import Folding, LayerFolding
from bitscale.nn import golden, ir, precision
from bitscale.nn.train import TrainConfig, load_model, train

MIXED_W = (8, 2, 1, 4)
MIXED_A = (8, 4, 1, 6)  # bits entering each layer: pixel, 4-bit thresholds, bipolar, 6-bit requant


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    cfg = TrainConfig(
        model="fc",
        wbits=list(MIXED_W),
        abits=list(MIXED_A),
        scale=1 / 128,
        dataset="digits",
        epochs=2,
        seed=0,
        batch_size=64,
        lr=0.01,
    )
    out = tmp_path_factory.mktemp("mixed") / "run"
    m = train(cfg, out, log=lambda s: None)
    return cfg, out, m


@pytest.mark.training
def test_mixed_fc_golden_matches_brevitas(mixed_run):
    cfg, out, m = mixed_run
    assert cfg.mixed and cfg.wbits == MIXED_W and cfg.label == "fc-w8.2.1.4-a8.4.1.6-s0.0078125-digits"
    assert m["golden_agreement"] == 1.0 and m["golden_logits_exact"] == 1.0 and m["golden_act_match"] == 1.0
    assert m["golden_test_acc"] > 0.5
    net = ir.load(out)
    assert tuple(l.wbits for l in net.compute_layers) == MIXED_W
    assert tuple(l.in_bits for l in net.compute_layers) == MIXED_A
    assert [l.act for l in net.compute_layers] == ["thresholds", "thresholds", "requant", "none"]
    # the run round-trips: config.json and the checkpoint rebuild the same mixed model
    assert TrainConfig.from_json(json.loads((out / "config.json").read_text())) == cfg
    cfg2, model = load_model(out)
    assert cfg2 == cfg and model.layer_wbits == MIXED_W and model.layer_abits == MIXED_A


def test_uniform_spellings_are_one_config():
    kw = dict(model="fc", scale=1 / 128, dataset="digits")
    a = TrainConfig(wbits=2, abits=2, **kw)
    b = TrainConfig(wbits=(2, 2, 2, 2), abits=(8, 2, 2, 2), **kw)
    assert a == b and a.label == b.label == "fc-w2a2-s0.0078125-digits" and not b.mixed
    c = TrainConfig(wbits=(2, 2, 2, 2), abits=4, **kw)
    assert c.wbits == 2 and c.abits == 4


@pytest.mark.parametrize(
    "w,a,needle",
    [
        ((8, 2, 2), 2, "--wbits has 3 values (8,2,2) but the network has 4 compute layers"),
        (2, (8, 2, 2, 2, 2), "--abits has 5 values (8,2,2,2,2) but the network has 4 compute layers"),
        ((2, 17, 2, 2), 2, "--wbits must be 1..16, not 17"),
        (2, (8, 0, 2, 2), "--abits must be 1..16, not 0"),
        (2, (4, 2, 2, 2), "compute layer 0 reads the 8-bit input pixels, so its entry must be 8, not 4"),
    ],
)
def test_bad_per_layer_bits(w, a, needle):
    with pytest.raises(UserError, match=needle.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        TrainConfig(model="fc", wbits=w, abits=a, scale=1 / 128, dataset="digits")


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--wbits", "8,2,2"], "--wbits has 3 values (8,2,2) but the network has 4 compute layers"),
        (["--abits", "8,2,2,2,2"], "--abits has 5 values"),
        (["--wbits", "2,17,2,2"], "--wbits must be 1..16 or float, not 17"),
        (["--abits", "8,2,x,2"], "--abits must be 1..16 or float, not 'x'"),
        (["--precision", "MISSING"], "no such file"),
        (["--precision", "SHORT"], "--wbits has 2 values (8,2) but the network has 4 compute layers"),
        (["--precision", "BADBITS"], "layer 1 wbits must be 1..16, not 20"),
        (["--precision", "SHORT", "--wbits", "2"], "give either --precision or --wbits/--abits"),
    ],
)
def test_cli_bad_per_layer_input(tmp_path, capsys, args, needle):
    (tmp_path / "short.json").write_text(json.dumps(precision.precision_json((8, 2), (8, 2))))
    (tmp_path / "bad.json").write_text(json.dumps({"layers": [{"wbits": 8, "abits": 8}, {"wbits": 20, "abits": 2}]}))
    sub = {
        "MISSING": str(tmp_path / "nope.json"),
        "SHORT": str(tmp_path / "short.json"),
        "BADBITS": str(tmp_path / "bad.json"),
    }
    out = tmp_path / "run"
    rc = main(["train", "--scale", "1/128", "--epochs", "1", "--out", str(out)] + [sub.get(x, x) for x in args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "short.json"]


def test_precision_json_round_trip(tmp_path):
    p = tmp_path / "p.json"
    p.write_text(json.dumps(precision.precision_json(MIXED_W, MIXED_A)))
    assert precision.read_precision(p) == (MIXED_W, MIXED_A)
    assert precision.parse_list("8,2,1,4", "--wbits") == MIXED_W
    assert precision.parse_list("3", "--wbits") == 3 and precision.parse_list("float", "--wbits") == 0


# --- hardware: random per-layer bits and modes in the Amaranth simulator ----------------------------


def _divisors(n, cap=8):
    return [d for d in range(1, min(n, cap) + 1) if n % d == 0]


@settings(max_examples=4, deadline=None)
@given(data=st.data(), seed=st.integers(0, 1000))
def test_random_mixed_cnv_accelerators(data, seed):
    from bitscale.hw.testbench import run_accelerator
    from bitscale.hw.top import Accelerator
    from bitscale.nn.random_net import random_cnv, random_inputs

    wb = data.draw(st.lists(st.integers(1, 8), min_size=3, max_size=3))
    ab = data.draw(st.lists(st.integers(1, 6), min_size=2, max_size=2))
    net = random_cnv((8, 8, 2), [4, "P", 4], [], wb, ab, num_classes=3, seed=seed)
    assert [l.wbits for l in net.compute_layers] == wb
    lfs = []
    for i, l in enumerate(net.compute_layers):
        simd_cap = l.in_shape[2] if l.kind == "conv" else l.mw
        mode = "parallel" if i == 0 else data.draw(st.sampled_from(["parallel", "weight-serial", "bit-serial"]))
        lfs.append(
            LayerFolding(
                l.name,
                data.draw(st.sampled_from(_divisors(l.mh))),
                data.draw(st.sampled_from([s for s in _divisors(l.mw) if simd_cap % s == 0])),
                mode,
            )
        )
    x = random_inputs(net.input_shape, 2, seed=seed)
    got, _, _ = run_accelerator(Accelerator(net, Folding(tuple(lfs))), x, in_gap=0.2, out_stall=0.2)
    np.testing.assert_array_equal(got, golden.run(net, x))


# --- the trained mixed net through generate -> cocotb (Icarus) and the cost model -----------------------


@pytest.mark.training
@pytest.mark.icarus
def test_trained_mixed_fc_cocotb_bit_exact(mixed_run, tmp_path):
    from bitscale.cost_model import auto_fold, estimate
    from bitscale.hw.generate import generate
    from bitscale.nn import data as nn_data
    from bitscale.sim import runner
    from bitscale.sim.simulate import simulate

    _, out, _ = mixed_run
    net = ir.load(out)
    folding = auto_fold(net, "pynq-z1", target_fps=50_000)
    est = estimate(net, folding, "pynq-z1")
    assert [(l.wbits, l.abits) for l in est.layers] == list(zip(MIXED_W, MIXED_A))
    build = tmp_path / "build"
    generate(net, folding, build, run_dir=out)
    doc = simulate(build, images=12, simulator="icarus", cache_dir=runner.default_cache_dir(), log=lambda *a: None)
    assert doc["errors"] == [] and doc["golden_match"] == 12 and doc["all_frames_match"]
    assert doc["input_source"] == "test_set"
    x, y = nn_data.test_set(out)
    assert doc["hw_correct"] == int((golden.predict(net, x[:12]) == y[:12]).sum())
