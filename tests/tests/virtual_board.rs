//! The virtual board through a real pseudo-terminal and the host's serial client: the same code
//! path a physical iCEBreaker would take.

use lutna_core::protocol::{load_payloads, read_payload, Command, Decoder, Event, Frame, Region};
use lutna_link::Link;
use lutna_sim::{identity, Board, Faults, Simulator, VirtualBoard};
use std::time::{Duration, Instant};

#[test]
fn host_identifies_the_virtual_board_over_a_pty() {
    for sim in [Simulator::RustHdl, Simulator::best_available()] {
        identify_over_a_pty(sim);
    }
}

fn identify_over_a_pty(sim: Simulator) {
    let board = VirtualBoard::spawn_with(8, None, sim, None).unwrap();
    assert_eq!(board.simulator, sim);
    assert!(board.path.starts_with("/dev/"), "{}", board.path);
    let mut link = Link::open(&board.path, 3_000_000).unwrap();
    assert_eq!(link.identify().unwrap(), identity(8));
    assert_eq!(
        link.request(Command::Status, &[]).unwrap(),
        vec![0, 0, 0, 0]
    );
    // No retransmission count is asserted: the first request may time out once while the client
    // learns how slow the simulated board is (it then waits longer); the replies must be right.
    // A malformed request is refused with an error that names the reason, not retried forever.
    let err = link.request(Command::Read, &[1]).unwrap_err().to_string();
    assert!(
        err.contains("NAK 4 (BadPayload: the payload does not fit"),
        "{err}"
    );
    let s = board.stats();
    assert!(s.cycles > 0 && s.bytes_in > 0 && s.bytes_out > 0);
    eprintln!(
        "virtual board on {sim}: {:.0} simulated cycles/s",
        s.cycles_per_second()
    );
}

#[test]
fn faults_on_the_line_cost_retransmissions_not_results() {
    let board = VirtualBoard::spawn(
        8,
        Some(Faults {
            rate: 0.01,
            seed: 42,
            ..Faults::default()
        }),
    )
    .unwrap();
    let mut link = Link::open(&board.path, 3_000_000).unwrap();
    link.timeout = Duration::from_millis(300);
    link.tries = 20;
    for _ in 0..40 {
        assert_eq!(link.identify().unwrap(), identity(8));
    }
    assert!(board.stats().faults_injected > 0, "no fault was injected");
    assert!(
        link.stats.retransmissions > 0,
        "faults but no retransmission"
    );
}

#[test]
fn a_missing_port_and_a_silent_port_fail_clearly_and_quickly() {
    let err = Link::open("/dev/lutna-no-such-port", 115200)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
    // A pseudo-terminal with nobody behind it: the request must give up in bounded time.
    let (_master, slave) = serialport::TTYPort::pair().unwrap();
    let path = serialport::SerialPort::name(&slave).unwrap();
    let mut link = Link::open(&path, 115200).unwrap();
    link.timeout = Duration::from_millis(100);
    link.tries = 3;
    let t0 = Instant::now();
    let err = link.identify().unwrap_err().to_string();
    assert!(err.contains("no valid reply"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(3));
}

/// Sends `frame` to `board` and steps it until one frame comes back (None after `clocks`).
fn exchange(board: &mut Board, frame: &Frame, clocks: usize) -> Option<Frame> {
    let mut decoder = Decoder::new();
    board.receive(&frame.encode().unwrap());
    for _ in 0..clocks / 100 {
        if let Some(e) = decoder.push(&board.step(100).unwrap()).into_iter().next() {
            match e {
                Event::Frame(f) => return Some(f),
                other => panic!("the board sent a damaged frame: {other:?}"),
            }
        }
    }
    None
}

/// A complete request that reaches the board while it is still sending a long reply is dropped
/// (the host's retry gets its answer), and the reply goes out whole and unaltered, on both
/// simulators: the handler used to start on the new request and the rest of the reply's
/// payload came from the new reply's source, under a CRC that matched what was sent
/// (docs/protocol.md, "Requests during a reply").
#[test]
fn a_request_sent_during_a_long_reply_leaves_the_reply_intact() {
    let sims = if lutna_sim::verilated::verilator_installed() {
        vec![Simulator::RustHdl, Simulator::Verilator]
    } else {
        eprintln!(
            "NOTE: verilator not installed: the mid-reply request is checked on RustHDL only"
        );
        vec![Simulator::RustHdl]
    };
    let byte_clocks = 10 * lutna_sim::CLOCKS_PER_BIT;
    for sim in sims {
        let mut board = Board::with(8, None, sim, None).unwrap();
        let data: Vec<u8> = (0..256u32).map(|i| (i * 97 + 13) as u8).collect();
        let mut seq = 0u8;
        for p in load_payloads(Region::Activations, 0, &data) {
            seq += 1;
            let f = exchange(
                &mut board,
                &Frame::new(Command::Load as u8, seq, p),
                400 * byte_clocks,
            );
            assert_eq!(f.unwrap().cmd, Command::Load as u8 | 0x80);
        }
        for (k, cmd) in [Command::Identify, Command::Status, Command::Read]
            .into_iter()
            .enumerate()
        {
            seq = seq.wrapping_add(1);
            let read = Frame::new(
                Command::Read as u8,
                seq,
                read_payload(Region::Activations, 0, 256),
            );
            board.receive(&read.encode().unwrap());
            // Wait for the reply's first bytes, then send a whole request while the rest goes
            // out.
            let mut received = vec![];
            while received.len() < 12 + 20 * k {
                received.extend(board.step(byte_clocks).unwrap());
            }
            let intruder_payload = match cmd {
                Command::Read => read_payload(Region::Activations, 100, 16),
                _ => vec![],
            };
            let intruder = Frame::new(cmd as u8, seq.wrapping_add(1), intruder_payload.clone());
            board.receive(&intruder.encode().unwrap());
            // The reply's remaining bytes, then long enough for a reply to the intruder.
            received.extend(board.step((256 + 60) * byte_clocks).unwrap());
            let mut decoder = Decoder::new();
            let frames: Vec<Frame> = decoder
                .push(&received)
                .into_iter()
                .map(|e| match e {
                    Event::Frame(f) => f,
                    other => panic!("{sim}: the board sent a damaged frame: {other:?}"),
                })
                .collect();
            assert_eq!(
                frames.len(),
                1,
                "{sim}: {cmd:?} during the reply: {frames:?}"
            );
            assert_eq!(
                (frames[0].cmd, frames[0].seq),
                (Command::Read as u8 | 0x80, seq)
            );
            assert!(
                frames[0].payload == data,
                "{sim}: {cmd:?} sent during the reply altered it"
            );
            // The dropped request, sent again, is answered.
            seq = seq.wrapping_add(1);
            let f = exchange(
                &mut board,
                &Frame::new(cmd as u8, seq, intruder_payload),
                100 * byte_clocks,
            )
            .unwrap_or_else(|| panic!("{sim}: no reply to the retried {cmd:?}"));
            assert_eq!(f.cmd, cmd as u8 | 0x80, "{sim}: {f:?}");
        }
    }
}

/// A hostile line without a damaged byte: well-formed requests sent to the board while its long
/// replies go out (`Faults::intrusions`: LOADs of random bytes, which would change memory if
/// the board executed them), and a host that retransmits 1 ms after each request, before a
/// 1 KiB reply can have arrived. Every READ must still return exactly what was loaded.
#[test]
fn intruding_requests_and_early_retries_change_no_reply() {
    let board = VirtualBoard::spawn(
        8,
        Some(Faults {
            seed: 5,
            intrusions: 1.0,
            ..Faults::default()
        }),
    )
    .unwrap();
    let mut link = Link::open(&board.path, 3_000_000).unwrap();
    let data: Vec<u8> = (0..8192u32).map(|i| (i * 131 + 7) as u8).collect();
    link.load(Region::Activations, 0, &data, |_| {}).unwrap();
    link.fixed_wait = Some(Duration::from_millis(1));
    for k in 0..15 {
        let at = k * 512;
        let got = link.read(Region::Activations, at as u32, 1024).unwrap();
        assert_eq!(got, &data[at..at + 1024], "READ at {at}");
    }
    let s = board.stats();
    assert!(
        s.intrusions_sent >= 8,
        "only {} intrusions",
        s.intrusions_sent
    );
    assert!(
        link.stats.retransmissions > 0,
        "the 1 ms wait never ran out: {:?}",
        link.stats
    );
    eprintln!(
        "{} requests sent during replies, {} retransmissions",
        s.intrusions_sent, link.stats.retransmissions
    );
}

/// The host's link client against a board that answers with anything: garbage, replies with
/// another `seq` or to another command, its own reply with bytes damaged, NAKs with any
/// reason and `seq`, then (or not) the true reply. Whatever the stream, the client never
/// panics, never hangs past its tries, and never returns a payload but the true reply's: every
/// decoy carries a payload the true reply never has.
#[test]
fn the_link_client_accepts_only_the_true_reply_whatever_the_board_sends() {
    use lutna_core::protocol::{NAK, REPLY_FLAG};
    use lutna_core::XorShift;
    use serialport::SerialPort as _;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let (mut master, slave) = serialport::TTYPort::pair().unwrap();
    let path = serialport::SerialPort::name(&slave).unwrap();
    master.set_timeout(Duration::from_millis(5)).unwrap();
    let rounds = 300u64;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_fake = stop.clone();
    let fake = std::thread::spawn(move || {
        let _slave = slave;
        let mut rng = XorShift(0xF00D);
        let mut decoder = Decoder::new();
        let mut buf = [0u8; 2048];
        while !stop_fake.load(Ordering::Relaxed) {
            let n = master.read(&mut buf).unwrap_or(0);
            for ev in decoder.push(&buf[..n]) {
                let Event::Frame(req) = ev else { continue };
                let decoy = vec![0xDE; 1 + (rng.next_u64() % 8) as usize];
                let mut out = vec![];
                for _ in 0..rng.next_u64() % 6 {
                    let kind = rng.next_u64() % 6;
                    let mut f = match kind {
                        // A reply with a seq long past.
                        0 => Frame::new(
                            req.cmd | REPLY_FLAG,
                            req.seq.wrapping_sub(100),
                            decoy.clone(),
                        ),
                        // Another command's reply.
                        1 => Frame::new((req.cmd ^ 3) | REPLY_FLAG, req.seq, decoy.clone()),
                        // A NAK for someone else.
                        2 => Frame::new(NAK, req.seq.wrapping_sub(100), vec![rng.next_u64() as u8]),
                        // The request echoed back.
                        3 => Frame::new(req.cmd, req.seq, decoy.clone()),
                        // The true seq and command with a decoy payload: sent damaged.
                        _ => Frame::new(req.cmd | REPLY_FLAG, req.seq, decoy.clone()),
                    }
                    .encode()
                    .unwrap();
                    if kind >= 4 || rng.next_u64().is_multiple_of(3) {
                        // One bit from the command on: the CRC no longer matches.
                        let at = 4 + (rng.next_u64() as usize % (f.len() - 4));
                        f[at] ^= 1 << (rng.next_u64() % 8);
                    }
                    out.extend(f);
                    for _ in 0..rng.next_u64() % 5 {
                        out.push(rng.next_u64() as u8);
                    }
                }
                match rng.next_u64() % 4 {
                    // Silence: the client retries.
                    0 => {}
                    // A NAK that a retry can fix, or one it cannot.
                    1 => out.extend(
                        Frame::new(NAK, req.seq, vec![(1 + rng.next_u64() % 7) as u8])
                            .encode()
                            .unwrap(),
                    ),
                    // The true reply: the request's payload reversed (never all 0xDE).
                    _ => {
                        let mut p = req.payload.clone();
                        p.reverse();
                        p.push(0x11);
                        out.extend(
                            Frame::new(req.cmd | REPLY_FLAG, req.seq, p)
                                .encode()
                                .unwrap(),
                        )
                    }
                }
                let _ = master.write_all(&out);
            }
        }
    });
    let mut link = Link::open(&path, 3_000_000).unwrap();
    link.fixed_wait = Some(Duration::from_millis(20));
    link.tries = 3;
    let mut rng = lutna_core::XorShift(7);
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..rounds {
        let payload: Vec<u8> = (0..1 + rng.next_u64() % 6)
            .map(|_| rng.next_u64() as u8 & 0x7F)
            .collect();
        let cmd = [Command::Identify, Command::Status, Command::Read][rng.next_u64() as usize % 3];
        match link.request(cmd, &payload) {
            Ok(got) => {
                let mut want = payload.clone();
                want.reverse();
                want.push(0x11);
                assert_eq!(
                    got, want,
                    "the client accepted a reply that was not the board's"
                );
                ok += 1;
            }
            Err(_) => failed += 1,
        }
    }
    drop(link);
    stop.store(true, Ordering::Relaxed);
    fake.join().unwrap();
    eprintln!("{ok} requests answered, {failed} failed cleanly");
    assert!(
        ok > rounds / 2 && failed > 0,
        "{ok} answered, {failed} failed"
    );
}

#[test]
fn early_retries_do_not_give_up_on_a_board_slower_than_the_fixed_wait() {
    // A board that needs 150 ms before it answers (a simulated one on a busy machine), and a
    // host retrying 1 ms after each request: the host must keep retrying until the silence has
    // lasted as long as its default wait would have waited, not give up after `tries` early
    // retries (8 tries of about 1 ms each would be over in 10 ms).
    use lutna_core::protocol::REPLY_FLAG;
    use serialport::SerialPort as _;
    use std::io::{Read, Write};
    let (mut master, slave) = serialport::TTYPort::pair().unwrap();
    let path = serialport::SerialPort::name(&slave).unwrap();
    master.set_timeout(Duration::from_millis(5)).unwrap();
    let fake = std::thread::spawn(move || {
        let _slave = slave;
        let mut decoder = Decoder::new();
        let mut buf = [0u8; 2048];
        let mut first_heard: Option<Instant> = None;
        let mut last = None;
        loop {
            let n = master.read(&mut buf).unwrap_or(0);
            for ev in decoder.push(&buf[..n]) {
                if let Event::Frame(req) = ev {
                    first_heard.get_or_insert_with(Instant::now);
                    last = Some(req);
                }
            }
            if let (Some(t), Some(req)) = (first_heard, &last) {
                if t.elapsed() >= Duration::from_millis(150) {
                    let reply = Frame::new(req.cmd | REPLY_FLAG, req.seq, vec![0x42]);
                    master.write_all(&reply.encode().unwrap()).unwrap();
                    std::thread::sleep(Duration::from_millis(50));
                    return;
                }
            }
        }
    });
    let mut link = Link::open(&path, 3_000_000).unwrap();
    link.fixed_wait = Some(Duration::from_millis(1));
    let got = link.request(Command::Status, &[]);
    fake.join().unwrap();
    assert_eq!(got.unwrap(), vec![0x42]);
    assert!(link.stats.retransmissions > 8, "{:?}", link.stats);
}
