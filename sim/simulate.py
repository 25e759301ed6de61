"""Simulate a generated accelerator (a build dir from ``bitscale generate``) with cocotb.

:func:`simulate` streams N images through ``bitscale_top`` on Verilator (or
Icarus), checks every output frame against the golden integer model and
measures the throughput and latency in clock cycles; it writes and returns
``sim.json`` (keys in docs/simulation.md).

Guaranteed: ``golden_match`` counts images whose output frame equals the
golden model's accumulators exactly; ``cycles_per_frame`` is measured with
frames streamed back-to-back (no input gap, output always ready) as the
mean interval between consecutive frames' last output beats, skipping the
first interval(s) (pipeline fill); ``latency_cycles`` is from the first
input beat to the last output beat of one frame sent alone into an idle
accelerator. Nothing is written unless the simulation ran to the end.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bitscale.atomic import write_json, write_text
from bitscale.errors import UserError, read_json
from bitscale.sim import runner

TB_MODULE = "bitscale.sim.tb_accelerator"
HARNESS_TB = "bitscale.sim.tb_harness"
HARNESS_TOP = "bitscale_harness"
# fast mode on Verilator: the clock toggled by the Verilator main in C++ ("main", default), made inside
# the harness Verilog ("verilog": Verilator --timing) or by cocotb's GPI clock ("gpi": two timed callbacks
# and a vpi_put_value per cycle)
CLOCK_ENV = "BITSCALE_SIM_CLOCK"
CLOCKS = ("main", "verilog", "gpi")
MODES = ("fast", "cocotb-stream")
MIN_STREAM_FRAMES = 4  # enough for at least two steady-state intervals


def _load_design(build_dir: Path) -> dict:
    path = build_dir / "design.json"
    design = read_json(path, f"no design.json in {build_dir} (run `bitscale generate` first)")
    if not isinstance(design, dict) or design.get("format") != "bitscale.Design":
        raise UserError(f"{path} is not a bitscale design (missing format 'bitscale.Design')")
    for key in ("top", "verilog", "frame", "model_cycles_per_frame"):
        if key not in design:
            raise UserError(f"{path} has no {key!r}")
    # wrong field types: one line naming the field, not a traceback deep inside
    for key, types, what in (
        ("top", str, "a module name"),
        ("verilog", str, "a file name"),
        ("frame", dict, "an object"),
        ("run_dir", (str, type(None)), "a path or null"),
        ("layers", list, "a list"),
        ("memory_files", list, "a list of file names"),
    ):
        if key in design and not isinstance(design[key], types):
            raise UserError(f"{path}: {key!r} must be {what}, not {design[key]!r}")
    mc = design["model_cycles_per_frame"]
    if isinstance(mc, bool) or not isinstance(mc, int) or mc < 1:
        raise UserError(f"{path}: 'model_cycles_per_frame' must be a positive integer, not {mc!r}")
    if any(not isinstance(l, dict) for l in design.get("layers", [])):
        raise UserError(f"{path}: every entry of 'layers' must be an object")
    if not (build_dir / design["verilog"]).is_file():
        raise UserError(f"design.json names {design['verilog']!r} but {build_dir / design['verilog']} is missing")
    return design


def _make_safe(path: Path) -> bool:
    """Whether ``path`` can appear in a Makefile: ASCII, no whitespace, none of make's specials."""
    s = str(path)
    return s.isascii() and not any(c.isspace() or c in "#$:;=%*?\"'\\" for c in s)


def _safe_copy(verilog: Path) -> tuple[Path, Path]:
    """(cache dir, Verilog copy) under the per-user simulation cache, keyed by the Verilog's hash."""
    data = verilog.read_bytes()
    root = runner.default_cache_dir()
    src = root / f"src-{hashlib.sha256(data).hexdigest()[:16]}"
    src.mkdir(parents=True, exist_ok=True)
    copy = src / verilog.name
    if not copy.is_file() or copy.read_bytes() != data:
        tmp = src / f".{verilog.name}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, copy)
    return root, copy


def resolve_run_dir(build_dir: Path, run_dir) -> Path | None:
    """design.json's ``run_dir``: absolute as written by generate; a relative one is taken relative
    to the build directory (where design.json lives), else to the current directory (older builds)."""
    if not run_dir:
        return None
    p = Path(run_dir)
    if p.is_absolute():
        return p
    for base in (build_dir, Path.cwd()):
        if (base / p / "config.json").is_file() or (base / p / "inputs.npz").is_file():
            return (base / p).resolve()
    return (build_dir / p).resolve()


def _inputs(design: dict, net, images, inputs, labels, seed: int, log, random_inputs=None):
    """(x, y or None, source) with exactly ``images`` frames (``"all"``: every one) shaped like the input.

    ``random_inputs``: True = random frames (asked for); False = the run's test set or an error;
    None = the test set when design.json names a run (an error when it cannot be loaded: never a
    silent switch to random frames), random frames for a design generated without a run."""
    shape = tuple(net.input_shape)
    if inputs is not None:
        x = np.asarray(inputs)
        source = "given"
        y = None if labels is None else np.asarray(labels)
    else:
        x, y, source = None, None if labels is None else np.asarray(labels), "random"
        run_dir = design.get("run_dir")
        if run_dir and not random_inputs:
            try:
                from bitscale.nn.data import test_set

                x, ty = test_set(run_dir)
                y = ty if y is None else y
                source = "test_set"
            except (UserError, OSError, ValueError, KeyError) as e:
                raise UserError(
                    f"cannot load the test set of design.json's run {run_dir} ({e}); "
                    f"give --random-inputs to simulate random frames instead"
                ) from None
        elif random_inputs is False:
            raise UserError(
                "design.json names no run, so there is no test set; give --random-inputs to simulate random frames"
            )
        if x is None:
            if images == "all":
                raise UserError(
                    "--images all needs the run's test set (design.json's run_dir) or given inputs; "
                    "this design has neither (give a count for random inputs)"
                )
            from bitscale.nn.random_net import random_inputs

            x = random_inputs(shape, images, seed)
    if x.ndim < 1 or tuple(x.shape[1:]) != shape:
        raise UserError(f"inputs must be shaped (N, {', '.join(map(str, shape))}), not {tuple(x.shape)}")
    if images == "all":
        images = len(x)
        if images < 1:
            raise UserError("--images all: there are no input images")
    if len(x) < images:
        raise UserError(f"only {len(x)} input images available, asked for {images}")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise UserError("inputs must be 8-bit unsigned pixels (0..255)")
    if y is not None:
        y = np.asarray(y).reshape(-1)
        if len(y) < images:
            raise UserError(f"only {len(y)} labels for {images} images")
        y = y[:images]
    return x[:images].astype(np.uint8), y, source


def _steady_interval(last_cycles: list[int]) -> tuple[float | None, list[int]]:
    """Mean interval between consecutive frames' last output beats, pipeline fill skipped."""
    d = [b - a for a, b in zip(last_cycles, last_cycles[1:])]
    if not d:
        return None, d
    skip = 0 if len(d) == 1 else 1 if len(d) < 5 else 2
    steady = d[skip:]
    return sum(steady) / len(steady), d


def _harness_verilog(cache: Path, fmt, capacity: int, log, internal_clock: bool = False) -> Path:
    """The harness top for this frame format and capacity, generated once per harness version
    (``internal_clock``: the clock made in the Verilog, hw/harness_top.harness_verilog)."""
    from bitscale.hw import harness_top, sim_memory, stream_harness

    h = hashlib.sha256(json.dumps(fmt.to_json(), sort_keys=True).encode() + str(capacity).encode())
    half = runner.CLOCK_PERIOD_NS // 2 if internal_clock else None
    h.update(f"clock {half}".encode())
    for mod in (harness_top, sim_memory, stream_harness):
        h.update(Path(str(mod.__file__)).read_bytes())
    path = cache / f"harness-{h.hexdigest()[:16]}.v"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        text = harness_top.harness_verilog(fmt, capacity, capacity, clock_half_period=half)
        write_text(path, text)
    return path


# input memory budget per simulator: Verilator builds are slow, so one capacity serves every count;
# Icarus builds take a second but it initialises and dumps whole memories slowly: just big enough
HARNESS_MEMORY_BYTES = {"verilator": 32 << 20, "icarus": 0}


def harness_capacity(frames: int, in_word_bits: int = 8, in_beats: int = 1, simulator: str = "verilator") -> int:
    """Frames the harness memories hold, a power of two (64 .. 65536).

    The memory depth is in the harness Verilog, so a new depth is a new build: one capacity per
    design (what ``HARNESS_MEMORY_BYTES`` of input words hold) serves every image count up to it;
    only a longer run gets a bigger build.
    """
    frame_bytes = 4 * -(-int(in_word_bits) // 32) * int(in_beats)
    budget = HARNESS_MEMORY_BYTES.get(simulator, 0) // max(1, frame_bytes)
    cap = min(65536, 1 << max(6, budget.bit_length() - 1))
    return max(cap, 1 << max(0, int(frames) - 1).bit_length())


def _prob_to_byte(p: float) -> int:
    return min(255, int(round(p * 256)))


def _images_arg(images):
    if isinstance(images, str) and images.strip().lower() == "all":
        return "all"
    if isinstance(images, str):
        try:
            images = int(images)
        except ValueError:
            raise UserError(f"--images must be a positive integer or 'all', not {images!r}") from None
    if isinstance(images, bool) or not isinstance(images, (int, np.integer)) or images < 1:
        raise UserError(f"--images must be a positive integer or 'all', not {images!r}")
    return int(images)


_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def simulate(
    build_dir,
    images=10,
    simulator: str = "verilator",
    waves: bool = False,
    inputs=None,
    labels=None,
    *,
    mode: str = "fast",
    gaps: float = 0.0,
    backpressure: float = 0.0,
    period: int = 0,
    hold: int = 0,
    seed: int = 0,
    cache_dir=None,
    write: bool = True,
    log=_log,
    random_inputs: bool | None = None,
    twins: bool | None = None,
    _harness=None,
) -> dict:
    """Stream ``images`` frames through the build in ``build_dir``; returns sim.json's content.

    ``images``: a count or ``"all"`` (every image of the test set / ``inputs``).
    ``mode``: ``"fast"`` (the HDL stream harness, hw/stream_harness.py: frames
    and expected outputs in simulation memories, cocotb only starts, waits
    and checks) or ``"cocotb-stream"`` (the per-beat cocotb driver/monitor,
    sim/tb_accelerator.py). ``inputs`` (N, *input_shape) uint8 and ``labels``
    override the run's test set (``bitscale.nn.data.test_set(design['run_dir'])``);
    without either, random uint8 frames are used and ``input_source`` says so.
    ``gaps`` / ``backpressure`` randomize the input valid and output ready
    (probabilities; the fast harness rounds them to n/256); ``period``/``hold``
    (fast mode) add periodic back-pressure: ready low ``hold`` cycles in every
    ``period``. The cycle numbers are only meaningful without any of these.
    Builds are cached in ``cache_dir`` (default ``BUILD_DIR/sim_build``),
    keyed by the hash of the Verilog and the build options.
    ``twins`` (default: on for the fast mode on Verilator): the dot-product modules Yosys proves
    equal to a faster simulation twin (sim/twins.py) are simulated as their twins; sim.json's
    ``twins`` reports which, and the proofs.
    """
    t0 = time.time()
    # absolute: the cocotb test runs in its own working directory and reads files from here.
    build_dir = Path(build_dir).resolve()
    if not build_dir.is_dir():
        raise UserError(f"no build directory at {build_dir}")
    images = _images_arg(images)
    if simulator not in runner.SIMULATORS:
        raise UserError(f"--simulator must be one of {', '.join(runner.SIMULATORS)}, not {simulator!r}")
    if mode not in MODES:
        raise UserError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    for what, v in (("gaps", gaps), ("backpressure", backpressure)):
        if not 0 <= v < 1:
            raise UserError(f"{what} must be a probability in [0, 1), not {v!r}")
    for what, v in (("period", period), ("hold", hold)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < 1 << 16:
            raise UserError(f"{what} must be an integer in [0, 65535], not {v!r}")
    if (period or hold) and mode != "fast":
        raise UserError("periodic back-pressure (period/hold) needs mode 'fast'")
    if period and hold >= period:
        raise UserError(f"hold must be below period ({hold} >= {period}): the output would never be ready")
    if _harness is not None and mode == "fast":
        raise UserError("a multi-design build runs in mode 'cocotb-stream'")
    design = _load_design(build_dir)
    design["run_dir"] = str(resolve_run_dir(build_dir, design.get("run_dir"))) if design.get("run_dir") else None
    from bitscale.hw.frame import FrameFormat
    from bitscale.nn import golden, ir

    net = ir.load(build_dir)
    try:
        fmt = FrameFormat.from_json(design["frame"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise UserError(f"{build_dir / 'design.json'}: 'frame' is not a frame format ({e!r})") from None
    if fmt.input.frame_elems < int(np.prod(net.input_shape)):
        raise UserError(
            f"design.json's input frame holds {fmt.input.frame_elems} elements, "
            f"the network input has {int(np.prod(net.input_shape))}"
        )
    x, y, source = _inputs(design, net, images, inputs, labels, seed, log, random_inputs)
    images = len(x)

    # stream at least MIN_STREAM_FRAMES frames (repeating the images) so there is a steady state
    reps = -(-MIN_STREAM_FRAMES // images)
    stream = np.concatenate([x] * reps)[: max(images, MIN_STREAM_FRAMES)]
    model = int(design["model_cycles_per_frame"])
    layer_sum = sum(int(l.get("cycles_per_frame", 0)) for l in design.get("layers", []))
    slack = 1.0 / ((1 - gaps) * (1 - backpressure) * (1 - (hold / period if period else 0)))
    budget = (
        int(
            4 * slack * (len(stream) * max(model, fmt.input.beats, fmt.output.beats) + layer_sum + 64 * len(net.layers))
        )
        + 2000
    )
    drain = min(4 * model, 5000) + 50
    cache = Path(cache_dir).resolve() if cache_dir is not None else build_dir / "sim_build"
    verilog = build_dir / design["verilog"]
    if not (_make_safe(cache) and _make_safe(verilog)):
        # make (Verilator's C++ build) cannot handle spaces or non-ASCII characters in paths:
        # build in the per-user cache under the temp dir, from a copy of the Verilog
        cache, verilog = _safe_copy(verilog)

    t_build = time.time()
    if twins is None:
        twins = mode == "fast" and simulator == "verilator" and _harness is None
    twin_report = None
    internal_clock = False
    if _harness is not None:  # one design of a multi-design build (bitscale.sim.multi)
        sim_dir, toplevel, prefix, idle = _harness
    elif mode == "fast":
        capacity = harness_capacity(len(stream) + 1, fmt.input.tdata_width, fmt.input.beats, simulator)
        sim_verilog = verilog
        if twins:
            from bitscale.sim import twins as twins_mod

            sim_verilog, twin_report = twins_mod.apply(verilog, cache, cache / "twin-proofs", log)
        clock = os.environ.get(CLOCK_ENV, "main") if simulator == "verilator" else "gpi"
        if clock not in CLOCKS:
            raise UserError(f"${CLOCK_ENV} must be one of {', '.join(CLOCKS)}, not {clock!r}")
        internal_clock = clock != "gpi"
        in_verilog = clock == "verilog"
        sources = [sim_verilog, runner.SIMMEM_VERILOG, _harness_verilog(cache, fmt, capacity, log, in_verilog)]
        toplevel, prefix, idle = HARNESS_TOP, "", []
        half = int(runner.CLOCK_PERIOD_NS * 1000) // 2  # time steps of 1 ps (runner.TIMESCALE)
        sim_dir = runner.build(
            sources,
            toplevel,
            simulator,
            waves=waves,
            cache_dir=cache,
            log=log,
            timing=in_verilog,
            clock_half=half if clock == "main" else None,
        )
    else:
        toplevel, prefix, idle = design["top"], "", []
        sim_dir = runner.build([verilog], toplevel, simulator, waves=waves, cache_dir=cache, log=log)
    build_s = time.time() - t_build
    expected = golden.run(net, x)

    work = Path(tempfile.mkdtemp(dir=build_dir, prefix=".sim-"))
    # big layers' weight ROMs are $readmemh images, read relative to the simulator's working dir
    for name in design.get("memory_files") or []:
        (work / name).symlink_to(build_dir / name)
    try:
        if mode == "fast":
            from bitscale.boards.selftest import selftest_data
            from bitscale.sim.tb_harness import write_hex

            # the board self-test's ROM packing: input words and golden output words, frame by frame
            rom = selftest_data(
                net,
                fmt,
                np.concatenate([stream, stream[:1]]),
            )
            write_hex(work / "in.hex", rom.in_words[: len(stream) * fmt.input.beats], fmt.input.tdata_width)
            write_hex(work / "gold.hex", rom.gold_words, fmt.output.tdata_width)
            params = {
                "frame": design["frame"],
                "frames": len(stream),
                "latency_frame": 0,
                "gap": _prob_to_byte(gaps),
                "stall": _prob_to_byte(backpressure),
                "period": int(period),
                "hold": int(hold),
                "seed": seed,
                "timeout_cycles": budget,
                "idle_cycles": budget,
                "drain_cycles": drain,
                "num_classes": net.num_classes,
                "result": str(work / "result.json"),
                "internal_clock": internal_clock,
            }
            tb = HARNESS_TB
        else:
            np.save(work / "inputs.npy", stream)
            params = {
                "frame": design["frame"],
                "network": str((build_dir / "network.json").resolve()),
                "inputs": str(work / "inputs.npy"),
                "gaps": gaps,
                "backpressure": backpressure,
                "seed": seed,
                "latency_frame": 0,
                "timeout_cycles": budget,
                "drain_cycles": drain,
                "strict": False,
                "result": str(work / "result.json"),
                "prefix": prefix,
                "idle_prefixes": idle,
            }
            tb = TB_MODULE
        log(f"simulating {len(stream)} frame(s) on {simulator} ({mode}; model: {model} cycles/frame) ...")
        t_sim = time.time()
        run = runner.run_test(sim_dir, toplevel, tb, params, work, simulator, waves, seed)
        sim_s = time.time() - t_sim
        res_path = work / "result.json"
        if not res_path.is_file():
            raise RuntimeError(f"simulation did not finish: {run.summary()}")
        res = json.loads(res_path.read_text())

        outputs = res["outputs"][:images]
        matches = res["matches"][:images]
        if mode == "fast":  # the harness compared with the golden words; confirm against the model
            for k, o in enumerate(outputs):
                if matches[k] and o != [int(v) for v in expected[k]]:
                    matches[k] = False
                    res["errors"].append(f"frame {k}: equals the golden words but not golden.run")
        golden_match = sum(1 for m in matches if m)
        hw_correct = golden_correct = None
        if y is not None:
            pred = [int(np.argmax(o)) if o else -1 for o in outputs]
            hw_correct = int(sum(1 for p, t in zip(pred, y) if p == int(t)))
            golden_correct = int((expected.argmax(axis=1) == y).sum())
        cpf, intervals = _steady_interval(res["out_last_cycles"])
        lat = res.get("latency")
        wave_file = None
        if waves and run.waves is not None:
            wave_file = build_dir / f"waves{run.waves.suffix}"
            shutil.move(str(run.waves), wave_file)
        errors = list(res["errors"])
        if not run.passed and not errors:
            errors.append(run.summary())
        sim_cycles = res.get("sim_cycles")
        stream_s, stream_cycles = res.get("stream_wall_s"), res.get("stream_cycles")
        stream_cpu = res.get("stream_cpu_s")
        doc = {
            "format": "bitscale.Sim",
            "version": 1,
            "images": images,
            "golden_match": golden_match,
            "hw_correct": hw_correct,
            "golden_correct": golden_correct,
            "input_source": source,
            "cycles_per_frame": cpf,
            "model_cycles_per_frame": model,
            "cycles_ratio": (cpf / model) if cpf and model else None,
            "latency_cycles": lat["cycles"] if lat else None,
            "frames_streamed": len(stream),
            "frames_received": res["received"],
            "frame_intervals": intervals,
            "all_frames_match": bool(res["matches"]) and all(res["matches"]) and res["received"] == len(stream),
            "simulator": simulator,
            "mode": mode,
            "twins": twin_report,
            "gaps": gaps,
            "backpressure": backpressure,
            "period": int(period),
            "hold": int(hold),
            "seed": seed,
            "waves": str(wave_file) if wave_file else None,
            "errors": errors[:20],
            "sim_cycles": sim_cycles,
            "sim_s": round(sim_s, 2),
            "stream_cycles": stream_cycles,
            "stream_s": round(stream_s, 3) if stream_s is not None else None,
            "cycles_per_s": round(stream_cycles / stream_s) if stream_cycles and stream_s else None,
            "cycles_per_cpu_s": round(stream_cycles / stream_cpu) if stream_cycles and stream_cpu else None,
            "run_cycles_per_s": round(sim_cycles / sim_s) if sim_cycles and sim_s > 0 else None,
            "build_s": round(build_s, 2),
            "compile_s": runner.build_seconds(sim_dir),
            "compile_cpu_s": runner.build_seconds(sim_dir, "cpu_s"),
            "wall_s": round(time.time() - t0, 2),
        }
    finally:
        if os.environ.get("BITSCALE_SIM_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
    if write:
        write_json(build_dir / "sim.json", doc)
    status = "OK" if golden_match == images and not errors else "MISMATCH"
    log(
        f"{status}: {golden_match}/{images} match golden; "
        f"{cpf if cpf is None else f'{cpf:.1f}'} cycles/frame (model {model}); latency {doc['latency_cycles']}; "
        f"{doc['cycles_per_s']} cycles/s"
    )
    return doc
