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
