"""The sweep report's page: board context, findings, figures, tables and per-point drill-downs,
assembled from the store's rows (bitscale.report_views), drawn as inline SVG
(bitscale.report_figures) into one self-contained page (bitscale.report_html).

Sections, in order: the context bar (board with its resources and clock, model, dataset,
grid, FPS target); findings (the board-named one first); figures — accuracy vs max FPS on
the board, accuracy vs BRAM18 and vs LUT at the target with the board's budget and
utilization, accuracy vs weight memory; the per-precision findings table; every point
(sortable, filterable, Pareto rows highlighted, each linked to its drill-down); the built
points, estimate vs Yosys/nextpnr/cocotb with the error in percent and the clock; the
per-point drill-downs (per-layer table: bits, mode, PE/SIMD, cycles, LUT/FF/BRAM18/DSP
with shares, the layer that limits throughput, synthesized per layer where built); failed
points with their errors.

Guaranteed: :func:`render` is a pure function of its arguments apart from reading a run's
``network.json`` for per-layer bits when the store lacks them; it returns the page and
the figures (name -> SVG) so the caller can also write them as files.
"""

from __future__ import annotations

import time

from bitscale import report_figures as F
from bitscale import report_html as H
from bitscale import report_views as V
from bitscale.analysis import MIXED

FIG_NAMES = ("acc_vs_max_fps", "acc_vs_bram18", "acc_vs_lut", "acc_vs_weight_bits")


def _pct(a, digits=2):
    return None if a is None else round(100.0 * a, digits)


def _util_cell(v, util):
    if v is None:
        return H.Cell("", None)
    u = f" ({100 * util:.0f}%)" if util is not None else ""
    return H.Cell(f"{H.fmt(v)}{u}", v, cls="bad" if (util or 0) > 1 else "")


def _pct_cell(util):
    if util is None:
        return H.Cell("", None)
    return H.Cell(f"{100 * util:.1f}%", round(100 * util, 3), cls="bad" if util > 1 else "")


def _err_cell(e):
    if e is None:
        return H.Cell("", None)
    return H.Cell(f"{e:+.1f}%", round(e, 3), cls="bad" if abs(e) > 15 else "good" if abs(e) <= 5 else "")


def _swatch(prec: str) -> str:
    st = F.style_for(prec)
    return f'<span class="swatch" style="background:{st.color}"></span>{H.esc(prec)}'


def _prec_cell(prec: str, text: str | None = None) -> H.Cell:
    """A precision with its swatch; ``text`` (a mixed point's per-layer bits) shown instead of the label."""
    st = F.style_for(prec)
    label = text or prec
    return H.Cell(
        label, label, html=f'<span class="swatch" style="background:{st.color}"></span>{H.esc(label)}', cls="t"
    )


def _series(pts, x_of, y_of):
    by: dict[str, list] = {}
    for r in pts:
        x, y = x_of(r), y_of(r)
        if x is None or y is None:
            continue
        by.setdefault(r["precision"], []).append((r.get("scale_value") or 0, x, y, r["scale"], r["id"]))
    out = []
    for p, v in by.items():
        # a precision's widths in order; searched mixed points along their BRAM18 (several per width)
        v.sort(key=(lambda a: (a[1], a[2])) if p == MIXED else None)
        out.append(
            F.Series(p, tuple(a[1] for a in v), tuple(a[2] for a in v), tuple(a[3] for a in v), tuple(a[4] for a in v))
        )
    return tuple(out)


def _front(pts, x_of, y_of, x_better):
    from bitscale.analysis import pareto_front

    tmp = [{"id": r["id"], "x": x_of(r), "y": y_of(r)} for r in pts]
    ids = set(pareto_front(tmp, "x", "y", x_better=x_better))
    return tuple((t["x"], t["y"]) for t in tmp if t["id"] in ids), ids


def _xscale(values) -> dict:
    v = [x for x in values if x is not None]
    if not v:
        return {}
    if min(v) <= 0:
        return {"symlogx": True}
    return {"logx": True} if max(v) / min(v) > 20 else {}  # counts spanning decades: log


def figures(rows, board, spec, vw) -> dict[str, str]:
    """name -> inline SVG for the four figures."""
    bt = V.board_title(board.name if board else (spec or {}).get("board"))
    tgt = (spec or {}).get("fps")
    at = f"at ≥ {F.human(tgt)} FPS" if tgt else "at the fastest folding that fits"
    ints = [r for r in rows if r.get("status") == "done" and r.get("wbits") and r.get("accuracy") is not None]
    uni = [r for r in ints if r["precision"] != MIXED]  # the frontier is the uniform one; mixed beside it

    def acc(r):
        return 100.0 * r["accuracy"]

    out = {}
    nominal = f"{board.clock_mhz:g} MHz" if board else "the board clock"
    placed = any((vw[r["id"]]["clock"] and vw[r["id"]]["clock"].source != "nominal") for r in ints)

    def mx(r):
        return vw[r["id"]]["max_fps"]

    fr, _ = _front(uni, mx, acc, "high")
    out["acc_vs_max_fps"] = F.scatter_svg(
        F.Figure(
            "acc_vs_max_fps",
            f"Accuracy vs max FPS on {bt}",
            f"frames/s, fastest folding that fits {bt}",
            "test accuracy (%)",
            _series(ints, mx, acc),
            logx=True,
            front=fr,
            front_where="pre",
            note=(f"at fmax where placed, else the nominal {nominal}" if placed else f"at the nominal {nominal} clock"),
        )
    )
    for name, res, col, meas in (
        ("acc_vs_bram18", "BRAM18", "est_bram18", "synth_bram18"),
        ("acc_vs_lut", "LUT", "est_lut", "synth_lut"),
    ):

        def xo(r, c=col):
            return r.get(c)

        fr, _ = _front(uni, xo, acc, "low")
        kind = board.bram_kind if (board and res == "BRAM18") else res
        bud = V.budget(board, res)
        measured = tuple((r[meas], acc(r), r["precision"]) for r in ints if r.get(meas) is not None)
        out[name] = F.scatter_svg(
            F.Figure(
                name,
                f"Accuracy vs {res} on {bt} {at}",
                f"{res} (estimate{', ' + kind if kind != res else ''})",
                "test accuracy (%)",
                _series(ints, xo, acc),
                front=fr,
                front_where="post",
                measured=measured,
                budget=F.Budget(bud, f"{bt}: {bud:,.0f} {kind}") if bud else None,
                **_xscale([xo(r) for r in ints] + [m[0] for m in measured] + ([bud] if bud else [])),
            )
        )
    wb = [r for r in rows if r.get("status") == "done" and r.get("accuracy") is not None and r.get("weight_bits")]

    def wbits(r):
        return r.get("weight_bits")

    fr, _ = _front([r for r in wb if r.get("wbits") and r["precision"] != MIXED], wbits, acc, "low")
    out["acc_vs_weight_bits"] = F.scatter_svg(
        F.Figure(
            "acc_vs_weight_bits",
            "Accuracy vs weight memory",
            "weight memory (bits, log)",
            "test accuracy (%)",
            _series(wb, wbits, acc),
            logx=True,
            front=fr,
            front_where="post",
        )
    )
    return out


CAPTIONS = {
    "acc_vs_max_fps": "Each point at the fastest folding that fits the board; the black step is the Pareto "
    "frontier (more accurate and faster), ringed points are on it.",
    "acc_vs_bram18": "Cost of meeting the FPS target; dashed: the board's block RAM, shaded: over budget; "
    "top axis: utilization. Crosses: synthesized (Yosys) counts of built points.",
    "acc_vs_lut": "Cost of meeting the FPS target in LUTs; dashed: the board's LUTs. Crosses: Yosys.",
    "acc_vs_weight_bits": "Weight memory (Σ MH·MW·wbits; 32 bits per weight for float) — the paper's metric.",
}


def render(
    rows: list[dict], spec: dict | None, fnd: dict, board, *, sweep_dir: str, delta: float = 1.0
) -> tuple[str, dict[str, str]]:
    """(report.html's text, {figure name: svg})."""
    vw = {r["id"]: V.views(r, board) for r in rows}
    figs = figures(rows, board, spec, vw)
    ints_all = [r for r in rows if r.get("status") == "done" and r.get("wbits") and r.get("accuracy") is not None]
    ints = [r for r in ints_all if r["precision"] != MIXED]
    _, front_max = _front(ints, lambda r: vw[r["id"]]["max_fps"], lambda r: r["accuracy"], "high")
    bt = V.board_title(board.name if board else (spec or {}).get("board"))
    parts = ["<h1>bitscale sweep report</h1>", _context(rows, spec, board, sweep_dir)]
    parts.append("<h2>Findings</h2><ul class='findings'>")
    bf = fnd.get("board_finding")
    for s in fnd.get("statements", []):
        cls = " class='headline'" if bf and s == bf.get("text") else ""
        parts.append(f"<li{cls}>{H.esc(s)}</li>")
    parts.append("</ul>")
    parts.append(
        "<h2>Plots</h2><p class='muted'>Colour: weight bits, marker: activation bits (one style per "
        "precision); labels: width scale. Click a plot to enlarge it (Escape closes)."
        + (
            " Black filled plus (dotted): searched mixed per-layer precision (<code>--mixed</code>), "
            "beside the uniform points' frontier."
            if any(r["precision"] == MIXED for r in ints_all)
            else ""
        )
        + "</p><div class='plots'>"
    )
    for name in FIG_NAMES:
        parts.append(H.figure(figs[name], f"fig-{name}", CAPTIONS[name]))
    parts.append("</div>")
    if fnd.get("per_precision"):
        parts.append(_per_precision(fnd))
    parts.append(_points(rows, vw, board, front_max, bt))
    built = [r for r in rows if r.get("hw_status")]
    if built:
        parts.append(_built(built, board))
    parts.append(_drilldowns(rows, vw, board))
    failed = [r for r in rows if r.get("status") == "failed"]
    if failed:
        parts.append(
            "<h2 id='failed'>Failed points</h2>"
            + H.table(
                ["precision", "scale", "error"],
                [
                    [
                        _prec_cell(r["precision"]),
                        H.Cell(r["scale"], r.get("scale_value")),
                        H.Cell(r.get("error") or "", cls="wrap"),
                    ]
                    for r in failed
                ],
                tid="failed-table",
            )
        )
    parts.append(
        "<p class='muted'>Files beside this page: <code>results.csv</code> (every point, every column), "
        "<code>findings.json</code>, the figures as <code>.svg</code>; per point "
        "<code>runs/&lt;key&gt;/</code> (trained network, foldings, estimates) and, where built, "
        "<code>hw/&lt;key&gt;/</code> (Verilog, sim.json, synth.json).</p>"
    )
    return H.page(f"bitscale sweep report — {bt}", "".join(parts)), figs


def _context(rows, spec, board, sweep_dir) -> str:
    spec = spec or {}
    done = sum(r.get("status") == "done" for r in rows)
    failed = sum(r.get("status") == "failed" for r in rows)
    other = len(rows) - done - failed
    items = []
    if board is not None:
        items.append(
            f"<span>Board <b>{H.esc(V.board_title(board.name))}</b> ({H.esc(board.part)}, "
            f"{H.esc(board.family)}): {board.lut:,} LUT · {board.ff:,} FF · {board.bram:,} "
            f"{H.esc(board.bram_kind)} · {board.dsp:,} DSP · {board.clock_mhz:g} MHz nominal</span>"
        )
    if spec:
        from bitscale.analysis import precision_label

        precs = ", ".join(precision_label(w, a) for w, a in spec.get("precisions", []))
        items.append(
            f"<span>Model <b>{H.esc(spec.get('model'))}</b> on <b>{H.esc(spec.get('dataset'))}</b>, "
            f"{H.esc(spec.get('epochs'))} epochs, seed {H.esc(spec.get('seed'))}</span>"
        )
        items.append(
            f"<span>Precisions <b>{H.esc(precs)}</b> × widths <b>{H.esc(', '.join(spec.get('scales', [])))}</b></span>"
        )
        t = spec.get("fps")
        items.append(
            "<span>FPS target <b>"
            + (f"≥ {t:,.0f}" if t else "none")
            + "</b>"
            + ("" if t else " (folded as fast as fits)")
            + "</span>"
        )
    items.append(f"<span>{done} of {len(rows)} points done, {failed} failed, {other} not finished</span>")
    old = [
        r
        for r in rows
        if r.get("status") == "done" and r.get("wbits") and r.get("est_fps") is not None and V.max_view(r) is None
    ]
    if old:
        items.append(
            f"<span class='bad'>{len(old)} point(s) were estimated before the sweep stored the fastest-fit "
            "view: their max FPS is blank (re-estimate without retraining: copy <code>runs/</code> into a "
            "new sweep folder and run the sweep there; docs/sweep.md)</span>"
        )
    items.append(
        f"<span class='muted'>generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from "
        f"<code>{H.esc(sweep_dir)}</code></span>"
    )
    return "<div class='context'>" + "".join(items) + "</div>"


def _per_precision(fnd) -> str:
    ref, tgt = fnd.get("reference"), fnd.get("target")
    body = [
        [
            _prec_cell(d["precision"]),
            _pct(d["best_accuracy"]),
            H.Cell(d["best_scale"] or "", None),
            H.Cell(d["scale"] or "not reached", d["scale_value"]),
            _pct(d["accuracy"]),
            d["width_x"],
            d["width_interp_x"],
            d["weight_bits"],
            d["weight_bits_x"],
            d["bram18"],
            d["bram18_x"],
            d["lut"],
            d["lut_x"],
        ]
        for d in fnd["per_precision"]
    ]
    return "<h2>Per precision</h2>" + H.table(
        [
            "precision",
            "best acc %",
            "at scale",
            (
                f"smallest scale ≥ {100 * tgt:.2f}%" if tgt is not None else "scale",
                "the smallest swept width reaching the target accuracy",
            ),
            "acc %",
            f"width vs {ref}",
            ("(interp.)", "interpolated on log2(width)"),
            "weight bits",
            f"vs {ref}",
            "BRAM18",
            f"vs {ref}",
            "LUT",
            f"vs {ref}",
        ],
        body,
        tid="precision-table",
    )


def _points(rows, vw, board, front_max, bt) -> str:
    order = sorted(rows, key=lambda r: (F.precision_order(r["precision"]), r.get("scale_value") or 0))
    body, classes, ids = [], [], []
    for r in order:
        v = vw[r["id"]]
        clk = v["clock"]
        front = " ".join(k for k, on in (("BRAM", r.get("pareto_bram18")), ("maxFPS", r["id"] in front_max)) if on)
        link = H.Cell(r["scale"], r.get("scale_value"), html=f'<a href="#pt-{r["id"]}">{H.esc(r["scale"])}</a>')
        body.append(
            [
                _prec_cell(r["precision"], r.get("mixed_label")),
                link,
                H.Cell(r.get("status") or "", cls="t"),
                _pct(r.get("accuracy")),
                r.get("weight_bits"),
                H.Cell(f"{v['fps']:,.0f}" if v["fps"] else "", v["fps"]),
                _util_cell(r.get("est_bram18"), v["util_BRAM18"]),
                _util_cell(r.get("est_lut"), v["util_LUT"]),
                _util_cell(r.get("est_dsp"), v["util_DSP"]),
                H.Cell(f"{v['latency_us']:.3g}" if v["latency_us"] else "", v["latency_us"]),
                H.Cell(f"{v['max_fps']:,.0f}" if v["max_fps"] else "", v["max_fps"]),
                H.Cell(
                    f"{clk.mhz:.0f}" if (clk and r.get("wbits") and r.get("est_fps") is not None) else "",
                    clk.mhz if clk else None,
                    title=clk.note if clk else "",
                ),
                H.Cell(front, cls="t"),
                H.Cell(r.get("hw_status") or "", cls="t"),
                H.Cell(r.get("est_error") or r.get("error") or "", cls="wrap"),
            ]
        )
        classes.append("pareto" if front else None)
        ids.append(f"row-{r['id']}")
    tgt = next((V.target_fps(r) for r in rows if V.target_fps(r)), None)
    at = f"at ≥ {tgt:,.0f} FPS" if tgt else "(no target: fastest fit)"
    head = [
        "precision",
        ("scale", "width scale; click for the per-layer drill-down"),
        "status",
        "acc %",
        "weight bits",
        (f"FPS {at}", "the folding the sweep chose for its FPS target, at the nominal clock"),
        ("BRAM18 (util.)", "estimate at the target, % of the board"),
        ("LUT (util.)", ""),
        ("DSP (util.)", ""),
        ("latency µs", "first frame in to result out, at the design's clock"),
        (f"max FPS on {bt}", "fastest folding that fits the board, at the clock of the next column"),
        ("clock MHz", "fmax where placed and routed, else the board's nominal clock (hover for which)"),
        ("Pareto", "on the accuracy-vs-BRAM18 (at target) or accuracy-vs-max-FPS frontier"),
        "built",
        "note",
    ]
    return "<h2 id='points'>All points</h2>" + H.table(
        head,
        body,
        tid="points-table",
        row_classes=classes,
        row_ids=ids,
        only_class="pareto",
        only_label="Pareto points only",
    )


def _built(built, board) -> str:
    body = []
    for r in built:
        e = V.est_vs_synth(r, board)
        if e is None:
            continue
        clk = e["clock"]
        fm = e["fmax_mhz"]
        clock_note = (
            f"{fm:.0f} MHz — {clk.note}"
            if fm and clk and clk.source == "fmax-proxy"
            else f"{fm:.0f} MHz (nextpnr)"
            if fm
            else (clk.note if clk else "")
        )
        row = [
            _prec_cell(r["precision"]),
            H.Cell(r["scale"], r.get("scale_value"), html=f'<a href="#pt-{r["id"]}">{H.esc(r["scale"])}</a>'),
            H.Cell(e["status"] or "", cls="t"),
            r.get("sim_passed"),
            H.Cell(
                f"{r.get('sim_golden_match')}/{r.get('sim_images')}" if r.get("sim_images") else "",
                r.get("sim_golden_match"),
            ),
        ]
        for k in ("cycles", "LUT", "FF", "BRAM18", "DSP"):
            est, meas, err = e[k]
            row += [est, meas, _err_cell(err)]
        row += [H.Cell(clock_note, fm, cls="wrap"), H.Cell(r.get("hw_error") or "", cls="wrap")]
        body.append(row)
    head = ["precision", "scale", "status", "sim passed", "frames = golden"]
    for k, src in (
        ("cycles/frame", "cocotb"),
        ("LUT", "Yosys"),
        ("FF", "Yosys"),
        ("BRAM18", "Yosys"),
        ("DSP", "Yosys"),
    ):
        head += [
            (f"{k} est", "cost model"),
            (f"{k} {src}", "measured"),
            (f"{k} err", "(estimate − measured) / measured"),
        ]
    head += [("fmax / clock", "nextpnr fmax; Xilinx has no open place-and-route"), "error"]
    return "<h2 id='built'>Built points: estimate vs Yosys / nextpnr / cocotb</h2>" + H.table(
        head, body, tid="built-table"
    )


def _layer_table(lrows, tid, synth: bool) -> str:
    head = [
        "layer",
        "kind",
        ("w bits", "weight bits"),
        ("a bits", "bits of the activations entering"),
        "mode",
        "PE",
        "SIMD",
        ("cycles", "cycles per frame of this layer; the largest limits throughput"),
        "LUT",
        "LUT %",
        "FF",
        "BRAM18",
        ("floor", "the layer's BRAM18 floor: max(capacity, bandwidth)"),
        "BRAM %",
        "DSP",
        ("limits", "the layer with the most cycles per frame sets the FPS"),
    ]
    if synth:
        head += [("LUT Yosys", "this layer's synthesized modules"), "LUT err", ("BRAM18 Yosys", ""), "BRAM err"]
    body, classes = [], []
    for l in lrows:
        row = [
            H.Cell(l["name"] or "", cls="t"),
            H.Cell(l["kind"] or "", cls="t"),
            l["wbits"],
            l["abits"],
            H.Cell(l["mode"] or "", cls="t"),
            l["pe"],
            l["simd"],
            l["cycles"],
            l["LUT"],
            _pct_cell(l["LUT_share"]),
            l["FF"],
            l["BRAM18"],
            l["bram_floor"],
            _pct_cell(l["BRAM18_share"]),
            l["DSP"],
            H.Cell("◀ limits FPS" if l["limits"] else "", 1 if l["limits"] else 0, cls="t"),
        ]
        if synth:
            row += [l["synth_LUT"], _err_cell(l["err_LUT"]), l["synth_BRAM18"], _err_cell(l["err_BRAM18"])]
        body.append(row)
        classes.append("limit" if l["limits"] else None)
    return H.table(head, body, tid=tid, row_classes=classes, filterable=False)


def _drilldowns(rows, vw, board) -> str:
    parts = [
        (
            "<h2 id='drilldown'>Per point</h2><p class='muted'>Per-layer cost at the folding the sweep chose "
            "(the design that is built); the layer with the most cycles per frame limits throughput.</p>"
        )
    ]
    for r in sorted(rows, key=lambda r: (F.precision_order(r["precision"]), r.get("scale_value") or 0)):
        if r.get("status") != "done" or not r.get("wbits"):
            continue
        v = vw[r["id"]]
        lrows = V.layer_rows(r)
        summ = (
            f"{r.get('mixed_label') or r['precision']} at {r['scale']} — {H.fmt(_pct(r.get('accuracy')))}%"
            + (f" — BRAM18 {H.fmt(r.get('est_bram18'))}" if r.get("est_bram18") is not None else "")
            + (f" ({100 * v['util_BRAM18']:.0f}%)" if v["util_BRAM18"] is not None else "")
            + (f" — LUT {H.fmt(r.get('est_lut'))}" if r.get("est_lut") is not None else "")
            + (f" — {H.fmt(round(v['fps']))} FPS" if v["fps"] else "")
            + (f" — max {H.fmt(round(v['max_fps']))} FPS" if v["max_fps"] else "")
            + (" — built" if r.get("hw_status") == "done" else "")
        )
        body = []
        if r.get("est_error"):
            body.append(f"<p class='bad'>{H.esc(r['est_error'])}</p>")
        if lrows:
            synth = any(l["synth_LUT"] is not None for l in lrows)
            body.append(_layer_table(lrows, f"layers-{r['id']}", synth))
            lim = next((l for l in lrows if l["limits"]), None)
            clk = v["clock"]
            if lim and clk:
                body.append(
                    f"<p>Throughput: {H.esc(lim['name'])} needs {H.fmt(lim['cycles'])} cycles per frame → "
                    f"{H.fmt(round(clk.mhz * 1e6 / lim['cycles']))} FPS at {clk.mhz:g} MHz; "
                    f"clock: {H.esc(clk.note)}.</p>"
                )
        mlayers = V.json_list(r.get("max_layers"))
        if mlayers and V.target_fps(r):
            ml = V.layer_rows(
                {"est_layers": r.get("max_layers"), "folding": r.get("max_folding"), "run_dir": r.get("run_dir")}
            )
            body.append("<h3>At the fastest folding that fits</h3>" + _layer_table(ml, f"maxlayers-{r['id']}", False))
        e = V.est_vs_synth(r, board)
        if e:
            cells = []
            for k in ("LUT", "FF", "BRAM18", "DSP", "cycles"):
                est, meas, err = e[k]
                if meas is not None:
                    cells.append(
                        f"{k} {H.fmt(est)} est vs {H.fmt(meas)} measured ({'n/a' if err is None else f'{err:+.1f}%'})"
                    )
            clk = e["clock"]
            fm = e["fmax_mhz"]
            cells.append(
                f"fmax {fm:.0f} MHz" + (f" — {clk.note}" if clk and clk.source == "fmax-proxy" else "")
                if fm
                else (clk.note if clk else "no fmax")
            )
            body.append("<p><b>Estimate vs synthesis:</b> " + H.esc("; ".join(cells)) + ".</p>")
        parts.append(
            f"<details class='point' id='pt-{r['id']}'><summary>{H.esc(summ)}</summary>{''.join(body)}</details>"
        )
    return "".join(parts)
