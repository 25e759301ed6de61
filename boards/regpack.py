"""Fabric registers packed into ECP5 block RAMs after Yosys (issue #13): DP16KD output registers.

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
    "ffs": flip-flops removed, "skipped": read ports left NOREG}."""
    stats = {"ports": 0, "reset_ports": 0, "ffs": 0, "skipped": 0}
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
                for reg in ("A", "B") if wide else (port,):
                    par[f"REGMODE_{reg}"] = "OUTREG"
                oce = ce
                if rst != "0":
                    par["RESETMODE"] = "SYNC"
                    par["ASYNC_RESET_RELEASE"] = "SYNC"
                    dirs = bram.setdefault("port_directions", {})
                    for p in rst_pins:
                        con[p] = [rst]
                        dirs[p] = "input"
                    if ce != "1":
                        oce = _or_gate(mod, or_cache, ce, rst)
                    stats["reset_ports"] += 1
                con[f"OCE{port}"] = [oce]
                stats["ports"] += 1
                stats["ffs"] += len(ffs)
    return stats


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


def pack_mult_registers(netlist: dict) -> dict:
    """Pack MULT18X18D input and output registers in every module of ``netlist`` (Yosys JSON, in place).

    Yosys' ECP5 flow instantiates every MULT18X18D combinational (lattice/dsp_map_18x18.v). hw/ writes
    a DSP product between registers (hw/dotproduct.py: the weight and activation words in front, the
    product register behind, none with a reset). Input A (B): when every A (B) pin is a constant or a
    plain flip-flop's output (rising clock, no set/reset, reset value 0), the pins take the flip-flops'
    inputs and the MULT18X18D's input register (``REG_INPUTA_CLK = CLK0``) holds them; a flip-flop
    that still drives something else stays (the DSP holds a copy). Output: when every used P pin feeds
    exactly one such flip-flop and nothing else, the flip-flops move into the output register
    (``REG_OUTPUT_CLK = CLK0``). One MULT18X18D's registers share CLK0/CE0 (RST0 tied 0), so a side is
    packed only with the clock and enable of the sides packed before it. Returns {"inputs": A/B
    sides packed, "outputs": P sides packed, "ffs": flip-flops removed}."""
    stats = {"inputs": 0, "outputs": 0, "ffs": 0}
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
                s = sinks[b]
                ff = s[0][0] if len(s) == 1 and s[0][1] == "DI" else None
                c = _ff_control(cells[ff]) if ff in cells and cells[ff]["type"] == "TRELLIS_FF" else None
                out_ctrl.add(c)
                if c is None:
                    break
                outs.append((f"P{i}", ff))
            if outs and len(out_ctrl) == 1 and None not in out_ctrl and (ctrl is None or ctrl in out_ctrl):
                (ctrl,) = out_ctrl
                for pin, ff in outs:
                    q = cells[ff]["connections"]["Q"][0]
                    _remove_cell(mod, sinks, drivers, ff)
                    con[pin] = [q]
                for reg in ("CLK", "CE", "RST"):
                    par[f"REG_OUTPUT_{reg}"] = f"{reg}0"
                stats["outputs"] += 1
                stats["ffs"] += len(outs)
            if ctrl is not None:
                con["CLK0"], con["CE0"], con["RST0"] = [ctrl[0]], [ctrl[1]], ["0"]
                mult.setdefault("port_directions", {}).update({"CLK0": "input", "CE0": "input", "RST0": "input"})
    return stats
