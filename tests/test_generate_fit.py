"""`bitscale generate --board B` never writes a design that cannot fit B: the core's estimate and the
board self-test's ROMs beside it, a --folding that exceeds the board or misses --fps: one line with the
numbers, exit 2, nothing written; auto-folding stays inside the board."""

from __future__ import annotations

import json
import re

import pytest

from bitscale.boards import get as get_board
from bitscale.boards.board import selftest_bram
from bitscale.cli import main
from bitscale.hw.folding import Folding
from bitscale.hw.top import frame_format
from bitscale.nn import ir
from bitscale.nn.random_net import random_fc


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "run"
    ir.save(random_fc([16], 2, 2, in_features=64), d)
    return d


def _error(capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    rc = main([str(a) for a in args])
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err[-1] if err else ""


def test_selftest_roms_that_do_not_fit_are_refused_with_the_numbers(run_dir, tmp_path, capsys):
    rc, line = _error(
        capsys,
        "generate",
        run_dir,
        "--board",
        "icebreaker",
        "--fps",
        "2000",
        "--selftest-frames",
        "1000",
        "--out",
        tmp_path / "b",
    )
    assert rc == 2, line
    m = re.fullmatch(
        r"bitscale: error: the design with its self-test does not fit icebreaker: EBR (\d+)/30 "
        r"\(core (\d+) \+ self-test ROMs (\d+) for 1000 frames\); give fewer --selftest-frames "
        r"or a smaller folding",
        line,
    )
    assert m and int(m.group(1)) == int(m.group(2)) + int(m.group(3)) > 30, line
    assert not (tmp_path / "b").exists()  # nothing written


def test_selftest_rom_count_matches_nextpnr_on_the_bench_designs():
    """bench/board_build.py's fc 64-16-16-10 (PE 2, SIMD 8): nextpnr placed 9 EBR on the iCEBreaker
    (4 core + 5 self-test) and 2 DP16KD on the ULX3S (0 + 2) with 16 frames (bench/results/board_build.json)."""
    from bitscale.hw.frame import FrameFormat, StreamFormat

    frame = FrameFormat(StreamFormat(8, 8, False, 8), StreamFormat(2, 7, True, 5))
    assert selftest_bram(frame, 16, "ice40") == 5 and selftest_bram(frame, 16, "ecp5") == 2
    assert selftest_bram(frame, 1, "ecp5") == 0  # tiny ROMs stay in LUTs


def test_a_folding_below_the_fps_asked_is_refused(run_dir, tmp_path, capsys):
    net = ir.load(run_dir)
    slow = Folding.from_json(
        {"layers": [{"name": lay.name, "pe": 1, "simd": 1, "mode": "bit-serial"} for lay in net.compute_layers]}
    )
    slow.save(tmp_path / "slow.json")
    rc, line = _error(
        capsys,
        "generate",
        run_dir,
        "--board",
        "ulx3s-85f",
        "--folding",
        tmp_path / "slow.json",
        "--fps",
        "1000000",
        "--out",
        tmp_path / "b",
    )
    assert rc == 2 and re.fullmatch(
        r"bitscale: error: the folding reaches [\d,]+ FPS on ulx3s-85f \(estimate at "
        r"25 MHz\), below --fps 1,000,000; leave out --folding to auto-fold for it",
        line,
    ), line
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "board, fps", [pytest.param("icebreaker", "max", marks=pytest.mark.slow), ("ulx3s-85f", "50000")]
)
def test_auto_folded_design_fits_with_its_selftest(run_dir, tmp_path, capsys, board, fps):
    capsys.readouterr()
    assert main(["generate", str(run_dir), "--board", board, "--fps", fps, "--out", str(tmp_path / "b"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    est, b = d["estimate"]["total"], get_board(board)
    assert est["fits"] and "auto-folded" in d["folding_source"]
    net = ir.load(run_dir)
    frame = frame_format(net, Folding.from_json(d["folding"]))
    assert est["BRAM18"] + selftest_bram(frame, 16, b.family) <= b.bram
    assert est["LUT"] <= b.lut and est["DSP"] <= b.dsp
