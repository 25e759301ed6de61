"""Move big memory initialisers of generated Verilog into ``$readmemh`` files, for Verilator builds.

Amaranth writes a memory's initial contents as one ``initial begin mem[i] = W'hV; ... end``
block with a statement per word. Verilator turns every such statement into C++ (one
assignment per 32 bits of the word), so a network's weight ROMs become most of its model:
the FINN CNV w2a2's initialisers were 13 of its 18 MB of C++, compiled on every build though
they run once. :func:`externalize_inits` replaces each big block by
``initial $readmemh("<file>", mem);`` and writes the words to that file.

Guaranteed: the rewritten Verilog gives every memory exactly the contents the block gave it
(same words at the same addresses, the rest of the memory untouched); a block that does not
have exactly the expected form (a declared ``reg [W-1:0] name [D-1:0]`` just above, one
constant assignment per line with in-range index and value) is left as it is. Only whole
lines are touched; nothing else in the file changes.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

# statements (32-bit chunks of words) below which a block stays inline: not worth a file
MIN_CHUNKS = 256

_DECL = re.compile(r"^\s*reg\s+(?:\[(\d+):0\]\s+)?(\\\S+ |[A-Za-z_][\w$]*)\s*\[(\d+):0\]\s*;\s*$")
_ASSIGN = re.compile(r"^\s*(\\\S+ |[A-Za-z_][\w$]*)\s*\[(\d+)\]\s*=\s*(\d+)'([hdb])([0-9a-fA-F_]+)\s*;\s*$")
_BASES = {"h": 16, "d": 10, "b": 2}


def _parse_block(lines: list[str], start: int, name: str, width: int, depth: int):
    """(end line index, [(address, value)]) of the initial block opening at ``start``, or None."""
    words = []
    i = start + 1
    while i < len(lines):
        s = lines[i].strip()
        if s == "end":
            return i, words
        m = _ASSIGN.match(lines[i])
        if not m or m.group(1).strip() != name.strip() or int(m.group(3)) != width:
            return None
        addr = int(m.group(2))
        try:
            value = int(m.group(5).replace("_", ""), _BASES[m.group(4)])
        except ValueError:
            return None
        if addr >= depth or value >> width:
            return None
        words.append((addr, value))
        i += 1
    return None


def _hex_file(words, width: int) -> str:
    digits = max(1, -(-width // 4))
    out, nxt = [], None
    for addr, value in words:
        if addr != nxt:
            out.append(f"@{addr:x}\n")
        out.append(f"{value:0{digits}x}\n")
        nxt = addr + 1
    return "".join(out)


def externalize_inits(
    text: str, rom_dir: Path, ref_dir: Path | None = None, min_chunks: int = MIN_CHUNKS
) -> tuple[str, list[Path]]:
    """(rewritten Verilog, hex files written) for ``text``.

    Each file is written into ``rom_dir`` and named by its content's hash; the Verilog
    refers to it as ``ref_dir/<name>`` (default ``rom_dir``: pass the final folder when
    ``rom_dir`` is renamed into place later). Blocks of fewer than ``min_chunks`` 32-bit
    words stay inline.
    """
    ref_dir = Path(ref_dir) if ref_dir is not None else Path(rom_dir)
    lines = text.split("\n")
    out: list[str] = []
    files: list[Path] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == "initial begin" and out:
            decl = _DECL.match(out[-1])
            if decl:
                width, name, depth = (
                    int(decl.group(1)) + 1 if decl.group(1) else 1,
                    decl.group(2),
                    int(decl.group(3)) + 1,
                )
                parsed = _parse_block(lines, i, name, width, depth)
                if parsed is not None and len(parsed[1]) * -(-width // 32) >= min_chunks:
                    end, words = parsed
                    data = _hex_file(words, width)
                    fname = f"rom-{hashlib.sha256(data.encode()).hexdigest()[:20]}.hex"
                    Path(rom_dir).mkdir(parents=True, exist_ok=True)
                    path = Path(rom_dir) / fname
                    if not path.is_file():
                        path.write_text(data)
                    files.append(path)
                    indent = line[: len(line) - len(line.lstrip())]
                    ref = str(Path(ref_dir) / fname)
                    if '"' in ref or "\\" in ref:
                        raise ValueError(f"cannot name {ref!r} in a Verilog string")
                    out.append(f'{indent}initial $readmemh("{ref}", {name.rstrip()} );')
                    i = end + 1
                    continue
        out.append(line)
        i += 1
    return "\n".join(out), files
