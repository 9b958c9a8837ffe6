//! `lutna info`: a model's layers, sizes, sparsity and MAC counts.

use anyhow::Result;
use clap::Args;
use lutna_core::model::LayerStats;
use lutna_core::Model;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Args)]
pub struct InfoArgs {
    /// .lutna model file
    #[arg(long)]
    pub model: PathBuf,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// `--json` of `lutna info`. Field names are read by scripts (tools/models_table.py).
#[derive(Serialize)]
struct InfoReport {
    name: String,
    layers: Vec<LayerStats>,
    params: usize,
    nonzero: usize,
    macs_dense: u64,
    macs_pruned: u64,
}

pub fn run(a: InfoArgs) -> Result<()> {
    let model = Model::load(&a.model)?;
    let stats = model.layer_stats();
    let r = InfoReport {
        name: model.name.clone(),
        params: stats.iter().map(|s| s.params).sum(),
        nonzero: stats.iter().map(|s| s.nonzero).sum(),
        macs_dense: stats.iter().map(|s| s.macs_dense).sum(),
        macs_pruned: stats.iter().map(|s| s.macs_pruned).sum(),
        layers: stats,
    };
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    println!("model {} ({})", r.name, a.model.display());
    println!(
        "{:>3}  {:<28} {:<8} {:>14} {:>7} {:>9} {:>9} {:>12} {:>12}",
        "#", "layer", "kind", "output", "kind", "params", "nonzero", "MACs dense", "MACs pruned"
    );
    for (i, s) in r.layers.iter().enumerate() {
        let shape = format!(
            "{}x{}x{}",
            s.output_shape[0], s.output_shape[1], s.output_shape[2]
        );
        println!(
            "{:>3}  {:<28} {:<8} {:>14} {:>7} {:>9} {:>9} {:>12} {:>12}",
            i,
            s.name,
            s.kind,
            shape,
            format!("{:?}", s.output_kind).to_lowercase(),
            s.params,
            s.nonzero,
            s.macs_dense,
            s.macs_pruned
        );
    }
    println!(
        "total: {} weights, {} nonzero ({:.1} % pruned); {} MACs dense, {} after pruning ({:.1} % \
         fewer)",
        r.params,
        r.nonzero,
        100.0 * (1.0 - r.nonzero as f64 / r.params.max(1) as f64),
        r.macs_dense,
        r.macs_pruned,
        100.0 * (1.0 - r.macs_pruned as f64 / r.macs_dense.max(1) as f64)
    );
    Ok(())
}
