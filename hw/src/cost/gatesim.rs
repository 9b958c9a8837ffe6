//! A cycle-based simulator of yosys gate netlists, for switching-activity energy.
//!
//! `cost::synthesize_gates` turns a block's generated Verilog into two-input CMOS gates (`abc -g
//! cmos2`: NAND, NOR, NOT), `$_DFF_P_` flip-flops and unmapped `$mem_v2` memories (the LUT banks,
//! costed by an SRAM model instead of gates). This module loads that netlist (`write_json`),
//! evaluates it one clock cycle at a time, and counts what switches: each gate's output toggles
//! weighted by its transistor count (a proxy for switched capacitance), flip-flop output toggles,
//! and memory reads and writes.
//!
//! Two timing modes ([`Timing`]). **Zero delay** evaluates every gate once per settle in
//! dependency order: each net takes its final value directly, so a net toggles at most once per
//! settle and glitches are not counted. **Timed** modes are event-driven: a gate whose input
//! changes is evaluated and its new output scheduled after the gate's delay, so a net may change
//! several times before it settles (a glitch), and every change is counted. Delays are either one
//! unit per gate ([`Timing::UnitDelay`]) or from the method of logical effort
//! ([`Timing::LogicalEffort`], [`logical_effort_delay`]). Gates are inertial: a pending output
//! change that the inputs take back before it happens is cancelled, as a real gate does not pass
//! a pulse shorter than its own delay. The two modes bracket the truth (docs/cost-model.md).
//!
//! In both modes a cycle is two waves: the inputs set since the last cycle settle, the rising
//! edge loads the flip-flops and the memories' read ports (their outputs change together, at the
//! edge), and the new register outputs settle.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::collections::HashMap;

/// Transistors of each cell type, as yosys `stat -tech cmos` counts them.
pub fn cmos_transistors(kind: &str) -> Option<u32> {
    Some(match kind {
        "$_NOT_" => 2,
        "$_NAND_" | "$_NOR_" => 4,
        "$_DFF_P_" => 16,
        _ => return None,
    })
}

/// How [`GateSim`] propagates a change through the gates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Timing {
    /// Each gate evaluated once per settle, in dependency order: no glitches.
    #[default]
    ZeroDelay,
    /// Event-driven, every gate one delay unit.
    UnitDelay,
    /// Event-driven, each gate's delay from logical effort ([`logical_effort_delay`]).
    LogicalEffort,
}

impl Timing {
    pub fn name(self) -> &'static str {
        match self {
            Timing::ZeroDelay => "zero-delay",
            Timing::UnitDelay => "unit-delay",
            Timing::LogicalEffort => "logical-effort",
        }
    }
}

/// Logical effort of an input of each two-input CMOS gate (its input capacitance relative to an
/// inverter of the same drive) and its parasitic delay, in units of tau: I. Sutherland, B.
/// Sproull, D. Harris, "Logical Effort: Designing Fast CMOS Circuits" (1999), table 1.1 (NAND2
/// g = 4/3, NOR2 g = 5/3, inverter g = 1; parasitic delay 1 for the inverter, 2 for both
/// two-input gates).
fn effort_and_parasitic(kind: GateKind) -> (f64, f64) {
    match kind {
        GateKind::Not => (1.0, 1.0),
        GateKind::Nand => (4.0 / 3.0, 2.0),
        GateKind::Nor => (5.0 / 3.0, 2.0),
    }
}

/// Best effort per stage of a buffer chain (Sutherland et al., section 3.3: about 4).
const STAGE_EFFORT: f64 = 4.0;

/// Delay in tau of a minimum-size gate of `kind` driving `load` (the input capacitance on its
/// output net, in inverter inputs): `d = g h + p` with `g h = load` for a unit-drive gate. A load
/// larger than [`STAGE_EFFORT`] is taken as driven through the best chain of inverters (N stages
/// of effort `load^(1/N)` each, N = ceil(log4 load)), as synthesis would buffer a high fan-out
/// net; the buffers' own switching is not counted (docs/cost-model.md).
pub fn logical_effort_delay(kind: GateKind, load: f64) -> f64 {
    let (_, p) = effort_and_parasitic(kind);
    if load <= STAGE_EFFORT {
        return p + load;
    }
    let stages = load.log(STAGE_EFFORT).ceil().max(1.0);
    p + stages * load.powf(1.0 / stages) + (stages - 1.0) * effort_and_parasitic(GateKind::Not).1
}

/// Timed delays are integers in this fraction of tau.
const TICKS_PER_TAU: f64 = 10.0;

#[derive(Clone, Copy, Debug)]
enum Bit {
    Net(usize),
    Const(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateKind {
    Not,
    Nand,
    Nor,
}

#[derive(Clone, Debug)]
struct Gate {
    kind: GateKind,
    a: Bit,
    b: Bit,
    y: usize,
}

impl Gate {
    /// The gate's output for the net values `values` (both simulation modes use this).
    fn eval(&self, values: &[bool]) -> bool {
        let at = |b: Bit| match b {
            Bit::Net(n) => values[n],
            Bit::Const(v) => v,
        };
        let (a, b) = (at(self.a), at(self.b));
        match self.kind {
            GateKind::Not => !a,
            GateKind::Nand => !(a && b),
            GateKind::Nor => !(a || b),
        }
    }
}

/// One `$mem_v2` with registered read ports and one clock (what rust-hdl's `RAM` becomes).
#[derive(Clone, Debug)]
pub struct Memory {
    pub name: String,
    pub words: usize,
    pub width: usize,
    abits: usize,
    contents: Vec<u64>,
    read_addr: Vec<Vec<Bit>>,
    read_data: Vec<Vec<usize>>,
    read_en: Vec<Bit>,
    write_addr: Vec<Vec<Bit>>,
    write_data: Vec<Vec<Bit>>,
    write_en: Vec<Vec<Bit>>,
    pub reads: u64,
    pub writes: u64,
}

/// What switched since the counters were last reset.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Activity {
    /// Gate output toggles, each weighted by the gate's transistor count.
    pub gate_transistor_toggles: u64,
    /// Flip-flop output toggles (each weighed as a 16-transistor cell by the energy model).
    pub flop_toggles: u64,
    /// Clock edges seen by every flip-flop (cycles x flip-flops).
    pub flop_clocks: u64,
    pub cycles: u64,
}

/// The event-driven state of the timed modes: per net the fan-out and the one pending change of
/// its driving gate (inertial delay), and a wheel of scheduled changes.
#[derive(Clone, Debug, Default)]
struct Events {
    /// Gates (indices into `GateSim::gates`) reading each net.
    fanout: Vec<Vec<u32>>,
    /// Delay of each gate, in ticks.
    delay: Vec<u32>,
    /// Per net: the transistor weight of its driving gate.
    weight: Vec<u32>,
    /// Per net: a change is pending, to this value, with this generation (a cancelled change's
    /// event stays in the wheel and is skipped by its stale generation).
    pending: Vec<bool>,
    pending_value: Vec<bool>,
    generation: Vec<u32>,
    /// Nets changed at time 0 of the next settle (inputs, register and memory outputs).
    dirty: Vec<usize>,
    /// Slot `t % len` holds the changes due at time t: (net, value, generation).
    wheel: Vec<Vec<(u32, bool, u32)>>,
    /// Gates to evaluate at the current time, and the time each was last queued. Time runs on
    /// across settles (`now`), so a gate queued in an earlier settle is not taken as queued.
    queue: Vec<u32>,
    queued_at: Vec<u64>,
    now: u64,
    /// The state is consistent with the gates (a first settle evaluates everything once).
    consistent: bool,
}

#[derive(Clone)]
pub struct GateSim {
    values: Vec<bool>,
    gates: Vec<Gate>,
    gate_weight: Vec<u32>,
    flops: Vec<(Bit, usize)>,
    pub memories: Vec<Memory>,
    inputs: HashMap<String, Vec<usize>>,
    outputs: HashMap<String, Vec<Bit>>,
    clock_net: Option<usize>,
    pub activity: Activity,
    /// Transistors in gates and flip-flops (memories excluded), as `stat -tech cmos` counts them.
    pub logic_transistors: u64,
    /// Changes of each net since the activity was last reset.
    net_toggles: Vec<u64>,
    timing: Timing,
    events: Events,
}

/// Sets net `n` of `values` to `v`; in a timed mode a change is recorded for the next settle
/// to propagate from. (A function of the fields it needs, so that callers can drive the nets
/// of a port or memory they hold borrowed from the simulator.)
fn drive_net(values: &mut [bool], events: &mut Events, timing: Timing, n: usize, v: bool) {
    if values[n] != v {
        values[n] = v;
        if timing != Timing::ZeroDelay {
            events.dirty.push(n);
        }
    }
}

fn bits(v: &Value) -> Result<Vec<Bit>> {
    v.as_array()
        .ok_or_else(|| anyhow!("netlist: connection is not a bit list"))?
        .iter()
        .map(|b| match b {
            Value::Number(n) => Ok(Bit::Net(n.as_u64().unwrap() as usize)),
            Value::String(s) if s == "0" || s == "x" || s == "z" => Ok(Bit::Const(false)),
            Value::String(s) if s == "1" => Ok(Bit::Const(true)),
            other => Err(anyhow!("netlist: unexpected bit {other}")),
        })
        .collect()
}

fn nets(v: &Value) -> Result<Vec<usize>> {
    bits(v)?
        .into_iter()
        .map(|b| match b {
            Bit::Net(n) => Ok(n),
            Bit::Const(_) => bail!("netlist: a driven bit is a constant"),
        })
        .collect()
}

fn param(cell: &Value, name: &str) -> Result<u64> {
    let s = cell["parameters"][name]
        .as_str()
        .ok_or_else(|| anyhow!("netlist: memory parameter {name} missing"))?;
    u64::from_str_radix(s, 2).with_context(|| format!("netlist: memory parameter {name} = {s}"))
}

impl GateSim {
    /// Loads module `top` of a yosys JSON netlist made of NOT/NAND/NOR gates, `$_DFF_P_` and
    /// `$mem_v2` cells; anything else is an error naming the cell type.
    pub fn from_yosys_json(text: &str) -> Result<GateSim> {
        let doc: Value = serde_json::from_str(text).context("netlist: not yosys JSON")?;
        let top = &doc["modules"]["top"];
        if top.is_null() {
            bail!("netlist: no module named top");
        }
        let mut max_net = 0;
        let mut inputs = HashMap::new();
        let mut outputs = HashMap::new();
        let mut clock_net = None;
        for (name, port) in top["ports"].as_object().unwrap() {
            let b = bits(&port["bits"])?;
            for x in &b {
                if let Bit::Net(n) = x {
                    max_net = max_net.max(*n);
                }
            }
            match port["direction"].as_str() {
                Some("input") => {
                    let n = nets(&port["bits"])?;
                    if name == "clock" {
                        clock_net = n.first().copied();
                    }
                    inputs.insert(name.clone(), n);
                }
                _ => {
                    outputs.insert(name.clone(), b);
                }
            }
        }
        let mut gates = vec![];
        let mut flops = vec![];
        let mut memories = vec![];
        let mut logic_transistors = 0u64;
        let mut note = |b: &[Bit]| {
            for x in b {
                if let Bit::Net(n) = x {
                    max_net = max_net.max(*n);
                }
            }
        };
        for (name, cell) in top["cells"].as_object().unwrap() {
            let kind = cell["type"].as_str().unwrap_or("");
            let c = &cell["connections"];
            let one = |p: &str| -> Result<Bit> {
                Ok(*bits(&c[p])?
                    .first()
                    .ok_or_else(|| anyhow!("netlist: {kind} without {p}"))?)
            };
            match kind {
                "$_NOT_" | "$_NAND_" | "$_NOR_" => {
                    let a = one("A")?;
                    let b = if kind == "$_NOT_" { a } else { one("B")? };
                    let y = nets(&c["Y"])?[0];
                    note(&[a, b, Bit::Net(y)]);
                    gates.push(Gate {
                        kind: match kind {
                            "$_NOT_" => GateKind::Not,
                            "$_NAND_" => GateKind::Nand,
                            _ => GateKind::Nor,
                        },
                        a,
                        b,
                        y,
                    });
                    logic_transistors += cmos_transistors(kind).unwrap() as u64;
                }
                "$_DFF_P_" => {
                    let d = one("D")?;
                    let q = nets(&c["Q"])?[0];
                    note(&[d, Bit::Net(q)]);
                    flops.push((d, q));
                    logic_transistors += cmos_transistors(kind).unwrap() as u64;
                }
                "$mem_v2" => {
                    let words = param(cell, "SIZE")? as usize;
                    let width = param(cell, "WIDTH")? as usize;
                    let abits = param(cell, "ABITS")? as usize;
                    let rd_ports = param(cell, "RD_PORTS")? as usize;
                    let wr_ports = param(cell, "WR_PORTS")? as usize;
                    if param(cell, "RD_CLK_ENABLE")? != (1 << rd_ports) - 1 {
                        bail!(
                            "netlist: memory {name} has an unregistered read port (not supported)"
                        );
                    }
                    if width > 64 {
                        bail!("netlist: memory {name} is wider than 64 bits");
                    }
                    let ra = bits(&c["RD_ADDR"])?;
                    let rd = nets(&c["RD_DATA"])?;
                    let re = bits(&c["RD_EN"])?;
                    let wa = bits(&c["WR_ADDR"])?;
                    let wd = bits(&c["WR_DATA"])?;
                    let we = bits(&c["WR_EN"])?;
                    for v in [&ra, &re, &wa, &wd, &we] {
                        note(v);
                    }
                    note(&rd.iter().map(|&n| Bit::Net(n)).collect::<Vec<_>>());
                    memories.push(Memory {
                        name: name.clone(),
                        words,
                        width,
                        abits,
                        contents: vec![0; words],
                        read_addr: ra.chunks(abits).map(<[Bit]>::to_vec).collect(),
                        read_data: rd.chunks(width).map(<[usize]>::to_vec).collect(),
                        read_en: re,
                        write_addr: wa.chunks(abits).map(<[Bit]>::to_vec).collect(),
                        write_data: wd.chunks(width).map(<[Bit]>::to_vec).collect(),
                        write_en: we.chunks(width).map(<[Bit]>::to_vec).collect(),
                        reads: 0,
                        writes: 0,
                    });
                    assert_eq!(memories.last().unwrap().read_data.len(), rd_ports);
                    assert_eq!(memories.last().unwrap().write_en.len(), wr_ports);
                }
                other => bail!(
                    "netlist: cell {name} of type {other} is not a CMOS gate, flip-flop or memory \
                     (synthesize with abc -g cmos2 and dfflegalize)"
                ),
            }
        }
        // Levelize: a gate can be evaluated once every gate driving its inputs has been.
        let mut driver = vec![usize::MAX; max_net + 1];
        for (i, g) in gates.iter().enumerate() {
            driver[g.y] = i;
        }
        let mut order = Vec::with_capacity(gates.len());
        let mut state = vec![0u8; gates.len()]; // 0 new, 1 visiting, 2 done
        for start in 0..gates.len() {
            let mut stack = vec![(start, false)];
            while let Some((g, expanded)) = stack.pop() {
                if expanded {
                    state[g] = 2;
                    order.push(g);
                    continue;
                }
                match state[g] {
                    2 => continue,
                    1 => bail!(
                        "netlist: combinational loop through gate driving net {}",
                        gates[g].y
                    ),
                    _ => {}
                }
                state[g] = 1;
                stack.push((g, true));
                for b in [gates[g].a, gates[g].b] {
                    if let Bit::Net(n) = b {
                        let d = driver[n];
                        if d != usize::MAX && state[d] != 2 {
                            if state[d] == 1 {
                                bail!("netlist: combinational loop through net {n}");
                            }
                            stack.push((d, false));
                        }
                    }
                }
            }
        }
        let mut sorted: Vec<Gate> = Vec::with_capacity(gates.len());
        let mut slots: Vec<Option<Gate>> = gates.into_iter().map(Some).collect();
        for g in order {
            sorted.push(slots[g].take().unwrap());
        }
        let gate_weight = sorted
            .iter()
            .map(|g| match g.kind {
                GateKind::Not => 2,
                _ => 4,
            })
            .collect();
        Ok(GateSim {
            values: vec![false; max_net + 1],
            gates: sorted,
            gate_weight,
            flops,
            memories,
            inputs,
            outputs,
            clock_net,
            activity: Activity::default(),
            logic_transistors,
            net_toggles: vec![0; max_net + 1],
            timing: Timing::ZeroDelay,
            events: Events::default(),
        })
    }

    /// Chooses how changes propagate (zero delay until told otherwise). The state is kept; a
    /// timed mode starts from one full evaluation at its first settle.
    pub fn set_timing(&mut self, timing: Timing) {
        self.timing = timing;
        if timing == Timing::ZeroDelay {
            return;
        }
        let nets = self.values.len();
        let mut fanout = vec![vec![]; nets];
        // Load on each net, in inverter inputs: gate inputs by their logical effort, anything
        // else (a flip-flop's D, a memory port, an output port) as one inverter.
        let mut load = vec![0.0f64; nets];
        for (i, g) in self.gates.iter().enumerate() {
            let pins: &[Bit] = if g.kind == GateKind::Not {
                &[g.a]
            } else {
                &[g.a, g.b]
            };
            for &b in pins {
                if let Bit::Net(n) = b {
                    fanout[n].push(i as u32);
                    load[n] += effort_and_parasitic(g.kind).0;
                }
            }
        }
        let mut other = |b: Bit| {
            if let Bit::Net(n) = b {
                load[n] += 1.0;
            }
        };
        for &(d, _) in &self.flops {
            other(d);
        }
        for m in &self.memories {
            for b in m
                .read_addr
                .iter()
                .chain(&m.write_addr)
                .chain(&m.write_data)
                .chain(&m.write_en)
                .flatten()
                .chain(&m.read_en)
            {
                other(*b);
            }
        }
        for b in self.outputs.values().flatten() {
            other(*b);
        }
        let delay: Vec<u32> = self
            .gates
            .iter()
            .map(|g| match timing {
                Timing::UnitDelay => 1,
                _ => (logical_effort_delay(g.kind, load[g.y]) * TICKS_PER_TAU)
                    .round()
                    .max(1.0) as u32,
            })
            .collect();
        let span = *delay.iter().max().unwrap_or(&1) as usize + 1;
        let mut weight = vec![0; nets];
        for (g, &w) in self.gates.iter().zip(&self.gate_weight) {
            weight[g.y] = w;
        }
        self.events = Events {
            fanout,
            delay,
            weight,
            pending: vec![false; nets],
            pending_value: vec![false; nets],
            generation: vec![0; nets],
            dirty: vec![],
            wheel: vec![vec![]; span],
            queue: vec![],
            queued_at: vec![u64::MAX; self.gates.len()],
            now: 0,
            consistent: false,
        };
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// Sets net `n` at time 0 of the next settle.
    fn drive(&mut self, n: usize, v: bool) {
        drive_net(&mut self.values, &mut self.events, self.timing, n, v);
    }

    fn get(&self, b: Bit) -> bool {
        match b {
            Bit::Net(n) => self.values[n],
            Bit::Const(v) => v,
        }
    }

    fn word(&self, b: &[Bit]) -> u64 {
        b.iter()
            .enumerate()
            .fold(0, |w, (i, &x)| w | ((self.get(x) as u64) << i))
    }

    /// Drives input port `name` (bit 0 = least significant) with `value`.
    pub fn set(&mut self, name: &str, value: u64) -> Result<()> {
        let nets = self
            .inputs
            .get(name)
            .ok_or_else(|| anyhow!("netlist has no input port {name}"))?;
        for (i, &n) in nets.iter().enumerate() {
            let v = i < 64 && (value >> i) & 1 == 1;
            drive_net(&mut self.values, &mut self.events, self.timing, n, v);
        }
        Ok(())
    }

    /// Reads output port `name` (at most 64 bits), as of the last settle.
    pub fn get_output(&self, name: &str) -> Result<u64> {
        let b = self
            .outputs
            .get(name)
            .ok_or_else(|| anyhow!("netlist has no output port {name}"))?;
        Ok(self.word(b))
    }

    /// Changes of output port `name`'s nets since the activity was last reset.
    pub fn output_toggles(&self, name: &str) -> Result<u64> {
        let b = self
            .outputs
            .get(name)
            .ok_or_else(|| anyhow!("netlist has no output port {name}"))?;
        Ok(b.iter()
            .map(|x| match x {
                Bit::Net(n) => self.net_toggles[*n],
                Bit::Const(_) => 0,
            })
            .sum())
    }

    /// Propagates the changes made since the last settle, counting gate output toggles.
    pub fn settle(&mut self) {
        if self.timing == Timing::ZeroDelay || !self.events.consistent {
            self.settle_levelized();
            self.events.consistent = true;
            self.events.dirty.clear();
        } else {
            self.settle_events();
        }
    }

    /// Event-driven settle from the nets changed at time 0, each gate after its delay, with
    /// inertial cancellation; every change of a net counts.
    fn settle_events(&mut self) {
        let mut ev = std::mem::take(&mut self.events);
        let span = ev.wheel.len() as u64;
        let mut toggles = 0u64;
        let mut outstanding = 0usize;
        let mut t = ev.now;
        let mut changed = std::mem::take(&mut ev.dirty);
        loop {
            // Every gate reading a net that changed at time t, evaluated once.
            for &n in &changed {
                for &g in &ev.fanout[n] {
                    if ev.queued_at[g as usize] != t {
                        ev.queued_at[g as usize] = t;
                        ev.queue.push(g);
                    }
                }
            }
            changed.clear();
            for &g in &ev.queue {
                let gate = &self.gates[g as usize];
                let v = gate.eval(&self.values);
                let y = gate.y;
                let projected = if ev.pending[y] {
                    ev.pending_value[y]
                } else {
                    self.values[y]
                };
                if v == projected {
                    continue;
                }
                ev.generation[y] = ev.generation[y].wrapping_add(1);
                if ev.pending[y] {
                    // The inputs took the change back before it happened: the pulse is
                    // shorter than the gate's delay and does not pass (inertial delay).
                    ev.pending[y] = false;
                    continue;
                }
                ev.pending[y] = true;
                ev.pending_value[y] = v;
                let at = t + ev.delay[g as usize] as u64;
                ev.wheel[(at % span) as usize].push((y as u32, v, ev.generation[y]));
                outstanding += 1;
            }
            ev.queue.clear();
            // The next time with something due.
            if outstanding == 0 {
                break;
            }
            loop {
                t += 1;
                if !ev.wheel[(t % span) as usize].is_empty() {
                    break;
                }
            }
            let slot = std::mem::take(&mut ev.wheel[(t % span) as usize]);
            for &(n, v, gen) in &slot {
                outstanding -= 1;
                let n = n as usize;
                if gen != ev.generation[n] || !ev.pending[n] {
                    continue;
                }
                ev.pending[n] = false;
                if self.values[n] != v {
                    self.values[n] = v;
                    self.net_toggles[n] += 1;
                    toggles += ev.weight[n] as u64;
                    changed.push(n);
                }
            }
            let mut slot = slot;
            slot.clear();
            ev.wheel[(t % span) as usize] = slot;
        }
        ev.dirty = changed;
        ev.now = t + 1;
        self.events = ev;
        self.activity.gate_transistor_toggles += toggles;
    }

    /// Evaluates every gate once in dependency order, counting output toggles.
    fn settle_levelized(&mut self) {
        let mut toggles = 0u64;
        for (g, &w) in self.gates.iter().zip(&self.gate_weight) {
            let y = g.eval(&self.values);
            if self.values[g.y] != y {
                self.values[g.y] = y;
                self.net_toggles[g.y] += 1;
                toggles += w as u64;
            }
        }
        self.activity.gate_transistor_toggles += toggles;
    }

    /// One clock cycle: settle the inputs already set, then the rising edge (flip-flops and
    /// memory ports sample what they see), then settle again.
    pub fn cycle(&mut self) {
        if let Some(c) = self.clock_net {
            self.drive(c, false);
        }
        self.settle();
        let d: Vec<bool> = self.flops.iter().map(|&(d, _)| self.get(d)).collect();
        for m in 0..self.memories.len() {
            let mem = &self.memories[m];
            let mut reads = vec![];
            for (p, addr) in mem.read_addr.iter().enumerate() {
                if self.get(mem.read_en[p.min(mem.read_en.len() - 1)]) {
                    let a = self.word(addr) as usize % mem.words;
                    reads.push((p, mem.contents[a]));
                }
            }
            let mut writes = vec![];
            for p in 0..mem.write_addr.len() {
                let en = self.word(&mem.write_en[p]);
                if en != 0 {
                    let a = self.word(&mem.write_addr[p]) as usize % mem.words;
                    writes.push((a, en, self.word(&mem.write_data[p])));
                }
            }
            let _ = mem.abits;
            // Read-before-write (RD_TRANSPARENCY_MASK = 0): reads see the old contents.
            for (p, value) in reads {
                self.memories[m].reads += 1;
                for (i, &n) in self.memories[m].read_data[p].iter().enumerate() {
                    let v = (value >> i) & 1 == 1;
                    drive_net(&mut self.values, &mut self.events, self.timing, n, v);
                }
            }
            let mem = &mut self.memories[m];
            for (a, en, data) in writes {
                mem.writes += 1;
                mem.contents[a] = (mem.contents[a] & !en) | (data & en);
            }
        }
        let mut flips = 0;
        for (k, d) in d.into_iter().enumerate() {
            let q = self.flops[k].1;
            if self.values[q] != d {
                self.drive(q, d);
                flips += 1;
            }
        }
        self.activity.flop_toggles += flips;
        self.activity.flop_clocks += self.flops.len() as u64;
        self.activity.cycles += 1;
        if let Some(c) = self.clock_net {
            self.drive(c, true);
        }
        self.settle();
    }

    /// Clears the activity counters (gate, flip-flop and memory) and keeps the state.
    pub fn reset_activity(&mut self) {
        self.activity = Activity::default();
        self.net_toggles.iter_mut().for_each(|t| *t = 0);
        for m in &mut self.memories {
            m.reads = 0;
            m.writes = 0;
        }
    }

    pub fn flop_count(&self) -> usize {
        self.flops.len()
    }

    pub fn gate_count(&self) -> usize {
        self.gates.len()
    }
}
