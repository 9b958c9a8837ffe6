//! Writes the Verilog of the instruction-stream accelerator (`EngineAccelerator<P>`, as
//! `lutna build --design stream` builds it, iCE40 memories), for inspection and synthesis
//! experiments: `cargo run -p lutna-hw --example stream_verilog -- 8 out.v`.
use lutna_hw::engine::accelerator::{stream_identity, EngineAccelerator};
use rust_hdl::prelude::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let lanes: u8 = args.next().and_then(|s| s.parse().ok()).unwrap_or(8);
    let out = args.next().unwrap_or_else(|| "stream.v".into());
    let timeout = lutna_hw::link::BOARD_RX_TIMEOUT_BYTES;
    let verilog = match lanes {
        4 => generate_verilog(&EngineAccelerator::<4>::top(8, timeout, stream_identity(4))),
        8 => generate_verilog(&EngineAccelerator::<8>::top(8, timeout, stream_identity(8))),
        n => panic!("the stream accelerator is built with 4 or 8 lanes, not {n}"),
    };
    std::fs::write(&out, verilog).expect("cannot write the Verilog");
    eprintln!("wrote {out}");
}
