//! Gate-level area and energy of each multiply-accumulate unit kind, measured from the same
//! RustHDL lanes that go on the FPGA (the view closest to the paper's CMOS study).
//!
//! Area: yosys synthesizes a lane to two-input CMOS gates and flip-flops (`stat -tech cmos`
//! counts their transistors); each LUT bank is left as a memory and costed by [`SramModel`] (6T
//! cells plus decoder and column periphery). Energy: [`crate::cost::gatesim`] runs the gate netlist on
//! an operand stream taken from a real model (its nonzero weights and the CIFAR-10 activations
//! they meet), programming each weight's table through the lane's own table port; switched
//! transistors are converted to picojoules with one constant calibrated on an 8-bit adder, and
//! each table read or write costs what the SRAM model says. Every constant and its source is in
//! docs/cost-model.md. The products of the gate netlist are checked against lutna-core while it
//! runs, so a cost is never measured on a netlist that computes something else.

pub mod gatesim;

use crate::datapath::mac_lane::{ArrayMacLane, DspMacLane, WallaceMacLane};
use crate::{SubMacLane, TlutLane};
use anyhow::{anyhow, bail, Context, Result};
use gatesim::GateSim;
use lutna_core::arith::{LaneMode, Scheme};
use rust_hdl::prelude::*;
use serde::Serialize;
use std::process::Command;

/// The yosys script that turns generated Verilog into what [`GateSim`] simulates.
pub const GATE_SCRIPT: &str = "hierarchy -top top; proc; flatten; opt; memory -nomap; techmap; \
     opt; dfflegalize -cell $_DFF_P_ 01; abc -g cmos2; opt_clean";

/// Synthesizes `verilog` (module `top`) to CMOS gates with yosys and loads the netlist.
pub fn synthesize_gates(tag: &str, verilog: &str) -> Result<GateSim> {
    let dir = std::env::temp_dir().join(format!("lutna-gates-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("unit.v"), verilog)?;
    let out = Command::new("yosys")
        .current_dir(&dir)
        .arg("-q")
        .arg("-p")
        .arg(format!(
            "read_verilog unit.v; {GATE_SCRIPT}; write_json gates.json"
        ))
        .output()
        .map_err(|e| {
            anyhow!("cannot run yosys ({e}): the gate-level cost model needs it; install with `apt-get install yosys` (or `./tools/test.sh`, which installs the toolchain)")
        })?;
    if !out.status.success() {
        bail!(
            "yosys failed on {tag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json = std::fs::read_to_string(dir.join("gates.json"))?;
    let _ = std::fs::remove_dir_all(&dir);
    GateSim::from_yosys_json(&json).with_context(|| format!("gate netlist of {tag}"))
}

/// Storage of one table in a full-custom SRAM macro: area in transistors and energy per access.
/// The constants are documented (with sources and what is our own assumption) in
/// docs/cost-model.md.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SramModel {
    /// Bitline energy per column per row of the array, pJ (from Horowitz ISSCC 2014: 10 pJ per
    /// 64-bit read of an 8 KB SRAM at 45 nm, taken as 1,024 rows x 64 columns).
    pub bitline_pj_per_row_column: f64,
    /// Sense amplifier, precharge and column drivers per column per access, pJ (our assumption:
    /// the bitline energy of 32 rows).
    pub column_pj: f64,
    /// Transistors per bit cell (6T), per column of periphery (precharge 3, sense amplifier 7,
    /// write driver 4) and per row of decoder (a NAND of the address bits and a driver).
    pub cell_transistors: u64,
    pub column_transistors: u64,
}

impl Default for SramModel {
    fn default() -> Self {
        let bitline = 10.0 / (1024.0 * 64.0);
        SramModel {
            bitline_pj_per_row_column: bitline,
            column_pj: 32.0 * bitline,
            cell_transistors: 6,
            column_transistors: 14,
        }
    }
}

impl SramModel {
    pub fn access_pj(&self, words: usize, width: usize) -> f64 {
        width as f64 * (words as f64 * self.bitline_pj_per_row_column + self.column_pj)
    }

    pub fn transistors(&self, words: usize, width: usize) -> u64 {
        let abits = (words.max(2) as f64).log2().ceil() as u64;
        let decoder = words as u64 * (2 * abits + 4);
        (words * width) as u64 * self.cell_transistors
            + width as u64 * self.column_transistors
            + decoder
    }
}

/// Converts switching activity to energy.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct EnergyModel {
    /// Energy of one transistor's worth of switched capacitance toggling, pJ. Calibrated so that
    /// our gate model of an 8-bit adder on uniform random operands costs 0.03 pJ per add
    /// (Horowitz ISSCC 2014, 45 nm, 0.9 V).
    pub transistor_toggle_pj: f64,
    /// Transistor-toggles charged to each flip-flop per clock edge (clock pins; our assumption).
    pub clock_toggles_per_flop: f64,
    pub sram: SramModel,
    /// Check: the same model's energy for an 8 x 8 multiply (yosys `*`) on uniform operands,
    /// beside Horowitz's 0.2 pJ.
    pub check_mult8_pj: f64,
}

/// Mean weighted toggles per operation of a combinational `module top(a, b, y)` on uniform
/// random 8-bit operands.
fn uniform_toggles(tag: &str, verilog: &str, ops: usize) -> Result<f64> {
    let mut sim = synthesize_gates(tag, verilog)?;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    sim.settle();
    sim.reset_activity();
    for _ in 0..ops {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        sim.set("a", rng & 0xFF)?;
        sim.set("b", (rng >> 8) & 0xFF)?;
        sim.settle();
    }
    Ok(sim.activity.gate_transistor_toggles as f64 / ops as f64)
}

impl EnergyModel {
    /// Runs the calibration (two small yosys runs).
    pub fn calibrated() -> Result<EnergyModel> {
        let add = uniform_toggles(
            "add8",
            "module top(input [7:0] a, input [7:0] b, output [8:0] y); assign y = a + b; endmodule",
            20_000,
        )?;
        let mul = uniform_toggles(
            "mul8",
            "module top(input [7:0] a, input [7:0] b, output [15:0] y); assign y = a * b; endmodule",
            20_000,
        )?;
        let transistor_toggle_pj = 0.03 / add;
        Ok(EnergyModel {
            transistor_toggle_pj,
            clock_toggles_per_flop: 8.0,
            sram: SramModel::default(),
            check_mult8_pj: mul * transistor_toggle_pj,
        })
    }
}

/// The unit kinds with a gate-level view (the SB_MAC16 is a hard block: FPGA view only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum UnitKind {
    /// Traditional LUT (k = 8): one 256-entry table per weight.
    Tlut,
    /// LUT-NA lane (two table copies, runtime mode) running exact LUT-NA.
    Lutna,
    /// A-LUT-NA-only lane (one copy), truncating.
    Alutna,
    /// A-LUT-NA-only lane (one copy), centred.
    AlutnaC,
    Array,
    Wallace,
}

impl UnitKind {
    pub const ALL: [UnitKind; 6] = [
        UnitKind::Tlut,
        UnitKind::Lutna,
        UnitKind::Alutna,
        UnitKind::AlutnaC,
        UnitKind::Array,
        UnitKind::Wallace,
    ];

    /// The name `lutna analyze` reports it under.
    pub fn name(self) -> &'static str {
        match self {
            UnitKind::Tlut => "tlut",
            UnitKind::Lutna => "lutna",
            UnitKind::Alutna => "alutna",
            UnitKind::AlutnaC => "alutna-c",
            UnitKind::Array => "array",
            UnitKind::Wallace => "wallace",
        }
    }

    /// The arithmetic the unit computes (what its products are checked against).
    pub fn scheme(self) -> Scheme {
        match self {
            UnitKind::Tlut => Scheme::TLUT,
            UnitKind::Lutna => Scheme::LUTNA,
            UnitKind::Alutna => Scheme::ALUTNA,
            UnitKind::AlutnaC => Scheme::ALUTNA_C,
            UnitKind::Array | UnitKind::Wallace => Scheme::Exact,
        }
    }

    fn verilog(self) -> String {
        lane_verilog(self.name()).expect("every unit kind has a lane")
    }

    /// What is written to program one weight: (address, data) pairs. LUT lanes take their
    /// scheme's table; the digital baselines keep entry 1 (= |w|) and need only that write.
    fn program(self, magnitude: u8) -> Vec<(u64, u64)> {
        match self {
            UnitKind::Array | UnitKind::Wallace => vec![(1, magnitude as u64)],
            _ => {
                let Scheme::Lut(lut) = self.scheme() else {
                    unreachable!()
                };
                let tables = lut.tables(magnitude);
                assert_eq!(tables.len(), 1, "every costed LUT lane has one bank");
                tables[0]
                    .iter()
                    .enumerate()
                    .map(|(j, &v)| (j as u64, v as u64))
                    .collect()
            }
        }
    }
}

/// The Verilog of the lane that implements unit `name` (`tlut`, `lutna`, `alutna`, `alutna-c`,
/// `array`, `wallace`, `dsp`); the approximate units share the A-LUT-NA-only lane.
pub fn lane_verilog(name: &str) -> Option<String> {
    Some(match name {
        "tlut" => generate_verilog(&TlutLane::top()),
        "lutna" => generate_verilog(&SubMacLane::top()),
        "alutna" | "alutna-c" => generate_verilog(&SubMacLane::approximate_only()),
        "array" => generate_verilog(&ArrayMacLane::top()),
        "wallace" => generate_verilog(&WallaceMacLane::top()),
        "dsp" => generate_verilog(&DspMacLane::top()),
        _ => return None,
    })
}

/// One lane's iCE40UP5K resources after yosys `synth_ice40` and nextpnr packing (no placement:
/// a lane alone has more ports than the package has pins; docs/benchmarks.md has placed figures).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct FpgaCost {
    pub logic_cells: u64,
    pub bram: u64,
    pub dsp: u64,
}

/// Packs lane `name` for the UP5K and reads nextpnr's utilisation.
pub fn fpga_cost(name: &str) -> Result<FpgaCost> {
    let verilog = lane_verilog(name).ok_or_else(|| anyhow!("no lane for unit '{name}'"))?;
    let dir = std::env::temp_dir().join(format!("lutna-pack-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("lane.v"), verilog)?;
    let tool = |cmd: &str, args: &[&str], log: &str| {
        crate::flow::run_tool(&dir, cmd, args, log).with_context(|| format!("packing {name}"))
    };
    tool(
        "yosys",
        &[
            "-q",
            "-p",
            "read_verilog lane.v; synth_ice40 -top top -json lane.json",
        ],
        "yosys.log",
    )?;
    let log = tool(
        "nextpnr-ice40",
        &[
            "--up5k",
            "--package",
            "sg48",
            "--json",
            "lane.json",
            "--pack-only",
        ],
        "nextpnr.log",
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    let used = crate::flow::Resources::from_nextpnr_log(&log);
    if used.logic_cells == 0 {
        bail!("nextpnr reported no logic cells for {name}:\n{log}");
    }
    Ok(FpgaCost {
        logic_cells: used.logic_cells,
        bram: used.bram,
        dsp: used.dsp,
    })
}

/// Operands for the energy simulation: each job is a nonzero weight and the activations it is
/// multiplied with, in the order a weight-broadcast sweep meets them.
#[derive(Clone, Debug, Default)]
pub struct OperandStream {
    pub jobs: Vec<(i16, Vec<u8>)>,
}

impl OperandStream {
    pub fn macs(&self) -> usize {
        self.jobs.iter().map(|j| j.1.len()).sum()
    }
}

/// One unit kind's gate-level costs.
#[derive(Clone, Debug, Serialize)]
pub struct GateCost {
    pub unit: &'static str,
    /// Gates and flip-flops (yosys `stat -tech cmos` counting) plus the SRAM model's tables.
    pub area_transistors: u64,
    pub logic_transistors: u64,
    pub sram_transistors: u64,
    pub sram_bits: u64,
    /// Energy per multiply-accumulate while streaming activations past a programmed table.
    pub energy_per_mac_pj: f64,
    /// Of which table reads.
    pub sram_pj_per_mac: f64,
    /// Energy to program one weight (table writes, or the weight register of a baseline).
    pub energy_per_fill_pj: f64,
    pub macs_simulated: usize,
}

struct Phase {
    logic_pj: f64,
    sram_pj: f64,
}

fn take_phase(sim: &mut GateSim, model: &EnergyModel) -> Phase {
    let a = sim.activity;
    let logic = (a.gate_transistor_toggles as f64
        + 16.0 * a.flop_toggles as f64
        + model.clock_toggles_per_flop * a.flop_clocks as f64)
        * model.transistor_toggle_pj;
    let sram: f64 = sim
        .memories
        .iter()
        .map(|m| (m.reads + m.writes) as f64 * model.sram.access_pj(m.words, m.width))
        .sum();
    sim.reset_activity();
    Phase {
        logic_pj: logic,
        sram_pj: sram,
    }
}

/// Measures `unit` on `stream`: area from its gate netlist and SRAM model, energy per MAC and per
/// weight programming from the simulation. Fails if the netlist's products differ from
/// lutna-core's.
pub fn measure(unit: UnitKind, stream: &OperandStream, model: &EnergyModel) -> Result<GateCost> {
    let mut sim = synthesize_gates(unit.name(), &unit.verilog())?;
    let scheme = unit.scheme();
    let mode = LaneMode::for_scheme(scheme, 4)
        .map(|m| m.code())
        .unwrap_or(0) as u64;
    let has_mode = unit != UnitKind::Tlut;
    let (mut fill_pj, mut op_logic_pj, mut op_sram_pj) = (0.0, 0.0, 0.0);
    let mut checked = 0usize;
    sim.set("operands$valid", 0)?;
    sim.cycle();
    sim.reset_activity();
    for (w, acts) in &stream.jobs {
        sim.set("operands$valid", 0)?;
        for (addr, data) in unit.program(w.unsigned_abs() as u8) {
            sim.set("table$write", 1)?;
            sim.set("table$address", addr)?;
            sim.set("table$data", data)?;
            sim.cycle();
        }
        sim.set("table$write", 0)?;
        let p = take_phase(&mut sim, model);
        fill_pj += p.logic_pj + p.sram_pj;
        // Stream the activations; products appear two cycles later.
        let mut pending = std::collections::VecDeque::new();
        for k in 0..acts.len() + 2 {
            if let Some(&a) = acts.get(k) {
                sim.set("operands$activation", a as u64)?;
                sim.set("operands$negative", (*w < 0) as u64)?;
                if has_mode {
                    sim.set("operands$mode", mode)?;
                }
                sim.set("operands$valid", 1)?;
                pending.push_back(scheme.product(a, *w));
            } else {
                sim.set("operands$valid", 0)?;
            }
            sim.cycle();
            if sim.get_output("product_valid")? == 1 {
                let got = sim.get_output("product")? as u32 as i32;
                let want = pending.pop_front().unwrap();
                if got != want {
                    bail!(
                        "gate netlist of {} computes {got} where lutna-core says {want} (w = {w})",
                        unit.name()
                    );
                }
                checked += 1;
            }
        }
        let p = take_phase(&mut sim, model);
        op_logic_pj += p.logic_pj;
        op_sram_pj += p.sram_pj;
    }
    let macs = stream.macs();
    if checked != macs {
        bail!("{}: {checked} products checked of {macs}", unit.name());
    }
    let (sram_bits, sram_transistors) = sim.memories.iter().fold((0, 0), |(b, t), m| {
        (
            b + (m.words * m.width) as u64,
            t + model.sram.transistors(m.words, m.width),
        )
    });
    Ok(GateCost {
        unit: unit.name(),
        area_transistors: sim.logic_transistors + sram_transistors,
        logic_transistors: sim.logic_transistors,
        sram_transistors,
        sram_bits,
        energy_per_mac_pj: (op_logic_pj + op_sram_pj) / macs.max(1) as f64,
        sram_pj_per_mac: op_sram_pj / macs.max(1) as f64,
        energy_per_fill_pj: fill_pj / stream.jobs.len().max(1) as f64,
        macs_simulated: macs,
    })
}
