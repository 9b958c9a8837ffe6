//! The layer engine's cycle model: the instruction stream stepped one clock at a time through
//! the engine's units as docs/engine.md times them. It is the timing contract the RTL is built
//! to (every constant in [`timing`] is a latency or a cost of a unit there) and what
//! `lutna run` and the benchmarks quote before any simulation. The RTL's own counters, read
//! back after every layer (`RECORD`), are held to within 1 % of it.

use crate::isa::{
    shape, Instr, OutKind, Register, MODE_CONTIGUOUS, MODE_OUT_KIND, MODE_SLOTS, MODE_STRIDE2,
};
use std::collections::VecDeque;

/// Latencies and costs of the engine's units, in clock cycles.
pub mod timing {
    /// From a tap's issue to the cycle its products are added (tap memory read, activation
    /// read, table read, accumulate).
    pub const PIPE: u64 = 4;
    /// From a tap's issue to the cycle its table half may be rewritten (its table read done).
    pub const HALF_RELEASE: u64 = 3;
    /// From a batch programmed to its first tap when the issuer is idle: the issuer holds it a
    /// cycle, then starts the address generator's walk.
    pub const HANDOFF: u64 = 2;
    /// From a batch's last tap to the first cycle the next batch of its channel may start: a
    /// partial sum is read (S2) after it was stored (S4), never in the same cycle.
    pub const PARTIAL_AFTER_STORE: u64 = PIPE - 1;
    /// Cycles between one group's last byte leaving the requantizer and the next group's first:
    /// the writer's odd-copy write reads a group's gathered bytes the cycle after its even
    /// write, so the drain takes a group's sums at most every A + GROUP_GAP cycles.
    pub const GROUP_GAP: u64 = 1;
    /// From a sum entering the requantizer to its byte leaving it (the bias is added in the
    /// drain's cycle).
    pub const REQUANT: u64 = 7;
    /// From the engine running out of work with a carried byte pending to its being idle: the
    /// writer's flush announced, then written.
    pub const FLUSH: u64 = 2;
    /// Program words read per instruction word: one per cycle.
    pub const WORD: u64 = 1;
    /// Table entries written per cycle (both copies of every lane at once).
    pub const TABLE_WRITE: u64 = super::shape::TABLE_ENTRIES as u64;
    /// Activation-memory writes for a group's output bytes (docs/engine.md, "Writer"): the even
    /// copy takes one; the odd copy (one byte later) takes one as well, the writer carrying a
    /// group's last byte into the next group's odd-copy write when the group fills the memory's
    /// `window` ([`super::shape::window_bytes`]), and one more where the pointer
    /// jumps after such a group (`jump`: a row's or channel's end of a walk that is not
    /// `MODE_CONTIGUOUS`), where the carried byte is written alone. A carry left at a walk's
    /// end is written alone once nothing else runs ([`FLUSH`]).
    pub fn group_writes(bytes: usize, window: usize, jump: bool) -> u64 {
        if bytes == window && jump {
            3
        } else {
            2
        }
    }
}

use timing::*;

/// What the engine's counters show for one layer (between two `RECORD`s): its cycles, and the
/// cycles in which the issuer issued a tap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LayerCycles {
    pub cycles: u64,
    pub issues: u64,
}

/// A batch handed from the programmer to the issuer.
#[derive(Clone, Debug)]
struct Issue {
    taps: u64,
    groups: u64,
    /// Groups per output row (the writer flushes at a row's end).
    row_groups: u64,
    /// The walk's output is one run (`MODE_CONTIGUOUS`).
    contiguous: bool,
    first: bool,
    last: bool,
    /// Times the batch runs (REPEAT): once per channel.
    repeat: u64,
    /// Output bytes per group (0 for logits, which go to their own memory).
    bytes: usize,
    /// Cycle from which the issuer may start it (its last word read).
    ready: u64,
    /// The tap-memory half it was written into, and the table slots it reads.
    half: usize,
    slots: Vec<usize>,
}

/// The issuer's progress through its current batch.
struct Walking {
    batch: Issue,
    run: u64,
    group: u64,
    tap: u64,
    /// The group still has to read its partial sums (a batch after the channel's first).
    bubble: bool,
}

struct Engine {
    t: u64,
    /// Batches programmed and waiting for the issuer, in order.
    queue: VecDeque<Issue>,
    walking: Option<Walking>,
    /// The cycles in which the writer takes the activation memory, rising.
    writes: VecDeque<u64>,
    /// A `CHANNEL` was read whose parameters the drain has not taken yet (the engine keeps two
    /// sets, the fetch unit's and the drain's), and the cycle from which the next may be read.
    params_claimed: bool,
    params_free: u64,
    /// Bytes the activation memory reads per cycle ([`shape::window_bytes`]).
    window: usize,
    /// A full window's group's last byte waits for the next group's write (or the flush).
    carry_pending: bool,
    /// Cycles with a partial-sum write (the table memories' write port), rising.
    partial_writes: VecDeque<u64>,
    /// First cycle the drain can take a group's sums.
    drain_free: u64,
    /// Cycle by which everything issued so far is written.
    done_by: u64,
    /// Cycle from which each tap-memory half may be written.
    half_free: [u64; 2],
    /// Cycle from which a batch after a channel's first may start: its partial-sum reads come
    /// after the previous batch's last store.
    stored_by: u64,
    /// Cycle from which each table slot may be written (`u64::MAX` while a batch that reads it
    /// is still to finish).
    slot_free: Vec<u64>,
    issues: u64,
}

impl Engine {
    fn idle(&mut self) -> bool {
        let idle = self.queue.is_empty() && self.walking.is_none() && self.t >= self.done_by;
        if idle && self.carry_pending {
            // Everything else is done: the writer writes the carried byte alone.
            self.carry_pending = false;
            self.done_by = self.t + FLUSH;
            return false;
        }
        idle
    }

    /// One clock of the issuer.
    fn step_issuer(&mut self) {
        let t = self.t;
        // A tap issued now reads the memory at S1, so a write there next cycle keeps it back.
        let port_busy = self.writes.front() == Some(&(t + 1));
        if port_busy {
            self.writes.pop_front();
        }
        if self.walking.is_none() {
            match self.queue.front() {
                Some(b) if b.ready <= t && (b.first || t >= self.stored_by) => {
                    let batch = self.queue.pop_front().unwrap();
                    let bubble = !batch.first;
                    self.walking = Some(Walking {
                        batch,
                        run: 0,
                        group: 0,
                        tap: 0,
                        bubble,
                    });
                }
                _ => return,
            }
        }
        let w = self.walking.as_mut().unwrap();
        let last_tap = w.tap + 1 == w.batch.taps;
        let drain_busy = last_tap && w.batch.last && self.drain_free > t + PIPE + 1;
        if port_busy || drain_busy {
            // No tap can issue: the cycle reads the group's partial sums if it still needs them
            // (they may join its sum at any point before its last tap).
            w.bubble = false;
            return;
        }
        if last_tap && w.bubble {
            // The group's last chance to read its partial sums: a cycle without a tap.
            w.bubble = false;
            return;
        }
        self.issues += 1;
        w.tap += 1;
        if !last_tap {
            return;
        }
        let b = w.batch.clone();
        if b.last && w.run == 0 && w.group == 0 {
            // The channel's first group reaches the drain at S4 and takes the parameters.
            self.params_claimed = false;
            self.params_free = t + PIPE + 1;
        }
        if b.last {
            let load = t + PIPE + 1;
            let active = if b.bytes == 0 { 1 } else { b.bytes as u64 };
            self.drain_free = load + active + GROUP_GAP;
            let out = load + active + REQUANT;
            if b.bytes > 0 {
                let mut at = out.max(self.writes.back().map_or(0, |&w| w + 1));
                let row_end = (w.group + 1).is_multiple_of(b.row_groups);
                let jump = row_end && !b.contiguous;
                if b.bytes == self.window {
                    self.carry_pending = !jump;
                }
                for _ in 0..group_writes(b.bytes, self.window, jump) {
                    self.writes.push_back(at);
                    at += 1;
                }
                self.done_by = self.done_by.max(at);
            } else {
                self.done_by = self.done_by.max(out + 1);
            }
        } else {
            self.partial_writes.push_back(t + PIPE);
            self.done_by = self.done_by.max(t + PIPE + 1);
        }
        w.tap = 0;
        w.group += 1;
        if w.group == b.groups {
            w.group = 0;
            w.run += 1;
            if w.run == b.repeat {
                self.half_free[b.half] = t + HALF_RELEASE + 1;
                self.stored_by = t + PARTIAL_AFTER_STORE;
                for &s in &b.slots {
                    self.slot_free[s] = t + HALF_RELEASE + 1;
                }
                self.walking = None;
                return;
            }
        }
        w.bubble = !b.first;
    }
}

/// Per engine layer (in the order of [`crate::compile::Compiled::layers`], one entry per
/// `RECORD`), the predicted counters, and the whole program's cycles. An `END` before the last
/// instruction ends a segment ([`crate::isa::segments`]): it waits until the engine is idle,
/// and the next segment runs on.
pub fn model(program: &[Instr], lanes: usize) -> (Vec<LayerCycles>, u64) {
    let mut e = Engine {
        t: 0,
        queue: VecDeque::new(),
        walking: None,
        writes: VecDeque::new(),
        partial_writes: VecDeque::new(),
        drain_free: 0,
        done_by: 0,
        half_free: [0; 2],
        stored_by: 0,
        params_claimed: false,
        window: shape::window_bytes(lanes),
        carry_pending: false,
        params_free: 0,
        slot_free: vec![0; shape::TABLE_SLOTS],
        issues: 0,
    };
    let mut regs = [0u16; Register::ALL.len()];
    let mut layers = Vec::new();
    let (mut last_t, mut last_issues) = (0, 0);
    let mut half = 0;
    let mut repeat = 1;
    let mut first = true;
    // The programmer: the instruction it is on, and the cycles of it still to go.
    let mut pc = 0;
    let mut busy: u64 = 0;
    // Table entries the filler has still to write.
    let mut fill_left: u64 = 0;
    // Within a BATCH: the next tap to program (None before its header) and the slots taken.
    let mut tap_at: Option<usize> = None;
    let mut slots: Vec<usize> = Vec::new();
    let (mut ring, mut ring_slots) = (0, 1);
    // The cycle whose filler step is done (the programmer may go through several instructions
    // in one cycle), and whether the filler was busy when that cycle began.
    let mut filler_at = None;
    let mut filling = false;
    loop {
        if filler_at != Some(e.t) {
            filler_at = Some(e.t);
            // The programmer loses a cycle to a partial-sum write on the table memories' port.
            while e.partial_writes.front().is_some_and(|&w| w < e.t) {
                e.partial_writes.pop_front();
            }
            let stolen = e.partial_writes.front() == Some(&e.t);
            // The filler writes one entry in each cycle the port is free; what the programmer
            // sees this cycle is whether it was still filling when the cycle began.
            filling = fill_left > 0;
            if filling && !stolen {
                fill_left -= 1;
            }
        }
        if busy > 0 {
            busy -= 1;
        } else {
            match &program[pc] {
                Instr::End => {
                    if e.idle() {
                        if pc + 1 == program.len() {
                            return (layers, e.t);
                        }
                        // A segment's end: the next is RUN and read from the cycle after.
                        pc += 1;
                    }
                }
                Instr::Set(r, v) => {
                    if e.idle() {
                        regs[*r as usize] = *v;
                        if *r == Register::Mode {
                            ring = 0;
                            ring_slots = MODE_SLOTS.get(*v) as usize + 1;
                        }
                        busy = 2 * WORD - 1;
                        pc += 1;
                    }
                }
                Instr::Record(_) => {
                    if e.idle() {
                        layers.push(LayerCycles {
                            cycles: e.t - last_t,
                            issues: e.issues - last_issues,
                        });
                        (last_t, last_issues) = (e.t, e.issues);
                        busy = WORD - 1;
                        pc += 1;
                    }
                }
                Instr::Repeat(n) => {
                    repeat = *n as u64;
                    busy = WORD - 1;
                    pc += 1;
                }
                Instr::Channel { .. } => {
                    if !e.params_claimed && e.t >= e.params_free {
                        e.params_claimed = true;
                        first = true;
                        busy = program[pc].word_count() as u64 * WORD - 1;
                        pc += 1;
                    }
                }
                Instr::Batch { last, taps } => match tap_at {
                    None => {
                        // The header, once the tap-memory half is free; the first tap's offset
                        // word follows, and its second word is the cycle it may be taken.
                        if e.half_free[half] <= e.t {
                            e.half_free[half] = u64::MAX;
                            busy = 2 * WORD - 1;
                            tap_at = Some(0);
                        }
                    }
                    Some(k) if k < taps.len() => {
                        // Tap k's words are in. A tap that reuses a table is taken at once; a
                        // new table waits for the filler (one table at a time) and for the next
                        // slot of the ring (free once the batch that read it last has
                        // finished), then fills it in the background, 16 entries, while the
                        // next tap's words are read.
                        let take = if taps[k].reuse {
                            true
                        } else if !filling && e.slot_free[ring] <= e.t {
                            e.slot_free[ring] = u64::MAX;
                            slots.push(ring);
                            ring = (ring + 1) % ring_slots;
                            fill_left = TABLE_WRITE;
                            true
                        } else {
                            false
                        };
                        if take {
                            tap_at = Some(k + 1);
                            if k + 1 < taps.len() {
                                busy = 2 * WORD - 1;
                            } else {
                                continue;
                            }
                        }
                    }
                    // (The programmer hands over in the last fill cycle.)
                    Some(_) if fill_left > 0 => {}
                    Some(_) => {
                        // Programmed: the issuer may take it from this cycle on.
                        let mode = regs[Register::Mode as usize];
                        let stride = 1 + MODE_STRIDE2.get(mode) as usize;
                        let logits = MODE_OUT_KIND.get(mode) == OutKind::Logits as u16;
                        e.queue.push_back(Issue {
                            taps: taps.len() as u64,
                            groups: (regs[Register::Rows as usize] as u64 + 1)
                                * (regs[Register::Groups as usize] as u64 + 1),
                            row_groups: regs[Register::Groups as usize] as u64 + 1,
                            contiguous: MODE_CONTIGUOUS.get(mode) == 1,
                            first,
                            last: *last,
                            repeat,
                            bytes: if logits { 0 } else { lanes / stride },
                            ready: e.t + HANDOFF,
                            half,
                            slots: std::mem::take(&mut slots),
                        });
                        half ^= 1;
                        first = false;
                        repeat = 1;
                        tap_at = None;
                        pc += 1;
                        continue; // the hand-off takes no cycle of its own
                    }
                },
            }
        }
        e.step_issuer();
        e.t += 1;
    }
}

/// The cycle model of a program run as `segments` (each ending in `END`, run one after the
/// other): per engine layer and in all, for one image.
pub fn of_segments(segments: &[Vec<Instr>], lanes: usize) -> (Vec<LayerCycles>, u64) {
    model(&segments.concat(), lanes)
}

/// The cycle model of a compiled model: per engine layer and in all, for one image, its program
/// run in segments of the engine's program buffer.
pub fn of(compiled: &crate::compile::Compiled) -> (Vec<LayerCycles>, u64) {
    of_segments(
        &compiled.segments(shape::PROGRAM_WORDS),
        compiled.config.lanes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accel::AccelConfig;
    use crate::arith::Scheme;
    use crate::model::Op;
    use crate::{Model, Plan};

    fn icebreaker() -> Model {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models/icebreaker-w0.5.lutna");
        Model::load(&p).unwrap()
    }

    /// The engine as designed beats the first, descriptor-driven engine on the iCEBreaker model
    /// (156,185 cycles per image at 8 lanes, measured on its Verilator board) with its conv
    /// lanes busy at least 70 % of the conv layers' cycles: the targets of docs/engine.md.
    #[test]
    fn icebreaker_model_meets_the_cycle_targets() {
        let model = icebreaker();
        let plan = Plan::rotating(&model, &[Scheme::LUTNA, Scheme::ALUTNA_C, Scheme::ALUTNA]);
        let compiled =
            crate::compile::compile(&AccelConfig::new(8).unwrap(), &model, &plan).unwrap();
        let (layers, total) = of(&compiled);
        assert_eq!(layers.len(), compiled.layers.len());
        let (mut conv, mut issued) = (0, 0);
        for (l, c) in compiled.layers.iter().zip(&layers) {
            let op = &model.layers[l.layer].op;
            println!(
                "{:<28} {:>7} cycles {:>7} issues",
                l.name, c.cycles, c.issues
            );
            if matches!(op, Op::Conv(_)) {
                conv += c.cycles;
                issued += c.issues;
            }
        }
        let util = issued as f64 / conv as f64;
        println!(
            "total {total} cycles; conv lane utilization {:.1} %",
            100.0 * util
        );
        assert!(total < 156_185, "{total} cycles");
        assert!(util >= 0.70, "conv utilization {util}");
    }

    /// The model's issue count is the reference engine's: every tap of every group, once.
    #[test]
    fn issues_are_the_machines() {
        let model = icebreaker();
        let plan = Plan::uniform(Scheme::LUTNA);
        let compiled =
            crate::compile::compile(&AccelConfig::new(8).unwrap(), &model, &plan).unwrap();
        let (layers, _) = of(&compiled);
        let mut m = crate::isa::Machine::new(8);
        let image = vec![7u8; 3 * 32 * 32];
        compiled.run(&mut m, &image).unwrap();
        let mut before = 0;
        for (k, c) in layers.iter().enumerate() {
            let at = m.records[k].unwrap();
            assert_eq!(c.issues, at - before, "layer {k}");
            before = at;
        }
    }
}
