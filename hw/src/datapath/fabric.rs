//! `LaneArray<P>`: P LUT-NA lanes in the weight-broadcast, output-parallel arrangement of
//! docs/architecture.md, each with its own accumulator, read out one at a time through
//! `sum_select`; `Fabric<P>`: the array with a requantizer stage. Both are the units of the
//! synthesis sweep (`examples/lane_synth.rs`, docs/benchmarks.md) that sized the engine; the
//! engine's own lane, with its partial sums and drain chain, is `crate::engine::lane`.
//!
//! One weight at a time is broadcast: its table is written into every lane's bank through one
//! shared [`TablePort`], its sign and the layer's mode are shared, and each lane multiplies it
//! with its own activation (the [`LaneOperands`]' `activation` packs P bytes, lane i in bits
//! 8i..8i+8): P neighbouring output positions advance together. `clear` loads every accumulator
//! with `bias`; each valid product is added (wrapping, as lutna-core's engine does).
//!
//! Cost: every lane keeps two table copies, and on the iCE40 each copy is a whole block RAM, so
//! this arrangement caps the UP5K (30 block RAMs) at 15 lanes; see docs/benchmarks.md (which also
//! records the one-shared-bank variant that the sweep ruled out).

use crate::datapath::lane::SubMacLane;
use crate::datapath::ports::{LaneOperands, TablePort};
use rust_hdl::prelude::*;

/// One output position's accumulator: `clear` loads `bias`, each valid product is added
/// (wrapping, as lutna-core's engine does); a clear and a product in one cycle: the clear wins.
#[derive(LogicBlock, Default)]
pub struct Accumulator {
    pub clock: Signal<In, Clock>,
    pub product: Signal<In, Bits<32>>,
    pub product_valid: Signal<In, bool>,
    pub clear: Signal<In, bool>,
    pub bias: Signal<In, Bits<32>>,
    pub value: Signal<Out, Bits<32>>,
    sum: DFF<Bits<32>>,
}

impl Logic for Accumulator {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, sum);
        if self.product_valid.val() {
            self.sum.d.next = self.sum.q.val() + self.product.val();
        }
        if self.clear.val() {
            self.sum.d.next = self.bias.val();
        }
        self.value.next = self.sum.q.val();
    }
}

#[derive(LogicBlock)]
pub struct LaneArray<const P: usize, const PB: usize> {
    pub clock: Signal<In, Clock>,
    /// Written into every lane's bank.
    pub table: TablePort<4>,
    /// P activation bytes, lane i in bits 8i..8i+8 (PB = 8 P); sign, mode and valid shared.
    pub operands: LaneOperands<PB>,
    /// Load every accumulator with `bias` (a clear and a product in one cycle: the clear wins).
    pub clear: Signal<In, bool>,
    pub bias: Signal<In, Bits<32>>,
    /// Which accumulator `sum` shows: the requantizer after the array reads them one at a time.
    pub sum_select: Signal<In, Bits<5>>,
    pub sum: Signal<Out, Bits<32>>,
    lanes: [SubMacLane; P],
    acc: [Accumulator; P],
}

impl<const P: usize, const PB: usize> Default for LaneArray<P, PB> {
    fn default() -> Self {
        assert!(PB == 8 * P && P <= 32, "LaneArray<P, 8P> with P <= 32");
        Self {
            clock: Default::default(),
            table: Default::default(),
            operands: Default::default(),
            clear: Default::default(),
            bias: Default::default(),
            sum_select: Default::default(),
            sum: Default::default(),
            lanes: std::array::from_fn(|_| SubMacLane::default()),
            acc: std::array::from_fn(|_| Accumulator::default()),
        }
    }
}

impl<const P: usize, const PB: usize> Logic for LaneArray<P, PB> {
    #[hdl_gen]
    fn update(&mut self) {
        self.sum.next = 0.into();
        for i in 0..P {
            self.lanes[i].clock.next = self.clock.val();
            self.acc[i].clock.next = self.clock.val();
            self.lanes[i].table.write.next = self.table.write.val();
            self.lanes[i].table.address.next = self.table.address.val();
            self.lanes[i].table.data.next = self.table.data.val();
            self.lanes[i].operands.activation.next =
                self.operands.activation.val().get_bits::<8>(8 * i);
            self.lanes[i].operands.negative.next = self.operands.negative.val();
            self.lanes[i].operands.mode.next = self.operands.mode.val();
            self.lanes[i].operands.valid.next = self.operands.valid.val();
            self.acc[i].product.next = self.lanes[i].product.val();
            self.acc[i].product_valid.next = self.lanes[i].product_valid.val();
            self.acc[i].clear.next = self.clear.val();
            self.acc[i].bias.next = self.bias.val();
            if self.sum_select.val().index() == i {
                self.sum.next = self.acc[i].value.val();
            }
        }
    }
}

impl<const P: usize, const PB: usize> LaneArray<P, PB> {
    /// An array with its inputs marked driven, ready for simulation or Verilog generation.
    pub fn top() -> Self {
        let mut uut = Self::default();
        uut.clock.connect();
        uut.table.connect_inputs();
        uut.operands.connect_inputs();
        uut.clear.connect();
        uut.bias.connect();
        uut.sum_select.connect();
        uut.connect_all();
        uut
    }
}

/// `Fabric<P>`: the [`LaneArray`] with its requantizer stage: when a channel's sweep is done,
/// `drain` walks the P accumulators through one [`crate::Requantizer`] (bias already in the
/// accumulator; multiplier and shift per output channel, ReLU/clamp per output kind), one per
/// cycle, and each activation byte leaves on `out` with the lane it belongs to.
///
/// Why no adder tree: in the weight-broadcast, output-parallel dataflow (docs/architecture.md) each
/// lane owns one output position, so products go straight into that position's accumulator; a
/// tree would only be needed if lanes shared an output (input-channel parallelism).
///
/// Timing: `drain` is sampled when the fabric is idle (`draining` low); the P results follow on
/// `out`/`out_valid`, one per cycle, starting `1 + Requantizer::LATENCY` cycles later, each with
/// its lane number on `out_lane`. The next channel's `clear` may be given once `draining` has
/// fallen (the accumulators have all been read by then; the requantizer pipeline drains by itself).
#[derive(LogicBlock)]
pub struct Fabric<const P: usize, const PB: usize> {
    pub clock: Signal<In, Clock>,
    pub table: TablePort<4>,
    pub operands: LaneOperands<PB>,
    pub clear: Signal<In, bool>,
    pub bias: Signal<In, Bits<32>>,
    pub drain: Signal<In, bool>,
    /// `Requant::mult`, `Requant::shift` and the output kind (true = i8) of the channel drained.
    pub mult: Signal<In, Bits<16>>,
    pub shift: Signal<In, Bits<6>>,
    pub signed_out: Signal<In, bool>,
    pub draining: Signal<Out, bool>,
    pub out: Signal<Out, Bits<8>>,
    pub out_lane: Signal<Out, Bits<5>>,
    pub out_valid: Signal<Out, bool>,
    array: LaneArray<P, PB>,
    requant: crate::Requantizer,
    walking: DFF<bool>,
    walk_index: DFF<Bits<5>>,
    last_lane: Constant<Bits<5>>,
}

impl<const P: usize, const PB: usize> Default for Fabric<P, PB> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            table: Default::default(),
            operands: Default::default(),
            clear: Default::default(),
            bias: Default::default(),
            drain: Default::default(),
            mult: Default::default(),
            shift: Default::default(),
            signed_out: Default::default(),
            draining: Default::default(),
            out: Default::default(),
            out_lane: Default::default(),
            out_valid: Default::default(),
            array: Default::default(),
            requant: Default::default(),
            walking: Default::default(),
            walk_index: Default::default(),
            last_lane: Constant::new(((P - 1) as u64).into()),
        }
    }
}

impl<const P: usize, const PB: usize> Logic for Fabric<P, PB> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, walking, walk_index);
        self.array.clock.next = self.clock.val();
        self.requant.clock.next = self.clock.val();
        self.array.table.write.next = self.table.write.val();
        self.array.table.address.next = self.table.address.val();
        self.array.table.data.next = self.table.data.val();
        self.array.operands.activation.next = self.operands.activation.val();
        self.array.operands.negative.next = self.operands.negative.val();
        self.array.operands.mode.next = self.operands.mode.val();
        self.array.operands.valid.next = self.operands.valid.val();
        self.array.clear.next = self.clear.val();
        self.array.bias.next = self.bias.val();
        // The walk: one accumulator per cycle into the requantizer.
        self.array.sum_select.next = self.walk_index.q.val();
        self.requant.acc.next = self.array.sum.val();
        self.requant.mult.next = self.mult.val();
        self.requant.shift.next = self.shift.val();
        self.requant.signed_out.next = self.signed_out.val();
        self.requant.valid.next = self.walking.q.val();
        self.requant.tag.next = self.walk_index.q.val();
        if self.walking.q.val() {
            self.walk_index.d.next = self.walk_index.q.val() + 1;
            if self.walk_index.q.val() == self.last_lane.val() {
                self.walking.d.next = false;
                self.walk_index.d.next = 0.into();
            }
        } else if self.drain.val() {
            self.walking.d.next = true;
            self.walk_index.d.next = 0.into();
        }
        self.draining.next = self.walking.q.val();
        self.out.next = self.requant.out.val();
        self.out_valid.next = self.requant.out_valid.val();
        self.out_lane.next = self.requant.out_tag.val();
    }
}

impl<const P: usize, const PB: usize> Fabric<P, PB> {
    /// A fabric with its inputs marked driven, ready for simulation or Verilog generation.
    pub fn top() -> Self {
        let mut uut = Self::default();
        uut.clock.connect();
        uut.table.connect_inputs();
        uut.operands.connect_inputs();
        uut.clear.connect();
        uut.bias.connect();
        uut.drain.connect();
        uut.mult.connect();
        uut.shift.connect();
        uut.signed_out.connect();
        uut.connect_all();
        uut
    }
}
