"""sim/ itself on a small stand-in accelerator (tests/sim_fake_top.py): driver, monitor,
scoreboard, runner, simulate() and the CLI, on Verilator and Icarus.

The stand-in is bit-exact and bubble-free by construction; injected faults
(a wrong output, a one-cycle bubble per frame) must be caught.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bitscale.cli import main as cli_main
from bitscale.errors import UserError
from bitscale.nn import golden
from bitscale.nn.random_net import random_fc, random_inputs
from bitscale.sim import runner
from bitscale.sim.simulate import simulate
from sim_fake_top import write_fake_build

CACHE = runner.default_cache_dir()


# cocotb on Icarus and Verilator; -O0 Verilator builds: these sims are short
pytestmark = [pytest.mark.icarus, pytest.mark.verilator, pytest.mark.usefixtures("verilator_o0")]


F, C, SIMD, OUT_ELEMS = 16, 4, 4, 2  # 4 input beats, 2 output beats per frame


def fake_net(seed=1):
    return random_fc([], 3, 2, num_classes=C, in_features=F, seed=seed)


@pytest.fixture(scope="module")
def fake_build(tmp_path_factory):
    d = tmp_path_factory.mktemp("fake_build")
    write_fake_build(d, fake_net(), SIMD, OUT_ELEMS)
    return d


def run(d, **kw):
    kw.setdefault("simulator", "icarus")
    return simulate(d, cache_dir=CACHE, log=lambda *a: None, **kw)


# Verilator runs of whole accelerators (test_sim_accelerator.py) check that both simulators
# report the same cycles; here Icarus alone keeps the Verilator builds (the CI cost) down.
@pytest.mark.parametrize("simulator", ["icarus"])
def test_fake_top_bit_exact_and_timed(fake_build, simulator):
    doc = run(fake_build, images=6, simulator=simulator)
    assert doc["golden_match"] == 6 and doc["errors"] == [] and doc["all_frames_match"]
    assert doc["input_source"] == "random" and doc["hw_correct"] is None
    # the stand-in takes one beat a cycle: F/SIMD cycles per frame, exactly as design.json says
    assert doc["cycles_per_frame"] == doc["model_cycles_per_frame"] == F // SIMD
    assert doc["frame_intervals"] == [F // SIMD] * 5
    # first input beat -> last output beat: (F/SIMD - 1) more input beats, then C/OUT_ELEMS output beats
    assert doc["latency_cycles"] == F // SIMD - 1 + C // OUT_ELEMS
    assert doc["simulator"] == simulator
    saved = json.loads((fake_build / "sim.json").read_text())
    assert saved["golden_match"] == 6


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    gaps=st.sampled_from([0.0, 0.2, 0.6]),
    bp=st.sampled_from([0.0, 0.3, 0.7]),
    images=st.integers(1, 5),
    seed=st.integers(0, 1000),
)
def test_gaps_and_backpressure_change_nothing_but_time(fake_build, gaps, bp, images, seed):
    doc = run(fake_build, images=images, gaps=gaps, backpressure=bp, seed=seed, write=False)
    assert doc["golden_match"] == images and doc["errors"] == []
    assert doc["frames_received"] == doc["frames_streamed"]  # none lost, none duplicated
    assert doc["all_frames_match"]
    if not (gaps or bp):
        assert doc["cycles_per_frame"] == F // SIMD


def test_given_inputs_and_labels(fake_build):
    net = fake_net()
    x = random_inputs((F,), 5, seed=9)
    y = np.array([0, 1, 2, 3, 0])
    doc = run(fake_build, images=4, inputs=x, labels=y, write=False)
    assert doc["input_source"] == "given" and doc["golden_match"] == 4
    want = int((golden.predict(net, x[:4]) == y[:4]).sum())
    assert doc["hw_correct"] == doc["golden_correct"] == want


def test_wrong_output_is_caught(tmp_path):
    write_fake_build(tmp_path, fake_net(), SIMD, OUT_ELEMS, bug="wrong")
    doc = run(tmp_path, images=3, write=False)
    assert doc["golden_match"] == 0 and not doc["all_frames_match"]
    assert "differs at [0]" in doc["errors"][0]


def test_bubble_is_measured(tmp_path):
    write_fake_build(tmp_path, fake_net(), SIMD, OUT_ELEMS, bug="stall")
    doc = run(tmp_path, images=6, write=False)
    assert doc["golden_match"] == 6
    assert doc["cycles_per_frame"] == F // SIMD + 1  # one lost cycle per frame
    assert doc["cycles_ratio"] > 1.02


def test_icarus_waves_are_written(fake_build):
    doc = run(fake_build, images=2, waves=True, write=False)
    assert doc["waves"].endswith(".vcd")
    text = open(doc["waves"]).read()
    assert "$var" in text and "m_axis_tvalid" in text


def test_user_errors(tmp_path, fake_build):
    with pytest.raises(UserError, match="no design.json"):
        run(tmp_path, images=1)
    with pytest.raises(UserError, match="no build directory"):
        run(tmp_path / "nope", images=1)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(UserError, match="--images"):
            run(fake_build, images=bad)
    with pytest.raises(UserError, match="--simulator"):
        run(fake_build, images=1, simulator="ghdl")
    with pytest.raises(UserError, match="shaped"):
        run(fake_build, images=1, inputs=np.zeros((2, 3), np.uint8))
    with pytest.raises(UserError, match="only 2 input images"):
        run(fake_build, images=5, inputs=np.zeros((2, F), np.uint8))


def test_cli(fake_build, tmp_path, capsys):
    assert cli_main(["simulate", str(fake_build), "--images", "2", "--simulator", "icarus", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["golden_match"] == 2
    doc = json.loads((fake_build / "sim.json").read_text())
    assert doc["images"] == 2 and doc["golden_match"] == 2 and doc["simulator"] == "icarus"
    assert cli_main(["simulate", str(tmp_path), "--images", "2"]) == 2
    assert "no design.json" in capsys.readouterr().err
    assert cli_main(["simulate", str(fake_build), "--images", "0"]) == 2


def test_results_xml_parsing(tmp_path):
    x = tmp_path / "results.xml"
    x.write_text(
        '<testsuites><testsuite name="t" tests="2"><testcase name="a"/>'
        '<testcase name="b"><failure message="boom"/></testcase></testsuite></testsuites>'
    )
    assert runner.parse_results(x) == (2, [("b", "boom")])


def test_build_cache_is_keyed_by_content(tmp_path):
    a = tmp_path / "a.v"
    a.write_text("module top(input clk, output reg q); always @(posedge clk) q <= ~q; endmodule\n")
    d1 = runner.build([a], "top", "icarus", cache_dir=tmp_path / "c", log=lambda *_: None)
    d2 = runner.build([a], "top", "icarus", cache_dir=tmp_path / "c", log=lambda *_: None)
    assert d1 == d2 and (d1 / "BUILD_OK").is_file()
    a.write_text(a.read_text().replace("~q", "q"))
    assert runner.build([a], "top", "icarus", cache_dir=tmp_path / "c", log=lambda *_: None) != d1
    bad = tmp_path / "bad.v"
    bad.write_text("module top(; endmodule\n")
    with pytest.raises(RuntimeError, match="build of top failed"):
        runner.build([bad], "top", "icarus", cache_dir=tmp_path / "c", log=lambda *_: None)
    assert not list((tmp_path / "c").glob(".tmp-*"))


def test_relative_build_dir(fake_build, monkeypatch):
    # the cocotb test runs in its own working directory: a relative BUILD_DIR (as `bitscale demo`
    # passes, runs/demo/hw/...) must still find its inputs there
    monkeypatch.chdir(fake_build.parent)
    doc = run(Path(fake_build.name), images=2)
    assert doc["golden_match"] == 2 and doc["errors"] == []
