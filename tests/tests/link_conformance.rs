//! The board's link against the reference model of docs/protocol.md
//! (`lutna_core::board_model`): long seeded sequences of requests (well-formed and malformed,
//! every command and unknown ones), repeats with the same `seq`, damaged frames, headers
//! announcing too much, truncated frames, garbage, RESETs, runs of a program long enough for
//! requests to arrive while it runs, and frames sent while a reply is still going out, driven
//! into the accelerator's RTL at the UART pins on both simulators. Every reply frame must be
//! the model's, byte for byte (the bytes the page leaves to the board excepted), no reply may
//! come where the model expects none, and no frame the board sends may be damaged.
//!
//! CI runs a short sequence on each simulator. The long run:
//! `LUTNA_CONFORMANCE_FRAMES=100000 cargo test --release -p lutna-tests --test link_conformance
//! -- --nocapture` (frames per simulator; `LUTNA_CONFORMANCE_SEED` picks the sequence).

use lutna_core::board_model::{Arrival, BoardModel, Effect, Expected};
use lutna_core::isa::{self, Instr, Register, Tap, MODE_OUT_KIND, MODE_ROW_STEP, MODE_SLOTS};
use lutna_core::protocol::{Command, Decoder, Event, Frame, Region, MAX_PAYLOAD};
use lutna_core::XorShift;
use lutna_sim::{Board, Simulator, Target, CLOCKS_PER_BIT, RX_TIMEOUT_BYTES};
use std::ops::Range;

const LANES: u8 = 4;
/// Clocks of one byte on the board's UART.
const BYTE_CLOCKS: usize = 10 * CLOCKS_PER_BIT;
/// The activation bytes the busy program writes (and nothing else).
const SCRATCH: Range<usize> = 0xC000..0x1_0000;
/// Region-0 bytes that hold the busy program: the sequence's own LOADs of region 0 stay above.
const PROGRAM_BYTES: usize = 256;

/// A program that runs for about `repeat` x 1,024 issue cycles and writes only [`SCRATCH`]: its
/// first instruction takes a record (so the records count is known even when a RESET stops
/// it), then one channel of one tap walks 16 rows of 64 groups, its output going back to the
/// start of the scratch area each time the channel repeats.
fn busy_program(repeat: usize) -> Vec<u16> {
    let lanes = LANES as u16;
    let rows = 16u16;
    let groups = 64u16;
    let row_bytes = groups * lanes;
    let channel_bytes = rows * row_bytes;
    let program = [
        Instr::Record(0),
        Instr::Set(Register::Rows, rows - 1),
        Instr::Set(Register::Groups, groups - 1),
        Instr::Set(Register::InRow, 0),
        Instr::Set(Register::OutRowStep, row_bytes - (groups - 1) * lanes),
        Instr::Set(Register::OutBase, SCRATCH.start as u16),
        // From the channel's last group (channel_bytes - lanes past the start) back to the
        // scratch area's start.
        Instr::Set(Register::OutChannelStep, lanes.wrapping_sub(channel_bytes)),
        Instr::Set(Register::InChannel, 0),
        Instr::Set(Register::YStart, 0),
        Instr::Set(Register::XStart, 0),
        Instr::Set(Register::InHeight, 64),
        Instr::Set(Register::InWidth, 128),
        Instr::Set(
            Register::Mode,
            MODE_ROW_STEP.put(1) | MODE_OUT_KIND.put(0) | MODE_SLOTS.put(15),
        ),
        Instr::Repeat(repeat),
        Instr::Channel {
            shift: 8,
            mult: 256,
            bias: 3,
        },
        Instr::Batch {
            last: true,
            taps: vec![Tap {
                offset: 0,
                weight: 1,
                ky: 0,
                kx: 0,
                reuse: false,
            }],
        },
        Instr::End,
    ];
    let words = isa::encode(&program);
    assert!(2 * words.len() <= PROGRAM_BYTES);
    words
}

fn bytes_of(words: &[u16]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[test]
fn the_busy_program_writes_only_its_scratch_area() {
    let words = busy_program(2);
    let mut m = isa::Machine::new(LANES as usize);
    for (i, b) in m.memory.iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    let before = m.memory.clone();
    m.run(&words).unwrap();
    for (i, (a, b)) in m.memory.iter().zip(&before).enumerate() {
        if !SCRATCH.contains(&i) {
            assert_eq!(a, b, "byte {i:#x} written outside the scratch area");
        }
    }
    assert!(m.memory[SCRATCH] != before[SCRATCH], "nothing was written");
    assert!(m.records[0].is_some(), "the record was not taken");
}

#[derive(Default, Debug)]
struct Tally {
    frames: u64,
    bytes_in: u64,
    replies: u64,
    unanswered: u64,
    dropped_mid_reply: u64,
    during_runs: u64,
    runs: u64,
    ambiguous: u64,
    /// Replies that were NAKs.
    refused: u64,
    /// RESETs that stopped a running program.
    stops: u64,
    cycles: u64,
}

struct Conformance {
    board: Board,
    model: BoardModel,
    rng: XorShift,
    seq: u8,
    /// The last request sent (for repeats): its bytes and what the receiver made of them.
    last: Option<(Vec<u8>, Arrival)>,
    /// A program is running (as far as the harness has seen), and whether a RESET stopped it.
    running: bool,
    stopped: bool,
    program: Option<usize>,
    /// The program a LOAD being sent carries (it counts once the board has accepted it).
    program_sent: Option<usize>,
    tally: Tally,
    sim: Simulator,
}

impl Conformance {
    fn new(sim: Simulator, seed: u64) -> Conformance {
        let target = Target::from(LANES);
        Conformance {
            board: Board::with(target, None, sim, None).unwrap(),
            model: BoardModel::new(target.identity()),
            rng: XorShift(seed | 1),
            seq: 0,
            last: None,
            running: false,
            stopped: false,
            program: None,
            program_sent: None,
            tally: Tally::default(),
            sim,
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n
    }

    fn step(&mut self, clocks: usize, out: &mut Vec<u8>) {
        out.extend(self.board.step(clocks).unwrap());
        self.tally.cycles += clocks as u64;
    }

    /// Feeds `bytes` and steps until they are in.
    fn send(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.board.receive(bytes);
        self.tally.bytes_in += bytes.len() as u64;
        while self.board.receiving() {
            self.step(CLOCKS_PER_BIT, out);
        }
    }

    /// Steps until `out` holds a whole frame (good or damaged) or `limit` clocks have passed,
    /// decoding only the new bytes of each step.
    fn await_frame(&mut self, out: &mut Vec<u8>, limit: usize) {
        let mut decoder = Decoder::new();
        let mut seen = decoder.push(out).len();
        let mut waited = 0;
        while waited < limit && seen == 0 {
            let before = out.len();
            self.step(BYTE_CLOCKS, out);
            seen += decoder.push(&out[before..]).len();
            waited += BYTE_CLOCKS;
        }
    }

    /// The frames in `out`; a damaged frame from the board fails the test.
    fn frames(&self, out: &[u8], context: &str) -> Vec<Frame> {
        Decoder::new()
            .push(out)
            .into_iter()
            .map(|e| match e {
                Event::Frame(f) => f,
                Event::Rejected { cmd, seq, reason } => panic!(
                    "{}: the board sent a damaged frame (cmd {cmd:#04x}, seq {seq}, {reason}) \
                     after {context}",
                    self.sim
                ),
            })
            .collect()
    }

    /// Sends `bytes`, which the receiver makes into `arrival` (None: nothing that earns a
    /// reply), and checks what comes back against the model.
    fn exchange(&mut self, bytes: &[u8], arrival: Option<Arrival>) {
        let mut out = vec![];
        self.send(bytes, &mut out);
        let context = format!("{arrival:?} ({} bytes sent)", bytes.len());
        let Some(arrival) = arrival else {
            // Garbage, or a frame cut before its seq: silence, also after the timeout.
            self.step((RX_TIMEOUT_BYTES as usize + 4) * BYTE_CLOCKS, &mut out);
            let frames = self.frames(&out, &context);
            assert!(
                frames.is_empty(),
                "{}: a reply {frames:?} to {context}",
                self.sim
            );
            self.tally.unanswered += 1;
            self.finish_run();
            return;
        };
        if let Arrival::Abandoned { .. } = arrival {
            self.step((RX_TIMEOUT_BYTES as usize + 2) * BYTE_CLOCKS, &mut out);
        }
        // Whether a program runs when the handler decides: sampled as the frame completes (the
        // handler decides a few cycles later). If a run ends after that and before the reply
        // is out, either answer is right: the handler decided on one state, and STATUS's bytes
        // are read as they are sent. (A run that starts meanwhile is the one this request
        // started.)
        let busy_then = self.board.running();
        if busy_then {
            self.tally.during_runs += 1;
        }
        // A run that ended while the request was coming in has finished.
        self.finish_run();
        let mut choices = vec![];
        for busy in [busy_then, false] {
            if choices.iter().any(|(b, _, _, _)| *b == busy) {
                continue;
            }
            let mut model = self.model.clone();
            if busy_then && !busy && !self.stopped {
                // In this branch the run the harness saw going has ended by itself.
                model.run_finished();
            }
            let (expected, effect) = model.answer(&arrival, busy);
            choices.push((busy, model, expected, effect));
        }
        let longest = choices.iter().map(|c| c.2.payload.len()).max().unwrap_or(0);
        // The reply's line time, the handler's copy (two cycles a byte) and a margin.
        let limit = (longest + 8 + 8) * BYTE_CLOCKS + 2 * MAX_PAYLOAD + 2_000;
        self.await_frame(&mut out, limit);
        // Anything after the reply would be a second answer.
        self.step(4 * BYTE_CLOCKS, &mut out);
        if busy_then && self.board.running() {
            // A run outlasted the reply: the one the handler saw running, or one this request
            // started after it ended.
            choices.retain(|c| c.0 || c.3 == Effect::Run);
        }
        if choices.len() > 1 {
            self.tally.ambiguous += 1;
        }
        let frames = self.frames(&out, &context);
        assert_eq!(
            frames.len(),
            1,
            "{}: {} replies to {context}: {frames:?}; the model expected {:?}",
            self.sim,
            frames.len(),
            choices.iter().map(|c| &c.2).collect::<Vec<_>>()
        );
        let got = &frames[0];
        let Some(k) = choices.iter().position(|c| c.2.matches(got)) else {
            panic!(
                "{}: reply {} to {context}\nthe model expected {}\n(frame {} of the sequence)",
                self.sim,
                show_frame(got),
                choices
                    .iter()
                    .map(|c| show_expected(&c.2, c.0))
                    .collect::<Vec<_>>()
                    .join(" or "),
                self.tally.frames
            );
        };
        if std::env::var_os("LUTNA_CONFORMANCE_TRACE").is_some() {
            eprintln!(
                "{}: {context} -> {} busy {busy_then}",
                self.tally.frames,
                show_frame(got)
            );
        }
        let (_, model, _, effect) = choices.swap_remove(k);
        self.model = model;
        self.tally.replies += 1;
        if got.cmd == lutna_core::protocol::NAK {
            self.tally.refused += 1;
        }
        match effect {
            Effect::Run => {
                self.running = true;
                self.stopped = false;
                self.tally.runs += 1;
                self.model.forget(SCRATCH);
                self.model.took_records(1);
            }
            Effect::Stop => {
                self.stopped = true;
                self.tally.stops += 1;
            }
            Effect::None => {}
        }
        self.finish_run();
    }

    /// Tells the model when a run it was told of has ended.
    fn finish_run(&mut self) {
        if self.running && !self.board.running() {
            self.running = false;
            if !self.stopped {
                self.model.run_finished();
            }
        }
    }

    fn next_seq(&mut self) -> u8 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// A request of any command, well formed or not.
    fn request(&mut self) -> (u8, Vec<u8>) {
        let stray = |h: &mut Self, mut p: Vec<u8>| {
            if h.below(10) == 0 {
                p.push(h.rng.next_u64() as u8);
            }
            p
        };
        match self.below(100) {
            0..=9 => (Command::Identify as u8, stray(self, vec![])),
            10..=21 => (Command::Status as u8, stray(self, vec![])),
            22..=39 => {
                if self.program.is_none() || self.below(8) == 0 {
                    return self.load_program();
                }
                self.load()
            }
            40..=47 => {
                let address = self.address(1 << 16);
                let data = self.data();
                let mut p = address.to_le_bytes().to_vec();
                let cut = if self.below(20) == 0 {
                    self.below(4)
                } else {
                    4
                };
                p.truncate(cut as usize);
                if cut == 4 {
                    p.extend(data);
                }
                (Command::LoadImage as u8, p)
            }
            48..=57 => {
                if self.program.is_none() {
                    return self.load_program();
                }
                (Command::Run as u8, stray(self, vec![]))
            }
            58..=62 => (Command::ReadLogits as u8, stray(self, vec![])),
            63..=67 => (Command::ReadCounters as u8, stray(self, vec![])),
            68..=84 => (Command::Read as u8, self.read_payload(64)),
            85..=91 => (Command::Reset as u8, stray(self, vec![])),
            _ => {
                const UNKNOWN: [u8; 10] =
                    [0x00, 0x09, 0x0A, 0x0E, 0x10, 0x42, 0x7F, 0x81, 0x85, 0xFF];
                let cmd = UNKNOWN[self.below(UNKNOWN.len() as u64) as usize];
                let p = stray(self, vec![]);
                (cmd, p)
            }
        }
    }

    fn load_program(&mut self) -> (u8, Vec<u8>) {
        let repeat = 1 + self.below(3) as usize;
        self.program_sent = Some(repeat);
        let mut p = vec![Region::Params as u8];
        p.extend(0u32.to_le_bytes());
        p.extend(bytes_of(&busy_program(repeat)));
        (Command::Load as u8, p)
    }

    /// An address in a region of `size` bytes: mostly inside, sometimes near or past its end.
    fn address(&mut self, size: u64) -> u32 {
        match self.below(20) {
            0 => (size - self.below(8)) as u32,
            1 => (size + self.below(1 << 20)) as u32,
            2 => self.rng.next_u64() as u32,
            _ => self.below(size) as u32,
        }
    }

    fn data(&mut self) -> Vec<u8> {
        let n = match self.below(40) {
            0 => 900 + self.below(MAX_PAYLOAD as u64 - 905),
            1 => 0,
            _ => self.below(48),
        };
        (0..n).map(|_| self.rng.next_u64() as u8).collect()
    }

    fn load(&mut self) -> (u8, Vec<u8>) {
        let program_bytes = 2 * self.model_identity_words();
        let region = match self.below(10) {
            0..=2 => Region::Params as u8,
            3..=8 => Region::Activations as u8,
            _ => 2 + self.below(250) as u8,
        };
        let address = if region == Region::Params as u8 {
            let a = self.address(program_bytes as u64);
            // The program's own words stay as loaded; odd addresses now and then.
            let a = a.max(PROGRAM_BYTES as u32);
            if self.below(10) == 0 {
                a | 1
            } else {
                a & !1
            }
        } else {
            self.address(1 << 16)
        };
        let mut data = self.data();
        if region == Region::Params as u8 && self.below(10) != 0 {
            data.truncate(data.len() & !1);
        }
        let mut p = vec![region];
        p.extend(address.to_le_bytes());
        if self.below(30) == 0 {
            p.truncate(self.below(5) as usize);
        } else {
            p.extend(data);
        }
        (Command::Load as u8, p)
    }

    fn model_identity_words(&self) -> usize {
        Target::from(LANES).identity().param_words as usize
    }

    fn read_payload(&mut self, typical: u64) -> Vec<u8> {
        let region = match self.below(10) {
            0..=2 => Region::Params as u8,
            3..=8 => Region::Activations as u8,
            _ => 2 + self.below(250) as u8,
        };
        let size = if region == Region::Params as u8 {
            2 * self.model_identity_words() as u64
        } else {
            1 << 16
        };
        let address = self.address(size);
        let length = match self.below(30) {
            0 => MAX_PAYLOAD as u64 + 1 + self.below(2000),
            1 => MAX_PAYLOAD as u64 - self.below(2),
            _ => self.below(typical + 1),
        } as u16;
        let mut p = vec![region];
        p.extend(address.to_le_bytes());
        p.extend(length.to_le_bytes());
        if self.below(25) == 0 {
            p.truncate(self.below(7) as usize);
        } else if self.below(25) == 0 {
            p.push(0);
        }
        p
    }

    /// One step of the sequence.
    fn step_sequence(&mut self) {
        self.tally.frames += 1;
        self.program_sent = None;
        match self.below(100) {
            // A repeat of the last request, same seq.
            0..=9 if self.last.is_some() => {
                let (bytes, arrival) = self.last.clone().unwrap();
                self.exchange(&bytes, Some(arrival));
            }
            // A damaged frame: one byte from the command on flipped.
            10..=17 => {
                let (cmd, p) = self.request();
                let seq = self.next_seq();
                let mut bytes = Frame::new(cmd, seq, p).encode().unwrap();
                let at = 4 + self.below(bytes.len() as u64 - 4) as usize;
                bytes[at] ^= 1 << self.below(8);
                let arrival = Arrival::BadCrc { seq: bytes[5] };
                self.last = Some((bytes.clone(), arrival.clone()));
                self.exchange(&bytes, Some(arrival));
            }
            // A header announcing too much.
            18..=20 => {
                let seq = self.next_seq();
                let len = MAX_PAYLOAD as u16 + 1 + self.below(3000) as u16;
                let mut bytes = vec![0xA5, 0x5A];
                bytes.extend(len.to_le_bytes());
                bytes.extend([Command::Load as u8, seq]);
                self.exchange(&bytes, Some(Arrival::TooLong { seq }));
            }
            // A frame cut short.
            21..=24 => {
                let (cmd, p) = self.request();
                let seq = self.next_seq();
                let bytes = Frame::new(cmd, seq, p).encode().unwrap();
                let keep = 1 + self.below(bytes.len() as u64 - 1) as usize;
                let arrival = (keep >= 6).then_some(Arrival::Abandoned { seq });
                self.exchange(&bytes[..keep], arrival);
            }
            // Garbage (no marker byte in it).
            25..=29 => {
                let n = 1 + self.below(40);
                let bytes: Vec<u8> = (0..n)
                    .map(|_| self.rng.next_u64() as u8)
                    .map(|b| if b == 0xA5 { 0x5A } else { b })
                    .collect();
                self.exchange(&bytes, None);
            }
            // A complete request sent while a long reply is going out: dropped, and the
            // reply goes out whole.
            30..=33 => self.request_during_a_reply(),
            _ => {
                let (cmd, p) = self.request();
                let seq = self.next_seq();
                let frame = Frame::new(cmd, seq, p);
                let bytes = frame.encode().unwrap();
                let arrival = Arrival::Intact(frame);
                self.last = Some((bytes.clone(), arrival.clone()));
                let replies = self.tally.replies;
                let refused = self.tally.refused;
                self.exchange(&bytes, Some(arrival));
                // A program LOAD the board accepted is what a RUN will run.
                if self.tally.replies > replies && self.tally.refused == refused {
                    if let Some(p) = self.program_sent {
                        self.program = Some(p);
                    }
                }
            }
        }
    }

    fn request_during_a_reply(&mut self) {
        // A READ of the activations of at least 300 bytes (12,000 clocks on the line).
        let address = self.below((1 << 16) - MAX_PAYLOAD as u64) as u32;
        let length = 300 + self.below(MAX_PAYLOAD as u64 - 300) as u16;
        let mut p = vec![Region::Activations as u8];
        p.extend(address.to_le_bytes());
        p.extend(length.to_le_bytes());
        let seq = self.next_seq();
        let frame = Frame::new(Command::Read as u8, seq, p);
        let bytes = frame.encode().unwrap();
        if self.board.running() || self.running {
            // The READ would be refused at once; nothing to interrupt.
            self.last = Some((bytes.clone(), Arrival::Intact(frame.clone())));
            return self.exchange(&bytes, Some(Arrival::Intact(frame)));
        }
        let mut out = vec![];
        self.send(&bytes, &mut out);
        let (expected, _) = self.model.answer(&Arrival::Intact(frame.clone()), false);
        while out.len() < 16 {
            self.step(BYTE_CLOCKS, &mut out);
        }
        // Any request short enough to end well inside the reply.
        let intruder = loop {
            let (cmd, p) = self.request();
            let bytes = Frame::new(cmd, self.seq.wrapping_add(1), p)
                .encode()
                .unwrap();
            if bytes.len() * 2 < length as usize {
                break bytes;
            }
        };
        self.next_seq();
        self.send(&intruder, &mut out);
        let limit = (length as usize + 16) * BYTE_CLOCKS + 2_000;
        self.await_frame(&mut out, limit);
        self.step((RX_TIMEOUT_BYTES as usize + 8) * BYTE_CLOCKS, &mut out);
        let frames = self.frames(&out, "a READ with a request sent during its reply");
        assert!(
            frames.len() == 1 && expected.matches(&frames[0]),
            "{}: a request during a reply: got {:?}, the model expected {}",
            self.sim,
            frames.iter().map(show_frame).collect::<Vec<_>>(),
            show_expected(&expected, false)
        );
        self.last = Some((bytes, Arrival::Intact(frame)));
        self.tally.replies += 1;
        self.tally.dropped_mid_reply += 1;
        self.finish_run();
    }
}

fn show_frame(f: &Frame) -> String {
    format!(
        "cmd {:#04x} seq {} payload[{}] {:02x?}",
        f.cmd,
        f.seq,
        f.payload.len(),
        &f.payload[..f.payload.len().min(12)]
    )
}

fn show_expected(e: &Expected, busy: bool) -> String {
    format!(
        "(busy {busy}) cmd {:#04x} seq {} payload[{}] {:?}",
        e.cmd,
        e.seq,
        e.payload.len(),
        &e.payload[..e.payload.len().min(12)]
    )
}

fn run_sequence(sim: Simulator, frames: u64, seed: u64) -> Tally {
    let mut h = Conformance::new(sim, seed);
    let started = std::time::Instant::now();
    for _ in 0..frames {
        h.step_sequence();
    }
    eprintln!(
        "{sim}: {frames} steps, seed {seed:#x}, in {:.1} s: {:?}",
        started.elapsed().as_secs_f64(),
        h.tally
    );
    h.tally
}

fn frames_from_env(default: u64) -> u64 {
    std::env::var("LUTNA_CONFORMANCE_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seed_from_env() -> u64 {
    std::env::var("LUTNA_CONFORMANCE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x005E_ED0F_11AC)
}

fn covers_every_case(t: &Tally) {
    assert!(
        t.runs > 0 && t.during_runs > 0,
        "no request met a running program: {t:?}"
    );
    assert!(t.dropped_mid_reply > 0 && t.unanswered > 0, "{t:?}");
}

#[test]
fn the_rusthdl_board_answers_as_the_protocol_says() {
    let t = run_sequence(Simulator::RustHdl, frames_from_env(150), seed_from_env());
    covers_every_case(&t);
}

#[test]
fn the_verilator_board_answers_as_the_protocol_says() {
    if Simulator::best_available() != Simulator::Verilator {
        eprintln!("SKIPPED: Verilator is not installed (./tools/test.sh installs it)");
        return;
    }
    let t = run_sequence(
        Simulator::Verilator,
        frames_from_env(2_000),
        seed_from_env() ^ 0xABCD,
    );
    covers_every_case(&t);
}
