//! The accelerator at the lane counts and program memories it is built with, chosen at run
//! time ([`AnyAccelerator`]): the bitstream flow and the Verilator board take its Verilog, the
//! virtual board steps it. The design itself is [`EngineAccelerator`] (docs/engine.md).

use crate::engine::accelerator::{
    identity, EngineAccelerator, ProgramMemory, BUFFER_PROGRAM_BITS, RESIDENT_PROGRAM_BITS,
};
use crate::engine::activations::banks;
use lutna_core::protocol::Identity;
use rust_hdl::prelude::*;

pub use crate::engine::accelerator::ACCELERATOR_LANES;

/// The accelerator top with 4 or 8 lanes (four activation banks) or 16 (eight), and a program
/// buffer or a resident program memory.
pub enum AnyAccelerator {
    L4(Box<EngineAccelerator<4, BUFFER_PROGRAM_BITS, { banks(4) }>>),
    L8(Box<EngineAccelerator<8, BUFFER_PROGRAM_BITS, { banks(8) }>>),
    L16(Box<EngineAccelerator<16, BUFFER_PROGRAM_BITS, { banks(16) }>>),
    L4Resident(Box<EngineAccelerator<4, RESIDENT_PROGRAM_BITS, { banks(4) }>>),
    L8Resident(Box<EngineAccelerator<8, RESIDENT_PROGRAM_BITS, { banks(8) }>>),
    L16Resident(Box<EngineAccelerator<16, RESIDENT_PROGRAM_BITS, { banks(16) }>>),
}

impl AnyAccelerator {
    /// The connected top with `lanes` lanes and `program` memory, as [`EngineAccelerator::top`]
    /// builds it; `identity` must state both.
    pub fn new(
        lanes: u8,
        program: ProgramMemory,
        clocks_per_bit: u16,
        rx_timeout_bytes: u32,
        identity: Identity,
    ) -> anyhow::Result<Self> {
        let (cpb, rx, id) = (clocks_per_bit, rx_timeout_bytes, identity);
        use ProgramMemory::{Buffer, Resident};
        Ok(match (lanes, program) {
            (4, Buffer) => AnyAccelerator::L4(Box::new(EngineAccelerator::top(cpb, rx, id))),
            (8, Buffer) => AnyAccelerator::L8(Box::new(EngineAccelerator::top(cpb, rx, id))),
            (16, Buffer) => AnyAccelerator::L16(Box::new(EngineAccelerator::top(cpb, rx, id))),
            (4, Resident) => {
                AnyAccelerator::L4Resident(Box::new(EngineAccelerator::top(cpb, rx, id)))
            }
            (8, Resident) => {
                AnyAccelerator::L8Resident(Box::new(EngineAccelerator::top(cpb, rx, id)))
            }
            (16, Resident) => {
                AnyAccelerator::L16Resident(Box::new(EngineAccelerator::top(cpb, rx, id)))
            }
            _ => anyhow::bail!(
                "the accelerator is built with 4, 8 or 16 lanes, not {lanes}: choose one with \
                 --lanes (its activation memory serves 8 bytes per cycle, or 16 for 16 lanes)"
            ),
        })
    }

    /// Chooses the Verilog of the memories for the FPGA family built. 16 lanes read a 16-byte
    /// window from eight activation banks, which the UP5K (four SPRAMs) does not have.
    pub fn set_family(&mut self, family: crate::memory::Family) -> anyhow::Result<()> {
        if family == crate::memory::Family::Ice40
            && matches!(
                self,
                AnyAccelerator::L16(_) | AnyAccelerator::L16Resident(_)
            )
        {
            anyhow::bail!(
                "16 lanes read 16 activation bytes per cycle from eight memory banks; the iCE40 \
                 build keeps its activations in the UP5K's four SPRAMs (8 bytes per cycle): \
                 use --lanes 4 or 8 with the iCEBreaker, or --lanes 16 with a ULX3S board \
                 (--board ulx3s-85f or ulx3s-45f)"
            );
        }
        match self {
            AnyAccelerator::L4(t) => t.set_family(family),
            AnyAccelerator::L8(t) => t.set_family(family),
            AnyAccelerator::L16(t) => t.set_family(family),
            AnyAccelerator::L4Resident(t) => t.set_family(family),
            AnyAccelerator::L8Resident(t) => t.set_family(family),
            AnyAccelerator::L16Resident(t) => t.set_family(family),
        }
        Ok(())
    }

    pub fn verilog(&self) -> String {
        match self {
            AnyAccelerator::L4(t) => generate_verilog(&**t),
            AnyAccelerator::L8(t) => generate_verilog(&**t),
            AnyAccelerator::L16(t) => generate_verilog(&**t),
            AnyAccelerator::L4Resident(t) => generate_verilog(&**t),
            AnyAccelerator::L8Resident(t) => generate_verilog(&**t),
            AnyAccelerator::L16Resident(t) => generate_verilog(&**t),
        }
    }
}

/// The identity of the iCEBreaker build and of the virtual board (the program buffer).
pub fn board_identity(lanes: u8) -> Identity {
    identity(lanes, ProgramMemory::Buffer)
}
