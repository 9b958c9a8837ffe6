//! `Requantizer`: accumulator to activation, exactly `lutna_core::arith::Requant::apply`:
//! `clamp((acc * mult + 2^(shift-1)) >>> shift)` to 0..255 (ReLU, u8 outputs) or -128..127 (i8
//! outputs feeding a residual add).
//!
//! Seven pipeline stages, each one carry chain or one multiplier deep, so the stage closes timing
//! behind the lane array on the UP5K (a first two-stage version ran at 13 MHz there):
//! (1) `|acc|`; (2) its two 16-bit halves times the 15-bit multiplier (two 16 x 16 products, the
//! shape of two SB_MAC16); (3) the halves joined; (4) the sign restored; (5) the rounding half
//! added; (6) the arithmetic shift; (7) the clamp. A `tag` (e.g. which lane the accumulator came
//! from) travels alongside, so users need not know the latency. 52-bit arithmetic: |acc| < 2^31
//! and mult < 2^15 keep every intermediate below 2^47 in magnitude.

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
    pub tag: Signal<In, Bits<5>>,
    /// The activation byte (u8, or i8 in two's complement), [`Requantizer::LATENCY`] cycles later.
    pub out: Signal<Out, Bits<8>>,
    pub out_valid: Signal<Out, bool>,
    pub out_tag: Signal<Out, Bits<5>>,
    magnitude_q: DFF<Bits<32>>,
    mult_q: DFF<Bits<16>>,
    low_q: DFF<Bits<32>>,
    high_q: DFF<Bits<32>>,
    product_q: DFF<Bits<52>>,
    signed_q: DFF<Bits<52>>,
    rounded_q: DFF<Bits<52>>,
    shifted_q: DFF<Bits<52>>,
    out_q: DFF<Bits<8>>,
    // The control travels beside the data, one register per stage.
    negative: [DFF<bool>; 4],
    shift_q: [DFF<Bits<6>>; 5],
    signed_kind: [DFF<bool>; 7],
    valid_q: [DFF<bool>; 7],
    tag_q: [DFF<Bits<5>>; 7],
    unit: Signal<Local, Bits<52>>,
    /// All ones when the rounded value is negative.
    sign_fill: Signal<Local, Bits<52>>,
}

impl Logic for Requantizer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            magnitude_q,
            mult_q,
            low_q,
            high_q,
            product_q,
            signed_q,
            rounded_q,
            shifted_q,
            out_q
        );
        for i in 0..4 {
            self.negative[i].clock.next = self.clock.val();
            self.negative[i].d.next = self.negative[i].q.val();
        }
        for i in 0..5 {
            self.shift_q[i].clock.next = self.clock.val();
            self.shift_q[i].d.next = self.shift_q[i].q.val();
        }
        for i in 0..7 {
            self.signed_kind[i].clock.next = self.clock.val();
            self.valid_q[i].clock.next = self.clock.val();
            self.tag_q[i].clock.next = self.clock.val();
        }
        self.negative[0].d.next = self.acc.val().get_bit(31);
        self.shift_q[0].d.next = self.shift.val();
        self.signed_kind[0].d.next = self.signed_out.val();
        self.valid_q[0].d.next = self.valid.val();
        self.tag_q[0].d.next = self.tag.val();
        for i in 1..4 {
            self.negative[i].d.next = self.negative[i - 1].q.val();
        }
        for i in 1..5 {
            self.shift_q[i].d.next = self.shift_q[i - 1].q.val();
        }
        for i in 1..7 {
            self.signed_kind[i].d.next = self.signed_kind[i - 1].q.val();
            self.valid_q[i].d.next = self.valid_q[i - 1].q.val();
            self.tag_q[i].d.next = self.tag_q[i - 1].q.val();
        }
        // 1: magnitude.
        self.magnitude_q.d.next = self.acc.val();
        if self.acc.val().get_bit(31) {
            self.magnitude_q.d.next = !self.acc.val() + 1;
        }
        self.mult_q.d.next = self.mult.val();
        // 2: two 16 x 16 products.
        self.low_q.d.next = self.magnitude_q.q.val().get_bits::<16>(0) * self.mult_q.q.val();
        self.high_q.d.next = self.magnitude_q.q.val().get_bits::<16>(16) * self.mult_q.q.val();
        // 3: join.
        self.product_q.d.next = (bit_cast::<52, 32>(self.high_q.q.val()) << 16)
            + bit_cast::<52, 32>(self.low_q.q.val());
        // 4: sign.
        self.signed_q.d.next = self.product_q.q.val();
        if self.negative[2].q.val() {
            self.signed_q.d.next = !self.product_q.q.val() + 1;
        }
        // 5: round half up.
        self.unit.next = 1.into();
        self.rounded_q.d.next =
            self.signed_q.q.val() + ((self.unit.val() << self.shift_q[3].q.val()) >> 1);
        // 6: arithmetic shift.
        // An arithmetic shift with one barrel shifter: a negative value is complemented, shifted
        // (shifting in zeros) and complemented back, which shifts in ones.
        self.sign_fill.next = 0.into();
        if self.rounded_q.q.val().get_bit(51) {
            self.sign_fill.next = 0xF_FFFF_FFFF_FFFF_u64.into();
        }
        self.shifted_q.d.next = ((self.rounded_q.q.val() ^ self.sign_fill.val())
            >> self.shift_q[4].q.val())
            ^ self.sign_fill.val();
        // 7: clamp (default: in range, keep the low byte).
        self.out_q.d.next = self.shifted_q.q.val().get_bits::<8>(0);
        if self.signed_kind[5].q.val() {
            if self.shifted_q.q.val().get_bit(51) {
                if !self.shifted_q.q.val().get_bits::<45>(7).all() {
                    self.out_q.d.next = 0x80.into();
                }
            } else if self.shifted_q.q.val().get_bits::<45>(7).any() {
                self.out_q.d.next = 0x7F.into();
            }
        } else if self.shifted_q.q.val().get_bit(51) {
            self.out_q.d.next = 0.into();
        } else if self.shifted_q.q.val().get_bits::<44>(8).any() {
            self.out_q.d.next = 0xFF.into();
        }
        self.out.next = self.out_q.q.val();
        self.out_valid.next = self.valid_q[6].q.val();
        self.out_tag.next = self.tag_q[6].q.val();
    }
}

impl Requantizer {
    pub const LATENCY: usize = 7;

    /// A requantizer with its inputs marked driven, ready for simulation or Verilog generation.
    pub fn top() -> Self {
        let mut uut = Requantizer::default();
        uut.clock.connect();
        uut.acc.connect();
        uut.mult.connect();
        uut.shift.connect();
        uut.signed_out.connect();
        uut.valid.connect();
        uut.tag.connect();
        uut.connect_all();
        uut
    }
}
