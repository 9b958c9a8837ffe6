//! `lutna info`: a model's layers, sizes, sparsity and MAC counts.

use anyhow::Result;
use clap::Args;
use lutna_core::model::{LayerStats, ModelTotals};
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
    #[serde(flatten)]
    totals: ModelTotals,
}

pub fn run(a: InfoArgs) -> Result<()> {
    let model = Model::load(&a.model)?;
    let stats = model.layer_stats();
    let r = InfoReport {
        name: model.name.clone(),
        totals: ModelTotals::of(&stats),
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
    let t = r.totals;
    println!(
        "total: {} weights, {} nonzero ({:.1} % pruned); {} MACs dense, {} after pruning ({:.1} % \
         fewer)",
        t.params,
        t.nonzero,
        100.0 * (1.0 - t.nonzero as f64 / t.params.max(1) as f64),
        t.macs_dense,
        t.macs_pruned,
        100.0 * (1.0 - t.macs_pruned as f64 / t.macs_dense.max(1) as f64)
    );
    Ok(())
}
