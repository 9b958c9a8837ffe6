//! The hardware requantizer against `lutna_core::arith::Requant::apply` on edge cases and a long
//! random stream of accumulators, multipliers, shifts and both output kinds, and at every shift
//! on both sides of each rounding and clamping limit.

use lutna_core::arith::{ActKind, Requant};
use lutna_hw::sim::{requant_limit_cases, tick, validate_with_yosys, XorShift};
use lutna_hw::Requantizer;
use rust_hdl::prelude::*;

#[test]
fn requantizer_matches_core() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut cases: Vec<(i32, Requant, ActKind)> = vec![];
    let edge_acc = [
        0,
        1,
        -1,
        127,
        128,
        -128,
        -129,
        255,
        256,
        i32::MAX,
        i32::MIN,
        i32::MIN + 1,
        1 << 20,
        -(1 << 20),
    ];
    let reals = [1e-6, 3.3e-4, 0.00781, 0.0123, 0.25, 0.5, 0.999, 1.0, 3.7];
    for &acc in &edge_acc {
        for &r in &reals {
            for kind in [ActKind::U8, ActKind::I8] {
                cases.push((acc, Requant::from_real(r).unwrap(), kind));
            }
        }
    }
    // The ends of the contract (mult < 2^15, shift <= 47), which from_real does not reach:
    // shift 0 (the window unit's max pool) and 1, the widest products at the largest shifts.
    for &acc in &edge_acc {
        for mult in [1, 2, 32767] {
            for shift in [0, 1, 2, 30, 45, 46, 47] {
                for kind in [ActKind::U8, ActKind::I8] {
                    cases.push((acc, Requant { mult, shift }, kind));
                }
            }
        }
    }
    cases.extend(requant_limit_cases(&mut rng));
    for _ in 0..100_000 {
        let acc = match rng.next_u64() % 3 {
            0 => rng.next_u64() as i32,
            1 => (rng.next_u64() as i32) >> (rng.next_u64() % 31),
            _ => (rng.next_u64() % 2_000_000) as i32 - 1_000_000,
        };
        // multipliers over the whole range the importer produces
        let real = (rng.next_u64() % 1_000_000 + 1) as f64
            * 10f64.powi(-((rng.next_u64() % 7) as i32) - 2);
        let kind = if rng.next_u64().is_multiple_of(2) {
            ActKind::U8
        } else {
            ActKind::I8
        };
        cases.push((acc, Requant::from_real(real).unwrap(), kind));
    }
    let mut uut = Requantizer::top();
    let mut expect = std::collections::VecDeque::new();
    let mut checked = 0;
    for i in 0..cases.len() + Requantizer::LATENCY {
        if let Some(&(acc, r, kind)) = cases.get(i) {
            uut.acc.next = (acc as u32 as u64).into();
            uut.mult.next = (r.mult as u64).into();
            uut.shift.next = (r.shift as u64).into();
            uut.signed_out.next = kind == ActKind::I8;
            uut.valid.next = true;
            expect.push_back((r.apply(acc, kind), acc, r, kind));
        } else {
            uut.valid.next = false;
        }
        tick(&mut uut, |u| &mut u.clock);
        if uut.out_valid.val() {
            let (want, acc, r, kind) = expect.pop_front().unwrap();
            let byte = uut.out.val().index() as u8;
            let got = if kind == ActKind::I8 {
                byte as i8 as i32
            } else {
                byte as i32
            };
            assert_eq!(got, want, "acc {acc} {r:?} {kind:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, cases.len());
    let verilog = generate_verilog(&Requantizer::top());
    validate_with_yosys("lutna_requant", &verilog);
}
