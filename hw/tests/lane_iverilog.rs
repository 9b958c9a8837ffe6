//! The generated Verilog of every lane kind (the LUT-NA lane, its A-LUT-NA-only build, the
//! traditional-LUT lane, and the array, Wallace and SB_MAC16 baselines), simulated by Icarus Verilog (an independent simulator),
//! must give lutna-core's products. The test writes the per-cycle input vectors and the expected
//! products; a small Verilog testbench replays the vectors and compares.

use lutna_core::arith::{LaneMode, Scheme};
use lutna_hw::datapath::mac_lane::strip_blackbox;
use lutna_hw::sim::run_icarus;
use lutna_hw::{ArrayMacLane, DspMacLane, SubMacLane, TlutLane, WallaceMacLane};
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// One cycle of lane inputs packed as in the testbench:
/// {table_write, table_addr[7:0], table_data[15:0], activation[7:0], negative, mode[1:0], valid}
/// (lanes with a 16-entry bank see the low four address bits; the T-LUT lane ignores the mode).
fn vector(we: bool, addr: u32, data: u32, a: u32, neg: bool, mode: u8, valid: bool) -> u64 {
    ((we as u64) << 36)
        | ((addr as u64) << 28)
        | ((data as u64) << 12)
        | ((a as u64) << 4)
        | ((neg as u64) << 3)
        | ((mode as u64) << 1)
        | valid as u64
}

const TESTBENCH: &str = r#"
module tb;
  reg clock = 0;
  reg [36:0] vec [0:NVEC-1];
  reg [31:0] want [0:NWANT-1];
  reg table_write; reg [7:0] table_addr; reg [15:0] table_data;
  reg [7:0] activation; reg negative; reg [1:0] mode; reg valid;
  wire [31:0] product; wire product_valid;
  top uut(.clock(clock), .table$write(table_write), .table$address(table_addr[ADDR_BITS-1:0]),
          .table$data(table_data), .operands$activation(activation),
          .operands$negative(negative), .operands$mode(mode), .operands$valid(valid), .product(product), .product_valid(product_valid));
  integer i, k, bad;
  initial begin
    $readmemh("vectors.hex", vec);
    $readmemh("expected.hex", want);
    k = 0; bad = 0;
    for (i = 0; i < NVEC; i = i + 1) begin
      {table_write, table_addr, table_data, activation, negative, mode, valid} = vec[i];
      #5 clock = 1;
      #1 if (product_valid) begin
        if (product !== want[k]) begin
          if (bad < 5) $display("MISMATCH %0d: got %h want %h", k, product, want[k]);
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

/// Replays, under Icarus, every lane mode of `runs` ((scheme whose tables program the bank,
/// scheme whose products are expected)) for a dozen weights over all 256 activations.
fn check_under_icarus(
    tag: &str,
    lane: String,
    extra: &[(&str, String)],
    runs: &[(Scheme, Scheme)],
) {
    let (mut vecs, mut want) = (vec![], vec![]);
    let is_tlut = runs.iter().any(|r| r.0 == Scheme::TLUT);
    for &(programmed, expected) in runs {
        let Scheme::Lut(lut) = programmed else {
            unreachable!()
        };
        let mode = LaneMode::for_scheme(programmed, 4).map_or(0, |m| m.code());
        for m in [1u8, 2, 3, 7, 15, 16, 85, 128, 170, 201, 254, 255] {
            for (j, &v) in lut.tables(m)[0].iter().enumerate() {
                vecs.push(vector(true, j as u32, v, 0, false, mode, false));
            }
            for a in 0..256u32 {
                let neg = (a * 7 + m as u32).is_multiple_of(3);
                vecs.push(vector(false, 0, 0, a, neg, mode, true));
                let w = if neg { -(m as i16) } else { m as i16 };
                want.push(expected.product(a as u8, w) as u32);
            }
            vecs.push(vector(false, 0, 0, 0, false, mode, false));
            vecs.push(vector(false, 0, 0, 0, false, mode, false));
        }
    }
    let hex = |v: &[u64]| {
        v.iter().fold(String::new(), |mut s, x| {
            writeln!(s, "{x:x}").unwrap();
            s
        })
    };
    let want64: Vec<u64> = want.iter().map(|&x| x as u64).collect();
    let tb = TESTBENCH
        .replace("NVEC", &vecs.len().to_string())
        .replace("NWANT", &want.len().to_string())
        .replace("ADDR_BITS", if is_tlut { "8" } else { "4" });
    let mut files = vec![("tb.v", tb), ("lane.v", lane)];
    files.extend(extra.iter().cloned());
    let data = [("vectors.hex", hex(&vecs)), ("expected.hex", hex(&want64))];
    let Some(out) = run_icarus(tag, &files, &data) else {
        return;
    };
    assert!(
        out.contains(&format!("OK {}", want.len())),
        "{tag} under icarus:\n{out}"
    );
}

#[test]
fn lane_verilog_matches_core_under_icarus() {
    let runs = [Scheme::LUTNA, Scheme::ALUTNA, Scheme::ALUTNA_C].map(|s| (s, s));
    check_under_icarus(
        "lane-iverilog",
        generate_verilog(&SubMacLane::top()),
        &[],
        &runs,
    );
    let approx = [Scheme::ALUTNA, Scheme::ALUTNA_C].map(|s| (s, s));
    let verilog = generate_verilog(&SubMacLane::approximate_only());
    check_under_icarus("alutna-lane-iverilog", verilog, &[], &approx);
}

#[test]
fn tlut_lane_matches_core_under_icarus() {
    let verilog = generate_verilog(&TlutLane::top());
    check_under_icarus(
        "tlut-iverilog",
        verilog,
        &[],
        &[(Scheme::TLUT, Scheme::TLUT)],
    );
}

#[test]
fn baseline_lanes_match_core_under_icarus() {
    let runs = [(Scheme::LUTNA, Scheme::Exact)];
    check_under_icarus(
        "array-iverilog",
        generate_verilog(&ArrayMacLane::top()),
        &[],
        &runs,
    );
    check_under_icarus(
        "wallace-iverilog",
        generate_verilog(&WallaceMacLane::top()),
        &[],
        &runs,
    );
    // The DSP lane runs on yosys's own simulation model of SB_MAC16.
    let Ok(datdir) = std::process::Command::new("yosys-config")
        .arg("--datdir")
        .output()
    else {
        eprintln!("NOTE: yosys not installed: SB_MAC16 lane under Icarus SKIPPED (./tools/test.sh installs it)");
        return;
    };
    let cells = std::path::Path::new(String::from_utf8_lossy(&datdir.stdout).trim())
        .join("ice40/cells_sim.v");
    let model = std::fs::read_to_string(&cells).unwrap_or_else(|e| {
        panic!(
            "yosys is installed but {} is unreadable: {e}",
            cells.display()
        )
    });
    let lane = strip_blackbox(&generate_verilog(&DspMacLane::top()));
    assert!(
        !lane.contains("blackbox"),
        "the SB_MAC16 blackbox must be replaced by the model"
    );
    check_under_icarus("dsp-iverilog", lane, &[("cells_sim.v", model)], &runs);
}
