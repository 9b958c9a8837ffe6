//! ONNX import, quantization and the golden engine on small graphs that use every supported op.
//! The float graph is checked against tract (an independent ONNX runtime), the quantized model
//! against the float graph, and the exact LUT schemes against `exact` bit for bit.

use lutna_core::cifar::{self, Dataset, Split};
use lutna_core::engine::{summarize, Engine};
use lutna_core::model::Model;
use lutna_core::{Plan, Scheme};
use lutna_onnx::reference::TractModel;
use lutna_onnx::{graph, quant};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn sample() -> Dataset {
    cifar::load(&root().join("data/cifar10-sample"), Split::Test).unwrap()
}

fn import(name: &str, data: &Dataset) -> (graph::FloatGraph, Model) {
    let imported = graph::import_onnx(&fixture(name)).unwrap();
    let ranges = quant::calibrate(&imported.graph, data, |_| {});
    let model = quant::quantize(&imported.graph, &ranges, name).unwrap();
    (imported.graph, model)
}

#[test]
fn float_graph_matches_tract_on_every_fixture() {
    let data = sample();
    for name in ["ops-residual.onnx", "ops-inception.onnx"] {
        let imported = graph::import_onnx(&fixture(name)).unwrap();
        let tract = TractModel::load(&fixture(name), 10).unwrap();
        let mut subset = data.clone();
        subset.truncate(20);
        let want = tract.logits(&subset).unwrap();
        for (i, w) in want.iter().enumerate() {
            let got = imported.graph.forward(subset.image(i)).pop().unwrap();
            let got: Vec<f32> = got.iter().copied().collect();
            let scale = w.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            for (g, t) in got.iter().zip(w) {
                assert!(
                    (g - t).abs() <= 1e-3 * scale,
                    "{name} image {i}: ours {got:?} tract {w:?}"
                );
            }
        }
    }
}

#[test]
fn quantized_model_tracks_the_float_graph() {
    let data = sample();
    for name in ["ops-residual.onnx", "ops-inception.onnx"] {
        let (graph, model) = import(name, &data);
        let engine = Engine::new(&model, &Plan::uniform(Scheme::Exact)).unwrap();
        let logit_scale = model.output().scale;
        let (mut err, mut mag) = (0f64, 0f64);
        for i in 0..data.len() {
            let f = graph.forward(data.image(i)).pop().unwrap();
            let q = engine.run(data.image(i));
            for (fv, qv) in f.iter().zip(&q) {
                err += (*fv as f64 - *qv as f64 * logit_scale as f64).abs();
                mag += fv.abs() as f64;
            }
        }
        // 8-bit activations and 9-bit weights: a few percent of relative error at most.
        assert!(
            err / mag < 0.05,
            "{name}: relative logit error {}",
            err / mag
        );
    }
}

#[test]
fn exact_lut_schemes_are_bit_identical_and_approximate_ones_differ() {
    let data = sample();
    for name in ["ops-residual.onnx", "ops-inception.onnx"] {
        let (_, model) = import(name, &data);
        let run = |s: Scheme| {
            let e = Engine::new(&model, &Plan::uniform(s)).unwrap();
            summarize(&e.run_all(&data, |_| {}), &data.labels).1
        };
        let exact = run(Scheme::Exact);
        for s in ["tlut", "lutna", "lutna-k2", "lutna-k1"] {
            assert_eq!(
                run(s.parse().unwrap()),
                exact,
                "{name}: {s} differs from exact"
            );
        }
        assert_ne!(
            run(Scheme::ALUTNA),
            exact,
            "{name}: alutna should change some logits"
        );
    }
}

#[test]
fn model_file_round_trips_and_rejects_damage() {
    let data = sample();
    let (_, model) = import("ops-residual.onnx", &data);
    let bytes = model.to_bytes();
    assert_eq!(Model::from_bytes(&bytes).unwrap(), model);

    let err = Model::from_bytes(&bytes[..bytes.len() - 10]).unwrap_err();
    assert!(err.contains("truncated"), "{err}");
    let err = Model::from_bytes(&bytes[..12]).unwrap_err();
    assert!(err.contains("truncated"), "{err}");
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let err = Model::from_bytes(&flipped).unwrap_err();
    assert!(err.contains("checksum"), "{err}");
    let mut version = bytes.clone();
    version[8] = 99;
    let err = Model::from_bytes(&version).unwrap_err();
    assert!(err.contains("version 99"), "{err}");
    let err = Model::from_bytes(b"PK\x03\x04 not a model").unwrap_err();
    assert!(err.contains("not a .lutna model"), "{err}");
}

#[test]
fn sparse_storage_holds_only_nonzero_weights() {
    let data = sample();
    let imported = graph::import_onnx(&fixture("ops-residual.onnx")).unwrap();
    let (_, model) = import("ops-residual.onnx", &data);
    let float_nonzero: usize = imported
        .graph
        .nodes
        .iter()
        .filter_map(|n| match &n.op {
            graph::FloatOp::Conv(c) | graph::FloatOp::Linear(c) => Some(c),
            _ => None,
        })
        .map(|c| c.weight.iter().filter(|w| **w != 0.0).count())
        .sum();
    let stored: usize = model.layer_stats().iter().map(|s| s.nonzero).sum();
    let params: usize = model.layer_stats().iter().map(|s| s.params).sum();
    // Half the fixture's weights are pruned; a few tiny ones may also round to zero.
    assert!(stored <= float_nonzero && stored * 10 >= float_nonzero * 9);
    assert!(stored * 3 < params * 2, "{stored} of {params} stored");
}

#[test]
fn unsupported_op_is_named() {
    let err = graph::import_onnx(&fixture("bad-op.onnx")).err().unwrap();
    let msg = format!("{err:#}");
    assert!(msg.contains("'Tanh'"), "{msg}");
}

#[test]
fn per_layer_plan_is_resolved_and_checked() {
    let data = sample();
    let (_, model) = import("ops-residual.onnx", &data);
    let first_conv = model.layers[0].name.clone();
    let mut plan = Plan::uniform(Scheme::LUTNA);
    plan.layers.insert(first_conv.clone(), Scheme::ALUTNA);
    let schemes = plan.resolve(&model).unwrap();
    assert_eq!(schemes[0], Some(Scheme::ALUTNA));
    assert!(schemes[1..].iter().flatten().all(|s| *s == Scheme::LUTNA));
    assert_eq!(plan.label(&model), "mixed");
    plan.layers.insert("no-such-layer".into(), Scheme::ALUTNA);
    let err = plan.resolve(&model).unwrap_err().to_string();
    assert!(err.contains("no-such-layer"), "{err}");
}
