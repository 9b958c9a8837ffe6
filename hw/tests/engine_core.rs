//! `EngineCore`: the units joined, running compiled programs against `isa::Machine`, the
//! instruction stream's reference. A program longer than the program buffer runs in segments, as
//! the host sends it (docs/engine.md, "On the wire"). After each run the activation memory (both
//! copies of every byte), the logits and the records' issue counts must equal the machine's.

use lutna_core::arith::Scheme;
use lutna_core::compile::{compile, Compiled};
use lutna_core::isa::{encode, segments, shape::PROGRAM_WORDS, Instr, Machine};
use lutna_core::{accel::AccelConfig, Model, Plan};
use lutna_hw::engine::accelerator::BUFFER_PROGRAM_BITS;
use lutna_hw::engine::activations::{banks, SPRAM_BANKS};
use lutna_hw::engine::core::{EngineCore, LOGITS_AT};
use lutna_hw::sim::tick;
use rust_hdl::prelude::*;
use std::path::Path;

fn clock<const P: usize, const N: usize>(
    u: &mut EngineCore<P, BUFFER_PROGRAM_BITS, N>,
) -> &mut Signal<In, Clock> {
    &mut u.clock
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn compiled(name: &str, lanes: usize, plan: &dyn Fn(&Model) -> Plan) -> Compiled {
    let model = Model::load(&root().join("models").join(name)).unwrap();
    let plan = plan(&model);
    compile(&AccelConfig::new(lanes).unwrap(), &model, &plan).unwrap()
}

fn image(i: usize) -> Vec<u8> {
    let bytes = std::fs::read(root().join("data/cifar10-sample/test_batch.bin")).unwrap();
    let data = lutna_core::cifar::Dataset::parse_batch(&bytes, "sample").unwrap();
    data.image(i).to_vec()
}

/// Runs `program` on the core from `image` at `at`; returns the cycles of each segment.
fn run_core<const P: usize, const N: usize>(
    core: &mut EngineCore<P, BUFFER_PROGRAM_BITS, N>,
    program: &[Instr],
    at: usize,
    image: &[u8],
) -> u64 {
    core.preload(at, image);
    core.clear_counters.next = true;
    tick(core, clock);
    core.clear_counters.next = false;
    let mut cycles = 0;
    for segment in segments(program, PROGRAM_WORDS) {
        let words = encode(&segment);
        for (a, &w) in words.iter().enumerate() {
            core.program_write.next = true;
            core.program_address.next = (a as u64).into();
            core.program_data.next = (w as u64).into();
            tick(core, clock);
        }
        core.program_write.next = false;
        core.run.next = true;
        tick(core, clock);
        core.run.next = false;
        loop {
            tick(core, clock);
            cycles += 1;
            assert!(!core.fault.val(), "the core stopped on a malformed word");
            if core.done.val() {
                break;
            }
            assert!(cycles < 5_000_000, "the core did not finish");
        }
    }
    cycles
}

fn check<const P: usize, const N: usize>(
    compiled: &Compiled,
    program: &[Instr],
    image: &[u8],
    what: &str,
) {
    let (at, bytes) = compiled.image(image);
    let mut machine = Machine::new(P);
    machine.memory[at as usize..at as usize + bytes.len()].copy_from_slice(&bytes);
    machine.run(&encode(program)).unwrap();
    let mut core = EngineCore::<P, BUFFER_PROGRAM_BITS, N>::top();
    let cycles = run_core(&mut core, program, at as usize, &bytes);
    println!("{what}: {cycles} cycles");
    // The model of the program as it ran: in segments.
    let (model, _) = lutna_core::cycles::of_segments(&segments(program, PROGRAM_WORDS), P);
    let mut before = 0;
    for (s, r) in machine.records.iter().enumerate() {
        if let Some(issues) = r {
            let at = core.result(2 * s);
            println!(
                "{what}: layer {s}: {} cycles, the model {} ({:+.2} %); issues {} (machine {issues})",
                at - before,
                model[s].cycles,
                100.0 * ((at - before) as f64 / model[s].cycles as f64 - 1.0),
                core.result(2 * s + 1)
            );
            before = at;
        }
    }
    let wrong: Vec<(usize, [u8; 2], u8)> = (0..1 << 16)
        .filter_map(|a| {
            let c = core.activation(a);
            (c != [machine.memory[a]; 2]).then_some((a, c, machine.memory[a]))
        })
        .collect();
    if !wrong.is_empty() {
        println!(
            "{what}: {} bytes differ, the first: {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(24)]
        );
        println!(
            "image at {at}, {} bytes; places {:?}",
            bytes.len(),
            compiled
                .places
                .iter()
                .take(3)
                .map(|p| (p.base, p.row_words))
                .collect::<Vec<_>>()
        );
    }
    for addr in 0..1 << 16 {
        let [even, odd] = core.activation(addr);
        assert_eq!(
            (even, odd),
            (machine.memory[addr], machine.memory[addr]),
            "{what}: activation byte {addr} (even copy, odd copy) against the machine's"
        );
    }
    for (k, &l) in machine.logits.iter().enumerate() {
        assert_eq!(
            core.result(LOGITS_AT as usize + k) as u32 as i32,
            l,
            "{what}: logit {k}"
        );
    }
    for (s, r) in machine.records.iter().enumerate() {
        if let Some(issues) = r {
            assert_eq!(
                core.result(2 * s + 1),
                *issues,
                "{what}: record {s}'s issues"
            );
        }
    }
    // The cycle model is the timing contract: within 1 % on every layer.
    let mut before = 0;
    for (s, m) in model.iter().enumerate() {
        let at = core.result(2 * s);
        assert!(
            (at - before).abs_diff(m.cycles) * 100 <= m.cycles,
            "{what}: layer {s} took {} cycles, the model {}",
            at - before,
            m.cycles
        );
        before = at;
    }
}

fn mixed(m: &Model) -> Plan {
    Plan::rotating(m, &[Scheme::LUTNA, Scheme::ALUTNA_C, Scheme::ALUTNA])
}

/// The whole iCEBreaker model under the mixed plan at 8 lanes, one image, its program in
/// segments of the program buffer: the activations (both copies of every byte), the logits
/// (which the golden engine's equal, `lutna_core::compile`'s zoo tests) and every layer's issue
/// count equal the machine's, and every layer's cycles are within 1 % of the cycle model's.
#[test]
fn the_icebreaker_model_matches_the_machine() {
    let c = compiled("icebreaker-w0.5.lutna", 8, &mixed);
    let program = c.program();
    check::<8, SPRAM_BANKS>(&c, &program, &image(0), "icebreaker-w0.5");
}

/// The joined core at 8 lanes through yosys and nextpnr's packer: with the link's budget lines
/// (UART, frames, command handler) it must fit the UP5K; printed beside the 90 % target and
/// the core's own lines.
#[test]
fn the_core_and_the_links_lines_fit_the_device() {
    use lutna_hw::engine::budget;
    let verilog = generate_verilog(&EngineCore::<8, BUFFER_PROGRAM_BITS, SPRAM_BANKS>::top());
    lutna_hw::sim::validate_with_yosys("engine-core", &verilog);
    if !lutna_hw::sim::tool_available("nextpnr-ice40", "the core's cell count") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lutna-core-{}", std::process::id()));
    let cells = lutna_hw::flow::unit::unit_cells(&dir, &verilog).unwrap();
    let (total, rams) = budget::total(8);
    let link = [budget::UART, budget::FRAMES, budget::COMMANDS];
    let link_cells: u32 = link.iter().map(|l| l.cells).sum();
    let link_rams: u32 = link.iter().map(|l| l.block_rams).sum();
    let whole = cells.packed_logic_cells + link_cells as u64;
    println!(
        "engine core, 8 lanes: {cells:?}; its lines: {} cells, {} block RAMs; with the link's \
         lines {whole} cells ({:.1} % of the UP5K, target 90 %)",
        total - link_cells,
        rams - link_rams,
        100.0 * whole as f64 / budget::DEVICE_CELLS as f64
    );
    assert!(whole <= budget::DEVICE_CELLS as u64, "{cells:?}");
    assert!(
        cells.synth.bram + link_rams as u64 <= budget::DEVICE_BLOCK_RAMS as u64,
        "{cells:?}"
    );
}

/// A hand-written walk: `channels` channels of `batches` batches of `taps` taps (every
/// `reuse`-th a new table), over `rows` rows of 4 groups (8 lanes), each channel recorded.
fn walk_program(
    channels: usize,
    batches: usize,
    taps: usize,
    rows: u16,
    reuse: usize,
) -> Vec<Instr> {
    use lutna_core::isa::{
        Register, Tap, MODE_CONTIGUOUS, MODE_OUT_KIND, MODE_ROW_STEP, MODE_SLOTS,
    };
    let mut p = vec![
        Instr::Set(Register::Rows, rows - 1),
        Instr::Set(Register::Groups, 3),
        Instr::Set(Register::InRow, 32),
        Instr::Set(Register::OutRowStep, 8),
        Instr::Set(Register::OutChannelStep, 8),
        Instr::Set(Register::InChannel, 0),
        Instr::Set(Register::YStart, 0),
        Instr::Set(Register::XStart, 0),
        Instr::Set(Register::InHeight, 64),
        Instr::Set(Register::InWidth, 32),
        Instr::Set(
            Register::Mode,
            MODE_SLOTS.put(7)
                | MODE_OUT_KIND.put(0)
                | MODE_ROW_STEP.put(1)
                | MODE_CONTIGUOUS.put(1),
        ),
        Instr::Set(Register::OutBase, 4096),
    ];
    for c in 0..channels {
        p.push(Instr::Channel {
            shift: 4,
            mult: 1,
            bias: c as i32,
        });
        for b in 0..batches {
            p.push(Instr::Batch {
                last: b + 1 == batches,
                taps: (0..taps)
                    .map(|k| Tap {
                        offset: k as u16,
                        weight: 3 + (k / reuse) as i16 + b as i16,
                        ky: 0,
                        kx: 0,
                        reuse: k % reuse != 0,
                    })
                    .collect(),
            });
        }
        p.push(Instr::Record(c));
    }
    p.push(Instr::End);
    p
}

/// Small walks that stress one timing rule each (one tap a group: the drain's pace; seven
/// tables a batch on a short walk: table programming; several batches a channel: partial sums
/// and their stores against the filler; long walks: the writer's port; reused tables; a
/// program in several segments): every channel's cycles on the core equal the cycle model's,
/// give or take a cycle, and the results equal the machine's.
#[test]
fn small_walks_take_the_models_cycles() {
    let image: Vec<u8> = (0..2048).map(|i| (i * 7) as u8).collect();
    for (channels, batches, taps, rows, reuse) in [
        (4, 1, 1, 4, 1),
        (8, 2, 7, 1, 1),
        (4, 3, 7, 32, 1),
        (4, 2, 8, 8, 2),
        (16, 3, 12, 8, 2),
    ] {
        let program = walk_program(channels, batches, taps, rows, reuse);
        let mut machine = Machine::new(8);
        machine.memory[..image.len()].copy_from_slice(&image);
        machine.run(&encode(&program)).unwrap();
        let mut core = EngineCore::<8, BUFFER_PROGRAM_BITS, SPRAM_BANKS>::top();
        run_core(&mut core, &program, 0, &image);
        let (model, _) = lutna_core::cycles::of_segments(&segments(&program, PROGRAM_WORDS), 8);
        let what = format!("{channels} channels of {batches} x {taps} taps, {rows} rows");
        let mut before = 0;
        for (c, m) in model.iter().enumerate() {
            let at = core.result(2 * c);
            assert!(
                (at - before).abs_diff(m.cycles) <= 1,
                "{what}: channel {c} took {} cycles, the model {}",
                at - before,
                m.cycles
            );
            before = at;
        }
        for a in 4096..4096 + channels * rows as usize * 32 {
            assert_eq!(
                core.activation(a),
                [machine.memory[a]; 2],
                "{what}: byte {a}"
            );
        }
    }
}

/// At 4 lanes the 32 x 32 layers keep partial sums for more groups than the banks hold, so
/// they run in bands of rows: the same checks on the iCEBreaker model.
#[test]
fn the_icebreaker_model_matches_the_machine_at_4_lanes() {
    let c = compiled("icebreaker-w0.5.lutna", 4, &mixed);
    check::<4, SPRAM_BANKS>(&c, &c.program(), &image(1), "icebreaker-w0.5, 4 lanes");
}

/// At 16 lanes (the ULX3S build) the activation memory reads a 16-byte window from eight
/// banks and a full group's last byte is carried at 16 bytes: the same checks.
#[test]
fn the_icebreaker_model_matches_the_machine_at_16_lanes() {
    let c = compiled("icebreaker-w0.5.lutna", 16, &mixed);
    check::<16, { banks(16) }>(&c, &c.program(), &image(3), "icebreaker-w0.5, 16 lanes");
}

/// A residual network (i8 maps, the residual adds as depthwise walks): the same checks. Slow
/// (several million cycles): run with `--ignored`.
#[test]
#[ignore = "minutes of simulation: run by hand"]
fn a_residual_model_matches_the_machine() {
    let c = compiled("resnet18-w0.25.lutna", 8, &mixed);
    check::<8, SPRAM_BANKS>(&c, &c.program(), &image(2), "resnet18-w0.25");
}
