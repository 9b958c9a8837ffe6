//! The host's end of the link: requests with retransmission over any serial port (a real
//! iCEBreaker's FTDI or the virtual board's pseudo-terminal; this code cannot tell them apart).

use anyhow::{anyhow, bail, Context, Result};
use lutna_core::protocol::{Command, Decoder, Event, Frame, Identity, NakReason, NAK, REPLY_FLAG};
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
    decoder: Decoder,
    seq: u8,
    /// How long to wait for a reply before retransmitting, and how many tries in all.
    pub timeout: Duration,
    pub tries: u32,
    pub stats: LinkStats,
}

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
            decoder: Decoder::new(),
            seq: 0,
            timeout: Duration::from_millis(500),
            tries: 8,
            stats: LinkStats::default(),
        })
    }

    /// Sends one request and returns the reply's payload, retransmitting on timeouts and on
    /// NAKs for damaged frames; fails with a clear error after `tries` attempts or on a NAK the
    /// host cannot fix by retrying.
    pub fn request(&mut self, cmd: Command, payload: &[u8]) -> Result<Vec<u8>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = Frame::new(cmd as u8, seq, payload.to_vec()).encode()?;
        self.stats.requests += 1;
        let mut buf = [0u8; 4096];
        for attempt in 0..self.tries {
            if attempt > 0 {
                self.stats.retransmissions += 1;
            }
            self.port
                .write_all(&bytes)
                .with_context(|| format!("cannot write to {}", self.path))?;
            self.stats.bytes_sent += bytes.len() as u64;
            self.stats.payload_sent += payload.len() as u64;
            let deadline = Instant::now() + self.timeout;
            'wait: while Instant::now() < deadline {
                let n = match self.port.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => 0,
                    Err(e) => {
                        return Err(anyhow!(e)).context(format!("cannot read from {}", self.path))
                    }
                };
                self.stats.bytes_received += n as u64;
                for ev in self.decoder.push(&buf[..n]) {
                    let Event::Frame(f) = ev else { continue };
                    if f.seq != seq {
                        continue; // a stale reply to an earlier try
                    }
                    if f.cmd == cmd as u8 | REPLY_FLAG {
                        self.stats.payload_received += f.payload.len() as u64;
                        return Ok(f.payload);
                    }
                    if f.cmd == NAK {
                        match f.payload.first().copied() {
                            Some(r) if r == NakReason::BadCrc as u8 || r == NakReason::TooLong as u8 => {
                                break 'wait; // damaged on the way: send again now
                            }
                            Some(r) if r == NakReason::Unsupported as u8 => bail!(
                                "the board does not implement {cmd:?} (NAK 'unsupported'): its \
                                 bitstream predates this command"
                            ),
                            Some(r) => bail!("the board refused {cmd:?} with NAK reason {r} (see docs/protocol.md)"),
                            None => continue,
                        }
                    }
                }
            }
        }
        bail!(
            "no valid reply to {cmd:?} from {} after {} tries ({} ms each): the board is silent or \
             the line is garbled; check the port, the baud rate and that the lutna bitstream is loaded",
            self.path,
            self.tries,
            self.timeout.as_millis()
        )
    }

    pub fn identify(&mut self) -> Result<Identity> {
        let p = self.request(Command::Identify, &[])?;
        Identity::from_bytes(&p).ok_or_else(|| {
            anyhow!(
                "the IDENTIFY reply from {} has {} bytes, not {} (a different protocol?)",
                self.path,
                p.len(),
                Identity::LEN
            )
        })
    }
}
