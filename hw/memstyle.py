"""Which memories go to block RAM: the one rule hw/ styles memories by (and cost_model/ predicts with).

* Any memory below :data:`BLOCK_MIN_BITS` bits is distributed: LUT RAM, or
  logic for a ROM (Yosys maps no ROM to LUT RAM).
* An activation-parameter table (thresholds, requantizer multipliers and
  offsets; a ROM of one word per row-fold) at most :data:`PARAMS_MAX_LUT_DEPTH`
  words deep is logic whatever its width. It is wide (PE x thresholds x bits)
  and shallow (MH/PE words), so in block RAM it is bandwidth-bound: a 3,600 x 4
  table takes 100 RAMB18 at 0.8% fill, while as logic every bit column is one
  function of log2(depth) address bits (at most one LUT6 up to 64 words, and
  constant or identical columns cost nothing). FINN draws the same line for
  its LUT-resident memories (128 words).
* Everything else from BLOCK_MIN_BITS up (weights, input buffers, sliding-window
  line buffers) is block RAM. Weights and buffers keep the bits rule: weights
  are what the FINN comparison counts, and written buffers have no cheap
  home on iCE40 (no LUT RAM: they would become flip-flops).
* The max-pool row buffer is always distributed (read asynchronously).

Guaranteed: :func:`is_block` is the rule every ``ram_style`` attribute hw/
emits follows (a distributed memory is ``"logic"`` where the family has no LUT RAM, iCE40:
chosen at elaboration by the components' ``lut_ram`` argument); tests/test_cost_bram.py checks hw/ and the cost model agree.
"""

from __future__ import annotations

import numpy as np

BLOCK_MIN_BITS = 4096
PARAMS_MAX_LUT_DEPTH = 128
ROLES = ("weights", "buffer", "params", "pool")


def is_block(width, depth, role: str = "weights"):
    """Vectorized: True where a ``width x depth`` memory of ``role`` goes to block RAM."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    w = np.asarray(width, dtype=np.int64)
    d = np.asarray(depth, dtype=np.int64)
    if role == "pool":
        return np.zeros(np.broadcast(w, d).shape, bool)
    block = (w * d) >= BLOCK_MIN_BITS
    if role == "params":
        block &= d > PARAMS_MAX_LUT_DEPTH
    return block


def memory_style(width: int, depth: int, role: str = "weights") -> str:
    """ "block" (block RAM) or "distributed" (LUT RAM / logic) by :func:`is_block`."""
    return "block" if bool(is_block(width, depth, role)) else "distributed"


def memory_attrs(
    width: int, depth: int, role: str, rom: bool = False, lut_ram: bool = True, style: str | None = None
) -> dict:
    """Yosys attributes for the memory: small ROMs become logic (Yosys maps no ROM to
    distributed RAM), small RAMs distributed RAM, the rest block RAM.

    ``lut_ram``: whether the target family has LUT RAM (``boards.Family.lutram_cells``); without it
    (iCE40) Yosys finds no mapping for a memory forced to distributed RAM, so those become logic too.
    ``style``: "distributed" overrides the rule (a packing plan's written memory in LUT RAM,
    hw/packing_plan.Written; ``generate --pack`` only)."""
    if style not in (None, "distributed"):
        raise ValueError(f"style override must be 'distributed', not {style!r}")
    style = style or memory_style(width, depth, role)
    if style == "distributed" and (rom or not lut_ram):
        style = "logic"
    if role == "buffer":
        # a written buffer is never read where it is written in the same cycle, or the word read is
        # not used (hw/mvtu.py input buffer during row-fold 0, hw/swg.py ring rows): without this
        # Yosys builds read-old-data bypass logic behind the block RAM (53 LUT4 + 83 FF on a 36 x 512
        # ECP5 memory), which sits in the critical path of a 5.8 ns clock-to-out
        return {"ram_style": style, "no_rw_check": 1}
    return {"ram_style": style}
