//! The bitstream flow: a board top around a design (the accelerator, or the link-only bring-up
//! design), then synthesis, place and route and the bitstream packer of the board's FPGA family,
//! with each tool's log kept and its numbers read back into a [`BuildReport`]:
//!
//! - iCE40 (iCEBreaker, HX8K breakout): yosys `synth_ice40`, nextpnr-ice40 (packing first, so a
//!   design that cannot fit is refused in seconds), icepack; Debian's tools.
//! - ECP5 (ULX3S): yosys `synth_ecp5`, nextpnr-ecp5, ecppack; the PyPI builds ([`tools`]).
//!
//! By file: [`board_top`] (the Verilog around the design), [`pll`] (divider searches),
//! [`tools`] (finding and running the tools), [`report`] (reading their logs, the report).
//!
//! A build that does not fit, misses its clock, or lacks a tool fails with a message that says
//! what to change, and removes the placed design and bitstream so nothing that looks good is left.

pub mod board_top;
pub mod pll;
pub mod report;
pub mod tools;
pub mod unit;

pub use board_top::{board_verilog, clocks_per_bit};
pub use pll::{Ecp5Pll, Pll, PllSettings};
pub use report::{BuildReport, Resources, RouteResult, SynthCells};
pub use tools::run_tool;

use crate::engine::accelerator::ProgramMemory;
use crate::memory::Family;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::PathBuf;

/// The boards lutna builds for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BoardKind {
    /// iCEBreaker: iCE40UP5K-SG48.
    #[serde(rename = "icebreaker")]
    IceBreaker,
    /// Lattice iCE40-HX8K breakout: iCE40HX8K-CT256 (link-only probe design; no accelerator).
    #[serde(rename = "hx8k")]
    Hx8k,
    /// ULX3S with the LFE5U-25F (CABGA381).
    #[serde(rename = "ulx3s-25f")]
    Ulx3s25f,
    /// ULX3S with the LFE5U-45F (CABGA381).
    #[serde(rename = "ulx3s-45f")]
    Ulx3s45f,
    /// ULX3S with the LFE5U-85F (CABGA381).
    #[serde(rename = "ulx3s-85f")]
    Ulx3s85f,
}

impl BoardKind {
    pub const ALL: [BoardKind; 5] = [
        BoardKind::IceBreaker,
        BoardKind::Hx8k,
        BoardKind::Ulx3s25f,
        BoardKind::Ulx3s45f,
        BoardKind::Ulx3s85f,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BoardKind::IceBreaker => "icebreaker",
            BoardKind::Hx8k => "hx8k",
            BoardKind::Ulx3s25f => "ulx3s-25f",
            BoardKind::Ulx3s45f => "ulx3s-45f",
            BoardKind::Ulx3s85f => "ulx3s-85f",
        }
    }

    pub fn family(self) -> Family {
        match self {
            BoardKind::IceBreaker | BoardKind::Hx8k => Family::Ice40,
            _ => Family::Ecp5,
        }
    }

    /// nextpnr's device flag and package.
    fn device(self) -> (&'static str, &'static str) {
        match self {
            BoardKind::IceBreaker => ("--up5k", "sg48"),
            BoardKind::Hx8k => ("--hx8k", "ct256"),
            BoardKind::Ulx3s25f => ("--25k", "CABGA381"),
            BoardKind::Ulx3s45f => ("--45k", "CABGA381"),
            BoardKind::Ulx3s85f => ("--85k", "CABGA381"),
        }
    }

    /// The device's part name, for reports.
    pub fn part(self) -> &'static str {
        match self {
            BoardKind::IceBreaker => "iCE40UP5K-SG48",
            BoardKind::Hx8k => "iCE40HX8K-CT256",
            BoardKind::Ulx3s25f => "LFE5U-25F-6BG381C",
            BoardKind::Ulx3s45f => "LFE5U-45F-6BG381C",
            BoardKind::Ulx3s85f => "LFE5U-85F-6BG381C",
        }
    }

    /// The pin file (`constraints/` in the repository): PCF for the iCE40 boards, LPF for the
    /// ULX3S (one file for every ULX3S: the pins do not change with the chip).
    pub fn pin_file(self) -> &'static str {
        match self {
            BoardKind::IceBreaker => include_str!("../../../constraints/icebreaker.pcf"),
            BoardKind::Hx8k => include_str!("../../../constraints/hx8k.pcf"),
            _ => include_str!("../../../constraints/ulx3s.lpf"),
        }
    }

    /// The pin file's name in the build folder.
    pub fn pin_file_name(self) -> &'static str {
        match self.family() {
            Family::Ice40 => "top.pcf",
            Family::Ecp5 => "top.lpf",
        }
    }

    /// What the device offers (Lattice iCE40 UltraPlus and LP/HX family data sheets; ECP5
    /// family data sheet, DS1044: LUT4s, EBRs and 18 x 18 multipliers per device; I/O is the
    /// package's user I/O as nextpnr reports it).
    pub fn capacity(self) -> Resources {
        let ecp5 = |logic_cells, bram, dsp, io| Resources {
            logic_cells,
            bram,
            spram: 0,
            dsp,
            io,
        };
        match self {
            BoardKind::IceBreaker => Resources {
                logic_cells: 5280,
                bram: 30,
                spram: 4,
                dsp: 8,
                io: 39,
            },
            BoardKind::Hx8k => Resources {
                logic_cells: 7680,
                bram: 32,
                spram: 0,
                dsp: 0,
                io: 206,
            },
            BoardKind::Ulx3s25f => ecp5(24_288, 56, 28, 197),
            BoardKind::Ulx3s45f => ecp5(43_848, 108, 72, 203),
            BoardKind::Ulx3s85f => ecp5(83_640, 208, 156, 205),
        }
    }

    /// The board oscillator, MHz.
    pub fn oscillator_mhz(self) -> f64 {
        match self.family() {
            Family::Ice40 => 12.0,
            Family::Ecp5 => 25.0,
        }
    }

    /// The clock built when `--freq` is not given, MHz: a multiple of 3 Mbaud that the board's
    /// PLL makes exactly (24 = 12 x 2; 30 = 25 / 5 x 6, where 24 is not reachable from 25).
    pub fn default_mhz(self) -> f64 {
        match self.family() {
            Family::Ice40 => 24.0,
            Family::Ecp5 => 30.0,
        }
    }

    /// The PLL settings for `want_mhz` from this board's oscillator.
    pub fn pll(self, want_mhz: f64) -> Result<Pll> {
        Ok(match self.family() {
            Family::Ice40 => Pll::Ice40(PllSettings::search(self.oscillator_mhz(), want_mhz)?),
            Family::Ecp5 => Pll::Ecp5(Ecp5Pll::search(self.oscillator_mhz(), want_mhz)?),
        })
    }

    /// Where the accelerator keeps the program: the 85F's block RAMs hold it resident; the
    /// others stream it through the 1 K-word buffer (on the 45F the resident memory's 32 block
    /// RAMs would make 124 of 108).
    pub fn program_memory(self) -> ProgramMemory {
        match self {
            BoardKind::Ulx3s85f => ProgramMemory::Resident,
            _ => ProgramMemory::Buffer,
        }
    }

    /// The IDENTIFY answer of this board's accelerator with `lanes` lanes at the default clock
    /// (the build states the clock its PLL makes): its program memory, and its memories (the
    /// ECP5 has no SPRAM; its block RAM is 2 KiB of data per EBR).
    pub fn identity(self, lanes: u8) -> lutna_core::protocol::Identity {
        let id = crate::engine::accelerator::identity(lanes, self.program_memory());
        let clock_hz = (self.default_mhz() * 1e6) as u32;
        match self.family() {
            Family::Ice40 => id,
            Family::Ecp5 => lutna_core::protocol::Identity {
                spram_bytes: 0,
                bram_bytes: (self.capacity().bram * 2048) as u32,
                clock_hz,
                ..id
            },
        }
    }

    /// LEDs are active low on the iCEBreaker, active high on the HX8K breakout and the ULX3S.
    fn leds_active_low(self) -> bool {
        self == BoardKind::IceBreaker
    }
}

impl std::str::FromStr for BoardKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        BoardKind::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown board {s:?}: choose icebreaker (iCE40UP5K), hx8k (iCE40HX8K breakout, \
                     link-only probe) or ulx3s-25f, ulx3s-45f, ulx3s-85f (ULX3S by its ECP5 chip)"
                )
            })
    }
}

/// What goes inside the board top.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DesignKind {
    /// The whole accelerator ([`crate::engine::accelerator::EngineAccelerator`]: the
    /// instruction-stream engine behind the link, docs/engine.md) with `lanes` lanes.
    Accelerator,
    /// The link alone ([`crate::link::LinkEndpoint`]: IDENTIFY, STATUS, RESET): a bring-up
    /// bitstream that checks a board's clock, pins and UART with `lutna probe`.
    Probe,
}

impl std::str::FromStr for DesignKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "accelerator" => Ok(DesignKind::Accelerator),
            "probe" => Ok(DesignKind::Probe),
            _ => bail!("unknown design {s:?}: choose accelerator or probe (link-only bring-up)"),
        }
    }
}

/// What to build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    pub board: BoardKind,
    pub design: DesignKind,
    pub lanes: u8,
    pub chunk_bits: u8,
    /// Target clock, MHz (the PLL's output and nextpnr's timing target).
    pub freq_mhz: f64,
    pub baud: u32,
    pub out: PathBuf,
}

/// Resource estimate before synthesis: logic as a fixed part plus a part per lane, fitted to
/// the measured accelerator builds (iCE40: nextpnr's packed logic cells at 4 and 8 lanes, 4,055
/// and 4,800, docs/engine.md; ECP5: LUT4s placed at 8 lanes on the 45F, 4,178, with the
/// iCE40's part per lane); memories counted as the engine declares them.
pub fn estimate(board: BoardKind, design: DesignKind, lanes: u8) -> Resources {
    let p = lanes as u64;
    match (board.family(), design) {
        // Measured: 561 LUT4s placed on the 45F.
        (Family::Ecp5, DesignKind::Probe) => Resources {
            logic_cells: 561,
            bram: 0,
            spram: 0,
            dsp: 0,
            io: 5,
        },
        (Family::Ecp5, DesignKind::Accelerator) => Resources {
            logic_cells: ECP5_LUT4_FIXED + LOGIC_PER_2_LANES * p / 2,
            // The four SPRAMs' 256 Kbit each become 16 DP16KD each; the rest 5 plus 2 per lane
            // (85 at 8 lanes, measured), the 1 K-word program buffer in one; a resident program
            // takes 64 (64 K words).
            bram: 69
                + 2 * p
                + match board.program_memory() {
                    ProgramMemory::Buffer => 0,
                    ProgramMemory::Resident => 63,
                },
            spram: 0,
            dsp: 2,
            io: 5,
        },
        (Family::Ice40, DesignKind::Probe) => Resources {
            logic_cells: 510,
            bram: 0,
            spram: 0,
            dsp: 0,
            io: 5,
        },
        (Family::Ice40, DesignKind::Accelerator) => Resources {
            logic_cells: ICE40_CELLS_FIXED + LOGIC_PER_2_LANES * p / 2,
            // Per lane: 2 table copies; the 1 K-word program buffer, the tap memory, the
            // results and the frame buffer 10. The activations are in the four SPRAMs.
            bram: 10 + 2 * p,
            spram: 4,
            // The requantizer's 16 x 16 product and the writer's.
            dsp: 2,
            io: 5,
        },
    }
}

/// The accelerator's logic beyond its lanes: iCE40 packed logic cells, ECP5 LUT4s.
const ICE40_CELLS_FIXED: u64 = 3_310;
const ECP5_LUT4_FIXED: u64 = 2_690;
/// What two more lanes cost (iCE40: (4,800 - 4,055) / 4 per lane).
const LOGIC_PER_2_LANES: u64 = 372;

/// Runs the flow. The report is returned whether or not the build succeeded (its `error` says
/// why it failed); `Err` only for failures before any tool ran.
pub fn build(opts: &BuildOptions) -> Result<BuildReport> {
    let started = std::time::Instant::now();
    // Options are checked (and the Verilog generated) before the folder is touched.
    let pll = opts.board.pll(opts.freq_mhz)?;
    let cpb = clocks_per_bit(pll.out_mhz(), opts.baud)?;
    let verilog = board_verilog(opts, &pll)?;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating the build folder {}", opts.out.display()))?;
    // A bitstream left by an earlier build must not pass for this one's.
    for stale in PLACED_FILES {
        let _ = std::fs::remove_file(opts.out.join(stale));
    }
    let cap = opts.board.capacity();
    let mut report = BuildReport {
        board: opts.board,
        family: opts.board.family(),
        device: opts.board.part().to_string(),
        design: opts.design,
        lanes: if opts.design == DesignKind::Probe {
            0
        } else {
            opts.lanes
        },
        chunk_bits: opts.chunk_bits,
        target_mhz: opts.freq_mhz,
        pll: Some(pll),
        baud: opts.baud,
        clocks_per_bit: Some(cpb),
        estimate: estimate(opts.board, opts.design, opts.lanes),
        synth: None,
        packed_logic_cells: None,
        logic_cells: None,
        logic_cells_max: cap.logic_cells,
        lut4: None,
        bram: None,
        bram_max: cap.bram,
        spram: None,
        spram_max: cap.spram,
        dsp: None,
        dsp_max: cap.dsp,
        io: None,
        io_max: cap.io,
        fmax_mhz: None,
        placement_seed: None,
        placement_seeds_tried: None,
        placement_seeds_stalled: Vec::new(),
        fits: None,
        meets_timing: None,
        bitstream: None,
        error: None,
        units: Vec::new(),
        seconds: 0.0,
    };
    std::fs::write(opts.out.join("top.v"), &verilog)?;
    std::fs::write(
        opts.out.join(opts.board.pin_file_name()),
        opts.board.pin_file(),
    )?;
    let flow = match opts.board.family() {
        Family::Ice40 => run_ice40_flow(opts, &pll, &mut report),
        Family::Ecp5 => run_ecp5_flow(opts, &pll, &mut report),
    };
    if let Err(e) = flow {
        for partial in PLACED_FILES {
            let _ = std::fs::remove_file(opts.out.join(partial));
        }
        report.bitstream = None;
        report.error = Some(format!("{e:#}"));
    }
    // Every accelerator build for the UP5K measures the engine's units against the budget.
    if opts.design != DesignKind::Probe && opts.board == BoardKind::IceBreaker {
        match unit::engine_units(&opts.out.join("units"), opts.lanes) {
            Ok(units) => report.units = units,
            Err(e) => {
                let note = format!("the engine's units could not be measured: {e:#}");
                report.error = Some(match report.error.take() {
                    Some(first) => format!("{first}; {note}"),
                    None => note,
                });
            }
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The placed design and bitstream of either family: removed before a build and after a failed
/// one.
const PLACED_FILES: [&str; 4] = ["top.asc", "top.bin", "top.config", "top.bit"];

/// What to do about a design that does not fit.
fn refusal_advice(opts: &BuildOptions) -> &'static str {
    if opts.board == BoardKind::Ulx3s25f && opts.design == DesignKind::Accelerator {
        ". The accelerator's activation memory alone takes 64 of the 25F's 56 block RAMs (the \
         UP5K's four SPRAMs, kept on the ECP5): build for ulx3s-45f or ulx3s-85f"
    } else if opts.board.family() == Family::Ecp5 {
        ": build fewer lanes, or for a larger ULX3S (ulx3s-85f)"
    } else if opts.design == DesignKind::Accelerator && opts.board == BoardKind::Hx8k {
        ". The HX8K has no SPRAM and 32 block RAMs (16 KiB in all): the engine's activation \
         memory (64 KiB in SPRAM) cannot live on this chip at any lane count; the iCEBreaker's \
         UP5K has 128 KiB of SPRAM for them (docs/fpga-fit.md). Meanwhile `--design probe` \
         builds the link-only bring-up bitstream"
    } else if opts.design == DesignKind::Accelerator {
        ". The accelerator fits the UP5K at 4 and 8 lanes (docs/engine.md, \"Place and \
         route\"); a change that no longer fits shows which engine units are over their budget \
         lines in report.md (\"Engine units\"): bring those back, or build --lanes 4"
    } else {
        ": build a smaller design"
    }
}

fn run_ice40_flow(opts: &BuildOptions, pll: &Pll, report: &mut BuildReport) -> Result<()> {
    let dir = &opts.out;
    let cap = opts.board.capacity();
    let up5k = opts.board == BoardKind::IceBreaker;
    // -dsp and -spram let yosys use the UltraPlus blocks where the design's arithmetic and
    // memories have their shape.
    let synth = format!(
        "read_verilog top.v; synth_ice40 -top top{} -json top.json; tee -o synth_stat.txt stat",
        if up5k { " -dsp -spram" } else { "" }
    );
    let log = run_tool(dir, "yosys", &["-p", &synth], "yosys.log")?;
    let cells = SynthCells::parse(&log)?;
    report.synth = Some(cells);
    report.lut4 = Some(cells.lut4);
    report.bram = Some(cells.bram);
    report.spram = Some(cells.spram);
    report.dsp = Some(cells.dsp);
    // A design that cannot fit is stopped here: placing it would only fail later and slower.
    // The memories (counted exactly by yosys) decide before packing; the logic by packing.
    refuse_if_over(
        opts,
        report,
        &[
            ("block RAMs (SB_RAM40_4K)", cells.bram, cap.bram),
            ("SPRAMs", cells.spram, cap.spram),
            ("DSPs (SB_MAC16)", cells.dsp, cap.dsp),
        ],
    )?;
    let (device, package) = opts.board.device();
    // Packing first (seconds): a LUT4 and a flip-flop share a logic cell only when the LUT
    // drives the flip-flop, so the cells the design needs can be half again its LUT4 count,
    // and a design that does not fit is refused with nextpnr's own count before placement.
    let design_args = [
        device,
        "--package",
        package,
        "--pcf",
        "top.pcf",
        "--json",
        "top.json",
    ];
    let packed = unit::pack_ice40(dir, &design_args)?;
    report.packed_logic_cells = Some(packed);
    if packed > cap.logic_cells {
        report.fits = Some(false);
        bail!(
            "the design does not fit the {}: {packed} logic cells after packing, of {} \
             ({} LUT4s, {} flip-flops, {} carries before packing){}",
            opts.board.name(),
            cap.logic_cells,
            cells.lut4,
            cells.ff,
            cells.carry,
            refusal_advice(opts)
        );
    }
    let freq = format!("{}", opts.freq_mhz);
    let args = [
        &design_args[..],
        &["--asc", "top.asc", "--freq", &freq, "--timing-allow-fail"],
    ]
    .concat();
    let (_, routed) = place_and_route(dir, "nextpnr-ice40", &args, "top.asc", pll, report)?;
    record_route(opts, pll, &routed, report)?;
    run_tool(dir, "icepack", &["top.asc", "top.bin"], "icepack.log")?;
    report.bitstream = Some(dir.join("top.bin").display().to_string());
    Ok(())
}

/// Fails (and marks the report) when any `(what, needed, available)` is over the device.
fn refuse_if_over(
    opts: &BuildOptions,
    report: &mut BuildReport,
    needs: &[(&str, u64, u64)],
) -> Result<()> {
    let over: Vec<String> = needs
        .iter()
        .filter(|(_, n, max)| n > max)
        .map(|(what, n, max)| format!("{n} {what} of {max}"))
        .collect();
    if !over.is_empty() {
        report.fits = Some(false);
        bail!(
            "the design does not fit the {} ({}){}",
            opts.board.name(),
            over.join(", "),
            refusal_advice(opts)
        );
    }
    Ok(())
}

/// Puts the placed design's figures in the report; fails when the clock is not met.
/// The nextpnr placement seeds a build tries, in order, until one meets timing. On a nearly
/// full device the post-route fmax moves by several percent from one placement to another
/// (the 8-lane UP5K accelerator: 23.92 MHz with seed 1 and a netlist that differs from the
/// previous one only in its link's hierarchy, 26.55 MHz before), so a miss by a few percent
/// with one seed does not yet mean the design cannot make its clock.
pub const PLACEMENT_SEEDS: [u32; 3] = [1, 2, 3];

/// Router progress reports (router1: one per 1,000 arcs routed; router2: one per pass) after
/// which a run whose fewest unrouted arcs (router1) or overused wires (router2) has not gone
/// down is taken to be stuck. nextpnr-ice40 0.4's router1 can loop on one arc forever for some
/// placements (the 8-lane UP5K accelerator, seed 1: 14,434 arcs left for 21 million
/// iterations, 45 minutes, then an assertion failure); routes that finish never went more
/// than one report without a new low in the builds measured (UP5K 8 lanes, 85F and 45F at 16).
pub const ROUTER_STALL_REPORTS: u32 = 100;

/// Watches nextpnr's log for a router that makes no progress ([`ROUTER_STALL_REPORTS`]).
#[derive(Default)]
pub struct RouterWatch {
    fewest: Option<u64>,
    reports_since_fewer: u32,
}

impl RouterWatch {
    /// The figure a router progress line reports: router1's remaining arcs
    /// (`Info:   3000 |  1550  1449 |  873  127 |  14434|  0.31  7.47|`) or router2's overused
    /// wires (`Info:  iter=12 wires=60178 overused=1 ...`); None for any other line.
    pub fn progress(line: &str) -> Option<u64> {
        let fields: Vec<&str> = line.split('|').collect();
        if fields.len() >= 5 {
            let first = fields[0].trim();
            let count = first.strip_prefix("Info:")?.trim();
            if count.parse::<u64>().is_ok() {
                return fields[3].trim().parse().ok();
            }
            return None;
        }
        if !line.contains("iter=") {
            return None;
        }
        line.split_whitespace()
            .find_map(|w| w.strip_prefix("overused="))
            .and_then(|n| n.parse().ok())
    }

    /// Takes one log line; true once the router is stuck.
    pub fn stalled(&mut self, line: &str) -> bool {
        let Some(left) = Self::progress(line) else {
            return false;
        };
        if self.fewest.is_none_or(|f| left < f) {
            self.fewest = Some(left);
            self.reports_since_fewer = 0;
        } else {
            self.reports_since_fewer += 1;
        }
        self.reports_since_fewer >= ROUTER_STALL_REPORTS
    }
}

/// Places and routes with nextpnr `tool` (`args`: everything but the seed) for each of
/// [`PLACEMENT_SEEDS`] until a placement meets the PLL's clock, and keeps the fastest: its
/// routed file `placed` and its log (`nextpnr.log`) stay in `dir`, the others are removed.
/// A seed whose router stalls ([`RouterWatch`]) is stopped and the next one tried.
/// Returns the kept log and its result; the report records the seeds.
fn place_and_route(
    dir: &std::path::Path,
    tool: &str,
    args: &[&str],
    placed: &str,
    pll: &Pll,
    report: &mut BuildReport,
) -> Result<(String, RouteResult)> {
    let family = report.family;
    let aside = |seed: u32, name: &str| dir.join(format!("seed{seed}.{name}"));
    let mut best: Option<(u32, String, RouteResult)> = None;
    for (tried, &seed) in PLACEMENT_SEEDS.iter().enumerate() {
        let seed_arg = seed.to_string();
        let mut watch = RouterWatch::default();
        let run = tools::run_tool_watched(
            dir,
            tool,
            &[args, &["--seed", &seed_arg]].concat(),
            "nextpnr.log",
            |line| watch.stalled(line),
        )?;
        report.placement_seeds_tried = Some(tried as u32 + 1);
        let log = match run {
            tools::Watched::Finished(log) => log,
            tools::Watched::Stopped(_) => {
                report.placement_seeds_stalled.push(seed);
                std::fs::rename(dir.join("nextpnr.log"), aside(seed, "stalled.nextpnr.log"))?;
                continue;
            }
        };
        let routed = RouteResult::parse_for(family, &log)?;
        let met = routed.fmax_mhz >= pll.out_mhz();
        if best.as_ref().is_none_or(|b| routed.fmax_mhz > b.2.fmax_mhz) {
            if let Some((old, _, _)) = &best {
                let _ = std::fs::remove_file(aside(*old, placed));
                let _ = std::fs::remove_file(aside(*old, "nextpnr.log"));
            }
            best = Some((seed, log, routed));
            if met {
                break;
            }
            // Kept aside while the next seed runs.
            std::fs::rename(dir.join(placed), aside(seed, placed))?;
            std::fs::rename(dir.join("nextpnr.log"), aside(seed, "nextpnr.log"))?;
        }
    }
    let Some((seed, log, routed)) = best else {
        bail!(
            "nextpnr's router made no progress for {ROUTER_STALL_REPORTS} reports with any of \
             the placement seeds {PLACEMENT_SEEDS:?} (their logs: {}/seed*.stalled.nextpnr.log): \
             the design is too congested to route: build fewer lanes or for a larger board",
            dir.display(),
        );
    };
    if aside(seed, placed).exists() {
        std::fs::rename(aside(seed, placed), dir.join(placed))?;
        std::fs::rename(aside(seed, "nextpnr.log"), dir.join("nextpnr.log"))?;
    }
    report.placement_seed = Some(seed);
    Ok((log, routed))
}

fn record_route(
    opts: &BuildOptions,
    pll: &Pll,
    routed: &RouteResult,
    report: &mut BuildReport,
) -> Result<()> {
    report.logic_cells = Some(routed.used.logic_cells);
    report.bram = Some(routed.used.bram);
    report.spram = Some(routed.used.spram);
    report.dsp = Some(routed.used.dsp);
    report.io = Some(routed.used.io);
    report.fmax_mhz = Some(routed.fmax_mhz);
    report.fits = Some(true);
    let meets = routed.fmax_mhz >= pll.out_mhz();
    report.meets_timing = Some(meets);
    if !meets {
        bail!(
            "post-route fmax is {:.2} MHz, below the {:.2} MHz clock: lower --freq (keeping it a multiple of the baud rate){}",
            routed.fmax_mhz,
            pll.out_mhz(),
            if opts.design != DesignKind::Probe {
                ", or build fewer lanes"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// The ECP5 flow: yosys `synth_ecp5`, nextpnr-ecp5 at the clock the PLL makes, ecppack.
fn run_ecp5_flow(opts: &BuildOptions, pll: &Pll, report: &mut BuildReport) -> Result<()> {
    let dir = &opts.out;
    let cap = opts.board.capacity();
    let yosys = tools::ecp5_tool("yosys")?;
    let nextpnr = tools::ecp5_tool("nextpnr-ecp5")?;
    let ecppack = tools::ecp5_tool("ecppack")?;
    let log = run_tool(
        dir,
        &yosys.to_string_lossy(),
        &[
            "-p",
            "read_verilog top.v; synth_ecp5 -top top -json top.json; tee -o synth_stat.txt stat",
        ],
        "yosys.log",
    )?;
    // The statistics from the file `tee` wrote: the WebAssembly yosys' own output may stop
    // short of them when its ABC step runs.
    let stat = std::fs::read_to_string(dir.join("synth_stat.txt")).unwrap_or(log);
    let cells = SynthCells::parse_for(Family::Ecp5, &stat)?;
    report.synth = Some(cells);
    report.bram = Some(cells.bram);
    report.dsp = Some(cells.dsp);
    report.spram = Some(0);
    // Block RAMs and multipliers are counted exactly by yosys; a carry cell (CCU2C) fills two
    // of the LUT4 places nextpnr counts.
    let logic = cells.lut4 + 2 * cells.carry;
    refuse_if_over(
        opts,
        report,
        &[
            ("block RAMs (DP16KD)", cells.bram, cap.bram),
            ("multipliers (MULT18X18D)", cells.dsp, cap.dsp),
            ("LUT4 places (LUT4 + 2 x CCU2C)", logic, cap.logic_cells),
        ],
    )?;
    let (device, package) = opts.board.device();
    let freq = format!("{}", pll.out_mhz());
    let args = [
        device,
        "--package",
        package,
        "--lpf",
        "top.lpf",
        "--json",
        "top.json",
        "--textcfg",
        "top.config",
        "--freq",
        &freq,
        "--timing-allow-fail",
    ];
    let nextpnr = nextpnr.to_string_lossy();
    let (pnr, routed) = place_and_route(dir, &nextpnr, &args, "top.config", pll, report)?;
    report.lut4 = Some(routed.used.logic_cells);
    // The device as nextpnr sees it (its I/O count includes pins the data sheet does not list
    // as user I/O).
    let total = Resources::from_nextpnr_log_for(Family::Ecp5, &pnr).1;
    report.io_max = total.io.max(report.io_max);
    record_route(opts, pll, &routed, report)?;
    run_tool(
        dir,
        &ecppack.to_string_lossy(),
        &["--compress", "top.config", "top.bit"],
        "ecppack.log",
    )?;
    report.bitstream = Some(dir.join("top.bit").display().to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router1_line(iterations: u64, left: u64) -> String {
        format!(
            "Info: {iterations:>10} |      415        584 |  415   584 | {left:>9}|       5.49       5.49|"
        )
    }

    #[test]
    fn router_progress_is_read_from_both_routers_lines_and_nothing_else() {
        assert_eq!(
            RouterWatch::progress(&router1_line(3000, 14434)),
            Some(14434)
        );
        assert_eq!(
            RouterWatch::progress("Info:     iter=12 wires=60178 overused=7 overuse=9 archfail=NA"),
            Some(7)
        );
        for other in [
            "Info:    IterCnt |  w/ripup   wo/ripup |  w/r  wo/r |      arcs| batch(sec) total(sec)|",
            "Info: [    79,   2030) |**+",
            "Info: Routing 15767 arcs.",
            "Info: Max frequency for clock 'clock': 24.05 MHz (PASS at 24.00 MHz)",
        ] {
            assert_eq!(RouterWatch::progress(other), None, "{other}");
        }
    }

    #[test]
    fn a_router_stuck_on_one_count_is_stopped_and_a_converging_one_is_not() {
        let mut converging = RouterWatch::default();
        // A new low every other report, as routes that finish do, never stalls.
        for i in 0..10_000u64 {
            let left = 20_000 - i / 2;
            assert!(
                !converging.stalled(&router1_line(i * 1000, left)),
                "report {i}"
            );
        }
        let mut stuck = RouterWatch::default();
        let mut stopped_at = None;
        for i in 0..1_000u64 {
            if stuck.stalled(&router1_line(i * 1000, 14434)) {
                stopped_at = Some(i);
                break;
            }
        }
        assert_eq!(stopped_at, Some(u64::from(ROUTER_STALL_REPORTS)));
    }

    #[test]
    fn a_watched_tool_is_killed_when_its_watch_says_so() {
        let dir = std::env::temp_dir().join(format!("lutna-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut lines = 0;
        let run = tools::run_tool_watched(
            &dir,
            "sh",
            &[
                "-c",
                "while true; do echo still routing >&2; sleep 0.01; done",
            ],
            "loop.log",
            |_| {
                lines += 1;
                lines == 5
            },
        )
        .unwrap();
        assert!(matches!(run, tools::Watched::Stopped(ref t) if t.lines().count() >= 5));
        assert!(std::fs::read_to_string(dir.join("loop.log"))
            .unwrap()
            .contains("still routing"));
        let done =
            tools::run_tool_watched(&dir, "sh", &["-c", "echo fine >&2"], "ok.log", |_| false)
                .unwrap();
        assert!(matches!(done, tools::Watched::Finished(ref t) if t.contains("fine")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
