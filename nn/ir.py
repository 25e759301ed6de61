"""The QuantizedNetwork IR: the contract between nn/, hw/, sim/ and cost_model/.

A network is an ordered tuple of layers. Shapes are HWC for feature maps and
(N,) for vectors. Integer tensors live in one ``.npz`` beside ``network.json``.

Number encodings (docs/arithmetic.md):

* weights, ``wbits == 1``: bipolar {-1, +1}; stored in the npz as the values
  -1/+1 (hardware stores bit b with value 2b-1).
* weights, ``wbits >= 2``: signed two's complement; ``narrow`` range
  [-(2^(w-1)-1), 2^(w-1)-1] (Brevitas' default, so 2-bit is ternary) or full
  range [-2^(w-1), 2^(w-1)-1].
* activations, ``bits == 1``: bipolar {-1, +1} (hardware: bit b, value 2b-1).
* activations, ``bits >= 2``: unsigned [0, 2^bits - 1]. The network input is
  an unsigned 8-bit pixel.

A compute layer (``dense``/``conv``) computes ``acc = sum(w * x)`` exactly and
then applies its ``act``:

* ``thresholds``: out = number of thresholds acc reaches (``acc >= T[c, k]``),
  ``2^a - 1`` ascending thresholds per channel; for ``a == 1`` one threshold
  and out = +1 if reached else -1. Used for ``a <= THRESHOLD_MAX_BITS``.
* ``requant``: out = clamp((acc * M[c] + B[c]) >> shift, 0, 2^a - 1) with an
  arithmetic (floor) shift and M[c] >= 0; used for wider activations, where
  2^a - 1 thresholds per channel would not fit.

A channel whose BatchNorm slope is negative has its weight row negated at
export, so thresholds are always "acc >= T" and multipliers never negative.
* ``none``: the raw accumulator is the output (last layer; argmax = class),
  plus an integer per-channel ``bias`` where the layer has one (imported networks).

Convolutions have a square ``kernel``, a ``stride`` and ``pad`` rows/columns of
padding on each side; padding inserts the activation whose code is 0 (0 for
unsigned, -1 for bipolar; docs/arithmetic.md). Format version 2 added ``pad``
and ``bias``; version 1 files still load.

Guaranteed: :func:`load` returns only networks that pass :func:`validate`;
anything else raises :class:`~bitscale.errors.UserError` naming the bad value.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from bitscale.errors import UserError, read_json

FORMAT_VERSION = 2
# versions load() still reads: version 1 files have no ``pad`` (every conv valid, stride 1)
READABLE_VERSIONS = (1, 2)
KINDS = ("dense", "conv", "maxpool", "flatten")
ACTS = ("thresholds", "requant", "none")
MAX_BITS = 16
THRESHOLD_MAX_BITS = 4
INPUT_BITS = 8
# acc * M must fit in int64 with headroom; checked on load.
REQUANT_PRODUCT_BITS = 62


@dataclass(frozen=True)
class Layer:
    """One layer. Fields that do not apply to a kind keep their defaults."""

    kind: str
    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    in_bits: int = 0  # activation bits entering the layer (1 = bipolar)
    out_bits: int = 0  # activation bits leaving it (0 for act == "none": raw acc)
    wbits: int = 0  # weight bits (1 = bipolar), compute layers only
    narrow: bool = True  # narrow-range weights (wbits >= 2)
    act: str = "none"  # thresholds | requant | none, compute layers only
    kernel: int = 0  # conv / maxpool window (square)
    stride: int = 1  # conv / maxpool stride
    pad: int = 0  # conv: rows/columns of padding on each side (value: code 0, see docs/arithmetic.md)
    bias: bool = False  # act 'none' only: an integer per-channel bias is added to acc (tensor NAME.bias)
    requant_shift: int = 0

    # --- derived ----------------------------------------------------------
    @property
    def is_compute(self) -> bool:
        return self.kind in ("dense", "conv")

    @property
    def mh(self) -> int:
        """Output channels (rows of the weight matrix)."""
        return self.out_shape[-1]

    @property
    def mw(self) -> int:
        """Inputs per dot product (columns of the weight matrix)."""
        if self.kind == "dense":
            return self.in_shape[0]
        if self.kind == "conv":
            return self.kernel * self.kernel * self.in_shape[2]
        raise ValueError(f"{self.kind} layer has no weight matrix")

    @property
    def out_pixels(self) -> int:
        """Dot products per output channel per frame (1 for dense)."""
        return self.out_shape[0] * self.out_shape[1] if self.kind == "conv" else 1


@dataclass(frozen=True)
class QuantizedNetwork:
    """An ordered list of layers plus their integer tensors (name -> array)."""

    layers: tuple[Layer, ...]
    tensors: dict[str, np.ndarray] = field(compare=False, repr=False)
    num_classes: int
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.layers[0].in_shape

    @property
    def compute_layers(self) -> tuple[Layer, ...]:
        return tuple(l for l in self.layers if l.is_compute)

    def weight(self, layer: Layer) -> np.ndarray:
        """Integer weights as a (MH, MW) matrix; conv columns in (ky, kx, ic) order."""
        w = self.tensors[f"{layer.name}.weight"]
        return w.reshape(layer.mh, layer.mw)

    def thresholds(self, layer: Layer) -> np.ndarray:
        return self.tensors[f"{layer.name}.thresholds"]

    def requant(self, layer: Layer) -> tuple[np.ndarray, np.ndarray, int]:
        return (
            self.tensors[f"{layer.name}.requant_mul"],
            self.tensors[f"{layer.name}.requant_add"],
            layer.requant_shift,
        )


# --- value ranges --------------------------------------------------------------


def act_range(bits: int) -> tuple[int, int]:
    """Value range of an activation of ``bits`` (1 = bipolar, else unsigned)."""
    if bits == 1:
        return -1, 1
    return 0, (1 << bits) - 1


def weight_range(wbits: int, narrow: bool) -> tuple[int, int]:
    if wbits == 1:
        return -1, 1
    hi = (1 << (wbits - 1)) - 1
    return (-hi if narrow else -hi - 1), hi


def conv_out_hw(h: int, w: int, k: int, stride: int = 1, pad: int = 0) -> tuple[int, int]:
    """Output rows/columns of a KxK window sliding with ``stride`` over an HxW map padded by ``pad``."""
    return (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1


def acc_range(layer: Layer) -> tuple[int, int]:
    """Worst-case accumulator range of a compute layer over all weights and inputs."""
    wlo, whi = weight_range(layer.wbits, layer.narrow)
    xlo, xhi = act_range(layer.in_bits)
    prods = [wlo * xlo, wlo * xhi, whi * xlo, whi * xhi]
    lo, hi = layer.mw * min(prods), layer.mw * max(prods)
    if layer.bias:  # |bias| <= max |sum(w*x)| (validated), so the sum fits one more bit
        m = max(-lo, hi)
        lo, hi = lo - m, hi + m
    return lo, hi


def acc_bits(layer: Layer) -> int:
    """Signed two's-complement width that holds every accumulator value of the layer."""
    lo, hi = acc_range(layer)
    return max(_signed_bits(lo), _signed_bits(hi))


def _signed_bits(v: int) -> int:
    return (v.bit_length() if v >= 0 else (-v - 1).bit_length()) + 1


# --- validation ----------------------------------------------------------------


def _fail(msg: str) -> NoReturn:
    raise UserError(msg)


def validate(net: QuantizedNetwork) -> None:
    """Check shapes, dtypes and value ranges; raise UserError naming the first bad value."""
    if not net.layers:
        _fail("network has no layers")
    if not isinstance(net.num_classes, int) or net.num_classes < 2:
        _fail(f"num_classes must be an integer >= 2, not {net.num_classes!r}")
    names = set()
    prev_out = None
    prev_bits = INPUT_BITS
    for i, l in enumerate(net.layers):
        where = f"layer {i} ({l.name!r})"
        if l.kind not in KINDS:
            _fail(f"{where}: unknown kind {l.kind!r}; expected one of {', '.join(KINDS)}")
        if l.name in names:
            _fail(f"{where}: duplicate layer name {l.name!r}")
        names.add(l.name)
        for s, what in ((l.in_shape, "in_shape"), (l.out_shape, "out_shape")):
            if not s or not all(isinstance(d, int) and d > 0 for d in s):
                _fail(f"{where}: {what} must be positive integers, not {s!r}")
        if prev_out is not None and tuple(l.in_shape) != tuple(prev_out):
            _fail(f"{where}: in_shape {l.in_shape} does not match the previous layer's out_shape {prev_out}")
        if l.in_bits != prev_bits:
            _fail(f"{where}: in_bits {l.in_bits} does not match the bits entering it ({prev_bits})")
        _validate_layer(net, l, where, last=(i == len(net.layers) - 1))
        prev_out = l.out_shape
        prev_bits = l.out_bits if l.is_compute else l.in_bits
    last = net.layers[-1]
    if last.kind != "dense" or last.act != "none":
        _fail(f"the last layer must be dense with act 'none' (raw accumulators), not {last.kind}/{last.act}")
    if last.out_shape != (net.num_classes,):
        _fail(f"the last layer's out_shape {last.out_shape} does not match num_classes={net.num_classes}")
    expected = set()
    for l in net.compute_layers:
        expected.add(f"{l.name}.weight")
        if l.act == "thresholds":
            expected.add(f"{l.name}.thresholds")
        if l.act == "requant":
            expected |= {f"{l.name}.requant_mul", f"{l.name}.requant_add"}
        if l.bias:
            expected.add(f"{l.name}.bias")
    extra = set(net.tensors) - expected
    if extra:
        _fail(f"unexpected tensors in the npz: {', '.join(sorted(extra))}")


def _bits_ok(b, lo=1) -> bool:
    return isinstance(b, int) and not isinstance(b, bool) and lo <= b <= MAX_BITS


def _tensor(net, key, where, shape):
    if key not in net.tensors:
        _fail(f"{where}: tensor {key!r} is missing from the npz")
    t = net.tensors[key]
    if not isinstance(t, np.ndarray) or t.dtype.kind not in "iu":
        _fail(f"{where}: tensor {key!r} must be an integer array, not {getattr(t, 'dtype', type(t))}")
    if tuple(t.shape) != tuple(shape):
        _fail(f"{where}: tensor {key!r} has shape {tuple(t.shape)}, expected {tuple(shape)}")
    return t


def _validate_layer(net: QuantizedNetwork, l: Layer, where: str, last: bool) -> None:
    if not _bits_ok(l.in_bits):
        _fail(f"{where}: in_bits must be 1..{MAX_BITS}, not {l.in_bits!r}")
    if l.kind == "flatten":
        if math.prod(l.in_shape) != l.out_shape[0] or len(l.out_shape) != 1:
            _fail(f"{where}: flatten of {l.in_shape} cannot give {l.out_shape}")
        return
    if l.pad and l.kind != "conv":
        _fail(f"{where}: only conv layers take pad, not {l.kind}")
    if l.kind == "maxpool":
        if len(l.in_shape) != 3 or l.kernel < 1 or l.stride < 1:
            _fail(f"{where}: maxpool needs an HWC input and kernel/stride >= 1")
        h, w, c = l.in_shape
        exp = ((h - l.kernel) // l.stride + 1, (w - l.kernel) // l.stride + 1, c)
        if tuple(l.out_shape) != exp:
            _fail(f"{where}: maxpool out_shape {l.out_shape}, expected {exp}")
        return
    # compute layers
    if not _bits_ok(l.wbits):
        _fail(f"{where}: wbits must be 1..{MAX_BITS}, not {l.wbits!r}")
    if l.act not in ACTS:
        _fail(f"{where}: unknown act {l.act!r}; expected one of {', '.join(ACTS)}")
    if l.act == "none":
        if not last:
            _fail(f"{where}: only the last layer may output raw accumulators (act 'none')")
        if l.out_bits != 0:
            _fail(f"{where}: act 'none' needs out_bits 0, not {l.out_bits!r}")
    else:
        if not _bits_ok(l.out_bits):
            _fail(f"{where}: out_bits must be 1..{MAX_BITS}, not {l.out_bits!r}")
        if l.act == "thresholds" and l.out_bits > THRESHOLD_MAX_BITS:
            _fail(
                f"{where}: thresholds are used up to {THRESHOLD_MAX_BITS} bits; "
                f"out_bits={l.out_bits} needs act 'requant'"
            )
        if l.act == "requant" and l.out_bits == 1:
            _fail(f"{where}: bipolar outputs (out_bits 1) need act 'thresholds'")
    if l.kind == "dense":
        if len(l.in_shape) != 1 or len(l.out_shape) != 1:
            _fail(f"{where}: dense layers take and give vectors, not {l.in_shape} -> {l.out_shape}")
        wshape = (l.mh, l.mw)
    else:
        if len(l.in_shape) != 3 or len(l.out_shape) != 3 or l.kernel < 1:
            _fail(f"{where}: conv layers take and give HWC maps with kernel >= 1")
        h, w, _ = l.in_shape
        if not (isinstance(l.stride, int) and l.stride >= 1 and isinstance(l.pad, int) and 0 <= l.pad < l.kernel):
            _fail(f"{where}: conv needs stride >= 1 and 0 <= pad < kernel, not stride={l.stride!r} pad={l.pad!r}")
        exp = conv_out_hw(h, w, l.kernel, l.stride, l.pad)
        if min(exp) < 1 or tuple(l.out_shape[:2]) != exp:
            _fail(
                f"{where}: conv out_shape {l.out_shape} does not match a {l.kernel}x{l.kernel} conv "
                f"(stride {l.stride}, pad {l.pad}) of {l.in_shape}"
            )
        wshape = (l.mh, l.kernel, l.kernel, l.in_shape[2])
    w = _tensor(net, f"{l.name}.weight", where, wshape)
    lo, hi = weight_range(l.wbits, l.narrow)
    if w.size and (w.min() < lo or w.max() > hi):
        _fail(
            f"{where}: weights range [{w.min()}, {w.max()}] exceeds [{lo}, {hi}] for wbits={l.wbits}"
            f"{' narrow' if l.narrow and l.wbits > 1 else ''}"
        )
    if l.wbits == 1 and np.any(w == 0):
        _fail(f"{where}: bipolar weights must be -1 or +1, found 0")
    if l.bias:
        if l.act != "none":
            _fail(f"{where}: only a layer with act 'none' may have a bias")
        bias = _tensor(net, f"{l.name}.bias", where, (l.mh,))
        m = max(-acc_range(replace(l, bias=False))[0], acc_range(replace(l, bias=False))[1])
        if bias.size and np.abs(bias).max() > m:
            _fail(f"{where}: bias magnitude {int(np.abs(bias).max())} exceeds the accumulator's {m}")
    alo, ahi = acc_range(l)
    if l.act == "thresholds":
        n = 1 if l.out_bits == 1 else (1 << l.out_bits) - 1
        t = _tensor(net, f"{l.name}.thresholds", where, (l.mh, n))
        if n > 1 and np.any(np.diff(t, axis=1) < 0):
            _fail(f"{where}: thresholds must be ascending per channel")
        if t.size and (t.min() < alo or t.max() > ahi + 1):
            _fail(f"{where}: thresholds range [{t.min()}, {t.max()}] exceeds the accumulator range [{alo}, {ahi + 1}]")
    if l.act == "requant":
        m = _tensor(net, f"{l.name}.requant_mul", where, (l.mh,))
        b = _tensor(net, f"{l.name}.requant_add", where, (l.mh,))
        if not (0 <= l.requant_shift <= 62):
            _fail(f"{where}: requant_shift must be 0..62, not {l.requant_shift!r}")
        if m.size and m.min() < 0:
            _fail(
                f"{where}: requant multipliers must be >= 0 (negate the channel's weights instead), "
                f"found {int(m.min())}"
            )
        mbits = max(_signed_bits(int(m.min())), _signed_bits(int(m.max())))
        if acc_bits(l) + mbits > REQUANT_PRODUCT_BITS:
            _fail(f"{where}: requant multiplier of {mbits} bits overflows with a {acc_bits(l)}-bit accumulator")
        if np.abs(b).max(initial=0) >= (1 << REQUANT_PRODUCT_BITS):
            _fail(f"{where}: requant offset out of range")


# --- (de)serialisation -----------------------------------------------------------


def to_json(net: QuantizedNetwork) -> dict:
    return {
        "format": "bitscale.QuantizedNetwork",
        "version": FORMAT_VERSION,
        "num_classes": net.num_classes,
        "meta": net.meta,
        "layers": [asdict(l) for l in net.layers],
    }


def from_json(doc: dict, tensors: dict[str, np.ndarray]) -> QuantizedNetwork:
    if not isinstance(doc, dict) or doc.get("format") != "bitscale.QuantizedNetwork":
        _fail("not a bitscale network.json (missing format 'bitscale.QuantizedNetwork')")
    if doc.get("version") not in READABLE_VERSIONS:
        _fail(
            f"network.json version {doc.get('version')!r} is not supported "
            f"(expected one of {', '.join(map(str, READABLE_VERSIONS))})"
        )
    layers = []
    allowed = set(Layer.__dataclass_fields__)
    for i, d in enumerate(doc.get("layers") or []):
        if not isinstance(d, dict):
            _fail(f"layer {i} in network.json is not an object")
        unknown = set(d) - allowed
        if unknown:
            _fail(f"layer {i} in network.json has unknown field(s): {', '.join(sorted(unknown))}")
        try:
            kw: dict[str, Any] = {**d, "in_shape": tuple(d["in_shape"]), "out_shape": tuple(d["out_shape"])}
            layers.append(Layer(**kw))
        except (KeyError, TypeError) as e:
            _fail(f"layer {i} in network.json is malformed: {e}")
    num_classes = doc.get("num_classes")
    if not isinstance(num_classes, int):
        _fail(f"num_classes must be an integer >= 2, not {num_classes!r}")
    net = QuantizedNetwork(
        layers=tuple(layers), tensors=dict(tensors), num_classes=num_classes, meta=doc.get("meta") or {}
    )
    validate(net)
    return net


def save(net: QuantizedNetwork, directory: str | os.PathLike) -> Path:
    """Write ``network.json`` + ``network.npz`` into ``directory`` atomically; returns the json path."""
    validate(net)
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = dict(net.tensors)  # tensor names hold a dot: never numpy's allow_pickle
    _atomic_write(d / "network.npz", lambda f: np.savez_compressed(f, **arrays), binary=True)
    _atomic_write(d / "network.json", lambda f: json.dump(to_json(net), f, indent=1))
    return d / "network.json"


def load(path: str | os.PathLike) -> QuantizedNetwork:
    """Load and validate a network from a run directory or a ``network.json`` path."""
    p = Path(path)
    js = p / "network.json" if p.is_dir() else p
    npz = js.with_suffix(".npz")
    if not js.is_file():
        _fail(f"no network.json at {js}")
    if not npz.is_file():
        _fail(f"no network.npz beside {js}")
    doc = read_json(js, f"no network.json at {js}")
    try:
        with np.load(npz, allow_pickle=False) as z:
            tensors = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        _fail(f"{npz} is not a readable npz file: {e}")
    return from_json(doc, tensors)


def _atomic_write(path: Path, write, binary: bool = False) -> None:
    from bitscale.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb" if binary else "w") as f:
        write(f)


__all__ = [
    "Layer",
    "QuantizedNetwork",
    "act_range",
    "weight_range",
    "acc_range",
    "acc_bits",
    "validate",
    "save",
    "load",
    "to_json",
    "from_json",
    "replace",
    "conv_out_hw",
    "FORMAT_VERSION",
    "THRESHOLD_MAX_BITS",
    "INPUT_BITS",
    "MAX_BITS",
]
