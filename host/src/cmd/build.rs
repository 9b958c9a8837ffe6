//! `lutna build`: the bitstream flow of lutna-hw, with the build folder's reports and the cycle
//! model's figures for the shipped model on the built design.

use crate::progress;
use anyhow::{bail, Context, Result};
use clap::Args;
use lutna_core::accel::AccelConfig;
use lutna_hw::flow::{build, BoardKind, BuildOptions, BuildReport, DesignKind};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct BuildArgs {
    /// Target board: icebreaker (iCE40UP5K-SG48), hx8k (iCE40HX8K-CT256 breakout, link-only
    /// probe) or ulx3s-25f, ulx3s-45f, ulx3s-85f (ULX3S by its ECP5 chip)
    #[arg(long)]
    pub board: BoardKind,
    /// accelerator (the whole design), stream (the instruction-stream engine of docs/engine.md
    /// behind the same link; `lutna run` does not drive it yet) or probe (link only: IDENTIFY /
    /// STATUS, for board bring-up)
    #[arg(long, default_value = "accelerator")]
    pub design: DesignKind,
    /// Lanes P of the accelerator: 4 or 8, or 16 on the ULX3S (a 16-byte activation window)
    #[arg(long, default_value_t = 8, value_parser = super::lanes)]
    pub lanes: u8,
    /// Activation chunk width K of the LUT-NA lanes (the accelerator is built with 4)
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub chunk_bits: u8,
    /// Clock the PLL makes and nextpnr must meet, MHz (a multiple of the baud rate; default 24
    /// on the iCE40 boards, 30 on the ULX3S)
    #[arg(long)]
    pub freq: Option<f64>,
    /// UART rate the design is built for
    #[arg(long, default_value_t = 3_000_000)]
    pub baud: u32,
    /// Build folder: Verilog, pin file, tool logs, report.json, report.md, the bitstream
    /// (top.bin on the iCE40 boards, top.bit on the ULX3S)
    #[arg(long)]
    pub out: PathBuf,
    /// Print report.json to stdout instead of the text report
    #[arg(long)]
    pub json: bool,
}

/// What the reference model costs per image on the built design: its name, the cycle model's
/// cycles, the segments it streams in, and the bytes the link carries per image (the segments
/// when streamed, and the image).
fn reference_cycles(board: BoardKind, lanes: u8) -> Result<(String, u64, usize, usize)> {
    use lutna_core::isa::encode;
    let path = super::shipped(super::REFERENCE_MODEL)?;
    let model = lutna_core::Model::load(&path)?;
    let cfg = AccelConfig::new(lanes as usize)?;
    let plan = lutna_core::Plan::uniform(lutna_core::Scheme::LUTNA);
    let compiled = lutna_core::compile::compile(&cfg, &model, &plan)?;
    let segs = compiled.segments(board.identity(lanes).param_words as usize);
    let (_, cycles) = lutna_core::cycles::of_segments(&segs, cfg.lanes);
    let image_bytes = lutna_core::cifar::PIXELS;
    let streamed: usize = if segs.len() > 1 {
        segs.iter().map(|s| 2 * encode(s).len()).sum()
    } else {
        0
    };
    Ok((
        model.name.clone(),
        cycles,
        segs.len(),
        streamed + image_bytes,
    ))
}

pub fn run(a: BuildArgs) -> Result<()> {
    let json = a.json;
    // The hardware crate's own options (it knows no clap); the one place the CLI's map to them.
    let opts = BuildOptions {
        board: a.board,
        design: a.design,
        lanes: a.lanes,
        chunk_bits: a.chunk_bits,
        freq_mhz: a.freq.unwrap_or(a.board.default_mhz()),
        baud: a.baud,
        out: a.out,
    };
    let spinner = progress::spinner(
        format!(
            "building {} for {}: {} (logs in {})",
            match opts.design {
                DesignKind::Accelerator => format!("the {}-lane accelerator", opts.lanes),
                DesignKind::Probe => "the link-only probe design".to_string(),
            },
            opts.board.name(),
            match opts.board.family() {
                lutna_hw::memory::Family::Ice40 => "yosys, nextpnr-ice40, icepack",
                lutna_hw::memory::Family::Ecp5 => "yosys, nextpnr-ecp5, ecppack",
            },
            opts.out.display()
        ),
        json,
    );
    let report = build(&opts)?;
    spinner.finish_and_clear();
    let mut value = serde_json::to_value(&report)?;
    let mut extra = String::new();
    if report.design == DesignKind::Accelerator {
        match reference_cycles(report.board, report.lanes) {
            Err(e) => {
                extra = format!(
                    "Cycle model: no figure for the shipped model on {} lanes ({e:#}).\n",
                    report.lanes
                )
            }
            Ok((name, cycles, segments, link_bytes)) => {
                let clock = report
                    .fmax_mhz
                    .map(|f| f.min(report.pll.map_or(report.target_mhz, |p| p.out_mhz())));
                let at = clock.unwrap_or(report.target_mhz);
                let ips = at * 1e6 / cycles as f64;
                value["predicted_cycles_per_image"] = cycles.into();
                value["predicted_images_per_s"] = ips.into();
                value["predicted_model"] = name.clone().into();
                // 8N1: ten bit times per byte (frame headers and replies add about 1 %).
                let link_ms = link_bytes as f64 * 10.0 / opts.baud as f64 * 1e3;
                value["predicted_segments"] = segments.into();
                value["predicted_link_ms_per_image"] = link_ms.into();
                extra = format!(
                    "Cycle model: {name} (LUT-NA) takes {cycles} cycles per image in {segments} \
                     segment(s), {ips:.1} images/s at {at:.2} MHz counting compute only; the \
                     link carries {link_bytes} bytes per image (program segments and image), \
                     about {link_ms:.1} ms at {} baud.\n",
                    opts.baud
                );
            }
        }
    }
    write_reports(&opts.out, &report, &value, &extra)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", report.markdown(&extra));
        println!("Reports: {}", opts.out.join("report.md").display());
    }
    if let Some(e) = &report.error {
        bail!("build failed: {e}");
    }
    Ok(())
}

fn write_reports(
    out: &Path,
    report: &BuildReport,
    value: &serde_json::Value,
    extra: &str,
) -> Result<()> {
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(value)? + "\n",
    )
    .context("writing report.json")?;
    std::fs::write(out.join("report.md"), report.markdown(extra)).context("writing report.md")
}
