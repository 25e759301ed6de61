"""What the sweep report derives from the store's rows for a hardware engineer: the board's
context, two throughput views per point, clocks, utilization, per-layer breakdowns and the
estimate's error against synthesis. Pure functions of rows (flat dicts from
``Store.rows()``) and a :class:`~bitscale.boards.Board`; nothing here draws or writes.

Two throughput views of a point:

* **at target**: the folding the sweep chose for its FPS target (``fps_target``; 0 means
  the sweep had none and folded as fast as fits) — the ``est_*`` columns: what it costs to
  meet the target.
* **max**: the fastest folding that fits the board — the ``max_*`` columns the sweep stores
  beside the target view (equal to the target view when the sweep had no target). Its FPS
  is given at the design's clock (:func:`design_clock`): the measured fmax where the point
  was placed and routed, else the board's nominal clock, and always labelled which.

Guaranteed: missing data reads as None (a point without a hardware build, a store written
before the max view existed), never as an exception or a guessed number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

BOARD_TITLES = {
    "pynq-z1": "PYNQ-Z1",
    "zcu104": "ZCU104",
    "alveo-u250": "Alveo U250",
    "ulx3s-85f": "ULX3S-85F",
    "icebreaker": "iCEBreaker",
}
XILINX = ("xc7", "xcup")
RESOURCES = ("LUT", "FF", "BRAM18", "DSP")
BOARD_ATTR = {"LUT": "lut", "FF": "ff", "BRAM18": "bram", "DSP": "dsp"}


def board_title(name: str | None) -> str:
    if not name:
        return "?"
    return BOARD_TITLES.get(str(name).lower(), str(name).upper())


def get_board(name: str | None):
    if not name:
        return None
    from bitscale.boards import get
    from bitscale.errors import UserError

    try:
        return get(name)
    except UserError:  # a store written with a board this version does not know: no board context
        return None


def _json(v, default=None):
    if v is None or v == "":
        return default
    if isinstance(v, (dict, list)):
        return v
    try:
        return json.loads(v)
    except (TypeError, ValueError):
        return default


def json_obj(v) -> dict:
    """A JSON object column (str or already parsed) as a dict; {} when missing or not an object."""
    d = _json(v, {})
    return d if isinstance(d, dict) else {}


def json_list(v) -> list:
    """A JSON list column as a list; [] when missing or not a list."""
    d = _json(v, [])
    return d if isinstance(d, list) else []


def budget(board, resource: str) -> float | None:
    """The board's count of ``resource`` (BRAM18: the family's block-RAM primitive)."""
    return float(getattr(board, BOARD_ATTR[resource])) if board is not None else None


def utilization(value, board, resource: str) -> float | None:
    b = budget(board, resource)
    return (float(value) / b) if (value is not None and b) else None


# --- clocks ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    mhz: float
    source: str  # "fmax" (placed and routed), "fmax-proxy" (Xilinx: an ECP5 placement), "nominal"
    note: str  # the words shown beside the number


def design_clock(row: dict, board) -> Clock | None:
    """The clock a point's FPS is given at: its fmax where it was placed, else the board's."""
    if board is None:
        return None
    fmax = row.get("synth_fmax_mhz")
    syn = json_obj(row.get("synth_json"))
    xilinx = board.family in XILINX
    if fmax:
        if xilinx or (syn.get("family") and syn.get("family") != board.family):
            fam = syn.get("fmax_family") or syn.get("placed_family") or "ECP5"
            return Clock(
                float(fmax), "fmax-proxy", f"Xilinx: no open place-and-route; fmax from {str(fam).upper()} as a proxy"
            )
        return Clock(float(fmax), "fmax", f"fmax {fmax:.0f} MHz (nextpnr, {board.family})")
    if xilinx and row.get("hw_status") == "done":
        return Clock(
            board.clock_mhz, "nominal", f"nominal {board.clock_mhz:g} MHz (Xilinx: no open place-and-route, so no fmax)"
        )
    return Clock(board.clock_mhz, "nominal", f"nominal {board.clock_mhz:g} MHz")


# --- throughput views --------------------------------------------------------------------------


def target_fps(row: dict) -> float | None:
    t = row.get("fps_target")
    return float(t) if t else None


def max_view(row: dict) -> dict | None:
    """The fastest-folding view of a point at the board's nominal clock, or None when the
    store has none (an older store with an FPS target)."""
    if row.get("max_fps") is not None:
        return {
            "fps": row["max_fps"],
            "cycles": row.get("max_cycles"),
            "LUT": row.get("max_lut"),
            "FF": row.get("max_ff"),
            "BRAM18": row.get("max_bram18"),
            "DSP": row.get("max_dsp"),
        }
    if not target_fps(row) and row.get("est_fps") is not None:  # no target: the target view is the max
        return {
            "fps": row["est_fps"],
            "cycles": row.get("est_cycles"),
            "LUT": row.get("est_lut"),
            "FF": row.get("est_ff"),
            "BRAM18": row.get("est_bram18"),
            "DSP": row.get("est_dsp"),
        }
    return None


def views(row: dict, board) -> dict:
    """Everything the report shows about one point's throughput and cost."""
    clk = design_clock(row, board)
    mv = max_view(row)
    nominal = board.clock_mhz if board is not None else None
    scale = (clk.mhz / nominal) if (clk and nominal) else 1.0
    out = {
        "target_fps": target_fps(row),
        "fps": row.get("est_fps"),
        "fps_at_clock": row["est_fps"] * scale if row.get("est_fps") is not None else None,
        "latency_us": (row["est_latency_cycles"] / clk.mhz) if (clk and row.get("est_latency_cycles")) else None,
        "max_fps_nominal": mv["fps"] if mv else None,
        "max_fps": mv["fps"] * scale if mv and mv.get("fps") is not None else None,
        "max_bram18": mv.get("BRAM18") if mv else None,
        "max_lut": mv.get("LUT") if mv else None,
        "clock": clk,
    }
    for r in RESOURCES:
        v = row.get(f"est_{r.lower()}")
        out[f"util_{r}"] = utilization(v, board, r)
    out["fits"] = (
        all(out[f"util_{r}"] is None or out[f"util_{r}"] <= 1.0 for r in RESOURCES)
        if row.get("est_lut") is not None
        else None
    )
    return out


# --- per layer ----------------------------------------------------------------------------------


def _layer_bits(row: dict) -> dict:
    """Layer name -> (wbits, in_bits) from the store's layer JSON, else the run's network.json."""
    layers = json_list(row.get("est_layers"))
    bits = {
        l["name"]: (l.get("wbits"), l.get("abits", l.get("in_bits")))
        for l in layers
        if isinstance(l, dict) and l.get("wbits") is not None
    }
    if bits or not row.get("run_dir"):
        return bits
    net = json_obj(_read(Path(row["run_dir"]) / "network.json"))
    for l in net.get("layers", []) if isinstance(net, dict) else []:
        if isinstance(l, dict) and l.get("wbits"):
            bits[l.get("name")] = (l.get("wbits"), l.get("in_bits"))
    return bits


def _read(p: Path) -> str | None:
    try:
        return p.read_text()
    except OSError:
        return None


def synth_by_layer(row: dict, layers=()) -> dict:
    """Layer name -> {LUT, FF, BRAM18, DSP} summed over its synthesized modules, plus
    ``(rest)`` for the rest (the top's glue, input and output FIFOs); {} without a build.

    A layer ``L`` owns ``<top>.L`` and below, and its stream helpers ``<top>.L_fifo`` /
    ``<top>.L_dwc`` (the FIFO in front of a layer is part of its estimate). Without
    ``layers`` every first-level module is its own key."""
    syn = json_obj(row.get("synth_json"))
    mods = syn.get("modules")
    if not isinstance(mods, dict) or not mods:
        return {}
    top = syn.get("top", "bitscale_top")
    names = sorted((str(n) for n in layers if n), key=len, reverse=True)
    out: dict[str, dict] = {}
    for path, res in mods.items():
        parts = str(path).split(".")
        key = "(rest)"
        if len(parts) >= 2 and parts[0] == top:
            first = parts[1]
            if not names:
                key = first
            else:
                key = next((n for n in names if first == n or first.startswith(n + "_")), "(rest)")
        d = out.setdefault(key, {r: 0 for r in RESOURCES})
        for r in RESOURCES:
            d[r] += (res or {}).get(r) or 0
    return out


def layer_rows(row: dict) -> list[dict]:
    """The per-layer table of a point: bits, mode, PE/SIMD, cycles, LUT/FF/BRAM18/DSP, each
    one's share of the total, which layer limits throughput, and the synthesized numbers
    per layer where the build kept the hierarchy."""
    layers = [l for l in json_list(row.get("est_layers")) if isinstance(l, dict)]
    if not layers:
        return []
    bits = _layer_bits(row)
    syn = synth_by_layer(row, [l.get("name") for l in layers])
    # PE/SIMD/mode from the stored folding where the layer JSON lacks them
    fold = {f.get("name"): f for f in (json_obj(row.get("folding")).get("layers") or []) if isinstance(f, dict)}
    tot = {r: sum((l.get(r) or 0) for l in layers) for r in RESOURCES}
    slowest = max((l.get("cycles") or 0) for l in layers)
    out = []
    for l in layers:
        wb, ab = bits.get(l.get("name"), (None, None))
        f = fold.get(l.get("name"), {})
        d = {
            "name": l.get("name"),
            "kind": l.get("kind"),
            "wbits": wb,
            "abits": ab,
            "mode": l.get("mode", f.get("mode")),
            "pe": l.get("pe", f.get("pe")),
            "simd": l.get("simd", f.get("simd")),
            "cycles": l.get("cycles"),
            "bram_floor": l.get("bram_floor"),
            "limits": bool(slowest) and l.get("cycles") == slowest,
        }
        for r in RESOURCES:
            d[r] = l.get(r)
            d[f"{r}_share"] = (l.get(r) or 0) / tot[r] if tot[r] else None
            s = syn.get(l.get("name"))
            d[f"synth_{r}"] = s.get(r) if s else None
            d[f"err_{r}"] = pct_error(l.get(r), d[f"synth_{r}"])
        out.append(d)
    # What no layer holds (stream FIFOs, the top's glue, the design-level terms of the model):
    # the estimate's total minus its layers, beside Yosys' modules outside any layer.
    glue_est = {
        r: (row[f"est_{r.lower()}"] - tot[r]) if row.get(f"est_{r.lower()}") is not None else None for r in RESOURCES
    }
    if "(rest)" in syn or any(v for v in glue_est.values()):
        g = {
            "name": "(outside the layers)",
            "kind": "FIFOs, glue",
            "wbits": None,
            "abits": None,
            "mode": None,
            "pe": None,
            "simd": None,
            "cycles": None,
            "bram_floor": None,
            "limits": False,
        }
        for r in RESOURCES:
            g[r] = glue_est[r]
            g[f"{r}_share"] = None
            g[f"synth_{r}"] = syn.get("(rest)", {}).get(r) if syn else None
            g[f"err_{r}"] = pct_error(g[r], g[f"synth_{r}"])
        out.append(g)
    return out


def pct_error(estimate, measured) -> float | None:
    """(estimate - measured) / measured in percent; None where undefined (0 measured: 0 if equal)."""
    if estimate is None or measured is None:
        return None
    if measured == 0:
        return 0.0 if estimate == 0 else None
    return 100.0 * (float(estimate) - float(measured)) / float(measured)


def est_vs_synth(row: dict, board) -> dict | None:
    """Estimate vs Yosys/nextpnr/cocotb for a built point, or None when nothing was measured."""
    if not row.get("hw_status"):
        return None
    d = {"status": row.get("hw_status"), "error": row.get("hw_error")}
    for r in RESOURCES:
        e, m = row.get(f"est_{r.lower()}"), row.get(f"synth_{r.lower()}")
        d[r] = (e, m, pct_error(e, m))
    cm, cs = row.get("design_cycles_per_frame") or row.get("est_cycles"), row.get("sim_cycles_per_frame")
    d["cycles"] = (cm, cs, pct_error(cm, cs))
    d["clock"] = design_clock(row, board)
    d["fmax_mhz"] = row.get("synth_fmax_mhz")
    return d


# --- the board-level finding ---------------------------------------------------------------------


def board_finding(rows: list[dict], board, *, delta: float = 1.0) -> dict | None:
    """The cheapest design (BRAM18, then LUT) within ``delta`` accuracy points of the best
    accuracy that fits the board, at the sweep's FPS target, named with the board:
    "On PYNQ-Z1 at >= 10,000 FPS, w4a4 at 1/16 is the cheapest design within 1 pt of the
    best accuracy (BRAM18 61/280 = 22%, LUT 31%)"."""
    if board is None:
        return None
    cand = [
        r
        for r in rows
        if r.get("status") == "done"
        and r.get("wbits")
        and r.get("accuracy") is not None
        and str(r.get("board", board.name)).lower() == board.name
        and r.get("est_bram18") is not None
        and (utilization(r.get("est_bram18"), board, "BRAM18") or 0) <= 1
        and (utilization(r.get("est_lut"), board, "LUT") or 0) <= 1
    ]
    if not cand:
        return None
    best = max(cand, key=lambda r: r["accuracy"])
    near = [r for r in cand if r["accuracy"] >= best["accuracy"] - delta / 100.0 - 1e-12]
    c = min(near, key=lambda r: (r["est_bram18"], r.get("est_lut") or 0, -r["accuracy"]))
    targets = {target_fps(r) for r in cand}
    t = next(iter(targets)) if len(targets) == 1 else None
    if targets == {None}:
        where = "with the fastest folding that fits"
    elif t is not None:
        where = f"at >= {t:,.0f} FPS"
    else:
        where = "at the sweep's FPS targets"
    bt = board_title(board.name)
    ub, ul = utilization(c["est_bram18"], board, "BRAM18"), utilization(c.get("est_lut"), board, "LUT")
    pts = f"{delta:g} pt" + ("" if delta == 1 else "s")
    text = (
        f"On {bt} {where}, {c['precision']} at {c['scale']} is the cheapest design within {pts} of the best "
        f"accuracy ({board.bram_kind if board.bram_kind != 'RAMB18' else 'BRAM18'} "
        f"{c['est_bram18']:g}/{board.bram} = {100 * (ub or 0):.0f}%"
        + (f", LUT {100 * ul:.0f}%" if ul is not None else "")
        + (
            f"; {100 * c['accuracy']:.2f}%, the best accuracy that fits)"
            if c is best
            else f"; {100 * c['accuracy']:.2f}% vs the best {100 * best['accuracy']:.2f}%, {best['precision']} at "
            f"{best['scale']})"
        )
        + "."
    )
    return {
        "text": text,
        "id": c["id"],
        "best_id": best["id"],
        "board": board.name,
        "fps_target": t,
        "bram18": c["est_bram18"],
        "bram18_util": ub,
        "lut_util": ul,
        "accuracy": c["accuracy"],
        "best_accuracy": best["accuracy"],
    }
