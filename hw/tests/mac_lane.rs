//! The baseline lanes (array, Wallace, SB_MAC16) against lutna-core's exact product, every
//! weight magnitude, both signs, every activation; programmed exactly like a LUT-NA lane (the
//! LUT-NA bank contents), so they are drop-in replacements.

use lutna_core::arith::Scheme;
use lutna_hw::sim::{tick, validate_with_yosys};
use lutna_hw::{ArrayMacLane, DspMacLane, WallaceMacLane};
use rust_hdl::prelude::*;

macro_rules! exhaustive {
    ($test:ident, $lane:ty, $tag:literal) => {
        #[test]
        fn $test() {
            let Scheme::Lut(lutna) = Scheme::LUTNA else {
                unreachable!()
            };
            let mut uut = <$lane>::top();
            // Any mode: a digital multiplier ignores it.
            uut.operands.mode.next = 1.into();
            let mut checked = 0;
            for m in 1..=255u8 {
                uut.operands.valid.next = false;
                for (j, &v) in lutna.tables(m)[0].iter().enumerate() {
                    uut.table.write.next = true;
                    uut.table.address.next = (j as u64).into();
                    uut.table.data.next = (v as u64).into();
                    tick(&mut uut, |u| &mut u.clock);
                }
                uut.table.write.next = false;
                let mut expect = std::collections::VecDeque::new();
                for a in 0..=257u32 {
                    if a < 256 {
                        let w = if (a + m as u32).is_multiple_of(2) {
                            -(m as i16)
                        } else {
                            m as i16
                        };
                        uut.operands.activation.next = (a as u64).into();
                        uut.operands.negative.next = w < 0;
                        uut.operands.valid.next = true;
                        expect.push_back(Scheme::Exact.product(a as u8, w));
                    } else {
                        uut.operands.valid.next = false;
                    }
                    tick(&mut uut, |u| &mut u.clock);
                    if uut.product_valid.val() {
                        let got = uut.product.val().index() as u32 as i32;
                        assert_eq!(got, expect.pop_front().unwrap(), "{} |w|={m}", $tag);
                        checked += 1;
                    }
                }
                assert!(expect.is_empty(), "{}: lane dropped products", $tag);
            }
            assert_eq!(checked, 255 * 256);
            validate_with_yosys($tag, &generate_verilog(&<$lane>::top()));
        }
    };
}

exhaustive!(
    array_lane_is_exact_for_every_pair,
    ArrayMacLane,
    "lutna_array_lane"
);
exhaustive!(
    wallace_lane_is_exact_for_every_pair,
    WallaceMacLane,
    "lutna_wallace_lane"
);
exhaustive!(
    dsp_lane_is_exact_for_every_pair,
    DspMacLane,
    "lutna_dsp_lane"
);
