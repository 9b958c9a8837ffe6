//! `lutna prog`: flashes a built bitstream onto the board with iceprog.

use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ProgArgs {
    /// Bitstream file, or the build folder holding top.bin
    pub bitstream: PathBuf,
    /// Load into the FPGA's configuration RAM only (lost at power-off) instead of the flash
    #[arg(long)]
    pub sram: bool,
}

/// Flashes `bitstream` (a file, or a build folder holding top.bin) with iceprog.
pub fn run(a: ProgArgs) -> Result<()> {
    let file = if a.bitstream.is_dir() {
        a.bitstream.join("top.bin")
    } else {
        a.bitstream
    };
    if !file.is_file() {
        bail!(
            "no bitstream at {}: build one first with `lutna build --board icebreaker --out DIR`",
            file.display()
        );
    }
    let mut cmd = std::process::Command::new("iceprog");
    if a.sram {
        cmd.arg("-S");
    }
    let status = cmd.arg(&file).status().map_err(|e| {
        anyhow::anyhow!("cannot run iceprog ({e}): install it with `apt-get install fpga-icestorm`")
    })?;
    if !status.success() {
        bail!(
            "iceprog failed (exit {}): is the board plugged in, and may this user open its FTDI device (udev rule or root)?",
            status.code().unwrap_or(-1)
        );
    }
    Ok(())
}
