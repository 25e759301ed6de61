"""Folding: how much of each compute layer is unrolled in hardware.

Per compute layer: PE output channels and SIMD inputs in parallel, and the
MAC mode. Cycles per frame of a layer are
``(MH/PE) * (MW/SIMD) * iters * out_pixels`` with iters = 1 (parallel),
wbits (weight-serial) or wbits * in_bits (bit-serial). A binary x binary
layer (XNOR-popcount) takes one cycle whatever the mode.

Guaranteed: a Folding that passed :func:`validate` against a network is legal
for hw/ and cost_model/ (PE | MH, SIMD | MW, and for conv SIMD | IC so the
sliding window streams whole SIMD groups of one pixel), and no signal of the
layer is :data:`MAX_SIGNAL_BITS` bits or wider (the weight word PE*SIMD*w,
the input word SIMD*a, the output word PE*out bits, the activation-parameter
word): Amaranth's netlist numbers a signal's bits in 16 bits (and Verilator's
``--max-num-width`` is 65536), so generate could not build it. Auto-folding
proposes only foldings inside the same limit (:func:`signal_widths`).

Errors: an illegal folding, or a folding document of the wrong form, raises ValueError naming the
layer and the value (as hw/'s components do for bad parameters); where a folding comes from the
user, bitscale/api.py turns it into a UserError (the CLI's one line, exit 2).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from bitscale.errors import read_json
from bitscale.hw import inventory
from bitscale.hw.inventory import MODES
from bitscale.nn.ir import Layer, QuantizedNetwork

__all__ = ["MODES"]  # re-exported: callers read fold.MODES
MAX_SIGNAL_BITS = 1 << 16


def signal_widths(pe, simd, wlane, in_bits, out_bits, param_bits_per_pe):
    """The widest words of an MVTU (vectorized over numpy arrays too): weight word (``wlane`` bits
    per lane: w for whole weights, 1 for bit-planes), input word, output word, parameter word."""
    return {
        "weight word PE*SIMD*w": pe * simd * wlane,
        "input word SIMD*a": simd * in_bits,
        "output word PE*bits": pe * out_bits,
        "parameter word": pe * param_bits_per_pe,
    }


def param_bits_per_pe(net: QuantizedNetwork, layer: Layer) -> int:
    """Bits of one output channel's activation parameters as hw/mvtu.py packs them (hw/inventory.py)."""
    return inventory.param_bits_per_pe(net, layer)


def check_widths(net: QuantizedNetwork, layer: Layer, f: "LayerFolding") -> None:
    """ValueError when a signal of ``layer`` folded by ``f`` is too wide to generate."""
    from bitscale.nn.ir import acc_bits

    wp, _ = inventory.planes(layer.wbits, layer.in_bits, f.mode)
    wlane = int(inventory.weight_lane_bits(layer.wbits, wp))
    out_bits = acc_bits(layer) if layer.act == "none" else layer.out_bits
    widths = signal_widths(f.pe, f.simd, wlane, layer.in_bits, out_bits, param_bits_per_pe(net, layer))
    for what, w in widths.items():
        if w >= MAX_SIGNAL_BITS:
            raise ValueError(
                f"layer {layer.name!r}: PE {f.pe}, SIMD {f.simd} ({f.mode}) makes the {what} "
                f"{w} bits, at or above the {MAX_SIGNAL_BITS}-bit limit of one signal; "
                f"use a smaller PE or SIMD"
            )


@dataclass(frozen=True)
class LayerFolding:
    """One compute layer's folding. ``mac``: where its integer x integer products are built
    (parallel mode, both operands >= 2 bits; elsewhere there are none and it is ignored): ``"lut"``
    (logic, never a DSP block) or ``"dsp"`` (a registered product that Yosys maps to a DSP block
    where the family does). Auto-folding chooses it per layer under the board's budget; a folding
    file without it means ``"dsp"`` (the products as written before the field existed)."""

    name: str
    pe: int = 1
    simd: int = 1
    mode: str = "parallel"
    mac: str = "dsp"


@dataclass(frozen=True)
class Folding:
    layers: tuple[LayerFolding, ...]

    def __getitem__(self, name: str) -> LayerFolding:
        for f in self.layers:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_json(self) -> dict:
        return {"format": "bitscale.Folding", "layers": [asdict(f) for f in self.layers]}

    @staticmethod
    def from_json(doc) -> "Folding":
        if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list):
            raise ValueError("a folding file must be a JSON object with a 'layers' list")
        out = []
        for i, d in enumerate(doc["layers"]):
            if not isinstance(d, dict) or not isinstance(d.get("name"), str):
                raise ValueError(f"folding layer {i} must be an object with a 'name'")
            unknown = set(d) - {"name", "pe", "simd", "mode", "mac"}
            if unknown:
                raise ValueError(f"folding layer {d['name']!r} has unknown field(s): {', '.join(sorted(unknown))}")
            out.append(LayerFolding(**d))
        return Folding(tuple(out))

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1))

    @staticmethod
    def load(path) -> "Folding":
        return Folding.from_json(read_json(path, f"no folding file at {Path(path)}"))


def iterations(layer: Layer, mode: str) -> int:
    """Cycles one SIMD word of one PE group takes in ``mode``: weight planes x activation planes."""
    wp, ap = inventory.planes(layer.wbits, layer.in_bits, mode)
    return wp * ap


def layer_cycles(layer: Layer, f: LayerFolding) -> int:
    """Cycles per frame of one compute layer under folding ``f``.

    The MVTU's ``NF * SF * iters * out_pixels``; for a conv also at least the ``H*W*C/SIMD`` words
    its sliding window accepts (a strided conv can be input-bound: 1x1 stride 2 reads 4x the words
    it emits).
    """
    mvtu = (layer.mh // f.pe) * (layer.mw // f.simd) * iterations(layer, f.mode) * layer.out_pixels
    if layer.kind == "conv":
        h, w, c = layer.in_shape
        return max(mvtu, h * w * (c // f.simd))
    return mvtu


def ring_rows(h: int, kernel: int, stride: int = 1, pad: int = 0) -> int:
    """Rows the window ring holds (hw/swg.py, cost_model): max rows needed + max rows released."""
    need, release = _row_plan(h, kernel, stride, pad)[3:]
    return max(need) + max(release)


def _row_plan(h: int, k: int, s: int, p: int):
    """Per output row: (first needed input row, ky of the first real row (lo), ky bound (hi),
    rows the reader waits for, rows released after it)."""
    oh = (h + 2 * p - k) // s + 1
    y0 = [oy * s - p for oy in range(oh)]
    first = [min(max(y, 0), h) for y in y0]
    lo = [max(0, -y) for y in y0]
    hi = [min(k, h - y) for y in y0]
    release = [first[i + 1] - first[i] for i in range(oh - 1)] + [h - first[-1]]
    need = [max(y + hi[i] - first[i], release[i]) for i, y in enumerate(y0)]
    return first, lo, hi, need, release


def pool_cycles(layer: Layer, lanes: int) -> int:
    """Cycles per frame of a max-pool taking ``lanes`` channels a word (hw/maxpool.py).

    kernel == stride: one cycle per input word; otherwise the sliding window behind it emits
    ``OH*OW*K*K*C/lanes`` words and accepts ``H*W*C/lanes``, whichever is more.
    """
    h, w, c = layer.in_shape
    words_in = h * w * (c // lanes)
    if layer.kernel == layer.stride:
        return words_in
    oh, ow, _ = layer.out_shape
    return max(words_in, oh * ow * layer.kernel * layer.kernel * (c // lanes))


def stream_lanes(net: QuantizedNetwork, folding: Folding) -> dict[str, int]:
    """Elements per word entering each max-pool layer, as hw/top.py builds the chain."""
    import math

    out = {}
    lanes = folding[net.compute_layers[0].name].simd
    for layer in net.layers:
        if layer.kind == "maxpool":
            c = layer.in_shape[2]
            if c % lanes:
                lanes = math.gcd(c, lanes)
            out[layer.name] = lanes
        elif layer.is_compute:
            lanes = folding[layer.name].pe
    return out


def network_cycles(net: QuantizedNetwork, folding: Folding) -> int:
    """Cycles per frame of the whole pipeline: the slowest compute layer or max-pool."""
    cyc = [layer_cycles(l, folding[l.name]) for l in net.compute_layers]
    lanes = stream_lanes(net, folding)
    cyc += [pool_cycles(l, lanes[l.name]) for l in net.layers if l.kind == "maxpool"]
    return max(cyc)


def validate_layer(layer: Layer, f: LayerFolding) -> None:
    where = f"layer {layer.name!r}"
    for what, v in (("PE", f.pe), ("SIMD", f.simd)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{where}: {what} must be a positive integer, not {v!r}")
    if f.mode not in MODES:
        raise ValueError(f"{where}: mode must be one of {', '.join(MODES)}, not {f.mode!r}")
    if f.mac not in inventory.MACS:
        raise ValueError(f"{where}: mac must be one of {', '.join(inventory.MACS)}, not {f.mac!r}")
    if layer.mh % f.pe:
        raise ValueError(f"{where}: PE must divide MH={layer.mh}, not {f.pe!r}")
    if layer.mw % f.simd:
        raise ValueError(f"{where}: SIMD must divide MW={layer.mw}, not {f.simd!r}")
    if layer.kind == "conv" and layer.in_shape[2] % f.simd:
        raise ValueError(f"{where}: SIMD must divide the conv's input channels IC={layer.in_shape[2]}, not {f.simd!r}")


def validate(net: QuantizedNetwork, folding: Folding) -> None:
    """Raise ValueError naming the first layer and value that is not legal for ``net``."""
    names = [l.name for l in net.compute_layers]
    got = [f.name for f in folding.layers]
    if got != names:
        missing = [n for n in names if n not in got]
        extra = [n for n in got if n not in names]
        detail = (f"missing {missing}" if missing else "") + (f" unknown {extra}" if extra else "")
        raise ValueError(f"folding must list the compute layers {names} in order; {detail or f'got {got}'}")
    for layer in net.compute_layers:
        validate_layer(layer, folding[layer.name])
        check_widths(net, layer, folding[layer.name])


def _largest_divisor_at_most(n: int, cap: int) -> int:
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


def default_folding(net: QuantizedNetwork, mode: str = "parallel", max_pe: int = 8, max_simd: int = 16) -> Folding:
    """A small, always-legal folding: modest PE/SIMD per layer, one mode throughout.

    For a folding matched to a board and a target FPS use
    ``bitscale.cost_model`` auto-folding instead.
    """
    out = []
    for l in net.compute_layers:
        simd_cap = l.in_shape[2] if l.kind == "conv" else l.mw
        simd = _largest_divisor_at_most(simd_cap, max_simd)
        pe = _largest_divisor_at_most(l.mh, max_pe)
        out.append(LayerFolding(l.name, pe, simd, mode))
    return Folding(tuple(out))
