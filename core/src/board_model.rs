//! The board's side of the link as docs/protocol.md specifies it, written from that page as a
//! plain state machine: what arrives (an intact request, or a frame the receiver rejects), and
//! whether a program is running, in; the one reply frame the board must send, out. It keeps
//! what the page says the board remembers: the last request served (a repeat of it is answered,
//! not executed again), whether a run finished since the last RUN, the records taken since
//! LOAD_IMAGE, and the bytes loaded into each region (so a READ's reply is known).
//!
//! The conformance test (`tests/tests/link_conformance.rs`) drives the RTL with long seeded
//! sequences and checks every reply against this model; when the page changes, this changes
//! with it. What a program computes is not the link's business: a harness that runs one tells
//! the model what it wrote ([`BoardModel::forget`]), how many records it took
//! ([`BoardModel::took_records`]) and when it finished ([`BoardModel::run_finished`]).

use crate::protocol::{
    Command, Frame, Identity, NakReason, Region, RunState, ADDRESS_BYTES, MAX_PAYLOAD, NAK,
    REPLY_FLAG,
};

/// What reaches the board's receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// A frame whose CRC matches.
    Intact(Frame),
    /// A complete frame whose CRC does not match; `seq` as received.
    BadCrc { seq: u8 },
    /// A header announcing more than [`MAX_PAYLOAD`] bytes (rejected once its `seq` is in).
    TooLong { seq: u8 },
    /// A frame that stopped arriving after its `seq` byte, followed by the board's silence
    /// timeout.
    Abandoned { seq: u8 },
}

/// A reply frame as the model predicts it: `None` bytes are the ones the page leaves to the
/// board (memory never written, counters' cycle counts, logits a program computed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub cmd: u8,
    pub seq: u8,
    pub payload: Vec<Option<u8>>,
}

impl Expected {
    fn exact(cmd: u8, seq: u8, payload: Vec<u8>) -> Expected {
        Expected {
            cmd,
            seq,
            payload: payload.into_iter().map(Some).collect(),
        }
    }

    fn nak(seq: u8, reason: NakReason) -> Expected {
        Expected::exact(NAK, seq, vec![reason as u8])
    }

    /// True when `frame` is this reply: same command, seq and length, and every known byte.
    pub fn matches(&self, frame: &Frame) -> bool {
        frame.cmd == self.cmd
            && frame.seq == self.seq
            && frame.payload.len() == self.payload.len()
            && self
                .payload
                .iter()
                .zip(&frame.payload)
                .all(|(want, got)| want.is_none_or(|w| w == *got))
    }
}

/// What a served request does to the program, for the harness that steps the real board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    /// The program starts at word 0.
    Run,
    /// A running program is stopped.
    Stop,
}

/// The board's link state (docs/protocol.md, "Requests and replies" and "Commands").
#[derive(Clone, Debug)]
pub struct BoardModel {
    identity: Identity,
    program: Vec<Option<u8>>,
    activations: Vec<Option<u8>>,
    /// Command, seq and payload length of the last request served (a NAK serves nothing).
    last: Option<(u8, u8, usize)>,
    /// A run finished since the last RUN or RESET.
    done: bool,
    records: u16,
}

impl BoardModel {
    /// A board just powered on: its memories hold nothing known.
    pub fn new(identity: Identity) -> BoardModel {
        BoardModel {
            program: vec![None; 2 * identity.param_words as usize],
            activations: vec![None; identity.activation_bytes as usize],
            identity,
            last: None,
            done: false,
            records: 0,
        }
    }

    /// The one reply to `arrival`, with a program running (`busy`) or not, and what serving it
    /// does to the program.
    pub fn answer(&mut self, arrival: &Arrival, busy: bool) -> (Expected, Effect) {
        let frame = match arrival {
            // The receiver's rejections never reach the command handler.
            Arrival::BadCrc { seq } => {
                return (Expected::nak(*seq, NakReason::BadCrc), Effect::None)
            }
            Arrival::TooLong { seq } => {
                return (Expected::nak(*seq, NakReason::TooLong), Effect::None)
            }
            Arrival::Abandoned { seq } => {
                return (Expected::nak(*seq, NakReason::Timeout), Effect::None)
            }
            Arrival::Intact(frame) => frame,
        };
        let (expected, effect) = self.serve(frame, busy);
        if expected.cmd != NAK {
            self.last = Some((frame.cmd, frame.seq, frame.payload.len()));
        }
        (expected, effect)
    }

    fn serve(&mut self, frame: &Frame, busy: bool) -> (Expected, Effect) {
        let repeated = self.last == Some((frame.cmd, frame.seq, frame.payload.len()));
        let seq = frame.seq;
        let reply = |payload: Vec<u8>| Expected::exact(frame.cmd | REPLY_FLAG, seq, payload);
        let nak = |reason| (Expected::nak(seq, reason), Effect::None);
        let command = Command::from_byte(frame.cmd);
        let empty = frame.payload.is_empty();
        use Command::*;
        // Served at any time: IDENTIFY, STATUS, RESET (their payload is empty or NAK 4).
        if matches!(command, Some(Identify | Status | Reset)) && !empty {
            return nak(NakReason::BadPayload);
        }
        match command {
            Some(Identify) => return (reply(self.identity.to_bytes()), Effect::None),
            Some(Status) => {
                let state = if busy {
                    RunState::Running
                } else if self.done {
                    RunState::Done
                } else {
                    RunState::Idle
                };
                let [lo, hi] = self.records.to_le_bytes();
                return (reply(vec![state as u8, lo, hi, 0]), Effect::None);
            }
            Some(Reset) if repeated => return (reply(vec![]), Effect::None),
            Some(Reset) => {
                self.done = false;
                return (
                    reply(vec![]),
                    if busy { Effect::Stop } else { Effect::None },
                );
            }
            // A repeat of a request that acts is answered, not executed again, also while the
            // RUN it repeats is running.
            Some(Run | Load | LoadImage) if repeated => return (reply(vec![]), Effect::None),
            _ => {}
        }
        if busy {
            return nak(NakReason::Busy);
        }
        match command {
            None => nak(NakReason::UnknownCommand),
            Some(Run | ReadLogits | ReadCounters) if !empty => nak(NakReason::BadPayload),
            Some(Run) => {
                self.done = false;
                (reply(vec![]), Effect::Run)
            }
            Some(ReadLogits) => (
                Expected {
                    cmd: frame.cmd | REPLY_FLAG,
                    seq,
                    payload: vec![None; 40],
                },
                Effect::None,
            ),
            Some(ReadCounters) => {
                let mut payload = vec![None; 5 + 8 * self.records as usize];
                payload[4] = Some(self.records as u8);
                (
                    Expected {
                        cmd: frame.cmd | REPLY_FLAG,
                        seq,
                        payload,
                    },
                    Effect::None,
                )
            }
            Some(Load | LoadImage) => match self.load(command == Some(LoadImage), &frame.payload) {
                Some(()) => (reply(vec![]), Effect::None),
                None => nak(NakReason::BadPayload),
            },
            Some(Read) => match self.read(&frame.payload) {
                Some(bytes) => (
                    Expected {
                        cmd: frame.cmd | REPLY_FLAG,
                        seq,
                        payload: bytes,
                    },
                    Effect::None,
                ),
                None => nak(NakReason::BadPayload),
            },
            Some(Identify | Status | Reset) => unreachable!("served above"),
        }
    }

    /// A LOAD (region, address, data) or LOAD_IMAGE (address, data) payload; None when it
    /// does not fit its region.
    fn load(&mut self, image: bool, payload: &[u8]) -> Option<()> {
        let (region, rest) = if image {
            (Region::Activations as u8, payload)
        } else {
            let (region, rest) = payload.split_first()?;
            (*region, rest)
        };
        let address = u32::from_le_bytes(rest.get(..ADDRESS_BYTES)?.try_into().ok()?) as usize;
        let data = &rest[ADDRESS_BYTES..];
        let memory = self.region(region)?;
        if region == Region::Params as u8
            && !(address.is_multiple_of(2) && data.len().is_multiple_of(2))
        {
            return None;
        }
        let end = address.checked_add(data.len())?;
        if end > memory.len() {
            return None;
        }
        for (m, &b) in memory[address..end].iter_mut().zip(data) {
            *m = Some(b);
        }
        if image {
            // An image's segments count from its upload.
            self.records = 0;
        }
        Some(())
    }

    /// A READ payload (region, address, length: exactly 7 bytes); None when it does not fit.
    fn read(&mut self, payload: &[u8]) -> Option<Vec<Option<u8>>> {
        if payload.len() != 1 + ADDRESS_BYTES + 2 {
            return None;
        }
        let address = u32::from_le_bytes(payload[1..5].try_into().ok()?) as usize;
        let length = u16::from_le_bytes(payload[5..7].try_into().ok()?) as usize;
        if length > MAX_PAYLOAD {
            return None;
        }
        let memory = self.region(payload[0])?;
        let end = address.checked_add(length)?;
        if end > memory.len() {
            return None;
        }
        Some(memory[address..end].to_vec())
    }

    fn region(&mut self, region: u8) -> Option<&mut Vec<Option<u8>>> {
        match region {
            r if r == Region::Params as u8 => Some(&mut self.program),
            r if r == Region::Activations as u8 => Some(&mut self.activations),
            _ => None,
        }
    }

    /// A run the harness started has finished by itself (not stopped by RESET).
    pub fn run_finished(&mut self) {
        self.done = true;
    }

    /// A running program took `records` records (`RECORD`).
    pub fn took_records(&mut self, records: u16) {
        self.records += records;
    }

    /// Activation bytes a program may have written: their contents are the board's.
    pub fn forget(&mut self, activations: std::ops::Range<usize>) {
        for b in &mut self.activations[activations] {
            *b = None;
        }
    }

    /// What the model holds of the activation memory (None: not known).
    pub fn activation(&self, address: usize) -> Option<u8> {
        self.activations[address]
    }
}
