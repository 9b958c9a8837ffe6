//! Calibration and quantization: a [`FloatGraph`] and some training images in, a [`Model`] out.
//!
//! - Activation scales: per tensor, from a high percentile of the values seen on the calibration
//!   images (training data only). Max-pool, concat and average-pool outputs share their inputs'
//!   scale (concat inputs are forced to one scale), so those layers move bytes and never rescale.
//! - Weights: symmetric, per output channel, magnitude 255 at the channel's largest weight. The
//!   logits layer uses one scale for all its channels so the i32 logits compare directly.
//! - Bias: rounded to the accumulator's scale (input scale x weight scale).

use crate::graph::{FloatConv, FloatGraph, FloatOp};
use anyhow::{bail, Result};
use lutna_core::arith::{Requant, WEIGHT_MAX};
use lutna_core::cifar::Dataset;
use lutna_core::model::{Conv, Layer, Model, Op, SparseWeights, TensorInfo, TensorKind};
use rayon::prelude::*;

/// Which part of the distribution of |activation| sets a tensor's range.
pub const CALIB_PERCENTILE: f64 = 0.9999;

/// Per-tensor range (the CALIB_PERCENTILE quantile of |x|) over the calibration images.
pub fn calibrate(g: &FloatGraph, images: &Dataset, progress: impl Fn(usize) + Sync) -> Vec<f32> {
    let n_t = g.shapes.len();
    // Each image contributes its values; collect per tensor, then take the quantile.
    let per_image: Vec<Vec<Vec<f32>>> = (0..images.len())
        .into_par_iter()
        .map(|i| {
            let t = g.forward(images.image(i));
            progress(1);
            // keep a strided sample of large tensors so memory stays bounded
            t.iter()
                .map(|a| {
                    let step = (a.len() / 4096).max(1);
                    a.iter().step_by(step).map(|v| v.abs()).collect()
                })
                .collect()
        })
        .collect();
    (0..n_t)
        .map(|ti| {
            let mut all: Vec<f32> = per_image
                .iter()
                .flat_map(|t| t[ti].iter().copied())
                .collect();
            if all.is_empty() {
                return 1.0;
            }
            let k = ((all.len() as f64 - 1.0) * CALIB_PERCENTILE).round() as usize;
            let (_, v, _) = all.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
            *v
        })
        .collect()
}

fn find(parent: &mut Vec<usize>, x: usize) -> usize {
    if parent[x] != x {
        let r = find(parent, parent[x]);
        parent[x] = r;
    }
    parent[x]
}

/// Quantizes the float graph with the given per-tensor ranges.
pub fn quantize(g: &FloatGraph, ranges: &[f32], name: &str) -> Result<Model> {
    let n_t = g.shapes.len();
    let last = g.nodes.len();
    // Kinds: u8 after ReLU (and for the pixels), i8 for pre-activations that feed an add, logits.
    let mut kinds = vec![TensorKind::U8; n_t];
    for (i, n) in g.nodes.iter().enumerate() {
        let id = i + 1;
        kinds[id] = match &n.op {
            _ if n.relu => TensorKind::U8,
            FloatOp::Conv(_) | FloatOp::Linear(_) if id == last => TensorKind::Logits,
            FloatOp::Conv(_) | FloatOp::Linear(_) | FloatOp::Add => TensorKind::I8,
            FloatOp::MaxPool(_) | FloatOp::AvgPool(_) | FloatOp::Concat => kinds[n.inputs[0]],
        };
    }
    for n in &g.nodes {
        for &inp in &n.inputs {
            let ok = match &n.op {
                FloatOp::Add => kinds[inp] != TensorKind::Logits,
                _ => kinds[inp] == TensorKind::U8,
            };
            if !ok {
                bail!(
                    "layer '{}' reads tensor {} which has no ReLU ({:?}); lutna needs a ReLU after \
                     every conv/linear except those feeding a residual Add or the logits",
                    n.name,
                    inp,
                    kinds[inp]
                );
            }
        }
        if let FloatOp::Concat = n.op {
            if n.inputs.iter().any(|&j| kinds[j] != kinds[n.inputs[0]]) {
                bail!("concat '{}' mixes signed and unsigned inputs", n.name);
            }
        }
    }
    // Scale groups: pooling and concat outputs share their inputs' scale.
    let mut parent: Vec<usize> = (0..n_t).collect();
    for (i, n) in g.nodes.iter().enumerate() {
        if matches!(
            n.op,
            FloatOp::MaxPool(_) | FloatOp::AvgPool(_) | FloatOp::Concat
        ) {
            for &j in &n.inputs {
                let (a, b) = (find(&mut parent, i + 1), find(&mut parent, j));
                parent[a] = b;
            }
        }
    }
    let mut group_range = vec![0f32; n_t];
    for (t, &range) in ranges.iter().enumerate() {
        let r = find(&mut parent, t);
        group_range[r] = group_range[r].max(range);
    }
    let input_group = find(&mut parent, 0);
    let mut scales = vec![1f32; n_t];
    for t in 0..n_t {
        let r = find(&mut parent, t);
        scales[t] = if r == input_group {
            1.0
        } else {
            let levels = if kinds[t] == TensorKind::I8 {
                127.0
            } else {
                255.0
            };
            (group_range[r] / levels).max(1e-8)
        };
    }

    let mut layers = Vec::with_capacity(g.nodes.len());
    let mut tensors = vec![TensorInfo {
        shape: g.shapes[0],
        scale: 1.0,
        kind: TensorKind::U8,
    }];
    for (i, n) in g.nodes.iter().enumerate() {
        let id = i + 1;
        let s_out = scales[id];
        let op = match &n.op {
            FloatOp::Conv(c) | FloatOp::Linear(c) => {
                let q = quantize_conv(
                    c,
                    scales[n.inputs[0]],
                    s_out,
                    kinds[id] == TensorKind::Logits,
                )?;
                let scale = if kinds[id] == TensorKind::Logits {
                    scales[n.inputs[0]] * q.weight_scale[0]
                } else {
                    s_out
                };
                scales[id] = scale;
                if matches!(n.op, FloatOp::Conv(_)) {
                    Op::Conv(q)
                } else {
                    Op::Linear(q)
                }
            }
            FloatOp::MaxPool(p) => Op::MaxPool(*p),
            FloatOp::AvgPool(p) => Op::AvgPool {
                pool: *p,
                requant: Requant::from_real(1.0 / (p.kernel[0] * p.kernel[1]) as f64)
                    .map_err(anyhow::Error::msg)?,
            },
            FloatOp::Add => {
                let ma = scales[n.inputs[0]] as f64 / s_out as f64;
                let mb = scales[n.inputs[1]] as f64 / s_out as f64;
                let (mult_a, mult_b, shift) =
                    lutna_core::arith::add_multipliers(ma, mb).map_err(anyhow::Error::msg)?;
                Op::Add {
                    mult_a,
                    mult_b,
                    shift,
                }
            }
            FloatOp::Concat => Op::Concat,
        };
        layers.push(Layer {
            name: n.name.clone(),
            inputs: n.inputs.clone(),
            op,
        });
        tensors.push(TensorInfo {
            shape: g.shapes[id],
            scale: scales[id],
            kind: kinds[id],
        });
    }
    let model = Model {
        name: name.to_string(),
        layers,
        tensors,
    };
    model
        .validate()
        .map_err(|e| anyhow::anyhow!("quantized model is inconsistent: {e}"))?;
    Ok(model)
}

fn quantize_conv(c: &FloatConv, s_in: f32, s_out: f32, logits: bool) -> Result<Conv> {
    let taps = c.taps();
    let channel_max: Vec<f32> = (0..c.out_ch)
        .map(|o| {
            c.weight[o * taps..(o + 1) * taps]
                .iter()
                .fold(0f32, |m, w| m.max(w.abs()))
        })
        .collect();
    let all_max = channel_max.iter().fold(0f32, |a, &b| a.max(b));
    let weight_scale: Vec<f32> = channel_max
        .iter()
        .map(|&m| {
            let m = if logits { all_max } else { m };
            if m > 0.0 {
                m / WEIGHT_MAX as f32
            } else {
                1.0
            }
        })
        .collect();
    let rows: Vec<Vec<i16>> = (0..c.out_ch)
        .map(|o| {
            c.weight[o * taps..(o + 1) * taps]
                .iter()
                .map(|&w| (w / weight_scale[o]).round().clamp(-255.0, 255.0) as i16)
                .collect()
        })
        .collect();
    let bias = (0..c.out_ch)
        .map(|o| {
            let b = c.bias[o] as f64 / (s_in as f64 * weight_scale[o] as f64);
            b.round().clamp(-((1u64 << 30) as f64), (1u64 << 30) as f64) as i32
        })
        .collect();
    let requant = if logits {
        vec![]
    } else {
        (0..c.out_ch)
            .map(|o| Requant::from_real(s_in as f64 * weight_scale[o] as f64 / s_out as f64))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?
    };
    Ok(Conv {
        in_ch: c.in_ch,
        out_ch: c.out_ch,
        kernel: c.kernel,
        stride: c.stride,
        pad: c.pad,
        weights: SparseWeights::from_dense(&rows),
        weight_scale,
        bias,
        requant,
    })
}
