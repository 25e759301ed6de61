"""bitscale: reduced-precision training, bit-serial dataflow accelerators, cost model and sweep.

Stages live in their own subpackages (bitscale.nn, .hw, .sim, .cost_model,
.boards); this package only ties them together (CLI, sweep, store, report).
"""
__version__ = "0.1.0"
