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

/// A small deterministic generator for test stimulus (xorshift64).
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Compiles `files` (name, Verilog text) with Icarus Verilog in a fresh temporary folder named
/// after `tag`, runs the result, and returns what the simulation printed. `inputs` are extra data
/// files (for `$readmemh`). None when iverilog is not installed.
pub fn run_icarus(
    tag: &str,
    files: &[(&str, String)],
    inputs: &[(&str, String)],
) -> Option<String> {
    use std::process::Command;
    if Command::new("iverilog").arg("-V").output().is_err() {
        eprintln!("NOTE: iverilog not installed: independent-simulator check SKIPPED (./tools/test.sh installs it)");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("lutna-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files.iter().chain(inputs) {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let build = Command::new("iverilog")
        .current_dir(&dir)
        .arg("-o")
        .arg("sim.vvp")
        .args(files.iter().map(|f| f.0))
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "iverilog: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let run = Command::new("vvp")
        .current_dir(&dir)
        .arg("sim.vvp")
        .output()
        .unwrap();
    Some(String::from_utf8_lossy(&run.stdout).into_owned())
}

/// Runs rust-hdl's yosys validation of generated Verilog (latches, undriven or implicit wires);
/// says so and returns when yosys is not installed, so a skip is never silent.
pub fn validate_with_yosys(tag: &str, verilog: &str) {
    if std::process::Command::new("yosys")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("NOTE: yosys not installed: Verilog validation of {tag} SKIPPED (./tools/test.sh installs it)");
        return;
    }
    rust_hdl::prelude::yosys_validate(tag, verilog)
        .unwrap_or_else(|e| panic!("yosys rejects the Verilog of {tag}: {e:?}"));
}
