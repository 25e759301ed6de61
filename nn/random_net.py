"""Random, valid QuantizedNetworks for tests and benchmarks (no training needed).

Guaranteed: the result passes :func:`bitscale.nn.ir.validate`, thresholds are
spread over the accumulator values actually reached on random inputs (so every
output level occurs), and the same arguments and seed give the same network.
"""

from __future__ import annotations

import numpy as np

from bitscale.nn import golden, requant
from dataclasses import replace

from bitscale.nn.ir import (
    THRESHOLD_MAX_BITS,
    Layer,
    QuantizedNetwork,
    acc_bits,
    acc_range,
    conv_out_hw,
    validate,
    weight_range,
)


def _weights(rng, shape, wbits, narrow=True):
    lo, hi = weight_range(wbits, narrow)
    if wbits == 1:
        return rng.choice(np.array([-1, 1], dtype=np.int64), size=shape)
    return rng.integers(lo, hi + 1, size=shape, dtype=np.int64)


def random_inputs(shape, n, seed=0) -> np.ndarray:
    """n random uint8 frames of ``shape``."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.int64).astype(np.uint8)


def _act_params(rng, layer: Layer, acc: np.ndarray, tensors: dict):
    """Pick thresholds or a requantizer from the observed accumulators (channels last)."""
    c = layer.mh
    acc = acc.reshape(-1, c)
    if layer.act == "thresholds":
        n = 1 if layer.out_bits == 1 else (1 << layer.out_bits) - 1
        qs = np.linspace(0.05, 0.95, n) if n > 1 else np.array([0.5])
        t = np.quantile(acc, qs, axis=0).T.round().astype(np.int64)  # (c, n)
        t = np.sort(t + rng.integers(-1, 2, size=t.shape), axis=1)
        alo, ahi = acc_range(layer)
        tensors[f"{layer.name}.thresholds"] = np.clip(t, alo, ahi + 1)
    else:
        top = (1 << layer.out_bits) - 1
        mn, mx = acc.min(axis=0), acc.max(axis=0)
        span = np.maximum(mx - mn, 1).astype(np.float64)
        shift = 16
        mul = np.maximum(1, np.round(top / span * (1 << shift))).astype(np.int64)
        mbits = int(mul.max()).bit_length() + 1
        while acc_bits(layer) + mbits > 60 and shift > 0:
            shift -= 1
            mul = np.maximum(1, np.round(top / span * (1 << shift))).astype(np.int64)
            mbits = int(mul.max()).bit_length() + 1
        add = (-mn * mul).astype(np.int64)
        # the narrowest multiplier with the same outputs on every reachable accumulator (nn/requant.py)
        lo, hi = requant.reachable_w(tensors[f"{layer.name}.weight"], layer.in_bits)
        mul, add, shift = requant.narrow(mul, add, shift, lo, hi, top)
        tensors[f"{layer.name}.requant_mul"] = mul
        tensors[f"{layer.name}.requant_add"] = add
        return shift
    return 0


def _act_for(bits):
    return "thresholds" if bits <= THRESHOLD_MAX_BITS else "requant"


def random_fc(widths, wbits, abits, num_classes=10, in_features=64, seed=0, narrow=True) -> QuantizedNetwork:
    """dense(in -> widths[0]) -> ... -> dense(-> num_classes); hidden acts of ``abits``.

    ``wbits``/``abits`` may be ints or per-layer lists (abits: one per hidden layer).
    """
    n_layers = len(widths) + 1
    wb = [wbits] * n_layers if isinstance(wbits, int) else list(wbits)
    ab = [abits] * len(widths) if isinstance(abits, int) else list(abits)
    return _build(seed, (in_features,), [("dense", w, None) for w in widths], num_classes, wb, ab, narrow)


def random_cnv(in_shape, convs, dense, wbits, abits, num_classes=10, seed=0, narrow=True) -> QuantizedNetwork:
    """conv/pool stack then flatten + dense.

    ``convs`` items: an int (3x3 valid conv channels), "P" (2x2/2 maxpool), ``("conv", ch, k, stride,
    pad)`` or ``("pool", k, stride)``.
    """

    def item(c):
        if c == "P":
            return ("maxpool", 0, (2, 2))
        if isinstance(c, tuple) and c[0] == "pool":
            return ("maxpool", 0, (c[1], c[2]))
        if isinstance(c, tuple):
            return ("conv", c[1], (c[2], c[3], c[4]))
        return ("conv", c, (3, 1, 0))

    spec: list[tuple[str, int, tuple[int, ...] | None]] = [item(c) for c in convs]
    spec.append(("flatten", 0, None))
    spec += [("dense", d, None) for d in dense]
    n_compute = sum(1 for s in spec if s[0] in ("dense", "conv")) + 1
    wb = [wbits] * n_compute if isinstance(wbits, int) else list(wbits)
    ab = [abits] * (n_compute - 1) if isinstance(abits, int) else list(abits)
    return _build(seed, tuple(in_shape), spec, num_classes, wb, ab, narrow)


def random_preset(spec, in_shape, wbits, abits, num_classes=10, seed=0, narrow=True) -> QuantizedNetwork:
    """A random IR with the layer shapes ``nn/presets.export`` gives the vgg/darknet preset ``spec``
    (:func:`bitscale.nn.presets.spec`): k x k "same" convs (stride 1, pad k // 2), pools, dense layers;
    global average pooling is, as the importer folds it, a flatten of the pooled map into the classifier."""
    convs, dense = [], []
    for item in spec:
        if item[0] == "conv":
            convs.append(("conv", item[2], item[1], 1, item[1] // 2))
        elif item[0] == "pool":
            convs.append(("pool", item[1], item[2]))
        elif item[0] == "fc":
            dense.append(item[1])
        elif item[0] != "gap":
            raise ValueError(f"unknown preset item {item!r}")
    return random_cnv(in_shape, convs, dense, wbits, abits, num_classes, seed, narrow)


def _build(seed, in_shape, spec, num_classes, wb, ab, narrow) -> QuantizedNetwork:
    rng = np.random.default_rng(seed)
    x = random_inputs(in_shape, 64, seed).astype(np.int64)
    layers, tensors = [], {}
    shape, bits, ci = tuple(in_shape), 8, 0
    spec = list(spec) + [("dense", num_classes, "last")]
    for i, (kind, ch, extra) in enumerate(spec):
        name = f"{kind}{i}"
        if kind == "maxpool":
            h, w, c = shape
            pk, ps = extra
            out = ((h - pk) // ps + 1, (w - pk) // ps + 1, c)
            layer = Layer("maxpool", name, shape, out, in_bits=bits, kernel=pk, stride=ps)
        elif kind == "flatten":
            layer = Layer("flatten", name, shape, (int(np.prod(shape)),), in_bits=bits)
        else:
            last = extra == "last"
            out_bits = 0 if last else ab[ci]
            act = "none" if last else _act_for(out_bits)
            if kind == "conv":
                h, w, c = shape
                k, st, pd = extra
                out = (*conv_out_hw(h, w, k, st, pd), ch)
                layer = Layer(
                    "conv",
                    name,
                    shape,
                    out,
                    in_bits=bits,
                    out_bits=out_bits,
                    wbits=wb[ci],
                    narrow=narrow,
                    act=act,
                    kernel=k,
                    stride=st,
                    pad=pd,
                )
                wshape = (ch, k, k, c)
            else:
                layer = Layer(
                    "dense", name, shape, (ch,), in_bits=bits, out_bits=out_bits, wbits=wb[ci], narrow=narrow, act=act
                )
                wshape = (ch, shape[0])
            tensors[f"{name}.weight"] = _weights(rng, wshape, wb[ci], narrow)
            ci += 1
        if layer.is_compute and layer.act != "none":
            tmp = QuantizedNetwork((layer,), tensors, 2)
            acc = golden.accumulate(tmp, layer, x)
            shift = _act_params(rng, layer, acc, tensors)
            if layer.act == "requant":
                layer = replace(layer, requant_shift=shift)
        tmp = QuantizedNetwork((layer,), tensors, 2)
        x = golden.run_layer(tmp, layer, x)
        layers.append(layer)
        shape = layer.out_shape
        if layer.is_compute:
            bits = layer.out_bits
    net = QuantizedNetwork(tuple(layers), tensors, num_classes, meta={"source": "random", "seed": seed})
    validate(net)
    return net
