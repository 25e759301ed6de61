// Simulation-only memory of the stream harness (hw/sim_memory.py, docs/simulation.md).
// One synchronous read port, one write port; `load` reads FILE with $readmemh, `dump`
// writes the whole memory to DUMP with $writememh (both at the clock edge, paths relative
// to the simulator's working directory). Not synthesizable on purpose.
module bitscale_simmem #(
  parameter WIDTH = 8,
  parameter DEPTH = 16,
  parameter ABITS = 4,
  parameter FILE = "mem.hex",
  parameter DUMP = "mem.dump.hex"
) (
  input clk,
  input [ABITS-1:0] raddr,
  output reg [WIDTH-1:0] rdata,
  input [ABITS-1:0] waddr,
  input [WIDTH-1:0] wdata,
  input we,
  input load,
  input dump
);
  reg [WIDTH-1:0] mem [0:DEPTH-1];
  always @(posedge clk) begin
    if (load) $readmemh(FILE, mem);
    if (dump) $writememh(DUMP, mem);
    if (we) mem[waddr] <= wdata;
    rdata <= mem[raddr];
  end
endmodule
