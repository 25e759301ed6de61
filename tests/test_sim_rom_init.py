"""sim/rom_init.py: big memory initialisers of generated Verilog moved into $readmemh files.

* hypothesis: any memory (width, depth, words, sparse addresses, plain or escaped name, hex/decimal/
  binary literals) comes back word for word from the written file at the same addresses; every
  other line of the Verilog is unchanged.
* blocks not in the exact expected form (a value with x, a literal of another width, an index out
  of range, no declaration above) and small blocks stay inline.
* Amaranth's own Verilog of a memory with initial contents is rewritten (the form matches).
(The Verilator test in tests/test_sim_harness.py runs a whole accelerator with every ROM read by
$readmemh, golden-exact.)
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, strategies as st

from bitscale.sim.rom_init import externalize_inits


def read_mem(path: Path) -> dict[int, int]:
    """Address -> word of a $readmemh file ('@addr' lines move the address)."""
    words, addr = {}, 0
    for line in path.read_text().split():
        if line.startswith("@"):
            addr = int(line[1:], 16)
        else:
            words[addr] = int(line, 16)
            addr += 1
    return words


def literal(value: int, width: int, base: str) -> str:
    digits = {"h": f"{value:x}", "d": f"{value}", "b": f"{value:b}"}[base]
    return f"{width}'{base}{digits}"


def verilog(name: str, width: int, depth: int, words: dict[int, int], bases) -> str:
    ref = name + " " if name.startswith("\\") else name
    rng = f"[{width - 1}:0] " if width > 1 else ""
    body = "".join(
        f"    {ref}[{a}] = {literal(v, width, bases[i % len(bases)])};\n" for i, (a, v) in enumerate(words.items())
    )
    return (
        f'module m(clk);\n  input clk;\n  (* ram_style = "logic" *)\n  reg {rng}{ref}[{depth - 1}:0];\n'
        f"  initial begin\n{body}  end\n  always @(posedge clk) {ref}[0] <= {ref}[1];\nendmodule\n"
    )


@st.composite
def memories(draw):
    width = draw(st.integers(1, 130))
    depth = draw(st.integers(1, 40))
    addrs = draw(st.lists(st.integers(0, depth - 1), min_size=1, max_size=depth, unique=True))
    if draw(st.booleans()):
        addrs = sorted(addrs)
    words = {a: draw(st.integers(0, (1 << width) - 1)) for a in addrs}
    name = draw(st.sampled_from(["weights", "params", "\\mem$12", "lines_0"]))
    bases = draw(st.lists(st.sampled_from("hdb"), min_size=1, max_size=3))
    return name, width, depth, words, bases


@given(memories())
def test_words_come_back_at_their_addresses(tmp_path_factory, mem):
    name, width, depth, words, bases = mem
    tmp = tmp_path_factory.mktemp("rom")
    text = verilog(name, width, depth, words, bases)
    out, files = externalize_inits(text, tmp / "rom", Path("/final/rom"), min_chunks=1)
    assert len(files) == 1 and read_mem(files[0]) == words
    ref = name + " " if name.startswith("\\") else name
    assert f'  initial $readmemh("/final/rom/{files[0].name}", {name} );' in out.split("\n")
    kept = [
        l
        for l in text.split("\n")
        if not (l.startswith("    ") and "] = " in l) and l.strip() not in ("initial begin", "end")
    ]
    assert [l for l in out.split("\n") if "$readmemh" not in l] == kept
    assert f"always @(posedge clk) {ref}[0] <= {ref}[1];" in out


def test_odd_blocks_stay_inline(tmp_path):
    base = verilog("weights", 8, 4, {0: 1, 1: 2, 2: 3, 3: 4}, "h")
    for bad in (
        base.replace("8'h3", "8'hx"),  # x: no word for $readmemh
        base.replace("8'h3", "7'h3"),  # another width
        base.replace("[3] = 8'h4", "[4] = 8'h4"),  # out of range
        base.replace("8'h4", "8'h1ff"),  # too wide for the memory
        base.replace("  reg [7:0] weights[3:0];\n", ""),  # no declaration above
        base.replace("weights[2] =", "other[2] ="),
    ):  # another memory
        assert externalize_inits(bad, tmp_path, min_chunks=1) == (bad, []), bad
    assert externalize_inits(base, tmp_path, min_chunks=5) == (base, [])  # 4 words: small
    out, files = externalize_inits(base, tmp_path, min_chunks=4)
    assert len(files) == 1 and read_mem(files[0]) == {0: 1, 1: 2, 2: 3, 3: 4}


def test_amaranth_memory_init_is_rewritten(tmp_path):
    from amaranth import Module, Signal
    from amaranth.back import verilog as amaranth_verilog
    from amaranth.lib.memory import Memory

    init = [(i * 0x9E3779B97F4A7C15) & ((1 << 70) - 1) for i in range(50)]
    m = Module()
    m.submodules.mem = mem = Memory(shape=70, depth=64, init=init)
    rd = mem.read_port()
    addr, data = Signal(6), Signal(70)
    m.d.comb += [rd.addr.eq(addr), data.eq(rd.data)]
    text = amaranth_verilog.convert(m, ports=[addr, data], name="top", emit_src=False)
    out, files = externalize_inits(text, tmp_path, min_chunks=1)
    assert len(files) == 1 and "$readmemh" in out and "70'h" not in out
    assert read_mem(files[0]) == dict(enumerate(init + [0] * 14))
