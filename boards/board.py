"""``bitscale generate ... --board B``: the board-level files beside the accelerator core.

:func:`add_board` reads a build directory written by ``bitscale.hw.generate``
(``design.json``, ``bitscale_top.v``, ``network.json``/``.npz``) and adds:

* ``selftest.json`` — the self-test ROMs: N frames of the run's test set (the
  first N; random 8-bit frames, seed 0, when the run has no test set) packed
  as input words, and their golden-model outputs packed as output words.
* ``board.json`` — the board, the self-test summary (frames, image source,
  LED mapping, UART line) and what to do next.
* ``vivado/`` for Xilinx boards (see :mod:`bitscale.boards.vivado`).

ECP5 / iCE40 boards need nothing more: ``bitscale build`` elaborates the
board top (:class:`bitscale.boards.board_top.BoardTop`) through the board's
amaranth-boards platform. Files are written to temporary names and renamed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from bitscale.boards import FAMILY
from bitscale.errors import UserError

MAX_FRAMES = 1000


def _images(design: dict, net, frames: int, seed: int):
    """The first ``frames`` test images of the design's run, else random frames; and where they came from."""
    run_dir = design.get("run_dir")
    if run_dir:
        try:
            from bitscale.nn.data import test_set

            x, _ = test_set(run_dir)
            if len(x) >= frames:
                return np.asarray(x[:frames]), f"test set of {run_dir}"
        except (ImportError, UserError, OSError, KeyError, ValueError):
            pass
    from bitscale.nn.random_net import random_inputs

    return random_inputs(net.input_shape, frames, seed), f"random 8-bit frames (seed {seed})"


def _write(path: Path, text: str) -> None:
    from bitscale.atomic import write_text

    write_text(path, text)


def check_args(board_name: str, frames: int):
    """The Board for ``board_name``; UserError for an unknown board or a frame count outside 1..MAX_FRAMES."""
    from bitscale.boards import get as get_board

    board = get_board(board_name)
    if not isinstance(frames, int) or isinstance(frames, bool) or not 1 <= frames <= MAX_FRAMES:
        raise UserError(f"--selftest-frames must be 1..{MAX_FRAMES}, not {frames!r}")
    return board


def selftest_bram(frame, frames: int, family: str) -> int:
    """Block RAMs (the family's units) the self-test's two ROMs take: ``frames`` frames of input words
    and of golden output words, counted like the core's memories (cost_model/bram.py). They carry no
    ram_style, so Yosys picks their style by cost, as for FIFOs (bram.auto_block)."""
    from bitscale.cost_model.bram import auto_block, map_memory

    n = 0
    for width, depth in (
        (frame.input.tdata_width, frames * frame.input.beats),
        (frame.output.tdata_width, frames * frame.output.beats),
    ):
        block = bool(auto_block(np.int64(width), np.int64(depth), family))
        n += map_memory(width, depth, family, role="weights", style="block" if block else "distributed").count
    return n


def check_selftest_fits(board, est, frame, frames: int) -> int:
    """The self-test ROMs' block RAMs (see :func:`selftest_bram`); UserError with the numbers when the
    core's estimate plus them exceeds ``board`` (generate refuses before writing anything)."""
    rom = selftest_bram(frame, frames, board.family)
    if est is not None and est.BRAM18 + rom > board.bram:
        raise UserError(
            f"the design with its self-test does not fit {board.name}: {board.bram_kind} "
            f"{est.BRAM18 + rom:,}/{board.bram:,} (core {est.BRAM18:,} + self-test ROMs {rom:,} for "
            f"{frames} frames); give fewer --selftest-frames or a smaller folding"
        )
    return rom


_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def add_board(build_dir, board_name: str, *, frames: int = 16, seed: int = 0, images=None, log=_log) -> dict:
    """Add the board-level files for ``board_name`` to ``build_dir``; returns the board.json content."""
    from bitscale.boards.board_top import LED_MAP
    from bitscale.hw.frame import FrameFormat
    from bitscale.boards.selftest import selftest_data
    from bitscale.nn import ir

    board = check_args(board_name, frames)
    bdir = Path(build_dir)
    for f in ("design.json", "bitscale_top.v", "network.json"):
        if not (bdir / f).is_file():
            raise UserError(f"{bdir} has no {f}; run `bitscale generate RUN_DIR --out {bdir}` first")
    design = json.loads((bdir / "design.json").read_text())
    frame = FrameFormat.from_json(design["frame"])
    net = ir.load(bdir)
    if images is None:
        images, source = _images(design, net, frames, seed)
    else:
        images, source = np.asarray(images)[:frames], "given images"
    rom = selftest_data(net, frame, images)

    open_flow = FAMILY[board.family].bitstream is not None  # bitscale build (else Vivado scripts)
    if open_flow:
        leds = {f"led {i}": what for i, what in LED_MAP[board.name].items()}
        nxt = f"bitscale build {bdir}"
    else:
        from bitscale.boards.selftest import LED_BITS
        from bitscale.boards.vivado import shell

        leds = {f"LD{i}": LED_BITS[i] for i in range(len(shell(board.name).leds))}
        nxt = (
            f"vivado -mode batch -source {bdir / 'vivado' / 'create_project.tcl'} -tclargs bitstream"
            if shell(board.name).ps
            else f"vivado -mode batch -source {bdir / 'vivado' / 'create_selftest_project.tcl'} -tclargs bitstream"
        )
    # the open flow's boards have an amaranth-boards UART; a Xilinx board where its shell reaches one
    has_uart = board.shell.uart_tx is not None if board.shell is not None else board.platform is not None
    doc = {
        "format": "bitscale.BoardBuild",
        "version": 1,
        "board": board.to_json(),
        "selftest": {
            "frames": rom.frames,
            "images": source,
            "leds": leds,
            "uart": "115200 8N1: 'PASS N/N' or 'FAIL at frame K' (0-based), repeated every second"
            if has_uart
            else None,
        },
        "next": nxt,
    }
    if not open_flow:
        from bitscale.boards.vivado import write_vivado

        tmp = Path(tempfile.mkdtemp(prefix=".vivado.", dir=bdir))
        try:
            doc["vivado"] = write_vivado(tmp, board, frame, rom, (bdir / "bitscale_top.v").read_text())
            from bitscale.boards.vivado import shell_pll

            pll = shell_pll(board)
            doc["accelerator_clock"] = {"mhz": pll.fout_mhz, "pll": {**pll.to_json(), "params": pll.primitive_params()}}
            final = bdir / "vivado"
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    _write(bdir / "selftest.json", json.dumps(rom.to_json()))
    _write(bdir / "board.json", json.dumps(doc, indent=1))
    log(f"board: {board.name}: self-test of {rom.frames} frames ({source}); next: {nxt}")
    return doc
