"""The internal AXI-Stream: one Amaranth stream signature for beats of ``data`` and ``last``.

Used wherever hardware produces or consumes the accelerator's AXI-Stream
frames inside Amaranth (the board self-test, the simulation stream harness);
the flat ``s_axis_t*``/``m_axis_t*`` names exist only at the Verilog boundary
(hw/top.py's ports).

Guaranteed: :func:`signature` is ``stream.Signature(StructLayout({"data":
width, "last": 1}))``, so ``payload.data`` is a beat's tdata, ``payload.last``
its tlast, and ``valid``/``ready`` are tvalid/tready (a beat moves in a cycle
with both high). :class:`Interface` is the static type of such a stream's
interface object (Amaranth creates the members at run time).
"""

from __future__ import annotations

from typing import Protocol

from amaranth.hdl import Value
from amaranth.lib import data, stream

from bitscale.hw.amaranth_types import stream_signature


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
