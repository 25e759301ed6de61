"""Report and findings: Pareto fronts, Su et al.'s comparison on a synthetic table, the report's
files, grid parsing, idempotent re-runs, and the Ray executor (skipped when Ray is missing)."""

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as hst

import test_sweep_fakes as fakes
from bitscale.errors import UserError
from bitscale.report import annotate, findings, pareto_front, write_report
from bitscale.sweep import SweepSpec, parse_bits, parse_scales, precisions, run_sweep


# --- Pareto ------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(hst.lists(hst.tuples(hst.integers(0, 20), hst.integers(0, 20)), min_size=1, max_size=25))
def test_pareto_front_is_exactly_the_non_dominated_set(pts):
    rows = [{"id": i, "x": x, "y": y} for i, (x, y) in enumerate(pts)]
    front = set(pareto_front(rows, "x", "y", x_better="low"))

    def dominated(r):
        return any((o["x"] <= r["x"] and o["y"] >= r["y"]) and (o["x"] < r["x"] or o["y"] > r["y"]) for o in rows)

    # Every non-dominated (x, y) value is on the front once; nothing dominated is.
    assert {(r["x"], r["y"]) for r in rows if r["id"] in front} == {(r["x"], r["y"]) for r in rows if not dominated(r)}
    assert len(front) == len({(r["x"], r["y"]) for r in rows if not dominated(r)})
    hi = set(pareto_front([{**r, "x": -r["x"]} for r in rows], "x", "y", x_better="high"))
    assert {(rows[i]["x"], rows[i]["y"]) for i in hi} == {
        (rows[i]["x"], rows[i]["y"]) for i in pareto_front(rows, "x", "y")
    }


# --- findings on a synthetic table -------------------------------------------------------------

SCALES = ["1/64", "1/32", "1/16", "1/8"]
ACC = {  # precision -> accuracy per scale
    "w8a8": [0.80, 0.90, 0.95, 0.96],
    "w4a4": [0.78, 0.89, 0.951, 0.96],
    "w2a2": [0.60, 0.80, 0.90, 0.955],
    "w1a1": [0.50, 0.70, 0.85, 0.90],
    "float": [0.85, 0.93, 0.96, 0.97],
}


def _synthetic():
    rows, i = [], 0
    for prec, accs in ACC.items():
        w = 0 if prec == "float" else int(prec[1:].split("a")[0])
        for s, a in zip(SCALES, accs):
            sv = eval(s)  # noqa: S307 -- our own constants
            width = 4096 * sv
            i += 1
            bits = int(width * width * 2 * (w or 32))
            rows.append(
                {
                    "id": i,
                    "wbits": w,
                    "abits": w,
                    "scale": s,
                    "scale_value": sv,
                    "status": "done",
                    "accuracy": a,
                    "weight_bits": bits,
                    "est_bram18": None if not w else bits / 18432,
                    "est_lut": None if not w else width * 10 * w,
                    "est_fps": None if not w else 1e6 / width,
                }
            )
    return annotate(rows)


def test_findings_on_synthetic_table():
    f = findings(_synthetic(), delta=1.0)
    assert f["reference"] == "w8a8" and f["target"] == pytest.approx(0.95)
    per = {d["precision"]: d for d in f["per_precision"]}
    assert per["w8a8"]["scale"] == "1/16" and per["w8a8"]["width_x"] == pytest.approx(1.0)
    assert per["w4a4"]["scale"] == "1/16" and per["w4a4"]["weight_bits_x"] == pytest.approx(0.5)
    assert per["w4a4"]["lut_x"] == pytest.approx(0.5) and per["w4a4"]["bram18_x"] == pytest.approx(0.5)
    # 2-bit needs 2x the width: 4x the neurons^2, x 2/8 the bits -> 1x the weight bits.
    assert per["w2a2"]["scale"] == "1/8" and per["w2a2"]["width_x"] == pytest.approx(2.0)
    assert per["w2a2"]["weight_bits_x"] == pytest.approx(1.0)
    # Interpolated on log2(width): 2-bit crosses 0.95 at 2^(-4 + 0.05/0.055) of the base.
    assert per["w2a2"]["width_interp_x"] == pytest.approx(2 ** (0.05 / 0.055), rel=1e-6)
    assert not per["w1a1"]["reaches"] and per["w1a1"]["best_accuracy"] == pytest.approx(0.90)
    assert per["float"]["scale"] == "1/16" and per["float"]["weight_bits_x"] == pytest.approx(32 / 8)
    text = " ".join(f["statements"])
    assert "w2a2 needs 2x the width of w8a8" in text and "w1a1 does not reach" in text
    # A looser target moves every precision to a smaller width; a missing reference falls back.
    f6 = {d["precision"]: d["scale"] for d in findings(_synthetic(), delta=6.0)["per_precision"]}
    assert f6["w2a2"] == "1/16" and f6["w8a8"] == "1/32" and f6["w1a1"] == "1/8"
    rows = [r for r in _synthetic() if r["precision"] != "w8a8"]
    assert findings(rows, reference="w8a8")["reference"] == "w4a4"


# --- grid parsing ------------------------------------------------------------------------------


def test_grid_parsing_and_errors():
    assert parse_bits("1, 2,float", "--bits") == (1, 2, 0)
    assert parse_scales("1/32,0.125,1") == ("1/32", "1/8", "1")
    assert precisions((1, 2, 0), (1, 0), tied=False) == ((1, 1), (2, 1), (0, 0))
    with pytest.raises(UserError, match=r"--scales must be a positive number like 0.125 or 1/8, not '1/0'"):
        parse_scales("1/32,1/0")
    with pytest.raises(UserError, match=r"--scales must be a positive number like 0.125 or 1/8, not '-1/2'"):
        parse_scales("-1/2")
    with pytest.raises(UserError, match=r"--wbits must be 1..16 or float, not 17"):
        parse_bits("1,17", "--wbits")
    # one rule for bitscale train and bitscale sweep
    from bitscale.commands.train import parse_scale as train_scale
    from bitscale.nn.precision import parse_list

    assert train_scale("1/8") == 0.125 and parse_list("float", "--wbits") == 0
    for bad in ("17", "x"):
        with pytest.raises(UserError) as a:
            parse_bits(bad, "--wbits")
        with pytest.raises(UserError) as b:
            parse_list(bad, "--wbits")
        assert str(a.value) == str(b.value)
    with pytest.raises(UserError, match="'float' must be in both"):
        precisions((0, 1), (1,), tied=False)
    spec = SweepSpec(precisions=((1, 1), (0, 0)), scales=("1/8",), fps=1000.0, hw=True)
    assert SweepSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    with pytest.raises(UserError, match="--fps"):
        SweepSpec(fps=-1.0)
    r = subprocess.run(
        [sys.executable, "-m", "bitscale", "sweep", "--bits", "1,2", "--scales", "1/0", "--out", "unused"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "--scales must be a positive number like 0.125 or 1/8, not '1/0'" in r.stderr


# --- end to end with fake stages: report files, idempotence, hw columns -------------------------


def test_report_outputs_and_rerun(tmp_path):
    out = tmp_path / "sw"
    spec = SweepSpec(
        precisions=((1, 1), (2, 2), (4, 4), (8, 8), (0, 0)),
        scales=("1/256", "1/128", "1/64"),
        epochs=1,
        hw=True,
        hw_max=2,
    )
    s1 = run_sweep(spec, out, stages=fakes.stages(), quiet_points=True, log=lambda m: None)
    assert s1["done"] == 15 and s1["trained_now"] == 15 and s1["hw"] == {"points": 2, "done": 2, "failed": 0}
    s2 = run_sweep(spec, out, stages=fakes.stages(), quiet_points=True, log=lambda m: None)
    assert s2["done"] == 15 and s2["trained_now"] == 0  # the store is reused
    res = write_report(out, log=lambda m: None)
    for f in (
        "results.csv",
        "report.html",
        "findings.json",
        "acc_vs_weight_bits.svg",
        "acc_vs_bram18.svg",
        "acc_vs_max_fps.svg",
        "acc_vs_lut.svg",
    ):
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
        if f.endswith(".svg"):
            assert (out / f).read_text().startswith("<?xml") and "<svg " in (out / f).read_text()
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 15 and {r["status"] for r in rows} == {"done"}
    assert all(r["train_attempts"] == "1" for r in rows)
    front = [r for r in rows if r["pareto_bram18"] == "yes"]
    # The frontier from the CSV is the non-dominated set of (BRAM18, accuracy) over integer points.
    ints = [
        {"id": int(r["id"]), "b": float(r["est_bram18"]), "a": float(r["accuracy"])}
        for r in rows
        if r["precision"] != "float"
    ]
    assert {int(r["id"]) for r in front} == set(pareto_front(ints, "b", "a"))
    built = [r for r in rows if r["hw_status"] == "done"]
    assert len(built) == 2 and all(r["pareto_bram18"] == "yes" or r["pareto_fps"] == "yes" for r in built)
    assert all(r["synth_lut"] and r["sim_passed"] == "yes" for r in built)
    html = (out / "report.html").read_text()
    assert html.count('<svg class="fig"') == 4 and "Pareto frontier" in html and "Findings" in html
    assert "estimate vs Yosys" in html
    assert res["findings"]["reference"] == "w8a8"
    assert not list(out.glob(".*.tmp"))
    # The CLI writes the same report into another folder, with another reference and delta.
    from bitscale.cli import main

    assert main(["report", str(out), "--out", str(tmp_path / "rep"), "--reference", "w4a4", "--delta", "2"]) == 0
    f = json.loads((tmp_path / "rep" / "findings.json").read_text())
    assert f["reference"] == "w4a4" and f["delta"] == 2.0 and (tmp_path / "rep" / "report.html").is_file()


def test_demo_spec_is_the_documented_grid():
    from bitscale.commands.demo import spec

    s = spec()
    assert len(s.points()) == 15 and s.dataset == "digits" and s.board == "pynq-z1" and s.hw
    assert s.fps == 50_000 and s.hw_max == 2 and {p for p in s.precisions} == {(1, 1), (2, 2), (4, 4), (8, 8), (0, 0)}


def test_report_errors(tmp_path):
    with pytest.raises(UserError, match="no sweep results"):
        write_report(tmp_path)
    with pytest.raises(UserError, match="--delta"):
        write_report(tmp_path, delta=-1)


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray not installed (optional extra bitscale[ray])")
def test_ray_executor(tmp_path, monkeypatch):
    """Against a local Ray instance (started and shut down by the sweep)."""
    import os

    # Ray's workers import the fake stages from this folder.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    out = tmp_path / "sw"
    spec = SweepSpec(precisions=((1, 1), (2, 2)), scales=("1/256", "1/128"), epochs=1)
    s = run_sweep(spec, out, executor="ray", workers=2, stages=fakes.stages(), quiet_points=True)
    assert s["done"] == 4 and s["trained_now"] == 4
    from bitscale.store import Store, default_url

    assert all(p.train_attempts == 1 for p in Store(default_url(out)).points())


def test_ray_missing_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, installed or not
    spec = SweepSpec(precisions=((1, 1),), scales=("1/256",), epochs=1)
    with pytest.raises(UserError, match=r"bitscale\[ray\]"):
        run_sweep(spec, tmp_path / "sw", executor="ray", stages=fakes.stages(), log=lambda m: None)
