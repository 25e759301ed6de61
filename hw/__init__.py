"""bitscale.hw: the Amaranth streaming dataflow generator (one component per file)."""
