"""Typed entry points for the few Amaranth 0.5 constructs pyright cannot see through.

Amaranth 0.5 ships no type information for interface objects: a memory port's
``addr``/``data``/``en`` and a component's signature members are created at run
time, and ``stream.Signature`` annotates its shape argument with the abstract
``ShapeLike`` (a metaclass ``issubclass`` check that no static checker can
follow). These helpers call Amaranth unchanged and give the results the types
Amaranth documents.

Guaranteed: each helper returns exactly what the Amaranth call it names returns
(no wrapping, no copies; a port's signals are named after the caller's variable,
as with the direct call), so the Verilog is byte-identical; only the static type
differs.

Not covered here: ``with m.If()/m.Elif()/m.Else()`` (Amaranth builds them with a
decorator that hides the context-manager type). Files that use them carry
``# pyright: reportGeneralTypeIssues=false`` at the top, which silences only
that rule, for that file.
"""

from __future__ import annotations

from typing import Protocol, cast

from amaranth.hdl import Shape, ShapeCastable, Signal, Value
from amaranth.lib import stream
from amaranth.lib.memory import Memory


def stream_signature(shape: int | Shape | ShapeCastable) -> stream.Signature:
    """``stream.Signature(shape)``: a valid/ready stream of ``shape`` payloads (an int is unsigned bits)."""
    return stream.Signature(shape)  # pyright: ignore[reportArgumentType]  # Amaranth annotates ShapeLike (metaclass)


def lanes(word: Value, width: int, n: int) -> list[Value]:
    """The ``n`` ``width``-bit lanes of a flat word, lane 0 in the lowest bits (``word[k*width:(k+1)*width]``).

    (Amaranth infers ``Value.__getitem__`` as possibly returning an ``IOConcat``, which has no arithmetic.)
    """
    v = Value.cast(word)
    return [v[k * width : (k + 1) * width] for k in range(n)]


def field(word: Value, start: int, stop: int) -> Value:
    """``word[start:stop]``, typed as the Value it is."""
    return Value.cast(word)[start:stop]


def bit(word: Value, i: int) -> Value:
    """``word[i]``, typed as the Value it is."""
    return Value.cast(word)[i]


class ReadPortIO(Protocol):
    """The members of ``amaranth.lib.memory.ReadPort`` (Amaranth documents them; it declares none)."""

    addr: Signal
    data: Signal
    en: Value  # Const(1) on an asynchronous ("comb") port


class WritePortIO(Protocol):
    """The members of ``amaranth.lib.memory.WritePort``."""

    addr: Signal
    data: Signal
    en: Signal


def read_port(mem: Memory, *, domain: str = "sync", transparent_for: tuple = ()) -> ReadPortIO:
    """``mem.read_port(domain=..., transparent_for=...)``."""
    return cast(ReadPortIO, mem.read_port(domain=domain, transparent_for=transparent_for, src_loc_at=1))


def write_port(mem: Memory, *, granularity: int | None = None) -> WritePortIO:
    """``mem.write_port(granularity=...)``."""
    return cast(WritePortIO, mem.write_port(granularity=granularity, src_loc_at=1))
