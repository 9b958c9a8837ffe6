//! `ColumnMask`: which lanes read a byte of the map, for every `skip`, `room`, stride and row,
//! against the rule of docs/engine.md; its Verilog through yosys and its cells.

use lutna_hw::engine::column_mask::ColumnMask;
use lutna_hw::sim::{tool_available, validate_with_yosys};
use rust_hdl::prelude::*;

fn expected(lanes: usize, skip: u64, room: u64, stride2: bool, row_ok: bool) -> u64 {
    let mut mask = 0;
    for l in 0..lanes {
        let offset = if stride2 { 2 * l } else { l } as u64;
        let works = !stride2 || 2 * l < lanes;
        if row_ok && works && offset >= skip && offset < room {
            mask |= 1 << l;
        }
    }
    mask
}

fn exhaustive<const P: usize>() {
    let mut uut = ColumnMask::<P>::top();
    for skip in 0..32u64 {
        for room in 0..32u64 {
            for stride2 in [false, true] {
                for row_ok in [false, true] {
                    uut.skip.next = skip.into();
                    uut.room.next = room.into();
                    uut.stride2.next = stride2;
                    uut.row_ok.next = row_ok;
                    assert!(simulate(&mut uut, 20));
                    assert_eq!(
                        uut.mask.val().index() as u64,
                        expected(P, skip, room, stride2, row_ok),
                        "{P} lanes, skip {skip} room {room} stride2 {stride2} row {row_ok}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_count_gives_the_lanes_the_rule_says() {
    exhaustive::<16>();
    exhaustive::<8>();
    exhaustive::<4>();
}

#[test]
fn the_mask_is_small_logic() {
    let verilog = generate_verilog(&ColumnMask::<8>::top());
    validate_with_yosys("column_mask", &verilog);
    if !tool_available("nextpnr-ice40", "the column mask's cell count") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lutna-column-mask-{}", std::process::id()));
    let cells = lutna_hw::flow::unit::unit_cells(&dir, &verilog).unwrap();
    println!("column mask: {cells:?}");
    assert_eq!(cells.synth.carry, 0, "no carry chains");
    assert!(
        cells.packed_logic_cells <= lutna_hw::engine::budget::COLUMN_MASK.cells as u64,
        "{cells:?}"
    );
}
