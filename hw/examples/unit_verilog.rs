//! Writes the Verilog of one engine unit for synthesis experiments:
//! `cargo run -p lutna-hw --example unit_verilog -- activations out.v`.
use lutna_hw::engine::activations::{banks, ActivationMemory, SPRAM_BANKS};
use rust_hdl::prelude::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let unit = args.next().unwrap_or_else(|| "activations".into());
    let out = args.next().unwrap_or_else(|| format!("{unit}.v"));
    let verilog = match unit.as_str() {
        "activations" => generate_verilog(&ActivationMemory::<SPRAM_BANKS>::top()),
        "activations-16" => generate_verilog(&ActivationMemory::<{ banks(16) }>::top()),
        other => panic!("no unit {other}"),
    };
    std::fs::write(&out, verilog).expect("cannot write the Verilog");
    eprintln!("wrote {out}");
}
