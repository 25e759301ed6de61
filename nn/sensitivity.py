"""Per-layer quantization sensitivity (HAWQ-V2), for the mixed-precision search.

For a trained run (best: the float baseline or the highest-precision run), on a
fixed calibration batch of training images:

* **weights** — the trace of the loss Hessian restricted to each compute layer's
  weights, ``Tr(H_l)``, by Hutchinson's estimator: ``E[v^T H v]`` over Rademacher
  vectors ``v``. One Hessian-vector product (double backward) per sample serves every
  layer at once: with ``v`` drawn independently per layer, ``v_l . (H v)_l`` has
  expectation ``Tr(H_ll)`` (the cross terms have zero mean). The perturbation of
  quantizing layer ``l`` to ``b`` bits is HAWQ-V2's
  ``Omega_l(b) = Tr(H_l) / n_l * ||Q_b(W_l) - W_l||^2``, with ``Q_b`` the per-tensor
  per-tensor quantizer at its best scale, i.e. what quantization-aware fine-tuning can
  reach (``b >= 2``: narrow-range symmetric, the clip ``r * max|W|`` with the least
  squared error over a grid of ``r``; ``b = 1``: ``sign(W) * mean|W|``, the L2-optimal
  bipolar scale). Brevitas' own max-based scale at initialization makes 2-bit weights
  mostly zero, so its error is worse at 2 bits than at 1: a poor guide for the search.
* **activations** — measured, not modelled: the activations *entering* compute layer
  ``l`` (the output of the block before it) are fake-quantized to ``a`` bits, one layer
  at a time (``a >= 2``: unsigned, clipped at the 99.9th percentile of that activation on
  the batch; ``a = 1``: ``{0, mean of the positive values}``), and the KL divergence of
  the network's output distribution from the float one is recorded (``act``; it is the
  expected loss increase when the float model's predictions are the labels, and unlike
  the raw cross-entropy change it is never negative: on a small calibration batch,
  coarse activations sometimes *lower* the labelled loss, which made 2-bit activations
  look free). The cross-entropy increase is kept beside it (``act_ce``). More bits never
  cost more: both tables are made non-increasing in ``a`` (a running minimum).

The Hessian is taken on the float twin of the run's model (same latent weights and
BatchNorm, plain ReLU; Brevitas' straight-through rounding has no second derivative).
``Omega`` approximates ``dW^T H dW``, i.e. twice the loss increase, so the search adds
``Omega / 2`` and the activation KL: both (approximately) loss increases in nats.

Guaranteed: deterministic for a seed (seeded Rademacher draws and calibration
subset); raises UserError for a run directory without a checkpoint; the result is
a plain JSON document (:func:`sensitivity`), written atomically by :func:`write`.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bitscale.errors import UserError

if TYPE_CHECKING:
    from torch import nn

DEFAULT_BITS = (1, 2, 3, 4, 5, 6, 7, 8, 16)


CLIP_GRID = np.linspace(0.05, 1.0, 96)


def quantize_weight(w: np.ndarray, bits: int) -> np.ndarray:
    """Q_b(W): per-tensor symmetric narrow-range (b >= 2) at the L2-optimal clip, or sign * mean|W| (b = 1)."""
    w = np.asarray(w, np.float64)
    if bits == 1:
        return np.where(w >= 0, 1.0, -1.0) * np.abs(w).mean()
    top = (1 << (bits - 1)) - 1
    m = np.abs(w).max()
    if m == 0:
        return w.copy()
    best, best_err = w, np.inf
    for r in CLIP_GRID:
        s = r * m / top
        q = np.clip(np.round(w / s), -top, top) * s
        err = float(((q - w) ** 2).sum())
        if err < best_err:
            best, best_err = q, err
    return best


def _float_twin(cfg, model):
    """A plain-torch float model with the run's latent weights and BatchNorm (eval mode)."""
    from bitscale.nn.data import NUM_CLASSES
    from bitscale.nn.models import build_model, input_shape_for

    twin = build_model(
        cfg.model,
        0,
        0,
        cfg.scale,
        NUM_CLASSES[cfg.dataset],
        input_shape_for(cfg.model, cfg.dataset),
        cfg.base,
        cfg.layers,
        0.0,
    )
    src = model.state_dict()
    dst = twin.state_dict()
    twin.load_state_dict({k: (src[k] if k in src and src[k].shape == v.shape else v) for k, v in dst.items()})
    return twin.eval().double()


def _compute_modules(model) -> list[tuple[str, nn.Linear | nn.Conv2d]]:
    """[(IR layer name, module with .weight)] in compute-layer order (the names nn/export.py gives)."""
    from torch import nn

    mods = [(f"{'conv' if b.kind == 'conv' else 'fc'}{i}", b.compute) for i, b in enumerate(model.blocks)]
    mods.append(("fc_out", model.last))
    out: list[tuple[str, nn.Linear | nn.Conv2d]] = []
    for name, mod in mods:
        if not isinstance(mod, (nn.Linear, nn.Conv2d)):
            raise TypeError(f"{name}: {type(mod).__name__} is not a linear or conv layer")
        out.append((name, mod))
    return out


_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def sensitivity(run_dir, samples: int = 200, calib: int = 512, bits=DEFAULT_BITS, seed: int = 0, log=_log) -> dict:
    """The sensitivity document of ``run_dir`` (see the module docstring)."""
    import torch
    import torch.nn.functional as F

    from bitscale.nn.data import load_dataset
    from bitscale.nn.models import input_shape_for, to_torch_input
    from bitscale.nn.train import load_model

    if not isinstance(samples, int) or samples < 1:
        raise UserError(f"--samples must be a positive integer, not {samples!r}")
    if not isinstance(calib, int) or calib < 1:
        raise UserError(f"--calib must be a positive integer, not {calib!r}")
    bits = tuple(sorted(set(bits)))
    for b in bits:
        if not isinstance(b, int) or not 1 <= b <= 16:
            raise UserError(f"candidate bits must be 1..16, not {b!r}")
    run_dir = Path(run_dir)
    t0 = time.time()
    cfg, model = load_model(run_dir)  # UserError when there is no checkpoint
    twin = _float_twin(cfg, model)
    ds = load_dataset(cfg.dataset, cfg.data_dir, input_shape_for(cfg.model, cfg.dataset))
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(ds.train_x), size=min(calib, len(ds.train_x)), replace=False))
    x = to_torch_input(ds.train_x[idx], twin, torch.float64)
    y = torch.as_tensor(ds.train_y[idx]).long()
    mods = _compute_modules(twin)
    params = [m.weight for _, m in mods]
    for p in twin.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)

    th = time.time()
    est, base_loss = hutchinson(lambda: F.cross_entropy(twin.loss_logits(x), y), params, samples, seed)
    hv_seconds = time.time() - th
    for p in params:
        p.requires_grad_(False)

    # --- activations: quantize the input of one compute layer at a time ------------------
    act_loss, act_ce = _activation_losses(twin, x, y, base_loss, bits)

    layers = []
    for li, ((name, mod), col) in enumerate(zip(mods, est.T)):
        w = mod.weight.detach().cpu().numpy().astype(np.float64)
        n = w.size
        trace = float(col.mean())
        stderr = float(col.std(ddof=1) / math.sqrt(samples)) if samples > 1 else None
        wdoc = {}
        for b in bits:
            sq = float(((quantize_weight(w, b) - w) ** 2).sum())
            wdoc[str(b)] = {"sq_err": sq, "omega": trace / n * sq}
        layers.append(
            {
                "name": name,
                "index": li,
                "n_params": n,
                "trace": trace,
                "trace_stderr": stderr,
                "weight": wdoc,
                "act": act_loss[li],
                "act_ce": act_ce[li],
            }
        )
        log(
            f"{name:<8} n={n:<8} Tr(H)={trace:.4g} (+-{stderr or 0:.2g})  "
            + "  ".join(f"w{b}:{wdoc[str(b)]['omega']:.3g}" for b in bits[:5])
        )
    return {
        "format": "bitscale.Sensitivity",
        "version": 1,
        "run_dir": str(run_dir),
        "config": cfg.to_json(),
        "method": "HAWQ-V2 Hutchinson trace on the float twin; activation side: measured output KL per layer",
        "calibration_images": len(idx),
        "hutchinson_samples": samples,
        "hv_products": samples,
        "seed": seed,
        "bits": list(bits),
        "base_loss": base_loss,
        "layers": layers,
        "hv_seconds": hv_seconds,
        "seconds": time.time() - t0,
    }


def hutchinson(loss_fn, params, samples: int, seed: int = 0):
    """(samples x len(params) array of v_l . (H v)_l, the loss): Hutchinson samples of each block's
    Hessian trace, one Hessian-vector product (double backward) per sample for all blocks at once."""
    import torch

    loss = loss_fn()
    grads = torch.autograd.grad(loss, params, create_graph=True)
    gen = torch.Generator().manual_seed(seed)
    est = np.zeros((samples, len(params)))
    for k in range(samples):
        vs = [(torch.randint(0, 2, p.shape, generator=gen, dtype=p.dtype) * 2 - 1) for p in params]
        hv = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=True)
        est[k] = [float((v * h).sum()) for v, h in zip(vs, hv)]
    return est, float(loss.detach())


def _activation_losses(twin, x, y, base_loss: float, bits) -> tuple[list[dict], list[dict]]:
    """Per compute layer, quantizing only its input activations: ({bits: KL(float || quantized) of the
    output distribution}, {bits: calibration cross-entropy increase}), both non-increasing in bits."""
    import torch
    import torch.nn.functional as F

    captured = {}
    hooks = [
        b.act.register_forward_hook(lambda m, i, o, k=k: captured.__setitem__(k, o.detach()))
        for k, b in enumerate(twin.blocks)
    ]
    with torch.no_grad():
        ref = F.log_softmax(twin.loss_logits(x), dim=1)
    for h in hooks:
        h.remove()
    kl_out = [{} for _ in range(len(twin.blocks) + 1)]  # compute layer 0 reads the pixels: nothing to measure
    ce_out = [{} for _ in range(len(twin.blocks) + 1)]
    for k, blk in enumerate(twin.blocks):
        act = captured[k]
        pos = act[act > 0].flatten()[:200_000]
        hi = float(torch.quantile(pos, 0.999)) if pos.numel() else 1.0
        mean_pos = float(pos.mean()) if pos.numel() else 1.0
        run_kl = run_ce = math.inf
        for b in sorted(bits):

            def fq(m, i, o, b=b, hi=hi, mean_pos=mean_pos):
                if b == 1:
                    return (o > 0).to(o.dtype) * mean_pos
                top = (1 << b) - 1
                s = max(hi, 1e-12) / top
                return torch.clamp(torch.round(o / s), 0, top) * s

            h = blk.act.register_forward_hook(fq)
            with torch.no_grad():
                logits = twin.loss_logits(x)
            h.remove()
            lq = F.log_softmax(logits, dim=1)
            kl = float((ref.exp() * (ref - lq)).sum(1).mean())
            run_kl = min(run_kl, max(0.0, kl))
            run_ce = min(run_ce, max(0.0, float(F.cross_entropy(logits, y)) - base_loss))
            kl_out[k + 1][str(b)] = run_kl
            ce_out[k + 1][str(b)] = run_ce
    return kl_out, ce_out


def write(doc: dict, path) -> Path:
    """Write ``doc`` to ``path`` atomically."""
    from bitscale.atomic import write_json

    return write_json(path, doc)


def read(path) -> dict:
    from bitscale.errors import read_json

    doc = read_json(Path(path), f"no sensitivity.json at {path}")
    if not isinstance(doc, dict) or doc.get("format") != "bitscale.Sensitivity":
        raise UserError(f"{path} is not a bitscale sensitivity.json")
    return doc
