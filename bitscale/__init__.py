"""bitscale: reduced-precision training, bit-serial dataflow accelerators, cost model and sweep.

``import bitscale as bs`` gives the whole flow as functions (docs/api.md): ``bs.train``,
``bs.load_run``, ``bs.auto_fold``, ``bs.estimate``, ``bs.generate``, ``bs.simulate``,
``bs.synth``, ``bs.build``, ``bs.sweep``, ``bs.report`` and the result types (``bs.Run``,
``bs.Design``, ``bs.Estimate``, ``bs.Folding``, ``bs.TrainResult``, ``bs.SimResult``, ``bs.SynthResult``). Stages live in their own subpackages (bitscale.nn, .hw, .sim, .cost_model,
.boards); this package ties them together (API, CLI, sweep, store, report).

Guaranteed: ``import bitscale`` is cheap (no torch, Amaranth or cocotb; tests/test_api.py checks
it in a fresh interpreter): every name above is imported on first use.
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # for type checkers and IDEs; at run time these load on first use (__getattr__)
    from bitscale import report, sweep
    from bitscale.api import Design, Run, auto_fold, build, estimate, generate, load_run, simulate, synth, train
    from bitscale.boards import BOARDS, Board
    from bitscale.cost_model import Estimate
    from bitscale.errors import UserError
    from bitscale.hw.folding import Folding
    from bitscale.results import SimResult, SynthResult, TrainResult

# name -> module that defines it (imported on first access, PEP 562)
_API = {
    name: "bitscale.api"
    for name in (
        "Run",
        "Design",
        "train",
        "load_run",
        "auto_fold",
        "estimate",
        "generate",
        "simulate",
        "synth",
        "build",
    )
}
_API.update(
    {
        "UserError": "bitscale.errors",
        "Board": "bitscale.boards",
        "BOARDS": "bitscale.boards",
        "Folding": "bitscale.hw.folding",
        "Estimate": "bitscale.cost_model",
        "TrainResult": "bitscale.results",
        "SimResult": "bitscale.results",
        "SynthResult": "bitscale.results",
    }
)
# bs.sweep and bs.report are the modules bitscale.sweep and bitscale.report, callable as the API
# functions bitscale.api.sweep / .report (a package attribute named like a submodule becomes that
# submodule as soon as it is imported, so the module itself is what answers the call).
_CALLABLE_MODULES = ("sweep", "report")

__all__ = [
    "BOARDS",
    "Board",
    "Design",
    "Estimate",
    "Folding",
    "Run",
    "SimResult",
    "SynthResult",
    "TrainResult",
    "UserError",
    "__version__",
    "auto_fold",
    "build",
    "estimate",
    "generate",
    "load_run",
    "report",
    "simulate",
    "sweep",
    "synth",
    "train",
]


def __getattr__(name):
    import importlib

    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
    elif name in _CALLABLE_MODULES:
        value = importlib.import_module(f"bitscale.{name}")
    else:
        raise AttributeError(f"module 'bitscale' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
