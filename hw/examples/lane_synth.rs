//! Synthesizes one lane kind or lane array for the iCE40UP5K and prints its resources and
//! post-route fmax.
//!
//! cargo run --release -p lutna-hw --example lane_synth [-- KIND [FREQ_MHZ [nobram] [hx8k] [dsp]]]
//!
//! KIND: `lutna` (runtime LUT-NA / A-LUT-NA lane), `alutna` (A-LUT-NA-only lane), `tlut`
//! (traditional LUT, k = 8), `array`, `wallace`, `dsp` (the multiplier baselines), or `fabricP`
//! for P in 1, 2, 4, 8, 16 (P LUT-NA lanes with their accumulators, each lane with its own
//! block-RAM bank: `LaneArray`), or `fabric8-requant` (`Fabric<8>`: `LaneArray<8>` plus the
//! requantizer).
//!
//! `nobram` asks yosys to build the tables from flip-flops and LUT multiplexers instead of block
//! RAM (`synth_ice40 -nobram`): the other way to hold a bank on the iCE40. `hx8k` places on the
//! iCE40HX8K (CT256) instead of the UP5K (SG48). `dsp` lets yosys map wide multiplies (the
//! requantizer's) onto SB_MAC16 blocks (`synth_ice40 -dsp`).
//!
//! The lane has more ports than the SG48 package has pins, so place-and-route runs on a measuring
//! harness: a serial shift chain loads the lane's inputs and a second one shifts its registered
//! outputs out (3 pins). Resources are reported twice: the lane alone (yosys `synth_ice40` +
//! `stat`, what the lane costs inside a fabric) and the placed harness (nextpnr's utilisation,
//! which includes the ~66 flip-flops of the chains). fmax is nextpnr's post-route figure for the
//! harness clock, whose critical path runs through the lane (RAM read, shift-add, negate).

use lutna_hw::datapath::fabric::{Fabric, LaneArray};
use lutna_hw::{ArrayMacLane, DspMacLane, SubMacLane, TlutLane, WallaceMacLane};
use rust_hdl::prelude::*;
use std::process::Command;

/// Inputs and outputs of each measured unit, in port order: (name, width).
/// A port list: (name, width) in order.
type Ports = Vec<(&'static str, usize)>;

fn ports(kind: &str) -> (Ports, Ports) {
    let outs = vec![("product", 32), ("product_valid", 1)];
    match kind {
        "tlut" => (
            vec![
                ("table$write", 1),
                ("table$address", 8),
                ("table$data", 16),
                ("operands$activation", 8),
                ("operands$negative", 1),
                ("operands$valid", 1),
            ],
            outs,
        ),
        "lutna" | "alutna" | "array" | "wallace" | "dsp" => (
            vec![
                ("table$write", 1),
                ("table$address", 4),
                ("table$data", 16),
                ("operands$activation", 8),
                ("operands$negative", 1),
                ("operands$mode", 2),
                ("operands$valid", 1),
            ],
            outs,
        ),
        "fabric8-requant" => (
            vec![
                ("table$write", 1),
                ("table$address", 4),
                ("table$data", 16),
                ("operands$activation", 64),
                ("operands$negative", 1),
                ("operands$mode", 2),
                ("operands$valid", 1),
                ("clear", 1),
                ("bias", 32),
                ("drain", 1),
                ("mult", 16),
                ("shift", 6),
                ("signed_out", 1),
            ],
            vec![
                ("draining", 1),
                ("out", 8),
                ("out_lane", 5),
                ("out_valid", 1),
            ],
        ),
        _ => (
            vec![
                ("table$write", 1),
                ("table$address", 4),
                ("table$data", 16),
                ("operands$activation", 8 * lanes_of(kind)),
                ("operands$negative", 1),
                ("operands$mode", 2),
                ("operands$valid", 1),
                ("clear", 1),
                ("bias", 32),
                ("sum_select", 5),
            ],
            vec![("sum", 32)],
        ),
    }
}

/// P of a `fabricP` kind.
fn lanes_of(kind: &str) -> usize {
    kind.trim_start_matches("fabric")
        .parse()
        .unwrap_or_else(|_| {
            panic!("unknown unit '{kind}': see the list at the top of lane_synth.rs")
        })
}

/// The measuring harness around module `top`: a serial chain loads every input, and the outputs
/// are captured and shifted out, so the placed design needs three pins.
fn harness(kind: &str) -> String {
    let (ins, outs) = ports(kind);
    let n_in: usize = ins.iter().map(|p| p.1).sum();
    let n_out: usize = outs.iter().map(|p| p.1).sum();
    let mut wires = String::new();
    let mut conns = vec![];
    let mut at = n_in;
    for (name, w) in &ins {
        at -= w;
        conns.push(format!(".{name}(in_chain[{}:{}])", at + w - 1, at));
    }
    let mut captured = vec![];
    for (name, w) in &outs {
        wires += &format!("  wire [{}:0] {name};\n", w - 1);
        conns.push(format!(".{name}({name})"));
        captured.push(name.to_string());
    }
    format!(
        r#"
module harness(input clk, input sin, output sout);
  reg [{hi_in}:0] in_chain = 0;
  reg [{hi_out}:0] out_chain = 0;
  reg [7:0] count = 0;
{wires}  always @(posedge clk) begin
    in_chain <= {{in_chain[{hi_in_m1}:0], sin}};
    count <= count + 1;
    if (count == 0) out_chain <= {{{cap}}};
    else out_chain <= {{out_chain[{hi_out_m1}:0], 1'b0}};
  end
  assign sout = out_chain[{hi_out}];
  top unit(.clock(clk), {conns});
endmodule
"#,
        hi_in = n_in - 1,
        hi_in_m1 = n_in - 2,
        hi_out = n_out - 1,
        hi_out_m1 = n_out - 2,
        cap = captured.join(", "),
        conns = conns.join(", "),
    )
}

/// Runs a tool; Err carries its output when it exits non-zero.
fn run(dir: &std::path::Path, cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {cmd} ({e}); install with: apt-get install yosys nextpnr-ice40")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

fn main() {
    let kind = std::env::args().nth(1).unwrap_or_else(|| "lutna".into());
    let freq = std::env::args().nth(2).unwrap_or_else(|| "24".into());
    let flags: Vec<String> = std::env::args().skip(3).collect();
    let nobram = flags.iter().any(|a| a == "nobram");
    let (device, package, device_name) = if flags.iter().any(|a| a == "hx8k") {
        ("--hx8k", "ct256", "iCE40HX8K-CT256")
    } else {
        ("--up5k", "sg48", "iCE40UP5K-SG48")
    };
    let synth = format!(
        "synth_ice40{}{}",
        if nobram { " -nobram" } else { "" },
        if flags.iter().any(|a| a == "dsp") {
            " -dsp"
        } else {
            ""
        }
    );
    let verilog = match kind.as_str() {
        "lutna" => generate_verilog(&SubMacLane::top()),
        "alutna" => generate_verilog(&SubMacLane::approximate_only()),
        "tlut" => generate_verilog(&TlutLane::top()),
        "array" => generate_verilog(&ArrayMacLane::top()),
        "wallace" => generate_verilog(&WallaceMacLane::top()),
        "dsp" => generate_verilog(&DspMacLane::top()),
        "fabric1" => generate_verilog(&LaneArray::<1, 8>::top()),
        "fabric2" => generate_verilog(&LaneArray::<2, 16>::top()),
        "fabric4" => generate_verilog(&LaneArray::<4, 32>::top()),
        "fabric8" => generate_verilog(&LaneArray::<8, 64>::top()),
        "fabric16" => generate_verilog(&LaneArray::<16, 128>::top()),
        "fabric8-requant" => generate_verilog(&Fabric::<8, 64>::top()),
        other => panic!("unknown unit '{other}': see the list at the top of lane_synth.rs"),
    };
    let dir = std::env::temp_dir().join(format!("lutna-lane-synth-{kind}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("lane.v"), verilog).unwrap();
    std::fs::write(dir.join("harness.v"), harness(&kind)).unwrap();
    run(
        &dir,
        "yosys",
        &[
            "-q",
            "-p",
            &format!("read_verilog lane.v; {synth} -top top; tee -o lane_stat.txt stat"),
        ],
    )
    .unwrap_or_else(|e| panic!("yosys failed:\n{e}"));
    let stat = std::fs::read_to_string(dir.join("lane_stat.txt")).unwrap();
    println!("{kind} alone (yosys {synth}):");
    for line in stat
        .lines()
        .filter(|l| l.contains("SB_") || l.contains("Number of cells"))
    {
        println!("  {}", line.trim());
    }
    run(
        &dir,
        "yosys",
        &[
            "-q",
            "-p",
            &format!("read_verilog lane.v harness.v; {synth} -top harness -json harness.json"),
        ],
    )
    .unwrap_or_else(|e| panic!("yosys failed:\n{e}"));
    let pnr = run(
        &dir,
        "nextpnr-ice40",
        &[
            device,
            "--package",
            package,
            "--json",
            "harness.json",
            "--freq",
            &freq,
            "--pcf-allow-unconstrained",
            "--asc",
            "harness.asc",
        ],
    );
    // A design that does not fit is a result, not a crash: report what nextpnr said.
    let (placed, pnr) = match pnr {
        Ok(t) => (true, t),
        Err(t) => (false, t),
    };
    println!("placed harness on {device_name} (nextpnr, target {freq} MHz):");
    let mut in_util = false;
    for line in pnr.lines() {
        if line.contains("Device utilisation") {
            in_util = true;
            continue;
        }
        if in_util {
            if line.trim_start_matches("Info:").trim().is_empty() {
                in_util = false;
            } else if ["ICESTORM_LC", "ICESTORM_RAM", "SB_IO", "ICESTORM_DSP"]
                .iter()
                .any(|k| line.contains(k))
            {
                println!("  {}", line.trim_start_matches("Info:").trim());
            }
        }
    }
    if !placed {
        let why = pnr
            .lines()
            .rfind(|l| l.contains("ERROR"))
            .unwrap_or("nextpnr failed");
        println!("  DOES NOT FIT / FAILED: {}", why.trim());
        std::process::exit(1);
    }
    if let Some(l) = pnr.lines().rfind(|l| l.contains("Max frequency for clock")) {
        println!("  post-route: {}", l.trim_start_matches("Info:").trim());
    }
}
