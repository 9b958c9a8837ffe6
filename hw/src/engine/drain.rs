//! `Drain`: walks a group's sums from the lanes' drain registers into the requantizer, one per
//! cycle (docs/engine.md, "Units"): lane 0's register is read, sign-extended from the lanes'
//! 24 bits and given the channel's bias (a 32-bit add: the golden engine's wrapping
//! accumulator, as the compiler proves the lanes' sums exact), while the chain shifts the next
//! lane's sum into lane 0.
//!
//! Timing (the cycle model's): the lanes load their drain registers at the S4 of a group's last
//! tap (`load`); from the next cycle the walk takes `active` cycles (P, P / 2 at stride 2, or 1
//! for logits, which take lane 0's biased sum only). The drain is free again for the next
//! group's load in the walk's last cycle (the lanes' load wins over the shift).

use super::lane::SUM;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Drain {
    pub clock: Signal<In, Clock>,
    /// The lanes' drain registers take a group's sums at this cycle's edge.
    pub load: Signal<In, bool>,
    /// Sums to walk: P, P / 2 or 1.
    pub active: Signal<In, Bits<5>>,
    /// The draining channel's bias.
    pub bias: Signal<In, Bits<32>>,
    /// Lane 0's drain register, and the chain's shift.
    pub lane0: Signal<In, Bits<SUM>>,
    pub shift: Signal<Out, bool>,
    /// The biased sum, its lane, and whether it is the group's last.
    pub sum: Signal<Out, Bits<32>>,
    pub sum_valid: Signal<Out, bool>,
    pub lane: Signal<Out, Bits<5>>,
    pub last: Signal<Out, bool>,
    /// Walking (a group's sums are still in the chain).
    pub busy: Signal<Out, bool>,
    walking: DFF<bool>,
    left: DFF<Bits<5>>,
    index: DFF<Bits<5>>,
    wide: Signal<Local, Bits<32>>,
    sign_fill: Constant<Bits<32>>,
    sign_bit: Constant<Bits<SUM>>,
    one: Constant<Bits<5>>,
}

impl Default for Drain {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            load: Default::default(),
            active: Default::default(),
            bias: Default::default(),
            lane0: Default::default(),
            shift: Default::default(),
            sum: Default::default(),
            sum_valid: Default::default(),
            lane: Default::default(),
            last: Default::default(),
            busy: Default::default(),
            walking: Default::default(),
            left: Default::default(),
            index: Default::default(),
            wide: Default::default(),
            sign_fill: Constant::new((0xffff_ffffu64 & !((1u64 << SUM) - 1)).into()),
            sign_bit: Constant::new((1u64 << (SUM - 1)).into()),
            one: Constant::new(1u64.into()),
        }
    }
}

impl Drain {
    pub fn top() -> Self {
        let mut d = Self::default();
        d.connect_all();
        d
    }
}

impl Logic for Drain {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, walking, left, index);
        self.wide.next = bit_cast::<32, SUM>(self.lane0.val());
        if (self.lane0.val() & self.sign_bit.val()).any() {
            self.wide.next = self.wide.val() | self.sign_fill.val();
        }
        self.sum.next = self.wide.val() + self.bias.val();
        self.sum_valid.next = self.walking.q.val();
        self.shift.next = self.walking.q.val();
        self.lane.next = self.index.q.val();
        self.last.next = self.walking.q.val() & (self.left.q.val() == self.one.val());
        self.busy.next = self.walking.q.val();
        if self.walking.q.val() {
            self.left.d.next = self.left.q.val() - 1;
            self.index.d.next = self.index.q.val() + 1;
            if self.left.q.val() == self.one.val() {
                self.walking.d.next = false;
            }
        }
        if self.load.val() {
            self.walking.d.next = true;
            self.left.d.next = self.active.val();
            self.index.d.next = 0.into();
        }
    }
}
