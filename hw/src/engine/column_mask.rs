//! `ColumnMask<P>`: which of the P lanes read a byte of the map at this tap (docs/engine.md,
//! "What the engine computes"): lane `l` reads when the row is in the map and its column
//! offset from the tap's first column (`l`, or `2 l` at stride 2, where only the lower half of
//! the lanes works) is at least `skip` (the columns left of the map) and below `room` (the
//! columns from the first to the map's right edge); both saturate at 16, beyond any offset.
//!
//! Formed once for all lanes from two small counts the address generator computes per tap, as
//! two thermometers (a constant shifted by the count: LUT logic) rather than as comparisons,
//! which synthesis builds as carry chains: 32 cells a lane when each lane compared for itself
//! (measured, `hw/tests/engine_lane.rs`).

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct ColumnMask<const P: usize> {
    pub skip: Signal<In, Bits<5>>,
    pub room: Signal<In, Bits<5>>,
    pub stride2: Signal<In, bool>,
    pub row_ok: Signal<In, bool>,
    /// Lane `l`'s bit: it reads its byte.
    pub mask: Signal<Out, Bits<P>>,
    /// Bit k: `skip <= k`, and `room > k` (32 bits: lane l's bit 2l at stride 2 is named for
    /// every lane, though only the lower half works).
    skip_at_most: Signal<Local, Bits<32>>,
    room_above: Signal<Local, Bits<32>>,
    ones: Constant<Bits<32>>,
    /// Bit l: lane l works at stride 2 (the lower half).
    works_at_stride2: Constant<Bits<16>>,
}

impl<const P: usize> ColumnMask<P> {
    pub fn top() -> Self {
        assert!(
            P.is_power_of_two() && (2..=16).contains(&P),
            "2 to 16 lanes (the counts saturate at 16)"
        );
        let mut m = Self {
            skip: Default::default(),
            room: Default::default(),
            stride2: Default::default(),
            row_ok: Default::default(),
            mask: Default::default(),
            skip_at_most: Default::default(),
            room_above: Default::default(),
            ones: Constant::new(0xffff_ffffu64.into()),
            works_at_stride2: Constant::new(((1u64 << (P / 2)) - 1).into()),
        };
        m.connect_all();
        m
    }
}

impl<const P: usize> Logic for ColumnMask<P> {
    #[hdl_gen]
    fn update(&mut self) {
        // Thermometers of the two counts (at most 16: bits 16 and up are no working lane's).
        self.skip_at_most.next = self.ones.val() << self.skip.val();
        self.room_above.next = !(self.ones.val() << self.room.val());
        self.mask.next = 0.into();
        for l in 0..P {
            if self.stride2.val() {
                if self.works_at_stride2.val().get_bit(l)
                    & self.skip_at_most.val().get_bit(2 * l)
                    & self.room_above.val().get_bit(2 * l)
                {
                    self.mask.next = self.mask.val().replace_bit(l, true);
                }
            } else if self.skip_at_most.val().get_bit(l) & self.room_above.val().get_bit(l) {
                self.mask.next = self.mask.val().replace_bit(l, true);
            }
        }
        if !self.row_ok.val() {
            self.mask.next = 0.into();
        }
    }
}
