//! `SubMacLane`: one LUT-NA multiplier with 4-bit chunks and its bank of multiples.
//!
//! The bank holds one weight's 16-entry table (`LutScheme::tables` from lutna-core, written through
//! the table port). It is kept as two copies, one per read port: the low-nibble copy is only read
//! in exact LUT-NA mode, so A-LUT-NA needs one copy and one read (the saving the paper claims). Each
//! copy is a 16 x 16-bit RAM with a registered read, which yosys maps to flip-flops or one
//! SB_RAM40_4K on the iCE40.
//!
//! Pipeline: cycle 0 the activation's nibbles address both copies; cycle 1 the entries are shifted
//! and added as the mode says, and signed ([`ChunkCombiner`]); cycle 2 `product` holds the signed
//! 32-bit result. The shifts and mode codes are constants taken from lutna-core's scheme
//! definitions.

use super::ports::{LaneOperands, TablePort};
use lutna_core::arith::{LaneMode, Scheme};
use rust_hdl::prelude::*;

/// Bits a 4-bit LUT-NA table entry can need: `|w| * (2j + 1)` of the centred A-LUT-NA at
/// `|w| = 255`, `j = 15` is 7,905.
const ENTRY_BITS: usize = 13;

/// The second half of a LUT-NA lane: takes the two table entries read for an activation's nibbles
/// (arriving one cycle after the operands, as a registered read delivers them), shifts and adds
/// them as the mode says, applies the weight's sign, and registers the product.
#[derive(LogicBlock)]
pub struct ChunkCombiner {
    pub clock: Signal<In, Clock>,
    /// Operand-time inputs (cycle 0).
    pub negative: Signal<In, bool>,
    pub mode: Signal<In, Bits<2>>,
    pub valid: Signal<In, bool>,
    /// The entries for the low and high nibble (cycle 1).
    pub low_entry: Signal<In, Bits<16>>,
    pub high_entry: Signal<In, Bits<16>>,
    pub product: Signal<Out, Bits<32>>,
    pub product_valid: Signal<Out, bool>,
    /// The product's magnitude and sign, registered beside `product`: an accumulator that
    /// adds or subtracts the magnitude itself needs no negation here (whichever outputs a user
    /// leaves unconnected, synthesis removes with their registers).
    pub magnitude_out: Signal<Out, Bits<32>>,
    pub negative_out: Signal<Out, bool>,
    negative_d: DFF<bool>,
    mode_d: DFF<Bits<2>>,
    valid_d: DFF<bool>,
    product_q: DFF<Bits<32>>,
    valid_q: DFF<bool>,
    magnitude_q: DFF<Bits<32>>,
    negative_q: DFF<bool>,
    magnitude: Signal<Local, Bits<32>>,
    low: Signal<Local, Bits<32>>,
    high: Signal<Local, Bits<32>>,
    high_shift: Constant<Bits<5>>,
    centred_shift: Constant<Bits<5>>,
    mode_exact: Constant<Bits<2>>,
    mode_centred: Constant<Bits<2>>,
    /// False in the A-LUT-NA-only build ([`SubMacLane::approximate_only`]): the low entry is
    /// never used, so synthesis removes whatever feeds it.
    has_low_entry: Constant<bool>,
}

impl Default for ChunkCombiner {
    fn default() -> Self {
        let reads = |s: Scheme| match s {
            Scheme::Lut(l) => l.reads(),
            Scheme::Exact => unreachable!(),
        };
        // LUT-NA reads the high nibble at its chunk position; the centred A-LUT-NA reads the
        // odd-multiples table one place lower (see docs/arithmetic.md).
        let high_shift = reads(Scheme::LUTNA)[1].shift;
        let centred_shift = reads(Scheme::ALUTNA_C)[0].shift;
        assert_eq!(reads(Scheme::ALUTNA)[0].shift, high_shift);
        // Every table a lane mode fills, at the largest weight and nibble, fits ENTRY_BITS.
        for m in LaneMode::ALL {
            let Scheme::Lut(l) = m.scheme() else {
                unreachable!()
            };
            for t in 0..l.table_count() {
                let last = l.table_len() as u32 - 1;
                let largest = l.table_entry(t, lutna_core::arith::WEIGHT_MAX as u8, last);
                assert!(
                    largest < 1 << ENTRY_BITS,
                    "{m:?} table {t} needs wider entries"
                );
            }
        }
        Self {
            clock: Default::default(),
            negative: Default::default(),
            mode: Default::default(),
            valid: Default::default(),
            low_entry: Default::default(),
            high_entry: Default::default(),
            product: Default::default(),
            product_valid: Default::default(),
            magnitude_out: Default::default(),
            negative_out: Default::default(),
            negative_d: Default::default(),
            mode_d: Default::default(),
            valid_d: Default::default(),
            product_q: Default::default(),
            valid_q: Default::default(),
            magnitude_q: Default::default(),
            negative_q: Default::default(),
            magnitude: Default::default(),
            low: Default::default(),
            high: Default::default(),
            high_shift: Constant::new((high_shift as u64).into()),
            centred_shift: Constant::new((centred_shift as u64).into()),
            mode_exact: Constant::new((LaneMode::Exact.code() as u64).into()),
            mode_centred: Constant::new((LaneMode::Centred.code() as u64).into()),
            has_low_entry: Constant::new(true),
        }
    }
}

impl Logic for ChunkCombiner {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            negative_d,
            mode_d,
            valid_d,
            product_q,
            valid_q,
            magnitude_q,
            negative_q
        );
        self.negative_d.d.next = self.negative.val();
        self.mode_d.d.next = self.mode.val();
        self.valid_d.d.next = self.valid.val();
        // Only the entries' low ENTRY_BITS can be set (checked in Default), which keeps the
        // shift-add that narrow. Truncating A-LUT-NA by default: the high nibble only.
        self.low.next = bit_cast::<32, ENTRY_BITS>(self.low_entry.val().get_bits::<ENTRY_BITS>(0));
        self.high.next =
            bit_cast::<32, ENTRY_BITS>(self.high_entry.val().get_bits::<ENTRY_BITS>(0));
        self.magnitude.next = self.high.val() << self.high_shift.val();
        if (self.mode_d.q.val() == self.mode_exact.val()) & self.has_low_entry.val() {
            self.magnitude.next = self.low.val() + (self.high.val() << self.high_shift.val());
        }
        if self.mode_d.q.val() == self.mode_centred.val() {
            self.magnitude.next = self.high.val() << self.centred_shift.val();
        }
        self.product_q.d.next = self.magnitude.val();
        if self.negative_d.q.val() {
            self.product_q.d.next = !self.magnitude.val() + 1;
        }
        self.valid_q.d.next = self.valid_d.q.val();
        self.magnitude_q.d.next = self.magnitude.val();
        self.negative_q.d.next = self.negative_d.q.val();
        self.magnitude_out.next = self.magnitude_q.q.val();
        self.negative_out.next = self.negative_q.q.val();
        self.product.next = self.product_q.q.val();
        self.product_valid.next = self.valid_q.q.val();
    }
}

#[derive(LogicBlock, Default)]
pub struct SubMacLane {
    pub clock: Signal<In, Clock>,
    /// The bank's write port: both copies take the entry.
    pub table: TablePort<4>,
    /// The activation, the weight's sign, the lane mode ([`LaneMode`] code).
    pub operands: LaneOperands<8>,
    /// `activation * weight` as the mode computes it, two cycles after the operands.
    pub product: Signal<Out, Bits<32>>,
    pub product_valid: Signal<Out, bool>,
    low_copy: RAM<Bits<16>, 4>,
    high_copy: RAM<Bits<16>, 4>,
    combiner: ChunkCombiner,
}

impl Logic for SubMacLane {
    #[hdl_gen]
    fn update(&mut self) {
        self.low_copy.read_clock.next = self.clock.val();
        self.low_copy.write_clock.next = self.clock.val();
        self.high_copy.read_clock.next = self.clock.val();
        self.high_copy.write_clock.next = self.clock.val();
        self.low_copy.write_enable.next = self.table.write.val();
        self.high_copy.write_enable.next = self.table.write.val();
        self.low_copy.write_address.next = self.table.address.val();
        self.high_copy.write_address.next = self.table.address.val();
        self.low_copy.write_data.next = self.table.data.val();
        self.high_copy.write_data.next = self.table.data.val();
        self.low_copy.read_address.next = self.operands.activation.val().get_bits::<4>(0);
        self.high_copy.read_address.next = self.operands.activation.val().get_bits::<4>(4);
        self.combiner.clock.next = self.clock.val();
        self.combiner.negative.next = self.operands.negative.val();
        self.combiner.mode.next = self.operands.mode.val();
        self.combiner.valid.next = self.operands.valid.val();
        self.combiner.low_entry.next = self.low_copy.read_data.val();
        self.combiner.high_entry.next = self.high_copy.read_data.val();
        self.product.next = self.combiner.product.val();
        self.product_valid.next = self.combiner.product_valid.val();
    }
}

impl SubMacLane {
    /// A lane with its inputs marked driven, ready for simulation or Verilog generation.
    pub fn top() -> Self {
        Self::connected(SubMacLane::default())
    }

    /// The A-LUT-NA-only lane the paper's approximate unit corresponds to: one table copy and one
    /// read. Its exact mode code falls back to truncation; use it only for approximate layers.
    pub fn approximate_only() -> Self {
        let mut lane = SubMacLane::default();
        lane.combiner.has_low_entry = Constant::new(false);
        Self::connected(lane)
    }

    fn connected(mut uut: SubMacLane) -> Self {
        uut.clock.connect();
        uut.table.connect_inputs();
        uut.operands.connect_inputs();
        uut.connect_all();
        uut
    }
}
