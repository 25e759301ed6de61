"""The HTML side of the sweep report: one self-contained page, sortable and filterable tables,
figures that open large on click, per-point drill-downs — a few lines of inline JavaScript.

* :func:`page` wraps a body in a document whose Content-Security-Policy forbids every
  fetch (``default-src 'none'``; inline style and script only, images only as ``data:``):
  the report cannot reach the network even by mistake, and works from a file, a mail
  attachment or a CI artifact.
* :func:`table` writes a ``<table class="data">``: a click on a column header sorts by it
  (numbers as numbers: each cell carries its raw value in ``data-v``; empty cells last; a
  second click reverses), a text box above it keeps only the rows containing every word
  typed, and rows can carry classes (``pareto`` rows are highlighted) and ids.
* :func:`figure` puts an inline SVG (bitscale.report_figures) in a ``<figure>``; a click or
  Enter opens it over the page at the window's size; a click or Escape closes it.
* A ``<details id="...">`` opens when the page's address ends in ``#that-id`` (links from a
  table row to its drill-down).

Guaranteed: every text value is HTML-escaped; the JavaScript uses no library and logs
nothing to the console.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)

CSS = """
:root{--fg:#1d1d1f;--muted:#5f6368;--line:#d6d6d6;--head:#f2f3f5;--pareto:#fff1cc;--pareto-edge:#E69F00}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:0 auto;
  padding:1.2em 2vw 3em;max-width:1600px}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid var(--line)}
h3{font-size:1.05em;margin:1.1em 0 .3em}
.context{display:flex;flex-wrap:wrap;gap:.4em 1.4em;background:var(--head);padding:.6em .9em;border-radius:6px}
.context b{font-weight:600}.muted{color:var(--muted)}
.findings li{margin:.25em 0}.findings li.headline{font-weight:600}
code{background:var(--head);padding:0 .25em;border-radius:3px}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,620px),1fr));gap:1.2em}
figure.plot{margin:0;border:1px solid var(--line);border-radius:6px;padding:.4em;cursor:zoom-in;background:#fff}
figure.plot:focus{outline:2px solid #0072B2}
figure.plot figcaption{font-size:.85em;color:var(--muted);padding:.2em .4em}
svg.fig{display:block;width:100%;height:auto}
svg.fig *{stroke-linejoin:round;stroke-linecap:butt}
#overlay{position:fixed;inset:0;background:rgba(255,255,255,.97);z-index:10;display:flex;align-items:center;
  justify-content:center;cursor:zoom-out}
#overlay[hidden]{display:none}
#overlay svg{width:97vw;height:95vh}
.tools{display:flex;gap:1em;align-items:center;margin:.4em 0;font-size:.9em}
.tools input[type=search]{padding:.25em .5em;min-width:18em;border:1px solid var(--line);border-radius:4px}
.scroll{overflow-x:auto;max-width:100%}
table.data{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
table.data th,table.data td{border:1px solid var(--line);padding:3px 7px;text-align:right;white-space:nowrap}
table.data td.t,table.data th.t{text-align:left}
table.data td.wrap{white-space:normal;min-width:14em;max-width:40em;text-align:left}
table.data thead th{background:var(--head);position:sticky;top:0;cursor:pointer;user-select:none}
table.data thead th:hover{background:#e4e6ea}
table.data thead th[aria-sort=ascending]::after{content:" \\25B2";font-size:.75em}
table.data thead th[aria-sort=descending]::after{content:" \\25BC";font-size:.75em}
table.data tbody tr:nth-child(even){background:#fafafa}
table.data tbody tr.pareto{background:var(--pareto)}
table.data tbody tr.pareto td:first-child{box-shadow:inset 4px 0 0 var(--pareto-edge)}
table.data tbody tr.limit{font-weight:600}
table.data tbody tr:hover{background:#e8f1fb}
.bad{color:#B03A00;font-weight:600}.good{color:#00704F}
.bar{display:inline-block;height:.7em;background:#56B4E9;vertical-align:middle;margin-right:.3em}
details.point{border:1px solid var(--line);border-radius:6px;margin:.5em 0;padding:.3em .8em}
details.point[open]{background:#fcfcfd}
details.point summary{cursor:pointer;font-weight:600}
.swatch{display:inline-block;width:.8em;height:.8em;border:1px solid #222;margin-right:.3em;vertical-align:-1px}
"""

JS = r"""
(function () {
  "use strict";
  function val(td) {
    var v = td.getAttribute("data-v"), t;
    if (v === null) { t = td.textContent.trim(); v = t.replace(/[,%\s]/g, ""); if (t === "") return null;
      return (v !== "" && !isNaN(Number(v))) ? Number(v) : t.toLowerCase(); }
    if (v === "") return null;
    return isNaN(Number(v)) ? v.toLowerCase() : Number(v);
  }
  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = val(a.cells[col]), y = val(b.cells[col]), c;
      if (x === null || y === null) return x === y ? 0 : (x === null ? 1 : -1);   // empty cells last
      if (typeof x !== typeof y) c = typeof x === "number" ? -1 : 1;
      else c = x < y ? -1 : (x > y ? 1 : 0);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function applyFilter(box) {
    var table = document.getElementById(box.getAttribute("data-table"));
    var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    var only = document.querySelector("input[data-only][data-table='" + table.id + "']");
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
      var text = r.textContent.toLowerCase();
      var ok = words.every(function (w) { return text.indexOf(w) >= 0; }) &&
               !(only && only.checked && !r.classList.contains(only.getAttribute("data-only")));
      r.hidden = !ok; if (ok) shown += 1;
    });
    var n = document.querySelector("[data-count='" + table.id + "']");
    if (n) n.textContent = shown + " of " + table.tBodies[0].rows.length + " rows";
  }
  document.querySelectorAll("table.data thead th").forEach(function (th) {
    th.title = th.title || "click to sort"; th.tabIndex = 0;
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(th); });
  });
  document.querySelectorAll("input[data-table]").forEach(function (box) {
    var f = document.querySelector("input[type=search][data-table='" + box.getAttribute("data-table") + "']");
    box.addEventListener(box.type === "search" ? "input" : "change", function () { applyFilter(f); });
  });
  var overlay = document.getElementById("overlay");
  function closeOverlay() { overlay.hidden = true; overlay.textContent = ""; }
  function openFigure(fig) {
    overlay.textContent = "";
    overlay.appendChild(fig.querySelector("svg").cloneNode(true));
    overlay.hidden = false;
  }
  document.querySelectorAll("figure.plot").forEach(function (fig) {
    fig.addEventListener("click", function () { openFigure(fig); });
    fig.addEventListener("keydown", function (e) { if (e.key === "Enter") openFigure(fig); });
  });
  overlay.addEventListener("click", closeOverlay);
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") closeOverlay(); });
  function openHash() {
    var id = decodeURIComponent(location.hash.slice(1)), el = id && document.getElementById(id);
    if (el && el.tagName === "DETAILS") { el.open = true; el.scrollIntoView(); }
  }
  window.addEventListener("hashchange", openHash);
  openHash();
})();
"""


def esc(s) -> str:
    return html.escape("" if s is None else str(s), quote=True)


def fmt(v, digits: int = 4) -> str:
    """A cell's text: '' for None, yes/no, thousands separators, ~4 significant digits."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        if abs(v) >= 10 ** (digits - 1):
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(v)


@dataclass(frozen=True)
class Cell:
    """A table cell: shown ``text`` (escaped) or ``html`` (trusted), sorted by ``sort``."""

    text: str = ""
    sort: float | str | None = None
    html: str | None = None
    cls: str = ""
    title: str = ""


def cell(v, *, sort=None, cls: str = "", title: str = "", digits: int = 4) -> Cell:
    if isinstance(v, Cell):
        return v
    s = sort if sort is not None else (v if isinstance(v, (int, float)) and not isinstance(v, bool) else None)
    return Cell(fmt(v, digits), s, None, cls, title)


def _td(c) -> str:
    c = cell(c)
    attrs = ""
    if c.sort is not None:
        attrs += f' data-v="{esc(c.sort if not isinstance(c.sort, float) else repr(c.sort))}"'
    cls = c.cls or ("" if c.sort is not None or c.html is not None or _numeric(c.text) else "t")
    if cls:
        attrs += f' class="{esc(cls)}"'
    if c.title:
        attrs += f' title="{esc(c.title)}"'
    return f"<td{attrs}>{c.html if c.html is not None else esc(c.text)}</td>"


def _numeric(s: str) -> bool:
    t = s.replace(",", "").replace("%", "").strip()
    if not t:
        return True
    try:
        float(t)
        return True
    except ValueError:
        return False


def table(
    headers,
    rows,
    *,
    tid: str,
    row_classes=None,
    row_ids=None,
    filterable: bool = True,
    only_class: str | None = None,
    only_label: str = "",
) -> str:
    """A sortable (and, with ``filterable``, filterable) table. ``headers``: labels or
    (label, tooltip); ``rows``: lists of values or :class:`Cell`; ``row_classes`` /
    ``row_ids``: one per row (or None). ``only_class``: a checkbox "only rows of this class"."""
    ths = []
    for h in headers:
        label, tip = h if isinstance(h, tuple) else (h, "")
        tip_attr = f' title="{esc(tip)}"' if tip else ""
        ths.append(f"<th{tip_attr}>{esc(label)}</th>")
    body = []
    for i, r in enumerate(rows):
        cls = row_classes[i] if row_classes else None
        rid = row_ids[i] if row_ids else None
        attrs = (f' class="{esc(cls)}"' if cls else "") + (f' id="{esc(rid)}"' if rid else "")
        body.append(f"<tr{attrs}>" + "".join(_td(c) for c in r) + "</tr>")
    tools = ""
    if filterable:
        only = (
            (
                f'<label><input type="checkbox" data-table="{esc(tid)}" data-only="{esc(only_class)}"> '
                f"{esc(only_label)}</label>"
            )
            if only_class
            else ""
        )
        tools = (
            f'<div class="tools"><input type="search" data-table="{esc(tid)}" placeholder="filter: type words '
            f'(e.g. w4a4 1/16)" aria-label="filter the rows of this table">{only}'
            f'<span class="muted" data-count="{esc(tid)}">{len(rows)} rows</span></div>'
        )
    return (
        f'{tools}<div class="scroll"><table class="data" id="{esc(tid)}"><thead><tr>{"".join(ths)}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def figure(svg: str, fid: str, caption: str = "") -> str:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure class="plot" id="{esc(fid)}" tabindex="0" title="click to enlarge">{svg}{cap}</figure>'


def page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}"
        '<div id="overlay" hidden></div>'
        f"<script>{JS}</script></body></html>"
    )
