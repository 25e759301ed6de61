"""bench/cost_holdout.py: the held-out designs are deterministic, legal, and never part of the fit."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import calibrate_cost  # noqa: E402
import cost_common  # noqa: E402
import cost_holdout  # noqa: E402

from bitscale.hw import folding as fold  # noqa: E402


def test_holdout_designs_are_deterministic_legal_and_not_in_the_fit():
    a = [cost_holdout.random_design(i, 7) for i in range(3)]
    b = [cost_holdout.random_design(i, 7) for i in range(3)]
    assert a == b
    fitted = {d.name for d in calibrate_cost.all_designs()}
    for d in a:
        assert d.name not in fitted
        net = d.network()
        fold.validate(net, d.folding(net))
    # the fit reads bench/results/cost_synth only; held-out runs are cached elsewhere
    assert cost_holdout.HOLDOUT_CACHE != cost_common.CACHE
