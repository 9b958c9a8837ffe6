//! lutna-core owns the one definition of lutna's arithmetic and everything that does not touch
//! hardware or a file format other than its own: number formats and the LUT scheme family
//! ([`arith`]), per-layer scheme plans ([`plan`]), the quantized model IR and the `.lutna` file
//! ([`model`]), CIFAR-10 loading ([`cifar`]), the bit-exact golden inference engine ([`engine`]),
//! the board link's wire format ([`protocol`]), where maps live in activation memory
//! ([`accel`]), the engine's instruction stream and reference machine ([`isa`]), its compiler
//! ([`compile`]) and cycle model ([`cycles`]). It depends on no other lutna crate; the hardware generators, the simulator and
//! the host all take their rules from here. ONNX import, calibration and the float reference
//! live in `lutna-onnx`, so nothing built on this crate compiles tract.

pub mod accel;
pub mod arith;
pub mod board_model;
pub mod cifar;
pub mod compile;
pub mod cycles;
pub mod engine;
pub mod isa;
pub mod model;
pub mod plan;
pub mod protocol;

pub use arith::{Scheme, WEIGHT_MAX};
pub use model::Model;
pub use plan::Plan;

use std::path::Path;

/// A small deterministic generator (xorshift64) for test stimulus and the virtual board's fault
/// injection: the same seed gives the same sequence on every machine.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A draw in [0, 1): the top 53 bits as a fraction.
    pub fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Writes `bytes` to a temporary file beside `path` and renames it into place, so an interrupted
/// or failed write never leaves a partial file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}", path.display())
    })
}
