//! `Fetch`: a real program (a zoo model compiled by `lutna_core::compile`) read from a simulated
//! program buffer, with random waits for idle, free halves and the programmer; every register
//! write, channel, batch, tap word, record and the end come out as `isa::decode` reads them.
//! A word with an unknown opcode stops it. Its Verilog and cells.

use lutna_core::accel::AccelConfig;
use lutna_core::arith::Scheme;
use lutna_core::isa::{decode, Instr, Register};

use lutna_core::{Model, Plan};
use lutna_hw::engine::accelerator::BUFFER_PROGRAM_BITS;
use lutna_hw::engine::fetch::Fetch;

/// The unit as the iCEBreaker builds it (a 1 K-word program buffer).
type BufferFetch = Fetch<BUFFER_PROGRAM_BITS>;
use lutna_hw::sim::{
    replay_under_icarus, tick, tool_available, validate_with_yosys, Trace, XorShift,
};
use rust_hdl::prelude::*;

fn clock(u: &mut BufferFetch) -> &mut Signal<In, Clock> {
    &mut u.clock
}

/// What the fetch unit did, as instructions again (taps as raw words).
#[derive(Debug, PartialEq)]
enum Seen {
    Set(u16, u16),
    Channel(u32, u32, i32),
    /// Taps, last, runs, words.
    Batch(usize, bool, usize, Vec<u16>),
    Record(usize),
}

fn register_value(u: &BufferFetch, r: Register) -> u16 {
    (match r {
        Register::Rows => u.rows.val().index(),
        Register::Groups => u.groups.val().index(),
        Register::InRow => u.in_row.val().index(),
        Register::OutRowStep => u.out_row_step.val().index(),
        Register::OutBase => u.out_base.val().index(),
        Register::OutChannelStep => u.out_channel_step.val().index(),
        Register::InChannel => u.in_channel.val().index(),
        Register::YStart => u.y_start.val().index(),
        Register::XStart => u.x_start.val().index(),
        Register::InHeight => u.in_height.val().index(),
        Register::InWidth => u.in_width.val().index(),
        Register::Mode => u.mode.val().index(),
    }) as u16
}

fn run(program: &[u16], rng: &mut XorShift, trace: &mut Option<Trace>) -> (Vec<Seen>, bool, bool) {
    let mut uut = BufferFetch::top();
    uut.run.next = true;
    assert!(simulate(&mut uut, 50));
    if let Some(t) = trace.as_mut() {
        t.record(&uut);
    }
    tick(&mut uut, clock);
    uut.run.next = false;
    let mut seen = Vec::new();
    let mut word = program[0];
    let mut regs_before = [0u16; 12];
    let mut taps: Option<(usize, bool, usize, Vec<u16>)> = None;
    for _ in 0..200_000 {
        uut.word.next = (word as u64).into();
        uut.idle.next = !rng.next_u64().is_multiple_of(3);
        uut.half_free.next = rng.next_u64().is_multiple_of(2);
        uut.channel_free.next = !rng.next_u64().is_multiple_of(4);
        let ready = !rng.next_u64().is_multiple_of(4);
        uut.tap_word_ready.next = ready;
        // The programmer knows the batch's last word.
        uut.tap_words_end.next = taps.as_ref().is_some_and(|t| t.3.len() + 1 == 2 * t.0);
        assert!(simulate(&mut uut, 50));
        if uut.done.val() || uut.fault.val() {
            return (seen, uut.done.val(), uut.fault.val());
        }
        if uut.batch_start.val() {
            let n = uut.batch_taps.val().index() + 1;
            let runs = uut.batch_repeat.val().index() + 1;
            taps = Some((n, uut.batch_final.val(), runs, Vec::new()));
        }
        if uut.tap_word_valid.val() && uut.tap_word_ready.val() {
            let t = taps.as_mut().expect("tap words after a batch start");
            t.3.push(uut.word.val().index() as u16);
            if t.3.len() == 2 * t.0 {
                let (n, last, runs, words) = taps.take().unwrap();
                seen.push(Seen::Batch(n, last, runs, words));
            }
        }
        if uut.channel.val() {
            seen.push(Seen::Channel(
                uut.shift.val().index() as u32,
                uut.mult.val().index() as u32,
                uut.bias.val().index() as u32 as i32,
            ));
        }
        if uut.record.val() {
            seen.push(Seen::Record(uut.record_slot.val().index()));
        }
        let address = uut.address.val().index();
        if let Some(t) = trace.as_mut() {
            t.record(&uut);
        }
        tick(&mut uut, clock);
        for r in Register::ALL {
            let v = register_value(&uut, r);
            if v != regs_before[r as usize] {
                seen.push(Seen::Set(r as u16, v));
                regs_before[r as usize] = v;
            }
        }
        word = program.get(address).copied().unwrap_or(0);
    }
    panic!("the program did not end")
}

#[test]
fn a_compiled_program_comes_out_as_the_stream_defines_it() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/icebreaker-w0.5.lutna");
    let model = Model::load(&path).unwrap();
    let plan = Plan::rotating(&model, &[Scheme::LUTNA, Scheme::ALUTNA_C]);
    let compiled =
        lutna_core::compile::compile(&AccelConfig::new(8).unwrap(), &model, &plan).unwrap();
    // A buffer's worth (1 K words): the first max pool (SETs, REPEAT, one repeated batch), then
    // the first convolution's start and a RECORD.
    let mut program = Vec::new();
    let pool = compiled
        .layers
        .iter()
        .find(|l| l.name.contains("Pool"))
        .unwrap();
    for i in pool.instrs.iter().chain(&compiled.layers[0].instrs) {
        if program.len() + i.word_count() + 2 > 1024 {
            break;
        }
        i.encode(&mut program);
    }
    Instr::Record(3).encode(&mut program);
    Instr::End.encode(&mut program);
    // The expected observations: a SET shows when the value changes the register, a REPEAT
    // when it changes the count.
    let mut want = Vec::new();
    let mut regs = [0u16; 12];
    let mut runs = 1;
    for i in decode(&program).unwrap() {
        match i {
            Instr::Set(r, v) => {
                let held = v & ((1u32 << r.bits()) - 1) as u16;
                if held != regs[r as usize] {
                    want.push(Seen::Set(r as u16, held));
                    regs[r as usize] = held;
                }
            }
            Instr::Repeat(n) => runs = n,
            Instr::Channel { shift, mult, bias } => want.push(Seen::Channel(shift, mult, bias)),
            Instr::Batch { last, taps } => {
                let mut w = Vec::new();
                for t in &taps {
                    w.extend(t.words());
                }
                want.push(Seen::Batch(taps.len(), last, runs, w));
                runs = 1;
            }
            Instr::Record(s) => want.push(Seen::Record(s)),
            Instr::End => {}
        }
    }
    let mut rng = XorShift(0xfe7c);
    let verilog = generate_verilog(&BufferFetch::top());
    let mut trace = Some(Trace::for_verilog(&verilog));
    let (seen, done, fault) = run(&program, &mut rng, &mut trace);
    assert!(done && !fault);
    assert_eq!(seen, want);
    // The same cycles replayed under Icarus on the unit's Verilog.
    replay_under_icarus("engine-fetch", &verilog, &trace.unwrap().rows);
}

#[test]
fn an_unknown_opcode_stops_the_program() {
    let mut rng = XorShift(3);
    let program = [0x1000, 0x0005, 0xf123, 0x0000];
    let (seen, done, fault) = run(&program, &mut rng, &mut None);
    assert!(fault && !done);
    assert_eq!(seen, vec![Seen::Set(0, 5)]);
}

#[test]
fn the_fetch_unit_fits_its_budget() {
    let verilog = generate_verilog(&BufferFetch::top());
    validate_with_yosys("fetch", &verilog);
    if !tool_available("nextpnr-ice40", "the fetch unit's cell count") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lutna-fetch-{}", std::process::id()));
    let cells = lutna_hw::flow::unit::unit_cells(&dir, &verilog).unwrap();
    println!("fetch and registers: {cells:?}");
    // The unit holds the registers and the channel parameters being read (one of the budget's
    // two sets; the other is the drain's).
    use lutna_hw::engine::budget::{CHANNEL, FETCH, REGISTERS};
    let budget = FETCH.cells + REGISTERS.cells + CHANNEL.cells / 2;
    assert!(cells.packed_logic_cells <= budget as u64, "{cells:?}");
}
