//! `TlutLane`: the traditional LUT multiplier the paper compares against (k = 8): one 256-entry
//! table of the weight's multiples, read once with the whole activation. The 256 x 16-bit table
//! is exactly one SB_RAM40_4K; the lane has the same ports and two-cycle latency as
//! [`crate::SubMacLane`] (the table port is 8 bits wide; the mode input is not used).

use super::ports::{LaneOperands, TablePort};
use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct TlutLane {
    pub clock: Signal<In, Clock>,
    pub table: TablePort<8>,
    /// (`mode` is accepted and not used: the full table is exact.)
    pub operands: LaneOperands<8>,
    pub product: Signal<Out, Bits<32>>,
    pub product_valid: Signal<Out, bool>,
    // Not `table`: a Verilog keyword (Icarus rejects it; yosys does not).
    bank: RAM<Bits<16>, 8>,
    negative_d: DFF<bool>,
    valid_d: DFF<bool>,
    product_q: DFF<Bits<32>>,
    valid_q: DFF<bool>,
    magnitude: Signal<Local, Bits<32>>,
}

impl Logic for TlutLane {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, negative_d, valid_d, product_q, valid_q);
        self.bank.read_clock.next = self.clock.val();
        self.bank.write_clock.next = self.clock.val();
        self.bank.write_enable.next = self.table.write.val();
        self.bank.write_address.next = self.table.address.val();
        self.bank.write_data.next = self.table.data.val();
        self.bank.read_address.next = self.operands.activation.val();
        self.negative_d.d.next = self.operands.negative.val();
        self.valid_d.d.next = self.operands.valid.val();
        self.magnitude.next = bit_cast::<32, 16>(self.bank.read_data.val());
        self.product_q.d.next = self.magnitude.val();
        if self.negative_d.q.val() {
            self.product_q.d.next = !self.magnitude.val() + 1;
        }
        self.valid_q.d.next = self.valid_d.q.val();
        self.product.next = self.product_q.q.val();
        self.product_valid.next = self.valid_q.q.val();
    }
}

impl TlutLane {
    /// A lane with its inputs marked driven, ready for simulation or Verilog generation.
    pub fn top() -> Self {
        let mut uut = TlutLane::default();
        uut.clock.connect();
        uut.table.connect_inputs();
        uut.operands.connect_inputs();
        uut.connect_all();
        uut
    }
}
