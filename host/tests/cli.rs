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
            "onnx/tests/fixtures/bad-op.onnx",
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
        "invalid value '0' for '--limit",
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

#[test]
fn analyze_writes_the_report_with_the_contract_fields() {
    if !lutna_hw::sim::tool_available("yosys", "`lutna analyze` test") {
        return;
    }
    let out_dir = tmp("analysis-ice");
    // The shipped sample has no validation split, so this run searches on test images (the
    // report says so); the full-data run is in docs/paper-comparison.md.
    let out = lutna(&[
        "analyze",
        "--model",
        MODEL,
        "--data",
        SAMPLE,
        "--search-split",
        "test",
        "--test-limit",
        "100",
        "--out",
        out_dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // What every scheme and plan reports.
    const FIELDS: [&str; 5] = [
        "top1",
        "energy_pj",
        "energy_pj_glitch",
        "area_transistors",
        "fpga_logic_cells",
    ];
    for s in [
        "exact", "tlut", "lutna", "alutna", "alutna-c", "array", "wallace",
    ] {
        for f in FIELDS {
            assert!(
                r["schemes"][s][f].is_number(),
                "schemes.{s}.{f} missing: {}",
                r["schemes"]
            );
        }
        let t = r["schemes"][s]["top1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&t));
    }
    for p in ["paper", "search"] {
        for f in FIELDS {
            assert!(r["plans"][p][f].is_number(), "plans.{p}.{f} missing");
        }
        assert_eq!(r["plans"][p]["layers"].as_array().unwrap().len(), 7);
    }
    // The exact schemes agree; the searched plan is never worse than the budget on the images
    // it was searched on, and never costs more energy than all-LUT-NA.
    assert_eq!(r["schemes"]["lutna"]["top1"], r["schemes"]["exact"]["top1"]);
    assert_eq!(r["schemes"]["tlut"]["top1"], r["schemes"]["exact"]["top1"]);
    let e = |k: &str| r["schemes"][k]["energy_pj"].as_f64().unwrap();
    assert!(r["plans"]["search"]["energy_pj"].as_f64().unwrap() <= e("lutna"));
    assert!(e("tlut") > e("lutna") && e("alutna") < e("lutna"));
    // Counting glitches raises the array multiplier's energy more than a table lane's (ripple
    // structures glitch, a table read hardly does): docs/cost-model.md.
    let eg = |k: &str| r["schemes"][k]["energy_pj_glitch"].as_f64().unwrap();
    assert!(
        eg("array") / e("array") > eg("lutna") / e("lutna"),
        "array {} -> {}, lutna {} -> {}",
        e("array"),
        eg("array"),
        e("lutna"),
        eg("lutna")
    );
    let search_loss = r["schemes"]["exact"]["top1"].as_f64().unwrap()
        - r["plans"]["search"]["search_top1"].as_f64().unwrap();
    assert!(
        search_loss <= 0.005 + 1e-9,
        "search spent more than half the budget: {search_loss}"
    );
    for f in [
        "report.md",
        "report.json",
        "plan-search.json",
        "plan-paper.json",
        "macs.svg",
        "accuracy-energy.svg",
    ] {
        assert!(out_dir.join(f).exists(), "{f} not written");
    }
    // The written plan is one `lutna eval` accepts.
    let plan = out_dir.join("plan-search.json");
    let ev = lutna(&[
        "eval",
        "--model",
        MODEL,
        "--data",
        SAMPLE,
        "--limit",
        "100",
        "--plan",
        plan.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        ev.status.success(),
        "{}",
        String::from_utf8_lossy(&ev.stderr)
    );
    let ev: serde_json::Value = serde_json::from_slice(&ev.stdout).unwrap();
    assert_eq!(ev["top1"], r["plans"]["search"]["top1"]);
}

#[test]
fn analyze_refuses_bad_options_and_a_missing_validation_split() {
    let out_dir = tmp("analysis-bad");
    let o = out_dir.to_str().unwrap();
    fails_with(
        &["analyze", "--model", MODEL, "--data", SAMPLE, "--out", o],
        "validation split",
    );
    fails_with(
        &[
            "analyze",
            "--model",
            MODEL,
            "--data",
            SAMPLE,
            "--budget-pp",
            "300",
            "--search-split",
            "test",
            "--out",
            o,
        ],
        "--budget-pp",
    );
    fails_with(
        &[
            "analyze",
            "--model",
            MODEL,
            "--data",
            SAMPLE,
            "--search-margin",
            "2",
            "--search-split",
            "test",
            "--out",
            o,
        ],
        "--search-margin",
    );
    assert!(!out_dir.exists(), "a failed analyze left {o} behind");
}

/// Starts `lutna board --virtual ARGS`; returns the process and the device path it printed first.
fn virtual_board(args: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_lutna"))
        .args(["board", "--virtual"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    (child, first.trim().to_string())
}

#[test]
fn a_noisy_line_costs_retransmissions_not_results() {
    // One byte in a thousand flipped, dropped, duplicated or followed by garbage, both ways:
    // the run still completes, every result bit-exact, paid for in retransmissions. 30 images:
    // with the program streamed for each image (5 segments, 10.2 KB) that is about 400 KB on
    // the line, more than 100 images carried with a resident program.
    if board_images() < 100 {
        return;
    }
    let r = run_on_virtual_board(&["--fault-rate", "0.001", "--seed", "7"], 30);
    assert!(r["retransmissions"].as_u64().unwrap() > 0, "{r}");
}

#[test]
fn requests_during_replies_and_early_retries_cost_retransmissions_not_results() {
    // Half of the board's replies of 32 bytes or more have a well-formed LOAD of random bytes
    // sent into them (the board must drop it), and the host retransmits 1 ms after each
    // request whatever the reply's length: every result still bit-exact.
    if board_images() < 100 {
        return;
    }
    let r = run_model_on_virtual_board(
        "models/icebreaker-w0.5.lutna",
        &["--intrusion-rate", "0.5", "--seed", "3"],
        &["--retry-ms", "1"],
        10,
    );
    assert!(r["retransmissions"].as_u64().unwrap() > 0, "{r}");
}

#[test]
fn a_board_power_cycled_mid_run_gets_its_program_again() {
    // The virtual board loses everything at cycle 3 M (around the fifth image, the program
    // being streamed for each): the host must notice (the activation canary is gone), load the
    // program again and rerun the image; every result still bit-exact.
    if board_images() < 100 {
        return;
    }
    let r = run_on_virtual_board(&["--power-cycle-at", "3000000"], 20);
    assert!(r["program_reloads"].as_u64().unwrap() >= 1, "{r}");
}

#[test]
fn probe_talks_to_a_virtual_board_and_fails_clearly_without_one() {
    let (mut child, path) = virtual_board(&["--lanes", "8"]);
    let out = lutna(&["probe", "--port", &path, "--json"]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            r["version"].as_u64(),
            r["lanes"].as_u64(),
            r["chunk_bits"].as_u64()
        ),
        (Some(lutna_core::protocol::VERSION as u64), Some(8), Some(4))
    );
    fails_with(&["probe", "--port", "/dev/lutna-missing"], "does not exist");
    fails_with(
        &["board", "--virtual", "--fault-rate", "1.5"],
        "--fault-rate",
    );
    fails_with(
        &["board", "--virtual", "--intrusion-rate", "2"],
        "--intrusion-rate",
    );
    fails_with(&["probe", "--port", &path, "--retry-ms", "0"], "--retry-ms");
}

/// Images for the on-board runs: 100 on Verilator (seconds), 2 on RustHDL (~40 s each), so a
/// machine without Verilator still runs the path, and says what it skipped.
fn board_images() -> usize {
    if lutna_sim::verilated::verilator_installed() {
        100
    } else {
        eprintln!(
            "NOTE: verilator not installed: the virtual-board runs use 2 images on RustHDL, \
             not 100, and the --fault-rate 0.001 run is SKIPPED (./tools/test.sh installs it)"
        );
        2
    }
}

/// `lutna run` against `lutna board --virtual BOARD_ARGS` on the first `n` sample images; checks
/// the report and returns it.
fn run_on_virtual_board(board_args: &[&str], n: usize) -> serde_json::Value {
    run_model_on_virtual_board("models/icebreaker-w0.5.lutna", board_args, &[], n)
}

/// The same for `model`, with `run_args` added to `lutna run` (a `--plan` is also given to the
/// `lutna eval` whose top-1 the board's must equal).
fn run_model_on_virtual_board(
    model: &str,
    board_args: &[&str],
    run_args: &[&str],
    n: usize,
) -> serde_json::Value {
    let (mut child, path) = virtual_board(board_args);
    let model = root().join(model);
    let data = root().join("data/cifar10-sample");
    let (model, data) = (model.to_str().unwrap(), data.to_str().unwrap());
    let limit = n.to_string();
    let mut args = vec![
        "run", "--port", &path, "--model", model, "--data", data, "--limit", &limit, "--json",
    ];
    args.extend_from_slice(run_args);
    let out = lutna(&args);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["images"].as_u64(), Some(n as u64));
    assert_eq!(r["mismatches"].as_u64(), Some(0), "{r}");
    assert!(r["cycles_per_image"].as_f64().unwrap() > 100_000.0);
    let scheme = match run_args.iter().position(|&a| a == "--plan") {
        Some(i) => ["--plan", run_args[i + 1]],
        None => ["--scheme", "lutna"],
    };
    let mut eval = vec![
        "eval", "--model", model, "--data", data, "--limit", &limit, "--json",
    ];
    eval.extend_from_slice(&scheme);
    let e: serde_json::Value = serde_json::from_slice(&lutna(&eval).stdout).unwrap();
    assert_eq!(r["top1"].as_f64(), e["top1"].as_f64(), "board {r} eval {e}");
    eprintln!("virtual board run: {r}");
    r
}

#[test]
fn run_on_a_virtual_board_matches_the_golden_engine() {
    // The on-board path end to end: `lutna board --virtual`, `lutna run` over the
    // pseudo-terminal; the board's logits must equal the golden engine's and its top-1 must
    // equal `lutna eval` on the same images.
    let n = board_images();
    run_on_virtual_board(&[], n);
    let model = root().join("models/icebreaker-w0.5.lutna");
    let data = root().join("data/cifar10-sample");
    let (model, data) = (model.to_str().unwrap(), data.to_str().unwrap());
    fails_with(
        &[
            "run",
            "--port",
            "/dev/lutna-missing",
            "--model",
            model,
            "--data",
            data,
        ],
        "does not exist",
    );
}

#[test]
fn four_lanes_run_bit_exact_on_the_virtual_board() {
    // Four lanes: the same 64 KiB activation memory, other widths in the Verilog than the
    // 8-lane build's, on Verilator, with residual adds and stride 2 (resnet18).
    if !lutna_sim::verilated::verilator_installed() {
        eprintln!(
            "NOTE: verilator not installed: the 4-lane board runs are SKIPPED \
             (./tools/test.sh installs verilator)"
        );
        return;
    }
    for (model, n) in [
        ("models/icebreaker-w0.5.lutna", 5),
        ("models/resnet18-w0.25.lutna", 2),
    ] {
        let r = run_model_on_virtual_board(model, &["--lanes", "4"], &[], n);
        assert_eq!(r["lanes"].as_u64(), Some(4), "{r}");
        cycles_match_the_model(&r);
    }
}

#[test]
fn a_mixed_plan_runs_bit_exact_on_the_virtual_board() {
    // The plan `lutna analyze` wrote for the paper's mix (LUT-NA and A-LUT-NA layers): the
    // lanes switch modes per layer; the cycles read back equal the cycle model's.
    if !lutna_sim::verilated::verilator_installed() {
        eprintln!(
            "NOTE: verilator not installed: the mixed-plan board run is SKIPPED \
             (./tools/test.sh installs verilator)"
        );
        return;
    }
    let plan = root().join("analysis/icebreaker-w0.5/plan-paper.json");
    let plan = plan.to_str().unwrap();
    let r = run_model_on_virtual_board("models/icebreaker-w0.5.lutna", &[], &["--plan", plan], 10);
    cycles_match_the_model(&r);
}

/// The board's cycles per image within 1 % of the cycle model's prediction (a `lutna run` report).
fn cycles_match_the_model(r: &serde_json::Value) {
    let (board, model) = (
        r["cycles_per_image"].as_f64().unwrap(),
        r["predicted_cycles_per_image"].as_f64().unwrap(),
    );
    assert!(
        (board - model).abs() / model < 0.01,
        "{} on {board} cycles, model {model}",
        r["model"]
    );
}

#[test]
fn residual_networks_run_bit_exact_streamed_through_the_program_buffer() {
    // The virtual board is the UP5K build: a 1,024-word program buffer, so `lutna run` streams
    // every zoo program in segments for every image (conv layers cut by output channels).
    // resnet18 (residual adds of signed maps) and resnet34 (35,921 parameter words), both on
    // the Verilator board, i.e. on the Verilog that yosys synthesizes (the signed add once
    // differed there from RustHDL's simulation).
    if !lutna_sim::verilated::verilator_installed() {
        eprintln!(
            "NOTE: verilator not installed: the resnet18 / resnet34 board runs are SKIPPED \
             (RustHDL would take minutes per image; ./tools/test.sh installs verilator)"
        );
        return;
    }
    let r = run_model_on_virtual_board("models/resnet18-w0.25.lutna", &[], &[], 10);
    assert_eq!(r["weights"].as_str(), Some("streamed"), "{r}");
    assert!(r["segments"].as_u64().unwrap() > 15, "{r}");
    cycles_match_the_model(&r);
    // The mixed plan `lutna analyze` chose (LUT-NA and A-LUT-NA layers) on the same board.
    let plan = root().join("analysis/resnet18-w0.25/plan-search.json");
    let plan = plan.to_str().unwrap();
    run_model_on_virtual_board("models/resnet18-w0.25.lutna", &[], &["--plan", plan], 4);
    // Smaller segments than the board holds are the host's choice; larger ones are refused.
    let s = run_model_on_virtual_board(
        "models/resnet18-w0.25.lutna",
        &[],
        &["--param-words", "640"],
        2,
    );
    assert!(s["segments"].as_u64() > r["segments"].as_u64(), "{s}");
    cycles_match_the_model(&s);
    let (mut child, path) = virtual_board(&[]);
    let model = root().join("models/resnet18-w0.25.lutna");
    let data = root().join("data/cifar10-sample");
    let out = lutna(&[
        "run",
        "--port",
        &path,
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--param-words",
        "2048",
    ]);
    let _ = child.kill();
    let _ = child.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("--param-words 2048 is more than the board's 1024"),
        "{err}"
    );
    let r = run_model_on_virtual_board("models/resnet34-w0.25.lutna", &[], &[], 5);
    assert_eq!(r["weights"].as_str(), Some("streamed"), "{r}");
    cycles_match_the_model(&r);
}

#[test]
fn the_virtual_ulx3s_keeps_the_program_resident() {
    // The ULX3S 85F build at 16 lanes: the ECP5 Verilog (behavioural memories, no iCE40
    // primitive, a 16-byte activation window from eight banks) with a 64 K-word parameter
    // memory, on Verilator. The program is loaded once and stays: one segment, `weights:
    // resident`, bit-exact; residual networks too, one whose program passes 32 K words (the
    // handler's byte pointer past 16 bits).
    if !lutna_sim::verilated::verilator_installed() {
        eprintln!(
            "NOTE: verilator not installed: the virtual ULX3S runs are SKIPPED \
             (./tools/test.sh installs verilator)"
        );
        return;
    }
    for (model, n) in [
        ("models/icebreaker-w0.5.lutna", 100),
        ("models/resnet18-w0.25.lutna", 10),
        ("models/resnet34-w0.25.lutna", 3),
    ] {
        let r =
            run_model_on_virtual_board(model, &["--board", "ulx3s-85f", "--lanes", "16"], &[], n);
        assert_eq!(r["weights"].as_str(), Some("resident"), "{r}");
        assert_eq!(r["lanes"].as_u64(), Some(16), "{r}");
        assert_eq!(r["segments"].as_u64(), Some(1), "{r}");
        cycles_match_the_model(&r);
    }
    fails_with(
        &["board", "--virtual", "--board", "hx8k"],
        "carries no accelerator",
    );
}
