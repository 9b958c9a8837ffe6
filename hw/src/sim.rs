//! Direct stepping of a RustHDL block (no threads: 60-270x faster than rust-hdl's
//! `Simulation` on the blocks of this crate, measured on our 2-core build machine). Inputs are changed while the clock is low and settled before the
//! rising edge, which avoids the zero-delay race between registered and combinational reads.

use rust_hdl::prelude::*;

/// Settles the block, raises the clock, settles, and lowers the clock (settled by the next call).
/// Panics if the logic does not converge (a combinational loop), which is a design bug.
pub fn tick<B: Block>(uut: &mut B, clock: impl Fn(&mut B) -> &mut Signal<In, Clock>) {
    assert!(simulate(uut, 200), "logic did not settle before the edge");
    clock(uut).next = Clock::from(true);
    assert!(
        simulate(uut, 200),
        "logic did not settle after the rising edge"
    );
    // Every register is rising-edge triggered, so nothing reacts to the falling edge: it is
    // settled by the next call's first pass, which saves a third of the passes.
    clock(uut).next = Clock::from(false);
}

/// The values an Icarus testbench printed as `R <hex>` lines, in order, after checking that it
/// reached its `DONE` line (so a run that stopped early is not read as a short result).
pub fn icarus_reads(out: &str) -> Vec<u64> {
    assert!(out.contains("DONE"), "the testbench did not finish: {out}");
    out.lines()
        .filter_map(|l| l.strip_prefix("R "))
        .map(|h| u64::from_str_radix(h.trim(), 16).unwrap_or_else(|_| panic!("read {h}")))
        .collect()
}

pub use lutna_core::XorShift;

/// Requantizer stimulus at the edges of its contract: every shift 0..=47 and multipliers from 0
/// to 2^15 - 1, with accumulators whose product lands on and beside each limit of the rounding
/// and the clamps (`t = (2 * acc * mult) >> shift` near 0, 253..256, 509..512 and 1024, both
/// signs), for both output kinds.
pub fn requant_limit_cases(
    rng: &mut XorShift,
) -> Vec<(i32, lutna_core::arith::Requant, lutna_core::arith::ActKind)> {
    use lutna_core::arith::{ActKind, Requant};
    let mut cases = vec![];
    for shift in 0..=lutna_core::arith::SHIFT_MAX {
        let random_mult = (rng.next_u64() % (1 << lutna_core::arith::MULT_BITS)) as u32;
        for mult in [0u32, 1, 3, 181, 16_384, 32_767, random_mult] {
            for t in [
                0i64, 1, 2, 253, 254, 255, 256, 509, 510, 511, 512, 1023, 1024, 1025,
            ] {
                for sign in [1i64, -1] {
                    let x = sign * (t << shift) / 2;
                    for nudge in -1i64..=1 {
                        let acc = (x / mult.max(1) as i64 + nudge)
                            .clamp(i32::MIN as i64, i32::MAX as i64)
                            as i32;
                        for kind in [ActKind::U8, ActKind::I8] {
                            cases.push((acc, Requant { mult, shift }, kind));
                        }
                    }
                }
            }
        }
    }
    cases
}

/// Whether `tool` runs here; when it does not, says which check is skipped (a skip is never
/// silent) and how to install it.
pub fn tool_available(tool: &str, skipped: &str) -> bool {
    if std::process::Command::new(tool).arg("-V").output().is_ok() {
        return true;
    }
    eprintln!("NOTE: {tool} not installed: {skipped} SKIPPED (./tools/test.sh installs it)");
    false
}

/// Compiles `files` (name, Verilog text) with Icarus Verilog in a fresh temporary folder named
/// after `tag`, runs the result, and returns what the simulation printed. `inputs` are extra data
/// files (for `$readmemh`). None when iverilog is not installed.
pub fn run_icarus(
    tag: &str,
    files: &[(&str, String)],
    inputs: &[(&str, String)],
) -> Option<String> {
    use std::process::Command;
    if !tool_available("iverilog", "independent-simulator check") {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("lutna-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files.iter().chain(inputs) {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let build = Command::new("iverilog")
        .current_dir(&dir)
        .arg("-o")
        .arg("sim.vvp")
        .args(files.iter().map(|f| f.0))
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "iverilog: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let run = Command::new("vvp")
        .current_dir(&dir)
        .arg("sim.vvp")
        .output()
        .unwrap();
    Some(String::from_utf8_lossy(&run.stdout).into_owned())
}

/// yosys `synth_ice40` of `verilog` (module `top`) in a fresh temporary folder named after
/// `tag`: the cells it maps to. None (said, never silent) when yosys is not installed.
pub fn synth_ice40_cells(tag: &str, verilog: &str) -> Option<crate::flow::SynthCells> {
    if !tool_available("yosys", &format!("UP5K mapping check of {tag}")) {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("lutna-{tag}-synth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("top.v"), verilog).unwrap();
    let log = crate::flow::run_tool(
        &dir,
        "yosys",
        &["-p", "read_verilog top.v; synth_ice40 -top top; stat"],
        "yosys.log",
    )
    .unwrap_or_else(|e| panic!("{tag}: {e:#}"));
    Some(crate::flow::SynthCells::parse(&log).unwrap())
}

/// Runs rust-hdl's yosys validation of generated Verilog (latches, undriven or implicit wires);
/// says so and returns when yosys is not installed, so a skip is never silent. An SPRAM the
/// design instantiates is declared as a black box (yosys' model of it would be unrolled into
/// 16 K assignments per SPRAM, minutes of work for nothing checked here).
pub fn validate_with_yosys(tag: &str, verilog: &str) {
    if !tool_available("yosys", &format!("Verilog validation of {tag}")) {
        return;
    }
    let mut verilog = verilog.to_string();
    if verilog.contains("SB_SPRAM256KA") {
        verilog += "(* blackbox *)\nmodule SB_SPRAM256KA(input [13:0] ADDRESS, \
                    input [15:0] DATAIN, input [3:0] MASKWREN, input WREN, CHIPSELECT, CLOCK, \
                    STANDBY, SLEEP, POWEROFF, output [15:0] DATAOUT);\nendmodule\n";
    }
    rust_hdl::prelude::yosys_validate(tag, &verilog)
        .unwrap_or_else(|e| panic!("yosys rejects the Verilog of {tag}: {e:?}"));
}

/// The host's side of a simulated UART line, one clock at a time: queued bytes become 8N1 line
/// levels (`SoftUartTx`), and line levels sampled each clock become bytes (`SoftUartRx`). Used
/// to talk to a board top bit by bit in tests and in the virtual board.
pub struct SoftUartTx {
    clocks_per_bit: usize,
    levels: std::collections::VecDeque<bool>,
}

impl SoftUartTx {
    pub fn new(clocks_per_bit: usize) -> Self {
        SoftUartTx {
            clocks_per_bit,
            levels: Default::default(),
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            let bits = std::iter::once(false)
                .chain((0..8).map(move |i| (b >> i) & 1 == 1))
                .chain(std::iter::once(true));
            for bit in bits {
                self.levels
                    .extend(std::iter::repeat_n(bit, self.clocks_per_bit));
            }
        }
    }

    /// Keeps the line idle (high) for `clocks` clocks after the bytes queued so far.
    pub fn pause(&mut self, clocks: usize) {
        self.levels.extend(std::iter::repeat_n(true, clocks));
    }

    /// The line level for the next clock (high when idle).
    pub fn next_level(&mut self) -> bool {
        self.levels.pop_front().unwrap_or(true)
    }

    pub fn idle(&self) -> bool {
        self.levels.is_empty()
    }
}

pub struct SoftUartRx {
    clocks_per_bit: usize,
    /// Clocks since the start bit's falling edge, when receiving.
    at: Option<usize>,
    byte: u8,
}

impl SoftUartRx {
    pub fn new(clocks_per_bit: usize) -> Self {
        SoftUartRx {
            clocks_per_bit,
            at: None,
            byte: 0,
        }
    }

    /// Samples the line for one clock; returns a byte when its stop bit has been seen (bytes
    /// with a low stop bit are dropped).
    pub fn sample(&mut self, level: bool) -> Option<u8> {
        let cpb = self.clocks_per_bit;
        match self.at {
            None => {
                if !level {
                    self.at = Some(0);
                    self.byte = 0;
                }
                None
            }
            Some(t) => {
                let t = t + 1;
                self.at = Some(t);
                // Middle of bit k (k = 0 start, 1..=8 data, 9 stop) is at k * cpb + cpb / 2.
                if t >= cpb / 2 && (t - cpb / 2).is_multiple_of(cpb) {
                    let k = (t - cpb / 2) / cpb;
                    if k == 0 && level {
                        self.at = None; // a glitch
                    } else if (1..=8).contains(&k) {
                        self.byte |= (level as u8) << (k - 1);
                    } else if k == 9 {
                        self.at = None;
                        return level.then_some(self.byte);
                    }
                }
                None
            }
        }
    }
}

/// A board top driven through its UART pins in simulation.
pub trait UartPins: Block {
    fn clock_pin(&mut self) -> &mut Signal<In, Clock>;
    fn rx_pin(&mut self) -> &mut Signal<In, bool>;
    fn tx_level(&self) -> bool;
}

/// Sends `pieces` to `board` over its UART with `gap_clocks` of idle line between consecutive
/// pieces (as a USB-serial bridge delivers one frame in several packets), then runs it until a
/// reply frame arrives; None if none has after `budget` clocks. Panics on a damaged reply.
pub fn send_in_pieces<B: UartPins>(
    board: &mut B,
    clocks_per_bit: usize,
    pieces: &[&[u8]],
    gap_clocks: usize,
    budget: usize,
) -> Option<lutna_core::protocol::Frame> {
    use lutna_core::protocol::{Decoder, Event};
    let mut tx = SoftUartTx::new(clocks_per_bit);
    let mut rx = SoftUartRx::new(clocks_per_bit);
    let mut decoder = Decoder::new();
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            tx.pause(gap_clocks);
        }
        tx.push(piece);
    }
    for _ in 0..budget {
        board.rx_pin().next = tx.next_level();
        tick(board, |b| b.clock_pin());
        if let Some(byte) = rx.sample(board.tx_level()) {
            if let Some(e) = decoder.push(&[byte]).into_iter().next() {
                match e {
                    Event::Frame(f) => return Some(f),
                    other => panic!("the board sent a damaged frame: {other:?}"),
                }
            }
        }
    }
    None
}

/// Clocks per UART bit of the board builds at their defaults (24 MHz, 3 Mbaud).
pub const BOARD_CLOCKS_PER_BIT: usize = 8;
/// A gap a USB-serial bridge leaves between two packets of one frame: 0.5 ms at 24 MHz.
pub const USB_PACKET_GAP_CLOCKS: usize = 12_000;

/// Sends IDENTIFY to `board` at the board builds' UART rate as two packets `gap_clocks` apart,
/// the header in the first and the CRC in the second, and returns the reply (None if none came).
pub fn identify_across_a_gap<B: UartPins>(
    board: &mut B,
    gap_clocks: usize,
) -> Option<lutna_core::protocol::Frame> {
    use lutna_core::protocol::{Command, Frame, OVERHEAD};
    let frame = Frame::new(Command::Identify as u8, 1, vec![])
        .encode()
        .expect("an empty IDENTIFY encodes");
    let crc_at = OVERHEAD - 2; // a frame without payload is its header and its CRC
    let pieces: [&[u8]; 2] = [&frame[..crc_at], &frame[crc_at..]];
    let budget = gap_clocks + (frame.len() + 40) * 10 * BOARD_CLOCKS_PER_BIT;
    send_in_pieces(board, BOARD_CLOCKS_PER_BIT, &pieces, gap_clocks, budget)
}

/// A unit's ports recorded cycle by cycle for [`replay_under_icarus`]: the port names in the
/// order of [`verilog_ports`], and each cycle's values.
pub struct Trace {
    pub ports: Vec<String>,
    /// Each cycle's port values (ports up to 128 bits wide).
    pub rows: Vec<Vec<u128>>,
}

impl Trace {
    /// An empty recording of the ports of `verilog`'s top module.
    pub fn for_verilog(verilog: &str) -> Self {
        Trace {
            ports: verilog_ports(verilog).into_iter().map(|p| p.0).collect(),
            rows: Vec::new(),
        }
    }

    /// Records the current value of every port of `uut` (the block the Verilog was generated
    /// from), read through RustHDL's probe of its top-level signals. Call it once a cycle, after
    /// the inputs are set and the block settled, before the clock edge.
    pub fn record<B: Block>(&mut self, uut: &B) {
        struct Ports {
            depth: usize,
            values: std::collections::HashMap<String, u128>,
        }
        impl Probe for Ports {
            fn visit_start_scope(&mut self, _name: &str, _node: &dyn Block) {
                self.depth += 1;
            }
            fn visit_end_scope(&mut self, _name: &str, _node: &dyn Block) {
                self.depth -= 1;
            }
            fn visit_atom(&mut self, name: &str, atom: &dyn Atom) {
                if self.depth != 1 {
                    return;
                }
                let bit = |v: &vcd::Value| (*v == vcd::Value::V1) as u128;
                let value = match atom.vcd() {
                    VCDValue::Single(v) => bit(&v),
                    VCDValue::Vector(v) => v.iter().fold(0, |acc, b| acc << 1 | bit(b)),
                    _ => return,
                };
                self.values.insert(name.to_string(), value);
            }
        }
        let mut probe = Ports {
            depth: 0,
            values: Default::default(),
        };
        uut.accept("top", &mut probe);
        let row = self
            .ports
            .iter()
            .map(|p| {
                *probe
                    .values
                    .get(p)
                    .unwrap_or_else(|| panic!("the block has no port {p}"))
            })
            .collect();
        self.rows.push(row);
    }
}

/// The ports of a generated top-level module (`module top`), as its Verilog declares them: name,
/// width and whether it is an input; the clock is left out.
pub fn verilog_ports(verilog: &str) -> Vec<(String, usize, bool)> {
    let mut ports = Vec::new();
    let start = verilog.find("module top(").expect("a top module");
    let end = verilog[start..]
        .find("endmodule")
        .map_or(verilog.len(), |e| start + e);
    for line in verilog[start..end].lines() {
        let line = line.trim();
        let (input, rest) = if let Some(r) = line.strip_prefix("input wire") {
            (true, r)
        } else if let Some(r) = line
            .strip_prefix("output reg")
            .or_else(|| line.strip_prefix("output wire"))
        {
            (false, r)
        } else {
            continue;
        };
        let rest = rest.trim().trim_end_matches(';');
        let (width, name) = match rest.strip_prefix('[') {
            Some(r) => {
                let (range, name) = r.split_once(']').expect("a width range");
                let msb: usize = range.split(':').next().unwrap().trim().parse().unwrap();
                (msb + 1, name.trim())
            }
            None => (1, rest),
        };
        if name != "clock" {
            ports.push((name.to_string(), width, input));
        }
    }
    ports
}

/// Replays, under Icarus, a trace recorded from the RustHDL simulation of a unit: for every
/// cycle, the value of each port of [`verilog_ports`] (inputs as applied, outputs as the RustHDL
/// model showed them before the clock edge). The generated Verilog must show the same outputs:
/// the check that RustHDL's and Verilog's arithmetic agree (the lutna-hw crate doc). `Ok(false)`
/// when Icarus is not installed (said, never silent).
pub fn replay_under_icarus(tag: &str, verilog: &str, trace: &[Vec<u128>]) -> bool {
    use std::fmt::Write as _;
    let ports = verilog_ports(verilog);
    let total: usize = ports.iter().map(|p| p.1).sum();
    let mut tb = String::from("module tb;\n  reg clock = 0;\n");
    for (name, w, input) in &ports {
        let kind = if *input { "reg" } else { "wire" };
        writeln!(tb, "  {kind} [{}:0] {name};", w - 1).unwrap();
        if !*input {
            writeln!(tb, "  reg [{}:0] want_{name};", w - 1).unwrap();
        }
    }
    writeln!(tb, "  reg [{}:0] vec [0:{}];", total - 1, trace.len() - 1).unwrap();
    let connections: Vec<String> = std::iter::once(".clock(clock)".to_string())
        .chain(ports.iter().map(|(n, _, _)| format!(".{n}({n})")))
        .collect();
    writeln!(tb, "  top uut({});", connections.join(", ")).unwrap();
    let unpack: Vec<String> = ports
        .iter()
        .map(|(n, _, input)| {
            if *input {
                n.clone()
            } else {
                format!("want_{n}")
            }
        })
        .collect();
    writeln!(
        tb,
        "  integer i, bad;\n  initial begin\n    $readmemh(\"trace.hex\", vec);\n    bad = 0;\n    for (i = 0; i < {}; i = i + 1) begin\n      {{{}}} = vec[i];\n      #1;",
        trace.len(),
        unpack.join(", ")
    )
    .unwrap();
    for (n, _, input) in &ports {
        if !*input {
            writeln!(
                tb,
                "      if ({n} !== want_{n}) begin if (bad < 5) $display(\"MISMATCH cycle %0d {n}: got %h want %h\", i, {n}, want_{n}); bad = bad + 1; end"
            )
            .unwrap();
        }
    }
    tb += "      #4 clock = 1;\n      #5 clock = 0;\n    end\n    if (bad == 0) $display(\"OK\");\n    else $display(\"FAIL %0d\", bad);\n    $display(\"DONE\");\n    $finish;\n  end\nendmodule\n";
    let mut hex = String::new();
    for cycle in trace {
        assert_eq!(cycle.len(), ports.len(), "a trace row per port");
        // Packed as the concatenation, first port in the top bits.
        let mut digits = String::new();
        let mut acc: Vec<bool> = Vec::with_capacity(total);
        for ((_, w, _), &v) in ports.iter().zip(cycle) {
            for b in (0..*w).rev() {
                acc.push(v >> b & 1 == 1);
            }
        }
        let pad = (4 - total % 4) % 4;
        let bits: Vec<bool> = std::iter::repeat_n(false, pad).chain(acc).collect();
        for chunk in bits.chunks(4) {
            let d = chunk.iter().fold(0u8, |d, &b| d << 1 | b as u8);
            digits.push(char::from_digit(d as u32, 16).unwrap());
        }
        writeln!(hex, "{digits}").unwrap();
    }
    let Some(out) = run_icarus(
        tag,
        &[("tb.v", tb), ("unit.v", verilog.to_string())],
        &[("trace.hex", hex)],
    ) else {
        return false;
    };
    assert!(
        out.contains("DONE") && out.contains("OK"),
        "{tag}: the Verilog disagrees with the RustHDL model:\n{out}"
    );
    true
}
