//! Writes the Verilog of the accelerator (`EngineAccelerator`, as `lutna build --board
//! icebreaker` builds it, iCE40 memories, the 1 K-word program buffer), for inspection and
//! synthesis experiments: `cargo run -p lutna-hw --example accel_verilog -- 8 out.v`.
use lutna_hw::engine::accelerator::ProgramMemory;
use lutna_hw::top::{board_identity, AnyAccelerator};

fn main() {
    let mut args = std::env::args().skip(1);
    let lanes: u8 = args.next().and_then(|s| s.parse().ok()).unwrap_or(8);
    let out = args.next().unwrap_or_else(|| "accel.v".into());
    let timeout = lutna_hw::link::BOARD_RX_TIMEOUT_BYTES;
    let top = AnyAccelerator::new(
        lanes,
        ProgramMemory::Buffer,
        8,
        timeout,
        board_identity(lanes),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    std::fs::write(&out, top.verilog()).expect("cannot write the Verilog");
    eprintln!("wrote {out}");
}
