"""bench/cost_holdout.py: the held-out designs are deterministic, legal, and never part of the fit."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import calibrate_cost  # noqa: E402
import cost_common  # noqa: E402
import cost_holdout  # noqa: E402

from bitscale.hw import folding as fold  # noqa: E402


@pytest.mark.slow
def test_holdout_designs_are_deterministic_legal_and_not_in_the_fit():
    """(~8 s: the fit's design list builds the 30 random training networks.)"""
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
    # the random training designs (in the fit) are drawn with another seed and never named like held-out ones
    train = calibrate_cost.random_training_designs()
    assert cost_holdout.TRAIN_SEED != 7 and all(d.name.startswith("tr") for d in train)
    assert not {d.net for d in train[:8]} & {cost_holdout.random_design(i, 7).net for i in range(60, 68)}


def test_windowed_designs_cover_padding_stride_and_pools():
    """Designs from FIRST_WINDOWED on draw #12's windows: "same" padding, stride 2, pools with kernel != stride."""
    nets = [
        cost_holdout.random_design(i, 7).net
        for i in range(cost_holdout.FIRST_WINDOWED, cost_holdout.FIRST_WINDOWED + 12)
    ]
    convs = [c for n in nets if n[0] == "cnv" for c in n[2]]
    assert any(c[0] == "conv" and c[4] > 0 for c in convs) and any(c[0] == "conv" and c[3] == 2 for c in convs)
    assert any(c[0] == "pool" and c[1] != c[2] for c in convs)
