//! lutna-link is the host's end of the board link: requests with retransmission over any serial
//! port (a real iCEBreaker's FTDI or the virtual board's pseudo-terminal; this code cannot tell
//! them apart), and the traffic statistics of a run. The wire format itself (frames, commands,
//! NAK reasons) is `lutna_core::protocol`'s; nothing here simulates a board.

use anyhow::{anyhow, bail, Context, Result};
use lutna_core::protocol::{
    load_payloads, read_payload, Command, Counters, Decoder, Event, Frame, Identity, NakReason,
    Region, RunState, MAX_PAYLOAD, NAK, OVERHEAD, REPLY_FLAG,
};
use serialport::SerialPort;
use std::time::{Duration, Instant};

/// Link traffic, for the run report.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkStats {
    pub requests: u64,
    pub retransmissions: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub payload_sent: u64,
    pub payload_received: u64,
}

impl LinkStats {
    /// Payload bytes over frame bytes, both directions.
    pub fn efficiency(&self) -> f64 {
        (self.payload_sent + self.payload_received) as f64
            / (self.bytes_sent + self.bytes_received).max(1) as f64
    }
}

pub struct Link {
    port: Box<dyn SerialPort>,
    path: String,
    seq: u8,
    /// How long to wait for a reply before retransmitting (plus `per_byte` for every byte of
    /// the request and the largest reply), and how many tries in all.
    pub timeout: Duration,
    pub per_byte: Duration,
    /// When set, the wait for a reply after the request's own line time, whatever the reply's
    /// length (a wait shorter than a long reply's line time makes the host retransmit while
    /// the reply is still coming: the board drops such a request, and the reply, which carries
    /// the same `seq`, is still accepted).
    pub fixed_wait: Option<Duration>,
    pub tries: u32,
    pub stats: LinkStats,
    /// Data bytes per LOAD frame (adapts to the line, see [`Link::load`]).
    load_chunk: usize,
    /// LOAD frames in a row that passed without a retransmission.
    clean_loads: u32,
    /// True once a reply has shown how fast the board answers.
    paced: bool,
}

/// The most data one LOAD frame carries (an even number, for parameter words).
const LOAD_CHUNK_MAX: usize = (MAX_PAYLOAD - 1 - lutna_core::protocol::ADDRESS_BYTES) & !1;

impl Link {
    pub fn open(path: &str, baud: u32) -> Result<Link> {
        if !std::path::Path::new(path).exists() {
            bail!(
                "serial port {path} does not exist: check the board is plugged in (the iCEBreaker's \
                 UART is usually the second FTDI port, e.g. /dev/ttyUSB1), or start a virtual board \
                 with `lutna board --virtual` and use the path it prints"
            );
        }
        let port = serialport::new(path, baud)
            .timeout(Duration::from_millis(10))
            .open()
            .with_context(|| {
                format!("cannot open serial port {path} (is another program using it?)")
            })?;
        Ok(Link {
            port,
            path: path.to_string(),
            seq: 0,
            timeout: Duration::from_millis(500),
            // Ten bits per byte at the line rate, four times over.
            per_byte: Duration::from_nanos(40_000_000_000 / baud.max(1) as u64),
            fixed_wait: None,
            tries: 8,
            stats: LinkStats::default(),
            load_chunk: LOAD_CHUNK_MAX,
            clean_loads: 0,
            paced: false,
        })
    }

    /// Sends one request and returns the reply's payload, retransmitting on timeouts and on
    /// NAKs for damaged frames; fails with a clear error after `tries` attempts or on a NAK the
    /// host cannot fix by retrying.
    pub fn request(&mut self, cmd: Command, payload: &[u8]) -> Result<Vec<u8>> {
        self.request_sized(cmd, payload, 64)
    }

    /// As [`Link::request`], for a reply of up to `reply_bytes` payload bytes (sets the wait).
    pub fn request_sized(
        &mut self,
        cmd: Command,
        payload: &[u8],
        reply_bytes: usize,
    ) -> Result<Vec<u8>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = Frame::new(cmd as u8, seq, payload.to_vec()).encode()?;
        self.stats.requests += 1;
        let mut buf = [0u8; 4096];
        // Silence costs a try; a NAK for a damaged frame proves the board is there, so those
        // get a larger budget (a long frame on a noisy line is often hit more than once).
        // Tries that heard nothing, that were answered "damaged", and that timed out while the
        // board was sending (under a short `fixed_wait`, a reply to an earlier try still
        // coming): those last ones get a larger budget.
        let (mut timeouts, mut damaged, mut talking) = (0u32, 0u32, 0u32);
        let mut first = true;
        // A decoder per try, from that try on: a reply to an earlier try that was still coming
        // when a later one went out (the board drops a request that arrives during a reply)
        // carries the same `seq`, so it is the answer, and the decoder that saw it start reads
        // it. Each try starts a fresh one too: a false start marker in earlier noise would keep
        // an older decoder waiting for a long frame and swallow the replies after it.
        let mut decoders: Vec<Decoder> = Vec::new();
        // Under a fixed wait, silence is counted by time, not by tries: a try counts as
        // unanswered only once the line has been silent for as long as the default wait would
        // have waited, so retrying early never makes the host give up on a board sooner (a
        // simulated board slowed by a busy machine can take longer than the fixed wait just to
        // read a long request, and each early copy queues more for it to read).
        let mut silent_since = Instant::now();
        while timeouts < self.tries && damaged < 4 * self.tries && talking < 64 * self.tries {
            if !first {
                self.stats.retransmissions += 1;
            }
            first = false;
            decoders.push(Decoder::new());
            self.port
                .write_all(&bytes)
                .with_context(|| format!("cannot write to {}", self.path))?;
            self.stats.bytes_sent += bytes.len() as u64;
            self.stats.payload_sent += payload.len() as u64;
            let line = (bytes.len() + reply_bytes + OVERHEAD) as u32;
            let sent = Instant::now();
            let deadline = sent
                + match self.fixed_wait {
                    // The request's own line time, then the fixed wait for the reply.
                    Some(wait) => self.per_byte * bytes.len() as u32 + wait,
                    None => self.timeout + self.per_byte * line,
                };
            let mut nak = false;
            let mut heard = false;
            'wait: while Instant::now() < deadline {
                let n = match self.port.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => 0,
                    Err(e) => {
                        return Err(anyhow!(e)).context(format!("cannot read from {}", self.path))
                    }
                };
                self.stats.bytes_received += n as u64;
                heard |= n > 0;
                let events: Vec<Event> = decoders
                    .iter_mut()
                    .flat_map(|d| d.push(&buf[..n]))
                    .collect();
                for ev in events {
                    let Event::Frame(f) = ev else { continue };
                    if f.seq != seq {
                        continue; // a stale reply to an earlier try
                    }
                    if f.cmd == cmd as u8 | REPLY_FLAG {
                        self.stats.payload_received += f.payload.len() as u64;
                        // Learn the board's real speed (a simulated board is far slower than
                        // its nominal baud): later waits are three times this exchange's pace.
                        let pace = sent.elapsed() / line;
                        self.per_byte = self.per_byte.max(pace * 3);
                        self.paced = true;
                        return Ok(f.payload);
                    }
                    if f.cmd == NAK {
                        let Some(&byte) = f.payload.first() else {
                            continue;
                        };
                        match NakReason::from_byte(byte) {
                            Some(NakReason::BadCrc | NakReason::TooLong | NakReason::Timeout) => {
                                nak = true;
                                break 'wait; // damaged on the way: send again now
                            }
                            Some(NakReason::Unsupported) => bail!(
                                "the board does not implement {cmd:?} (NAK 'unsupported'): its \
                                 bitstream predates this command"
                            ),
                            Some(reason) => bail!("the board refused {cmd:?}: {reason}"),
                            None => bail!(
                                "the board refused {cmd:?} with NAK reason {byte}, which this \
                                 host does not know (docs/protocol.md lists them): is the \
                                 bitstream from a newer release?"
                            ),
                        }
                    }
                }
            }
            if nak {
                damaged += 1;
            } else if heard && self.fixed_wait.is_some() {
                // (Only under a fixed wait: with the default wait, long enough for the reply,
                // a garbling line must still fail within `tries`.)
                talking += 1;
                silent_since = Instant::now();
            } else if self.fixed_wait.is_some()
                && silent_since.elapsed() < self.timeout + self.per_byte * line
            {
                // Not yet a default wait's silence: try again, counting nothing (the
                // silence ends this loop once it lasts that long `tries` times).
            } else {
                silent_since = Instant::now();
                timeouts += 1;
                // Before the first reply, silence may mean a board slower than assumed (a
                // simulated one): wait longer. After it, the pace is known and silence means
                // a lost frame, which waiting longer would not bring back.
                if !self.paced {
                    self.per_byte = (self.per_byte * 2).min(Duration::from_millis(50));
                }
            }
        }
        bail!(
            "no valid reply to {cmd:?} from {} ({timeouts} tries unanswered, {damaged} answered \
             'damaged'): the board is silent or the line is garbled; check the port, the baud \
             rate and that the lutna bitstream is loaded",
            self.path
        )
    }

    /// IDENTIFY: what the board is.
    pub fn identify(&mut self) -> Result<Identity> {
        let p = self.request(Command::Identify, &[])?;
        Identity::from_bytes(&p).ok_or_else(|| {
            // The version byte comes first in every version of the reply.
            let version = p.first().map_or("unknown".to_string(), |v| v.to_string());
            anyhow!(
                "the IDENTIFY reply from {} has {} bytes, not {}: the board speaks lutna \
                 protocol version {version}, this host version {}; build and flash the \
                 bitstream from this release (`lutna build`, `lutna prog`)",
                self.path,
                p.len(),
                Identity::LEN,
                lutna_core::protocol::VERSION
            )
        })
    }

    /// Writes `data` at byte `address` of `region`, in as few LOAD frames as the payload limit
    /// allows; `progress` gets the bytes written so far.
    pub fn load(
        &mut self,
        region: Region,
        address: u32,
        data: &[u8],
        mut progress: impl FnMut(usize),
    ) -> Result<()> {
        let mut done = 0;
        while done < data.len() {
            let chunk = self.load_chunk.min(data.len() - done);
            let p =
                load_payloads(region, address + done as u32, &data[done..done + chunk]).remove(0);
            let n = p.len() - 5;
            let before = self.stats.retransmissions;
            let cmd = if region == Region::Activations {
                Command::LoadImage
            } else {
                Command::Load
            };
            let body = if cmd == Command::LoadImage {
                &p[1..]
            } else {
                &p[..]
            };
            let reply = self.request_sized(cmd, body, 0)?;
            if !reply.is_empty() {
                bail!(
                    "the board answered LOAD with {} bytes (expected none)",
                    reply.len()
                );
            }
            // Frames shrink while a noisy line makes them need retransmissions (a long frame
            // is more likely to be hit) and grow back after a run of clean ones.
            if self.stats.retransmissions > before {
                self.load_chunk = (self.load_chunk / 2).max(128) & !1; // whole parameter words
                self.clean_loads = 0;
            } else {
                self.clean_loads += 1;
                if self.clean_loads >= 8 {
                    self.load_chunk = (self.load_chunk * 2).min(LOAD_CHUNK_MAX);
                    self.clean_loads = 0;
                }
            }
            done += n;
            progress(done);
        }
        Ok(())
    }

    /// Reads `len` bytes at `address` of `region` (several READ frames if needed).
    pub fn read(&mut self, region: Region, address: u32, len: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let n = (len - out.len()).min(MAX_PAYLOAD);
            let p = read_payload(region, address + out.len() as u32, n as u16);
            let bytes = self.request_sized(Command::Read, &p, n)?;
            if bytes.len() != n {
                bail!("the board answered READ of {n} bytes with {}", bytes.len());
            }
            out.extend(bytes);
        }
        Ok(out)
    }

    /// STATUS: (state, layer).
    pub fn status(&mut self) -> Result<(u8, u16)> {
        let p = self.request_sized(Command::Status, &[], 4)?;
        if p.len() != 4 {
            bail!("the STATUS reply has {} bytes, not 4", p.len());
        }
        Ok((p[0], u16::from_le_bytes([p[1], p[2]])))
    }

    /// RUN, then STATUS until the board reports done. Fails if the board goes idle without
    /// finishing (it was reset) or its layer does not advance for `stall`.
    pub fn run(&mut self, stall: Duration) -> Result<()> {
        self.request_sized(Command::Run, &[], 0)?;
        let mut last = (u8::MAX, u16::MAX);
        let mut since = Instant::now();
        loop {
            let s = self.status()?;
            if s.0 == RunState::Done as u8 {
                return Ok(());
            }
            if s.0 == RunState::Idle as u8 {
                bail!(
                    "the board stopped before finishing the run (state idle at layer {}): it was \
                     reset; load the model again and rerun",
                    s.1
                );
            }
            if s != last {
                last = s;
                since = Instant::now();
            } else if since.elapsed() > stall {
                bail!(
                    "the board has been at layer {} for {:?} without progress: it hangs or runs \
                     a different program",
                    s.1,
                    stall
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// RESET, then STATUS until the board is no longer running (what the program had handed on
    /// finishes first); fails when it stays busy for `patience`.
    pub fn reset(&mut self, patience: Duration) -> Result<()> {
        self.request_sized(Command::Reset, &[], 0)?;
        let since = Instant::now();
        while self.status()?.0 == RunState::Running as u8 {
            if since.elapsed() > patience {
                bail!(
                    "the board is still busy {patience:?} after RESET: its engine is stuck; \
                     power-cycle the board and run again"
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// READ_LOGITS: 10 x i32.
    pub fn logits(&mut self) -> Result<Vec<i32>> {
        let p = self.request_sized(Command::ReadLogits, &[], 40)?;
        if p.len() != 40 {
            bail!("the READ_LOGITS reply has {} bytes, not 40", p.len());
        }
        Ok(p.chunks(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }

    /// READ_COUNTERS of the last run.
    pub fn counters(&mut self) -> Result<Counters> {
        let p = self.request_sized(Command::ReadCounters, &[], MAX_PAYLOAD)?;
        Counters::from_bytes(&p)
            .ok_or_else(|| anyhow!("the READ_COUNTERS reply is malformed ({} bytes)", p.len()))
    }
}
