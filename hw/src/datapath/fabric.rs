//! `LaneArray<P>`: P LUT-NA lanes in the weight-broadcast, output-parallel arrangement of
//! docs/architecture.md, each with its own accumulator, read out one at a time through `sum_select`.
//!
//! One weight at a time is broadcast: its table is written into every lane's bank through one
//! shared write port, its sign and the layer's mode are shared, and each lane multiplies it with
//! its own activation (`activations` packs P bytes, lane i in bits 8i..8i+8): P neighbouring output
//! positions advance together. `clear` loads every accumulator with `bias`; each valid product is
//! added (wrapping, as lutna-core's engine does). This is a first step toward the fabric: the
//! accumulators are registers, not the block-RAM buffer, and there is no requantizer stage yet.
//!
//! Cost: every lane keeps two table copies, and on the iCE40 each copy is a whole block RAM, so
//! this arrangement caps the UP5K (30 block RAMs) at 15 lanes; see docs/benchmarks.md.

use crate::datapath::lane::{SharedBankLane, SubMacLane};
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
    pub table_write: Signal<In, bool>,
    pub table_addr: Signal<In, Bits<4>>,
    pub table_data: Signal<In, Bits<16>>,
    /// P activation bytes, lane i in bits 8i..8i+8 (PB = 8 P).
    pub activations: Signal<In, Bits<PB>>,
    pub negative: Signal<In, bool>,
    pub mode: Signal<In, Bits<2>>,
    pub valid: Signal<In, bool>,
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
            table_write: Default::default(),
            table_addr: Default::default(),
            table_data: Default::default(),
            activations: Default::default(),
            negative: Default::default(),
            mode: Default::default(),
            valid: Default::default(),
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
            self.lanes[i].table_write.next = self.table_write.val();
            self.lanes[i].table_addr.next = self.table_addr.val();
            self.lanes[i].table_data.next = self.table_data.val();
            self.lanes[i].activation.next = self.activations.val().get_bits::<8>(8 * i);
            self.lanes[i].negative.next = self.negative.val();
            self.lanes[i].mode.next = self.mode.val();
            self.lanes[i].valid.next = self.valid.val();
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
        uut.table_write.connect();
        uut.table_addr.connect();
        uut.table_data.connect();
        uut.activations.connect();
        uut.negative.connect();
        uut.mode.connect();
        uut.valid.connect();
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
    pub table_write: Signal<In, bool>,
    pub table_addr: Signal<In, Bits<4>>,
    pub table_data: Signal<In, Bits<16>>,
    pub activations: Signal<In, Bits<PB>>,
    pub negative: Signal<In, bool>,
    pub mode: Signal<In, Bits<2>>,
    pub valid: Signal<In, bool>,
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
            table_write: Default::default(),
            table_addr: Default::default(),
            table_data: Default::default(),
            activations: Default::default(),
            negative: Default::default(),
            mode: Default::default(),
            valid: Default::default(),
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
        self.array.table_write.next = self.table_write.val();
        self.array.table_addr.next = self.table_addr.val();
        self.array.table_data.next = self.table_data.val();
        self.array.activations.next = self.activations.val();
        self.array.negative.next = self.negative.val();
        self.array.mode.next = self.mode.val();
        self.array.valid.next = self.valid.val();
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
        uut.table_write.connect();
        uut.table_addr.connect();
        uut.table_data.connect();
        uut.activations.connect();
        uut.negative.connect();
        uut.mode.connect();
        uut.valid.connect();
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

/// The one table every lane of a [`SharedBankArray`] reads: 16 entries of 16 bits in flip-flops.
/// Entries arrive through the same table port as a lane's bank, in ascending order (the order
/// every table programmer writes them): each write shifts the table down one entry and puts the
/// new one on top, so after the 16 writes entry j sits in bits 16j..16j+16. `table_addr` is not
/// needed for that and is ignored.
#[derive(LogicBlock, Default)]
pub struct SharedBank {
    pub clock: Signal<In, Clock>,
    pub table_write: Signal<In, bool>,
    pub table_data: Signal<In, Bits<16>>,
    pub bank: Signal<Out, Bits<256>>,
    entries: DFF<Bits<256>>,
}

impl Logic for SharedBank {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, entries);
        if self.table_write.val() {
            self.entries.d.next =
                (self.entries.q.val() >> 16) | (bit_cast::<256, 16>(self.table_data.val()) << 240);
        }
        self.bank.next = self.entries.q.val();
    }
}

/// `SharedBankArray<P>`: the [`LaneArray`] with one flip-flop bank shared by all P lanes instead of
/// two block-RAM copies per lane ("one bank, P readers"), so block RAM no longer caps
/// the lane count. Same ports and timing as [`LaneArray`].
#[derive(LogicBlock)]
pub struct SharedBankArray<const P: usize, const PB: usize> {
    pub clock: Signal<In, Clock>,
    pub table_write: Signal<In, bool>,
    pub table_addr: Signal<In, Bits<4>>,
    pub table_data: Signal<In, Bits<16>>,
    pub activations: Signal<In, Bits<PB>>,
    pub negative: Signal<In, bool>,
    pub mode: Signal<In, Bits<2>>,
    pub valid: Signal<In, bool>,
    pub clear: Signal<In, bool>,
    pub bias: Signal<In, Bits<32>>,
    pub sum_select: Signal<In, Bits<5>>,
    pub sum: Signal<Out, Bits<32>>,
    bank: SharedBank,
    lanes: [SharedBankLane; P],
    acc: [Accumulator; P],
}

impl<const P: usize, const PB: usize> Default for SharedBankArray<P, PB> {
    fn default() -> Self {
        assert!(
            PB == 8 * P && P <= 32,
            "SharedBankArray<P, 8P> with P <= 32"
        );
        Self {
            clock: Default::default(),
            table_write: Default::default(),
            table_addr: Default::default(),
            table_data: Default::default(),
            activations: Default::default(),
            negative: Default::default(),
            mode: Default::default(),
            valid: Default::default(),
            clear: Default::default(),
            bias: Default::default(),
            sum_select: Default::default(),
            sum: Default::default(),
            bank: Default::default(),
            lanes: std::array::from_fn(|_| SharedBankLane::default()),
            acc: std::array::from_fn(|_| Accumulator::default()),
        }
    }
}

impl<const P: usize, const PB: usize> Logic for SharedBankArray<P, PB> {
    #[hdl_gen]
    fn update(&mut self) {
        self.bank.clock.next = self.clock.val();
        self.bank.table_write.next = self.table_write.val();
        self.bank.table_data.next = self.table_data.val();
        self.sum.next = 0.into();
        for i in 0..P {
            self.lanes[i].clock.next = self.clock.val();
            self.acc[i].clock.next = self.clock.val();
            self.lanes[i].bank.next = self.bank.bank.val();
            self.lanes[i].activation.next = self.activations.val().get_bits::<8>(8 * i);
            self.lanes[i].negative.next = self.negative.val();
            self.lanes[i].mode.next = self.mode.val();
            self.lanes[i].valid.next = self.valid.val();
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

impl<const P: usize, const PB: usize> SharedBankArray<P, PB> {
    /// An array with its inputs marked driven, ready for simulation or Verilog generation.
    pub fn top() -> Self {
        let mut uut = Self::default();
        uut.clock.connect();
        uut.table_write.connect();
        uut.table_addr.connect();
        uut.table_data.connect();
        uut.activations.connect();
        uut.negative.connect();
        uut.mode.connect();
        uut.valid.connect();
        uut.clear.connect();
        uut.bias.connect();
        uut.sum_select.connect();
        uut.connect_all();
        uut
    }
}
