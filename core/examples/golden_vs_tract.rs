//! Benchmark: golden-engine images/s against tract (float) on the same model and images, in one
//! run, both using all cores (rayon over images / batches).
//!
//! cargo run --release -p lutna-core --example golden_vs_tract -- MODEL_STEM DATA_DIR [IMAGES]
//! e.g. cargo run --release -p lutna-core --example golden_vs_tract -- models/icebreaker-w0.5 ../shared/cifar10 2000

use lutna_core::cifar::{self, Split};
use lutna_core::engine::{summarize, Engine};
use lutna_core::reference::{top1_f32, TractModel};
use lutna_core::{Model, Plan, Scheme};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        anyhow::bail!("usage: golden_vs_tract MODEL_STEM DATA_DIR [IMAGES]");
    }
    let stem = &args[1];
    let mut data = cifar::load(&PathBuf::from(&args[2]), Split::Test)?;
    if let Some(n) = args.get(3) {
        data.truncate(n.parse()?);
    }
    let model = Model::load(&PathBuf::from(format!("{stem}.lutna")))?;
    let tract = TractModel::load(&PathBuf::from(format!("{stem}.onnx")), 50)?;
    println!(
        "model {} ({} images, {} threads)",
        model.name,
        data.len(),
        rayon::current_num_threads()
    );
    // One warm-up pass each, then alternate timed passes so drift hits both alike.
    let _ = tract.logits(&data)?;
    let mut rows = vec![];
    for round in 0..2 {
        let t0 = Instant::now();
        let f = tract.logits(&data)?;
        let t_tract = t0.elapsed().as_secs_f64();
        rows.push((
            "tract f32",
            round,
            data.len() as f64 / t_tract,
            top1_f32(&f, &data.labels),
        ));
        for s in [Scheme::Exact, Scheme::LUTNA, Scheme::ALUTNA] {
            let e = Engine::new(&model, &Plan::uniform(s))?;
            let t0 = Instant::now();
            let l = e.run_all(&data, |_| {});
            let dt = t0.elapsed().as_secs_f64();
            let name: &'static str = Box::leak(format!("golden {s}").into_boxed_str());
            rows.push((
                name,
                round,
                data.len() as f64 / dt,
                summarize(&l, &data.labels).0,
            ));
        }
    }
    println!(
        "{:<16} {:>5} {:>12} {:>8}",
        "engine", "pass", "images/s", "top-1"
    );
    for (n, r, ips, t) in &rows {
        println!("{n:<16} {r:>5} {ips:>12.1} {:>7.2}%", 100.0 * t);
    }
    let best = |name: &str| {
        rows.iter()
            .filter(|r| r.0 == name)
            .map(|r| r.2)
            .fold(0.0, f64::max)
    };
    println!(
        "ratio golden exact / tract = {:.2}x, golden lutna / tract = {:.2}x (best pass each)",
        best("golden exact") / best("tract f32"),
        best("golden lutna") / best("tract f32")
    );
    Ok(())
}
