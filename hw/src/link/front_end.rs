//! `LinkFrontEnd`: the board's side of the serial line, built once for every design: the UART
//! receiver and transmitter, the frame receiver (with its payload buffer and the one receiver
//! timeout rule, [`super::BOARD_RX_TIMEOUT_BYTES`] at the board builds) and the frame
//! transmitter. What sits behind it (the probe's responder, the accelerator's command handler)
//! sees whole requests on [`Requests`] and hands replies to [`Replies`].

use super::frame::{FrameRx, FrameTx};
use super::uart::{UartRx, UartTx};
use rust_hdl::prelude::*;

/// The requests the front end has received, as the frame receiver reports them.
#[derive(LogicInterface, Default)]
pub struct Requests {
    /// One-cycle pulses at the end of a frame: intact, or refused for `bad_reason` (a NAK
    /// reason); `cmd`, `seq` and `len` describe the frame until the next one ends.
    pub frame_ok: Signal<Out, bool>,
    pub frame_bad: Signal<Out, bool>,
    pub bad_reason: Signal<Out, Bits<8>>,
    pub cmd: Signal<Out, Bits<8>>,
    pub seq: Signal<Out, Bits<8>>,
    pub len: Signal<Out, Bits<11>>,
    /// The payload buffer's read port: `read_data` shows byte `read_addr` a cycle later.
    pub read_addr: Signal<In, Bits<10>>,
    pub read_data: Signal<Out, Bits<8>>,
}

/// The reply port: `start` while not `busy` sends a frame of `cmd`, `seq` and `len` payload
/// bytes, each fetched at `payload_addr` (one cycle of read latency); `payload_taken` marks
/// the cycle a byte is taken.
#[derive(LogicInterface, Default)]
pub struct Replies {
    pub start: Signal<In, bool>,
    pub cmd: Signal<In, Bits<8>>,
    pub seq: Signal<In, Bits<8>>,
    pub len: Signal<In, Bits<11>>,
    pub payload_addr: Signal<Out, Bits<10>>,
    pub payload_data: Signal<In, Bits<8>>,
    pub payload_taken: Signal<Out, bool>,
    pub busy: Signal<Out, bool>,
}

#[derive(LogicBlock)]
pub struct LinkFrontEnd {
    pub clock: Signal<In, Clock>,
    pub uart_rx: Signal<In, bool>,
    pub uart_tx: Signal<Out, bool>,
    pub request: Requests,
    pub reply: Replies,
    rx_uart: UartRx,
    tx_uart: UartTx,
    rx: FrameRx,
    tx: FrameTx,
}

impl LinkFrontEnd {
    /// The front end of a design whose UART runs at `clocks_per_bit`; a partial frame is
    /// abandoned after `rx_timeout_bytes` byte times of silence.
    pub fn new(clocks_per_bit: u16, rx_timeout_bytes: u32) -> Self {
        Self {
            clock: Default::default(),
            uart_rx: Default::default(),
            uart_tx: Default::default(),
            request: Default::default(),
            reply: Default::default(),
            rx_uart: UartRx::new(clocks_per_bit),
            tx_uart: UartTx::new(clocks_per_bit),
            rx: FrameRx::after_silence(clocks_per_bit, rx_timeout_bytes),
            tx: FrameTx::default(),
        }
    }
}

impl Logic for LinkFrontEnd {
    #[hdl_gen]
    fn update(&mut self) {
        self.rx_uart.clock.next = self.clock.val();
        self.tx_uart.clock.next = self.clock.val();
        self.rx.clock.next = self.clock.val();
        self.tx.clock.next = self.clock.val();
        // Line -> bytes -> frames.
        self.rx_uart.rx.next = self.uart_rx.val();
        self.rx.byte.next = self.rx_uart.data.val();
        self.rx.byte_valid.next = self.rx_uart.valid.val();
        self.request.frame_ok.next = self.rx.frame_ok.val();
        self.request.frame_bad.next = self.rx.frame_bad.val();
        self.request.bad_reason.next = self.rx.bad_reason.val();
        self.request.cmd.next = self.rx.cmd.val();
        self.request.seq.next = self.rx.seq.val();
        self.request.len.next = self.rx.len.val();
        self.rx.read_addr.next = self.request.read_addr.val();
        self.request.read_data.next = self.rx.read_data.val();
        // Replies -> bytes -> line.
        self.tx.start.next = self.reply.start.val();
        self.tx.cmd.next = self.reply.cmd.val();
        self.tx.seq.next = self.reply.seq.val();
        self.tx.len.next = self.reply.len.val();
        self.tx.payload_data.next = self.reply.payload_data.val();
        self.reply.payload_addr.next = self.tx.payload_addr.val();
        self.reply.payload_taken.next = self.tx.payload_taken.val();
        self.reply.busy.next = self.tx.busy.val();
        self.tx_uart.data.next = self.tx.byte.val();
        self.tx_uart.send.next = self.tx.send.val();
        self.tx.uart_ready.next = self.tx_uart.ready.val();
        self.uart_tx.next = self.tx_uart.tx.val();
    }
}
