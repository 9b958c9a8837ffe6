//! The gate-level cost model: every unit's gate netlist is simulated on an operand stream (which
//! also checks its products against lutna-core, inside `measure`, in the zero-delay and the
//! timed simulation), and the measured costs must order the way the table sizes and reads say
//! they must.

use lutna_hw::cost::{measure, EnergyModel, OperandStream, UnitKind};
use lutna_hw::sim::{tool_available, XorShift};

fn yosys_missing() -> bool {
    !tool_available("yosys", "gate-level cost test")
}

#[test]
fn units_measure_and_order_as_their_tables_say() {
    if yosys_missing() {
        return;
    }
    let model = EnergyModel::calibrated().unwrap();
    // The calibration constant comes from an 8-bit adder; an 8 x 8 multiplier under the same
    // constant should land within a small factor of the 0.2 pJ Horowitz reports for it.
    assert!(
        (0.05..0.8).contains(&model.check_mult8_pj),
        "8-bit multiply at {} pJ",
        model.check_mult8_pj
    );
    let mut rng = XorShift(0xC0FF_EE00_1234_5678);
    let stream = OperandStream {
        jobs: (0..12)
            .map(|_| {
                let m = (rng.next_u64() % 255 + 1) as i16;
                let w = if rng.next_u64().is_multiple_of(2) {
                    m
                } else {
                    -m
                };
                // Post-ReLU-like activations: many zeros and small values.
                let acts = (0..64)
                    .map(|_| {
                        let r = rng.next_u64();
                        if r.is_multiple_of(3) {
                            0
                        } else {
                            (r >> 8) as u8 >> (r % 4)
                        }
                    })
                    .collect();
                (w, acts)
            })
            .collect(),
    };
    let cost = |u| measure(u, &stream, &model).unwrap();
    let (tlut, lutna, alutna, array) = (
        cost(UnitKind::Tlut),
        cost(UnitKind::Lutna),
        cost(UnitKind::Alutna),
        cost(UnitKind::Array),
    );
    for c in [&tlut, &lutna, &alutna, &array] {
        eprintln!("{c:?}");
    }
    eprintln!("{model:?}");
    assert_eq!(tlut.sram_bits, 256 * 16);
    assert_eq!(lutna.sram_bits, 2 * 16 * 16);
    assert_eq!(
        alutna.sram_bits,
        16 * 16,
        "the A-LUT-NA lane keeps one copy"
    );
    assert_eq!(array.sram_bits, 0);
    assert!(tlut.area_transistors > 4 * lutna.area_transistors);
    assert!(alutna.area_transistors < lutna.area_transistors);
    assert!(alutna.energy_per_mac_pj < lutna.energy_per_mac_pj);
    assert!(tlut.energy_per_fill_pj > 10.0 * lutna.energy_per_fill_pj);
    assert_eq!(lutna.macs_simulated, 12 * 64);
    // The timed simulation counts glitches: the calibration adder and the multiplier switch
    // more than at zero delay, the multiplier more than the adder (docs/cost-model.md), and the
    // array MAC gains more than the LUT-NA lane, whose table reads do not glitch.
    assert!(model.add8_glitch_factor > 1.0, "{model:?}");
    assert!(
        model.check_mult8_pj_glitch > model.check_mult8_pj,
        "{model:?}"
    );
    let gain = |c: &lutna_hw::cost::GateCost| c.energy_per_mac_pj_glitch / c.energy_per_mac_pj;
    assert!(
        gain(&array) > 1.1 && gain(&array) > gain(&lutna),
        "array x{}, lutna x{}",
        gain(&array),
        gain(&lutna)
    );
}

#[test]
fn lanes_pack_onto_the_up5k_with_their_block_rams_and_dsps() {
    if yosys_missing() {
        return;
    }
    use lutna_hw::cost::fpga_cost;
    let lutna = fpga_cost("lutna").unwrap();
    let alutna = fpga_cost("alutna").unwrap();
    let tlut = fpga_cost("tlut").unwrap();
    let dsp = fpga_cost("dsp").unwrap();
    let array = fpga_cost("array").unwrap();
    eprintln!("{lutna:?} {alutna:?} {tlut:?} {dsp:?} {array:?}");
    assert_eq!(
        (lutna.bram, alutna.bram, tlut.bram, array.bram),
        (2, 1, 1, 0)
    );
    assert_eq!((dsp.dsp, array.dsp), (1, 0));
    assert!(alutna.logic_cells < lutna.logic_cells);
    assert!(dsp.logic_cells < array.logic_cells);
    assert!(fpga_cost("no-such-unit").is_err());
}
