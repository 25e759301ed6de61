"""Brevitas QAT training of one configuration, with IR export and golden-model checks.

Guaranteed: :func:`train` is deterministic for a seed on a given machine and
device (seeded torch, deterministic algorithms, a fixed seeded data order); it
validates the config before touching the disk, trains into a temporary directory
beside ``out_dir`` and renames it into place only when everything is written,
so ``out_dir`` holds either a complete run or nothing.

``out_dir`` gets: config.json, metrics.json, checkpoint.pt, and (quantized runs)
network.json + network.npz (see :mod:`bitscale.nn.ir`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from bitscale.atomic import replace_dir
from bitscale.errors import UserError
from bitscale.nn.data import DATASETS
from bitscale.nn.models import MODELS

MAX_BITS = 16


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``wbits``/``abits``: 1..16 (1 = bipolar), or 0 for the float baseline, or
    one value per compute layer (tuples; nn/precision.py: ``abits[i]`` enters layer ``i``, ``abits[0] == 8``).
    A uniform tuple is stored as the int, so it has the uniform run's label."""

    model: str
    wbits: int | tuple[int, ...]
    abits: int | tuple[int, ...]
    scale: float
    dataset: str
    epochs: int = 10
    seed: int = 0
    batch_size: int = 128
    lr: float = 0.002
    device: str = "cpu"
    data_dir: str | None = None
    base: int = 4096
    layers: int = 3
    dropout: float = 0.0  # after each hidden activation, training only

    def __post_init__(self):
        for name in ("wbits", "abits"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        self.validate()
        if self.mixed:
            from bitscale.nn.precision import n_compute_layers, normalize

            w, a = normalize(self.wbits, self.abits, n_compute_layers(self.model, self.scale, self.base, self.layers))
            object.__setattr__(self, "wbits", w)
            object.__setattr__(self, "abits", a)

    def validate(self) -> None:
        from bitscale.nn.models import widths_for

        if self.model not in MODELS:
            raise UserError(f"unknown model {self.model!r}; expected one of {', '.join(MODELS)}")
        if self.dataset not in DATASETS:
            raise UserError(f"unknown dataset {self.dataset!r}; expected one of {', '.join(DATASETS)}")
        for name in ("wbits", "abits"):
            v = getattr(self, name)
            if isinstance(v, tuple):
                continue  # per-layer: checked below against the number of compute layers
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_BITS:
                raise UserError(f"--{name} must be 1..{MAX_BITS} or float, not {v!r}")
        if self.mixed:
            from bitscale.nn.precision import n_compute_layers, resolve

            if self.wbits == 0 or self.abits == 0:
                raise UserError("the float baseline needs --wbits float and --abits float, not per-layer bits")
            resolve(self.wbits, self.abits, n_compute_layers(self.model, self.scale, self.base, self.layers))
        elif (self.wbits == 0) != (self.abits == 0):
            raise UserError(
                f"the float baseline needs --wbits float and --abits float, "
                f"not --wbits {self.wbits or 'float'} --abits {self.abits or 'float'}"
            )
        if not isinstance(self.base, int) or self.base < 1:
            raise UserError(f"base must be a positive integer, not {self.base!r}")
        widths_for(self.model, self.scale, self.base, self.layers)
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise UserError(f"--{name.replace('_', '-')} must be a positive integer, not {v!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise UserError(f"--seed must be a non-negative integer, not {self.seed!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise UserError(f"--lr must be a positive number, not {self.lr!r}")
        if not (isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1):
            raise UserError(f"--dropout must be in [0, 1), not {self.dropout!r}")
        if self.device not in ("cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise UserError(f"--device must be cpu or cuda, not {self.device!r}")

    @property
    def quantized(self) -> bool:
        return self.wbits != 0

    @property
    def mixed(self) -> bool:
        """Per-layer bits (tuples) rather than one width for the whole network."""
        return isinstance(self.wbits, tuple) or isinstance(self.abits, tuple)

    @property
    def label(self) -> str:
        from bitscale.nn.precision import label

        return f"{self.model}-{label(self.wbits, self.abits)}-s{self.scale:g}-{self.dataset}"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict) -> "TrainConfig":
        if not isinstance(doc, dict):
            raise UserError("a TrainConfig must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = set(doc) - known
        if unknown:
            raise UserError(f"unknown TrainConfig field(s): {', '.join(sorted(unknown))}")
        try:
            kw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in doc.items()}
            return cls(**kw)
        except TypeError as e:
            raise UserError(f"bad TrainConfig: {e}") from None


def _device(name: str):
    import torch

    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine")
    return torch.device(name)


def _prepare_out(out_dir: Path) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise UserError(f"--out {out_dir} exists and is not a directory")
        if any(out_dir.iterdir()) and not (out_dir / "config.json").is_file():
            raise UserError(
                f"--out {out_dir} is a non-empty directory that is not a bitscale run; refusing to replace it"
            )


def _publishable(d: Path) -> None:
    """mkdtemp/mkstemp create owner-only entries; a run directory is ordinary data (0755/0644)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(d, 0o777 & ~umask)
    for f in d.iterdir():
        os.chmod(f, 0o666 & ~umask)


def evaluate(model, x, y, device, batch=1000) -> float:
    """Brevitas (float32, eval mode) test accuracy."""
    import torch
    from bitscale.nn.models import to_torch_input

    model.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(x), batch):
            logits = model(to_torch_input(x[s : s + batch], model).to(device))
            correct += int((logits.argmax(1).cpu() == torch.as_tensor(y[s : s + batch])).sum())
    return correct / max(len(x), 1)


def predict_fp32(model, x, device, batch=1000) -> np.ndarray:
    import torch
    from bitscale.nn.models import to_torch_input

    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            out.append(model(to_torch_input(x[s : s + batch], model).to(device)).argmax(1).cpu().numpy())
    return np.concatenate(out)


def check_export(model, net, x, y, fp32_pred=None, batch=500) -> dict:
    """Compare the golden model on ``net`` with Brevitas on images ``x``.

    golden_agreement: same class as Brevitas' float64 forward (argmax of its
    integer logits, first index on ties, like the golden model);
    golden_act_match: fraction of hidden activation integers equal to Brevitas'.
    """
    from bitscale.nn import golden
    from bitscale.nn.export import brevitas_ints

    compute_idx = [i for i, l in enumerate(net.layers) if l.is_compute][:-1]
    agree = same_acts = total_acts = correct = agree32 = exact_logits = maxdiff = 0
    for s in range(0, len(x), batch):
        xb = x[s : s + batch]
        outs = golden.run_all(net, xb)
        hidden, last = brevitas_ints(model, xb, batch=batch)
        for li, h in zip(compute_idx, hidden):
            same_acts += int((outs[li] == h).sum())
            if h.size:
                maxdiff = max(maxdiff, int(np.abs(outs[li] - h).max()))
            total_acts += h.size
        gp = outs[-1].argmax(1)
        agree += int((gp == last.argmax(1)).sum())
        exact_logits += int((outs[-1] == last).all(axis=1).sum())
        correct += int((gp == y[s : s + batch]).sum())
        if fp32_pred is not None:
            agree32 += int((gp == fp32_pred[s : s + batch]).sum())
    n = max(len(x), 1)
    return {
        "golden_test_acc": correct / n,
        "golden_agreement": agree / n,
        "golden_agreement_fp32": (agree32 / n) if fp32_pred is not None else None,
        "golden_logits_exact": exact_logits / n,
        "golden_act_match": (same_acts / total_acts) if total_acts else None,
        "golden_act_max_diff": maxdiff if total_acts else None,
    }


_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def train(cfg: TrainConfig, out_dir, log=_log, init_from=None) -> dict:
    """Train ``cfg``, export the IR, check it against the golden model; returns metrics.json's content.

    ``init_from``: a run directory whose checkpoint initializes every parameter and buffer of the same
    name and shape (latent weights, BatchNorm, learned activation ranges): QAT fine-tuning of a new
    (e.g. mixed) precision from a float or higher-precision run.
    """
    import torch
    import torch.nn.functional as F

    from bitscale.nn import ir
    from bitscale.nn.data import load_dataset
    from bitscale.nn.export import export
    from bitscale.nn.models import build_model, input_shape_for, to_torch_input

    cfg.validate()
    out_dir = Path(out_dir)
    _prepare_out(out_dir)
    device = _device(cfg.device)
    in_shape = input_shape_for(cfg.model, cfg.dataset)
    ds = load_dataset(cfg.dataset, cfg.data_dir, in_shape)

    t0 = time.time()
    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(True, warn_only=False)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    model = build_model(
        cfg.model, cfg.wbits, cfg.abits, cfg.scale, ds.num_classes, in_shape, cfg.base, cfg.layers, cfg.dropout
    ).to(device)
    if init_from is not None:
        init_state = _init_state(init_from, model)
        model.load_state_dict(init_state, strict=False)
        log(f"initialized {len(init_state)} tensors from {init_from}/checkpoint.pt")
    params = sum(p.numel() for p in model.parameters())
    log(f"train {cfg.label}: {params} parameters, {len(ds.train_x)} train / {len(ds.test_x)} test images")

    xtr = to_torch_input(ds.train_x, model)
    ytr = torch.as_tensor(ds.train_y)
    n = len(xtr)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    rng = np.random.default_rng(cfg.seed)
    losses, history = [], []
    for epoch in range(cfg.epochs):
        te = time.time()
        model.train()
        perm = torch.as_tensor(rng.permutation(n))
        tot_loss, tot_correct = 0.0, 0
        for s in range(0, n, cfg.batch_size):
            idx = perm[s : s + cfg.batch_size]
            xb, yb = xtr[idx].to(device), ytr[idx].to(device)
            logits = model.loss_logits(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot_loss += float(loss.detach()) * len(idx)
            tot_correct += int((logits.argmax(1) == yb).sum())
        if not math.isfinite(tot_loss):
            raise RuntimeError(f"training diverged (loss {tot_loss}) at epoch {epoch + 1}; try a smaller --lr")
        test_acc = evaluate(model, ds.test_x, ds.test_y, device)
        rec = {
            "epoch": epoch + 1,
            "loss": tot_loss / n,
            "train_acc": tot_correct / n,
            "test_acc": test_acc,
            "seconds": time.time() - te,
        }
        history.append(rec)
        losses.append(rec["loss"])
        log(
            f"epoch {epoch + 1}/{cfg.epochs}: loss {rec['loss']:.4f}  train {rec['train_acc']:.4f}  "
            f"test {test_acc:.4f}  ({rec['seconds']:.1f} s)"
        )
    train_seconds = time.time() - t0

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    try:
        model.eval()
        metrics = {
            "config": cfg.to_json(),
            "label": cfg.label,
            "test_acc": history[-1]["test_acc"],
            "init_from": None if init_from is None else str(init_from),
            "loss": losses,
            "history": history,
            "params": params,
            "input_shape": list(in_shape),
            "train_seconds": train_seconds,
            "golden_test_acc": None,
            "golden_agreement": None,
            "golden_agreement_fp32": None,
            "golden_logits_exact": None,
            "golden_act_match": None,
            "golden_act_max_diff": None,
        }
        torch.save(
            {"config": cfg.to_json(), "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}},
            tmp / "checkpoint.pt",
        )
        from bitscale.nn import presets

        if cfg.quantized and isinstance(model, presets.ConvNet):  # vgg, darknet
            # nn/presets.py: the IR through QONNX export + import, checked against Brevitas' float64 forward
            tc = time.time()
            net = presets.export(model, ds.num_classes, meta={"config": cfg.to_json(), "label": cfg.label})
            ir.save(net, tmp)
            metrics.update(presets.check_export(model, net, ds.test_x, ds.test_y))
            log(
                f"golden: test {metrics['golden_test_acc']:.4f}  agreement {metrics['golden_agreement']:.4f}  "
                f"logits exact {metrics['golden_logits_exact']:.4f}  ({time.time() - tc:.1f} s)"
            )
        elif cfg.quantized:
            tc = time.time()
            net = export(model, ds.num_classes, meta={"config": cfg.to_json(), "label": cfg.label})
            ir.save(net, tmp)
            fp32 = predict_fp32(model, ds.test_x, device)
            metrics.update(check_export(model, net, ds.test_x, ds.test_y, fp32))
            log(
                f"golden: test {metrics['golden_test_acc']:.4f}  agreement {metrics['golden_agreement']:.4f}  "
                f"activations {metrics['golden_act_match']:.6f}  ({time.time() - tc:.1f} s)"
            )
        metrics["seconds"] = time.time() - t0
        (tmp / "config.json").write_text(json.dumps(cfg.to_json(), indent=1))
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1))
        _publishable(tmp)
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return metrics


def _init_state(run_dir, model) -> dict:
    """The checkpoint's tensors that match ``model`` by name and shape."""
    import torch

    ck = Path(run_dir) / "checkpoint.pt"
    if not ck.is_file():
        raise UserError(f"no checkpoint.pt in run directory {run_dir}")
    src = torch.load(ck, map_location="cpu", weights_only=True)["state_dict"]
    own = model.state_dict()
    return {k: v for k, v in src.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}


def load_model(run_dir):
    """(TrainConfig, QNet in eval mode on the CPU) from a run directory's checkpoint."""
    import torch

    from bitscale.nn.data import NUM_CLASSES
    from bitscale.nn.models import build_model, input_shape_for

    run_dir = Path(run_dir)
    ck = run_dir / "checkpoint.pt"
    if not ck.is_file():
        raise UserError(f"no checkpoint.pt in run directory {run_dir}")
    try:
        doc = torch.load(ck, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{ck} is not a readable checkpoint: {e}") from None
    cfg = TrainConfig.from_json(doc["config"])
    model = build_model(
        cfg.model,
        cfg.wbits,
        cfg.abits,
        cfg.scale,
        NUM_CLASSES[cfg.dataset],
        input_shape_for(cfg.model, cfg.dataset),
        cfg.base,
        cfg.layers,
        cfg.dropout,
    )
    model.load_state_dict(doc["state_dict"])
    model.eval()
    return cfg, model
