"""bitscale train: Brevitas QAT of one configuration; writes the checkpoint, the IR and metrics.json."""

from bitscale.defaults import DATASET, EPOCHS, MODEL, SEED


def parse_scale(s):
    """'0.125' or '1/8' -> float (the sweep's rule: bitscale.nn.precision.parse_scale)."""
    from bitscale.nn.precision import parse_scale as _parse

    return float(_parse(s, "--scale"))


def register(sub):
    p = sub.add_parser(
        "train",
        help="train one model (Brevitas QAT) and export its integer IR",
        description="Train a reduced-precision model with Brevitas, export the integer IR "
        "(network.json + .npz), check it against the golden model, and write "
        "config.json, metrics.json and checkpoint.pt into --out.",
    )
    p.add_argument("--model", default=MODEL, help="fc | tfc | sfc | lfc | cnv")
    p.add_argument(
        "--wbits",
        default=None,
        help="weight bits 1..16 (1 = bipolar) or 'float' (default 2); or one per compute layer: 8,2,2,4",
    )
    p.add_argument(
        "--abits",
        default=None,
        help="activation bits 1..16 (1 = bipolar) or 'float' (default 2); or one per compute layer, "
        "the bits entering it (the first is the 8-bit pixel): 8,2,2,4",
    )
    p.add_argument(
        "--precision",
        default=None,
        metavar="P.json",
        help='per-layer bits as `bitscale search` writes them: {"layers": [{"wbits": 8, "abits": 8}, ...]}',
    )
    p.add_argument("--scale", default="0.125", help="width scale, e.g. 0.125 or 1/8 (default 0.125)")
    p.add_argument("--dataset", default=DATASET, help="digits | fashion-mnist | mnist | cifar10")
    p.add_argument("--data-dir", default=None, help="dataset directory (IDX files or CIFAR-10 batches)")
    p.add_argument("--epochs", type=int, default=EPOCHS, help="training epochs")
    p.add_argument("--seed", type=int, default=SEED, help="seed for initialisation and data order")
    p.add_argument("--batch-size", type=int, default=None, help="default 128")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate, cosine schedule (default 0.002)")
    p.add_argument("--base", type=int, default=4096, help="fc base width: H = round(base*scale)")
    p.add_argument("--layers", type=int, default=3, help="fc hidden layers (default 3)")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout after each hidden layer (training only)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--out", required=True, help="run directory to write")
    p.set_defaults(func=run)


def run(args):
    import logging

    from bitscale.cli import Result
    from bitscale.nn.train import TrainConfig, train

    kw = {}
    if args.batch_size is not None:
        kw["batch_size"] = args.batch_size
    if args.lr is not None:
        kw["lr"] = args.lr
    from bitscale.errors import UserError
    from bitscale.nn.precision import parse_list, read_precision

    if args.precision is not None:
        if args.wbits is not None or args.abits is not None:
            raise UserError("give either --precision or --wbits/--abits, not both")
        wbits, abits = read_precision(args.precision)
    else:
        wbits = parse_list("2" if args.wbits is None else args.wbits, "--wbits")
        abits = parse_list("2" if args.abits is None else args.abits, "--abits")
    cfg = TrainConfig(
        model=args.model,
        wbits=wbits,
        abits=abits,
        scale=parse_scale(args.scale),
        dataset=args.dataset,
        epochs=args.epochs,
        seed=args.seed,
        dropout=args.dropout,
        device=args.device,
        data_dir=args.data_dir,
        base=args.base,
        layers=args.layers,
        **kw,
    )
    from bitscale.outdir import check_parent_writable

    check_parent_writable(args.out)  # before training, not after it
    m = train(cfg, args.out, log=logging.getLogger("bitscale.train").info)
    golden = (
        ""
        if m.get("golden_agreement") is None
        else f" (golden model {m['golden_test_acc']:.4f}, agreement {m['golden_agreement']:.4f})"
    )
    text = f"test accuracy {m['test_acc']:.4f}{golden} in {m['seconds']:.1f} s; wrote {args.out}"
    return Result({**m, "run_dir": str(args.out)}, text)
