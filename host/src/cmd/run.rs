//! `lutna run`: the on-board benchmark. Identifies the board, compiles the model for its lanes
//! into the instruction stream of docs/engine.md, loads the program over the link (once when
//! it fits the board's program memory, else segment by segment for every image), streams the
//! images, and checks every logit the board returns against the golden
//! engine, bit for bit. The board may be a real iCEBreaker or the virtual one (`lutna board
//! --virtual`): this code only sees a serial port.

use super::{DataArgs, PortArgs};
use crate::progress;
use anyhow::{bail, Context, Result};
use clap::Args;
use lutna_core::accel::{AccelConfig, MapPlace};
use lutna_core::cifar::Dataset;
use lutna_core::engine::{argmax, Activation, Engine};
use lutna_core::protocol::{Identity, Region, VERSION};
use lutna_core::{Model, Plan, Scheme};
use lutna_link::Link;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub port: PortArgs,
    /// The .lutna model to run
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Stream the program in segments of at most N parameter words (layers cut by output
    /// channels where needed) even if it fits the board: rehearses a board with a small program
    /// buffer. Default: the board's whole parameter memory, streaming only what does not fit
    #[arg(long, value_parser = clap::value_parser!(u32).range(128..=65536))]
    pub param_words: Option<u32>,
    /// Per-layer plan file (JSON, as `lutna analyze` writes); default LUT-NA on every layer
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Print the report as JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// What a run measured. Field names are read by scripts.
#[derive(Debug, Serialize)]
pub struct Report {
    pub model: String,
    pub port: String,
    pub lanes: u8,
    pub plan: String,
    pub images: usize,
    /// Top-1 accuracy of the board's logits, 0..1.
    pub top1: f64,
    /// Images whose logits differ from the golden engine's in any bit.
    pub mismatches: usize,
    pub first_mismatch: Option<String>,
    pub images_per_s: f64,
    pub retransmissions: u64,
    /// Times the program was loaded again because the board had been reset or power-cycled.
    pub program_reloads: usize,
    /// "resident" (loaded once) or "streamed" (loaded segment by segment for every image).
    pub weights: &'static str,
    /// Programs each image runs as (1 when resident).
    pub segments: usize,
    pub cycles_per_image: f64,
    /// The cycle model's prediction for one image (`lutna_core::accel`).
    pub predicted_cycles_per_image: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Payload bytes over frame bytes, both directions.
    pub link_efficiency: f64,
    /// Seconds spent loading the program, moving images and logits (link), and waiting for runs
    /// (compute).
    pub program_load_s: f64,
    pub link_s: f64,
    pub compute_s: f64,
}

/// On a mismatch: compares every tensor still intact in activation memory with the golden
/// engine's dump and names the first element that differs.
fn diagnose(link: &mut Link, job: &Job, model: &Model, dumps: &[Activation]) -> Result<String> {
    let (cfg, places) = (&job.cfg, &job.places);
    // A tensor is still intact if no tensor produced after it overlaps its span.
    let span = |t: usize| {
        let p = &places[t];
        (p.base, p.base + p.words())
    };
    for (t, dump) in dumps.iter().enumerate().skip(1) {
        if model.tensors[t].kind == lutna_core::model::TensorKind::Logits {
            continue;
        }
        let (b, e) = span(t);
        let overwritten = (t + 1..model.tensors.len()).any(|u| {
            let (bu, eu) = span(u);
            model.tensors[u].kind != lutna_core::model::TensorKind::Logits && bu < e && b < eu
        });
        if overwritten {
            continue;
        }
        let place = &places[t];
        let (address, want_bytes) = {
            let golden: Vec<u8> = match dump {
                Activation::U8(a) => a.iter().copied().collect(),
                // Activation memory keeps i8 maps offset by 128.
                Activation::I8(a) => a.iter().map(|&v| v as u8 ^ 0x80).collect(),
                Activation::Logits(_) => continue,
            };
            (place.linear(cfg, &golden).0, golden)
        };
        let raw = link.read(Region::Activations, address, place.words() * cfg.lanes)?;
        let got = place.from_linear(cfg, &raw);
        if let Some(i) = got.iter().zip(&want_bytes).position(|(g, w)| g != w) {
            let [_, h, w] = place.shape;
            return Ok(format!(
                "layer {} ('{}'): first difference at channel {}, row {}, column {} (board {}, \
                 golden {})",
                t - 1,
                model.layers[t - 1].name,
                i / (h * w),
                i / w % h,
                i % w,
                got[i],
                want_bytes[i]
            ));
        }
    }
    Ok(
        "every intermediate tensor still in memory matches; the difference is in a layer whose \
        output was overwritten, or in the logits layer"
            .into(),
    )
}

/// Whether the board's parameter memory still starts with `program`'s first 64 bytes (after a
/// reset or power cycle it does not).
fn holds(link: &mut Link, program: &[u8]) -> Result<bool> {
    let n = 64.min(program.len());
    Ok(link.read(Region::Params, 0, n)? == program[..n])
}

/// A pattern in the last word of every activation bank, which no map of the program uses:
/// written after each program load, checked after each image. A board that was reset or
/// power-cycled at any point of the image has lost it. (A streamed program loads every segment
/// again for each image, so the parameters alone cannot tell.) None when the maps fill the banks.
struct Canary {
    address: u32,
    bytes: Vec<u8>,
}

impl Canary {
    fn new(cfg: &AccelConfig, places: &[MapPlace]) -> Option<Canary> {
        let used = places.iter().map(|p| p.base + p.words()).max().unwrap_or(0);
        (used < cfg.bank_words).then(|| Canary {
            address: ((cfg.bank_words - 1) * cfg.lanes) as u32,
            bytes: (0..cfg.lanes)
                .map(|i| 0xA5 ^ (i as u8).wrapping_mul(37))
                .collect(),
        })
    }

    fn write(canary: &Option<Canary>, link: &mut Link) -> Result<()> {
        if let Some(c) = canary {
            link.load(Region::Activations, c.address, &c.bytes, |_| {})?;
        }
        Ok(())
    }

    fn intact(canary: &Option<Canary>, link: &mut Link) -> Result<bool> {
        Ok(match canary {
            Some(c) => link.read(Region::Activations, c.address, c.bytes.len())? == c.bytes,
            None => true,
        })
    }
}

/// The model compiled for the board's program format: what the image loop needs.
struct Job {
    cfg: AccelConfig,
    /// Place of every tensor (`places[0]` the image).
    places: Vec<MapPlace>,
    /// The program as region-0 bytes, one entry per segment (one when it fits the board).
    segment_bytes: Vec<Vec<u8>>,
    /// Parameter words of the whole program, and the most a segment holds.
    program_words: usize,
    segment_words: usize,
    /// The cycle model's cycles for one image.
    predicted: u64,
}

/// The program (docs/engine.md) for the board: cut into segments of its program memory, each
/// ending in `END` (one segment when it fits: loaded once).
fn compile_job(id: &Identity, model: &Model, plan: &Plan, o: &RunArgs) -> Result<Job> {
    use lutna_core::isa::encode;
    if id.version != VERSION {
        bail!(
            "the board speaks lutna protocol version {}, this host version {VERSION}: build and \
             flash the bitstream from this release (`lutna build`, `lutna prog`)",
            id.version
        );
    }
    if id.chunk_bits != 4 || id.modes & 0b111 != 0b111 {
        bail!(
            "the board's lanes ({}-bit chunks, modes {:03b}) are not the engine's (4-bit \
             chunks, all three lane modes): build and flash the bitstream from this release \
             (`lutna build`)",
            id.chunk_bits,
            id.modes
        );
    }
    let cfg = AccelConfig::new(id.lanes as usize)
        .with_context(|| format!("the board reports {} lanes", id.lanes))?;
    let compiled = lutna_core::compile::compile(&cfg, model, plan)?;
    let buffer = id.param_words as usize;
    let words = match o.param_words.map(|n| n as usize) {
        Some(n) if n > buffer => {
            bail!("--param-words {n} is more than the board's {buffer}-word program memory")
        }
        Some(n) => n,
        None => buffer,
    };
    let segs = compiled.segments(words);
    let (_, predicted) = lutna_core::cycles::of_segments(&segs, cfg.lanes);
    Ok(Job {
        predicted,
        segment_bytes: segs
            .iter()
            .map(|s| encode(s).iter().flat_map(|w| w.to_le_bytes()).collect())
            .collect(),
        program_words: compiled.words().len(),
        segment_words: words,
        places: compiled.places,
        cfg,
    })
}

/// Program reloads (after a board reset or power cycle) a run tolerates before it gives up.
const MAX_RELOADS: usize = 3;

/// `lutna run`: runs the model on the board, prints the report, and fails on any mismatch.
pub fn run(a: RunArgs) -> Result<()> {
    let report = run_on_board(&a)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report);
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

/// Runs the model on the board behind `o.port` and checks every image (also `lutna demo`'s).
pub fn run_on_board(o: &RunArgs) -> Result<Report> {
    let model = Model::load(&o.model)?;
    let plan = match &o.plan {
        Some(p) => Plan::load(p)?,
        None => Plan::uniform(Scheme::LUTNA),
    };
    let data: Dataset = o.data.load()?;
    let mut link = o.port.open()?;
    let id = link
        .identify()
        .context("the board did not identify itself")?;
    let job = compile_job(&id, &model, &plan, o)?;
    let cfg = &job.cfg;
    let segment_bytes = &job.segment_bytes;
    let streamed = segment_bytes.len() > 1;
    let golden = Engine::new(&model, &plan)?;
    let predicted = job.predicted;
    let bar = |len: u64, msg: &str| progress::bar(len, msg, o.json);

    // Resident: the program is loaded once. Streamed: each image loads every segment before
    // running it; the last segment stays loaded.
    let t0 = Instant::now();
    let params = segment_bytes
        .last()
        .expect("a program has a segment")
        .clone();
    if streamed && !o.json {
        eprintln!(
            "the program needs {} parameter words, segments hold {}: streaming it in {} segments per image",
            job.program_words,
            job.segment_words,
            segment_bytes.len()
        );
    }
    let pb = bar(params.len() as u64, "program");
    link.load(Region::Params, 0, &params, |n| pb.set_position(n as u64))?;
    pb.finish_and_clear();
    if !holds(&mut link, &params)? {
        bail!("the program read back from the board differs from what was loaded: the board's memory or link is faulty");
    }
    let canary = Canary::new(cfg, &job.places);
    Canary::write(&canary, &mut link)?;
    let program_load_s = t0.elapsed().as_secs_f64();

    let pb = bar(data.len() as u64, "images");
    let (mut correct, mut mismatches, mut first_mismatch) = (0, 0, None);
    let (mut link_s, mut compute_s, mut cycles) = (0.0, 0.0, 0u64);
    let t_images = Instant::now();
    let mut reloads = 0;
    for i in 0..data.len() {
        let image = data.image(i);
        let (address, bytes) = job.places[0].linear(cfg, image);
        // One image: load, run, read back. A board that was reset or power-cycled meanwhile
        // (its run stops, or its memory no longer holds the program) gets the program again and
        // the image is rerun, so no result comes from a board that lost its program.
        let (logits, run_cycles) = loop {
            let t = Instant::now();
            let attempt = (|| -> Result<_> {
                link.load(Region::Activations, address, &bytes, |_| {})?;
                let mut run_s = 0.0;
                for (k, seg) in segment_bytes.iter().enumerate() {
                    if streamed {
                        // A segment continues where the one before stopped: run on a board
                        // that was reset or power-cycled since the image was loaded, it would
                        // start in the middle of the program from a fresh engine (which can
                        // wait forever). The canary, checked after the segment is loaded and
                        // before RUN, tells: a board that loses its memory after the check
                        // runs an empty buffer, which ends at once. Without a canary, the
                        // previous segment read back before loading serves, less tightly.
                        if canary.is_none() && k > 0 && !holds(&mut link, &segment_bytes[k - 1])? {
                            return Ok((Vec::new(), 0, false, run_s));
                        }
                        link.load(Region::Params, 0, seg, |_| {})?;
                        if !Canary::intact(&canary, &mut link)? {
                            return Ok((Vec::new(), 0, false, run_s));
                        }
                    }
                    let t_run = Instant::now();
                    link.run(Duration::from_secs(120))?;
                    run_s += t_run.elapsed().as_secs_f64();
                }
                // READ_COUNTERS's cycles run from LOAD_IMAGE over every segment.
                let run_cycles = link.counters()?.run_cycles as u64;
                let logits = link.logits()?;
                let intact = holds(&mut link, &params)? && Canary::intact(&canary, &mut link)?;
                Ok((logits, run_cycles, intact, run_s))
            })();
            let failure = match attempt {
                Ok((logits, run_cycles, true, run_s)) => {
                    link_s += t.elapsed().as_secs_f64() - run_s;
                    compute_s += run_s;
                    break (logits, run_cycles);
                }
                Ok(_) => anyhow::anyhow!("the board no longer holds the program"),
                Err(e) => e,
            };
            reloads += 1;
            if reloads > MAX_RELOADS {
                return Err(failure.context(format!(
                    "image {i}: the board lost its program or its run {MAX_RELOADS} times; \
                     check the board's power and reset line, then run again"
                )));
            }
            pb.println(format!(
                "image {i}: {failure:#}; the board was reset or power-cycled: loading the program \
                 again and rerunning the image"
            ));
            // Whatever it was running (a segment on a board that lost the ones before) stops.
            link.reset(Duration::from_secs(5))?;
            if !streamed {
                link.load(Region::Params, 0, &params, |_| {})?;
            }
            Canary::write(&canary, &mut link)?;
        };
        cycles += run_cycles;
        let want = golden.run(image);
        let n = want.len();
        if logits[..n] != want[..] {
            mismatches += 1;
            if first_mismatch.is_none() {
                let dumps = golden.run_dumps(image);
                let where_ = diagnose(&mut link, &job, &model, &dumps)?;
                first_mismatch = Some(format!("image {i}: {where_}"));
            }
        }
        if argmax(&logits[..n]) == data.labels[i] as usize {
            correct += 1;
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let images = data.len();
    let elapsed = t_images.elapsed().as_secs_f64();
    let s = link.stats;
    let plan_label = match &o.plan {
        Some(p) => p.display().to_string(),
        None => "lutna (every layer)".into(),
    };
    Ok(Report {
        model: model.name.clone(),
        port: o.port.port.clone(),
        lanes: id.lanes,
        plan: plan_label,
        images,
        top1: correct as f64 / images.max(1) as f64,
        mismatches,
        first_mismatch,
        images_per_s: images as f64 / elapsed.max(1e-9),
        retransmissions: s.retransmissions,
        program_reloads: reloads,
        weights: if streamed { "streamed" } else { "resident" },
        segments: segment_bytes.len(),
        cycles_per_image: cycles as f64 / images.max(1) as f64,
        predicted_cycles_per_image: predicted,
        bytes_sent: s.bytes_sent,
        bytes_received: s.bytes_received,
        link_efficiency: s.efficiency(),
        program_load_s,
        link_s,
        compute_s,
    })
}

/// The human-readable report.
pub fn print(r: &Report) {
    println!(
        "{} on {} ({} lanes), plan {}",
        r.model, r.port, r.lanes, r.plan
    );
    println!(
        "  images {}, top-1 {:.2} %, mismatches against the golden engine: {}",
        r.images,
        100.0 * r.top1,
        r.mismatches
    );
    if let Some(m) = &r.first_mismatch {
        println!("  first mismatch: {m}");
    }
    println!(
        "  {:.3} images/s; board cycles per image {:.0} (cycle model {})",
        r.images_per_s, r.cycles_per_image, r.predicted_cycles_per_image
    );
    println!(
        "  link: {} bytes sent, {} received, efficiency {:.1} %, {} retransmissions",
        r.bytes_sent,
        r.bytes_received,
        100.0 * r.link_efficiency,
        r.retransmissions
    );
    if r.weights == "streamed" {
        println!(
            "  weights streamed: {} program segments loaded and run per image",
            r.segments
        );
    }
    if r.program_reloads > 0 {
        println!(
            "  the board was reset or power-cycled: program loaded again {} times",
            r.program_reloads
        );
    }
    println!(
        "  time: program load {:.1} s; per run, link {:.1} s and compute {:.1} s in all",
        r.program_load_s, r.link_s, r.compute_s
    );
}
