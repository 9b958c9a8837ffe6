//! ONNX to a float graph with batch-norm and the input scaling folded in.
//!
//! The protobuf is decoded by tract-onnx; this module walks its nodes. The result, [`FloatGraph`],
//! has the same layer structure as the quantized [`lutna_core::model::Model`] (conv/linear with fused
//! ReLU, pools, residual add, concat), which keeps calibration and quantization a one-to-one map.

use anyhow::{anyhow, bail, Context, Result};
use lutna_core::engine::{conv_sparse, pool_windows, Taps};
use lutna_core::model::{window_out, Pool};
use ndarray::Array3;
use std::collections::HashMap;
use std::path::Path;
use tract_onnx::pb::{self, NodeProto, TensorProto};
use tract_onnx::prelude::Framework;

#[derive(Clone, Debug)]
pub struct FloatConv {
    pub in_ch: usize,
    pub out_ch: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pad: [usize; 4],
    /// Dense weights, `[out_ch][in_ch][kh][kw]` flattened.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl FloatConv {
    pub fn taps(&self) -> usize {
        self.in_ch * self.kernel[0] * self.kernel[1]
    }
}

#[derive(Clone, Debug)]
pub enum FloatOp {
    Conv(FloatConv),
    Linear(FloatConv),
    MaxPool(Pool),
    AvgPool(Pool),
    Add,
    Concat,
}

#[derive(Clone, Debug)]
pub struct FloatNode {
    pub name: String,
    pub inputs: Vec<usize>,
    pub op: FloatOp,
    pub relu: bool,
}

/// Tensor 0 is the input (3 x 32 x 32 raw pixels); node i writes tensor i + 1.
#[derive(Clone, Debug)]
pub struct FloatGraph {
    pub nodes: Vec<FloatNode>,
    pub shapes: Vec<[usize; 3]>,
}

fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

fn attr_ints(n: &NodeProto, name: &str) -> Option<Vec<usize>> {
    attr(n, name).map(|a| a.ints.iter().map(|&v| v.max(0) as usize).collect())
}

fn attr_int(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map(|a| a.i).unwrap_or(default)
}

fn attr_float(n: &NodeProto, name: &str, default: f32) -> f32 {
    attr(n, name).map(|a| a.f).unwrap_or(default)
}

fn node_label(n: &NodeProto) -> String {
    if n.name.is_empty() {
        format!(
            "{} node producing '{}'",
            n.op_type,
            n.output.first().cloned().unwrap_or_default()
        )
    } else {
        format!("{} node '{}'", n.op_type, n.name)
    }
}

/// A float tensor constant: dims and values.
#[derive(Clone, Debug)]
struct Const {
    dims: Vec<usize>,
    data: Vec<f32>,
}

fn tensor_values(t: &TensorProto) -> Result<Const> {
    use pb::tensor_proto::DataType;
    let dims: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
    let n: usize = dims.iter().product();
    let dt = DataType::try_from(t.data_type)
        .map_err(|_| anyhow!("unknown data type {}", t.data_type))?;
    let data: Vec<f32> = match dt {
        DataType::Float if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        DataType::Float => t.float_data.clone(),
        DataType::Int64 if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f32)
            .collect(),
        DataType::Int64 => t.int64_data.iter().map(|&v| v as f32).collect(),
        other => bail!(
            "tensor '{}' has data type {other:?}; only float and int64 constants are supported",
            t.name
        ),
    };
    if data.len() != n {
        bail!(
            "tensor '{}' holds {} values for dims {:?}",
            t.name,
            data.len(),
            dims
        );
    }
    Ok(Const { dims, data })
}

/// What a tensor name refers to while walking the graph.
#[derive(Clone, Copy, Debug)]
struct Value {
    /// FloatGraph tensor id.
    id: usize,
    /// Shape has been flattened (by Flatten/Reshape); only a Gemm/MatMul may consume it.
    flat: bool,
}

/// Per-channel affine `x * scale + shift` still pending on the input pixels (from Mul/Div/Add/Sub
/// nodes in front of the first conv).
#[derive(Clone, Debug)]
struct InputAffine {
    scale: Vec<f32>,
    shift: Vec<f32>,
}

struct Builder {
    g: FloatGraph,
    consts: HashMap<String, Const>,
    values: HashMap<String, Value>,
    consumers: HashMap<String, usize>,
    affine: InputAffine,
    warnings: Vec<String>,
}

/// The result of reading an ONNX model: the float graph and anything the user should know.
pub struct Imported {
    pub graph: FloatGraph,
    pub warnings: Vec<String>,
}

/// Reads an ONNX file into a float graph. Every unsupported op or attribute is an error that
/// names the node.
pub fn import_onnx(path: &Path) -> Result<Imported> {
    if !path.is_file() {
        bail!("ONNX file {} does not exist", path.display());
    }
    let proto = tract_onnx::onnx()
        .proto_model_for_path(path)
        .map_err(|e| anyhow!("{} is not a readable ONNX model: {e}", path.display()))?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| anyhow!("{}: the ONNX model has no graph", path.display()))?;
    from_graph(graph).with_context(|| format!("importing {}", path.display()))
}

fn from_graph(graph: &pb::GraphProto) -> Result<Imported> {
    let mut b = Builder {
        g: FloatGraph {
            nodes: vec![],
            shapes: vec![[3, 32, 32]],
        },
        consts: HashMap::new(),
        values: HashMap::new(),
        consumers: HashMap::new(),
        affine: InputAffine {
            scale: vec![1.0; 3],
            shift: vec![0.0; 3],
        },
        warnings: vec![],
    };
    for t in &graph.initializer {
        b.consts.insert(t.name.clone(), tensor_values(t)?);
    }
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !b.consts.contains_key(&i.name))
        .collect();
    if inputs.len() != 1 {
        bail!(
            "the model has {} inputs; lutna imports single-input image classifiers",
            inputs.len()
        );
    }
    check_input_shape(inputs[0])?;
    b.values
        .insert(inputs[0].name.clone(), Value { id: 0, flat: false });
    for n in &graph.node {
        for i in &n.input {
            *b.consumers.entry(i.clone()).or_default() += 1;
        }
    }
    for o in &graph.output {
        *b.consumers.entry(o.name.clone()).or_default() += 1;
    }
    for n in &graph.node {
        b.node(n).with_context(|| format!("at {}", node_label(n)))?;
    }
    if graph.output.len() != 1 {
        bail!(
            "the model has {} outputs; lutna expects one (the logits)",
            graph.output.len()
        );
    }
    let out = b
        .values
        .get(&graph.output[0].name)
        .ok_or_else(|| anyhow!("the graph output is not computed by any supported node"))?;
    let last = b.g.nodes.len();
    if out.id != last || last == 0 {
        bail!("the graph output must be the last layer's output");
    }
    match &b.g.nodes[last - 1] {
        FloatNode {
            op: FloatOp::Linear(_) | FloatOp::Conv(_),
            relu: false,
            ..
        } => {}
        n => bail!(
            "the last layer ('{}') must be a Gemm/MatMul or Conv without ReLU producing the logits",
            n.name
        ),
    }
    Ok(Imported {
        graph: b.g,
        warnings: b.warnings,
    })
}

fn check_input_shape(input: &pb::ValueInfoProto) -> Result<()> {
    use pb::tensor_shape_proto::dimension::Value as D;
    use pb::type_proto::Value as T;
    let dims: Option<Vec<Option<i64>>> = (|| {
        let T::TensorType(tt) = input.r#type.as_ref()?.value.as_ref()?;
        Some(
            tt.shape
                .as_ref()?
                .dim
                .iter()
                .map(|d| match d.value {
                    Some(D::DimValue(v)) => Some(v),
                    _ => None,
                })
                .collect(),
        )
    })();
    if let Some(d) = dims {
        let ok = d.len() == 4
            && d[1..]
                .iter()
                .zip([3, 32, 32])
                .all(|(v, want)| v.is_none() || *v == Some(want));
        if !ok {
            bail!(
                "input '{}' has shape {:?}; lutna expects N x 3 x 32 x 32 (CIFAR-10 pixels)",
                input.name,
                d
            );
        }
    }
    Ok(())
}

impl Builder {
    fn value(&self, n: &NodeProto, i: usize) -> Result<Value> {
        let name = n.input.get(i).ok_or_else(|| anyhow!("missing input {i}"))?;
        self.values
            .get(name)
            .copied()
            .ok_or_else(|| anyhow!("input '{name}' is not produced by a supported node"))
    }

    fn konst(&self, n: &NodeProto, i: usize) -> Option<&Const> {
        n.input.get(i).and_then(|name| self.consts.get(name))
    }

    fn set_out(&mut self, n: &NodeProto, v: Value) {
        if let Some(o) = n.output.first() {
            self.values.insert(o.clone(), v);
        }
    }

    fn push(&mut self, n: &NodeProto, inputs: Vec<usize>, op: FloatOp, shape: [usize; 3]) {
        let name = self.layer_name(n);
        self.g.nodes.push(FloatNode {
            name,
            inputs,
            op,
            relu: false,
        });
        self.g.shapes.push(shape);
        let id = self.g.nodes.len();
        self.set_out(n, Value { id, flat: false });
    }

    /// A short unique layer name from the exporter's node path: `/features/features.2/c1/c1.0/Conv`
    /// becomes `features.2/c1.0/Conv` (a segment is dropped when the next one repeats it).
    fn layer_name(&self, n: &NodeProto) -> String {
        let raw = if n.name.is_empty() {
            &n.output[0]
        } else {
            &n.name
        };
        let segs: Vec<&str> = raw.split('/').filter(|s| !s.is_empty()).collect();
        let kept: Vec<&str> = segs
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                segs.get(i + 1)
                    .is_none_or(|next| !next.starts_with(&format!("{s}.")))
            })
            .map(|(_, s)| *s)
            .collect();
        let mut name = if kept.is_empty() {
            raw.clone()
        } else {
            kept.join("/")
        };
        if self.g.nodes.iter().any(|x| x.name == name) {
            name = format!("{name}#{}", self.g.nodes.len());
        }
        name
    }

    /// The node that writes tensor `id`, for folding into it; the tensor must have no other reader.
    fn sole_producer(&mut self, n: &NodeProto, id: usize, what: &str) -> Result<&mut FloatNode> {
        let readers = self.consumers.get(&n.input[0]).copied().unwrap_or(0);
        if id == 0 {
            bail!("{what} directly on the model input cannot be folded");
        }
        if readers != 1 {
            bail!("{what} reads a tensor that {readers} nodes read; it can only be folded into a sole producer");
        }
        Ok(&mut self.g.nodes[id - 1])
    }

    fn node(&mut self, n: &NodeProto) -> Result<()> {
        match n.op_type.as_str() {
            "Constant" => {
                let t = attr(n, "value")
                    .and_then(|a| a.t.as_ref())
                    .ok_or_else(|| anyhow!("Constant without a tensor value"))?;
                let c = tensor_values(t)?;
                self.consts.insert(n.output[0].clone(), c);
            }
            "Identity" | "Dropout" => {
                let v = self.value(n, 0)?;
                self.set_out(n, v);
            }
            "Mul" | "Div" | "Add" | "Sub" => self.elementwise(n)?,
            "Conv" => self.conv(n)?,
            "Gemm" | "MatMul" => self.gemm(n)?,
            "BatchNormalization" => self.batchnorm(n)?,
            "Relu" => {
                let v = self.value(n, 0)?;
                let node = self.sole_producer(n, v.id, "Relu")?;
                if let FloatOp::MaxPool(_) | FloatOp::AvgPool(_) | FloatOp::Concat = node.op {
                    bail!(
                        "Relu after a {} is not supported; put it before the pooling",
                        n.op_type
                    );
                }
                node.relu = true;
                self.set_out(n, v);
            }
            "MaxPool" | "AveragePool" => self.pool(n)?,
            "GlobalAveragePool" => {
                let v = self.value(n, 0)?;
                let [c, h, w] = self.g.shapes[v.id];
                let p = Pool {
                    kernel: [h, w],
                    stride: [1, 1],
                    pad: [0; 4],
                };
                self.push(n, vec![v.id], FloatOp::AvgPool(p), [c, 1, 1]);
            }
            "Flatten" | "Reshape" => {
                let v = self.value(n, 0)?;
                let [c, h, w] = self.g.shapes[v.id];
                if n.op_type == "Flatten" && attr_int(n, "axis", 1) != 1 {
                    bail!("Flatten with axis != 1 is not supported");
                }
                if n.op_type == "Reshape" {
                    let shape = self
                        .konst(n, 1)
                        .ok_or_else(|| anyhow!("Reshape needs a constant target shape"))?;
                    let want = (c * h * w) as f32;
                    let ok = shape.data.len() == 2
                        && (shape.data[1] == want || shape.data[1] == -1.0)
                        && (shape.data[0] == -1.0 || shape.data[0] == 1.0 || shape.data[0] == 0.0);
                    if !ok {
                        bail!(
                            "Reshape to {:?} is not a flatten to [N, {}]",
                            shape.data,
                            c * h * w
                        );
                    }
                }
                self.set_out(
                    n,
                    Value {
                        id: v.id,
                        flat: true,
                    },
                );
            }
            "Concat" => {
                if attr_int(n, "axis", 1) != 1 {
                    bail!("Concat is supported along channels (axis 1) only");
                }
                let ids: Vec<usize> = (0..n.input.len())
                    .map(|i| self.value(n, i).map(|v| v.id))
                    .collect::<Result<_>>()?;
                let hw = self.g.shapes[ids[0]][1..].to_vec();
                if ids.iter().any(|&i| self.g.shapes[i][1..] != hw[..]) {
                    bail!("Concat inputs differ in height/width");
                }
                let c = ids.iter().map(|&i| self.g.shapes[i][0]).sum();
                self.push(n, ids, FloatOp::Concat, [c, hw[0], hw[1]]);
            }
            other => bail!(
                "unsupported ONNX op '{other}'. lutna imports Conv, Gemm/MatMul, Relu, MaxPool, \
                 AveragePool, GlobalAveragePool, Add, Concat, BatchNormalization, Flatten/Reshape \
                 (and constant Mul/Div/Add/Sub on the input pixels)"
            ),
        }
        Ok(())
    }

    fn elementwise(&mut self, n: &NodeProto) -> Result<()> {
        let (c0, c1) = (self.konst(n, 0).cloned(), self.konst(n, 1).cloned());
        let op = n.op_type.as_str();
        if c0.is_none() && c1.is_none() {
            if op != "Add" {
                bail!("{op} of two computed tensors is not supported (only a residual Add is)");
            }
            let (a, b) = (self.value(n, 0)?, self.value(n, 1)?);
            if self.g.shapes[a.id] != self.g.shapes[b.id] {
                bail!(
                    "residual Add of shapes {:?} and {:?}",
                    self.g.shapes[a.id],
                    self.g.shapes[b.id]
                );
            }
            let shape = self.g.shapes[a.id];
            self.push(n, vec![a.id, b.id], FloatOp::Add, shape);
            return Ok(());
        }
        let (k, vi) = match (c0, c1) {
            (Some(k), None) => {
                if op == "Sub" || op == "Div" {
                    bail!("{op} with the constant first is not supported");
                }
                (k, 1)
            }
            (None, Some(k)) => (k, 0),
            _ => bail!("{op} of two constants should have been folded by the exporter"),
        };
        let v = self.value(n, vi)?;
        let channels = self.g.shapes[v.id][0];
        let per_ch = broadcast_channels(&k, channels)
            .ok_or_else(|| anyhow!("{op} by a constant of dims {:?}: only scalar or per-channel constants are supported", k.dims))?;
        if v.id == 0 {
            // Pixel preprocessing: accumulate into the pending input affine.
            for (c, &x) in per_ch.iter().enumerate() {
                match op {
                    "Mul" => {
                        self.affine.scale[c] *= x;
                        self.affine.shift[c] *= x;
                    }
                    "Div" => {
                        self.affine.scale[c] /= x;
                        self.affine.shift[c] /= x;
                    }
                    "Add" => self.affine.shift[c] += x,
                    _ => self.affine.shift[c] -= x,
                }
            }
            self.set_out(n, v);
            return Ok(());
        }
        if op != "Add" && op != "Sub" {
            bail!("{op} by a constant after a layer is not supported (only on the input pixels)");
        }
        let sign = if op == "Add" { 1.0 } else { -1.0 };
        let node = self.sole_producer(n, v.id, "a constant Add/Sub")?;
        match &mut node.op {
            FloatOp::Conv(c) | FloatOp::Linear(c) if !node.relu => {
                for (b, x) in c.bias.iter_mut().zip(&per_ch) {
                    *b += sign * x;
                }
            }
            _ => bail!(
                "a constant Add/Sub can only be folded into the bias of a Conv or Gemm/MatMul"
            ),
        }
        self.set_out(n, v);
        Ok(())
    }

    fn take_affine(&mut self, input: usize, c: &mut FloatConv, pad: bool) {
        if input != 0 {
            return;
        }
        let a = std::mem::replace(
            &mut self.affine,
            InputAffine {
                scale: vec![1.0; 3],
                shift: vec![0.0; 3],
            },
        );
        let k = c.kernel[0] * c.kernel[1];
        let mut shifted = false;
        for o in 0..c.out_ch {
            for ic in 0..c.in_ch {
                for t in 0..k {
                    let w = &mut c.weight[(o * c.in_ch + ic) * k + t];
                    c.bias[o] += *w * a.shift[ic];
                    *w *= a.scale[ic];
                }
            }
        }
        if a.shift.iter().any(|&s| s != 0.0) {
            shifted = true;
        }
        if shifted && pad {
            self.warnings.push(
                "the input normalization subtracts a mean and the first conv pads: after folding, \
                 border pixels see padding of 0 instead of the mean (small accuracy change); \
                 train with a pure per-channel scale to fold exactly"
                    .into(),
            );
        }
    }

    fn conv(&mut self, n: &NodeProto) -> Result<()> {
        let v = self.value(n, 0)?;
        let w = self
            .konst(n, 1)
            .cloned()
            .ok_or_else(|| anyhow!("Conv weights must be an initializer"))?;
        if w.dims.len() != 4 {
            bail!(
                "Conv weights of rank {} (only 2-D convolutions are supported)",
                w.dims.len()
            );
        }
        if attr_int(n, "group", 1) != 1 {
            bail!(
                "grouped or depthwise Conv (group = {}) is not supported",
                attr_int(n, "group", 1)
            );
        }
        if attr_ints(n, "dilations").is_some_and(|d| d.iter().any(|&x| x != 1)) {
            bail!("dilated Conv is not supported");
        }
        if let Some(a) = attr(n, "auto_pad") {
            if !a.s.is_empty() && a.s != b"NOTSET" {
                bail!(
                    "Conv auto_pad={} is not supported; export with explicit pads",
                    String::from_utf8_lossy(&a.s)
                );
            }
        }
        let [c, h, wd] = self.g.shapes[v.id];
        let (oc, ic, kh, kw) = (w.dims[0], w.dims[1], w.dims[2], w.dims[3]);
        if ic != c {
            bail!("Conv weights expect {ic} input channels, the input has {c}");
        }
        let stride = attr_ints(n, "strides").unwrap_or(vec![1, 1]);
        let pads = attr_ints(n, "pads").unwrap_or(vec![0; 4]);
        let bias = match self.konst(n, 2) {
            Some(b) => b.data.clone(),
            None if n.input.len() > 2 && !n.input[2].is_empty() => {
                bail!("Conv bias must be an initializer")
            }
            None => vec![0.0; oc],
        };
        let mut fc = FloatConv {
            in_ch: ic,
            out_ch: oc,
            kernel: [kh, kw],
            stride: [stride[0], stride[1]],
            pad: [pads[0], pads[1], pads[2], pads[3]],
            weight: w.data,
            bias,
        };
        self.take_affine(v.id, &mut fc, pads.iter().any(|&p| p > 0));
        let oh = window_out(h, kh, fc.stride[0], fc.pad[0], fc.pad[2]);
        let ow = window_out(wd, kw, fc.stride[1], fc.pad[1], fc.pad[3]);
        self.push(n, vec![v.id], FloatOp::Conv(fc), [oc, oh, ow]);
        Ok(())
    }

    fn gemm(&mut self, n: &NodeProto) -> Result<()> {
        let v = self.value(n, 0)?;
        let [c, h, w] = self.g.shapes[v.id];
        if !v.flat && (h != 1 || w != 1) {
            bail!(
                "{} on an unflattened {c}x{h}x{w} map; add a Flatten",
                n.op_type
            );
        }
        let k = self
            .konst(n, 1)
            .cloned()
            .ok_or_else(|| anyhow!("{} weights must be an initializer", n.op_type))?;
        let inputs = c * h * w;
        let gemm = n.op_type == "Gemm";
        if gemm
            && (attr_float(n, "alpha", 1.0) != 1.0
                || attr_float(n, "beta", 1.0) != 1.0
                || attr_int(n, "transA", 0) != 0)
        {
            bail!("Gemm with alpha/beta != 1 or transA is not supported");
        }
        let trans_b = gemm && attr_int(n, "transB", 0) == 1;
        if k.dims.len() != 2 {
            bail!("weights of rank {}", k.dims.len());
        }
        let (outs, ins) = if trans_b {
            (k.dims[0], k.dims[1])
        } else {
            (k.dims[1], k.dims[0])
        };
        if ins != inputs {
            bail!("weights expect {ins} inputs, the input has {inputs}");
        }
        let weight: Vec<f32> = if trans_b {
            k.data
        } else {
            (0..outs)
                .flat_map(|o| (0..ins).map(move |i| (o, i)))
                .map(|(o, i)| k.data[i * outs + o])
                .collect()
        };
        let bias = match (gemm, self.konst(n, 2)) {
            (true, Some(b)) => broadcast_channels(b, outs)
                .ok_or_else(|| anyhow!("Gemm bias of dims {:?}", b.dims))?,
            (true, None) if n.input.len() > 2 && !n.input[2].is_empty() => {
                bail!("Gemm bias must be an initializer")
            }
            _ => vec![0.0; outs],
        };
        let mut fc = FloatConv {
            in_ch: c,
            out_ch: outs,
            kernel: [h, w],
            stride: [1, 1],
            pad: [0; 4],
            weight,
            bias,
        };
        self.take_affine(v.id, &mut fc, false);
        self.push(n, vec![v.id], FloatOp::Linear(fc), [outs, 1, 1]);
        Ok(())
    }

    fn batchnorm(&mut self, n: &NodeProto) -> Result<()> {
        let v = self.value(n, 0)?;
        let c = self.g.shapes[v.id][0];
        let get = |i: usize| -> Result<Vec<f32>> {
            let k = self
                .konst(n, i)
                .ok_or_else(|| anyhow!("BatchNormalization parameters must be initializers"))?;
            broadcast_channels(k, c)
                .ok_or_else(|| anyhow!("BatchNormalization parameter of dims {:?}", k.dims))
        };
        let (gamma, beta, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
        let eps = attr_float(n, "epsilon", 1e-5);
        let node = self
            .sole_producer(n, v.id, "BatchNormalization")
            .map_err(|e| {
                anyhow!("{e}; only a BatchNormalization right after a Conv/Gemm can be folded")
            })?;
        let (FloatOp::Conv(conv) | FloatOp::Linear(conv)) = &mut node.op else {
            bail!("BatchNormalization after a {} cannot be folded; lutna folds BN into the preceding Conv/Gemm", node.name);
        };
        if node.relu {
            bail!("BatchNormalization after a ReLU cannot be folded");
        }
        let taps = conv.taps();
        for o in 0..conv.out_ch {
            let s = gamma[o] / (var[o] + eps).sqrt();
            for w in &mut conv.weight[o * taps..(o + 1) * taps] {
                *w *= s;
            }
            conv.bias[o] = (conv.bias[o] - mean[o]) * s + beta[o];
        }
        self.set_out(n, v);
        Ok(())
    }

    fn pool(&mut self, n: &NodeProto) -> Result<()> {
        let v = self.value(n, 0)?;
        let [c, h, w] = self.g.shapes[v.id];
        let kernel =
            attr_ints(n, "kernel_shape").ok_or_else(|| anyhow!("pool without kernel_shape"))?;
        if kernel.len() != 2 {
            bail!("only 2-D pooling is supported");
        }
        if attr_int(n, "ceil_mode", 0) != 0 {
            bail!("ceil_mode=1 pooling is not supported");
        }
        if attr_ints(n, "dilations").is_some_and(|d| d.iter().any(|&x| x != 1)) {
            bail!("dilated pooling is not supported");
        }
        if let Some(a) = attr(n, "auto_pad") {
            if !a.s.is_empty() && a.s != b"NOTSET" {
                bail!("pool auto_pad is not supported; export with explicit pads");
            }
        }
        let stride = attr_ints(n, "strides").unwrap_or(vec![1, 1]);
        let pads = attr_ints(n, "pads").unwrap_or(vec![0; 4]);
        let p = Pool {
            kernel: [kernel[0], kernel[1]],
            stride: [stride[0], stride[1]],
            pad: [pads[0], pads[1], pads[2], pads[3]],
        };
        let max = n.op_type == "MaxPool";
        if !max && p.pad.iter().any(|&x| x > 0) && attr_int(n, "count_include_pad", 0) == 0 {
            bail!("padded AveragePool must use count_include_pad=1 (lutna divides by the window area)");
        }
        if max
            && v.id != 0
            && !self.g.nodes[v.id - 1].relu
            && !matches!(
                self.g.nodes[v.id - 1].op,
                FloatOp::MaxPool(_) | FloatOp::Concat
            )
        {
            bail!("MaxPool must read ReLU outputs (zero padding stands in for minus infinity)");
        }
        let oh = window_out(h, p.kernel[0], p.stride[0], p.pad[0], p.pad[2]);
        let ow = window_out(w, p.kernel[1], p.stride[1], p.pad[1], p.pad[3]);
        let op = if max {
            FloatOp::MaxPool(p)
        } else {
            FloatOp::AvgPool(p)
        };
        self.push(n, vec![v.id], op, [c, oh, ow]);
        Ok(())
    }
}

/// A scalar or per-channel (dims like [C], [1,C,1,1], [C,1,1]) constant as one value per channel.
fn broadcast_channels(k: &Const, channels: usize) -> Option<Vec<f32>> {
    if k.data.len() == 1 {
        return Some(vec![k.data[0]; channels]);
    }
    let non_one: Vec<usize> = k.dims.iter().copied().filter(|&d| d != 1).collect();
    if non_one == [channels] {
        Some(k.data.clone())
    } else {
        None
    }
}

impl FloatGraph {
    /// Float inference of one image (raw 0..255 pixels): every tensor, for calibration and tests.
    pub fn forward(&self, image: &[u8]) -> Vec<Array3<f32>> {
        let mut t =
            vec![
                Array3::from_shape_vec((3, 32, 32), image.iter().map(|&p| p as f32).collect())
                    .unwrap(),
            ];
        for (i, n) in self.nodes.iter().enumerate() {
            let shape = self.shapes[i + 1];
            let mut y = match &n.op {
                FloatOp::Conv(c) | FloatOp::Linear(c) => {
                    let x = &t[n.inputs[0]];
                    let (ch, h, w) = x.dim();
                    let mut xp = Array3::<f32>::zeros((
                        ch,
                        h + c.pad[0] + c.pad[2],
                        w + c.pad[1] + c.pad[3],
                    ));
                    xp.slice_mut(ndarray::s![
                        ..,
                        c.pad[0]..c.pad[0] + h,
                        c.pad[1]..c.pad[1] + w
                    ])
                    .assign(x);
                    let mut y = Array3::<f32>::zeros(shape);
                    let taps = c.taps();
                    let hw = shape[1] * shape[2];
                    let ys = y.as_slice_mut().unwrap();
                    conv_sparse(
                        xp.view(),
                        c.kernel,
                        c.stride,
                        [shape[1], shape[2]],
                        c.out_ch,
                        |o| {
                            c.weight[o * taps..(o + 1) * taps]
                                .iter()
                                .enumerate()
                                .filter(|(_, &w)| w != 0.0)
                                .map(|(i, &w)| (i as u32, w))
                                .collect()
                        },
                        |o| c.bias[o],
                        |w: f32, data: &[f32], taps: Taps, plane: &mut [f32]| {
                            taps.for_rows(data, plane, |src, out| {
                                for (i, a) in out.iter_mut().enumerate() {
                                    *a += w * src[i * taps.step];
                                }
                            })
                        },
                        |o, acc| ys[o * hw..(o + 1) * hw].copy_from_slice(acc),
                    );
                    y
                }
                FloatOp::MaxPool(p) => {
                    let mut y = Array3::zeros(shape);
                    pool_windows(
                        &t[n.inputs[0]],
                        p,
                        0.0f32,
                        f32::NEG_INFINITY,
                        f32::max,
                        |ix, a| y[ix] = a,
                    );
                    y
                }
                FloatOp::AvgPool(p) => {
                    let mut y = Array3::zeros(shape);
                    let area = (p.kernel[0] * p.kernel[1]) as f32;
                    pool_windows(
                        &t[n.inputs[0]],
                        p,
                        0.0f32,
                        0.0f32,
                        |a, v| a + v,
                        |ix, a| y[ix] = a / area,
                    );
                    y
                }
                FloatOp::Add => &t[n.inputs[0]] + &t[n.inputs[1]],
                FloatOp::Concat => {
                    let parts: Vec<_> = n.inputs.iter().map(|&j| t[j].view()).collect();
                    ndarray::concatenate(ndarray::Axis(0), &parts).unwrap()
                }
            };
            if n.relu {
                y.mapv_inplace(|v| v.max(0.0));
            }
            t.push(y);
        }
        t
    }
}
