//! What the tools said, read back: yosys' cell statistics, nextpnr's utilisation and post-route
//! frequency, for either FPGA family; and the build report written as `report.json` and
//! `report.md`.

use super::{BoardKind, DesignKind, Pll};
use crate::memory::Family;
use anyhow::{anyhow, bail, Result};
use serde::Serialize;

/// Device resources, as nextpnr counts them. `logic_cells` is the unit the device is measured
/// in: iCE40 logic cells (`ICESTORM_LC`: a LUT4 and a flip-flop) or ECP5 LUT4s
/// (`TRELLIS_COMB`); `bram` is iCE40 `SB_RAM40_4K` (4 Kbit) or ECP5 `DP16KD` (18 Kbit);
/// `dsp` is iCE40 `SB_MAC16` or ECP5 `MULT18X18D`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    pub logic_cells: u64,
    pub bram: u64,
    pub spram: u64,
    pub dsp: u64,
    pub io: u64,
}

/// Cell counts of yosys' `synth_ice40` or `synth_ecp5` (after synthesis, before packing).
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
    /// Reads the last `stat` block of a `synth_ice40` log.
    pub fn parse(log: &str) -> Result<SynthCells> {
        Self::parse_for(Family::Ice40, log)
    }

    /// Reads the last `stat` block of a yosys log for `family`'s cell library. yosys 0.23
    /// writes `Number of cells: N` then `CELL count` lines; newer versions write `N cells` then
    /// `count CELL` lines: both are read.
    pub fn parse_for(family: Family, log: &str) -> Result<SynthCells> {
        let at = log
            .rfind("Number of cells:")
            .or_else(|| {
                log.match_indices(" cells\n")
                    .filter(|(i, _)| {
                        let line_start = log[..*i].rfind('\n').map_or(0, |s| s + 1);
                        log[line_start..*i].trim().parse::<u64>().is_ok()
                    })
                    .last()
                    .map(|(i, _)| i)
            })
            .ok_or_else(|| anyhow!("the yosys log has no cell statistics"))?;
        let mut c = SynthCells::default();
        for line in log[at..].lines().skip(1) {
            let mut parts = line.split_whitespace();
            let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
                break;
            };
            let (cell, n) = match (a.parse::<u64>(), b.parse::<u64>()) {
                (_, Ok(n)) => (a, n),
                (Ok(n), _) => (b, n),
                _ => break,
            };
            match (family, cell) {
                (Family::Ice40, "SB_LUT4") | (Family::Ecp5, "LUT4") => c.lut4 += n,
                (Family::Ice40, "SB_CARRY") | (Family::Ecp5, "CCU2C") => c.carry += n,
                (Family::Ice40, "SB_RAM40_4K") | (Family::Ecp5, "DP16KD") => c.bram += n,
                (Family::Ice40, "SB_SPRAM256KA") => c.spram += n,
                (Family::Ice40, "SB_MAC16") | (Family::Ecp5, "MULT18X18D") => c.dsp += n,
                (Family::Ice40, f) if f.starts_with("SB_DFF") => c.ff += n,
                (Family::Ecp5, "TRELLIS_FF") => c.ff += n,
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

/// `(used, available)` of one line of nextpnr's "Device utilisation" block (its last report;
/// None for a resource it does not list).
fn utilisation(log: &str, key: &str) -> Option<(u64, u64)> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains(&format!(" {key}:")) || l.contains(&format!("\t{key}:")))?;
    let rest = line.split(&format!("{key}:")).nth(1)?;
    let mut nums = rest.split('/');
    let used = nums.next()?.trim().parse().ok()?;
    let total = nums.next()?.split_whitespace().next()?.parse().ok()?;
    Some((used, total))
}

impl Resources {
    /// The "Device utilisation" counts of a nextpnr-ice40 log (its last report; 0 for a
    /// resource it does not list).
    pub fn from_nextpnr_log(log: &str) -> Resources {
        Self::from_nextpnr_log_for(Family::Ice40, log).0
    }

    /// Used and available resources of a nextpnr log for `family` (0 for a resource it does
    /// not list).
    pub fn from_nextpnr_log_for(family: Family, log: &str) -> (Resources, Resources) {
        let keys: [&str; 5] = match family {
            Family::Ice40 => [
                "ICESTORM_LC",
                "ICESTORM_RAM",
                "ICESTORM_SPRAM",
                "ICESTORM_DSP",
                "SB_IO",
            ],
            Family::Ecp5 => ["TRELLIS_COMB", "DP16KD", "-", "MULT18X18D", "TRELLIS_IO"],
        };
        let get = |i: usize| utilisation(log, keys[i]).unwrap_or((0, 0));
        let pick = |f: fn((u64, u64)) -> u64| Resources {
            logic_cells: f(get(0)),
            bram: f(get(1)),
            spram: f(get(2)),
            dsp: f(get(3)),
            io: f(get(4)),
        };
        (pick(|(u, _)| u), pick(|(_, t)| t))
    }
}

impl RouteResult {
    pub fn parse(log: &str) -> Result<RouteResult> {
        Self::parse_for(Family::Ice40, log)
    }

    pub fn parse_for(family: Family, log: &str) -> Result<RouteResult> {
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
            used: Resources::from_nextpnr_log_for(family, log).0,
            fmax_mhz: last,
        })
    }
}

/// The report of a build, written as `report.json` and `report.md`. The JSON field names are
/// read by scripts: keep them.
#[derive(Clone, Debug, Serialize)]
pub struct BuildReport {
    pub board: BoardKind,
    /// The FPGA family (`ice40`, `ecp5`) and the device nextpnr places on.
    pub family: Family,
    pub device: String,
    pub design: DesignKind,
    pub lanes: u8,
    pub chunk_bits: u8,
    pub target_mhz: f64,
    pub pll: Option<Pll>,
    pub baud: u32,
    pub clocks_per_bit: Option<u16>,
    /// Pre-synthesis estimate ([`super::estimate`]).
    pub estimate: Resources,
    /// yosys cells after synthesis.
    pub synth: Option<SynthCells>,
    /// nextpnr's logic cells after packing, before placement (a design over the device's
    /// count is refused there). iCE40 only: on the ECP5, LUT4s are what is counted.
    pub packed_logic_cells: Option<u64>,
    /// Logic cells after placement (ECP5: LUT4s, as nextpnr's `TRELLIS_COMB`).
    pub logic_cells: Option<u64>,
    pub logic_cells_max: u64,
    /// LUT4s: placed on the ECP5 (`TRELLIS_COMB`), after synthesis on the iCE40 (where the
    /// logic cell is the unit the device is measured in).
    pub lut4: Option<u64>,
    /// Block RAMs: iCE40 `SB_RAM40_4K`, ECP5 `DP16KD` (EBR).
    pub bram: Option<u64>,
    pub bram_max: u64,
    pub spram: Option<u64>,
    pub spram_max: u64,
    /// Multipliers: iCE40 `SB_MAC16`, ECP5 `MULT18X18D`.
    pub dsp: Option<u64>,
    pub dsp_max: u64,
    pub io: Option<u64>,
    pub io_max: u64,
    pub fmax_mhz: Option<f64>,
    /// The nextpnr seed of the placement kept (`super::PLACEMENT_SEEDS`, tried in order until
    /// one meets timing; the fastest is kept when none does), and how many were tried.
    pub placement_seed: Option<u32>,
    pub placement_seeds_tried: Option<u32>,
    /// The seeds whose router made no progress and was stopped (`super::RouterWatch`).
    pub placement_seeds_stalled: Vec<u32>,
    pub fits: Option<bool>,
    pub meets_timing: Option<bool>,
    /// Path of the bitstream (`top.bin` on the iCE40, `top.bit` on the ECP5); null when the
    /// build failed.
    pub bitstream: Option<String>,
    /// Why the build failed (and what to change); null when it succeeded.
    pub error: Option<String>,
    /// The instruction-stream engine's units, each synthesized alone beside its budget line
    /// (iCE40 accelerator builds; empty otherwise).
    pub units: Vec<super::unit::UnitReport>,
    pub seconds: f64,
}

impl BuildReport {
    /// The human-readable report.
    pub fn markdown(&self, extra: &str) -> String {
        let placed = self.logic_cells.is_some();
        let opt = |v: Option<u64>| match v {
            Some(v) if placed => v.to_string(),
            _ => "-".to_string(),
        };
        let ecp5 = self.family == Family::Ecp5;
        let mut s = format!(
            "# lutna build: {} on {} ({})\n\n",
            match self.design {
                DesignKind::Accelerator => format!("accelerator, {} lanes", self.lanes),
                DesignKind::Probe => "link-only bring-up design".to_string(),
            },
            self.board.name(),
            self.device
        );
        match (&self.error, &self.bitstream) {
            (Some(e), _) => s += &format!("**FAILED**: {e}\n\nNo bitstream was written.\n\n"),
            (None, Some(b)) => s += &format!("Bitstream: `{b}` (load with `lutna prog {b}`).\n\n"),
            _ => {}
        }
        if let Some(p) = &self.pll {
            s += &format!(
                "Clock: {} makes {:.3} MHz (asked {} MHz); UART {} baud = {} clocks per bit.\n\n",
                p.describe(),
                p.out_mhz(),
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
            "| {} | {} | {} LUT4, {} carry, {} FF | {} / {} | {} |\n",
            if ecp5 { "LUT4" } else { "logic cells" },
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
            "| {} | {} | {} | {} | {} |\n",
            if ecp5 {
                "block RAM (DP16KD, 18 Kbit)"
            } else {
                "block RAM (4 Kbit)"
            },
            self.estimate.bram,
            synv(syn.bram),
            opt(self.bram),
            self.bram_max
        );
        if !ecp5 {
            s += &format!(
                "| SPRAM (256 Kbit) | {} | {} | {} | {} |\n",
                self.estimate.spram,
                synv(syn.spram),
                opt(self.spram),
                self.spram_max
            );
        }
        s += &format!(
            "| {} | {} | {} | {} | {} |\n",
            if ecp5 {
                "multiplier (MULT18X18D)"
            } else {
                "DSP (SB_MAC16)"
            },
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
                "Post-route fmax: {f:.2} MHz against the {:.3} MHz clock ({}; placement seed {} \
                 of {} tried{}).\n\n",
                self.pll.map_or(self.target_mhz, |p| p.out_mhz()),
                if self.meets_timing == Some(true) {
                    "met"
                } else {
                    "NOT met"
                },
                self.placement_seed.unwrap_or(0),
                self.placement_seeds_tried.unwrap_or(0),
                if self.placement_seeds_stalled.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; stopped for a stalled router: seed {:?}",
                        self.placement_seeds_stalled
                    )
                },
            );
        }
        if !self.units.is_empty() {
            s += &super::unit::units_markdown(&self.units);
        }
        s += extra;
        s += &format!(
            "\nTool logs (yosys.log, nextpnr.log, {}.log, as far as the flow got) are in this folder. Build time {:.1} s.\n",
            if ecp5 { "ecppack" } else { "icepack" },
            self.seconds
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ice40_tool_output_is_read_back() {
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
    fn ecp5_tool_output_is_read_back() {
        // yosys 0.70's stat layout: the count first.
        let yosys = "\n=== top ===\n\n        9000 cells\n          40   CCU2C\n          93   DP16KD\n        6277   LUT4\n           3   MULT18X18D\n          12   PFUMX\n        2100   TRELLIS_FF\n\n";
        let c = SynthCells::parse_for(Family::Ecp5, yosys).unwrap();
        assert_eq!(
            c,
            SynthCells {
                lut4: 6277,
                carry: 40,
                ff: 2100,
                bram: 93,
                spram: 0,
                dsp: 3
            }
        );
        let pnr = "Info: Device utilisation:\nInfo: \t          TRELLIS_IO:     5/    365     1%\nInfo: \t              DP16KD:    93/    108    86%\nInfo: \t          MULT18X18D:     3/     72     4%\nInfo: \t        TRELLIS_COMB:  6400/  43848    14%\nInfo: Max frequency for clock '$glbnet$clock': 38.50 MHz (PASS at 30.00 MHz)\n";
        let r = RouteResult::parse_for(Family::Ecp5, pnr).unwrap();
        assert_eq!(
            (r.used.logic_cells, r.used.bram, r.used.dsp, r.used.io),
            (6400, 93, 3, 5)
        );
        assert_eq!(r.fmax_mhz, 38.5);
        let total = Resources::from_nextpnr_log_for(Family::Ecp5, pnr).1;
        assert_eq!((total.logic_cells, total.bram, total.dsp), (43848, 108, 72));
    }
}
