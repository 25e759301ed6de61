"""bitscale.nn: Brevitas training, datasets, the QuantizedNetwork IR and its golden integer model."""
