"""DSP blocks per multiplier (Yosys' mul2dsp rule, per family): re-exported from hw/mul2dsp.py.

The rule lives in hw/ because hw/ decides structure with it (the requantizer's saturated operand) and
hw/ may not import cost_model/ (issue #17's layering); cost_model/model.py counts DSPs with it.

Guaranteed: the same objects as :mod:`bitscale.hw.mul2dsp` (one rule, one place).
"""

from __future__ import annotations

from bitscale.hw.mul2dsp import MUL2DSP, Mul2Dsp, mul_dsp

__all__ = ["MUL2DSP", "Mul2Dsp", "mul_dsp"]
