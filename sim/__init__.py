"""bitscale.sim: cocotb testbenches on Verilator/Icarus and Yosys/nextpnr synthesis runs."""
