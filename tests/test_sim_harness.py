"""The HDL stream harness (hw/stream_harness.py) and the fast simulate() mode built on it.

* Amaranth simulator (cheap, hypothesis): the harness around the stand-in accelerator
  (tests/sim_fake_top.py) streams frames from its memories; under any gap / random stall /
  periodic back-pressure pattern the captured outputs equal the golden model and the
  run without stalls, nothing is lost or repeated, the timestamps are ordered, and the
  harness's own golden compare flags a corrupted golden word at the right frame.
* Icarus (cheap builds): on a generated accelerator the fast mode reports exactly the
  per-beat cocotb testbench's cycles per frame, frame intervals and latency.
* Verilator (slow, one build): a generated accelerator through the fast harness with and
  without back-pressure patterns: golden-exact, identical outputs, cycles = model,
  latency <= model; a second simulate reuses the build.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import HealthCheck, given, settings, strategies as st

from bitscale.boards.selftest import selftest_data
from bitscale.cost_model import estimate
from bitscale.hw.folding import default_folding
from bitscale.hw.generate import generate
from bitscale.hw.harness_top import POR_CYCLES, HarnessTop
from bitscale.hw.stream_harness import lfsr_next, lfsr_seed
from bitscale.nn import golden
from bitscale.nn.random_net import random_fc, random_inputs
from bitscale.sim import rom_init, runner
from bitscale.sim import simulate as sim_simulate
from bitscale.sim.simulate import harness_capacity, simulate
from sim_fake_top import FrameDot

CACHE = runner.default_cache_dir()
F, C, SIMD, OUT_ELEMS = 16, 4, 4, 2  # 4 input beats, 2 output beats per frame


def fake_net(seed=1):
    return random_fc([], 3, 2, num_classes=C, in_features=F, seed=seed)


def run_harness(
    net, images, *, gap=0, stall=0, period=0, hold=0, seed=0, latency_frame=0, corrupt=None, max_cycles=20_000
):
    """The harness + FrameDot in the Amaranth simulator; returns what the testbench reads back."""
    dut = FrameDot(net, SIMD, OUT_ELEMS)
    fmt = dut.fmt
    n = len(images)
    sends = np.concatenate([images, images[latency_frame : latency_frame + 1]])
    rom = selftest_data(net, fmt, sends)
    if corrupt is not None:
        rom = rom.corrupted(corrupt)
    cap = n + 1
    top = HarnessTop(fmt, cap, cap, dut=dut, in_words=rom.in_words[: n * fmt.input.beats], gold_words=rom.gold_words)
    h = top.harness
    out = {}

    async def bench(ctx):
        async def command(first, count, stalls):
            ctx.set(top.ctrl.first, first)
            ctx.set(top.ctrl.count, count)
            ctx.set(top.ctrl.gap, gap if stalls else 0)
            ctx.set(top.ctrl.stall, stall if stalls else 0)
            ctx.set(top.ctrl.period, period if stalls else 0)
            ctx.set(top.ctrl.hold, hold if stalls else 0)
            ctx.set(top.ctrl.seed, seed)
            ctx.set(top.ctrl.timeout, 2000)
            ctx.set(top.ctrl.start, 1)
            await ctx.tick()
            ctx.set(top.ctrl.start, 0)
            for _ in range(max_cycles):
                await ctx.tick()
                if ctx.get(top.status.done):
                    break
            assert ctx.get(top.status.done), "the harness never raised done"
            assert not ctx.get(top.status.timed_out)

        await ctx.tick().repeat(POR_CYCLES + 2)  # the harness top's power-on reset
        await command(0, n, True)
        await ctx.tick().repeat(30)  # drain: a duplicated frame would show up here
        out["after_stream"] = ctx.get(top.status.frames_out)
        await command(latency_frame, 1, False)
        await ctx.tick().repeat(10)
        total = ctx.get(top.status.frames_out)
        out["total"] = total
        ob = fmt.output.beats
        words = [ctx.get(h.mems["out"].memory.data[i]) for i in range(total * ob)]
        out["outputs"] = fmt.output.unpack(words)[:, : net.num_classes] if words else np.zeros((0, C))
        out["ts_in"] = [ctx.get(h.mems["ts_in"].memory.data[i]) for i in range(total)]
        out["ts_out"] = [ctx.get(h.mems["ts_out"].memory.data[i]) for i in range(total)]
        for k in ("bad_frames", "first_bad", "tlast_errors", "overflow", "frames_in"):
            out[k] = ctx.get(getattr(top.status, k))

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


def check(out, net, images):
    n = len(images)
    want = golden.run(net, np.concatenate([images, images[:1]]))
    assert out["after_stream"] == n, "a frame was lost or repeated"
    assert out["total"] == n + 1 and out["frames_in"] == n + 1
    np.testing.assert_array_equal(out["outputs"], want)
    assert out["bad_frames"] == 0 and out["tlast_errors"] == 0 and not out["overflow"]
    assert out["first_bad"] == 0xFFFFFFFF
    # every frame goes in before its output comes out; frames in order
    assert all(i < o for i, o in zip(out["ts_in"], out["ts_out"]))
    assert out["ts_out"] == sorted(out["ts_out"]) and out["ts_in"] == sorted(out["ts_in"])


def test_harness_continuous_is_exact_and_bubble_free():
    net = fake_net()
    images = random_inputs(net.input_shape, 5, seed=3)
    out = run_harness(net, images)
    check(out, net, images)
    ts_out = out["ts_out"]
    # back-to-back: one frame every F/SIMD cycles, exactly as the stand-in's model says
    assert [b - a for a, b in zip(ts_out[:5], ts_out[1:5])] == [F // SIMD] * 4
    assert [b - a for a, b in zip(out["ts_in"][:5], out["ts_in"][1:5])] == [F // SIMD] * 4
    # latency frame alone: (F/SIMD - 1) more input beats, then C/OUT_ELEMS output beats
    assert out["ts_out"][5] - out["ts_in"][5] == F // SIMD - 1 + C // OUT_ELEMS


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 5),
    gap=st.integers(0, 200),
    stall=st.integers(0, 200),
    period=st.integers(0, 9),
    hold_frac=st.floats(0, 0.8),
    seed=st.integers(0, 2**32 - 1),
    img_seed=st.integers(0, 1000),
)
def test_harness_patterns_change_nothing_but_time(n, gap, stall, period, hold_frac, seed, img_seed):
    net = fake_net(seed=img_seed % 7 + 1)
    images = random_inputs(net.input_shape, n, seed=img_seed)
    hold = int(hold_frac * period)
    stalled = run_harness(net, images, gap=gap, stall=stall, period=period, hold=hold, seed=seed)
    check(stalled, net, images)
    plain = run_harness(net, images)
    np.testing.assert_array_equal(stalled["outputs"], plain["outputs"])
    if gap or stall or (period and hold):
        assert stalled["ts_out"][n - 1] >= plain["ts_out"][n - 1]


def test_harness_golden_compare_flags_the_bad_frame():
    net = fake_net()
    images = random_inputs(net.input_shape, 4, seed=5)
    out = run_harness(net, images, corrupt=2 * 2 + 1)  # frame 2's second output word
    assert out["bad_frames"] == 1 and out["first_bad"] == 2


def test_lfsr_model():
    s = lfsr_seed(0)
    assert s != 0 and lfsr_seed(0, sink=True) not in (0, s)
    seen = {s}
    for _ in range(1000):
        s = lfsr_next(s)
        assert s not in seen and s != 0
        seen.add(s)


def test_only_the_top_ports_are_made_public(tmp_path):
    yosys = tmp_path / "a.v"
    yosys.write_text(
        "module sub(x);\nendmodule\nmodule top(ctrl__start, clk,\n  status__done);\n  input clk;\nendmodule\n"
    )
    ansi = tmp_path / "b.v"
    ansi.write_text(
        "module wrap(\n  input clk,\n  input [7:0] d0_s_axis_tdata,\n  output d0_m_axis_tlast\n);\nendmodule\n"
    )
    assert runner.top_ports([yosys], "top") == ["ctrl__start", "clk", "status__done"]
    assert runner.top_ports([yosys, ansi], "wrap") == ["clk", "d0_s_axis_tdata", "d0_m_axis_tlast"]
    assert runner.top_ports([yosys], "missing") == []


def test_build_options_fast_model_shared_runtime():
    vargs, default = runner.verilator_options(None)
    _, o0 = runner.verilator_options("-O0")
    native = f"OPT_FAST={runner.VERILATOR_CXX_OPT} {runner.VERILATOR_CXX_NATIVE}"
    assert (native in " ".join(default)) == runner._native_ok() and "OPT_FAST=-O0" in o0 and "OPT_SLOW=-O0" in default
    assert "--x-assign" in vargs and "--x-initial" not in vargs
    # GCC's compile-time caps on the eval code: in the default only where the compiler takes them
    assert (runner.VERILATOR_CXX_FAST_PARAMS in " ".join(default)) == runner._cxx_takes(
        runner.VERILATOR_CXX_FAST_PARAMS
    )
    assert not runner._cxx_takes("--no-such-compiler-flag-bitscale")
    # the runtime objects (OPT_GLOBAL) are shared by builds at any OPT_FAST
    assert runner._runtime_dir(vargs, default, []) == runner._runtime_dir(vargs, o0, [])
    assert runner.cpu_id() == runner.cpu_id() and runner.cpu_id()


def test_verilog_harness_ties_the_accelerators_reset_low(tmp_path):
    # the accelerator starts from its Verilog register initialisers (its reset values): no reset net
    # for Verilator to evaluate at every cycle; the harness itself keeps its power-on reset
    from bitscale.hw.harness_top import harness_verilog

    dut = FrameDot(fake_net(), SIMD, OUT_ELEMS)
    dut._MustUse__silence = True  # only its frame format is needed
    text = harness_verilog(dut.fmt, 64, 64)
    inst = text[text.index("bitscale_top dut (") :]
    assert ".rst(1'h0)" in inst[: inst.index(");")]
    assert ".rst(rst)" in text  # the harness's own reset
    # the clock made inside the Verilog: a wrapper with clk as an output, the same harness inside
    clocked = harness_verilog(dut.fmt, 64, 64, clock_half_period=5)
    wrapper = clocked[clocked.index("module bitscale_harness(") :]
    assert "always #5 clk = ~clk;" in wrapper and "output clk;" in wrapper
    assert "bitscale_harness_core core (" in wrapper and "module bitscale_harness_core(" in clocked
    (tmp_path / "a.v").write_text(clocked)
    (tmp_path / "b.v").write_text(text)
    ports = runner.top_ports([tmp_path / "a.v"], "bitscale_harness")
    assert ports == runner.top_ports([tmp_path / "b.v"], "bitscale_harness") and "clk" in ports


def test_capacity_is_one_per_design_unless_outgrown():
    # TFC at FINN folding: 16 beats of 392 bits a frame -> 32768 frames in 32 MiB
    assert harness_capacity(5, 392, 16) == harness_capacity(10_001, 392, 16) == 32768
    # a CNV frame (1024 beats of 24 bits) -> 8192; more frames than that: the next power of two
    assert harness_capacity(51, 24, 1024) == 8192 and harness_capacity(9000, 24, 1024) == 16384
    assert harness_capacity(5, 16, 4, "icarus") == 64 and harness_capacity(100, 392, 16, "icarus") == 128
    assert harness_capacity(5, 24, 1 << 20) == 64


# --- a generated accelerator: fast harness vs per-beat testbench (Icarus), and Verilator ---------


@pytest.fixture(scope="module")
def small_acc(tmp_path_factory):
    net = random_fc([32, 16], 2, 2, num_classes=10, in_features=64, seed=3)
    fold = default_folding(net, "parallel", max_pe=4, max_simd=8)
    d = tmp_path_factory.mktemp("acc")
    generate(net, fold, d)
    return d, net, fold


@pytest.mark.icarus
def test_fast_equals_per_beat_on_icarus(small_acc):
    d, net, fold = small_acc
    fast = simulate(d, images=5, simulator="icarus", cache_dir=CACHE, log=lambda *a: None, write=False)
    beat = simulate(
        d, images=5, simulator="icarus", mode="cocotb-stream", cache_dir=CACHE, log=lambda *a: None, write=False
    )
    for doc in (fast, beat):
        assert doc["errors"] == [] and doc["golden_match"] == 5 and doc["all_frames_match"]
    for k in ("cycles_per_frame", "frame_intervals", "latency_cycles", "frames_received"):
        assert fast[k] == beat[k], k
    assert fast["cycles_per_frame"] == fast["model_cycles_per_frame"]
    assert fast["latency_cycles"] <= estimate(net, fold, "pynq-z1").latency_cycles
    assert fast["mode"] == "fast" and beat["mode"] == "cocotb-stream"
    assert fast["cycles_per_s"] > 0 and fast["build_s"] >= 0


@pytest.mark.verilator
@pytest.mark.usefixtures("verilator_o0")  # short runs: compile time dominates
def test_fast_harness_verilator_stalls_are_golden_exact(small_acc, monkeypatch, tmp_path):
    d, net, fold = small_acc
    # every memory initialiser of the accelerator as a $readmemh file (sim/rom_init.py), not only big ones
    monkeypatch.setattr(rom_init, "MIN_CHUNKS", 1)
    # a private build cache: the shared one may hold builds of this same path from earlier runs (CI reuses /tmp)
    cache = tmp_path / "cache"
    kw = dict(simulator="verilator", cache_dir=cache, log=lambda *a: None, write=False)
    plain = simulate(d, images=12, **kw)
    assert plain["errors"] == [] and plain["golden_match"] == 12 and plain["all_frames_match"]
    built = list(cache.glob("verilator-bitscale_harness-*"))
    assert len(built) == 1 and all(list((b / "rom").glob("rom-*.hex")) for b in built)
    # the SIMD-8 2-bit layers as their proven simulation twins (sim/twins.py), the clock made in the Verilog
    assert plain["twins"]["modules"] > 0 and all(p["proved"] for p in plain["twins"]["proofs"])
    assert "twin-" in (built[0] / "BUILD_OK").read_text()
    assert plain["cycles_per_frame"] == plain["model_cycles_per_frame"]
    assert plain["latency_cycles"] <= estimate(net, fold, "pynq-z1").latency_cycles
    again = simulate(d, images=12, **kw)  # cached: no rebuild
    assert again["build_s"] < 5 and again["compile_s"] == plain["compile_s"]
    assert again["frame_intervals"] == plain["frame_intervals"]
    for pattern in (
        dict(gaps=0.3),
        dict(backpressure=0.5, seed=7),
        dict(period=5, hold=3),
        dict(gaps=0.2, backpressure=0.3, period=11, hold=4, seed=123),
    ):
        doc = simulate(d, images=12, **kw, **pattern)
        assert doc["errors"] == [] and doc["golden_match"] == 12 and doc["all_frames_match"], pattern
        assert doc["frames_received"] == plain["frames_received"]
        # stalls never speed a run up; input gaps always slow it (the output queue may absorb a sink's stalls:
        # with the 4-stage DSP products (7a20b44) 50% back-pressure on 12 images costs no cycle)
        assert doc["sim_cycles"] >= plain["sim_cycles"], pattern
        if pattern.get("gaps"):
            assert doc["sim_cycles"] > plain["sim_cycles"], pattern
    # cocotb's GPI clock and the synthesized dot products (another build): the same cycles and outputs
    monkeypatch.setenv(sim_simulate.CLOCK_ENV, "gpi")
    gpi = simulate(d, images=12, twins=False, **kw)
    assert gpi["errors"] == [] and gpi["golden_match"] == 12 and gpi["twins"] is None
    for k in ("frame_intervals", "latency_cycles", "frames_received"):
        assert gpi[k] == plain[k], k
