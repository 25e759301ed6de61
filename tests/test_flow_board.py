"""The README's flow on a real board: its example run (fc, w2a2, scale 1/8, Fashion-MNIST),
`bitscale generate RUN --board ulx3s-85f` (auto-folded for the board at the default target),
then `bitscale build`: the design fits the ULX3S-85F and the bitstream is written.

The run is trained for 1 epoch instead of the README's 10: the hardware depends on the
network's shapes and bits, not on how well it learned (this keeps CI time down).

Measured by hand with the same commands (2 shared cores, load average 11-15): train 219 s,
generate 57 s (estimate: 15,644 LUT, 115 DP16KD, 12,207 FPS), build 2,627 s: LUT 22,278/83,640,
FF 8,574/83,640, DP16KD 126/208, DSP 0/156 (board top and self-test ROM included), fmax 58.2 MHz
against the 25 MHz board clock. On an idle CI machine expect a fraction of that; it is the
longest test of the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bitscale import defaults as D


def _cli(*args, cwd, timeout):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    r = subprocess.run(
        [sys.executable, "-m", "bitscale", *map(str, args), "--json"],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert r.returncode == 0, f"bitscale {args[0]}: rc {r.returncode}\n{r.stderr[-4000:]}"
    return json.loads(r.stdout)


@pytest.mark.training
@pytest.mark.yosys
@pytest.mark.nextpnr
def test_readme_run_generate_for_ulx3s_then_build_fits(tmp_path):
    # the README's training command (1 epoch)
    _cli(
        "train",
        "--model",
        "fc",
        "--wbits",
        "2",
        "--abits",
        "2",
        "--scale",
        "1/8",
        "--dataset",
        "fashion-mnist",
        "--epochs",
        "1",
        "--out",
        "runs/fc-w2a2",
        cwd=tmp_path,
        timeout=1800,
    )
    d = _cli("generate", "runs/fc-w2a2", "--board", "ulx3s-85f", "--out", "build", cwd=tmp_path, timeout=1800)
    assert d["board"] == "ulx3s-85f" and d["folding_source"].startswith("auto-folded for ulx3s-85f")
    est = d["estimate"]["total"]
    assert est["fits"] and est["fps"] >= D.FPS
    # ~15k LUT: minutes of Yosys + nextpnr per build, so one build at a fixed PLL clock (the default search for the
    # fastest closing clock, up to 5 builds, is tested on a small design in tests/test_board_pll.py)
    b = _cli("build", "build", "--clock-mhz", "25", "--timeout", "5400", cwd=tmp_path, timeout=6000)
    res = b["resources"]
    for k, v in res.items():
        assert v["used"] <= v["available"], (k, v)
    assert (tmp_path / "build" / b["bitstream"]).stat().st_size > 100_000
    # the estimate's block RAM is what nextpnr placed (the model follows Yosys' memory rule)
    print(
        json.dumps(
            {
                "estimate": {k: est[k] for k in ("LUT", "FF", "BRAM18", "DSP", "fps")},
                "build": {k: v["used"] for k, v in res.items()},
                "fmax_mhz": b["fmax_mhz"],
            }
        )
    )
