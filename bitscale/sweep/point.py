"""One sweep point: claim it, train it (or reuse its run folder), auto-fold, estimate, store.

Guaranteed: a run folder is trained into a temporary folder and renamed when complete, so a
killed run leaves no half folder that looks finished; a failed point is stored as failed
(data, not a crash) and the sweep goes on.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from bitscale.errors import UserError
from bitscale.results import TrainResult
from bitscale.sweep.spec import SweepSpec, point_label, precision_label, run_key
from bitscale.sweep.stages import Stages


@dataclass(frozen=True)
class Job:
    store_url: str
    point_id: int
    sweep_dir: str
    spec: dict
    stages: Stages = field(default_factory=Stages)
    parent_pid: int | None = None
    device: str | None = None  # overrides spec.device (a worker's GPU)
    quiet: bool = False


def weight_memory_bits(net) -> int:
    """Bits of all weights as stored: sum over compute layers of MH * MW * wbits."""
    return int(sum(l.mh * l.mw * l.wbits for l in net.compute_layers))


def _param_count_from_checkpoint(run_dir) -> int | None:
    """Float points: count the weights of the trained model (>= 2-D tensors + biases)."""
    ck = Path(run_dir) / "checkpoint.pt"
    if not ck.is_file():
        return None
    try:
        import torch

        state = torch.load(ck, map_location="cpu", weights_only=False)
    except Exception:
        return None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        return None
    n = 0
    for k, v in state.items():
        if hasattr(v, "dim") and v.dim() >= 2 and k.endswith("weight"):
            n += int(v.numel())
    return n or None


def _host_slug() -> str:
    from bitscale.store import this_host

    return "".join(c if c.isalnum() else "_" for c in this_host())


def _clean_dead_tmp(final: Path) -> None:
    """Remove the half-written folders of dead processes on this host (a killed sweep's)."""
    from bitscale.store import pid_alive

    prefix = f"{final.name}.tmp-{_host_slug()}-"
    if not final.parent.is_dir():
        return
    for d in final.parent.iterdir():
        # ours: NAME.tmp-HOST-PID; the trainer's own temp folder inside it: .NAME.tmp-HOST-PID.tmp-XXXX
        name = d.name[1:] if d.name.startswith(".") else d.name
        if name.startswith(prefix):
            try:
                pid = int(name[len(prefix) :].split(".")[0])
            except ValueError:
                continue
            if not pid_alive(pid):
                shutil.rmtree(d, ignore_errors=True)


def _complete_run(run_dir: Path) -> bool:
    return (run_dir / "metrics.json").is_file() and (run_dir / "config.json").is_file()


_point_log = logging.getLogger("bitscale.sweep.point")  # pool workers send it to stderr (executors._init_worker)


def _logger(label: str, logfile: Path, quiet: bool):
    logfile.parent.mkdir(parents=True, exist_ok=True)

    def log(msg):
        # Logging never fails a point (a closed terminal or pipe is not the point's fault).
        line = f"[{label}] {msg}"
        try:
            with open(logfile, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass
        if not quiet:
            try:
                _point_log.info(line)
            except (OSError, ValueError):
                pass

    return log


def _fmt_err(e: BaseException) -> str:
    if isinstance(e, UserError):
        return f"UserError: {e}"
    tb = traceback.extract_tb(e.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(e).__name__}: {e}{where}"


def run_point(job: Job) -> dict:
    """Claim, train, estimate and store one point. Returns a short summary dict;
    ``claimed`` False when another process had it (nothing was done)."""
    from bitscale.boards import get as get_board
    from bitscale.store import EstimateView, Heartbeat, Metrics, MixedResult, Store

    spec = SweepSpec.from_json(job.spec)
    store = Store(job.store_url)
    try:
        if not store.claim(job.point_id):
            return {"id": job.point_id, "claimed": False}
        p = store.point(job.point_id)
        label = point_label(p)
        sweep_dir = Path(job.sweep_dir)
        run_dir = sweep_dir / "runs" / run_key(p)
        log = _logger(label, sweep_dir / "logs" / f"{run_key(p)}.log", job.quiet)
        t_start = time.time()
        with Heartbeat(store, job.point_id, parent_pid=job.parent_pid) as hb:
            try:
                metrics_row, summary = _train_and_estimate(job, spec, store, p, run_dir, log, get_board(p.board))
                if hb.lost:
                    return {"id": p.id, "claimed": False, "lost": True}
                views = metrics_row.pop("_views", {})
                mixed = metrics_row.pop("_mixed", None)
                ok = store.finish(
                    p.id,
                    ok=True,
                    values={"run_dir": str(run_dir)},
                    extra=[
                        Metrics(point_id=p.id, **metrics_row),
                        *(EstimateView(point_id=p.id, view=k, **v) for k, v in views.items()),
                        *([MixedResult(point_id=p.id, **mixed)] if mixed else []),
                    ],
                )
                store.add_timing(p.id, "point", time.time() - t_start)
                return {
                    "id": p.id,
                    "claimed": ok,
                    "status": "done",
                    "label": label,
                    "seconds": time.time() - t_start,
                    **summary,
                }
            except Exception as e:  # a failed point is data; the sweep goes on
                err = _fmt_err(e)
                store.finish(p.id, ok=False, error=err)
                log(f"FAILED: {err}")
                return {
                    "id": p.id,
                    "claimed": True,
                    "status": "failed",
                    "label": label,
                    "error": err,
                    "seconds": time.time() - t_start,
                }
    finally:
        store.dispose()


def _train_and_estimate(job, spec, store, p, run_dir: Path, log, board):
    from bitscale.store import is_mixed

    if is_mixed(p.wbits):
        return _search_and_estimate(job, spec, store, p, run_dir, log, board)
    stages = job.stages
    if _complete_run(run_dir):
        log(f"reusing the trained run {run_dir}")
        train_metrics = json.loads((run_dir / "metrics.json").read_text())
    else:
        _clean_dead_tmp(run_dir)
        tmp = run_dir.with_name(f"{run_dir.name}.tmp-{_host_slug()}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        kw = {
            "model": p.model,
            "wbits": p.wbits,
            "abits": p.abits,
            "scale": p.scale_value,
            "dataset": p.dataset,
            "epochs": p.epochs,
            "seed": p.seed,
            "device": job.device or spec.device,
        }
        for k in ("batch_size", "lr", "data_dir"):
            if getattr(spec, k) is not None:
                kw[k] = getattr(spec, k)
        log(
            f"training {precision_label(p.wbits, p.abits)} at width scale {p.scale} on {p.dataset} "
            f"({p.epochs} epochs, {kw['device']})"
        )
        store.count_train_attempt(p.id)
        t0 = time.time()
        train_metrics = stages.train(kw, tmp, log)
        store.add_timing(p.id, "train", time.time() - t0)
        if not (tmp / "metrics.json").is_file():  # the contract says train writes it; be safe
            (tmp / "metrics.json").write_text(json.dumps(train_metrics, indent=1, default=str))
        if run_dir.exists():  # someone else finished the same training meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, run_dir)
        train_metrics = json.loads((run_dir / "metrics.json").read_text())

    result = TrainResult.from_metrics(train_metrics)  # the one reading of metrics.json
    row = {
        "accuracy": result.accuracy,
        "golden_agreement": result.golden_agreement,
        "train_metrics": json.dumps(train_metrics, default=str),
    }
    summary = {"accuracy": row["accuracy"]}
    if p.wbits == 0:  # float baseline: accuracy and memory only, nothing to build
        # Weights only (as for the quantized points' IR), not biases or BatchNorm.
        params = _param_count_from_checkpoint(run_dir)
        if params is None:
            params = result.params
        row["params"] = params
        row["weight_bits"] = 32 * params if params else None
        log(f"accuracy {_fmt_pct(row['accuracy'])} (float baseline)")
        return row, summary

    net = stages.load_net(run_dir)
    t0 = time.time()
    fps = p.fps_target or None
    try:
        folding = stages.auto_fold(net, board, fps)
    except UserError as e:  # nothing fits this board: a result, not a failure
        row["params"] = int(sum(l.mh * l.mw for l in net.compute_layers))
        row["weight_bits"] = weight_memory_bits(net)
        row["est_error"] = str(e)
        log(f"accuracy {_fmt_pct(row['accuracy'])}; no folding fits {board.name}: {e}")
        summary["est_error"] = str(e)
        return row, summary
    return _estimate(stages, store, p, run_dir, net, folding, board, t0, row, summary, log)


def _estimate(stages, store, p, run_dir: Path, net, folding, board, t0: float, row: dict, summary: dict, log):
    """Estimate ``net`` at ``folding`` (and at the fastest folding that fits), write the run's
    folding-/estimate- files and fill the point's metrics row."""
    fps = p.fps_target or None
    row["params"] = int(sum(l.mh * l.mw for l in net.compute_layers))
    row["weight_bits"] = weight_memory_bits(net)
    est = stages.estimate(net, folding, board)
    store.add_timing(p.id, "estimate", time.time() - t0)
    fold_doc = folding.to_json()
    tag = f"{board.name}-fps{int(fps)}" if fps else board.name
    (run_dir / f"folding-{tag}.json").write_text(json.dumps(fold_doc, indent=1))
    (run_dir / f"estimate-{tag}.json").write_text(json.dumps(est, indent=1))
    tot = est.get("total", {})
    row.update(
        {
            "est_lut": tot.get("LUT"),
            "est_ff": tot.get("FF"),
            "est_bram18": tot.get("BRAM18"),
            "est_dsp": tot.get("DSP"),
            "est_cycles": tot.get("cycles"),
            "est_fps": tot.get("fps"),
            "est_latency_cycles": tot.get("latency_cycles"),
            "est_layers": json.dumps(est.get("layers", [])),
            "folding": json.dumps(fold_doc),
        }
    )
    log(
        f"accuracy {_fmt_pct(row['accuracy'])}; estimate on {board.name}: LUT {tot.get('LUT')}, "
        f"BRAM18 {tot.get('BRAM18')}, {_fmt_num(tot.get('fps'))} FPS"
    )
    summary.update({"bram18": tot.get("BRAM18"), "fps": tot.get("fps")})
    # The second view the report shows: the fastest folding that fits the board (with no FPS
    # target the folding above is that already).
    if fps:
        t0 = time.time()
        try:
            mfold = stages.auto_fold(net, board, None)
            mest = stages.estimate(net, mfold, board)
            (run_dir / f"folding-{board.name}.json").write_text(json.dumps(mfold.to_json(), indent=1))
            (run_dir / f"estimate-{board.name}.json").write_text(json.dumps(mest, indent=1))
            row["_views"] = {"max": _view(mest, mfold.to_json())}
        except UserError as e:
            row["_views"] = {"max": {"error": str(e)}}
        store.add_timing(p.id, "estimate_max", time.time() - t0)
    else:
        row["_views"] = {"max": _view(est, fold_doc)}
    return row, summary


def _search_and_estimate(job, spec, store, p, run_dir: Path, log, board):
    """A searched mixed point (``sweep --mixed K``): from its width's source point (done first),
    search and fine-tune it (bitscale.mixed.search_point via the ``search`` stage) into its run
    folder, then estimate it at the folding the ILP chose."""
    from bitscale.results import SearchResult
    from bitscale.store import is_mixed

    assert is_mixed(p.wbits)
    stages = job.stages
    k, of = -p.wbits - 1, -p.abits
    src_key = spec.source_point(p)
    sid = store.find_point(src_key)
    src = store.point(sid) if sid is not None else None
    if src is None or src.status != "done" or not src.run_dir:
        raise UserError(
            f"mixed point {k + 1} of {of} at scale {p.scale}: its source point "
            f"{point_label(src_key)} is {src.status if src else 'not in the store'}, not done"
        )
    source_run = Path(src.run_dir)
    if _complete_run(run_dir) and (run_dir / "search_point.json").is_file():
        log(f"reusing the searched run {run_dir}")
    else:
        _clean_dead_tmp(run_dir)
        tmp = run_dir.with_name(f"{run_dir.name}.tmp-{_host_slug()}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        req = {
            "board": board.name,
            "fps": float(p.fps_target),
            "k": k,
            "of": of,
            "wbits": list(spec.mixed_wbits),
            "abits": list(spec.mixed_abits),
            "epochs": spec.mixed_epochs or p.epochs,
            "lr": spec.lr,
        }
        log(
            f"searching mixed point {k + 1} of {of} from {source_run} (candidates w {req['wbits']} x "
            f"a {req['abits']}, {req['epochs']} fine-tuning epochs)"
        )
        store.count_train_attempt(p.id)
        t0 = time.time()
        doc = stages.search(source_run, tmp, req, log)
        store.add_timing(p.id, "train", time.time() - t0)
        if not (tmp / "search_point.json").is_file():  # the contract says the stage writes it
            (tmp / "search_point.json").write_text(json.dumps(doc, indent=1, default=str))
        if run_dir.exists():  # someone else finished it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, run_dir)
    doc = json.loads((run_dir / "search_point.json").read_text())
    found = SearchResult.from_search(doc)  # the one reading of search_point.json
    train_metrics = json.loads((run_dir / "metrics.json").read_text())
    result = TrainResult.from_metrics(train_metrics)
    row = {
        "accuracy": result.accuracy,
        "golden_agreement": result.golden_agreement,
        "train_metrics": json.dumps(train_metrics, default=str),
        "_mixed": {
            "wbits": json.dumps(list(found.wbits)),
            "abits": json.dumps(list(found.abits)),
            "label": found.label,
            "budget_bram18": found.budget_bram18,
            "predicted": json.dumps(
                {"LUT": found.predicted_lut, "BRAM18": found.predicted_bram18, "DSP": found.predicted_dsp}
            ),
            "perturbation": found.perturbation,
            "solve_seconds": found.solve_seconds,
            "source_run": found.source_run,
            "search_json": json.dumps(doc, default=str),
        },
    }
    summary = {"accuracy": row["accuracy"], "bits": found.label}
    log(f"searched {found.label} under {found.budget_bram18} BRAM18 (predicted {found.predicted_bram18})")
    net = stages.load_net(run_dir)
    folding = stages.folding_from_json(doc["folding"])  # the folding the ILP costed
    return _estimate(stages, store, p, run_dir, net, folding, board, time.time(), row, summary, log)


def _view(est: dict, fold_doc: dict) -> dict:
    """An estimate as an ``estimate_views`` row (store.EstimateView's columns)."""
    tot = est.get("total", {})
    return {
        "clock_mhz": est.get("clock_mhz"),
        "fps": tot.get("fps"),
        "cycles": tot.get("cycles"),
        "lut": tot.get("LUT"),
        "ff": tot.get("FF"),
        "bram18": tot.get("BRAM18"),
        "dsp": tot.get("DSP"),
        "latency_cycles": tot.get("latency_cycles"),
        "layers": json.dumps(est.get("layers", [])),
        "folding": json.dumps(fold_doc),
    }


def _fmt_pct(x):
    """An accuracy (a fraction: bitscale.results) as a percentage."""
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _fmt_num(x):
    from bitscale.analysis import _n

    return _n(x)


def _fmt_time(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
