"""DSP count = Yosys' mul2dsp rule (cost_model/dsp.py), checked on the synthesized multiplier grid."""

import json
import sys
from pathlib import Path

import pytest

from bitscale.cost_model.dsp import mul_dsp

ROOT = Path(__file__).resolve().parent.parent
GRID = json.loads((ROOT / "tests" / "data" / "dsp_grid.json").read_text())


def test_grid_covers_both_families_and_signednesses():
    pts = GRID["points"]
    for fam in ("xc7", "ecp5"):
        mine = [p for p in pts if p["family"] == fam]
        assert len(mine) >= 40 and {p["signed"] for p in mine} == {True, False}
        assert min(min(p["a"], p["b"]) for p in mine) == 2 and max(max(p["a"], p["b"]) for p in mine) == 48


@pytest.mark.parametrize(
    "p", GRID["points"], ids=lambda p: f"{p['family']}-{p['a']}x{p['b']}-{'s' if p['signed'] else 'u'}"
)
def test_model_dsp_equals_yosys_grid(p):
    assert mul_dsp(p["a"], p["b"], p["signed"], p["signed"], p["family"]) == p["dsp"]


def test_issue_cases():
    """The products the issue measured: 17 x 45 on xc7 takes 3 DSP48E1, 37 x 25 on ECP5 4 MULT18X18D."""
    assert mul_dsp(17, 45, True, True, "xc7") == 3
    assert mul_dsp(37, 25, True, True, "ecp5") == 4
    assert mul_dsp(30, 30, True, True, "ice40") == 0


@pytest.mark.yosys
def test_grid_resynthesized_points():
    """A few grid points synthesized again now (one Yosys process per family) give the fixture's counts."""
    sys.path.insert(0, str(ROOT / "bench"))
    import dsp_grid

    pts = [(26, 18, "ss"), (37, 25, "uu"), (43, 17, "ss")]
    want = {(p["family"], p["a"], p["b"], "ss" if p["signed"] else "uu"): p["dsp"] for p in GRID["points"]}
    for fam in ("xc7", "ecp5"):
        got, _ = dsp_grid.run_family(fam, pts, log=lambda *a: None)
        for (a, b, s), n in got.items():
            assert n == want[(fam, a, b, s)] == mul_dsp(a, b, s == "ss", s == "ss", fam)
