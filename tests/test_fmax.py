"""#13 timing helpers: nextpnr's critical path in synth.json, and the structure rules the pipelining
added (tree cuts, MVTU latency, output queue) that hw/ and the cost model share."""

import numpy as np

from bitscale.boards.synth import _path_segments, critical_path
from bitscale.hw import inventory
from bitscale.hw.dotproduct import DotProduct


def test_critical_path_from_nextpnr_log_and_report():
    log = (
        "Info: Critical path report for clock 'clk' (posedge -> posedge):\n"
        "Info:       type curr  total name\n"
        "Info:   clk-to-q  0.52  0.52 Source dut.dense0.acc_TRELLIS_FF_Q.Q\n"
        "Info:    routing  1.20  1.72 Net x\n"
        "Info:      setup  0.10  1.82 Sink dut.dense0.y_TRELLIS_FF_Q.DI\n"
        "Info: 0.6 ns logic, 1.2 ns routing\n\n"
        "Info: Max frequency for clock 'clk': 549.45 MHz (PASS at 150.00 MHz)\n"
    )
    assert critical_path(log) == {
        "source": "dut.dense0.acc_TRELLIS_FF_Q.Q",
        "sink": "dut.dense0.y_TRELLIS_FF_Q.DI",
        "logic_ns": 0.6,
        "routing_ns": 1.2,
    }
    assert critical_path("no report") == {}
    report = {
        "critical_paths": [
            {
                "path": [
                    {"type": "clk-to-q", "delay": 0.5, "to": {"cell": "a"}},
                    {"type": "routing", "delay": 2.0, "to": {"cell": "b"}},
                ]
            },
            {"path": [{"type": "setup", "delay": 0.1, "to": {"cell": "c"}}]},
        ]
    }
    assert _path_segments(report) == [["clk-to-q", 0.5, "a"], ["routing", 2.0, "b"]]


def test_pipeline_rules_shared_by_hw_and_model():
    assert [int(inventory.tree_cuts(s)) for s in (1, 4, 5, 8, 16, 17, 49, 64, 65)] == [0, 0, 2, 2, 2, 3, 3, 3, 4]
    for simd in (1, 3, 5, 16, 49):
        for mac in ("lut", "dsp"):
            dp = DotProduct(simd, 2, 2, "parallel", mac)
            dp._MustUse__silence = True
            assert dp.latency == int(inventory.tree_cuts(simd)) + inventory.DSP_STAGES * (mac == "dsp")
        # weight planes: the plane shift registered before the MSB negation (one more, any MAC)
        for mode, wb, ab in (("bit-serial", 2, 2), ("weight-serial", 4, 3), ("bit-serial", 1, 2)):
            dp = DotProduct(simd, wb, ab, mode, "dsp")
            dp._MustUse__silence = True
            assert dp.latency == int(inventory.tree_cuts(simd)) + (wb > 1)
    assert np.array_equal(
        inventory.dot_latency(np.array([4, 8, 8]), np.array([1, 2, 1]), np.array([0, 0, 1])),
        [0, 3, 2 + inventory.DSP_STAGES],
    )
    # one word a cycle through a 7-cycle pipeline needs 9 queue words; a word every 64 cycles, 2
    assert inventory.out_queue_words(7, 1) == 9 and inventory.out_queue_words(7, 64) == 2
    assert np.array_equal(inventory.mvtu_latency(np.array([0, 2]), "requant"), [10, 12])
    assert np.array_equal(inventory.mvtu_latency(np.array([0, 2]), "thresholds"), [8, 10])
    assert np.array_equal(inventory.mvtu_latency(np.array([0, 2]), "none"), [6, 8])
