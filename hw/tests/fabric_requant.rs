//! The fabric (lane array + requantizer stage) against lutna-core: random output-channel jobs in
//! every lane mode, drained through the requantizer with random multipliers, shifts and output
//! kinds; every output byte must equal `Requant::apply` of bias plus the sum of
//! `Scheme::product`. The same input stream is then replayed on the generated Verilog under
//! Icarus Verilog, which must produce the same bytes in the same order.

use lutna_core::arith::{ActKind, LaneMode, Requant, Scheme};
use lutna_hw::datapath::fabric::Fabric;
use lutna_hw::sim::{run_icarus, tick, validate_with_yosys, XorShift};
use lutna_hw::Requantizer;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// One cycle's inputs, in the order the Icarus testbench unpacks them.
#[derive(Clone, Copy, Default)]
struct Inputs {
    table_write: bool,
    table_addr: u8,
    table_data: u32,
    activations: u64,
    negative: bool,
    mode: u8,
    valid: bool,
    clear: bool,
    bias: u32,
    drain: bool,
    mult: u16,
    shift: u8,
    signed_out: bool,
}

impl Inputs {
    /// {table_write, table_addr[3:0], table_data[15:0], activations[8P-1:0], negative, mode[1:0],
    ///  valid, clear, bias[31:0], drain, mult[15:0], shift[5:0], signed_out} as one binary word
    /// (wider than any integer type for P = 8).
    fn packed(&self, lanes: usize) -> String {
        let mut v = String::new();
        let mut put = |x: u64, w: usize| {
            for b in (0..w).rev() {
                v.push(if (x >> b) & 1 == 1 { '1' } else { '0' });
            }
        };
        put(self.table_write as u64, 1);
        put(self.table_addr as u64, 4);
        put(self.table_data as u64, 16);
        put(self.activations, 8 * lanes);
        put(self.negative as u64, 1);
        put(self.mode as u64, 2);
        put(self.valid as u64, 1);
        put(self.clear as u64, 1);
        put(self.bias as u64, 32);
        put(self.drain as u64, 1);
        put(self.mult as u64, 16);
        put(self.shift as u64, 6);
        put(self.signed_out as u64, 1);
        v
    }
}

struct Run<const P: usize, const PB: usize> {
    uut: Fabric<P, PB>,
    stream: Vec<Inputs>,
    /// (lane, byte) as the fabric emitted them.
    outputs: Vec<(usize, u8)>,
}

impl<const P: usize, const PB: usize> Run<P, PB> {
    fn step(&mut self, i: Inputs) {
        let u = &mut self.uut;
        u.table.write.next = i.table_write;
        u.table.address.next = (i.table_addr as u64).into();
        u.table.data.next = (i.table_data as u64).into();
        u.operands.activation.next = i.activations.into();
        u.operands.negative.next = i.negative;
        u.operands.mode.next = (i.mode as u64).into();
        u.operands.valid.next = i.valid;
        u.clear.next = i.clear;
        u.bias.next = (i.bias as u64).into();
        u.drain.next = i.drain;
        u.mult.next = (i.mult as u64).into();
        u.shift.next = (i.shift as u64).into();
        u.signed_out.next = i.signed_out;
        tick(u, |u| &mut u.clock);
        self.stream.push(i);
        if self.uut.out_valid.val() {
            let lane = self.uut.out_lane.val().index();
            self.outputs.push((lane, self.uut.out.val().index() as u8));
        }
    }
}

fn run_jobs<const P: usize, const PB: usize>(jobs: usize, seed: u64) -> Run<P, PB> {
    let mut rng = XorShift(seed);
    let mut run = Run::<P, PB> {
        uut: Fabric::top(),
        stream: vec![],
        outputs: vec![],
    };
    let mut want = vec![];
    for job in 0..jobs {
        let scheme = [Scheme::LUTNA, Scheme::ALUTNA, Scheme::ALUTNA_C][job % 3];
        let Scheme::Lut(lut) = scheme else {
            unreachable!()
        };
        let mode = LaneMode::for_scheme(scheme, 4).unwrap().code();
        let bias = (rng.next_u64() as i32) >> (rng.next_u64() % 24 + 8);
        let mut acc = [bias; P];
        let idle = Inputs {
            mode,
            ..Default::default()
        };
        run.step(Inputs {
            clear: true,
            bias: bias as u32,
            ..idle
        });
        for _ in 0..(rng.next_u64() % 12 + 1) {
            let m = (rng.next_u64() % 255 + 1) as i16;
            let w = if rng.next_u64().is_multiple_of(2) {
                m
            } else {
                -m
            };
            for (j, &v) in lut.tables(m as u8)[0].iter().enumerate() {
                run.step(Inputs {
                    table_write: true,
                    table_addr: j as u8,
                    table_data: v,
                    ..idle
                });
            }
            let acts: Vec<u8> = (0..P).map(|_| rng.next_u64() as u8).collect();
            run.step(Inputs {
                activations: acts.iter().rev().fold(0u64, |p, &a| (p << 8) | a as u64),
                negative: w < 0,
                valid: true,
                ..idle
            });
            for (s, &a) in acc.iter_mut().zip(&acts) {
                *s = s.wrapping_add(scheme.product(a, w));
            }
        }
        // Let the last products land, then drain with this channel's requantization.
        run.step(idle);
        run.step(idle);
        let requant =
            Requant::from_real(10f64.powf(-((rng.next_u64() % 60) as f64) / 10.0)).unwrap();
        let kind = if rng.next_u64().is_multiple_of(4) {
            ActKind::I8
        } else {
            ActKind::U8
        };
        let drain = Inputs {
            mult: requant.mult as u16,
            shift: requant.shift as u8,
            signed_out: kind == ActKind::I8,
            ..idle
        };
        run.step(Inputs {
            drain: true,
            ..drain
        });
        for _ in 0..P + 1 + Requantizer::LATENCY {
            run.step(drain);
        }
        for (i, &s) in acc.iter().enumerate() {
            want.push((i, requant.apply(s, kind) as u8));
        }
    }
    assert_eq!(run.outputs.len(), want.len(), "one byte per lane per drain");
    for (k, (got, want)) in run.outputs.iter().zip(&want).enumerate() {
        assert_eq!(got, want, "output {k} (lane, byte)");
    }
    run
}

const TESTBENCH: &str = r#"
module tb;
  reg clock = 0;
  reg [WIDTH-1:0] vec [0:NVEC-1];
  reg table_write; reg [3:0] table_addr; reg [15:0] table_data; reg [ACTW-1:0] activations;
  reg negative; reg [1:0] mode; reg valid; reg clear; reg [31:0] bias; reg drain;
  reg [15:0] mult; reg [5:0] shift; reg signed_out;
  wire draining; wire [7:0] out; wire [4:0] out_lane; wire out_valid;
  top uut(.clock(clock), .table$write(table_write), .table$address(table_addr),
    .table$data(table_data), .operands$activation(activations), .operands$negative(negative),
    .operands$mode(mode), .operands$valid(valid), .clear(clear), .bias(bias), .drain(drain), .mult(mult), .shift(shift),
    .signed_out(signed_out), .draining(draining), .out(out), .out_lane(out_lane),
    .out_valid(out_valid));
  integer i;
  initial begin
    $readmemb("vectors.bin", vec);
    for (i = 0; i < NVEC; i = i + 1) begin
      {table_write, table_addr, table_data, activations, negative, mode, valid, clear, bias,
       drain, mult, shift, signed_out} = vec[i];
      #5 clock = 1;
      #1 if (out_valid) $display("OUT %0d %0d", out_lane, out);
      #4 clock = 0;
    end
    $display("END");
    $finish;
  end
endmodule
"#;

fn replay_under_icarus<const P: usize, const PB: usize>(run: &Run<P, PB>) {
    let width = 4 + 16 + 8 * P + 1 + 2 + 1 + 1 + 32 + 1 + 16 + 6 + 1 + 1;
    let bin = run.stream.iter().fold(String::new(), |mut s, i| {
        writeln!(s, "{}", i.packed(P)).unwrap();
        s
    });
    let tb = TESTBENCH
        .replace("NVEC", &run.stream.len().to_string())
        .replace("ACTW", &(8 * P).to_string())
        .replace("WIDTH", &width.to_string());
    let files = [
        ("tb.v", tb),
        ("fabric.v", generate_verilog(&Fabric::<P, PB>::top())),
    ];
    let Some(out) = run_icarus(
        &format!("fabric{P}-iverilog"),
        &files,
        &[("vectors.bin", bin)],
    ) else {
        return;
    };
    assert!(out.contains("END"), "icarus run did not finish:\n{out}");
    let got: Vec<(usize, u8)> = out
        .lines()
        .filter_map(|l| l.strip_prefix("OUT "))
        .map(|l| {
            let mut f = l.split(' ').map(|x| x.parse::<usize>().unwrap());
            (f.next().unwrap(), f.next().unwrap() as u8)
        })
        .collect();
    assert_eq!(
        got.len(),
        run.outputs.len(),
        "icarus emitted a different number of bytes"
    );
    assert_eq!(got, run.outputs, "icarus and RustHDL disagree");
}

#[test]
fn four_lane_fabric_requantizes_like_core_in_rusthdl_and_icarus() {
    let run = run_jobs::<4, 32>(240, 0xA5A5_1234_0F0F_7777);
    replay_under_icarus(&run);
}

#[test]
fn eight_lane_fabric_requantizes_like_core_and_passes_yosys() {
    let run = run_jobs::<8, 64>(90, 0x1357_9BDF_2468_ACE0);
    replay_under_icarus(&run);
    validate_with_yosys("lutna_fabric8", &generate_verilog(&Fabric::<8, 64>::top()));
}
