//! `lutna probe`: asks the board on a serial port what it is (IDENTIFY).

use super::PortArgs;
use anyhow::Result;
use clap::Args;
use serde::Serialize;

#[derive(Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub port: PortArgs,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// `--json` of `lutna probe`: the board's identity. Field names are read by scripts.
#[derive(Serialize)]
struct ProbeReport<'a> {
    port: &'a str,
    version: u8,
    lanes: u8,
    chunk_bits: u8,
    modes: u8,
    spram_bytes: u32,
    bram_bytes: u32,
    clock_hz: u32,
    max_payload: u16,
    param_words: u32,
    activation_bytes: u32,
    retransmissions: u64,
}

pub fn run(a: ProbeArgs) -> Result<()> {
    let mut link = a.port.open()?;
    let id = link.identify()?;
    if a.json {
        let r = ProbeReport {
            port: &a.port.port,
            version: id.version,
            lanes: id.lanes,
            chunk_bits: id.chunk_bits,
            modes: id.modes,
            spram_bytes: id.spram_bytes,
            bram_bytes: id.bram_bytes,
            clock_hz: id.clock_hz,
            max_payload: id.max_payload,
            param_words: id.param_words,
            activation_bytes: id.activation_bytes,
            retransmissions: link.stats.retransmissions,
        };
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    println!(
        "board on {}: lutna protocol version {}",
        a.port.port, id.version
    );
    println!(
        "  {} lanes, {}-bit chunks, modes {:03b} (centred, truncating, exact)",
        id.lanes, id.chunk_bits, id.modes
    );
    println!(
        "  {} KiB SPRAM, {} bytes block RAM, {:.1} MHz, frames up to {} bytes",
        id.spram_bytes / 1024,
        id.bram_bytes,
        id.clock_hz as f64 / 1e6,
        id.max_payload
    );
    println!(
        "  memory map: {} parameter words (one program or streamed segment), {} KiB of activations",
        id.param_words,
        id.activation_bytes / 1024
    );
    Ok(())
}
