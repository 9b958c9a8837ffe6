//! `EngineCore`: the units joined, running compiled programs against `isa::Machine`, the
//! instruction stream's reference. A program longer than the program buffer runs in segments, as
//! the host sends it (docs/engine.md, "On the wire"). After each run the activation memory (both
//! copies of every byte), the logits and the records' issue counts must equal the machine's.

use lutna_core::arith::Scheme;
use lutna_core::compile::{compile, Compiled};
use lutna_core::isa::{encode, Instr, Machine};
use lutna_core::{accel::AccelConfig, Model, Plan};
use lutna_hw::engine::core::{EngineCore, LOGITS_AT};
use lutna_hw::sim::tick;
use rust_hdl::prelude::*;
use std::path::Path;

const PROGRAM_WORDS: usize = 1024;

fn clock<const P: usize>(u: &mut EngineCore<P>) -> &mut Signal<In, Clock> {
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

/// The program cut at instruction boundaries into pieces that fit the buffer with their `END`.
fn segments(program: &[Instr]) -> Vec<Vec<u16>> {
    let mut out = Vec::new();
    let mut piece: Vec<Instr> = Vec::new();
    let mut words = 0;
    for i in program {
        if matches!(i, Instr::End) {
            break;
        }
        if words + i.word_count() + 1 > PROGRAM_WORDS {
            piece.push(Instr::End);
            out.push(encode(&piece));
            piece.clear();
            words = 0;
        }
        words += i.word_count();
        piece.push(i.clone());
    }
    piece.push(Instr::End);
    out.push(encode(&piece));
    out
}

/// Runs `program` on the core from `image` at `at`; returns the cycles of each segment.
fn run_core<const P: usize>(
    core: &mut EngineCore<P>,
    program: &[Instr],
    at: usize,
    image: &[u8],
) -> u64 {
    core.preload(at, image);
    core.clear_counters.next = true;
    tick(core, clock);
    core.clear_counters.next = false;
    let mut cycles = 0;
    for words in segments(program) {
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

fn check<const P: usize>(compiled: &Compiled, program: &[Instr], image: &[u8], what: &str) {
    let (at, bytes) = compiled.image(image);
    let mut machine = Machine::new(P);
    machine.memory[at as usize..at as usize + bytes.len()].copy_from_slice(&bytes);
    machine.run(&encode(program)).unwrap();
    let mut core = EngineCore::<P>::top();
    let cycles = run_core(&mut core, program, at as usize, &bytes);
    println!("{what}: {cycles} cycles");
    let (model, _) = lutna_core::cycles::model(program, P);
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
}

fn mixed(m: &Model) -> Plan {
    Plan::rotating(m, &[Scheme::LUTNA, Scheme::ALUTNA_C, Scheme::ALUTNA])
}

/// The iCEBreaker model's first layer (a 3 -> 16 convolution over 32 x 32 with padding, several
/// batches a channel) under the mixed plan, at 8 lanes.
#[test]
fn the_first_layer_matches_the_machine() {
    let c = compiled("icebreaker-w0.5.lutna", 8, &mixed);
    let mut program = c.program();
    let first_record = program
        .iter()
        .position(|i| matches!(i, Instr::Record(_)))
        .unwrap();
    program.truncate(first_record + 1);
    program.push(Instr::End);
    check::<8>(&c, &program, &image(0), "icebreaker-w0.5 layer 1");
}

/// The whole iCEBreaker model under the mixed plan at 8 lanes, one image: the activations, the
/// logits (which the golden engine's equal, `lutna_core::compile`'s zoo tests) and every layer's
/// issue count equal the machine's. Prints each layer's cycles beside the cycle model's.
#[test]
fn the_icebreaker_model_matches_the_machine() {
    let c = compiled("icebreaker-w0.5.lutna", 8, &mixed);
    let program = c.program();
    check::<8>(&c, &program, &image(0), "icebreaker-w0.5");
}

/// The joined core at 8 lanes through yosys and nextpnr's packer: with the link's budget lines
/// (UART, frames, command handler) it must fit the UP5K; printed beside the 90 % target and
/// the core's own lines.
#[test]
fn the_core_and_the_links_lines_fit_the_device() {
    use lutna_hw::engine::budget;
    let verilog = generate_verilog(&EngineCore::<8>::top());
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

#[test]
#[ignore]
fn debug_timing() {
    use lutna_core::isa::{Register, Tap, MODE_OUT_KIND, MODE_SLOTS};
    let spec = std::env::var("SPEC").unwrap_or("1,1,4".into());
    let v: Vec<usize> = spec.split(',').map(|x| x.parse().unwrap()).collect();
    let (channels, batches, taps) = (v[0], v[1], v[2]);
    let mut p = vec![
        Instr::Set(Register::Rows, v.get(3).copied().unwrap_or(3) as u16),
        Instr::Set(Register::Groups, 3),
        Instr::Set(Register::InRow, 32),
        Instr::Set(Register::OutRowStep, 32 - 24),
        Instr::Set(Register::OutChannelStep, 8),
        Instr::Set(Register::InChannel, 0),
        Instr::Set(Register::YStart, 0),
        Instr::Set(Register::XStart, 0),
        Instr::Set(Register::InHeight, 64),
        Instr::Set(Register::InWidth, 32),
        Instr::Set(
            Register::Mode,
            MODE_SLOTS.put(7) | MODE_OUT_KIND.put(0) | (1 << 4),
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
                        weight: 3 + k as i16 + b as i16,
                        ky: 0,
                        kx: 0,
                        reuse: false,
                    })
                    .collect(),
            });
        }
    }
    p.push(Instr::Record(0));
    p.push(Instr::End);
    let (model, _) = lutna_core::cycles::model(&p, 8);
    let mut core = EngineCore::<8>::top();
    let img: Vec<u8> = (0..2048).map(|i| i as u8).collect();
    let cycles = run_core(&mut core, &p, 0, &img);
    println!(
        "{spec}: rtl {} (run {cycles}) model {}",
        core.result(0),
        model[0].cycles
    );
}
