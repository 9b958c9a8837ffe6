//! `ActivationMemory`: the engine's 64 KiB of activations in the UP5K's four SPRAMs, read as any
//! eight consecutive bytes per cycle, whatever their alignment (docs/engine.md, "Activation
//! memory"), and written up to eight bytes at a time into one of its two copies.
//!
//! **Layout.** Every byte is kept twice, as byte pairs of two copies: the *even* copy holds
//! pairs (2k, 2k+1), pair k in SPRAM k % 4 at word k / 4; the *odd* copy holds pairs (2k+1,
//! 2k+2), pair k in SPRAM (k + 2) % 4 at word 8192 + k / 4 ([`ActivationMemory::places`]). A
//! window starting at an even byte is four consecutive even pairs, at an odd byte four
//! consecutive odd pairs: either way four different SPRAMs, one read each.
//!
//! **Positions.** Seen as eight byte lanes, SPRAM s holding lanes 2s (its low byte) and 2s + 1,
//! byte b of the even copy sits in lane b % 8 and byte b of the odd copy in lane (b + 3) % 8
//! ([`position`]): a byte's lane does not depend on where a window starts. So a write takes its
//! data by lane (lane p of `write_data` is bits 8p..8p+7) and the memory passes each SPRAM its
//! two lanes as they are; only the byte mask is given relative to the window (bit i: byte
//! `address + i`), and the read's answer is rotated into window order. A write goes into the
//! copy the address's parity names (the even copy at an even address, the odd copy at an odd
//! one); a byte written by the host goes into both, as two writes (at its address, and at the
//! address before it, where it is the window's byte 1).
//!
//! One access per cycle: a read or a write, at `address`. The window arrives one cycle after
//! its address, byte i of the window in bits 8i..8i+7; the window after a write cycle is
//! undefined.

use crate::memory::spram::Spram;
use rust_hdl::prelude::*;

/// Bytes of activations the memory holds.
pub const BYTES: usize = 1 << 16;
/// The odd copy's pair k is in SPRAM (k + ODD_SPRAM_OFFSET) % 4: the two copies of a byte then
/// sit in different SPRAMs.
const ODD_SPRAM_OFFSET: usize = 2;
/// The lane of an odd-copy byte, less its even-copy lane: byte 2k + 1 is the low byte of odd
/// pair k, in SPRAM k + 2.
pub const ODD_LANE_OFFSET: usize = 2 * ODD_SPRAM_OFFSET - 1;
const _: () = assert!(ODD_LANE_OFFSET == 3);

/// The lane (0..8) byte `byte` of the copy `odd` sits in (module doc, "Positions").
pub const fn position(odd: bool, byte: usize) -> usize {
    (byte + if odd { ODD_LANE_OFFSET } else { 0 }) % 8
}

#[derive(LogicBlock)]
pub struct ActivationMemory {
    pub clock: Signal<In, Clock>,
    /// First byte of the window read or written.
    pub address: Signal<In, Bits<16>>,
    /// Bytes address .. address + 7 of the previous cycle's read.
    pub window: Signal<Out, Bits<64>>,
    /// A write at `address` into the copy of its parity: lane p of `write_data` where the
    /// window's byte i, whose lane is p, has bit i of `write_mask`.
    pub write: Signal<In, bool>,
    pub write_data: Signal<In, Bits<64>>,
    pub write_mask: Signal<In, Bits<8>>,
    sprams: [Spram; 4],
    /// The pair of the window's first byte (even copy: bytes 2k, 2k+1; odd copy: 2k+1, 2k+2).
    first_pair: Signal<Local, Bits<16>>,
    odd: Signal<Local, bool>,
    /// Window slot (0..3) each SPRAM serves, and that slot's pair. 16 bits wide, with the 2-bit
    /// wrap made by a mask: RustHDL's and Verilog's widths then agree (the lutna-hw crate doc).
    slot: [Signal<Local, Bits<16>>; 4],
    pair: [Signal<Local, Bits<16>>; 4],
    /// The write's two byte enables for each SPRAM's pair.
    slot_mask: [Signal<Local, Bits<2>>; 4],
    /// (Verilog cannot part-select an expression.)
    first_pair_plus2: Signal<Local, Bits<16>>,
    /// Registered for the cycle the SPRAMs answer: which SPRAM holds window slot 0.
    slot0_spram: DFF<Bits<2>>,
    spram_id: [Constant<Bits<16>>; 4],
}

impl Default for ActivationMemory {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            address: Default::default(),
            window: Default::default(),
            write: Default::default(),
            write_data: Default::default(),
            write_mask: Default::default(),
            sprams: std::array::from_fn(|_| Spram::default()),
            first_pair: Default::default(),
            odd: Default::default(),
            slot: Default::default(),
            pair: Default::default(),
            slot_mask: Default::default(),
            first_pair_plus2: Default::default(),
            slot0_spram: Default::default(),
            spram_id: std::array::from_fn(|s| Constant::new((s as u64).into())),
        }
    }
}

impl ActivationMemory {
    /// Where byte `addr` lives: (SPRAM, word, high byte of the word) in the even copy and in
    /// the odd copy (whose pairs wrap at 64 KiB: byte 0 is the high byte of the odd copy's last
    /// pair, so a window may start at byte 65535, as a map's left padding at address 0 does).
    pub fn places(addr: usize) -> [(usize, usize, bool); 2] {
        let even = addr / 2;
        let (odd, high) = if addr % 2 == 1 {
            (addr / 2, false)
        } else {
            ((addr / 2 + BYTES / 2 - 1) % (BYTES / 2), true)
        };
        [
            (even % 4, even / 4, addr % 2 == 1),
            ((odd + ODD_SPRAM_OFFSET) % 4, (1 << 13) + odd / 4, high),
        ]
    }

    /// Chooses the Verilog of the four SPRAMs (primitives on the iCE40, behavioural on the ECP5).
    pub fn set_family(&mut self, family: crate::memory::Family) {
        for spram in &mut self.sprams {
            spram.set_family(family);
        }
    }

    /// Simulation only: `bytes` written from `at` on (both copies), as the host's writes would.
    pub fn preload(&mut self, at: usize, bytes: &[u8]) {
        for (k, &b) in bytes.iter().enumerate() {
            for (s, word, high) in Self::places((at + k) % BYTES) {
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
        Self::places(addr % BYTES).map(|(s, word, high)| {
            let w = self.sprams[s].peek(word);
            if high {
                (w >> 8) as u8
            } else {
                w as u8
            }
        })
    }

    /// A memory with its inputs marked driven, for a testbench.
    pub fn top() -> Self {
        let mut uut = Self::default();
        uut.clock.connect();
        uut.address.connect();
        uut.write.connect();
        uut.write_data.connect();
        uut.write_mask.connect();
        uut.connect_all();
        uut
    }
}

impl Logic for ActivationMemory {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, slot0_spram);
        // Slot i of the window is pair first_pair + i of its copy, in SPRAM
        // (first_pair + i + 2 * odd) % 4, so SPRAM s serves slot (s - first_pair - 2 * odd) % 4.
        self.odd.next = self.address.val().get_bit(0);
        self.first_pair.next = self.address.val() >> 1;
        self.first_pair_plus2.next = self.first_pair.val() + 2;
        self.slot0_spram.d.next = self.first_pair.val().get_bits::<2>(0);
        if self.odd.val() {
            self.slot0_spram.d.next = self.first_pair_plus2.val().get_bits::<2>(0);
        }
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
            // Its lanes, as they are; its slot's two mask bits.
            self.sprams[s].write_data.next = self.write_data.val().get_bits::<16>(16 * s);
            self.slot_mask[s].next = 0.into();
            for k in 0..4 {
                if self.slot[s].val() == self.spram_id[k].val() {
                    self.slot_mask[s].next = self.write_mask.val().get_bits::<2>(2 * k);
                }
            }
            self.sprams[s].write_enable.next = self.write.val() & self.slot_mask[s].val().any();
            self.sprams[s].write_mask.next = 0b1111.into();
            if self.slot_mask[s].val() == 1 {
                self.sprams[s].write_mask.next = 0b0011.into();
            }
            if self.slot_mask[s].val() == 2 {
                self.sprams[s].write_mask.next = 0b1100.into();
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
