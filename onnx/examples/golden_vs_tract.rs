//! Benchmark: the golden engine's images/s against tract running the float ONNX, on the same
//! model and images in one run, both on all cores (rayon over images; tract over batches of 50).
//!
//! ```sh
//! cargo run --release -p lutna-onnx --example golden_vs_tract -- MODEL_STEM DATA_DIR [IMAGES]
//! cargo run --release -p lutna-onnx --example golden_vs_tract -- models/icebreaker-w0.5 ../shared/cifar10 10000
//! ```
//!
//! `MODEL_STEM` names `MODEL_STEM.lutna` and `MODEL_STEM.onnx`. One warm-up pass of tract, then
//! two passes in which the engines alternate, so a drift in machine load hits both alike; the
//! ratio is taken between the best pass of each.

use anyhow::{bail, Context, Result};
use lutna_core::cifar::{self, Split};
use lutna_core::engine::{summarize, Engine};
use lutna_core::{Model, Plan, Scheme};
use lutna_onnx::reference::{top1_f32, TractModel};
use std::path::PathBuf;
use std::time::Instant;

struct Pass {
    engine: String,
    images_per_s: f64,
    top1: f64,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [stem, data_dir, rest @ ..] = args.as_slice() else {
        bail!("usage: golden_vs_tract MODEL_STEM DATA_DIR [IMAGES]");
    };
    let mut data = cifar::load(&PathBuf::from(data_dir), Split::Test)?;
    if let Some(n) = rest.first() {
        let n: usize = n
            .parse()
            .with_context(|| format!("IMAGES must be a positive number, not {n:?}"))?;
        data.truncate(n);
    }
    let model = Model::load(&PathBuf::from(format!("{stem}.lutna")))?;
    let tract = TractModel::load(&PathBuf::from(format!("{stem}.onnx")), 50)?;
    println!(
        "model {} ({} images, {} threads)",
        model.name,
        data.len(),
        rayon::current_num_threads()
    );
    tract.logits(&data)?;
    let mut passes = vec![];
    for _ in 0..2 {
        let t0 = Instant::now();
        let logits = tract.logits(&data)?;
        passes.push(Pass {
            engine: "tract f32".into(),
            images_per_s: data.len() as f64 / t0.elapsed().as_secs_f64(),
            top1: top1_f32(&logits, &data.labels),
        });
        for s in [Scheme::Exact, Scheme::LUTNA, Scheme::ALUTNA] {
            let engine = Engine::new(&model, &Plan::uniform(s))?;
            let t0 = Instant::now();
            let logits = engine.run_all(&data, |_| {});
            passes.push(Pass {
                engine: format!("golden {s}"),
                images_per_s: data.len() as f64 / t0.elapsed().as_secs_f64(),
                top1: summarize(&logits, &data.labels).0,
            });
        }
    }
    println!(
        "{:<16} {:>5} {:>12} {:>8}",
        "engine", "pass", "images/s", "top-1"
    );
    for (i, p) in passes.iter().enumerate() {
        println!(
            "{:<16} {:>5} {:>12.1} {:>7.2}%",
            p.engine,
            i / 4,
            p.images_per_s,
            100.0 * p.top1
        );
    }
    let best = |name: &str| {
        passes
            .iter()
            .filter(|p| p.engine == name)
            .map(|p| p.images_per_s)
            .fold(0.0, f64::max)
    };
    println!(
        "ratio golden exact / tract = {:.2}x, golden lutna / tract = {:.2}x (best pass each)",
        best("golden exact") / best("tract f32"),
        best("golden lutna") / best("tract f32")
    );
    Ok(())
}
