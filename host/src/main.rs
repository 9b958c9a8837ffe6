//! `lutna`: the command-line front of the lutna look-up-table neural accelerator.
//!
//! This crate owns the user's side: argument parsing, progress bars, human and JSON reports. The
//! work itself lives in `lutna-core` (and, as they land, the hardware and simulator crates).

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lutna_core::cifar::{self, Split};
use lutna_core::engine::{summarize, Engine};
use lutna_core::{onnx, quant, Model, Plan, Scheme};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

mod analyze;
mod build;
mod run;

/// Where the shipped model and sample images live, relative to the repository root.
const DEMO_MODEL: &str = "models/icebreaker-w0.5.lutna";
const SAMPLE_DATA: &str = "data/cifar10-sample";

#[derive(Parser)]
#[command(
    name = "lutna",
    version,
    about = "Look-up-table neural accelerator for iCE40 FPGAs: import, evaluate and analyze \
             CIFAR-10 CNNs whose multiplications are table reads (LUT-NA)",
    long_about = "lutna turns a trained, pruned CIFAR-10 CNN (ONNX) into a quantized .lutna model \
                  whose multiplications are reads of small precomputed tables (LUT-NA, after \
                  arXiv 2406.05282), and runs it bit-exactly in software.\n\n\
                  Typical flow:\n  \
                  lutna import --onnx net.onnx --calib ../shared/cifar10 -o net.lutna\n  \
                  lutna info   --model net.lutna\n  \
                  lutna eval   --model net.lutna --data ../shared/cifar10 --scheme lutna\n\n\
                  Start with `lutna demo` to see it on the shipped model and sample images."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the pipeline on the shipped iCEBreaker model and sample images
    Demo(DemoArgs),
    /// Quantize a float ONNX model into a .lutna model
    Import(ImportArgs),
    /// Bit-exact integer accuracy of a .lutna model under a scheme or per-layer plan
    Eval(EvalArgs),
    /// Layers, sizes, sparsity and MAC counts of a .lutna model
    Info(InfoArgs),
    /// Area and energy per inference of every scheme, and mixed LUT-NA / A-LUT-NA plans
    Analyze(AnalyzeArgs),
    /// Serve a virtual board (the board top's RTL, simulated) on a pseudo-terminal
    Board(BoardArgs),
    /// Ask the board on a serial port what it is (IDENTIFY)
    Probe(ProbeArgs),
    /// Run a model on a board (real or virtual) over its serial port, checking every result
    /// against the golden engine
    Run(RunArgs),
    /// Build a bitstream with the open toolchain (yosys, nextpnr-ice40, icepack) and report
    /// resources and timing
    Build(BuildArgs),
    /// Flash a built bitstream onto a board with iceprog
    Prog(ProgArgs),
}

#[derive(Args)]
struct BuildArgs {
    /// Target board: icebreaker (iCE40UP5K-SG48) or hx8k (iCE40HX8K-CT256 breakout)
    #[arg(long)]
    board: lutna_hw::build::BoardKind,
    /// accelerator (the whole design) or probe (link only: IDENTIFY / STATUS, for board bring-up)
    #[arg(long, default_value = "accelerator")]
    design: lutna_hw::build::DesignKind,
    /// Lanes P of the accelerator (4 or 8)
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..=64))]
    lanes: u8,
    /// Activation chunk width K of the LUT-NA lanes (the accelerator is built with 4)
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=8))]
    chunk_bits: u8,
    /// Clock the PLL makes and nextpnr must meet, MHz (a multiple of the baud rate)
    #[arg(long, default_value_t = 24.0)]
    freq: f64,
    /// UART rate the design is built for
    #[arg(long, default_value_t = 3_000_000)]
    baud: u32,
    /// Build folder: Verilog, pin file, tool logs, report.json, report.md, top.bin
    #[arg(long)]
    out: PathBuf,
    /// Print report.json to stdout instead of the text report
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ProgArgs {
    /// Bitstream file, or the build folder holding top.bin
    bitstream: PathBuf,
    /// Load into the FPGA's configuration RAM only (lost at power-off) instead of the flash
    #[arg(long)]
    sram: bool,
}

#[derive(Args)]
struct RunArgs {
    /// Serial port of the board (e.g. /dev/ttyUSB1, or the path `lutna board --virtual` prints)
    #[arg(long)]
    port: String,
    #[arg(long, default_value_t = 3_000_000)]
    baud: u32,
    /// The .lutna model to run
    #[arg(long)]
    model: PathBuf,
    /// Folder of CIFAR-10 binary batches
    #[arg(long)]
    data: PathBuf,
    /// test (test_batch.bin), val (training images 45000..49999) or train (0..44999)
    #[arg(long, default_value = "test")]
    split: Split,
    /// Stream the program in segments of at most N parameter words (layers cut by output
    /// channels where needed) even if it fits the board: rehearses a board with a small program
    /// buffer. Default: the board's whole parameter memory, streaming only what does not fit
    #[arg(long, value_parser = clap::value_parser!(u32).range(128..=32768))]
    param_words: Option<u32>,
    /// Run only the first N images of the split
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    limit: Option<u32>,
    /// Per-layer plan file (JSON, as `lutna analyze` writes); default LUT-NA on every layer
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Print the report as JSON instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BoardArgs {
    /// Simulate the board instead of talking to hardware (the only mode today)
    #[arg(long, required = true)]
    r#virtual: bool,
    /// Lanes the virtual board reports
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..=32))]
    lanes: u8,
    /// Probability per byte of a fault on the virtual line (flip, drop, duplicate, garbage)
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Seed of the fault generator
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulator stepping the RTL: verilator (compiled from the generated Verilog, the default
    /// when installed) or rusthdl (no C++ toolchain needed, about 100x slower)
    #[arg(long)]
    sim: Option<lutna_sim::Simulator>,
    /// Record every signal of the board top into this VCD file (Verilator only; large: about
    /// 1 MB per thousand cycles)
    #[arg(long)]
    vcd: Option<PathBuf>,
    /// Power-cycle the board once when its simulated clock reaches this many cycles (memories
    /// cleared, as when a real board is unplugged), to test a host's recovery
    #[arg(long)]
    power_cycle_at: Option<u64>,
}

#[derive(Args)]
struct ProbeArgs {
    /// Serial port of the board (e.g. /dev/ttyUSB1, or the path `lutna board --virtual` prints)
    #[arg(long)]
    port: String,
    #[arg(long, default_value_t = 3_000_000)]
    baud: u32,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct AnalyzeArgs {
    /// The .lutna model to analyze
    #[arg(long)]
    model: PathBuf,
    /// Folder of CIFAR-10 binary batches (test_batch.bin, and data_batch_*.bin for the search)
    #[arg(long)]
    data: PathBuf,
    /// Accuracy budget of the mixed plan, in top-1 points against exact
    #[arg(long, default_value_t = 1.0)]
    budget_pp: f64,
    /// Split the plan search is scored on (val = training images 45000..49999)
    #[arg(long, default_value = "val")]
    search_split: Split,
    /// Fraction of the budget the search may spend on the search split (leaves room for the gap
    /// between validation and test accuracy)
    #[arg(long, default_value_t = 0.5)]
    search_margin: f64,
    /// Use N images of the search split, spread over it (default: all)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    search_limit: Option<u32>,
    /// Use the first N test images (default: all)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    test_limit: Option<u32>,
    /// Output folder (default: analysis/<model stem>); replaced only when the run succeeds
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the report as JSON instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct DemoArgs {
    /// Model to run (default: the shipped iCEBreaker model)
    #[arg(long)]
    model: Option<PathBuf>,
    /// Folder of CIFAR-10 binary batches (default: the shipped sample)
    #[arg(long)]
    data: Option<PathBuf>,
    /// Images to run on the virtual board (default 10 on Verilator, 2 on RustHDL: about 40 s
    /// each on 2 cores)
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=100))]
    board_images: Option<u32>,
    /// Simulator of the virtual board: verilator (default when installed) or rusthdl
    #[arg(long)]
    sim: Option<lutna_sim::Simulator>,
}

#[derive(Args)]
struct ImportArgs {
    /// Float ONNX model: N x 3 x 32 x 32 raw pixels (0..255) in, logits out
    #[arg(long)]
    onnx: PathBuf,
    /// Folder of CIFAR-10 binary batches; calibration reads training images (data_batch_*) only
    #[arg(long)]
    calib: PathBuf,
    /// Number of training images used to calibrate activation ranges
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=45000))]
    calib_images: u32,
    /// Output .lutna file
    #[arg(short, long)]
    output: PathBuf,
    /// Model name stored in the file (default: the output file's stem)
    #[arg(long)]
    name: Option<String>,
    /// Print a JSON summary instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct EvalArgs {
    /// .lutna model file
    #[arg(long, required_unless_present = "onnx")]
    model: Option<PathBuf>,
    /// Evaluate a float ONNX model with tract instead (the reference the integer model is held to)
    #[arg(long, conflicts_with_all = ["model", "scheme", "plan"])]
    onnx: Option<PathBuf>,
    /// Folder of CIFAR-10 binary batches
    #[arg(long)]
    data: PathBuf,
    /// test (test_batch.bin), val (training images 45000..49999) or train (0..44999)
    #[arg(long, default_value = "test")]
    split: Split,
    /// Evaluate only the first N images of the split
    #[arg(long)]
    limit: Option<usize>,
    /// Multiplication scheme for every layer
    #[arg(long, conflicts_with = "plan", help = format!("Multiplication scheme for every layer: {}", Scheme::NAMES))]
    scheme: Option<Scheme>,
    /// Per-layer plan file (JSON) instead of one scheme
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct InfoArgs {
    /// .lutna model file
    #[arg(long)]
    model: PathBuf,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

fn progress(len: usize, msg: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap()
            .progress_chars("=> "),
    );
    pb.set_message(msg.to_string());
    pb
}

fn main() -> ExitCode {
    // `lutna info | head` should end quietly when the reader goes away, as Unix tools do,
    // instead of panicking on the closed pipe.
    #[cfg(unix)]
    // SAFETY: restores the default disposition of one signal before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Demo(a) => demo(a),
        Cmd::Import(a) => import(a),
        Cmd::Eval(a) => eval(a),
        Cmd::Info(a) => info(a),
        Cmd::Board(a) => board(a),
        Cmd::Probe(a) => probe(a),
        Cmd::Run(a) => run_on_board(a),
        Cmd::Build(a) => build::run(
            lutna_hw::build::BuildOptions {
                board: a.board,
                design: a.design,
                lanes: a.lanes,
                chunk_bits: a.chunk_bits,
                freq_mhz: a.freq,
                baud: a.baud,
                out: a.out,
            },
            a.json,
        ),
        Cmd::Prog(a) => build::prog(a.bitstream, a.sram),
        Cmd::Analyze(a) => analyze::run(analyze::Options {
            out: a
                .out
                .clone()
                .unwrap_or_else(|| analyze::default_out(&a.model)),
            model: a.model,
            data: a.data,
            budget_pp: a.budget_pp,
            search_split: a.search_split,
            search_margin: a.search_margin,
            search_limit: a.search_limit.map(|n| n as usize),
            test_limit: a.test_limit.map(|n| n as usize),
            json: a.json,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn import(a: ImportArgs) -> Result<()> {
    let imported = onnx::import_onnx(&a.onnx)?;
    for w in &imported.warnings {
        eprintln!("warning: {w}");
    }
    let train = cifar::load(&a.calib, Split::Train)
        .context("calibration needs the CIFAR-10 training batches (data_batch_1..5.bin)")?;
    let calib = train.spread(a.calib_images as usize);
    let pb = progress(calib.len(), "calibrating", a.json);
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
    let stats = model.layer_stats();
    let nonzero: usize = stats.iter().map(|s| s.nonzero).sum();
    let params: usize = stats.iter().map(|s| s.params).sum();
    if a.json {
        println!(
            "{}",
            json!({"model": name, "output": a.output, "layers": model.layers.len(),
                   "params": params, "nonzero": nonzero, "calib_images": calib.len(),
                   "warnings": imported.warnings})
        );
    } else {
        println!(
            "wrote {} ({} layers, {} of {} weights nonzero, calibrated on {} training images)",
            a.output.display(),
            model.layers.len(),
            nonzero,
            params,
            calib.len()
        );
    }
    Ok(())
}

struct EvalResult {
    images: usize,
    top1: f64,
    sha: String,
    images_per_s: f64,
}

fn run_eval(model: &Model, plan: &Plan, data: &cifar::Dataset, quiet: bool) -> Result<EvalResult> {
    let engine = Engine::new(model, plan)?;
    let pb = progress(data.len(), "evaluating", quiet);
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

fn load_split(dir: &Path, split: Split, limit: Option<usize>) -> Result<cifar::Dataset> {
    let mut data = cifar::load(dir, split)?;
    if let Some(n) = limit {
        if n == 0 {
            bail!("--limit 0 evaluates nothing; give a positive number of images");
        }
        data.truncate(n);
    }
    Ok(data)
}

fn eval_float(a: &EvalArgs, onnx_path: &Path) -> Result<()> {
    let data = load_split(&a.data, a.split, a.limit)?;
    let tract = lutna_core::reference::TractModel::load(onnx_path, 50)?;
    let t0 = Instant::now();
    let logits = tract.logits(&data)?;
    let ips = data.len() as f64 / t0.elapsed().as_secs_f64().max(1e-9);
    let top1 = lutna_core::reference::top1_f32(&logits, &data.labels);
    if a.json {
        println!(
            "{}",
            json!({"model": onnx_path, "scheme": "float", "runtime": "tract",
                   "split": a.split.to_string(), "images": data.len(), "top1": top1,
                   "images_per_s": ips})
        );
    } else {
        println!("model    {} (float, run by tract)", onnx_path.display());
        println!(
            "data     {} split of {}, {} images",
            a.split,
            a.data.display(),
            data.len()
        );
        println!("top-1    {:.2} %", 100.0 * top1);
        println!("speed    {ips:.0} images/s");
    }
    Ok(())
}

fn eval(a: EvalArgs) -> Result<()> {
    if let Some(p) = a.onnx.clone() {
        return eval_float(&a, &p);
    }
    let model_path = a.model.clone().expect("clap requires --model or --onnx");
    let model = Model::load(&model_path)?;
    let plan = match (&a.plan, a.scheme) {
        (Some(p), _) => Plan::load(p)?,
        (None, s) => Plan::uniform(s.unwrap_or(Scheme::Exact)),
    };
    let data = load_split(&a.data, a.split, a.limit)?;
    let r = run_eval(&model, &plan, &data, a.json)?;
    let scheme = plan.label(&model);
    if a.json {
        println!(
            "{}",
            json!({"model": model.name, "scheme": scheme, "split": a.split.to_string(),
                   "images": r.images, "top1": r.top1, "logits_sha256": r.sha,
                   "images_per_s": r.images_per_s})
        );
    } else {
        println!("model    {} ({})", model.name, model_path.display());
        println!(
            "data     {} split of {}, {} images",
            a.split,
            a.data.display(),
            r.images
        );
        println!("scheme   {scheme}");
        println!("top-1    {:.2} %", 100.0 * r.top1);
        println!("logits   sha256 {}", r.sha);
        println!("speed    {:.0} images/s", r.images_per_s);
    }
    Ok(())
}

fn info(a: InfoArgs) -> Result<()> {
    let model = Model::load(&a.model)?;
    let stats = model.layer_stats();
    let params: usize = stats.iter().map(|s| s.params).sum();
    let nonzero: usize = stats.iter().map(|s| s.nonzero).sum();
    let macs_dense: u64 = stats.iter().map(|s| s.macs_dense).sum();
    let macs_pruned: u64 = stats.iter().map(|s| s.macs_pruned).sum();
    if a.json {
        println!(
            "{}",
            json!({"name": model.name, "layers": stats, "params": params, "nonzero": nonzero,
                   "macs_dense": macs_dense, "macs_pruned": macs_pruned})
        );
        return Ok(());
    }
    println!("model {} ({})", model.name, a.model.display());
    println!(
        "{:>3}  {:<28} {:<8} {:>14} {:>7} {:>9} {:>9} {:>12} {:>12}",
        "#", "layer", "kind", "output", "kind", "params", "nonzero", "MACs dense", "MACs pruned"
    );
    for (i, s) in stats.iter().enumerate() {
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
        "total: {params} weights, {nonzero} nonzero ({:.1} % pruned); {macs_dense} MACs dense, \
         {macs_pruned} after pruning ({:.1} % fewer)",
        100.0 * (1.0 - nonzero as f64 / params.max(1) as f64),
        100.0 * (1.0 - macs_pruned as f64 / macs_dense.max(1) as f64)
    );
    Ok(())
}

/// Finds a shipped file whether lutna runs from the repository root or elsewhere in it.
fn shipped(rel: &str) -> Result<PathBuf> {
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

fn demo(a: DemoArgs) -> Result<()> {
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
    let stats = model.layer_stats();
    let macs_dense: u64 = stats.iter().map(|s| s.macs_dense).sum();
    let macs_pruned: u64 = stats.iter().map(|s| s.macs_pruned).sum();
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
    let sim = a.sim.unwrap_or_else(lutna_sim::Simulator::best_available);
    let board_images = a.board_images.unwrap_or(match sim {
        lutna_sim::Simulator::Verilator => 10,
        lutna_sim::Simulator::RustHdl => 2,
    });
    if board_images == 0 {
        return Ok(());
    }
    if sim == lutna_sim::Simulator::Verilator {
        println!("\n  Building the virtual board with Verilator (cached after the first time)...");
    }
    let vb = lutna_sim::VirtualBoard::spawn_with(8, None, sim, None)?;
    println!(
        "\n  On the virtual board ({}, simulated by {}), the first {} sample images:",
        vb.path, vb.simulator, board_images
    );
    let report = run::run(run::Options {
        port: vb.path.clone(),
        baud: 3_000_000,
        model: model_path.clone(),
        data: data_dir.clone(),
        split: Split::Test,
        limit: Some(board_images as usize),
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

fn board(a: BoardArgs) -> Result<()> {
    if !(0.0..1.0).contains(&a.fault_rate) {
        bail!(
            "--fault-rate {} is out of range: give a probability per byte in [0, 1), e.g. 0.001",
            a.fault_rate
        );
    }
    let faults = (a.fault_rate > 0.0).then_some(lutna_sim::Faults {
        rate: a.fault_rate,
        seed: a.seed,
    });
    let sim = a.sim.unwrap_or_else(lutna_sim::Simulator::best_available);
    let vb = lutna_sim::VirtualBoard::spawn_power_cycling(
        a.lanes,
        faults,
        sim,
        a.vcd.as_deref(),
        a.power_cycle_at,
    )?;
    // The first line is the device path, alone, so scripts can read it.
    println!("{}", vb.path);
    use std::io::Write as _;
    std::io::stdout().flush()?;
    eprintln!(
        "virtual board: {} lanes on {}, UART at {} clocks per bit, fault rate {}; serving until stopped (Ctrl-C)",
        a.lanes,
        vb.simulator,
        lutna_sim::CLOCKS_PER_BIT,
        a.fault_rate
    );
    let mut last = vb.stats();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(10));
        let s = vb.stats();
        if s.cycles != last.cycles {
            eprintln!(
                "  {} cycles simulated ({:.0} cycles/s while busy), {} bytes in, {} out, {} faults injected",
                s.cycles,
                s.cycles_per_second(),
                s.bytes_in,
                s.bytes_out,
                s.faults_injected
            );
        }
        last = s;
    }
}

fn run_on_board(a: RunArgs) -> Result<()> {
    let json = a.json;
    let report = run::run(run::Options {
        port: a.port,
        baud: a.baud,
        model: a.model,
        data: a.data,
        split: a.split,
        limit: a.limit.map(|n| n as usize),
        plan: a.plan,
        param_words: a.param_words.map(|n| n as usize),
        json,
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        run::print(&report);
    }
    if report.mismatches > 0 {
        bail!(
            "{} of {} images differ from the golden engine: the board's results are wrong",
            report.mismatches,
            report.images
        );
    }
    Ok(())
}

fn probe(a: ProbeArgs) -> Result<()> {
    let mut link = lutna_sim::client::Link::open(&a.port, a.baud)?;
    let id = link.identify()?;
    if a.json {
        println!(
            "{}",
            json!({"port": a.port, "version": id.version, "lanes": id.lanes,
                   "chunk_bits": id.chunk_bits, "modes": id.modes, "spram_bytes": id.spram_bytes,
                   "bram_bytes": id.bram_bytes, "clock_hz": id.clock_hz,
                   "max_payload": id.max_payload, "param_words": id.param_words,
                   "activation_bytes": id.activation_bytes,
                   "retransmissions": link.stats.retransmissions})
        );
    } else {
        println!("board on {}: lutna protocol version {}", a.port, id.version);
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
    }
    Ok(())
}
