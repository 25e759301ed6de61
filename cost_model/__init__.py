"""bitscale.cost_model: analytical LUT/FF/BRAM/DSP/cycles model and auto-folding.

Public API: :func:`estimate` (IR x Folding x Board -> :class:`Estimate`),
:func:`auto_fold` (IR x Board x target FPS -> Folding), and the block-RAM
mapping in :mod:`bitscale.cost_model.bram`.
"""

from bitscale.cost_model.model import Estimate, LayerEstimate, estimate

__all__ = ["Estimate", "LayerEstimate", "estimate", "auto_fold"]


def auto_fold(*args, **kwargs):
    from bitscale.cost_model.autofold import auto_fold as _af

    return _af(*args, **kwargs)
