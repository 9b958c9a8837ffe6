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
use gatesim::{GateSim, Timing};
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
    /// Energy of one transistor's worth of switched capacitance toggling, pJ, for the zero-delay
    /// simulation. Calibrated so that our gate model of an 8-bit adder on uniform random operands
    /// costs 0.03 pJ per add (Horowitz ISSCC 2014, 45 nm, 0.9 V).
    pub transistor_toggle_pj: f64,
    /// The timed simulation behind the `_glitch` figures ([`gatesim::Timing`]).
    pub glitch_timing: Timing,
    /// The same calibration for the timed simulation: the adder, its glitches now counted, again
    /// costs 0.03 pJ per add (Horowitz's figure is a real adder's, glitches included).
    pub transistor_toggle_pj_glitch: f64,
    /// Weighted toggles per add of the calibration adder, timed over zero-delay: its glitches.
    pub add8_glitch_factor: f64,
    /// Transistor-toggles charged to each flip-flop per clock edge (clock pins; our assumption).
    pub clock_toggles_per_flop: f64,
    pub sram: SramModel,
    /// Check: the same model's energy for an 8 x 8 multiply (yosys `*`) on uniform operands,
    /// beside Horowitz's 0.2 pJ, zero-delay and timed.
    pub check_mult8_pj: f64,
    pub check_mult8_pj_glitch: f64,
}

/// Mean weighted toggles per operation of a combinational netlist with two 8-bit inputs `a`
/// and `b` (input port names given) on uniform random operands, in each of `timings`.
fn uniform_toggles_of(
    netlist: &GateSim,
    (a, b): (&str, &str),
    ops: usize,
    timings: &[Timing],
) -> Result<Vec<f64>> {
    timings
        .iter()
        .map(|&timing| {
            let mut sim = netlist.clone();
            sim.set_timing(timing);
            let mut rng = lutna_core::XorShift(0x2545_F491_4F6C_DD1D);
            sim.settle();
            sim.reset_activity();
            for _ in 0..ops {
                let r = rng.next_u64();
                sim.set(a, r & 0xFF)?;
                sim.set(b, (r >> 8) & 0xFF)?;
                sim.settle();
            }
            Ok(sim.activity.gate_transistor_toggles as f64 / ops as f64)
        })
        .collect()
}

/// [`uniform_toggles_of`] for Verilog `module top(a, b, y)`.
fn uniform_toggles(tag: &str, verilog: &str, ops: usize, timings: &[Timing]) -> Result<Vec<f64>> {
    uniform_toggles_of(&synthesize_gates(tag, verilog)?, ("a", "b"), ops, timings)
}

/// An 8-bit adder and an 8 x 8 multiplier as yosys builds them (`+`, `*`): the calibration and
/// the check of [`EnergyModel`], and the references of the multiplier check in
/// docs/cost-model.md.
pub const ADD8_VERILOG: &str =
    "module top(input [7:0] a, input [7:0] b, output [8:0] y); assign y = a + b; endmodule";
pub const MUL8_VERILOG: &str =
    "module top(input [7:0] a, input [7:0] b, output [15:0] y); assign y = a * b; endmodule";

impl EnergyModel {
    /// Runs the calibration (two small yosys runs), with logical-effort delays for the timed
    /// figures.
    pub fn calibrated() -> Result<EnergyModel> {
        Self::calibrated_with(Timing::LogicalEffort)
    }

    /// The calibration, with `glitch_timing` (a timed mode) for the `_glitch` figures.
    pub fn calibrated_with(glitch_timing: Timing) -> Result<EnergyModel> {
        if glitch_timing == Timing::ZeroDelay {
            bail!("the glitch figures need a timed simulation (unit-delay or logical-effort)");
        }
        let timings = [Timing::ZeroDelay, glitch_timing];
        let add = uniform_toggles("add8", ADD8_VERILOG, 20_000, &timings)?;
        let mul = uniform_toggles("mul8", MUL8_VERILOG, 20_000, &timings)?;
        let transistor_toggle_pj = 0.03 / add[0];
        let transistor_toggle_pj_glitch = 0.03 / add[1];
        Ok(EnergyModel {
            transistor_toggle_pj,
            glitch_timing,
            transistor_toggle_pj_glitch,
            add8_glitch_factor: add[1] / add[0],
            clock_toggles_per_flop: 8.0,
            sram: SramModel::default(),
            check_mult8_pj: mul[0] * transistor_toggle_pj,
            check_mult8_pj_glitch: mul[1] * transistor_toggle_pj_glitch,
        })
    }
}

/// One combinational 8-bit arithmetic block of the multiplier check (docs/cost-model.md): its
/// transistors and its energy per operation on uniform random operands, zero-delay and timed.
#[derive(Clone, Debug, Serialize)]
pub struct ReferenceBlock {
    pub name: &'static str,
    pub transistors: u64,
    pub energy_pj: f64,
    pub energy_pj_glitch: f64,
}

/// The multiplier check: the 8-bit adder, yosys' own 8 x 8 multiplier and the array and Wallace
/// multipliers inside our baseline MAC lanes, each alone, costed as [`EnergyModel`] costs
/// everything (docs/cost-model.md compares their ratios to the adder with a published library).
pub fn multiplier_check(model: &EnergyModel) -> Result<Vec<ReferenceBlock>> {
    use crate::datapath::mac_lane::{ArrayMultiplier, WallaceMultiplier};
    fn verilog_of<U: Block + Default>(connect: impl Fn(&mut U)) -> String {
        let mut uut = U::default();
        connect(&mut uut);
        uut.connect_all();
        generate_verilog(&uut)
    }
    let blocks: [(&'static str, String, (&str, &str)); 4] = [
        ("add8 (yosys +)", ADD8_VERILOG.to_string(), ("a", "b")),
        ("mul8 (yosys *)", MUL8_VERILOG.to_string(), ("a", "b")),
        (
            "ArrayMultiplier",
            verilog_of(|m: &mut ArrayMultiplier| {
                m.a.connect();
                m.w.connect();
            }),
            ("a", "w"),
        ),
        (
            "WallaceMultiplier",
            verilog_of(|m: &mut WallaceMultiplier| {
                m.a.connect();
                m.w.connect();
            }),
            ("a", "w"),
        ),
    ];
    blocks
        .into_iter()
        .map(|(name, verilog, ports)| {
            let netlist = synthesize_gates(&name.replace([' ', '(', ')', '+', '*'], ""), &verilog)?;
            let t = uniform_toggles_of(
                &netlist,
                ports,
                20_000,
                &[Timing::ZeroDelay, model.glitch_timing],
            )?;
            Ok(ReferenceBlock {
                name,
                transistors: netlist.logic_transistors,
                energy_pj: t[0] * model.transistor_toggle_pj,
                energy_pj_glitch: t[1] * model.transistor_toggle_pj_glitch,
            })
        })
        .collect()
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
    /// Of which table writes.
    pub sram_pj_per_fill: f64,
    /// The same two energies from the timed simulation, glitches counted
    /// ([`EnergyModel::glitch_timing`]); the table accesses are the same in both.
    pub energy_per_mac_pj_glitch: f64,
    pub energy_per_fill_pj_glitch: f64,
    pub macs_simulated: usize,
}

struct Phase {
    logic_pj: f64,
    sram_pj: f64,
}

fn take_phase(sim: &mut GateSim, model: &EnergyModel, toggle_pj: f64) -> Phase {
    let a = sim.activity;
    let logic = (a.gate_transistor_toggles as f64
        + 16.0 * a.flop_toggles as f64
        + model.clock_toggles_per_flop * a.flop_clocks as f64)
        * toggle_pj;
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

/// What one simulation of the stream cost, in pJ: all weight programming, and the MACs' logic
/// and table reads.
struct StreamEnergy {
    fill_pj: f64,
    fill_sram_pj: f64,
    op_logic_pj: f64,
    op_sram_pj: f64,
}

/// Runs `stream` through `sim` (programming each weight, then streaming its activations),
/// checking every product against lutna-core.
fn run_stream(
    sim: &mut GateSim,
    unit: UnitKind,
    stream: &OperandStream,
    model: &EnergyModel,
    toggle_pj: f64,
) -> Result<StreamEnergy> {
    let scheme = unit.scheme();
    let mode = LaneMode::for_scheme(scheme, 4)
        .map(|m| m.code())
        .unwrap_or(0) as u64;
    let has_mode = unit != UnitKind::Tlut;
    let mut e = StreamEnergy {
        fill_pj: 0.0,
        fill_sram_pj: 0.0,
        op_logic_pj: 0.0,
        op_sram_pj: 0.0,
    };
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
        let p = take_phase(sim, model, toggle_pj);
        e.fill_pj += p.logic_pj + p.sram_pj;
        e.fill_sram_pj += p.sram_pj;
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
                        "gate netlist of {} ({} simulation) computes {got} where lutna-core \
                         says {want} (w = {w})",
                        unit.name(),
                        sim.timing().name()
                    );
                }
                checked += 1;
            }
        }
        let p = take_phase(sim, model, toggle_pj);
        e.op_logic_pj += p.logic_pj;
        e.op_sram_pj += p.sram_pj;
    }
    let macs = stream.macs();
    if checked != macs {
        bail!("{}: {checked} products checked of {macs}", unit.name());
    }
    Ok(e)
}

/// Measures `unit` on `stream`: area from its gate netlist and SRAM model, energy per MAC and per
/// weight programming from the simulation, zero-delay and timed. Fails if the netlist's
/// products differ from lutna-core's in either simulation.
pub fn measure(unit: UnitKind, stream: &OperandStream, model: &EnergyModel) -> Result<GateCost> {
    let netlist = synthesize_gates(unit.name(), &unit.verilog())?;
    let mut sim = netlist.clone();
    let zero = run_stream(&mut sim, unit, stream, model, model.transistor_toggle_pj)?;
    let mut timed = netlist;
    timed.set_timing(model.glitch_timing);
    let glitch = run_stream(
        &mut timed,
        unit,
        stream,
        model,
        model.transistor_toggle_pj_glitch,
    )?;
    let macs = stream.macs().max(1) as f64;
    let jobs = stream.jobs.len().max(1) as f64;
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
        energy_per_mac_pj: (zero.op_logic_pj + zero.op_sram_pj) / macs,
        sram_pj_per_mac: zero.op_sram_pj / macs,
        energy_per_fill_pj: zero.fill_pj / jobs,
        sram_pj_per_fill: zero.fill_sram_pj / jobs,
        energy_per_mac_pj_glitch: (glitch.op_logic_pj + glitch.op_sram_pj) / macs,
        energy_per_fill_pj_glitch: glitch.fill_pj / jobs,
        macs_simulated: stream.macs(),
    })
}
