//! One module per subcommand: each has its clap `Args` struct and a `run` taking it. Arguments
//! that several subcommands take are defined once here and flattened into theirs.

use anyhow::{Context, Result};
use clap::Args;
use lutna_core::cifar::{self, Dataset, Split};
use std::path::{Path, PathBuf};

pub mod analyze;
pub mod board;
pub mod build;
pub mod demo;
pub mod eval;
pub mod import;
pub mod info;
pub mod probe;
pub mod prog;
pub mod run;

/// Where the shipped model and sample images live, relative to the repository root. The demo
/// runs the iCEBreaker model a user would put on the board (models/README.md); the build's
/// per-image figures are of the benchmarks' reference model, so that they stay comparable
/// across builds and with docs/benchmarks.md.
pub const DEMO_MODEL: &str = "models/icebreaker-r20-w1.lutna";
pub const REFERENCE_MODEL: &str = "models/icebreaker-w0.5.lutna";
pub const SAMPLE_DATA: &str = "data/cifar10-sample";

/// The serial port of a board, for the subcommands that talk to one.
#[derive(Args, Clone, Debug)]
pub struct PortArgs {
    /// Serial port of the board (e.g. /dev/ttyUSB1, or the path `lutna board --virtual` prints)
    #[arg(long)]
    pub port: String,
    /// UART rate the board's bitstream was built for
    #[arg(long, default_value_t = 3_000_000)]
    pub baud: u32,
    /// Retransmit a request when its reply has not come this many milliseconds after the
    /// request's own line time, whatever the reply's length (default: the reply's line time
    /// plus 500 ms, at the pace the board has shown). Below a long reply's line time the host
    /// retransmits while the reply is still coming, which the board and the host must both
    /// ride out
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub retry_ms: Option<u64>,
}

impl PortArgs {
    /// The link to the board, with the wait the arguments ask for.
    pub fn open(&self) -> anyhow::Result<lutna_link::Link> {
        let mut link = lutna_link::Link::open(&self.port, self.baud)?;
        link.fixed_wait = self.retry_ms.map(std::time::Duration::from_millis);
        Ok(link)
    }
}

/// Images from a folder of CIFAR-10 binary batches: a split, optionally cut to its first N.
#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// Folder of CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin)
    #[arg(long)]
    pub data: PathBuf,
    /// test (test_batch.bin), val (training images 45000..49999) or train (0..44999)
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// Use only the first N images of the split
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
}

impl DataArgs {
    pub fn load(&self) -> Result<Dataset> {
        let mut data = cifar::load(&self.data, self.split)?;
        if let Some(n) = self.limit {
            data.truncate(n as usize);
        }
        Ok(data)
    }
}

/// Parses `--lanes`: only the lane counts the accelerator is built with.
pub fn lanes(s: &str) -> Result<u8, String> {
    let built = lutna_hw::top::ACCELERATOR_LANES;
    s.parse::<u8>()
        .ok()
        .filter(|n| built.contains(n))
        .ok_or_else(|| {
            format!(
                "the accelerator is built with 4, 8 or 16 lanes (16 on the ULX3S only), not {s}"
            )
        })
}

/// Finds a shipped file whether lutna runs from the repository root or elsewhere in it.
pub fn shipped(rel: &str) -> Result<PathBuf> {
    let candidates = [
        PathBuf::from(rel),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel),
    ];
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .with_context(|| {
            format!("cannot find the shipped {rel}; run lutna from the repository root")
        })
}
