"""Simulation twins (sim/twins.py): proven equal by Yosys, a wrong twin refused, golden-exact in simulation."""

from __future__ import annotations

import re

import pytest

from bitscale.hw.folding import Folding, LayerFolding
from bitscale.hw.generate import generate
from bitscale.nn.random_net import random_fc
from bitscale.sim import twins
from bitscale.sim.simulate import simulate

pytestmark = [pytest.mark.yosys]


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    # dense 64->64 (8-bit input: no twin), 64->32 at SIMD 64 (two 64-bit words), 32->10 at SIMD 16 (a part
    # word), all 2-bit weights and activations with DSP products
    net = random_fc([64, 32], 2, 2, num_classes=10, in_features=64, seed=3)
    spec = [(4, 8, "parallel", "dsp"), (4, 64, "parallel", "dsp"), (2, 16, "parallel", "dsp")]
    fold = Folding(tuple(LayerFolding(l.name, *t) for l, t in zip(net.compute_layers, spec)))
    d = tmp_path_factory.mktemp("twins")
    generate(net, fold, d)
    return d


def _dot_module(d, simd_ports=64):
    text = (d / "bitscale_top.v").read_text()
    return next(
        m for m in twins.modules(text) if f"input [{2 * simd_ports - 1}:0] w;" in m.text and twins._PROD.search(m.text)
    )


def test_twins_proven_and_only_dot_modules_replaced(design, tmp_path):
    before = (design / "bitscale_top.v").read_text()
    out, rep = twins.apply(design / "bitscale_top.v", tmp_path, tmp_path / "proofs", thresholds=False)
    assert (design / "bitscale_top.v").read_text() == before  # the synthesized Verilog is untouched
    # layer 2 (4 PEs, SIMD 64) and layer 3 (2 PEs, SIMD 16); layer 1's 8-bit input products stay
    assert rep["modules"] == 6
    assert rep["proofs"] and all(p["proved"] and not p["cached"] for p in rep["proofs"])
    assert sum(p["modules"] for p in rep["proofs"]) == 6
    new = out.read_text()
    gold_mods = {m.name: m.text for m in twins.modules(before)}
    new_mods = {m.name: m.text for m in twins.modules(new)}
    assert gold_mods.keys() == new_mods.keys()
    changed = [n for n in gold_mods if gold_mods[n] != new_mods[n]]
    assert len(changed) == 6 and all(re.search(r"\.dense\d+\.dot\d+ $", n) for n in changed)
    assert all("simulation twin" in new_mods[n] for n in changed)
    # a second apply proves nothing again (cached by content)
    _, rep2 = twins.apply(design / "bitscale_top.v", tmp_path, tmp_path / "proofs", thresholds=False)
    assert all(p["cached"] and p["proved"] for p in rep2["proofs"])


@pytest.mark.parametrize(
    "old,new",
    [
        # a wrong product bit (OR for XOR)
        ("(tw_a0 & tw_d0) ^ (tw_b0 & tw_c0)", "(tw_a0 & tw_d0) | (tw_b0 & tw_c0)"),
        # a wrong bias in one byte of the group sums
        ("64'h2020202020202020", "64'h2020202020212020"),
        # a wrong multiplier in the sums of four first-level registers
        ("32'h01010101", "32'h01010100"),
        # the second word's lanes from the first word
        ("w[127:64]", "w[63:0]"),
    ],
)
def test_wrong_twin_is_not_proven(design, old, new):
    mod = _dot_module(design)
    twin, bits = twins.twin_text(mod)
    assert twins.prove(mod.text, twin, mod.name, bits).proved
    bad = twin.replace(old, new)
    assert bad != twin
    assert not twins.prove(mod.text, bad, mod.name, bits).proved


def test_twin_with_a_register_renamed_is_not_proven(design):
    # a register the proof cannot match by name proves less: refused (matched bits counted)
    mod = _dot_module(design)
    twin, bits = twins.twin_text(mod)
    last = re.findall(r"reg \[\d+:0\] (cut\d+) =", twin)[0]
    bad = re.sub(rf"\b{last}\b", last + "_x", twin)
    assert not twins.prove(mod.text, bad, mod.name, bits).proved


def test_threshold_compares_proven_and_wrong_forms_refused(design, tmp_path):
    # the MVTUs' threshold comparisons (2-bit activations: 3 per accumulator) as one lane-wise subtraction
    _, rep = twins.apply(design / "bitscale_top.v", tmp_path, tmp_path / "proofs")
    assert rep["threshold_compares"] > 0 and rep["threshold_proofs"]
    assert all(p["proved"] for p in rep["threshold_proofs"])
    for a, t, k in ((12, 8, 3), (14, 12, 3), (9, 9, 4), (20, 6, 1)):
        gold, twin = twins.cmp_fragments(a, t, k)
        assert twins.prove(gold, twin, "gold", k).proved, (a, t, k)
    gold, twin = twins.cmp_fragments(12, 8, 3)
    for old, new in (
        ("^ 8'h80", "^ 8'h00"),  # thresholds read unsigned
        ("64'h1e00f00780", "64'h1e00f00781"),  # a wrong bias in the first lane
        ("tw_td_f[38]", "tw_td_f[37]"),  # the wrong bit of the third lane
        ("1'b1, acc ^", "1'b0, acc ^"),  # no guard bit: borrows cross the lanes
    ):
        bad = twin.replace(old, new)
        assert bad != twin, old
        assert not twins.prove(gold, bad, "gold", 3).proved, old


def test_not_a_twin(design):
    text = (design / "bitscale_top.v").read_text()
    first = next(m for m in twins.modules(text) if ".dense0.dot0 " in m.name)  # 8-bit activations
    with pytest.raises(twins.NotATwin):
        twins.twin_text(first)


@pytest.mark.slow
@pytest.mark.icarus
def test_twins_golden_exact_in_simulation(design, tmp_path):
    # the twin'd Verilog through the fast harness (Icarus: a cheap build), against the golden model,
    # with and without back-pressure, and the same cycles as the synthesized Verilog
    kw = dict(images=6, simulator="icarus", cache_dir=tmp_path, write=False, log=lambda *a: None)
    doc = simulate(design, twins=True, **kw)
    assert doc["twins"]["modules"] == 6 and doc["twins"]["threshold_compares"] > 0
    assert doc["golden_match"] == 6 and doc["all_frames_match"] and not doc["errors"]
    ref = simulate(design, twins=False, **kw)
    assert ref["twins"] is None
    assert (doc["cycles_per_frame"], doc["latency_cycles"]) == (ref["cycles_per_frame"], ref["latency_cycles"])
    stalled = simulate(design, twins=True, gaps=0.3, backpressure=0.4, seed=5, **kw)
    assert stalled["golden_match"] == 6 and not stalled["errors"]


def test_without_yosys_nothing_is_proven_or_cached(monkeypatch, tmp_path):
    monkeypatch.setattr(twins, "_yosys", lambda: str(tmp_path / "no-yosys"))
    gold, twin = twins.cmp_fragments(12, 8, 3)
    p = twins.prove(gold, twin, "gold", 3, tmp_path / "proofs")
    assert not p.proved and "cannot run Yosys" in p.log_tail
    assert not (tmp_path / "proofs").exists()  # tried again once Yosys is there
