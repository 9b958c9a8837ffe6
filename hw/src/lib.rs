//! lutna-hw owns the RustHDL (rust-hdl 0.46) description of the accelerator: LUT banks, sub-MAC
//! lanes, the digital-multiplier baselines, lane arrays, the requantizer, and the gate-level cost
//! model built on them; the memories, link and board tops as they land. Every table content,
//! shift and mode code comes from `lutna-core`, never restated here.
//!
//! Status: lanes ([`SubMacLane`] runtime LUT-NA / A-LUT-NA, its A-LUT-NA-only build, [`TlutLane`],
//! and the [`ArrayMacLane`], [`WallaceMacLane`] and [`DspMacLane`] baselines, all on one
//! interface), lane arrays ([`fabric`]), the pipelined [`Requantizer`], the UART and frame link
//! ([`uart`], [`link`]), the [`engine::LayerEngine`] that runs whole compiled networks, and the
//! [`top::Accelerator`] (link + command handler + engine), each tested bit-exact against
//! lutna-core. [`cost`] and [`gatesim`] measure gate-level area and switching energy of each lane
//! kind. [`build`] wraps a design in its board top (PLL, pins) and runs yosys, nextpnr-ice40 and
//! icepack. [`spram`] and [`window_memory`] hold the engine's activations on the UP5K (the
//! SPRAM primitive; 8-byte windows at any alignment from four of them). The accelerator's
//! memories fit the UP5K at 4 lanes; its logic does not yet (docs/fpga-fit.md).
//!
//! RustHDL simulates `Bits<N>` arithmetic at N bits, but the Verilog it generates is evaluated
//! at the width of the whole expression, and its integer literals are 32 bits wide. Twice an
//! expression that relied on wrapping at N bits was right in RustHDL and wrong in the Verilog
//! (`count_a - count_b != 2` on 2-bit counters; `bit_cast::<16, 8>(!byte + 1)`, which gave
//! 0xFF14 for -20). The cure is a `Signal<Local, Bits<N>>` of its own for the wrapped value; the
//! Verilator board (`lutna-sim`) runs the generated Verilog on whole networks to catch the next.

pub mod block_ram;
pub mod build;
pub mod cost;
pub mod engine;
pub mod fabric;
pub mod gatesim;
pub mod lane;
pub mod link;
pub mod mac_lane;
pub mod requant;
pub mod sim;
pub mod spram;
pub mod tlut_lane;
pub mod top;
pub mod uart;
pub mod window_memory;

pub use lane::SubMacLane;
pub use mac_lane::{ArrayMacLane, DspMacLane, WallaceMacLane};
pub use requant::Requantizer;
pub use tlut_lane::TlutLane;
