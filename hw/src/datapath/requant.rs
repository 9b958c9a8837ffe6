//! `Requantizer`: accumulator to activation, exactly `lutna_core::arith::Requant::apply`:
//! `clamp((acc * mult + 2^(shift-1)) >>> shift)` to 0..255 (ReLU, u8 outputs) or -128..127 (i8
//! outputs feeding a residual add).
//!
//! Seven pipeline stages, each one carry chain, one multiplier or one shifter deep, so the stage
//! closes timing behind the lane array on the UP5K (a first two-stage version ran at 13 MHz
//! there). Written for the UP5K's logic budget: the only wide values are the two products and
//! the 48-bit product; the shift forms the 9 bits the clamp can still see and a flag for the
//! rest, not 48 bits.
//!
//! 1. The accumulator and multiplier registered (the shape of SB_MAC16 input registers).
//! 2. Two unsigned 16 x 16 products, `lo * m` and `hi * m`, with `acc = hi * 2^16 + lo - n * 2^32`
//!    (`n` the sign): no magnitude, no negation. `n * m` is registered beside them.
//! 3. `x = acc * m = (hi * m - n * m * 2^16) * 2^16 + lo * m`, 48 bits, two's complement.
//! 4. The arithmetic shift `t = (2x) >>> s`, of which only bits 0..8 are formed: a log shifter,
//!    32-step first, each level only as wide as the later levels read. A bit a level drops
//!    would land at bit 9 or above of `t`, so where one differs from the sign, `t` is outside
//!    -512..=511 (`overflow`, then `beyond`: past every clamp limit); otherwise `t` is its 9
//!    bits and the sign.
//! 5. The rounding `(t + 1) >>> 1`, which is `(x + 2^(s-1)) >>> s` for every s >= 1 and x for
//!    s = 0, on 10 bits.
//! 6. The clamp to the output kind: `beyond` saturates, the rounded value is compared on 10 bits.
//! 7. The output register.
//!
//! A `tag` (e.g. which lane the accumulator came from) travels alongside, so users need not know
//! the latency. |acc| <= 2^31 and mult < 2^15 keep `x` below 2^46 in magnitude.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
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
    acc_q: DFF<Bits<32>>,
    mult_q: DFF<Bits<16>>,
    low_q: DFF<Bits<32>>,
    high_q: DFF<Bits<32>>,
    /// `m` when the accumulator is negative, else 0 (stage 2).
    correction_q: DFF<Bits<16>>,
    product_q: DFF<Bits<48>>,
    /// Bits 0..8 of `t` (stage 4).
    window_q: DFF<Bits<9>>,
    /// Whether a shifter level dropped a bit that differs from the sign (stage 4), and any of
    /// them (stage 5): `t` is outside -512..=511.
    overflow_q: [DFF<bool>; 6],
    beyond_q: DFF<bool>,
    negative_q: [DFF<bool>; 2],
    /// `(t + 1) >>> 1` on 10 bits, two's complement (stage 5).
    rounded_q: DFF<Bits<10>>,
    clamped_q: DFF<Bits<8>>,
    out_q: DFF<Bits<8>>,
    // The control travels beside the data, one register per stage.
    shift_q: [DFF<Bits<6>>; 3],
    signed_kind: [DFF<bool>; 7],
    valid_q: [DFF<bool>; 7],
    tag_q: [DFF<Bits<5>>; 7],
    /// The sign shifted in by the 32-step: bits 16..39.
    sign_fill: Constant<Bits<40>>,
    /// A negative `t`'s bits 9 and 10.
    small_fill: Constant<Bits<11>>,
    /// `2x`, and the shifter's levels.
    doubled: Signal<Local, Bits<48>>,
    by32: Signal<Local, Bits<40>>,
    by16: Signal<Local, Bits<24>>,
    by8: Signal<Local, Bits<16>>,
    by4: Signal<Local, Bits<12>>,
    by2: Signal<Local, Bits<10>>,
    /// `t` inside `|t| < 512`, 10-bit two's complement, and `t + 1` on 11 bits.
    small_t: Signal<Local, Bits<11>>,
    t_plus_one: Signal<Local, Bits<11>>,
}

impl Logic for Requantizer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            acc_q,
            mult_q,
            low_q,
            high_q,
            correction_q,
            product_q,
            window_q,
            rounded_q,
            beyond_q,
            clamped_q,
            out_q
        );
        for i in 0..6 {
            self.overflow_q[i].clock.next = self.clock.val();
            self.overflow_q[i].d.next = self.overflow_q[i].q.val();
        }
        for i in 0..2 {
            self.negative_q[i].clock.next = self.clock.val();
            self.negative_q[i].d.next = self.negative_q[i].q.val();
        }
        for i in 0..3 {
            self.shift_q[i].clock.next = self.clock.val();
            self.shift_q[i].d.next = self.shift_q[i].q.val();
        }
        for i in 0..7 {
            self.signed_kind[i].clock.next = self.clock.val();
            self.valid_q[i].clock.next = self.clock.val();
            self.tag_q[i].clock.next = self.clock.val();
        }
        self.shift_q[0].d.next = self.shift.val();
        self.signed_kind[0].d.next = self.signed_out.val();
        self.valid_q[0].d.next = self.valid.val();
        self.tag_q[0].d.next = self.tag.val();
        for i in 1..3 {
            self.shift_q[i].d.next = self.shift_q[i - 1].q.val();
        }
        for i in 1..7 {
            self.signed_kind[i].d.next = self.signed_kind[i - 1].q.val();
            self.valid_q[i].d.next = self.valid_q[i - 1].q.val();
            self.tag_q[i].d.next = self.tag_q[i - 1].q.val();
        }
        // 1: operands.
        self.acc_q.d.next = self.acc.val();
        self.mult_q.d.next = self.mult.val();
        // 2: two unsigned 16 x 16 products; the sign's share of the high half.
        self.low_q.d.next = self.acc_q.q.val().get_bits::<16>(0) * self.mult_q.q.val();
        self.high_q.d.next = self.acc_q.q.val().get_bits::<16>(16) * self.mult_q.q.val();
        self.correction_q.d.next = 0.into();
        if self.acc_q.q.val().get_bit(31) {
            self.correction_q.d.next = self.mult_q.q.val();
        }
        // 3: join. Bits 16.. of x are hi * m + (lo * m >> 16) - n * m * 2^16, mod 2^32.
        self.product_q.d.next = ((bit_cast::<48, 32>(self.high_q.q.val())
            + bit_cast::<48, 16>(self.low_q.q.val().get_bits::<16>(16))
            - (bit_cast::<48, 16>(self.correction_q.q.val()) << 16))
            << 16)
            + bit_cast::<48, 16>(self.low_q.q.val().get_bits::<16>(0));
        // 4: the shift, on the bits that survive the clamp. A log shifter, largest step first,
        // each level as wide as the later levels still read (40, 24, 16, 12, 10, 9 bits); a bit
        // a level drops is outside the final 9 unless it equals the sign (`overflow`).
        self.doubled.next = self.product_q.q.val() << 1;
        self.negative_q[0].d.next = self.product_q.q.val().get_bit(47);
        if self.product_q.q.val().get_bit(47) {
            self.overflow_q[0].d.next = !self.doubled.val().get_bits::<8>(40).all();
        } else {
            self.overflow_q[0].d.next = self.doubled.val().get_bits::<8>(40).any();
        }
        self.by32.next = bit_cast::<40, 48>(self.doubled.val());
        if self.shift_q[2].q.val().get_bit(5) {
            self.overflow_q[0].d.next = false;
            self.by32.next = bit_cast::<40, 48>(self.doubled.val() >> 32);
            if self.product_q.q.val().get_bit(47) {
                self.by32.next =
                    bit_cast::<40, 48>(self.doubled.val() >> 32) | self.sign_fill.val();
            }
        }
        if self.product_q.q.val().get_bit(47) {
            self.overflow_q[1].d.next = !self.by32.val().get_bits::<16>(24).all();
        } else {
            self.overflow_q[1].d.next = self.by32.val().get_bits::<16>(24).any();
        }
        self.by16.next = bit_cast::<24, 40>(self.by32.val());
        if self.shift_q[2].q.val().get_bit(4) {
            self.overflow_q[1].d.next = false;
            self.by16.next = bit_cast::<24, 40>(self.by32.val() >> 16);
        }
        if self.product_q.q.val().get_bit(47) {
            self.overflow_q[2].d.next = !self.by16.val().get_bits::<8>(16).all();
        } else {
            self.overflow_q[2].d.next = self.by16.val().get_bits::<8>(16).any();
        }
        self.by8.next = bit_cast::<16, 24>(self.by16.val());
        if self.shift_q[2].q.val().get_bit(3) {
            self.overflow_q[2].d.next = false;
            self.by8.next = bit_cast::<16, 24>(self.by16.val() >> 8);
        }
        if self.product_q.q.val().get_bit(47) {
            self.overflow_q[3].d.next = !self.by8.val().get_bits::<4>(12).all();
        } else {
            self.overflow_q[3].d.next = self.by8.val().get_bits::<4>(12).any();
        }
        self.by4.next = bit_cast::<12, 16>(self.by8.val());
        if self.shift_q[2].q.val().get_bit(2) {
            self.overflow_q[3].d.next = false;
            self.by4.next = bit_cast::<12, 16>(self.by8.val() >> 4);
        }
        if self.product_q.q.val().get_bit(47) {
            self.overflow_q[4].d.next = !self.by4.val().get_bits::<2>(10).all();
        } else {
            self.overflow_q[4].d.next = self.by4.val().get_bits::<2>(10).any();
        }
        self.by2.next = bit_cast::<10, 12>(self.by4.val());
        if self.shift_q[2].q.val().get_bit(1) {
            self.overflow_q[4].d.next = false;
            self.by2.next = bit_cast::<10, 12>(self.by4.val() >> 2);
        }
        self.overflow_q[5].d.next = self.by2.val().get_bit(9) != self.product_q.q.val().get_bit(47);
        self.window_q.d.next = bit_cast::<9, 10>(self.by2.val());
        if self.shift_q[2].q.val().get_bit(0) {
            self.overflow_q[5].d.next = false;
            self.window_q.d.next = bit_cast::<9, 10>(self.by2.val() >> 1);
        }
        self.beyond_q.d.next = self.overflow_q[0].q.val()
            | self.overflow_q[1].q.val()
            | self.overflow_q[2].q.val()
            | self.overflow_q[3].q.val()
            | self.overflow_q[4].q.val()
            | self.overflow_q[5].q.val();
        self.negative_q[1].d.next = self.negative_q[0].q.val();
        // 5: round half up on 10 bits.
        self.small_t.next = bit_cast::<11, 9>(self.window_q.q.val());
        if self.negative_q[0].q.val() {
            self.small_t.next = bit_cast::<11, 9>(self.window_q.q.val()) | self.small_fill.val();
        }
        self.t_plus_one.next = self.small_t.val() + 1;
        self.rounded_q.d.next = self.t_plus_one.val().get_bits::<10>(1);
        // 6: clamp. rounded is in -256..=256; beyond means |t| >= 512, past every limit.
        self.clamped_q.d.next = self.rounded_q.q.val().get_bits::<8>(0);
        if self.signed_kind[4].q.val() {
            if self.beyond_q.q.val() {
                self.clamped_q.d.next = 0x7F.into();
                if self.negative_q[1].q.val() {
                    self.clamped_q.d.next = 0x80.into();
                }
            } else if self.rounded_q.q.val().get_bit(9) {
                if self.rounded_q.q.val().get_bits::<2>(7) != 3 {
                    self.clamped_q.d.next = 0x80.into();
                }
            } else if self.rounded_q.q.val().get_bits::<2>(7).any() {
                self.clamped_q.d.next = 0x7F.into();
            }
        } else if self.negative_q[1].q.val() {
            self.clamped_q.d.next = 0.into();
        } else if self.beyond_q.q.val() | self.rounded_q.q.val().get_bit(8) {
            self.clamped_q.d.next = 0xFF.into();
        }
        // 7: out.
        self.out_q.d.next = self.clamped_q.q.val();
        self.out.next = self.out_q.q.val();
        self.out_valid.next = self.valid_q[6].q.val();
        self.out_tag.next = self.tag_q[6].q.val();
    }
}

impl Default for Requantizer {
    fn default() -> Self {
        Requantizer {
            clock: Default::default(),
            acc: Default::default(),
            mult: Default::default(),
            shift: Default::default(),
            signed_out: Default::default(),
            valid: Default::default(),
            tag: Default::default(),
            out: Default::default(),
            out_valid: Default::default(),
            out_tag: Default::default(),
            acc_q: Default::default(),
            mult_q: Default::default(),
            low_q: Default::default(),
            high_q: Default::default(),
            correction_q: Default::default(),
            product_q: Default::default(),
            window_q: Default::default(),
            overflow_q: Default::default(),
            beyond_q: Default::default(),
            negative_q: Default::default(),
            rounded_q: Default::default(),
            clamped_q: Default::default(),
            out_q: Default::default(),
            shift_q: Default::default(),
            signed_kind: Default::default(),
            valid_q: Default::default(),
            tag_q: Default::default(),
            sign_fill: Constant::new(0xFF_FFFF_0000_u64.into()),
            small_fill: Constant::new(0x600_u64.into()),
            doubled: Default::default(),
            by32: Default::default(),
            by16: Default::default(),
            by8: Default::default(),
            by4: Default::default(),
            by2: Default::default(),
            small_t: Default::default(),
            t_plus_one: Default::default(),
        }
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
