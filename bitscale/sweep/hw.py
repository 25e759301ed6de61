"""The hardware phase: generate, simulate and synthesize the sweep's Pareto points.

Guaranteed: a build folder is generated into a temporary folder and renamed when complete;
a point whose simulation does not match the golden model is stored as failed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

from bitscale.analysis import pareto_hw_points
from bitscale.sweep.executors import _dispatch
from bitscale.results import SimResult, SynthResult
from bitscale.sweep.point import Job, _clean_dead_tmp, _fmt_err, _fmt_time, _host_slug, _logger
from bitscale.sweep.spec import SweepSpec, point_label, run_key


def run_hw(job: Job) -> dict:
    """Generate, simulate and synthesize one (Pareto) point; store measured numbers."""
    from bitscale.boards import get as get_board
    from bitscale.store import Heartbeat, HwResult, Store

    spec = SweepSpec.from_json(job.spec)
    store = Store(job.store_url)
    try:
        if not store.claim(job.point_id, table=HwResult):
            return {"id": job.point_id, "claimed": False}
        p = store.point(job.point_id)
        label = point_label(p)
        sweep_dir = Path(job.sweep_dir)
        run_dir = Path(p.run_dir) if p.run_dir else sweep_dir / "runs" / run_key(p)
        board = get_board(p.board)
        tag = f"{board.name}-fps{int(p.fps_target)}" if p.fps_target else board.name
        build_dir = sweep_dir / "hw" / f"{run_key(p)}-{tag}"
        log = _logger(f"hw {label}", sweep_dir / "logs" / f"{run_key(p)}-hw.log", job.quiet)
        t_start = time.time()
        values = {"build_dir": str(build_dir)}
        with Heartbeat(store, p.id, table=HwResult, parent_pid=job.parent_pid):
            try:
                _build_sim_synth(job, spec, store, p, run_dir, build_dir, board, tag, values, log)
                ok, err = True, None
            except Exception as e:
                ok, err = False, _fmt_err(e)
                log(f"FAILED: {err}")
            store.finish(p.id, table=HwResult, ok=ok, error=err, values=values)
        store.add_timing(p.id, "hw", time.time() - t_start)
        return {
            "id": p.id,
            "claimed": True,
            "status": "done" if ok else "failed",
            "label": label,
            "error": err,
            "seconds": time.time() - t_start,
            **values,
        }
    finally:
        store.dispose()


def _build_sim_synth(job, spec, store, p, run_dir, build_dir: Path, board, tag, values, log):
    stages = job.stages
    net = stages.load_net(run_dir)
    fold_file = run_dir / f"folding-{tag}.json"
    folding = stages.folding_from_json(json.loads(fold_file.read_text()))
    if not (build_dir / "design.json").is_file():
        _clean_dead_tmp(build_dir)
        tmp = build_dir.with_name(f"{build_dir.name}.tmp-{_host_slug()}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        log(f"generating RTL into {build_dir}")
        t0 = time.time()
        stages.generate(net, folding, tmp, run_dir, log=log)
        store.add_timing(p.id, "generate", time.time() - t0)
        shutil.rmtree(build_dir, ignore_errors=True)
        os.replace(tmp, build_dir)
    design = json.loads((build_dir / "design.json").read_text())
    values["design_cycles_per_frame"] = design.get("model_cycles_per_frame")

    log(f"simulating {spec.hw_images} images ({spec.simulator})")
    t0 = time.time()
    sim_doc = stages.simulate(build_dir, spec.hw_images, spec.simulator, log=log)
    store.add_timing(p.id, "simulate", time.time() - t0)
    sim = SimResult.from_sim(sim_doc)  # the one reading of sim.json
    cpf = sim.cycles_per_frame
    values.update(
        {
            "sim_images": sim.images,
            "sim_golden_match": sim.golden_match,
            "sim_accuracy": sim.accuracy,
            "sim_passed": sim.passed,
            "sim_cycles_per_frame": cpf,
            "sim_fps": (board.clock_mhz * 1e6 / cpf) if cpf else None,
            "sim_json": json.dumps(sim_doc, default=str),
        }
    )
    log(f"simulation {'passed' if sim.passed else 'FAILED'}{f', {cpf} cycles/frame' if cpf else ''}")

    log(f"synthesizing for {board.family}")
    t0 = time.time()
    syn_doc = stages.synth(build_dir, board.family, board.name, log=log)
    store.add_timing(p.id, "synth", time.time() - t0)
    syn = SynthResult.from_synth(syn_doc)  # the one reading of synth.json
    values.update(
        {
            "synth_lut": syn.LUT,
            "synth_ff": syn.FF,
            "synth_bram18": syn.BRAM18,
            "synth_dsp": syn.DSP,
            "synth_fmax_mhz": syn.fmax_mhz,
            "synth_json": json.dumps(syn_doc, default=str),
        }
    )
    fmax = values["synth_fmax_mhz"]
    # Xilinx families are synthesized, not placed: there is no fmax to show.
    log(
        f"synthesis: LUT {values['synth_lut']}, BRAM18 {values['synth_bram18']}"
        + (f", fmax {fmax:.1f} MHz" if fmax is not None else " (not placed: no fmax)")
    )
    if not sim.passed:
        raise RuntimeError(f"simulation mismatch on {build_dir} (see its sim.json)")


def _hw_phase(spec, store, point_ids, url, out, workers, executor, per_gpu, stages, log, retry_failed, quiet):
    from bitscale.store import HwResult

    rows = [r for r in store.rows() if r["id"] in set(point_ids)]
    ids = pareto_hw_points(rows, spec.hw_max)
    if not ids:
        log("[hw] no point has both an accuracy and a cost estimate: nothing to build")
        return {"points": 0}
    store.ensure_hw(ids)
    if retry_failed:
        store.reset_failed_hw()
    with store.session() as s:
        hw = {h.point_id: h for h in s.query(HwResult).filter(HwResult.point_id.in_(ids))}
    todo = [i for i in ids if hw[i].status != "done" and hw[i].status != "failed" and store.claimable(hw[i])]
    labels = {r["id"]: point_label(_Obj(r)) for r in rows}
    log(
        f"[hw] {len(ids)} Pareto point(s): {', '.join(labels[i] for i in ids)}; "
        f"{len(ids) - len(todo)} already built, {len(todo)} to build (generate, simulate "
        f"{spec.hw_images} images in {spec.simulator}, synthesize)"
    )
    state = {"k": len(ids) - len(todo), "t0": time.time(), "fin": 0}

    def on_hw(r):
        if not r.get("claimed"):
            return
        state["k"] += 1
        state["fin"] += 1
        el = time.time() - state["t0"]
        eta = el / state["fin"] * (len(todo) - state["fin"])
        what = "done" if r["status"] == "done" else f"FAILED: {r.get('error')}"
        log(
            f"[hw] {state['k']}/{len(ids)}: {r.get('label')} {what} ({r.get('seconds', 0):.1f} s); ETA {_fmt_time(eta)}"
        )

    jobs = [Job(url, i, str(out), spec.to_json(), stages, quiet=quiet) for i in todo]
    # Verilator builds and synthesis are memory- and core-hungry: at most half the workers.
    _dispatch(run_hw, jobs, max(1, workers // 2), on_hw, replace(spec, device="cpu"), executor, per_gpu)
    with store.session() as s:
        hw = {h.point_id: h.status for h in s.query(HwResult).filter(HwResult.point_id.in_(ids))}
    return {
        "points": len(ids),
        "done": sum(v == "done" for v in hw.values()),
        "failed": sum(v == "failed" for v in hw.values()),
    }


class _Obj:
    def __init__(self, d):
        self.__dict__.update(d)
