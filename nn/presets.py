"""The Su et al. (ARC 2018) CNN families as Brevitas QAT models: ``vgg`` and ``darknet`` (32x32 input).

* ``vgg``: VGG-16-style, 3x3 "same" conv blocks with 2x2/2 max-pools,
  64,64,P,128,128,P,256,256,256,P,512,512,512,P,512,512,512,P (13 conv; 32 -> 1), then FC 512, 512 and
  the classifier (Su et al.'s slides count 15 CONV + 3 FC for ImageNet's VGG; this is the 32x32 form).
* ``darknet``: DarkNet-like, 8 conv layers alternating 3x3 and 1x1 after the stem:
  3x3 32, P2/2, 3x3 64, P2/2, 3x3 128, 1x1 64, 3x3 128, P3/2, 1x1 128, 3x3 256, 1x1 128, global average
  pool, then the classifier (32 -> 16 -> 8 -> 3; the 3x3/2 pool overlaps its windows).

Widths scale with ``--scale`` (round(c * scale), at least 1 is required). Every hidden layer is
``conv/linear (no bias) -> BatchNorm -> activation quantizer [-> max-pool]``, quantizers as
nn/models.py (bipolar or narrow-range signed weights, bipolar or unsigned activations, the fixed
1/255 pixel input). "Same" padding follows the padding rule (docs/arithmetic.md): a bipolar map is
padded with -1 by an explicit ``F.pad`` (which exports as a QONNX ``Pad`` node) and the conv itself
has no padding; unsigned maps use the conv's own zero padding.

The IR comes from exporting the model through QONNX and importing it (:func:`export`, the same
path as ``bitscale import``), and :func:`check_export` compares the golden model with Brevitas'
float64 forward.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from bitscale.errors import UserError
from bitscale.nn.precision import Bits

PRESETS = ("vgg", "darknet")
INPUT = 32
VGG_CONVS = (64, 64, "P", 128, 128, "P", 256, 256, 256, "P", 512, 512, 512, "P", 512, 512, 512, "P")
VGG_FCS = (512, 512)
# (kernel, channels) or ("P", kernel, stride); then global average pooling and the classifier
DARKNET = (
    (3, 32),
    ("P", 2, 2),
    (3, 64),
    ("P", 2, 2),
    (3, 128),
    (1, 64),
    (3, 128),
    ("P", 3, 2),
    (1, 128),
    (3, 256),
    (1, 128),
)


def _w(c: int, scale: float, what: str) -> int:
    n = round(c * scale)
    if n < 1:
        raise UserError(f"--scale {scale:g} makes {what} width round({c}*{scale:g})=0")
    return n


def spec(model: str, scale: float) -> list:
    """Layer list: ("conv", k, ch) / ("pool", k, s) / ("gap",) / ("fc", ch), before the classifier."""
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise UserError(f"--scale must be a positive number, not {scale!r}")
    out = []
    if model == "vgg":
        for i, c in enumerate(VGG_CONVS):
            out.append(("pool", 2, 2) if c == "P" else ("conv", 3, _w(c, scale, f"vgg conv layer {i}")))
        out += [("fc", _w(c, scale, f"vgg fc layer {i}")) for i, c in enumerate(VGG_FCS)]
    elif model == "darknet":
        for i, item in enumerate(DARKNET):
            out.append(
                ("pool", item[1], item[2])
                if len(item) == 3  # ("P", kernel, stride)
                else ("conv", item[0], _w(item[1], scale, f"darknet conv layer {i}"))
            )
        out.append(("gap",))
    else:
        raise UserError(f"unknown preset {model!r}; expected one of {', '.join(PRESETS)}")
    return out


class ConvNet(nn.Module):
    """vgg / darknet as a Brevitas QAT model (the same interface as nn/models.QNet)."""

    def __init__(
        self,
        model: str,
        wbits: Bits,
        abits: Bits,
        scale: float,
        num_classes: int,
        in_shape: tuple[int, ...],
        dropout: float = 0.0,
    ):
        super().__init__()
        from bitscale.nn.models import _act, _input_quant, _linear, _weight_kwargs

        if not (isinstance(wbits, int) and isinstance(abits, int)):
            raise UserError(f"{model}: per-layer bits are not supported for this preset (give one --wbits/--abits)")
        if wbits == 0 or abits == 0:
            raise UserError(f"{model}: the float baseline is not available for this preset")
        from brevitas.nn import QuantConv2d

        self.model, self.wbits, self.abits = model, wbits, abits
        self.in_shape = tuple(in_shape)
        self.quantized = True
        self.input_quant = _input_quant()
        h, _, c = self.in_shape
        self.body = nn.ModuleList()
        self.kinds: list[str] = []
        feat = None
        bipolar_in = False  # the pixel input pads with 0
        for item in spec(model, scale):
            if item[0] == "conv":
                k, ch = item[1], item[2]
                p = k // 2
                if p and bipolar_in:  # -1 = code 0 (padding rule)
                    self.body.append(_Pad(p, -1.0))
                    self.kinds.append("pad")
                    conv_pad = 0
                else:
                    conv_pad = p
                self.body.append(QuantConv2d(c, ch, k, padding=conv_pad, bias=False, **_weight_kwargs(wbits)))
                self.body.append(nn.BatchNorm2d(ch))
                self.body.append(_act(abits))
                self.kinds += ["conv", "bn", "act"]
                c = ch
                bipolar_in = abits == 1
            elif item[0] == "pool":
                self.body.append(nn.MaxPool2d(item[1], item[2]))
                self.kinds.append("pool")
                h = (h - item[1]) // item[2] + 1
            elif item[0] == "gap":
                self.body.append(nn.AdaptiveAvgPool2d(1))
                self.kinds.append("gap")
                h = 1
            else:
                if feat is None:
                    self.body.append(nn.Flatten())
                    self.kinds.append("flatten")
                    feat = c * h * h
                self.body.append(_linear(feat, item[1], wbits))
                self.body.append(nn.BatchNorm1d(item[1]))
                self.body.append(_act(abits))
                self.kinds += ["fc", "bn", "act"]
                feat = item[1]
            if dropout > 0 and item[0] in ("conv", "fc"):
                self.body.append(nn.Dropout(dropout))
                self.kinds.append("drop")
        if feat is None:
            self.body.append(nn.Flatten())
            self.kinds.append("flatten")
            feat = c * h * h
        self.last = _linear(feat, num_classes, wbits)
        self.logit_gain = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        x = self.input_quant(x)
        for mod in self.body:
            x = mod(x)
        return self.last(x)

    def loss_logits(self, x):
        return self(x) * torch.exp(self.logit_gain)


class _Pad(nn.Module):
    def __init__(self, p: int, value: float):
        super().__init__()
        self.p, self.value = p, value

    def forward(self, x):
        return nn.functional.pad(x, (self.p,) * 4, value=self.value)


def export(model: ConvNet, num_classes: int, meta: dict | None = None):
    """The IR of a trained preset: exported through QONNX and imported (nn/importer.py)."""
    import copy

    from bitscale.nn.importer import from_brevitas

    m = copy.deepcopy(model).to("cpu").float().eval()
    h, w, c = m.in_shape
    info = dict(meta or {})
    info["preset"] = m.model
    net, _ = from_brevitas(m, (c, h, w), num_classes, meta=info)
    return net


@torch.no_grad()
def check_export(model: ConvNet, net, x_uint8: np.ndarray, y=None, batch: int = 250) -> dict:
    """Golden model vs Brevitas' float64 forward on uint8 images (HWC): argmax agreement (integer part,
    ties alike) and exactness of the integer logits."""
    import copy

    from bitscale.nn import golden

    m = copy.deepcopy(model).to("cpu").double().eval()
    aff = net.meta["import"]["output"]
    agree = exact = correct = 0
    maxdiff = 0.0
    for s in range(0, len(x_uint8), batch):
        xb = x_uint8[s : s + batch]
        ref = m(torch.as_tensor(xb).double().permute(0, 3, 1, 2) / 255.0).numpy()
        ints = (ref - aff["beta"]) / aff["alpha"]
        g = golden.run(net, xb)
        agree += int((np.round(ints).argmax(1) == g.argmax(1)).sum())
        exact += int((np.abs(ints - g) < 1e-3).all(axis=1).sum())
        maxdiff = max(maxdiff, float(np.abs(ints - g).max()))
        if y is not None:
            correct += int((g.argmax(1) == np.asarray(y[s : s + batch])).sum())
    n = max(len(x_uint8), 1)
    return {
        "golden_test_acc": correct / n if y is not None else None,
        "golden_agreement": agree / n,
        "golden_logits_exact": exact / n,
        "golden_logits_max_diff": maxdiff,
    }
