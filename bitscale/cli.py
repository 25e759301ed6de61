"""The ``bitscale`` command line. Each subcommand lives in ``bitscale/commands/<name>.py``
and exposes ``register(subparsers)``; heavy imports happen inside the command, so
``bitscale --help`` stays fast.

Conventions, the same for every command (tests/test_cli.py checks each):

* stdout carries the command's result: a human summary, or with ``--json`` exactly one JSON
  document. Progress and logs go to stderr (``logging``; with ``--json`` also whatever a library,
  a tool or a child process prints while the command runs).
* a command's ``run(args)`` returns a :class:`Result` (or a bare exit code); this module prints it.
* user errors (:class:`bitscale.errors.UserError`) print one line and exit 2; Ctrl-C prints
  ``bitscale: interrupted`` and exits 130; a closed stdout (``bitscale boards --json | head -1``)
  exits 141 with no traceback, after the command's files are written.
* help shows every option's default; ``-v``/``-q`` before the command set the log level.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import pkgutil
import sys
from dataclasses import dataclass

from bitscale import __version__
from bitscale.errors import UserError

ORDER = [
    "demo",
    "train",
    "export_qonnx",
    "generate",
    "simulate",
    "estimate",
    "synth",
    "build",
    "boards",
    "sweep",
    "report",
    "completion",
]

log = logging.getLogger("bitscale")


@dataclass
class Result:
    """What a command hands back: ``doc`` is printed as JSON with ``--json``, ``text`` otherwise."""

    doc: object
    text: str | None = None
    rc: int = 0


def to_jsonable(obj):
    """JSON-ready form of a result: dataclasses through their ``to_json``, paths as strings."""
    if hasattr(obj, "to_json"):
        return to_jsonable(obj.to_json())
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    return obj


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (pytest swaps it between tests)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def configure_logging(level: int = logging.INFO) -> None:
    """The CLI's logging: records of the ``bitscale`` loggers as plain lines on stderr."""
    for h in list(log.handlers):
        if isinstance(h, _StderrHandler):
            log.removeHandler(h)
    h = _StderrHandler()
    h.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(h)
    log.setLevel(level)
    log.propagate = False


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows each option's default, unless the text already names it."""

    def _get_help_string(self, action):
        h = action.help or ""
        d = action.default
        if (
            "default" in h
            or d is None
            or d is False
            or d is argparse.SUPPRESS
            or not action.option_strings
            or isinstance(d, bool)
        ):
            return h
        return f"{h} (default {d})" if h else f"(default {d})"


def _command_modules():
    import bitscale.commands as pkg

    found = {m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")}
    for name in ORDER + sorted(found - set(ORDER)):
        if name in found:
            yield importlib.import_module(f"bitscale.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bitscale",
        formatter_class=DefaultsFormatter,
        description=(
            "Reduced-precision accelerator co-design: train -> estimate -> generate -> simulate -> synth "
            "-> report. Every command takes --json (one JSON document on stdout; progress on stderr)."
        ),
    )
    p.add_argument("--version", action="version", version=f"bitscale {__version__}")
    g = p.add_mutually_exclusive_group()
    g.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    g.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only on stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in _command_modules():
        mod.register(sub)
    for sp in sub.choices.values():
        sp.formatter_class = DefaultsFormatter
        if "--json" not in sp._option_string_actions:
            sp.add_argument("--json", action="store_true", help="print the result as one JSON document on stdout")
    return p


@contextlib.contextmanager
def _stdout_to_stderr():
    """While a ``--json`` command runs, whatever it (or a library, or a child process) writes to
    stdout goes to stderr, so stdout holds only the JSON document printed afterwards."""
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
        err_fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stdout replaced (pytest's capsys)
        fd = None
    saved = None
    if fd is not None:
        saved = os.dup(fd)
        os.dup2(err_fd, fd)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None and fd is not None:
            os.dup2(saved, fd)
            os.close(saved)


def _print_result(args, res: Result) -> None:
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(to_jsonable(res.doc), indent=1) + "\n")
    elif res.text:
        sys.stdout.write(res.text.rstrip("\n") + "\n")
    sys.stdout.flush()


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    saved = (list(log.handlers), log.level, log.propagate)  # main() called in-process leaves logging as it was
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        configure_logging(logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO)
        with _stdout_to_stderr() if args.json else contextlib.nullcontext():
            res = args.func(args)
        if not isinstance(res, Result):
            res = Result({"command": args.command, "exit_code": int(res or 0)}, None, int(res or 0))
        _print_result(args, res)
        return int(res.rc or 0)
    except UserError as e:
        print(f"bitscale: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bitscale: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 141
    finally:
        log.handlers[:], log.propagate = saved[0], saved[2]
        log.setLevel(saved[1])


if __name__ == "__main__":
    raise SystemExit(main())
