"""The whole generated accelerator (hw/generate.py -> bitscale_top.v) under cocotb, on Icarus
and Verilator: every output frame equals nn/golden.py, the measured steady-state cycles per
frame are within 2% of design.json's model (no bubbles), and random input gaps / output
backpressure change nothing but the timing (no frame lost or duplicated).

Random networks (nn/random_net.py) cover fc and a small cnv at several (w, a, mode, folding)
points on Icarus (cheap builds), plus hypothesis over random foldings; two fc and two cnv points
and a really trained digits fc (real test images) run on Verilator too, in one Verilator build
(sim/multi.py) to keep the compile time down.
"""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bitscale.cost_model import estimate
from bitscale.hw.folding import Folding, LayerFolding, default_folding
from bitscale.hw.generate import generate
from bitscale.nn import golden, ir
from bitscale.nn.random_net import random_cnv, random_fc
from bitscale.sim import runner
from bitscale.sim.simulate import simulate

CACHE = runner.default_cache_dir()


# cocotb on Icarus (one test on Verilator); -O0 Verilator builds: these sims are short
pytestmark = [pytest.mark.icarus, pytest.mark.usefixtures("verilator_o0")]


def fold(net, spec):
    """spec: one (pe, simd, mode[, mac]) per compute layer, or a mode for default_folding."""
    if isinstance(spec, str):
        return default_folding(net, spec, max_pe=4, max_simd=8)
    return Folding(tuple(LayerFolding(l.name, *t) for l, t in zip(net.compute_layers, spec)))


def fc_net(w, a, seed=0):
    return random_fc([32, 16], w, a, num_classes=10, in_features=64, seed=seed)


def cnv_net(w, a, shape=(10, 10, 1), seed=0):
    # conv 3x3 -> maxpool 2x2 -> conv 3x3 -> flatten -> dense 16 -> dense 10
    return random_cnv(shape, [4, "P", 8], [16], w, a, num_classes=10, seed=seed)


POINTS = {
    "fc-w2a2-parallel": (lambda: fc_net(2, 2), "parallel"),
    "fc-w1a1-xnor": (lambda: fc_net(1, 1, seed=1), [(8, 16, "parallel"), (4, 32, "parallel"), (10, 16, "parallel")]),
    "fc-w3a2-weightserial": (
        lambda: fc_net(3, 2, seed=2),
        [(2, 8, "weight-serial"), (4, 4, "weight-serial"), (5, 16, "weight-serial")],
    ),
    "fc-w2a3-mixed": (
        lambda: fc_net(2, 3, seed=3),
        [(4, 16, "bit-serial"), (8, 4, "parallel"), (2, 8, "weight-serial")],
    ),
    "fc-w4a6-requant": (lambda: fc_net(4, 6, seed=4), [(4, 8, "parallel"), (2, 16, "parallel"), (10, 4, "parallel")]),
    # LUT and DSP products side by side (#13: mac per layer; the DSP lanes have a product register)
    "fc-w4a4-lut-dsp": (
        lambda: fc_net(4, 4, seed=7),
        [(4, 8, "parallel", "lut"), (2, 16, "parallel", "dsp"), (10, 4, "parallel", "lut")],
    ),
    "cnv-w2a2-parallel": (lambda: cnv_net(2, 2), "parallel"),
    "cnv-w1a1-weightserial": (lambda: cnv_net(1, 1, seed=5), "weight-serial"),
    # 9x9 -> 7x7 -> pool drops a row and a column -> 3x3 -> 1x1
    "cnv-w3a2-odd-mixed": (
        lambda: cnv_net(3, 2, shape=(9, 9, 2), seed=6),
        [(2, 2, "weight-serial"), (4, 4, "bit-serial"), (4, 8, "parallel"), (5, 4, "parallel")],
    ),
}


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    made = {}

    def get(name):
        if name not in made:
            make, spec = POINTS[name]
            net = make()
            d = tmp_path_factory.mktemp(name)
            generate(net, fold(net, spec), d)
            made[name] = d
        return made[name]

    return get


def check_exact_and_timed(doc, images):
    assert doc["errors"] == [], doc["errors"]
    assert doc["golden_match"] == images and doc["all_frames_match"]
    assert doc["frames_received"] == doc["frames_streamed"]
    model = doc["model_cycles_per_frame"]
    assert abs(doc["cycles_per_frame"] - model) <= 0.02 * model, (
        f"measured {doc['cycles_per_frame']} cycles/frame, model {model}: intervals {doc['frame_intervals']}"
    )
    # (latency may be below the model: with an odd map the pool drops the last row, so the
    # output can leave before the bottleneck layer finishes the frame)
    assert doc["latency_cycles"] > 0


@pytest.mark.parametrize("name", list(POINTS))
def test_accelerator_icarus(builds, name):
    d = builds(name)
    doc = simulate(d, images=5, simulator="icarus", cache_dir=CACHE, log=lambda *a: None)
    check_exact_and_timed(doc, 5)
    # the cost model's latency is an upper bound on the measured one
    make, spec = POINTS[name]
    net = make()
    bound = estimate(net, fold(net, spec), "pynq-z1").latency_cycles
    assert doc["latency_cycles"] <= bound, (doc["latency_cycles"], bound)
    # random gaps on s_axis and backpressure on m_axis: same outputs, none lost or duplicated
    doc = simulate(
        d,
        images=5,
        simulator="icarus",
        gaps=0.3,
        backpressure=0.5,
        seed=11,
        cache_dir=CACHE,
        log=lambda *a: None,
        write=False,
    )
    assert doc["errors"] == [] and doc["golden_match"] == 5 and doc["all_frames_match"]
    assert doc["frames_received"] == doc["frames_streamed"]


def _divisors(n, cap=16):
    return [d for d in range(1, min(n, cap) + 1) if n % d == 0]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), w=st.sampled_from([1, 2, 3, 5, 8]), a=st.sampled_from([1, 2, 4, 6]), seed=st.integers(0, 10_000))
def test_random_fc_random_folding_icarus(tmp_path_factory, data, w, a, seed):
    """Any legal (w, a, PE, SIMD, mode per layer): bit-exact, no bubbles, robust to gaps/backpressure."""
    net = random_fc([24, 12], w, a, num_classes=6, in_features=32, seed=seed)
    lfs = tuple(
        LayerFolding(
            l.name,
            data.draw(st.sampled_from(_divisors(l.mh))),
            data.draw(st.sampled_from(_divisors(l.mw))),
            data.draw(st.sampled_from(["parallel", "weight-serial", "bit-serial"])),
            data.draw(st.sampled_from(["lut", "dsp"])),
        )
        for l in net.compute_layers
    )
    d = tmp_path_factory.mktemp("hyp")
    generate(net, Folding(lfs), d)
    doc = simulate(d, images=4, simulator="icarus", cache_dir=CACHE, log=lambda *a: None, write=False)
    check_exact_and_timed(doc, 4)
    assert doc["latency_cycles"] <= estimate(net, Folding(lfs), "pynq-z1").latency_cycles
    doc = simulate(
        d,
        images=4,
        simulator="icarus",
        gaps=0.4,
        backpressure=0.4,
        seed=seed,
        cache_dir=CACHE,
        log=lambda *a: None,
        write=False,
    )
    assert doc["errors"] == [] and doc["golden_match"] == 4
    assert doc["frames_received"] == doc["frames_streamed"]


@pytest.fixture(scope="module")
def trained_fc(tmp_path_factory):
    """A really trained (1 epoch) tiny digits fc, generated with its run dir (so its test set is used)."""
    from bitscale.nn import data as nn_data
    from bitscale.nn.train import TrainConfig, train

    tmp = tmp_path_factory.mktemp("trained")
    cfg = TrainConfig(
        model="fc", wbits=2, abits=2, scale=1 / 128, dataset="digits", epochs=1, seed=0, batch_size=128, lr=0.01
    )
    run_dir = tmp / "run"
    train(cfg, run_dir, log=lambda s: None)
    net = ir.load(run_dir)
    build = tmp / "build"
    generate(net, default_folding(net, "bit-serial"), build, run_dir=run_dir)
    x, y = nn_data.test_set(run_dir)
    return build, net, x, y


TRAINED_IMAGES = 24


def check_trained(doc, net, x, y):
    n = TRAINED_IMAGES
    check_exact_and_timed(doc, n)
    assert doc["input_source"] == "test_set"
    want = int((golden.predict(net, x[:n]) == y[:n]).sum())
    assert doc["hw_correct"] == doc["golden_correct"] == want
    assert want > n // 3  # it did learn something: the images really are digits


VERILATOR_POINTS = ["fc-w2a3-mixed", "fc-w4a6-requant", "cnv-w2a2-parallel", "cnv-w3a2-odd-mixed"]


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.training
def test_verilator_several_points_one_build(builds, trained_fc):
    """fc and cnv points and the trained digits fc on Verilator, in ONE Verilator build (sim/multi.py):
    bit-exact, no bubbles, the same cycles as Icarus, robust to gaps/backpressure."""
    from bitscale.sim.multi import simulate_many

    build, net, x, y = trained_fc
    dirs = [builds(n) for n in VERILATOR_POINTS] + [build]
    images = [5] * len(VERILATOR_POINTS) + [TRAINED_IMAGES]
    docs = simulate_many(dirs, images=images, simulator="verilator", cache_dir=CACHE, log=lambda *a: None, write=False)
    for doc in docs[:-1]:
        check_exact_and_timed(doc, 5)
    check_trained(docs[-1], net, x, y)
    # the trained fc on Icarus too; both simulators see the same cycles
    icarus = simulate(build, images=TRAINED_IMAGES, simulator="icarus", cache_dir=CACHE, log=lambda *a: None)
    check_trained(icarus, net, x, y)
    assert icarus["frame_intervals"] == docs[-1]["frame_intervals"]
    icarus = simulate(dirs[3], images=5, simulator="icarus", cache_dir=CACHE, log=lambda *a: None, write=False)
    assert icarus["frame_intervals"] == docs[3]["frame_intervals"]
    assert icarus["latency_cycles"] == docs[3]["latency_cycles"]
    # random gaps/backpressure on Verilator too
    docs = simulate_many(
        dirs[1:3],
        images=5,
        simulator="verilator",
        gaps=0.5,
        backpressure=0.6,
        seed=3,
        cache_dir=CACHE,
        log=lambda *a: None,
        write=False,
    )
    for doc in docs:
        assert doc["errors"] == [] and doc["golden_match"] == 5
        assert doc["frames_received"] == doc["frames_streamed"]
