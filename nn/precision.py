"""Per-layer precision: one (wbits, abits) pair per compute layer.

Convention (docs/mixed_precision.md): compute layer ``i`` multiplies ``wbits[i]``-bit
weights by ``abits[i]``-bit activations, i.e. ``abits[i]`` is the width of the
activations *entering* layer ``i`` (the MAC's operand width, the ``a`` of the cost
model's ``LayerInfo``). Layer 0 reads the 8-bit input pixels, so ``abits[0]`` is
always :data:`~bitscale.nn.ir.INPUT_BITS`; the activation quantizer after hidden
layer ``i`` has ``abits[i + 1]`` bits. Uniform ``--abits 2`` is therefore
``(8, 2, 2, 2)`` for a 4-layer fc, and a uniform configuration is stored as plain
ints (``wbits=2, abits=2``) so it keeps its old label and cache key.

Guaranteed: :func:`resolve` returns per-layer tuples of length ``n`` with every
entry in 1..16 and ``abits[0] == 8``, or raises :class:`~bitscale.errors.UserError`
naming the bad value; :func:`normalize` maps every spelling of one configuration
to the same value; :func:`read_precision` accepts exactly what :func:`precision_json`
writes.
"""

from __future__ import annotations

import json
from pathlib import Path

from bitscale.errors import UserError

MAX_BITS = 16
INPUT_BITS = 8

Bits = int | tuple[int, ...]


def _bits_ok(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_BITS


# --- the one parser of bit widths and width scales (bitscale train, sweep, search) -----------

FLOAT_NAMES = ("float", "fp32", "f32")


def parse_bits_token(tok: str, flag: str) -> int:
    """One bit width: '1'..'16', or 'float' (0); UserError naming ``flag`` and the token."""
    t = str(tok).strip()
    if t.lower() in FLOAT_NAMES:
        return 0
    try:
        v = int(t)
    except ValueError:
        raise UserError(f"{flag} must be 1..{MAX_BITS} or float, not {t!r}") from None
    if not 1 <= v <= MAX_BITS:
        raise UserError(f"{flag} must be 1..{MAX_BITS} or float, not {v}")
    return v


def parse_scale(tok: str, flag: str = "--scale"):
    """A width scale: '0.125' or '1/8' -> Fraction(1, 8); UserError unless a finite number > 0."""
    from fractions import Fraction

    t = str(tok).strip()
    try:
        f = Fraction(t)
    except (ValueError, ZeroDivisionError):
        raise UserError(f"{flag} must be a positive number like 0.125 or 1/8, not {t!r}") from None
    if f <= 0:
        raise UserError(f"{flag} must be a positive number like 0.125 or 1/8, not {t!r}")
    return f


def parse_list(text: str, flag: str) -> Bits:
    """'2' -> 2, 'float' -> 0, '8,2,2,4' -> (8, 2, 2, 4); UserError naming a bad entry."""
    s = str(text).strip()
    if s.lower() in FLOAT_NAMES:
        return 0
    out = []
    for t in s.split(","):
        v = parse_bits_token(t, flag)
        if v == 0:  # float is a whole configuration, not one layer's bits
            raise UserError(f"{flag} must be 1..{MAX_BITS} or float, not {t.strip()!r}")
        out.append(v)
    return out[0] if len(out) == 1 else tuple(out)


def is_mixed(wbits: Bits, abits: Bits) -> bool:
    return isinstance(wbits, (tuple, list)) or isinstance(abits, (tuple, list))


def resolve(wbits: Bits, abits: Bits, n: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per-layer (wbits, abits) tuples of length ``n`` (quantized configurations only)."""
    if isinstance(wbits, (tuple, list)):
        w = tuple(wbits)
        if len(w) != n:
            raise UserError(
                f"--wbits has {len(w)} values ({','.join(map(str, w))}) but the network has {n} compute layers"
            )
    else:
        w = (wbits,) * n
    for v in w:
        if not _bits_ok(v):
            raise UserError(f"--wbits must be 1..{MAX_BITS}, not {v!r}")
    if isinstance(abits, (tuple, list)):
        a = tuple(abits)
        if len(a) != n:
            raise UserError(
                f"--abits has {len(a)} values ({','.join(map(str, a))}) but the network has {n} compute layers"
            )
        for v in a:
            if not _bits_ok(v):
                raise UserError(f"--abits must be 1..{MAX_BITS}, not {v!r}")
        if a[0] != INPUT_BITS:
            raise UserError(
                f"--abits: compute layer 0 reads the {INPUT_BITS}-bit input pixels, so its entry "
                f"must be {INPUT_BITS}, not {a[0]}"
            )
    else:
        if not _bits_ok(abits):
            raise UserError(f"--abits must be 1..{MAX_BITS}, not {abits!r}")
        a = (INPUT_BITS,) + (abits,) * (n - 1)
    return w, a


def normalize(wbits: Bits, abits: Bits, n: int) -> tuple[Bits, Bits]:
    """The canonical stored form: ints when every layer shares the width, else tuples."""
    w, a = resolve(wbits, abits, n)
    if len(set(w)) == 1 and len(set(a[1:])) <= 1:
        return w[0], (a[1] if n > 1 else (abits if isinstance(abits, int) else a[0]))
    return w, a


def label(wbits: Bits, abits: Bits) -> str:
    """'w2a2', 'float', or 'w8.2.2.4-a8.2.4.4' for a mixed configuration."""
    if not is_mixed(wbits, abits):
        return "float" if wbits == 0 else f"w{wbits}a{abits}"
    w = wbits if isinstance(wbits, (tuple, list)) else (wbits,)
    a = abits if isinstance(abits, (tuple, list)) else (abits,)
    return f"w{'.'.join(map(str, w))}-a{'.'.join(map(str, a))}"


def precision_json(wbits, abits) -> dict:
    """The format `bitscale search` writes and `bitscale train --precision` reads."""
    return {
        "format": "bitscale.Precision",
        "layers": [{"wbits": int(x), "abits": int(y)} for x, y in zip(wbits, abits)],
    }


def read_precision(path) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(wbits, abits) tuples from a precision JSON file; UserError naming what is wrong."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--precision {p}: no such file")
    try:
        doc = json.loads(p.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"--precision {p} is not valid JSON: {e}") from None
    layers = doc.get("layers") if isinstance(doc, dict) else None
    if not isinstance(layers, list) or not layers:
        raise UserError(f'--precision {p} needs a non-empty list \'layers\' of {{"wbits": w, "abits": a}}')
    w, a = [], []
    for i, d in enumerate(layers):
        if not isinstance(d, dict) or set(d) != {"wbits", "abits"}:
            raise UserError(f'--precision {p}: layer {i} must be {{"wbits": w, "abits": a}}, not {d!r}')
        for k, dst in (("wbits", w), ("abits", a)):
            if not _bits_ok(d[k]):
                raise UserError(f"--precision {p}: layer {i} {k} must be 1..{MAX_BITS}, not {d[k]!r}")
            dst.append(d[k])
    return tuple(w), tuple(a)


def n_compute_layers(model: str, scale: float, base: int = 4096, layers: int = 3) -> int:
    """Compute layers (conv + dense, the last included) of a model family at a width scale."""
    from bitscale.nn.models import widths_for

    w = widths_for(model, scale, base, layers)
    if "fc" in w:
        return len(w["fc"]) + 1
    return sum(1 for c in w["convs"] if c != "P") + len(w["fcs"]) + 1
