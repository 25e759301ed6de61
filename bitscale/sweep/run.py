"""The sweep driver: expand the grid, dispatch the points, then the hardware phase.

Guaranteed: points already done are skipped; points left running by a dead process are
taken over; failed points are retried only when asked.
"""

from __future__ import annotations

import logging
import time
from fractions import Fraction
from pathlib import Path

from bitscale.atomic import write_json
from bitscale.errors import UserError
from bitscale.sweep.executors import _dispatch, default_workers
from bitscale.sweep.hw import _hw_phase
from bitscale.sweep.point import Job, _fmt_num, _fmt_pct, _fmt_time, run_point
from bitscale.sweep.spec import EXECUTORS, SweepSpec, precision_label
from bitscale.sweep.stages import Stages

_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def run_sweep(
    spec: SweepSpec,
    out_dir,
    *,
    store_url: str | None = None,
    workers: int | None = None,
    executor: str = "local",
    retry_failed: bool = False,
    per_gpu: int = 4,
    stages: Stages | None = None,
    log=_log,
    quiet_points: bool = False,
) -> dict:
    """Run (or resume) the sweep ``spec`` into ``out_dir``; return a summary dict.

    Points already done are skipped; points left running by a dead process are
    taken over; failed points are retried only with ``retry_failed``.
    """
    from bitscale.store import Store, default_url

    if executor not in EXECUTORS:
        raise UserError(f"--executor: {executor!r} is not one of {', '.join(EXECUTORS)}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise UserError(f"--workers: {workers!r} is not an integer >= 1")
    if not isinstance(per_gpu, int) or per_gpu < 1:
        raise UserError(f"--per-gpu: {per_gpu!r} is not an integer >= 1")
    if executor == "local" and str(spec.device).startswith("cuda") and stages is None:
        # Fail once, up front, rather than once per point (Ray nodes may have GPUs the driver lacks).
        import torch

        if not torch.cuda.is_available():
            raise UserError(
                f"--device {spec.device}: no CUDA GPU is visible to torch here "
                f"(torch {torch.__version__}); use --device cpu"
            )
    stages = stages or Stages.real()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    url = store_url or default_url(out)
    store = Store(url)
    t_sweep = time.time()
    try:
        store.record_run(spec.to_json())
        write_json(out / "sweep.json", spec.to_json())
        if url != default_url(out):
            # For `bitscale report SWEEP_DIR`; a password is never written to disk.
            (out / "store.url").write_text(_redact(url) + "\n")

        # the uniform grid first, then the searched mixed points (each needs its width's source point)
        keys = spec.points() + spec.mixed_points()
        ids = store.ensure_points(keys, [float(Fraction(k.scale)) for k in keys])
        mixed_ids = set(ids[len(spec.points()) :])
        if retry_failed:
            store.reset_failed(ids)
        by_id = {p.id: p for p in store.points()}
        n = len(ids)
        done0 = sum(by_id[i].status == "done" for i in ids)
        todo = [
            i for i in ids if by_id[i].status != "done" and (by_id[i].status != "failed") and store.claimable(by_id[i])
        ]
        failed0 = sum(by_id[i].status == "failed" for i in ids)
        busy = [i for i in ids if by_id[i].status == "running" and i not in todo]
        workers = workers or default_workers(len(todo), spec.device)
        mixed_note = f" + {spec.mixed} mixed" if spec.mixed else ""
        log(
            f"[sweep] {n} points ({len(spec.precisions)} precisions{mixed_note} x {len(spec.scales)} scales) "
            f"on {spec.dataset}, board {spec.board}: {done0} done, {failed0} failed, "
            f"{len(busy)} running elsewhere, {len(todo)} to do; {workers} worker(s), {executor} executor, "
            f"store {_redact(url)}"
        )
        state = {"done": done0, "finished": 0, "t0": time.time(), "failed": 0}

        def on_point(r):
            if not r.get("claimed"):
                return
            state["finished"] += 1
            if r.get("status") == "done":
                state["done"] += 1
            else:
                state["failed"] += 1
            el = time.time() - state["t0"]
            left = len(todo) - state["finished"]
            eta = el / state["finished"] * left if state["finished"] else 0
            what = (
                f"accuracy {_fmt_pct(r.get('accuracy'))}" if r.get("status") == "done" else f"FAILED: {r.get('error')}"
            )
            extra = ""
            if r.get("bram18") is not None:
                extra = f", BRAM18 {r['bram18']:g}, {_fmt_num(r.get('fps'))} FPS"
            log(
                f"[sweep] {state['done'] + failed0 + state['failed']}/{n} points: {r.get('label')} "
                f"{what}{extra} ({r.get('seconds', 0):.1f} s); elapsed {_fmt_time(el)}, "
                f"ETA {_fmt_time(eta)}",
            )

        jobs = [Job(url, i, str(out), spec.to_json(), stages, quiet=quiet_points) for i in todo if i not in mixed_ids]
        _dispatch(run_point, jobs, workers, on_point, spec, executor, per_gpu)
        mixed_todo = [i for i in todo if i in mixed_ids]
        if mixed_todo:
            # a mixed point whose source point is not done (failed, or running elsewhere) waits
            status: dict[int | None, str] = {p.id: p.status for p in store.points()}
            src = spec.source_precision()
            ready = [i for i in mixed_todo if status.get(store.find_point(spec.source_point(by_id[i]))) == "done"]
            if len(ready) < len(mixed_todo):
                log(
                    f"[sweep] {len(mixed_todo) - len(ready)} mixed point(s) wait for their source point "
                    f"({precision_label(*src)} at their width), which is not done"
                )
            _dispatch(
                run_point,
                [Job(url, i, str(out), spec.to_json(), stages, quiet=quiet_points) for i in ready],
                workers,
                on_point,
                spec,
                executor,
                per_gpu,
            )

        hw_summary = None
        if spec.hw:
            hw_summary = _hw_phase(
                spec, store, ids, url, out, workers, executor, per_gpu, stages, log, retry_failed, quiet_points
            )
        rows = store.rows()
        mine = [r for r in rows if r["id"] in set(ids)]
        summary = {
            "sweep_dir": str(out),
            "store": _redact(url),
            "points": n,
            "done": sum(r["status"] == "done" for r in mine),
            "failed": sum(r["status"] == "failed" for r in mine),
            "running_elsewhere": sum(r["status"] == "running" for r in mine),
            "pending": sum(r["status"] == "pending" for r in mine),
            "trained_now": state["finished"],
            "seconds": time.time() - t_sweep,
            "hw": hw_summary,
        }
        log(
            f"[sweep] finished in {_fmt_time(summary['seconds'])}: {summary['done']}/{n} done, "
            f"{summary['failed']} failed"
            + (f", {summary['running_elsewhere']} still running elsewhere" if summary["running_elsewhere"] else "")
        )
        return summary
    finally:
        store.dispose()


def _redact(url: str) -> str:
    """The URL without a password (it is printed and written to the report)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url
