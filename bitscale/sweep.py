"""The precision x width sweep: expand a grid, train and estimate every point once,
optionally build the Pareto points for real, and keep everything in the result store.

Per point (:func:`run_point`): claim it in the store (atomic; see
:mod:`bitscale.store`), train it into ``SWEEP_DIR/runs/<run key>/`` (trained into
a temporary folder and renamed when complete, so a killed run leaves no half
folder that looks finished), load its IR, auto-fold it on the board
(``bitscale.cost_model.auto_fold``), estimate its cost
(``bitscale.cost_model.estimate``) and store the results. Float points get
accuracy only. With ``hw``, after training: the Pareto points (accuracy vs
BRAM18 and accuracy vs FPS) are generated (``bitscale.hw.generate``),
simulated in cocotb (``bitscale.sim.simulate``) and synthesized for the
board's family (``bitscale.boards.synth``), and the measured numbers are stored
beside the estimates.

Guaranteed: a point whose status is ``done`` is never trained again, by this
process or any other sharing the store; a point left ``running`` by a dead
process is taken over on the next run. A completed run folder is reused (not
retrained) when a point is re-estimated for another board or FPS target.

The stages are looked up through a :class:`Stages` object so tests can inject
fakes; the product path always uses :meth:`Stages.real`.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable

from bitscale.errors import UserError

MODELS = ("fc", "tfc", "sfc", "lfc", "cnv")
DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10")
EXECUTORS = ("local", "ray")
SIMULATORS = ("verilator", "icarus")


# --- parsing user input ------------------------------------------------------------------------

def parse_bits(text: str, flag: str) -> tuple[int, ...]:
    """'1,2,float' -> (1, 2, 0): bit widths 1..16, 'float' (0) for the float baseline."""
    out = []
    for tok in str(text).split(","):
        t = tok.strip().lower()
        if t in ("float", "fp32", "f32"):
            v = 0
        else:
            try:
                v = int(t)
            except ValueError:
                raise UserError(f"{flag}: {tok.strip()!r} is not a bit width (1..16 or 'float')") from None
            if not 1 <= v <= 16:
                raise UserError(f"{flag}: {v} is not a bit width in 1..16 (or 'float')")
        if v not in out:
            out.append(v)
    if not out:
        raise UserError(f"{flag}: no bit widths given")
    return tuple(out)


def parse_scale(tok: str, flag: str = "--scales") -> Fraction:
    t = str(tok).strip()
    try:
        f = Fraction(t)
    except (ValueError, ZeroDivisionError):
        raise UserError(f"{flag}: {t} is not a fraction > 0 (e.g. 1/32 or 0.125)") from None
    if f <= 0:
        raise UserError(f"{flag}: {t} is not a fraction > 0 (e.g. 1/32 or 0.125)")
    return f


def parse_scales(text: str, flag: str = "--scales") -> tuple[str, ...]:
    """'1/32,0.125' -> ('1/32', '1/8'): canonical fraction strings, in the given order."""
    out = []
    for tok in str(text).split(","):
        if not tok.strip():
            continue
        s = str(parse_scale(tok, flag))
        if s not in out:
            out.append(s)
    if not out:
        raise UserError(f"{flag}: no scales given")
    return tuple(out)


def precisions(wbits, abits, tied: bool) -> tuple[tuple[int, int], ...]:
    """The (wbits, abits) pairs of the grid; 0 = float and pairs only with 0."""
    if tied:
        return tuple((b, b) for b in wbits)
    if (0 in wbits) != (0 in abits):
        raise UserError("'float' must be in both --wbits and --abits (the float baseline has no "
                        "quantized weights or activations), or use --bits")
    return tuple((w, a) for w in wbits for a in abits if (w == 0) == (a == 0))


def precision_label(wbits: int, abits: int) -> str:
    return "float" if wbits == 0 else f"w{wbits}a{abits}"


def scale_slug(scale: str) -> str:
    return scale.replace("/", "_")


# --- the spec ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepSpec:
    """What a sweep computes (not how it runs). Round-trips to JSON."""

    model: str = "fc"
    precisions: tuple[tuple[int, int], ...] = ((1, 1), (2, 2), (4, 4), (8, 8))
    scales: tuple[str, ...] = ("1/64", "1/32")
    dataset: str = "digits"
    board: str = "pynq-z1"
    fps: float | None = None            # target FPS for auto-folding; None = the fastest that fits
    epochs: int = 10
    seed: int = 0
    batch_size: int | None = None       # None: bitscale.nn.train's default
    lr: float | None = None
    device: str = "cpu"
    data_dir: str | None = None
    hw: bool = False
    hw_images: int = 8
    hw_max: int | None = None           # at most this many Pareto points go to hardware
    simulator: str = "verilator"

    def __post_init__(self):
        if self.model not in MODELS:
            raise UserError(f"--model: {self.model!r} is not one of {', '.join(MODELS)}")
        if self.dataset not in DATASETS:
            raise UserError(f"--dataset: {self.dataset!r} is not one of {', '.join(DATASETS)}")
        from bitscale.boards import get as get_board
        get_board(self.board)
        if not self.precisions:
            raise UserError("the sweep has no precisions")
        for w, a in self.precisions:
            for v, what in ((w, "wbits"), (a, "abits")):
                if not isinstance(v, int) or not 0 <= v <= 16:
                    raise UserError(f"{what} must be 1..16 or 0 (float), not {v!r}")
            if (w == 0) != (a == 0):
                raise UserError(f"precision w{w}a{a}: float (0) pairs only with float")
        if not self.scales:
            raise UserError("the sweep has no scales")
        for s in self.scales:
            parse_scale(s)
        if self.fps is not None and not (isinstance(self.fps, (int, float)) and self.fps > 0):
            raise UserError(f"--fps: {self.fps!r} is not a frame rate > 0")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise UserError(f"--epochs: {self.epochs!r} is not an integer >= 1")
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise UserError(f"--batch-size: {self.batch_size!r} is not an integer >= 1")
        if self.lr is not None and not self.lr > 0:
            raise UserError(f"--lr: {self.lr!r} is not > 0")
        if not str(self.device).startswith(("cpu", "cuda")):
            raise UserError(f"--device: {self.device!r} is not cpu or cuda[:N]")
        if not isinstance(self.hw_images, int) or self.hw_images < 1:
            raise UserError(f"--hw-images: {self.hw_images!r} is not an integer >= 1")
        if self.hw_max is not None and (not isinstance(self.hw_max, int) or self.hw_max < 1):
            raise UserError(f"--hw-max: {self.hw_max!r} is not an integer >= 1")
        if self.simulator not in SIMULATORS:
            raise UserError(f"--simulator: {self.simulator!r} is not one of {', '.join(SIMULATORS)}")

    def to_json(self) -> dict:
        d = asdict(self)
        d["precisions"] = [list(p) for p in self.precisions]
        d["scales"] = list(self.scales)
        return {"format": "bitscale.SweepSpec", **d}

    @staticmethod
    def from_json(doc: dict) -> "SweepSpec":
        d = {k: v for k, v in doc.items() if k != "format"}
        d["precisions"] = tuple(tuple(p) for p in d.get("precisions", ()))
        d["scales"] = tuple(d.get("scales", ()))
        return SweepSpec(**d)

    def points(self):
        """The grid in order (scale-major), as store keys."""
        from bitscale.store import PointKey
        return [PointKey(self.model, w, a, s, self.dataset, self.epochs, self.seed, self.board,
                         float(self.fps or 0.0))
                for s in self.scales for (w, a) in self.precisions]


def run_key(p) -> str:
    """The run folder name of a point: its training configuration only (not board or FPS)."""
    return f"{p.model}-{precision_label(p.wbits, p.abits)}-s{scale_slug(p.scale)}-{p.dataset}-e{p.epochs}-seed{p.seed}"


def point_label(p) -> str:
    return f"{precision_label(p.wbits, p.abits)} s={p.scale}"


# --- stages ------------------------------------------------------------------------------------

def _real_train(kw: dict, out_dir, log):
    from bitscale.nn.train import TrainConfig, train
    return train(TrainConfig(**kw), out_dir, log=log)


def _real_load_net(run_dir):
    from bitscale.nn import ir
    return ir.load(Path(run_dir))


def _real_auto_fold(net, board, target_fps):
    from bitscale.cost_model import auto_fold
    return auto_fold(net, board, target_fps=target_fps)


def _real_estimate(net, folding, board):
    from bitscale.cost_model import estimate
    return estimate(net, folding, board).to_json()


def _real_generate(net, folding, out_dir, run_dir, log=None):
    from bitscale.hw.generate import generate
    return generate(net, folding, out_dir, run_dir=run_dir, log=log)


def _real_simulate(build_dir, images, simulator, log=print):
    from bitscale.sim.simulate import simulate
    return simulate(build_dir, images=images, simulator=simulator, log=log)


def _real_synth(build_dir, family, board, log=print):
    from bitscale.boards.synth import synth
    return synth(build_dir, family, board=board, log=log)


def _real_folding_from_json(doc):
    from bitscale.hw.folding import Folding
    return Folding.from_json(doc)


@dataclass(frozen=True)
class Stages:
    """The stage functions the sweep calls. Module-level functions only (they are pickled
    to worker processes). ``estimate`` returns the Estimate's JSON; ``auto_fold``
    returns an object with ``to_json()``."""

    train: Callable = _real_train                 # (config kwargs, out_dir, log) -> metrics dict
    load_net: Callable = _real_load_net           # run_dir -> QuantizedNetwork
    auto_fold: Callable = _real_auto_fold         # (net, Board, target_fps|None) -> Folding
    estimate: Callable = _real_estimate           # (net, Folding, Board) -> Estimate JSON
    folding_from_json: Callable = _real_folding_from_json
    generate: Callable = _real_generate           # (net, Folding, out_dir, run_dir) -> design dict
    simulate: Callable = _real_simulate           # (build_dir, images, simulator) -> sim dict
    synth: Callable = _real_synth                 # (build_dir, family, board name) -> synth dict

    @staticmethod
    def real() -> "Stages":
        return Stages()


# --- per-point work ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    store_url: str
    point_id: int
    sweep_dir: str
    spec: dict
    stages: Stages = field(default_factory=Stages)
    parent_pid: int | None = None
    device: str | None = None          # overrides spec.device (a worker's GPU)
    quiet: bool = False


def _pick(d: dict | None, *names, default=None):
    """The first of ``names`` present (not None) in ``d``; dotted names look inside."""
    if not d:
        return default
    for n in names:
        cur = d
        for part in n.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
            if cur is None:
                break
        if cur is not None:
            return cur
    return default


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
                pid = int(name[len(prefix):].split(".")[0])
            except ValueError:
                continue
            if not pid_alive(pid):
                shutil.rmtree(d, ignore_errors=True)


def _complete_run(run_dir: Path) -> bool:
    return (run_dir / "metrics.json").is_file() and (run_dir / "config.json").is_file()


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
                print(line, flush=True)
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
    from bitscale.store import Heartbeat, Metrics, Store

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
                metrics_row, summary = _train_and_estimate(job, spec, store, p, run_dir, log,
                                                           get_board(p.board))
                if hb.lost:
                    return {"id": p.id, "claimed": False, "lost": True}
                ok = store.finish(p.id, ok=True, values={"run_dir": str(run_dir)},
                                  extra=[Metrics(point_id=p.id, **metrics_row)])
                store.add_timing(p.id, "point", time.time() - t_start)
                return {"id": p.id, "claimed": ok, "status": "done", "label": label,
                        "seconds": time.time() - t_start, **summary}
            except Exception as e:  # a failed point is data; the sweep goes on
                err = _fmt_err(e)
                store.finish(p.id, ok=False, error=err)
                log(f"FAILED: {err}")
                return {"id": p.id, "claimed": True, "status": "failed", "label": label,
                        "error": err, "seconds": time.time() - t_start}
    finally:
        store.dispose()


def _train_and_estimate(job, spec, store, p, run_dir: Path, log, board):
    stages = job.stages
    if _complete_run(run_dir):
        log(f"reusing the trained run {run_dir}")
        train_metrics = json.loads((run_dir / "metrics.json").read_text())
    else:
        _clean_dead_tmp(run_dir)
        tmp = run_dir.with_name(f"{run_dir.name}.tmp-{_host_slug()}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        kw = {"model": p.model, "wbits": p.wbits, "abits": p.abits, "scale": p.scale_value,
              "dataset": p.dataset, "epochs": p.epochs, "seed": p.seed,
              "device": job.device or spec.device}
        for k in ("batch_size", "lr", "data_dir"):
            if getattr(spec, k) is not None:
                kw[k] = getattr(spec, k)
        log(f"training {precision_label(p.wbits, p.abits)} at width scale {p.scale} on {p.dataset} "
            f"({p.epochs} epochs, {kw['device']})")
        store.count_train_attempt(p.id)
        t0 = time.time()
        train_metrics = stages.train(kw, tmp, log) or {}
        store.add_timing(p.id, "train", time.time() - t0)
        if not (tmp / "metrics.json").is_file():   # the contract says train writes it; be safe
            (tmp / "metrics.json").write_text(json.dumps(train_metrics, indent=1, default=str))
        if run_dir.exists():   # someone else finished the same training meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, run_dir)
        train_metrics = json.loads((run_dir / "metrics.json").read_text())

    row = {
        "accuracy": _pick(train_metrics, "accuracy", "test_accuracy", "test_acc", "acc"),
        "golden_agreement": _pick(train_metrics, "golden_agreement", "golden_match",
                                  "golden_accuracy_agreement"),
        "train_metrics": json.dumps(train_metrics, default=str),
    }
    summary = {"accuracy": row["accuracy"]}
    if p.wbits == 0:   # float baseline: accuracy and memory only, nothing to build
        # Weights only (as for the quantized points' IR), not biases or BatchNorm.
        params = _param_count_from_checkpoint(run_dir)
        if params is None:
            params = _pick(train_metrics, "params", "num_params", "parameters", "weights")
        row["params"] = params
        row["weight_bits"] = 32 * params if params else None
        log(f"accuracy {_fmt_pct(row['accuracy'])} (float baseline)")
        return row, summary

    net = stages.load_net(run_dir)
    row["params"] = int(sum(l.mh * l.mw for l in net.compute_layers))
    row["weight_bits"] = weight_memory_bits(net)
    t0 = time.time()
    fps = p.fps_target or None
    try:
        folding = stages.auto_fold(net, board, fps)
    except UserError as e:   # nothing fits this board: a result, not a failure
        row["est_error"] = str(e)
        log(f"accuracy {_fmt_pct(row['accuracy'])}; no folding fits {board.name}: {e}")
        summary["est_error"] = str(e)
        return row, summary
    est = stages.estimate(net, folding, board)
    store.add_timing(p.id, "estimate", time.time() - t0)
    fold_doc = folding.to_json()
    tag = f"{board.name}-fps{int(fps)}" if fps else board.name
    (run_dir / f"folding-{tag}.json").write_text(json.dumps(fold_doc, indent=1))
    (run_dir / f"estimate-{tag}.json").write_text(json.dumps(est, indent=1))
    tot = est.get("total", {})
    row.update({
        "est_lut": tot.get("LUT"), "est_ff": tot.get("FF"), "est_bram18": tot.get("BRAM18"),
        "est_dsp": tot.get("DSP"), "est_cycles": tot.get("cycles"), "est_fps": tot.get("fps"),
        "est_latency_cycles": tot.get("latency_cycles"),
        "est_layers": json.dumps(est.get("layers", [])), "folding": json.dumps(fold_doc),
    })
    log(f"accuracy {_fmt_pct(row['accuracy'])}; estimate on {board.name}: LUT {tot.get('LUT')}, "
        f"BRAM18 {tot.get('BRAM18')}, {_fmt_num(tot.get('fps'))} FPS")
    summary.update({"bram18": tot.get("BRAM18"), "fps": tot.get("fps")})
    return row, summary


def _fmt_pct(x):
    return "n/a" if x is None else f"{100 * x:.2f}%" if x <= 1 else f"{x:.2f}%"


def _fmt_num(x):
    if x is None:
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


# --- hardware for the Pareto points ------------------------------------------------------------

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
        return {"id": p.id, "claimed": True, "status": "done" if ok else "failed", "label": label,
                "error": err, "seconds": time.time() - t_start, **values}
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
    sim = stages.simulate(build_dir, spec.hw_images, spec.simulator, log=log) or {}
    store.add_timing(p.id, "simulate", time.time() - t0)
    cpf = _pick(sim, "cycles_per_frame", "measured_cycles_per_frame", "steady_cycles_per_frame")
    n_img = _pick(sim, "images", "frames", default=spec.hw_images)
    passed = _pick(sim, "all_frames_match", "passed")
    if passed is not None and sim.get("golden_match") is not None:
        passed = bool(passed) and sim["golden_match"] == n_img and not sim.get("errors")
    hw_correct = sim.get("hw_correct")
    values.update({"sim_images": n_img, "sim_golden_match": sim.get("golden_match"),
                   "sim_accuracy": (hw_correct / n_img) if hw_correct is not None and n_img else None,
                   "sim_passed": bool(passed) if passed is not None else None,
                   "sim_cycles_per_frame": cpf,
                   "sim_fps": (board.clock_mhz * 1e6 / cpf) if cpf else None,
                   "sim_json": json.dumps(sim, default=str)})
    log(f"simulation {'passed' if passed else 'FAILED' if passed is not None else 'done'}"
        f"{f', {cpf} cycles/frame' if cpf else ''}")

    log(f"synthesizing for {board.family}")
    t0 = time.time()
    syn = stages.synth(build_dir, board.family, board.name, log=log) or {}
    store.add_timing(p.id, "synth", time.time() - t0)
    values.update({"synth_lut": _pick(syn, "LUT", "lut"), "synth_ff": _pick(syn, "FF", "ff"),
                   "synth_bram18": _pick(syn, "BRAM18", "bram18"), "synth_dsp": _pick(syn, "DSP", "dsp"),
                   "synth_fmax_mhz": _pick(syn, "fmax_mhz"), "synth_json": json.dumps(syn, default=str)})
    fmax = values["synth_fmax_mhz"]
    # Xilinx families are synthesized, not placed: there is no fmax to show.
    log(f"synthesis: LUT {values['synth_lut']}, BRAM18 {values['synth_bram18']}"
        + (f", fmax {fmax:.1f} MHz" if fmax is not None else " (not placed: no fmax)"))
    if passed is False:
        raise RuntimeError(f"simulation mismatch on {build_dir} (see its sim.json)")


def pareto_hw_points(rows: list[dict], limit: int | None = None) -> list[int]:
    """Ids of the Pareto points: max accuracy vs min BRAM18, and max accuracy vs max FPS.

    With ``limit``, an evenly spread subset along BRAM18 (cheapest and most
    accurate always kept)."""
    from bitscale.report import pareto_front
    cand = [r for r in rows if r.get("status") == "done" and r.get("wbits")
            and r.get("accuracy") is not None and r.get("est_bram18") is not None]
    ids = set(pareto_front(cand, "est_bram18", "accuracy", x_better="low"))
    ids |= set(pareto_front([r for r in cand if r.get("est_fps")], "est_fps", "accuracy",
                            x_better="high"))
    chosen = sorted((r for r in cand if r["id"] in ids), key=lambda r: (r["est_bram18"], -r["accuracy"]))
    if limit is not None and len(chosen) > limit:
        if limit == 1:
            chosen = [max(chosen, key=lambda r: r["accuracy"])]
        else:
            idx = sorted({round(i * (len(chosen) - 1) / (limit - 1)) for i in range(limit)})
            chosen = [chosen[i] for i in idx]
    return [r["id"] for r in chosen]


# --- executors ---------------------------------------------------------------------------------

def default_workers(n_points: int, device: str = "cpu") -> int:
    cores = os.cpu_count() or 1
    if cores <= 2:
        return 1
    return max(1, min(cores, n_points))


def _init_worker(threads: int, parent_pid: int):
    # Keep N workers from each starting a core-count thread pool (oversubscription).
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    # A pool worker whose sweep was killed (SIGKILL: no clean-up) would otherwise live on,
    # idle or training: exit as soon as the parent is gone. Its claim then reads as dead.
    import threading

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(3)
    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _cuda_devices(device: str) -> list[str]:
    """The devices to spread workers over: 'cuda' = every visible GPU, 'cuda:N' = that one."""
    if device != "cuda":
        return [device]
    try:
        import torch
        n = torch.cuda.device_count()
    except Exception:
        n = 0
    return [f"cuda:{i}" for i in range(n)] or ["cuda"]


def _execute_local(fn, jobs: list[Job], workers: int, on_result, device: str):
    if workers <= 1 or len(jobs) <= 1:
        for j in jobs:
            on_result(fn(j))
        return
    import multiprocessing as mp
    threads = max(1, (os.cpu_count() or 1) // workers)
    devices = _cuda_devices(device) if device.startswith("cuda") else [None]
    jobs = [replace(j, parent_pid=os.getpid(), device=devices[i % len(devices)])
            for i, j in enumerate(jobs)]
    # spawn: torch and forked threads do not mix.
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker, initargs=(threads, os.getpid())) as pool:
        pending = {pool.submit(fn, j) for j in jobs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                on_result(f.result())


def _ray_task(fn, job):
    return fn(job)


def _execute_ray(fn, jobs: list[Job], workers: int, on_result, device: str, per_gpu: int):
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray, an optional extra: pip install 'bitscale[ray]' "
                        "(or use --executor local)") from None
    started = False
    if not ray.is_initialized():
        # RAY_ADDRESS (e.g. ray://head:10001 or auto) joins a cluster; unset: a local instance
        # with one CPU slot per worker (and the GPUs it finds).
        addr = os.environ.get("RAY_ADDRESS")
        ray.init(address=addr or None, include_dashboard=False, log_to_driver=True,
                 **({} if addr else {"num_cpus": max(workers, 1)}))
        started = True
    try:
        # Fractional GPUs: per_gpu points share one GPU (small points do not fill an H100).
        gpus = 1.0 / per_gpu if device.startswith("cuda") else 0
        remote = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(_ray_task)
        # Ray sets CUDA_VISIBLE_DEVICES per task, so "cuda" is the GPU Ray gave the task.
        refs = [remote.remote(fn, replace(j, device=device)) for j in jobs]
        while refs:
            done, refs = ray.wait(refs, num_returns=1)
            for r in done:
                on_result(ray.get(r))
    finally:
        if started:
            ray.shutdown()


# --- the sweep ---------------------------------------------------------------------------------

def _fmt_time(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def run_sweep(spec: SweepSpec, out_dir, *, store_url: str | None = None, workers: int | None = None,
              executor: str = "local", retry_failed: bool = False, per_gpu: int = 4,
              stages: Stages | None = None, log=print, quiet_points: bool = False) -> dict:
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
            raise UserError(f"--device {spec.device}: no CUDA GPU is visible to torch here "
                            f"(torch {torch.__version__}); use --device cpu")
    stages = stages or Stages.real()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    url = store_url or default_url(out)
    store = Store(url)
    t_sweep = time.time()
    try:
        store.record_run(spec.to_json())
        tmp = out / "sweep.json.tmp"
        tmp.write_text(json.dumps(spec.to_json(), indent=1))
        os.replace(tmp, out / "sweep.json")
        if url != default_url(out):
            # For `bitscale report SWEEP_DIR`; a password is never written to disk.
            (out / "store.url").write_text(_redact(url) + "\n")

        keys = spec.points()
        ids = store.ensure_points(keys, [float(Fraction(k.scale)) for k in keys])
        if retry_failed:
            store.reset_failed(ids)
        by_id = {p.id: p for p in store.points()}
        n = len(ids)
        done0 = sum(by_id[i].status == "done" for i in ids)
        todo = [i for i in ids if by_id[i].status != "done" and
                (by_id[i].status != "failed") and store.claimable(by_id[i])]
        failed0 = sum(by_id[i].status == "failed" for i in ids)
        busy = [i for i in ids if by_id[i].status == "running" and i not in todo]
        workers = workers or default_workers(len(todo), spec.device)
        log(f"[sweep] {n} points ({len(spec.precisions)} precisions x {len(spec.scales)} scales) "
            f"on {spec.dataset}, board {spec.board}: {done0} done, {failed0} failed, "
            f"{len(busy)} running elsewhere, {len(todo)} to do; {workers} worker(s), {executor} executor, "
            f"store {_redact(url)}")
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
            what = (f"accuracy {_fmt_pct(r.get('accuracy'))}" if r.get("status") == "done"
                    else f"FAILED: {r.get('error')}")
            extra = ""
            if r.get("bram18") is not None:
                extra = f", BRAM18 {r['bram18']:g}, {_fmt_num(r.get('fps'))} FPS"
            log(f"[sweep] {state['done'] + failed0 + state['failed']}/{n} points: {r.get('label')} "
                f"{what}{extra} ({r.get('seconds', 0):.1f} s); elapsed {_fmt_time(el)}, "
                f"ETA {_fmt_time(eta)}", )

        jobs = [Job(url, i, str(out), spec.to_json(), stages, quiet=quiet_points) for i in todo]
        _dispatch(run_point, jobs, workers, on_point, spec, executor, per_gpu)

        hw_summary = None
        if spec.hw:
            hw_summary = _hw_phase(spec, store, ids, url, out, workers, executor, per_gpu, stages, log,
                                   retry_failed, quiet_points)
        rows = store.rows()
        mine = [r for r in rows if r["id"] in set(ids)]
        summary = {
            "sweep_dir": str(out), "store": _redact(url), "points": n,
            "done": sum(r["status"] == "done" for r in mine),
            "failed": sum(r["status"] == "failed" for r in mine),
            "running_elsewhere": sum(r["status"] == "running" for r in mine),
            "pending": sum(r["status"] == "pending" for r in mine),
            "trained_now": state["finished"], "seconds": time.time() - t_sweep, "hw": hw_summary,
        }
        log(f"[sweep] finished in {_fmt_time(summary['seconds'])}: {summary['done']}/{n} done, "
            f"{summary['failed']} failed" + (f", {summary['running_elsewhere']} still running elsewhere"
                                            if summary["running_elsewhere"] else ""))
        return summary
    finally:
        store.dispose()


def _dispatch(fn, jobs, workers, on_result, spec, executor, per_gpu):
    if not jobs:
        return
    if executor == "ray":
        _execute_ray(fn, jobs, workers, on_result, spec.device, per_gpu)
    else:
        _execute_local(fn, jobs, workers, on_result, spec.device)


def _hw_phase(spec, store, point_ids, url, out, workers, executor, per_gpu, stages, log,
              retry_failed, quiet):
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
    todo = [i for i in ids if hw[i].status != "done" and hw[i].status != "failed"
            and store.claimable(hw[i])]
    labels = {r["id"]: point_label(_Obj(r)) for r in rows}
    log(f"[hw] {len(ids)} Pareto point(s): {', '.join(labels[i] for i in ids)}; "
        f"{len(ids) - len(todo)} already built, {len(todo)} to build (generate, simulate "
        f"{spec.hw_images} images in {spec.simulator}, synthesize)")
    state = {"k": len(ids) - len(todo), "t0": time.time(), "fin": 0}

    def on_hw(r):
        if not r.get("claimed"):
            return
        state["k"] += 1
        state["fin"] += 1
        el = time.time() - state["t0"]
        eta = el / state["fin"] * (len(todo) - state["fin"])
        what = "done" if r["status"] == "done" else f"FAILED: {r.get('error')}"
        log(f"[hw] {state['k']}/{len(ids)}: {r.get('label')} {what} ({r.get('seconds', 0):.1f} s); "
            f"ETA {_fmt_time(eta)}")

    jobs = [Job(url, i, str(out), spec.to_json(), stages, quiet=quiet) for i in todo]
    # Verilator builds and synthesis are memory- and core-hungry: at most half the workers.
    _dispatch(run_hw, jobs, max(1, workers // 2), on_hw, replace(spec, device="cpu"), executor, per_gpu)
    with store.session() as s:
        hw = {h.point_id: h.status for h in s.query(HwResult).filter(HwResult.point_id.in_(ids))}
    return {"points": len(ids), "done": sum(v == "done" for v in hw.values()),
            "failed": sum(v == "failed" for v in hw.values())}


class _Obj:
    def __init__(self, d):
        self.__dict__.update(d)


def _redact(url: str) -> str:
    """The URL without a password (it is printed and written to the report)."""
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url
