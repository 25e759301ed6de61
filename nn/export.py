"""Brevitas :class:`~bitscale.nn.models.QNet` -> :class:`~bitscale.nn.ir.QuantizedNetwork`.

The IR executes exactly what Brevitas computes in eval mode (docs/arithmetic.md,
"IR export"):

* weights are ``quant_weight().int()``; conv weights are reordered to
  (OC, KH, KW, IC) for HWC data, and the first dense layer after a flatten gets
  its columns reordered from CHW to HWC;
* BatchNorm + activation quantization fold into per-channel integer thresholds
  for ``abits <= ir.THRESHOLD_MAX_BITS`` (out = number of thresholds the
  accumulator reaches; bipolar: +1 iff the single threshold is reached), or into
  the requantizer ``clamp((acc*M + B) >> shift, 0, 2^a-1)`` for wider outputs;
* a channel with a negative BN slope gets its weight row negated (narrow range /
  bipolar keeps that in range) so comparisons are ``acc >= T`` and ``M >= 0``;
* thresholds are found in float64 by evaluating Brevitas' own formula
  (``round`` half-to-even, ``x >= 0 -> +1``) at integer accumulators, so they
  are exact, and clamped into the accumulator range ``[lo, hi + 1]``.

Also provides :func:`brevitas_ints`: Brevitas' own hidden activation integers and
last-layer integer accumulators (float64 forward), for checking the export.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from bitscale.nn import ir
from bitscale.nn.ir import Layer, QuantizedNetwork

if TYPE_CHECKING:
    from brevitas.nn.quant_layer import QuantWeightBiasInputOutputLayer


# --- reading Brevitas' scales ------------------------------------------------------------


def _scale(t) -> float:
    return float(torch.as_tensor(t).reshape(-1)[0])


@torch.no_grad()
def act_scale(act: nn.Module, dtype=torch.float64) -> float:
    """Per-tensor scale of a Brevitas activation quantizer (eval mode)."""
    q = _submodule(act, "act_quant")(torch.zeros(1, dtype=dtype))
    return _scale(q.scale)


@torch.no_grad()
def weight_ints(layer: QuantWeightBiasInputOutputLayer) -> tuple[np.ndarray, float]:
    qw = layer.quant_weight()
    s = qw.scale
    if torch.as_tensor(s).numel() != 1:
        raise ValueError("per-tensor weight scales are required")
    return qw.int().to(torch.int64).cpu().numpy(), _scale(s)


# --- the folding ------------------------------------------------------------------------


def _submodule(m: nn.Module, name: str) -> nn.Module:
    """``m.<name>``, a child module (torch's ``__getattr__`` is typed ``Tensor | Module``)."""
    child = getattr(m, name)
    if not isinstance(child, nn.Module):
        raise TypeError(f"{type(m).__name__}.{name} is not a module")
    return child


def _hwc(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """A conv layer's (H, W, C) input shape."""
    if len(shape) != 3:
        raise ValueError(f"a conv block needs an (H, W, C) input, not {shape}")
    return shape[0], shape[1], shape[2]


def _bn_affine(bn: nn.modules.batchnorm._BatchNorm):
    """(gamma, beta, mean, var, eps) as float64 numpy arrays (eval-mode BatchNorm)."""
    f = lambda t: t.detach().to(torch.float64).cpu().numpy()  # noqa: E731
    return f(bn.weight), f(bn.bias), f(bn.running_mean), f(bn.running_var), float(bn.eps)


def _levels(acc: np.ndarray, sw_sin: float, bn, abits: int, s_act: float) -> np.ndarray:
    """Brevitas' output level for integer accumulators ``acc`` (channels on axis 0).

    abits == 1: 1 if the BN output is >= 0 else 0 (Brevitas: x >= 0 -> +1);
    abits >= 2: clamp(round(z / s), 0, 2^a - 1) with half-to-even rounding.
    """
    gamma, beta, mean, var, eps = (v[:, None] if isinstance(v, np.ndarray) else v for v in bn)
    y = acc.astype(np.float64) * sw_sin
    z = (y - mean) / np.sqrt(var + eps) * gamma + beta
    if abits == 1:
        return (z >= 0).astype(np.int64)
    return np.clip(np.round(z / s_act), 0, (1 << abits) - 1).astype(np.int64)


def fold_thresholds(sw_sin: float, bn, abits: int, s_act: float, sign: np.ndarray, alo: int, ahi: int) -> np.ndarray:
    """Per-channel ascending integer thresholds on the sign-corrected accumulator acc' = sign*acc.

    T[c, k-1] = min{acc' in [alo, ahi] : level(sign*acc') >= k}, or ahi + 1 if none.
    """
    gamma, beta, mean, var, eps = bn
    n = 1 if abits == 1 else (1 << abits) - 1
    k = np.arange(1, n + 1, dtype=np.float64)[None, :]  # (1, n)
    slope = np.abs(sw_sin * gamma / np.sqrt(var + eps))[:, None]  # d z / d acc'
    icpt = (beta - mean * gamma / np.sqrt(var + eps))[:, None]
    target = np.zeros_like(k) if abits == 1 else (k - 0.5) * s_act  # z at the step
    with np.errstate(divide="ignore", invalid="ignore"):
        guess = np.where(slope > 0, (target - icpt) / slope, np.nan)
    sgn = sign[:, None].astype(np.float64)
    C = len(sign)
    kk = np.broadcast_to(np.arange(1, n + 1), (C, n))

    def level(tp):  # level at acc' = tp (C, n)
        return _levels(sgn * tp, sw_sin, bn, abits, s_act)

    lo_level = level(np.full((C, n), float(alo)))
    const_t = np.where(lo_level >= kk, alo, ahi + 1).astype(np.float64)
    t = np.where(np.isnan(guess), const_t, np.ceil(np.clip(guess, alo - 1.0, ahi + 1.0)))
    t = np.clip(t, alo, ahi + 1)
    for _ in range(64):  # fix up float error in the guess (one or two steps in practice)
        dec = (t > alo) & (level(t - 1) >= kk)
        inc = (t <= ahi) & (level(np.minimum(t, ahi)) < kk)
        if not dec.any() and not inc.any():
            break
        t = t - dec + (inc & ~dec)
    t = np.maximum.accumulate(t, axis=1)
    return t.astype(np.int64)


def fold_requant(sw_sin: float, bn, abits: int, s_act: float, sign: np.ndarray, layer: Layer):
    """(M, B, shift) with clamp((acc'*M + B) >> shift) ~ clamp(round(z / s)), M >= 0.

    The shift is the largest that keeps acc*M within ir.REQUANT_PRODUCT_BITS.
    """
    gamma, beta, mean, var, eps = bn
    m = np.abs(sw_sin * gamma / np.sqrt(var + eps)) / s_act
    c = (beta - mean * gamma / np.sqrt(var + eps)) / s_act
    abits_acc = ir.acc_bits(layer)
    for shift in range(62, -1, -1):
        M = np.round(m * 2.0**shift)
        B = np.round((c + 0.5) * 2.0**shift)
        if M.max(initial=0) >= 2.0**62 or np.abs(B).max(initial=0) >= 2.0**61:
            continue
        Mi = M.astype(np.int64)
        mbits = ir._signed_bits(int(Mi.max(initial=0)))
        if abits_acc + mbits <= ir.REQUANT_PRODUCT_BITS:
            return Mi, B.astype(np.int64), shift
    raise ValueError(f"{layer.name}: no requantizer shift fits a {abits_acc}-bit accumulator")


def fold_requant_exact(sw_sin: float, bn, abits: int, s_act: float, sign: np.ndarray, layer: Layer, wint: np.ndarray):
    """The narrowest (M, B, shift) whose outputs equal Brevitas' on every reachable accumulator, or None.

    Brevitas' levels are a non-decreasing step function of acc' (its thresholds, found exactly by
    :func:`fold_thresholds`); :func:`bitscale.nn.requant.fit` finds the narrowest multiply-shift with the
    same steps on each channel's reachable range (:func:`bitscale.nn.requant.reachable_w` of the
    sign-corrected weights). None where no (M, B, shift) with terms below 2^61 is exact.
    """
    from bitscale.nn import requant

    lo, hi = requant.reachable_w(wint, layer.in_bits)
    alo, ahi = ir.acc_range(layer)
    n = (1 << abits) - 1
    step = max(1, (1 << 22) // n)
    gamma, beta, mean, var, _ = bn
    T = np.concatenate(
        [
            fold_thresholds(
                sw_sin,
                (gamma[i : i + step], beta[i : i + step], mean[i : i + step], var[i : i + step], bn[4]),
                abits,
                s_act,
                sign[i : i + step],
                alo,
                ahi,
            )
            for i in range(0, len(sign), step)
        ]
    )
    k0 = (T <= lo[:, None]).sum(axis=1)
    k1 = (T <= hi[:, None]).sum(axis=1)
    kmin = int(k0.min()) + 1
    got = requant.fit(k0, k1, kmin, T[:, kmin - 1 : max(int(k1.max()), kmin - 1)], lo, hi, n)
    if got is None:
        return None
    M, B, shift = got
    if ir.acc_bits(layer) + ir._signed_bits(int(M.max(initial=0))) > ir.REQUANT_PRODUCT_BITS:
        return None
    return M, B, shift


# --- export -------------------------------------------------------------------------------


@torch.no_grad()
def export(model, num_classes: int, meta: dict | None = None) -> QuantizedNetwork:
    """The IR of a trained quantized :class:`QNet` (any device; read in float64 on the CPU)."""
    if not model.quantized:
        raise ValueError("the float baseline has no integer IR")
    m = copy.deepcopy(model).to("cpu").double().eval()
    layers, tensors = [], {}
    requant_info = {}  # per requantizer layer: multiplier bits, exact (narrow fit) or wide fallback
    shape: tuple[int, ...] = tuple(m.in_shape)
    in_bits, s_in = ir.INPUT_BITS, act_scale(m.input_quant)
    reorder_chw = None
    for i, b in enumerate(m.blocks):
        wint, sw = weight_ints(b.compute)
        if b.kind == "conv":
            h, w_, c = _hwc(shape)
            oc = wint.shape[0]
            wint = wint.transpose(0, 2, 3, 1)  # (OC, KH, KW, IC)
            out_shape = (*ir.conv_out_hw(h, w_, 3), oc)  # 3x3 valid, stride 1
            layer = Layer(
                "conv", f"conv{i}", shape, out_shape, in_bits=in_bits, wbits=m.layer_wbits[i], narrow=True, kernel=3
            )
        else:
            if reorder_chw is not None:  # CHW -> HWC columns
                hh, ww, cc = reorder_chw
                wint = wint.reshape(-1, cc, hh, ww).transpose(0, 2, 3, 1).reshape(wint.shape[0], -1)
                reorder_chw = None
            out_shape = (wint.shape[0],)
            layer = Layer("dense", f"fc{i}", shape, out_shape, in_bits=in_bits, wbits=m.layer_wbits[i], narrow=True)
        abits = m.layer_abits[i + 1]  # the bits this block's activation quantizer outputs
        layer = ir.replace(layer, out_bits=abits, act="thresholds" if abits <= ir.THRESHOLD_MAX_BITS else "requant")
        bn = _bn_affine(b.bn)
        sign = np.where(bn[0] < 0, -1, 1).astype(np.int64)
        wint = wint * sign.reshape((-1,) + (1,) * (wint.ndim - 1))
        tensors[f"{layer.name}.weight"] = wint.astype(np.int64)
        s_act = 1.0 if abits == 1 else act_scale(b.act)
        alo, ahi = ir.acc_range(layer)
        if layer.act == "thresholds":
            tensors[f"{layer.name}.thresholds"] = fold_thresholds(sw * s_in, bn, abits, s_act, sign, alo, ahi)
        else:
            exact = fold_requant_exact(sw * s_in, bn, abits, s_act, sign, layer, wint)
            M, B, shift = exact if exact is not None else fold_requant(sw * s_in, bn, abits, s_act, sign, layer)
            requant_info[layer.name] = {"mul_bits": int(M.max(initial=0)).bit_length(), "exact": exact is not None}
            tensors[f"{layer.name}.requant_mul"] = M
            tensors[f"{layer.name}.requant_add"] = B
            layer = ir.replace(layer, requant_shift=shift)
        layers.append(layer)
        shape, in_bits, s_in = layer.out_shape, abits, s_act
        if b.pool is not None:
            h, w_, c = shape
            out = (*ir.conv_out_hw(h, w_, 2, 2), c)
            layers.append(Layer("maxpool", f"pool{i}", shape, out, in_bits=in_bits, kernel=2, stride=2))
            shape = out
        if i == m.flatten_after:
            reorder_chw = shape
            layers.append(Layer("flatten", f"flatten{i}", shape, (int(np.prod(shape)),), in_bits=in_bits))
            shape = (int(np.prod(shape)),)
    wint, sw = weight_ints(m.last)
    if reorder_chw is not None:
        hh, ww, cc = reorder_chw
        wint = wint.reshape(-1, cc, hh, ww).transpose(0, 2, 3, 1).reshape(wint.shape[0], -1)
    last = Layer(
        "dense",
        "fc_out",
        shape,
        (num_classes,),
        in_bits=in_bits,
        out_bits=0,
        wbits=m.layer_wbits[-1],
        narrow=True,
        act="none",
    )
    tensors["fc_out.weight"] = wint.astype(np.int64)
    layers.append(last)
    info = dict(meta or {})
    info.update({"source": "brevitas", "last_scale": sw * s_in})
    if requant_info:
        info["requant"] = requant_info
    net = QuantizedNetwork(tuple(layers), tensors, num_classes, meta=info)
    ir.validate(net)
    return net


@torch.no_grad()
def brevitas_ints(model, x_uint8: np.ndarray, batch: int = 500):
    """Brevitas' float64 eval forward on uint8 images: (hidden act ints per block, HWC; last ints).

    Hidden ints are ``round(value / scale)`` of each block's activation output
    (before pooling); last ints are ``round(logits / (s_w * s_in))``.
    """
    from bitscale.nn.models import to_torch_input

    m = copy.deepcopy(model).to("cpu").double().eval()
    scales = [1.0 if m.layer_abits[i + 1] == 1 else act_scale(b.act) for i, b in enumerate(m.blocks)]
    _, sw = weight_ints(m.last)
    last_scale = sw * scales[-1]
    captured = []
    hooks = [
        b.act.register_forward_hook(lambda mod, inp, out, i=i: captured.append((i, out)))
        for i, b in enumerate(m.blocks)
    ]
    hidden = [[] for _ in m.blocks]
    last = []
    try:
        for s in range(0, len(x_uint8), batch):
            captured.clear()
            logits = m(to_torch_input(x_uint8[s : s + batch], m, torch.float64))
            for i, out in captured:
                v = out.value if hasattr(out, "value") else out
                v = torch.round(v / scales[i]).to(torch.int64).numpy()
                if v.ndim == 4:
                    v = v.transpose(0, 2, 3, 1)
                hidden[i].append(v)
            last.append(torch.round(logits / last_scale).to(torch.int64).numpy())
    finally:
        for h in hooks:
            h.remove()
    return [np.concatenate(h) for h in hidden], np.concatenate(last)
