//! lutna-sim owns the virtual board: the RTL of the accelerator
//! (`lutna_hw::engine::accelerator::EngineAccelerator`: UART, link, command handler, engine), stepped directly clock by clock (not rust-hdl's
//! threaded `Simulation`, which ran at about 6 k cycles/s on our 2-core build machine), with its UART simulated bit by bit and bridged to a pseudo-terminal, so the
//! host's serial code cannot tell it from a real iCEBreaker.
//!
//! Two simulators step the same RTL: Verilator, compiled from the generated Verilog (the text
//! yosys synthesizes; about 100 times faster, the default when `verilator` is installed), and
//! RustHDL's own simulation of the Rust description (no C++ toolchain needed).
//!
//! Faults can be injected on both directions of the virtual line: flipped bits, dropped,
//! duplicated and garbage bytes, seeded so a failing run can be replayed.

use anyhow::{Context, Result};
use lutna_core::protocol::{Command, Frame, Region, SOF};
use lutna_hw::sim::{tick, SoftUartRx, SoftUartTx, XorShift};
use serialport::SerialPort;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// UART clocks per bit on the virtual board: small, so simulation stays fast (the real board's
/// figure is a build parameter; the line protocol does not depend on it).
pub const CLOCKS_PER_BIT: usize = 4;

/// Silence (byte times) after which the virtual board abandons a partial frame: longer than a
/// pass of the serving loop, so a frame whose bytes reach the pseudo-terminal in two pieces
/// is still received whole.
pub const RX_TIMEOUT_BYTES: u32 = 64;

/// Faults injected per byte on the virtual line, each with probability `rate`; and, with
/// probability `intrusions` per reply of [`INTRUSION_REPLY_BYTES`] payload bytes or more, a
/// well-formed request (a LOAD of 8 random bytes somewhere in the activations, which would
/// corrupt the run if the board executed it) sent to the board while that reply is going out:
/// the board must drop it (docs/protocol.md, "Requests during a reply").
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    pub rate: f64,
    pub seed: u64,
    pub intrusions: f64,
}

/// The shortest reply an intrusion is sent into: long enough that the intruding frame (21
/// bytes) is in before the reply is out, with a serving pass of [`FINE_PASS`] clocks between
/// the reply's header and the intrusion.
pub const INTRUSION_REPLY_BYTES: usize = 32;

/// Watches the board's output for the headers of the frames it sends.
#[derive(Default)]
struct ReplyWatch {
    header: Vec<u8>,
    /// Bytes left of the frame being sent.
    left: usize,
}

impl ReplyWatch {
    /// Feeds output bytes; returns the payload length of every frame that started in them.
    fn push(&mut self, bytes: &[u8]) -> Vec<usize> {
        let mut started = vec![];
        for &b in bytes {
            if self.left > 0 {
                self.left -= 1;
                continue;
            }
            self.header.push(b);
            match self.header.len() {
                1 if b != SOF[0] => self.header.clear(),
                2 if b != SOF[1] => self.header.clear(),
                4 => {
                    let len = u16::from_le_bytes([self.header[2], self.header[3]]) as usize;
                    started.push(len);
                    // cmd, seq, payload, CRC.
                    self.left = len + 4;
                    self.header.clear();
                }
                _ => {}
            }
        }
        started
    }
}

struct FaultLine {
    faults: Option<Faults>,
    rng: XorShift,
    pub injected: u64,
}

impl FaultLine {
    fn new(faults: Option<Faults>, salt: u64) -> Self {
        let seed = faults.map_or(1, |f| f.seed) ^ salt;
        FaultLine {
            faults,
            rng: XorShift(seed | 1),
            injected: 0,
        }
    }

    /// Passes `bytes` through the faulty line.
    fn apply(&mut self, bytes: &[u8]) -> Vec<u8> {
        let Some(f) = self.faults else {
            return bytes.to_vec();
        };
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes {
            if self.rng.next_unit() >= f.rate {
                out.push(b);
                continue;
            }
            self.injected += 1;
            match self.rng.next_u64() % 4 {
                0 => out.push(b ^ (1 << (self.rng.next_u64() % 8))),
                1 => {}
                2 => out.extend([b, b]),
                _ => {
                    out.push(b);
                    let n = self.rng.next_u64() % 4 + 1;
                    out.extend((0..n).map(|_| self.rng.next_u64() as u8));
                }
            }
        }
        out
    }
}

/// What the virtual board is: the accelerator build's identity.
pub use lutna_hw::top::board_identity as identity;

/// Which board's accelerator build the virtual board simulates, at how many lanes. A lane count
/// alone means the iCEBreaker's build; `ulx3s-85f` is the ECP5 build, whose Verilog (behavioural
/// memories) and resident program memory the virtual ULX3S runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub board: lutna_hw::flow::BoardKind,
    pub lanes: u8,
}

impl From<u8> for Target {
    fn from(lanes: u8) -> Target {
        Target {
            board: lutna_hw::flow::BoardKind::IceBreaker,
            lanes,
        }
    }
}

impl Target {
    /// The IDENTIFY answer of the simulated build.
    pub fn identity(&self) -> lutna_core::protocol::Identity {
        self.board.identity(self.lanes)
    }
}

/// The accelerator RTL for one of the lane counts the virtual board is built with.
use lutna_hw::top::AnyAccelerator as Top;

/// Lane counts the virtual board can be built with: those of the accelerator.
pub const VIRTUAL_LANES: [u8; 3] = lutna_hw::top::ACCELERATOR_LANES;

macro_rules! with_top {
    ($top:expr, $t:ident => $body:expr) => {
        match $top {
            $crate::Top::L4($t) => $body,
            $crate::Top::L8($t) => $body,
            $crate::Top::L16($t) => $body,
            $crate::Top::L4Resident($t) => $body,
            $crate::Top::L8Resident($t) => $body,
            $crate::Top::L16Resident($t) => $body,
        }
    };
}

// After `with_top!`, which it uses.
pub mod verilated;

/// The accelerator top the virtual board simulates (both simulators build from this).
fn accelerator_top(target: Target) -> Result<Top> {
    let mut top = Top::new(
        target.lanes,
        target.board.program_memory(),
        CLOCKS_PER_BIT as u16,
        RX_TIMEOUT_BYTES,
        target.identity(),
    )?;
    top.set_family(target.board.family())?;
    Ok(top)
}

/// Which simulator steps the board's RTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simulator {
    /// Verilator, compiled from the generated Verilog.
    Verilator,
    /// RustHDL's direct stepping of the Rust description.
    RustHdl,
}

impl Simulator {
    /// Verilator when it is installed, else RustHDL.
    pub fn best_available() -> Simulator {
        if verilated::verilator_installed() {
            Simulator::Verilator
        } else {
            Simulator::RustHdl
        }
    }
}

impl std::fmt::Display for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Simulator::Verilator => "verilator",
            Simulator::RustHdl => "rusthdl",
        })
    }
}

impl std::str::FromStr for Simulator {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "verilator" => Ok(Simulator::Verilator),
            "rusthdl" => Ok(Simulator::RustHdl),
            _ => anyhow::bail!("unknown simulator {s:?}: choose verilator or rusthdl"),
        }
    }
}

/// The stepped RTL: RustHDL's model with the host's end of the UART in Rust, or a Verilated
/// child process that simulates both ends of the wire itself.
enum Backend {
    RustHdl {
        top: Top,
        to_board: SoftUartTx,
        from_board: SoftUartRx,
    },
    Verilator(verilated::Verilated),
}

/// The RTL of the board top with a software UART on its pins.
pub struct Board {
    backend: Backend,
    target: Target,
    sim: Simulator,
    line_in: FaultLine,
    line_out: FaultLine,
    /// Intrusions: the reply watch, their generator, and how many were sent.
    watch: ReplyWatch,
    intrusions: Option<(f64, XorShift)>,
    pub intrusions_sent: u64,
    pub cycles: u64,
    /// The compiled model, kept for power cycles (Verilator only).
    verilated_exe: Option<std::path::PathBuf>,
}

impl Board {
    /// A board with `lanes` lanes (one of [`VIRTUAL_LANES`]) on RustHDL.
    pub fn new(target: impl Into<Target>, faults: Option<Faults>) -> Result<Board> {
        Board::with(target, faults, Simulator::RustHdl, None)
    }

    /// A board on the chosen simulator; `vcd` (Verilator only) records every signal.
    pub fn with(
        target: impl Into<Target>,
        faults: Option<Faults>,
        sim: Simulator,
        vcd: Option<&std::path::Path>,
    ) -> Result<Board> {
        let target = target.into();
        let cpb = CLOCKS_PER_BIT as u16;
        let mut verilated_exe = None;
        let backend = match sim {
            Simulator::Verilator => {
                let exe = verilated::build(target, vcd.is_some())?;
                let started = verilated::Verilated::start(&exe, cpb, vcd)?;
                verilated_exe = Some(exe);
                Backend::Verilator(started)
            }
            Simulator::RustHdl => {
                if vcd.is_some() {
                    anyhow::bail!("--vcd needs the Verilator simulator (--sim verilator)");
                }
                Backend::RustHdl {
                    top: accelerator_top(target)?,
                    to_board: SoftUartTx::new(CLOCKS_PER_BIT),
                    from_board: SoftUartRx::new(CLOCKS_PER_BIT),
                }
            }
        };
        Ok(Board {
            backend,
            target,
            sim,
            line_in: FaultLine::new(faults, 0x1111),
            line_out: FaultLine::new(faults, 0x2222),
            watch: ReplyWatch::default(),
            intrusions: faults
                .filter(|f| f.intrusions > 0.0)
                .map(|f| (f.intrusions, XorShift((f.seed ^ 0x3333) | 1))),
            intrusions_sent: 0,
            cycles: 0,
            verilated_exe,
        })
    }

    /// Power-cycles the board: fresh RTL, every register and memory back to its initial state
    /// (the program and image are gone, as after unplugging a real board). The simulated clock
    /// count and the line faults carry on; a VCD, if any, stops at the power cycle.
    pub fn power_cycle(&mut self) -> Result<()> {
        self.backend = match &self.verilated_exe {
            // A fresh process of the same compiled model (no need to regenerate the Verilog).
            Some(exe) => Backend::Verilator(verilated::Verilated::start(
                exe,
                CLOCKS_PER_BIT as u16,
                None,
            )?),
            None => Board::with(self.target, None, self.sim, None)?.backend,
        };
        Ok(())
    }

    /// True while the accelerator runs a program.
    pub fn running(&self) -> bool {
        match &self.backend {
            Backend::RustHdl { top, .. } => with_top!(top, t => t.running.val()),
            Backend::Verilator(v) => v.running(),
        }
    }

    /// Bytes arriving from the host.
    pub fn receive(&mut self, bytes: &[u8]) {
        let bytes = self.line_in.apply(bytes);
        self.onto_pin(&bytes);
    }

    /// Bytes onto the board's receive pin, after the line.
    fn onto_pin(&mut self, bytes: &[u8]) {
        match &mut self.backend {
            Backend::RustHdl { to_board, .. } => to_board.push(bytes),
            Backend::Verilator(v) => v.receive(bytes),
        }
    }

    /// Runs `clocks` cycles; returns the bytes the board sent meanwhile.
    pub fn step(&mut self, clocks: usize) -> Result<Vec<u8>> {
        let out = match &mut self.backend {
            Backend::RustHdl {
                top,
                to_board,
                from_board,
            } => {
                let mut out = vec![];
                with_top!(top, top => {
                    for _ in 0..clocks {
                        top.uart_rx.next = to_board.next_level();
                        tick(&mut **top, |t| &mut t.clock);
                        if let Some(b) = from_board.sample(top.uart_tx.val()) {
                            out.push(b);
                        }
                    }
                });
                out
            }
            Backend::Verilator(v) => v.step(clocks)?,
        };
        self.cycles += clocks as u64;
        // The board's own bytes (before the line's faults) show where its replies start. An
        // intruder goes only onto an idle line, so that it is in before the reply is out.
        let line_idle = !self.receiving();
        let mut intruders = vec![];
        if let Some((rate, rng)) = &mut self.intrusions {
            let long_replies = self
                .watch
                .push(&out)
                .into_iter()
                .filter(|&len| len >= INTRUSION_REPLY_BYTES)
                .count();
            let mut count = 0;
            for _ in 0..long_replies {
                if rng.next_unit() >= *rate {
                    continue;
                }
                let mut payload = vec![Region::Activations as u8];
                payload.extend(((rng.next_u64() % (1 << 16)) as u32).to_le_bytes());
                payload.extend(rng.next_u64().to_le_bytes());
                let seq = rng.next_u64() as u8;
                count += 1;
                intruders.extend(
                    Frame::new(Command::Load as u8, seq, payload)
                        .encode()
                        .expect("a short frame"),
                );
            }
            if line_idle {
                self.intrusions_sent += count;
            } else {
                intruders.clear();
            }
        }
        if !intruders.is_empty() {
            self.onto_pin(&intruders);
        }
        Ok(self.line_out.apply(&out))
    }

    /// True while bytes from the host are still being shifted into the board.
    pub fn receiving(&self) -> bool {
        match &self.backend {
            Backend::RustHdl { to_board, .. } => !to_board.idle(),
            Backend::Verilator(v) => v.receiving(),
        }
    }

    pub fn faults_injected(&self) -> u64 {
        self.line_in.injected + self.line_out.injected
    }
}

/// Counters of a serving virtual board.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub cycles: u64,
    pub busy_seconds: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub faults_injected: u64,
    /// Requests sent to the board while it was sending a reply ([`Faults::intrusions`]).
    pub intrusions_sent: u64,
}

impl Stats {
    /// Simulated clock cycles per second of wall time spent simulating.
    pub fn cycles_per_second(&self) -> f64 {
        self.cycles as f64 / self.busy_seconds.max(1e-9)
    }
}

/// A virtual board served on a pseudo-terminal by a background thread; stops when dropped.
pub struct VirtualBoard {
    /// The device path the host opens (e.g. /dev/pts/7).
    pub path: String,
    /// The simulator stepping the RTL.
    pub simulator: Simulator,
    stop: Arc<AtomicBool>,
    stats: Arc<std::sync::Mutex<Stats>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Clocks simulated per pass of the serving loop, and how long the board keeps clocking after
/// the last byte in or out (long enough for any reply to leave).
const PASS: usize = 2_000;
const HOLD: u64 = 200_000;
/// The serving pass when intrusions are on: short, so an intrusion follows its reply's header
/// closely (see [`INTRUSION_REPLY_BYTES`]).
const FINE_PASS: usize = 200;

impl VirtualBoard {
    /// A board on the best simulator installed (see [`Simulator::best_available`]).
    pub fn spawn(target: impl Into<Target>, faults: Option<Faults>) -> Result<VirtualBoard> {
        VirtualBoard::spawn_with(target, faults, Simulator::best_available(), None)
    }

    pub fn spawn_with(
        target: impl Into<Target>,
        faults: Option<Faults>,
        sim: Simulator,
        vcd: Option<&std::path::Path>,
    ) -> Result<VirtualBoard> {
        VirtualBoard::spawn_power_cycling(target, faults, sim, vcd, None)
    }

    /// As [`VirtualBoard::spawn_with`]; the board power-cycles itself once when its simulated
    /// clock reaches `power_cycle_at` (to test what a host does when a board loses everything).
    pub fn spawn_power_cycling(
        target: impl Into<Target>,
        faults: Option<Faults>,
        sim: Simulator,
        vcd: Option<&std::path::Path>,
        mut power_cycle_at: Option<u64>,
    ) -> Result<VirtualBoard> {
        let mut board = Board::with(target, faults, sim, vcd)?;
        let (mut master, slave) = serialport::TTYPort::pair()
            .context("cannot create a pseudo-terminal for the virtual board")?;
        let path = slave
            .name()
            .context("the pseudo-terminal has no device path")?;
        master.set_timeout(Duration::from_millis(5))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(std::sync::Mutex::new(Stats::default()));
        let (stop2, stats2) = (stop.clone(), stats.clone());
        let thread = std::thread::spawn(move || {
            // The slave end stays open here so the master never sees a hang-up between host
            // connections.
            let _slave = slave;
            // Idle from the start: the clock runs only while the host talks (and HOLD after).
            let mut quiet_since = 0;
            let mut buf = [0u8; 4096];
            while !stop2.load(Ordering::Relaxed) {
                let waiting = board.cycles.saturating_sub(quiet_since) > HOLD && !board.running();
                if waiting {
                    // Idle: block briefly on the line instead of spinning the simulation.
                    master.set_timeout(Duration::from_millis(20)).ok();
                } else {
                    master.set_timeout(Duration::from_millis(0)).ok();
                }
                let n = match master.bytes_to_read() {
                    // Everything that has arrived: a frame written at once is taken at once, so
                    // its bytes reach the board's pin back to back, as on a real line.
                    Ok(0) if waiting => master.read(&mut buf).unwrap_or(0),
                    Ok(0) => 0,
                    Ok(k) => master.read(&mut buf[..(k as usize).min(4096)]).unwrap_or(0),
                    Err(_) => 0,
                };
                if n > 0 {
                    board.receive(&buf[..n]);
                    quiet_since = board.cycles;
                    stats2.lock().unwrap().bytes_in += n as u64;
                }
                if board.cycles.saturating_sub(quiet_since) > HOLD
                    && !board.receiving()
                    && !board.running()
                {
                    continue;
                }
                if power_cycle_at.is_some_and(|c| board.cycles >= c) {
                    power_cycle_at = None;
                    if let Err(e) = board.power_cycle() {
                        eprintln!("virtual board: {e:#}");
                        break;
                    }
                    eprintln!("virtual board: power-cycled at cycle {}", board.cycles);
                }
                let t0 = Instant::now();
                let pass = if board.intrusions.is_some() {
                    FINE_PASS
                } else {
                    PASS
                };
                let out = match board.step(pass) {
                    Ok(out) => out,
                    Err(e) => {
                        eprintln!("virtual board: {e:#}");
                        break;
                    }
                };
                let dt = t0.elapsed().as_secs_f64();
                if !out.is_empty() {
                    quiet_since = board.cycles;
                    if master.write_all(&out).is_err() {
                        // Nobody is listening; the bytes are lost, as on a real line.
                    }
                }
                let mut s = stats2.lock().unwrap();
                s.cycles = board.cycles;
                s.busy_seconds += dt;
                s.bytes_out += out.len() as u64;
                s.faults_injected = board.faults_injected();
                s.intrusions_sent = board.intrusions_sent;
            }
        });
        Ok(VirtualBoard {
            path,
            simulator: sim,
            stop,
            stats,
            thread: Some(thread),
        })
    }

    pub fn stats(&self) -> Stats {
        *self.stats.lock().unwrap()
    }
}

impl Drop for VirtualBoard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
