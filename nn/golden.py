"""Golden model: executes a QuantizedNetwork in numpy integers, exactly as the hardware does.

Activations are carried as their integer *values* (bipolar as -1/+1, unsigned
as 0..2^a-1); the hardware stores a bipolar value v as the bit (v+1)/2.
All arithmetic is int64; :func:`bitscale.nn.ir.validate` guarantees it does
not overflow.
"""

from __future__ import annotations

import numpy as np

from bitscale.nn.ir import Layer, QuantizedNetwork


def pad_value(bits: int) -> int:
    """The value padding inserts: the activation whose code is 0 (docs/arithmetic.md, "Padding").

    Unsigned activations and pixels pad with 0; bipolar activations (no 0 in {-1, +1}) with -1.
    """
    return -1 if bits == 1 else 0


def im2col(x: np.ndarray, k: int, stride: int = 1, pad: int = 0, fill: int = 0) -> np.ndarray:
    """(N, H, W, C) -> (N, OH, OW, k*k*C), columns in (ky, kx, c) order.

    The map is padded by ``pad`` rows/columns of ``fill`` on each side, then windows are taken
    every ``stride`` pixels (OH = (H + 2 pad - k) // stride + 1; rows/columns past the last whole
    window are unused).
    """
    n, h, w, c = x.shape
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=fill)
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    cols = np.empty((n, oh, ow, k, k, c), dtype=x.dtype)
    for ky in range(k):
        for kx in range(k):
            cols[:, :, :, ky, kx, :] = x[
                :, ky : ky + stride * (oh - 1) + 1 : stride, kx : kx + stride * (ow - 1) + 1 : stride, :
            ]
    return cols.reshape(n, oh, ow, k * k * c)


def accumulate(net: QuantizedNetwork, layer: Layer, x: np.ndarray) -> np.ndarray:
    """acc = sum(w * x) for a dense (N, MW) or conv (N, H, W, C) input; int64."""
    w = net.weight(layer).astype(np.int64)
    x = x.astype(np.int64)
    if layer.kind == "conv":
        x = im2col(x, layer.kernel, layer.stride, layer.pad, pad_value(layer.in_bits))
    acc = x @ w.T
    if layer.bias:
        acc = acc + net.tensors[f"{layer.name}.bias"].astype(np.int64)
    return acc


def activate(net: QuantizedNetwork, layer: Layer, acc: np.ndarray) -> np.ndarray:
    """Apply the layer's thresholds / requantizer / identity to accumulators (channels last)."""
    if layer.act == "none":
        return acc
    if layer.act == "thresholds":
        t = net.thresholds(layer).astype(np.int64)  # (C, n)
        reached = (acc[..., None] >= t).sum(axis=-1)
        return (2 * reached - 1) if layer.out_bits == 1 else reached
    mul, add, shift = net.requant(layer)
    y = (acc * mul.astype(np.int64) + add.astype(np.int64)) >> shift
    return np.clip(y, 0, (1 << layer.out_bits) - 1)


def maxpool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    n, h, w, c = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    out = np.full((n, oh, ow, c), np.iinfo(np.int64).min, dtype=np.int64)
    for ky in range(k):
        for kx in range(k):
            out = np.maximum(out, x[:, ky : ky + s * (oh - 1) + 1 : s, kx : kx + s * (ow - 1) + 1 : s, :])
    return out


def run_layer(net: QuantizedNetwork, layer: Layer, x: np.ndarray) -> np.ndarray:
    """One layer on a batch (leading axis N) of integer activations."""
    if layer.kind == "flatten":
        return x.reshape(x.shape[0], -1)
    if layer.kind == "maxpool":
        return maxpool(x, layer.kernel, layer.stride)
    return activate(net, layer, accumulate(net, layer, x))


def run_all(net: QuantizedNetwork, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's output for a batch of uint8 inputs shaped (N, *input_shape)."""
    x = np.asarray(x)
    if x.shape[1:] != tuple(net.input_shape):
        raise ValueError(f"input shape {x.shape[1:]} does not match the network's {net.input_shape}")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise ValueError("inputs must be 8-bit unsigned pixels (0..255)")
    outs = []
    x = x.astype(np.int64)
    for layer in net.layers:
        x = run_layer(net, layer, x)
        outs.append(x)
    return outs


def run(net: QuantizedNetwork, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """Final raw accumulators (N, num_classes) int64."""
    x = np.asarray(x)
    parts = [run_all(net, x[i : i + batch])[-1] for i in range(0, len(x), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, net.num_classes), np.int64)


def predict(net: QuantizedNetwork, x: np.ndarray) -> np.ndarray:
    """Class per input: argmax of the final accumulators (first index on ties)."""
    return run(net, x).argmax(axis=1)
