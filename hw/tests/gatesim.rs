//! The gate-level simulator's timing modes on netlists built here, gate by gate (no yosys): a
//! ripple-carry adder glitches on a known input pair in the timed modes and not in the
//! zero-delay mode; glitch-free logic (a single gate, a register stage) costs the same in every
//! mode; a hazard pulse narrower than a gate's delay does not pass that gate.

use lutna_hw::cost::gatesim::{GateSim, Timing};
use lutna_hw::sim::XorShift;
use serde_json::{json, Map, Value};

/// A netlist in yosys' JSON form, built one cell at a time. Nets are numbered from 2.
#[derive(Default)]
struct Netlist {
    next: u64,
    ports: Map<String, Value>,
    cells: Map<String, Value>,
}

impl Netlist {
    fn new() -> Self {
        Netlist {
            next: 2,
            ..Default::default()
        }
    }

    fn net(&mut self) -> u64 {
        self.next += 1;
        self.next - 1
    }

    fn input(&mut self, name: &str, width: usize) -> Vec<u64> {
        let bits: Vec<u64> = (0..width).map(|_| self.net()).collect();
        self.ports.insert(
            name.into(),
            json!({"direction": "input", "bits": bits.clone()}),
        );
        bits
    }

    fn output(&mut self, name: &str, bits: &[u64]) {
        self.ports
            .insert(name.into(), json!({"direction": "output", "bits": bits}));
    }

    fn cell(&mut self, kind: &str, connections: Value) {
        let name = format!("c{}", self.cells.len());
        self.cells
            .insert(name, json!({"type": kind, "connections": connections}));
    }

    fn nand(&mut self, a: u64, b: u64) -> u64 {
        let y = self.net();
        self.cell("$_NAND_", json!({"A": [a], "B": [b], "Y": [y]}));
        y
    }

    fn not(&mut self, a: u64) -> u64 {
        let y = self.net();
        self.cell("$_NOT_", json!({"A": [a], "Y": [y]}));
        y
    }

    fn flop(&mut self, clock: u64, d: u64) -> u64 {
        let q = self.net();
        self.cell("$_DFF_P_", json!({"C": [clock], "D": [d], "Q": [q]}));
        q
    }

    fn sim(&self) -> GateSim {
        let doc = json!({"modules": {"top": {"ports": self.ports, "cells": self.cells}}});
        GateSim::from_yosys_json(&doc.to_string()).unwrap()
    }
}

/// An 8-bit ripple-carry adder of nine-NAND full adders; sum bit i is output `s<i>`.
fn ripple_adder() -> Netlist {
    let mut n = Netlist::new();
    let a = n.input("a", 8);
    let b = n.input("b", 8);
    let zero = n.input("zero", 1)[0];
    let mut carry = zero;
    for i in 0..8 {
        let x1 = n.nand(a[i], b[i]);
        let x2 = n.nand(a[i], x1);
        let x3 = n.nand(b[i], x1);
        let half = n.nand(x2, x3);
        let x4 = n.nand(half, carry);
        let x5 = n.nand(half, x4);
        let x6 = n.nand(carry, x4);
        let sum = n.nand(x5, x6);
        carry = n.nand(x4, x1);
        n.output(&format!("s{i}"), &[sum]);
    }
    n.output("carry", &[carry]);
    n
}

fn sum_of(sim: &GateSim) -> u64 {
    (0..8)
        .map(|i| sim.get_output(&format!("s{i}")).unwrap() << i)
        .sum()
}

/// Applies a = 0x01, b = 0x7F to the adder settled at 0 + 0: bits 1..6 of the sum see their own
/// operands (0 + 1) at once and the carry much later, so each rises, then falls when the carry
/// arrives; only bit 7 changes for good (0x00 -> 0x80).
fn glitch_pair(timing: Timing) -> (GateSim, [u64; 8]) {
    let mut sim = ripple_adder().sim();
    sim.set_timing(timing);
    sim.settle();
    sim.reset_activity();
    sim.set("a", 0x01).unwrap();
    sim.set("b", 0x7F).unwrap();
    sim.settle();
    let toggles = std::array::from_fn(|i| sim.output_toggles(&format!("s{i}")).unwrap());
    (sim, toggles)
}

#[test]
fn a_ripple_carry_adder_glitches_on_a_carry_that_arrives_late() {
    let (zero, z) = glitch_pair(Timing::ZeroDelay);
    let (unit, u) = glitch_pair(Timing::UnitDelay);
    let (effort, e) = glitch_pair(Timing::LogicalEffort);
    for sim in [&zero, &unit, &effort] {
        assert_eq!(sum_of(sim), 0x80, "every mode settles to the sum");
    }
    // Zero delay: each net takes its final value once.
    assert_eq!(z, [0, 0, 0, 0, 0, 0, 0, 1]);
    // Unit delay: bits 2..6 rise and fall (the carry reaches bit i about 2i delays after its
    // operands), bit 7 rises once.
    for i in 2..=6 {
        assert_eq!(u[i], 2, "sum bit {i} under unit delay: {u:?}");
        assert_eq!(e[i], 2, "sum bit {i} under logical effort: {e:?}");
    }
    assert_eq!(u[7], 1);
    assert_eq!(e[7], 1);
    let extra = |s: &GateSim| s.activity.gate_transistor_toggles;
    assert!(
        extra(&unit) >= extra(&zero) + 10 * 4,
        "the ten extra sum transitions (NAND outputs, 4 transistors each) are counted: {} vs {}",
        extra(&unit),
        extra(&zero)
    );
    assert!(extra(&effort) >= extra(&zero) + 10 * 4);
}

/// Runs `cycles` random cycles of input `inputs` (each `width` bits) and returns the activity.
fn random_run(net: &Netlist, timing: Timing, inputs: &[(&str, u32)]) -> (u64, u64, u64) {
    let mut sim = net.sim();
    sim.set_timing(timing);
    sim.cycle();
    sim.reset_activity();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..500 {
        for &(name, width) in inputs {
            sim.set(name, rng.next_u64() & ((1 << width) - 1)).unwrap();
        }
        sim.cycle();
    }
    let a = sim.activity;
    (a.gate_transistor_toggles, a.flop_toggles, a.flop_clocks)
}

#[test]
fn glitch_free_logic_costs_the_same_in_every_mode() {
    // One gate: each input change moves its output at most once.
    let mut gate = Netlist::new();
    let ab = gate.input("ab", 2);
    let y = gate.nand(ab[0], ab[1]);
    gate.output("y", &[y]);
    // A register stage: flip-flops, each output through one inverter.
    let mut stage = Netlist::new();
    let clock = stage.input("clock", 1)[0];
    let d = stage.input("d", 8);
    let q: Vec<u64> = d
        .iter()
        .map(|&b| {
            let q = stage.flop(clock, b);
            stage.not(q)
        })
        .collect();
    stage.output("q", &q);
    for (net, inputs) in [(&gate, vec![("ab", 2)]), (&stage, vec![("d", 8)])] {
        let zero = random_run(net, Timing::ZeroDelay, &inputs);
        assert!(zero.0 > 0, "the stimulus switches something");
        for timing in [Timing::UnitDelay, Timing::LogicalEffort] {
            assert_eq!(random_run(net, timing, &inputs), zero, "{timing:?}");
        }
    }
}

#[test]
fn a_pulse_narrower_than_a_gate_delay_does_not_pass() {
    // y = NAND(a, NOT a): when a rises, the NAND sees (1, 1) for one inverter delay. Under unit
    // delay the pulse is one delay wide, as wide as the NAND's delay, and passes; under logical
    // effort the inverter (driving one NAND input: 1 + 4/3 tau) is faster than the NAND (driving
    // the output: 2 + 1 tau), so the NAND's inertia swallows it.
    let mut n = Netlist::new();
    let a = n.input("a", 1)[0];
    let na = n.not(a);
    let y = n.nand(a, na);
    n.output("y", &[y]);
    let run = |timing| {
        let mut sim = n.sim();
        sim.set_timing(timing);
        sim.settle();
        sim.reset_activity();
        sim.set("a", 1).unwrap();
        sim.settle();
        assert_eq!(sim.get_output("y").unwrap(), 1);
        sim.output_toggles("y").unwrap()
    };
    assert_eq!(run(Timing::ZeroDelay), 0);
    assert_eq!(run(Timing::UnitDelay), 2);
    assert_eq!(run(Timing::LogicalEffort), 0);
}
