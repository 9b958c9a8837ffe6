//! Every committed model (models/*.lutna with its .onnx beside it), on the full CIFAR-10 test set
//! where ../shared/cifar10 exists (set LUTNA_CIFAR10 to use another folder), otherwise on the
//! shipped 100-image sample, saying so:
//! - `lutna` and `tlut` give the same logits as `exact`, bit for bit (same sha256);
//! - `exact` top-1 is within 1.0 point of the float ONNX model run by tract (full set only: 100
//!   images are too few to resolve one point).

use lutna_core::cifar::{self, Split};
use lutna_core::engine::{summarize, Engine};
use lutna_core::{Model, Plan, Scheme};
use lutna_onnx::reference::{top1_f32, TractModel};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

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
        let run = |s: Scheme| {
            let e = Engine::new(&model, &Plan::uniform(s)).unwrap();
            summarize(&e.run_all(&data, |_| {}), &data.labels)
        };
        let (exact_top1, exact_sha) = run(Scheme::Exact);
        for s in [Scheme::LUTNA, Scheme::TLUT] {
            assert_eq!(
                run(s).1,
                exact_sha,
                "{}: {s} differs from exact on the {what}",
                path.display()
            );
        }
        let onnx = path.with_extension("onnx");
        let tract = TractModel::load(&onnx, 50).unwrap();
        let float_top1 = top1_f32(&tract.logits(&data).unwrap(), &data.labels);
        eprintln!(
            "{} on the {what} ({} images): exact {:.2} %, float (tract) {:.2} %, lutna = tlut = exact",
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
