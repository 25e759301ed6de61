"""Several generated accelerators in ONE simulator build (saves Verilator compile time).

:func:`simulate_many` renames each build's top module (``bitscale_top`` ->
``bitscale_top_<i>``; Yosys names submodules ``bitscale_top.<path>``, so they
are renamed with it), instantiates them side by side in a wrapper module
``bitscale_multi`` with ports ``d<i>_s_axis_*`` / ``d<i>_m_axis_*`` and shared
``clk``/``rst``, builds that once and runs :func:`bitscale.sim.simulate.simulate`
for each design on it (one simulator run per design, the others held idle).
The results are exactly what a separate build of each design gives (same
Verilog, same testbench); waves are not supported here.
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

from bitscale.hw.frame import AXIS_PORTS
from bitscale.sim import runner

WRAPPER = "bitscale_multi"


def combined_verilog(build_dirs) -> str:
    """The designs' Verilog, tops renamed, plus the wrapper module."""
    from bitscale.hw.frame import FrameFormat
    from bitscale.sim.simulate import _load_design

    parts, ports, insts = [], ["input clk", "input rst"], []
    for i, d in enumerate(build_dirs):
        d = Path(d)
        design = _load_design(d)
        top = design["top"]
        text = (d / design["verilog"]).read_text()
        parts.append(re.sub(rf"(?<![\w$]){re.escape(top)}(?=[\s.(;])", f"{top}_{i}", text))
        fmt = FrameFormat.from_json(design["frame"])
        wi, wo = fmt.input.tdata_width, fmt.output.tdata_width
        p = f"d{i}_"
        ports += [
            f"input [{wi - 1}:0] {p}s_axis_tdata",
            f"input {p}s_axis_tvalid",
            f"output {p}s_axis_tready",
            f"input {p}s_axis_tlast",
            f"output [{wo - 1}:0] {p}m_axis_tdata",
            f"output {p}m_axis_tvalid",
            f"input {p}m_axis_tready",
            f"output {p}m_axis_tlast",
        ]
        conns = ", ".join([".clk(clk)", ".rst(rst)"] + [f".{n}({p}{n})" for n in AXIS_PORTS])
        insts.append(f"  {top}_{i} u{i}({conns});")
    wrapper = f"module {WRAPPER}(\n  " + ",\n  ".join(ports) + "\n);\n" + "\n".join(insts) + "\nendmodule\n"
    return "\n".join(parts) + "\n" + wrapper


_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def simulate_many(build_dirs, images=10, simulator: str = "verilator", *, cache_dir=None, log=_log, **kw) -> list[dict]:
    """sim.json content for each build dir (written into each unless ``write=False``).

    ``images``: one count for all designs, or a list with one per design.
    """
    from bitscale.sim.simulate import simulate

    build_dirs = [Path(d) for d in build_dirs]
    with tempfile.TemporaryDirectory(prefix="bitscale-multi-") as tmp:
        src = Path(tmp) / f"{WRAPPER}.v"
        src.write_text(combined_verilog(build_dirs))
        cache = Path(cache_dir) if cache_dir is not None else runner.default_cache_dir()
        sim_dir = runner.build([src], WRAPPER, simulator, cache_dir=cache, log=log)
    prefixes = [f"d{i}_" for i in range(len(build_dirs))]
    counts = list(images) if isinstance(images, (list, tuple)) else [images] * len(build_dirs)
    if len(counts) != len(build_dirs):
        raise ValueError(f"{len(counts)} image counts for {len(build_dirs)} designs")
    kw["mode"] = "cocotb-stream"  # the per-beat testbench drives one design's ports of the wrapper
    docs = []
    for d, p, n in zip(build_dirs, prefixes, counts):
        idle = [q for q in prefixes if q != p]
        docs.append(simulate(d, n, simulator, cache_dir=cache, log=log, _harness=(sim_dir, WRAPPER, p, idle), **kw))
    return docs
