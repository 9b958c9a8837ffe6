//! `Spram`: one of the iCE40UP5K's four single-port RAMs (`SB_SPRAM256KA`: 16 K words of 16 bits,
//! 256 Kbit) as a RustHDL block: a behavioural model in simulation, the primitive itself in the
//! generated Verilog, so yosys places it without inference rules (it infers SPRAM only for
//! memories of exactly this shape, and the engine's are not). Four of them hold the engine's
//! activations ([`crate::engine::activations::ActivationMemory`], docs/engine.md).
//!
//! One access per clock: a read (data on `read_data` after the edge) or a write of the nibbles
//! `write_mask` selects. On hardware the output is undefined after a write; the model drives
//! [`Spram::AFTER_WRITE`] so a design that reads it is caught in simulation. The primitive is held
//! selected and powered (CHIPSELECT 1, STANDBY 0, SLEEP 0, POWEROFF 1). Its contents are
//! undefined at power-up: a bitstream cannot initialize an SPRAM, so the model starts from zeros
//! only for repeatable tests, and whatever uses it must be loaded by the host.
//!
//! On a board without SPRAM (the ECP5 build, [`Family::Ecp5`]) the same block's Verilog is a
//! behavioural memory of the same shape and timing, which yosys maps to block RAM.

use crate::memory::Family;
use rust_hdl::prelude::*;

/// Address bits of one SPRAM (16 K words).
pub const SPRAM_BITS: usize = 14;

#[derive(LogicBlock)]
pub struct Spram {
    pub clock: Signal<In, Clock>,
    pub address: Signal<In, Bits<SPRAM_BITS>>,
    pub write_data: Signal<In, Bits<16>>,
    /// Nibbles written when `write_enable` (bit i: data bits 4i..4i+3).
    pub write_mask: Signal<In, Bits<4>>,
    pub write_enable: Signal<In, bool>,
    pub read_data: Signal<Out, Bits<16>>,
    _words: Vec<u16>,
    /// What the generated Verilog is: the primitive or a behavioural memory.
    _family: Family,
    /// Address bits the memory holds words for: [`SPRAM_BITS`] (the primitive's), fewer for a
    /// smaller behavioural bank (the upper address bits are then 0).
    _words_bits: usize,
}

impl Default for Spram {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            address: Default::default(),
            write_data: Default::default(),
            write_mask: Default::default(),
            write_enable: Default::default(),
            read_data: Default::default(),
            _words: vec![0; 1 << SPRAM_BITS],
            _family: Family::Ice40,
            _words_bits: SPRAM_BITS,
        }
    }
}

impl Spram {
    /// What the model's `read_data` shows after a write cycle (undefined on the chip).
    pub const AFTER_WRITE: u16 = 0xdead;

    /// Simulation only: sets word `at` of the model, as if written before the test starts (the
    /// generated Verilog is not affected: an SPRAM cannot be initialized by a bitstream).
    pub fn preload(&mut self, at: usize, word: u16) {
        self._words[at] = word;
    }

    /// A memory of 2^`words_bits` words with the same ports and timing: behavioural only (a
    /// bank of the ECP5's activation memory), the address's upper bits 0.
    pub fn with_words_bits(words_bits: usize) -> Self {
        assert!(words_bits <= SPRAM_BITS);
        Self {
            _words: vec![0; 1 << words_bits],
            _words_bits: words_bits,
            ..Self::default()
        }
    }

    /// Chooses the Verilog this block generates (the simulation model is the same for both).
    /// The iCE40's primitive has 16 K words: a smaller memory is for the ECP5 only.
    pub fn set_family(&mut self, family: Family) {
        assert!(
            family == Family::Ecp5 || self._words_bits == SPRAM_BITS,
            "an SPRAM of 2^{} words has no iCE40 primitive",
            self._words_bits
        );
        self._family = family;
    }

    /// Simulation only: word `at` of the model.
    pub fn peek(&self, at: usize) -> u16 {
        self._words[at]
    }
}

impl Logic for Spram {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let at = self.address.val().index() & (self._words.len() - 1);
            if self.write_enable.val() {
                let data = self.write_data.val().index() as u16;
                let mask = self.write_mask.val().index();
                let mut word = self._words[at];
                for nibble in 0..4 {
                    if mask & (1 << nibble) != 0 {
                        let bits = 0xf << (4 * nibble);
                        word = (word & !bits) | (data & bits);
                    }
                }
                self._words[at] = word;
                self.read_data.next = (Self::AFTER_WRITE as u64).into();
            } else {
                self.read_data.next = (self._words[at] as u64).into();
            }
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn hdl(&self) -> Verilog {
        if self._family == Family::Ecp5 {
            // The same port timing as the primitive: one access per clock, the read registered,
            // a write's nibbles selected by the mask; the read data after a write is left as it
            // was (undefined on the primitive, and never read by the engine).
            return Verilog::Custom(format!(
                "\
reg [15:0] mem [0:{last}];
wire [{top}:0] word = address[{top}:0];
always @(posedge clock) begin
    if (write_enable) begin
        if (write_mask[0]) mem[word][3:0] <= write_data[3:0];
        if (write_mask[1]) mem[word][7:4] <= write_data[7:4];
        if (write_mask[2]) mem[word][11:8] <= write_data[11:8];
        if (write_mask[3]) mem[word][15:12] <= write_data[15:12];
    end else begin
        read_data <= mem[word];
    end
end
",
                last = (1usize << self._words_bits) - 1,
                top = self._words_bits - 1
            ));
        }
        Verilog::Wrapper(Wrapper {
            code: "SB_SPRAM256KA ram (.ADDRESS(address), .DATAIN(write_data), \
                   .MASKWREN(write_mask), .WREN(write_enable), .CHIPSELECT(1'b1), \
                   .CLOCK(clock), .STANDBY(1'b0), .SLEEP(1'b0), .POWEROFF(1'b1), \
                   .DATAOUT(read_data));"
                .into(),
            cores: String::new(),
        })
    }
}

/// yosys' simulation model of one iCE40 primitive (`SB_SPRAM256KA`, ...), cut from the
/// `ice40/cells_sim.v` it ships, for Icarus or Verilator runs of Verilog that instantiates it
/// (the whole file needs SystemVerilog port defaults). None when yosys' share folder or the
/// module is not found.
pub fn ice40_primitive_sim(name: &str) -> Option<String> {
    let datdir = std::process::Command::new("yosys-config")
        .arg("--datdir")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/usr/share/yosys".into());
    let cells =
        std::fs::read_to_string(std::path::Path::new(&datdir).join("ice40/cells_sim.v")).ok()?;
    let start = cells.find(&format!("module {name} ("))?;
    let end = start + cells[start..].find("endmodule")? + "endmodule".len();
    Some(cells[start..end].to_string() + "\n")
}
