"""The Python API (bitscale/api.py, docs/api.md): ``import bitscale`` is light, every documented
name resolves, the functions log instead of printing, and docs/api.md's example runs as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bitscale as bs
from bitscale.nn import ir
from bitscale.nn.random_net import random_fc

ROOT = Path(__file__).resolve().parents[1]
API = ["train", "load_run", "auto_fold", "estimate", "generate", "simulate", "synth", "build", "sweep", "report"]
HEAVY = ("torch", "brevitas", "numpy", "amaranth", "cocotb", "sqlalchemy", "matplotlib", "sklearn", "scipy")


def test_import_is_light():
    """A fresh interpreter: `import bitscale as bs` loads none of the heavy packages, and the API
    names resolve to functions without loading them either (bench/import_time.py times it)."""
    code = (
        "import sys, json; import bitscale as bs; before = sorted(sys.modules);"
        f"fns = [getattr(bs, n) for n in {API!r}];"
        "print(json.dumps({'before': before, 'after': sorted(sys.modules),"
        " 'callable': all(map(callable, fns))}))"
    )
    r = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    doc = json.loads(r.stdout)
    for mods in (doc["before"], doc["after"]):
        heavy = sorted({m.split(".")[0] for m in mods} & set(HEAVY))
        assert not heavy, f"import bitscale loaded {heavy}"
    assert doc["callable"]
    assert not [m for m in doc["before"] if m.startswith("bitscale.") and m not in ("bitscale.__main__",)], (
        "import bitscale should load no submodule"
    )


def test_names_and_types():
    assert set(API) <= set(dir(bs)) and set(API) <= set(bs.__all__)
    assert all(callable(getattr(bs, n)) for n in API)
    assert bs.sweep.SweepSpec is not None and bs.report.write_report is not None  # still the modules
    import dataclasses

    for t in (bs.Run, bs.Design, bs.Estimate, bs.Folding, bs.TrainResult, bs.SimResult, bs.SynthResult):
        assert dataclasses.is_dataclass(t) and t.__dataclass_params__.frozen, t
    with pytest.raises(AttributeError):
        bs.no_such_thing  # noqa: B018


def test_flow_logs_and_never_prints(tmp_path, capsys, caplog):
    """estimate -> generate through the API: typed results, nothing on stdout/stderr, progress in logging."""
    run_dir = tmp_path / "run"
    ir.save(random_fc([32, 16], 2, 2, in_features=64, seed=1), run_dir)
    run = bs.load_run(run_dir)
    assert isinstance(run, bs.Run) and run.network.layers and bs.Run.from_json(run.to_json()) == run
    assert run.result == bs.TrainResult(None) and run.accuracy is None  # not trained: no metrics
    with caplog.at_level("INFO", logger="bitscale"):
        f = bs.auto_fold(run, "ulx3s-85f", 5000)
        est = bs.estimate(run, "ulx3s-85f", f)
        assert isinstance(est, bs.Estimate) and est.fits and est.fps >= 5000
        assert bs.Estimate.from_json(json.loads(json.dumps(est.to_json()))) == est
        assert bs.estimate(run_dir, "ulx3s-85f", fps=5000) == est  # a directory works too
        d = bs.generate(run, tmp_path / "build", board="ulx3s-85f", fps=5000)
    assert isinstance(d, bs.Design) and d.folding == f and d.estimate == est and d.board == "ulx3s-85f"
    assert d.cycles_per_frame == est.cycles and (d.build_dir / "bitscale_top.v").is_file()
    assert json.loads(json.dumps(d.to_json()))["folding"] == f.to_json()
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    msgs = [r.getMessage() for r in caplog.records if r.name.startswith("bitscale")]
    assert any("auto-folded for ulx3s-85f at 5,000 FPS" in m for m in msgs), msgs
    with pytest.raises(bs.UserError, match="out of reach.*--fps max"):
        bs.auto_fold(run, "icebreaker", 1e12)


def _python_blocks(md: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", md, flags=re.S)


@pytest.mark.training
@pytest.mark.icarus
@pytest.mark.yosys
def test_bad_folding_is_a_user_error_at_the_api_and_a_value_error_below(tmp_path):
    """hw/folding raises ValueError (as the components do); the API, where the folding is the user's,
    raises UserError naming the layer and value (the CLI prints it as one line, exit 2)."""
    from bitscale.cost_model import estimate
    from bitscale.hw.folding import Folding, LayerFolding

    net = random_fc([8], 2, 2, in_features=16, seed=0)
    ir.save(net, tmp_path)
    bad = Folding((LayerFolding("dense0", 3, 1), LayerFolding("dense1")))
    with pytest.raises(ValueError, match="PE must divide MH=8, not 3") as e:
        estimate(net, bad, "pynq-z1")
    assert not isinstance(e.value, bs.UserError)
    with pytest.raises(bs.UserError, match="layer 'dense0': PE must divide MH=8, not 3"):
        bs.estimate(tmp_path, "pynq-z1", bad)
    (tmp_path / "bad.json").write_text(json.dumps({"layers": "dense0"}))
    with pytest.raises(bs.UserError, match=r"--folding .*bad.json: a folding file must be a JSON object"):
        bs.estimate(tmp_path, "pynq-z1", tmp_path / "bad.json")


def test_docs_example(tmp_path):
    """Every python block of docs/api.md, in order, in one fresh interpreter in an empty folder."""
    blocks = _python_blocks((ROOT / "docs" / "api.md").read_text())
    assert len(blocks) >= 2
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    r = subprocess.run(
        [sys.executable, "-c", "\n".join(blocks)],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert "test accuracy" in r.stdout and "Yosys: LUT" in r.stdout and "report.html" in r.stdout
    assert "bitscale.train: " in r.stderr  # progress through logging, configured by the user
    assert (tmp_path / "runs" / "api" / "build" / "synth.json").is_file()
