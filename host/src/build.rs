//! `lutna build` and `lutna prog`: the bitstream flow of lutna-hw with the build folder's
//! reports, and flashing a built bitstream with iceprog.

use anyhow::{bail, Context, Result};
use lutna_core::accel::{compile, AccelConfig};
use lutna_hw::build::{build, BuildOptions, BuildReport, DesignKind};
use std::path::{Path, PathBuf};

/// What the shipped model costs per image on the built design: its name, the cycle model's
/// cycles, the segments it streams in, and the bytes the link carries per image (the segments
/// when streamed, and the image).
fn shipped_cycles(lanes: u8) -> Result<(String, u64, usize, usize)> {
    let path = super::shipped(super::DEMO_MODEL)?;
    let model = lutna_core::Model::load(&path)?;
    let cfg = AccelConfig::for_board(&lutna_hw::top::board_identity(lanes))?;
    let plan = lutna_core::Plan::uniform(lutna_core::Scheme::LUTNA);
    let program = compile(&cfg, &model, &plan)?;
    let segments = program.segments()?;
    let image_bytes = lutna_core::cifar::PIXELS;
    let streamed: usize = if segments.len() > 1 {
        segments.iter().map(|s| 2 * s.params.len()).sum()
    } else {
        0
    };
    Ok((
        model.name.clone(),
        program.segments_cycles(&segments),
        segments.len(),
        streamed + image_bytes,
    ))
}

pub fn run(opts: BuildOptions, json: bool) -> Result<()> {
    let spinner = if json {
        indicatif::ProgressBar::hidden()
    } else {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message(format!(
            "building {} for {}: yosys, nextpnr-ice40, icepack (logs in {})",
            match opts.design {
                DesignKind::Accelerator => format!("the {}-lane accelerator", opts.lanes),
                DesignKind::Probe => "the link-only probe design".to_string(),
            },
            opts.board.name(),
            opts.out.display()
        ));
        s.enable_steady_tick(std::time::Duration::from_millis(200));
        s
    };
    let report = build(&opts)?;
    spinner.finish_and_clear();
    let mut value = serde_json::to_value(&report)?;
    let mut extra = String::new();
    if report.design == DesignKind::Accelerator {
        match shipped_cycles(report.lanes) {
            Err(e) => {
                extra = format!(
                    "Cycle model: no figure for the shipped model on {} lanes ({e:#}).\n",
                    report.lanes
                )
            }
            Ok((name, cycles, segments, link_bytes)) => {
                let clock = report
                    .fmax_mhz
                    .map(|f| f.min(report.pll.map_or(report.target_mhz, |p| p.out_mhz)));
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

/// Flashes `bitstream` (a file, or a build folder holding top.bin) with iceprog.
pub fn prog(bitstream: PathBuf, sram: bool) -> Result<()> {
    let file = if bitstream.is_dir() {
        bitstream.join("top.bin")
    } else {
        bitstream
    };
    if !file.is_file() {
        bail!(
            "no bitstream at {}: build one first with `lutna build --board icebreaker --out DIR`",
            file.display()
        );
    }
    let mut cmd = std::process::Command::new("iceprog");
    if sram {
        cmd.arg("-S");
    }
    let status = cmd.arg(&file).status().map_err(|e| {
        anyhow::anyhow!("cannot run iceprog ({e}): install it with `apt-get install fpga-icestorm`")
    })?;
    if !status.success() {
        bail!(
            "iceprog failed (exit {}): is the board plugged in, and may this user open its FTDI device (udev rule or root)?",
            status.code().unwrap_or(-1)
        );
    }
    Ok(())
}
