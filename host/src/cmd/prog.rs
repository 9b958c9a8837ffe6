//! `lutna prog`: loads a built bitstream onto its board: iceprog for the iCE40 boards (top.bin),
//! openFPGALoader for the ULX3S (top.bit).

use anyhow::{bail, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ProgArgs {
    /// Bitstream file (top.bin: iCE40; top.bit: ULX3S), or the build folder holding it
    pub bitstream: PathBuf,
    /// Load into the FPGA's configuration RAM only (lost at power-off) instead of the flash
    #[arg(long)]
    pub sram: bool,
}

/// The bitstream in `path` (a file, or a build folder holding top.bin or top.bit).
fn bitstream_file(path: &Path) -> Result<PathBuf> {
    let file = if path.is_dir() {
        ["top.bin", "top.bit"]
            .iter()
            .map(|f| path.join(f))
            .find(|f| f.is_file())
            .unwrap_or_else(|| path.join("top.bin"))
    } else {
        path.to_path_buf()
    };
    if !file.is_file() {
        bail!(
            "no bitstream at {}: build one first with `lutna build --board icebreaker --out DIR` \
             (or --board ulx3s-85f)",
            file.display()
        );
    }
    Ok(file)
}

/// Loads the bitstream with the programmer of its board.
pub fn run(a: ProgArgs) -> Result<()> {
    let file = bitstream_file(&a.bitstream)?;
    let ecp5 = file.extension().is_some_and(|e| e == "bit");
    let (tool, package) = if ecp5 {
        ("openFPGALoader", "apt-get install openfpgaloader")
    } else {
        ("iceprog", "apt-get install fpga-icestorm")
    };
    let mut cmd = std::process::Command::new(tool);
    match (ecp5, a.sram) {
        (true, true) => cmd.args(["--board", "ulx3s"]),
        (true, false) => cmd.args(["--board", "ulx3s", "--write-flash"]),
        (false, true) => cmd.arg("-S"),
        (false, false) => &mut cmd,
    };
    let status = cmd
        .arg(&file)
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run {tool} ({e}): install it with `{package}`"))?;
    if !status.success() {
        bail!(
            "{tool} failed (exit {}): is the board plugged in, and may this user open its FTDI device (udev rule or root)?",
            status.code().unwrap_or(-1)
        );
    }
    Ok(())
}
