//! `Writer`: groups of output bytes arrive as the requantizer sends them (a group's bytes back
//! to back, a cycle or more between groups, over rows and channels) and the activation memory's two copies end up holding exactly
//! the walk's outputs: every byte at `OutBase + c * OutChannel + r * OutRow + g * A + l` in both
//! copies, i8 offset by 128, nothing else touched (the registers hold the pointer's steps the
//! compiler would set); every write announced the cycle before; the logits' pointer; then the
//! Verilog under Icarus and the packed cells.

use lutna_core::isa::shape::window_bytes;
use lutna_hw::engine::activations::position;
use lutna_hw::engine::writer::Writer;
use lutna_hw::sim::{
    replay_under_icarus, tick, tool_available, validate_with_yosys, Trace, XorShift,
};
use rust_hdl::prelude::*;

const BASE: usize = 1000;
const OUT_ROW: usize = 40;
const ROWS: usize = 3;
const GROUPS: usize = 4;
const CHANNELS: usize = 3;
const CANARY: u8 = 0x5a;

fn clock<const P: usize>(u: &mut Writer<P>) -> &mut Signal<In, Clock> {
    &mut u.clock
}

/// The two copies as the activation memory keeps them: a window write at an even address goes to
/// the even copy, at an odd one to the odd copy.
struct Copies {
    even: Vec<u8>,
    odd: Vec<u8>,
}

impl Copies {
    /// A write of a memory with a `window`-byte window.
    fn write(&mut self, window: usize, address: usize, data: u128, mask: u64) {
        let copy = if address.is_multiple_of(2) {
            &mut self.even
        } else {
            &mut self.odd
        };
        // The data comes by lane: the window's byte i is in the lane of its address.
        assert_eq!(mask >> window, 0, "mask bits beyond the window");
        for i in 0..window {
            if mask >> i & 1 == 1 {
                let lane = position(window, address % 2 == 1, address + i);
                copy[(address + i) & 0xffff] = (data >> (8 * lane)) as u8;
            }
        }
    }
}

/// A walk of `CHANNELS` channels; `padded`: output rows of `OUT_ROW` bytes (the pointer jumps
/// at every row's end), else rows and channels back to back (the carry runs through).
fn walk<const P: usize>(stride2: bool, signed: bool, padded: bool, trace: &mut Option<Trace>) {
    let active = if stride2 { P / 2 } else { P };
    let out_row = if padded {
        OUT_ROW.max(GROUPS * active + 8)
    } else {
        GROUPS * active
    };
    let mut uut = Writer::<P>::top();
    let mut rng = XorShift(0x3a17e + P as u64 + stride2 as u64 * 7 + signed as u64 * 13);
    uut.rows.next = ((ROWS - 1) as u64).into();
    uut.groups.next = ((GROUPS - 1) as u64).into();
    let last_group = (GROUPS - 1) * active;
    uut.out_row_step.next = ((out_row - last_group) as u64).into();
    uut.out_channel_step.next =
        ((ROWS * out_row - (ROWS - 1) * out_row - last_group) as u64).into();
    uut.out_base.next = (BASE as u64).into();
    uut.stride2.next = stride2;
    uut.signed_out.next = signed;
    uut.contiguous.next = !padded;
    let mut mem = Copies {
        even: vec![CANARY; 1 << 16],
        odd: vec![CANARY; 1 << 16],
    };
    let mut want = vec![CANARY; 1 << 16];
    // The bytes in the order the requantizer sends them.
    let mut stream = Vec::new();
    for c in 0..CHANNELS {
        for r in 0..ROWS {
            for g in 0..GROUPS {
                for l in 0..active {
                    let b = rng.next_u64() as u8;
                    let at = BASE + c * ROWS * out_row + r * out_row + g * active + l;
                    want[at] = if signed { b ^ 0x80 } else { b };
                    stream.push((b, l, l + 1 == active));
                }
            }
        }
    }
    uut.restart.next = true;
    assert!(simulate(&mut uut, 50));
    if let Some(t) = trace.as_mut() {
        t.record(&uut);
    }
    tick(&mut uut, clock);
    uut.restart.next = false;
    let mut next = 0;
    let mut announced = false;
    let mut gapped = true;
    for cycle in 0..10_000 {
        // A group's bytes come back to back; between groups at least one cycle (the drain's
        // pace, `cycles::timing::GROUP_GAP`), now and then more.
        let gap_due = next > 0 && stream[next.min(stream.len() - 1)].1 == 0 && !gapped;
        let send = next < stream.len()
            && !gap_due
            && (stream[next].1 != 0 || !rng.next_u64().is_multiple_of(3));
        gapped = !send;
        uut.byte_valid.next = send;
        // Nothing else running: after the stream, and now and then between groups.
        uut.flush.next = !send && (next == stream.len() || rng.next_u64().is_multiple_of(4));
        if send {
            let (b, _, _) = stream[next];
            uut.byte.next = (b as u64).into();
            next += 1;
        }
        assert!(simulate(&mut uut, 50));
        let write = uut.write.val();
        assert_eq!(
            write, announced,
            "cycle {cycle}: a write not announced, or announced and missing"
        );
        if write {
            mem.write(
                window_bytes(P),
                uut.address.val().index(),
                uut.data.val().to_u128(),
                uut.mask.val().index() as u64,
            );
        }
        announced = uut.port_next.val();
        if let Some(t) = trace.as_mut() {
            t.record(&uut);
        }
        tick(&mut uut, clock);
        if next == stream.len() && !uut.busy.val() && !announced {
            break;
        }
    }
    assert_eq!(next, stream.len());
    for (name, copy) in [("even", &mem.even), ("odd", &mem.odd)] {
        for (at, (&got, &w)) in copy.iter().zip(&want).enumerate() {
            assert_eq!(
                got, w,
                "{P} lanes, stride 2 {stride2}: {name} copy at {at} (base {BASE})"
            );
        }
    }
}

#[test]
fn groups_land_in_both_copies_and_nowhere_else() {
    for padded in [true, false] {
        walk::<8>(false, false, padded, &mut None);
        walk::<8>(true, true, padded, &mut None);
        walk::<4>(false, true, padded, &mut None);
        walk::<4>(true, false, padded, &mut None);
        walk::<16>(false, false, padded, &mut None);
        walk::<16>(true, true, padded, &mut None);
    }
}

#[test]
fn logits_take_one_word_per_channel() {
    let mut uut = Writer::<8>::top();
    uut.out_channel_step.next = 1.into();
    uut.out_base.next = 3.into();
    uut.logits.next = true;
    uut.restart.next = true;
    tick(&mut uut, clock);
    uut.restart.next = false;
    for k in 0..10u64 {
        uut.logit_valid.next = k % 2 == 0;
        assert!(simulate(&mut uut, 50));
        assert_eq!(uut.logit_address.val().index() as u64, 3 + k.div_ceil(2));
        assert!(!uut.port_next.val() && !uut.write.val());
        tick(&mut uut, clock);
    }
}

/// The same walk recorded and replayed under Icarus on the writer's Verilog.
#[test]
fn the_writers_verilog_agrees_under_icarus() {
    let verilog = generate_verilog(&Writer::<8>::top());
    let mut trace = Some(Trace::for_verilog(&verilog));
    walk::<8>(false, true, false, &mut trace);
    replay_under_icarus("engine-writer", &verilog, &trace.unwrap().rows);
    // 16 lanes: a 16-byte window, the odd lanes moved up by 7, rows that jump.
    let verilog = generate_verilog(&Writer::<16>::top());
    let mut trace = Some(Trace::for_verilog(&verilog));
    walk::<16>(false, false, true, &mut trace);
    replay_under_icarus("engine-writer-16", &verilog, &trace.unwrap().rows);
}

#[test]
fn the_writer_fits_its_budget() {
    let verilog = generate_verilog(&Writer::<8>::top());
    validate_with_yosys("writer", &verilog);
    if !tool_available("nextpnr-ice40", "the writer's cell count") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lutna-writer-{}", std::process::id()));
    let cells = lutna_hw::flow::unit::unit_cells(&dir, &verilog).unwrap();
    println!("writer: {cells:?}");
    assert!(
        cells.packed_logic_cells <= lutna_hw::engine::budget::WRITER.cells as u64,
        "{cells:?}"
    );
}

/// While idle, `fill` puts a byte in every lane of `data` (the host's bytes reach the memory
/// this way), and nothing is written by the writer itself.
#[test]
fn fill_puts_the_byte_in_every_lane() {
    let mut uut = Writer::<8>::top();
    for byte in [0x00u8, 0xa7, 0xff, 0x3c] {
        uut.fill.next = true;
        uut.fill_byte.next = (byte as u64).into();
        assert!(simulate(&mut uut, 50));
        tick(&mut uut, clock);
        uut.fill.next = false;
        assert!(simulate(&mut uut, 50));
        assert_eq!(
            uut.data.val().to_u128(),
            u128::from_le_bytes([byte; 16]) >> 64
        );
        assert!(!uut.write.val() && !uut.port_next.val() && !uut.busy.val());
        tick(&mut uut, clock);
    }
}
