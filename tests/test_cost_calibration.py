"""The cost model users run is the one the calibration fitted and measured (#17 item 1).

bench/calibrate_cost.py fits each family's CostModel, writes it to cost_model/coefficients.json and
reports, per cached Yosys row, the model's prediction ("fit"), computed by estimate() itself. Here
estimate() with the shipped coefficients must give those numbers exactly, including the per-design
intercept that coefficients() once dropped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bitscale.cost_model import estimate  # noqa: E402
from bitscale.cost_model import model  # noqa: E402

REPORT = ROOT / "bench" / "results" / "calibrate_cost.json"


def _fitted_rows(small: bool):
    from calibrate_cost import all_designs
    from cost_common import board_for

    designs = {d.name: d for d in all_designs()}
    rep = json.loads(REPORT.read_text())["families"]
    out = []
    for fam, r in rep.items():
        for i, name in enumerate(r["LUT"]["designs"]):
            if name.startswith("cal_") == small:
                out.append((designs[name], fam, board_for(fam), r["LUT"]["fit"][i], r["FF"]["fit"][i]))
    return out


def _check(rows):
    assert rows
    bad = []
    for d, fam, board, lut, ff in rows:
        net = d.network()
        e = estimate(net, d.folding(net), board)
        if (e.LUT, e.FF) != (lut, ff):
            bad.append(f"{d.name} {fam}: estimate LUT/FF {e.LUT}/{e.FF}, calibration {lut}/{ff}")
    assert not bad, "\n".join(bad)


@pytest.mark.slow  # 20 s on the loaded 2-core machine (fast tier, #17)
def test_estimate_reproduces_calibration_on_the_calibration_designs():
    """The 14 calibration designs x 4 families (small random networks: cheap to rebuild)."""
    _check(_fitted_rows(small=True))


@pytest.mark.slow
def test_estimate_reproduces_calibration_on_every_other_row():
    """The validation and FINN-topology designs (a full CNV's random network takes ~25 s to build)."""
    _check(_fitted_rows(small=False))


def test_coefficients_file_is_the_feature_lists():
    doc = json.loads(model.COEF_PATH.read_text())
    assert set(doc["families"]) == {"xc7", "xcup", "ecp5", "ice40"}
    for fam in doc["families"]:
        m = model.CostModel.for_family(fam)
        assert m.source == "fitted"
        for target, names in model.TARGETS.items():
            assert set(m.coef[target]) == set(names) | {model.DESIGN}
            assert m.design(target) > 0  # the intercept is fitted and used
        for name in m.prior_only:  # flagged coefficients are exactly the prior
            t, _, k = name.partition(".")
            assert m.coef[t][k] == pytest.approx(model.priors(fam)[t][k], abs=1e-4)  # the family's own prior


def test_cost_model_rejects_keys_that_are_not_features():
    good = model.CostModel.prior("xc7").to_json()
    assert model.CostModel.from_json("xc7", good).coef == model.CostModel.prior("xc7").coef
    missing = {**good, "LUT": {k: v for k, v in good["LUT"].items() if k != "design"}}
    with pytest.raises(ValueError, match=r"xc7 LUT.*missing \['design'\]"):
        model.CostModel.from_json("xc7", missing)
    unknown = {**good, "FF": {**good["FF"], "popcount": 1.0}}
    with pytest.raises(ValueError, match=r"xc7 FF.*unknown \['popcount'\]"):
        model.CostModel.from_json("xc7", unknown)
    with pytest.raises(ValueError, match="prior_only"):
        model.CostModel.from_json("xc7", {**good, "prior_only": ["LUT.nothing"]})


def test_estimate_adds_the_design_intercept():
    from bitscale.hw import folding as fold
    from bitscale.nn.random_net import random_fc

    net = random_fc([32, 16], 2, 2, in_features=32, seed=1)
    e = estimate(net, fold.default_folding(net), "pynq-z1")
    m = model.CostModel.for_family("xc7")
    assert e.design_LUT == m.design("LUT") > 0 and e.design_FF == m.design("FF") > 0
    assert e.LUT == sum(layer.LUT for layer in e.layers) + e.design_LUT
    assert e.FF == sum(layer.FF for layer in e.layers) + e.design_FF
    assert e.to_json()["design"] == {"LUT": e.design_LUT, "FF": e.design_FF}
