//! The LUT-NA lane against lutna-core, exhaustively: every weight magnitude, both signs, every
//! activation, in every runtime mode, with the bank programmed from `LutScheme::tables`.

use lutna_core::arith::{LaneMode, Scheme};
use lutna_hw::sim::{tick, validate_with_yosys};
use lutna_hw::SubMacLane;
use rust_hdl::prelude::*;

fn program(uut: &mut SubMacLane, table: &[u32]) {
    uut.operands.valid.next = false;
    for (j, &v) in table.iter().enumerate() {
        uut.table.write.next = true;
        uut.table.address.next = (j as u64).into();
        uut.table.data.next = (v as u64).into();
        tick(uut, |u| &mut u.clock);
    }
    uut.table.write.next = false;
}

#[test]
fn lane_matches_core_for_every_pair_in_every_mode() {
    exhaustive(
        SubMacLane::top(),
        &[Scheme::LUTNA, Scheme::ALUTNA, Scheme::ALUTNA_C],
    );
}

#[test]
fn approximate_only_lane_matches_core_in_both_approximate_modes() {
    exhaustive(
        SubMacLane::approximate_only(),
        &[Scheme::ALUTNA, Scheme::ALUTNA_C],
    );
    validate_with_yosys(
        "lutna_alutna_lane",
        &generate_verilog(&SubMacLane::approximate_only()),
    );
}

fn exhaustive(mut uut: SubMacLane, schemes: &[Scheme]) {
    for &scheme in schemes {
        let Scheme::Lut(lut) = scheme else {
            unreachable!()
        };
        let mode = LaneMode::for_scheme(scheme, 4).unwrap();
        uut.operands.mode.next = (mode.code() as u64).into();
        let mut checked = 0;
        for m in 1..=255u8 {
            let tables = lut.tables(m);
            assert_eq!(tables.len(), 1, "a k=4 lane bank holds one table");
            program(&mut uut, &tables[0]);
            // Stream all activations with alternating signs; results come out two cycles later.
            let mut expect = std::collections::VecDeque::new();
            for a in 0..=257u32 {
                if a < 256 {
                    let w = if a % 2 == 0 { m as i16 } else { -(m as i16) };
                    uut.operands.activation.next = (a as u64).into();
                    uut.operands.negative.next = w < 0;
                    uut.operands.valid.next = true;
                    expect.push_back(scheme.product(a as u8, w));
                } else {
                    uut.operands.valid.next = false;
                }
                tick(&mut uut, |u| &mut u.clock);
                if uut.product_valid.val() {
                    let want = expect.pop_front().expect("no more products than operands");
                    let got = uut.product.val().index() as u32 as i32;
                    assert_eq!(got, want, "{scheme}: |w|={m}");
                    checked += 1;
                }
            }
            assert!(expect.is_empty(), "{scheme}: lane dropped products");
        }
        assert_eq!(checked, 255 * 256);
    }
}

#[test]
fn lane_verilog_passes_yosys() {
    let uut = SubMacLane::top();
    let verilog = generate_verilog(&uut);
    assert!(verilog.contains("module top"));
    validate_with_yosys("lutna_lane", &verilog);
}

#[test]
fn tlut_lane_matches_core_for_every_pair() {
    use lutna_hw::TlutLane;
    let Scheme::Lut(tlut) = Scheme::TLUT else {
        unreachable!()
    };
    let mut uut = TlutLane::top();
    let mut checked = 0;
    for m in 1..=255u8 {
        let tables = tlut.tables(m);
        assert_eq!((tables.len(), tables[0].len()), (1, 256));
        uut.operands.valid.next = false;
        for (j, &v) in tables[0].iter().enumerate() {
            uut.table.write.next = true;
            uut.table.address.next = (j as u64).into();
            uut.table.data.next = (v as u64).into();
            tick(&mut uut, |u| &mut u.clock);
        }
        uut.table.write.next = false;
        let mut expect = std::collections::VecDeque::new();
        for a in 0..=257u32 {
            if a < 256 {
                let w = if a.is_multiple_of(3) {
                    -(m as i16)
                } else {
                    m as i16
                };
                uut.operands.activation.next = (a as u64).into();
                uut.operands.negative.next = w < 0;
                uut.operands.valid.next = true;
                expect.push_back(Scheme::TLUT.product(a as u8, w));
            } else {
                uut.operands.valid.next = false;
            }
            tick(&mut uut, |u| &mut u.clock);
            if uut.product_valid.val() {
                let got = uut.product.val().index() as u32 as i32;
                assert_eq!(got, expect.pop_front().unwrap(), "tlut |w|={m}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 255 * 256);
    let verilog = generate_verilog(&TlutLane::top());
    validate_with_yosys("lutna_tlut_lane", &verilog);
}
