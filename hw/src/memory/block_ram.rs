//! `BlockRam<W, N>`: a RAM of `2^N` words of `W` bits with one registered read port and one write
//! port on the same clock, the shape of an iCE40 `SB_RAM40_4K`, and the port list of rust-hdl's
//! `RAM` (so swapping one for the other is a type change).
//!
//! Why not rust-hdl's `RAM`: its Verilog promises that a read of the address written in the same
//! cycle returns the old word. The iCE40's block RAM makes no such promise, so yosys keeps it by
//! logic of its own around every memory: a register of the write data and address and a
//! comparator and multiplexer on the read data. In the 4-lane accelerator that was 658
//! flip-flops and about 330 LUT4s, 969 of 8,685 logic cells after packing (docs/history/first-engine-fit.md).
//! None of the engine's memories needs it: a unit never uses a word it reads in the cycle the
//! word is written.
//!
//! So this block tells yosys not to keep that promise (`no_rw_check`), and checks instead that
//! nothing relies on it: in simulation, RustHDL's and the generated Verilog's outside synthesis
//! (Icarus, Verilator), such a read returns the bitwise inverse of the old word, so a design that
//! used it would fail its bit-exact tests.

use rust_hdl::prelude::*;
use std::collections::BTreeMap;

#[derive(LogicBlock, Default)]
pub struct BlockRam<const W: usize, const N: usize> {
    pub read_address: Signal<In, Bits<N>>,
    pub read_clock: Signal<In, Clock>,
    pub read_data: Signal<Out, Bits<W>>,
    pub write_address: Signal<In, Bits<N>>,
    pub write_clock: Signal<In, Clock>,
    pub write_data: Signal<In, Bits<W>>,
    pub write_enable: Signal<In, bool>,
    _words: BTreeMap<Bits<N>, Bits<W>>,
}

impl<const W: usize, const N: usize> BlockRam<W, N> {
    /// A RAM whose word `i` starts as `words[i]` (the rest 0): in simulation and, by an `initial`
    /// block, in the bitstream.
    pub fn with_contents(words: impl IntoIterator<Item = u64>) -> Self {
        let words = words
            .into_iter()
            .enumerate()
            .map(|(i, w)| (Bits::<N>::from(i as u64), Bits::<W>::from(w)))
            .collect();
        Self {
            _words: words,
            ..Default::default()
        }
    }

    /// Word `i` as the RAM holds it now (simulation only).
    pub fn peek(&self, i: usize) -> u64 {
        self._words
            .get(&Bits::<N>::from(i as u64))
            .map_or(0, |w| w.to_u64())
    }
}

impl<const W: usize, const N: usize> Logic for BlockRam<W, N> {
    fn update(&mut self) {
        if self.read_clock.pos_edge() {
            let old = self
                ._words
                .get(&self.read_address.val())
                .copied()
                .unwrap_or_default();
            let collides = self.write_clock.pos_edge()
                && self.write_enable.val()
                && self.write_address.val() == self.read_address.val();
            self.read_data.next = if collides { !old } else { old };
        }
        if self.write_clock.pos_edge() && self.write_enable.val() {
            self._words
                .insert(self.write_address.val(), self.write_data.val());
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn hdl(&self) -> Verilog {
        let init = if self._words.is_empty() {
            String::new()
        } else {
            let lines: Vec<String> = self
                ._words
                .iter()
                .map(|(a, w)| format!("    mem[{}] = {};", a.verilog(), w.verilog()))
                .collect();
            format!("initial begin\n{}\nend\n", lines.join("\n"))
        };
        Verilog::Custom(format!(
            "\
(* no_rw_check *)
reg[{top}:0] mem[{last}:0];

{init}
always @(posedge read_clock) begin
`ifndef SYNTHESIS
   if (write_enable && write_address == read_address)
      read_data <= ~mem[read_address];
   else
`endif
   read_data <= mem[read_address];
end

always @(posedge write_clock) begin
   if (write_enable) begin
      mem[write_address] <= write_data;
   end
end
",
            top = W - 1,
            last = (1usize << N) - 1,
        ))
    }
}
