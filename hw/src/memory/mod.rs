//! Memories with the timing of the iCE40's primitives: block RAM with a registered read
//! ([`block_ram`]) and the UP5K's single-port RAM ([`spram`]; the engine's activation memory,
//! `crate::engine::activations`, is built from four).
//!
//! The simulation models are the same for every FPGA; what the Verilog of a memory says is
//! chosen once per board by its [`Family`]: the iCE40 build instantiates the UP5K's SPRAM
//! primitive, the ECP5 build describes the same memory behaviourally so that yosys maps it to
//! the ECP5's block RAMs (DP16KD). Block RAM is behavioural on both (yosys infers SB_RAM40_4K
//! or DP16KD from it).

pub mod block_ram;
pub mod spram;

/// The FPGA family a design's Verilog is written for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Lattice iCE40 (the iCEBreaker's UP5K): SPRAMs as `SB_SPRAM256KA` primitives.
    #[default]
    Ice40,
    /// Lattice ECP5 (the ULX3S): no iCE40 primitive; every memory behavioural.
    Ecp5,
}
