//! `lutna`: the command-line front of the lutna look-up-table neural accelerator.
//!
//! This crate owns the user's side: argument parsing, progress bars, human and JSON reports. Each
//! subcommand is one module of [`cmd`] with its arguments and its `run`; the work itself lives in
//! the library crates (`lutna-core`, `lutna-onnx`, `lutna-hw`, `lutna-link`, `lutna-sim`).

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd;
mod progress;

#[derive(Parser)]
#[command(
    name = "lutna",
    version,
    about = "Look-up-table neural accelerator for iCE40 FPGAs: import, evaluate and analyze \
             CIFAR-10 CNNs whose multiplications are table reads (LUT-NA)",
    long_about = "lutna turns a trained, pruned CIFAR-10 CNN (ONNX) into a quantized .lutna model \
                  whose multiplications are reads of small precomputed tables (LUT-NA, after \
                  arXiv 2406.05282), runs it bit-exactly in software and on the accelerator \
                  (a real iCEBreaker or the virtual board).\n\n\
                  Typical flow (DATA: a folder of CIFAR-10 binary batches):\n  \
                  lutna import --onnx net.onnx --calib DATA -o net.lutna\n  \
                  lutna info   --model net.lutna\n  \
                  lutna eval   --model net.lutna --data DATA --scheme lutna\n\n\
                  Start with `lutna demo` to see it on the shipped model and sample images."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the pipeline on the shipped iCEBreaker model and sample images
    Demo(cmd::demo::DemoArgs),
    /// Quantize a float ONNX model into a .lutna model
    Import(cmd::import::ImportArgs),
    /// Bit-exact integer accuracy of a .lutna model under a scheme or per-layer plan
    Eval(cmd::eval::EvalArgs),
    /// Layers, sizes, sparsity and MAC counts of a .lutna model
    Info(cmd::info::InfoArgs),
    /// Area and energy per inference of every scheme, and mixed LUT-NA / A-LUT-NA plans
    Analyze(cmd::analyze::AnalyzeArgs),
    /// Serve a virtual board (the board top's RTL, simulated) on a pseudo-terminal
    Board(cmd::board::BoardArgs),
    /// Ask the board on a serial port what it is (IDENTIFY)
    Probe(cmd::probe::ProbeArgs),
    /// Run a model on a board (real or virtual) over its serial port, checking every result
    /// against the golden engine
    Run(cmd::run::RunArgs),
    /// Build a bitstream with the open toolchain (yosys, nextpnr-ice40, icepack) and report
    /// resources and timing
    Build(cmd::build::BuildArgs),
    /// Flash a built bitstream onto a board with iceprog
    Prog(cmd::prog::ProgArgs),
}

fn main() -> ExitCode {
    // `lutna info | head` should end quietly when the reader goes away, as Unix tools do,
    // instead of panicking on the closed pipe.
    #[cfg(unix)]
    // SAFETY: restores the default disposition of one signal before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let result = match Cli::parse().cmd {
        Cmd::Demo(a) => cmd::demo::run(a),
        Cmd::Import(a) => cmd::import::run(a),
        Cmd::Eval(a) => cmd::eval::run(a),
        Cmd::Info(a) => cmd::info::run(a),
        Cmd::Analyze(a) => cmd::analyze::run(a),
        Cmd::Board(a) => cmd::board::run(a),
        Cmd::Probe(a) => cmd::probe::run(a),
        Cmd::Run(a) => cmd::run::run(a),
        Cmd::Build(a) => cmd::build::run(a),
        Cmd::Prog(a) => cmd::prog::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
