//! `lutna board --virtual`: the accelerator's RTL, simulated, served on a pseudo-terminal.

use anyhow::{bail, Result};
use clap::Args;
use lutna_hw::flow::BoardKind;
use lutna_sim::{Faults, Simulator, Target, VirtualBoard};
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct BoardArgs {
    /// Simulate the board instead of talking to hardware (the only mode today)
    #[arg(long, required = true)]
    pub r#virtual: bool,
    /// Lanes of the simulated accelerator: 4 or 8, or 16 on the ULX3S (--board ulx3s-85f)
    #[arg(long, default_value_t = 8, value_parser = super::lanes)]
    pub lanes: u8,
    /// Whose accelerator build to simulate: icebreaker (the program streamed through a 1 K-word
    /// buffer) or ulx3s-85f (the ECP5 build's Verilog, the program resident in 64 K words)
    #[arg(long, default_value = "icebreaker")]
    pub board: BoardKind,
    /// Probability per byte of a fault on the virtual line (flip, drop, duplicate, garbage)
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Probability per reply of 32 payload bytes or more that a well-formed request (a LOAD of
    /// random bytes into the activations) reaches the board while the reply is going out: the
    /// board must drop it, so a run's results must not change
    #[arg(long, default_value_t = 0.0)]
    pub intrusion_rate: f64,
    /// Seed of the fault generator
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulator stepping the RTL: verilator (compiled from the generated Verilog, the default
    /// when installed) or rusthdl (no C++ toolchain needed, about 100x slower)
    #[arg(long)]
    pub sim: Option<Simulator>,
    /// Record every signal of the board top into this VCD file (Verilator only; large: about
    /// 1 MB per thousand cycles)
    #[arg(long)]
    pub vcd: Option<PathBuf>,
    /// Power-cycle the board once when its simulated clock reaches this many cycles (memories
    /// cleared, as when a real board is unplugged), to test a host's recovery
    #[arg(long)]
    pub power_cycle_at: Option<u64>,
}

pub fn run(a: BoardArgs) -> Result<()> {
    if !(0.0..1.0).contains(&a.fault_rate) {
        bail!(
            "--fault-rate {} is out of range: give a probability per byte in [0, 1), e.g. 0.001",
            a.fault_rate
        );
    }
    if !(0.0..=1.0).contains(&a.intrusion_rate) {
        bail!(
            "--intrusion-rate {} is out of range: give a probability per long reply in [0, 1]",
            a.intrusion_rate
        );
    }
    let faults = (a.fault_rate > 0.0 || a.intrusion_rate > 0.0).then_some(Faults {
        rate: a.fault_rate,
        seed: a.seed,
        intrusions: a.intrusion_rate,
    });
    if a.board == BoardKind::Hx8k {
        bail!("the HX8K breakout carries no accelerator (no SPRAM, 16 KiB of block RAM): simulate --board icebreaker or ulx3s-85f");
    }
    let sim = a.sim.unwrap_or_else(Simulator::best_available);
    let vb = VirtualBoard::spawn_power_cycling(
        Target {
            board: a.board,
            lanes: a.lanes,
        },
        faults,
        sim,
        a.vcd.as_deref(),
        a.power_cycle_at,
    )?;
    // The first line is the device path, alone, so scripts can read it.
    println!("{}", vb.path);
    std::io::stdout().flush()?;
    eprintln!(
        "virtual board: the {} build, {} lanes, program memory {:?}, on {}, UART at {} clocks per bit, fault rate {}, intrusion rate {}; serving until stopped (Ctrl-C)",
        a.board.name(),
        a.lanes,
        a.board.program_memory(),
        vb.simulator,
        lutna_sim::CLOCKS_PER_BIT,
        a.fault_rate,
        a.intrusion_rate
    );
    let mut last = vb.stats();
    loop {
        std::thread::sleep(Duration::from_secs(10));
        let s = vb.stats();
        if s.cycles != last.cycles {
            eprintln!(
                "  {} cycles simulated ({:.0} cycles/s while busy), {} bytes in, {} out, {} faults injected, {} requests sent during replies",
                s.cycles,
                s.cycles_per_second(),
                s.bytes_in,
                s.bytes_out,
                s.faults_injected,
                s.intrusions_sent
            );
        }
        last = s;
    }
}
