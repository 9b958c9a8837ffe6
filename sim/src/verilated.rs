//! The Verilator backend of the virtual board: the accelerator top's generated Verilog (the same
//! text yosys synthesizes) compiled by Verilator together with `verilator/harness.cpp`, which
//! steps it with the UART simulated bit by bit. The compiled model runs as a child process that
//! this crate drives over a pipe; builds are cached by a hash of everything that goes into them.

use anyhow::{bail, Context, Result};
use std::hash::{Hash, Hasher};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

const HARNESS: &str = include_str!("../verilator/harness.cpp");

/// The Verilog of the accelerator top `target` builds, as the RustHDL board is, with yosys'
/// simulation model of the iCE40 SPRAM where its activation memory instantiates it (the ECP5
/// build's memories are behavioural).
pub fn accelerator_verilog(target: crate::Target) -> Result<String> {
    let mut verilog = crate::accelerator_top(target)?.verilog();
    if verilog.contains("SB_SPRAM256KA") {
        let model = lutna_hw::memory::spram::ice40_primitive_sim("SB_SPRAM256KA").context(
            "the virtual board needs yosys' model of the iCE40 SPRAM (ice40/cells_sim.v), and \
             it was not found: install yosys (`sudo apt-get install yosys`), or use --sim rusthdl",
        )?;
        verilog.push_str(&model);
    }
    Ok(verilog)
}

/// True when `verilator` (and so a C++ compiler, which Debian's package pulls in) is installed.
pub fn verilator_installed() -> bool {
    Command::new("verilator")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Where compiled models are kept: `$LUTNA_CACHE`, else `$XDG_CACHE_HOME/lutna`, else
/// `~/.cache/lutna`, else the temporary folder.
fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("LUTNA_CACHE") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("lutna");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache/lutna");
    }
    std::env::temp_dir().join("lutna-cache")
}

/// Compiles (or finds in the cache) the Verilated board; returns the executable's path.
pub fn build(target: crate::Target, trace: bool) -> Result<PathBuf> {
    let lanes = target.lanes;
    let clocks_per_bit = crate::CLOCKS_PER_BIT;
    if !verilator_installed() {
        bail!(
            "verilator is not installed: `sudo apt-get install verilator` (Debian/Ubuntu), or use \
             --sim rusthdl (about 100x slower)"
        );
    }
    let verilog = accelerator_verilog(target)?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&verilog, HARNESS, trace, env!("CARGO_PKG_VERSION")).hash(&mut h);
    let dir = cache_root()
        .join("verilator")
        .join(format!("p{lanes}-cpb{clocks_per_bit}-{:016x}", h.finish()));
    let exe = dir.join("vboard");
    if exe.exists() {
        return Ok(exe);
    }
    // Built in a private folder and renamed into place, so concurrent builds never see half a
    // model.
    // Unique per build, also between threads of one process.
    static BUILDS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.with_extension(format!("tmp{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)
        .with_context(|| format!("cannot create the build folder {}", tmp.display()))?;
    let tmp = tmp.canonicalize()?;
    std::fs::write(tmp.join("top.v"), &verilog)?;
    std::fs::write(tmp.join("harness.cpp"), HARNESS)?;
    let mut cmd = Command::new("verilator");
    cmd.current_dir(&tmp)
        .args(["--cc", "--exe", "--build", "-j", "2", "-O3"])
        // rust-hdl writes Verilog-2005 (it names signals `byte`, a SystemVerilog keyword).
        .args(["--default-language", "1364-2005"])
        .args([
            "-Wno-fatal",
            "-Wno-WIDTH",
            "-Wno-UNOPTFLAT",
            "--top-module",
            "top",
        ]);
    if trace {
        cmd.arg("--trace");
    }
    cmd.arg("-Mdir")
        .arg(tmp.join("obj"))
        .arg(tmp.join("top.v"))
        .arg(tmp.join("harness.cpp"))
        .args(["-o", "vboard"]);
    let out = cmd.output().context("cannot start verilator")?;
    std::fs::write(
        tmp.join("build.log"),
        [&out.stdout[..], &out.stderr[..]].concat(),
    )?;
    if !out.status.success() {
        bail!(
            "verilator failed to build the virtual board (log: {}):\n{}",
            tmp.join("build.log").display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    std::fs::rename(tmp.join("obj/vboard"), tmp.join("vboard"))?;
    let _ = std::fs::remove_dir_all(tmp.join("obj"));
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another process finished the same build first; theirs is identical.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    if !exe.exists() {
        bail!("the Verilated board vanished from {}", dir.display());
    }
    Ok(exe)
}

/// A running Verilated board.
pub struct Verilated {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pending: Vec<u8>,
    running: bool,
    receiving: bool,
}

impl Verilated {
    pub fn start(exe: &Path, clocks_per_bit: u16, vcd: Option<&Path>) -> Result<Verilated> {
        let mut cmd = Command::new(exe);
        cmd.arg(clocks_per_bit.to_string());
        if let Some(v) = vcd {
            cmd.arg(v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start the Verilated board {}", exe.display()))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().context("no pipe to the model")?);
        Ok(Verilated {
            child,
            stdin,
            stdout,
            pending: vec![],
            running: false,
            receiving: false,
        })
    }

    /// Queues bytes for the board's RX pin (sent with the next step).
    pub fn receive(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    pub fn running(&self) -> bool {
        self.running
    }

    pub fn receiving(&self) -> bool {
        self.receiving || !self.pending.is_empty()
    }

    /// Runs `clocks` cycles; returns the bytes the board sent meanwhile.
    pub fn step(&mut self, clocks: usize) -> Result<Vec<u8>> {
        let stdin = self
            .stdin
            .as_mut()
            .context("the Verilated board is closed")?;
        let mut req = Vec::with_capacity(8 + self.pending.len());
        req.extend((clocks as u32).to_le_bytes());
        req.extend((self.pending.len() as u32).to_le_bytes());
        req.append(&mut self.pending);
        stdin
            .write_all(&req)
            .and_then(|_| stdin.flush())
            .context("the Verilated board stopped")?;
        let mut head = [0u8; 5];
        self.stdout
            .read_exact(&mut head)
            .context("the Verilated board stopped answering")?;
        let n = u32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
        self.running = head[4] & 1 != 0;
        self.receiving = head[4] & 2 != 0;
        let mut out = vec![0; n];
        self.stdout.read_exact(&mut out)?;
        Ok(out)
    }
}

impl Drop for Verilated {
    fn drop(&mut self) {
        // End of input ends the harness (and closes its VCD file).
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
