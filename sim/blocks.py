"""Simulate one Amaranth stream component (a generator block) on Verilator or Icarus.

:func:`simulate_block` converts the component to Verilog, builds it (cached
by the Verilog's hash, see :mod:`bitscale.sim.runner`) and runs
:mod:`bitscale.sim.tb_stream`: it streams the given input frames through the
``inp`` port, cuts the ``out`` port into frames of ``out_beats`` words and
compares them, in order, with the expected frames.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from bitscale.sim import runner


def to_verilog(component, name: str) -> str:
    from amaranth.back import verilog

    return verilog.convert(component, name=name)


_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def simulate_block(
    component,
    frames,
    expected,
    out_beats: int,
    *,
    simulator: str = "verilator",
    gaps: float = 0.0,
    backpressure: float = 0.0,
    seed: int = 0,
    name: str = "block",
    cache_dir=None,
    timeout_cycles: int | None = None,
    inp: str = "inp",
    out: str = "out",
    log=_log,
) -> dict:
    """Returns the testbench result: outputs (word lists), matches, out_last_cycles,
    in_first_cycles, errors, passed (no mismatch, no lost or extra frame)."""
    frames = [[int(w) for w in f] for f in frames]
    expected = [[int(w) for w in f] for f in expected]
    with tempfile.TemporaryDirectory(prefix="bitscale-block-") as tmp:
        tmp = Path(tmp)
        src = tmp / f"{name}.v"
        src.write_text(to_verilog(component, name))
        build_dir = runner.build([src], name, simulator, cache_dir=cache_dir, log=log)
        in_beats = sum(len(f) for f in frames)
        out_total = sum(len(f) for f in expected)
        slack = 1.0 / ((1 - gaps) * (1 - backpressure))
        budget = timeout_cycles or int(8 * slack * (in_beats + out_total) + 5000)
        params = {
            "inp": inp,
            "out": out,
            "style": "stream",
            "frames": frames,
            "expected": expected,
            "out_beats": out_beats,
            "gaps": gaps,
            "backpressure": backpressure,
            "seed": seed,
            "timeout_cycles": budget,
            "drain_cycles": 200,
            "result": str(tmp / "result.json"),
        }
        run = runner.run_test(build_dir, name, "bitscale.sim.tb_stream", params, tmp / "work", simulator, seed=seed)
        res_path = tmp / "result.json"
        if not res_path.is_file():
            raise RuntimeError(f"block simulation of {name} did not finish: {run.summary()}")
        res = json.loads(res_path.read_text())
    res["passed"] = run.passed and not res["errors"]
    return res
