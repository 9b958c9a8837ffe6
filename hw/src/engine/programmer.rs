//! `TableProgrammer`: takes a batch's taps from the program (two words each, after the `BATCH`
//! header the fetch unit has read), writes each tap into the tap memory and each new table into
//! the lanes' banks (docs/engine.md, "Units" and "Table slots").
//!
//! A table is the signed weight's multiples `w * j`, j = 0..15 (`arith::lane_entry`): one adder
//! adds `w` sixteen times, one entry per cycle into slot `s` (words `16 s + j`) of every lane's
//! two banks at once. Slots are taken as a ring of `ring_last + 1`: each new table goes into
//! the slot after the last one written, once fewer than the ring's slots are in use (batches
//! finish in the order they were programmed, so the slots free in the ring's order:
//! `freed` hands back the tables of a finished batch). One table is filled at a time, in the
//! background, while the next tap's words are read; a tap that reuses a table (`TAP_REUSE`)
//! reads the slot of the tap before it. A cycle in which the issuer stores a partial sum
//! (`bank_busy`) takes the banks' write port, and the fill waits.
//!
//! Timing (the cycle model's, `lutna_core::cycles`): a tap is taken in the cycle its second word
//! arrives; a new table's 16 entries are written in the 16 cycles after (more when the port is
//! taken); `done` rises once every tap is taken, in the last table's last fill cycle.

use lutna_core::isa::{TAP_KX, TAP_KY, TAP_MAGNITUDE, TAP_NEGATIVE, TAP_REUSE};
use rust_hdl::prelude::*;

/// Where the high word of a tap-memory entry keeps the tap's kernel row and column and its slot
/// (the low word is the tap's offset).
pub const ENTRY_KY: usize = 0;
pub const ENTRY_KX: usize = 3;
pub const ENTRY_SLOT: usize = 6;

const ENTRY: usize = lutna_core::arith::LANE_ENTRY_BITS as usize;
const _: () = assert!(TAP_MAGNITUDE.width == 8 && TAP_NEGATIVE.width == 1);
const _: () = assert!(TAP_KY.width == 3 && TAP_KX.width == 3 && TAP_REUSE.width == 1);

#[derive(LogicBlock)]
pub struct TableProgrammer {
    pub clock: Signal<In, Clock>,
    /// A batch of `taps + 1` taps begins (its header was read and its tap-memory half is free).
    pub start: Signal<In, bool>,
    pub taps: Signal<In, Bits<6>>,
    /// The program's next word, and whether the programmer takes it this cycle.
    pub word: Signal<In, Bits<16>>,
    pub word_valid: Signal<In, bool>,
    pub word_ready: Signal<Out, bool>,
    /// The ring's size minus 1 (`MODE_SLOTS`), and its restart at slot 0 (`SET MODE`).
    pub ring_last: Signal<In, Bits<4>>,
    pub ring_restart: Signal<In, bool>,
    /// A batch finished issuing: its tables' slots are free again.
    pub freed: Signal<In, bool>,
    pub freed_tables: Signal<In, Bits<5>>,
    /// The banks' write port is taken this cycle (a partial sum is stored).
    pub bank_busy: Signal<In, bool>,
    /// The lanes' banks' write port.
    pub table_write: Signal<Out, bool>,
    pub table_address: Signal<Out, Bits<8>>,
    pub table_data: Signal<Out, Bits<16>>,
    /// The tap memory's write port (the entry within the batch's half), one 16-bit word at a
    /// time: the offset as it arrives (`tap_write_low`), the rest when the tap is taken.
    pub tap_write_low: Signal<Out, bool>,
    pub tap_write_high: Signal<Out, bool>,
    pub tap_address: Signal<Out, Bits<6>>,
    /// The data of the two words (the low one is the program word itself).
    pub tap_low_data: Signal<Out, Bits<16>>,
    pub tap_high_data: Signal<Out, Bits<16>>,
    /// One cycle: the batch is programmed; the tables it took.
    pub done: Signal<Out, bool>,
    pub tables: Signal<Out, Bits<5>>,
    /// A batch is being programmed (until its `done`); the word taken now is its last.
    pub busy: Signal<Out, bool>,
    pub last_word: Signal<Out, bool>,
    active: DFF<bool>,
    finishing: DFF<bool>,
    have_offset: DFF<bool>,
    tap: DFF<Bits<6>>,
    last_tap: DFF<Bits<6>>,
    ring: DFF<Bits<4>>,
    in_use: DFF<Bits<5>>,
    slot: DFF<Bits<4>>,
    taken: DFF<Bits<5>>,
    filling: DFF<bool>,
    fill_slot: DFF<Bits<4>>,
    fill_index: DFF<Bits<4>>,
    fill_entry: DFF<Bits<ENTRY>>,
    fill_weight: DFF<Bits<9>>,
    reuse: Signal<Local, bool>,
    weight: Signal<Local, Bits<9>>,
    magnitude: Signal<Local, Bits<9>>,
    step: Signal<Local, Bits<ENTRY>>,
    take: Signal<Local, bool>,
    last_fill: Signal<Local, bool>,
    entry_slot: Signal<Local, Bits<4>>,
    word_ky: Signal<Local, Bits<16>>,
    word_kx: Signal<Local, Bits<16>>,
    ky: Signal<Local, Bits<3>>,
    kx: Signal<Local, Bits<3>>,
    next_ring: Signal<Local, Bits<4>>,
    released: Signal<Local, Bits<5>>,
    entry_sign_fill: Constant<Bits<16>>,
    entry_sign_bit: Constant<Bits<ENTRY>>,
    step_sign_fill: Constant<Bits<ENTRY>>,
    reuse_bit: Constant<Bits<16>>,
    negative_bit: Constant<Bits<16>>,
    ky_lsb: Constant<Bits<4>>,
    kx_lsb: Constant<Bits<4>>,
    entry_ky: Constant<Bits<5>>,
    entry_kx: Constant<Bits<5>>,
    entry_slot_at: Constant<Bits<5>>,
}

impl Default for TableProgrammer {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            taps: Default::default(),
            word: Default::default(),
            word_valid: Default::default(),
            word_ready: Default::default(),
            ring_last: Default::default(),
            ring_restart: Default::default(),
            freed: Default::default(),
            freed_tables: Default::default(),
            bank_busy: Default::default(),
            table_write: Default::default(),
            table_address: Default::default(),
            table_data: Default::default(),
            tap_write_low: Default::default(),
            tap_write_high: Default::default(),
            tap_address: Default::default(),
            tap_low_data: Default::default(),
            tap_high_data: Default::default(),
            done: Default::default(),
            tables: Default::default(),
            busy: Default::default(),
            last_word: Default::default(),
            active: Default::default(),
            finishing: Default::default(),
            have_offset: Default::default(),
            tap: Default::default(),
            last_tap: Default::default(),
            ring: Default::default(),
            in_use: Default::default(),
            slot: Default::default(),
            taken: Default::default(),
            filling: Default::default(),
            fill_slot: Default::default(),
            fill_index: Default::default(),
            fill_entry: Default::default(),
            fill_weight: Default::default(),
            reuse: Default::default(),
            weight: Default::default(),
            magnitude: Default::default(),
            step: Default::default(),
            take: Default::default(),
            last_fill: Default::default(),
            entry_slot: Default::default(),
            word_ky: Default::default(),
            word_kx: Default::default(),
            ky: Default::default(),
            kx: Default::default(),
            next_ring: Default::default(),
            released: Default::default(),
            entry_sign_fill: Constant::new((0xffffu64 & !((1u64 << ENTRY) - 1)).into()),
            entry_sign_bit: Constant::new((1u64 << (ENTRY - 1)).into()),
            step_sign_fill: Constant::new((((1u64 << ENTRY) - 1) & !0x1ffu64).into()),
            reuse_bit: Constant::new((1u64 << TAP_REUSE.lsb).into()),
            negative_bit: Constant::new((1u64 << TAP_NEGATIVE.lsb).into()),
            ky_lsb: Constant::new((TAP_KY.lsb as u64).into()),
            kx_lsb: Constant::new((TAP_KX.lsb as u64).into()),
            entry_ky: Constant::new((ENTRY_KY as u64).into()),
            entry_kx: Constant::new((ENTRY_KX as u64).into()),
            entry_slot_at: Constant::new((ENTRY_SLOT as u64).into()),
        }
    }
}

impl TableProgrammer {
    pub fn top() -> Self {
        let mut p = Self::default();
        p.connect_all();
        p
    }
}

impl Logic for TableProgrammer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            active,
            finishing,
            have_offset,
            tap,
            last_tap,
            ring,
            in_use,
            slot,
            taken,
            filling,
            fill_slot,
            fill_index,
            fill_entry,
            fill_weight
        );
        // The tap word: reuse, and the weight as a signed entry-wide number.
        self.reuse.next = (self.word.val() & self.reuse_bit.val()).any();
        self.magnitude.next = bit_cast::<9, 8>(self.word.val().get_bits::<8>(0));
        self.weight.next = self.magnitude.val();
        if (self.word.val() & self.negative_bit.val()).any() {
            self.weight.next = !self.magnitude.val() + 1;
        }
        self.next_ring.next = self.ring.q.val() + 1;
        if self.ring.q.val() == self.ring_last.val() {
            self.next_ring.next = 0.into();
        }
        // Take the tap in the cycle its second word is here: at once if it reuses a table,
        // else when the filler is free and a slot is.
        self.take.next = false;
        self.word_ready.next = false;
        self.tap_write_low.next = false;
        self.tap_write_high.next = false;
        self.tap_address.next = self.tap.q.val();
        self.entry_slot.next = self.slot.q.val();
        // (A part of a shifted word needs a signal of its own in Verilog.)
        self.word_ky.next = self.word.val() >> self.ky_lsb.val();
        self.word_kx.next = self.word.val() >> self.kx_lsb.val();
        self.ky.next = self.word_ky.val().get_bits::<3>(0);
        self.kx.next = self.word_kx.val().get_bits::<3>(0);
        self.released.next = 0.into();
        if self.freed.val() {
            self.released.next = self.freed_tables.val();
        }
        self.in_use.d.next = self.in_use.q.val() - self.released.val();
        if self.active.q.val() & self.word_valid.val() {
            if !self.have_offset.q.val() {
                self.have_offset.d.next = true;
                self.word_ready.next = true;
                self.tap_write_low.next = true;
            } else if self.reuse.val() {
                self.take.next = true;
            } else if !self.filling.q.val()
                & (self.in_use.q.val() <= bit_cast::<5, 4>(self.ring_last.val()))
            {
                self.take.next = true;
                // The new table's slot, for this tap's entry and the taps that reuse it.
                self.entry_slot.next = self.ring.q.val();
                self.slot.d.next = self.ring.q.val();
                self.ring.d.next = self.next_ring.val();
                self.in_use.d.next = self.in_use.q.val() - self.released.val() + 1;
                self.taken.d.next = self.taken.q.val() + 1;
                self.filling.d.next = true;
                self.fill_slot.d.next = self.ring.q.val();
                self.fill_index.d.next = 0.into();
                self.fill_entry.d.next = 0.into();
                self.fill_weight.d.next = self.weight.val();
            }
        }
        self.tap_low_data.next = self.word.val();
        self.tap_high_data.next = (bit_cast::<16, 3>(self.ky.val()) << self.entry_ky.val())
            | (bit_cast::<16, 3>(self.kx.val()) << self.entry_kx.val())
            | (bit_cast::<16, 4>(self.entry_slot.val()) << self.entry_slot_at.val());
        self.last_word.next = self.take.val() & (self.tap.q.val() == self.last_tap.q.val());
        if self.take.val() {
            self.word_ready.next = true;
            self.tap_write_high.next = true;
            self.have_offset.d.next = false;
            self.tap.d.next = self.tap.q.val() + 1;
            if self.tap.q.val() == self.last_tap.q.val() {
                self.active.d.next = false;
                self.finishing.d.next = true;
            }
        }
        // The filler: one entry per cycle the port is free.
        self.table_write.next = false;
        self.table_address.next = (bit_cast::<8, 4>(self.fill_slot.q.val()) << 4)
            | bit_cast::<8, 4>(self.fill_index.q.val());
        self.table_data.next = bit_cast::<16, ENTRY>(self.fill_entry.q.val());
        if (self.fill_entry.q.val() & self.entry_sign_bit.val()).any() {
            self.table_data.next = self.table_data.val() | self.entry_sign_fill.val();
        }
        self.step.next = bit_cast::<ENTRY, 9>(self.fill_weight.q.val());
        if self.fill_weight.q.val().get_bit(8) {
            self.step.next = self.step.val() | self.step_sign_fill.val();
        }
        if self.filling.q.val() & !self.bank_busy.val() {
            self.table_write.next = true;
            self.fill_entry.d.next = self.fill_entry.q.val() + self.step.val();
            self.fill_index.d.next = self.fill_index.q.val() + 1;
            if self.fill_index.q.val().all() {
                self.filling.d.next = false;
            }
        }
        // Done once every tap is taken and the last table is filled.
        self.done.next = false;
        self.tables.next = self.taken.q.val();
        // (In the fill's last cycle already: its last entry is written at this edge, and the
        // issuer reads a table no earlier than three cycles on.)
        self.last_fill.next =
            self.filling.q.val() & self.fill_index.q.val().all() & !self.bank_busy.val();
        if self.finishing.q.val() & (!self.filling.q.val() | self.last_fill.val()) {
            self.done.next = true;
            self.finishing.d.next = false;
            self.taken.d.next = 0.into();
        }
        self.busy.next = self.active.q.val() | self.finishing.q.val();
        if self.start.val() {
            self.active.d.next = true;
            self.have_offset.d.next = false;
            self.tap.d.next = 0.into();
            self.last_tap.d.next = self.taps.val();
        }
        if self.ring_restart.val() {
            self.ring.d.next = 0.into();
        }
    }
}
