//! The digital-multiplier baselines the paper compares LUT-NA against, each a lane with the same
//! ports, programming sequence and two-cycle latency as [`crate::SubMacLane`], so one testbench,
//! one fabric and one synthesis harness serve every lane kind:
//!
//! - [`ArrayMacLane`]: an array multiplier: eight AND-gated partial-product rows summed by a
//!   chain of seven ripple-carry row adders.
//! - [`WallaceMacLane`]: the same eight rows reduced by a Wallace tree of carry-save (3:2) adders,
//!   four levels deep, then one carry-propagate adder.
//! - [`DspMacLane`]: the iCE40UP5K's SB_MAC16 DSP block as a 16 x 16 unsigned multiplier.
//!
//! How a baseline takes its weight: a LUT-NA bank is written with `|w| * j` for j = 0..15, so
//! entry 1 is `|w|` itself. The baselines listen on the same table port and keep entry 1 in an
//! 8-bit weight register; the other entries are ignored. `mode` is accepted and ignored: digital
//! multipliers are exact. Only the multiplier differs between the three, so the operand
//! registers, weight register and sign stage live once, in [`MacShell`].

use super::ports::{LaneOperands, TablePort};
use rust_hdl::prelude::*;

/// Operand registers, the weight register, and the sign/output stage shared by the baseline
/// lanes. Cycle 0 registers the activation and sign; during cycle 1 the lane's multiplier turns
/// (`operand_a`, `operand_w`) into `magnitude`, which is signed and registered into `product`.
#[derive(LogicBlock, Default)]
pub struct MacShell {
    pub clock: Signal<In, Clock>,
    pub table: TablePort<4>,
    /// (`mode` is not used: a digital multiplier is always exact.)
    pub operands: LaneOperands<8>,
    /// The unsigned product from the lane's multiplier.
    pub magnitude: Signal<In, Bits<16>>,
    pub operand_a: Signal<Out, Bits<8>>,
    pub operand_w: Signal<Out, Bits<8>>,
    pub product: Signal<Out, Bits<32>>,
    pub product_valid: Signal<Out, bool>,
    weight_q: DFF<Bits<8>>,
    activation_d: DFF<Bits<8>>,
    negative_d: DFF<bool>,
    valid_d: DFF<bool>,
    product_q: DFF<Bits<32>>,
    valid_q: DFF<bool>,
    wide: Signal<Local, Bits<32>>,
}

impl Logic for MacShell {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            weight_q,
            activation_d,
            negative_d,
            valid_d,
            product_q,
            valid_q
        );
        if self.table.write.val() & (self.table.address.val() == 1) {
            self.weight_q.d.next = self.table.data.val().get_bits::<8>(0);
        }
        self.activation_d.d.next = self.operands.activation.val();
        self.negative_d.d.next = self.operands.negative.val();
        self.valid_d.d.next = self.operands.valid.val();
        self.operand_a.next = self.activation_d.q.val();
        self.operand_w.next = self.weight_q.q.val();
        self.wide.next = bit_cast::<32, 16>(self.magnitude.val());
        self.product_q.d.next = self.wide.val();
        if self.negative_d.q.val() {
            self.product_q.d.next = !self.wide.val() + 1;
        }
        self.valid_q.d.next = self.valid_d.q.val();
        self.product.next = self.product_q.q.val();
        self.product_valid.next = self.valid_q.q.val();
    }
}

/// The eight partial-product rows of an 8 x 8 unsigned multiply: row i is `a` AND-ed with bit i
/// of `w`, shifted i places.
#[derive(LogicBlock, Default)]
pub struct PartialProducts {
    pub a: Signal<In, Bits<8>>,
    pub w: Signal<In, Bits<8>>,
    pub rows: [Signal<Out, Bits<16>>; 8],
    a16: Signal<Local, Bits<16>>,
}

impl Logic for PartialProducts {
    #[hdl_gen]
    fn update(&mut self) {
        self.a16.next = bit_cast::<16, 8>(self.a.val());
        for i in 0..8 {
            self.rows[i].next = 0.into();
        }
        if self.w.val().get_bit(0) {
            self.rows[0].next = self.a16.val();
        }
        if self.w.val().get_bit(1) {
            self.rows[1].next = self.a16.val() << 1;
        }
        if self.w.val().get_bit(2) {
            self.rows[2].next = self.a16.val() << 2;
        }
        if self.w.val().get_bit(3) {
            self.rows[3].next = self.a16.val() << 3;
        }
        if self.w.val().get_bit(4) {
            self.rows[4].next = self.a16.val() << 4;
        }
        if self.w.val().get_bit(5) {
            self.rows[5].next = self.a16.val() << 5;
        }
        if self.w.val().get_bit(6) {
            self.rows[6].next = self.a16.val() << 6;
        }
        if self.w.val().get_bit(7) {
            self.rows[7].next = self.a16.val() << 7;
        }
    }
}

/// Array multiplier: each row adder takes the running sum and the next partial-product row.
#[derive(LogicBlock, Default)]
pub struct ArrayMultiplier {
    pub a: Signal<In, Bits<8>>,
    pub w: Signal<In, Bits<8>>,
    pub product: Signal<Out, Bits<16>>,
    rows: PartialProducts,
    running: [Signal<Local, Bits<16>>; 8],
}

impl Logic for ArrayMultiplier {
    #[hdl_gen]
    fn update(&mut self) {
        self.rows.a.next = self.a.val();
        self.rows.w.next = self.w.val();
        self.running[0].next = self.rows.rows[0].val();
        for i in 1..8 {
            self.running[i].next = self.running[i - 1].val() + self.rows.rows[i].val();
        }
        for i in 7..8 {
            self.product.next = self.running[i].val();
        }
    }
}

/// One level of carry-save addition: three rows in, a sum row and a carry row out, with
/// `sum + carry == x + y + z` (mod 2^16, and the product fits in 16 bits).
#[derive(LogicBlock, Default)]
pub struct CarrySaveAdder {
    pub x: Signal<In, Bits<16>>,
    pub y: Signal<In, Bits<16>>,
    pub z: Signal<In, Bits<16>>,
    pub sum: Signal<Out, Bits<16>>,
    pub carry: Signal<Out, Bits<16>>,
}

impl Logic for CarrySaveAdder {
    #[hdl_gen]
    fn update(&mut self) {
        self.sum.next = self.x.val() ^ self.y.val() ^ self.z.val();
        self.carry.next = ((self.x.val() & self.y.val())
            | (self.x.val() & self.z.val())
            | (self.y.val() & self.z.val()))
            << 1;
    }
}

/// Wallace tree: 8 rows -> 6 -> 4 -> 3 -> 2 through six carry-save adders, then one adder.
#[derive(LogicBlock, Default)]
pub struct WallaceMultiplier {
    pub a: Signal<In, Bits<8>>,
    pub w: Signal<In, Bits<8>>,
    pub product: Signal<Out, Bits<16>>,
    rows: PartialProducts,
    csa: [CarrySaveAdder; 6],
}

impl Logic for WallaceMultiplier {
    #[hdl_gen]
    fn update(&mut self) {
        self.rows.a.next = self.a.val();
        self.rows.w.next = self.w.val();
        // Level 1: rows 0-2 and 3-5; rows 6 and 7 wait.
        self.csa[0].x.next = self.rows.rows[0].val();
        self.csa[0].y.next = self.rows.rows[1].val();
        self.csa[0].z.next = self.rows.rows[2].val();
        self.csa[1].x.next = self.rows.rows[3].val();
        self.csa[1].y.next = self.rows.rows[4].val();
        self.csa[1].z.next = self.rows.rows[5].val();
        // Level 2: six rows to four.
        self.csa[2].x.next = self.csa[0].sum.val();
        self.csa[2].y.next = self.csa[0].carry.val();
        self.csa[2].z.next = self.csa[1].sum.val();
        self.csa[3].x.next = self.csa[1].carry.val();
        self.csa[3].y.next = self.rows.rows[6].val();
        self.csa[3].z.next = self.rows.rows[7].val();
        // Level 3: four rows to three.
        self.csa[4].x.next = self.csa[2].sum.val();
        self.csa[4].y.next = self.csa[2].carry.val();
        self.csa[4].z.next = self.csa[3].sum.val();
        // Level 4: three rows to two, then the carry-propagate adder.
        self.csa[5].x.next = self.csa[4].sum.val();
        self.csa[5].y.next = self.csa[4].carry.val();
        self.csa[5].z.next = self.csa[3].carry.val();
        self.product.next = self.csa[5].sum.val() + self.csa[5].carry.val();
    }
}

/// The UP5K's SB_MAC16 used as a combinational 16 x 16 unsigned multiplier (every internal
/// register bypassed, both output halves selecting the multiplier) on zero-extended 8-bit
/// operands. Simulated here as `a * w`; the Verilog instantiates the primitive.
#[derive(LogicBlock, Default)]
pub struct Mac16Multiplier {
    pub a: Signal<In, Bits<8>>,
    pub w: Signal<In, Bits<8>>,
    pub product: Signal<Out, Bits<16>>,
}

/// The blackbox declaration of SB_MAC16 that rust-hdl's Verilog carries so yosys can check it;
/// simulations that use yosys's `cells_sim.v` model must drop it (see `strip_blackbox`).
const SB_MAC16_BLACKBOX: &str = r#"
(* blackbox *)
module SB_MAC16(input CLK, input CE, input [15:0] C, input [15:0] A, input [15:0] B,
  input [15:0] D, input AHOLD, input BHOLD, input CHOLD, input DHOLD, input IRSTTOP,
  input IRSTBOT, input ORSTTOP, input ORSTBOT, input OLOADTOP, input OLOADBOT, input ADDSUBTOP,
  input ADDSUBBOT, input OHOLDTOP, input OHOLDBOT, input CI, input ACCUMCI, input SIGNEXTIN,
  output [31:0] O, output CO, output ACCUMCO, output SIGNEXTOUT);
  parameter [0:0] A_SIGNED = 0;
  parameter [0:0] B_SIGNED = 0;
  parameter [0:0] MODE_8x8 = 0;
  parameter [1:0] TOPOUTPUT_SELECT = 0;
  parameter [1:0] BOTOUTPUT_SELECT = 0;
  parameter [0:0] A_REG = 0;
  parameter [0:0] B_REG = 0;
  parameter [0:0] C_REG = 0;
  parameter [0:0] D_REG = 0;
  parameter [0:0] TOP_8x8_MULT_REG = 0;
  parameter [0:0] BOT_8x8_MULT_REG = 0;
  parameter [0:0] PIPELINE_16x16_MULT_REG1 = 0;
  parameter [0:0] PIPELINE_16x16_MULT_REG2 = 0;
endmodule
"#;

/// Removes the SB_MAC16 blackbox declaration from generated Verilog, for simulators that are
/// given the primitive's real model.
pub fn strip_blackbox(verilog: &str) -> String {
    verilog.replace(SB_MAC16_BLACKBOX.trim(), "")
}

impl Logic for Mac16Multiplier {
    fn update(&mut self) {
        let p = self.a.val().index() as u64 * self.w.val().index() as u64;
        self.product.next = p.into();
    }
    fn connect(&mut self) {
        self.product.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Wrapper(Wrapper {
            code: r#"
wire [31:0] full;
assign product = full[15:0];
SB_MAC16 #(.A_SIGNED(1'b0), .B_SIGNED(1'b0), .MODE_8x8(1'b0),
    .TOPOUTPUT_SELECT(2'b11), .BOTOUTPUT_SELECT(2'b11),
    .A_REG(1'b0), .B_REG(1'b0), .C_REG(1'b0), .D_REG(1'b0),
    .TOP_8x8_MULT_REG(1'b0), .BOT_8x8_MULT_REG(1'b0),
    .PIPELINE_16x16_MULT_REG1(1'b0), .PIPELINE_16x16_MULT_REG2(1'b0))
  mac (.CLK(1'b0), .CE(1'b1), .A({8'b0, a}), .B({8'b0, w}), .C(16'b0), .D(16'b0),
    .AHOLD(1'b0), .BHOLD(1'b0), .CHOLD(1'b0), .DHOLD(1'b0),
    .IRSTTOP(1'b0), .IRSTBOT(1'b0), .ORSTTOP(1'b0), .ORSTBOT(1'b0),
    .OLOADTOP(1'b0), .OLOADBOT(1'b0), .ADDSUBTOP(1'b0), .ADDSUBBOT(1'b0),
    .OHOLDTOP(1'b0), .OHOLDBOT(1'b0), .CI(1'b0), .ACCUMCI(1'b0), .SIGNEXTIN(1'b0),
    .O(full), .CO(), .ACCUMCO(), .SIGNEXTOUT());
"#
            .into(),
            cores: SB_MAC16_BLACKBOX.trim().into(),
        })
    }
}

/// A baseline lane: the shell around one multiplier. The macro writes the identical port list,
/// wiring and `top()` of the three kinds once.
macro_rules! mac_lane {
    ($(#[$doc:meta])* $name:ident, $mul:ty) => {
        $(#[$doc])*
        #[derive(LogicBlock, Default)]
        pub struct $name {
            pub clock: Signal<In, Clock>,
            pub table: TablePort<4>,
            /// (`mode` is accepted and not used: a digital multiplier is always exact.)
            pub operands: LaneOperands<8>,
            pub product: Signal<Out, Bits<32>>,
            pub product_valid: Signal<Out, bool>,
            shell: MacShell,
            multiplier: $mul,
        }

        impl Logic for $name {
            #[hdl_gen]
            fn update(&mut self) {
                self.shell.clock.next = self.clock.val();
                self.shell.table.write.next = self.table.write.val();
                self.shell.table.address.next = self.table.address.val();
                self.shell.table.data.next = self.table.data.val();
                self.shell.operands.activation.next = self.operands.activation.val();
                self.shell.operands.negative.next = self.operands.negative.val();
                self.shell.operands.mode.next = self.operands.mode.val();
                self.shell.operands.valid.next = self.operands.valid.val();
                self.multiplier.a.next = self.shell.operand_a.val();
                self.multiplier.w.next = self.shell.operand_w.val();
                self.shell.magnitude.next = self.multiplier.product.val();
                self.product.next = self.shell.product.val();
                self.product_valid.next = self.shell.product_valid.val();
            }
        }

        impl $name {
            /// A lane with its inputs marked driven, ready for simulation or Verilog generation.
            pub fn top() -> Self {
                let mut uut = Self::default();
                uut.clock.connect();
                uut.table.connect_inputs();
                uut.operands.connect_inputs();
                uut.connect_all();
                uut
            }
        }
    };
}

mac_lane!(
    /// The array-multiplier baseline lane.
    ArrayMacLane, ArrayMultiplier
);
mac_lane!(
    /// The Wallace-tree baseline lane.
    WallaceMacLane, WallaceMultiplier
);
mac_lane!(
    /// The SB_MAC16 DSP baseline lane.
    DspMacLane, Mac16Multiplier
);
