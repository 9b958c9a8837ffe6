//! `LaneArray<P>`: P LUT-NA lanes in the weight-broadcast, output-parallel arrangement of
//! design.md section 4, each with its own accumulator, read out one at a time through `sum_select`.
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

use crate::lane::SubMacLane;
use rust_hdl::prelude::*;

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
    acc: [DFF<Bits<32>>; P],
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
            acc: std::array::from_fn(|_| DFF::default()),
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
            self.acc[i].d.next = self.acc[i].q.val();
            if self.lanes[i].product_valid.val() {
                self.acc[i].d.next = self.acc[i].q.val() + self.lanes[i].product.val();
            }
            if self.clear.val() {
                self.acc[i].d.next = self.bias.val();
            }
            if self.sum_select.val().index() == i {
                self.sum.next = self.acc[i].q.val();
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
