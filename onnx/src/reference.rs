//! The float reference: the original ONNX model run by tract, an established runtime that shares no
//! code with our importer or engine. Tests and benchmarks compare against it.

use anyhow::{anyhow, Result};
use lutna_core::cifar::{Dataset, PIXELS};
use rayon::prelude::*;
use std::path::Path;
use tract_onnx::prelude::*;

pub struct TractModel {
    plan: std::sync::Arc<TypedSimplePlan>,
    batch: usize,
}

impl TractModel {
    /// Loads and optimizes `path` for batches of `batch` images.
    pub fn load(path: &Path, batch: usize) -> Result<Self> {
        let plan = tract_onnx::onnx()
            .model_for_path(path)
            .and_then(|m| m.with_input_fact(0, f32::fact([batch, 3, 32, 32]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| anyhow!("tract cannot load {}: {e}", path.display()))?;
        Ok(TractModel { plan, batch })
    }

    /// Float logits of every image, batches run in parallel.
    pub fn logits(&self, data: &Dataset) -> Result<Vec<Vec<f32>>> {
        let chunks: Vec<Vec<Vec<f32>>> = (0..data.len().div_ceil(self.batch))
            .into_par_iter()
            .map(|b| {
                let start = b * self.batch;
                let n = self.batch.min(data.len() - start);
                let mut x = vec![0f32; self.batch * PIXELS];
                for (d, s) in x
                    .iter_mut()
                    .zip(&data.pixels[start * PIXELS..(start + n) * PIXELS])
                {
                    *d = *s as f32;
                }
                let input: Tensor =
                    tract_ndarray::Array4::from_shape_vec((self.batch, 3, 32, 32), x)?.into();
                let out = self.plan.run(tvec!(input.into()))?;
                let view = out[0].to_plain_array_view::<f32>()?;
                let classes = view.shape()[1];
                let flat: Vec<f32> = view.iter().copied().collect();
                Ok::<_, anyhow::Error>(
                    (0..n)
                        .map(|i| flat[i * classes..(i + 1) * classes].to_vec())
                        .collect(),
                )
            })
            .collect::<Result<_>>()?;
        Ok(chunks.into_iter().flatten().collect())
    }
}

/// Top-1 accuracy of float logits.
pub fn top1_f32(logits: &[Vec<f32>], labels: &[u8]) -> f64 {
    let correct = logits
        .iter()
        .zip(labels)
        .filter(|(l, &y)| {
            let best = l
                .iter()
                .enumerate()
                .fold(0, |b, (i, &v)| if v > l[b] { i } else { b });
            best == y as usize
        })
        .count();
    correct as f64 / labels.len().max(1) as f64
}
