//! The quantized model IR and its `.lutna` file.
//!
//! A model is a list of layers in execution order. Tensor 0 is the input image (3x32x32 raw
//! pixels, u8); layer `i` writes tensor `i + 1`. Each tensor records its shape, its real-valued
//! scale and what it holds (u8 after ReLU, i8 pre-activation feeding a residual add, or i32 logits).
//! Weights are stored sparse: pruned zeros take no space.

use crate::arith::{ActKind, Requant, ADD_MULT_MAX, MULT_BITS, SHIFT_MAX, WEIGHT_MAX};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const MAGIC: &[u8; 8] = b"LUTNA\0MD";
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 + 4;

/// What a tensor holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TensorKind {
    /// Unsigned 8-bit activation (the output of a ReLU, or the input pixels).
    U8,
    /// Signed 8-bit pre-activation; only a residual add may read it.
    I8,
    /// Signed 32-bit accumulator values: the network's logits.
    Logits,
}

impl TensorKind {
    pub fn act(self) -> Option<ActKind> {
        match self {
            TensorKind::U8 => Some(ActKind::U8),
            TensorKind::I8 => Some(ActKind::I8),
            TensorKind::Logits => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorInfo {
    /// Channels, height, width.
    pub shape: [usize; 3],
    /// Real value of one step of the integer (pixels: 1.0).
    pub scale: f32,
    pub kind: TensorKind,
}

impl TensorInfo {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Weights of a conv or linear layer in compressed sparse rows: row `o` (one output channel)
/// holds the nonzero weights `value[row_start[o]..row_start[o+1]]` at flattened positions
/// `index[..]` = `(in_channel * kh + ky) * kw + kx`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseWeights {
    pub row_start: Vec<u32>,
    pub index: Vec<u32>,
    pub value: Vec<i16>,
}

impl SparseWeights {
    /// Compresses dense rows (one per output channel), dropping zeros.
    pub fn from_dense(rows: &[Vec<i16>]) -> Self {
        let mut w = SparseWeights {
            row_start: vec![0],
            ..Default::default()
        };
        for row in rows {
            for (i, &v) in row.iter().enumerate() {
                if v != 0 {
                    w.index.push(i as u32);
                    w.value.push(v);
                }
            }
            w.row_start.push(w.index.len() as u32);
        }
        w
    }

    pub fn rows(&self) -> usize {
        self.row_start.len().saturating_sub(1)
    }

    pub fn nonzero(&self) -> usize {
        self.value.len()
    }

    /// The nonzero (position, weight) pairs of output channel `o`.
    pub fn row(&self, o: usize) -> impl Iterator<Item = (u32, i16)> + '_ {
        let (s, e) = (self.row_start[o] as usize, self.row_start[o + 1] as usize);
        self.index[s..e]
            .iter()
            .copied()
            .zip(self.value[s..e].iter().copied())
    }

    pub fn row_nonzero(&self, o: usize) -> usize {
        (self.row_start[o + 1] - self.row_start[o]) as usize
    }
}

/// A convolution; a linear layer is the same thing with a kernel covering its whole input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv {
    pub in_ch: usize,
    pub out_ch: usize,
    /// Kernel height, width.
    pub kernel: [usize; 2],
    /// Stride vertical, horizontal.
    pub stride: [usize; 2],
    /// Zero padding top, left, bottom, right.
    pub pad: [usize; 4],
    pub weights: SparseWeights,
    /// Real value of one weight step, per output channel.
    pub weight_scale: Vec<f32>,
    /// Added to the accumulator before requantization, per output channel.
    pub bias: Vec<i32>,
    /// Per output channel; empty when the output is logits (raw accumulators).
    pub requant: Vec<Requant>,
}

impl Conv {
    pub fn taps(&self) -> usize {
        self.in_ch * self.kernel[0] * self.kernel[1]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pad: [usize; 4],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    Conv(Conv),
    Linear(Conv),
    MaxPool(Pool),
    /// Window sum times `requant` (which holds 1 / window area); padding counts as zeros.
    AvgPool {
        pool: Pool,
        requant: Requant,
    },
    /// `round_shift_clamp(a * mult_a + b * mult_b, shift)`; ReLU when the output is u8.
    Add {
        mult_a: u32,
        mult_b: u32,
        shift: u32,
    },
    /// Channel concatenation of inputs that share one scale (the importer makes them share it).
    Concat,
}

impl Op {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Op::Conv(_) => "conv",
            Op::Linear(_) => "linear",
            Op::MaxPool(_) => "maxpool",
            Op::AvgPool { .. } => "avgpool",
            Op::Add { .. } => "add",
            Op::Concat => "concat",
        }
    }

    pub fn conv(&self) -> Option<&Conv> {
        match self {
            Op::Conv(c) | Op::Linear(c) => Some(c),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub name: String,
    /// Tensor ids read (0 is the image; layer i wrote tensor i + 1).
    pub inputs: Vec<usize>,
    pub op: Op,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub name: String,
    pub layers: Vec<Layer>,
    /// `tensors[0]` is the input; `tensors[i + 1]` is layer i's output.
    pub tensors: Vec<TensorInfo>,
}

/// Output size of a sliding window along one axis.
pub fn window_out(
    input: usize,
    kernel: usize,
    stride: usize,
    pad_lo: usize,
    pad_hi: usize,
) -> usize {
    (input + pad_lo + pad_hi).saturating_sub(kernel) / stride + 1
}

/// Per-layer sizes, as `lutna info` reports them.
#[derive(Clone, Debug, Serialize)]
pub struct LayerStats {
    pub name: String,
    pub kind: &'static str,
    pub inputs: Vec<usize>,
    pub output_shape: [usize; 3],
    pub output_kind: TensorKind,
    pub params: usize,
    pub nonzero: usize,
    pub macs_dense: u64,
    pub macs_pruned: u64,
}

/// The sums of a model's [`LayerStats`]: weights, nonzero weights and MACs per image.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct ModelTotals {
    pub params: usize,
    pub nonzero: usize,
    pub macs_dense: u64,
    pub macs_pruned: u64,
}

impl ModelTotals {
    pub fn of(stats: &[LayerStats]) -> ModelTotals {
        stats
            .iter()
            .fold(ModelTotals::default(), |t, s| ModelTotals {
                params: t.params + s.params,
                nonzero: t.nonzero + s.nonzero,
                macs_dense: t.macs_dense + s.macs_dense,
                macs_pruned: t.macs_pruned + s.macs_pruned,
            })
    }
}

impl Model {
    pub fn output(&self) -> &TensorInfo {
        self.tensors.last().expect("a model has an input tensor")
    }

    pub fn layer_stats(&self) -> Vec<LayerStats> {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let out = &self.tensors[i + 1];
                let positions = (out.shape[1] * out.shape[2]) as u64;
                let (params, nonzero) = match l.op.conv() {
                    Some(c) => (c.taps() * c.out_ch, c.weights.nonzero()),
                    None => (0, 0),
                };
                LayerStats {
                    name: l.name.clone(),
                    kind: l.op.kind_name(),
                    inputs: l.inputs.clone(),
                    output_shape: out.shape,
                    output_kind: out.kind,
                    params,
                    nonzero,
                    macs_dense: params as u64 * positions,
                    macs_pruned: nonzero as u64 * positions,
                }
            })
            .collect()
    }

    /// Checks everything the engine and the hardware rely on, so a hand-made or damaged model is
    /// refused with a reason instead of crashing or computing nonsense.
    pub fn validate(&self) -> Result<(), String> {
        if self.tensors.len() != self.layers.len() + 1 {
            return Err(format!(
                "{} tensors for {} layers (need one more tensor than layers)",
                self.tensors.len(),
                self.layers.len()
            ));
        }
        let input = &self.tensors[0];
        if input.kind != TensorKind::U8 || input.shape != [3, 32, 32] {
            return Err(format!(
                "the input must be 3x32x32 u8 pixels (CIFAR-10), not {:?} {:?}",
                input.kind, input.shape
            ));
        }
        if self.layers.is_empty() {
            return Err("the model has no layers".into());
        }
        if self.output().kind != TensorKind::Logits {
            return Err(
                "the last layer must produce logits (a conv or linear without ReLU)".into(),
            );
        }
        for (i, l) in self.layers.iter().enumerate() {
            let at = |msg: String| format!("layer {i} ({}): {msg}", l.name);
            let out = &self.tensors[i + 1];
            if out.kind == TensorKind::Logits && i + 1 != self.layers.len() {
                return Err(at("only the last layer may produce logits".into()));
            }
            if l.inputs.is_empty() || l.inputs.iter().any(|&t| t > i) {
                return Err(at(format!("inputs {:?} must be earlier tensors", l.inputs)));
            }
            let ins: Vec<&TensorInfo> = l.inputs.iter().map(|&t| &self.tensors[t]).collect();
            let single = || -> Result<&TensorInfo, String> {
                match ins.as_slice() {
                    [t] => Ok(t),
                    _ => Err(at(format!("takes one input, has {}", ins.len()))),
                }
            };
            match &l.op {
                Op::Conv(c) | Op::Linear(c) => {
                    let t = single()?;
                    if t.kind != TensorKind::U8 {
                        return Err(at("a conv or linear layer reads u8 activations only".into()));
                    }
                    if c.in_ch != t.shape[0] || c.kernel.contains(&0) || c.stride.contains(&0) {
                        return Err(at(format!(
                            "in_ch {} / kernel {:?} / stride {:?} do not fit input {:?}",
                            c.in_ch, c.kernel, c.stride, t.shape
                        )));
                    }
                    let oh = window_out(t.shape[1], c.kernel[0], c.stride[0], c.pad[0], c.pad[2]);
                    let ow = window_out(t.shape[2], c.kernel[1], c.stride[1], c.pad[1], c.pad[3]);
                    if out.shape != [c.out_ch, oh, ow]
                        || t.shape[1] + c.pad[0] + c.pad[2] < c.kernel[0]
                        || t.shape[2] + c.pad[1] + c.pad[3] < c.kernel[1]
                    {
                        return Err(at(format!("output shape {:?} is wrong", out.shape)));
                    }
                    let w = &c.weights;
                    if w.rows() != c.out_ch
                        || w.row_start.first() != Some(&0)
                        || w.row_start.windows(2).any(|p| p[0] > p[1])
                        || *w.row_start.last().unwrap() as usize != w.value.len()
                        || w.index.len() != w.value.len()
                    {
                        return Err(at("sparse weight rows are inconsistent".into()));
                    }
                    if w.index.iter().any(|&x| x as usize >= c.taps()) {
                        return Err(at("a weight position is outside the kernel".into()));
                    }
                    if w.value.iter().any(|&v| v == 0 || v.abs() > WEIGHT_MAX) {
                        return Err(at("a stored weight is zero or outside -255..=255".into()));
                    }
                    if c.bias.len() != c.out_ch || c.weight_scale.len() != c.out_ch {
                        return Err(at("bias or weight scales do not match out_ch".into()));
                    }
                    let want_requant = if out.kind == TensorKind::Logits {
                        0
                    } else {
                        c.out_ch
                    };
                    if c.requant.len() != want_requant {
                        return Err(at("requantizers do not match the output kind".into()));
                    }
                    for r in &c.requant {
                        check_requant(r.mult, r.shift).map_err(at)?;
                    }
                }
                Op::MaxPool(p) | Op::AvgPool { pool: p, .. } => {
                    let t = single()?;
                    if p.kernel.contains(&0) || p.stride.contains(&0) {
                        return Err(at("pool kernel and stride must be positive".into()));
                    }
                    let oh = window_out(t.shape[1], p.kernel[0], p.stride[0], p.pad[0], p.pad[2]);
                    let ow = window_out(t.shape[2], p.kernel[1], p.stride[1], p.pad[1], p.pad[3]);
                    if out.shape != [t.shape[0], oh, ow]
                        || out.kind != t.kind
                        || t.kind != TensorKind::U8
                    {
                        return Err(at(format!(
                            "output {:?} does not match input {:?}",
                            out.shape, t.shape
                        )));
                    }
                    if let Op::AvgPool { requant, .. } = &l.op {
                        check_requant(requant.mult, requant.shift).map_err(at)?;
                    }
                }
                Op::Add {
                    mult_a,
                    mult_b,
                    shift,
                } => {
                    if ins.len() != 2 || ins[0].shape != ins[1].shape || out.shape != ins[0].shape {
                        return Err(at("add needs two inputs of the output's shape".into()));
                    }
                    if ins.iter().any(|t| t.kind == TensorKind::Logits)
                        || out.kind == TensorKind::Logits
                    {
                        return Err(at("add works on 8-bit tensors".into()));
                    }
                    check_requant(*mult_a, *shift).map_err(at)?;
                    check_requant(*mult_b, *shift).map_err(at)?;
                    if (*mult_a).max(*mult_b) > ADD_MULT_MAX {
                        return Err(at(format!(
                            "add multipliers {mult_a} and {mult_b} are above {ADD_MULT_MAX} (the \
                             accelerator runs an add as a convolution, so its multipliers are \
                             8-bit weights); import the model again from its ONNX file with this \
                             lutna"
                        )));
                    }
                }
                Op::Concat => {
                    let ch: usize = ins.iter().map(|t| t.shape[0]).sum();
                    if ins
                        .iter()
                        .any(|t| t.shape[1..] != out.shape[1..] || t.kind != out.kind)
                        || ch != out.shape[0]
                        || ins.iter().any(|t| t.scale != out.scale)
                    {
                        return Err(at(
                            "concat inputs must share height, width, kind and scale".into()
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Serializes to the `.lutna` format: magic, version, payload length, CRC-32, payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let payload = postcard::to_stdvec(self).expect("a model always serializes");
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, String> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(
                "not a .lutna model (the file does not start with the LUTNA magic bytes); \
                 make one with `lutna import --onnx MODEL.onnx -o MODEL.lutna`"
                    .into(),
            );
        }
        if bytes.len() < HEADER_LEN {
            return Err(format!(
                "truncated .lutna file: {} bytes, shorter than the {HEADER_LEN}-byte header",
                bytes.len()
            ));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        if version != FORMAT_VERSION {
            return Err(format!(
                "the file is .lutna format version {version}, this lutna reads version \
                 {FORMAT_VERSION}; re-import the ONNX model with this version's `lutna import`"
            ));
        }
        let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
        let crc = u32::from_le_bytes(bytes[20..24].try_into().unwrap());
        let payload = &bytes[HEADER_LEN..];
        if (payload.len() as u64) < len {
            return Err(format!(
                "truncated .lutna file: the header announces {len} payload bytes, only {} are there",
                payload.len()
            ));
        }
        if payload.len() as u64 > len {
            return Err(format!(
                "corrupted .lutna file: {} bytes of trailing garbage after the payload",
                payload.len() as u64 - len
            ));
        }
        if crc32fast::hash(payload) != crc {
            return Err("corrupted .lutna file: the payload checksum does not match".into());
        }
        let model: Model = postcard::from_bytes(payload)
            .map_err(|e| format!("corrupted .lutna file: cannot decode the model ({e})"))?;
        model
            .validate()
            .map_err(|e| format!("invalid model in .lutna file: {e}"))?;
        Ok(model)
    }

    pub fn load(path: &Path) -> anyhow::Result<Model> {
        let bytes = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read model file {}: {e}", path.display()))?;
        Model::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Writes through a temporary file and a rename, so a failed write never leaves a file that
    /// looks like a good model.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        crate::write_atomic(path, &self.to_bytes())
    }
}

fn check_requant(mult: u32, shift: u32) -> Result<(), String> {
    if mult >= 1 << MULT_BITS || shift > SHIFT_MAX {
        return Err(format!(
            "requantizer {mult}/2^{shift} is outside mult < 2^{MULT_BITS}, shift <= {SHIFT_MAX}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A residual add whose multiplier is wider than a weight (a file written before the add ran
    /// on the lanes) is refused, and the message says how to get a good file.
    #[test]
    fn an_add_with_multipliers_wider_than_a_weight_is_refused() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/resnet18-w0.25.lutna");
        let mut model = Model::load(&p).unwrap();
        let set_mult_a = |model: &mut Model, value: u32| {
            let mult_a = model
                .layers
                .iter_mut()
                .find_map(|l| match &mut l.op {
                    Op::Add { mult_a, .. } => Some(mult_a),
                    _ => None,
                })
                .expect("resnet18 has residual adds");
            *mult_a = value;
        };
        set_mult_a(&mut model, ADD_MULT_MAX);
        model.validate().expect("255 is a weight");
        set_mult_a(&mut model, ADD_MULT_MAX + 1);
        let err = model.validate().unwrap_err().to_string();
        assert!(err.contains("import the model again"), "{err}");
    }
}
