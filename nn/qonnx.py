"""QONNX export of a trained run (FINN interop) via Brevitas' exporter."""

from __future__ import annotations

import warnings
from pathlib import Path

from bitscale.errors import UserError


def export_qonnx(run_dir, out=None) -> Path:
    """Write RUN_DIR's Brevitas model as QONNX to ``out`` (default RUN_DIR/model.onnx), atomically."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from brevitas.export import export_qonnx as bx

    from bitscale.nn.models import to_torch_input
    from bitscale.nn.train import load_model

    cfg, model = load_model(run_dir)
    if not cfg.quantized:
        raise UserError(f"{run_dir} is a float baseline; QONNX export needs a quantized run")
    out = Path(out) if out else Path(run_dir) / "model.onnx"
    if out.parent and not out.parent.is_dir():
        raise UserError(f"--out directory {out.parent} does not exist")
    import numpy as np

    x = to_torch_input(np.zeros((1, *model.in_shape), np.uint8), model)
    from bitscale.atomic import atomic_path

    with atomic_path(out, suffix=".onnx") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            bx(model, args=x, export_path=str(tmp), dynamo=False)
    return out
