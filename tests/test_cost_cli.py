"""bitscale estimate / synth: outputs and one clear error per bad input."""

import json

import pytest

from bitscale.cli import main
from bitscale.hw import folding as fold
from bitscale.nn import ir
from bitscale.nn.random_net import random_fc


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    ir.save(random_fc([64, 32], 2, 2, in_features=64, seed=2), d)
    return d


def _err(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bitscale: error: ")
    return err[0]


def test_estimate_autofold_writes_files(run_dir, capsys):
    assert main(["estimate", str(run_dir), "--board", "ulx3s-85f", "--fps", "10000"]) == 0
    out = capsys.readouterr().out
    assert "dense0" in out and "FPS" in out and "DP16KD" in out
    est = json.loads((run_dir / "estimate.json").read_text())
    assert est["board"] == "ulx3s-85f" and est["total"]["fps"] >= 10000
    f = fold.Folding.load(run_dir / "folding.json")
    fold.validate(ir.load(run_dir), f)
    # the written folding round-trips through --folding with the same totals
    assert main(["estimate", str(run_dir), "--board", "ulx3s-85f", "--folding", str(run_dir / "folding.json")]) == 0
    again = json.loads((run_dir / "estimate.json").read_text())
    assert again["total"] == est["total"]


def test_estimate_errors(run_dir, tmp_path, capsys):
    assert "unknown board 'nope'" in _err(capsys, ["estimate", str(run_dir), "--board", "nope"])
    bad = fold.Folding((fold.LayerFolding("dense0", 3, 1), fold.LayerFolding("dense1"), fold.LayerFolding("dense2")))
    bad.save(tmp_path / "bad.json")
    msg = _err(capsys, ["estimate", str(run_dir), "--board", "pynq-z1", "--folding", str(tmp_path / "bad.json")])
    assert "PE must divide MH=64, not 3" in msg
    msg = _err(capsys, ["estimate", str(run_dir), "--board", "pynq-z1", "--fps", "1e12"])
    assert "target 1e+12 FPS is out of reach: the fastest folding that fits pynq-z1 gives" in msg
    assert "no network.json" in _err(capsys, ["estimate", str(tmp_path), "--board", "pynq-z1"])


def test_synth_errors(tmp_path, capsys):
    assert "no design.json" in _err(capsys, ["synth", str(tmp_path), "--family", "xc7"])
    (tmp_path / "design.json").write_text(json.dumps({"top": "bitscale_top", "verilog": "bitscale_top.v"}))
    assert "no Verilog" in _err(capsys, ["synth", str(tmp_path), "--family", "ecp5"])
    (tmp_path / "bitscale_top.v").write_text("module bitscale_top(); endmodule\n")
    assert "is xc7, not ecp5" in _err(capsys, ["synth", str(tmp_path), "--family", "ecp5", "--board", "pynq-z1"])
