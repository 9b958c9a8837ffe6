//! CIFAR-10 in the binary layout: records of 1 label byte and 3072 pixel bytes (R, G, B planes of
//! 32x32, row-major). The training split is images 0..45000 of `data_batch_1..5.bin`, the
//! validation split is images 45000..50000 (the last half of `data_batch_5.bin`, the same split
//! `tools/train` holds out), and the test split is `test_batch.bin`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub const RECORD: usize = 3073;
pub const PIXELS: usize = 3072;
pub const BATCH_IMAGES: usize = 10_000;
pub const VAL_START: usize = 45_000;
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Val,
    Test,
}

impl std::str::FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "train" => Ok(Split::Train),
            "val" => Ok(Split::Val),
            "test" => Ok(Split::Test),
            _ => Err(format!("unknown split '{s}': use test, val or train")),
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        })
    }
}

/// Images (3072 bytes each, CHW) and their labels.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * PIXELS..(i + 1) * PIXELS]
    }

    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.labels.truncate(n);
            self.pixels.truncate(n * PIXELS);
        }
    }

    /// Every `step`-th image: an evenly spread subset (for calibration).
    pub fn spread(&self, n: usize) -> Dataset {
        let step = (self.len() / n.max(1)).max(1);
        let mut out = Dataset::default();
        for i in (0..self.len()).step_by(step).take(n) {
            out.pixels.extend_from_slice(self.image(i));
            out.labels.push(self.labels[i]);
        }
        out
    }

    /// Parses one binary batch file. Full batches hold 10,000 records; shorter files (whole records
    /// only) are accepted so a small sample can ship with the repository.
    pub fn parse_batch(bytes: &[u8], name: &str) -> Result<Dataset> {
        if bytes.is_empty()
            || !bytes.len().is_multiple_of(RECORD)
            || bytes.len() > BATCH_IMAGES * RECORD
        {
            bail!(
                "{name} is {} bytes, which is not a CIFAR-10 binary batch: expected whole records \
                 of {RECORD} bytes (1 label + 3072 pixels), {} bytes for a full batch of 10,000 \
                 images. Is this the binary version (cifar-10-batches-bin), not the Python one?",
                bytes.len(),
                BATCH_IMAGES * RECORD
            );
        }
        let n = bytes.len() / RECORD;
        let mut ds = Dataset {
            pixels: Vec::with_capacity(n * PIXELS),
            labels: Vec::with_capacity(n),
        };
        for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
            if rec[0] > 9 {
                bail!(
                    "{name}: record {i} has label {}, CIFAR-10 labels are 0..9; the file is \
                     corrupt or not CIFAR-10",
                    rec[0]
                );
            }
            ds.labels.push(rec[0]);
            ds.pixels.extend_from_slice(&rec[1..]);
        }
        Ok(ds)
    }

    fn append(&mut self, other: Dataset) {
        self.pixels.extend(other.pixels);
        self.labels.extend(other.labels);
    }
}

fn read_batch(dir: &Path, file: &str) -> Result<Dataset> {
    let path: PathBuf = dir.join(file);
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "cannot read {}: the data directory must hold CIFAR-10 binary batches \
             (data_batch_1..5.bin, test_batch.bin)",
            path.display()
        )
    })?;
    Dataset::parse_batch(&bytes, &path.display().to_string())
}

/// Loads a split from a directory of binary batches.
pub fn load(dir: &Path, split: Split) -> Result<Dataset> {
    if !dir.is_dir() {
        bail!(
            "data directory {} does not exist; pass --data with a folder of CIFAR-10 binary \
             batches (for example ../shared/cifar10, or the shipped sample data/cifar10-sample)",
            dir.display()
        );
    }
    match split {
        Split::Test => read_batch(dir, "test_batch.bin"),
        Split::Train | Split::Val => {
            let batches = if split == Split::Val { 5..=5 } else { 1..=5 };
            let mut all = Dataset::default();
            for b in batches {
                let ds = read_batch(dir, &format!("data_batch_{b}.bin"))?;
                if ds.len() != BATCH_IMAGES {
                    bail!(
                        "data_batch_{b}.bin holds {} images; the {split} split needs full \
                         10,000-image training batches",
                        ds.len()
                    );
                }
                all.append(ds);
            }
            // Val is the tail of batch 5; train is everything before it.
            let (start, end) = match split {
                Split::Val => (VAL_START - 4 * BATCH_IMAGES, BATCH_IMAGES),
                _ => (0, VAL_START),
            };
            Ok(Dataset {
                pixels: all.pixels[start * PIXELS..end * PIXELS].to_vec(),
                labels: all.labels[start..end].to_vec(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_sizes_and_labels() {
        let err = Dataset::parse_batch(&[0u8; 3000], "x.bin").unwrap_err();
        assert!(
            err.to_string().contains("not a CIFAR-10 binary batch"),
            "{err}"
        );
        assert!(Dataset::parse_batch(&[], "x.bin").is_err());
        let mut rec = vec![0u8; RECORD * 2];
        rec[RECORD] = 10;
        let err = Dataset::parse_batch(&rec, "x.bin").unwrap_err();
        assert!(err.to_string().contains("label 10"), "{err}");
        rec[RECORD] = 9;
        rec[RECORD + 1] = 77;
        let ds = Dataset::parse_batch(&rec, "x.bin").unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.labels, vec![0, 9]);
        assert_eq!(ds.image(1)[0], 77);
    }

    #[test]
    fn missing_directory_is_named() {
        let err = load(Path::new("/nonexistent/cifar"), Split::Test).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/cifar"), "{err}");
    }
}
