"""bitscale export-qonnx: a trained run's Brevitas model as a QONNX file (FINN interop)."""


def register(sub):
    p = sub.add_parser(
        "export-qonnx",
        help="export a trained run as QONNX (for FINN)",
        description="Load RUN_DIR/checkpoint.pt and write the Brevitas model as QONNX "
        "(input: pixels/255 with the fixed-scale 8-bit input quantizer).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", default=None, help="output .onnx (default RUN_DIR/model.onnx)")
    p.set_defaults(func=run)


def run(args):
    from bitscale.cli import Result
    from bitscale.nn.qonnx import export_qonnx

    if args.out is not None:
        from bitscale.outdir import check_file_target

        check_file_target(args.out)
    path = export_qonnx(args.run_dir, args.out)
    return Result({"run_dir": args.run_dir, "onnx": str(path)}, f"wrote {path}")
