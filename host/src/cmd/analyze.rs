//! `lutna analyze`: area and energy per inference of every arithmetic scheme, and the
//! mixed-precision plans, for one model (the paper's central analysis, from our own measurements).
//!
//! Unit costs come from `lutna_hw::cost`: the gate-level view (transistors and switching energy
//! of each lane's gate netlist, simulated on this model's own weights and activations, plus an
//! SRAM model for the tables) and the FPGA view (each lane packed for the UP5K). Per-inference
//! figures follow the paper's accounting: nonzero MACs per layer times the per-MAC energy of the
//! layer's scheme, plus one table fill per nonzero weight (the weight-broadcast dataflow programs
//! each weight's table once per image). Accuracy is the golden engine's, bit-exact with the
//! hardware. Constants and their sources: docs/cost-model.md.

use crate::progress;
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::ProgressBar;
use lutna_core::cifar::{self, Dataset, Split};
use lutna_core::engine::{summarize, Activation, Engine};
use lutna_core::{Model, Plan, Scheme};
use lutna_hw::cost::gatesim::Timing;
use lutna_hw::cost::{self, EnergyModel, FpgaCost, GateCost, OperandStream, UnitKind};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct AnalyzeArgs {
    /// The .lutna model to analyze
    #[arg(long)]
    pub model: PathBuf,
    /// Folder of CIFAR-10 binary batches (test_batch.bin, and data_batch_*.bin for the search)
    #[arg(long)]
    pub data: PathBuf,
    /// Accuracy budget of the mixed plan, in top-1 points against exact
    #[arg(long, default_value_t = 1.0)]
    pub budget_pp: f64,
    /// Split the plan search is scored on (val = training images 45000..49999)
    #[arg(long, default_value = "val")]
    pub search_split: Split,
    /// Fraction of the budget the search may spend on the search split (leaves room for the gap
    /// between validation and test accuracy)
    #[arg(long, default_value_t = 0.5)]
    pub search_margin: f64,
    /// Use N images of the search split, spread over it (default: all)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub search_limit: Option<u32>,
    /// Use the first N test images (default: all)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub test_limit: Option<u32>,
    /// Output folder (default: analysis/<model stem>); replaced only when the run succeeds
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the report as JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// Gate delays of the timed simulation behind `energy_pj_glitch` (docs/cost-model.md):
    /// logical effort per gate kind and load, or one unit per gate
    #[arg(long, value_enum, default_value_t = GlitchDelay::LogicalEffort)]
    pub glitch_delay: GlitchDelay,
}

/// The timed simulation's delay model (`--glitch-delay`).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum GlitchDelay {
    LogicalEffort,
    Unit,
}

impl GlitchDelay {
    fn timing(self) -> Timing {
        match self {
            GlitchDelay::LogicalEffort => Timing::LogicalEffort,
            GlitchDelay::Unit => Timing::UnitDelay,
        }
    }
}

/// The schemes reported, with the unit whose costs they carry. `exact` is the reference
/// arithmetic on an array multiplier.
const SCHEMES: [(&str, &str); 7] = [
    ("exact", "array"),
    ("tlut", "tlut"),
    ("lutna", "lutna"),
    ("alutna", "alutna"),
    ("alutna-c", "alutna-c"),
    ("array", "array"),
    ("wallace", "wallace"),
];

struct Units {
    gate: BTreeMap<&'static str, GateCost>,
    fpga: BTreeMap<&'static str, FpgaCost>,
    energy: EnergyModel,
}

/// One multiplying layer's share of the work.
struct LayerWork {
    index: usize,
    name: String,
    macs_dense: u64,
    macs: u64,
    fills: u64,
}

fn top1(model: &Model, plan: &Plan, data: &Dataset) -> Result<f64> {
    let engine = Engine::new(model, plan)?;
    let logits = engine.run_all(data, |_| {});
    Ok(summarize(&logits, &data.labels).0)
}

fn bar(len: usize, what: &str, quiet: bool) -> ProgressBar {
    progress::bar(len as u64, what, quiet)
}

/// Operands for the gate-level energy runs: nonzero weights of every multiplying layer (more from
/// the layers with more MACs) with the activations they meet in a sweep of their input channel.
fn operand_stream(model: &Model, work: &[LayerWork], images: &Dataset) -> Result<OperandStream> {
    const JOBS: usize = 96;
    const SWEEP: usize = 64;
    let engine = Engine::new(model, &Plan::uniform(Scheme::Exact))?;
    let dumps: Vec<Vec<Activation>> = (0..images.len().min(2))
        .map(|i| engine.run_dumps(images.image(i)))
        .collect();
    let total: u64 = work.iter().map(|w| w.macs).sum::<u64>().max(1);
    let mut stream = OperandStream::default();
    for (k, w) in work.iter().enumerate() {
        let layer = &model.layers[w.index];
        let conv = layer.op.conv().unwrap();
        let n = ((JOBS as u64 * w.macs).div_ceil(total)).max(1) as usize;
        let nonzero = conv.weights.nonzero();
        if nonzero == 0 {
            continue;
        }
        let taps = conv.kernel[0] * conv.kernel[1];
        let all: Vec<(usize, u32, i16)> = (0..conv.out_ch)
            .flat_map(|o| conv.weights.row(o).map(move |(i, v)| (o, i, v)))
            .collect();
        for j in 0..n.min(nonzero) {
            let (_, idx, value) = all[j * nonzero / n.min(nonzero)];
            let ic = idx as usize / taps;
            let dump = &dumps[(k + j) % dumps.len()][layer.inputs[0]];
            let Activation::U8(map) = dump else {
                continue;
            };
            let acts: Vec<u8> = map
                .index_axis(ndarray::Axis(0), ic)
                .iter()
                .take(SWEEP)
                .copied()
                .collect();
            stream.jobs.push((value, acts));
        }
    }
    if stream.jobs.is_empty() {
        bail!(
            "model '{}' has no nonzero weights on u8 inputs to simulate",
            model.name
        );
    }
    Ok(stream)
}

fn measure_units(
    model: &Model,
    work: &[LayerWork],
    images: &Dataset,
    timing: Timing,
    quiet: bool,
) -> Result<Units> {
    let pb = bar(UnitKind::ALL.len() + 8, "unit costs (yosys)", quiet);
    let energy = EnergyModel::calibrated_with(timing)?;
    pb.inc(1);
    let stream = operand_stream(model, work, images)?;
    let mut gate = BTreeMap::new();
    for u in UnitKind::ALL {
        gate.insert(u.name(), cost::measure(u, &stream, &energy)?);
        pb.inc(1);
    }
    let mut fpga = BTreeMap::new();
    for name in [
        "tlut", "lutna", "alutna", "alutna-c", "array", "wallace", "dsp",
    ] {
        fpga.insert(name, cost::fpga_cost(name)?);
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(Units { gate, fpga, energy })
}

/// Energy per inference (pJ) when layer i runs on unit `units_of[i]`: from the zero-delay
/// simulation, or from the timed one (`glitch`: glitches counted).
fn energy_pj(units: &Units, work: &[LayerWork], unit_of: &[&str], glitch: bool) -> f64 {
    work.iter()
        .zip(unit_of)
        .map(|(w, u)| {
            let g = &units.gate[u];
            let (mac, fill) = if glitch {
                (g.energy_per_mac_pj_glitch, g.energy_per_fill_pj_glitch)
            } else {
                (g.energy_per_mac_pj, g.energy_per_fill_pj)
            };
            w.macs as f64 * mac + w.fills as f64 * fill
        })
        .sum()
}

/// The lane a plan needs: all-approximate plans fit the A-LUT-NA-only lane; anything with an
/// exact LUT-NA layer needs the runtime-mode lane (one bitstream for the whole plan).
fn plan_lane(schemes: &[Scheme]) -> &'static str {
    if schemes.iter().all(|s| !s.is_exact()) {
        "alutna"
    } else {
        "lutna"
    }
}

/// The unit a scheme's layers run on: the `SCHEMES` table's answer (so the mapping lives once).
fn unit_of(s: Scheme) -> &'static str {
    let name = s.to_string();
    SCHEMES
        .iter()
        .find(|(scheme, _)| *scheme == name)
        .map_or("lutna", |(_, unit)| *unit)
}

fn plan_from(model: &Model, work: &[LayerWork], schemes: &[Scheme]) -> Plan {
    let mut plan = Plan::uniform(Scheme::LUTNA);
    plan.model = Some(model.name.clone());
    for (w, &s) in work.iter().zip(schemes) {
        if s != Scheme::LUTNA {
            plan.layers.insert(w.name.clone(), s);
        }
    }
    plan
}

struct PlanResult {
    name: &'static str,
    schemes: Vec<Scheme>,
    top1: f64,
    search_top1: f64,
}

fn plan_json(units: &Units, work: &[LayerWork], p: &PlanResult) -> Value {
    let unit_names: Vec<&str> = p.schemes.iter().map(|&s| unit_of(s)).collect();
    let lane = plan_lane(&p.schemes);
    let macs: u64 = work.iter().map(|w| w.macs).sum::<u64>().max(1);
    let weighted_area: f64 = work
        .iter()
        .zip(&unit_names)
        .map(|(w, u)| w.macs as f64 * units.gate[u].area_transistors as f64)
        .sum::<f64>()
        / macs as f64;
    json!({
        "top1": p.top1,
        "search_top1": p.search_top1,
        "energy_pj": energy_pj(units, work, &unit_names, false),
        "energy_pj_glitch": energy_pj(units, work, &unit_names, true),
        "area_transistors": units.gate[lane].area_transistors,
        "area_transistors_mac_weighted": weighted_area,
        "fpga_logic_cells": units.fpga[lane].logic_cells,
        "lane": lane,
        "layers": p.schemes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "layer_names": work.iter().map(|w| w.name.clone()).collect::<Vec<_>>(),
    })
}

pub fn run(o: AnalyzeArgs) -> Result<()> {
    let out = o.out.clone().unwrap_or_else(|| default_out(&o.model));
    let model = Model::load(&o.model)?;
    if !(0.0..=100.0).contains(&o.budget_pp) {
        bail!("--budget-pp {} is out of range: give an accuracy budget in points between 0 and 100 (default 1.0)", o.budget_pp);
    }
    if !(0.0..=1.0).contains(&o.search_margin) || o.search_margin == 0.0 {
        bail!("--search-margin {} is out of range: give a fraction in (0, 1] of the budget the search may spend on the search split", o.search_margin);
    }
    let mut test = cifar::load(&o.data, Split::Test)?;
    if let Some(n) = o.test_limit {
        test.truncate(n as usize);
    }
    let mut search = cifar::load(&o.data, o.search_split).with_context(|| {
        format!(
            "the mixed-precision search reads the {} split; {} lacks it (the validation split is \
             images 45000..49999 of data_batch_1..5.bin: point --data at a full CIFAR-10 folder, \
             or pass --search-split test to search on test images for a demonstration)",
            o.search_split,
            o.data.display()
        )
    })?;
    if let Some(n) = o.search_limit {
        search = search.spread(n as usize);
    }
    let warn_test_search = o.search_split == Split::Test;
    let quiet = o.json;
    let stats = model.layer_stats();
    let work: Vec<LayerWork> = model
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.op.conv().is_some())
        .map(|(i, l)| LayerWork {
            index: i,
            name: l.name.clone(),
            macs_dense: stats[i].macs_dense,
            macs: stats[i].macs_pruned,
            fills: stats[i].nonzero as u64,
        })
        .collect();
    if work.is_empty() {
        bail!(
            "model '{}' has no conv or linear layers to analyze",
            model.name
        );
    }

    let units = measure_units(&model, &work, &search, o.glitch_delay.timing(), quiet)?;

    // Accuracy of every uniform scheme on the test set.
    let pb = bar(5, "test accuracy", quiet);
    let mut test_top1 = BTreeMap::new();
    for s in [
        Scheme::Exact,
        Scheme::TLUT,
        Scheme::LUTNA,
        Scheme::ALUTNA,
        Scheme::ALUTNA_C,
    ] {
        test_top1.insert(s.to_string(), top1(&model, &Plan::uniform(s), &test)?);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let exact_test = test_top1["exact"];
    let mut schemes = serde_json::Map::new();
    for (name, unit) in SCHEMES {
        let acc = test_top1
            .get(name)
            .copied()
            .unwrap_or(exact_test /* array, wallace: exact arithmetic */);
        let units_of = vec![unit; work.len()];
        schemes.insert(
            name.into(),
            json!({
                "top1": acc,
                "energy_pj": energy_pj(&units, &work, &units_of, false),
                "energy_pj_glitch": energy_pj(&units, &work, &units_of, true),
                "area_transistors": units.gate[unit].area_transistors,
                "fpga_logic_cells": units.fpga[unit].logic_cells,
                "unit": unit,
            }),
        );
    }

    // (a) The paper's rule as we read it: A-LUT-NA where the MACs are (layers holding at least an
    // average share of the pruned MACs), LUT-NA on the first and last multiplying layers and on
    // the light ones.
    let total: u64 = work.iter().map(|w| w.macs).sum::<u64>().max(1);
    let paper: Vec<Scheme> = work
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let heavy = w.macs as f64 * work.len() as f64 >= total as f64;
            if heavy && i != 0 && i + 1 != work.len() {
                Scheme::ALUTNA
            } else {
                Scheme::LUTNA
            }
        })
        .collect();

    // (b) Our search: each layer's accuracy drop alone on A-LUT-NA per unit of energy saved,
    // then greedy in that order over the layers whose own drop is within the target, keeping a
    // layer only while the whole plan stays within the target on the search split.
    let exact_search = top1(&model, &Plan::uniform(Scheme::Exact), &search)?;
    let target_pp = o.budget_pp * o.search_margin;
    let pb = bar(2 * work.len(), "mixed-precision search", quiet);
    let mut sensitivity = vec![];
    for (i, w) in work.iter().enumerate() {
        let mut s = vec![Scheme::LUTNA; work.len()];
        s[i] = Scheme::ALUTNA;
        let acc = top1(&model, &plan_from(&model, &work, &s), &search)?;
        let drop_pp = 100.0 * (exact_search - acc);
        let saved = w.macs as f64
            * (units.gate["lutna"].energy_per_mac_pj - units.gate["alutna"].energy_per_mac_pj)
            + w.fills as f64
                * (units.gate["lutna"].energy_per_fill_pj
                    - units.gate["alutna"].energy_per_fill_pj);
        sensitivity.push((i, drop_pp, saved));
        pb.inc(1);
    }
    let mut order: Vec<(usize, f64, f64)> = sensitivity.clone();
    order.sort_by(|a, b| {
        let ka = a.1.max(0.0) / a.2.max(1e-12);
        let kb = b.1.max(0.0) / b.2.max(1e-12);
        ka.partial_cmp(&kb).unwrap()
    });
    let mut chosen = vec![Scheme::LUTNA; work.len()];
    let mut chosen_search = exact_search;
    // The sum of the chosen layers' own drops, each counted as at least a noise floor:
    // approximation cannot really improve accuracy, so a negative drop is noise of the search
    // sample, and on
    // deep models many such "free" layers add up to a real loss on the test set (resnet34 lost
    // 1.5-1.7 points before this bound).
    // Each layer costs at least two images' worth of the search split: the resolution below
    // which a measured drop is indistinguishable from noise.
    let floor_pp = 200.0 / search.len() as f64;
    let mut spent_pp = 0.0;
    for &(i, alone_pp, saved) in &order {
        pb.inc(1);
        // A layer that alone already spends more than the target is never tried.
        if saved <= 0.0 || alone_pp > target_pp || spent_pp + alone_pp.max(floor_pp) > target_pp {
            continue;
        }
        chosen[i] = Scheme::ALUTNA;
        let acc = top1(&model, &plan_from(&model, &work, &chosen), &search)?;
        if 100.0 * (exact_search - acc) <= target_pp {
            chosen_search = acc;
            spent_pp += alone_pp.max(floor_pp);
        } else {
            chosen[i] = Scheme::LUTNA;
        }
    }
    pb.finish_and_clear();
    let paper_plan = plan_from(&model, &work, &paper);
    let search_plan = plan_from(&model, &work, &chosen);
    let plans = [
        PlanResult {
            name: "paper",
            top1: top1(&model, &paper_plan, &test)?,
            search_top1: top1(&model, &paper_plan, &search)?,
            schemes: paper,
        },
        PlanResult {
            name: "search",
            top1: top1(&model, &search_plan, &test)?,
            search_top1: chosen_search,
            schemes: chosen,
        },
    ];
    let mut plans_json = serde_json::Map::new();
    for p in &plans {
        plans_json.insert(p.name.into(), plan_json(&units, &work, p));
    }

    let report = json!({
        "model": model.name,
        "model_file": o.model,
        "data": o.data,
        "test_images": test.len(),
        "search_split": o.search_split.to_string(),
        "search_images": search.len(),
        "budget_pp": o.budget_pp,
        "search_target_pp": target_pp,
        "schemes": schemes,
        "plans": plans_json,
        "layers": work.iter().zip(&sensitivity).map(|(w, s)| json!({
            "name": w.name, "macs_dense": w.macs_dense, "macs_pruned": w.macs,
            "nonzero_weights": w.fills, "alutna_drop_pp": s.1, "alutna_saving_pj": s.2,
        })).collect::<Vec<_>>(),
        "units": units.gate.iter().map(|(k, g)| (k.to_string(), json!({
            "gate": g, "fpga": units.fpga.get(k),
        }))).collect::<serde_json::Map<_, _>>(),
        "dsp_fpga": units.fpga["dsp"],
        "energy_model": units.energy,
    });

    // Everything goes to a staging folder first, so a failed run leaves no report behind.
    let staging = out.with_extension("partial");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    std::fs::write(
        staging.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    search_plan.save(&staging.join("plan-search.json"))?;
    paper_plan.save(&staging.join("plan-paper.json"))?;
    std::fs::write(staging.join("macs.svg"), macs_svg(&model.name, &work))?;
    std::fs::write(
        staging.join("accuracy-energy.svg"),
        accuracy_energy_svg(&model.name, &report),
    )?;
    let md = report_md(&report, &work, warn_test_search);
    std::fs::write(staging.join("report.md"), &md)?;
    if out.exists() {
        std::fs::remove_dir_all(&out)
            .with_context(|| format!("cannot replace {}", out.display()))?;
    }
    std::fs::rename(&staging, &out)
        .with_context(|| format!("cannot move the report into {}", out.display()))?;

    if o.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{md}");
        println!("\nwritten: {}/{{report.md, report.json, plan-search.json, plan-paper.json, macs.svg, accuracy-energy.svg}}", out.display());
    }
    let loss = 100.0 * (exact_test - plans[1].top1);
    if loss > o.budget_pp {
        eprintln!(
            "WARNING: the searched plan loses {loss:.2} points on the test set, more than the \
             {:.2}-point budget (it was chosen on the {} split); try a smaller --search-margin",
            o.budget_pp, o.search_split
        );
    }
    Ok(())
}

fn report_md(r: &Value, work: &[LayerWork], warn_test_search: bool) -> String {
    let mut s = String::new();
    let pct = |v: &Value| 100.0 * v.as_f64().unwrap_or(f64::NAN);
    writeln!(s, "# lutna analyze: {}\n", r["model"].as_str().unwrap()).unwrap();
    writeln!(
        s,
        "Test top-1 on {} images of `{}`; mixed-precision search on {} images of the {} split \
         (budget {} points against exact, search target {:.2} points). Energy per inference in \
         nJ (gate-level model, docs/cost-model.md) from the zero-delay simulation and, with \
         glitches counted, from the timed one ({} delays); area of one MAC unit in \
         transistors; FPGA logic cells of one lane packed for the UP5K.\n",
        r["test_images"],
        r["data"].as_str().unwrap_or(""),
        r["search_images"],
        r["search_split"].as_str().unwrap(),
        r["budget_pp"],
        r["search_target_pp"].as_f64().unwrap(),
        r["energy_model"]["glitch_timing"]
            .as_str()
            .unwrap_or("timed")
    )
    .unwrap();
    if warn_test_search {
        writeln!(s, "**NOTE: the search ran on test images (no validation split in the data folder), so the plans' test accuracy is optimistic.**\n").unwrap();
    }
    writeln!(
        s,
        "| scheme | top-1 % | energy / inference (nJ) | with glitches (nJ) | area (transistors) | FPGA logic cells |"
    )
    .unwrap();
    writeln!(s, "|---|---|---|---|---|---|").unwrap();
    for (name, _) in SCHEMES {
        let v = &r["schemes"][name];
        writeln!(
            s,
            "| {name} | {:.2} | {:.3} | {:.3} | {} | {} |",
            pct(&v["top1"]),
            v["energy_pj"].as_f64().unwrap() / 1000.0,
            v["energy_pj_glitch"].as_f64().unwrap() / 1000.0,
            v["area_transistors"],
            v["fpga_logic_cells"]
        )
        .unwrap();
    }
    for name in ["paper", "search"] {
        let v = &r["plans"][name];
        writeln!(
            s,
            "| plan `{name}` ({} of {} layers A-LUT-NA) | {:.2} | {:.3} | {:.3} | {} ({:.0} MAC-weighted) | {} |",
            v["layers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|x| x.as_str() != Some("lutna"))
                .count(),
            work.len(),
            pct(&v["top1"]),
            v["energy_pj"].as_f64().unwrap() / 1000.0,
            v["energy_pj_glitch"].as_f64().unwrap() / 1000.0,
            v["area_transistors"],
            v["area_transistors_mac_weighted"].as_f64().unwrap(),
            v["fpga_logic_cells"]
        )
        .unwrap();
    }
    let e = |n: &str| r["schemes"][n]["energy_pj"].as_f64().unwrap();
    let eg = |n: &str| r["schemes"][n]["energy_pj_glitch"].as_f64().unwrap();
    let a = |n: &str| r["schemes"][n]["area_transistors"].as_f64().unwrap();
    let pe = |n: &str| r["plans"][n]["energy_pj"].as_f64().unwrap();
    let peg = |n: &str| r["plans"][n]["energy_pj_glitch"].as_f64().unwrap();
    writeln!(s, "\nRatios (higher = the first is better):\n").unwrap();
    writeln!(
        s,
        "| comparison | area ratio | energy ratio | with glitches |\n|---|---|---|---|"
    )
    .unwrap();
    for (label, x, y) in [
        ("LUT-NA vs T-LUT", "lutna", "tlut"),
        ("LUT-NA vs array MAC", "lutna", "array"),
        ("LUT-NA vs Wallace MAC", "lutna", "wallace"),
        ("A-LUT-NA vs array MAC", "alutna", "array"),
        ("A-LUT-NA vs Wallace MAC", "alutna", "wallace"),
    ] {
        writeln!(
            s,
            "| {label} | {:.2}x | {:.2}x | {:.2}x |",
            a(y) / a(x),
            e(y) / e(x),
            eg(y) / eg(x)
        )
        .unwrap();
    }
    for p in ["paper", "search"] {
        for (y, label) in [("tlut", "T-LUT"), ("array", "array MAC")] {
            writeln!(
                s,
                "| plan `{p}` vs {label} | {:.2}x (MAC-weighted) | {:.2}x | {:.2}x |",
                a(y) / r["plans"][p]["area_transistors_mac_weighted"]
                    .as_f64()
                    .unwrap(),
                e(y) / pe(p),
                eg(y) / peg(p)
            )
            .unwrap();
        }
    }
    writeln!(
        s,
        "\nPer layer (pruned MACs, nonzero weights, top-1 drop on the search split with only this layer on A-LUT-NA, scheme in each plan):\n"
    )
    .unwrap();
    writeln!(
        s,
        "| layer | MACs dense | MACs pruned | nonzero | A-LUT-NA alone (pp) | paper | search |\n|---|---|---|---|---|---|---|"
    )
    .unwrap();
    for (i, l) in r["layers"].as_array().unwrap().iter().enumerate() {
        writeln!(
            s,
            "| {} | {} | {} | {} | {:.2} | {} | {} |",
            l["name"].as_str().unwrap(),
            l["macs_dense"],
            l["macs_pruned"],
            l["nonzero_weights"],
            l["alutna_drop_pp"].as_f64().unwrap(),
            r["plans"]["paper"]["layers"][i].as_str().unwrap(),
            r["plans"]["search"]["layers"][i].as_str().unwrap()
        )
        .unwrap();
    }
    s
}

fn svg_text(x: f64, y: f64, size: u32, anchor: &str, text: &str) -> String {
    format!(
        "<text x=\"{x:.1}\" y=\"{y:.1}\" font-family=\"sans-serif\" font-size=\"{size}\" text-anchor=\"{anchor}\">{}</text>\n",
        text.replace('&', "&amp;").replace('<', "&lt;")
    )
}

/// Per-layer MAC bars, dense and pruned, on a log scale.
fn macs_svg(model: &str, work: &[LayerWork]) -> String {
    let (w, h, left, bottom, top) = (900.0, 420.0, 70.0, 140.0, 40.0);
    let plot_h = h - bottom - top;
    let max = work.iter().map(|l| l.macs_dense).max().unwrap_or(1).max(10) as f64;
    let y_of = |v: u64| {
        let v = (v.max(1) as f64).log10();
        top + plot_h * (1.0 - v / max.log10().ceil())
    };
    let slot = (w - left - 20.0) / work.len() as f64;
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    s += &svg_text(
        w / 2.0,
        22.0,
        16,
        "middle",
        &format!("{model}: MACs per layer (log scale; grey dense, blue after pruning)"),
    );
    for d in 0..=(max.log10().ceil() as u32) {
        let y = y_of(10u64.pow(d));
        s += &format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\n",
            w - 20.0
        );
        s += &svg_text(left - 6.0, y + 4.0, 11, "end", &format!("1e{d}"));
    }
    for (i, l) in work.iter().enumerate() {
        let x = left + i as f64 * slot;
        let bw = (slot * 0.4).max(1.0);
        for (k, (v, color)) in [(l.macs_dense, "#bbb"), (l.macs, "#3060c0")]
            .iter()
            .enumerate()
        {
            let y = y_of(*v);
            s += &format!(
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{color}\"/>\n",
                x + k as f64 * bw + slot * 0.1,
                (top + plot_h - y).max(0.0)
            );
        }
        s += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-family=\"sans-serif\" font-size=\"9\" transform=\"rotate(60 {:.1} {:.1})\">{}</text>\n",
            x + slot * 0.3,
            top + plot_h + 10.0,
            x + slot * 0.3,
            top + plot_h + 10.0,
            l.name.replace('&', "&amp;").replace('<', "&lt;")
        );
    }
    s + "</svg>\n"
}

/// Test top-1 against energy per inference for every scheme and plan: a filled dot for the
/// zero-delay energy, an open one joined to it for the energy with glitches counted.
fn accuracy_energy_svg(model: &str, r: &Value) -> String {
    // (label, zero-delay nJ, top-1 %, glitch nJ)
    let mut pts: Vec<(String, f64, f64, f64)> = vec![];
    let nj = |v: &Value, k: &str| v[k].as_f64().unwrap() / 1000.0;
    for (name, _) in SCHEMES {
        let v = &r["schemes"][name];
        pts.push((
            name.into(),
            nj(v, "energy_pj"),
            100.0 * v["top1"].as_f64().unwrap(),
            nj(v, "energy_pj_glitch"),
        ));
    }
    for name in ["paper", "search"] {
        let v = &r["plans"][name];
        pts.push((
            format!("plan {name}"),
            nj(v, "energy_pj"),
            100.0 * v["top1"].as_f64().unwrap(),
            nj(v, "energy_pj_glitch"),
        ));
    }
    let (w, h, left, bottom, top, right) = (760.0, 460.0, 70.0, 60.0, 40.0, 30.0);
    let xmax = pts.iter().map(|p| p.1.max(p.3)).fold(0.0, f64::max) * 1.1;
    let ymin = (pts.iter().map(|p| p.2).fold(100.0, f64::min) - 5.0)
        .max(0.0)
        .floor();
    let ymax = (pts.iter().map(|p| p.2).fold(0.0, f64::max) + 2.0)
        .min(100.0)
        .ceil();
    let xs = |x: f64| left + (w - left - right) * x / xmax;
    let ys = |y: f64| top + (h - top - bottom) * (1.0 - (y - ymin) / (ymax - ymin).max(1e-9));
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    s += &svg_text(
        w / 2.0,
        22.0,
        16,
        "middle",
        &format!("{model}: test top-1 vs energy per inference"),
    );
    s += &format!(
        "<line x1=\"{left}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"black\"/>\n",
        w - right,
        h - bottom,
        h - bottom
    );
    s += &format!(
        "<line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{}\" stroke=\"black\"/>\n",
        h - bottom
    );
    s += &svg_text(
        w / 2.0,
        h - 18.0,
        12,
        "middle",
        "energy per inference (nJ, gate-level model; filled: zero-delay, open: glitches counted)",
    );
    s += &svg_text(18.0, h / 2.0, 12, "middle", "top-1 %");
    for k in 0..=4 {
        let x = xmax * k as f64 / 4.0;
        s += &svg_text(xs(x), h - bottom + 16.0, 11, "middle", &format!("{x:.1}"));
        let y = ymin + (ymax - ymin) * k as f64 / 4.0;
        s += &svg_text(left - 6.0, ys(y) + 4.0, 11, "end", &format!("{y:.1}"));
    }
    for (i, (name, x, y, xg)) in pts.iter().enumerate() {
        let color = if name.starts_with("plan") {
            "#c03030"
        } else {
            "#3060c0"
        };
        s += &format!(
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-dasharray=\"3 2\"/>\n",
            xs(*x),
            xs(*xg),
            ys(*y),
            ys(*y)
        );
        s += &format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"white\" stroke=\"{color}\"/>\n",
            xs(*xg),
            ys(*y)
        );
        s += &format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"{color}\"/>\n",
            xs(*x),
            ys(*y)
        );
        s += &svg_text(
            xs(*x) + 8.0,
            ys(*y) - 6.0 + (i % 3) as f64 * 7.0,
            11,
            "start",
            name,
        );
    }
    s + "</svg>\n"
}

/// Default output folder: `analysis/<model stem>`.
fn default_out(model: &Path) -> PathBuf {
    Path::new("analysis").join(
        model
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into()),
    )
}
