//! The board top: a few lines of Verilog written around the RustHDL design's generated module,
//! the board's PLL (`SB_PLL40_PAD` on the iCEBreaker, whose 12 MHz oscillator reaches a PLL pad;
//! `SB_PLL40_CORE` on the HX8K breakout; `EHXPLLL` from the ULX3S's 25 MHz oscillator) and two
//! LEDs. The design's UART divider comes from the clock the PLL really makes.

use super::{BoardKind, BuildOptions, DesignKind, Pll};
use anyhow::{anyhow, bail, Result};
use lutna_core::protocol::Identity;
use rust_hdl::prelude::*;

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
            "{baud} baud is {:.1} % off at {clock_mhz:.3} MHz ({exact:.2} clocks per bit): choose a --freq that is a multiple of the baud rate and that the PLL makes (24 MHz for 3 Mbaud on the iCE40 boards, 30 MHz on the ULX3S)",
            error * 100.0
        );
    }
    Ok(cpb as u16)
}

/// The IDENTIFY answer of a build: the board's, with the clock the PLL makes (no lanes for the
/// probe design).
fn build_identity(opts: &BuildOptions, pll: &Pll) -> Identity {
    Identity {
        lanes: if opts.design == DesignKind::Probe {
            0
        } else {
            opts.lanes
        },
        clock_hz: (pll.out_mhz() * 1e6).round() as u32,
        ..opts.board.identity(opts.lanes)
    }
}

/// The design's Verilog (RustHDL's module `top`, renamed `lutna_design`) for the board's FPGA
/// family, and the board top around it, for the clock `pll` makes.
pub fn board_verilog(opts: &BuildOptions, pll: &Pll) -> Result<String> {
    let cpb = clocks_per_bit(pll.out_mhz(), opts.baud)?;
    let identity = build_identity(opts, pll);
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
            let mut acc = crate::top::AnyAccelerator::new(
                opts.lanes,
                opts.board.program_memory(),
                cpb,
                crate::link::BOARD_RX_TIMEOUT_BYTES,
                identity,
            )?;
            acc.set_family(opts.board.family())?;
            (acc.verilog(), true)
        }
    };
    let design = rename_top(&design)?;
    let (clock_in, pll_inst) = match pll {
        Pll::Ice40(p) if opts.board == BoardKind::IceBreaker => (
            "clk_12mhz",
            format!(
                "    SB_PLL40_PAD #(.FEEDBACK_PATH(\"SIMPLE\"), .DIVR(4'd{}), .DIVF(7'd{}), .DIVQ(3'd{}), .FILTER_RANGE(3'd{}))\n        pll (.PACKAGEPIN(clk_12mhz), .PLLOUTGLOBAL(clock), .LOCK(locked), .RESETB(1'b1), .BYPASS(1'b0));\n",
                p.divr, p.divf, p.divq, p.filter_range
            ),
        ),
        Pll::Ice40(p) => (
            "clk_12mhz",
            format!(
                "    SB_PLL40_CORE #(.FEEDBACK_PATH(\"SIMPLE\"), .DIVR(4'd{}), .DIVF(7'd{}), .DIVQ(3'd{}), .FILTER_RANGE(3'd{}))\n        pll (.REFERENCECLK(clk_12mhz), .PLLOUTGLOBAL(clock), .LOCK(locked), .RESETB(1'b1), .BYPASS(1'b0));\n",
                p.divr, p.divf, p.divq, p.filter_range
            ),
        ),
        // The primary output is the design clock and is fed back; the phase-adjust and
        // standby inputs are held inactive.
        Pll::Ecp5(p) => (
            "clk_25mhz",
            format!(
                "    EHXPLLL #(.PLLRST_ENA(\"DISABLED\"), .INTFB_WAKE(\"DISABLED\"), .STDBY_ENABLE(\"DISABLED\"),\n\
                 \x20       .DPHASE_SOURCE(\"DISABLED\"), .OUTDIVIDER_MUXA(\"DIVA\"), .CLKOP_ENABLE(\"ENABLED\"),\n\
                 \x20       .CLKI_DIV({}), .CLKFB_DIV({}), .CLKOP_DIV({}), .CLKOP_CPHASE({}), .CLKOP_FPHASE(0),\n\
                 \x20       .FEEDBK_PATH(\"CLKOP\"))\n\
                 \x20       pll (.CLKI(clk_25mhz), .CLKFB(clock), .CLKOP(clock), .LOCK(locked), .RST(1'b0),\n\
                 \x20       .STDBY(1'b0), .PHASESEL0(1'b0), .PHASESEL1(1'b0), .PHASEDIR(1'b0), .PHASESTEP(1'b0),\n\
                 \x20       .PHASELOADREG(1'b0), .PLLWAKESYNC(1'b0), .ENCLKOP(1'b0));\n",
                p.clki_div,
                p.clkfb_div,
                p.clkop_div,
                p.clkop_cphase()
            ),
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
         // Board top for {board}: {pll_mhz:.3} MHz from the {osc} MHz oscillator, UART at {baud} baud\n\
         // ({cpb} clocks per bit). Written by lutna-hw's build flow.\n\
         module top(input wire {clock_in}, input wire uart_rx, output wire uart_tx,\n\
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
        osc = opts.board.oscillator_mhz(),
        pll_mhz = pll.out_mhz(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Ecp5Pll, PllSettings};
    use crate::memory::Family;
    use std::path::PathBuf;

    #[test]
    fn uart_divider_is_refused_when_the_rate_would_be_off() {
        assert_eq!(clocks_per_bit(24.0, 3_000_000).unwrap(), 8);
        assert_eq!(clocks_per_bit(30.0, 3_000_000).unwrap(), 10);
        assert_eq!(clocks_per_bit(48.0, 115_200).unwrap(), 417);
        let e = clocks_per_bit(25.125, 3_000_000).unwrap_err().to_string();
        assert!(e.contains("multiple of the baud rate"), "{e}");
        let e = clocks_per_bit(24.0, 12_000_000).unwrap_err().to_string();
        assert!(e.contains("at least 4 clocks per bit"), "{e}");
    }

    fn probe(board: BoardKind) -> BuildOptions {
        BuildOptions {
            board,
            design: DesignKind::Probe,
            lanes: 8,
            chunk_bits: 4,
            freq_mhz: board.default_mhz(),
            baud: 3_000_000,
            out: PathBuf::from("unused"),
        }
    }

    #[test]
    fn the_board_top_wraps_the_renamed_design() {
        let opts = probe(BoardKind::IceBreaker);
        let pll = Pll::Ice40(PllSettings::search(12.0, 24.0).unwrap());
        let v = board_verilog(&opts, &pll).unwrap();
        assert_eq!(v.matches("\nmodule top(").count(), 1);
        assert!(v.contains("\nmodule lutna_design("));
        assert!(v.contains("SB_PLL40_PAD") && v.contains(".DIVF(7'd63)"));
        assert!(
            v.contains("assign led_locked = ~locked;"),
            "active-low LEDs"
        );
        let hx = board_verilog(&probe(BoardKind::Hx8k), &pll).unwrap();
        assert!(hx.contains("SB_PLL40_CORE") && hx.contains("assign led_locked = locked;"));
        let ulx = board_verilog(
            &probe(BoardKind::Ulx3s85f),
            &Pll::Ecp5(Ecp5Pll::search(25.0, 30.0).unwrap()),
        )
        .unwrap();
        assert!(ulx.contains("EHXPLLL") && ulx.contains(".CLKFB_DIV(6)"));
        assert!(ulx.contains("input wire clk_25mhz") && ulx.contains("led_locked = locked;"));
        assert!(!ulx.contains("SB_"), "no iCE40 primitive in an ECP5 top");
    }

    #[test]
    fn every_port_of_the_top_is_in_the_pin_file() {
        for board in BoardKind::ALL {
            let pins = board.pin_file();
            let port = |p: &str| match board.family() {
                Family::Ice40 => pins.contains(&format!("set_io -nowarn {p} ")),
                Family::Ecp5 => pins.contains(&format!("LOCATE COMP \"{p}\" SITE")),
            };
            let clock = match board.family() {
                Family::Ice40 => "clk_12mhz",
                Family::Ecp5 => "clk_25mhz",
            };
            for pin in [clock, "uart_rx", "uart_tx", "led_running", "led_locked"] {
                assert!(port(pin), "{pin} not in the pin file of {}", board.name());
            }
        }
    }

    #[test]
    fn the_ecp5_accelerator_has_no_ice40_primitive() {
        // The SPRAMs become behavioural memories; the iCE40 build keeps the primitive.
        let opts = BuildOptions {
            design: DesignKind::Accelerator,
            lanes: 4,
            ..probe(BoardKind::Ulx3s45f)
        };
        let pll = Pll::Ecp5(Ecp5Pll::search(25.0, 30.0).unwrap());
        let v = board_verilog(&opts, &pll).unwrap();
        assert!(!v.contains("SB_SPRAM256KA") && !v.contains("SB_MAC16"));
        assert!(v.contains("reg [15:0] mem [0:16383];"));
        let opts = BuildOptions {
            design: DesignKind::Accelerator,
            lanes: 4,
            ..probe(BoardKind::IceBreaker)
        };
        let pll = Pll::Ice40(PllSettings::search(12.0, 24.0).unwrap());
        let v = board_verilog(&opts, &pll).unwrap();
        assert_eq!(v.matches("SB_SPRAM256KA ram").count(), 4);
    }
}
