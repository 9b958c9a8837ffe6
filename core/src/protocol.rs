//! The host link: frame format, CRC and command codes, defined once here and used by the host
//! (`lutna run`), the virtual board and the hardware generator (`lutna-hw`'s link blocks take
//! their constants from this module). docs/protocol.md describes every byte.
//!
//! A frame, host to board or board to host:
//!
//! ```text
//! 0xA5 0x5A | len (u16 LE) | cmd (u8) | seq (u8) | payload (len bytes) | crc (u16 LE)
//! ```
//!
//! `crc` is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no final
//! XOR) over `len`, `cmd`, `seq` and the payload. A receiver hunts for the start marker, so a
//! frame can start anywhere in a stream of garbage; a frame whose length exceeds
//! [`MAX_PAYLOAD`] or whose CRC fails is dropped and the hunt resumes at the byte after its first
//! marker byte.

use thiserror::Error;

/// The two start-marker bytes.
pub const SOF: [u8; 2] = [0xA5, 0x5A];
/// Largest payload a frame may carry (the board's receive buffer).
pub const MAX_PAYLOAD: usize = 1024;
/// Bytes around the payload: marker 2, length 2, command 1, sequence 1, CRC 2.
pub const OVERHEAD: usize = 8;
/// Protocol version reported by `IDENTIFY`; bumped on any incompatible change. Version 3:
/// region 0 holds the instruction stream of docs/engine.md (`lutna_core::isa`); version 2's
/// boards held layer descriptors and weights there, with the same frames and commands.
pub const VERSION: u8 = 3;
pub const CRC_POLY: u16 = 0x1021;
pub const CRC_INIT: u16 = 0xFFFF;

/// Request commands (host to board). A reply carries the request's command with
/// [`REPLY_FLAG`] set and the request's sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Command {
    /// Reply: protocol version, lanes, chunk bits, memory sizes (docs/protocol.md).
    Identify = 0x01,
    /// Reply: state, current layer, last error. Answered at any time, also while running.
    Status = 0x02,
    /// Payload: region (u8), address (u32 LE), bytes. Weights, LUT contents, layer program.
    Load = 0x03,
    /// Payload: image address (u32 LE), 3072 bytes CHW.
    LoadImage = 0x04,
    /// Start an inference. Payload: empty.
    Run = 0x05,
    /// Reply: the logits, 10 x i32 LE.
    ReadLogits = 0x06,
    /// Reply: performance counters (cycles per layer, lane-busy cycles, nonzero MACs).
    ReadCounters = 0x07,
    /// Payload: region (u8), address (u32 LE), length (u16 LE). Reply: the bytes (debug dumps).
    Read = 0x08,
    /// Return to the power-on state (memories keep their contents).
    Reset = 0x0F,
}

/// Memory regions of LOAD and READ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Region {
    /// Parameter memory: the layer program and the sparse weights, 16-bit words little-endian
    /// (byte address = 2 x word address). `lutna_core::accel::Program::params`.
    Params = 0,
    /// Activation memory as one byte space: byte `a` is bank `a % lanes`, word `a / lanes`
    /// (`lutna_core::accel::MapPlace`). Images go here; READ takes per-layer dumps from here.
    Activations = 1,
}

/// Bytes of a LOAD / LOAD_IMAGE / READ request before the data: region u8 (LOAD and READ only)
/// and address u32.
pub const ADDRESS_BYTES: usize = 4;

/// The STATUS reply's `state` byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RunState {
    Idle = 0,
    Running = 1,
    Done = 2,
}

/// The LOAD request payloads that write `data` at byte `address` of `region`, as few frames as
/// the payload limit allows (parameter pieces stay whole 16-bit words).
pub fn load_payloads(region: Region, address: u32, data: &[u8]) -> Vec<Vec<u8>> {
    let room = (MAX_PAYLOAD - 1 - ADDRESS_BYTES) & !1;
    data.chunks(room)
        .enumerate()
        .map(|(i, piece)| {
            let mut p = Vec::with_capacity(1 + ADDRESS_BYTES + piece.len());
            p.push(region as u8);
            p.extend_from_slice(&(address + (i * room) as u32).to_le_bytes());
            p.extend_from_slice(piece);
            p
        })
        .collect()
}

/// The READ request payload for `length` bytes at `address` of `region`.
pub fn read_payload(region: Region, address: u32, length: u16) -> Vec<u8> {
    let mut p = vec![region as u8];
    p.extend_from_slice(&address.to_le_bytes());
    p.extend_from_slice(&length.to_le_bytes());
    p
}

/// The READ_COUNTERS reply: cycles of the last run, then per layer (cycles, issue cycles).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    pub run_cycles: u32,
    pub layers: Vec<(u32, u32)>,
}

impl Counters {
    pub fn from_bytes(b: &[u8]) -> Option<Counters> {
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        if b.len() < 5 || b.len() != 5 + 8 * b[4] as usize {
            return None;
        }
        Some(Counters {
            run_cycles: u32_at(0),
            layers: (0..b[4] as usize)
                .map(|k| (u32_at(5 + 8 * k), u32_at(9 + 8 * k)))
                .collect(),
        })
    }
}

/// Set in the command byte of every reply.
pub const REPLY_FLAG: u8 = 0x80;
/// The command byte of a negative acknowledgement: the board received a frame it could not
/// accept (bad CRC, oversize, unknown command). Payload: one [`NakReason`] byte.
pub const NAK: u8 = 0xFF;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum NakReason {
    BadCrc = 1,
    TooLong = 2,
    UnknownCommand = 3,
    BadPayload = 4,
    Busy = 5,
    /// A command of the protocol this bitstream does not implement (yet).
    Unsupported = 6,
    /// The frame stopped arriving after its header (a byte was lost): abandoned.
    Timeout = 7,
}

impl NakReason {
    pub const ALL: [NakReason; 7] = [
        NakReason::BadCrc,
        NakReason::TooLong,
        NakReason::UnknownCommand,
        NakReason::BadPayload,
        NakReason::Busy,
        NakReason::Unsupported,
        NakReason::Timeout,
    ];

    /// The reason a NAK's payload byte names, if it names one.
    pub fn from_byte(b: u8) -> Option<NakReason> {
        NakReason::ALL.into_iter().find(|r| *r as u8 == b)
    }

    /// What the board is saying, in words, for error messages.
    pub fn meaning(self) -> &'static str {
        match self {
            NakReason::BadCrc => "the frame's CRC was wrong",
            NakReason::TooLong => "the frame's length exceeds the board's largest payload",
            NakReason::UnknownCommand => "the board knows no such command",
            NakReason::BadPayload => {
                "the payload does not fit the command, or its addresses leave the memory region"
            }
            NakReason::Busy => "the board is running a program and serves only STATUS and RESET",
            NakReason::Unsupported => "the board's bitstream does not implement this command",
            NakReason::Timeout => "the frame stopped arriving after its header",
        }
    }
}

impl std::fmt::Display for NakReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NAK {} ({:?}: {})", *self as u8, self, self.meaning())
    }
}

/// The IDENTIFY reply: what the bitstream is, so the host can refuse a mismatched model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub version: u8,
    pub lanes: u8,
    pub chunk_bits: u8,
    /// Bit 0 LUT-NA, bit 1 A-LUT-NA truncating, bit 2 A-LUT-NA centred.
    pub modes: u8,
    pub spram_bytes: u32,
    pub bram_bytes: u32,
    pub clock_hz: u32,
    pub max_payload: u16,
    /// 16-bit words of parameter memory: what one program (or one streamed segment) may hold.
    pub param_words: u32,
    /// Bytes of activation memory (all banks together).
    pub activation_bytes: u32,
}

impl Identity {
    pub const LEN: usize = 26;

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![self.version, self.lanes, self.chunk_bits, self.modes];
        b.extend(self.spram_bytes.to_le_bytes());
        b.extend(self.bram_bytes.to_le_bytes());
        b.extend(self.clock_hz.to_le_bytes());
        b.extend(self.max_payload.to_le_bytes());
        b.extend(self.param_words.to_le_bytes());
        b.extend(self.activation_bytes.to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8]) -> Option<Identity> {
        if b.len() != Self::LEN {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(Identity {
            version: b[0],
            lanes: b[1],
            chunk_bits: b[2],
            modes: b[3],
            spram_bytes: u32_at(4),
            bram_bytes: u32_at(8),
            clock_hz: u32_at(12),
            max_payload: u16::from_le_bytes([b[16], b[17]]),
            param_words: u32_at(18),
            activation_bytes: u32_at(22),
        })
    }
}

#[cfg(test)]
impl Identity {
    /// An 8-lane board build's identity, for tests.
    pub(crate) fn example() -> Identity {
        Identity {
            version: VERSION,
            lanes: 8,
            chunk_bits: 4,
            modes: 7,
            spram_bytes: 131072,
            bram_bytes: 15360,
            clock_hz: 24_000_000,
            max_payload: MAX_PAYLOAD as u16,
            param_words: crate::isa::shape::PROGRAM_WORDS as u32,
            activation_bytes: crate::accel::BOARD_ACTIVATION_BYTES as u32,
        }
    }
}

impl Command {
    pub const ALL: [Command; 9] = [
        Command::Identify,
        Command::Status,
        Command::Load,
        Command::LoadImage,
        Command::Run,
        Command::ReadLogits,
        Command::ReadCounters,
        Command::Read,
        Command::Reset,
    ];

    pub fn from_byte(b: u8) -> Option<Command> {
        Command::ALL.into_iter().find(|c| *c as u8 == b)
    }
}

/// CRC-16/CCITT-FALSE, one byte at a time (the hardware does the same eight steps per byte).
pub fn crc16_update(mut crc: u16, byte: u8) -> u16 {
    crc ^= (byte as u16) << 8;
    for _ in 0..8 {
        crc = if crc & 0x8000 != 0 {
            (crc << 1) ^ CRC_POLY
        } else {
            crc << 1
        };
    }
    crc
}

pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(CRC_INIT, |c, &b| crc16_update(c, b))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub cmd: u8,
    pub seq: u8,
    pub payload: Vec<u8>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("payload of {0} bytes exceeds the {MAX_PAYLOAD}-byte frame limit")]
    TooLong(usize),
}

impl Frame {
    pub fn new(cmd: u8, seq: u8, payload: Vec<u8>) -> Frame {
        Frame { cmd, seq, payload }
    }

    /// The frame's bytes on the line.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        if self.payload.len() > MAX_PAYLOAD {
            return Err(FrameError::TooLong(self.payload.len()));
        }
        let mut out = Vec::with_capacity(self.payload.len() + OVERHEAD);
        out.extend_from_slice(&SOF);
        out.extend_from_slice(&(self.payload.len() as u16).to_le_bytes());
        out.push(self.cmd);
        out.push(self.seq);
        out.extend_from_slice(&self.payload);
        let crc = crc16(&out[2..]);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }
}

/// What the decoder made of the bytes fed so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Frame(Frame),
    /// A header was read but the frame was rejected; the hunt for the next marker resumed.
    /// `seq` and `cmd` are as received (they may be damaged).
    Rejected {
        cmd: u8,
        seq: u8,
        reason: NakReason,
    },
}

/// A byte-at-a-time frame decoder with resynchronization; the host's and the virtual board's
/// receive side, and the reference the hardware decoder is tested against.
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Bytes held that have not yet made a frame (a partial frame or garbage being skipped).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Feeds bytes; returns every frame completed (or rejected) by them, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.buf.extend_from_slice(bytes);
        let mut events = vec![];
        loop {
            // Hunt: drop bytes until the buffer starts with the marker (or a lone first byte).
            match self.buf.windows(2).position(|w| w == SOF) {
                Some(p) => {
                    self.buf.drain(..p);
                }
                None => {
                    let keep = usize::from(self.buf.last() == Some(&SOF[0]));
                    let n = self.buf.len() - keep;
                    self.buf.drain(..n);
                    return events;
                }
            }
            if self.buf.len() < 6 {
                return events;
            }
            let len = u16::from_le_bytes([self.buf[2], self.buf[3]]) as usize;
            let (cmd, seq) = (self.buf[4], self.buf[5]);
            if len > MAX_PAYLOAD {
                events.push(Event::Rejected {
                    cmd,
                    seq,
                    reason: NakReason::TooLong,
                });
                self.buf.drain(..1);
                continue;
            }
            if self.buf.len() < len + OVERHEAD {
                return events;
            }
            let body = &self.buf[2..6 + len];
            let crc = u16::from_le_bytes([self.buf[6 + len], self.buf[7 + len]]);
            if crc16(body) == crc {
                events.push(Event::Frame(Frame::new(
                    cmd,
                    seq,
                    self.buf[6..6 + len].to_vec(),
                )));
                self.buf.drain(..len + OVERHEAD);
            } else {
                events.push(Event::Rejected {
                    cmd,
                    seq,
                    reason: NakReason::BadCrc,
                });
                self.buf.drain(..1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any byte stream: the decoder never panics, every frame it accepts is a well-formed frame
    /// that stands in the input byte for byte (so its CRC is the one sent), and every intact
    /// frame put in the stream is accepted, in order, whatever garbage, damaged frames (a byte
    /// flipped), truncated frames and false markers stand between them and however the bytes
    /// are cut into pushes.
    #[test]
    fn the_decoder_accepts_exactly_the_intact_frames_of_any_stream() {
        fn below(rng: &mut crate::XorShift, n: u64) -> u64 {
            rng.next_u64() % n
        }
        let mut rng = crate::XorShift(0x9e37_79b9_7f4a_7c15);
        for round in 0..200 {
            let mut input = Vec::new();
            let mut sent = Vec::new();
            for _ in 0..below(&mut rng, 12) + 1 {
                let len = match below(&mut rng, 4) {
                    0 => 0,
                    1 => below(&mut rng, 8) as usize,
                    2 => below(&mut rng, 300) as usize,
                    _ => MAX_PAYLOAD - below(&mut rng, 4) as usize,
                };
                let frame = Frame::new(
                    rng.next_u64() as u8,
                    rng.next_u64() as u8,
                    (0..len).map(|_| rng.next_u64() as u8).collect(),
                );
                let bytes = frame.encode().unwrap();
                match below(&mut rng, 5) {
                    // Garbage, its markers more frequent than chance.
                    0 => input.extend((0..below(&mut rng, 80)).map(|_| match below(&mut rng, 6) {
                        0 => SOF[0],
                        1 => SOF[1],
                        _ => rng.next_u64() as u8,
                    })),
                    // A damaged copy: one bit flipped after the marker.
                    1 => {
                        let mut bad = bytes.clone();
                        let k = 2 + below(&mut rng, bad.len() as u64 - 2) as usize;
                        bad[k] ^= 1 << below(&mut rng, 8);
                        input.extend(bad);
                    }
                    // A truncated copy.
                    2 => input.extend(&bytes[..below(&mut rng, bytes.len() as u64) as usize]),
                    _ => {}
                }
                input.extend(&bytes);
                sent.push(frame);
            }
            // Enough silence for any false header still waiting for its bytes to give up.
            input.extend(std::iter::repeat_n(0u8, MAX_PAYLOAD + OVERHEAD));
            let mut decoder = Decoder::new();
            let mut got = Vec::new();
            let mut at = 0;
            while at < input.len() {
                let n = (1 + below(&mut rng, 64) as usize).min(input.len() - at);
                for e in decoder.push(&input[at..at + n]) {
                    if let Event::Frame(f) = e {
                        got.push(f);
                    }
                }
                at += n;
            }
            for f in &got {
                let bytes = f.encode().unwrap();
                assert!(
                    input.windows(bytes.len()).any(|w| w == bytes),
                    "round {round}: accepted a frame that is not in the input: {f:?}"
                );
            }
            // The frames sent, in order, are among those accepted (a damaged copy whose flip
            // still makes a valid frame would be accepted too, and is in the input).
            let mut rest = got.iter();
            for f in &sent {
                assert!(
                    rest.any(|g| g == f),
                    "round {round}: the intact frame {:?} was not accepted",
                    (f.cmd, f.seq, f.payload.len())
                );
            }
        }
    }

    #[test]
    fn every_nak_reason_is_named_by_its_byte_and_only_those() {
        for r in NakReason::ALL {
            assert_eq!(NakReason::from_byte(r as u8), Some(r));
            assert!(r.to_string().starts_with(&format!("NAK {} (", r as u8)));
        }
        let named = (0..=255u8)
            .filter(|&b| NakReason::from_byte(b).is_some())
            .count();
        assert_eq!(named, NakReason::ALL.len());
    }

    #[test]
    fn identity_round_trips() {
        let id = Identity::example();
        let b = id.to_bytes();
        assert_eq!(b.len(), Identity::LEN);
        assert_eq!(Identity::from_bytes(&b), Some(id));
        assert_eq!(Identity::from_bytes(&b[1..]), None);
    }

    #[test]
    fn crc_matches_the_published_check_value() {
        // CRC-16/CCITT-FALSE of "123456789" is 0x29B1 (the catalogue's check value).
        assert_eq!(crc16(b"123456789"), 0x29B1);
        assert_eq!(crc16(b""), CRC_INIT);
    }

    #[test]
    fn frames_survive_garbage_splits_and_damage() {
        let frames: Vec<Frame> = (0..50u8)
            .map(|i| {
                Frame::new(
                    Command::ALL[i as usize % 9] as u8,
                    i,
                    (0..i as usize * 7).map(|b| b as u8).collect(),
                )
            })
            .collect();
        let mut line = vec![0x00, 0xA5, 0xA5, 0x11, 0x5A];
        for f in &frames {
            line.extend(f.encode().unwrap());
            line.extend([0xA5, 0x13, 0x37]);
        }
        // Fed in ragged pieces, every frame comes out whole and in order.
        let mut d = Decoder::new();
        let mut got = vec![];
        for chunk in line.chunks(13) {
            for e in d.push(chunk) {
                if let Event::Frame(f) = e {
                    got.push(f);
                }
            }
        }
        assert_eq!(got, frames);
        // One flipped bit in a frame rejects that frame only.
        let mut bad = frames[3].encode().unwrap();
        bad[9] ^= 0x10;
        let mut stream = bad.clone();
        stream.extend(frames[4].encode().unwrap());
        let ev = Decoder::new().push(&stream);
        assert!(matches!(
            ev[0],
            Event::Rejected {
                reason: NakReason::BadCrc,
                ..
            }
        ));
        assert_eq!(ev.last(), Some(&Event::Frame(frames[4].clone())));
        // An absurd length is rejected without waiting for a kilobyte that never comes.
        let mut stream = vec![0xA5, 0x5A, 0xFF, 0xFF, 1, 2];
        stream.extend(frames[5].encode().unwrap());
        let ev = Decoder::new().push(&stream);
        assert!(matches!(
            ev[0],
            Event::Rejected {
                reason: NakReason::TooLong,
                ..
            }
        ));
        assert_eq!(ev.last(), Some(&Event::Frame(frames[5].clone())));
        assert!(Frame::new(1, 0, vec![0; MAX_PAYLOAD + 1]).encode().is_err());
    }
}
