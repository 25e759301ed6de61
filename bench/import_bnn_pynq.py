"""Brevitas' own BNN-PYNQ model definitions (brevitas_examples) -> QONNX -> bitscale import -> generate -> simulate.

    .venv/bin/python bench/import_bnn_pynq.py [--models tfc_1w1a,tfc_2w2a,...] [--images 20] [--check-images 200]

For each model: random weights (``model_with_cfg(name, pretrained=False)``) with BatchNorm statistics
from a few forward passes on random images, ``export_qonnx``, ``bitscale import`` (qonnx executor check
on random images / 255), ``generate`` (default folding: parallel, PE <= 8, SIMD <= 16) and ``simulate``
(Verilator, cocotb fast harness) on the import's first ``--images`` check images. Prints a table
(qonnx agreement, golden_match, measured / model cycles per frame) and writes
bench/results/import_bnn_pynq.json. brevitas_examples has no lfc_2w2a config (LFC is w1a1 / w1a2 only).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALL = ("tfc_1w1a", "tfc_2w2a", "sfc_1w1a", "sfc_2w2a", "lfc_1w1a", "cnv_1w1a", "cnv_2w2a")


def export(name: str, path: Path, seed: int = 0) -> tuple:
    import torch
    from brevitas.export import export_qonnx
    from brevitas_examples.bnn_pynq.models import model_with_cfg

    torch.manual_seed(seed)
    m, _ = model_with_cfg(name, pretrained=False)
    shape = (3, 32, 32) if name.startswith("cnv") else (1, 28, 28)
    m.train()
    with torch.no_grad():
        for _ in range(2):
            m(torch.rand(32, *shape))
    m.eval()
    export_qonnx(m, args=torch.zeros(1, *shape), export_path=str(path), dynamo=False)
    return m, shape


def run_one(name: str, work: Path, images: int, check_images: int, log) -> dict:
    from bitscale.hw.folding import default_folding
    from bitscale.hw.generate import generate
    from bitscale.nn import ir
    from bitscale.nn.importer import import_to_run_dir
    from bitscale.sim.simulate import simulate

    row = {"model": name}
    t = time.time()
    onnx = work / f"{name}.onnx"
    export(name, onnx)
    met = import_to_run_dir(onnx, work / f"{name}_run", images=check_images, log=log)
    row.update(
        qonnx_agreement=met["qonnx_agreement"],
        qonnx_max_abs_diff=met["qonnx_max_abs_diff"],
        import_s=round(time.time() - t, 1),
    )
    net = ir.load(work / f"{name}_run")
    row["layers"] = [l.kind for l in net.layers]
    row["last_bias"] = net.layers[-1].bias
    t = time.time()
    d = generate(net, default_folding(net), work / f"{name}_build", run_dir=work / f"{name}_run")
    row["generate_s"] = round(time.time() - t, 1)
    t = time.time()
    s = simulate(work / f"{name}_build", images=images, log=log)
    row.update(
        golden_match=s["golden_match"],
        images=s["images"],
        cycles_per_frame=s["cycles_per_frame"],
        model_cycles_per_frame=d["model_cycles_per_frame"],
        cycles_ratio=s["cycles_ratio"],
        simulate_s=round(time.time() - t, 1),
    )
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(ALL))
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--check-images", type=int, default=200)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "import_bnn_pynq.json"))
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from bitscale.sim.runner import setup_path

    setup_path()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bitscale-bnn-pynq-") as tmp:
        for name in a.models.split(","):
            try:
                rows.append(run_one(name, Path(tmp), a.images, a.check_images, log=lambda *x, **k: None))
            except Exception as e:  # noqa: BLE001 - a bench row records the failure and goes on
                rows.append({"model": name, "error": f"{type(e).__name__}: {e}"})
            r = rows[-1]
            print(
                f"{name:10s} "
                + (
                    "ERROR " + r["error"]
                    if "error" in r
                    else f"qonnx {r['qonnx_agreement']:.3f}  golden_match {r['golden_match']}/{r['images']}  "
                    f"cycles {r['cycles_per_frame']:.0f} / model {r['model_cycles_per_frame']}  "
                    f"(import {r['import_s']} s, generate {r['generate_s']} s, simulate {r['simulate_s']} s)"
                ),
                flush=True,
            )
    Path(a.out).write_text(
        json.dumps({"machine": platform.node(), "python": sys.version.split()[0], "rows": rows}, indent=1)
    )
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
