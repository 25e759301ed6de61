"""The internal AXI-Stream: one Amaranth stream signature for beats of ``data`` and ``last``.

Used wherever hardware produces or consumes the accelerator's AXI-Stream
frames inside Amaranth (the board self-test, the simulation stream harness);
the flat ``s_axis_t*``/``m_axis_t*`` names exist only at the Verilog boundary
(hw/top.py's ports, named by hw/frame.AXIS_PORTS). :func:`flat` views such flat
ports as this stream (:class:`Flat`), so the harness and the simulator helpers
drive the accelerator through ``payload.data``/``payload.last``/``valid``/``ready``
like any other stream.

Guaranteed: :func:`signature` is ``stream.Signature(StructLayout({"data":
width, "last": 1}))``, so ``payload.data`` is a beat's tdata, ``payload.last``
its tlast, and ``valid``/``ready`` are tvalid/tready (a beat moves in a cycle
with both high). :class:`Interface` is the static type of such a stream's
interface object (Amaranth creates the members at run time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from amaranth.hdl import Cat, Value, ValueCastable, unsigned
from amaranth.lib import data, stream

from bitscale.hw.amaranth_types import stream_signature
from bitscale.hw.frame import AXIS_PORTS


def layout(width: int) -> data.StructLayout:
    """The payload of one beat: ``data`` (``width`` bits, tdata) and ``last`` (1 bit, tlast)."""
    if width < 1:
        raise ValueError(f"tdata width must be >= 1, not {width!r}")
    return data.StructLayout({"data": width, "last": 1})


def signature(width: int) -> stream.Signature:
    """An AXI-Stream of ``width``-bit tdata with tlast, as an Amaranth stream."""
    return stream_signature(layout(width))


class Payload(Protocol):
    data: Value
    last: Value


class Interface(Protocol):
    """``signature(width).create()`` (or its flipped side), as pyright sees it."""

    payload: Payload
    valid: Value
    ready: Value


class FlatPayload(ValueCastable):
    """The payload of a :class:`Flat` stream: ``data`` is tdata and ``last`` tlast themselves (so
    assigning one drives only that port), and as a value it is ``Cat(tdata, tlast)``, the bits of a
    :func:`layout` payload."""

    def __init__(self, tdata: Value, tlast: Value):
        self.data, self.last = tdata, tlast

    def shape(self):
        return unsigned(len(self.data) + len(self.last))

    def as_value(self) -> Value:
        return Value.cast(Cat(self.data, self.last))


class Flat:
    """Flat AXI-Stream port signals (tdata, tvalid, tready, tlast) as one stream with this module's
    members: ``payload.data``/``payload.last`` are tdata/tlast (:class:`FlatPayload`),
    ``valid``/``ready`` tvalid/tready."""

    def __init__(self, tdata: Value, tvalid: Value, tready: Value, tlast: Value):
        self.payload = FlatPayload(tdata, tlast)
        self.valid, self.ready = tvalid, tready


def flat(ports, prefix: str) -> Flat:
    """The flat ``prefix`` ports (``"s_axis"`` or ``"m_axis"``: ``<prefix>_tdata`` etc., as
    hw/frame.AXIS_PORTS names them) of ``ports`` (a component with them as attributes, or a dict
    name -> signal) as one :class:`Flat` stream."""
    names = [p for p in AXIS_PORTS if p.startswith(f"{prefix}_")]
    if len(names) != 4:
        raise ValueError(f"no AXI-Stream ports {prefix}_t*; the ports are {', '.join(AXIS_PORTS)}")
    tdata, tvalid, tready, tlast = (ports[n] if isinstance(ports, Mapping) else getattr(ports, n) for n in names)
    return Flat(tdata, tvalid, tready, tlast)
