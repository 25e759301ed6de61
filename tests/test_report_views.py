"""The report's derived numbers and drawing helpers on hand-made rows: the board-named finding,
the two throughput views and their clock, per-layer shares and the limiting layer, estimate vs
synthesis error, readable tick labels, one style per precision, scalable self-contained SVG."""

import json
import re

import pytest
from bitscale.boards import get as get_board
from hypothesis import given
from hypothesis import strategies as hst

from bitscale.report_figures import (
    Budget,
    Figure,
    Series,
    human,
    scatter_svg,
    style_for,
)
from bitscale.report_html import fmt, table
from bitscale.report_views import (
    board_finding,
    design_clock,
    est_vs_synth,
    layer_rows,
    pct_error,
    views,
)

PYNQ = get_board("pynq-z1")


def _row(i, prec, scale, acc, bram, lut, **kw):
    w, a = (int(x) for x in prec[1:].split("a"))
    return {
        "id": i,
        "precision": prec,
        "wbits": w,
        "abits": a,
        "scale": scale,
        "status": "done",
        "accuracy": acc,
        "est_bram18": bram,
        "est_lut": lut,
        "board": "pynq-z1",
        "fps_target": 10_000.0,
        **kw,
    }


def test_board_finding_names_board_target_and_utilization():
    rows = [
        _row(1, "w8a8", "1/16", 0.890, 120, 30_000),
        _row(2, "w4a4", "1/16", 0.884, 61, 16_492),
        _row(3, "w2a2", "1/16", 0.870, 40, 12_000),  # cheaper, but 2 points below the best
        _row(4, "w4a4", "1/8", 0.893, 300, 60_000),
    ]  # the most accurate, but over the board's budget
    f = board_finding(rows, PYNQ, delta=1.0)
    assert f["text"].startswith(
        "On PYNQ-Z1 at >= 10,000 FPS, w4a4 at 1/16 is the cheapest design within 1 pt "
        "of the best accuracy (BRAM18 61/280 = 22%, LUT 31%"
    )
    assert f["id"] == 2 and f["best_id"] == 1  # the over-budget point is not "the best"
    assert board_finding(rows, PYNQ, delta=3.0)["id"] == 3
    no_target = [{**r, "fps_target": 0.0} for r in rows]
    assert "with the fastest folding that fits" in board_finding(no_target, PYNQ)["text"]
    assert board_finding([], PYNQ) is None and board_finding(rows, None) is None


def test_views_clock_and_max_fps():
    base = _row(
        1, "w4a4", "1/16", 0.88, 61, 16_000, est_fps=12_000.0, est_latency_cycles=500, max_fps=80_000.0, max_bram18=140
    )
    v = views(base, PYNQ)
    assert v["max_fps"] == 80_000.0 and v["clock"].source == "nominal" and v["clock"].mhz == 100.0
    assert v["util_BRAM18"] == pytest.approx(61 / 280) and v["latency_us"] == pytest.approx(5.0)
    built = {**base, "hw_status": "done"}
    assert "Xilinx: no open place-and-route" in design_clock(built, PYNQ).note
    proxy = {**built, "synth_fmax_mhz": 150.0}
    c = design_clock(proxy, PYNQ)
    assert c.source == "fmax-proxy" and c.note == "Xilinx: no open place-and-route; fmax from ECP5 as a proxy"
    assert views(proxy, PYNQ)["max_fps"] == pytest.approx(120_000.0)  # at 150 MHz instead of 100
    ecp5 = get_board("ulx3s-85f")
    assert design_clock({**built, "synth_fmax_mhz": 120.0}, ecp5).source == "fmax"
    # no max view stored: with a target it is unknown, without one the target view is the max
    old = {k: v for k, v in base.items() if not k.startswith("max_")}
    assert views(old, PYNQ)["max_fps"] is None
    assert views({**old, "fps_target": 0.0}, PYNQ)["max_fps"] == 12_000.0


def test_layer_rows_shares_limit_and_synthesis():
    layers = [
        {
            "name": "dense0",
            "kind": "dense",
            "pe": 4,
            "simd": 8,
            "mode": "parallel",
            "wbits": 4,
            "abits": 8,
            "LUT": 300,
            "FF": 200,
            "BRAM18": 2,
            "DSP": 0,
            "cycles": 640,
            "bram_floor": 2,
        },
        {
            "name": "dense1",
            "kind": "dense",
            "pe": 2,
            "simd": 4,
            "mode": "bit-serial",
            "wbits": 4,
            "abits": 4,
            "LUT": 100,
            "FF": 50,
            "BRAM18": 0,
            "DSP": 1,
            "cycles": 2048,
            "bram_floor": 0,
        },
    ]
    syn = {
        "top": "bitscale_top",
        "modules": {
            "bitscale_top": {"LUT": 10, "FF": 5, "BRAM18": 0, "DSP": 0},
            "bitscale_top.dense0": {"LUT": 250, "FF": 210, "BRAM18": 2, "DSP": 0},
            "bitscale_top.dense0.mem": {"LUT": 30, "FF": 0, "BRAM18": 0, "DSP": 0},
            # the FIFO in front of a layer is the layer's; in/out FIFOs are not
            "bitscale_top.dense0_fifo.fifo": {"LUT": 20, "FF": 0, "BRAM18": 0, "DSP": 0},
            "bitscale_top.in_fifo.fifo": {"LUT": 5, "FF": 0, "BRAM18": 0, "DSP": 0},
            "bitscale_top.dense1": {"LUT": 125, "FF": 40, "BRAM18": 0, "DSP": 1},
        },
    }
    rows = layer_rows({"est_layers": json.dumps(layers), "synth_json": json.dumps(syn), "est_lut": 460})
    d0, d1, glue = rows
    # outside the layers: the estimate's total minus its layers, beside Yosys' top-level cells
    assert glue["name"] == "(outside the layers)" and glue["LUT"] == 60 and glue["synth_LUT"] == 15
    assert glue["FF"] is None and not glue["limits"]
    assert d0["LUT_share"] == pytest.approx(0.75) and d0["BRAM18_share"] == 1.0 and d1["DSP_share"] == 1.0
    assert not d0["limits"] and d1["limits"]
    assert d0["synth_LUT"] == 300 and d0["err_LUT"] == pytest.approx(0.0)  # submodules summed into the layer
    assert d1["err_LUT"] == pytest.approx(-20.0) and d0["err_BRAM18"] == 0.0
    assert (d1["wbits"], d1["abits"], d1["mode"], d1["pe"], d1["simd"]) == (4, 4, "bit-serial", 2, 4)
    assert pct_error(5, 0) is None and pct_error(0, 0) == 0.0 and pct_error(None, 3) is None
    e = est_vs_synth(
        {
            "hw_status": "done",
            "est_lut": 1100,
            "synth_lut": 1000,
            "est_bram18": 2,
            "synth_bram18": 2,
            "design_cycles_per_frame": 123,
            "sim_cycles_per_frame": 123,
        },
        PYNQ,
    )
    assert e["LUT"] == (1100, 1000, pytest.approx(10.0)) and e["BRAM18"][2] == 0.0 and e["cycles"][2] == 0.0
    assert est_vs_synth({}, PYNQ) is None


@given(hst.floats(min_value=0, max_value=5e9, allow_nan=False))
def test_tick_labels_are_plain(v):
    s = human(v)
    assert "e" not in s and "^" not in s and len(s) <= 8, s


def test_human_and_fmt_examples():
    assert [human(v) for v in (0, 3, 280, 8e4, 1.5e6, 0.5)] == ["0", "3", "280", "80k", "1.5M", "0.5"]
    assert fmt(48828.125) == "48,828" and fmt(None) == "" and fmt(True) == "yes" and fmt(0.00123) == "0.00123"


def test_styles_distinct_and_extensible():
    tied = ["w1a1", "w2a2", "w4a4", "w8a8", "w16a16", "float"]
    st = [style_for(p) for p in tied]
    assert len({s.color for s in st}) == len(tied) and len({s.marker for s in st}) == len(tied)
    assert style_for("w2a4").color == style_for("w2a2").color and style_for("w2a4").marker != style_for("w2a2").marker
    from bitscale import report_figures as F

    F.SPECIAL_STYLES["mixed"] = F.Style("#000000", "P")
    try:
        assert style_for("mixed").marker == "P"
    finally:
        del F.SPECIAL_STYLES["mixed"]


@pytest.mark.slow  # matplotlib: ~6 s on the loaded 2-core machine
def test_svg_is_scalable_self_contained_and_ids_are_unique():
    s = (Series("w4a4", (1.0, 10.0, 100.0), (0.8, 0.85, 0.9), ("1/32", "1/16", "1/8"), (1, 2, 3)),)
    fa = Figure(
        "fa",
        "A",
        "BRAM18",
        "acc",
        s,
        logx=True,
        budget=Budget(280, "PYNQ-Z1: 280 RAMB18"),
        measured=((12.0, 0.85, "w4a4"),),
        front=((1.0, 0.8), (100.0, 0.9)),
    )
    a = scatter_svg(fa)
    b = scatter_svg(Figure("fb", "B", "x", "acc", s, logx=True))
    head = a[: a.index(">")]
    assert a.startswith("<svg") and "viewBox" in head and " width=" not in head and " height=" not in head
    assert "<style" not in a and "<?xml" not in a and "http://" not in a.replace("http://www.w3.org", "")
    ids_a, ids_b = set(re.findall(r'id="([^"]+)"', a)), set(re.findall(r'id="([^"]+)"', b))
    assert ids_a and all(i.startswith("fa-") for i in ids_a) and not ids_a & ids_b
    for ref in re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', a):
        assert (ref[0] or ref[1]) in ids_a
    assert ">1/16<" in a and "utilization of the board" in a and "100%" in a
    assert scatter_svg(fa) == a  # deterministic


def test_table_escapes_and_carries_sort_values():
    t = table(["name", "n"], [["<b>x</b>", 1234.5], ["y", None]], tid="t1", row_classes=["pareto", None])
    assert "&lt;b&gt;x&lt;/b&gt;" in t and 'data-v="1234.5"' in t and '<tr class="pareto">' in t
    assert 'data-table="t1"' in t
