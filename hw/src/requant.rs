//! `Requantizer`: accumulator to activation, exactly `lutna_core::arith::Requant::apply`:
//! `clamp((acc * mult + 2^(shift-1)) >>> shift)` to 0..255 (ReLU, u8 outputs) or -128..127 (i8
//! outputs feeding a residual add).
//!
//! Stage 1 takes the accumulator's magnitude and multiplies its two 16-bit halves by the 15-bit
//! multiplier (two 16 x 16 products, the shape of two SB_MAC16 on the UP5K). Stage 2 joins them,
//! restores the sign, adds the rounding half, shifts arithmetically and clamps. Latency 2 cycles.

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct Requantizer {
    pub clock: Signal<In, Clock>,
    /// Two's-complement i32 accumulator (bias already added).
    pub acc: Signal<In, Bits<32>>,
    /// `Requant::mult` (< 2^15) and `Requant::shift` (<= 47).
    pub mult: Signal<In, Bits<16>>,
    pub shift: Signal<In, Bits<6>>,
    /// Output kind: false = u8 with ReLU, true = i8.
    pub signed_out: Signal<In, bool>,
    pub valid: Signal<In, bool>,
    /// The activation byte (u8, or i8 in two's complement), two cycles later.
    pub out: Signal<Out, Bits<8>>,
    pub out_valid: Signal<Out, bool>,
    magnitude: Signal<Local, Bits<32>>,
    low_product: DFF<Bits<32>>,
    high_product: DFF<Bits<32>>,
    negative_d: DFF<bool>,
    shift_d: DFF<Bits<6>>,
    signed_d: DFF<bool>,
    valid_d: DFF<bool>,
    out_q: DFF<Bits<8>>,
    valid_q: DFF<bool>,
    unit: Signal<Local, Bits<64>>,
    product: Signal<Local, Bits<64>>,
    signed_product: Signal<Local, Bits<64>>,
    rounded: Signal<Local, Bits<64>>,
    shifted: Signal<Local, Bits<64>>,
}

impl Logic for Requantizer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            low_product,
            high_product,
            negative_d,
            shift_d,
            signed_d,
            valid_d,
            out_q,
            valid_q
        );
        // Stage 1: |acc| times the multiplier, in two 16 x 16 halves.
        self.magnitude.next = self.acc.val();
        if self.acc.val().get_bit(31) {
            self.magnitude.next = !self.acc.val() + 1;
        }
        self.low_product.d.next = self.magnitude.val().get_bits::<16>(0) * self.mult.val();
        self.high_product.d.next = self.magnitude.val().get_bits::<16>(16) * self.mult.val();
        self.negative_d.d.next = self.acc.val().get_bit(31);
        self.shift_d.d.next = self.shift.val();
        self.signed_d.d.next = self.signed_out.val();
        self.valid_d.d.next = self.valid.val();
        // Stage 2: join, restore the sign, round half up, shift arithmetically, clamp.
        self.product.next = (bit_cast::<64, 32>(self.high_product.q.val()) << 16)
            + bit_cast::<64, 32>(self.low_product.q.val());
        self.signed_product.next = self.product.val();
        if self.negative_d.q.val() {
            self.signed_product.next = !self.product.val() + 1;
        }
        self.unit.next = 1.into();
        self.rounded.next =
            self.signed_product.val() + ((self.unit.val() << self.shift_d.q.val()) >> 1);
        self.shifted.next = self.rounded.val() >> self.shift_d.q.val();
        if self.rounded.val().get_bit(63) {
            self.shifted.next = !((!self.rounded.val()) >> self.shift_d.q.val());
        }
        // Default: in range, keep the low byte.
        self.out_q.d.next = self.shifted.val().get_bits::<8>(0);
        if self.signed_d.q.val() {
            if self.shifted.val().get_bit(63) {
                if !self.shifted.val().get_bits::<57>(7).all() {
                    self.out_q.d.next = 0x80.into();
                }
            } else if self.shifted.val().get_bits::<57>(7).any() {
                self.out_q.d.next = 0x7F.into();
            }
        } else if self.shifted.val().get_bit(63) {
            self.out_q.d.next = 0.into();
        } else if self.shifted.val().get_bits::<56>(8).any() {
            self.out_q.d.next = 0xFF.into();
        }
        self.valid_q.d.next = self.valid_d.q.val();
        self.out.next = self.out_q.q.val();
        self.out_valid.next = self.valid_q.q.val();
    }
}

impl Requantizer {
    /// A requantizer with its inputs marked driven, ready for simulation or Verilog generation.
    pub fn top() -> Self {
        let mut uut = Requantizer::default();
        uut.clock.connect();
        uut.acc.connect();
        uut.mult.connect();
        uut.shift.connect();
        uut.signed_out.connect();
        uut.valid.connect();
        uut.connect_all();
        uut
    }
}
