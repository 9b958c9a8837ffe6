//! The lane array against lutna-core: random output-channel jobs (bias, a run of nonzero weights,
//! P activations per weight) in every lane mode; each accumulator must equal bias plus the sum of
//! `Scheme::product` (wrapping), as the golden engine computes it.

use lutna_core::arith::{LaneMode, Scheme};
use lutna_hw::datapath::fabric::LaneArray;
use lutna_hw::sim::{tick, validate_with_yosys, XorShift};
use rust_hdl::prelude::*;

/// One body for every lane count (a macro: the packed activations' width is a second constant).
macro_rules! run_jobs {
    ($array:ty, $lanes:expr, $jobs:expr, $seed:expr) => {{
        const P: usize = $lanes;
        let mut rng = XorShift($seed);
        let mut uut = <$array>::top();
        for job in 0..$jobs {
            let scheme = [Scheme::LUTNA, Scheme::ALUTNA, Scheme::ALUTNA_C][job % 3];
            let Scheme::Lut(lut) = scheme else {
                unreachable!()
            };
            let bias = rng.next_u64() as i32 >> (rng.next_u64() % 16);
            let mut want = [bias; P];
            uut.operands.mode.next =
                (LaneMode::for_scheme(scheme, 4).unwrap().code() as u64).into();
            uut.clear.next = true;
            uut.bias.next = (bias as u32 as u64).into();
            tick(&mut uut, |u| &mut u.clock);
            uut.clear.next = false;
            for _ in 0..(rng.next_u64() % 12 + 1) {
                let w = (rng.next_u64() % 255 + 1) as i16
                    * if rng.next_u64().is_multiple_of(2) {
                        1
                    } else {
                        -1
                    };
                for (j, &v) in lut.tables(w.unsigned_abs() as u8)[0].iter().enumerate() {
                    uut.table.write.next = true;
                    uut.table.address.next = (j as u64).into();
                    uut.table.data.next = (v as u64).into();
                    tick(&mut uut, |u| &mut u.clock);
                }
                uut.table.write.next = false;
                let acts: Vec<u8> = (0..P).map(|_| rng.next_u64() as u8).collect();
                // Wider than u64 for 16 lanes: set each lane's byte in place.
                let mut packed = uut.operands.activation.val();
                for (i, &a) in acts.iter().enumerate() {
                    packed.set_bits::<8>(8 * i, (a as u64).into());
                }
                uut.operands.activation.next = packed;
                uut.operands.negative.next = w < 0;
                uut.operands.valid.next = true;
                tick(&mut uut, |u| &mut u.clock);
                uut.operands.valid.next = false;
                for (s, &a) in want.iter_mut().zip(&acts) {
                    *s = s.wrapping_add(scheme.product(a, w));
                }
            }
            tick(&mut uut, |u| &mut u.clock);
            tick(&mut uut, |u| &mut u.clock);
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
    }};
}

#[test]
fn four_lanes_accumulate_like_core() {
    run_jobs!(LaneArray<4, 32>, 4, 300, 0x1234_5678_9ABC_DEF1);
}

#[test]
fn eight_lanes_accumulate_like_core_and_pass_yosys() {
    run_jobs!(LaneArray<8, 64>, 8, 150, 0x0F0F_1234_5555_AAAA);
    let verilog = generate_verilog(&LaneArray::<8, 64>::top());
    validate_with_yosys("lutna_lane_array8", &verilog);
}
