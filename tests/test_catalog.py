"""nn/catalog.py: one torch-free catalog of models and datasets (#17 item 3)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bitscale.errors import UserError
from bitscale.nn import catalog


def test_catalog_and_sweep_spec_load_no_torch():
    code = (
        "import sys; from bitscale.sweep import SweepSpec; from bitscale.nn import catalog, data; "
        "SweepSpec(model='cnv', dataset='cifar10'); catalog.input_shape_for('fc', 'mnist'); "
        "print(sorted(m for m in ('torch', 'brevitas') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_one_catalog_everywhere():
    from bitscale.nn import data
    from bitscale.sweep import spec

    assert spec.MODELS is catalog.MODELS and spec.DATASETS is catalog.DATASETS is data.DATASETS
    assert catalog.input_shape_for("fc", "digits") == (64,)
    assert catalog.input_shape_for("cnv", "mnist") == (32, 32, 1)
    with pytest.raises(UserError, match="unknown model 'resnet'; expected one of fc, tfc"):
        catalog.check_model("resnet")
    with pytest.raises(UserError, match="unknown dataset 'imagenet'"):
        catalog.input_shape_for("fc", "imagenet")
