//! lutna-hw owns the RustHDL (rust-hdl 0.46) description of the accelerator: LUT banks and sub-MAC
//! lanes today; the fabric, memories, link and board tops as they land. Every table content, shift
//! and mode code comes from `lutna-core`, never restated here.
//!
//! Status: the LUT-NA lane (4-bit chunks, runtime LUT-NA / A-LUT-NA truncating / centred mode),
//! the traditional-LUT (k = 8) lane and the requantizer are implemented and tested bit-exact
//! against lutna-core. The P-lane fabric (shared banks, adder tree, accumulators) and the array /
//! Wallace / SB_MAC16 baselines are not yet written.

pub mod fabric;
pub mod lane;
pub mod requant;
pub mod sim;
pub mod tlut_lane;

pub use lane::SubMacLane;
pub use requant::Requantizer;
pub use tlut_lane::TlutLane;
