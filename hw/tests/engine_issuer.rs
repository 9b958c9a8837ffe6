//! `Issuer` with the `AddressGenerator` it drives: random batches (first, middle and final ones,
//! single-batch channels repeated) over a walk of 3 rows of 4 groups, with the writer taking
//! the memory and the drain busy at random. Every group's taps issue once and in order, never
//! while the memory is taken; a group of a batch after its channel's first reads its partial
//! sums once, in a cycle without a tap, before its last tap; a final batch's group ends only with
//! the drain ready; a batch after its channel's first starts `PARTIAL_AFTER_STORE` cycles after
//! the batch before at the earliest; the S4 controls follow S0 four cycles later; every batch
//! hands its tables back. Then the issuer's Verilog replays the cycles under Icarus; its cells.

use lutna_core::cycles::timing::{PARTIAL_AFTER_STORE, PIPE};
use lutna_hw::engine::address::AddressGenerator;
use lutna_hw::engine::issuer::Issuer;
use lutna_hw::sim::{
    replay_under_icarus, tick, tool_available, validate_with_yosys, Trace, XorShift,
};
use rust_hdl::prelude::*;

const P: usize = 8;
const ROWS: usize = 3;
const GROUPS: usize = 4;

#[derive(Clone, Copy, Debug)]
struct Batch {
    taps: usize,
    first: bool,
    last: bool,
    runs: usize,
    tables: usize,
}

/// What entered the pipeline at S0 in a cycle.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Event {
    None,
    Tap {
        group: u8,
        first: bool,
        last: bool,
        last_batch: bool,
    },
    Partial {
        group: u8,
    },
}

fn batches(rng: &mut XorShift) -> Vec<Batch> {
    let mut out = Vec::new();
    for _ in 0..14 {
        let n = 1 + (rng.next_u64() % 3) as usize;
        for b in 0..n {
            out.push(Batch {
                taps: 1 + (rng.next_u64() % 5) as usize,
                first: b == 0,
                last: b + 1 == n,
                runs: if n == 1 {
                    1 + (rng.next_u64() % 3) as usize
                } else {
                    1
                },
                tables: 1 + (rng.next_u64() % 4) as usize,
            });
        }
    }
    out
}

fn walks(trace: &mut Option<Trace>) {
    let mut iss = Issuer::top();
    let mut gen = AddressGenerator::<P>::top();
    let mut rng = XorShift(0x1550e);
    gen.rows.next = ((ROWS - 1) as u64).into();
    gen.groups.next = ((GROUPS - 1) as u64).into();
    gen.in_height.next = 8.into();
    gen.in_width.next = 32.into();
    gen.row_step.next = 1.into();
    let all = batches(&mut rng);
    let mut fed = 0;
    // The batch being walked (index into `all`) and its runs done.
    let mut walking: Option<(usize, usize)> = None;
    let mut next_new = 0;
    let mut events = Vec::new();
    let mut s4 = Vec::new();
    let mut freed = Vec::new();
    let mut channels = 0;
    let mut last_tap_at: Option<usize> = None;
    for cycle in 0..100_000 {
        let feed = fed < all.len() && !iss.holding.val() && rng.next_u64().is_multiple_of(3);
        iss.batch.next = feed;
        if feed {
            let b = all[fed];
            iss.batch_taps.next = ((b.taps - 1) as u64).into();
            iss.batch_first.next = b.first;
            iss.batch_last.next = b.last;
            iss.batch_repeat.next = ((b.runs - 1) as u64).into();
            iss.batch_tables.next = (b.tables as u64).into();
        }
        let port_busy = rng.next_u64().is_multiple_of(4);
        let drain_ready = !rng.next_u64().is_multiple_of(3);
        iss.port_busy.next = port_busy;
        iss.drain_ready.next = drain_ready;
        iss.walk_busy.next = gen.busy.val();
        iss.first_tap.next = gen.first_tap.val();
        iss.last_tap.next = gen.last_tap.val();
        iss.last_group.next = gen.last_group.val();
        iss.group_index.next = gen.group_index.val();
        iss.tap_slot.next = ((cycle % 16) as u64).into();
        assert!(simulate(&mut iss, 50));
        gen.start.next = iss.walk_start.val();
        gen.taps.next = iss.walk_taps.val();
        gen.advance.next = iss.advance.val();
        assert!(simulate(&mut gen, 50));
        let group = gen.group_index.val().index() as u8;
        let event = if iss.advance.val() {
            let (b, _) = walking.expect("a tap outside a walk");
            assert!(
                !port_busy,
                "cycle {cycle}: a tap while the writer has the memory"
            );
            let last = gen.last_tap.val();
            if last && all[b].last {
                assert!(
                    drain_ready,
                    "cycle {cycle}: a final group ended, drain busy"
                );
            }
            Event::Tap {
                group,
                first: gen.first_tap.val(),
                last,
                last_batch: all[b].last,
            }
        } else if iss.partial_read.val() {
            Event::Partial { group }
        } else {
            Event::None
        };
        assert!(!(iss.advance.val() && iss.partial_read.val()));
        events.push((event, walking.map(|w| w.0)));
        if let Some(t) = trace.as_mut() {
            t.record(&iss);
        }
        s4.push((
            iss.s4_valid.val(),
            iss.s4_last.val(),
            iss.s4_drain.val(),
            iss.s4_store.val(),
            iss.s4_word.val().index() as u8,
        ));
        if iss.freed.val() {
            freed.push(iss.freed_tables.val().index());
        }
        if iss.channel_done.val() {
            channels += 1;
        }
        if let Event::Tap { last: true, .. } = event {
            if gen.last_group.val() {
                last_tap_at = Some(cycle);
            }
        }
        // Which batch the next walk is: a run of this one again, or the next fed.
        if iss.walk_start.val() {
            let again = walking.is_some_and(|(b, runs)| {
                runs + 1 < all[b].runs
                    && iss.channel_done.val() == all[b].last
                    && gen.last_group.val()
            });
            walking = if again {
                walking.map(|(b, r)| (b, r + 1))
            } else {
                let b = next_new;
                next_new += 1;
                if !all[b].first {
                    // Its first tap comes PARTIAL_AFTER_STORE cycles after the last one at the
                    // earliest (the walk starts the cycle before).
                    let gap = cycle + 1 - last_tap_at.unwrap();
                    assert!(gap >= PARTIAL_AFTER_STORE as usize, "batch {b} {gap} after");
                }
                Some((b, 0))
            };
        }
        tick(&mut iss, |u| &mut u.clock);
        tick(&mut gen, |u| &mut u.clock);
        if feed {
            fed += 1;
        }
        if freed.len() == all.len() && cycle > 10 {
            break;
        }
    }
    assert_eq!(freed, all.iter().map(|b| b.tables).collect::<Vec<_>>());
    assert_eq!(
        channels,
        all.iter().filter(|b| b.last).map(|b| b.runs).sum::<usize>()
    );
    // Per batch run: every group's taps once and in order, and its partial read.
    let mut at = 0;
    for (b, batch) in all.iter().enumerate() {
        for run in 0..batch.runs {
            for g in 0..ROWS * GROUPS {
                let mut taps = 0;
                let mut partials = 0;
                loop {
                    let (e, w) = events[at];
                    at += 1;
                    match e {
                        Event::None => continue,
                        Event::Partial { group } => {
                            assert_eq!((w, group as usize), (Some(b), g), "batch {b} run {run}");
                            assert!(!batch.first, "batch {b}: a first batch reads no partials");
                            assert!(taps < batch.taps, "batch {b}: partial after the last tap");
                            partials += 1;
                        }
                        Event::Tap {
                            group,
                            first,
                            last,
                            last_batch,
                        } => {
                            assert_eq!((w, group as usize), (Some(b), g), "batch {b} run {run}");
                            assert_eq!(first, taps == 0);
                            assert_eq!(last, taps + 1 == batch.taps);
                            assert_eq!(last_batch, batch.last);
                            taps += 1;
                            if last {
                                break;
                            }
                        }
                    }
                }
                assert_eq!(
                    partials, !batch.first as usize,
                    "batch {b} run {run} group {g}"
                );
            }
        }
    }
    // S4 is S0 four cycles on.
    for (c, &(e, _)) in events.iter().enumerate() {
        let Some(&(valid, last, drain, store, word)) = s4.get(c + PIPE as usize) else {
            break;
        };
        let want = match e {
            Event::None => (false, false, false, false),
            Event::Partial { .. } => (true, false, false, false),
            Event::Tap {
                last, last_batch, ..
            } => (true, last, last && last_batch, last && !last_batch),
        };
        assert_eq!((valid, last, drain, store), want, "S4 of cycle {c}");
        match e {
            Event::Partial { group } | Event::Tap { group, .. } if valid => {
                assert_eq!(word, 255 - group, "S4 word of cycle {c}")
            }
            _ => {}
        }
    }
}

#[test]
fn taps_partial_reads_and_batches_follow_the_rules() {
    walks(&mut None);
}

#[test]
fn the_issuers_verilog_agrees_under_icarus() {
    let verilog = generate_verilog(&Issuer::top());
    let mut trace = Some(Trace::for_verilog(&verilog));
    walks(&mut trace);
    replay_under_icarus("engine-issuer", &verilog, &trace.unwrap().rows);
}

#[test]
fn the_issuer_fits_its_budget() {
    let verilog = generate_verilog(&Issuer::top());
    validate_with_yosys("issuer", &verilog);
    if !tool_available("nextpnr-ice40", "the issuer's cell count") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lutna-issuer-{}", std::process::id()));
    let cells = lutna_hw::flow::unit::unit_cells(&dir, &verilog).unwrap();
    println!("issuer: {cells:?}");
    assert!(
        cells.packed_logic_cells <= lutna_hw::engine::budget::ISSUER.cells as u64,
        "{cells:?}"
    );
}
