"""One set of defaults for every command and for the Python API (``import bitscale as bs``).

Each command's ``--help`` shows these values; ``docs/api.md`` lists them. Guaranteed: a default
that two commands share has one value here, and nothing else in the CLI or the API restates it.

``FPS`` is the default throughput target of auto-folding (``estimate``, ``generate --board``,
``sweep``, ``bs.auto_fold``): 10,000 frames/s (100 µs a frame, camera rate with a wide
margin). Auto-folding then picks the *cheapest* folding that reaches it on the board, so designs
stay small enough to simulate, synthesize and compare; ``--fps max`` asks for the fastest folding
that fits instead (it fills the board: tens of thousands of LUTs for a 4.6k-parameter MLP).
"""

from __future__ import annotations

MODEL = "fc"
DATASET = "digits"
EPOCHS = 10
SEED = 0
BOARD = "pynq-z1"
FPS = 10_000.0
SIMULATOR = "verilator"
IMAGES = 10
MAX_UTIL = 0.8
MODES = "parallel,weight-serial,bit-serial"


def parse_fps(text) -> float | None:
    """``--fps`` values: a frame rate > 0, or ``max`` (None: the fastest folding that fits)."""
    import math

    from bitscale.errors import UserError

    if text is None:
        return FPS
    if isinstance(text, str) and text.strip().lower() in ("max", "fastest"):
        return None
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise UserError(f"--fps must be a frame rate > 0 or 'max', not {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise UserError(f"--fps must be a frame rate > 0 or 'max', not {text!r}")
    return v
