"""The sweep report's figures: matplotlib drawn to inline SVG that scales with the page.

One style per precision (:func:`style_for`): the colour comes from the weight bits and the
marker from the activation bits, both from colour-blind-safe sets (Okabe & Ito's palette;
markers that differ in shape, not only in colour), so ``w2a2`` and ``w2a4`` share a colour
and differ in marker, and every tied precision differs in both. ``float`` is black with a
star. To give a new kind of point its own look (mixed per-layer precision, say), add an
entry to :data:`SPECIAL_STYLES` keyed by the row's ``precision`` label, or return a
``Style`` from a function registered in :data:`STYLE_RULES`; nothing else changes.

Axes read as numbers, not as exponents: ticks are ``300``, ``10k``, ``1.5M``
(:func:`human`). A budget (the board's BRAM18 or LUT) is drawn as a dashed line with the
over-budget side shaded, and a second axis gives utilization in percent of the board.

Guaranteed: :func:`scatter_svg` returns one ``<svg>`` element with a ``viewBox``, no fixed
width or height (CSS sizes it), text as ``<text>`` (not paths), element ids prefixed with
the figure's own name (several figures in one page never share an id), and no reference
to anything outside itself. The output is deterministic for the same input.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
# colour by weight bits, marker by activation bits
WBITS_COLOR = {
    1: OKABE_ITO["vermillion"],
    2: OKABE_ITO["orange"],
    3: OKABE_ITO["yellow"],
    4: OKABE_ITO["bluish_green"],
    8: OKABE_ITO["blue"],
    16: OKABE_ITO["reddish_purple"],
}
OTHER_COLOR = OKABE_ITO["sky_blue"]
ABITS_MARKER = {1: "v", 2: "s", 3: "<", 4: "D", 8: "o", 16: "^"}
OTHER_MARKERS = ("p", "h", "X", ">", "d")


@dataclass(frozen=True)
class Style:
    color: str
    marker: str  # a matplotlib marker
    size: float = 6.0
    line: str = "-"  # the line joining one precision's widths; "" for none


# Looks for labels that are not "wNaM" (extend here: e.g. SPECIAL_STYLES["mixed"] = Style(...)).
SPECIAL_STYLES: dict[str, Style] = {
    "float": Style(OKABE_ITO["black"], "*", size=8.0),
    # searched mixed per-layer precision (bitscale sweep --mixed): a filled plus, black, joined dotted
    "mixed": Style(OKABE_ITO["black"], "P", size=9.0, line=":"),
}
# Functions label -> Style | None, tried in order before the wNaM rule (for families of labels).
STYLE_RULES: list[Callable[[str], Style | None]] = []

_WA = re.compile(r"^w(\d+)a(\d+)$")


def style_for(precision: str) -> Style:
    """The colour and marker of one precision label (``w4a4``, ``float``, ...)."""
    if precision in SPECIAL_STYLES:
        return SPECIAL_STYLES[precision]
    for rule in STYLE_RULES:
        s = rule(precision)
        if s is not None:
            return s
    m = _WA.match(precision)
    if not m:
        return Style(OKABE_ITO["sky_blue"], "P")
    w, a = int(m.group(1)), int(m.group(2))
    return Style(WBITS_COLOR.get(w, OTHER_COLOR), ABITS_MARKER.get(a, OTHER_MARKERS[a % len(OTHER_MARKERS)]))


def precision_order(p: str):
    m = _WA.match(p)
    if m:
        return (0, int(m.group(1)), int(m.group(2)), p)
    return (2 if p == "float" else 1, 0, 0, p)


# --- numbers -------------------------------------------------------------------------------------


def human(v: float, _pos=None) -> str:
    """A tick label a person reads at once: 0.5, 3, 280, 12k, 1.5M, 2G (no exponents)."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    a = abs(v)
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div * 0.9995:  # 999.5M reads 1G, never "1e+03M"
            return f"{v / div:.3g}{suf}"
    if a >= 1 or a == 0:
        return f"{v:.3g}"
    if a >= 1e-3:
        return f"{v:.2g}"
    return f"{v:.6f}".rstrip("0").rstrip(".") or "0"  # never an exponent


def fraction_label(scale) -> str:
    """'1/16' for a width scale (string or float)."""
    if isinstance(scale, str):
        return scale
    from fractions import Fraction

    return str(Fraction(scale).limit_denominator(4096))


# --- the figure ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """A board limit drawn on the x axis: a dashed line at ``value``, shaded beyond it,
    and a top axis in percent of it."""

    value: float
    label: str  # e.g. "PYNQ-Z1: 280 RAMB18"


@dataclass(frozen=True)
class Series:
    """The points of one precision, in width order."""

    precision: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    labels: tuple[str, ...] = ()  # per point, e.g. the width scale "1/16"
    ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Figure:
    name: str  # also the id prefix; [a-z0-9_-]
    title: str
    xlabel: str
    ylabel: str
    series: tuple[Series, ...]
    logx: bool = False
    logy: bool = False
    symlogx: bool = False  # linear near 0, log beyond (counts that include 0)
    front: tuple[tuple[float, float], ...] = ()  # Pareto points, any order
    front_where: str = "post"  # "post" when low x is better, "pre" when high x is
    measured: tuple[tuple[float, float, str], ...] = ()  # (x, y, precision): synthesized
    measured_label: str = "measured (synthesis)"
    budget: Budget | None = None
    note: str = ""  # a second line under the x label
    meta: dict = field(default_factory=dict)


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    return plt, ticker


# Sized for a figure shown ~560 px wide (two per row at 1400 px): ticks ~13 px, not 8.
RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "bitscale",
    "font.size": 10.5,
    "axes.titlesize": 12.0,
    "axes.labelsize": 11.0,
    "legend.fontsize": 9.0,
    "xtick.labelsize": 10.0,
    "ytick.labelsize": 10.0,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
}


def scatter_svg(fig_spec: Figure, width_in: float = 6.4, height_in: float = 4.5) -> str:
    """Draw ``fig_spec``; return one self-contained, scalable ``<svg>`` element."""
    plt, ticker = _mpl()
    f = fig_spec
    with plt.rc_context(RC):
        # constrained layout: every figure keeps the same size and type scale, the legend outside
        fig, ax = plt.subplots(figsize=(width_in, height_in), layout="constrained")
        try:
            _draw(fig, ax, f, ticker)
            buf = io.StringIO()
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        finally:
            plt.close(fig)
    return _scalable(buf.getvalue(), f.name, f.title)


def _draw(fig, ax, f: Figure, ticker):
    all_x = [x for s in f.series for x in s.x] + [m[0] for m in f.measured]
    all_y = [y for s in f.series for y in s.y] + [m[1] for m in f.measured]
    for s in sorted(f.series, key=lambda s: precision_order(s.precision)):
        st = style_for(s.precision)
        ax.plot(
            s.x,
            s.y,
            linestyle=st.line or "none",
            marker=st.marker,
            color=st.color,
            ms=st.size,
            mec="#222222",
            mew=0.6,
            lw=1.1,
            alpha=0.95,
            label=s.precision,
            zorder=3,
        )
        for x, y, lab in zip(s.x, s.y, s.labels):
            if lab:
                ax.annotate(
                    lab, (x, y), textcoords="offset points", xytext=(5, 3), fontsize=8, color="#333333", zorder=7
                )
    if f.front:
        fr = sorted(f.front)
        ax.step(
            [p[0] for p in fr],
            [p[1] for p in fr],
            where=f.front_where,
            color="#000000",
            lw=1.3,
            alpha=0.55,
            zorder=2,
            label="Pareto frontier",
        )
        ax.scatter(
            [p[0] for p in fr],
            [p[1] for p in fr],
            s=150,
            facecolors="none",
            edgecolors="#000000",
            linewidths=1.2,
            zorder=4,
        )
    if f.measured:
        # drawn last and on top: a cross must not hide under a Pareto ring
        for x, y, prec in f.measured:
            ax.scatter(
                [x], [y], marker="X", s=70, color=style_for(prec).color, edgecolors="#000000", linewidths=0.8, zorder=6
            )
        ax.scatter(
            [], [], marker="X", s=70, color="#bbbbbb", edgecolors="#000000", linewidths=0.8, label=f.measured_label
        )
    if f.logx:
        ax.set_xscale("log")
    elif f.symlogx:
        ax.set_xscale("symlog", linthresh=1.0, linscale=0.5)
    if f.logy:
        ax.set_yscale("log")
    if f.logx:
        ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
    elif f.symlogx:
        ax.xaxis.set_major_locator(ticker.SymmetricalLogLocator(base=10, linthresh=1.0, subs=(1.0, 2.0, 5.0)))
    if f.logy:
        ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ticker.FuncFormatter(human))
        axis.set_minor_formatter(ticker.NullFormatter())
    if f.budget is not None and all_x:
        _budget(ax, f, f.budget, ticker)
    ax.set_xlabel(f.xlabel + (f"\n{f.note}" if f.note else ""))
    ax.set_ylabel(f.ylabel)
    # left-aligned above the axes: the legend sits at the right, outside the axes, and never covers it
    fig.suptitle(f.title, fontsize=RC["axes.titlesize"], x=0.01, ha="left")
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.08)
    if all_x and all_y:
        # outside the axes: a legend never hides a point
        h, lab = ax.get_legend_handles_labels()
        fig.legend(h, lab, loc="outside right upper", framealpha=0.9)
    else:
        ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)


def _budget(ax, f: Figure, budget: Budget, ticker):
    """The board's limit: dashed line, shaded beyond, and a top axis in % of the board."""
    b = budget.value
    lo, hi = ax.get_xlim()
    hi = max(hi, b * (1.4 if (f.logx or f.symlogx) else 1.06))
    ax.axvline(b, color=OKABE_ITO["vermillion"], ls="--", lw=1.4, zorder=1, label=budget.label)
    ax.axvspan(b, hi, color=OKABE_ITO["vermillion"], alpha=0.08, zorder=0, lw=0)
    ax.set_xlim(lo, hi)
    top = ax.twiny()
    top.set_xscale(ax.get_xscale(), **({"linthresh": 1.0, "linscale": 0.5} if f.symlogx else {}))
    top.set_xlim(lo, hi)
    pcts = [p for p in (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000) if lo <= b * p / 100 <= hi]
    if not (f.logx or f.symlogx):
        pcts = [p for p in pcts if p % 10 == 0 or p == 5] or pcts
    # keep labels apart: at least ~9% of the axis width between two of them
    kept, last = [], None
    for p in pcts:
        x = _axis_fraction(ax, b * p / 100)
        if last is None or x - last >= 0.09:
            kept.append(p)
            last = x
    top.xaxis.set_major_locator(ticker.FixedLocator([b * p / 100 for p in kept]))
    top.xaxis.set_major_formatter(ticker.FixedFormatter([f"{p}%" for p in kept]))
    top.xaxis.set_minor_locator(ticker.NullLocator())
    top.tick_params(axis="x", labelsize=9, colors="#8a3b00")
    top.set_xlabel("utilization of the board", fontsize=10, color="#8a3b00")


def _axis_fraction(ax, x: float) -> float:
    lo, hi = ax.get_xlim()
    t = ax.xaxis.get_transform()
    a, b, v = t.transform([lo, hi, x])
    return (v - a) / (b - a) if b != a else 0.0


_ID = re.compile(r'\bid="([^"]+)"')


def _scalable(svg: str, name: str, title: str) -> str:
    """matplotlib's SVG document -> one inline element: no XML prolog or DOCTYPE, no fixed
    size, ids prefixed with ``name``, a <title> for screen readers and tooltips."""
    svg = svg[svg.index("<svg") :]
    head_end = svg.index(">")
    head = svg[:head_end]
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    head = head.replace(
        "<svg", f'<svg class="fig" role="img" aria-label="{_esc(title)}" preserveAspectRatio="xMidYMid meet"', 1
    )
    svg = head + svg[head_end:]
    ids = set(_ID.findall(svg))
    if ids:
        pre = f"{name}-"
        pat = re.compile(
            r'(\bid="|url\(#|href="#)(' + "|".join(sorted(map(re.escape, ids), key=len, reverse=True)) + r')(?=["\)])'
        )
        svg = pat.sub(lambda m: m.group(1) + pre + m.group(2), svg)
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    # matplotlib's "*{stroke-linejoin...}" would style the whole HTML page: the page's CSS has it for svg.fig
    svg = re.sub(r"<style[^>]*>.*?</style>", "", svg, flags=re.DOTALL)
    first = svg.index(">") + 1
    return svg[:first] + f"<title>{_esc(title)}</title>" + svg[first:].strip()


def _esc(s: str) -> str:
    import html

    return html.escape(str(s), quote=True)
