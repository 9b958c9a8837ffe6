//! `TableProgrammer`: batches of taps from the instruction stream (`lutna_core::isa::Tap`
//! words) become tap-memory entries and lane tables (`arith::lane_entry`) in the ring's slots,
//! whatever the stalls of the word stream, the banks' port and the slots; its cells.

use lutna_core::arith::lane_entry;
use lutna_core::isa::Tap;
use lutna_hw::engine::programmer::{TableProgrammer, ENTRY_KX, ENTRY_KY, ENTRY_SLOT};
use lutna_hw::sim::{
    replay_under_icarus, tick, tool_available, validate_with_yosys, Trace, XorShift,
};
use rust_hdl::prelude::*;

fn clock(u: &mut TableProgrammer) -> &mut Signal<In, Clock> {
    &mut u.clock
}

/// A random batch: weights drawn from a few values so some taps reuse a table.
fn random_batch(rng: &mut XorShift, tables_max: usize) -> Vec<Tap> {
    let n = 1 + (rng.next_u64() % 12) as usize;
    let mut taps: Vec<Tap> = Vec::new();
    let mut tables = 0;
    for _ in 0..n {
        let reuse = !taps.is_empty() && rng.next_u64().is_multiple_of(3);
        if !reuse && tables == tables_max {
            break;
        }
        let weight = if reuse {
            taps.last().unwrap().weight
        } else {
            tables += 1;
            (rng.next_u64() % 511) as i16 - 255
        };
        taps.push(Tap {
            offset: rng.next_u64() as u16,
            weight,
            ky: (rng.next_u64() % 8) as u8,
            kx: (rng.next_u64() % 8) as u8,
            reuse,
        });
    }
    taps
}

#[test]
fn batches_become_tap_entries_and_tables_in_the_ring() {
    batches(&mut None);
}

/// The same batches recorded and replayed under Icarus on the programmer's Verilog.
#[test]
fn the_programmers_verilog_agrees_under_icarus() {
    let verilog = generate_verilog(&TableProgrammer::top());
    let mut trace = Some(Trace::for_verilog(&verilog));
    batches(&mut trace);
    replay_under_icarus("engine-programmer", &verilog, &trace.unwrap().rows);
}

fn batches(trace: &mut Option<Trace>) {
    let mut uut = TableProgrammer::top();
    let mut rng = XorShift(0x7ab1e);
    let ring_size = 6usize;
    uut.ring_last.next = ((ring_size - 1) as u64).into();
    uut.ring_restart.next = true;
    assert!(simulate(&mut uut, 50));
    if let Some(t) = trace.as_mut() {
        t.record(&uut);
    }
    tick(&mut uut, clock);
    uut.ring_restart.next = false;
    // What the banks and the tap memory hold, as the programmer wrote them.
    let mut banks = vec![[None::<u16>; 16]; 16];
    let mut ring = 0usize;
    // Tables of batches programmed and not yet released (released one batch later).
    let mut in_flight: Vec<usize> = Vec::new();
    for round in 0..40 {
        let taps = random_batch(&mut rng, ring_size / 2);
        let mut words: Vec<u16> = taps.iter().flat_map(|t| t.words()).collect();
        words.reverse();
        let mut entries = vec![None::<u32>; taps.len()];
        uut.start.next = true;
        uut.taps.next = ((taps.len() - 1) as u64).into();
        let mut done = None;
        for cycle in 0..2000 {
            let valid = !words.is_empty() && !rng.next_u64().is_multiple_of(5);
            uut.word_valid.next = valid;
            uut.word.next = (*words.last().unwrap_or(&0) as u64).into();
            uut.bank_busy.next = rng.next_u64().is_multiple_of(7);
            // The batch before this one finishes issuing a while into this one.
            let release = cycle == 5 && in_flight.len() > 1;
            uut.freed.next = release;
            uut.freed_tables.next = (if release { in_flight[0] } else { 0 } as u64).into();
            assert!(simulate(&mut uut, 50));
            if uut.word_ready.val() {
                assert!(valid, "took a word that was not there");
                words.pop();
            }
            let at = uut.tap_address.val().index();
            if uut.tap_write_low.val() {
                let data = uut.tap_low_data.val().index() as u32;
                entries[at] = Some(entries[at].unwrap_or(0) & !0xffff | data);
            }
            if uut.tap_write_high.val() {
                let data = uut.tap_high_data.val().index() as u32;
                entries[at] = Some(entries[at].unwrap_or(0) & 0xffff | data << 16);
            }
            if uut.table_write.val() {
                assert!(
                    !uut.bank_busy.val(),
                    "wrote a table over a partial-sum store"
                );
                let a = uut.table_address.val().index();
                banks[a >> 4][a & 15] = Some(uut.table_data.val().index() as u16);
            }
            let finished = uut.done.val().then(|| uut.tables.val().index());
            if let Some(t) = trace.as_mut() {
                t.record(&uut);
            }
            tick(&mut uut, clock);
            uut.start.next = false;
            if release {
                in_flight.remove(0);
            }
            if let Some(t) = finished {
                done = Some(t);
                break;
            }
        }
        let tables = done.unwrap_or_else(|| panic!("round {round}: the batch never finished"));
        assert!(words.is_empty(), "round {round}: words left");
        assert_eq!(
            tables,
            taps.iter().filter(|t| !t.reuse).count(),
            "round {round}"
        );
        in_flight.push(tables);
        // Every tap's entry: its offset, kernel position and the slot of its table, the ring's
        // next slot for a new table, the one before for a reuse; the slot holds w * j.
        let mut slot = None;
        for (k, t) in taps.iter().enumerate() {
            let e = entries[k].unwrap_or_else(|| panic!("round {round}: tap {k} not written"));
            if !t.reuse {
                slot = Some(ring);
                ring = (ring + 1) % ring_size;
            }
            let s = slot.unwrap();
            assert_eq!(e as u16, t.offset, "round {round} tap {k}");
            let high = e >> 16;
            assert_eq!((high >> ENTRY_KY) & 7, t.ky as u32);
            assert_eq!((high >> ENTRY_KX) & 7, t.kx as u32);
            assert_eq!((high >> ENTRY_SLOT) & 15, s as u32, "round {round} tap {k}");
            for (j, word) in banks[s].iter().enumerate() {
                assert_eq!(
                    *word,
                    Some(lane_entry(t.weight, j as u32) as u16),
                    "round {round}, tap {k}, slot {s}, entry {j}"
                );
            }
        }
    }
}

#[test]
fn the_programmer_fits_its_budget() {
    let verilog = generate_verilog(&TableProgrammer::top());
    validate_with_yosys("table_programmer", &verilog);
    if !tool_available("nextpnr-ice40", "the table programmer's cell count") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lutna-programmer-{}", std::process::id()));
    let cells = lutna_hw::flow::unit::unit_cells(&dir, &verilog).unwrap();
    println!("table programmer: {cells:?}");
    assert!(
        cells.packed_logic_cells <= lutna_hw::engine::budget::PROGRAMMER.cells as u64,
        "{cells:?}"
    );
}
