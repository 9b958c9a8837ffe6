//! Memories with the timing of the iCE40's primitives: block RAM with a registered read
//! ([`block_ram`]), the UP5K's single-port RAM ([`spram`]), and the activation memory built from
//! four of them that reads any eight consecutive bytes per cycle ([`window_memory`]).

pub mod block_ram;
pub mod spram;
pub mod window_memory;
