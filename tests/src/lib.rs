//! Helpers shared by the end-to-end tests in `tests/tests/`: where the repository's files are, and
//! the committed models and sample images they run.

use lutna_core::cifar::{self, Dataset, Split};
use lutna_core::Model;
use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A committed model, by file name (`models/<name>`).
pub fn model(name: &str) -> Model {
    Model::load(&root().join("models").join(name)).unwrap()
}

/// The 100 shipped CIFAR-10 test images.
pub fn sample() -> Dataset {
    cifar::load(&root().join("data/cifar10-sample"), Split::Test).unwrap()
}
