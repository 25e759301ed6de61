"""QONNX import: a QONNX graph (Brevitas ``export_qonnx``, FINN flows) or a Brevitas module -> the IR.

The graph is first normalized with qonnx's own transformations (``cleanup_model``: shape
inference, constant folding, unique names; ``GemmToMatMul``; ``ChangeBatchSize`` for batched
checking). Then one pass over the nodes in topological order maps them onto the IR
(docs/import.md):

* the first activation ``Quant`` after the graph input is the network input: its integer codes
  (offset by ``2^(b-1)`` when signed) are the IR's 8-bit input; float ops before it
  (``Mul``/``Add``/``Sub``/``Div`` preprocessing, as BNN-PYNQ's ``2x - 1``) run on the host;
* ``Conv``/``MatMul`` whose weight is ``Quant``/``BipolarQuant`` of an initializer is a compute
  layer (integer weights, per-tensor or per-channel scale, zero point 0);
* the elementwise chain after it (``Add`` bias, ``Mul``/``Div``/``Sub`` scales,
  ``BatchNormalization``, ``Relu``) up to the next activation ``Quant``/``BipolarQuant`` becomes
  per-channel integer thresholds, found by bisection on the chain itself evaluated in float64
  at integer accumulators (monotone per channel; a decreasing channel has its weight row
  negated); above 4 bits, the narrowest multiply-shift requantizer with the same steps on every
  reachable accumulator (nn/requant.py, act ``requant``, as ``train`` exports); with no quantizer (the graph output) it must be a positive per-tensor affine map,
  and per-channel offsets become an integer bias;
* ``MaxPool`` (no padding) is a maxpool layer; ``Flatten``/``Reshape`` to (N, -1) a flatten
  (the next dense layer's columns are reordered from CHW to HWC); ``GlobalAveragePool`` feeding
  a dense layer is folded into it (docs/arithmetic.md, "Global pooling"); an explicit ``Pad``
  whose value is the code-0 activation (docs/arithmetic.md, "Padding") merges into the next conv.

Anything else — an op, a non-uniform or per-channel activation quantizer, a float layer between
quantized ones, zero padding of a bipolar map — is one :class:`~bitscale.errors.UserError` naming
the node (``op_type``, ``name``) and why.

Guaranteed: :func:`import_qonnx` returns a network that passes ``ir.validate``; the
``meta["import"]`` block records how host inputs map to the IR's input codes.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn

import numpy as np
from bitscale.nn import ir
from bitscale.nn.ir import Layer, QuantizedNetwork

from bitscale.errors import UserError

CHAIN_OPS = ("Add", "Sub", "Mul", "Div", "BatchNormalization", "Relu")
PRE_OPS = ("Mul", "Add", "Sub", "Div", "Reshape", "Flatten")
SUPPORTED = (
    "Quant",
    "BipolarQuant",
    "Conv",
    "MatMul",
    "Gemm",
    "Transpose",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "BatchNormalization",
    "Relu",
    "MaxPool",
    "GlobalAveragePool",
    "Flatten",
    "Reshape",
    "Pad",
    "Identity",
    "Dropout",
)


def _err(node, why: str) -> NoReturn:
    raise UserError(f"cannot import node {node.name!r} (op_type {node.op_type}): {why}")


# --- symbolic tensors ----------------------------------------------------------------------


@dataclass
class _Act:
    """An integer activation: value = scale * (code - offset); code is what the IR carries."""

    shape: tuple  # IR shape: (H, W, C) or (N,)
    bits: int  # IR bits (1 = bipolar codes -1/+1)
    scale: float
    offset: int = 0
    chw: tuple | None = None  # flat tensor flattened from an ONNX (C, H, W) map
    pool: tuple | None = None  # pending global pooling: the (H, W, C) map it sums
    pad: int = 0  # pending explicit padding (code 0) for the next conv

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 3 and self.pool is None

    def code0_value(self) -> float:
        return -self.scale if self.bits == 1 else -self.scale * self.offset


@dataclass
class _Acc:
    """Accumulators of a compute layer on their way to a quantizer: value = scale_c * (acc + corr_c)."""

    layer: Layer
    weight: np.ndarray  # IR layout, (OC, KH, KW, IC) or (OC, IN)
    scale: np.ndarray  # (C,)
    corr: np.ndarray  # (C,) int64
    spatial: bool
    chain: list = field(default_factory=list)


# --- the importer ------------------------------------------------------------------------------


class _Importer:
    def __init__(self, model):
        self.m = model
        self.g = model.graph
        self.consts: dict[str, np.ndarray] = {}
        self.sym: dict[str, object] = {}
        self.layers: list[Layer] = []
        self.tensors: dict[str, np.ndarray] = {}
        self.input_quant = None
        self.pre_nodes: list[str] = []
        self.n = 0
        self.weights_meta: dict = {}
        self.out_affine: dict = {}

    # constants
    def const(self, name):
        if name in self.consts:
            return self.consts[name]
        v = self.m.get_initializer(name)
        return None if v is None else np.asarray(v)

    def _name(self, kind):
        self.n += 1
        return f"{kind}{self.n - 1}"

    def run(self):
        from qonnx.custom_op.general.bipolar_quant import binary_quant
        from qonnx.custom_op.general.quant import quant

        gin = self.g.input[0].name
        self.sym[gin] = "float"
        for node in self.g.node:
            op = node.op_type
            ins = list(node.input)
            out = node.output[0] if node.output else ""
            dyn = [i for i in ins if i and self.const(i) is None]
            if op not in SUPPORTED:
                _err(node, f"op {op} is not supported (supported: {', '.join(SUPPORTED)})")
            if not dyn:  # constant subgraph: weights, folded params
                vals = [self.const(i) if i else None for i in ins]
                if op == "Quant":
                    self._check_quant_attrs(node)
                    a = _attrs(node)
                    self.consts[out] = quant(
                        vals[0],
                        vals[1],
                        vals[2],
                        vals[3],
                        a.get("signed", 1),
                        a.get("narrow", 0),
                        a.get("rounding_mode", "ROUND"),
                    )
                    self.weights_meta[out] = ("quant", node, vals, a)
                elif op == "BipolarQuant":
                    self.consts[out] = binary_quant(vals[0], vals[1])
                    self.weights_meta[out] = ("bipolar", node, vals, {})
                elif op == "Transpose" and ins[0] in self.weights_meta:  # Gemm transB, lowered
                    perm = _attrs(node).get("perm")
                    self.consts[out] = np.transpose(np.asarray(vals[0]), perm)
                    kind, qn, qv, qa = self.weights_meta[ins[0]]
                    qv = [
                        np.transpose(v, perm) if isinstance(v, np.ndarray) and v.ndim == len(perm or v.shape) else v
                        for v in qv
                    ]
                    self.weights_meta[out] = (kind, qn, qv, qa)
                else:
                    _err(node, "a constant expression bitscale does not fold (run qonnx's FoldConstants)")
                continue
            x = self.sym.get(dyn[0])
            if x is None:
                _err(node, f"its input {dyn[0]!r} is not produced by a supported node")
            if len(dyn) > 1:
                _err(node, "two dynamic inputs (residual connections / element-wise joins are not supported)")
            if op in ("Identity", "Dropout"):
                self.sym[out] = x
            elif x == "float":
                self._pre(node, out)
            elif op in ("Quant", "BipolarQuant"):
                self._quant(node, x, out)
            elif op in ("Conv", "MatMul"):
                self._compute(node, x, out)
            elif op in CHAIN_OPS:
                if not isinstance(x, _Acc):
                    _err(
                        node,
                        "an element-wise op on quantized activations (it must sit between a "
                        "Conv/MatMul and the next activation quantizer)",
                    )
                x.chain.append(node)
                self.sym[out] = x
            elif op == "MaxPool":
                self._maxpool(node, x, out)
            elif op == "GlobalAveragePool":
                if not isinstance(x, _Act) or not x.spatial:
                    _err(node, "global pooling needs a quantized activation map")
                h, w, c = x.shape
                self.sym[out] = replace(x, pool=x.shape, scale=x.scale / (h * w), chw=None)
            elif op in ("Flatten", "Reshape"):
                self._flatten(node, x, out)
            elif op == "Pad":
                self._pad(node, x, out)
            elif op == "Transpose":
                _err(node, "a Transpose of activations is not supported (only of constant weights)")
            else:
                _err(node, "not supported here")
        outs = [o.name for o in self.g.output]
        if len(outs) != 1:
            raise UserError(f"the graph has {len(outs)} outputs; bitscale imports single-output classifiers")
        last = self.sym.get(outs[0])
        if not isinstance(last, _Acc):
            raise UserError(
                "the graph output is not the accumulator of a Conv/MatMul layer "
                "(the last layer must be an unquantized dense layer)"
            )
        self._last(last)

    # nodes -----------------------------------------------------------------------------------
    def _check_quant_attrs(self, node):
        a = _attrs(node)
        rm = a.get("rounding_mode", "ROUND")
        if rm not in ("ROUND", "ROUND_TO_ZERO", "FLOOR", "CEIL", "HALF_EVEN"):
            _err(node, f"rounding mode {rm!r} is not supported")

    def _pre(self, node, out):
        """Float ops between the graph input and the first quantizer run on the host."""
        if node.op_type in ("Quant", "BipolarQuant"):
            self._input_quant(node, out)
            return
        if node.op_type not in PRE_OPS:
            _err(
                node,
                "a float op before the input quantizer (only Mul/Add/Sub/Div/Reshape preprocessing is "
                "allowed there; a float layer between quantized ones is not)",
            )
        self.pre_nodes.append(node.name)
        self.sym[out] = "float"

    def _quant_params(self, node):
        a = _attrs(node)
        scale, zp, bw = (self.const(i) for i in node.input[1:4])
        if scale is None or zp is None or bw is None:
            _err(node, "scale, zero point and bit width must be constants")
        if np.asarray(scale).size != 1:
            _err(node, "a per-channel activation scale is not supported (per-tensor only)")
        if np.any(np.asarray(zp) != 0):
            _err(node, "a non-zero zero point is not supported")
        bits = int(np.asarray(bw).reshape(-1)[0])
        if float(np.asarray(bw).reshape(-1)[0]) != bits:
            _err(node, f"a fractional bit width {float(np.asarray(bw).reshape(-1)[0])} is not supported")
        return float(np.asarray(scale).reshape(-1)[0]), bits, int(a.get("signed", 1)), int(a.get("narrow", 0))

    def _input_quant(self, node, out):
        if node.op_type == "BipolarQuant":  # binary input: codes 0 / 2 with offset 1 (value s*(code-1) = -s/+s)
            s = self.const(node.input[1])
            if s is None or np.asarray(s).size != 1:
                _err(node, "a per-channel or dynamic bipolar input scale is not supported")
            scale, bits, signed, narrow, offset = float(np.asarray(s).reshape(-1)[0]), 1, 1, 0, 1
        else:
            scale, bits, signed, narrow = self._quant_params(node)
            offset = (1 << (bits - 1)) if signed else 0
        if bits > ir.INPUT_BITS:
            _err(node, f"the input quantizer has {bits} bits; the IR input is at most {ir.INPUT_BITS}")
        shape = tuple(self.m.get_tensor_shape(out))
        ishape = (shape[2], shape[3], shape[1]) if len(shape) == 4 else (int(np.prod(shape[1:])),)
        self.input_quant = {
            "node": node.name,
            "op_type": node.op_type,
            "tensor": out,
            "scale": scale,
            "bits": bits,
            "signed": bool(signed),
            "narrow": bool(narrow),
            "offset": offset,
            "preprocess": list(self.pre_nodes),
            "layout": "NCHW" if len(shape) == 4 else "NC",
        }
        self.sym[out] = _Act(ishape, ir.INPUT_BITS, scale, offset)

    def _quant(self, node, x, out):
        if isinstance(x, _Act):
            _err(node, "re-quantizing an activation without a layer in between is not supported")
        if node.op_type == "BipolarQuant":
            s = self.const(node.input[1])
            if s is None or np.asarray(s).size != 1:
                _err(node, "a per-channel or dynamic bipolar scale is not supported")
            q = {"kind": "bipolar", "scale": float(np.asarray(s).reshape(-1)[0]), "bits": 1, "offset": 0}
        else:
            scale, bits, signed, narrow = self._quant_params(node)
            if bits > ir.MAX_BITS:
                _err(node, f"{bits}-bit activations: the IR carries activations of at most {ir.MAX_BITS} bits")
            a = _attrs(node)
            q = {
                "kind": "int",
                "scale": scale,
                "bits": bits,
                "signed": signed,
                "narrow": narrow,
                "offset": (1 << (bits - 1)) if signed else 0,
                "zp": self.const(node.input[2]),
                "bw": self.const(node.input[3]),
                "rounding": a.get("rounding_mode", "ROUND"),
            }
            if bits == 1:
                _err(node, "a 1-bit Quant (use BipolarQuant for binary activations)")
        self._finish(x, node, q, out)

    def _weights(self, node, wname):
        info = self.weights_meta.get(wname)
        if info is None:
            if self.const(wname) is not None:
                _err(
                    node,
                    "its weights are float (not Quant/BipolarQuant): a float layer between "
                    "quantized ones cannot be mapped",
                )
            _err(node, "its weights are not a constant")
        kind, qnode, vals, a = info
        if kind == "bipolar":
            s = np.asarray(vals[1], np.float64)
            wint = np.where(vals[0] >= 0, 1, -1).astype(np.int64)
            return wint, s, 1, True
        scale, zp, bw = (np.asarray(v, np.float64) for v in vals[1:4])
        if np.any(zp != 0):
            _err(qnode, "weights with a non-zero zero point are not supported")
        if not a.get("signed", 1):
            _err(qnode, "unsigned weights are not supported")
        bits = int(bw.reshape(-1)[0])
        if scale.size > 1 and node.op_type == "MatMul" and scale.shape[-1] != scale.size:
            _err(qnode, "a weight scale that is not per-output-channel")
        wint = np.round(self.consts[wname] / scale).astype(np.int64)
        narrow = bool(a.get("narrow", 0))
        if not narrow and not np.any(wint == -(1 << (bits - 1))):
            narrow = bits > 1  # no weight uses the extra negative code: narrow is exact
        return wint, scale, bits, narrow

    def _compute(self, node, x, out):
        if not isinstance(x, _Act):
            _err(node, "its input is not a quantized activation (a float layer between quantized ones?)")
        wint, wscale, wbits, narrow = self._weights(node, node.input[1])
        if len(node.input) > 2 and node.input[2]:
            _err(node, "a Conv bias input (export it as a separate Add, or run qonnx's ExtractBiasFromConv)")
        oc = wint.shape[0] if node.op_type == "Conv" else wint.shape[1]
        s_w = (
            np.broadcast_to(np.asarray(wscale, np.float64).reshape(-1), (oc,)).copy()
            if np.asarray(wscale).size in (1, oc)
            else None
        )
        if s_w is None:
            _err(node, "a weight scale that is neither per-tensor nor per-output-channel")
        if node.op_type == "Conv":
            a = _attrs(node)
            if not x.spatial:
                _err(node, "a Conv on a flat tensor")
            k = list(a.get("kernel_shape", wint.shape[2:]))
            if a.get("group", 1) != 1:
                _err(node, "grouped / depthwise convolutions are not supported")
            if any(d != 1 for d in a.get("dilations", [1, 1])):
                _err(node, "dilated convolutions are not supported")
            st = list(a.get("strides", [1, 1]))
            pads = list(a.get("pads", [0, 0, 0, 0]))
            if k[0] != k[1] or st[0] != st[1] or len(set(pads)) > 1:
                _err(node, f"non-square kernel/stride or asymmetric padding (kernel {k}, strides {st}, pads {pads})")
            pad = pads[0]
            if pad and (x.bits == 1 or x.offset):
                _err(
                    node,
                    "zero padding of a bipolar/signed activation map: 0 is not a code of that "
                    "activation; pad explicitly with the code-0 value (docs/import.md, padding rule)",
                )
            pad += x.pad
            if pad >= k[0]:
                _err(node, f"padding {pad} >= kernel {k[0]}")
            h, w, c = x.shape
            oh, ow = ir.conv_out_hw(h, w, k[0], st[0], pad)
            w_ir = wint.transpose(0, 2, 3, 1)  # (OC, KH, KW, IC)
            layer = Layer(
                "conv",
                self._name("conv"),
                x.shape,
                (oh, ow, oc),
                in_bits=x.bits,
                wbits=wbits,
                narrow=narrow,
                kernel=k[0],
                stride=st[0],
                pad=pad,
            )
            spatial = True
        else:
            w_ir = wint.T  # (OUT, IN)
            if x.spatial:
                _err(node, "a MatMul on an unflattened map")
            if x.pool is not None:  # global pooling folded in: the row repeats per pixel
                h, w, c = x.pool
                self._add(Layer("flatten", self._name("flatten"), x.pool, (h * w * c,), in_bits=x.bits))
                w_ir = np.tile(w_ir, (1, h * w))
                in_shape = (h * w * c,)
            else:
                in_shape = x.shape
                if x.chw is not None:  # ONNX flattened CHW; the IR flattens HWC
                    c, h, w = x.chw
                    w_ir = w_ir.reshape(-1, c, h, w).transpose(0, 2, 3, 1).reshape(w_ir.shape[0], -1)
            if w_ir.shape[1] != in_shape[0]:
                _err(node, f"weight of {w_ir.shape[1]} inputs on a vector of {in_shape[0]}")
            layer = Layer("dense", self._name("fc"), in_shape, (oc,), in_bits=x.bits, wbits=wbits, narrow=narrow)
            spatial = False
        # value = s_in*s_w * sum w*(code - offset) = s_in*s_w*(acc_ir + corr)
        corr = -x.offset * w_ir.reshape(oc, -1).sum(axis=1)
        self.sym[out] = _Acc(layer, w_ir.astype(np.int64), x.scale * s_w, corr.astype(np.int64), spatial)

    def _maxpool(self, node, x, out):
        if not isinstance(x, _Act) or not x.spatial:
            _err(node, "max-pool must follow an activation quantizer (pool before quantizing is not supported)")
        a = _attrs(node)
        ks = a.get("kernel_shape")
        if ks is None:
            _err(node, "a MaxPool without kernel_shape")
        k, st = list(ks), list(a.get("strides", ks))
        if any(a.get("pads", [0, 0, 0, 0])) or x.pad:
            _err(node, "padded max-pool is not supported")
        if a.get("ceil_mode", 0):
            _err(node, "ceil_mode max-pool is not supported")
        if k[0] != k[1] or st[0] != st[1]:
            _err(node, f"non-square max-pool (kernel {k}, strides {st})")
        h, w, c = x.shape
        outs = ((h - k[0]) // st[0] + 1, (w - k[0]) // st[0] + 1, c)
        self._add(Layer("maxpool", self._name("pool"), x.shape, outs, in_bits=x.bits, kernel=k[0], stride=st[0]))
        self.sym[out] = replace(x, shape=outs)

    def _flatten(self, node, x, out):
        if not isinstance(x, _Act):
            _err(node, "flatten of accumulators before their quantizer")
        shape = self.m.get_tensor_shape(out)
        if shape is None or len(shape) != 2:
            _err(node, f"only a flatten to (N, features) is supported, not shape {shape}")
        if x.pool is not None or len(x.shape) == 1:
            self.sym[out] = x
            return
        h, w, c = x.shape
        self._add(Layer("flatten", self._name("flatten"), x.shape, (h * w * c,), in_bits=x.bits))
        self.sym[out] = replace(x, shape=(h * w * c,), chw=(c, h, w))

    def _pad(self, node, x, out):
        if not isinstance(x, _Act) or not x.spatial:
            _err(node, "Pad is supported only on a quantized activation map")
        a = _attrs(node)
        if a.get("mode", "constant") != "constant":
            _err(node, f"pad mode {a.get('mode')!r} (only constant)")
        pads = self.const(node.input[1]) if len(node.input) > 1 else np.asarray(a.get("pads"))
        value = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.asarray(0.0)
        pads = [int(p) for p in np.asarray(pads).reshape(-1)]
        if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or len(set(pads[2:4] + pads[6:8])) != 1:
            _err(node, f"only symmetric spatial padding of an NCHW map is supported, not pads {pads}")
        v = float(np.asarray(value).reshape(-1)[0])
        if not math.isclose(v, x.code0_value(), rel_tol=1e-6, abs_tol=1e-12):
            _err(
                node,
                f"pad value {v:g} is not the code-0 activation {x.code0_value():g} (docs/arithmetic.md, padding rule)",
            )
        self.sym[out] = replace(x, pad=x.pad + pads[2])

    # layers ------------------------------------------------------------------------------------
    def _add(self, layer):
        self.layers.append(layer)

    def _chain_values(self, acc: _Acc, a: np.ndarray) -> np.ndarray:
        """Evaluate the float chain at integer accumulators ``a`` of shape (B, C) -> (B, C) values."""
        v = acc.scale[None, :] * (a.astype(np.float64) + acc.corr[None, :])
        if acc.spatial:
            v = v[:, :, None, None]
        for node in acc.chain:
            op = node.op_type
            if op == "Relu":
                v = np.maximum(v, 0.0)
                continue
            if op == "BatchNormalization":
                sc, b, mean, var = (np.asarray(self.const(i), np.float64) for i in node.input[1:5])
                eps = float(_attrs(node).get("epsilon", 1e-5))
                shp = (1, -1, 1, 1) if acc.spatial else (1, -1)
                v = (v - mean.reshape(shp)) / np.sqrt(var.reshape(shp) + eps) * sc.reshape(shp) + b.reshape(shp)
                continue
            first_dyn = self.const(node.input[0]) is None
            cst = self.const(node.input[1] if first_dyn else node.input[0])
            if cst is None:
                _err(node, "both operands are dynamic")
            cst = np.asarray(cst, np.float64)
            if cst.ndim > v.ndim or (cst.ndim == v.ndim and cst.shape[0] != 1):
                _err(node, f"a constant of shape {cst.shape} that does not broadcast per channel")
            if op == "Add":
                v = v + cst
            elif op == "Mul":
                v = v * cst
            elif op == "Sub":
                v = v - cst if first_dyn else cst - v
            elif op == "Div":
                v = v / cst if first_dyn else cst / v
        return v.reshape(v.shape[0], v.shape[1])

    def _levels(self, acc: _Acc, q: dict, a: np.ndarray) -> np.ndarray:
        """Output level (0 .. 2^b - 1; bipolar 0/1) of the quantizer at accumulators a (B, C)."""
        v = self._chain_values(acc, a)
        if q["kind"] == "bipolar":
            return (v >= 0).astype(np.int64)
        from qonnx.custom_op.general.quant import quant

        y = quant(
            v, np.float64(q["scale"]), np.float64(0.0), np.float64(q["bits"]), q["signed"], q["narrow"], q["rounding"]
        )
        return np.round(y / q["scale"]).astype(np.int64) + q["offset"]

    def _finish(self, acc: _Acc, node, q: dict, out):
        """A hidden compute layer ending in quantizer ``q``: thresholds by bisection on the chain; above
        ir.THRESHOLD_MAX_BITS bits the narrowest multiply-shift requantizer with the same steps on every
        reachable accumulator (nn/requant.py, as ``train`` exports a >= 5)."""
        act = "thresholds" if q["bits"] <= ir.THRESHOLD_MAX_BITS else "requant"
        layer = replace(acc.layer, out_bits=q["bits"], act=act)
        alo, ahi = ir.acc_range(layer)
        C = layer.mh
        n = 1 if q["bits"] == 1 else (1 << q["bits"]) - 1
        lv_lo = self._levels(acc, q, np.full((1, C), alo))[0]
        lv_hi = self._levels(acc, q, np.full((1, C), ahi))[0]
        sign = np.where(lv_hi < lv_lo, -1, 1).astype(np.int64)
        w = acc.weight * sign.reshape((-1,) + (1,) * (acc.weight.ndim - 1))
        if layer.wbits > 1 and not layer.narrow and np.any(w < -(1 << (layer.wbits - 1)) + 1) and np.any(sign < 0):
            if np.any(w > (1 << (layer.wbits - 1)) - 1):
                _err(node, "a decreasing channel with full-range weights cannot be negated")
        t = np.concatenate(
            [
                self._bisect(acc, q, sign, ks, alo, ahi)  # (C, n), levels in chunks
                for ks in np.array_split(np.arange(1, n + 1), max(1, (n * C) >> 20))
            ],
            axis=1,
        )
        # monotonicity check: the thresholds reproduce the chain on a sample of accumulators
        rng = np.random.default_rng(0)
        sample = np.concatenate(
            [rng.integers(alo, ahi + 1, size=(256, C)), t.T.clip(alo, ahi), (t.T - 1).clip(alo, ahi)]
        )
        want = self._levels(acc, q, sample * sign[None, :])
        got = np.stack([np.searchsorted(t[c], sample[:, c], side="right") for c in range(C)], axis=1)
        if not np.array_equal(got, want):
            _err(node, "the float ops between the layer and this quantizer are not monotone per channel")
        self.tensors[f"{layer.name}.weight"] = w
        if act == "thresholds":
            self.tensors[f"{layer.name}.thresholds"] = t.astype(np.int64)
        else:
            layer = self._requantizer(node, layer, w, t, n, sample, want)
        self._add(layer)
        self.sym[out] = _Act(layer.out_shape, q["bits"], q["scale"], q["offset"])

    def _bisect(self, acc: _Acc, q: dict, sign, ks, alo: int, ahi: int) -> np.ndarray:
        """(C, len(ks)): per channel the least sign-corrected accumulator reaching each level in ``ks``."""
        C = len(sign)
        kk = np.asarray(ks, np.int64)[:, None]  # (n, 1)
        m = len(kk)
        lo = np.full((m, C), alo - 1, np.int64)  # level(lo) < k (or lo below the range)
        hi = np.full((m, C), ahi + 1, np.int64)  # level(hi) >= k (or hi above the range)
        while np.any(hi - lo > 1):
            mid = (lo + hi) // 2
            ok = self._levels(acc, q, (mid * sign[None, :]).reshape(m, C)).reshape(m, C) >= kk
            hi = np.where(ok & (hi - lo > 1), mid, hi)
            lo = np.where(~ok & (hi - lo > 1), mid, lo)
        return np.clip(hi, alo, ahi + 1).T

    def _requantizer(self, node, layer: Layer, w: np.ndarray, t: np.ndarray, n: int, sample, want) -> Layer:
        """The layer with act 'requant': (M, B, shift) from :func:`bitscale.nn.requant.fit` on thresholds
        ``t`` (C, n), exact on each channel's reachable accumulators; re-checked on ``sample``."""
        from bitscale.nn import requant

        lo, hi = requant.reachable_w(w, layer.in_bits)
        k0 = (t <= lo[:, None]).sum(axis=1)
        k1 = (t <= hi[:, None]).sum(axis=1)
        kmin = int(k0.min()) + 1
        got = requant.fit(k0, k1, kmin, t[:, kmin - 1 : max(int(k1.max()), kmin - 1)], lo, hi, n)
        if got is None or ir.acc_bits(layer) + ir._signed_bits(int(got[0].max(initial=0))) > ir.REQUANT_PRODUCT_BITS:
            _err(
                node,
                f"{layer.out_bits}-bit activation: no multiply-shift requantizer within "
                f"{ir.REQUANT_PRODUCT_BITS}-bit products reproduces this quantizer exactly",
            )
        M, B, shift = got
        inside = (sample >= lo[None, :]) & (sample <= hi[None, :])
        if not np.array_equal(np.where(inside, requant.apply(M, B, shift, sample, n), want), want):
            _err(node, "the fitted requantizer differs from the quantizer (internal check)")
        self.tensors[f"{layer.name}.requant_mul"] = np.asarray(M, np.int64)
        self.tensors[f"{layer.name}.requant_add"] = np.asarray(B, np.int64)
        return replace(layer, requant_shift=int(shift))

    def _last(self, acc: _Acc):
        """The output layer: logits must be alpha * (acc + bias_c) + beta with one alpha > 0."""
        layer = replace(acc.layer, act="none", out_bits=0)
        if layer.kind != "dense":
            raise UserError(f"the last compute layer {layer.name!r} is a conv; bitscale's last layer is dense")
        alo, ahi = ir.acc_range(layer)
        C = layer.mh
        pts = np.array([[0] * C, [1] * C, [max(ahi // 2, 2)] * C], np.int64)
        v = self._chain_values(acc, pts)
        slope = v[1] - v[0]
        beta = v[0]
        if np.any(slope <= 0) or not np.allclose(slope, slope[0], rtol=1e-6):
            raise UserError(
                "the output layer's scale is not one positive per-tensor factor (per-channel "
                "or negative output scale: the argmax of the integer accumulators would differ)"
            )
        if not np.allclose(v[2], beta + slope * pts[2], rtol=1e-6, atol=1e-9 * max(1.0, float(np.abs(v).max()))):
            raise UserError("the ops after the output layer are not affine (e.g. a Relu on the logits)")
        alpha = float(slope[0])
        b = (beta - beta.min()) / alpha
        bias = np.round(b).astype(np.int64)
        if np.abs(b - bias).max() > 1e-3 * max(1.0, float(np.abs(b).max())):
            raise UserError(
                "the output layer has a bias that is not a whole number of accumulator steps "
                f"(max fraction {np.abs(b - bias).max():.3g}); bitscale's last layer adds integer biases only"
            )
        self.tensors[f"{layer.name}.weight"] = acc.weight
        if np.any(bias):
            layer = replace(layer, bias=True)
            self.tensors[f"{layer.name}.bias"] = bias
        self._add(layer)
        self.out_affine = {"alpha": alpha, "beta": float(beta.min())}


def _attrs(node) -> dict:
    from onnx import helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = (
            v.decode()
            if isinstance(v, bytes)
            else (list(v) if not np.isscalar(v) and v is not None and not hasattr(v, "dims") else v)
        )
    return out


# --- public API -------------------------------------------------------------------------------


def _load_model(src):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    if isinstance(src, (str, os.PathLike)):
        p = Path(src)
        if not p.is_file():
            raise UserError(f"no ONNX file at {p}")
        try:
            model = ModelWrapper(str(p))
        except Exception as e:  # noqa: BLE001 - protobuf raises many kinds
            raise UserError(f"{p} is not a readable ONNX model: {e}") from None
    else:
        model = src
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cleanup_model(model)
        model = model.transform(GemmToMatMul())
        model = cleanup_model(model)
    if len(model.graph.input) != 1:
        raise UserError(f"the graph has {len(model.graph.input)} inputs; bitscale imports single-input networks")
    return model


def import_qonnx(src, num_classes: int | None = None, meta: dict | None = None):
    """(QuantizedNetwork, cleaned qonnx ModelWrapper) from a QONNX file or ModelWrapper."""
    model = _load_model(src)
    imp = _Importer(model)
    imp.run()
    if imp.input_quant is None:
        raise UserError("no input quantizer (Quant) after the graph input: the IR's input must be integers")
    first = imp.layers[0]
    if not first.is_compute:
        raise UserError(f"the first layer is a {first.kind}; bitscale's first layer is a Conv/MatMul")
    ncls = imp.layers[-1].mh
    if num_classes is not None and num_classes != ncls:
        raise UserError(f"the model has {ncls} outputs, not --num-classes {num_classes}")
    info = dict(meta or {})
    info.update(
        {
            "source": "qonnx",
            "import": {
                "input": imp.input_quant,
                "output": imp.out_affine,
                "onnx_input_shape": list(model.get_tensor_shape(model.graph.input[0].name)),
            },
            "last_scale": imp.out_affine["alpha"],
        }
    )
    net = QuantizedNetwork(tuple(imp.layers), imp.tensors, ncls, meta=info)
    ir.validate(net)
    return net, model


def qonnx_execute(model, x: np.ndarray, input_tensor: str, batch: int = 100):
    """qonnx's own executor on float inputs ``x`` (N, *onnx input shape[1:]).

    Returns (outputs (N, classes) float, IR input codes (N, *IR input shape) uint8 from the input
    quantizer's output ``input_tensor`` in the executed graph). ``model``: the cleaned model
    import_qonnx returned.
    """
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.change_batchsize import ChangeBatchSize
    from qonnx.transformation.infer_shapes import InferShapes

    outs, codes = [], []
    cache = {}
    for s in range(0, len(x), batch):
        xb = np.asarray(x[s : s + batch], np.float32)
        bs = len(xb)
        if bs not in cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cache[bs] = model.transform(ChangeBatchSize(bs)).transform(InferShapes())
        m = cache[bs]
        ctx = execute_onnx(m, {m.graph.input[0].name: xb}, return_full_exec_context=True)
        outs.append(np.asarray(ctx[m.graph.output[0].name], np.float64))
        codes.append(np.asarray(ctx[input_tensor], np.float64))
    return np.concatenate(outs), np.concatenate(codes)


def ir_inputs(net: QuantizedNetwork, quantized: np.ndarray) -> np.ndarray:
    """The IR's uint8 input codes from the input quantizer's (dequantized) output, ONNX layout."""
    q = net.meta["import"]["input"]
    codes = np.round(quantized / q["scale"]).astype(np.int64) + q["offset"]
    if codes.ndim == 4:
        codes = codes.transpose(0, 2, 3, 1)
    codes = codes.reshape(len(codes), *net.input_shape)
    if codes.size and (codes.min() < 0 or codes.max() > 255):
        raise UserError("input codes outside 0..255")
    return codes.astype(np.uint8)


def check_against_qonnx(net: QuantizedNetwork, model, x_float: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray]:
    """Golden model vs qonnx's executor on float inputs: argmax agreement and max |diff| of the
    logits' integer part ((logit - beta) / alpha vs the golden accumulators)."""
    from bitscale.nn import golden

    out, quantized = qonnx_execute(model, x_float, net.meta["import"]["input"]["tensor"])
    codes = ir_inputs(net, quantized)
    g = golden.run(net, codes)
    aff = net.meta["import"]["output"]
    ints = (out - aff["beta"]) / aff["alpha"]
    # argmax of the integer part (rounded), so exact ties break alike (first index) on both sides
    return (
        {
            "qonnx_agreement": float((g.argmax(1) == np.round(ints).argmax(1)).mean()) if len(g) else 1.0,
            "qonnx_max_abs_diff": float(np.abs(ints - g).max()) if len(g) else 0.0,
            "qonnx_images": len(g),
        },
        codes,
        out,
    )


def from_brevitas(module, input_shape, num_classes: int | None = None, meta: dict | None = None, keep_onnx=None):
    """Export a Brevitas module through QONNX (``brevitas.export.export_qonnx``) and import it.

    ``input_shape`` is the module's input without the batch axis (e.g. (3, 32, 32)). Returns
    (QuantizedNetwork, cleaned qonnx model). ``keep_onnx``: also write the QONNX file there.
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from brevitas.export import export_qonnx
    fd, tmp = tempfile.mkstemp(suffix=".onnx")
    os.close(fd)
    was_training = module.training
    try:
        module.eval()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            p = next(module.parameters(), None)
            dev = p.device if p is not None else "cpu"
            export_qonnx(module, args=torch.zeros(1, *input_shape, device=dev), export_path=tmp, dynamo=False)
        if keep_onnx is not None:
            import shutil

            shutil.copyfile(tmp, keep_onnx)
        return import_qonnx(tmp, num_classes, meta)
    finally:
        module.train(was_training)
        os.unlink(tmp)


# --- RUN_DIR --------------------------------------------------------------------------------------


def _calibration(model, dataset, calib_npz, images: int, data_dir, seed: int):
    """(float inputs in the ONNX layout, labels or None, source) for the check."""
    ishape = [int(d) for d in model.get_tensor_shape(model.graph.input[0].name)]
    if dataset is not None and calib_npz is not None:
        raise UserError("give --dataset or --calib-npz, not both")
    if calib_npz is not None:
        p = Path(calib_npz)
        if not p.is_file():
            raise UserError(f"no calibration file at {p}")
        try:
            with np.load(p, allow_pickle=False) as z:
                if "x" not in z.files:
                    raise UserError(
                        f"{p} has no array 'x' (float model inputs, shaped (N, {', '.join(map(str, ishape[1:]))}))"
                    )
                x = np.asarray(z["x"], np.float32)
                y = np.asarray(z["y"]) if "y" in z.files else None
        except (OSError, ValueError) as e:
            raise UserError(f"{p} is not a readable npz file: {e}") from None
        if tuple(x.shape[1:]) != tuple(ishape[1:]):
            raise UserError(
                f"{p}: x is shaped {tuple(x.shape)}, the model takes (N, {', '.join(map(str, ishape[1:]))})"
            )
        return x[:images], (None if y is None else y[:images]), f"calib-npz {p}"
    if len(ishape) == 4:
        hwc = (ishape[2], ishape[3], ishape[1])
    else:
        hwc = (int(np.prod(ishape[1:])),)
    if dataset is not None:
        from bitscale.nn.data import load_dataset

        ds = load_dataset(dataset, data_dir, hwc)
        x, y = ds.test_x[:images], ds.test_y[:images]
        source = f"dataset {dataset} (test images / 255)"
    else:
        x = np.random.default_rng(seed).integers(0, 256, size=(images, *hwc), dtype=np.int64).astype(np.uint8)
        y, source = None, "random uint8 images / 255"
    xf = x.astype(np.float32) / 255.0
    if len(ishape) == 4:
        xf = xf.transpose(0, 3, 1, 2)
    return xf.reshape(len(xf), *ishape[1:]), y, source


_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def import_to_run_dir(
    onnx_path,
    out_dir,
    *,
    dataset=None,
    calib_npz=None,
    data_dir=None,
    images: int = 1000,
    seed: int = 0,
    force: bool = False,
    log=_log,
) -> dict:
    """``bitscale import``: RUN_DIR with network.json/.npz (IR + golden), metrics.json, model.onnx,
    inputs.npz (the IR input codes of the check images, and labels). Returns metrics.json's content."""
    import json
    import shutil
    import time

    from bitscale.outdir import prepare

    t0 = time.time()
    if not isinstance(images, int) or images < 1:
        raise UserError(f"--images must be a positive integer, not {images!r}")
    src = Path(onnx_path)
    if not src.is_file():
        raise UserError(f"no ONNX file at {src}")
    net, model = import_qonnx(src, meta={"onnx": str(src.resolve())})  # errors before any writing
    log(f"import: {len(net.layers)} layers ({', '.join(l.kind for l in net.layers)})")
    x, y, source = _calibration(model, dataset, calib_npz, images, data_dir, seed)
    out = prepare(out_dir, "import", force=force, inputs=(src,))
    res, codes, _ = check_against_qonnx(net, model, x)
    metrics = {
        "source": "qonnx",
        "onnx": str(src.resolve()),
        "input_source": source,
        **res,
        "input_is_pixel": bool(
            math.isclose(net.meta["import"]["input"]["scale"], 1 / 255, rel_tol=1e-6)
            and not net.meta["import"]["input"]["offset"]
            and not net.meta["import"]["input"]["preprocess"]
        ),
    }
    if y is not None:
        from bitscale.nn import golden

        metrics["golden_test_acc"] = float((golden.predict(net, codes) == np.asarray(y)).mean())
    log(
        f"import: qonnx agreement {res['qonnx_agreement']:.4f}, max |diff| {res['qonnx_max_abs_diff']:.3g} "
        f"on {res['qonnx_images']} images ({source})"
    )
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp"))
    try:
        ir.save(net, tmp)
        shutil.copyfile(src, tmp / "model.onnx")
        np.savez_compressed(
            tmp / "inputs.npz", x=codes, y=(np.asarray(y) if y is not None else np.full(len(codes), -1))
        )
        metrics["seconds"] = time.time() - t0
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1))
        for f in tmp.iterdir():
            shutil.move(str(f), out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"import: wrote {out}")
    return metrics
