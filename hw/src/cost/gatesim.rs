//! A cycle-based simulator of yosys gate netlists, for switching-activity energy.
//!
//! `cost::synthesize_gates` turns a block's generated Verilog into two-input CMOS gates (`abc -g
//! cmos2`: NAND, NOR, NOT), `$_DFF_P_` flip-flops and unmapped `$mem_v2` memories (the LUT banks,
//! costed by an SRAM model instead of gates). This module loads that netlist (`write_json`),
//! evaluates it one clock cycle at a time, and counts what switches: each gate's output toggles
//! weighted by its transistor count (a proxy for switched capacitance), flip-flop output toggles,
//! and memory reads and writes. Zero-delay evaluation: glitches are not counted.

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

#[derive(Clone, Copy, Debug)]
enum Bit {
    Net(usize),
    Const(bool),
}

#[derive(Clone, Copy, Debug)]
enum GateKind {
    Not,
    Nand,
    Nor,
}

#[derive(Debug)]
struct Gate {
    kind: GateKind,
    a: Bit,
    b: Bit,
    y: usize,
}

/// One `$mem_v2` with registered read ports and one clock (what rust-hdl's `RAM` becomes).
#[derive(Debug)]
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
        })
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
            self.values[n] = i < 64 && (value >> i) & 1 == 1;
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

    /// Evaluates every gate once in dependency order, counting output toggles.
    pub fn settle(&mut self) {
        let mut toggles = 0u64;
        for (g, &w) in self.gates.iter().zip(&self.gate_weight) {
            let a = match g.a {
                Bit::Net(n) => self.values[n],
                Bit::Const(v) => v,
            };
            let b = match g.b {
                Bit::Net(n) => self.values[n],
                Bit::Const(v) => v,
            };
            let y = match g.kind {
                GateKind::Not => !a,
                GateKind::Nand => !(a && b),
                GateKind::Nor => !(a || b),
            };
            if self.values[g.y] != y {
                self.values[g.y] = y;
                toggles += w as u64;
            }
        }
        self.activity.gate_transistor_toggles += toggles;
    }

    /// One clock cycle: settle the inputs already set, then the rising edge (flip-flops and
    /// memory ports sample what they see), then settle again.
    pub fn cycle(&mut self) {
        if let Some(c) = self.clock_net {
            self.values[c] = false;
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
            let mem = &mut self.memories[m];
            // Read-before-write (RD_TRANSPARENCY_MASK = 0): reads see the old contents.
            for (p, value) in reads {
                mem.reads += 1;
                let data = mem.read_data[p].clone();
                for (i, n) in data.into_iter().enumerate() {
                    self.values[n] = (value >> i) & 1 == 1;
                }
            }
            for (a, en, data) in writes {
                mem.writes += 1;
                mem.contents[a] = (mem.contents[a] & !en) | (data & en);
            }
        }
        let mut flips = 0;
        for (&(_, q), d) in self.flops.iter().zip(d) {
            if self.values[q] != d {
                self.values[q] = d;
                flips += 1;
            }
        }
        self.activity.flop_toggles += flips;
        self.activity.flop_clocks += self.flops.len() as u64;
        self.activity.cycles += 1;
        if let Some(c) = self.clock_net {
            self.values[c] = true;
        }
        self.settle();
    }

    /// Clears the activity counters (gate, flip-flop and memory) and keeps the state.
    pub fn reset_activity(&mut self) {
        self.activity = Activity::default();
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
