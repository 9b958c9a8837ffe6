//! `SubMacLane`: one LUT-NA multiplier with 4-bit chunks and its bank of multiples.
//!
//! The bank holds one weight's 16-entry table (`LutScheme::tables` from lutna-core, written through
//! the table port). It is kept as two copies, one per read port: the low-nibble copy is only read
//! in exact LUT-NA mode, so A-LUT-NA needs one copy and one read (the saving the paper claims). Each
//! copy is a 16 x 16-bit RAM with a registered read, which yosys maps to flip-flops or one
//! SB_RAM40_4K on the iCE40.
//!
//! Pipeline: cycle 0 the activation's nibbles address both copies; cycle 1 the entries are shifted
//! and added as the mode says, and signed; cycle 2 `product` holds the signed 32-bit result.
//! The shifts and mode codes are constants taken from lutna-core's scheme definitions.

use lutna_core::arith::{LaneMode, Scheme};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct SubMacLane {
    pub clock: Signal<In, Clock>,
    /// Bank write port: entry `table_addr` of both copies takes `table_data`.
    pub table_write: Signal<In, bool>,
    pub table_addr: Signal<In, Bits<4>>,
    pub table_data: Signal<In, Bits<16>>,
    /// Operands: the activation, the weight's sign, the lane mode ([`LaneMode`] code).
    pub activation: Signal<In, Bits<8>>,
    pub negative: Signal<In, bool>,
    pub mode: Signal<In, Bits<2>>,
    pub valid: Signal<In, bool>,
    /// `activation * weight` as the mode computes it, two cycles after the operands.
    pub product: Signal<Out, Bits<32>>,
    pub product_valid: Signal<Out, bool>,
    low_copy: RAM<Bits<16>, 4>,
    high_copy: RAM<Bits<16>, 4>,
    negative_d: DFF<bool>,
    mode_d: DFF<Bits<2>>,
    valid_d: DFF<bool>,
    product_q: DFF<Bits<32>>,
    valid_q: DFF<bool>,
    magnitude: Signal<Local, Bits<32>>,
    high_shift: Constant<Bits<5>>,
    centred_shift: Constant<Bits<5>>,
    mode_exact: Constant<Bits<2>>,
    mode_centred: Constant<Bits<2>>,
    /// False in the A-LUT-NA-only build ([`SubMacLane::approximate_only`]): the low-nibble copy
    /// is never read, so synthesis removes it.
    has_low_copy: Constant<bool>,
}

impl Default for SubMacLane {
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
        Self {
            clock: Default::default(),
            table_write: Default::default(),
            table_addr: Default::default(),
            table_data: Default::default(),
            activation: Default::default(),
            negative: Default::default(),
            mode: Default::default(),
            valid: Default::default(),
            product: Default::default(),
            product_valid: Default::default(),
            low_copy: Default::default(),
            high_copy: Default::default(),
            negative_d: Default::default(),
            mode_d: Default::default(),
            valid_d: Default::default(),
            product_q: Default::default(),
            valid_q: Default::default(),
            magnitude: Default::default(),
            high_shift: Constant::new((high_shift as u64).into()),
            centred_shift: Constant::new((centred_shift as u64).into()),
            mode_exact: Constant::new((LaneMode::Exact.code() as u64).into()),
            mode_centred: Constant::new((LaneMode::Centred.code() as u64).into()),
            has_low_copy: Constant::new(true),
        }
    }
}

impl Logic for SubMacLane {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, negative_d, mode_d, valid_d, product_q, valid_q);
        self.low_copy.read_clock.next = self.clock.val();
        self.low_copy.write_clock.next = self.clock.val();
        self.high_copy.read_clock.next = self.clock.val();
        self.high_copy.write_clock.next = self.clock.val();
        self.low_copy.write_enable.next = self.table_write.val();
        self.high_copy.write_enable.next = self.table_write.val();
        self.low_copy.write_address.next = self.table_addr.val();
        self.high_copy.write_address.next = self.table_addr.val();
        self.low_copy.write_data.next = self.table_data.val();
        self.high_copy.write_data.next = self.table_data.val();
        self.low_copy.read_address.next = self.activation.val().get_bits::<4>(0);
        self.high_copy.read_address.next = self.activation.val().get_bits::<4>(4);
        self.negative_d.d.next = self.negative.val();
        self.mode_d.d.next = self.mode.val();
        self.valid_d.d.next = self.valid.val();
        // Truncating A-LUT-NA by default: the high nibble only.
        self.magnitude.next =
            bit_cast::<32, 16>(self.high_copy.read_data.val()) << self.high_shift.val();
        if (self.mode_d.q.val() == self.mode_exact.val()) & self.has_low_copy.val() {
            self.magnitude.next = bit_cast::<32, 16>(self.low_copy.read_data.val())
                + (bit_cast::<32, 16>(self.high_copy.read_data.val()) << self.high_shift.val());
        }
        if self.mode_d.q.val() == self.mode_centred.val() {
            self.magnitude.next =
                bit_cast::<32, 16>(self.high_copy.read_data.val()) << self.centred_shift.val();
        }
        self.product_q.d.next = self.magnitude.val();
        if self.negative_d.q.val() {
            self.product_q.d.next = !self.magnitude.val() + 1;
        }
        self.valid_q.d.next = self.valid_d.q.val();
        self.product.next = self.product_q.q.val();
        self.product_valid.next = self.valid_q.q.val();
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
        Self::connected(SubMacLane {
            has_low_copy: Constant::new(false),
            ..Default::default()
        })
    }

    fn connected(mut uut: SubMacLane) -> Self {
        uut.clock.connect();
        uut.table_write.connect();
        uut.table_addr.connect();
        uut.table_data.connect();
        uut.activation.connect();
        uut.negative.connect();
        uut.mode.connect();
        uut.valid.connect();
        uut.connect_all();
        uut
    }
}
