//! The board's link endpoint, driven bit by bit over its UART pins by a software host: requests
//! encoded by lutna-core get the replies the protocol specifies (docs/protocol.md), damaged and
//! unknown requests get NAKs with the right reason, and garbage on the line does not stop it.

use lutna_core::protocol::{Command, Decoder, Event, Frame, Identity, NakReason, NAK};
use lutna_hw::link::LinkEndpoint;
use lutna_hw::sim::{tick, validate_with_yosys, SoftUartRx, SoftUartTx};

const CPB: usize = 4;
/// A short receiver timeout (byte times), so truncated frames are abandoned quickly.
const RX_TIMEOUT_BYTES: u32 = 4;

fn identity() -> Identity {
    Identity {
        version: lutna_core::protocol::VERSION,
        lanes: 8,
        chunk_bits: 4,
        modes: 7,
        spram_bytes: 128 * 1024,
        bram_bytes: 30 * 512,
        clock_hz: 24_000_000,
        max_payload: 1024,
        param_words: 1024,
        activation_bytes: 65536,
    }
}

struct Host {
    board: LinkEndpoint,
    tx: SoftUartTx,
    rx: SoftUartRx,
    decoder: Decoder,
}

impl Host {
    fn new() -> Host {
        Host {
            board: LinkEndpoint::top(CPB as u16, RX_TIMEOUT_BYTES, identity()),
            tx: SoftUartTx::new(CPB),
            rx: SoftUartRx::new(CPB),
            decoder: Decoder::new(),
        }
    }

    /// Sends `bytes` and runs the board until one reply frame arrives (or a bound passes).
    fn exchange(&mut self, bytes: &[u8]) -> Option<Frame> {
        self.tx.push(bytes);
        for _ in 0..(bytes.len() + 40) * 10 * CPB + 2000 {
            self.board.uart_rx.next = self.tx.next_level();
            tick(&mut self.board, |b| &mut b.clock);
            if let Some(b) = self.rx.sample(self.board.uart_tx.val()) {
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
}

#[test]
fn endpoint_answers_identify_status_and_naks() {
    let mut host = Host::new();
    let req = |cmd: u8, seq: u8, payload: Vec<u8>| Frame::new(cmd, seq, payload).encode().unwrap();

    let r = host
        .exchange(&req(Command::Identify as u8, 7, vec![]))
        .expect("no reply to IDENTIFY");
    assert_eq!((r.cmd, r.seq), (0x81, 7));
    assert_eq!(Identity::from_bytes(&r.payload), Some(identity()));

    let r = host
        .exchange(&req(Command::Status as u8, 8, vec![]))
        .unwrap();
    assert_eq!((r.cmd, r.seq, r.payload), (0x82, 8, vec![0, 0, 0, 0]));

    let r = host
        .exchange(&req(Command::Load as u8, 9, vec![0, 0, 0, 0, 0, 42]))
        .unwrap();
    assert_eq!(
        (r.cmd, r.seq, r.payload),
        (NAK, 9, vec![NakReason::Unsupported as u8])
    );

    // A payload byte on a command that takes none: NAK 4, as on the accelerator.
    for (k, cmd) in [Command::Identify, Command::Status, Command::Reset]
        .into_iter()
        .enumerate()
    {
        let r = host
            .exchange(&req(cmd as u8, 20 + k as u8, vec![0]))
            .unwrap();
        assert_eq!(
            (r.cmd, r.seq, r.payload),
            (NAK, 20 + k as u8, vec![NakReason::BadPayload as u8])
        );
    }

    let r = host.exchange(&req(0x33, 10, vec![1, 2])).unwrap();
    assert_eq!(
        (r.cmd, r.seq, r.payload),
        (NAK, 10, vec![NakReason::UnknownCommand as u8])
    );

    // A flipped payload bit: NAK "bad CRC", then the retransmission is answered.
    let mut bad = req(Command::Identify as u8, 11, vec![5, 6, 7]);
    bad[7] ^= 0x04;
    let r = host.exchange(&bad).unwrap();
    assert_eq!(
        (r.cmd, r.seq, r.payload),
        (NAK, 11, vec![NakReason::BadCrc as u8])
    );

    // Garbage before a request does not matter.
    let mut line = vec![0x00, 0xA5, 0x13, 0xFF, 0x5A];
    line.extend(req(Command::Reset as u8, 12, vec![]));
    let r = host.exchange(&line).unwrap();
    assert_eq!((r.cmd, r.seq, r.payload.len()), (0x8F, 12, 0));

    let r = host
        .exchange(&req(Command::Identify as u8, 13, vec![]))
        .unwrap();
    assert_eq!((r.cmd, r.seq), (0x81, 13));
    assert!(host.tx.idle());
}

#[test]
fn endpoint_verilog_passes_yosys() {
    let v = rust_hdl::prelude::generate_verilog(&LinkEndpoint::top(
        CPB as u16,
        RX_TIMEOUT_BYTES,
        identity(),
    ));
    validate_with_yosys("lutna_link_endpoint", &v);
}

/// A USB-serial bridge delivers a frame in packets with gaps between them (0.5 ms is common).
/// The probe design, built with the board's receiver timeout, must ride over such a gap, and must
/// still abandon a frame (NAK "timeout") when the silence outlasts that timeout.
#[test]
fn a_usb_packet_gap_inside_a_frame_is_ridden_over() {
    use lutna_hw::link::BOARD_RX_TIMEOUT_BYTES;
    use lutna_hw::sim::{identify_across_a_gap, BOARD_CLOCKS_PER_BIT, USB_PACKET_GAP_CLOCKS};
    let board = || {
        LinkEndpoint::top(
            BOARD_CLOCKS_PER_BIT as u16,
            BOARD_RX_TIMEOUT_BYTES,
            identity(),
        )
    };
    let reply =
        identify_across_a_gap(&mut board(), USB_PACKET_GAP_CLOCKS).expect("a reply to IDENTIFY");
    assert_eq!(reply.cmd, Command::Identify as u8 | 0x80, "{reply:?}");
    assert_eq!(Identity::from_bytes(&reply.payload).unwrap(), identity());
    let past = 10 * BOARD_CLOCKS_PER_BIT * (BOARD_RX_TIMEOUT_BYTES as usize + 10);
    let reply = identify_across_a_gap(&mut board(), past).expect("a NAK for the abandoned frame");
    assert_eq!(
        (reply.cmd, reply.payload),
        (NAK, vec![NakReason::Timeout as u8])
    );
}
