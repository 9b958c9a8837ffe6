//! `TlutLane`: the traditional LUT multiplier the paper compares against (k = 8): one 256-entry
//! table of the weight's multiples, read once with the whole activation. The 256 x 16-bit table
//! is exactly one SB_RAM40_4K; the lane has the same ports and two-cycle latency as
//! [`crate::SubMacLane`] (the table port is 8 bits wide and there is no mode input).

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct TlutLane {
    pub clock: Signal<In, Clock>,
    pub table_write: Signal<In, bool>,
    pub table_addr: Signal<In, Bits<8>>,
    pub table_data: Signal<In, Bits<16>>,
    pub activation: Signal<In, Bits<8>>,
    pub negative: Signal<In, bool>,
    pub valid: Signal<In, bool>,
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
        self.bank.write_enable.next = self.table_write.val();
        self.bank.write_address.next = self.table_addr.val();
        self.bank.write_data.next = self.table_data.val();
        self.bank.read_address.next = self.activation.val();
        self.negative_d.d.next = self.negative.val();
        self.valid_d.d.next = self.valid.val();
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
        uut.table_write.connect();
        uut.table_addr.connect();
        uut.table_data.connect();
        uut.activation.connect();
        uut.negative.connect();
        uut.valid.connect();
        uut.connect_all();
        uut
    }
}
