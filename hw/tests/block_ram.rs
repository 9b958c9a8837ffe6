//! `BlockRam` three ways on one random stream of reads and writes that often meet at one
//! address: the RustHDL model against a plain array (a read of the word written at the same edge
//! comes back inverted), the generated Verilog under Icarus (the same words, poison included),
//! and yosys `synth_ice40`, which must map it to block RAM alone, where rust-hdl's `RAM` of the
//! same shape needs flip-flops and LUTs around it.

use lutna_hw::memory::block_ram::BlockRam;
use lutna_hw::sim::{icarus_reads, run_icarus, synth_ice40_cells, tick, XorShift};
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// (read address, write address, data, write)
type Op = (u64, u64, u32, bool);

fn stream(n: usize) -> Vec<Op> {
    let mut rng = XorShift(0xb10c_4a11);
    (0..n)
        .map(|_| {
            let r = rng.next_u64();
            let read = r & 15;
            // A third of the writes go to the address read in the same cycle.
            let write_at = if (r >> 4).is_multiple_of(3) {
                read
            } else {
                (r >> 8) & 255
            };
            (read, write_at, (r >> 16) as u32, (r >> 48) & 1 == 1)
        })
        .collect()
}

fn connected() -> BlockRam<32, 8> {
    let mut uut = BlockRam::<32, 8>::default();
    uut.read_address.connect();
    uut.read_clock.connect();
    uut.write_address.connect();
    uut.write_clock.connect();
    uut.write_data.connect();
    uut.write_enable.connect();
    uut.connect_all();
    uut
}

/// A RAM with one clock on both ports, as the engine uses it (yosys only keeps read-old-data
/// when the two ports share a clock).
macro_rules! one_clock {
    ($name:ident, $ram:ty) => {
        #[derive(LogicBlock, Default)]
        struct $name {
            clock: Signal<In, Clock>,
            read_address: Signal<In, Bits<8>>,
            write_address: Signal<In, Bits<8>>,
            write_data: Signal<In, Bits<32>>,
            write_enable: Signal<In, bool>,
            read_data: Signal<Out, Bits<32>>,
            ram: $ram,
        }

        impl Logic for $name {
            #[hdl_gen]
            fn update(&mut self) {
                self.ram.read_clock.next = self.clock.val();
                self.ram.write_clock.next = self.clock.val();
                self.ram.read_address.next = self.read_address.val();
                self.ram.write_address.next = self.write_address.val();
                self.ram.write_data.next = self.write_data.val();
                self.ram.write_enable.next = self.write_enable.val();
                self.read_data.next = self.ram.read_data.val();
            }
        }

        impl $name {
            fn connected() -> Self {
                let mut uut = Self::default();
                uut.clock.connect();
                uut.read_address.connect();
                uut.write_address.connect();
                uut.write_data.connect();
                uut.write_enable.connect();
                uut.connect_all();
                uut
            }
        }
    };
}

one_clock!(OneClock, BlockRam<32, 8>);
one_clock!(OneClockPlain, RAM<Bits<32>, 8>);

fn model_reads(ops: &[Op]) -> Vec<u32> {
    let mut uut = OneClock::connected();
    let mut reads = vec![];
    for &(read, write_at, data, write) in ops {
        uut.read_address.next = read.into();
        uut.write_address.next = write_at.into();
        uut.write_data.next = (data as u64).into();
        uut.write_enable.next = write;
        tick(&mut uut, |u| &mut u.clock);
        assert!(simulate(&mut uut, 200));
        reads.push(uut.read_data.val().index() as u32);
    }
    reads
}

#[test]
fn the_model_reads_back_writes_and_poisons_a_read_of_the_word_being_written() {
    let ops = stream(3000);
    let mut words = [0u32; 256];
    let mut want = vec![];
    let mut collisions = 0;
    for &(read, write_at, data, write) in &ops {
        let old = words[read as usize];
        if write && write_at == read {
            collisions += 1;
            want.push(!old);
        } else {
            want.push(old);
        }
        if write {
            words[write_at as usize] = data;
        }
    }
    assert!(collisions > 200, "the stream must exercise collisions");
    let got = model_reads(&ops);
    let first_bad = got.iter().zip(&want).position(|(g, w)| g != w);
    assert_eq!(first_bad, None, "first differing read");
}

const TESTBENCH: &str = r#"
module tb;
  reg clock = 0;
  reg [48:0] op [0:NOPS-1];
  reg [7:0] read_address; reg [7:0] write_address; reg [31:0] write_data; reg write_enable;
  wire [31:0] read_data;
  top uut(.read_address(read_address), .read_clock(clock), .read_data(read_data),
          .write_address(write_address), .write_clock(clock), .write_data(write_data),
          .write_enable(write_enable));
  integer i;
  initial begin
    for (i = 0; i < 256; i = i + 1) uut.mem[i] = 0;
    $readmemh("ops.hex", op);
    for (i = 0; i < NOPS; i = i + 1) begin
      {read_address, write_address, write_data, write_enable} = op[i];
      #5 clock = 1;
      #1 $display("R %h", read_data);
      #4 clock = 0;
    end
    $display("DONE");
    $finish;
  end
endmodule
"#;

#[test]
fn the_verilog_under_icarus_reads_what_the_model_reads() {
    let ops = stream(1500);
    let verilog = generate_verilog(&connected());
    let mut hex = String::new();
    for &(read, write_at, data, write) in &ops {
        let v = read << 41 | write_at << 33 | (data as u64) << 1 | write as u64;
        writeln!(hex, "{v:013x}").unwrap();
    }
    let tb = TESTBENCH.replace("NOPS", &ops.len().to_string());
    let Some(out) = run_icarus(
        "block-ram",
        &[("tb.v", tb), ("top.v", verilog)],
        &[("ops.hex", hex)],
    ) else {
        return;
    };
    let got: Vec<u32> = icarus_reads(&out).iter().map(|&w| w as u32).collect();
    let model = model_reads(&ops);
    let first_bad = got.iter().zip(&model).position(|(g, w)| g != w);
    assert_eq!((got.len(), first_bad), (model.len(), None));
}

#[test]
fn yosys_maps_it_to_block_ram_alone_where_rust_hdls_ram_needs_logic() {
    let Some(cells) = synth_ice40_cells("block-ram", &generate_verilog(&OneClock::connected()))
    else {
        return;
    };
    // (One LUT4 is yosys' write-enable split over the two 16-bit halves.)
    assert!(
        cells.bram == 2 && cells.ff == 0 && cells.lut4 <= 1,
        "{cells:?}"
    );
    let Some(plain) = synth_ice40_cells(
        "rust-hdl-ram",
        &generate_verilog(&OneClockPlain::connected()),
    ) else {
        return;
    };
    assert!(
        plain.bram == 2 && plain.ff >= 32 && plain.lut4 >= 32,
        "rust-hdl's RAM keeps read-old-data with registers and a multiplexer: {plain:?}"
    );
}
