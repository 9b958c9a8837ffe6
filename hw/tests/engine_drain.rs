//! `Drain`: groups of sums loaded into a chain of lane drain registers (modelled here as the
//! lanes hold them) come out one per cycle, in lane order, sign-extended from the lanes' width
//! and biased at 32 bits with wrapping, back to back; its Verilog and cells.

use lutna_hw::engine::drain::Drain;
use lutna_hw::engine::lane::SUM;
use lutna_hw::sim::{
    replay_under_icarus, tick, tool_available, validate_with_yosys, Trace, XorShift,
};
use rust_hdl::prelude::*;

fn clock(u: &mut Drain) -> &mut Signal<In, Clock> {
    &mut u.clock
}

#[test]
fn sums_leave_in_lane_order_biased() {
    groups(&mut None);
}

/// The same groups recorded and replayed under Icarus on the drain's Verilog.
#[test]
fn the_drains_verilog_agrees_under_icarus() {
    let verilog = generate_verilog(&Drain::top());
    let mut trace = Some(Trace::for_verilog(&verilog));
    groups(&mut trace);
    replay_under_icarus("engine-drain", &verilog, &trace.unwrap().rows);
}

fn groups(trace: &mut Option<Trace>) {
    let mut uut = Drain::top();
    let mut rng = XorShift(0xd7a1);
    let mask = (1u64 << SUM) - 1;
    for active in [8usize, 4, 1] {
        // The lanes' drain registers, as the lane chain holds them.
        let mut chain = vec![0u64; 8];
        let mut groups: Vec<(Vec<i32>, i32)> = Vec::new();
        let mut want = Vec::new();
        for _ in 0..20 {
            let sums: Vec<i32> = (0..active)
                .map(|_| ((rng.next_u64() % (1 << 23)) as i32) - (1 << 22))
                .collect();
            let bias = rng.next_u64() as i32;
            for (l, s) in sums.iter().enumerate() {
                want.push((s.wrapping_add(bias), l, l + 1 == active));
            }
            groups.push((sums, bias));
        }
        uut.active.next = (active as u64).into();
        let mut got = Vec::new();
        let mut next = 0;
        let mut bias_now = 0;
        let mut walked = 0;
        for _ in 0..10_000 {
            // Load the next group as soon as the drain is free (or in its walk's last cycle).
            assert!(simulate(&mut uut, 20));
            let free = !uut.busy.val() || uut.last.val();
            let load = next < groups.len() && free;
            uut.load.next = load;
            uut.lane0.next = (chain[0] & mask).into();
            uut.bias.next = (bias_now as u32 as u64).into();
            assert!(simulate(&mut uut, 20));
            if uut.sum_valid.val() {
                got.push((
                    uut.sum.val().index() as u32 as i32,
                    uut.lane.val().index(),
                    uut.last.val(),
                ));
                walked += 1;
            }
            let shift = uut.shift.val();
            if let Some(t) = trace.as_mut() {
                t.record(&uut);
            }
            tick(&mut uut, clock);
            if shift {
                chain.remove(0);
                chain.push(0);
            }
            if load {
                let (sums, bias) = &groups[next];
                chain = sums.iter().map(|&s| s as u32 as u64 & mask).collect();
                chain.resize(8, 0);
                bias_now = *bias;
                next += 1;
            }
            if walked == want.len() {
                break;
            }
        }
        assert_eq!(got, want, "{active} active lanes");
    }
}

#[test]
fn the_drain_fits_its_budget() {
    let verilog = generate_verilog(&Drain::top());
    validate_with_yosys("drain", &verilog);
    if !tool_available("nextpnr-ice40", "the drain's cell count") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lutna-drain-{}", std::process::id()));
    let cells = lutna_hw::flow::unit::unit_cells(&dir, &verilog).unwrap();
    println!("drain: {cells:?}");
    assert!(
        cells.packed_logic_cells <= lutna_hw::engine::budget::DRAIN.cells as u64,
        "{cells:?}"
    );
}
