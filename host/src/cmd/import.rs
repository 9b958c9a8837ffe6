//! `lutna import`: a float ONNX model in, a calibrated and quantized `.lutna` model out.

use crate::progress;
use anyhow::{Context, Result};
use clap::Args;
use lutna_core::cifar::{self, Split};
use lutna_core::model::ModelTotals;
use lutna_onnx::{graph, quant};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Args)]
pub struct ImportArgs {
    /// Float ONNX model: N x 3 x 32 x 32 raw pixels (0..255) in, logits out
    #[arg(long)]
    pub onnx: PathBuf,
    /// Folder of CIFAR-10 binary batches; calibration reads training images (data_batch_*) only
    #[arg(long)]
    pub calib: PathBuf,
    /// Number of training images used to calibrate activation ranges
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=45000))]
    pub calib_images: u32,
    /// Output .lutna file
    #[arg(short, long)]
    pub output: PathBuf,
    /// Model name stored in the file (default: the output file's stem)
    #[arg(long)]
    pub name: Option<String>,
    /// Print a JSON summary instead of text
    #[arg(long)]
    pub json: bool,
}

/// `--json` of an import. Field names are read by scripts.
#[derive(Serialize)]
struct ImportReport {
    model: String,
    output: PathBuf,
    layers: usize,
    params: usize,
    nonzero: usize,
    calib_images: usize,
    warnings: Vec<String>,
}

pub fn run(a: ImportArgs) -> Result<()> {
    let imported = graph::import_onnx(&a.onnx)?;
    for w in &imported.warnings {
        eprintln!("warning: {w}");
    }
    let train = cifar::load(&a.calib, Split::Train)
        .context("calibration needs the CIFAR-10 training batches (data_batch_1..5.bin)")?;
    let calib = train.spread(a.calib_images as usize);
    let pb = progress::bar(calib.len() as u64, "calibrating", a.json);
    let ranges = quant::calibrate(&imported.graph, &calib, |n| pb.inc(n as u64));
    pb.finish_and_clear();
    let name = a.name.unwrap_or_else(|| {
        a.output
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model")
            .to_string()
    });
    let model = quant::quantize(&imported.graph, &ranges, &name)?;
    model.save(&a.output)?;
    let totals = ModelTotals::of(&model.layer_stats());
    let report = ImportReport {
        model: name,
        output: a.output,
        layers: model.layers.len(),
        params: totals.params,
        nonzero: totals.nonzero,
        calib_images: calib.len(),
        warnings: imported.warnings,
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "wrote {} ({} layers, {} of {} weights nonzero, calibrated on {} training images)",
            report.output.display(),
            report.layers,
            report.nonzero,
            report.params,
            report.calib_images
        );
    }
    Ok(())
}
