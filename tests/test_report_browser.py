"""The sweep report in a real browser: Debian's headless Chromium, driven through chromedriver
(tests/chromium.py), opens a report built from the fake stages (tests/test_sweep_fakes.py)
and checks what a reader gets — no console errors, no network request, tables that sort and
filter, plots that render (pixels, not just elements), a figure that opens large, a drill-down
that opens from its link. A full-page screenshot and one per figure are saved as test
artifacts under ``out/test-artifacts/report/`` (or ``$BITSCALE_TEST_ARTIFACTS/report/``).

Skipped, with the reason, only where no Chromium/chromedriver is installed
(scripts/setup.sh installs Debian's ``chromium`` and ``chromium-driver``)."""

import io
import json
import os
from pathlib import Path

import chromium
import pytest
import test_sweep_fakes as fakes
from bitscale.hw.folding import default_folding
from bitscale.nn import ir

from bitscale.report import write_report
from bitscale.report_figures import OKABE_ITO, style_for
from bitscale.sweep import Stages, SweepSpec, run_sweep

ROOT = Path(__file__).resolve().parents[1]
TARGET = 20_000.0


def fold_for_target(net, board, target_fps):
    """Like the real auto-folder in shape: a target gets a small (cheap, slow) folding, no target
    the fastest one (so the sweep's two throughput views differ)."""
    return default_folding(net, max_pe=2, max_simd=4) if target_fps else default_folding(net, max_pe=16, max_simd=32)


def synth_per_layer(build_dir, family, board, log=None):
    """The fake synthesis, with a per-module breakdown named after the layers (as Yosys keeps it)."""
    net = ir.load(Path(build_dir))
    mods = {
        f"bitscale_top.{l.name}": {"LUT": 300 + 10 * i, "FF": 250, "BRAM18": 1 if i == 0 else 0, "DSP": 0}
        for i, l in enumerate(net.compute_layers)
    }
    mods["bitscale_top"] = {"LUT": 40, "FF": 60, "BRAM18": 0, "DSP": 0}
    tot = {k: sum(m[k] for m in mods.values()) for k in ("LUT", "FF", "BRAM18", "DSP")}
    return {
        "format": "bitscale.Synth",
        "family": family,
        "board": board,
        "top": "bitscale_top",
        "fmax_mhz": None,
        **tot,
        "modules": mods,
    }


def _stages():
    s = fakes.stages()
    return Stages(
        **{**{k: getattr(s, k) for k in s.__dataclass_fields__}, "auto_fold": fold_for_target, "synth": synth_per_layer}
    )


def _artifacts() -> Path:
    d = Path(os.environ.get("BITSCALE_TEST_ARTIFACTS", ROOT / "out" / "test-artifacts")) / "report"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _non_white(png: bytes) -> tuple[float, set[str]]:
    """Fraction of pixels that are not (near) white, and which Okabe-Ito colours appear."""
    from PIL import Image

    im = Image.open(io.BytesIO(png)).convert("RGB")
    counts = im.getcolors(maxcolors=im.width * im.height)  # [(count, (r, g, b))]
    ink = sum(n for n, c in counts if min(c) < 235) / (im.width * im.height)
    want = {name: tuple(int(h[i : i + 2], 16) for i in (1, 3, 5)) for name, h in OKABE_ITO.items() if name != "black"}
    seen = set()
    colors = {c for _, c in counts}
    for name, (r0, g0, b0) in want.items():
        if any(abs(r - r0) + abs(g - g0) + abs(b - b0) < 24 for r, g, b in colors):
            seen.add(name)
    return ink, seen


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "sw"
    spec = SweepSpec(
        precisions=((1, 1), (2, 2), (4, 4), (8, 8), (0, 0)),
        scales=("1/256", "1/128", "1/64"),
        epochs=1,
        fps=TARGET,
        hw=True,
        hw_max=2,
    )
    s = run_sweep(spec, out, stages=_stages(), quiet_points=True, log=lambda m: None)
    assert s["done"] == 15 and s["hw"]["done"] == 2
    res = write_report(out, log=lambda m: None)
    return out, res


@pytest.mark.slow
def test_report_content_names_the_board_and_both_views(report):
    out, res = report
    f = res["findings"]
    # The first finding names the board, the target and the utilization.
    first = f["statements"][0]
    assert first.startswith("On PYNQ-Z1 at >= 20,000 FPS, ") and "/280 = " in first and "LUT " in first
    assert f["board_finding"]["board"] == "pynq-z1"
    html = (out / "report.html").read_text()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    # Two throughput views: the fastest fit is faster than the target's folding for every point.
    from bitscale.report import load_rows

    rows, _ = load_rows(out)
    ints = [r for r in rows if r["wbits"]]
    assert all(r["max_fps"] > r["est_fps"] for r in ints)
    assert all(r["max_bram18"] is not None and r["max_layers"] for r in ints)
    # One style per precision, distinct in colour and marker for the tied grid.
    st = [style_for(p) for p in ("w1a1", "w2a2", "w4a4", "w8a8", "float")]
    assert len({s.color for s in st}) == 5 and len({s.marker for s in st}) == 5
    # Readable ticks: no "10^" / mathtext exponents in the figures.
    for name in ("acc_vs_max_fps", "acc_vs_bram18", "acc_vs_lut", "acc_vs_weight_bits"):
        svg = (out / f"{name}.svg").read_text()
        assert "10^" not in svg and "\\times" not in svg and "×10" not in svg, name


@pytest.mark.browser
@pytest.mark.skipif(chromium.unavailable() is not None, reason=str(chromium.unavailable()))
def test_report_in_headless_chromium(report):
    out, _ = report
    art = _artifacts()
    with chromium.Browser(width=1400, height=1000) as b:
        b.open(out / "report.html")
        # 1. no console errors or warnings, and nothing fetched (the page is one file)
        logs = b.console()
        assert [e for e in logs if e["level"] in ("SEVERE", "WARNING")] == [], logs
        assert b.js("return performance.getEntriesByType('resource').length") == 0

        # 2. sorting a table by a column reorders it (numbers as numbers, both directions)
        col = b.js("""const ths=[...document.querySelectorAll('#points-table thead th')];
                      return ths.findIndex(th => th.textContent.trim() === 'acc %');""")
        assert col >= 0

        def column():
            return b.js(
                """return [...document.querySelectorAll('#points-table tbody tr')]
                           .map(r => r.cells[arguments[0]].textContent.trim());""",
                col,
            )

        before = column()
        b.click(f"#points-table thead th:nth-child({col + 1})")
        asc = column()
        nums = [float(v) for v in asc if v]
        assert nums == sorted(nums) and asc != before and sorted(asc) == sorted(before), (before, asc)
        b.click(f"#points-table thead th:nth-child({col + 1})")
        desc = [float(v) for v in column() if v]
        assert desc == sorted(desc, reverse=True), desc
        assert (
            b.js(
                "return document.querySelector(`#points-table thead th:nth-child(${arguments[0]})`)"
                ".getAttribute('aria-sort')",
                col + 1,
            )
            == "descending"
        )

        # 3. filtering keeps the matching rows only; the Pareto rows are highlighted
        b.type("input[type=search][data-table=points-table]", "w4a4")
        vis = b.js("""return [...document.querySelectorAll('#points-table tbody tr')].filter(r => !r.hidden)
                      .map(r => r.cells[0].textContent.trim());""")
        assert vis == ["w4a4"] * 3, vis
        b.js(
            "const i=document.querySelector('input[type=search][data-table=points-table]');"
            "i.value=''; i.dispatchEvent(new Event('input'));"
        )
        pareto = b.js("""return [...document.querySelectorAll('#points-table tbody tr.pareto')]
                         .map(r => getComputedStyle(r).backgroundColor);""")
        assert pareto and all(c not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)") for c in pareto), pareto

        # 4. every plot renders, and not blank: each figure's pixels hold ink and the series colours
        figs = b.js("return [...document.querySelectorAll('figure.plot')].map(f => f.id)")
        assert len(figs) == 4, figs
        for fid in figs:
            w = b.js(
                "return document.getElementById(arguments[0]).querySelector('svg').getBoundingClientRect().width", fid
            )
            assert w > 400, (fid, w)  # scales with the page (two columns at 1400 px)
            b.js("document.getElementById(arguments[0]).scrollIntoView()", fid)
            png = b.element_screenshot(f"#{fid}", art / f"{fid}.png")
            ink, colours = _non_white(png)
            assert ink > 0.03 and len(colours) >= 3, (fid, ink, colours)

        # 5. a click opens a figure over the page at the window's size; Escape closes it
        b.click("#fig-acc_vs_bram18")
        b.settle()
        big = b.js(
            "const o=document.getElementById('overlay');"
            "return o.hidden ? 0 : o.querySelector('svg').getBoundingClientRect().width"
        )
        assert big > 1000, big
        b.screenshot(art / "figure-enlarged.png")
        b.js("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))")
        assert b.js("return document.getElementById('overlay').hidden") is True

        # 6. a point's link opens its per-layer drill-down
        pid = b.js("return document.querySelector('#points-table tbody tr.pareto a').getAttribute('href')")
        b.click(f"#points-table a[href='{pid}']")
        assert b.js("return document.getElementById(arguments[0]).open", pid[1:]) is True, pid
        limits = b.js("""return [...document.querySelectorAll(arguments[0] + ' tr.limit')].length""", pid)
        assert limits >= 1, limits

        b.full_page_screenshot(art / "report.png")
        late = b.console()
        assert [e for e in late if e["level"] in ("SEVERE", "WARNING")] == [], late
    (art / "README.txt").write_text(
        json.dumps(
            {"report": str(out / "report.html"), "screenshots": sorted(p.name for p in art.glob("*.png"))}, indent=1
        )
    )
    assert (art / "report.png").stat().st_size > 50_000
