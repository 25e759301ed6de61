"""The sweep report: results.csv, SVG figures, a self-contained report.html, and findings.

The page (bitscale.report_page) is written for a hardware engineer: the board's context,
two throughput views per point (at the sweep's FPS target and at the fastest folding that
fits the board), accuracy vs max FPS and vs BRAM18 / LUT with the board's budget and
utilization, per-layer drill-downs, estimate vs synthesis in percent, sortable and
filterable tables; figures are inline SVG (bitscale.report_figures), one style per
precision. The first finding names the board (bitscale.report_views.board_finding).

Findings (Su et al., ARC 2018) and the Pareto fronts are computed by bitscale.analysis.

Guaranteed: the outputs appear complete or not at all (each is written to a
temporary file and renamed); numbers come from the store only.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from pathlib import Path

# pareto_front and precision_label are re-exported (bitscale.report's Python API, commands/report.py)
from bitscale.analysis import annotate, findings, mixed_findings, pareto_front, precision_label  # noqa: F401
from bitscale.api import make_callable as _make_callable
from bitscale.errors import UserError

CSV_COLUMNS = [
    "id",
    "model",
    "precision",
    "wbits",
    "abits",
    "scale",
    "scale_value",
    "dataset",
    "epochs",
    "seed",
    "board",
    "fps_target",
    "status",
    "error",
    "accuracy",
    "golden_agreement",
    "params",
    "weight_bits",
    "est_lut",
    "est_ff",
    "est_bram18",
    "est_dsp",
    "est_cycles",
    "est_fps",
    "est_latency_cycles",
    "est_error",
    "max_fps",
    "max_cycles",
    "max_lut",
    "max_ff",
    "max_bram18",
    "max_dsp",
    "max_error",
    "pareto_bram18",
    "pareto_fps",
    "hw_status",
    "hw_error",
    "sim_images",
    "sim_passed",
    "sim_golden_match",
    "sim_accuracy",
    "sim_cycles_per_frame",
    "design_cycles_per_frame",
    "sim_fps",
    "synth_lut",
    "synth_ff",
    "synth_bram18",
    "synth_dsp",
    "synth_fmax_mhz",
    "train_attempts",
    "claims",
    "t_train_s",
    "t_estimate_s",
    "t_point_s",
    "t_generate_s",
    "t_simulate_s",
    "t_synth_s",
    "t_hw_s",
    "run_dir",
    "build_dir",
    "bits",
    "mixed_budget_bram18",
    "mixed_perturbation",
    "mixed_source_run",
]


# --- loading ---------------------------------------------------------------------------------


def store_url_for(sweep_dir, store_url: str | None = None) -> str:
    from bitscale.store import default_url

    d = Path(sweep_dir)
    if store_url:
        return store_url
    f = d / "store.url"
    if f.is_file():
        url = f.read_text().strip()
        if "***" in url:
            raise UserError(f"{d}'s store URL has a password, which is not stored: give --store URL")
        return url
    if not (d / "results.db").is_file():
        raise UserError(
            f"no sweep results in {d} (no results.db; run `bitscale sweep --out {d}` first, or give --store URL)"
        )
    return default_url(d)


def load_rows(sweep_dir, store_url: str | None = None) -> tuple[list[dict], dict | None]:
    """All points of the store (flat dicts with a ``precision`` label and Pareto flags)
    and the last sweep spec."""
    from bitscale.store import Store

    store = Store(store_url_for(sweep_dir, store_url))
    try:
        rows = store.rows()
        spec = store.last_spec()
    finally:
        store.dispose()
    return annotate(rows), spec


# --- outputs -----------------------------------------------------------------------------------


def _fmt_cell(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def _csv_cell(v):
    """results.csv holds plain values a spreadsheet or pandas parses: numbers unrounded and without
    thousands separators (repr: the shortest text that reads back as the same float); flags yes/no."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    return str(v)


def _write_csv(rows, path: Path):
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in rows:
            w.writerow([_csv_cell(r.get(c)) for c in CSV_COLUMNS])
    return tmp


_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def write_report(
    sweep_dir,
    *,
    store_url: str | None = None,
    out_dir=None,
    delta: float = 1.0,
    reference: str | None = "w8a8",
    log=_log,
) -> dict:
    """Write results.csv, the SVG figures, findings.json and report.html into ``out_dir``
    (default: the sweep folder). Returns {"report": path, "findings": dict, "rows": n}."""
    if not (isinstance(delta, (int, float)) and 0 <= delta < 100):
        raise UserError(f"--delta: {delta!r} is not a number of accuracy points in [0, 100)")
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise UserError(f"no sweep folder at {sweep_dir}")
    rows, spec = load_rows(sweep_dir, store_url)
    out = Path(out_dir) if out_dir else sweep_dir
    out.mkdir(parents=True, exist_ok=True)
    fnd = findings(rows, delta=delta, reference=reference)
    mx = mixed_findings(rows)
    if mx["points"]:  # where searched mixed points beat uniform ones, and their per-layer bits
        fnd["mixed"] = mx
        fnd["statements"].extend(mx["statements"])
    from bitscale import report_views
    from bitscale.report_page import render

    board = report_views.get_board(spec.get("board") if spec else None)
    bf = report_views.board_finding(rows, board, delta=delta)
    if bf:  # the board-named finding leads
        fnd["board_finding"] = bf
        fnd["statements"].insert(0, bf["text"])
    tmps: list[tuple[Path, Path]] = [(_write_csv(rows, out / "results.csv"), out / "results.csv")]
    page, figs = render(rows, spec, fnd, board, sweep_dir=str(sweep_dir.resolve()), delta=delta)
    for name, svg in figs.items():
        tmp = out / f".{name}.svg.tmp"
        tmp.write_text('<?xml version="1.0" encoding="utf-8"?>\n' + svg.replace("<svg ", '<svg width="100%" ', 1))
        tmps.append((tmp, out / f"{name}.svg"))
    ftmp = out / ".findings.json.tmp"
    ftmp.write_text(json.dumps(fnd, indent=1))
    tmps.append((ftmp, out / "findings.json"))
    htmp = out / ".report.html.tmp"
    htmp.write_text(page)
    tmps.append((htmp, out / "report.html"))
    for tmp, final in tmps:
        os.replace(tmp, final)
    log(f"[report] {len(rows)} points -> {out / 'report.html'} (+ results.csv, {len(figs)} SVG figures, findings.json)")
    return {"report": str(out / "report.html"), "findings": fnd, "rows": len(rows)}


# ``bs.report(...)`` (import bitscale as bs): this module, called, runs bitscale.api.report (docs/api.md).
_make_callable(__name__)
