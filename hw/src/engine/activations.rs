//! `ActivationMemory<N>`: the engine's 64 KiB of activations in N banks of 16-bit words, read
//! as any `2N` consecutive bytes per cycle (the *window*, 8 or 16 bytes:
//! `lutna_core::isa::shape::window_bytes`), whatever their alignment (docs/engine.md,
//! "Activation memory"), and written up to a window's bytes at a time into one of its two
//! copies. On the iCE40 the four banks are the UP5K's SPRAMs; on the ECP5 each bank is a
//! behavioural memory that yosys maps to block RAM (eight banks for a 16-byte window).
//!
//! **Layout.** Every byte is kept twice, as byte pairs of two copies: the *even* copy holds
//! pairs (2k, 2k+1), pair k in bank k % N at word k / N; the *odd* copy holds pairs (2k+1,
//! 2k+2), pair k in bank (k + N/2) % N at word `odd_base` + k / N, the upper half of every bank
//! ([`ActivationMemory::places`]). A window starting at an even byte is N consecutive even
//! pairs, at an odd byte N consecutive odd pairs: either way N different banks, one read each.
//!
//! **Positions.** Seen as 2N byte lanes, bank s holding lanes 2s (its low byte) and 2s + 1,
//! byte b of the even copy sits in lane b % 2N and byte b of the odd copy in lane
//! (b + N - 1) % 2N ([`position`]): a byte's lane does not depend on where a window starts. So
//! a write takes its data by lane (lane p of `write_data` is bits 8p..8p+7) and the memory
//! passes each bank its two lanes as they are; only the byte mask is given relative to the
//! window (bit i: byte `address + i`), and the read's answer is rotated into window order. A
//! write goes into the copy the address's parity names (the even copy at an even address, the
//! odd copy at an odd one); a byte written by the host goes into both, as two writes (at its
//! address, and at the address before it, where it is the window's byte 1).
//!
//! One access per cycle: a read or a write, at `address`. The window arrives one cycle after
//! its address, byte i of the window in bits 8i..8i+7 (bits above the window's are 0); the
//! window after a write cycle is undefined.

use crate::memory::spram::{Spram, SPRAM_BITS};
use rust_hdl::prelude::*;

/// Bytes of activations the memory holds.
pub const BYTES: usize = lutna_core::isa::shape::ACTIVATION_BYTES;
/// Bits of the window, the write data and the mask's lanes as ports: the widest window's
/// (16 bytes); a narrower memory leaves the upper bits 0 and ignores them.
pub const WINDOW_BITS: usize = 128;
/// Lanes of the widest window.
pub const WINDOW_LANES_MAX: usize = WINDOW_BITS / 8;

/// Banks of the activation memory of a build with `lanes` lanes: half its window's bytes.
pub const fn banks(lanes: usize) -> usize {
    lutna_core::isa::shape::window_bytes(lanes) / 2
}
/// The banks of an 8-byte window: the UP5K's four SPRAMs (builds of up to 8 lanes).
pub const SPRAM_BANKS: usize = banks(8);
const _: () = assert!(SPRAM_BANKS == 4 && banks(4) == SPRAM_BANKS && banks(16) == 8);

/// The lane of an odd-copy byte, less its even-copy lane, in a window of `window` bytes: byte
/// 2k + 1 is the low byte of odd pair k, in bank k + N/2.
pub const fn odd_lane_offset(window: usize) -> usize {
    window / 2 - 1
}

/// The lane (0..window) byte `byte` of the copy `odd` sits in (module doc, "Positions").
pub const fn position(window: usize, odd: bool, byte: usize) -> usize {
    (byte + if odd { odd_lane_offset(window) } else { 0 }) % window
}

#[derive(LogicBlock)]
pub struct ActivationMemory<const N: usize> {
    pub clock: Signal<In, Clock>,
    /// First byte of the window read or written.
    pub address: Signal<In, Bits<16>>,
    /// Bytes address .. address + 2N - 1 of the previous cycle's read.
    pub window: Signal<Out, Bits<WINDOW_BITS>>,
    /// A write at `address` into the copy of its parity: lane p of `write_data` where the
    /// window's byte i, whose lane is p, has bit i of `write_mask`.
    pub write: Signal<In, bool>,
    pub write_data: Signal<In, Bits<WINDOW_BITS>>,
    pub write_mask: Signal<In, Bits<WINDOW_LANES_MAX>>,
    banks: [Spram; N],
    /// The pair of the window's first byte (even copy: bytes 2k, 2k+1; odd copy: 2k+1, 2k+2).
    first_pair: Signal<Local, Bits<16>>,
    odd: Signal<Local, bool>,
    /// Window slot (0..N) each bank serves, and that slot's pair. 16 bits wide, with the wrap
    /// made by a mask: RustHDL's and Verilog's widths then agree (the lutna-hw crate doc).
    slot: [Signal<Local, Bits<16>>; N],
    pair: [Signal<Local, Bits<16>>; N],
    /// The write's two byte enables for each bank's pair.
    slot_mask: [Signal<Local, Bits<2>>; N],
    /// (Verilog cannot part-select an expression.)
    first_pair_skewed: Signal<Local, Bits<16>>,
    word: [Signal<Local, Bits<16>>; N],
    /// The banks' answers side by side (bank s at bits 16s).
    read: Signal<Local, Bits<WINDOW_BITS>>,
    bank_read: Signal<Local, Bits<16>>,
    pair_at: [Constant<Bits<8>>; N],
    /// Registered for the cycle the banks answer: which bank holds window slot 0.
    slot0_bank: DFF<Bits<16>>,
    bank_id: [Constant<Bits<16>>; N],
    bank_mask: Constant<Bits<16>>,
    /// N/2: the odd copy's bank offset.
    odd_skew: Constant<Bits<16>>,
    /// log2 N: a pair's word within its copy.
    bank_shift: Constant<Bits<16>>,
    /// Words of one copy in a bank: the odd copy's first word.
    odd_base: Constant<Bits<16>>,
    pairs_mask: Constant<Bits<16>>,
    window_mask: Constant<Bits<WINDOW_BITS>>,
    /// Shift amounts (8 bits: a shift's amount is at most 64 bits wide in RustHDL).
    rotate_down: [Constant<Bits<8>>; N],
    rotate_up: [Constant<Bits<8>>; N],
}

impl<const N: usize> Default for ActivationMemory<N> {
    fn default() -> Self {
        assert!(
            N == 4 || N == 8,
            "the activation memory is built with 4 or 8 banks (an 8- or 16-byte window), not {N}"
        );
        let words_bits = (BYTES / N).trailing_zeros() as usize;
        assert!(words_bits <= SPRAM_BITS);
        let amount = |v: usize| Constant::new((v as u64).into());
        Self {
            clock: Default::default(),
            address: Default::default(),
            window: Default::default(),
            write: Default::default(),
            write_data: Default::default(),
            write_mask: Default::default(),
            banks: std::array::from_fn(|_| Spram::with_words_bits(words_bits)),
            first_pair: Default::default(),
            odd: Default::default(),
            slot: std::array::from_fn(|_| Default::default()),
            pair: std::array::from_fn(|_| Default::default()),
            slot_mask: std::array::from_fn(|_| Default::default()),
            first_pair_skewed: Default::default(),
            word: std::array::from_fn(|_| Default::default()),
            read: Default::default(),
            bank_read: Default::default(),
            pair_at: std::array::from_fn(|s| amount(16 * s)),
            slot0_bank: Default::default(),
            bank_id: std::array::from_fn(|s| Constant::new((s as u64).into())),
            bank_mask: Constant::new(((N - 1) as u64).into()),
            odd_skew: Constant::new(((N / 2) as u64).into()),
            bank_shift: Constant::new((N.trailing_zeros() as u64).into()),
            odd_base: Constant::new(((BYTES / 2 / N) as u64).into()),
            pairs_mask: Constant::new(((BYTES / 2 - 1) as u64).into()),
            window_mask: Constant::new(low_bytes_mask(Self::WINDOW)),
            rotate_down: std::array::from_fn(|i| amount(16 * i)),
            rotate_up: std::array::from_fn(|i| amount(16 * (N - i))),
        }
    }
}

/// The low `bytes` bytes of a window-wide word set, the rest clear: what keeps an 8-byte
/// window's unused upper half 0 in every build (the ports are always [`WINDOW_BITS`] wide).
pub fn low_bytes_mask(bytes: usize) -> Bits<WINDOW_BITS> {
    (0..8 * bytes).fold(Bits::default(), |m, i| m.replace_bit(i, true))
}

impl<const N: usize> ActivationMemory<N> {
    /// Bytes of the window.
    pub const WINDOW: usize = 2 * N;

    /// Where byte `addr` lives: (bank, word, high byte of the word) in the even copy and in the
    /// odd copy (whose pairs wrap at 64 KiB: byte 0 is the high byte of the odd copy's last
    /// pair, so a window may start at byte 65535, as a map's left padding at address 0 does).
    pub fn places(addr: usize) -> [(usize, usize, bool); 2] {
        let even = addr / 2;
        let (odd, high) = if addr % 2 == 1 {
            (addr / 2, false)
        } else {
            ((addr / 2 + BYTES / 2 - 1) % (BYTES / 2), true)
        };
        [
            (even % N, even / N, addr % 2 == 1),
            ((odd + N / 2) % N, BYTES / 2 / N + odd / N, high),
        ]
    }

    /// Chooses the Verilog of the banks (SPRAM primitives on the iCE40, behavioural on the ECP5).
    pub fn set_family(&mut self, family: crate::memory::Family) {
        for bank in &mut self.banks {
            bank.set_family(family);
        }
    }

    /// Simulation only: `bytes` written from `at` on (both copies), as the host's writes would.
    pub fn preload(&mut self, at: usize, bytes: &[u8]) {
        for (k, &b) in bytes.iter().enumerate() {
            for (s, word, high) in Self::places((at + k) % BYTES) {
                let old = self.banks[s].peek(word);
                let new = if high {
                    (old & 0x00ff) | (b as u16) << 8
                } else {
                    (old & 0xff00) | b as u16
                };
                self.banks[s].preload(word, new);
            }
        }
    }

    /// Simulation only: the byte at `addr` in each of its two copies.
    pub fn copies(&self, addr: usize) -> [u8; 2] {
        Self::places(addr % BYTES).map(|(s, word, high)| {
            let w = self.banks[s].peek(word);
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

impl<const N: usize> Logic for ActivationMemory<N> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, slot0_bank);
        // Slot i of the window is pair first_pair + i of its copy, in bank
        // (first_pair + i + N/2 * odd) % N, so bank s serves slot (s - first_pair - N/2 * odd) % N.
        self.odd.next = self.address.val().get_bit(0);
        self.first_pair.next = self.address.val() >> 1;
        self.first_pair_skewed.next = self.first_pair.val();
        if self.odd.val() {
            self.first_pair_skewed.next = self.first_pair.val() + self.odd_skew.val();
        }
        self.slot0_bank.d.next = self.first_pair_skewed.val() & self.bank_mask.val();
        self.read.next = 0.into();
        for s in 0..N {
            self.banks[s].clock.next = self.clock.val();
            self.slot[s].next =
                (self.bank_id[s].val() - self.first_pair_skewed.val()) & self.bank_mask.val();
            // Pairs wrap at 32 K: a window at the top of the memory continues at byte 0.
            self.pair[s].next =
                (self.first_pair.val() + self.slot[s].val()) & self.pairs_mask.val();
            // Word k / N of the copy: the odd copy is the upper half of every bank.
            self.word[s].next = self.pair[s].val() >> self.bank_shift.val();
            if self.odd.val() {
                self.word[s].next =
                    (self.pair[s].val() >> self.bank_shift.val()) | self.odd_base.val();
            }
            self.banks[s].address.next = self.word[s].val().get_bits::<SPRAM_BITS>(0);
            // Its lanes, as they are; its slot's two mask bits.
            self.banks[s].write_data.next = self.write_data.val().get_bits::<16>(16 * s);
            self.slot_mask[s].next = 0.into();
            for k in 0..N {
                if self.slot[s].val() == self.bank_id[k].val() {
                    self.slot_mask[s].next = self.write_mask.val().get_bits::<2>(2 * k);
                }
            }
            self.banks[s].write_enable.next = self.write.val() & self.slot_mask[s].val().any();
            self.banks[s].write_mask.next = 0b1111.into();
            if self.slot_mask[s].val() == 1 {
                self.banks[s].write_mask.next = 0b0011.into();
            }
            if self.slot_mask[s].val() == 2 {
                self.banks[s].write_mask.next = 0b1100.into();
            }
            // (Through a scalar: RustHDL's Verilog cannot widen an indexed signal in a loop.)
            self.bank_read.next = self.banks[s].read_data.val();
            self.read.next = self.read.val()
                | (bit_cast::<WINDOW_BITS, 16>(self.bank_read.val()) << self.pair_at[s].val());
        }
        // The answer: window slot i from bank (slot0_bank + i) % N, the banks' answers rotated.
        self.window.next = self.read.val();
        for i in 1..N {
            if self.slot0_bank.q.val() == self.bank_id[i].val() {
                self.window.next = ((self.read.val() >> self.rotate_down[i].val())
                    | (self.read.val() << self.rotate_up[i].val()))
                    & self.window_mask.val();
            }
        }
    }
}
