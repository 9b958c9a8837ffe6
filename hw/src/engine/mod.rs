//! The engine, built to the cell budget of docs/engine.md ([`budget`]) and driven by the
//! host-compiled instruction stream of `lutna_core::isa`: the units ([`fetch`], [`programmer`],
//! [`address`], [`issuer`], [`column_mask`], [`lane`], [`drain`], [`writer`], [`activations`]),
//! each one block in its own file with its own testbench, joined in [`core::EngineCore`] and put
//! behind the link in [`accelerator::EngineAccelerator`], whose bitstream fits the UP5K at 8
//! lanes.

pub mod accelerator;
pub mod activations;
pub mod address;
pub mod budget;
pub mod column_mask;
pub mod core;
pub mod drain;
pub mod fetch;
pub mod issuer;
pub mod lane;
pub mod programmer;
pub mod writer;
