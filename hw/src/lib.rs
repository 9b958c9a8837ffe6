//! lutna-hw owns the RustHDL (rust-hdl 0.46) description of the accelerator and what turns it
//! into a bitstream or a cost. Every table content, shift, mode code, layout rule and protocol
//! constant comes from `lutna-core`, never restated here. By folder:
//!
//! - [`datapath`]: the LUT-NA lane ([`SubMacLane`], runtime LUT-NA / A-LUT-NA, and its
//!   A-LUT-NA-only build), the [`TlutLane`], the [`ArrayMacLane`], [`WallaceMacLane`] and
//!   [`DspMacLane`] baselines (all on one interface), lane arrays, the pipelined [`Requantizer`].
//! - [`memory`]: block RAM and the UP5K's SPRAM, each with its Verilog chosen per FPGA family.
//! - [`link`]: UART, frame receiver and transmitter, and the probe design (link only).
//! - [`engine`]: the engine that runs whole compiled networks (docs/engine.md), one unit per
//!   file, joined in `engine::core`, behind the link and its command handler in
//!   `engine::accelerator`: the accelerator the board tops wrap and the virtual board steps.
//! - [`top`]: the accelerator at the lane counts and program memories it is built with, chosen
//!   at run time.
//! - [`flow`]: board tops (PLL, pins) and the yosys / nextpnr-ice40 / icepack runs and reports.
//! - [`cost`]: gate-level area and switching energy of each lane kind, and its netlist simulator.
//! - [`sim`]: direct stepping of a block and a software UART, for the tests and the virtual board.
//!
//! Each block is tested bit-exact against lutna-core. The accelerator fits the UP5K at 4 and 8
//! lanes (docs/engine.md, "Place and route").
//!
//! RustHDL simulates `Bits<N>` arithmetic at N bits, but the Verilog it generates is evaluated
//! at the width of the whole expression, and its integer literals are 32 bits wide. Twice an
//! expression that relied on wrapping at N bits was right in RustHDL and wrong in the Verilog
//! (`count_a - count_b != 2` on 2-bit counters; `bit_cast::<16, 8>(!byte + 1)`, which gave
//! 0xFF14 for -20). The cure is a `Signal<Local, Bits<N>>` of its own for the wrapped value; the
//! Verilator board (`lutna-sim`) runs the generated Verilog on whole networks to catch the next,
//! and each engine unit's testbench replays its cycles on the unit's Verilog under Icarus
//! (`sim::replay_under_icarus`). Two more things the generated Verilog cannot take: a part of an
//! expression (`(word >> k).get_bits::<3>(0)` needs a local signal for the shifted word), and
//! a port named after a Verilog keyword (`repeat`, `release`: yosys accepts them, Icarus and
//! Verilator do not).

pub mod cost;
pub mod datapath;
pub mod engine;
pub mod flow;
pub mod link;
pub mod memory;
pub mod sim;
pub mod top;

pub use datapath::lane::SubMacLane;
pub use datapath::mac_lane::{ArrayMacLane, DspMacLane, WallaceMacLane};
pub use datapath::requant::Requantizer;
pub use datapath::tlut_lane::TlutLane;
