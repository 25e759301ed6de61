"""The accelerator clock from the family's PLL: legal dividers, the board top's PLL and lock-gated reset,
the build's clock search (a fake fmax oracle, and one real nextpnr build), and their errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bitscale.boards import BOARDS, FAMILY  # noqa: E402
from bitscale.boards.pll import PllConfig, frequencies, legal, pll_for  # noqa: E402
from bitscale.errors import UserError  # noqa: E402

# (family, input clock MHz) the boards feed their PLL with: the Lattice boards' oscillators, and the
# Xilinx self-test shells' (PYNQ-Z1 / ZCU104 125 MHz, Alveo U250 300 MHz / 2)
INPUTS = [("ecp5", 25.0), ("ice40", 12.0), ("xc7", 125.0), ("xcup", 125.0), ("xcup", 150.0)]


def _range(fam: str):
    r = FAMILY[fam].pll
    assert r is not None
    return r


@st.composite
def requests(draw):
    fam, fin = draw(st.sampled_from(INPUTS))
    lo = frequencies(fam, fin)[0]
    want = draw(st.floats(min_value=lo, max_value=_range(fam).fout_mhz[1], allow_nan=False))
    return fam, fin, want


@given(requests())
def test_pll_setting_is_legal_and_within_tolerance(req):
    fam, fin, want = req
    cfg = pll_for(fam, fin, want)
    r = _range(fam)
    assert legal(cfg) == []
    assert cfg.fout_mhz <= want + 1e-6  # never faster than asked
    assert cfg.fout_mhz >= want * (1 - r.tolerance), (cfg, want)
    assert PllConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
    p = cfg.primitive_params()
    if fam == "ice40":  # the primitive's own fields: DIVR 4 bits, DIVF 7 bits, DIVQ 1..6
        assert 0 <= p["DIVR"] <= 15 and 0 <= p["DIVF"] <= 127 and 1 <= p["DIVQ"] <= 6
        assert cfg.fin_mhz / (p["DIVR"] + 1) * (p["DIVF"] + 1) / 2 ** p["DIVQ"] == pytest.approx(cfg.fout_mhz)
    elif fam == "ecp5":
        assert all(1 <= p[k] <= 128 for k in ("CLKI_DIV", "CLKFB_DIV", "CLKOP_DIV"))


@given(st.sampled_from(sorted(FAMILY)), st.data())
def test_any_input_clock_gives_legal_settings_or_one_error(fam, data):
    r = _range(fam)
    fin = data.draw(st.floats(min_value=r.fin_mhz[0], max_value=min(r.fin_mhz[1], 300.0)))
    want = data.draw(st.floats(min_value=r.fout_mhz[0], max_value=r.fout_mhz[1]))
    try:
        cfg = pll_for(fam, fin, want)
    except UserError as e:
        assert "MHz" in str(e)
        return
    assert legal(cfg) == [] and cfg.fout_mhz <= want + 1e-6


def test_known_settings_and_errors():
    c = pll_for("ice40", 12, 37.15)  # icepll -i 12 -o 36.75: DIVR 0, DIVF 48, DIVQ 4, FILTER_RANGE 1
    assert c.fout_mhz == 36.75 and c.primitive_params() == {"DIVR": 0, "DIVF": 48, "DIVQ": 4, "FILTER_RANGE": 1}
    c = pll_for("ecp5", 25, 150)
    assert c.fout_mhz == 150 and c.fvco_mhz * 1 == 25 / c.d * c.m and legal(c) == []
    with pytest.raises(
        UserError,
        match=r"clock 16.1 MHz: the ice40 PLL \(SB_PLL40\) makes nothing at or below "
        r"it from 12 MHz \(lowest 16.125 MHz\)",
    ):
        pll_for("ice40", 12, 16.1)
    with pytest.raises(UserError, match="makes 10..400 MHz"):
        pll_for("ecp5", 25, 5)
    with pytest.raises(UserError, match="input clock 4 MHz is outside 8..400 MHz"):
        pll_for("ecp5", 4, 100)
    bad = PllConfig("ice40", "SB_PLL40", 12.0, 1, 20, 16, 12.0, 240.0, 15.0)
    assert any("f_vco" in b for b in legal(bad)) and any("f_out" in b for b in legal(bad))


# --- the PLL in the board top ---------------------------------------------------------------------


def test_pll_clock_domain_passes_through_and_holds_reset_until_lock():
    """In simulation the PLL is a pass-through; the domain stays in reset until the (synchronized)
    lock and por_cycles more edges, and a lost lock resets it again."""
    from amaranth import Module, Signal
    from amaranth.sim import Simulator

    from bitscale.boards.board_top import pll_clock_domain
    from bitscale.boards.pll import PLL

    m = Module()
    pll = PLL(pll_for("ecp5", 25, 100))
    held = pll_clock_domain(m, pll, por_cycles=5)
    count = Signal(8)
    with m.If(~held):
        m.d.sync += count.eq(count + 1)
    sim = Simulator(m)
    trace = []

    async def bench(ctx):
        ctx.set(pll.sim_locked, 0)
        for cycle in range(40):
            if cycle == 10:
                ctx.set(pll.sim_locked, 1)
            if cycle == 30:
                ctx.set(pll.sim_locked, 0)
            ctx.set(pll.clk_in, 1)
            await ctx.delay(1e-9)
            ctx.set(pll.clk_in, 0)
            await ctx.delay(1e-9)
            trace.append((cycle, ctx.get(pll.clk_out), ctx.get(count), ctx.get(held)))

    sim.add_testbench(bench)
    sim.run()
    counts = [c for _, _, c, _ in trace]
    assert counts[:12] == [0] * 12  # no lock: held in reset
    first = next(i for i, c in enumerate(counts) if c)
    # lock at edge 10, released by the 2-flop synchronizer, then 5 power-on cycles
    assert 10 + 2 + 5 <= first <= 10 + 2 + 5 + 1, counts
    assert counts[29] == 29 - first + 1  # then counts every edge
    assert counts[-1] == 0  # the lost lock reset the domain


def _prepared(board: str, mhz: float, tmp: Path) -> str:
    from test_board_selftest import _frame, standin_core, standin_rom

    from bitscale.boards.board_top import BoardTop
    from bitscale.boards.build import load_platform

    b = BOARDS[board]
    frame = _frame()
    assert b.platform is not None
    platform = load_platform(b.platform)
    platform.add_file("bitscale_top.v", standin_core(frame))
    plan = platform.prepare(
        BoardTop(board, frame, standin_rom(frame, 4), pll=pll_for(b.family, b.clock_mhz, mhz)), name="bitscale_board"
    )
    plan.extract(str(tmp))
    return (tmp / "bitscale_board.il").read_text()


def _cell(il: str, kind: str) -> str:
    start = il.index(f"cell \\{kind} ")
    return il[start : il.index("end\n", start)]


def test_generated_top_has_the_pll_and_a_lock_gated_reset(tmp_path):
    ice = _prepared("icebreaker", 40, tmp_path / "ice")
    pll = _cell(ice, "SB_PLL40_PAD")  # the reference straight from the 12 MHz pin
    assert "connect \\PACKAGEPIN \\clk12_0__io" in pll and 'parameter \\FEEDBACK_PATH "SIMPLE"' in pll
    c = pll_for("ice40", 12, 40).primitive_params()
    for k in ("DIVR", "DIVF", "DIVQ", "FILTER_RANGE"):
        assert f"parameter \\{k} {c[k]}\n" in pll
    assert "connect \\LOCK \\locked" in pll and "connect \\PLLOUTGLOBAL \\clk_out" in pll
    # the lock goes through the reset synchronizer (async assert, synchronous release) of the sync domain
    assert "lock_sync" in ice and "async_ff" in ice
    ecp = _prepared("ulx3s-85f", 120, tmp_path / "ecp")
    pll = _cell(ecp, "EHXPLLL")
    c = pll_for("ecp5", 25, 120).primitive_params()
    for k in ("CLKI_DIV", "CLKFB_DIV", "CLKOP_DIV"):
        assert f"parameter \\{k} {c[k]}\n" in pll
    assert 'parameter \\FEEDBK_PATH "INT_OS3"' in pll and "connect \\LOCK \\locked" in pll
    assert "lock_sync" in ecp
    lpf = (tmp_path / "ecp" / "bitscale_board.lpf").read_text()
    assert 'FREQUENCY PORT "clk25_0__io" 25000000.0 HZ' in lpf  # nextpnr derives the PLL output from it


def test_uart_divisor_follows_the_pll_clock():
    from bitscale.boards.build import _uart_divisor

    c = pll_for("ice40", 12, 37)
    assert _uart_divisor(c.fout_hz) == round(c.fout_hz / 115200) == 319


# --- the clock search -----------------------------------------------------------------------------


def _search(fmax_of, start, fam="ecp5", fin=25.0, **kw):
    from bitscale.boards.build import search_clock

    built = []

    def try_at(cfg):
        assert legal(cfg) == []
        built.append(cfg.fout_mhz)
        return fmax_of(cfg.fout_mhz)

    best, attempts = search_clock(start, try_at, lambda f: pll_for(fam, fin, f), log=lambda _m: None, **kw)
    return best, attempts, built


@pytest.mark.parametrize("true_fmax", [37.0, 80.0, 118.2, 149.0, 151.0, 210.0])
def test_search_finds_a_clock_that_closes_near_the_fmax(true_fmax):
    """A fake oracle: place and route reaches true_fmax whatever the constraint."""
    best, attempts, built = _search(lambda f: true_fmax, 150.0)
    assert best is not None and best.fout_mhz <= true_fmax
    # within the search's 5% step of the fmax (or of the start, when the design is faster than it)
    assert best.fout_mhz >= 0.95 * min(true_fmax, 150.0)
    if true_fmax > 150 / 0.95:
        assert best.fout_mhz >= 0.99 * true_fmax  # headroom: one step up to it
    assert len(built) <= 3 and len(set(built)) == len(built)  # no clock built twice
    assert all(a["met"] == (a["fmax_mhz"] >= a["clock_mhz"]) for a in attempts)
    assert best.fout_mhz == max(a["clock_mhz"] for a in attempts if a["met"])  # the fastest that closed


def test_search_retries_lower_when_fmax_drops_with_the_constraint():
    """fmax that falls as the constraint relaxes (a looser placement): the search keeps going lower."""
    best, attempts, built = _search(lambda f: 0.97 * f, 150.0, max_tries=5)  # never closes
    assert best is None and len(built) == 5 and built == sorted(built, reverse=True)
    best, attempts, built = _search(lambda f: 120.0 if f > 121 else 0.99 * f + 2, 150.0)
    assert best is not None and best.fout_mhz <= 120 and attempts[-1]["met"]


def test_search_goes_up_once_with_headroom_and_never_past_a_failure():
    best, attempts, built = _search(lambda f: 60.0, 40.0, fam="ice40", fin=12.0)
    assert built[0] < 40.01 and built[1] > 55 and best.fout_mhz == built[1] <= 60  # one step up
    # a failure above caps the step up
    best, attempts, built = _search(lambda f: 100.0 if f <= 90 else 85.0, 150.0)
    assert all(b <= 150 for b in built) and best.fout_mhz <= 90


def test_search_stops_at_the_lowest_pll_clock():
    best, attempts, built = _search(lambda f: 5.0, 20.0, fam="ice40", fin=12.0)
    assert best is None and min(built) >= 16.0 and len(built) <= 5


def test_build_refuses_a_clock_the_pll_cannot_make(tmp_path):
    from test_board_build import _standin_dir

    d = _standin_dir(tmp_path / "b", "icebreaker")
    r = subprocess.run(
        [sys.executable, "-m", "bitscale", "build", str(d), "--clock-mhz", "300"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "the ice40 PLL (SB_PLL40) makes 16..275 MHz" in r.stderr
    assert not (d / "build.json").exists() and not list(d.glob("*board_build*"))


@pytest.mark.slow
@pytest.mark.yosys
@pytest.mark.nextpnr
def test_real_build_picks_the_fastest_pll_clock_that_closes(tmp_path):
    """iCEBreaker, a stand-in core: bitscale build searches the PLL clock with nextpnr; build.json says
    what was tried, the clock kept (the fastest that closed), its PLL setting, UART divisor and fmax."""
    from test_board_build import _standin_dir

    d = _standin_dir(tmp_path / "b", "icebreaker")
    r = subprocess.run(
        [sys.executable, "-m", "bitscale", "build", str(d), "--json"], capture_output=True, text=True, timeout=900
    )
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads((d / "build.json").read_text())
    assert doc == json.loads(r.stdout)
    tried = doc["clock_search"]
    assert 1 <= len(tried) <= 5 and doc["timing_met"]
    assert doc["clock_mhz"] == max(a["clock_mhz"] for a in tried if a["met"])
    assert doc["fmax_mhz"] >= doc["clock_mhz"] > 12.0 == doc["board_clock_mhz"]
    cfg = PllConfig.from_json({k: v for k, v in doc["pll"].items() if k != "params"})
    assert legal(cfg) == [] and cfg.fout_mhz == doc["clock_mhz"]
    assert doc["uart_divisor"] == round(cfg.fout_hz / 115200)
    assert (d / "bitscale_board.bin").stat().st_size > 10000 and not list(d.glob(".board_build.*"))
    # the core was synthesized once (boards/corenet.py) for every clock tried; a second build reuses it
    assert (d / "board_build.core" / "core.json").is_file() and doc["core_synth_seconds"] >= 0
    stamp = (d / "board_build.core" / "core.json").stat().st_mtime_ns
    r = subprocess.run(
        [sys.executable, "-m", "bitscale", "build", str(d), "--clock-mhz", "20", "--json"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert (d / "board_build.core" / "core.json").stat().st_mtime_ns == stamp
    tim = (d / "board_build" / "bitscale_board.tim").read_text()
    assert "Derived frequency constraint of" in tim  # nextpnr timed the PLL's output clock


# --- Vivado: the MMCM (clocking-wizard equivalent) and its timing constraint ---------------------------


@pytest.mark.parametrize("board", ["pynq-z1", "zcu104", "alveo-u250"])
def test_vivado_top_has_an_mmcm_and_a_constraint_at_the_chosen_clock(board):
    import re

    from bitscale.boards.vivado import board_top_verilog, project_tcl, shell_pll, xdc

    b = BOARDS[board]
    pll = shell_pll(b)
    assert legal(pll) == [] and pll.fout_mhz == b.clock_mhz and pll.fin_mhz == b.shell.clock_mhz
    top = board_top_verilog(board, pll)
    p = pll.primitive_params()
    assert f"{pll.primitive} #(.CLKIN1_PERIOD({1000 / pll.fin_mhz:.3f}), .DIVCLK_DIVIDE({p['DIVCLK_DIVIDE']})," in top
    assert f".CLKFBOUT_MULT_F({p['CLKFBOUT_MULT_F']:.3f}), .CLKOUT0_DIVIDE_F({p['CLKOUT0_DIVIDE_F']:.3f})" in top
    assert "BUFG clk_bufg (.I(mmcm_out), .O(clk));" in top and "BUFGCE_DIV" not in top
    # reset until the lock: synchronized LOCKED gates the power-on counter, which gates rst
    assert "always @(posedge clk or negedge mmcm_locked)" in top and "wire locked = lock_sync[1];" in top
    assert "if (!locked) por <= 4'h0;" in top and re.search(r"wire rst = \(por != 4'hf\)", top)
    con = xdc(board, pll)
    osc = re.search(r"create_clock -period ([\d.]+) -name board_clk", con)
    assert osc and float(osc.group(1)) == pytest.approx(1000 / b.shell.clock_mhz, abs=1e-3)
    gen = re.search(
        r"create_generated_clock -name accel_clk -source \[get_pins mmcm/CLKIN1\] "
        r"-multiply_by (\d+) -divide_by (\d+) \[get_pins mmcm/CLKOUT0\]",
        con,
    )
    assert gen and pll.fin_mhz * int(gen.group(1)) / int(gen.group(2)) == pytest.approx(pll.fout_mhz)
    # another clock on request
    faster = shell_pll(b, 150.0)
    assert faster.fout_mhz == 150.0 and "multiply_by" in xdc(board, faster)
    if b.shell.ps:
        tcl = project_tcl(b, 32, 16, clock_mhz=pll.fout_mhz)
        key = "PCW_FPGA0_PERIPHERAL_FREQMHZ" if b.shell.ps == "ps7" else "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"
        assert f"CONFIG.{key} {{{pll.fout_mhz:g}}}" in tcl


@pytest.mark.verilator
def test_vivado_mmcm_top_lints(tmp_path):
    """verilator --lint-only of the MMCM board tops (primitives and the self-test stubbed)."""
    from test_board_vivado import STUBS, _verilator

    from bitscale.boards.vivado import board_top_verilog, shell_pll

    stub = STUBS + (
        "module bitscale_selftest(input clk, input rst, output [7:0] led, output uart_tx);\n"
        "  reg [7:0] c = 0; always @(posedge clk) c <= rst ? 8'd0 : c + 8'd1;\n"
        "  assign led = c; assign uart_tx = c[0];\nendmodule\n"
    )
    (tmp_path / "stubs.v").write_text(stub)
    for board in ("pynq-z1", "alveo-u250"):
        (tmp_path / f"{board}.v").write_text(board_top_verilog(board, shell_pll(BOARDS[board])))
        r = subprocess.run(
            [
                _verilator(),
                "--lint-only",
                "-Wno-fatal",
                "-Wno-PINMISSING",
                "--top-module",
                "bitscale_board_top",
                str(tmp_path / "stubs.v"),
                str(tmp_path / f"{board}.v"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0 and "%Error" not in r.stderr, r.stderr[-3000:]
