//! The lane array against lutna-core: random output-channel jobs (bias, a run of nonzero weights,
//! P activations per weight) in every lane mode; each accumulator must equal bias plus the sum of
//! `Scheme::product` (wrapping), as the golden engine computes it.

use lutna_core::arith::{LaneMode, Scheme};
use lutna_hw::fabric::LaneArray;
use lutna_hw::sim::{tick, validate_with_yosys, XorShift};
use rust_hdl::prelude::*;

fn clk<const P: usize, const PB: usize>(u: &mut LaneArray<P, PB>) -> &mut Signal<In, Clock> {
    &mut u.clock
}

fn run_jobs<const P: usize, const PB: usize>(jobs: usize, seed: u64) {
    let mut rng = XorShift(seed);
    let mut uut = LaneArray::<P, PB>::top();
    for job in 0..jobs {
        let scheme = [Scheme::LUTNA, Scheme::ALUTNA, Scheme::ALUTNA_C][job % 3];
        let Scheme::Lut(lut) = scheme else {
            unreachable!()
        };
        let bias = rng.next_u64() as i32 >> (rng.next_u64() % 16);
        let mut want = [bias; P];
        uut.mode.next = (LaneMode::for_scheme(scheme, 4).unwrap().code() as u64).into();
        uut.clear.next = true;
        uut.bias.next = (bias as u32 as u64).into();
        tick(&mut uut, clk::<P, PB>);
        uut.clear.next = false;
        for _ in 0..(rng.next_u64() % 12 + 1) {
            let w = (rng.next_u64() % 255 + 1) as i16
                * if rng.next_u64().is_multiple_of(2) {
                    1
                } else {
                    -1
                };
            for (j, &v) in lut.tables(w.unsigned_abs() as u8)[0].iter().enumerate() {
                uut.table_write.next = true;
                uut.table_addr.next = (j as u64).into();
                uut.table_data.next = (v as u64).into();
                tick(&mut uut, clk::<P, PB>);
            }
            uut.table_write.next = false;
            let acts: Vec<u8> = (0..P).map(|_| rng.next_u64() as u8).collect();
            let packed = acts.iter().rev().fold(0u64, |p, &a| (p << 8) | a as u64);
            uut.activations.next = packed.into();
            uut.negative.next = w < 0;
            uut.valid.next = true;
            tick(&mut uut, clk::<P, PB>);
            uut.valid.next = false;
            for (s, &a) in want.iter_mut().zip(&acts) {
                *s = s.wrapping_add(scheme.product(a, w));
            }
        }
        tick(&mut uut, clk::<P, PB>);
        tick(&mut uut, clk::<P, PB>);
        for (i, &s) in want.iter().enumerate() {
            uut.sum_select.next = (i as u64).into();
            assert!(simulate(&mut uut, 200));
            assert_eq!(
                uut.sum.val().index() as u32 as i32,
                s,
                "job {job} ({scheme}) lane {i}"
            );
        }
    }
}

#[test]
fn four_lanes_accumulate_like_core() {
    run_jobs::<4, 32>(300, 0x1234_5678_9ABC_DEF1);
}

#[test]
fn eight_lanes_accumulate_like_core_and_pass_yosys() {
    run_jobs::<8, 64>(150, 0x0F0F_1234_5555_AAAA);
    let verilog = generate_verilog(&LaneArray::<8, 64>::top());
    validate_with_yosys("lutna_lane_array8", &verilog);
}
