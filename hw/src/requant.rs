//! `Requantizer`: accumulator to activation, exactly `lutna_core::arith::Requant::apply`:
//! `clamp((acc * mult + 2^(shift-1)) >>> shift)` to 0..255 (ReLU, u8 outputs) or -128..127 (i8
//! outputs feeding a residual add).
//!
//! Seven pipeline stages, each one carry chain or one multiplier deep, so the stage closes timing
//! behind the lane array on the UP5K (a first two-stage version ran at 13 MHz there):
//! (1) `|acc|`; (2) its two 16-bit halves times the 15-bit multiplier (two 16 x 16 products, the
//! shape of two SB_MAC16); (3) the halves joined; (4) the sign restored; (5) twice the product
//! shifted right (arithmetic); (6) plus one, halved: `(2x >> s) + 1 >> 1` is
//! `(x + 2^(s-1)) >> s` for every s >= 1 and x for s = 0, the rounding without a 2^(s-1)
//! decoder; (7) the clamp. A `tag` (e.g. which lane the accumulator came from) travels
//! alongside, so users need not know the latency. 48-bit arithmetic (49 for the doubled value):
//! |acc| <= 2^31 and mult < 2^15 keep the product below 2^46 in magnitude.

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
    product_q: DFF<Bits<48>>,
    signed_q: DFF<Bits<48>>,
    doubled_q: DFF<Bits<49>>,
    shifted_q: DFF<Bits<48>>,
    out_q: DFF<Bits<8>>,
    // The control travels beside the data, one register per stage.
    negative: [DFF<bool>; 4],
    shift_q: [DFF<Bits<6>>; 4],
    signed_kind: [DFF<bool>; 7],
    valid_q: [DFF<bool>; 7],
    tag_q: [DFF<Bits<5>>; 7],
    doubled: Signal<Local, Bits<49>>,
    /// All ones when the value is negative.
    sign_fill: Signal<Local, Bits<49>>,
    rounded: Signal<Local, Bits<49>>,
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
            doubled_q,
            shifted_q,
            out_q
        );
        for i in 0..4 {
            self.negative[i].clock.next = self.clock.val();
            self.negative[i].d.next = self.negative[i].q.val();
        }
        for i in 0..4 {
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
        for i in 1..4 {
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
        self.product_q.d.next = (bit_cast::<48, 32>(self.high_q.q.val()) << 16)
            + bit_cast::<48, 32>(self.low_q.q.val());
        // 4: sign.
        self.signed_q.d.next = self.product_q.q.val();
        if self.negative[2].q.val() {
            self.signed_q.d.next = !self.product_q.q.val() + 1;
        }
        // 5: round half up.
        // An arithmetic shift with one barrel shifter: a negative value is complemented, shifted
        // (shifting in zeros) and complemented back, which shifts in ones.
        self.doubled.next = bit_cast::<49, 48>(self.signed_q.q.val()) << 1;
        self.sign_fill.next = 0.into();
        if self.signed_q.q.val().get_bit(47) {
            self.sign_fill.next = 0x1_FFFF_FFFF_FFFF_u64.into();
        }
        self.doubled_q.d.next = ((self.doubled.val() ^ self.sign_fill.val())
            >> self.shift_q[3].q.val())
            ^ self.sign_fill.val();
        self.rounded.next = self.doubled_q.q.val() + 1;
        self.shifted_q.d.next = self.rounded.val().get_bits::<48>(1);
        self.out_q.d.next = self.shifted_q.q.val().get_bits::<8>(0);
        if self.signed_kind[5].q.val() {
            if self.shifted_q.q.val().get_bit(47) {
                if !self.shifted_q.q.val().get_bits::<41>(7).all() {
                    self.out_q.d.next = 0x80.into();
                }
            } else if self.shifted_q.q.val().get_bits::<41>(7).any() {
                self.out_q.d.next = 0x7F.into();
            }
        } else if self.shifted_q.q.val().get_bit(47) {
            self.out_q.d.next = 0.into();
        } else if self.shifted_q.q.val().get_bits::<40>(8).any() {
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
