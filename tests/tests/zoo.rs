//! Every committed model (models/*.lutna with its .onnx beside it), on the full CIFAR-10 test set
//! where ../shared/cifar10 exists (set LUTNA_CIFAR10 to use another folder), otherwise on the
//! shipped 100-image sample, saying so:
//! - `lutna` and `tlut` give the same logits as `exact`, bit for bit (same sha256), on the first
//!   1,000 images (every product of every scheme is proved equal to exact exhaustively in
//!   lutna-core's arithmetic tests; this checks that the engine wires the schemes' tables in);
//! - `exact` top-1 is within 1.0 point of the float ONNX model run by tract (full set only: 100
//!   images are too few to resolve one point).

use lutna_core::cifar::{self, Dataset, Split};
use lutna_core::engine::{summarize, Engine};
use lutna_core::{Model, Plan, Scheme};
use lutna_onnx::reference::{top1_f32, TractModel};
use lutna_tests::root;
use std::path::PathBuf;

/// Images on which the exact schemes must agree bit for bit.
const EQUALITY_IMAGES: usize = 1000;

fn committed_models() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("models"))
        .expect("models/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "lutna"))
        .collect();
    v.sort();
    v
}

#[test]
fn committed_models_exact_schemes_agree_and_track_float() {
    let full_dir = std::env::var_os("LUTNA_CIFAR10")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/cifar10"));
    let full = full_dir.join("test_batch.bin").is_file();
    let (dir, what) = if full {
        (full_dir.clone(), "full CIFAR-10 test set")
    } else {
        eprintln!(
            "NOTE: {} not found: full-test-set checks SKIPPED; checking the 100-image sample only",
            full_dir.display()
        );
        (root().join("data/cifar10-sample"), "100-image sample")
    };
    let data = cifar::load(&dir, Split::Test).unwrap();
    let models = committed_models();
    assert!(!models.is_empty(), "no committed models in models/");
    for path in models {
        let model = Model::load(&path).unwrap();
        let logits = |s: Scheme, data: &Dataset| {
            let e = Engine::new(&model, &Plan::uniform(s)).unwrap();
            e.run_all(data, |_| {})
        };
        let exact = logits(Scheme::Exact, &data);
        let (exact_top1, _) = summarize(&exact, &data.labels);
        let mut subset = data.clone();
        subset.truncate(EQUALITY_IMAGES);
        let (_, exact_sha) = summarize(&exact[..subset.len()], &subset.labels);
        for s in [Scheme::LUTNA, Scheme::TLUT] {
            assert_eq!(
                summarize(&logits(s, &subset), &subset.labels).1,
                exact_sha,
                "{}: {s} differs from exact on the first {} images of the {what}",
                path.display(),
                subset.len()
            );
        }
        let onnx = path.with_extension("onnx");
        let tract = TractModel::load(&onnx, 50).unwrap();
        let float_top1 = top1_f32(&tract.logits(&data).unwrap(), &data.labels);
        eprintln!(
            "{} on the {what} ({} images): exact {:.2} %, float (tract) {:.2} %, lutna = tlut = exact on the first {EQUALITY_IMAGES}",
            model.name,
            data.len(),
            100.0 * exact_top1,
            100.0 * float_top1
        );
        if full {
            assert!(
                (exact_top1 - float_top1).abs() <= 0.01,
                "{}: exact {exact_top1} vs float {float_top1}",
                model.name
            );
        }
    }
}
