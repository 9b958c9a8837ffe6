//! Writes the Verilog of the accelerator top (`Accelerator<8, BUFFER_PARAM_BITS>`, as the board builds it), for inspection and synthesis
//! experiments: `cargo run --release -p lutna-hw --example accel_verilog -- out.v`.
use lutna_hw::engine::BUFFER_PARAM_BITS;
use lutna_hw::top::Accelerator;
use rust_hdl::prelude::*;

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "accelerator.v".into());
    let id = lutna_hw::top::board_identity(8);
    let uut =
        Accelerator::<8, BUFFER_PARAM_BITS>::top(8, lutna_hw::link::BOARD_RX_TIMEOUT_BYTES, id);
    std::fs::write(&out, generate_verilog(&uut)).expect("cannot write the Verilog");
    eprintln!("wrote {out}");
}
