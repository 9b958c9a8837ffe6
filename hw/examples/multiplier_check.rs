//! The multiplier check of docs/cost-model.md: area and energy per operation of an 8-bit adder
//! and of 8 x 8 multipliers, each alone, under the gate-level cost model, with the ratios to the
//! adder that the page compares with a published library.
//! `cargo run --release -p lutna-hw --example multiplier_check [-- unit-delay]` (needs yosys).

use lutna_hw::cost::gatesim::Timing;
use lutna_hw::cost::{multiplier_check, EnergyModel};

fn main() -> anyhow::Result<()> {
    let timing = match std::env::args().nth(1).as_deref() {
        None | Some("logical-effort") => Timing::LogicalEffort,
        Some("unit-delay") => Timing::UnitDelay,
        Some(other) => {
            anyhow::bail!("unknown delay model '{other}': give logical-effort or unit-delay")
        }
    };
    let model = EnergyModel::calibrated_with(timing)?;
    let blocks = multiplier_check(&model)?;
    let add = &blocks[0];
    println!(
        "delays: {}; adder glitch factor {:.3}",
        timing.name(),
        model.add8_glitch_factor
    );
    println!(
        "| block | transistors | x adder | pJ/op zero-delay | x adder | pJ/op timed | x adder |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for b in &blocks {
        println!(
            "| {} | {} | {:.2} | {:.3} | {:.2} | {:.3} | {:.2} |",
            b.name,
            b.transistors,
            b.transistors as f64 / add.transistors as f64,
            b.energy_pj,
            b.energy_pj / add.energy_pj,
            b.energy_pj_glitch,
            b.energy_pj_glitch / add.energy_pj_glitch
        );
    }
    Ok(())
}
