//! lutna-hw owns the RustHDL (rust-hdl 0.46) description of the accelerator: LUT banks and sub-MAC
//! lanes today; the fabric, memories, link and board tops as they land. Every table content, shift
//! and mode code comes from `lutna-core`, never restated here.
//!
//! Status: the LUT-NA lane (4-bit chunks, runtime LUT-NA / A-LUT-NA truncating / centred mode),
//! the traditional-LUT (k = 8) lane, the requantizer and a P-lane array (weight broadcast,
//! per-lane accumulators) are implemented and tested bit-exact against lutna-core. Not yet written:
//! the requantizer stage behind the array, the block-RAM accumulator buffer, and the array /
//! Wallace / SB_MAC16 baseline lanes.

pub mod fabric;
pub mod lane;
pub mod mac_lane;
pub mod requant;
pub mod sim;
pub mod tlut_lane;

pub use lane::SubMacLane;
pub use mac_lane::{ArrayMacLane, DspMacLane, WallaceMacLane};
pub use requant::Requantizer;
pub use tlut_lane::TlutLane;
