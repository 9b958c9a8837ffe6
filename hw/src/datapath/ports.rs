//! The port bundles every lane kind shares, so a lane, a lane array and the harnesses that
//! drive them declare and wire them once.

use rust_hdl::prelude::*;

/// A table-write port: while `write` is high, entry `address` of the table takes `data` (a
/// 16-bit multiple of the weight, `lutna_core::arith`). `A` address bits: 4 for a LUT-NA bank,
/// 8 for the traditional LUT's. The multiplier baselines listen on it for the weight itself
/// (entry 1).
#[derive(LogicInterface, Default)]
pub struct TablePort<const A: usize> {
    pub write: Signal<In, bool>,
    pub address: Signal<In, Bits<A>>,
    pub data: Signal<In, Bits<16>>,
}

impl<const A: usize> TablePort<A> {
    /// Marks the port driven from outside (a block that is the top of a simulation or netlist).
    pub fn connect_inputs(&mut self) {
        self.write.connect();
        self.address.connect();
        self.data.connect();
    }
}

/// The operands of one product: `activation` (one byte per lane: lane i in bits 8i..8i+8, so
/// `W` = 8 for a lane and 8 P for an array of P lanes), the weight's sign, the lane mode
/// (`lutna_core::arith::LaneMode` code; the exact lanes ignore it) and whether the cycle carries
/// a product.
#[derive(LogicInterface, Default)]
pub struct LaneOperands<const W: usize> {
    pub activation: Signal<In, Bits<W>>,
    pub negative: Signal<In, bool>,
    pub mode: Signal<In, Bits<2>>,
    pub valid: Signal<In, bool>,
}

impl<const W: usize> LaneOperands<W> {
    /// Marks the operands driven from outside.
    pub fn connect_inputs(&mut self) {
        self.activation.connect();
        self.negative.connect();
        self.mode.connect();
        self.valid.connect();
    }
}
