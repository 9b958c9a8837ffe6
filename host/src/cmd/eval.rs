//! `lutna eval`: bit-exact integer accuracy of a model under one scheme or a per-layer plan, or
//! the float ONNX model's accuracy run by tract (the reference the integer model is held to).

use super::DataArgs;
use crate::progress;
use anyhow::Result;
use clap::Args;
use lutna_core::cifar::Dataset;
use lutna_core::engine::{summarize, Engine};
use lutna_core::{Model, Plan, Scheme};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct EvalArgs {
    /// .lutna model file
    #[arg(long, required_unless_present = "onnx")]
    pub model: Option<PathBuf>,
    /// Evaluate a float ONNX model with tract instead (the reference the integer model is held to)
    #[arg(long, conflicts_with_all = ["model", "scheme", "plan"])]
    pub onnx: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Multiplication scheme for every layer
    #[arg(long, conflicts_with = "plan", help = format!("Multiplication scheme for every layer: {}", Scheme::NAMES))]
    pub scheme: Option<Scheme>,
    /// Per-layer plan file (JSON) instead of one scheme
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// `--json` of an integer evaluation. Field names are read by scripts.
#[derive(Serialize)]
struct EvalReport {
    model: String,
    scheme: String,
    split: String,
    images: usize,
    top1: f64,
    logits_sha256: String,
    images_per_s: f64,
}

/// `--json` of a float evaluation by tract.
#[derive(Serialize)]
struct FloatReport {
    model: PathBuf,
    scheme: &'static str,
    runtime: &'static str,
    split: String,
    images: usize,
    top1: f64,
    images_per_s: f64,
}

/// What one run of the golden engine over a dataset measured.
pub struct EvalResult {
    pub images: usize,
    pub top1: f64,
    pub sha: String,
    pub images_per_s: f64,
}

/// Runs the golden engine over `data` under `plan`, with a progress bar unless `quiet`.
pub fn run_eval(model: &Model, plan: &Plan, data: &Dataset, quiet: bool) -> Result<EvalResult> {
    let engine = Engine::new(model, plan)?;
    let pb = progress::bar(data.len() as u64, "evaluating", quiet);
    let t0 = Instant::now();
    let logits = engine.run_all(data, |n| pb.inc(n as u64));
    let dt = t0.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let (top1, sha) = summarize(&logits, &data.labels);
    Ok(EvalResult {
        images: data.len(),
        top1,
        sha,
        images_per_s: data.len() as f64 / dt.max(1e-9),
    })
}

fn print_data(d: &DataArgs, images: usize) {
    println!(
        "data     {} split of {}, {images} images",
        d.split,
        d.data.display()
    );
}

fn eval_float(a: &EvalArgs, onnx_path: PathBuf) -> Result<()> {
    let data = a.data.load()?;
    let tract = lutna_onnx::reference::TractModel::load(&onnx_path, 50)?;
    let t0 = Instant::now();
    let logits = tract.logits(&data)?;
    let images_per_s = data.len() as f64 / t0.elapsed().as_secs_f64().max(1e-9);
    let top1 = lutna_onnx::reference::top1_f32(&logits, &data.labels);
    if a.json {
        let r = FloatReport {
            model: onnx_path,
            scheme: "float",
            runtime: "tract",
            split: a.data.split.to_string(),
            images: data.len(),
            top1,
            images_per_s,
        };
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!("model    {} (float, run by tract)", onnx_path.display());
        print_data(&a.data, data.len());
        println!("top-1    {:.2} %", 100.0 * top1);
        println!("speed    {images_per_s:.0} images/s");
    }
    Ok(())
}

pub fn run(a: EvalArgs) -> Result<()> {
    if let Some(p) = a.onnx.clone() {
        return eval_float(&a, p);
    }
    let model_path = a.model.clone().expect("clap requires --model or --onnx");
    let model = Model::load(&model_path)?;
    let plan = match (&a.plan, a.scheme) {
        (Some(p), _) => Plan::load(p)?,
        (None, s) => Plan::uniform(s.unwrap_or(Scheme::Exact)),
    };
    let data = a.data.load()?;
    let r = run_eval(&model, &plan, &data, a.json)?;
    let scheme = plan.label(&model);
    if a.json {
        let report = EvalReport {
            model: model.name.clone(),
            scheme,
            split: a.data.split.to_string(),
            images: r.images,
            top1: r.top1,
            logits_sha256: r.sha,
            images_per_s: r.images_per_s,
        };
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("model    {} ({})", model.name, model_path.display());
        print_data(&a.data, r.images);
        println!("scheme   {scheme}");
        println!("top-1    {:.2} %", 100.0 * r.top1);
        println!("logits   sha256 {}", r.sha);
        println!("speed    {:.0} images/s", r.images_per_s);
    }
    Ok(())
}
