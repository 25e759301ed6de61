"""Boards as data: family, part, resources, default clock, and the amaranth-boards platform.

``bram`` counts the family's block-RAM primitive (``bram_kind``) of
``bram_bits`` bits each: RAMB18 (18 Kib) on Xilinx, DP16KD (18 Kib) on ECP5,
EBR (4 Kib) on iCE40. ``bram18`` gives the same capacity in 18-Kib units so
boards can be compared.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from bitscale.errors import UserError

FAMILIES = ("xc7", "xcup", "ecp5", "ice40")


@dataclass(frozen=True)
class Board:
    name: str
    family: str            # xc7 | xcup | ecp5 | ice40
    part: str
    lut: int
    ff: int
    bram: int              # count of the family's block RAM primitive
    bram_kind: str         # RAMB18 | DP16KD | EBR
    bram_bits: int         # bits per primitive
    dsp: int
    clock_mhz: float
    platform: str | None = None   # "module:Class" of an amaranth-boards platform
    package: str | None = None    # nextpnr package name, where placed with the open toolchain
    speed: str | None = None
    uart: bool = False

    @property
    def bram18(self) -> float:
        return self.bram * self.bram_bits / 18432

    def to_json(self) -> dict:
        return asdict(self)


BOARDS: dict[str, Board] = {b.name: b for b in (
    Board("pynq-z1", "xc7", "xc7z020clg400-1", lut=53200, ff=106400, bram=280, bram_kind="RAMB18",
          bram_bits=18432, dsp=220, clock_mhz=100.0, uart=True),
    Board("zcu104", "xcup", "xczu7ev-ffvc1156-2-e", lut=230400, ff=460800, bram=624, bram_kind="RAMB18",
          bram_bits=18432, dsp=1728, clock_mhz=200.0, uart=True),
    Board("alveo-u250", "xcup", "xcu250-figd2104-2L-e", lut=1728000, ff=3456000, bram=5376,
          bram_kind="RAMB18", bram_bits=18432, dsp=12288, clock_mhz=250.0),
    Board("ulx3s-85f", "ecp5", "LFE5U-85F-6BG381C", lut=83640, ff=83640, bram=208, bram_kind="DP16KD",
          bram_bits=18432, dsp=156, clock_mhz=25.0, platform="amaranth_boards.ulx3s:ULX3S_85F_Platform",
          package="CABGA381", speed="6", uart=True),
    Board("icebreaker", "ice40", "iCE40UP5K-SG48", lut=5280, ff=5280, bram=30, bram_kind="EBR",
          bram_bits=4096, dsp=8, clock_mhz=12.0, platform="amaranth_boards.icebreaker:ICEBreakerPlatform",
          package="sg48", uart=True),
)}


def get(name: str) -> Board:
    """The board called ``name`` (case-insensitive); UserError listing the known ones otherwise."""
    key = str(name).lower()
    if key not in BOARDS:
        raise UserError(f"unknown board {name!r}; known boards: {', '.join(BOARDS)}")
    return BOARDS[key]
