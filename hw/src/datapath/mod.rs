//! The multiply-accumulate datapath: the LUT-NA lane and its A-LUT-NA-only build ([`lane`]), the
//! traditional-LUT lane ([`tlut_lane`]), the digital-multiplier baselines ([`mac_lane`]), lane
//! arrays ([`fabric`]), the requantizer ([`requant`]) and the port bundles they share
//! ([`ports`]). Every table content, shift and mode code comes from `lutna_core::arith`.

pub mod fabric;
pub mod lane;
pub mod mac_lane;
pub mod ports;
pub mod requant;
pub mod tlut_lane;
