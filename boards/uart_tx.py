# pyright: reportGeneralTypeIssues=false
# (Amaranth's m.If/m.Elif/m.Else: hw/amaranth_types.py)
"""A UART transmitter: 8 data bits, no parity, one stop bit (8N1), LSB first.

Guaranteed: a byte accepted on ``data`` (valid & ready) goes out on ``tx`` as
one start bit (0), the 8 data bits LSB first and one stop bit (1), each held
for exactly ``divisor`` clock cycles; ``tx`` idles high; ``ready`` is high
when no byte is in flight and in the last cycle of a stop bit, so bytes
handed over back to back go out with no gap. Baud = clock / divisor (115200 baud from 12 MHz: divisor 104,
0.16% off; from 25 MHz: 217, 0.01% off).
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from bitscale.hw.amaranth_types import stream_signature


def divisor_for(clock_hz: float, baud: int = 115200) -> int:
    """Clock cycles per bit for ``baud`` from ``clock_hz``; ValueError if off by more than 2%."""
    div = round(clock_hz / baud)
    if div < 2 or abs(clock_hz / div - baud) / baud > 0.02:
        raise ValueError(f"cannot make {baud} baud from a {clock_hz / 1e6:g} MHz clock within 2%")
    return div


class UARTTx(wiring.Component):
    """8N1 UART transmitter fed by a byte stream."""

    data: stream.Interface  # signature members, created by wiring.Component.__init__
    tx: Signal

    def __init__(self, divisor: int):
        if not isinstance(divisor, int) or divisor < 2:
            raise ValueError(f"UART divisor must be an integer >= 2, not {divisor!r}")
        self.divisor = divisor
        super().__init__(
            {
                "data": In(stream_signature(8)),
                "tx": Out(1, init=1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        # start bit, 8 data bits, stop bit; shifted out LSB first
        frame = Signal(10, init=0x3FF)
        bits_left = Signal(range(11))
        baud = Signal(range(self.divisor))
        busy = bits_left != 0

        # ready also in the last cycle of a stop bit, so back-to-back bytes leave no gap
        last_cycle = (bits_left == 1) & (baud == 0)
        m.d.comb += [
            self.data.ready.eq(~busy | last_cycle),
            self.tx.eq(frame[0]),
        ]
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [
                frame.eq((1 << 9) | (self.data.payload << 1)),  # stop=1, data, start=0
                bits_left.eq(10),
                baud.eq(self.divisor - 1),
            ]
        with m.Elif(busy):
            with m.If(baud == 0):
                m.d.sync += [
                    frame.eq((frame >> 1) | (1 << 9)),  # shift in idle-high
                    bits_left.eq(bits_left - 1),
                    baud.eq(self.divisor - 1),
                ]
            with m.Else():
                m.d.sync += baud.eq(baud - 1)
        return m
