//! `WindowMemory`: 64 KiB of activations in the UP5K's four SPRAMs, read as any eight consecutive
//! bytes per cycle, whatever their alignment: what eight conv lanes need when a tap's column
//! offset shifts their window (docs/fpga-fit.md). The layer engine's activation memory.
//!
//! Every byte is kept twice, as byte pairs of two copies: the *even* copy holds pairs (2k, 2k+1),
//! pair k in SPRAM k % 4 at word k / 4; the *odd* copy holds pairs (2k+1, 2k+2), pair k in SPRAM
//! (k + 2) % 4 at word 8192 + k / 4. A window starting at an even byte is four consecutive even
//! pairs, at an odd byte four consecutive odd pairs: either way four different SPRAMs, one read
//! each. The two copies of a byte also sit in different SPRAMs (the copies' SPRAM numbers differ by
//! 2, or by 1 for the even byte's odd-copy pair), so a byte is written in one cycle, with the
//! SPRAMs' nibble masks picking its half of each pair.
//!
//! One access per cycle: a window read, a byte write (both copies), or a *window write*: up to
//! eight bytes from `read_addr` on, picked by a byte mask, into the one copy a read there would
//! use (the even copy at an even address, the odd copy at an odd one). A group of eight output
//! bytes at an even address B takes three window writes: at B (even copy), at B - 1 (the odd
//! copy of bytes B..B+6) and at B + 7 (the odd copy of byte B+7). A write wins over a read in its
//! cycle, and the window after a write cycle is undefined. The window arrives one cycle after its
//! address, byte i of the window in bits 8i..8i+7.

use crate::memory::spram::Spram;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct WindowMemory {
    pub clock: Signal<In, Clock>,
    /// First byte of the window to read.
    pub read_addr: Signal<In, Bits<16>>,
    /// Bytes read_addr .. read_addr + 7 of the previous cycle's read.
    pub window: Signal<Out, Bits<64>>,
    pub write: Signal<In, bool>,
    pub write_addr: Signal<In, Bits<16>>,
    pub write_data: Signal<In, Bits<8>>,
    /// Window write at `read_addr`: byte i of `window_data` where bit i of `window_mask` is set.
    pub write_window: Signal<In, bool>,
    pub window_data: Signal<In, Bits<64>>,
    pub window_mask: Signal<In, Bits<8>>,
    sprams: [Spram; 4],
    /// The pair of the window's first byte (even copy: bytes 2k, 2k+1; odd copy: 2k+1, 2k+2).
    first_pair: Signal<Local, Bits<16>>,
    odd: Signal<Local, bool>,
    /// Window slot (0..3) each SPRAM serves, and that slot's pair. 16 bits wide, with the 2-bit
    /// wrap made by a mask: RustHDL's and Verilog's widths then agree (the lutna-hw crate doc).
    slot: [Signal<Local, Bits<16>>; 4],
    pair: [Signal<Local, Bits<16>>; 4],
    /// A window write's two byte enables for each SPRAM's pair.
    slot_mask: [Signal<Local, Bits<2>>; 4],
    /// The write's pair in each copy (the odd copy's wraps: byte 0 is the high byte of its
    /// last pair, 32767, so a window may start at byte 65535, as the left padding of a map at
    /// address 0 does).
    even_pair: Signal<Local, Bits<16>>,
    odd_pair: Signal<Local, Bits<16>>,
    odd_pair_spram: Signal<Local, Bits<2>>,
    /// Sums whose low bits are taken (Verilog cannot part-select an expression).
    first_pair_plus2: Signal<Local, Bits<16>>,
    odd_pair_plus2: Signal<Local, Bits<16>>,
    pair_data: Signal<Local, Bits<16>>,
    /// Registered for the cycle the SPRAMs answer: which SPRAM holds window slot 0.
    slot0_spram: DFF<Bits<2>>,
    spram_id: [Constant<Bits<16>>; 4],
}

impl Default for WindowMemory {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            read_addr: Default::default(),
            window: Default::default(),
            write: Default::default(),
            write_addr: Default::default(),
            write_data: Default::default(),
            write_window: Default::default(),
            window_data: Default::default(),
            window_mask: Default::default(),
            sprams: std::array::from_fn(|_| Spram::default()),
            first_pair: Default::default(),
            first_pair_plus2: Default::default(),
            odd_pair_plus2: Default::default(),
            odd: Default::default(),
            slot: Default::default(),
            pair: Default::default(),
            slot_mask: Default::default(),
            even_pair: Default::default(),
            odd_pair: Default::default(),
            odd_pair_spram: Default::default(),
            pair_data: Default::default(),
            slot0_spram: Default::default(),
            spram_id: std::array::from_fn(|s| Constant::new((s as u64).into())),
        }
    }
}

impl WindowMemory {
    /// Bytes of activations it holds.
    pub const BYTES: usize = crate::engine::activations::BYTES;

    /// Where byte `addr` lives: (SPRAM, word, high byte of the word) in the even copy and in
    /// the odd copy (whose pairs wrap at 64 KiB). The same rule as the write port's below, for
    /// preloading the simulation model.
    pub fn places(addr: usize) -> [(usize, usize, bool); 2] {
        crate::engine::activations::ActivationMemory::places(addr)
    }

    /// Chooses the Verilog of the four SPRAMs (primitives on the iCE40, behavioural on the ECP5).
    pub fn set_family(&mut self, family: crate::memory::Family) {
        for spram in &mut self.sprams {
            spram.set_family(family);
        }
    }

    /// Simulation only: a memory holding `bytes` from address 0 (the rest zero), as if written
    /// through the write port.
    pub fn with_contents(bytes: &[u8]) -> Self {
        assert!(
            bytes.len() <= Self::BYTES,
            "more than 64 KiB of activations"
        );
        let mut m = Self::default();
        m.preload(0, bytes);
        m
    }

    /// Simulation only: `bytes` written from `at` on (both copies), as the write port would.
    pub fn preload(&mut self, at: usize, bytes: &[u8]) {
        for (k, &b) in bytes.iter().enumerate() {
            for (s, word, high) in Self::places((at + k) % Self::BYTES) {
                let old = self.sprams[s].peek(word);
                let new = if high {
                    (old & 0x00ff) | (b as u16) << 8
                } else {
                    (old & 0xff00) | b as u16
                };
                self.sprams[s].preload(word, new);
            }
        }
    }

    /// Simulation only: the byte at `addr` in each of its two copies.
    pub fn copies(&self, addr: usize) -> [u8; 2] {
        Self::places(addr % Self::BYTES).map(|(s, word, high)| {
            let w = self.sprams[s].peek(word);
            if high {
                (w >> 8) as u8
            } else {
                w as u8
            }
        })
    }
}

impl Logic for WindowMemory {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, slot0_spram);
        // Read: slot i of the window is pair first_pair + i of its copy, in SPRAM
        // (first_pair + i + 2 * odd) % 4, so SPRAM s serves slot (s - first_pair - 2 * odd) % 4.
        self.odd.next = self.read_addr.val().get_bit(0);
        self.first_pair.next = self.read_addr.val() >> 1;
        self.first_pair_plus2.next = self.first_pair.val() + 2;
        self.slot0_spram.d.next = self.first_pair.val().get_bits::<2>(0);
        if self.odd.val() {
            self.slot0_spram.d.next = self.first_pair_plus2.val().get_bits::<2>(0);
        }
        // Write: byte A is in even pair A / 2 (low byte if A is even) and in odd pair A / 2
        // (A odd, low byte) or A / 2 - 1 (A even, high byte).
        self.even_pair.next = self.write_addr.val() >> 1;
        self.odd_pair.next = self.write_addr.val() >> 1;
        if !self.write_addr.val().get_bit(0) {
            self.odd_pair.next = ((self.write_addr.val() >> 1) - 1) & 0x7fff;
        }
        self.odd_pair_plus2.next = self.odd_pair.val() + 2;
        self.odd_pair_spram.next = self.odd_pair_plus2.val().get_bits::<2>(0);
        self.pair_data.next = (bit_cast::<16, 8>(self.write_data.val()) << 8)
            | bit_cast::<16, 8>(self.write_data.val());
        for s in 0..4 {
            self.sprams[s].clock.next = self.clock.val();
            self.slot[s].next = (self.spram_id[s].val() - self.first_pair.val()) & 3;
            if self.odd.val() {
                self.slot[s].next = (self.spram_id[s].val() - self.first_pair.val() - 2) & 3;
            }
            // Pairs wrap at 32 K: a window at the top of the memory continues at byte 0.
            self.pair[s].next = (self.first_pair.val() + self.slot[s].val()) & 0x7fff;
            // Word k / 4 of the copy: the odd copy is the upper half of every SPRAM.
            self.sprams[s].address.next = self.pair[s].val().get_bits::<14>(2);
            if self.odd.val() {
                self.sprams[s].address.next = self.pair[s].val().get_bits::<14>(2) | 0x2000;
            }
            self.sprams[s].write_enable.next = false;
            self.sprams[s].write_mask.next = 0.into();
            self.sprams[s].write_data.next = self.pair_data.val();
            self.slot_mask[s].next = 0.into();
            if self.write_window.val() {
                // The pair of window slot k: bytes 2k, 2k+1 of the data and of the mask.
                for k in 0..4 {
                    if self.slot[s].val() == self.spram_id[k].val() {
                        self.sprams[s].write_data.next =
                            self.window_data.val().get_bits::<16>(16 * k);
                        self.slot_mask[s].next = self.window_mask.val().get_bits::<2>(2 * k);
                    }
                }
                self.sprams[s].write_enable.next = self.slot_mask[s].val().any();
                if self.slot_mask[s].val() == 1 {
                    self.sprams[s].write_mask.next = 0b0011.into();
                }
                if self.slot_mask[s].val() == 2 {
                    self.sprams[s].write_mask.next = 0b1100.into();
                }
                if self.slot_mask[s].val() == 3 {
                    self.sprams[s].write_mask.next = 0b1111.into();
                }
            }
            if self.write.val() {
                if self.even_pair.val().get_bits::<2>(0) == self.spram_id[s].val().get_bits::<2>(0)
                {
                    self.sprams[s].write_enable.next = true;
                    self.sprams[s].address.next = self.even_pair.val().get_bits::<14>(2);
                    self.sprams[s].write_mask.next = 0b0011.into();
                    if self.write_addr.val().get_bit(0) {
                        self.sprams[s].write_mask.next = 0b1100.into();
                    }
                }
                if self.odd_pair_spram.val() == self.spram_id[s].val().get_bits::<2>(0) {
                    self.sprams[s].write_enable.next = true;
                    self.sprams[s].address.next = self.odd_pair.val().get_bits::<14>(2) | 0x2000;
                    self.sprams[s].write_mask.next = 0b1100.into();
                    if self.write_addr.val().get_bit(0) {
                        self.sprams[s].write_mask.next = 0b0011.into();
                    }
                }
            }
        }
        // The answer: window slot i from SPRAM (slot0_spram + i) % 4.
        self.window.next = bit_cast::<64, 16>(self.sprams[0].read_data.val())
            | (bit_cast::<64, 16>(self.sprams[1].read_data.val()) << 16)
            | (bit_cast::<64, 16>(self.sprams[2].read_data.val()) << 32)
            | (bit_cast::<64, 16>(self.sprams[3].read_data.val()) << 48);
        if self.slot0_spram.q.val() == 1 {
            self.window.next = bit_cast::<64, 16>(self.sprams[1].read_data.val())
                | (bit_cast::<64, 16>(self.sprams[2].read_data.val()) << 16)
                | (bit_cast::<64, 16>(self.sprams[3].read_data.val()) << 32)
                | (bit_cast::<64, 16>(self.sprams[0].read_data.val()) << 48);
        }
        if self.slot0_spram.q.val() == 2 {
            self.window.next = bit_cast::<64, 16>(self.sprams[2].read_data.val())
                | (bit_cast::<64, 16>(self.sprams[3].read_data.val()) << 16)
                | (bit_cast::<64, 16>(self.sprams[0].read_data.val()) << 32)
                | (bit_cast::<64, 16>(self.sprams[1].read_data.val()) << 48);
        }
        if self.slot0_spram.q.val() == 3 {
            self.window.next = bit_cast::<64, 16>(self.sprams[3].read_data.val())
                | (bit_cast::<64, 16>(self.sprams[0].read_data.val()) << 16)
                | (bit_cast::<64, 16>(self.sprams[1].read_data.val()) << 32)
                | (bit_cast::<64, 16>(self.sprams[2].read_data.val()) << 48);
        }
    }
}
