"""bitscale sensitivity: per-layer Hessian trace (HAWQ-V2) and activation loss increase -> sensitivity.json."""


def register(sub):
    p = sub.add_parser(
        "sensitivity",
        help="per-layer quantization sensitivity of a trained run (HAWQ-V2)",
        description="Hutchinson estimate of each compute layer's Hessian trace on a calibration "
        "batch, the perturbation Tr(H)/n * ||Q_b(W) - W||^2 per candidate weight width, "
        "and the measured loss increase of quantizing each layer's input activations; "
        "writes RUN_DIR/sensitivity.json (docs/mixed_precision.md).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a trained run (float or highest precision is best)")
    p.add_argument("--samples", type=int, default=200, help="Hutchinson samples = Hessian-vector products (200)")
    p.add_argument("--calib", type=int, default=512, help="calibration images from the training set (512)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output file (default RUN_DIR/sensitivity.json)")
    p.set_defaults(func=run)


def run(args):
    import logging
    from pathlib import Path

    from bitscale.cli import Result
    from bitscale.errors import UserError

    # bad input first: one line before torch is even imported
    if not (Path(args.run_dir) / "checkpoint.pt").is_file():
        raise UserError(f"no checkpoint.pt in run directory {args.run_dir}")
    out = Path(args.out) if args.out else Path(args.run_dir) / "sensitivity.json"
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: directory {out.parent} does not exist")
    import torch

    from bitscale.nn.sensitivity import sensitivity, write

    torch.set_num_threads(1)
    doc = sensitivity(
        args.run_dir,
        samples=args.samples,
        calib=args.calib,
        seed=args.seed,
        log=logging.getLogger("bitscale.sensitivity").info,
    )
    write(doc, out)
    rows = [f"{'layer':<8} {'n':>8} {'Tr(H)':>10}  " + "  ".join(f"{'w' + b:>8}" for b in ("1", "2", "4", "8"))]
    for l in doc["layers"]:
        rows.append(
            f"{l['name']:<8} {l['n_params']:>8} {l['trace']:>10.4g}  "
            + "  ".join(f"{l['weight'][b]['omega']:>8.3g}" for b in ("1", "2", "4", "8") if b in l["weight"])
        )
    rows.append(f"{doc['hv_products']} Hessian-vector products in {doc['hv_seconds']:.1f} s; wrote {out}")
    return Result({**doc, "path": str(out)}, "\n".join(rows))
