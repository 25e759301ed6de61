"""bitscale import: a QONNX model (Brevitas export_qonnx, FINN) -> a RUN_DIR like `train` writes (nn/importer.py)."""


def register(sub):
    p = sub.add_parser(
        "import",
        help="import a QONNX model (Brevitas/FINN) into a run directory",
        description="Lower MODEL.onnx with qonnx's cleanup/transforms to the bitscale IR and write "
        "RUN_DIR (network.json/.npz, metrics.json, model.onnx, inputs.npz), checking the "
        "golden model against qonnx's own executor (metrics: qonnx_agreement, "
        "qonnx_max_abs_diff). Check images: --dataset D (test images / 255), "
        "--calib-npz X.npz (array x: float model inputs; optional y: labels), or random "
        "images. A node that cannot be mapped is one error naming it (docs/import.md).",
    )
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("--out", required=True, metavar="RUN_DIR")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--dataset", default=None, help="check on this dataset's test images (pixels / 255)")
    g.add_argument("--calib-npz", default=None, metavar="X.npz", help="check on these float model inputs")
    p.add_argument("--data-dir", default=None, help="dataset directory (mnist, cifar10)")
    p.add_argument("--images", type=int, default=1000, help="images to check (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="write into a non-empty RUN_DIR import did not create")
    p.set_defaults(func=run)


def run(args):
    from bitscale.cli import Result
    from bitscale.nn.importer import import_to_run_dir

    m = import_to_run_dir(
        args.model,
        args.out,
        dataset=args.dataset,
        calib_npz=args.calib_npz,
        data_dir=args.data_dir,
        images=args.images,
        seed=args.seed,
        force=args.force,
    )
    agree = m.get("qonnx_agreement")
    return Result(
        {**m, "run_dir": str(args.out)},
        f"imported {args.model} -> {args.out}" + (f" (qonnx agreement {agree})" if agree is not None else ""),
    )
