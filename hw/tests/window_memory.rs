//! `WindowMemory` (eight bytes at any alignment per cycle from the four SPRAMs, every byte kept
//! twice) on one random stream of byte writes and window reads: the RustHDL model against a plain
//! byte array, the generated Verilog under Icarus with yosys' model of the SPRAM primitive, and
//! yosys' placement (four SPRAMs, no block RAM).

use lutna_hw::memory::spram::ice40_primitive_sim;
use lutna_hw::memory::window_memory::WindowMemory;
use lutna_hw::sim::{icarus_reads, run_icarus, synth_ice40_cells, tick, XorShift};
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// The bytes the stream touches: a region written first (the chip's SPRAMs start undefined), so
/// every window read afterwards is of written bytes; plus a few far addresses.
const REGION: usize = 300;

#[derive(Clone, Copy)]
enum Op {
    Write(usize, u8),
    Read(usize),
    /// A window write into one copy (the parity of the address): data, byte mask.
    WriteWindow(usize, u64, u8),
}

/// The three window writes that store bytes `base..base + 8` (mask permitting) in both copies,
/// as the engine's drain does for a lane group.
fn group_write(base: usize, data: u64, mask: u8) -> [Op; 3] {
    [
        Op::WriteWindow(base, data, mask),
        Op::WriteWindow((base + 65535) % 65536, data << 8, mask << 1),
        Op::WriteWindow((base + 7) % 65536, data >> 56, mask >> 7),
    ]
}

fn stream(n: usize, groups: bool) -> Vec<Op> {
    let mut rng = XorShift(0x0dd_b1e5);
    let mut ops: Vec<Op> = (0..REGION).map(|a| Op::Write(a, (a * 7) as u8)).collect();
    // The top of the memory too (the odd copy's last pairs, SPRAM word 0x3fff).
    ops.extend((65536 - 16..65536).map(|a| Op::Write(a, a as u8 ^ 0x5a)));
    for _ in 0..n {
        let r = rng.next_u64();
        let far = r & 31 == 0;
        if groups && r >> 40 & 3 == 0 {
            // An even base, anywhere (including the wrap at the top).
            let base = if far {
                65536 - 8
            } else {
                ((r >> 12) as usize % REGION) & !1
            };
            let data = rng.next_u64();
            let mask = (r >> 48) as u8 | 1;
            ops.extend(group_write(base, data, mask));
            continue;
        }
        ops.push(if r >> 8 & 1 == 1 {
            let a = if far {
                65536 - 16 + (r >> 12) as usize % 16
            } else {
                (r >> 12) as usize % REGION
            };
            Op::Write(a, (r >> 32) as u8)
        } else {
            // Windows at the top wrap into bytes 0..6 (a map at address 0 read with left
            // padding starts its window at byte 65535).
            let a = if far {
                65536 - 16 + (r >> 12) as usize % 16
            } else {
                (r >> 12) as usize % (REGION - 7)
            };
            Op::Read(a)
        });
    }
    ops
}

fn connected() -> WindowMemory {
    let mut uut = WindowMemory::default();
    uut.clock.connect();
    uut.read_addr.connect();
    uut.write.connect();
    uut.write_addr.connect();
    uut.write_data.connect();
    uut.write_window.connect();
    uut.window_data.connect();
    uut.window_mask.connect();
    uut.connect_all();
    uut
}

/// The RustHDL model's windows, one per read.
fn model_windows(ops: &[Op]) -> Vec<u64> {
    let mut uut = connected();
    let mut out = vec![];
    for &op in ops {
        match op {
            Op::Write(a, d) => {
                uut.write.next = true;
                uut.write_addr.next = (a as u64).into();
                uut.write_data.next = (d as u64).into();
            }
            Op::Read(a) => {
                uut.write.next = false;
                uut.read_addr.next = (a as u64).into();
            }
            Op::WriteWindow(a, data, mask) => {
                uut.write.next = false;
                uut.write_window.next = true;
                uut.read_addr.next = (a as u64).into();
                uut.window_data.next = data.into();
                uut.window_mask.next = (mask as u64).into();
            }
        }
        tick(&mut uut, |u| &mut u.clock);
        uut.write_window.next = false;
        assert!(simulate(&mut uut, 200));
        if let Op::Read(_) = op {
            out.push(uut.window.val().to_u64());
        }
    }
    out
}

#[test]
fn every_window_reads_the_bytes_last_written() {
    let ops = stream(6000, true);
    let mut bytes = vec![0u8; 65536];
    let mut want = vec![];
    for &op in &ops {
        match op {
            Op::Write(a, d) => bytes[a] = d,
            Op::WriteWindow(a, data, mask) => {
                // Only whole group writes are in the stream: apply the group once, at its
                // first (even-copy) write.
                if a % 2 == 0 {
                    for i in 0..8 {
                        if mask >> i & 1 == 1 {
                            bytes[(a + i) % 65536] = (data >> (8 * i)) as u8;
                        }
                    }
                }
            }
            Op::Read(a) => {
                let w = (0..8).fold(0u64, |w, i| w | (bytes[(a + i) % 65536] as u64) << (8 * i));
                want.push(w);
            }
        }
    }
    let got = model_windows(&ops);
    assert!(got.len() > 2000);
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "read {k}: {g:016x} != {w:016x}");
    }
}

const TESTBENCH: &str = r#"
module tb;
  reg clock = 0;
  reg [24:0] op [0:NOPS-1];
  reg [15:0] addr; reg [7:0] data; reg write;
  wire [63:0] window;
  top uut(.clock(clock), .read_addr(addr), .window(window), .write(write), .write_addr(addr),
          .write_data(data));
  integer i;
  initial begin
    $readmemh("ops.hex", op);
    for (i = 0; i < NOPS; i = i + 1) begin
      {addr, data, write} = op[i];
      #5 clock = 1;
      #1 if (!write) $display("R %h", window);
      #4 clock = 0;
    end
    $display("DONE");
    $finish;
  end
endmodule
"#;

#[test]
fn the_verilog_under_icarus_reads_what_the_model_reads() {
    let Some(spram) = ice40_primitive_sim("SB_SPRAM256KA") else {
        eprintln!(
            "NOTE: yosys' ice40/cells_sim.v not found: the window memory Verilog check is SKIPPED"
        );
        return;
    };
    // Byte writes and reads (the testbench has no window writes; the virtual board's Verilator
    // runs exercise those through the same SB_SPRAM256KA model).
    let ops = stream(3000, false);
    let mut hex = String::new();
    for &op in &ops {
        let v = match op {
            Op::Write(a, d) => (a as u64) << 9 | (d as u64) << 1 | 1,
            Op::Read(a) => (a as u64) << 9,
            Op::WriteWindow(..) => unreachable!("not in the byte-write stream"),
        };
        writeln!(hex, "{v:07x}").unwrap();
    }
    let verilog = generate_verilog(&connected());
    let tb = TESTBENCH.replace("NOPS", &ops.len().to_string());
    let Some(out) = run_icarus(
        "window-memory",
        &[("tb.v", tb), ("top.v", verilog), ("spram.v", spram)],
        &[("ops.hex", hex)],
    ) else {
        return;
    };
    let got = icarus_reads(&out);
    let want = model_windows(&ops);
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "read {k}: Icarus {g:016x}, RustHDL {w:016x}");
    }
}

#[test]
fn yosys_places_it_in_the_four_sprams() {
    let Some(cells) = synth_ice40_cells("window-memory", &generate_verilog(&connected())) else {
        return;
    };
    eprintln!("window memory on the UP5K: {cells:?}");
    assert_eq!((cells.spram, cells.bram), (4, 0), "{cells:?}");
    // 335 LUT4 with byte writes only; the window writes' data and mask routing (16 bits and a
    // 2-bit mask, four ways, per SPRAM) doubled that: 680 (2026-11-29).
    assert!(cells.lut4 < 750, "{cells:?}");
}
