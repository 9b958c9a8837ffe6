//! Direct stepping of a RustHDL block (no threads: see ../shared/toolchain.md, 60-270x faster
//! than rust-hdl's `Simulation`). Inputs are changed while the clock is low and settled before the
//! rising edge, which avoids the zero-delay race between registered and combinational reads.

use rust_hdl::prelude::*;

/// Settles the block, raises the clock, settles, lowers it and settles again. Panics if the logic
/// does not converge (a combinational loop), which is a design bug.
pub fn tick<B: Block>(uut: &mut B, clock: impl Fn(&mut B) -> &mut Signal<In, Clock>) {
    assert!(simulate(uut, 200), "logic did not settle before the edge");
    clock(uut).next = Clock::from(true);
    assert!(
        simulate(uut, 200),
        "logic did not settle after the rising edge"
    );
    clock(uut).next = Clock::from(false);
    assert!(
        simulate(uut, 200),
        "logic did not settle after the falling edge"
    );
}
