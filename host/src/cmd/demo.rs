//! `lutna demo`: the whole pipeline on the shipped model and sample images: every software scheme
//! through the golden engine, then a few images on the virtual board, checked bit for bit.

use super::{
    eval::run_eval, run, shipped, DataArgs, PortArgs, DEMO_MODEL, REFERENCE_MODEL, SAMPLE_DATA,
};
use anyhow::{bail, Result};
use clap::Args;
use lutna_core::cifar::{self, Split};
use lutna_core::model::ModelTotals;
use lutna_core::{Model, Plan, Scheme};
use lutna_sim::Simulator;
use std::path::PathBuf;

#[derive(Args)]
pub struct DemoArgs {
    /// Model to run (default: models/icebreaker-r20-w1.lutna, the shipped iCEBreaker model)
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Folder of CIFAR-10 binary batches (default: the shipped sample)
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Images to run on the virtual board (default 10 on Verilator, about 5 s each for the
    /// shipped model; 2 on RustHDL, which runs the smaller reference model unless --model is
    /// given, about 40 s each)
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub board_images: Option<u32>,
    /// Simulator of the virtual board: verilator (default when installed) or rusthdl
    #[arg(long)]
    pub sim: Option<Simulator>,
}

pub fn run(a: DemoArgs) -> Result<()> {
    let model_given = a.model.is_some();
    let model_path = match a.model {
        Some(p) => p,
        None => shipped(DEMO_MODEL)?,
    };
    let data_dir = match a.data {
        Some(p) => p,
        None => shipped(SAMPLE_DATA)?,
    };
    let model = Model::load(&model_path)?;
    let data = cifar::load(&data_dir, Split::Test)?;
    let ModelTotals {
        macs_dense,
        macs_pruned,
        ..
    } = ModelTotals::of(&model.layer_stats());
    println!(
        "lutna demo: {} on {} test images from {}",
        model.name,
        data.len(),
        data_dir.display()
    );
    println!(
        "  {} layers, {} MACs dense, {} after pruning ({:.1} % fewer)",
        model.layers.len(),
        macs_dense,
        macs_pruned,
        100.0 * (1.0 - macs_pruned as f64 / macs_dense.max(1) as f64)
    );
    println!(
        "\n  {:<10} {:>8} {:>10}  logits sha256",
        "scheme", "top-1", "images/s"
    );
    let mut exact_sha = String::new();
    for s in [
        Scheme::Exact,
        Scheme::TLUT,
        Scheme::LUTNA,
        Scheme::ALUTNA,
        Scheme::ALUTNA_C,
    ] {
        let r = run_eval(&model, &Plan::uniform(s), &data, true)?;
        if s == Scheme::Exact {
            exact_sha = r.sha.clone();
        }
        let same = if r.sha == exact_sha {
            "  (= exact)"
        } else {
            ""
        };
        println!(
            "  {:<10} {:>7.2}% {:>10.0}  {}{}",
            s.to_string(),
            100.0 * r.top1,
            r.images_per_s,
            &r.sha[..16],
            same
        );
        if s.is_exact() && r.sha != exact_sha {
            bail!("{s} is proved equal to exact but its logits differ: this is a bug, please report it");
        }
    }
    println!(
        "\n  Exact schemes (tlut, lutna) reproduce the exact logits bit for bit; the approximate\n  \
         ones (alutna, alutna-c) skip the low activation nibble."
    );
    // The on-board path: the virtual board (the accelerator's RTL, stepped clock by clock with
    // its UART simulated bit by bit) on a pseudo-terminal, driven by the same code `lutna run`
    // uses for a real iCEBreaker. Simulation is slow (docs/benchmarks.md), so a few images.
    let sim = a.sim.unwrap_or_else(Simulator::best_available);
    let board_images = a.board_images.unwrap_or(match sim {
        Simulator::Verilator => 10,
        Simulator::RustHdl => 2,
    });
    if board_images == 0 {
        return Ok(());
    }
    if sim == Simulator::Verilator {
        println!("\n  Building the virtual board with Verilator (cached after the first time)...");
    }
    // RustHDL steps the RTL at a few thousand cycles a second: a streamed image of the shipped
    // ResNet-20 (about 9 M clocks with its link) would take most of an hour there, so on RustHDL
    // the board step runs the smaller reference model unless --model names one.
    let board_model = if sim == Simulator::RustHdl && !model_given {
        let reference = shipped(REFERENCE_MODEL)?;
        println!(
            "\n  On RustHDL the board step runs the smaller reference model {} (with Verilator \
             installed, or with --model, it runs {} on the virtual board).",
            reference.display(),
            model.name
        );
        reference
    } else {
        model_path.clone()
    };
    let vb = lutna_sim::VirtualBoard::spawn_with(8, None, sim, None)?;
    println!(
        "\n  On the virtual board ({}, simulated by {}), the first {} sample images:",
        vb.path, vb.simulator, board_images
    );
    let report = run::run_on_board(&run::RunArgs {
        port: PortArgs {
            port: vb.path.clone(),
            baud: 3_000_000,
            retry_ms: None,
        },
        model: board_model,
        data: DataArgs {
            data: data_dir.clone(),
            split: Split::Test,
            limit: Some(board_images),
        },
        plan: None,
        param_words: None,
        json: false,
    })?;
    run::print(&report);
    println!(
        "  ({:.0} simulated cycles/s; a real iCEBreaker at 24 MHz would take {:.1} ms per image)",
        vb.stats().cycles_per_second(),
        report.cycles_per_image / 24e3
    );
    if report.mismatches > 0 {
        bail!("the virtual board's logits differ from the golden engine's: this is a bug");
    }
    Ok(())
}
