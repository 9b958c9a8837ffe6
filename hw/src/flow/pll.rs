//! The PLL of each board top: its dividers, searched for the clock the user asks for, and the
//! Verilog instance that sets them. The design's UART divider is then computed from the clock
//! the PLL really makes, not the one asked for.

use anyhow::{anyhow, bail, Result};
use serde::Serialize;

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

/// ECP5 `EHXPLLL` dividers with the primary output fed back:
/// `f_out = f_in / clki_div * clkfb_div`, and the VCO runs at `f_out * clkop_div`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Ecp5Pll {
    pub clki_div: u32,
    pub clkfb_div: u32,
    pub clkop_div: u32,
    pub vco_mhz: f64,
    /// The output frequency these dividers give, MHz.
    pub out_mhz: f64,
}

impl Ecp5Pll {
    /// The dividers whose output is closest to `want_mhz` (among equals, the smallest input
    /// divider, then the VCO nearest the middle of its range, 600 MHz), within the limits of the ECP5 sysCLOCK PLL (Lattice TN1263 and the
    /// ECP5 data sheet: phase detector input 3.125-400 MHz, VCO 400-800 MHz, output 3.125-400
    /// MHz; CLKI_DIV and CLKOP_DIV 1..128, CLKFB_DIV 1..80). Project Trellis' `ecppll` searches
    /// the same space.
    pub fn search(in_mhz: f64, want_mhz: f64) -> Result<Ecp5Pll> {
        if !(3.125..=400.0).contains(&want_mhz) {
            bail!("the ECP5 PLL makes 3.125 to 400 MHz; {want_mhz} MHz is out of range: choose --freq between 4 and 400");
        }
        let mut best: Option<Ecp5Pll> = None;
        for clki_div in 1..=128u32 {
            let pfd = in_mhz / clki_div as f64;
            if !(3.125..=400.0).contains(&pfd) {
                continue;
            }
            for clkfb_div in 1..=80u32 {
                let out = pfd * clkfb_div as f64;
                if !(3.125..=400.0).contains(&out) {
                    continue;
                }
                for clkop_div in 1..=128u32 {
                    let vco = out * clkop_div as f64;
                    if !(400.0..=800.0).contains(&vco) {
                        continue;
                    }
                    let better = best.is_none_or(|b| {
                        let (e, be) = ((out - want_mhz).abs(), (b.out_mhz - want_mhz).abs());
                        e < be
                            || (e == be
                                && b.clki_div == clki_div
                                && (vco - 600.0).abs() < (b.vco_mhz - 600.0).abs())
                    });
                    if better {
                        best = Some(Ecp5Pll {
                            clki_div,
                            clkfb_div,
                            clkop_div,
                            vco_mhz: vco,
                            out_mhz: out,
                        });
                    }
                }
            }
        }
        best.ok_or_else(|| anyhow!("no ECP5 PLL setting makes {want_mhz} MHz from {in_mhz} MHz"))
    }

    /// The output's coarse phase for a 0-degree output: half the output divider, as Trellis'
    /// `ecppll` sets it.
    pub fn clkop_cphase(&self) -> u32 {
        (self.clkop_div - 1) / 2
    }
}

/// The PLL of a board top, by FPGA family. In report.json it is the dividers' object, with
/// `out_mhz` in both kinds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Pll {
    Ice40(PllSettings),
    Ecp5(Ecp5Pll),
}

impl Pll {
    /// The clock the PLL makes, MHz.
    pub fn out_mhz(&self) -> f64 {
        match self {
            Pll::Ice40(p) => p.out_mhz,
            Pll::Ecp5(p) => p.out_mhz,
        }
    }

    /// One line for the text report.
    pub fn describe(&self) -> String {
        match self {
            Pll::Ice40(p) => format!(
                "PLL DIVR={} DIVF={} DIVQ={} FILTER_RANGE={}",
                p.divr, p.divf, p.divq, p.filter_range
            ),
            Pll::Ecp5(p) => format!(
                "EHXPLLL CLKI_DIV={} CLKFB_DIV={} CLKOP_DIV={} (VCO {:.1} MHz)",
                p.clki_div, p.clkfb_div, p.clkop_div, p.vco_mhz
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ice40_pll_settings_for_the_usual_clocks() {
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
    fn ecp5_pll_settings_from_the_ulx3s_oscillator() {
        // 25 MHz / 5 x 6 = 30 MHz, VCO 600 MHz: what `ecppll -i 25 -o 30` answers.
        let p = Ecp5Pll::search(25.0, 30.0).unwrap();
        assert_eq!((p.clki_div, p.clkfb_div, p.clkop_div), (5, 6, 20));
        assert_eq!((p.out_mhz, p.vco_mhz, p.clkop_cphase()), (30.0, 600.0, 9));
        // Every setting found respects the limits, and the output is what the dividers make.
        for want in [10.0, 24.0, 48.0, 100.0, 133.0, 250.0] {
            let p = Ecp5Pll::search(25.0, want).unwrap();
            let pfd = 25.0 / p.clki_div as f64;
            assert!((3.125..=400.0).contains(&pfd), "{want}: {p:?}");
            assert!((400.0..=800.0).contains(&p.vco_mhz), "{want}: {p:?}");
            assert_eq!(p.out_mhz, pfd * p.clkfb_div as f64);
            assert!((p.out_mhz - want).abs() / want < 0.05, "{want}: {p:?}");
        }
        // 24 MHz needs a 1 MHz phase detector input from 25 MHz: the nearest is taken.
        let p = Ecp5Pll::search(25.0, 24.0).unwrap();
        assert!(p.out_mhz != 24.0);
        assert!(Ecp5Pll::search(25.0, 500.0).is_err());
        assert!(Ecp5Pll::search(25.0, 2.0).is_err());
    }
}
