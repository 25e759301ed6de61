"""The sweep report: results.csv, PNG plots, a self-contained report.html, and findings.

Plots (matplotlib, Agg): accuracy vs weight-memory bits, accuracy vs BRAM18,
accuracy vs FPS, FPS vs LUT; one colour per precision, the Pareto frontier
drawn as a step line with its points ringed; measured (synthesized) BRAM18 and
LUT of the built points are drawn beside the estimates.

Findings (Su et al., ARC 2018): the target accuracy is the reference
precision's best accuracy (8-bit by default) minus ``delta`` percentage
points. For each precision: the smallest swept width scale reaching the
target, and its weight bits, BRAM18 and LUT relative to the reference at its
own smallest such width; and how many times the reference's width each
precision needs (the paper's "2-bit needs ~2x the width").

Guaranteed: the outputs appear complete or not at all (each is written to a
temporary file and renamed); numbers come from the store only.
"""
from __future__ import annotations

import base64
import csv
import html
import json
import os
import time
from pathlib import Path

from bitscale.analysis import _prec_order, annotate, findings, pareto_front, precision_label
from bitscale.errors import UserError

CSV_COLUMNS = [
    "id", "model", "precision", "wbits", "abits", "scale", "scale_value", "dataset", "epochs", "seed",
    "board", "fps_target", "status", "error", "accuracy", "golden_agreement", "params", "weight_bits",
    "est_lut", "est_ff", "est_bram18", "est_dsp", "est_cycles", "est_fps", "est_latency_cycles",
    "est_error", "pareto_bram18", "pareto_fps", "hw_status", "hw_error", "sim_images", "sim_passed", "sim_golden_match", "sim_accuracy",
    "sim_cycles_per_frame", "design_cycles_per_frame", "sim_fps", "synth_lut", "synth_ff",
    "synth_bram18", "synth_dsp", "synth_fmax_mhz", "train_attempts", "claims", "t_train_s",
    "t_estimate_s", "t_point_s", "t_generate_s", "t_simulate_s", "t_synth_s", "t_hw_s", "run_dir",
    "build_dir",
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
        raise UserError(f"no sweep results in {d} (no results.db; run `bitscale sweep --out {d}` "
                        f"first, or give --store URL)")
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


# --- plots -------------------------------------------------------------------------------------

PLOTS = [
    # file, x column, y column, x_better for the frontier (y always maximized), log x, log y, title
    ("acc_vs_weight_bits.png", "weight_bits", "accuracy", "low", True, False,
     "Accuracy vs weight memory (bits)"),
    ("acc_vs_bram18.png", "est_bram18", "accuracy", "low", False, False, "Accuracy vs BRAM18 (estimate)"),
    ("acc_vs_fps.png", "est_fps", "accuracy", "high", True, False, "Accuracy vs FPS (estimate)"),
    ("fps_vs_lut.png", "est_lut", "est_fps", "low", True, True, "FPS vs LUT (estimate)"),
]
MEASURED = {"est_bram18": "synth_bram18", "est_lut": "synth_lut"}


def _plot(rows, fname, x, y, x_better, logx, logy, title, out: Path, board: str | None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [r for r in rows if r.get("status") == "done" and r.get(x) is not None and r.get(y) is not None
           and (not logx or r[x] > 0) and (not logy or r[y] > 0)]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    precs = sorted({r["precision"] for r in rows}, key=_prec_order)
    cmap = plt.get_cmap("tab10")
    colors = {p: cmap(i % 10) for i, p in enumerate(precs)}
    yscale = 100.0 if y == "accuracy" else 1.0
    for p in precs:
        # joined in width order: the line is how one precision moves as the network grows
        mine = sorted((r for r in pts if r["precision"] == p), key=lambda r: (r.get("scale_value") or 0, r[x]))
        if not mine:
            continue
        ax.plot([r[x] for r in mine], [r[y] * yscale for r in mine], "o-", color=colors[p], label=p,
                alpha=0.85, ms=5, lw=1)
        mx = MEASURED.get(x)
        meas = [r for r in mine if mx and r.get(mx) is not None]
        if meas:
            ax.scatter([r[mx] for r in meas], [r[y] * yscale for r in meas], marker="x", s=40,
                       color=colors[p], zorder=4)
    front_ids = pareto_front(pts, x, y, x_better=x_better)
    front = [next(r for r in pts if r["id"] == i) for i in front_ids]
    if front:
        front.sort(key=lambda r: r[x])
        ax.step([r[x] for r in front], [r[y] * yscale for r in front],
                where="post" if x_better == "low" else "pre", color="black", lw=1.2, alpha=0.6,
                label="Pareto frontier")
        ax.scatter([r[x] for r in front], [r[y] * yscale for r in front], s=110, facecolors="none",
                   edgecolors="black", linewidths=1.2, zorder=5)
        for r in front:
            ax.annotate(f"s={r['scale']}", (r[x], r[y] * yscale), textcoords="offset points",
                        xytext=(4, -10), fontsize=6, alpha=0.7)
    if MEASURED.get(x) and any(r.get(MEASURED[x]) is not None for r in pts):
        ax.scatter([], [], marker="x", color="gray", label="measured (synthesis)")
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    labels = {"weight_bits": "weight memory (bits)", "est_bram18": f"BRAM18 (estimate{', ' + board if board else ''})",
              "est_fps": "frames per second (estimate)", "est_lut": "LUT (estimate)",
              "accuracy": "test accuracy (%)"}
    ax.set_xlabel(labels.get(x, x))
    ax.set_ylabel(labels.get(y, y))
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.25)
    if pts:
        ax.legend(fontsize=7, loc="best")
    else:
        ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    tmp = out / f".{fname}.tmp"
    fig.savefig(tmp, format="png")
    plt.close(fig)
    return tmp


# --- outputs -----------------------------------------------------------------------------------

def _fmt_cell(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def _write_csv(rows, path: Path):
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in rows:
            w.writerow([_fmt_cell(r.get(c)) for c in CSV_COLUMNS])
    return tmp


def _table(headers, body) -> str:
    h = "".join(f"<th>{html.escape(x)}</th>" for x in headers)
    b = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt_cell(c)) if not isinstance(c, _Raw) else c.s}</td>"
                                 for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>"


class _Raw:
    def __init__(self, s):
        self.s = s


def _pct(a):
    return None if a is None else f"{100 * a:.2f}"


def _html(rows, spec, fnd, images: dict[str, bytes], sweep_dir: Path) -> str:
    done = [r for r in rows if r.get("status") == "done"]
    failed = [r for r in rows if r.get("status") == "failed"]
    other = [r for r in rows if r.get("status") not in ("done", "failed")]
    css = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
           "table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;"
           "padding:3px 6px;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}"
           ".plots img{width:49%;min-width:420px}.front{font-weight:bold}code{background:#f3f3f3;padding:1px 3px}")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>bitscale sweep report</title>"
             f"<style>{css}</style></head><body>",
             "<h1>bitscale sweep report</h1>"]
    if spec:
        precs = ", ".join(precision_label(w, a) for w, a in spec.get("precisions", []))
        parts.append(
            f"<p>Model <b>{html.escape(str(spec.get('model')))}</b> on <b>{html.escape(str(spec.get('dataset')))}</b>, "
            f"board <b>{html.escape(str(spec.get('board')))}</b>"
            f"{', target ' + str(spec.get('fps')) + ' FPS' if spec.get('fps') else ', fastest folding that fits'}; "
            f"precisions {html.escape(precs)}; width scales {html.escape(', '.join(spec.get('scales', [])))} "
            f"(of base width 4096 for fc); {spec.get('epochs')} epochs, seed {spec.get('seed')}.</p>")
    parts.append(f"<p>{len(done)} of {len(rows)} points done, {len(failed)} failed, {len(other)} not finished. "
                 f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from "
                 f"<code>{html.escape(str(sweep_dir))}</code>.</p>")
    parts.append("<h2>Findings</h2><ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in fnd["statements"])
                 + "</ul>")
    if fnd["per_precision"]:
        body = [[d["precision"], _pct(d["best_accuracy"]), d["best_scale"], d["scale"] or "not reached",
                 _pct(d["accuracy"]), d["width_x"], d["width_interp_x"], d["weight_bits"], d["weight_bits_x"],
                 d["bram18"], d["bram18_x"], d["lut"], d["lut_x"]] for d in fnd["per_precision"]]
        parts.append(_table(["precision", "best acc %", "at scale", f"smallest scale reaching {_pct(fnd['target'])}%",
                             "acc %", f"width vs {fnd['reference']}", "(interpolated)", "weight bits",
                             f"vs {fnd['reference']}", "BRAM18", f"vs {fnd['reference']}", "LUT",
                             f"vs {fnd['reference']}"], body))
    parts.append("<h2>Plots</h2><p>Lines join the widths of one precision; the black step line is the Pareto "
                 "frontier (ringed points); crosses are synthesized (measured) numbers of the built points."
                 "</p><div class='plots'>")
    for name, data in images.items():
        parts.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,"
                     f"{base64.b64encode(data).decode()}'>")
    parts.append("</div>")
    parts.append("<h2>All points</h2>")
    body = []
    for r in sorted(rows, key=lambda r: (_prec_order(r["precision"]), r.get("scale_value") or 0)):
        front = ("BRAM " if r.get("pareto_bram18") else "") + ("FPS" if r.get("pareto_fps") else "")
        body.append([r["precision"], r["scale"], r["status"], _pct(r.get("accuracy")),
                     r.get("golden_agreement"), r.get("weight_bits"), r.get("est_bram18"), r.get("est_lut"),
                     r.get("est_dsp"), r.get("est_fps"), front.strip(), r.get("train_attempts"),
                     r.get("t_train_s"), r.get("est_error") or r.get("error")])
    parts.append(_table(["precision", "scale", "status", "acc %", "golden agreement", "weight bits", "BRAM18",
                         "LUT", "DSP", "FPS", "Pareto", "trainings", "train s", "note"], body))
    built = [r for r in rows if r.get("hw_status")]
    if built:
        parts.append("<h2>Built points: estimate vs measured</h2>")
        body = [[r["precision"], r["scale"], r["hw_status"], r.get("sim_passed"),
                 f"{r.get('sim_golden_match')}/{r.get('sim_images')}" if r.get("sim_images") else None,
                 r.get("design_cycles_per_frame"), r.get("sim_cycles_per_frame"), r.get("est_fps"), r.get("sim_fps"),
                 r.get("est_lut"), r.get("synth_lut"), r.get("est_bram18"), r.get("synth_bram18"),
                 r.get("synth_fmax_mhz"), r.get("hw_error")] for r in built]
        parts.append(_table(["precision", "scale", "status", "sim passed", "frames = golden", "cycles/frame (design)",
                             "cycles/frame (sim)", "FPS est", "FPS sim", "LUT est", "LUT synth", "BRAM18 est",
                             "BRAM18 synth", "fmax MHz", "error"], body))
    if failed:
        parts.append("<h2>Failed points</h2>" + _table(
            ["precision", "scale", "error"], [[r["precision"], r["scale"], r.get("error")] for r in failed]))
    parts.append("<p>Files: <code>results.csv</code> (every point), the PNG plots, and per point "
                 "<code>runs/&lt;key&gt;/</code> (trained network, folding, estimate).</p></body></html>")
    return "".join(parts)


def write_report(sweep_dir, *, store_url: str | None = None, out_dir=None, delta: float = 1.0,
                 reference: str | None = "w8a8", log=print) -> dict:
    """Write results.csv, the PNG plots, findings.json and report.html into ``out_dir``
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
    board = spec.get("board") if spec else None
    tmps: list[tuple[Path, Path]] = [(_write_csv(rows, out / "results.csv"), out / "results.csv")]
    images = {}
    for fname, x, y, xb, lx, ly, title in PLOTS:
        tmp = _plot(rows, fname, x, y, xb, lx, ly, title, out, board)
        images[fname] = tmp.read_bytes()
        tmps.append((tmp, out / fname))
    ftmp = out / ".findings.json.tmp"
    ftmp.write_text(json.dumps(fnd, indent=1))
    tmps.append((ftmp, out / "findings.json"))
    htmp = out / ".report.html.tmp"
    htmp.write_text(_html(rows, spec, fnd, images, sweep_dir.resolve()))
    tmps.append((htmp, out / "report.html"))
    for tmp, final in tmps:
        os.replace(tmp, final)
    log(f"[report] {len(rows)} points -> {out / 'report.html'} (+ results.csv, "
        f"{len(PLOTS)} plots, findings.json)")
    return {"report": str(out / "report.html"), "findings": fnd, "rows": len(rows)}
