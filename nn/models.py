"""Brevitas QAT models: ``fc`` (and the FINN presets ``tfc``/``sfc``/``lfc``) and ``cnv``.

Every hidden layer is ``linear/conv (no bias) -> BatchNorm -> activation quant``
(then a 2x2 max-pool where the topology has one). The last layer is a quantized
linear layer with no bias, no BatchNorm and a per-tensor weight scale, so the
argmax of its output equals the argmax of the raw integer accumulators.

Quantizers (docs/arithmetic.md):

* weights, 1 bit: ``SignedBinaryWeightPerTensorConst`` (bipolar +-1 x const scale);
  >= 2 bits: Brevitas' default ``Int8WeightPerTensorFloat`` family at ``wbits``:
  narrow range, per-tensor scale (2-bit weights are ternary {-1, 0, 1}).
* activations, 1 bit: ``SignedBinaryActPerTensorConst`` (x >= 0 -> +1, else -1);
  >= 2 bits: ``QuantReLU`` (unsigned, per-tensor learned scale).
* the network input: the 8-bit pixel, quantized with a fixed scale 1/255, so the
  model takes ``x_uint8 / 255`` and its input integers are exactly the pixels.
* ``wbits == abits == 0``: the plain-torch float baseline (Linear/Conv2d, BN, ReLU).

Inputs to :meth:`QNet.forward` are float tensors of pixel values already divided
by 255: ``(N, D)`` for fc and ``(N, C, H, W)`` for cnv.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from bitscale.errors import UserError

# names and input shapes: the torch-free catalog (re-exported here)
from bitscale.nn.catalog import CNV_INPUT, CONV_MODELS, MODELS, check_model, input_shape_for  # noqa: F401

if TYPE_CHECKING:
    from bitscale.nn.precision import Bits
    from bitscale.nn.presets import ConvNet

PRESET_BASE = {"tfc": 64, "sfc": 256, "lfc": 1024}
CNV_CONVS = (64, 64, "P", 128, 128, "P", 256, 256)
CNV_FCS = (512, 512)


def widths_for(model: str, scale: float, base: int = 4096, layers: int = 3) -> dict:
    """Layer widths: {'fc': [H]*L} or {'convs': [...], 'fcs': [...]}; UserError names a zero width."""
    check_model(model)
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise UserError(f"--scale must be a positive number, not {scale!r}")
    if model in ("vgg", "darknet"):
        from bitscale.nn.presets import spec

        return {"preset": spec(model, scale)}
    if model == "cnv":
        convs = []
        for i, c in enumerate(CNV_CONVS):
            if c == "P":
                convs.append("P")
                continue
            n = round(c * scale)
            if n < 1:
                raise UserError(f"--scale {scale:g} makes cnv conv layer {i} width round({c}*{scale:g})=0")
            convs.append(n)
        fcs = []
        for i, c in enumerate(CNV_FCS):
            n = round(c * scale)
            if n < 1:
                raise UserError(f"--scale {scale:g} makes cnv fc layer {i} width round({c}*{scale:g})=0")
            fcs.append(n)
        return {"convs": convs, "fcs": fcs}
    base = PRESET_BASE.get(model, base)
    if not isinstance(layers, int) or layers < 1:
        raise UserError(f"layers must be a positive integer, not {layers!r}")
    h = round(base * scale)
    if h < 1:
        raise UserError(f"--scale {scale:g} makes the {model} hidden width round({base}*{scale:g})=0")
    return {"fc": [h] * layers}


# --- quantizers -----------------------------------------------------------------------


def _input_quant():
    from brevitas.core.scaling import ScalingImplType
    from brevitas.nn import QuantIdentity
    from brevitas.quant import Uint8ActPerTensorFloat

    class PixelQuant(Uint8ActPerTensorFloat):
        """8-bit unsigned input with the fixed scale 1/255: the integers are the pixels."""

        scaling_impl_type = ScalingImplType.CONST
        scaling_const = 1.0 / 255.0
        max_val = 1.0
        # Brevitas' injector DSL: a constant overrides the base quantizer's computed `min_val` value
        min_val = 0.0  # pyright: ignore[reportAssignmentType]

    return QuantIdentity(act_quant=PixelQuant, return_quant_tensor=False)


def _weight_kwargs(wbits: int) -> dict:
    from brevitas.quant import SignedBinaryWeightPerTensorConst

    if wbits == 1:
        return {"weight_quant": SignedBinaryWeightPerTensorConst}
    return {"weight_bit_width": wbits}  # default: narrow-range, per-tensor float scale


def _act(abits: int) -> nn.Module:
    from brevitas.nn import QuantIdentity, QuantReLU
    from brevitas.quant import SignedBinaryActPerTensorConst

    if abits == 0:
        return nn.ReLU()
    if abits == 1:
        return QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=False)
    return QuantReLU(bit_width=abits, return_quant_tensor=False)


def _linear(i: int, o: int, wbits: int) -> nn.Module:
    if wbits == 0:
        return nn.Linear(i, o, bias=False)
    from brevitas.nn import QuantLinear

    return QuantLinear(i, o, bias=False, **_weight_kwargs(wbits))


def _conv(i: int, o: int, wbits: int) -> nn.Module:
    if wbits == 0:
        return nn.Conv2d(i, o, 3, bias=False)
    from brevitas.nn import QuantConv2d

    return QuantConv2d(i, o, 3, bias=False, **_weight_kwargs(wbits))


class Block(nn.Module):
    """compute (no bias) -> BatchNorm -> activation [-> 2x2 max-pool]."""

    def __init__(self, kind: str, compute: nn.Module, channels: int, abits: int, dropout: float = 0.0):
        super().__init__()
        self.kind = kind
        self.compute = compute
        self.bn = nn.BatchNorm2d(channels) if kind == "conv" else nn.BatchNorm1d(channels)
        self.act = _act(abits)
        self.pool = None
        # training-time only (identity in eval, so the export is unaffected)
        self.drop = nn.Dropout(dropout) if dropout > 0 else None

    def forward(self, x):
        x = self.act(self.bn(self.compute(x)))
        x = self.pool(x) if self.pool is not None else x
        return self.drop(x) if self.drop is not None else x


class QNet(nn.Module):
    """A stack of :class:`Block` s, an optional flatten (after the last conv) and the last linear."""

    def __init__(
        self,
        model: str,
        wbits: Bits,
        abits: Bits,
        scale: float,
        num_classes: int,
        in_shape: tuple[int, ...],
        base: int = 4096,
        layers: int = 3,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.model, self.wbits, self.abits = model, wbits, abits
        self.in_shape = tuple(in_shape)
        self.quantized = wbits != 0
        # per compute layer: weight bits, and the bits of the activations entering it (nn/precision.py)
        from bitscale.nn.precision import n_compute_layers, resolve

        n = n_compute_layers(model, scale, base, layers)
        self.layer_wbits, self.layer_abits = resolve(wbits, abits, n) if self.quantized else ((0,) * n, (0,) * n)
        wq = iter(self.layer_wbits)
        aq = iter(self.layer_abits[1:])  # the activation quantizer after block i: abits[i + 1]
        self.input_quant = _input_quant() if self.quantized else None
        w = widths_for(model, scale, base, layers)
        self.blocks = nn.ModuleList()
        self.flatten_after = None  # index of the block after which we flatten
        if model == "cnv":
            h, _, c = self.in_shape
            for item in w["convs"]:
                if item == "P":
                    self.blocks[-1].pool = nn.MaxPool2d(2, 2)
                    h //= 2
                    continue
                self.blocks.append(Block("conv", _conv(c, item, next(wq)), item, next(aq), dropout))
                c, h = item, h - 2
            self.flatten_after = len(self.blocks) - 1
            feat = c * h * h
            for item in w["fcs"]:
                self.blocks.append(Block("dense", _linear(feat, item, next(wq)), item, next(aq), dropout))
                feat = item
        else:
            feat = math.prod(self.in_shape)
            for item in w["fc"]:
                self.blocks.append(Block("dense", _linear(feat, item, next(wq)), item, next(aq), dropout))
                feat = item
        self.last = _linear(feat, num_classes, next(wq))
        # A positive per-tensor factor on the logits for the loss only (argmax is unchanged).
        self.logit_gain = nn.Parameter(torch.zeros(()))

    def features(self, x):
        if self.input_quant is not None:
            x = self.input_quant(x)
        for i, b in enumerate(self.blocks):
            x = b(x)
            if i == self.flatten_after:
                x = torch.flatten(x, 1)
        return x

    def forward(self, x):
        """Logits proportional to the last layer's integer accumulators (for the loss: x gain)."""
        return self.last(self.features(x))

    def loss_logits(self, x):
        return self(x) * torch.exp(self.logit_gain)


def build_model(
    model: str,
    wbits: Bits,
    abits: Bits,
    scale: float,
    num_classes: int,
    in_shape: tuple[int, ...],
    base: int = 4096,
    layers: int = 3,
    dropout: float = 0.0,
) -> QNet | ConvNet:
    if (wbits == 0) != (abits == 0):
        raise UserError("the float baseline needs both --wbits float and --abits float")
    # wbits/abits: ints (uniform) or one value per compute layer (nn/precision.py)
    if model in ("vgg", "darknet"):
        from bitscale.nn.presets import ConvNet

        return ConvNet(model, wbits, abits, scale, num_classes, in_shape, dropout)
    return QNet(model, wbits, abits, scale, num_classes, in_shape, base, layers, dropout)


def to_torch_input(x_uint8, model: QNet | ConvNet, dtype=torch.float32) -> torch.Tensor:
    """uint8 images (N, *in_shape) HWC -> the model's float input (pixels / 255; NCHW for cnv)."""
    t = torch.as_tensor(x_uint8).to(dtype) / 255.0
    if model.model in CONV_MODELS:
        t = t.permute(0, 3, 1, 2).contiguous()
    return t
