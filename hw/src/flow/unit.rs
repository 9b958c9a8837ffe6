//! One unit of the engine synthesized on its own for the UP5K: what `lutna build` prints beside
//! the unit's line of the budget (docs/engine.md, "Budget"), and what each unit's test checks.
//!
//! The unit's Verilog goes through yosys `synth_ice40 -dsp` and `nextpnr-ice40 --pack-only`
//! (ports left unconstrained: packing does not place them), so the figure is nextpnr's packed
//! logic cells, the same count the whole design's fit is judged by. A unit counted alone misses
//! what synthesis would share or remove across its ports, so the figures overstate a little;
//! the whole design's count is the one that must fit.

use super::report::{Resources, SynthCells};
use super::tools::run_tool;
use anyhow::{bail, Result};
use std::path::Path;

/// `nextpnr-ice40 --pack-only` of the design `design_args` name (device, package, netlist,
/// pins) in `dir`: the logic cells after packing, as the fit is judged (log in `pack.log`).
pub fn pack_ice40(dir: &Path, design_args: &[&str]) -> Result<u64> {
    let log = run_tool(
        dir,
        "nextpnr-ice40",
        &[design_args, &["--pack-only", "--force"]].concat(),
        "pack.log",
    )?;
    let packed = Resources::from_nextpnr_log(&log).logic_cells;
    if packed == 0 {
        bail!("the nextpnr packing log (pack.log) has no logic-cell count");
    }
    Ok(packed)
}

/// A unit's cells: yosys' mapping and nextpnr's packed logic cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UnitCells {
    pub synth: SynthCells,
    pub packed_logic_cells: u64,
}

/// Synthesizes `verilog` (top module `top`) in `dir` and packs it for the UP5K.
pub fn unit_cells(dir: &Path, verilog: &str) -> Result<UnitCells> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("top.v"), verilog)?;
    let log = run_tool(
        dir,
        "yosys",
        &[
            "-p",
            "read_verilog top.v; synth_ice40 -top top -dsp -json top.json; stat",
        ],
        "yosys.log",
    )?;
    let synth = SynthCells::parse(&log)?;
    let packed = pack_ice40(dir, &["--up5k", "--package", "sg48", "--json", "top.json"])?;
    Ok(UnitCells {
        synth,
        packed_logic_cells: packed,
    })
}

/// One unit of the engine beside its budget line, as `lutna build` reports it (JSON field
/// `units` of the build report; docs/engine.md, "Budget").
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UnitReport {
    pub unit: String,
    /// The unit's line: packed logic cells and block RAMs.
    pub budget_cells: u32,
    pub budget_block_rams: u32,
    /// Measured: nextpnr's packed logic cells, yosys' LUT4s, carries, flip-flops, block RAMs.
    pub cells: u64,
    pub lut4: u64,
    pub carry: u64,
    pub ff: u64,
    pub block_rams: u64,
    pub within_budget: bool,
}

/// The engine's units at `P` lanes with their lines, each as the Verilog of the unit alone; the
/// joined core last, against the lines of everything but the link.
fn engine_designs<const P: usize>() -> Vec<(String, u32, u32, String)> {
    use crate::engine::activations::{ActivationMemory, SPRAM_BANKS};
    use crate::engine::budget::{self, Line};
    use crate::engine::{
        accelerator::BUFFER_PROGRAM_BITS, address::AddressGenerator, column_mask::ColumnMask,
        core::EngineCore, drain::Drain, fetch::Fetch, issuer::Issuer, lane::EngineLane,
        programmer::TableProgrammer, writer::Writer,
    };
    use rust_hdl::prelude::generate_verilog;
    let line = |l: Line| (l.unit.to_string(), l.cells, l.block_rams);
    let (total, rams) = budget::total(P as u32);
    let link = [budget::UART, budget::FRAMES, budget::COMMANDS];
    let link_cells: u32 = link.iter().map(|l| l.cells).sum();
    let link_rams: u32 = link.iter().map(|l| l.block_rams).sum();
    let fetch = (
        "fetch, registers, channel parameters (one set)".to_string(),
        budget::FETCH.cells + budget::REGISTERS.cells + budget::CHANNEL.cells / 2,
        budget::FETCH.block_rams,
    );
    let designs: Vec<((String, u32, u32), String)> = vec![
        (
            fetch,
            generate_verilog(&Fetch::<BUFFER_PROGRAM_BITS>::top()),
        ),
        (
            line(budget::PROGRAMMER),
            generate_verilog(&TableProgrammer::top()),
        ),
        (
            line(budget::ADDRESS),
            generate_verilog(&AddressGenerator::<P>::top()),
        ),
        (line(budget::ISSUER), generate_verilog(&Issuer::top())),
        (
            line(budget::COLUMN_MASK),
            generate_verilog(&ColumnMask::<P>::top()),
        ),
        (line(budget::LANE), generate_verilog(&EngineLane::top())),
        (line(budget::DRAIN), generate_verilog(&Drain::top())),
        (
            line(budget::REQUANTIZER),
            generate_verilog(&UntaggedRequantizer::top()),
        ),
        (line(budget::WRITER), generate_verilog(&Writer::<P>::top())),
        (
            line(budget::ACTIVATIONS),
            generate_verilog(&ActivationMemory::<SPRAM_BANKS>::top()),
        ),
        (
            (
                format!("engine core, {P} lanes joined (all but the link)"),
                total - link_cells,
                rams - link_rams,
            ),
            generate_verilog(&EngineCore::<P, BUFFER_PROGRAM_BITS, SPRAM_BANKS>::top()),
        ),
    ];
    designs
        .into_iter()
        .map(|((unit, cells, rams), v)| (unit, cells, rams, v))
        .collect()
}

/// The requantizer as the engine uses it: no tag travels with the values (the writer counts a
/// group's bytes), so the tag's pipeline registers are not built.
mod untagged {
    use crate::datapath::requant::Requantizer;
    use rust_hdl::prelude::*;

    #[derive(LogicBlock)]
    pub struct UntaggedRequantizer {
        clock: Signal<In, Clock>,
        acc: Signal<In, Bits<32>>,
        mult: Signal<In, Bits<16>>,
        shift: Signal<In, Bits<6>>,
        signed_out: Signal<In, bool>,
        valid: Signal<In, bool>,
        out: Signal<Out, Bits<8>>,
        out_valid: Signal<Out, bool>,
        requant: Requantizer,
    }

    impl UntaggedRequantizer {
        pub fn top() -> Self {
            let mut uut = Self {
                clock: Default::default(),
                acc: Default::default(),
                mult: Default::default(),
                shift: Default::default(),
                signed_out: Default::default(),
                valid: Default::default(),
                out: Default::default(),
                out_valid: Default::default(),
                requant: Default::default(),
            };
            uut.clock.connect();
            uut.acc.connect();
            uut.mult.connect();
            uut.shift.connect();
            uut.signed_out.connect();
            uut.valid.connect();
            uut.connect_all();
            uut
        }
    }

    impl Logic for UntaggedRequantizer {
        #[hdl_gen]
        fn update(&mut self) {
            self.requant.clock.next = self.clock.val();
            self.requant.acc.next = self.acc.val();
            self.requant.mult.next = self.mult.val();
            self.requant.shift.next = self.shift.val();
            self.requant.signed_out.next = self.signed_out.val();
            self.requant.valid.next = self.valid.val();
            self.requant.tag.next = 0.into();
            self.out.next = self.requant.out.val();
            self.out_valid.next = self.requant.out_valid.val();
        }
    }
}
use untagged::UntaggedRequantizer;

/// Synthesizes each of the engine's units (and the joined core) at `lanes` lanes on its own, in
/// folders under `dir`, and reports it beside its line. The units are the instruction-stream
/// engine's (docs/engine.md); the UART and frame blocks are the link's, measured with it.
pub fn engine_units(dir: &Path, lanes: u8) -> Result<Vec<UnitReport>> {
    let designs = match lanes {
        4 => engine_designs::<4>(),
        8 => engine_designs::<8>(),
        _ => bail!("the engine's units are measured for the UP5K, at 4 or 8 lanes, not {lanes}"),
    };
    designs
        .into_iter()
        .enumerate()
        .map(|(i, (unit, budget_cells, budget_block_rams, verilog))| {
            let cells = unit_cells(&dir.join(format!("unit-{i:02}")), &verilog)?;
            Ok(UnitReport {
                unit,
                budget_cells,
                budget_block_rams,
                cells: cells.packed_logic_cells,
                lut4: cells.synth.lut4,
                carry: cells.synth.carry,
                ff: cells.synth.ff,
                block_rams: cells.synth.bram,
                within_budget: cells.packed_logic_cells <= budget_cells as u64
                    && cells.synth.bram <= budget_block_rams as u64,
            })
        })
        .collect()
}

/// The units as a Markdown table for the build report.
pub fn units_markdown(units: &[UnitReport]) -> String {
    let mut s = String::from(
        "## Engine units (each synthesized alone for the UP5K: `synth_ice40`, `nextpnr-ice40 \
         --pack-only`)\n\nThe instruction-stream engine of docs/engine.md, unit by unit beside \
         its line of the budget; a unit alone overstates a little (nothing is shared across its \
         ports).\n\n| unit | budget cells | cells | LUT4 | carry | FF | block RAM (budget) | |\n\
         |---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for u in units {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} ({}) | {} |\n",
            u.unit,
            u.budget_cells,
            u.cells,
            u.lut4,
            u.carry,
            u.ff,
            u.block_rams,
            u.budget_block_rams,
            if u.within_budget { "ok" } else { "**over**" }
        );
    }
    s + "\n"
}
