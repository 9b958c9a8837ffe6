//! `Issuer`: decides, cycle by cycle, what enters the lanes' pipeline (docs/engine.md, "Timing"):
//! the next tap of the batch being walked, a partial-sum read, or nothing; and stages the lanes'
//! controls from S0 to S4. It drives the [`super::address::AddressGenerator`] (start, advance)
//! and reads its position (first and last tap of a group, last group, group index).
//!
//! Rules (the cycle model's, `lutna_core::cycles`):
//! - a tap issues when the writer does not take the activation memory (`port_busy`), and a
//!   final batch's group ends (its last tap) only when the drain will be free at its S4
//!   (`drain_ready`);
//! - a group of a batch after its channel's first must read its partial sums once, in a cycle
//!   without a tap: a held cycle serves, else one is taken before the group's last tap;
//! - the next batch starts in the cycle the walk's last tap issues (a batch after its channel's
//!   first not before `PARTIAL_AFTER_STORE` cycles after it); a `REPEAT`ed batch runs again;
//! - a finished batch hands its tables back to the programmer (`freed`); each run of a final
//!   batch ends a channel (`channel_done`).
//!
//! The lanes' controls: at S2 the banks' read address (the tap's slot, or the group's partial
//! word `255 - index`) and the low nibble's source (`low_pass`, `low_fill`: the mode's entry);
//! at S3 partial / max / first; at S4 valid / last / drain / store and the partial word.

use lutna_core::arith::LaneMode;
use lutna_core::cycles::timing::PARTIAL_AFTER_STORE;
use rust_hdl::prelude::*;

/// What one pipeline stage carries.
#[derive(LogicBlock, Default)]
pub struct Stage {
    pub clock: Signal<In, Clock>,
    pub tap_in: Signal<In, bool>,
    pub partial_in: Signal<In, bool>,
    pub first_in: Signal<In, bool>,
    pub last_in: Signal<In, bool>,
    pub final_in: Signal<In, bool>,
    pub params_in: Signal<In, bool>,
    pub slot_in: Signal<In, Bits<4>>,
    pub word_in: Signal<In, Bits<8>>,
    pub tap: Signal<Out, bool>,
    pub partial: Signal<Out, bool>,
    pub first: Signal<Out, bool>,
    pub last: Signal<Out, bool>,
    pub last_batch: Signal<Out, bool>,
    pub params: Signal<Out, bool>,
    pub slot: Signal<Out, Bits<4>>,
    pub word: Signal<Out, Bits<8>>,
    tap_q: DFF<bool>,
    partial_q: DFF<bool>,
    first_q: DFF<bool>,
    last_q: DFF<bool>,
    final_q: DFF<bool>,
    params_q: DFF<bool>,
    slot_q: DFF<Bits<4>>,
    word_q: DFF<Bits<8>>,
}

impl Logic for Stage {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, tap_q, partial_q, first_q, last_q, final_q, params_q, slot_q, word_q
        );
        self.tap_q.d.next = self.tap_in.val();
        self.partial_q.d.next = self.partial_in.val();
        self.first_q.d.next = self.first_in.val();
        self.last_q.d.next = self.last_in.val();
        self.final_q.d.next = self.final_in.val();
        self.params_q.d.next = self.params_in.val();
        self.slot_q.d.next = self.slot_in.val();
        self.word_q.d.next = self.word_in.val();
        self.tap.next = self.tap_q.q.val();
        self.partial.next = self.partial_q.q.val();
        self.first.next = self.first_q.q.val();
        self.last.next = self.last_q.q.val();
        self.last_batch.next = self.final_q.q.val();
        self.params.next = self.params_q.q.val();
        self.slot.next = self.slot_q.q.val();
        self.word.next = self.word_q.q.val();
    }
}

#[derive(LogicBlock)]
pub struct Issuer {
    pub clock: Signal<In, Clock>,
    /// The walk's lane mode (`MODE_LANE`) and max mode.
    pub lane_mode: Signal<In, Bits<2>>,
    pub max: Signal<In, bool>,
    /// A programmed batch (one cycle): taps - 1, the first / last of its channel, runs - 1,
    /// tables.
    pub batch: Signal<In, bool>,
    pub batch_taps: Signal<In, Bits<6>>,
    pub batch_first: Signal<In, bool>,
    pub batch_last: Signal<In, bool>,
    pub batch_repeat: Signal<In, Bits<12>>,
    pub batch_tables: Signal<In, Bits<5>>,
    /// The writer takes the activation memory this cycle; the drain will be free at the S4 of
    /// a tap issued now.
    pub port_busy: Signal<In, bool>,
    pub drain_ready: Signal<In, bool>,
    /// The address generator: its position, and the current tap's slot from the tap memory.
    pub walk_busy: Signal<In, bool>,
    pub first_tap: Signal<In, bool>,
    pub last_tap: Signal<In, bool>,
    pub last_group: Signal<In, bool>,
    pub group_index: Signal<In, Bits<8>>,
    pub tap_slot: Signal<In, Bits<4>>,
    pub walk_start: Signal<Out, bool>,
    pub walk_taps: Signal<Out, Bits<6>>,
    pub advance: Signal<Out, bool>,
    /// A tap issued this cycle (the issue counter's count), or a partial-sum read.
    pub issued: Signal<Out, bool>,
    pub partial_read: Signal<Out, bool>,
    /// A batch is held, waiting to start.
    pub holding: Signal<Out, bool>,
    /// To the programmer and the channel walk.
    pub freed: Signal<Out, bool>,
    pub freed_tables: Signal<Out, Bits<5>>,
    pub channel_done: Signal<Out, bool>,
    /// A final batch's group ends now (its sums reach the drain at S4).
    pub drain_take: Signal<Out, bool>,
    /// S2: the lanes' bank read.
    pub bank_high: Signal<Out, Bits<4>>,
    pub partial: Signal<Out, bool>,
    pub partial_low: Signal<Out, Bits<4>>,
    pub low_pass: Signal<Out, bool>,
    pub low_fill: Signal<Out, Bits<4>>,
    /// S3 and S4.
    pub s3_partial: Signal<Out, bool>,
    pub s3_max: Signal<Out, bool>,
    /// A max-mode cycle without a tap at S3: the lanes keep their max.
    pub s3_keep: Signal<Out, bool>,
    pub s3_first: Signal<Out, bool>,
    pub s4_valid: Signal<Out, bool>,
    pub s4_last: Signal<Out, bool>,
    pub s4_drain: Signal<Out, bool>,
    pub s4_store: Signal<Out, bool>,
    pub s4_word: Signal<Out, Bits<8>>,
    /// With `s4_drain`: the group is its channel's first to reach the drain, which takes the
    /// channel's parameters with it.
    pub s4_params: Signal<Out, bool>,
    s1: Stage,
    s2: Stage,
    s3: Stage,
    s4: Stage,
    /// The batch waiting to start, and the one being walked.
    held: DFF<bool>,
    held_taps: DFF<Bits<6>>,
    held_first: DFF<bool>,
    held_last: DFF<bool>,
    held_repeat: DFF<Bits<12>>,
    held_tables: DFF<Bits<5>>,
    walking: DFF<bool>,
    cur_first: DFF<bool>,
    cur_last: DFF<bool>,
    cur_taps: DFF<Bits<6>>,
    runs_left: DFF<Bits<12>>,
    cur_tables: DFF<Bits<5>>,
    pending: DFF<bool>,
    store_wait: DFF<Bits<3>>,
    /// The walk is a channel's final batch on its first run, and no group has ended yet.
    fresh: DFF<bool>,
    can_issue: Signal<Local, bool>,
    take_partial: Signal<Local, bool>,
    take_tap: Signal<Local, bool>,
    walk_end: Signal<Local, bool>,
    may_start: Signal<Local, bool>,
    start_held: Signal<Local, bool>,
    word: Signal<Local, Bits<8>>,
    mode_exact: Constant<Bits<2>>,
    mode_centred: Constant<Bits<2>>,
    centred_fill: Constant<Bits<4>>,
    after_store: Constant<Bits<3>>,
}

impl Default for Issuer {
    fn default() -> Self {
        assert!(LaneMode::Truncate.low_read(0x55) == 0 && LaneMode::Exact.low_read(0) == 0);
        Self {
            clock: Default::default(),
            lane_mode: Default::default(),
            max: Default::default(),
            batch: Default::default(),
            batch_taps: Default::default(),
            batch_first: Default::default(),
            batch_last: Default::default(),
            batch_repeat: Default::default(),
            batch_tables: Default::default(),
            port_busy: Default::default(),
            drain_ready: Default::default(),
            walk_busy: Default::default(),
            first_tap: Default::default(),
            last_tap: Default::default(),
            last_group: Default::default(),
            group_index: Default::default(),
            tap_slot: Default::default(),
            walk_start: Default::default(),
            walk_taps: Default::default(),
            advance: Default::default(),
            issued: Default::default(),
            partial_read: Default::default(),
            holding: Default::default(),
            freed: Default::default(),
            freed_tables: Default::default(),
            channel_done: Default::default(),
            drain_take: Default::default(),
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
            s4_word: Default::default(),
            s4_params: Default::default(),
            s1: Default::default(),
            s2: Default::default(),
            s3: Default::default(),
            s4: Default::default(),
            held: Default::default(),
            held_taps: Default::default(),
            held_first: Default::default(),
            held_last: Default::default(),
            held_repeat: Default::default(),
            held_tables: Default::default(),
            walking: Default::default(),
            cur_first: Default::default(),
            cur_last: Default::default(),
            cur_taps: Default::default(),
            runs_left: Default::default(),
            cur_tables: Default::default(),
            pending: Default::default(),
            store_wait: Default::default(),
            fresh: Default::default(),
            can_issue: Default::default(),
            take_partial: Default::default(),
            take_tap: Default::default(),
            walk_end: Default::default(),
            may_start: Default::default(),
            start_held: Default::default(),
            word: Default::default(),
            mode_exact: Constant::new((LaneMode::Exact.code() as u64).into()),
            mode_centred: Constant::new((LaneMode::Centred.code() as u64).into()),
            centred_fill: Constant::new((LaneMode::Centred.low_read(0) as u64).into()),
            // (Counted down from the cycle after the last tap; the walk starts a cycle before its
            // first tap, which comes PARTIAL_AFTER_STORE cycles after the last.)
            after_store: Constant::new((PARTIAL_AFTER_STORE - 2).into()),
        }
    }
}

impl Issuer {
    pub fn top() -> Self {
        let mut i = Self::default();
        i.connect_all();
        i
    }
}

impl Logic for Issuer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            held,
            held_taps,
            held_first,
            held_last,
            held_repeat,
            held_tables,
            walking,
            cur_first,
            cur_last,
            cur_taps,
            runs_left,
            cur_tables,
            pending,
            store_wait,
            fresh
        );
        clock!(self, clock, s1, s2, s3, s4);
        // This cycle: a tap if it may, else the group's partial read if it still needs one.
        self.can_issue.next = self.walking.q.val()
            & !self.port_busy.val()
            & !(self.last_tap.val() & self.cur_last.q.val() & !self.drain_ready.val());
        self.take_partial.next = self.walking.q.val()
            & self.pending.q.val()
            & (!self.can_issue.val() | self.last_tap.val());
        self.take_tap.next = self.can_issue.val() & !self.take_partial.val();
        self.walk_end.next = self.take_tap.val() & self.last_tap.val() & self.last_group.val();
        self.advance.next = self.take_tap.val();
        self.issued.next = self.take_tap.val();
        self.partial_read.next = self.take_partial.val();
        if self.take_partial.val() {
            self.pending.d.next = false;
        }
        self.drain_take.next = self.take_tap.val() & self.last_tap.val() & self.cur_last.q.val();
        self.s1.params_in.next = self.take_tap.val() & self.last_tap.val() & self.fresh.q.val();
        if self.take_tap.val() & self.last_tap.val() {
            self.fresh.d.next = false;
            // The next group of a batch after its channel's first reads its partial sums.
            self.pending.d.next = !self.cur_first.q.val();
        }
        if self.store_wait.q.val().any() {
            self.store_wait.d.next = self.store_wait.q.val() - 1;
        }
        // The end of a walk: run again, or hand the tables back.
        self.freed.next = false;
        self.freed_tables.next = self.cur_tables.q.val();
        self.channel_done.next = self.walk_end.val() & self.cur_last.q.val();
        self.walk_start.next = false;
        self.walk_taps.next = self.cur_taps.q.val();
        if self.walk_end.val() {
            if self.runs_left.q.val().any() {
                self.runs_left.d.next = self.runs_left.q.val() - 1;
                self.walk_start.next = true;
                self.pending.d.next = !self.cur_first.q.val();
            } else {
                self.walking.d.next = false;
                self.freed.next = true;
                self.store_wait.d.next = self.after_store.val();
            }
        }
        // Start the held batch when nothing is walked (or the walk ends now).
        self.may_start.next = self.held.q.val()
            & (!self.walking.q.val() | (self.walk_end.val() & !self.runs_left.q.val().any()))
            & (self.held_first.q.val() | (!self.store_wait.q.val().any() & !self.walk_end.val()));
        self.start_held.next = self.may_start.val();
        if self.start_held.val() {
            self.walk_start.next = true;
            self.walk_taps.next = self.held_taps.q.val();
            self.walking.d.next = true;
            self.held.d.next = false;
            self.cur_first.d.next = self.held_first.q.val();
            self.cur_last.d.next = self.held_last.q.val();
            self.cur_taps.d.next = self.held_taps.q.val();
            self.runs_left.d.next = self.held_repeat.q.val();
            self.cur_tables.d.next = self.held_tables.q.val();
            self.pending.d.next = !self.held_first.q.val();
            self.fresh.d.next = self.held_last.q.val();
        }
        if self.batch.val() {
            self.held.d.next = true;
            self.held_taps.d.next = self.batch_taps.val();
            self.held_first.d.next = self.batch_first.val();
            self.held_last.d.next = self.batch_last.val();
            self.held_repeat.d.next = self.batch_repeat.val();
            self.held_tables.d.next = self.batch_tables.val();
        }
        self.holding.next = self.held.q.val();
        // S0 into the pipeline.
        self.word.next = !self.group_index.val();
        self.s1.tap_in.next = self.take_tap.val();
        self.s1.partial_in.next = self.take_partial.val();
        self.s1.first_in.next = self.first_tap.val();
        self.s1.last_in.next = self.last_tap.val();
        self.s1.final_in.next = self.cur_last.q.val();
        self.s1.slot_in.next = self.tap_slot.val();
        self.s1.word_in.next = self.word.val();
        self.s2.tap_in.next = self.s1.tap.val();
        self.s2.partial_in.next = self.s1.partial.val();
        self.s2.first_in.next = self.s1.first.val();
        self.s2.last_in.next = self.s1.last.val();
        self.s2.final_in.next = self.s1.last_batch.val();
        self.s2.params_in.next = self.s1.params.val();
        self.s2.slot_in.next = self.s1.slot.val();
        self.s2.word_in.next = self.s1.word.val();
        self.s3.tap_in.next = self.s2.tap.val();
        self.s3.partial_in.next = self.s2.partial.val();
        self.s3.first_in.next = self.s2.first.val();
        self.s3.last_in.next = self.s2.last.val();
        self.s3.final_in.next = self.s2.last_batch.val();
        self.s3.params_in.next = self.s2.params.val();
        self.s3.slot_in.next = self.s2.slot.val();
        self.s3.word_in.next = self.s2.word.val();
        self.s4.tap_in.next = self.s3.tap.val();
        self.s4.partial_in.next = self.s3.partial.val();
        self.s4.first_in.next = self.s3.first.val();
        self.s4.last_in.next = self.s3.last.val();
        self.s4.final_in.next = self.s3.last_batch.val();
        self.s4.params_in.next = self.s3.params.val();
        self.s4.slot_in.next = self.s3.slot.val();
        self.s4.word_in.next = self.s3.word.val();
        // S2: the banks' read.
        self.partial.next = self.s2.partial.val();
        self.bank_high.next = self.s2.slot.val();
        self.partial_low.next = self.s2.word.val().get_bits::<4>(0);
        self.low_fill.next = 0.into();
        if self.lane_mode.val() == self.mode_centred.val() {
            self.low_fill.next = self.centred_fill.val();
        }
        if self.s2.partial.val() {
            self.bank_high.next = self.s2.word.val().get_bits::<4>(4);
            self.low_fill.next = self.s2.word.val().get_bits::<4>(0);
        }
        self.low_pass.next =
            (self.lane_mode.val() == self.mode_exact.val()) & !self.s2.partial.val();
        // S3 and S4.
        self.s3_partial.next = self.s3.partial.val();
        self.s3_max.next = self.max.val() & self.s3.tap.val();
        self.s3_keep.next = self.max.val() & !self.s3.tap.val();
        self.s3_first.next = self.s3.first.val();
        self.s4_valid.next =
            self.s4.partial.val() | (self.s4.tap.val() & (!self.max.val() | self.s4.last.val()));
        self.s4_last.next = self.s4.tap.val() & self.s4.last.val();
        self.s4_drain.next = self.s4.tap.val() & self.s4.last.val() & self.s4.last_batch.val();
        self.s4_store.next = self.s4.tap.val() & self.s4.last.val() & !self.s4.last_batch.val();
        self.s4_word.next = self.s4.word.val();
        self.s4_params.next = self.s4.params.val();
    }
}
