//! The whole accelerator (link + command handler + layer engine) driven bit by bit over its UART
//! pins by a software host: the compiled program and the image go in through LOAD frames, RUN
//! starts it, STATUS is polled, and the logits read back must equal the golden engine's. Also:
//! damaged and truncated frames and garbage never hang it or change what it holds.

use lutna_core::accel::{compile, AccelConfig, Step};
use lutna_core::arith::Scheme;
use lutna_core::engine::Engine;
use lutna_core::model::{Model, TensorKind};
use lutna_core::plan::Plan;
use lutna_core::protocol::{
    load_payloads, read_payload, Command, Counters, Decoder, Event, Frame, Identity, NakReason,
    Region, RunState, NAK,
};
use lutna_hw::engine::RESIDENT_PARAM_BITS;
use lutna_hw::sim::{tick, SoftUartRx, SoftUartTx, XorShift};
use lutna_hw::top::Accelerator;
use lutna_tests::{model, sample};

const CPB: usize = 4;
/// A short receiver timeout (byte times), so the fuzz test's truncated frames are abandoned
/// quickly.
const RX_TIMEOUT_BYTES: u32 = 4;
const P: usize = 8;

fn identity() -> Identity {
    lutna_hw::top::identity(P as u8, RESIDENT_PARAM_BITS)
}

struct Host {
    board: Accelerator<P, RESIDENT_PARAM_BITS>,
    tx: SoftUartTx,
    rx: SoftUartRx,
    decoder: Decoder,
    seq: u8,
    cycles: u64,
}

impl Host {
    fn new() -> Host {
        Host {
            board: Accelerator::top(CPB as u16, RX_TIMEOUT_BYTES, identity()),
            tx: SoftUartTx::new(CPB),
            rx: SoftUartRx::new(CPB),
            decoder: Decoder::new(),
            seq: 0,
            cycles: 0,
        }
    }

    fn step(&mut self) -> Option<u8> {
        self.board.uart_rx.next = self.tx.next_level();
        tick(&mut self.board, |b| &mut b.clock);
        self.cycles += 1;
        self.rx.sample(self.board.uart_tx.val())
    }

    /// Sends raw bytes and runs the board until one reply frame arrives (None after a bound).
    fn exchange_raw(&mut self, bytes: &[u8], reply_bytes: usize) -> Option<Frame> {
        self.tx.push(bytes);
        for _ in 0..(bytes.len() + reply_bytes + 40) * 10 * CPB + 4000 {
            if let Some(b) = self.step() {
                if let Some(e) = self.decoder.push(&[b]).into_iter().next() {
                    match e {
                        Event::Frame(f) => return Some(f),
                        other => panic!("the board sent a damaged frame: {other:?}"),
                    }
                }
            }
        }
        None
    }

    /// One request; panics unless the reply is the command's (not a NAK).
    fn request(&mut self, cmd: Command, payload: &[u8], reply_bytes: usize) -> Vec<u8> {
        self.seq = self.seq.wrapping_add(1);
        let f = self.send(cmd as u8, payload, reply_bytes);
        assert_eq!(f.cmd, cmd as u8 | 0x80, "{cmd:?} got {f:?}");
        f.payload
    }

    fn send(&mut self, cmd: u8, payload: &[u8], reply_bytes: usize) -> Frame {
        let bytes = Frame::new(cmd, self.seq, payload.to_vec())
            .encode()
            .unwrap();
        let f = self
            .exchange_raw(&bytes, reply_bytes)
            .unwrap_or_else(|| panic!("no reply to command {cmd:#x}"));
        assert_eq!(f.seq, self.seq);
        f
    }

    fn nak(&mut self, cmd: u8, payload: &[u8]) -> u8 {
        self.seq = self.seq.wrapping_add(1);
        let f = self.send(cmd, payload, 1);
        assert_eq!(f.cmd, NAK, "expected a NAK for {cmd:#x}, got {f:?}");
        f.payload[0]
    }

    fn load(&mut self, region: Region, address: u32, data: &[u8]) {
        for p in load_payloads(region, address, data) {
            assert!(self.request(Command::Load, &p, 0).is_empty());
        }
    }

    fn read(&mut self, region: Region, address: u32, len: u16) -> Vec<u8> {
        self.request(
            Command::Read,
            &read_payload(region, address, len),
            len as usize,
        )
    }

    /// RUN, then STATUS until done (running the clock meanwhile).
    fn run(&mut self) {
        self.request(Command::Run, &[], 0);
        loop {
            for _ in 0..20_000 {
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

fn mixed_plan(model: &Model) -> Plan {
    Plan::rotating(model, &[Scheme::ALUTNA, Scheme::LUTNA, Scheme::ALUTNA_C])
}

/// Loads `model` through LOAD frames, runs `images` and checks logits and counters.
fn run_over_uart(name: &str, images: &[usize], reset_mid_run: bool) {
    let model = model(name);
    let plan = mixed_plan(&model);
    let cfg = AccelConfig::new(P).unwrap();
    let program = compile(&cfg, &model, &plan).unwrap();
    let golden = Engine::new(&model, &plan).unwrap();
    let data = sample();
    let mut host = Host::new();
    let id = Identity::from_bytes(&host.request(Command::Identify, &[], 18)).unwrap();
    assert_eq!(id, identity());
    host.load(Region::Params, 0, &program.param_bytes());
    // The program reads back as loaded (first and last piece).
    let bytes = program.param_bytes();
    assert_eq!(host.read(Region::Params, 0, 64), bytes[..64]);
    let tail = bytes.len() as u32 - 100;
    assert_eq!(host.read(Region::Params, tail, 100), bytes[tail as usize..]);
    let (model_layers, model_total) = program.cycle_model();
    for &i in images {
        let (address, image) = program.places[0].linear(&cfg, data.image(i));
        let t0 = host.cycles;
        for p in load_payloads(Region::Activations, address, &image) {
            // LOAD_IMAGE is LOAD into activation memory without the region byte.
            host.request(Command::LoadImage, &p[1..], 0);
        }
        let load_cycles = host.cycles - t0;
        host.run();
        let raw = host.request(Command::ReadLogits, &[], 40);
        let logits: Vec<i32> = raw
            .chunks(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(logits, golden.run(data.image(i)), "{name} image {i}");
        let layers = program.descriptors();
        let counters =
            Counters::from_bytes(&host.request(Command::ReadCounters, &[], 5 + 8 * layers))
                .unwrap();
        assert_eq!(counters.layers.len(), layers);
        for (k, (&(c, iss), m)) in counters.layers.iter().zip(&model_layers).enumerate() {
            assert_eq!(iss as u64, m.issues, "layer {k} issue cycles");
            assert!(
                (c as f64 / m.cycles as f64 - 1.0).abs() < 0.02,
                "layer {k}: counter {c}, model {}",
                m.cycles
            );
        }
        // Lane utilization on the conv layers, from the counters read over the link.
        let macs: u64 = model
            .layer_stats()
            .iter()
            .filter(|l| l.kind == "conv")
            .map(|l| l.macs_pruned)
            .sum();
        let conv_cycles: u64 = program
            .steps
            .iter()
            .filter(|s| !matches!(s, Step::Concat))
            .zip(&counters.layers)
            .filter(|(s, _)| matches!(s, Step::Conv(j) if j.config.out_kind != TensorKind::Logits))
            .map(|(_, c)| c.0 as u64)
            .sum();
        let utilization = macs as f64 / (P as u64 * conv_cycles) as f64;
        println!(
            "{name} image {i}: logits match; run {} cycles (model {model_total}), image load \
             {load_cycles} cycles over the UART; conv lane utilization {:.1} %",
            counters.run_cycles,
            100.0 * utilization
        );
        if name.starts_with("icebreaker") {
            assert!(utilization >= 0.70, "conv lane utilization {utilization}");
        }
    }
    if reset_mid_run {
        // RESET in the middle of a run: the board stops and says idle (not done), refuses
        // nothing afterwards, and the next run (image loaded again: the run may have
        // overwritten it) is right again.
        let i = images[0];
        let (address, image) = program.places[0].linear(&cfg, data.image(i));
        for p in load_payloads(Region::Activations, address, &image) {
            host.request(Command::LoadImage, &p[1..], 0);
        }
        host.request(Command::Run, &[], 0);
        for _ in 0..30_000 {
            host.step();
        }
        let s = host.request(Command::Status, &[], 4);
        assert_eq!(s[0], RunState::Running as u8, "{s:?}");
        assert!(
            host.nak(Command::ReadLogits as u8, &[]) == NakReason::Busy as u8,
            "requests other than STATUS and RESET are refused while running"
        );
        host.request(Command::Reset, &[], 0);
        let s = host.request(Command::Status, &[], 4);
        assert_eq!(s[0], RunState::Idle as u8, "after RESET: {s:?}");
        assert!((s[1] as usize) < program.descriptors());
        for p in load_payloads(Region::Activations, address, &image) {
            host.request(Command::LoadImage, &p[1..], 0);
        }
        host.run();
        let raw = host.request(Command::ReadLogits, &[], 40);
        let logits: Vec<i32> = raw
            .chunks(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(logits, golden.run(data.image(i)), "after a reset");
    }
}

// One network over the UART in RustHDL (minutes per image): the command handler, the resident
// program, the counters and a reset mid-run. Residual networks through the same RTL are covered
// by `engine.rs` (resnet18 whole on the layer engine, resident) and, over the UART with the
// program streamed, by host/tests/cli.rs on the Verilator board (resnet18 and resnet34).
#[test]
fn icebreaker_model_runs_over_the_uart() {
    run_over_uart("icebreaker-w0.5.lutna", &[6], true);
}

#[test]
fn garbage_and_damaged_frames_neither_hang_nor_change_it() {
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
        // Let it all drain, plus a receiver timeout; whatever comes back must be well formed
        // NAKs (exchange_raw panics on a damaged frame).
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
    // Requests the board must refuse with "bad payload": out of region, odd parameter bytes,
    // a READ that is too long.
    let bad = NakReason::BadPayload as u8;
    assert_eq!(
        host.nak(
            Command::Load as u8,
            &load_payloads(Region::Params, 65534, &[1, 2, 3, 4]).remove(0)
        ),
        bad
    );
    assert_eq!(
        host.nak(
            Command::Load as u8,
            &load_payloads(Region::Params, 1, &[1, 2]).remove(0)
        ),
        bad
    );
    assert_eq!(host.nak(Command::Load as u8, &[7, 0, 0, 0, 0, 1]), bad);
    assert_eq!(
        host.nak(
            Command::Read as u8,
            &read_payload(Region::Activations, 0, 1025)
        ),
        bad
    );
    assert_eq!(host.nak(0x42, &[]), NakReason::UnknownCommand as u8);
    assert_eq!(host.read(Region::Params, 512, 200), probe);
}

#[test]
fn accelerator_verilog_is_accepted_by_yosys() {
    // Verilog generation rejects combinational loops and yosys rejects slices of expressions
    // and keywords used as names; both bit this design once.
    let uut = Accelerator::<P, RESIDENT_PARAM_BITS>::top(CPB as u16, RX_TIMEOUT_BYTES, identity());
    lutna_hw::sim::validate_with_yosys("accelerator", &rust_hdl::prelude::generate_verilog(&uut));
}

/// The accelerator as the board builds make it (program buffer, board receiver timeout) rides
/// over a USB-serial bridge's gap between the packets of one frame, and abandons the frame (NAK
/// "timeout") when the silence outlasts the timeout: the same rule as the probe design
/// (hw/tests/link_endpoint.rs).
#[test]
fn a_usb_packet_gap_inside_a_frame_is_ridden_over() {
    use lutna_hw::engine::BUFFER_PARAM_BITS;
    use lutna_hw::link::BOARD_RX_TIMEOUT_BYTES;
    use lutna_hw::sim::{identify_across_a_gap, BOARD_CLOCKS_PER_BIT, USB_PACKET_GAP_CLOCKS};
    let id = lutna_hw::top::board_identity(P as u8);
    let board = || {
        Accelerator::<P, BUFFER_PARAM_BITS>::top(
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
