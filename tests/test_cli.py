"""CLI conventions (bitscale/cli.py): every command's --json stdout is exactly one JSON document
(json.loads of the whole of stdout), progress goes to stderr, defaults are shared and shown in
--help, --out creates parents, a closed pipe and Ctrl-C exit quietly, results.csv holds plain
numbers, and the flow generate <- estimate's folding.json / --board auto-folding / fit check.

One test per command. Fast tests use a random IR (no training) or a sweep store filled by the fake
stages of tests/test_sweep_fakes.py; the ones that train, simulate or synthesize are marked slow.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import test_sweep_fakes as fakes
from bitscale.hw import folding as fold
from bitscale.nn import ir
from bitscale.nn.random_net import random_fc

from bitscale.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    env.pop("PYTHONPATH", None)
    return env


def cli(*args, cwd=None, timeout=600):
    """Run ``python -m bitscale ARGS --json`` in a subprocess: (parsed stdout, stderr)."""
    r = subprocess.run(
        [sys.executable, "-m", "bitscale", *map(str, args), "--json"],
        check=False,
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert r.returncode == 0, f"rc {r.returncode}\n{r.stderr[-3000:]}"
    return json.loads(r.stdout), r.stderr


def jmain(capsys, *args):
    """In-process ``bitscale ARGS --json``: the whole of stdout parsed as one JSON document."""
    capsys.readouterr()
    rc = main([*map(str, args), "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    return json.loads(out)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    ir.save(random_fc([64, 32], 2, 2, in_features=64, seed=3), d)
    return d


# --- conventions shared by all commands ---------------------------------------------------------


def test_every_command_has_json_and_shows_defaults():
    p = build_parser()
    sub = next(a for a in p._actions if a.dest == "command")
    assert {
        "train",
        "generate",
        "simulate",
        "estimate",
        "synth",
        "build",
        "boards",
        "sweep",
        "report",
        "export-qonnx",
        "demo",
        "completion",
    } <= set(sub.choices)
    for name, sp in sub.choices.items():
        assert "--json" in sp._option_string_actions, name
        text = sp.format_help()
        for a in sp._actions:
            if a.option_strings and a.default not in (None, False) and a.default is not __import__("argparse").SUPPRESS:
                assert f"default {a.default}" in " ".join(text.split()) or "default" in (a.help or ""), (name, a.dest)


def test_shared_defaults():
    from bitscale import defaults as D

    p = build_parser()
    sub = next(a for a in p._actions if a.dest == "command").choices

    def default(cmd, dest):
        return next(a.default for a in sub[cmd]._actions if a.dest == dest)

    assert default("train", "dataset") == default("sweep", "dataset") == D.DATASET
    assert default("train", "epochs") == default("sweep", "epochs") == D.EPOCHS
    assert default("estimate", "board") == default("sweep", "board") == D.BOARD
    assert default("simulate", "simulator") == default("sweep", "simulator") == D.SIMULATOR
    # --fps: not given = the shared target (sweep and estimate), not the fastest folding
    from bitscale.defaults import parse_fps

    assert parse_fps(default("sweep", "fps")) == parse_fps(default("estimate", "fps")) == D.FPS
    assert parse_fps("max") is None


def test_boards_json_and_closed_pipe(tmp_path):
    boards, err = cli("boards")
    assert {b["name"] for b in boards} >= {"pynq-z1", "ulx3s-85f", "icebreaker"} and err == ""
    # a reader that goes away: no traceback, exit 141 (`bitscale boards --json | head -c 1`)
    r = subprocess.run(
        f"set -o pipefail; {sys.executable} -m bitscale boards --json | head -c 1",
        check=False,
        shell=True,
        executable="/bin/bash",
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr
    assert r.returncode in (0, 141)
    # a pipe closed before anything is written: exit 141 quietly
    p = subprocess.Popen(
        [sys.executable, "-m", "bitscale", "boards", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    p.stdout.close()
    _, err = p.communicate(timeout=60)
    assert p.returncode == 141 and b"Traceback" not in err, err


@pytest.mark.training
def test_ctrl_c_exits_quietly(tmp_path):
    """SIGINT while training: one line, exit 130, no traceback."""
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bitscale",
            "train",
            "--scale",
            "1/128",
            "--epochs",
            "500",
            "--out",
            str(tmp_path / "run"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        text=True,
        # a test run started in the background (`cmd &`) inherits SIGINT ignored, and Python
        # then keeps ignoring it: give the child the default disposition a terminal has
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    first = p.stderr.readline()  # "train fc-...": the command is running
    assert first.startswith("train "), first
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "bitscale: interrupted", err
    assert out == ""


def test_completion(capsys):
    doc = jmain(capsys, "completion", "bash")
    script = doc["script"]
    assert "complete -o filenames -o bashdefault -F _bitscale bitscale" in script
    for word in ("estimate", "--board", "ulx3s-85f", "--simulator", "icarus"):
        assert word in script
    r = subprocess.run(
        [
            "bash",
            "-c",
            script
            + """
COMP_WORDS=(bitscale estimate run --board ul); COMP_CWORD=4; _bitscale; echo "${COMPREPLY[*]}"
COMP_WORDS=(bitscale gen); COMP_CWORD=1; _bitscale; echo "${COMPREPLY[*]}"
""",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.stdout.split("\n")[:2] == ["ulx3s-85f", "generate"], r.stdout + r.stderr
    assert main(["completion", "bash"]) == 0 and "_bitscale()" in capsys.readouterr().out


# --- estimate -> generate: one flow ----------------------------------------------------------------


def test_estimate_json_out_creates_parents(run_dir, tmp_path, capsys):
    out = tmp_path / "a" / "b" / "est"
    doc = jmain(capsys, "estimate", run_dir, "--board", "ulx3s-85f", "--out", out)
    assert doc["board"] == "ulx3s-85f" and doc["total"]["fits"] and doc["total"]["fps"] >= 10_000
    assert json.loads((out / "estimate.json").read_text())["total"] == doc["total"]
    assert fold.Folding.from_json(doc["folding"]) == fold.Folding.load(out / "folding.json")


def test_generate_picks_up_estimates_folding(run_dir, tmp_path, capsys):
    run = tmp_path / "run"
    ir.save(ir.load(run_dir), run)
    est = jmain(capsys, "estimate", run, "--board", "icebreaker", "--fps", "3000")
    d = jmain(capsys, "generate", run, "--out", tmp_path / "x" / "build")
    assert str(run / "folding.json") in d["folding_source"] and "bitscale estimate" in d["folding_source"]
    assert d["folding"] == est["folding"] and d["board"] == "icebreaker"
    assert d["estimate"]["total"] == est["total"]
    design = json.loads((tmp_path / "x" / "build" / "design.json").read_text())
    assert design["model_cycles_per_frame"] == d["cycles_per_frame"] == est["total"]["cycles"]
    # --board auto-folds for the board like estimate (cheapest folding reaching the target)
    d2 = jmain(capsys, "generate", run, "--board", "ulx3s-85f", "--fps", "20000", "--out", tmp_path / "b2")
    assert "auto-folded for ulx3s-85f at 20,000 FPS" in d2["folding_source"]
    assert d2["estimate"]["total"]["fps"] >= 20_000 and d2["estimate"]["total"]["fits"]
    assert (tmp_path / "b2" / "board.json").is_file()


def test_generate_refuses_a_folding_that_does_not_fit(run_dir, tmp_path, capsys):
    big = jmain(capsys, "estimate", run_dir, "--board", "pynq-z1", "--fps", "max", "--out", tmp_path / "e")
    assert big["total"]["LUT"] > 5280  # more than an iCEBreaker has
    capsys.readouterr()
    rc = main(
        [
            "generate",
            str(run_dir),
            "--board",
            "icebreaker",
            "--folding",
            str(tmp_path / "e" / "folding.json"),
            "--out",
            str(tmp_path / "build"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("bitscale: error: the folding does not fit icebreaker: LUT ")
    import bitscale as bs

    on_ice = bs.estimate(run_dir, "icebreaker", tmp_path / "e" / "folding.json")
    assert f"LUT {on_ice.LUT:,}/5,280" in err[-1] and f"EBR {on_ice.BRAM18}/30" in err[-1]
    assert not (tmp_path / "build").exists()  # nothing written


# --- the stages -------------------------------------------------------------------------------------


@pytest.mark.training
@pytest.mark.icarus
@pytest.mark.yosys
def test_train_export_simulate_synth_json(tmp_path):
    """train, export-qonnx, generate, simulate (Icarus) and synth (Yosys) --json, in subprocesses:
    all of stdout is one document even while Brevitas, cocotb and Yosys run."""
    m, err = cli("train", "--scale", "1/128", "--epochs", "1", "--out", tmp_path / "deep" / "run")
    assert m["golden_agreement"] == 1.0 and m["run_dir"].endswith("run") and "epoch 1/1" in err
    q, _ = cli("export-qonnx", tmp_path / "deep" / "run", "--out", tmp_path / "m.onnx")
    assert Path(q["onnx"]).is_file()
    g, _ = cli(
        "generate", tmp_path / "deep" / "run", "--board", "icebreaker", "--fps", "2000", "--out", tmp_path / "build"
    )
    assert g["board"] == "icebreaker"
    s, err = cli("simulate", tmp_path / "build", "--images", "3", "--simulator", "icarus")
    assert s["golden_match"] == s["images"] == 3 and s["input_source"] != "random"
    y, _ = cli("synth", tmp_path / "build", "--no-place")
    assert y["family"] == "ice40" and y["LUT"] > 0  # family and board from the design's board.json


def _fake_sweep(out, spec):
    from bitscale.sweep import run_sweep

    return run_sweep(spec, out, stages=fakes.stages(), quiet_points=True, log=lambda m: None)


def test_results_csv_plain_numbers(tmp_path):
    """results.csv: floats unrounded and without thousands separators (the HTML keeps its format)."""
    from bitscale.report import CSV_COLUMNS, _write_csv

    row = {
        "scale": "3/1024",
        "scale_value": 3 / 1024,
        "est_fps": 97656.25,
        "est_lut": 123456,
        "accuracy": 0.912345678,
        "pareto_bram18": True,
        "error": None,
    }
    tmp = _write_csv([row], tmp_path / "results.csv")
    with open(tmp) as f:
        (r,) = list(csv.DictReader(f))
    assert list(r) == CSV_COLUMNS
    assert r["scale_value"] == "0.0029296875" and r["est_fps"] == "97656.25" and r["est_lut"] == "123456"
    assert float(r["accuracy"]) == 0.912345678 and r["pareto_bram18"] == "yes" and r["error"] == ""


@pytest.mark.slow  # the sweep's pre-flight loads torch and the dataset; the report draws figures
def test_sweep_report_json_and_plain_csv(tmp_path, capsys):
    from bitscale import defaults as D
    from bitscale.sweep import SweepSpec

    out = tmp_path / "sw"
    spec = SweepSpec(
        model="fc",
        precisions=((2, 2), (4, 4)),
        scales=("1/128", "3/1024"),
        dataset=D.DATASET,
        board=D.BOARD,
        fps=D.FPS,
        epochs=1,
        simulator=D.SIMULATOR,
    )
    _fake_sweep(out, spec)
    # the CLI with the same grid finds every point done (no training) and says so in JSON
    doc = jmain(capsys, "sweep", "--bits", "2,4", "--scales", "1/128,3/1024", "--epochs", "1", "--out", out)
    assert doc["sweep"]["done"] == 4 and doc["sweep"]["failed"] == 0
    rep = jmain(capsys, "report", out, "--out", tmp_path / "r" / "report", "--reference", "w4a4")
    assert Path(rep["report"]).is_file() and rep["rows"] == 4
    with open(tmp_path / "r" / "report" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    odd = [r for r in rows if r["scale"] == "3/1024"]
    assert odd and all(float(r["scale_value"]) == 3 / 1024 for r in odd)  # not rounded (was 0.00293)
    for r in rows:
        for k in ("est_fps", "est_lut", "fps_target"):
            assert "," not in r[k] and float(r[k]) >= 0, (k, r[k])  # plain numbers


@pytest.mark.slow
def test_demo_json(tmp_path, capsys):
    """demo --no-hw --json on a store that already holds its points (demo is idempotent)."""
    from bitscale.commands.demo import spec

    out = tmp_path / "demo"
    _fake_sweep(out, spec(hw=False))
    doc = jmain(capsys, "demo", "--no-hw", "--out", out)
    assert doc["sweep"]["done"] == 15 and Path(doc["report"]["report"]).is_file()
