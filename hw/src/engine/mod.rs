//! The layer engine.
//!
//! - [`descriptor`]: the engine that runs the flow today, [`LayerEngine`], driven by 32-word
//!   layer descriptors and computing its addresses in hardware. It does not fit the UP5K
//!   (docs/fpga-fit.md) and is being replaced.
//! - The units of its replacement, built to the cell budget of docs/engine.md and driven by the
//!   host-compiled instruction stream of `lutna_core::isa`: [`lane::EngineLane`] so far. Each
//!   unit is one block in its own file with its own testbench.

pub mod accelerator;
pub mod activations;
pub mod address;
pub mod budget;
pub mod column_mask;
pub mod core;
pub mod descriptor;
pub mod drain;
pub mod fetch;
pub mod issuer;
pub mod lane;
pub mod programmer;
pub mod writer;

pub use descriptor::*;
