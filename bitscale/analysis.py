"""Analysis of sweep results: Pareto fronts, the Pareto points to build, and Su et al.'s findings.

Used by both the sweep (which points go to hardware) and the report (plots,
frontier flags, findings); it reads plain row dicts (as bitscale.store
returns them) and imports nothing heavier than the standard library.

Findings (Su et al., ARC 2018): the target accuracy is the reference
precision's best accuracy (8-bit by default) minus ``delta`` percentage
points. For each precision: the smallest swept width scale reaching the
target, and its weight bits, BRAM18 and LUT relative to the reference at its
own smallest such width; and how many times the reference's width each
precision needs (the paper's "2-bit needs ~2x the width").

Guaranteed: pure functions of their inputs (``annotate`` adds columns to the rows it is given).
"""

from __future__ import annotations

import math
from fractions import Fraction


# --- Pareto ------------------------------------------------------------------------------------


def pareto_front(rows: list[dict], x: str, y: str, *, x_better: str = "low", key: str = "id") -> list:
    """Keys of the rows not dominated in (x, y): y is maximized; x minimized (``low``) or
    maximized (``high``). Ordered from the best x. Rows missing x or y are ignored;
    of exact duplicates the first is kept."""
    pts = [r for r in rows if r.get(x) is not None and r.get(y) is not None]
    sign = 1 if x_better == "low" else -1
    pts.sort(key=lambda r: (sign * r[x], -r[y]))
    out, best = [], -math.inf
    for r in pts:
        if r[y] > best:
            out.append(r[key])
            best = r[y]
    return out


# --- rows ------------------------------------------------------------------------------------------

MIXED = "mixed"  # the precision label of every searched mixed point (its per-layer bits: ``bits``)


def precision_label(wbits, abits) -> str:
    if wbits is not None and wbits < 0:  # bitscale.store.mixed_key
        return MIXED
    return "float" if not wbits else f"w{wbits}a{abits}"


def _norm_acc(a):
    """Accuracy as a float; always a fraction (bitscale.results.TrainResult checks it at the stage)."""
    return None if a is None else float(a)


def annotate(rows: list[dict]) -> list[dict]:
    for r in rows:
        r["precision"] = precision_label(r.get("wbits"), r.get("abits"))
        r["accuracy"] = _norm_acc(r.get("accuracy"))
        if r.get("scale_value") is None and r.get("scale"):
            r["scale_value"] = float(Fraction(r["scale"]))
        # per-layer bits: a searched point's own label, a uniform point's precision
        r["bits"] = r.get("mixed_label") or r["precision"]
    # the uniform frontier (mixed points are drawn beside it and compared with it: mixed_findings)
    done = [r for r in rows if r.get("status") == "done" and r.get("wbits") and r["precision"] != MIXED]
    fb = set(pareto_front(done, "est_bram18", "accuracy", x_better="low"))
    ff = set(pareto_front(done, "est_fps", "accuracy", x_better="high"))
    for r in rows:
        r["pareto_bram18"] = r["id"] in fb
        r["pareto_fps"] = r["id"] in ff
    return rows


def _prec_order(p: str):
    if p == "float":
        return (1, 99, 99)
    w, a = p[1:].split("a")
    return (0, int(w), int(a))


# --- findings ----------------------------------------------------------------------------------


def findings(rows: list[dict], *, delta: float = 1.0, reference: str | None = "w8a8") -> dict:
    """Su et al.'s comparison, from ``rows`` (done points, accuracy as a fraction).

    ``delta``: percentage points below the reference's best accuracy that count
    as "reaching" it. ``reference``: a precision label; when absent from the
    data, the widest integer precision present. Returns a dict with
    ``reference``, ``target`` (fraction), ``per_precision`` (a list of dicts)
    and ``statements`` (sentences for the report)."""
    done = [
        r for r in rows if r.get("status") == "done" and r.get("accuracy") is not None and r.get("precision") != MIXED
    ]
    groups: dict[str, list[dict]] = {}
    for r in done:
        groups.setdefault(r["precision"], []).append(r)
    if not groups:
        return {
            "reference": None,
            "target": None,
            "per_precision": [],
            "statements": ["No finished points yet: nothing to compare."],
        }
    ints = sorted((p for p in groups if p != "float"), key=_prec_order)
    ref = reference if reference in groups else (ints[-1] if ints else "float")
    best_ref = max(r["accuracy"] for r in groups[ref])
    target = best_ref - delta / 100.0

    def reach(p):
        pts = sorted(groups[p], key=lambda r: r["scale_value"])
        for i, r in enumerate(pts):
            if r["accuracy"] >= target - 1e-12:
                return r, _interp_width(pts, i, target)
        return None, None

    ref_row, ref_w = reach(ref)
    per = []
    for p in sorted(groups, key=_prec_order):
        r, w_interp = reach(p)
        best = max(groups[p], key=lambda x: x["accuracy"])
        d = {
            "precision": p,
            "reaches": r is not None,
            "best_accuracy": best["accuracy"],
            "best_scale": best["scale"],
            "scale": r["scale"] if r else None,
            "scale_value": r["scale_value"] if r else None,
            "accuracy": r["accuracy"] if r else None,
            "width_interp": w_interp,
            "weight_bits": r.get("weight_bits") if r else None,
            "bram18": r.get("est_bram18") if r else None,
            "lut": r.get("est_lut") if r else None,
            "fps": r.get("est_fps") if r else None,
        }
        for k, ref_k in (
            ("width_x", "scale_value"),
            ("weight_bits_x", "weight_bits"),
            ("bram18_x", "est_bram18"),
            ("lut_x", "est_lut"),
        ):
            mine = (
                d["scale_value"]
                if k == "width_x"
                else d[{"weight_bits_x": "weight_bits", "bram18_x": "bram18", "lut_x": "lut"}[k]]
            )
            theirs = ref_row.get(ref_k) if ref_row else None
            d[k] = (mine / theirs) if (mine is not None and theirs) else None
        d["width_interp_x"] = (w_interp / ref_w) if (w_interp and ref_w) else None
        per.append(d)

    st = [
        f"Target accuracy: {100 * target:.2f}% = the best {ref} accuracy ({100 * best_ref:.2f}%) "
        f"minus {delta:g} point{'s' if delta != 1 else ''}."
    ]
    for d in per:
        if d["precision"] == ref:
            st.append(f"{ref} (reference) reaches it at width scale {d['scale']}{_cost_str(d, absolute=True)}.")
        elif d["reaches"]:
            interp = f" (~{d['width_interp_x']:.2f}x interpolated)" if d["width_interp_x"] else ""
            st.append(
                f"{d['precision']} reaches it at width scale {d['scale']}: "
                f"{_x(d['width_x'])} the reference width{interp}{_cost_str(d)}."
            )
        else:
            st.append(
                f"{d['precision']} does not reach it at any swept width (best "
                f"{100 * d['best_accuracy']:.2f}% at scale {d['best_scale']})."
            )
    two = next((d for d in per if d["precision"] == "w2a2"), None)
    if two and ref != "w2a2":
        if two["reaches"] and two["width_x"]:
            st.append(
                f"Su et al. found 2-bit needs ~2x the width of high precision for equal accuracy; "
                f"here w2a2 needs {_x(two['width_x'])} the width of {ref}"
                + (f" (~{two['width_interp_x']:.2f}x interpolated on log width)" if two["width_interp_x"] else "")
                + "."
            )
        else:
            st.append(
                f"Su et al. found 2-bit needs ~2x the width of high precision; here w2a2 does not "
                f"reach the target within the swept widths (so it needs more than "
                f"{_x(max(r['scale_value'] for r in groups['w2a2']) / ref_row['scale_value']) if ref_row else '?'}"
                f" the width of {ref})."
            )
    cheapest = [d for d in per if d["reaches"] and d["bram18"] is not None]
    if cheapest:
        c = min(cheapest, key=lambda d: (d["bram18"], d["lut"] or 0))
        st.append(
            f"Cheapest in BRAM18 at the target: {c['precision']} at scale {c['scale']} "
            f"({c['bram18']:g} BRAM18, {_n(c['lut'])} LUT, {_n(c['weight_bits'])} weight bits)."
        )
    return {
        "reference": ref,
        "target": target,
        "delta": delta,
        "best_reference": best_ref,
        "per_precision": per,
        "statements": st,
    }


def _layer_bits(r: dict) -> list[tuple[str, int, int]]:
    """(layer name, wbits, abits entering it) per compute layer of a row, from its estimate."""
    import json

    layers = r.get("est_layers")
    try:
        layers = json.loads(layers) if isinstance(layers, str) else (layers or [])
    except ValueError:
        layers = []
    wb = r.get("mixed_wbits")
    ab = r.get("mixed_abits")
    wb = json.loads(wb) if isinstance(wb, str) else wb
    ab = json.loads(ab) if isinstance(ab, str) else ab
    names = [l.get("name", f"layer{i}") for i, l in enumerate(layers)]
    if wb and ab:
        names = (names + [f"layer{i}" for i in range(len(names), len(wb))])[: len(wb)]
        return list(zip(names, wb, ab))
    return [(l.get("name", f"layer{i}"), l.get("wbits"), l.get("abits")) for i, l in enumerate(layers)]


def mixed_findings(rows: list[dict]) -> dict:
    """Where the searched mixed points beat the uniform ones, from ``rows`` (annotated, done points).

    Per mixed point (same model, dataset, board and FPS target as the uniform points it is compared
    with): the best uniform accuracy within its BRAM18 (accuracy at equal BRAM18), the least BRAM18 any
    uniform point reaching its accuracy needs (BRAM18 at equal accuracy), and its per-layer bits.
    Returns ``{"points": [...], "statements": [...]}`` (no mixed points: both empty)."""
    done = [
        r
        for r in rows
        if r.get("status") == "done" and r.get("accuracy") is not None and r.get("est_bram18") is not None
    ]
    mixed = [r for r in done if r.get("precision") == MIXED]
    if not mixed:
        return {"points": [], "statements": []}

    def ctx(r):
        return (r.get("model"), r.get("dataset"), r.get("board"), r.get("fps_target"))

    uniform = [r for r in done if r.get("wbits") and r.get("precision") not in (MIXED, "float")]
    out, st = [], []
    seen = set()
    for m in sorted(mixed, key=lambda r: (r.get("scale_value") or 0, r["est_bram18"], -r["accuracy"])):
        if m.get("run_dir") and m["run_dir"] in seen:
            continue
        seen.add(m.get("run_dir"))
        pool = [u for u in uniform if ctx(u) == ctx(m)]
        within = [u for u in pool if u["est_bram18"] <= m["est_bram18"]]
        best = max(within, key=lambda u: (u["accuracy"], -u["est_bram18"])) if within else None
        reach = [u for u in pool if u["accuracy"] >= m["accuracy"]]
        cheapest = min(reach, key=lambda u: (u["est_bram18"], -u["accuracy"])) if reach else None
        layers = _layer_bits(m)
        d = {
            "id": m["id"],
            "scale": m.get("scale"),
            "bits": m.get("bits"),
            "accuracy": m["accuracy"],
            "bram18": m["est_bram18"],
            "budget_bram18": m.get("mixed_budget_bram18"),
            "layers": [{"name": n, "wbits": w, "abits": a} for n, w, a in layers],
            "best_uniform_within": None
            if best is None
            else {
                "id": best["id"],
                "precision": best["precision"],
                "scale": best.get("scale"),
                "accuracy": best["accuracy"],
                "bram18": best["est_bram18"],
            },
            "gain_pt": None if best is None else 100 * (m["accuracy"] - best["accuracy"]),
            "cheapest_uniform_reaching": None
            if cheapest is None
            else {
                "id": cheapest["id"],
                "precision": cheapest["precision"],
                "scale": cheapest.get("scale"),
                "accuracy": cheapest["accuracy"],
                "bram18": cheapest["est_bram18"],
            },
            "bram18_x": (m["est_bram18"] / cheapest["est_bram18"]) if cheapest and cheapest["est_bram18"] else None,
        }
        d["beats_uniform"] = bool(
            (d["gain_pt"] is not None and d["gain_pt"] > 0) or (d["bram18_x"] is not None and d["bram18_x"] < 1)
        )
        out.append(d)
        what = (
            f"Mixed {d['bits']} (scale {d['scale']}, {d['bram18']:g} BRAM18"
            + (f", searched under {d['budget_bram18']:g}" if d["budget_bram18"] is not None else "")
            + f"): {100 * d['accuracy']:.2f}%"
        )
        if best is not None:
            what += (
                f"; at equal BRAM18 the best uniform point is {best['precision']} at scale {best.get('scale')} "
                f"({100 * best['accuracy']:.2f}% at {best['est_bram18']:g}): {d['gain_pt']:+.2f} pt"
            )
        else:
            what += "; no uniform point fits within its BRAM18"
        if cheapest is not None:
            what += (
                f"; at equal accuracy uniform needs {cheapest['est_bram18']:g} BRAM18 "
                f"({cheapest['precision']} at scale {cheapest.get('scale')}), mixed {m['est_bram18']:g}"
                + (f" ({_x(d['bram18_x'])})" if d["bram18_x"] is not None else "")
            )
        else:
            what += "; no uniform point reaches its accuracy"
        if layers:
            what += ". Layer bits (w/a): " + ", ".join(f"{n} {w}/{a}" for n, w, a in layers)
        st.append(what + ".")
    wins = [d for d in out if d["gain_pt"] is not None and d["gain_pt"] > 0]
    saves = [d for d in out if d["bram18_x"] is not None and d["bram18_x"] < 1]
    head = (
        f"Mixed precision (searched): {len(out)} point(s); more accurate than every uniform point "
        f"within the same BRAM18 on {len(wins)}"
    )
    if wins:
        b = max(wins, key=lambda d: d["gain_pt"])
        head += f" (best {b['gain_pt']:+.2f} pt, {b['bits']} at {b['bram18']:g} BRAM18)"
    head += f"; equal accuracy with less BRAM18 than any uniform point on {len(saves)}"
    if saves:
        b = min(saves, key=lambda d: d["bram18_x"])
        head += f" (least {_x(b['bram18_x'])}, {b['bits']})"
    firstlast = [d for d in out if len(d["layers"]) >= 3]
    if firstlast:

        def mean(v):
            return sum(v) / len(v)

        edge = mean([mean([d["layers"][0]["wbits"], d["layers"][-1]["wbits"]]) for d in firstlast])
        mid = mean([mean([l["wbits"] for l in d["layers"][1:-1]]) for d in firstlast])
        head += f". Mean weight bits: first/last layers {edge:.2g}, the layers between {mid:.2g}"
    return {"points": out, "statements": [head + "."] + st}


def _interp_width(pts, i, target):
    """Width where accuracy crosses ``target``, linear in log2(width) between two swept points."""
    r = pts[i]
    if i == 0:
        return r["scale_value"]
    q = pts[i - 1]
    if r["accuracy"] <= q["accuracy"]:
        return r["scale_value"]
    t = (target - q["accuracy"]) / (r["accuracy"] - q["accuracy"])
    t = min(max(t, 0.0), 1.0)
    return 2 ** (math.log2(q["scale_value"]) + t * (math.log2(r["scale_value"]) - math.log2(q["scale_value"])))


def _x(v):
    return "?" if v is None else f"{v:.3g}x"


def _n(v):
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _cost_str(d, absolute=False):
    if absolute:
        parts = [
            f"{_n(d['weight_bits'])} weight bits" if d["weight_bits"] is not None else None,
            f"{d['bram18']:g} BRAM18" if d["bram18"] is not None else None,
            f"{_n(d['lut'])} LUT" if d["lut"] is not None else None,
        ]
    else:
        parts = [
            f"{_x(d['weight_bits_x'])} the weight bits" if d["weight_bits_x"] else None,
            f"{_x(d['bram18_x'])} the BRAM18" if d["bram18_x"] else None,
            f"{_x(d['lut_x'])} the LUTs" if d["lut_x"] else None,
        ]
    parts = [p for p in parts if p]
    return (": " if absolute else ", ") + ", ".join(parts) if parts else ""


def pareto_hw_points(rows: list[dict], limit: int | None = None) -> list[int]:
    """Ids of the Pareto points: max accuracy vs min BRAM18, and max accuracy vs max FPS.

    With ``limit``, an evenly spread subset along BRAM18 (cheapest and most
    accurate always kept)."""
    # mixed points too (wbits < 0): a searched point on the frontier is built like any other
    cand = [
        r
        for r in rows
        if r.get("status") == "done"
        and r.get("wbits")
        and r.get("accuracy") is not None
        and r.get("est_bram18") is not None
    ]
    ids = set(pareto_front(cand, "est_bram18", "accuracy", x_better="low"))
    ids |= set(pareto_front([r for r in cand if r.get("est_fps")], "est_fps", "accuracy", x_better="high"))
    chosen = sorted((r for r in cand if r["id"] in ids), key=lambda r: (r["est_bram18"], -r["accuracy"]))
    if limit is not None and len(chosen) > limit:
        if limit == 1:
            chosen = [max(chosen, key=lambda r: r["accuracy"])]
        else:
            idx = sorted({round(i * (len(chosen) - 1) / (limit - 1)) for i in range(limit)})
            chosen = [chosen[i] for i in idx]
    return [r["id"] for r in chosen]
