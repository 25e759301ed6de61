"""`bitscale sweep --mixed K` and the report's mixed points (issue #11, item 4).

Fast, with the sweep's fake stages (tests/test_sweep_fakes.py): K searched points per width land in
the store beside the uniform grid (per-layer bits in ``mixed_results``, typed through
bitscale.results.SearchResult), a re-run trains nothing again, the report draws them with their own
marker beside the uniform frontier and its findings say where they beat uniform and which layers got
which bits. Bad input: one line, exit 2. One small real run (training marker): a digits fc sweep
with a float source point and one searched point, through the real search and fine-tuning.
"""

import csv
import json
from pathlib import Path

import pytest

import test_sweep_fakes as fakes
from bitscale.cli import main
from bitscale.errors import UserError
from bitscale.report import write_report
from bitscale.report_figures import style_for
from bitscale.results import SearchResult
from bitscale.store import Store, default_url, is_mixed, mixed_key
from bitscale.sweep import SweepSpec, run_sweep

SPEC = dict(precisions=((1, 1), (2, 2), (4, 4), (8, 8)), scales=("1/16", "1/8"), epochs=1, fps=10_000.0)


def _sweep(out, mixed=2, **kw):
    spec = SweepSpec(**{**SPEC, **kw}, mixed=mixed)
    return spec, run_sweep(spec, out, workers=1, stages=fakes.stages(), log=lambda m: None)


@pytest.mark.slow  # three fake sweeps: ~5 s alone, 25 s on the loaded shared machine
def test_mixed_points_in_the_store_and_resume(tmp_path, monkeypatch):
    trained = tmp_path / "trained.log"
    monkeypatch.setenv("BITSCALE_FAKE_LOG", str(trained))
    out = tmp_path / "sw"
    spec, summary = _sweep(out, precisions=((2, 2), (8, 8)))
    assert summary["points"] == 2 * 2 + 2 * 2 and summary["done"] == summary["points"]
    store = Store(default_url(out))
    try:
        rows = store.rows()
    finally:
        store.dispose()
    mixed = [r for r in rows if is_mixed(r["wbits"])]
    assert sorted((r["scale"], r["wbits"], r["abits"]) for r in mixed) == sorted(
        (s, *mixed_key(k, 2)) for s in SPEC["scales"] for k in range(2)
    )
    for r in mixed:
        wb, ab = json.loads(r["mixed_wbits"]), json.loads(r["mixed_abits"])
        assert len(wb) == len(ab) == 3 and ab[0] == 8
        assert r["mixed_label"] == f"w{'.'.join(map(str, wb))}-a{'.'.join(map(str, ab))}"
        run = Path(r["run_dir"])
        doc = json.loads((run / "search_point.json").read_text())
        assert SearchResult.from_search(doc).wbits == tuple(wb)
        # searched from its width's source point (no float in the grid: the widest, w8a8)
        assert Path(doc["source_run"]).name == f"fc-w8a8-s{r['scale'].replace('/', '_')}-digits-e1-seed0"
        # estimated at the ILP's folding, which the hardware phase reads
        assert json.loads((run / "folding-pynq-z1-fps10000.json").read_text()) == doc["folding"]
        assert r["est_bram18"] is not None and r["max_fps"] is not None
    n = len(trained.read_text().splitlines())
    assert n == 8
    # resumable: a second run does nothing again; a larger K adds only the new points
    _, again = _sweep(out, precisions=((2, 2), (8, 8)))
    assert again["trained_now"] == 0 and len(trained.read_text().splitlines()) == n
    _, more = _sweep(out, mixed=3, precisions=((2, 2), (8, 8)))
    assert more["trained_now"] == 2 * 3 and more["done"] == 2 * 2 + 2 * 3


def test_search_result_round_trip_and_checks():
    r = SearchResult((8, 1, 2), (8, 4, 4), "w8.1.2-a8.4.4", 57, 1000, 55, 0, 0.01, 0.02, "/x", 1, 3)
    assert SearchResult.from_json(r.to_json()) == r
    with pytest.raises(ValueError, match="1..16, not 17"):
        SearchResult((8, 17, 2), (8, 4, 4), "x", 1, 1, 1, 0, 0.0, 0.0, "/x")
    with pytest.raises(ValueError, match="one wbits and one abits per layer"):
        SearchResult((8, 1), (8, 4, 4), "x", 1, 1, 1, 0, 0.0, 0.0, "/x")


@pytest.mark.slow  # a fake sweep with its hardware phase and the report: ~4 s alone
def test_report_marks_mixed_points_and_names_their_bits(tmp_path):
    out = tmp_path / "sw"
    _, summary = _sweep(out, hw=True)  # the Pareto points (mixed ones too) go to hardware
    assert summary["hw"]["failed"] == 0 and summary["hw"]["done"] == summary["hw"]["points"] > 0
    rep = write_report(out, log=lambda m: None)
    fnd = rep["findings"]
    mx = fnd["mixed"]
    assert len(mx["points"]) == 4
    text = "\n".join(fnd["statements"])
    assert (
        "Mixed precision (searched): 4 point(s); more accurate than every uniform point within the same BRAM18" in text
    )
    for p in mx["points"]:
        assert [(l["name"], l["wbits"], l["abits"]) for l in p["layers"]][0] == ("dense0", 8, 8)
        names = ", ".join(f"{l['name']} {l['wbits']}/{l['abits']}" for l in p["layers"])
        assert f"Layer bits (w/a): {names}." in text
        assert p["best_uniform_within"] is None or p["best_uniform_within"]["bram18"] <= p["bram18"]
        if p["gain_pt"] is not None:
            b = p["best_uniform_within"]
            assert f"at equal BRAM18 the best uniform point is {b['precision']} at scale {b['scale']}" in text
    # the fakes make a searched point beat uniform at equal BRAM18
    assert any(p["gain_pt"] and p["gain_pt"] > 0 for p in mx["points"]), mx["points"]
    # the own marker: a legend entry "mixed" in the BRAM18 figure, drawn with the mixed style (a filled plus)
    assert style_for("mixed").marker == "P" and style_for("mixed") != style_for("w8a8")
    svg = (out / "acc_vs_bram18.svg").read_text()
    assert ">mixed<" in svg
    page = (out / "report.html").read_text()
    assert "searched mixed per-layer precision" in page and "w8.2.8-a8.4.4" in page
    rows = list(csv.DictReader(open(out / "results.csv")))
    mixed = [r for r in rows if r["precision"] == "mixed"]
    assert len(mixed) == 4 and all(r["bits"].startswith("w8.") for r in mixed)
    assert any(r["hw_status"] == "done" for r in mixed)  # built like any other Pareto point
    # the uniform frontier stays uniform: no mixed point is flagged on it
    assert not any(r["pareto_bram18"] == "yes" for r in mixed)


@pytest.mark.parametrize(
    "kw,needle",
    [
        (dict(mixed=-1), "--mixed: -1 is not an integer >= 0"),
        (dict(mixed=2, fps=None), "--mixed needs a target --fps"),
        (dict(mixed=2, mixed_wbits=(1, 17)), "--mixed-wbits must be 1..16, not 17"),
        (dict(mixed=2, mixed_abits=()), "--mixed-abits: no bit widths given"),
        (dict(mixed=2, mixed_epochs=0), "--mixed-epochs: 0 is not an integer >= 1"),
    ],
)
def test_mixed_spec_bad_input(kw, needle):
    with pytest.raises(UserError, match=needle.replace("(", r"\(").replace(".", r"\.")):
        SweepSpec(**{**SPEC, **kw})


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--mixed", "2", "--fps", "max"], "--mixed needs a target --fps"),
        (["--mixed", "2", "--mixed-wbits", "2,17"], "--mixed-wbits must be 1..16 or float, not 17"),
        (["--mixed", "2", "--mixed-abits", "float"], "--mixed-abits must be 1..16, not float"),
    ],
)
def test_cli_mixed_bad_input(tmp_path, capsys, args, needle):
    out = tmp_path / "sw"
    rc = main(["sweep", "--bits", "2,8", "--scales", "1/128", "--epochs", "1", "--out", str(out)] + args)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], err
    assert not out.exists()


def test_sensitivity_without_checkpoint(tmp_path, capsys):
    """`bitscale sensitivity` on a folder without a checkpoint: one line naming it, exit 2, nothing written."""
    (tmp_path / "run").mkdir()
    rc = main(["sensitivity", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and f"no checkpoint.pt in run directory {tmp_path / 'run'}" in err[0], err
    assert list((tmp_path / "run").iterdir()) == []


@pytest.mark.slow
@pytest.mark.training
def test_real_mixed_sweep_point(tmp_path):
    """The real stages: a digits fc at 1/128, float + w8a8 grid points, one searched point per width
    (sensitivity on the float run, the ILP, one fine-tuning epoch), estimated at the ILP's folding."""
    from bitscale.nn import ir

    spec = SweepSpec(
        precisions=((0, 0), (8, 8)),
        scales=("1/128",),
        epochs=1,
        fps=100_000.0,
        mixed=1,
        mixed_wbits=(1, 2, 8),
        mixed_abits=(2, 8),
        batch_size=64,
        lr=0.01,
    )
    summary = run_sweep(spec, tmp_path / "sw", workers=1, log=lambda m: None)
    assert summary["done"] == 3 and summary["failed"] == 0, summary
    store = Store(default_url(tmp_path / "sw"))
    try:
        rows = store.rows()
    finally:
        store.dispose()
    (m,) = [r for r in rows if is_mixed(r["wbits"])]
    run = Path(m["run_dir"])
    net = ir.load(run)
    assert [l.wbits for l in net.compute_layers] == json.loads(m["mixed_wbits"])
    assert [l.in_bits for l in net.compute_layers] == json.loads(m["mixed_abits"])
    assert m["golden_agreement"] == 1.0 and 0 < m["accuracy"] <= 1
    src = Path(json.loads((run / "search_point.json").read_text())["source_run"])
    assert (src / "sensitivity.json").is_file() and "float" in src.name  # computed once, kept at the source
    # the trained tables are within the declared-width bound the ILP costed
    assert m["est_bram18"] <= json.loads(m["mixed_predicted"])["BRAM18"]
    fnd = write_report(tmp_path / "sw", log=lambda s: None)["findings"]
    assert fnd["mixed"]["points"][0]["bits"] == m["mixed_label"]
