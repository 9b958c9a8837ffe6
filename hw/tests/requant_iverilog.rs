//! The requantizer's generated Verilog under Icarus Verilog against `Requant::apply`: the 64-bit
//! shifts, sign handling and clamps are where Verilog width rules could part from the RustHDL
//! simulation, so they are checked in an independent simulator too, at every shift on both sides
//! of each rounding and clamping limit.

use lutna_core::arith::{ActKind, Requant};
use lutna_hw::sim::{requant_limit_cases, run_icarus, XorShift};
use lutna_hw::Requantizer;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

const TESTBENCH: &str = r#"
module tb;
  reg clock = 0;
  reg [55:0] vec [0:NVEC-1];
  reg [7:0] want [0:NWANT-1];
  reg [31:0] acc; reg [15:0] mult; reg [5:0] shift; reg signed_out; reg valid;
  wire [7:0] out; wire out_valid;
  top uut(.clock(clock), .acc(acc), .mult(mult), .shift(shift), .signed_out(signed_out),
          .valid(valid), .tag(5'd0), .out(out), .out_valid(out_valid), .out_tag());
  integer i, k, bad;
  initial begin
    $readmemh("vectors.hex", vec);
    $readmemh("expected.hex", want);
    k = 0; bad = 0;
    for (i = 0; i < NVEC; i = i + 1) begin
      {acc, mult, shift, signed_out, valid} = vec[i];
      #5 clock = 1;
      #1 if (out_valid) begin
        if (out !== want[k]) begin
          if (bad < 5) $display("MISMATCH %0d: got %h want %h", k, out, want[k]);
          bad = bad + 1;
        end
        k = k + 1;
      end
      #4 clock = 0;
    end
    if (bad == 0 && k == NWANT) $display("OK %0d", k);
    else $display("FAIL bad=%0d seen=%0d of %0d", bad, k, NWANT);
    $finish;
  end
endmodule
"#;

#[test]
fn requantizer_verilog_matches_core_under_icarus() {
    let accs = [
        0i32,
        1,
        -1,
        7,
        -7,
        127,
        -128,
        255,
        256,
        -300,
        40_000,
        -40_000,
        1 << 24,
        -(1 << 24),
        i32::MAX,
        i32::MIN,
    ];
    let reals = [1e-5, 0.0009, 0.0123, 0.25, 0.5, 0.9, 1.0, 2.5, 300.0];
    let mut cases = vec![];
    for &acc in &accs {
        for &real in &reals {
            for kind in [ActKind::U8, ActKind::I8] {
                cases.push((acc, Requant::from_real(real).unwrap(), kind));
            }
        }
    }
    cases.extend(requant_limit_cases(&mut XorShift(0x5EED_1CA2_0505)));
    let (mut vecs, mut want) = (String::new(), String::new());
    let n = cases.len();
    for (acc, r, kind) in cases {
        let v = ((acc as u32 as u64) << 24)
            | ((r.mult as u64) << 8)
            | ((r.shift as u64) << 2)
            | (((kind == ActKind::I8) as u64) << 1)
            | 1;
        writeln!(vecs, "{v:x}").unwrap();
        writeln!(want, "{:02x}", r.apply(acc, kind) as u8).unwrap();
    }
    for _ in 0..Requantizer::LATENCY {
        writeln!(vecs, "0").unwrap();
    }
    let tb = TESTBENCH
        .replace("NVEC", &(n + Requantizer::LATENCY).to_string())
        .replace("NWANT", &n.to_string());
    let files = [
        ("tb.v", tb),
        ("requant.v", generate_verilog(&Requantizer::top())),
    ];
    let data = [("vectors.hex", vecs), ("expected.hex", want)];
    let Some(out) = run_icarus("requant-iverilog", &files, &data) else {
        return;
    };
    assert!(out.contains(&format!("OK {n}")), "icarus run:\n{out}");
}
