"""The ``bitscale`` command line. Each subcommand lives in ``bitscale/commands/<name>.py``
and exposes ``register(subparsers)``; heavy imports happen inside the command, so
``bitscale --help`` stays fast.

User errors (:class:`bitscale.errors.UserError`) print one line and exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from bitscale import __version__
from bitscale.errors import UserError

ORDER = ["demo", "train", "export_qonnx", "generate", "simulate", "estimate", "synth", "build",
         "boards", "sweep", "report"]


def _command_modules():
    import bitscale.commands as pkg
    found = {m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")}
    for name in ORDER + sorted(found - set(ORDER)):
        if name in found:
            yield importlib.import_module(f"bitscale.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bitscale", description=(
        "Reduced-precision accelerator co-design: train -> generate -> simulate -> estimate -> report."))
    p.add_argument("--version", action="version", version=f"bitscale {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in _command_modules():
        mod.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except UserError as e:
        print(f"bitscale: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bitscale: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    raise SystemExit(main())
