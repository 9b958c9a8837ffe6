//! The probe design: the link alone, for bringing a board up before the accelerator runs on it.

use super::front_end::LinkFrontEnd;
use lutna_core::protocol::{Identity, NakReason};
use rust_hdl::prelude::*;

/// The probe design: UART, frame receiver and transmitter, and a responder that answers
/// IDENTIFY (the build's [`Identity`]), STATUS (idle) and RESET, refuses damaged frames with a
/// NAK carrying the reason and a payload on those three with NAK 4, as the accelerator does,
/// and answers the accelerator's other commands with NAK "unsupported" (they need the
/// accelerator's bitstream).
#[derive(LogicBlock)]
pub struct LinkEndpoint {
    pub clock: Signal<In, Clock>,
    pub uart_rx: Signal<In, bool>,
    pub uart_tx: Signal<Out, bool>,
    link: LinkFrontEnd,
    identity: ROM<Bits<8>, 5>,
    /// What the reply being sent carries: 0 nothing, 1 identity, 2 status, 3 NAK reason.
    reply_kind: DFF<Bits<2>>,
    nak_reason: DFF<Bits<8>>,
    identify_cmd: Constant<Bits<8>>,
    status_cmd: Constant<Bits<8>>,
    reset_cmd: Constant<Bits<8>>,
    first_v1: Constant<Bits<8>>,
    last_v1: Constant<Bits<8>>,
    reply_flag: Constant<Bits<8>>,
    nak_cmd: Constant<Bits<8>>,
    identity_len: Constant<Bits<11>>,
    unsupported: Constant<Bits<8>>,
    unknown: Constant<Bits<8>>,
    bad_payload: Constant<Bits<8>>,
    /// The request is one the probe serves: IDENTIFY, STATUS or RESET.
    served: Signal<Local, bool>,
}

impl LinkEndpoint {
    /// A partial frame is abandoned after `rx_timeout_bytes` byte times of silence (the board
    /// builds use [`super::BOARD_RX_TIMEOUT_BYTES`], as the accelerator does).
    pub fn new(clocks_per_bit: u16, rx_timeout_bytes: u32, identity: Identity) -> Self {
        use lutna_core::protocol::{Command, NAK, REPLY_FLAG};
        let bytes = identity.to_bytes();
        let rom: std::collections::BTreeMap<Bits<5>, Bits<8>> = (0..32u64)
            .map(|i| {
                (
                    i.into(),
                    (*bytes.get(i as usize).unwrap_or(&0) as u64).into(),
                )
            })
            .collect();
        let c = |v: u8| Constant::new((v as u64).into());
        Self {
            clock: Default::default(),
            uart_rx: Default::default(),
            uart_tx: Default::default(),
            link: LinkFrontEnd::new(clocks_per_bit, rx_timeout_bytes),
            identity: ROM::new(rom),
            reply_kind: Default::default(),
            nak_reason: Default::default(),
            identify_cmd: c(Command::Identify as u8),
            status_cmd: c(Command::Status as u8),
            reset_cmd: c(Command::Reset as u8),
            first_v1: c(Command::Load as u8),
            last_v1: c(Command::Read as u8),
            reply_flag: c(REPLY_FLAG),
            nak_cmd: c(NAK),
            identity_len: Constant::new((Identity::LEN as u64).into()),
            unsupported: c(NakReason::Unsupported as u8),
            unknown: c(NakReason::UnknownCommand as u8),
            bad_payload: c(NakReason::BadPayload as u8),
            served: Default::default(),
        }
    }

    /// An endpoint with its inputs marked driven, ready for simulation or Verilog generation.
    pub fn top(clocks_per_bit: u16, rx_timeout_bytes: u32, identity: Identity) -> Self {
        let mut uut = Self::new(clocks_per_bit, rx_timeout_bytes, identity);
        uut.clock.connect();
        uut.uart_rx.connect();
        uut.connect_all();
        uut
    }
}

impl crate::sim::UartPins for LinkEndpoint {
    fn clock_pin(&mut self) -> &mut Signal<In, Clock> {
        &mut self.clock
    }
    fn rx_pin(&mut self) -> &mut Signal<In, bool> {
        &mut self.uart_rx
    }
    fn tx_level(&self) -> bool {
        self.uart_tx.val()
    }
}

impl Logic for LinkEndpoint {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, reply_kind, nak_reason);
        self.link.clock.next = self.clock.val();
        self.link.uart_rx.next = self.uart_rx.val();
        self.uart_tx.next = self.link.uart_tx.val();
        self.link.request.read_addr.next = 0.into();
        // The reply's payload, byte `payload_addr`.
        self.identity.address.next = self.link.reply.payload_addr.val().get_bits::<5>(0);
        self.link.reply.payload_data.next = 0.into();
        if self.reply_kind.q.val() == 1 {
            self.link.reply.payload_data.next = self.identity.data.val();
        }
        if self.reply_kind.q.val() == 3 {
            self.link.reply.payload_data.next = self.nak_reason.q.val();
        }
        self.served.next = (self.link.request.cmd.val() == self.identify_cmd.val())
            | (self.link.request.cmd.val() == self.status_cmd.val())
            | (self.link.request.cmd.val() == self.reset_cmd.val());
        // Status (kind 2): idle, layer 0, no error: four zero bytes.
        self.link.reply.start.next = false;
        self.link.reply.cmd.next = self.link.request.cmd.val() | self.reply_flag.val();
        self.link.reply.seq.next = self.link.request.seq.val();
        self.link.reply.len.next = 0.into();
        if !self.link.reply.busy.val() {
            if self.link.request.frame_bad.val() {
                self.link.reply.start.next = true;
                self.link.reply.cmd.next = self.nak_cmd.val();
                self.link.reply.len.next = 1.into();
                self.reply_kind.d.next = 3.into();
                self.nak_reason.d.next = self.link.request.bad_reason.val();
            }
            if self.link.request.frame_ok.val() {
                self.link.reply.start.next = true;
                self.reply_kind.d.next = 0.into();
                if self.served.val() & self.link.request.len.val().any() {
                    // IDENTIFY, STATUS and RESET take no payload (docs/protocol.md).
                    self.link.reply.cmd.next = self.nak_cmd.val();
                    self.link.reply.len.next = 1.into();
                    self.reply_kind.d.next = 3.into();
                    self.nak_reason.d.next = self.bad_payload.val();
                } else if self.link.request.cmd.val() == self.identify_cmd.val() {
                    self.link.reply.len.next = self.identity_len.val();
                    self.reply_kind.d.next = 1.into();
                } else if self.link.request.cmd.val() == self.status_cmd.val() {
                    self.link.reply.len.next = 4.into();
                    self.reply_kind.d.next = 2.into();
                } else if self.link.request.cmd.val() != self.reset_cmd.val() {
                    self.link.reply.cmd.next = self.nak_cmd.val();
                    self.link.reply.len.next = 1.into();
                    self.reply_kind.d.next = 3.into();
                    self.nak_reason.d.next = self.unknown.val();
                    if (self.link.request.cmd.val() >= self.first_v1.val())
                        & (self.link.request.cmd.val() <= self.last_v1.val())
                    {
                        self.nak_reason.d.next = self.unsupported.val();
                    }
                }
            }
        }
    }
}
