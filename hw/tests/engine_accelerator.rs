//! `EngineAccelerator`: the instruction-stream engine behind the UART, driven as a host would
//! drive a board: the program in segments of the program buffer (LOAD region 0, RUN, STATUS
//! until done, for each segment), the image by LOAD_IMAGE, then READ_LOGITS, READ_COUNTERS and
//! READ of the activations. Everything read back must equal `isa::Machine` on the same program.

use lutna_core::arith::Scheme;
use lutna_core::compile::compile;
use lutna_core::isa::{encode, segments, shape::PROGRAM_WORDS, Instr, Machine};
use lutna_core::protocol::{
    load_payloads, read_payload, Command, Decoder, Event, Frame, Identity, NakReason, Region,
    RunState, NAK,
};
use lutna_core::{accel::AccelConfig, Model, Plan};
use lutna_hw::engine::accelerator::{
    identity, EngineAccelerator, ProgramMemory, BUFFER_PROGRAM_BITS,
};
use lutna_hw::engine::activations::SPRAM_BANKS;
use lutna_hw::sim::{tick, SoftUartRx, SoftUartTx};
use std::path::Path;

const CPB: usize = 4;
const RX_TIMEOUT_BYTES: u32 = 4;
const P: usize = 8;

struct Host {
    board: EngineAccelerator<P, BUFFER_PROGRAM_BITS, SPRAM_BANKS>,
    tx: SoftUartTx,
    rx: SoftUartRx,
    decoder: Decoder,
    seq: u8,
}

impl Host {
    fn new() -> Host {
        Host {
            board: EngineAccelerator::top(
                CPB as u16,
                RX_TIMEOUT_BYTES,
                identity(P as u8, ProgramMemory::Buffer),
            ),
            tx: SoftUartTx::new(CPB),
            rx: SoftUartRx::new(CPB),
            decoder: Decoder::new(),
            seq: 0,
        }
    }

    fn step(&mut self) -> Option<u8> {
        self.board.uart_rx.next = self.tx.next_level();
        tick(&mut self.board, |b| &mut b.clock);
        self.rx.sample(self.board.uart_tx.val())
    }

    /// One request; panics unless the reply is the command's, in sequence.
    fn request(&mut self, cmd: Command, payload: &[u8], reply_bytes: usize) -> Vec<u8> {
        let f = self.send(cmd as u8, payload, reply_bytes);
        assert_eq!(f.cmd, cmd as u8 | 0x80, "{cmd:?} got {f:?}");
        f.payload
    }

    /// Any frame (`cmd` need not be a command); returns the board's reply frame.
    fn send(&mut self, cmd: u8, payload: &[u8], reply_bytes: usize) -> Frame {
        self.seq = self.seq.wrapping_add(1);
        let bytes = Frame::new(cmd, self.seq, payload.to_vec())
            .encode()
            .unwrap();
        self.tx.push(&bytes);
        for _ in 0..(bytes.len() + reply_bytes + 40) * 10 * CPB + 4000 {
            if let Some(b) = self.step() {
                if let Some(e) = self.decoder.push(&[b]).into_iter().next() {
                    let Event::Frame(f) = e else {
                        panic!("the board sent a damaged frame: {e:?}")
                    };
                    assert_eq!(f.seq, self.seq);
                    return f;
                }
            }
        }
        panic!("no reply to command {cmd:#x}")
    }

    /// The NAK reason a request is refused with (panics on any other reply).
    fn nak(&mut self, cmd: u8, payload: &[u8]) -> u8 {
        let f = self.send(cmd, payload, 1);
        assert_eq!(f.cmd, NAK, "{cmd:#x} {payload:?} was not refused: {f:?}");
        f.payload[0]
    }

    fn read(&mut self, region: Region, address: u32, len: u16) -> Vec<u8> {
        self.request(
            Command::Read,
            &read_payload(region, address, len),
            len as usize,
        )
    }

    fn load(&mut self, region: Region, address: u32, data: &[u8]) {
        for p in load_payloads(region, address, data) {
            assert!(self.request(Command::Load, &p, 0).is_empty());
        }
    }

    /// RUN, then STATUS until done.
    fn run(&mut self) {
        self.request(Command::Run, &[], 0);
        loop {
            for _ in 0..5_000 {
                self.step();
            }
            let s = self.request(Command::Status, &[], 4);
            if s[0] == RunState::Done as u8 {
                return;
            }
            assert_eq!(s[0], RunState::Running as u8, "status {s:?}");
        }
    }
}

/// Runs `program` on the board with `image` at `at`, as a host does; returns the board's
/// logits, its counters reply and the activation bytes `read` (in 1 KiB pieces: the UART is
/// the slow part of the simulation).
fn over_uart(
    program: &[Instr],
    at: u32,
    image: &[u8],
    read: std::ops::Range<usize>,
) -> (Vec<i32>, Vec<u8>, Vec<u8>) {
    let mut host = Host::new();
    for piece in image.chunks(1000).enumerate() {
        let mut p = (at + 1000 * piece.0 as u32).to_le_bytes().to_vec();
        p.extend_from_slice(piece.1);
        assert!(host.request(Command::LoadImage, &p, 0).is_empty());
    }
    for segment in segments(program, PROGRAM_WORDS) {
        let bytes: Vec<u8> = encode(&segment)
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        host.load(Region::Params, 0, &bytes);
        host.run();
    }
    let logits = host
        .request(Command::ReadLogits, &[], 40)
        .chunks(4)
        .map(|b| i32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let counters = host.request(Command::ReadCounters, &[], 5 + 8 * 56);
    let mut memory = Vec::new();
    for a in read.clone().step_by(1024) {
        let len = (read.end - a).min(1024) as u16;
        let bytes = host.request(
            Command::Read,
            &read_payload(Region::Activations, a as u32, len),
            len as usize,
        );
        memory.extend_from_slice(&bytes);
    }
    (logits, counters, memory)
}

/// Checks a run over the UART against `isa::Machine`; returns each record's (cycles, issues)
/// as READ_COUNTERS gave them (cumulative since LOAD_IMAGE).
fn check(
    program: &[Instr],
    at: u32,
    image: &[u8],
    read: std::ops::Range<usize>,
    what: &str,
) -> Vec<(u32, u32)> {
    let mut machine = Machine::new(P);
    machine.memory[at as usize..at as usize + image.len()].copy_from_slice(image);
    machine.run(&encode(program)).unwrap();
    let (logits, counters, memory) = over_uart(program, at, image, read.clone());
    assert_eq!(logits, machine.logits[..10].to_vec(), "{what}: logits");
    let records = machine.records.iter().filter(|r| r.is_some()).count();
    assert_eq!(counters[4] as usize, records, "{what}: records taken");
    let word = |at: usize| u32::from_le_bytes(counters[at..at + 4].try_into().unwrap());
    let mut before = 0;
    for (k, r) in machine.records.iter().flatten().enumerate() {
        assert_eq!(
            word(5 + 8 * k + 4) as u64,
            *r,
            "{what}: record {k}'s issues"
        );
        // The cycle counts are cumulative from LOAD_IMAGE: they rise record by record, and the
        // whole run's count (the reply's first word) is at least the last record's.
        let cycles = word(5 + 8 * k);
        assert!(cycles > before, "{what}: record {k}'s cycles {cycles}");
        before = cycles;
    }
    assert!(
        word(0) >= before && word(0) > 0,
        "{what}: run cycles {}",
        word(0)
    );
    for (a, &got) in read.zip(&memory) {
        assert_eq!(got, machine.memory[a], "{what}: activation byte {a}");
    }
    (0..records)
        .map(|k| (word(5 + 8 * k), word(5 + 8 * k + 4)))
        .collect()
}

/// A small program of two channels in two segments, with a residual-style i8 output: the link,
/// the program buffer's segments, the image upload, logits and counters end to end.
#[test]
fn a_small_program_runs_over_the_uart() {
    let c = compiled("icebreaker-w0.5.lutna");
    // The last two layers (global average pool and the linear layer) on a made-up 8 x 8 x 64
    // input: a short program that still ends in logits.
    let program = c.program();
    let layers: Vec<usize> = program
        .iter()
        .enumerate()
        .filter(|(_, i)| matches!(i, Instr::Record(_)))
        .map(|(k, _)| k)
        .collect();
    let from = layers[layers.len() - 3] + 1;
    // (Records renumbered from slot 0: READ_COUNTERS lists the slots from 0.)
    let mut slot = 0;
    let tail: Vec<Instr> = program[from..]
        .iter()
        .map(|i| match i {
            Instr::Record(_) => {
                slot += 1;
                Instr::Record(slot - 1)
            }
            other => other.clone(),
        })
        .collect();
    let input = &c.places[c.places.len() - 3];
    let at = (input.base * P) as u32;
    let image: Vec<u8> = (0..input.words() * P)
        .map(|i| (i * 37 % 251) as u8)
        .collect();
    let pooled = &c.places[c.places.len() - 2];
    let read = pooled.base * P..(pooled.base + pooled.words()) * P;
    check(&tail, at, &image, read, "the last two layers");
}

fn compiled(name: &str) -> lutna_core::compile::Compiled {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let model = Model::load(&root.join("models").join(name)).unwrap();
    let plan = Plan::rotating(&model, &[Scheme::LUTNA, Scheme::ALUTNA_C, Scheme::ALUTNA]);
    compile(&AccelConfig::new(P).unwrap(), &model, &plan).unwrap()
}

/// A whole network on the RustHDL board, everything over the UART: its first image, the first
/// layer's output map read back. Returns the conv layers' lane utilization from the counters
/// read over the link: taps issued (each to a group of P lanes) over the conv layers' cycles.
fn whole_network(name: &str) -> f64 {
    let c = compiled(name);
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let model = Model::load(&root.join("models").join(name)).unwrap();
    let bytes = std::fs::read(root.join("data/cifar10-sample/test_batch.bin")).unwrap();
    let data = lutna_core::cifar::Dataset::parse_batch(&bytes, "sample").unwrap();
    let (at, image) = c.image(data.image(0));
    let first = &c.places[1];
    let read = first.base * P..(first.base + first.words()) * P;
    let records = check(&c.program(), at as u32, &image, read, name);
    let (mut conv_cycles, mut issues, mut before) = (0u64, 0u64, (0u32, 0u32));
    for (l, &r) in c.layers.iter().zip(&records) {
        if matches!(model.layers[l.layer].op, lutna_core::model::Op::Conv(_)) {
            conv_cycles += (r.0 - before.0) as u64;
            issues += (r.1 - before.1) as u64;
        }
        before = r;
    }
    let utilization = issues as f64 / conv_cycles as f64;
    println!(
        "{name}: bit-exact over the UART, {} cycles, conv lane utilization {:.1} %",
        records.last().map_or(0, |r| r.0),
        100.0 * utilization
    );
    utilization
}

/// The iCEBreaker model (about a million simulated cycles with its uploads and reads: minutes).
#[test]
fn the_icebreaker_model_runs_over_the_uart() {
    let utilization = whole_network("icebreaker-w0.5.lutna");
    assert!(utilization >= 0.70, "conv lane utilization {utilization}");
}

/// A residual network (about two million cycles: run by hand; the same Verilog runs it on the
/// Verilator board in host/tests/cli.rs, and `EngineCore` on RustHDL in engine_core.rs).
#[test]
#[ignore = "about ten minutes of simulation: run by hand"]
fn a_residual_network_runs_over_the_uart() {
    whole_network("resnet18-w0.25.lutna");
}

/// Its Verilog (what `lutna build` builds from) passes yosys.
#[test]
fn its_verilog_passes_yosys() {
    let board = EngineAccelerator::<P, BUFFER_PROGRAM_BITS, SPRAM_BANKS>::top(
        CPB as u16,
        RX_TIMEOUT_BYTES,
        identity(P as u8, ProgramMemory::Buffer),
    );
    let verilog = rust_hdl::prelude::generate_verilog(&board);
    lutna_hw::sim::validate_with_yosys("engine-accelerator", &verilog);
}

/// The link's rules as docs/protocol.md states them for this design: identity, status, LOAD and
/// READ of both regions (odd addresses and lengths, the regions' last bytes), and every
/// refusal with its reason (a region's end passed, odd program bytes, short or long payloads,
/// addresses beyond 17 bits, unknown commands); nothing refused is written.
#[test]
fn the_link_rules_hold() {
    let mut host = Host::new();
    let id = host.request(Command::Identify, &[], Identity::LEN);
    assert_eq!(
        Identity::from_bytes(&id).unwrap(),
        identity(P as u8, ProgramMemory::Buffer)
    );
    assert_eq!(
        host.request(Command::Status, &[], 4),
        [RunState::Idle as u8, 0, 0, 0]
    );
    // Both regions, written and read back, to their last bytes.
    let probe: Vec<u8> = (0..200).map(|i| (i * 37 + 5) as u8).collect();
    host.load(Region::Params, 512, &probe);
    host.load(Region::Params, 2 * PROGRAM_WORDS as u32 - 4, &probe[..4]);
    host.load(Region::Activations, 1001, &probe);
    host.load(Region::Activations, 65536 - 3, &probe[..3]);
    let mut image = 60000u32.to_le_bytes().to_vec();
    image.extend_from_slice(&probe[..7]);
    assert!(host.request(Command::LoadImage, &image, 0).is_empty());
    assert_eq!(host.read(Region::Params, 512, 200), probe);
    assert_eq!(host.read(Region::Params, 513, 3), probe[1..4]);
    assert_eq!(
        host.read(Region::Params, 2 * PROGRAM_WORDS as u32 - 4, 4),
        probe[..4]
    );
    assert_eq!(host.read(Region::Activations, 1001, 200), probe);
    assert_eq!(host.read(Region::Activations, 65536 - 3, 3), probe[..3]);
    assert_eq!(host.read(Region::Activations, 60000, 7), probe[..7]);
    assert_eq!(host.read(Region::Activations, 0, 0), Vec::<u8>::new());
    // Nothing run yet: no records; the logits memory is read as it is.
    assert_eq!(host.request(Command::ReadCounters, &[], 5), [0; 5]);
    assert_eq!(host.request(Command::ReadLogits, &[], 40).len(), 40);
    let bad = NakReason::BadPayload as u8;
    let load = Command::Load as u8;
    let refusals: Vec<(&str, u8, Vec<u8>)> = vec![
        (
            "past the program buffer",
            load,
            load_payloads(Region::Params, 2046, &[1, 2, 3, 4]).remove(0),
        ),
        (
            "an odd program address",
            load,
            load_payloads(Region::Params, 1, &[1, 2]).remove(0),
        ),
        ("odd program bytes", load, vec![0, 0, 0, 0, 0, 1]),
        (
            "past the activations",
            load,
            load_payloads(Region::Activations, 65535, &[1, 2]).remove(0),
        ),
        (
            "an address beyond 17 bits",
            load,
            load_payloads(Region::Activations, 1 << 17, &[1]).remove(0),
        ),
        (
            "an address beyond 24 bits",
            load,
            load_payloads(Region::Activations, 1 << 24, &[1]).remove(0),
        ),
        ("an unknown region", load, vec![7, 0, 0, 0, 0, 1]),
        ("a LOAD shorter than its header", load, vec![1, 0, 0]),
        (
            "a LOAD_IMAGE shorter than its address",
            Command::LoadImage as u8,
            vec![0, 0, 0],
        ),
        (
            "a LOAD_IMAGE past the activations",
            Command::LoadImage as u8,
            vec![0xFF, 0xFF, 0, 0, 1, 2],
        ),
        (
            "a READ over 1,024 bytes",
            Command::Read as u8,
            read_payload(Region::Activations, 0, 1025),
        ),
        (
            "a READ past the program buffer",
            Command::Read as u8,
            read_payload(Region::Params, 2040, 9),
        ),
        (
            "a READ past the activations",
            Command::Read as u8,
            read_payload(Region::Activations, 65535, 2),
        ),
        (
            "a READ of an unknown region",
            Command::Read as u8,
            read_payload(Region::Params, 0, 2)
                .iter()
                .enumerate()
                .map(|(k, &b)| if k == 0 { 5 } else { b })
                .collect(),
        ),
        (
            "a READ without its length",
            Command::Read as u8,
            vec![1, 0, 0, 0, 0, 4],
        ),
    ];
    for (what, cmd, payload) in &refusals {
        assert_eq!(host.nak(*cmd, payload), bad, "{what}");
    }
    // A command whose payload is empty refuses a stray byte, a RUN so refused runs nothing
    // (twice with one seq: the repeat is refused too, not answered as a repeated RUN).
    for cmd in [
        Command::Identify,
        Command::Status,
        Command::Reset,
        Command::Run,
        Command::ReadLogits,
        Command::ReadCounters,
    ] {
        assert_eq!(
            host.nak(cmd as u8, &[0]),
            bad,
            "{cmd:?} with a payload byte"
        );
    }
    let repeat = Frame::new(Command::Run as u8, host.seq, vec![0])
        .encode()
        .unwrap();
    host.tx.push(&repeat);
    let mut replies = Vec::new();
    for _ in 0..(repeat.len() + 50) * 10 * CPB {
        if let Some(b) = host.step() {
            replies.extend(host.decoder.push(&[b]));
        }
    }
    assert!(
        matches!(&replies[..], [Event::Frame(f)] if f.cmd == NAK && f.payload == [bad]),
        "a repeated RUN with a payload byte: {replies:?}"
    );
    assert_eq!(
        host.request(Command::Status, &[], 4)[0],
        RunState::Idle as u8,
        "a refused RUN ran"
    );
    assert_eq!(host.nak(0x42, &[]), NakReason::UnknownCommand as u8);
    // The largest READ is answered, and nothing refused was written.
    let all = host.read(Region::Activations, 65536 - 1024, 1024);
    assert_eq!(all[1024 - 3..], probe[..3]);
    assert_eq!(host.read(Region::Params, 512, 200), probe);
    assert_eq!(host.read(Region::Params, 0, 4), [0; 4]);
    assert_eq!(host.read(Region::Activations, 65534, 2), probe[1..3]);
}

/// Garbage, frames with a flipped bit, truncated frames and impossible headers neither hang
/// the board nor change what it holds; whatever it answers is a well-formed NAK.
#[test]
fn garbage_and_damaged_frames_neither_hang_nor_change_it() {
    use lutna_hw::sim::XorShift;
    let mut host = Host::new();
    let mut rng = XorShift(99);
    let probe: Vec<u8> = (0..200).map(|i| (i * 37) as u8).collect();
    host.load(Region::Params, 512, &probe);
    host.load(Region::Activations, 1000, &probe);
    for round in 0..40 {
        let mut junk = vec![];
        match round % 4 {
            // Random garbage, sometimes with start markers in it.
            0 => {
                for _ in 0..(rng.next_u64() % 60) {
                    junk.push(if rng.next_u64().is_multiple_of(8) {
                        0xA5
                    } else {
                        rng.next_u64() as u8
                    });
                }
            }
            // A LOAD over the probe with one byte flipped (bad CRC): must not be written.
            1 => {
                let mut f = Frame::new(
                    Command::Load as u8,
                    1,
                    load_payloads(Region::Params, 512, &[0xEE; 40]).remove(0),
                )
                .encode()
                .unwrap();
                let k = 6 + (rng.next_u64() as usize % (f.len() - 8));
                f[k] ^= 1 << (rng.next_u64() % 8);
                junk.extend(f);
            }
            // A truncated LOAD: the receiver times out and drops it.
            2 => {
                let f = Frame::new(
                    Command::Load as u8,
                    2,
                    load_payloads(Region::Activations, 1000, &[0xEE; 40]).remove(0),
                )
                .encode()
                .unwrap();
                junk.extend(&f[..rng.next_u64() as usize % f.len()]);
            }
            // A header announcing an oversized payload.
            _ => junk.extend([0xA5, 0x5A, 0xFF, 0x7F, 3, 9]),
        }
        host.tx.push(&junk);
        // Let it all drain, plus a receiver timeout.
        for _ in 0..(junk.len() + 60) * 10 * CPB {
            if let Some(b) = host.step() {
                for e in host.decoder.push(&[b]) {
                    match e {
                        Event::Frame(f) => assert_eq!(f.cmd, NAK, "garbage executed: {f:?}"),
                        other => panic!("damaged frame from the board: {other:?}"),
                    }
                }
            }
        }
        // Still answering, and nothing it holds has changed.
        assert_eq!(
            host.request(Command::Status, &[], 4)[0],
            RunState::Idle as u8
        );
    }
    assert_eq!(host.read(Region::Params, 512, 200), probe);
    assert_eq!(host.read(Region::Activations, 1000, 200), probe);
}

/// The accelerator as the board builds make it (board clocks per bit and receiver timeout)
/// rides over a USB-serial bridge's gap between the packets of one frame, and abandons the
/// frame (NAK "timeout") when the silence outlasts the timeout: the same rule as the probe
/// design (link_endpoint.rs).
#[test]
fn a_usb_packet_gap_inside_a_frame_is_ridden_over() {
    use lutna_hw::link::BOARD_RX_TIMEOUT_BYTES;
    use lutna_hw::sim::{identify_across_a_gap, BOARD_CLOCKS_PER_BIT, USB_PACKET_GAP_CLOCKS};
    let id = identity(P as u8, ProgramMemory::Buffer);
    let board = || {
        EngineAccelerator::<P, BUFFER_PROGRAM_BITS, SPRAM_BANKS>::top(
            BOARD_CLOCKS_PER_BIT as u16,
            BOARD_RX_TIMEOUT_BYTES,
            id,
        )
    };
    let reply =
        identify_across_a_gap(&mut board(), USB_PACKET_GAP_CLOCKS).expect("a reply to IDENTIFY");
    assert_eq!(reply.cmd, Command::Identify as u8 | 0x80, "{reply:?}");
    assert_eq!(Identity::from_bytes(&reply.payload).unwrap(), id);
    let past = 10 * BOARD_CLOCKS_PER_BIT * (BOARD_RX_TIMEOUT_BYTES as usize + 10);
    let reply = identify_across_a_gap(&mut board(), past).expect("a NAK for the abandoned frame");
    assert_eq!(
        (reply.cmd, reply.payload),
        (NAK, vec![NakReason::Timeout as u8])
    );
}
