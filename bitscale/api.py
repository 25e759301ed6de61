"""The Python API: the whole flow as functions, ``import bitscale as bs`` (docs/api.md).

``bs.train`` -> :class:`Run`; ``bs.load_run`` -> :class:`Run`; ``bs.auto_fold`` -> ``Folding``;
``bs.estimate`` -> ``Estimate``; ``bs.generate`` -> :class:`Design`; ``bs.simulate`` ->
``SimResult``; ``bs.synth`` -> ``SynthResult`` (bitscale/results.py, shared with the sweep and
the store); ``bs.build`` -> build.json's content; ``bs.sweep`` -> the sweep summary;
``bs.report`` -> the report's paths and findings.
The CLI commands call these same functions, with the same defaults (bitscale/defaults.py).

Guaranteed: importing this module imports no torch, Amaranth or cocotb (each function imports
its stage when called); no function prints: progress goes to the ``bitscale.<stage>`` loggers
(the CLI sends them to stderr); bad input raises :class:`bitscale.errors.UserError` naming the
bad value before any slow work; ``generate`` refuses a folding that does not fit the board it
is meant for, with the numbers, before any Verilog is written.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bitscale import defaults as D
from bitscale.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from bitscale.boards import Board
    from bitscale.cost_model import Estimate
    from bitscale.hw.folding import Folding
    from bitscale.nn.ir import QuantizedNetwork
    from bitscale.results import SimResult, SynthResult, TrainResult

__all__ = [
    "Design",
    "Run",
    "auto_fold",
    "build",
    "choose_folding",
    "estimate",
    "generate",
    "load_run",
    "report",
    "simulate",
    "sweep",
    "synth",
    "synth_document",
    "train",
]


def _log(stage: str):
    return logging.getLogger(f"bitscale.{stage}").info


@dataclass(frozen=True)
class Run:
    """A trained (or imported) run directory: its network (IR), configuration and metrics."""

    dir: Path
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    @property
    def network(self) -> QuantizedNetwork:
        """The validated integer IR (loaded from network.json/.npz on each access)."""
        from bitscale.nn import ir

        return ir.load(self.dir)

    @property
    def result(self) -> TrainResult:
        """What training reported (metrics.json) as the typed result the sweep and store use."""
        from bitscale.results import TrainResult

        return TrainResult.from_metrics(self.metrics)

    @property
    def accuracy(self) -> float | None:
        """Test accuracy (fraction) of the trained model, when metrics.json has it."""
        return self.result.accuracy

    def to_json(self) -> dict:
        return {"dir": str(self.dir), "config": self.config, "metrics": self.metrics}

    @staticmethod
    def from_json(doc: dict) -> Run:
        return Run(Path(doc["dir"]), doc.get("config", {}), doc.get("metrics", {}))


@dataclass(frozen=True)
class Design:
    """A generated accelerator: where it is, the folding it was built with and where that came
    from, and (when a board is known) its estimate on that board."""

    build_dir: Path
    folding: Folding
    folding_source: str
    board: str | None
    estimate: Estimate | None
    cycles_per_frame: int
    design: dict = field(default_factory=dict, repr=False)  # design.json's content

    def to_json(self) -> dict:
        return {
            "build_dir": str(self.build_dir),
            "folding": self.folding.to_json(),
            "folding_source": self.folding_source,
            "board": self.board,
            "estimate": self.estimate.to_json() if self.estimate is not None else None,
            "cycles_per_frame": self.cycles_per_frame,
            "design": self.design,
        }


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError, UnicodeDecodeError):
        return {}


def _network(run) -> tuple[QuantizedNetwork, Path | None]:
    """(IR, run directory or None) from a Run, a run/build directory, or a QuantizedNetwork."""
    from bitscale.nn import ir

    if isinstance(run, Run):
        return run.network, run.dir
    if isinstance(run, (str, os.PathLike)):
        return ir.load(run), Path(run)
    if isinstance(run, ir.QuantizedNetwork):
        return run, None
    raise UserError(f"expected a Run, a run directory or a QuantizedNetwork, not {type(run).__name__}")


def _board(board) -> Board:
    from bitscale.boards import Board
    from bitscale.boards import get as get_board

    return board if isinstance(board, Board) else get_board(board)


# --- train / load ---------------------------------------------------------------------------------


def train(
    out,
    *,
    model: str = D.MODEL,
    wbits=2,
    abits=2,
    scale: float | str = 0.125,
    dataset: str = D.DATASET,
    epochs: int = D.EPOCHS,
    seed: int = D.SEED,
    **options,
) -> Run:
    """Train ``model`` with Brevitas QAT at ``wbits``/``abits`` (1..16, 0 = float, or one per
    compute layer) and width ``scale``, export the IR into ``out`` and check it against the golden
    model. ``options``: the other TrainConfig fields (batch_size, lr, device, data_dir, base,
    layers, dropout)."""
    from fractions import Fraction

    from bitscale.nn.train import TrainConfig
    from bitscale.nn.train import train as _train

    if isinstance(scale, str):
        try:
            scale = float(Fraction(scale.strip()))
        except (ValueError, ZeroDivisionError):
            raise UserError(f"scale must be a number like 0.125 or '1/8', not {scale!r}") from None
    cfg = TrainConfig(
        model=model, wbits=wbits, abits=abits, scale=scale, dataset=dataset, epochs=epochs, seed=seed, **options
    )
    from bitscale.outdir import check_parent_writable

    check_parent_writable(out)
    _train(cfg, out, log=_log("train"))
    return load_run(out)


def load_run(run_dir) -> Run:
    """The run in ``run_dir`` (network.json/.npz, and config.json/metrics.json where present)."""
    from bitscale.nn import ir

    d = Path(run_dir)
    ir.load(d)  # validates, one clear error for a broken run
    return Run(d, _read_json(d / "config.json"), _read_json(d / "metrics.json"))


# --- folding and estimate -------------------------------------------------------------------------


def auto_fold(
    run,
    board: Board | str = D.BOARD,
    fps: float | None = D.FPS,
    *,
    modes=D.MODES,
    max_util: float = D.MAX_UTIL,
    pack: bool = False,
) -> Folding:
    """The cheapest folding of ``run`` reaching ``fps`` frames/s on ``board`` (fps=None: the
    fastest folding that fits). UserError with the numbers when the board cannot reach it. ``pack``:
    block RAM counted as packed across layers (cost_model/packing.py, as ``generate --pack`` builds it)."""
    from bitscale.cost_model import auto_fold as _auto_fold

    net, _ = _network(run)
    b = _board(board)
    if isinstance(modes, str):
        modes = tuple(m.strip() for m in modes.split(",") if m.strip())
    try:
        return _auto_fold(net, b, target_fps=fps, modes=modes, max_util=max_util, pack=pack)
    except UserError as e:
        if fps is not None and "out of reach" in str(e):
            raise UserError(f"{e}; give a lower --fps, or --fps max for the fastest folding that fits") from None
        raise


def estimate(
    run,
    board: Board | str = D.BOARD,
    folding=None,
    *,
    fps: float | None = D.FPS,
    modes=D.MODES,
    max_util: float = D.MAX_UTIL,
) -> Estimate:
    """Predicted LUT/FF/BRAM/DSP, cycles and FPS of ``run`` on ``board``: of ``folding`` (a
    Folding or a folding.json path) when given, else of ``auto_fold(run, board, fps)``."""
    from bitscale.cost_model import estimate as _estimate

    net, _ = _network(run)
    b = _board(board)
    f = _load_folding(folding, net) if folding is not None else auto_fold(net, b, fps, modes=modes, max_util=max_util)
    return _estimate(net, f, b)


def _load_folding(folding, net: QuantizedNetwork) -> Folding:
    """``folding`` (a Folding or a folding.json path) checked against ``net``: a UserError naming the
    layer and value where it is not legal (hw/folding.py raises ValueError; this is the user's input)."""
    from bitscale.hw.folding import Folding, validate

    try:
        f = folding if isinstance(folding, Folding) else Folding.load(folding)
        validate(net, f)
    except ValueError as e:
        where = f"--folding {folding}: " if isinstance(folding, (str, os.PathLike)) else ""
        raise UserError(f"{where}{e}") from None
    return f


def fit_message(est) -> str:
    """One line with every resource against the board, for a folding that does not fit."""
    from bitscale.boards import get as get_board

    b = get_board(est.board)
    cap = {"LUT": b.lut, "FF": b.ff, "BRAM18": b.bram, "DSP": b.dsp}
    name = {"BRAM18": est.bram_kind, "LC": "logic cells"}
    if "LC" in est.utilization:  # iCE40: the capacity counts logic cells (a LUT4 + a flip-flop each)
        cap = {**cap, "LC": b.lut}
    parts = [
        f"{name.get(k, k)} {getattr(est, k):,}/{cap[k]:,} ({est.utilization[k]:.0%})"
        for k in cap
        if k in est.utilization
    ]
    over = [name.get(k, k) for k in cap if est.utilization.get(k, 0) > 1]
    return (
        f"the folding does not fit {est.board}: {', '.join(parts)}; over: {', '.join(over)}. "
        f"Fold for the board (bitscale estimate RUN_DIR --board {est.board} [--fps N]) or give a "
        f"smaller --folding"
    )


def choose_folding(
    run,
    *,
    board=None,
    fps: float | str | None = None,
    folding=None,
    modes=D.MODES,
    max_util: float = D.MAX_UTIL,
    log=None,
    pack: bool = False,
):
    """The folding ``generate`` builds, and where it came from, as (Folding, source, board name or
    None, Estimate or None). In order: ``folding`` when given; RUN_DIR/folding.json when
    ``bitscale estimate`` wrote one (for this board, when a board is given, and no ``fps`` asked);
    auto-folding for ``board`` at ``fps`` (None: the shared default target, "max": the fastest
    folding that fits); else the default folding.
    When a board is known (given, or the one estimate.json names) the folding is estimated on it
    and refused with the numbers if it does not fit. ``pack``: auto-folding and the fit check count block
    RAM as packed (cost_model/packing.py, ``generate --pack``), and the Estimate returned is the packed one."""
    return _choose_folding(
        run, board=board, fps=fps, folding=folding, modes=modes, max_util=max_util, log=log, pack=pack
    )[:4]


def _choose_folding(
    run,
    *,
    board=None,
    fps: float | str | None = None,
    folding=None,
    modes=D.MODES,
    max_util: float = D.MAX_UTIL,
    log=None,
    pack: bool = False,
):
    """:func:`choose_folding`, and the packing plan its fit check counted (None without ``pack`` or a board):
    ``generate`` builds that plan rather than packing again."""
    from bitscale.cost_model import estimate as _estimate
    from bitscale.hw.folding import default_folding

    log = log or _log("generate")
    net, run_dir = _network(run)
    b = _board(board) if board is not None else None
    est_doc = _read_json(run_dir / "estimate.json") if run_dir else {}
    saved = run_dir / "folding.json" if run_dir else None
    if folding is not None:
        f = _load_folding(folding, net)
        source = f"--folding {folding}" if isinstance(folding, (str, os.PathLike)) else "the given folding"
        if fps is not None and fps != "max" and b is None:
            raise UserError("--fps with --folding is checked on a board: give --board B too")
    elif saved is not None and saved.is_file() and fps is None and (b is None or est_doc.get("board") == b.name):
        f = _load_folding(saved, net)
        fps_note = est_doc.get("total", {}).get("fps")
        source = (
            f"{saved} (written by bitscale estimate"
            + (f" for {est_doc['board']}" if est_doc.get("board") else "")
            + (f", {fps_note:,.0f} FPS" if isinstance(fps_note, (int, float)) else "")
            + ")"
        )
        if b is None and est_doc.get("board"):
            b = _board(est_doc["board"])
    elif b is not None:
        target = D.FPS if fps is None else None if fps == "max" else float(fps)
        f = auto_fold(net, b, target, modes=modes, max_util=max_util, pack=pack)
        source = (
            f"auto-folded for {b.name}: the fastest folding that fits"
            if target is None
            else f"auto-folded for {b.name} at {target:,.0f} FPS (the cheapest folding reaching it)"
        )
    else:
        f = default_folding(net)
        source = (
            "the default folding (parallel, PE <= 8, SIMD <= 16); for a board, run "
            "`bitscale estimate RUN_DIR --board B` first or give --board"
        )
    log(f"folding: {source}")
    est = plan = None
    if b is not None:
        est = _estimate(net, f, b)
        if pack:  # the packed design: what the folder counted
            from bitscale.cost_model.packing import packed_estimate, plan_on_board

            plan = plan_on_board(net, f, b, max_util, est)
            est = packed_estimate(est, plan)
        if not est.fits:
            raise UserError(fit_message(est))
        if folding is not None and fps not in (None, "max") and est.fps < float(fps):
            raise UserError(
                f"the folding reaches {est.fps:,.0f} FPS on {b.name} (estimate at "
                f"{est.clock_mhz:g} MHz), below --fps {float(fps):,.0f}; leave out --folding to "
                f"auto-fold for it"
            )
        cells = f"logic cells {est.LC:,} ({est.utilization['LC']:.0%}), " if "LC" in est.utilization else ""
        log(
            f"estimate on {b.name}: {cells}LUT {est.LUT:,} ({est.utilization['LUT']:.0%}), {est.bram_kind} "
            f"{est.BRAM18} ({est.utilization['BRAM18']:.0%}), DSP {est.DSP}, {est.fps:,.0f} FPS"
        )
    return f, source, (b.name if b is not None else None), est, plan


# --- hardware -------------------------------------------------------------------------------------


def generate(
    run,
    out,
    *,
    board=None,
    fps: float | str | None = None,
    folding=None,
    selftest_frames: int = 16,
    force: bool = False,
    modes=D.MODES,
    max_util: float = D.MAX_UTIL,
    pack: bool = False,
) -> Design:
    """Generate the accelerator for ``run`` into ``out`` (Verilog, design.json, a copy of the
    network): folded as :func:`choose_folding` says, refused before any Verilog is written if it
    does not fit the board; with ``board``, also the board-level top and self-test. ``pack``: its
    read-only memories packed across layers (cost_model/packing.py, for the board's family, else the
    default board's), the plan in design.json."""
    import shutil
    import tempfile

    from bitscale import outdir
    from bitscale.hw.generate import generate as _generate

    if board is not None:  # a bad board or frame count fails before the slow part
        from bitscale.boards.board import check_args

        check_args(board if isinstance(board, str) else board.name, selftest_frames)
    if isinstance(run, (str, os.PathLike)):
        run = load_run(run)
    if not isinstance(run, Run):
        raise UserError(
            "generate needs a run (bs.load_run(dir) or a run directory): simulate and the "
            "board self-test take their test images from it"
        )
    net = run.network
    log = _log("generate")
    f, source, board_name, est, plan = _choose_folding(
        run, board=board, fps=fps, folding=folding, modes=modes, max_util=max_util, log=log, pack=pack
    )
    if board is not None and board_name is not None:  # the self-test's ROMs must fit beside the core
        from bitscale.boards.board import check_selftest_fits
        from bitscale.hw.top import frame_format

        check_selftest_fits(_board(board_name), est, frame_format(net, f), selftest_frames)
    out = Path(out)
    replace = outdir.replaceable(out, "generate")
    outdir.prepare(out, "generate", force=force, inputs=[run.dir], create=False)
    run_dir = str(run.dir.resolve())  # absolute: simulate may run from elsewhere
    if pack and plan is None:  # no board to check on: packed for the default board's family
        from bitscale.cost_model.packing import plan_on_board

        plan = plan_on_board(net, f, _board(D.BOARD), max_util)
    if replace:
        design = _generate(net, f, out, run_dir=run_dir, log=log, packing=plan)
    else:  # --force into a folder that is not ours: add, never replace
        tmp = Path(tempfile.mkdtemp(dir=out, prefix=".bitscale-generate-tmp."))
        try:
            design = _generate(net, f, tmp / "build", run_dir=run_dir, log=log, packing=plan)
            for p in (tmp / "build").iterdir():
                if (out / p.name).is_dir() and not p.is_dir():
                    shutil.rmtree(out / p.name)
                os.replace(p, out / p.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if replace:  # never mark a folder that holds somebody else's files
        outdir.mark(out, "generate")
    if board is not None and board_name is not None:  # board files only when asked for (--board)
        from bitscale.boards.board import add_board

        add_board(out, board_name, frames=selftest_frames, log=log)
    return Design(out, f, source, board_name, est, int(design["model_cycles_per_frame"]), design)


def simulate(build_dir, images: int = D.IMAGES, simulator: str = D.SIMULATOR, **options) -> SimResult:
    """Stream ``images`` of the run's test images through the design in ``build_dir`` with cocotb,
    check every output against the golden model, measure cycles/frame. The full document
    (latency, the model's cycles, per-frame detail) is BUILD_DIR/sim.json."""
    from bitscale.results import SimResult
    from bitscale.sim.simulate import simulate as _simulate

    return SimResult.from_sim(_simulate(build_dir, images=images, simulator=simulator, log=_log("sim"), **options))


def synth(
    build_dir,
    family: str | None = None,
    board=None,
    *,
    place: bool | None = None,
    timeout: float | None = None,
    dsp: bool = True,
) -> SynthResult:
    """Yosys synthesis (and nextpnr fmax on ECP5/iCE40) of ``build_dir`` (the full document, with
    the per-module breakdown and tool versions, is BUILD_DIR/synth.json, and what
    :func:`synth_document` returns). ``board`` defaults to the board the design was generated for
    (``generate --board``), when it is of ``family``; ``family`` defaults to the family of that
    board, else of the default board. ``dsp=False``: multipliers from LUTs (Yosys ``-nodsp``)."""
    from bitscale.results import SynthResult

    return SynthResult.from_synth(synth_document(build_dir, family, board, place=place, timeout=timeout, dsp=dsp))


def synth_document(
    build_dir,
    family: str | None = None,
    board=None,
    *,
    place: bool | None = None,
    timeout: float | None = None,
    dsp: bool = True,
) -> dict:
    """:func:`synth`, returning synth.json's whole content (what ``bitscale synth --json`` prints)."""
    from bitscale.boards.synth import synth as _synth

    if board is None:
        made_for = (_read_json(Path(build_dir) / "board.json").get("board") or {}).get("name")
        if made_for and (family is None or _board(made_for).family == family):
            board = made_for
    if family is None:
        family = _board(board if board is not None else D.BOARD).family
    return _synth(
        build_dir,
        family,
        board=None if board is None else _board(board).name,
        place=place,
        log=_log("synth"),
        timeout=timeout,
        dsp=dsp,
    )


def build(
    build_dir, *, seed: int = 1, dsp: bool = True, timeout: float | None = None, clock_mhz: float | None = None
) -> dict:
    """Bitstream of a build directory generated with a board (ECP5/iCE40, open toolchain), the
    accelerator on the family's PLL: at ``clock_mhz`` (the highest PLL frequency at or below it) or,
    by default, the fastest PLL clock nextpnr closes; build.json's content (utilization, the clock,
    fmax and FPS at it)."""
    from bitscale.boards.build import build as _build

    return _build(build_dir, seed=seed, dsp=dsp, log=_log("build"), timeout=timeout, clock_mhz=clock_mhz)


# --- sweep and report -----------------------------------------------------------------------------


def sweep(
    out,
    *,
    bits=(1, 2, 4, 8),
    scales=("1/64", "1/32"),
    model: str = D.MODEL,
    dataset: str = D.DATASET,
    board: str = D.BOARD,
    fps: float | None = D.FPS,
    epochs: int = D.EPOCHS,
    seed: int = D.SEED,
    hw: bool = False,
    workers: int | None = None,
    store: str | None = None,
    **spec,
) -> dict:
    """Train and estimate a precision x width grid into a result store in ``out`` (resumable);
    ``bits``: tied weight/activation bits (0 = float). ``spec``: the other SweepSpec fields."""
    from bitscale.sweep import SweepSpec, run_sweep

    s = SweepSpec(
        model=model,
        precisions=tuple((int(b), int(b)) for b in bits),
        scales=tuple(map(str, scales)),
        dataset=dataset,
        board=board,
        fps=fps,
        epochs=epochs,
        seed=seed,
        hw=hw,
        **spec,
    )
    return run_sweep(s, out, store_url=store, workers=workers, log=_log("sweep"), quiet_points=True)


def report(sweep_dir, *, out=None, store: str | None = None, reference: str = "w8a8", delta: float = 1.0) -> dict:
    """results.csv, plots, findings.json and report.html of a sweep; {"report", "findings", "rows"}."""
    from bitscale.report import write_report

    return write_report(sweep_dir, store_url=store, out_dir=out, reference=reference, delta=delta, log=_log("report"))


class CallableModule(types.ModuleType):
    """A module that, called, runs the API function of its own name: ``bs.sweep(...)`` and
    ``bs.report(...)`` are the modules bitscale.sweep and bitscale.report (a package attribute
    named like a submodule becomes that submodule once it is imported), so the module answers the call."""

    def __call__(self, *args, **kwargs):
        return globals()[self.__name__.rsplit(".", 1)[-1]](*args, **kwargs)


def make_callable(module_name: str) -> None:
    """Make the (imported) module ``bitscale.<name>`` call ``bitscale.api.<name>``."""
    sys.modules[module_name].__class__ = CallableModule
