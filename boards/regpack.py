"""Fabric registers packed into ECP5 block RAMs and DSP blocks after Yosys (issue #13): DP16KD output
registers (below) and MULT18X18D input, pipeline and output registers (:func:`pack_mult_registers`).

Yosys' ECP5 flow maps every block RAM with ``REGMODE = NOREG`` (memory_libmap has no output
register option, lattice/brams_16kd.txt), so a DP16KD's data reaches the fabric after its
5.8 ns clock-to-out of a 6.67 ns cycle at 150 MHz, whatever the RTL writes behind it. hw/ puts
a register straight behind every block RAM read port, without reset (hw/fifo.py output register,
hw/mvtu.py weight word and input buffer word). :func:`pack_bram_output_registers` moves such
registers into the DP16KD on the synthesized netlist (Yosys JSON, before nextpnr): the DP16KD's
output register (``REGMODE_x = OUTREG``, enabled by ``OCEx``) holds the same bits on the same
clock edge, so the design's behaviour is unchanged and the fabric path starts at the output
register's clock-to-out.

A read port is packed only when every data-out bit it drives feeds exactly one ``TRELLIS_FF``
(its ``DI``, nothing else reads the bit) and all those flip-flops share the port's clock
(neither inverted), one clock enable (or none) and one reset: none (``LSR`` tied 0) or one
synchronous reset to 0 (``SRMODE = LSR_OVER_CE``, ``REGSET = RESET``: the reset wins over the
enable, as Amaranth's domain reset does). Then: ``REGMODE`` = ``OUTREG``, ``OCE`` = that clock
enable (1 if none), the flip-flops' outputs are driven by the DP16KD's data outs and the
flip-flops are removed. In 36-bit mode (``DATA_WIDTH_B = 36``) the read port's data is on DOA and
DOB, both registered by port B's clock and ``OCEB``. The DP16KD's behaviour in both modes:
Lattice's simulation model (an output register loaded on OCE, independent of CE).

Registers with a reset (the FIFO output register and the MVTU input buffer's word in hw/: with a
reset because Yosys merges a reset-less register behind a ``no_rw_check`` RAM into the read port):
the port's reset pin takes the flip-flops' reset net (``RST`` of the port; 36-bit mode ``RSTA``
and ``RSTB``, as nextpnr connects a PDPW16KD's one ``RST``), ``RESETMODE = SYNC`` (Yosys leaves
an arbitrary mode on a DP16KD whose resets are tied 0), and ``OCE`` = enable OR reset (one added
LUT4 per enable/reset pair; none when the registers have no enable), so the output register is
cleared in a reset cycle whether the block's synchronous reset needs its clock enable or not.
Such a port is packed only when its reset pins are tied 0 (and, 18-bit mode, its write enable
too: Yosys' ECP5 memory rules say a port's synchronous reset blocks that port's write) and a
reset-less register only where the port's reset pins are tied 0. What differs from the fabric
register: the DP16KD's reset also clears the block's internal read latch (Yosys' ECP5 memory
rules: ``rdsrst zero ungated``), so after a reset the output register's first load sees 0
where the unpacked design saw the last word read before (or during) the reset; hw/ qualifies
those registers' data by a valid bit that the same reset clears, so nothing reads that word.
"""

from __future__ import annotations

import json
from collections import defaultdict


def _s(v) -> str:
    """A Yosys JSON string parameter (strings that look binary carry a trailing space)."""
    return v.rstrip() if isinstance(v, str) else str(v)


def _width(v) -> int:
    s = _s(v)
    try:
        return int(s, 2) if set(s) <= {"0", "1"} else int(s)
    except ValueError:
        return 0


def _sinks(mod: dict) -> dict:
    """net bit -> [(cell name, port, index)] of every cell input (and ('$port', name, i) for module outputs)."""
    sinks: dict = defaultdict(list)
    for name, c in mod["cells"].items():
        dirs = c.get("port_directions", {})
        for port, bits in c["connections"].items():
            if dirs.get(port, "input") == "output":
                continue
            for i, b in enumerate(bits):
                if isinstance(b, int):
                    sinks[b].append((name, port, i))
    for pname, p in mod.get("ports", {}).items():
        if p.get("direction") != "input":
            for i, b in enumerate(p["bits"]):
                if isinstance(b, int):
                    sinks[b].append(("$port", pname, i))
    return sinks


def _ff_control(c: dict, reset: bool = False):
    """(clock net, clock enable net or '1') of a plain TRELLIS_FF (rising clock, no set/reset, reset
    value 0), else None. With ``reset``: (clock, enable, reset net or '0'), also for a flip-flop with a
    synchronous reset to 0 over its enable (``SRMODE = LSR_OVER_CE``, ``REGSET = RESET``)."""
    p, con = c["parameters"], c["connections"]
    if _s(p.get("CLKMUX", "CLK")) != "CLK" or _s(p.get("REGSET", "RESET")) != "RESET":
        return None
    if _s(p.get("LSRMUX", "LSR")) != "LSR":
        return None
    lsr = con.get("LSR", ["0"])
    if lsr == ["0"]:
        rst = "0"
    elif reset and isinstance(lsr[0], int) and _s(p.get("SRMODE", "LSR_OVER_CE")) == "LSR_OVER_CE":
        rst = lsr[0]
    else:
        return None
    cemux = _s(p.get("CEMUX", "1"))
    if cemux == "1":
        ce = "1"
    elif cemux == "CE":
        ce = con.get("CE", ["1"])[0]
    else:
        return None
    clk = con.get("CLK", [None])[0]
    if not isinstance(clk, int):
        return None
    return (clk, ce, rst) if reset else (clk, ce)


def _new_net(mod: dict) -> int:
    """A net number no cell, port or net name of ``mod`` uses."""
    top = 1
    for c in mod.get("cells", {}).values():
        for bits in c["connections"].values():
            top = max([top, *(b for b in bits if isinstance(b, int))])
    for group in ("ports", "netnames"):
        for p in mod.get(group, {}).values():
            top = max([top, *(b for b in p.get("bits", []) if isinstance(b, int))])
    return top + 1


def _or_gate(mod: dict, cache: dict, a: int, b: int) -> int:
    """The net of a LUT4 ``a | b`` added to ``mod`` (one per pair, shared)."""
    if (a, b) not in cache:
        out = _new_net(mod)
        name = f"$regpack$oce_or${len(cache)}"
        mod["cells"][name] = {
            "hide_name": 1,
            "type": "LUT4",
            "parameters": {"INIT": "0000000000001110"},  # Z = A | B (C, D tied 0)
            "attributes": {},
            "port_directions": {"A": "input", "B": "input", "C": "input", "D": "input", "Z": "output"},
            "connections": {"A": [a], "B": [b], "C": ["0"], "D": ["0"], "Z": [out]},
        }
        mod.setdefault("netnames", {})[f"{name}$z"] = {"hide_name": 1, "bits": [out], "attributes": {}}
        cache[(a, b)] = out
    return cache[(a, b)]


def pack_bram_output_registers(netlist: dict) -> dict:
    """Pack DP16KD output registers in every module of ``netlist`` (Yosys JSON, changed in place).

    Returns {"ports": read ports packed, "reset_ports": those of them whose registers had a reset,
    "ffs": flip-flops removed, "skipped": read ports left NOREG here, "retime": what
    :func:`retime_bram_read_muxes` then did with the read muxes of deep memories}."""
    stats: dict = {"ports": 0, "reset_ports": 0, "ffs": 0, "skipped": 0}
    for mod in netlist.get("modules", {}).values():
        cells = mod.get("cells", {})
        if not any(c["type"] == "DP16KD" for c in cells.values()):
            continue
        sinks = _sinks(mod)
        or_cache: dict = {}
        for name in [n for n, c in cells.items() if c["type"] == "DP16KD"]:
            bram = cells[name]
            par, con = bram["parameters"], bram["connections"]
            wide = _width(par.get("DATA_WIDTH_B", 18)) == 36
            groups = [("B", ("DOA", "DOB"))] if wide else [("A", ("DOA",)), ("B", ("DOB",))]
            for port, outs in groups:
                if _s(par.get(f"CLK{port}MUX", f"CLK{port}")) != f"CLK{port}":
                    continue
                clk = con.get(f"CLK{port}", [None])[0]
                pins = [f"{o}{i}" for o in outs for i in range(18)]
                used = [(pin, con[pin][0]) for pin in pins if pin in con and isinstance(con[pin][0], int)]
                used = [(pin, b) for pin, b in used if sinks.get(b)]
                if not used:
                    continue
                ffs, ctrl, ok = [], set(), True
                for pin, b in used:
                    s = sinks[b]
                    if len(s) != 1 or s[0][0] == "$port" or s[0][1] != "DI":
                        ok = False
                        break
                    ff = cells[s[0][0]]
                    c = _ff_control(ff, reset=True) if ff["type"] == "TRELLIS_FF" else None
                    if c is None or c[0] != clk:
                        ok = False
                        break
                    ctrl.add(c[1:])
                    ffs.append((pin, s[0][0]))
                rst_pins = ("RSTA", "RSTB") if wide else (f"RST{port}",)
                if ok and len(ctrl) == 1:
                    (ce, rst) = next(iter(ctrl))
                    # the port's reset must be free (a reset-less register must not be cleared by it)
                    ok = all(con.get(p, ["0"]) == ["0"] for p in rst_pins)
                    if rst != "0" and not wide and con.get(f"WE{port}", ["0"]) != ["0"]:
                        ok = False  # a synchronous reset blocks the port's own write
                if not ok or len(ctrl) != 1:
                    stats["skipped"] += 1
                    continue
                for pin, ffname in ffs:
                    con[pin] = [cells[ffname]["connections"]["Q"][0]]
                    del cells[ffname]
                _output_register(mod, bram, port, wide, ce, rst, or_cache)
                stats["reset_ports"] += rst != "0"
                stats["ports"] += 1
                stats["ffs"] += len(ffs)
    stats["retime"] = retime_bram_read_muxes(netlist)
    return stats


def _output_register(mod: dict, bram: dict, port: str, wide: bool, ce, rst, or_cache: dict) -> None:
    """Turn on a DP16KD read port's output register: loaded when ``ce`` (a net or "1"), cleared by the
    synchronous reset ``rst`` (a net, or "0": none) on the port's reset pins with OCE = ce | rst."""
    par, con = bram["parameters"], bram["connections"]
    for reg in ("A", "B") if wide else (port,):
        par[f"REGMODE_{reg}"] = "OUTREG"
    oce = ce
    if rst != "0":
        par["RESETMODE"] = "SYNC"
        par["ASYNC_RESET_RELEASE"] = "SYNC"
        dirs = bram.setdefault("port_directions", {})
        for p in ("RSTA", "RSTB") if wide else (f"RST{port}",):
            con[p] = [rst]
            dirs[p] = "input"
        if ce != "1":
            oce = _or_gate(mod, or_cache, ce, rst)
    con[f"OCE{port}"] = [oce]


def _remove_cell(mod: dict, sinks: dict, drivers: dict, name: str) -> None:
    c = mod["cells"].pop(name)
    dirs = c.get("port_directions", {})
    for port, bits in c["connections"].items():
        for i, b in enumerate(bits):
            if not isinstance(b, int):
                continue
            if dirs.get(port, "input") == "output":
                drivers.pop(b, None)
            elif (name, port, i) in sinks.get(b, []):
                sinks[b].remove((name, port, i))


def _ff_chain(cells: dict, sinks: dict, net: int):
    """The plain flip-flops behind ``net`` (its only sink, their data input), one or two deep (the second
    the only sink of the first's output, same clock and enable): ([flip-flop names], (clock, enable)),
    else None."""
    chain, ctrl = [], None
    for _ in range(2):
        s = sinks.get(net, [])
        if len(s) != 1 or s[0][1] != "DI" or s[0][0] not in cells or cells[s[0][0]]["type"] != "TRELLIS_FF":
            break
        c = _ff_control(cells[s[0][0]])
        if c is None or (ctrl is not None and c != ctrl):
            break
        chain.append(s[0][0])
        ctrl = c
        net = cells[s[0][0]]["connections"]["Q"][0]
        if not isinstance(net, int):
            break
    return (chain, ctrl) if chain else None


def pack_mult_registers(netlist: dict) -> dict:
    """Pack MULT18X18D input, pipeline and output registers in every module of ``netlist`` (Yosys JSON,
    in place).

    Yosys' ECP5 flow instantiates every MULT18X18D combinational (lattice/dsp_map_18x18.v). hw/ writes
    a DSP product between registers (hw/dotproduct.py: the lane's weight and activation registered in
    front, the product registered twice behind, none with a reset). Input A (B): when every A (B) pin
    is a constant or a plain flip-flop's output (rising clock, no set/reset, reset value 0), the pins
    take the flip-flops' inputs and the MULT18X18D's input register (``REG_INPUTA_CLK = CLK0``) holds
    them; a flip-flop that still drives something else stays (the DSP holds a copy). Output: when every
    used P pin feeds exactly one such flip-flop and nothing else, the flip-flops move into the output
    register (``REG_OUTPUT_CLK = CLK0``); when moreover each of them feeds exactly one more such
    flip-flop (same clock and enable) and nothing else, the first ones become the pipeline register
    (``REG_PIPELINE_CLK = CLK0``) and the second the output register. One MULT18X18D's registers share
    CLK0/CE0 (RST0 tied 0), so a side is packed only with the clock and enable of the sides packed
    before it. nextpnr-ecp5 (ecp5/pack.cc) times a MULT18X18D by its input and output registers only:
    none, inputs, output, or both (MULT18X18D_REGS_ALL, the Lattice timing of input, pipeline and
    output registers; the pipeline register itself selects nothing); one input side alone it times as
    none. Returns {"inputs": A/B sides packed, "outputs": P sides packed, "pipelines": of those, with
    the pipeline register, "ffs": flip-flops removed}."""
    stats = {"inputs": 0, "outputs": 0, "pipelines": 0, "ffs": 0}
    for mod in netlist.get("modules", {}).values():
        cells = mod.get("cells", {})
        if not any(c["type"] == "MULT18X18D" for c in cells.values()):
            continue
        sinks = _sinks(mod)
        drivers = {
            c["connections"]["Q"][0]: n
            for n, c in cells.items()
            if c["type"] == "TRELLIS_FF" and isinstance(c["connections"].get("Q", [None])[0], int)
        }
        for name in [n for n, c in cells.items() if c["type"] == "MULT18X18D"]:
            mult = cells[name]
            par, con = mult["parameters"], mult["connections"]
            ctrl = None  # (clock, enable) of the registers packed into this MULT18X18D
            for side in ("A", "B"):
                ffs, side_ctrl = {}, set()
                for pin in (f"{side}{i}" for i in range(18)):
                    b = con.get(pin, ["0"])[0]
                    if not isinstance(b, int):
                        continue
                    ff = drivers.get(b)
                    c = _ff_control(cells[ff]) if ff is not None else None
                    if c is None:
                        side_ctrl.add(None)
                        break
                    side_ctrl.add(c)
                    ffs[pin] = ff
                if not ffs or len(side_ctrl) != 1 or None in side_ctrl or (ctrl is not None and ctrl not in side_ctrl):
                    continue
                (ctrl,) = side_ctrl
                for pin, ff in ffs.items():
                    q, d = con[pin][0], cells[ff]["connections"]["DI"][0]
                    sinks[q].remove((name, pin, 0))
                    con[pin] = [d]
                    if isinstance(d, int):
                        sinks.setdefault(d, []).append((name, pin, 0))
                for reg in ("CLK", "CE", "RST"):
                    par[f"REG_INPUT{side}_{reg}"] = f"{reg}0"
                stats["inputs"] += 1
                for ff in set(ffs.values()):  # a flip-flop nothing reads any more goes
                    if not sinks.get(cells[ff]["connections"]["Q"][0]):
                        _remove_cell(mod, sinks, drivers, ff)
                        stats["ffs"] += 1
            outs, out_ctrl = [], set()
            for i in range(36):
                b = con.get(f"P{i}", ["x"])[0]
                if not isinstance(b, int) or not sinks.get(b):
                    continue
                chain = _ff_chain(cells, sinks, b)
                out_ctrl.add(chain[1] if chain else None)
                if chain is None:
                    break
                outs.append((f"P{i}", chain[0]))
            if outs and len(out_ctrl) == 1 and None not in out_ctrl and (ctrl is None or ctrl in out_ctrl):
                (ctrl,) = out_ctrl
                # a second register behind every pin (same clock and enable): the pipeline register too
                piped = all(len(ffs) == 2 for _, ffs in outs)
                for pin, ffs in outs:
                    ffs = ffs if piped else ffs[:1]
                    q = cells[ffs[-1]]["connections"]["Q"][0]
                    for ff in ffs:
                        _remove_cell(mod, sinks, drivers, ff)
                    con[pin] = [q]
                    stats["ffs"] += len(ffs)
                for stage in ("PIPELINE", "OUTPUT") if piped else ("OUTPUT",):
                    for reg in ("CLK", "CE", "RST"):
                        par[f"REG_{stage}_{reg}"] = f"{reg}0"
                stats["outputs"] += 1
                stats["pipelines"] += piped
            if ctrl is not None:
                con["CLK0"], con["CE0"], con["RST0"] = [ctrl[0]], [ctrl[1]], ["0"]
                mult.setdefault("port_directions", {}).update({"CLK0": "input", "CE0": "input", "RST0": "input"})
    return stats


# combinational cells of Yosys' ECP5 netlist that a block RAM's read mux is built from: output pin, inputs
_MUX_CELLS = {
    "LUT4": ("Z", ("A", "B", "C", "D")),
    "PFUMX": ("Z", ("ALUT", "BLUT", "C0")),
    "L6MUX21": ("Z", ("D0", "D1", "SD")),
}
RETIME_MAX_CELLS = 4096  # cells in one read mux (a deep ROM's block select: a few per data bit)
RETIME_MAX_INPUTS = 64  # other nets into it (registered select bits): each gets a flip-flop


def _eval_cell(c: dict, v: dict) -> int:
    """The output of a LUT4 / PFUMX / L6MUX21 for input pin values ``v`` (pin -> 0/1)."""
    t = c["type"]
    if t == "LUT4":
        init = _width(c["parameters"].get("INIT", "0"))
        return (init >> (v["A"] | v["B"] << 1 | v["C"] << 2 | v["D"] << 3)) & 1
    if t == "PFUMX":
        return v["ALUT"] if v["C0"] else v["BLUT"]
    return v["D1"] if v["SD"] else v["D0"]


def _read_ports(cells: dict, sinks: dict) -> list:
    """Every DP16KD read port still without its output register: (cell, port, wide, [(pin, net)] used)."""
    out = []
    for name, c in cells.items():
        if c["type"] != "DP16KD":
            continue
        par, con = c["parameters"], c["connections"]
        wide = _width(par.get("DATA_WIDTH_B", 18)) == 36
        for port, outs in [("B", ("DOA", "DOB"))] if wide else [("A", ("DOA",)), ("B", ("DOB",))]:
            if _s(par.get(f"REGMODE_{port}", "NOREG")) != "NOREG":
                continue
            pins = [f"{o}{i}" for o in outs for i in range(18)]
            used = [(p, con[p][0]) for p in pins if p in con and isinstance(con[p][0], int) and sinks.get(con[p][0])]
            if used:
                out.append((name, port, wide, used))
    return out


def retime_bram_read_muxes(netlist: dict) -> dict:
    """Move the registers behind a block RAM read mux in front of it (ECP5, Yosys JSON, in place).

    A memory deeper than one DP16KD is mapped by Yosys as several blocks whose NOREG outputs a LUT mux
    selects (by address bits Yosys registers) in front of the register hw/ puts behind the read port,
    so :func:`pack_bram_output_registers` finds no register straight behind those ports and the
    DP16KD's 5.8 ns clock-to-out plus the mux stay in one cycle (SFC bit-serial's critical path). Here
    the registers move backwards over the mux: every block's read port gets its output register
    (``OUTREG``, ``OCE`` the registers' enable) and every other net into the mux (the registered
    select) a flip-flop on the same clock, enable and reset; the mux then drives the removed
    registers' outputs. The same bits on the same clock edges: a retiming.

    Taken only when it is exact: the mux (the cells reached forward from the ports' data outs) is made
    of LUT4 / PFUMX / L6MUX21 cells only, ends only in the data inputs of flip-flops with one clock (the
    ports' read clock), one enable and one reset (none, or synchronous to 0), each fed by the mux alone,
    and reads nothing else but the ports' outputs and at most RETIME_MAX_INPUTS other nets; with a reset,
    the mux gives 0 on every output when all its inputs are 0 (evaluated), so the registers read 0 after
    a reset as before (the new ones all reset to 0). Returns {"groups": muxes retimed, "ports": read
    ports given output registers, "ffs_removed", "ffs_added", "skipped": muxes left}."""
    stats = {"groups": 0, "ports": 0, "ffs_removed": 0, "ffs_added": 0, "skipped": 0}
    for mod in netlist.get("modules", {}).values():
        cells = mod.get("cells", {})
        if not any(c["type"] == "DP16KD" for c in cells.values()):
            continue
        sinks = _sinks(mod)
        ports = _read_ports(cells, sinks)
        # the cone of each port: comb cells reached forward from its data outs, and the flip-flops it ends in
        cones = []
        for name, port, wide, used in ports:
            cone, ends, ok = set(), set(), True
            todo = [b for _, b in used]
            seen = set(todo)
            while todo and ok:
                b = todo.pop()
                for cell, pin, _ in sinks.get(b, []):
                    c = cells.get(cell)
                    if c is None:  # a module port
                        ok = False
                    elif c["type"] in _MUX_CELLS and pin in _MUX_CELLS[c["type"]][1]:
                        if cell not in cone:
                            cone.add(cell)
                            z = c["connections"].get(_MUX_CELLS[c["type"]][0], [None])[0]
                            if isinstance(z, int) and z not in seen:
                                seen.add(z)
                                todo.append(z)
                    elif c["type"] == "TRELLIS_FF" and pin == "DI":
                        ends.add(cell)
                    else:
                        ok = False
                if len(cone) > RETIME_MAX_CELLS:
                    ok = False
            cones.append((cone, ends, ok and bool(cone)))
        # ports whose cones share cells form one mux
        groups: list = []
        for k, (cone, ends, ok) in enumerate(cones):
            merged = [g for g in groups if g["cone"] & cone]
            g = {"ports": [k], "cone": set(cone), "ends": set(ends), "ok": ok}
            for o in merged:
                groups.remove(o)
                g["ports"] += o["ports"]
                g["cone"] |= o["cone"]
                g["ends"] |= o["ends"]
                g["ok"] = g["ok"] and o["ok"]
            groups.append(g)
        or_cache: dict = {}
        for g in groups:
            if not g["cone"]:
                continue
            if not (g["ok"] and len(g["ports"]) > 1 and _retime_group(mod, sinks, ports, g, or_cache, stats)):
                stats["skipped"] += 1
    return stats


def _retime_group(mod: dict, sinks: dict, ports: list, g: dict, or_cache: dict, stats: dict) -> bool:
    cells = mod["cells"]
    cone, ends = g["cone"], g["ends"]
    ctrl = {_ff_control(cells[f], reset=True) for f in ends}
    if len(ctrl) != 1 or None in ctrl:
        return False
    (c0,) = ctrl
    assert c0 is not None and len(c0) == 3
    clk, ce, rst = c0[0], c0[1], c0[2]
    pins = {}  # net of a port's data out -> True
    for k in g["ports"]:
        name, port, wide, used = ports[k]
        bram = cells[name]
        con, par = bram["connections"], bram["parameters"]
        if _s(par.get(f"CLK{port}MUX", f"CLK{port}")) != f"CLK{port}" or con.get(f"CLK{port}", [None])[0] != clk:
            return False
        if any(con.get(p, ["0"]) != ["0"] for p in (("RSTA", "RSTB") if wide else (f"RST{port}",))):
            return False
        if rst != "0" and not wide and con.get(f"WE{port}", ["0"]) != ["0"]:
            return False
        pins.update((b, True) for _, b in used)
    # every end flip-flop's data comes from the mux (or a data out) and feeds nothing else
    outs = {}  # net -> (cell, pin) driving it inside the mux
    for cn in cone:
        c = cells[cn]
        z = c["connections"][_MUX_CELLS[c["type"]][0]][0]
        outs[z] = cn
    for f in ends:
        di = cells[f]["connections"]["DI"][0]
        if not isinstance(di, int) or len(sinks.get(di, [])) != 1 or (di not in outs and di not in pins):
            return False
    # cone outputs feed only cone cells and end flip-flops (the forward search checked the kind of sink)
    # the other nets into the mux
    inputs = []
    for cn in cone:
        c = cells[cn]
        for pin in _MUX_CELLS[c["type"]][1]:
            b = c["connections"].get(pin, ["0"])[0]
            if isinstance(b, int) and b not in outs and b not in pins and b not in inputs:
                inputs.append(b)
    if len(inputs) > RETIME_MAX_INPUTS:
        return False
    if rst != "0":  # after a reset every register reads 0: the mux must give 0 for all-0 inputs
        val: dict = {b: 0 for b in list(pins) + inputs}
        order, pending = [], set(cone)
        while pending:
            ready = [
                cn
                for cn in pending
                if all(
                    not isinstance(b := cells[cn]["connections"].get(p, ["0"])[0], int) or b in val
                    for p in _MUX_CELLS[cells[cn]["type"]][1]
                )
            ]
            if not ready:
                return False  # a loop through the mux
            for cn in ready:
                c = cells[cn]
                v = {}
                for p in _MUX_CELLS[c["type"]][1]:
                    b = c["connections"].get(p, ["0"])[0]
                    v[p] = val[b] if isinstance(b, int) else int(_s(b) == "1")
                val[c["connections"][_MUX_CELLS[c["type"]][0]][0]] = _eval_cell(c, v)
                pending.discard(cn)
                order.append(cn)
        if any(val[cells[f]["connections"]["DI"][0]] for f in ends):
            return False
    # apply: output registers on the ports, a flip-flop on every other input, the end registers removed
    for k in g["ports"]:
        name, port, wide, _ = ports[k]
        _output_register(mod, cells[name], port, wide, ce, rst, or_cache)
        stats["ports"] += 1
    model = next(iter(ends))
    for b in inputs:
        q = _new_net(mod)
        ff = json.loads(json.dumps(cells[model]))
        ff["connections"]["DI"], ff["connections"]["Q"] = [b], [q]
        fname = f"$regpack$retime${len(cells)}"
        while fname in cells:
            fname += "_"
        cells[fname] = ff
        mod.setdefault("netnames", {})[f"{fname}$q"] = {"hide_name": 1, "bits": [q], "attributes": {}}
        for cn in cone:
            c = cells[cn]
            for pin in _MUX_CELLS[c["type"]][1]:
                if c["connections"].get(pin, [None])[0] == b:
                    c["connections"][pin] = [q]
        stats["ffs_added"] += 1
    for f in ends:
        di, q = cells[f]["connections"]["DI"][0], cells[f]["connections"]["Q"][0]
        del cells[f]
        if di in outs:
            c = cells[outs[di]]
            c["connections"][_MUX_CELLS[c["type"]][0]] = [q]
        else:  # straight from a data out (its register is now the block's)
            for k in g["ports"]:
                con = cells[ports[k][0]]["connections"]
                for p in list(con):
                    if con[p] == [di]:
                        con[p] = [q]
        stats["ffs_removed"] += 1
    stats["groups"] += 1
    return True
