"""Typed stage results (#17 item 3): JSON round trips, one reading of each stage's document, no guessing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitscale.cost_model import Estimate, estimate
from bitscale.hw.folding import default_folding
from bitscale.nn.random_net import random_cnv, random_fc
from bitscale.results import SimResult, SynthResult, TrainResult

fractions = st.none() | st.floats(0, 1, allow_nan=False)
counts = st.none() | st.integers(0, 10**6)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    acc=fractions,
    agree=fractions,
    params=counts,
    images=st.integers(0, 1000),
    passed=st.booleans(),
    match=counts,
    cpf=st.none() | st.floats(1, 1e9, allow_nan=False),
    lut=st.integers(0, 10**7),
    fmax=st.none() | st.floats(1, 1000, allow_nan=False),
)
def test_round_trips(acc, agree, params, images, passed, match, cpf, lut, fmax):
    for r in (
        TrainResult(acc, agree, params),
        SimResult(images, passed, match, match, cpf, ("x",)),
        SynthResult(lut, lut, 3, 0, fmax, "RAMB18"),
    ):
        doc = json.loads(json.dumps(r.to_json()))
        assert type(r).from_json(doc) == r


def test_each_stage_document_is_read_once_and_checked():
    # nn/train's metrics.json names the accuracy test_acc: a fraction, never a percent
    assert TrainResult.from_metrics({"test_acc": 0.91, "golden_agreement": 1.0}).accuracy == 0.91
    with pytest.raises(ValueError, match="accuracy must be a fraction in"):
        TrainResult.from_metrics({"test_acc": 91.0})
    sim = SimResult.from_sim(
        {
            "images": 4,
            "all_frames_match": True,
            "golden_match": 4,
            "hw_correct": 3,
            "errors": [],
            "cycles_per_frame": 128,
        }
    )
    assert sim.passed and sim.accuracy == 0.75 and sim.cycles_per_frame == 128
    assert not SimResult.from_sim({"images": 4, "all_frames_match": True, "golden_match": 3}).passed
    assert not SimResult.from_sim({"images": 4, "all_frames_match": True, "errors": ["late"]}).passed
    syn = SynthResult.from_synth({"LUT": 10, "FF": 5, "BRAM18": 1, "DSP": 0, "fmax_mhz": None, "family": "xc7"})
    assert syn == SynthResult(10, 5, 1, 0)
    with pytest.raises(ValueError, match="unknown keys"):
        TrainResult.from_json({"format": TrainResult.FORMAT, "accuracy": 0.5, "acc": 0.5})
    with pytest.raises(ValueError, match="not a bitscale.SimResult"):
        SimResult.from_json(TrainResult(0.5).to_json())


@pytest.mark.parametrize("board", ["pynq-z1", "icebreaker"])
def test_estimate_round_trip(board):
    for net in (random_fc([32, 16], 2, 2, in_features=32, seed=1), random_cnv((8, 8, 3), [8, "P"], [16], 1, 1, seed=2)):
        e = estimate(net, default_folding(net), board)
        assert Estimate.from_json(json.loads(json.dumps(e.to_json()))) == e
