//! The `lutna` binary on good and bad input: every bad input exits non-zero with a message that
//! names the problem, and leaves no output file behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn lutna(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lutna"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the lutna binary runs")
}

fn fails_with(args: &[&str], needle: &str) {
    let out = lutna(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{args:?} should fail, stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        err.contains(needle),
        "{args:?}: stderr does not mention '{needle}':\n{err}"
    );
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lutna-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

const MODEL: &str = "models/icebreaker-w0.5.lutna";
const SAMPLE: &str = "data/cifar10-sample";

#[test]
fn help_lists_the_subcommands() {
    let out = lutna(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for sub in ["demo", "import", "eval", "info"] {
        assert!(text.contains(sub), "--help does not mention {sub}");
    }
}

#[test]
fn eval_json_on_the_sample_matches_across_exact_schemes() {
    let mut shas = vec![];
    for scheme in ["exact", "tlut", "lutna"] {
        let out = lutna(&[
            "eval", "--model", MODEL, "--data", SAMPLE, "--scheme", scheme, "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["scheme"], scheme);
        assert_eq!(v["images"], 100);
        let top1 = v["top1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&top1));
        shas.push(v["logits_sha256"].as_str().unwrap().to_string());
    }
    assert_eq!(shas[0].len(), 64);
    assert!(shas.iter().all(|s| *s == shas[0]), "{shas:?}");
}

#[test]
fn info_json_has_the_contract_fields() {
    let out = lutna(&["info", "--model", MODEL, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = v["layers"].as_array().unwrap();
    assert!(!layers.is_empty());
    let macs: u64 = layers
        .iter()
        .map(|l| l["macs_pruned"].as_u64().unwrap())
        .sum();
    assert_eq!(v["macs_pruned"].as_u64().unwrap(), macs);
    assert!(v["nonzero"].as_u64().unwrap() <= v["params"].as_u64().unwrap());
    assert!(v["macs_pruned"].as_u64().unwrap() <= v["macs_dense"].as_u64().unwrap());
}

#[test]
fn truncated_and_corrupt_models_are_refused() {
    let bytes = std::fs::read(root().join(MODEL)).unwrap();
    let short = tmp("short.lutna");
    std::fs::write(&short, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&["info", "--model", short.to_str().unwrap()], "truncated");
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    let corrupt = tmp("corrupt.lutna");
    std::fs::write(&corrupt, &bad).unwrap();
    fails_with(
        &[
            "eval",
            "--model",
            corrupt.to_str().unwrap(),
            "--data",
            SAMPLE,
        ],
        "checksum",
    );
    fails_with(
        &["info", "--model", "no/such/model.lutna"],
        "no/such/model.lutna",
    );
}

#[test]
fn unsupported_onnx_op_is_named_and_nothing_is_written() {
    let out = tmp("bad.lutna");
    fails_with(
        &[
            "import",
            "--onnx",
            "core/tests/fixtures/bad-op.onnx",
            "--calib",
            SAMPLE,
            "-o",
            out.to_str().unwrap(),
        ],
        "Tanh",
    );
    assert!(!out.exists(), "a failed import left {}", out.display());
}

#[test]
fn wrong_size_cifar_file_and_missing_dir_are_named() {
    let dir = tmp("badcifar");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("test_batch.bin"), vec![0u8; 5000]).unwrap();
    fails_with(
        &["eval", "--model", MODEL, "--data", dir.to_str().unwrap()],
        "not a CIFAR-10 binary batch",
    );
    fails_with(
        &["eval", "--model", MODEL, "--data", "/no/such/cifar"],
        "does not exist",
    );
    // The sample has no training batches: the val split says what it needs.
    fails_with(
        &["eval", "--model", MODEL, "--data", SAMPLE, "--split", "val"],
        "data_batch_5.bin",
    );
}

#[test]
fn unknown_scheme_and_bad_options_are_refused() {
    fails_with(
        &[
            "eval", "--model", MODEL, "--data", SAMPLE, "--scheme", "fast",
        ],
        "unknown scheme 'fast'",
    );
    fails_with(
        &["eval", "--model", MODEL, "--data", SAMPLE, "--limit", "0"],
        "--limit 0",
    );
    fails_with(
        &["eval", "--model", MODEL, "--data", SAMPLE, "--split", "dev"],
        "unknown split",
    );
    let plan = tmp("plan.json");
    std::fs::write(
        &plan,
        r#"{"default": "lutna", "layers": {"nope": "alutna"}}"#,
    )
    .unwrap();
    fails_with(
        &[
            "eval",
            "--model",
            MODEL,
            "--data",
            SAMPLE,
            "--plan",
            plan.to_str().unwrap(),
        ],
        "'nope'",
    );
}

#[test]
fn demo_runs_on_the_shipped_files() {
    let out = lutna(&["demo"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("lutna") && text.contains("(= exact)"),
        "{text}"
    );
}
