//! `EngineLane`: one lane of the instruction-stream engine (docs/engine.md, "Units"): its bank
//! (two 256 x 16 block RAMs holding the same tables from word 0 up and the partial sums from
//! word 255 down), the in-map test, the shift-add of the two nibbles' entries, the accumulator
//! (sum or maximum), the drain register and the partial-sum write.
//!
//! Pipeline (the stages of docs/engine.md; the control flags come staged from the issuer, so a
//! lane keeps no copy of them):
//! - **S2** `activation` (the lane's byte of the window) and the in-map bounds; the high bank is
//!   read at the high nibble, the low bank at the low nibble (LUT-NA, `low_pass`) or at the
//!   entry the mode reads instead (`low_fill`: 0 truncating, 8 centred; `arith::LaneMode::
//!   low_read`), both within the slot `bank_high`; in a partial-sum cycle both at the word
//!   `{bank_high, partial_low}`.
//! - **S3** the entries arrive (the signed weight's multiples, `arith::lane_entry`, the same
//!   table in every mode) and are added, the high one shifted: the product, signed; or the two
//!   halves of a partial sum (`s3_partial`).
//! - **S4** `s4_valid`: the product joins the sum (max mode: the product register kept the
//!   largest, and only the group's last tap is added, to 0). `s4_last`: the
//!   result goes to the drain register (`s4_drain`) or to the banks' partial-sum word
//!   (`s4_store`), and the accumulator restarts from 0.
//!
//! The drain registers of the P lanes form a chain (`drain_in` from the next lane) that
//! `drain_shift` walks into the requantizer.

use crate::memory::block_ram::BlockRam;
use lutna_core::arith::{LANE_ENTRY_BITS, LANE_HIGH_SHIFT};
use rust_hdl::prelude::*;

/// Bits of a lane's sum, product, partial sum and drain register (the compiler proves every
/// channel's sum fits: `lutna_core::isa::shape::LANE_SUM_BITS`).
pub const SUM: usize = lutna_core::isa::shape::LANE_SUM_BITS as usize;
/// Bits of a table entry (two's complement).
const ENTRY: usize = LANE_ENTRY_BITS as usize;
/// Bits of a partial sum kept in the high bank's word (the low bank's word holds 16).
const HIGH_HALF: usize = SUM - 16;

#[derive(LogicBlock)]
pub struct EngineLane {
    pub clock: Signal<In, Clock>,
    /// The banks' write port, shared by the lanes (the table programmer's entries).
    pub table_write: Signal<In, bool>,
    pub table_data: Signal<In, Bits<16>>,
    /// Address of the banks' write port (a table entry, or the partial sum being stored).
    pub write_address: Signal<In, Bits<8>>,
    /// S2: the lane's byte of the window, and whether its position is in the map (the lane's
    /// bit of [`super::column_mask::ColumnMask`], formed once for all lanes).
    pub activation: Signal<In, Bits<8>>,
    pub reads: Signal<In, bool>,
    /// S2: the banks' read address above the nibble (the slot, or the partial sum's word); in a
    /// partial-sum cycle its low four bits (`partial`, `partial_low`); the low bank's nibble:
    /// the activation's (`low_pass`) or `low_fill` (the mode's fixed entry, or `partial_low`).
    pub bank_high: Signal<In, Bits<4>>,
    pub partial: Signal<In, bool>,
    pub partial_low: Signal<In, Bits<4>>,
    pub low_pass: Signal<In, bool>,
    pub low_fill: Signal<In, Bits<4>>,
    /// S3: a partial-sum cycle; max mode and the group's first tap (max mode keeps the largest
    /// product from the first tap on); a max-mode cycle without a tap (`s3_keep`: the product
    /// register holds the group's max through it).
    pub s3_partial: Signal<In, bool>,
    pub s3_max: Signal<In, bool>,
    pub s3_keep: Signal<In, bool>,
    pub s3_first: Signal<In, bool>,
    /// S4: a product (or partial sum) joins the sum (in max mode only at the group's last tap);
    /// the group's last tap, whose result goes to the drain or is stored as the partial sum.
    pub s4_valid: Signal<In, bool>,
    pub s4_last: Signal<In, bool>,
    pub s4_drain: Signal<In, bool>,
    pub s4_store: Signal<In, bool>,
    /// The drain chain.
    pub drain_shift: Signal<In, bool>,
    pub drain_in: Signal<In, Bits<SUM>>,
    pub drain_out: Signal<Out, Bits<SUM>>,
    low_bank: BlockRam<16, 8>,
    high_bank: BlockRam<16, 8>,
    low_nibble: Signal<Local, Bits<4>>,
    high_nibble: Signal<Local, Bits<4>>,
    low: Signal<Local, Bits<SUM>>,
    high: Signal<Local, Bits<SUM>>,
    /// The signed product formed from the two entries.
    magnitude: Signal<Local, Bits<SUM>>,
    product: DFF<Bits<SUM>>,
    /// Max mode: this cycle's product is not larger than the one kept.
    hold: Signal<Local, bool>,
    acc: DFF<Bits<SUM>>,
    drain: DFF<Bits<SUM>>,
    result: Signal<Local, Bits<SUM>>,
    /// The bits above an entry, set when it is negative.
    sign_fill: Constant<Bits<SUM>>,
    /// The bits of the high bank's word above a partial sum's high half.
    high_keep: Constant<Bits<16>>,
    /// An entry's sign bit in its bank word.
    sign_bit: Constant<Bits<16>>,
    high_shift: Constant<Bits<5>>,
}

impl Default for EngineLane {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            table_write: Default::default(),
            table_data: Default::default(),
            write_address: Default::default(),
            activation: Default::default(),
            reads: Default::default(),
            bank_high: Default::default(),
            partial: Default::default(),
            partial_low: Default::default(),
            low_pass: Default::default(),
            low_fill: Default::default(),
            s3_partial: Default::default(),
            s3_max: Default::default(),
            s3_keep: Default::default(),
            s3_first: Default::default(),
            s4_valid: Default::default(),
            s4_last: Default::default(),
            s4_drain: Default::default(),
            s4_store: Default::default(),
            drain_shift: Default::default(),
            drain_in: Default::default(),
            drain_out: Default::default(),

            low_bank: Default::default(),
            high_bank: Default::default(),
            low_nibble: Default::default(),
            high_nibble: Default::default(),
            low: Default::default(),
            high: Default::default(),
            magnitude: Default::default(),
            product: Default::default(),
            hold: Default::default(),
            acc: Default::default(),
            drain: Default::default(),
            result: Default::default(),
            sign_fill: Constant::new((((1u64 << SUM) - 1) & !((1u64 << ENTRY) - 1)).into()),
            high_keep: Constant::new((0xffffu64 & !((1u64 << HIGH_HALF) - 1)).into()),
            sign_bit: Constant::new((1u64 << (ENTRY - 1)).into()),
            high_shift: Constant::new((LANE_HIGH_SHIFT as u64).into()),
        }
    }
}

impl EngineLane {
    /// The lane as a top-level block (simulation, Verilog of the unit on its own).
    pub fn top() -> Self {
        let mut l = Self::default();
        l.connect_all();
        l
    }
}

impl Logic for EngineLane {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, product, acc, drain);
        // S2: the byte's nibbles address the banks; outside the map the lane reads as for a
        // byte 0 (in the centred mode that is not a product of 0: the golden engine's padding
        // is a byte 0 too).
        self.low_nibble.next = self.low_fill.val();
        if self.low_pass.val() & self.reads.val() {
            self.low_nibble.next = self.activation.val().get_bits::<4>(0);
        }
        self.high_nibble.next = 0.into();
        if self.reads.val() {
            self.high_nibble.next = self.activation.val().get_bits::<4>(4);
        }
        if self.partial.val() {
            self.high_nibble.next = self.partial_low.val();
        }
        self.low_bank.read_clock.next = self.clock.val();
        self.high_bank.read_clock.next = self.clock.val();
        self.low_bank.write_clock.next = self.clock.val();
        self.high_bank.write_clock.next = self.clock.val();
        self.low_bank.read_address.next =
            (bit_cast::<8, 4>(self.bank_high.val()) << 4) | bit_cast::<8, 4>(self.low_nibble.val());
        self.high_bank.read_address.next = (bit_cast::<8, 4>(self.bank_high.val()) << 4)
            | bit_cast::<8, 4>(self.high_nibble.val());
        // S3: the two entries, sign-extended, the high one shifted: the signed product.
        self.low.next = bit_cast::<SUM, ENTRY>(self.low_bank.read_data.val().get_bits::<ENTRY>(0));
        if (self.low_bank.read_data.val() & self.sign_bit.val()).any() {
            self.low.next = self.low.val() | self.sign_fill.val();
        }
        self.high.next =
            bit_cast::<SUM, ENTRY>(self.high_bank.read_data.val().get_bits::<ENTRY>(0));
        if (self.high_bank.read_data.val() & self.sign_bit.val()).any() {
            self.high.next = self.high.val() | self.sign_fill.val();
        }
        self.magnitude.next = self.low.val() + (self.high.val() << self.high_shift.val());
        // Max mode keeps the largest product of the group in the product register (weights are
        // 1, so a product is the activation and 9 bits compare), and only the group's last tap
        // reaches the accumulator, which the tap before left at 0: that sum is the maximum.
        self.hold.next = self.s3_keep.val()
            | self.s3_max.val()
                & !self.s3_first.val()
                & (self.magnitude.val().get_bits::<9>(0) <= self.product.q.val().get_bits::<9>(0));
        if !self.hold.val() {
            self.product.d.next = self.magnitude.val();
            if self.s3_partial.val() {
                self.product.d.next = (bit_cast::<SUM, HIGH_HALF>(
                    self.high_bank.read_data.val().get_bits::<HIGH_HALF>(0),
                ) << 16)
                    | bit_cast::<SUM, 16>(self.low_bank.read_data.val());
            }
        }
        // S4: accumulate.
        self.result.next = self.acc.q.val() + self.product.q.val();
        if self.s4_valid.val() {
            self.acc.d.next = self.result.val();
        }
        if self.s4_last.val() {
            self.acc.d.next = 0.into();
        }
        // The drain: loaded with a group's result, walked towards lane 0.
        if self.drain_shift.val() {
            self.drain.d.next = self.drain_in.val();
        }
        if self.s4_drain.val() {
            self.drain.d.next = self.result.val();
        }
        self.drain_out.next = self.drain.q.val();
        // The banks' write port: a table entry, or the two halves of a partial sum.
        self.low_bank.write_address.next = self.write_address.val();
        self.high_bank.write_address.next = self.write_address.val();
        self.low_bank.write_enable.next = self.table_write.val() | self.s4_store.val();
        self.high_bank.write_enable.next = self.table_write.val() | self.s4_store.val();
        self.low_bank.write_data.next = self.table_data.val();
        self.high_bank.write_data.next = self.table_data.val();
        // (A partial sum's high half takes the low bits of the high bank's word; the bits
        // above are not read back, so they keep the table bus's.)
        if self.s4_store.val() {
            self.low_bank.write_data.next = self.result.val().get_bits::<16>(0);
            self.high_bank.write_data.next = (self.table_data.val() & self.high_keep.val())
                | bit_cast::<16, HIGH_HALF>(self.result.val().get_bits::<HIGH_HALF>(16));
        }
    }
}
