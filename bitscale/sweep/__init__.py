"""The precision x width sweep: expand a grid, train and estimate every point once,
optionally build the Pareto points for real, and keep everything in the result store.

Per point (:func:`run_point`): claim it in the store (atomic; see
:mod:`bitscale.store`), train it into ``SWEEP_DIR/runs/<run key>/`` (trained into
a temporary folder and renamed when complete, so a killed run leaves no half
folder that looks finished), load its IR, auto-fold it on the board
(``bitscale.cost_model.auto_fold``), estimate its cost
(``bitscale.cost_model.estimate``) and store the results. Float points get
accuracy only. With ``hw``, after training: the Pareto points (accuracy vs
BRAM18 and accuracy vs FPS) are generated (``bitscale.hw.generate``),
simulated in cocotb (``bitscale.sim.simulate``) and synthesized for the
board's family (``bitscale.boards.synth``), and the measured numbers are stored
beside the estimates.

Guaranteed: a point whose status is ``done`` is never trained again, by this
process or any other sharing the store; a point left ``running`` by a dead
process is taken over on the next run. A completed run folder is reused (not
retrained) when a point is re-estimated for another board or FPS target.

The stages are looked up through a :class:`Stages` object so tests can inject
fakes; the product path always uses :meth:`Stages.real`.
"""

from bitscale.analysis import pareto_hw_points
from bitscale.api import make_callable as _make_callable
from bitscale.sweep.executors import default_workers
from bitscale.sweep.hw import run_hw
from bitscale.sweep.point import Job, run_point, weight_memory_bits
from bitscale.sweep.run import run_sweep
from bitscale.sweep.spec import (
    DATASETS,
    EXECUTORS,
    MODELS,
    SIMULATORS,
    SweepSpec,
    parse_bits,
    parse_scale,
    parse_scales,
    point_label,
    precision_label,
    precisions,
    run_key,
    scale_slug,
)
from bitscale.sweep.stages import Stages

__all__ = [
    "DATASETS",
    "EXECUTORS",
    "MODELS",
    "SIMULATORS",
    "Job",
    "Stages",
    "SweepSpec",
    "default_workers",
    "parse_bits",
    "parse_scale",
    "parse_scales",
    "pareto_hw_points",
    "point_label",
    "precision_label",
    "precisions",
    "run_hw",
    "run_key",
    "run_point",
    "run_sweep",
    "scale_slug",
    "weight_memory_bits",
]


# ``bs.sweep(...)`` (import bitscale as bs): this module, called, runs bitscale.api.sweep (docs/api.md).
_make_callable(__name__)
