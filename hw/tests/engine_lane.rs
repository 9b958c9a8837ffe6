//! The instruction-stream engine's lane (`EngineLane`) against lutna-core: products of every
//! lane mode from the one table `arith::lane_entry` (checked against `Scheme::product`, the
//! golden engine's), signs, sums over several taps,
//! a partial sum stored and read back, max mode, the drain; then its Verilog through yosys and
//! its packed cells against its line of the budget (docs/engine.md).

use lutna_core::arith::{lane_entry, LaneMode};
use lutna_hw::engine::lane::EngineLane;
use lutna_hw::sim::{
    replay_under_icarus, tick, tool_available, validate_with_yosys, Trace, XorShift,
};
use rust_hdl::prelude::*;
use std::cell::RefCell;

/// One cycle's worth of work entering the lane at S2.
#[derive(Clone, Copy, Default)]
struct Op {
    /// A tap: activation, slot.
    tap: Option<(u8, u8)>,
    /// A partial-sum read of this bank word instead.
    partial: Option<u8>,
    mode: u8,
    max: bool,
    last: bool,
    /// With `last`: to the drain (else stored at `store_at`).
    drain: bool,
    store_at: u8,
}

fn clock(u: &mut EngineLane) -> &mut Signal<In, Clock> {
    &mut u.clock
}

thread_local! {
    /// When recording: the lane's ports (as its Verilog names them) and every cycle's values.
    static TRACE: RefCell<Option<Trace>> = const { RefCell::new(None) };
}

/// One clock: settled, recorded when a trace is being taken, then the rising edge.
fn step(u: &mut EngineLane) {
    assert!(simulate(u, 200));
    TRACE.with(|t| {
        if let Some(trace) = t.borrow_mut().as_mut() {
            trace.record(u);
        }
    });
    tick(u, clock);
}

/// Writes weight `w`'s table into `slot` of both banks (16-bit two's complement words).
fn program(uut: &mut EngineLane, slot: u8, w: i16) {
    // No work in the pipeline meanwhile.
    uut.s3_partial.next = false;
    uut.s3_max.next = false;
    uut.s3_keep.next = false;
    uut.s4_valid.next = false;
    uut.s4_last.next = false;
    uut.s4_drain.next = false;
    uut.s4_store.next = false;
    for j in 0..16 {
        uut.table_write.next = true;
        uut.write_address.next = ((slot as u64) << 4 | j as u64).into();
        uut.table_data.next = (lane_entry(w, j) as u16 as u64).into();
        step(uut);
    }
    uut.table_write.next = false;
}

/// Runs `ops` through the pipeline (S2, S3, S4 on consecutive cycles) and returns the drain
/// register after each op that loaded it.
fn run(uut: &mut EngineLane, ops: &[Op]) -> Vec<i32> {
    run_reading(uut, ops, true)
}

/// [`run`], the lane's position in the map (`reads`) or not.
fn run_reading(uut: &mut EngineLane, ops: &[Op], reads: bool) -> Vec<i32> {
    let mut drained = Vec::new();
    uut.reads.next = reads;
    // An op is the first of its group when the op before it ended one.
    let first: Vec<bool> = (0..ops.len()).map(|i| i == 0 || ops[i - 1].last).collect();
    for t in 0..ops.len() + 2 {
        let none = Op::default();
        let s2 = ops.get(t).copied().unwrap_or(none);
        let s3 = if t >= 1 {
            ops.get(t - 1).copied().unwrap_or(none)
        } else {
            none
        };
        let s4 = if t >= 2 { ops[t - 2] } else { none };
        let (a, slot) = s2.tap.unwrap_or((0, 0));
        uut.activation.next = (a as u64).into();
        set_read(uut, &s2, slot);
        uut.s3_partial.next = s3.partial.is_some();
        // (A max-mode cycle without a tap, as when the writer holds the issuer, keeps the max.)
        uut.s3_max.next = s3.max && s3.tap.is_some();
        uut.s3_keep.next = s3.max && s3.tap.is_none();
        uut.s3_first.next = t >= 1 && first.get(t - 1).copied().unwrap_or(false);
        uut.s4_valid.next = (s4.tap.is_some() && (!s4.max || s4.last)) || s4.partial.is_some();
        uut.s4_last.next = s4.last;
        uut.s4_drain.next = s4.last && s4.drain;
        uut.s4_store.next = s4.last && !s4.drain;
        uut.write_address.next = (s4.store_at as u64).into();
        step(uut);
        if s4.last && s4.drain {
            drained.push(sign_extend(uut.drain_out.val().index() as u32));
        }
    }
    drained
}

/// The drain register's value as the drain reads it: a `SUM`-bit two's-complement number.
fn sign_extend(v: u32) -> i32 {
    let spare = 32 - lutna_hw::engine::lane::SUM as u32;
    ((v << spare) as i32) >> spare
}

fn tap(a: u8, slot: u8, mode: LaneMode) -> Op {
    Op {
        tap: Some((a, slot)),
        mode: mode.code(),
        ..Default::default()
    }
}

/// The S2 read controls the issuer forms once for all lanes: the slot, a partial sum's word,
/// and the low bank's nibble (the activation's, or the entry the mode reads instead).
fn set_read(uut: &mut EngineLane, s2: &Op, slot: u8) {
    let mode = LaneMode::ALL[s2.mode as usize];
    uut.partial.next = s2.partial.is_some();
    let word = s2.partial.unwrap_or(slot << 4);
    uut.bank_high.next = ((word >> 4) as u64).into();
    uut.partial_low.next = ((word & 15) as u64).into();
    uut.low_pass.next = s2.partial.is_none() && mode == LaneMode::Exact;
    let fill = match s2.partial {
        Some(w) => w & 15,
        None => mode.low_read(0) as u8,
    };
    uut.low_fill.next = (fill as u64).into();
}

#[test]
fn sums_of_products_partial_sums_and_max_match_lutna_core() {
    exercise(&mut EngineLane::top());
}

/// The same work with every cycle recorded, replayed under Icarus on the lane's Verilog.
#[test]
fn the_lanes_verilog_agrees_under_icarus() {
    let mut uut = EngineLane::top();
    let verilog = generate_verilog(&uut);
    TRACE.with(|t| *t.borrow_mut() = Some(Trace::for_verilog(&verilog)));
    exercise(&mut uut);
    let trace = TRACE.with(|t| t.borrow_mut().take()).unwrap();
    assert!(trace.rows.len() > 1000);
    replay_under_icarus("engine-lane", &verilog, &trace.rows);
}

fn exercise(uut: &mut EngineLane) {
    let mut rng = XorShift(0x5eed);
    for mode in LaneMode::ALL {
        let scheme = mode.scheme();
        // Four weights in four slots.
        let weights: Vec<i16> = (0..4)
            .map(|_| {
                let m = 1 + (rng.next_u64() % 255) as i16;
                if rng.next_u64().is_multiple_of(2) {
                    m
                } else {
                    -m
                }
            })
            .collect();
        for (s, &w) in weights.iter().enumerate() {
            program(uut, 4 + s as u8, w);
        }
        for round in 0..20 {
            // Batch 1 of a group: four taps, stored as the partial sum of group `g`.
            let g = (rng.next_u64() % 128) as u8;
            let mut ops = Vec::new();
            let mut want: i32 = 0;
            let taps = |rng: &mut XorShift, ops: &mut Vec<Op>, want: &mut i32| {
                for s in 0..4u8 {
                    let a = (rng.next_u64() % 256) as u8;
                    let w = weights[s as usize];
                    ops.push(tap(a, 4 + s, mode));
                    *want = want.wrapping_add(scheme.product(a, w));
                }
            };
            taps(&mut rng, &mut ops, &mut want);
            ops.last_mut().unwrap().last = true;
            ops.last_mut().unwrap().store_at = 255 - g;
            // Batch 2: the partial sum read back in the middle of its taps, then the drain.
            let mut second = Vec::new();
            taps(&mut rng, &mut second, &mut want);
            // (At least two slots after the store: a read of the word written in the same
            // cycle is not defined, and the issuer never makes one.)
            second.insert(
                2 + round % 3,
                Op {
                    partial: Some(255 - g),
                    ..Default::default()
                },
            );
            second.last_mut().unwrap().last = true;
            second.last_mut().unwrap().drain = true;
            ops.extend(second);
            assert_eq!(run(uut, &ops), vec![want], "{mode:?}, round {round}");
        }
    }
    // Max mode: weight 1, the largest activation of the group, starting from 0.
    program(uut, 0, 1);
    for round in 0..20 {
        let acts: Vec<u8> = (0..9).map(|_| (rng.next_u64() % 256) as u8).collect();
        let mut ops: Vec<Op> = acts
            .iter()
            .map(|&a| Op {
                max: true,
                ..tap(a, 0, LaneMode::Exact)
            })
            .collect();
        // Cycles without a tap inside the group, now and then.
        for k in (1..ops.len()).rev() {
            if rng.next_u64().is_multiple_of(3) {
                ops.insert(
                    k,
                    Op {
                        max: true,
                        ..Default::default()
                    },
                );
            }
        }
        ops.last_mut().unwrap().last = true;
        ops.last_mut().unwrap().drain = true;
        let want = *acts.iter().max().unwrap() as i32;
        assert_eq!(run(uut, &ops), vec![want], "max, round {round}");
    }
}

/// Outside the map a lane reads as for a byte 0, as the golden engine pads: 0 in LUT-NA and
/// truncating A-LUT-NA, `8 w` in the centred mode.
#[test]
fn a_position_outside_the_map_reads_as_a_zero_byte() {
    let mut uut = EngineLane::top();
    program(&mut uut, 2, -100);
    for mode in LaneMode::ALL {
        for reads in [true, false] {
            let mut op = tap(77, 2, mode);
            op.last = true;
            op.drain = true;
            let got = run_reading(&mut uut, &[op], reads);
            let a = if reads { 77 } else { 0 };
            assert_eq!(
                got,
                vec![mode.scheme().product(a, -100)],
                "{mode:?} reads {reads}"
            );
        }
    }
}

/// The lane's Verilog is clean, and on its own it packs within its line of the budget.
#[test]
fn the_lane_fits_its_budget() {
    let uut = EngineLane::top();
    let verilog = generate_verilog(&uut);
    validate_with_yosys("engine_lane", &verilog);
    if !tool_available("nextpnr-ice40", "the lane's cell count") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lutna-engine-lane-{}", std::process::id()));
    let cells = lutna_hw::flow::unit::unit_cells(&dir, &verilog).unwrap();
    println!("engine lane: {cells:?}");
    assert_eq!(cells.synth.bram, 2, "the lane's bank is two block RAMs");
    assert!(
        cells.packed_logic_cells <= lutna_hw::engine::budget::LANE.cells as u64,
        "the lane packs to {} logic cells; its budget is {}",
        cells.packed_logic_cells,
        lutna_hw::engine::budget::LANE.cells
    );
}
