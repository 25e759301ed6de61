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

def precision_label(wbits, abits) -> str:
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
    done = [r for r in rows if r.get("status") == "done" and r.get("wbits")]
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
    done = [r for r in rows if r.get("status") == "done" and r.get("accuracy") is not None]
    groups: dict[str, list[dict]] = {}
    for r in done:
        groups.setdefault(r["precision"], []).append(r)
    if not groups:
        return {"reference": None, "target": None, "per_precision": [],
                "statements": ["No finished points yet: nothing to compare."]}
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
        d = {"precision": p, "reaches": r is not None, "best_accuracy": best["accuracy"],
             "best_scale": best["scale"], "scale": r["scale"] if r else None,
             "scale_value": r["scale_value"] if r else None, "accuracy": r["accuracy"] if r else None,
             "width_interp": w_interp, "weight_bits": r.get("weight_bits") if r else None,
             "bram18": r.get("est_bram18") if r else None, "lut": r.get("est_lut") if r else None,
             "fps": r.get("est_fps") if r else None}
        for k, ref_k in (("width_x", "scale_value"), ("weight_bits_x", "weight_bits"),
                         ("bram18_x", "est_bram18"), ("lut_x", "est_lut")):
            mine = d["scale_value"] if k == "width_x" else d[{"weight_bits_x": "weight_bits",
                                                                 "bram18_x": "bram18",
                                                                 "lut_x": "lut"}[k]]
            theirs = ref_row.get(ref_k) if ref_row else None
            d[k] = (mine / theirs) if (mine is not None and theirs) else None
        d["width_interp_x"] = (w_interp / ref_w) if (w_interp and ref_w) else None
        per.append(d)

    st = [f"Target accuracy: {100 * target:.2f}% = the best {ref} accuracy ({100 * best_ref:.2f}%) "
          f"minus {delta:g} point{'s' if delta != 1 else ''}."]
    for d in per:
        if d["precision"] == ref:
            st.append(f"{ref} (reference) reaches it at width scale {d['scale']}"
                      f"{_cost_str(d, absolute=True)}.")
        elif d["reaches"]:
            interp = f" (~{d['width_interp_x']:.2f}x interpolated)" if d["width_interp_x"] else ""
            st.append(f"{d['precision']} reaches it at width scale {d['scale']}: "
                      f"{_x(d['width_x'])} the reference width{interp}{_cost_str(d)}.")
        else:
            st.append(f"{d['precision']} does not reach it at any swept width (best "
                      f"{100 * d['best_accuracy']:.2f}% at scale {d['best_scale']}).")
    two = next((d for d in per if d["precision"] == "w2a2"), None)
    if two and ref != "w2a2":
        if two["reaches"] and two["width_x"]:
            st.append(f"Su et al. found 2-bit needs ~2x the width of high precision for equal accuracy; "
                      f"here w2a2 needs {_x(two['width_x'])} the width of {ref}"
                      + (f" (~{two['width_interp_x']:.2f}x interpolated on log width)"
                         if two["width_interp_x"] else "") + ".")
        else:
            st.append(f"Su et al. found 2-bit needs ~2x the width of high precision; here w2a2 does not "
                      f"reach the target within the swept widths (so it needs more than "
                      f"{_x(max(r['scale_value'] for r in groups['w2a2']) / ref_row['scale_value']) if ref_row else '?'}"
                      f" the width of {ref}).")
    cheapest = [d for d in per if d["reaches"] and d["bram18"] is not None]
    if cheapest:
        c = min(cheapest, key=lambda d: (d["bram18"], d["lut"] or 0))
        st.append(f"Cheapest in BRAM18 at the target: {c['precision']} at scale {c['scale']} "
                  f"({c['bram18']:g} BRAM18, {_n(c['lut'])} LUT, {_n(c['weight_bits'])} weight bits).")
    return {"reference": ref, "target": target, "delta": delta, "best_reference": best_ref,
            "per_precision": per, "statements": st}


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
        parts = [f"{_n(d['weight_bits'])} weight bits" if d["weight_bits"] is not None else None,
                 f"{d['bram18']:g} BRAM18" if d["bram18"] is not None else None,
                 f"{_n(d['lut'])} LUT" if d["lut"] is not None else None]
    else:
        parts = [f"{_x(d['weight_bits_x'])} the weight bits" if d["weight_bits_x"] else None,
                 f"{_x(d['bram18_x'])} the BRAM18" if d["bram18_x"] else None,
                 f"{_x(d['lut_x'])} the LUTs" if d["lut_x"] else None]
    parts = [p for p in parts if p]
    return (": " if absolute else ", ") + ", ".join(parts) if parts else ""


def pareto_hw_points(rows: list[dict], limit: int | None = None) -> list[int]:
    """Ids of the Pareto points: max accuracy vs min BRAM18, and max accuracy vs max FPS.

    With ``limit``, an evenly spread subset along BRAM18 (cheapest and most
    accurate always kept)."""
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
