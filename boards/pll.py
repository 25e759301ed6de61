"""PLL parameters for the accelerator clock: dividers within the family's legal ranges, and the PLL itself.

The legal ranges live in ``boards.FAMILY[f].pll`` (:class:`bitscale.boards.PllRange`, one place). Every
family's PLL is used with its feedback on the VCO: f_pfd = f_in / D, f_vco = f_pfd * M, f_out = f_vco / O.

* ECP5 ``EHXPLLL``: D = CLKI_DIV, M = CLKFB_DIV (``FEEDBK_PATH="INT_OS3"``, CLKOS3 at divide 1 closes
  the loop inside the PLL), O = CLKOP_DIV.
* iCE40 ``SB_PLL40_PAD``/``_CORE`` in SIMPLE feedback: D = DIVR + 1, M = DIVF + 1, O = 2^DIVQ.
* Xilinx MMCM: D = DIVCLK_DIVIDE, M = CLKFBOUT_MULT_F, O = CLKOUT0_DIVIDE_F.

Guaranteed: :func:`pll_for` returns the highest f_out not above the request that some legal (D, M, O)
reaches (every divider, f_pfd, f_vco and f_out inside the family's ranges); for a request between the
lowest frequency the PLL makes from the input and the top of the output range it is within
``PllRange.tolerance`` of the request (a property test checks both); below, a UserError names the range. :class:`PLL` is the family's primitive (EHXPLLL, SB_PLL40_PAD/_CORE, MMCM)
under a platform and a pass-through (clk_out = clk_in, locked = 1) in simulation.
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import asdict, dataclass
from typing import Any

from amaranth import Elaboratable, Instance, Module, Signal

from bitscale.boards import FAMILY, PllRange
from bitscale.errors import UserError


@dataclass(frozen=True)
class PllConfig:
    """One legal PLL setting: f_out = what the accelerator clock runs at."""

    family: str
    primitive: str
    fin_mhz: float
    d: int  # reference divider (CLKI_DIV | DIVR + 1 | DIVCLK_DIVIDE)
    m: int  # feedback multiplier (CLKFB_DIV | DIVF + 1 | CLKFBOUT_MULT)
    o: int  # output divider (CLKOP_DIV | 2^DIVQ | CLKOUT0_DIVIDE)
    fpfd_mhz: float
    fvco_mhz: float
    fout_mhz: float

    @property
    def fout_hz(self) -> float:
        return self.fout_mhz * 1e6

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(doc: dict) -> PllConfig:
        return PllConfig(**doc)

    def primitive_params(self) -> dict:
        """The primitive's divider parameters, by the vendor's names."""
        if self.family == "ecp5":
            return {"CLKI_DIV": self.d, "CLKFB_DIV": self.m, "CLKOP_DIV": self.o}
        if self.family == "ice40":
            return {
                "DIVR": self.d - 1,
                "DIVF": self.m - 1,
                "DIVQ": self.o.bit_length() - 1,
                "FILTER_RANGE": ice40_filter_range(self.fpfd_mhz),
            }
        return {"DIVCLK_DIVIDE": self.d, "CLKFBOUT_MULT_F": self.m, "CLKOUT0_DIVIDE_F": self.o}


def ice40_filter_range(fpfd_mhz: float) -> int:
    """The SB_PLL40 loop filter setting for a phase-detector frequency (as icepll chooses it)."""
    for i, hi in enumerate((17, 26, 44, 66, 101)):
        if fpfd_mhz < hi:
            return i + 1
    return 6


def _candidates(r: PllRange, fin: float, want: float | None = None):
    """Every legal (d, m, o, fpfd, fvco, fout) for input ``fin`` MHz; with ``want``, per (d, m) only the
    smallest output divider with fout <= want (the fastest such setting)."""
    eps = 1e-9
    outs = [1 << q for q in range(r.o[0], r.o[1] + 1)] if r.out_pow2 else list(range(r.o[0], r.o[1] + 1))
    for d in range(r.d[0], r.d[1] + 1):
        fpfd = fin / d
        if not r.fpfd_mhz[0] - eps <= fpfd <= r.fpfd_mhz[1] + eps:
            continue
        for m in range(r.m[0], r.m[1] + 1):
            fvco = fpfd * m
            if not r.fvco_mhz[0] - eps <= fvco <= r.fvco_mhz[1] + eps:
                continue
            if want is not None:
                need = fvco / want - eps  # fout <= want  <=>  o >= fvco / want
                i = bisect.bisect_left(outs, need)
                cands = outs[i : i + 1]
            else:
                cands = outs
            for o in cands:
                fout = fvco / o
                if r.fout_mhz[0] - eps <= fout <= r.fout_mhz[1] + eps:
                    yield d, m, o, fpfd, fvco, fout


def pll_for(family: str, fin_mhz: float, want_mhz: float) -> PllConfig:
    """The legal PLL setting whose output is the highest frequency not above ``want_mhz``.

    Ties go to the lowest reference divider (highest f_pfd: less jitter), then the highest VCO.
    UserError when the family has no PLL data or nothing legal is at or below the request."""
    fam = FAMILY[family]
    r = fam.pll
    if r is None:
        raise UserError(f"no PLL data for family {family}")
    if not r.fin_mhz[0] <= fin_mhz <= r.fin_mhz[1]:
        raise UserError(f"{r.primitive}: input clock {fin_mhz:g} MHz is outside {r.fin_mhz[0]:g}..{r.fin_mhz[1]:g} MHz")
    if (
        not isinstance(want_mhz, (int, float))
        or not math.isfinite(want_mhz)
        or not r.fout_mhz[0] <= want_mhz <= r.fout_mhz[1]
    ):
        raise UserError(
            f"clock {want_mhz!r} MHz: the {family} PLL ({r.primitive}) makes {r.fout_mhz[0]:g}..{r.fout_mhz[1]:g} MHz"
        )
    best = None
    for d, m, o, fpfd, fvco, fout in _candidates(r, fin_mhz, want_mhz):
        key = (round(fout, 9), -d, fvco)
        if best is None or key > best[0]:
            best = (key, (d, m, o, fpfd, fvco, fout))
    if best is None:
        low = frequencies(family, fin_mhz)
        raise UserError(
            f"clock {want_mhz:g} MHz: the {family} PLL ({r.primitive}) makes nothing at or below it from "
            f"{fin_mhz:g} MHz (lowest {low[0]:g} MHz)"
            if low
            else f"the {family} PLL ({r.primitive}) makes nothing legal from {fin_mhz:g} MHz"
        )
    d, m, o, fpfd, fvco, fout = best[1]
    return PllConfig(family, r.primitive, float(fin_mhz), d, m, o, round(fpfd, 6), round(fvco, 6), round(fout, 6))


def legal(cfg: PllConfig) -> list[str]:
    """What is outside the family's ranges in ``cfg`` (empty: legal); recomputes every frequency."""
    r = FAMILY[cfg.family].pll
    assert r is not None
    bad = []
    o_field = cfg.o.bit_length() - 1 if r.out_pow2 else cfg.o
    if r.out_pow2 and cfg.o != 1 << o_field:
        bad.append(f"O={cfg.o} is not a power of two")
    for name, v, (lo, hi) in (("D", cfg.d, r.d), ("M", cfg.m, r.m), ("O", o_field, r.o)):
        if not lo <= v <= hi:
            bad.append(f"{name}={v} outside {lo}..{hi}")
    fpfd = cfg.fin_mhz / cfg.d
    fvco = fpfd * cfg.m
    fout = fvco / cfg.o
    for name, v, (lo, hi) in (
        ("f_in", cfg.fin_mhz, r.fin_mhz),
        ("f_pfd", fpfd, r.fpfd_mhz),
        ("f_vco", fvco, r.fvco_mhz),
        ("f_out", fout, r.fout_mhz),
    ):
        if not lo - 1e-6 <= v <= hi + 1e-6:
            bad.append(f"{name}={v:g} outside {lo:g}..{hi:g} MHz")
    if abs(fout - cfg.fout_mhz) > 1e-5:
        bad.append(f"f_out {cfg.fout_mhz} disagrees with the dividers ({fout:g})")
    return bad


@functools.lru_cache(maxsize=64)
def frequencies(family: str, fin_mhz: float) -> list[float]:
    """Every output frequency (MHz, ascending, distinct) the family's PLL makes from ``fin_mhz``."""
    r = FAMILY[family].pll
    assert r is not None
    return sorted({round(c[5], 6) for c in _candidates(r, fin_mhz)})


class PLL(Elaboratable):
    """The family's PLL making ``cfg.fout_mhz`` from the board clock; ``clk_out``, ``locked`` out.

    ``clk_in``: the board clock as a signal (ECP5, iCE40 SB_PLL40_CORE, Xilinx), or ``pad``: the board
    clock's raw pin (iCE40 SB_PLL40_PAD: the PLL takes its reference straight from the package pin).
    In simulation (no platform) the PLL is a pass-through: clk_out = clk_in and locked follows
    ``sim_locked`` (1 unless a testbench drives it)."""

    def __init__(self, cfg: PllConfig, *, pad=None):
        self.cfg, self.pad = cfg, pad
        self.clk_in = Signal()
        self.clk_out = Signal()
        self.locked = Signal()
        self.sim_locked = Signal(init=1)

    def elaborate(self, platform):
        m = Module()
        c = self.cfg
        if platform is None:
            m.d.comb += [self.clk_out.eq(self.clk_in), self.locked.eq(self.sim_locked)]
            return m
        p = c.primitive_params()
        if c.family == "ecp5":
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=f"{c.fin_mhz:g}",
                a_FREQUENCY_PIN_CLKOP=f"{c.fout_mhz:g}",
                a_ICP_CURRENT="12",
                a_LPF_RESISTOR="8",
                a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED",
                p_INTFB_WAKE="DISABLED",
                p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED",
                p_OUTDIVIDER_MUXA="DIVA",
                p_OUTDIVIDER_MUXB="DIVB",
                p_OUTDIVIDER_MUXC="DIVC",
                p_OUTDIVIDER_MUXD="DIVD",
                p_CLKI_DIV=p["CLKI_DIV"],
                p_CLKOP_ENABLE="ENABLED",
                p_CLKOP_DIV=p["CLKOP_DIV"],
                p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1,
                p_CLKOP_FPHASE=0,
                p_FEEDBK_PATH="INT_OS3",
                p_CLKOS3_ENABLE="ENABLED",
                p_CLKOS3_DIV=1,
                p_CLKOS3_CPHASE=0,
                p_CLKOS3_FPHASE=0,
                p_CLKFB_DIV=p["CLKFB_DIV"],
                i_RST=0,
                i_STDBY=0,
                i_CLKI=self.clk_in,
                o_CLKOP=self.clk_out,
                i_PHASESEL0=0,
                i_PHASESEL1=0,
                i_PHASEDIR=1,
                i_PHASESTEP=1,
                i_PHASELOADREG=1,
                i_PLLWAKESYNC=0,
                i_ENCLKOP=0,
                o_LOCK=self.locked,
            )
        elif c.family == "ice40":
            common: dict[str, Any] = dict(
                p_FEEDBACK_PATH="SIMPLE",
                p_DIVR=p["DIVR"],
                p_DIVF=p["DIVF"],
                p_DIVQ=p["DIVQ"],
                p_FILTER_RANGE=p["FILTER_RANGE"],
                i_RESETB=1,
                i_BYPASS=0,
                o_PLLOUTGLOBAL=self.clk_out,
                o_LOCK=self.locked,
            )
            if self.pad is not None:
                m.submodules.pll = Instance("SB_PLL40_PAD", i_PACKAGEPIN=self.pad, **common)
            else:
                m.submodules.pll = Instance("SB_PLL40_CORE", i_REFERENCECLK=self.clk_in, **common)
        else:
            fb = Signal()
            m.submodules.pll = Instance(
                c.primitive,
                p_CLKIN1_PERIOD=round(1000 / c.fin_mhz, 3),
                p_DIVCLK_DIVIDE=p["DIVCLK_DIVIDE"],
                p_CLKFBOUT_MULT_F=float(p["CLKFBOUT_MULT_F"]),
                p_CLKOUT0_DIVIDE_F=float(p["CLKOUT0_DIVIDE_F"]),
                i_CLKIN1=self.clk_in,
                i_CLKFBIN=fb,
                o_CLKFBOUT=fb,
                o_CLKOUT0=self.clk_out,
                i_RST=0,
                i_PWRDWN=0,
                o_LOCKED=self.locked,
            )
        return m
