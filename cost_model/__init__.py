"""bitscale.cost_model: analytical LUT/FF/BRAM/DSP/cycles model and auto-folding."""
