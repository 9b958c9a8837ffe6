//! Writes the Verilog of the accelerator top (`Accelerator<8>`), for inspection and synthesis
//! experiments: `cargo run --release -p lutna-hw --example accel_verilog -- out.v`.
use lutna_core::protocol::{Identity, MAX_PAYLOAD, VERSION};
use lutna_hw::top::Accelerator;
use rust_hdl::prelude::*;

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "accelerator.v".into());
    let id = Identity {
        version: VERSION,
        lanes: 8,
        chunk_bits: 4,
        modes: 7,
        spram_bytes: 128 * 1024,
        bram_bytes: 30 * 512,
        clock_hz: 24_000_000,
        max_payload: MAX_PAYLOAD as u16,
    };
    let uut = Accelerator::<8>::top(8, id);
    std::fs::write(&out, generate_verilog(&uut)).expect("cannot write the Verilog");
    eprintln!("wrote {out}");
}
