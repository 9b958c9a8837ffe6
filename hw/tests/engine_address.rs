//! `AddressGenerator`: every tap of a batch's walk gets the address and in-map test the
//! instruction stream defines (`lutna_core::isa`, docs/engine.md), whatever the stalls, for
//! random registers and taps; its Verilog through yosys and its cells.

use lutna_hw::engine::address::AddressGenerator;
use lutna_hw::sim::{
    replay_under_icarus, tick, tool_available, validate_with_yosys, Trace, XorShift,
};
use rust_hdl::prelude::*;

const P: usize = 8;

fn clock(u: &mut AddressGenerator<P>) -> &mut Signal<In, Clock> {
    &mut u.clock
}

/// One clock: settled, recorded into `trace`, the edge.
fn step(u: &mut AddressGenerator<P>, trace: &mut Option<Trace>) {
    assert!(simulate(u, 50));
    if let Some(t) = trace {
        t.record(u);
    }
    tick(u, clock);
}

struct Walk {
    rows: usize,
    groups: usize,
    in_row: u16,
    y_start: i32,
    x_start: i32,
    height: i32,
    width: i32,
    row_step: i32,
    in_channel: u16,
    taps: Vec<(u16, u8, u8)>,
}

/// What the walk must produce per issued tap: address, row in the map, and for lanes 0..16
/// whether their column is in it (as `skip <= o < room` reads it).
fn expected(w: &Walk) -> Vec<(u16, bool, u32, bool, bool)> {
    let mut out = Vec::new();
    for r in 0..w.rows {
        for g in 0..w.groups {
            for (t, &(offset, ky, kx)) in w.taps.iter().enumerate() {
                let address = w
                    .in_channel
                    .wrapping_add(offset)
                    .wrapping_add((r as u16).wrapping_mul(w.in_row))
                    .wrapping_add((g * P) as u16);
                let y = w.y_start + r as i32 * w.row_step + ky as i32;
                let x = w.x_start + (g * P) as i32 + kx as i32;
                let mut columns = 0u32;
                for o in 0..16 {
                    if (0..w.width).contains(&(x + o)) {
                        columns |= 1 << o;
                    }
                }
                let last = t + 1 == w.taps.len();
                out.push((
                    address,
                    (0..w.height).contains(&y),
                    columns,
                    t == 0,
                    last && g + 1 == w.groups && r + 1 == w.rows,
                ));
            }
        }
    }
    out
}

fn run(
    uut: &mut AddressGenerator<P>,
    w: &Walk,
    rng: &mut XorShift,
    trace: &mut Option<Trace>,
) -> Vec<(u16, bool, u32, bool, bool)> {
    uut.rows.next = ((w.rows - 1) as u64).into();
    uut.groups.next = ((w.groups - 1) as u64).into();
    uut.in_row.next = (w.in_row as u64).into();
    uut.y_start.next = (w.y_start as i8 as u8 as u64).into();
    uut.x_start.next = (w.x_start as i8 as u8 as u64).into();
    uut.in_height.next = (w.height as u64).into();
    uut.in_width.next = (w.width as u64).into();
    uut.row_step.next = (w.row_step as u64).into();
    uut.in_channel.next = (w.in_channel as u64).into();
    uut.taps.next = ((w.taps.len() - 1) as u64).into();
    uut.start.next = true;
    uut.advance.next = false;
    step(uut, trace);
    uut.start.next = false;
    let mut got = Vec::new();
    // The tap memory answers the index of the cycle before.
    let mut tap_index = 0usize;
    for _ in 0..100_000 {
        let (offset, ky, kx) = w.taps[tap_index];
        uut.offset.next = (offset as u64).into();
        uut.ky.next = (ky as u64).into();
        uut.kx.next = (kx as u64).into();
        let advance = !rng.next_u64().is_multiple_of(4);
        uut.advance.next = advance;
        assert!(simulate(uut, 50));
        let busy = uut.busy.val();
        let (first, last) = (uut.first_tap.val(), uut.last_group.val());
        let next_index = uut.tap_index.val().index();
        step(uut, trace);
        if busy && advance {
            // The tap issued: its S1 results are registered now.
            let (skip, room) = (uut.skip.val().index() as u32, uut.room.val().index() as u32);
            let columns = (0..16)
                .filter(|&o| skip <= o && o < room)
                .fold(0, |m, o| m | 1 << o);
            got.push((
                uut.address.val().index() as u16,
                uut.row_ok.val(),
                columns,
                first,
                last,
            ));
        }
        tap_index = next_index;
        if !busy {
            break;
        }
    }
    got
}

#[test]
fn every_tap_gets_its_address_and_in_map_test() {
    walks(&mut None);
}

/// The same walks recorded and replayed under Icarus on the generator's Verilog.
#[test]
fn the_generators_verilog_agrees_under_icarus() {
    let verilog = generate_verilog(&AddressGenerator::<P>::top());
    let mut trace = Some(Trace::for_verilog(&verilog));
    walks(&mut trace);
    replay_under_icarus("engine-address", &verilog, &trace.unwrap().rows);
}

fn walks(trace: &mut Option<Trace>) {
    let mut uut = AddressGenerator::<P>::top();
    let mut rng = XorShift(0xadd5);
    for case in 0..60 {
        let width = 1 + (rng.next_u64() % 40) as i32;
        let groups = (width as usize).div_ceil(P) + (rng.next_u64() % 2) as usize;
        let taps = (0..1 + rng.next_u64() % 9)
            .map(|_| {
                (
                    rng.next_u64() as u16,
                    (rng.next_u64() % 8) as u8,
                    (rng.next_u64() % 8) as u8,
                )
            })
            .collect();
        let w = Walk {
            rows: 1 + (rng.next_u64() % 6) as usize,
            groups,
            in_row: rng.next_u64() as u16,
            y_start: -((rng.next_u64() % 8) as i32),
            x_start: -((rng.next_u64() % 24) as i32),
            height: 1 + (rng.next_u64() % 20) as i32,
            width,
            row_step: 1 + (rng.next_u64() % 3) as i32,
            in_channel: rng.next_u64() as u16,
            taps,
        };
        let got = run(&mut uut, &w, &mut rng, trace);
        assert_eq!(got, expected(&w), "case {case}");
    }
}

#[test]
fn the_generator_fits_its_budget() {
    let verilog = generate_verilog(&AddressGenerator::<P>::top());
    validate_with_yosys("address_generator", &verilog);
    if !tool_available("nextpnr-ice40", "the address generator's cell count") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lutna-address-{}", std::process::id()));
    let cells = lutna_hw::flow::unit::unit_cells(&dir, &verilog).unwrap();
    println!("address generator: {cells:?}");
    assert!(
        cells.packed_logic_cells <= lutna_hw::engine::budget::ADDRESS.cells as u64,
        "{cells:?}"
    );
}
