//! The probe design: the link alone, for bringing a board up before the accelerator runs on it.

use super::frame::{FrameRx, FrameTx};
use lutna_core::protocol::{Identity, NakReason};
use rust_hdl::prelude::*;

/// The probe design: UART, frame receiver and transmitter, and a responder that answers
/// IDENTIFY (the build's [`Identity`]), STATUS (idle) and RESET, refuses damaged frames with a
/// NAK carrying the reason, and answers the accelerator's other commands with NAK
/// "unsupported" (they need the accelerator's bitstream).
#[derive(LogicBlock)]
pub struct LinkEndpoint {
    pub clock: Signal<In, Clock>,
    pub uart_rx: Signal<In, bool>,
    pub uart_tx: Signal<Out, bool>,
    rx_uart: super::uart::UartRx,
    tx_uart: super::uart::UartTx,
    rx: FrameRx,
    tx: FrameTx,
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
            rx_uart: super::uart::UartRx::new(clocks_per_bit),
            tx_uart: super::uart::UartTx::new(clocks_per_bit),
            rx: FrameRx::after_silence(clocks_per_bit, rx_timeout_bytes),
            tx: FrameTx::default(),
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
        self.rx_uart.clock.next = self.clock.val();
        self.tx_uart.clock.next = self.clock.val();
        self.rx.clock.next = self.clock.val();
        self.tx.clock.next = self.clock.val();
        self.rx_uart.rx.next = self.uart_rx.val();
        self.rx.byte.next = self.rx_uart.data.val();
        self.rx.byte_valid.next = self.rx_uart.valid.val();
        self.rx.read_addr.next = 0.into();
        self.tx_uart.data.next = self.tx.byte.val();
        self.tx_uart.send.next = self.tx.send.val();
        self.tx.uart_ready.next = self.tx_uart.ready.val();
        self.uart_tx.next = self.tx_uart.tx.val();
        // The reply's payload, byte `payload_addr`.
        self.identity.address.next = self.tx.payload_addr.val().get_bits::<5>(0);
        self.tx.payload_data.next = 0.into();
        if self.reply_kind.q.val() == 1 {
            self.tx.payload_data.next = self.identity.data.val();
        }
        if self.reply_kind.q.val() == 3 {
            self.tx.payload_data.next = self.nak_reason.q.val();
        }
        // Status (kind 2): idle, layer 0, no error: four zero bytes.
        self.tx.start.next = false;
        self.tx.cmd.next = self.rx.cmd.val() | self.reply_flag.val();
        self.tx.seq.next = self.rx.seq.val();
        self.tx.len.next = 0.into();
        if !self.tx.busy.val() {
            if self.rx.frame_bad.val() {
                self.tx.start.next = true;
                self.tx.cmd.next = self.nak_cmd.val();
                self.tx.len.next = 1.into();
                self.reply_kind.d.next = 3.into();
                self.nak_reason.d.next = self.rx.bad_reason.val();
            }
            if self.rx.frame_ok.val() {
                self.tx.start.next = true;
                self.reply_kind.d.next = 0.into();
                if self.rx.cmd.val() == self.identify_cmd.val() {
                    self.tx.len.next = self.identity_len.val();
                    self.reply_kind.d.next = 1.into();
                } else if self.rx.cmd.val() == self.status_cmd.val() {
                    self.tx.len.next = 4.into();
                    self.reply_kind.d.next = 2.into();
                } else if self.rx.cmd.val() != self.reset_cmd.val() {
                    self.tx.cmd.next = self.nak_cmd.val();
                    self.tx.len.next = 1.into();
                    self.reply_kind.d.next = 3.into();
                    self.nak_reason.d.next = self.unknown.val();
                    if (self.rx.cmd.val() >= self.first_v1.val())
                        & (self.rx.cmd.val() <= self.last_v1.val())
                    {
                        self.nak_reason.d.next = self.unsupported.val();
                    }
                }
            }
        }
    }
}
