//! Frames of the host link, the board's side (format and constants: `lutna_core::protocol`).
//!
//! - [`Crc16Byte`]: one byte of CRC-16/CCITT-FALSE, the eight shift/XOR steps unrolled, with the
//!   polynomial taken from lutna-core.
//! - [`FrameRx`]: bytes from the UART in; hunts for the start marker, reads the header, stores the
//!   payload in its buffer (one block RAM per 512 bytes) while checking the CRC, and reports each
//!   frame as accepted (`frame_ok`) or rejected (`frame_bad`, with the reason the NAK will carry).
//!   It never waits forever: an oversize length is rejected at once, and a frame that stops
//!   arriving for `timeout` clocks is abandoned and the hunt resumes; when its header was in,
//!   the abandoned frame is reported (reason `Timeout`), so the host can retransmit at once
//!   instead of waiting out its own timeout.
//!
//! Unlike the software decoder, the receiver does not rescan the bytes of a rejected frame for a
//! later marker (that would need the whole frame buffered twice); a frame hidden inside a damaged
//! one is lost and the host retransmits it after its timeout (docs/protocol.md).

use crate::memory::block_ram::BlockRam;
use lutna_core::protocol::{NakReason, CRC_INIT, CRC_POLY, MAX_PAYLOAD, SOF};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Crc16Byte {
    pub crc: Signal<In, Bits<16>>,
    pub byte: Signal<In, Bits<8>>,
    pub crc_out: Signal<Out, Bits<16>>,
    stage: [Signal<Local, Bits<16>>; 9],
    poly: Constant<Bits<16>>,
}

impl Default for Crc16Byte {
    fn default() -> Self {
        Self {
            crc: Default::default(),
            byte: Default::default(),
            crc_out: Default::default(),
            stage: Default::default(),
            poly: Constant::new((CRC_POLY as u64).into()),
        }
    }
}

impl Logic for Crc16Byte {
    #[hdl_gen]
    fn update(&mut self) {
        self.stage[0].next = self.crc.val() ^ (bit_cast::<16, 8>(self.byte.val()) << 8);
        for i in 1..9 {
            self.stage[i].next = self.stage[i - 1].val() << 1;
            if self.stage[i - 1].val().get_bit(15) {
                self.stage[i].next = (self.stage[i - 1].val() << 1) ^ self.poly.val();
            }
        }
        for i in 8..9 {
            self.crc_out.next = self.stage[i].val();
        }
    }
}

/// Receiver states.
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum RxState {
    Hunt,
    Marker,
    LenLow,
    LenHigh,
    Cmd,
    Seq,
    Payload,
    CrcLow,
    CrcHigh,
}

#[derive(LogicBlock)]
pub struct FrameRx {
    pub clock: Signal<In, Clock>,
    /// A received byte (from the UART receiver).
    pub byte: Signal<In, Bits<8>>,
    pub byte_valid: Signal<In, bool>,
    /// Read port of the payload buffer: `data` shows `buffer[addr]` one cycle after `addr`.
    pub read_addr: Signal<In, Bits<10>>,
    pub read_data: Signal<Out, Bits<8>>,
    /// One-cycle pulses at the end of a frame; `cmd`, `seq` and `len` describe it until the next.
    pub frame_ok: Signal<Out, bool>,
    pub frame_bad: Signal<Out, bool>,
    pub bad_reason: Signal<Out, Bits<8>>,
    pub cmd: Signal<Out, Bits<8>>,
    pub seq: Signal<Out, Bits<8>>,
    pub len: Signal<Out, Bits<11>>,
    state: DFF<RxState>,
    crc: DFF<Bits<16>>,
    crc_low: DFF<Bits<8>>,
    len_q: DFF<Bits<11>>,
    len_low: DFF<Bits<8>>,
    cmd_q: DFF<Bits<8>>,
    seq_q: DFF<Bits<8>>,
    index: DFF<Bits<11>>,
    idle: DFF<Bits<24>>,
    ok_q: DFF<bool>,
    bad_q: DFF<bool>,
    reason_q: DFF<Bits<8>>,
    buffer: BlockRam<8, 10>,
    crc_step: Crc16Byte,
    received_crc: Signal<Local, Bits<16>>,
    sof0: Constant<Bits<8>>,
    sof1: Constant<Bits<8>>,
    crc_init: Constant<Bits<16>>,
    max_payload: Constant<Bits<11>>,
    timeout: Constant<Bits<24>>,
    reason_crc: Constant<Bits<8>>,
    reason_long: Constant<Bits<8>>,
    reason_timeout: Constant<Bits<8>>,
}

impl FrameRx {
    /// The receiver of a design whose UART runs at `clocks_per_bit`: a partial frame is
    /// abandoned after `timeout_bytes` byte times (10 bit times each) without a byte. Every
    /// design's receiver is made here, so the rule is the same for all of them.
    pub fn after_silence(clocks_per_bit: u16, timeout_bytes: u32) -> Self {
        Self::new(10 * clocks_per_bit as u32 * timeout_bytes)
    }

    /// `timeout`: clocks without a byte after which a partial frame is abandoned.
    pub fn new(timeout: u32) -> Self {
        const { assert!(MAX_PAYLOAD <= 1024, "the payload buffer holds 1024 bytes") };
        Self {
            clock: Default::default(),
            byte: Default::default(),
            byte_valid: Default::default(),
            read_addr: Default::default(),
            read_data: Default::default(),
            frame_ok: Default::default(),
            frame_bad: Default::default(),
            bad_reason: Default::default(),
            cmd: Default::default(),
            seq: Default::default(),
            len: Default::default(),
            state: Default::default(),
            crc: Default::default(),
            crc_low: Default::default(),
            len_q: Default::default(),
            len_low: Default::default(),
            cmd_q: Default::default(),
            seq_q: Default::default(),
            index: Default::default(),
            idle: Default::default(),
            ok_q: Default::default(),
            bad_q: Default::default(),
            reason_q: Default::default(),
            buffer: Default::default(),
            crc_step: Default::default(),
            received_crc: Default::default(),
            sof0: Constant::new((SOF[0] as u64).into()),
            sof1: Constant::new((SOF[1] as u64).into()),
            crc_init: Constant::new((CRC_INIT as u64).into()),
            max_payload: Constant::new((MAX_PAYLOAD as u64).into()),
            timeout: Constant::new((timeout as u64).into()),
            reason_crc: Constant::new((NakReason::BadCrc as u64).into()),
            reason_long: Constant::new((NakReason::TooLong as u64).into()),
            reason_timeout: Constant::new((NakReason::Timeout as u64).into()),
        }
    }
}

impl Logic for FrameRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, crc, crc_low, len_q, len_low, cmd_q, seq_q, index, idle, ok_q,
            bad_q, reason_q
        );
        self.buffer.read_clock.next = self.clock.val();
        self.buffer.write_clock.next = self.clock.val();
        self.buffer.read_address.next = self.read_addr.val();
        self.read_data.next = self.buffer.read_data.val();
        self.buffer.write_address.next = self.index.q.val().get_bits::<10>(0);
        self.buffer.write_data.next = self.byte.val();
        self.buffer.write_enable.next = false;
        self.crc_step.crc.next = self.crc.q.val();
        self.crc_step.byte.next = self.byte.val();
        self.received_crc.next =
            (bit_cast::<16, 8>(self.byte.val()) << 8) | bit_cast::<16, 8>(self.crc_low.q.val());
        self.ok_q.d.next = false;
        self.bad_q.d.next = false;
        self.frame_ok.next = self.ok_q.q.val();
        self.frame_bad.next = self.bad_q.q.val();
        self.bad_reason.next = self.reason_q.q.val();
        self.cmd.next = self.cmd_q.q.val();
        self.seq.next = self.seq_q.q.val();
        self.len.next = self.len_q.q.val();
        // A partial frame that stops arriving is abandoned.
        if (self.state.q.val() != RxState::Hunt) & !self.byte_valid.val() {
            self.idle.d.next = self.idle.q.val() + 1;
            if self.idle.q.val() == self.timeout.val() {
                self.state.d.next = RxState::Hunt;
                self.idle.d.next = 0.into();
                if (self.state.q.val() == RxState::Payload)
                    | (self.state.q.val() == RxState::CrcLow)
                    | (self.state.q.val() == RxState::CrcHigh)
                {
                    self.bad_q.d.next = true;
                    self.reason_q.d.next = self.reason_timeout.val();
                }
            }
        }
        if self.byte_valid.val() {
            self.idle.d.next = 0.into();
            self.crc.d.next = self.crc_step.crc_out.val();
            match self.state.q.val() {
                RxState::Hunt => {
                    if self.byte.val() == self.sof0.val() {
                        self.state.d.next = RxState::Marker;
                    }
                }
                RxState::Marker => {
                    self.crc.d.next = self.crc_init.val();
                    if self.byte.val() == self.sof1.val() {
                        self.state.d.next = RxState::LenLow;
                    } else if self.byte.val() != self.sof0.val() {
                        self.state.d.next = RxState::Hunt;
                    }
                }
                RxState::LenLow => {
                    self.len_low.d.next = self.byte.val();
                    self.state.d.next = RxState::LenHigh;
                }
                RxState::LenHigh => {
                    self.len_q.d.next = (bit_cast::<11, 8>(self.byte.val()) << 8)
                        | bit_cast::<11, 8>(self.len_low.q.val());
                    self.state.d.next = RxState::Cmd;
                    if self.byte.val().get_bits::<8>(0) > 4 {
                        // Length above 1279 cannot fit the 11-bit count: reject now.
                        self.len_q.d.next = self.max_payload.val() + 1;
                    }
                }
                RxState::Cmd => {
                    self.cmd_q.d.next = self.byte.val();
                    self.state.d.next = RxState::Seq;
                }
                RxState::Seq => {
                    self.seq_q.d.next = self.byte.val();
                    self.index.d.next = 0.into();
                    self.state.d.next = RxState::Payload;
                    if self.len_q.q.val() == 0 {
                        self.state.d.next = RxState::CrcLow;
                    }
                    if self.len_q.q.val() > self.max_payload.val() {
                        self.bad_q.d.next = true;
                        self.reason_q.d.next = self.reason_long.val();
                        self.state.d.next = RxState::Hunt;
                    }
                }
                RxState::Payload => {
                    self.buffer.write_enable.next = true;
                    self.index.d.next = self.index.q.val() + 1;
                    if self.index.q.val() + 1 == self.len_q.q.val() {
                        self.state.d.next = RxState::CrcLow;
                    }
                }
                RxState::CrcLow => {
                    self.crc.d.next = self.crc.q.val();
                    self.crc_low.d.next = self.byte.val();
                    self.state.d.next = RxState::CrcHigh;
                }
                RxState::CrcHigh => {
                    self.crc.d.next = self.crc.q.val();
                    self.state.d.next = RxState::Hunt;
                    if self.received_crc.val() == self.crc.q.val() {
                        self.ok_q.d.next = true;
                    } else {
                        self.bad_q.d.next = true;
                        self.reason_q.d.next = self.reason_crc.val();
                    }
                }
                _ => {
                    self.state.d.next = RxState::Hunt;
                }
            }
        }
    }
}

impl FrameRx {
    /// A receiver with its inputs marked driven, ready for simulation or Verilog generation.
    pub fn top(timeout: u32) -> Self {
        let mut uut = Self::new(timeout);
        uut.clock.connect();
        uut.byte.connect();
        uut.byte_valid.connect();
        uut.read_addr.connect();
        uut.connect_all();
        uut
    }
}

/// Transmitter states.
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum TxState {
    Idle,
    Marker0,
    Marker1,
    LenLow,
    LenHigh,
    Cmd,
    Seq,
    Payload,
    CrcLow,
    CrcHigh,
}

/// Sends one frame when `start` is pulsed while `busy` is low: marker, `len`, `cmd`, `seq`, the
/// payload (fetched through `payload_addr` / `payload_data`, one cycle of read latency), CRC.
/// Bytes go to a [`crate::link::uart::UartTx`] through `byte` / `send`, one whenever `uart_ready`.
#[derive(LogicBlock)]
pub struct FrameTx {
    pub clock: Signal<In, Clock>,
    pub start: Signal<In, bool>,
    pub cmd: Signal<In, Bits<8>>,
    pub seq: Signal<In, Bits<8>>,
    pub len: Signal<In, Bits<11>>,
    pub payload_addr: Signal<Out, Bits<10>>,
    pub payload_data: Signal<In, Bits<8>>,
    /// High in the cycle the payload byte at `payload_addr` is taken (`payload_addr` moves on
    /// in the next): a reply source may step a pointer of its own with it.
    pub payload_taken: Signal<Out, bool>,
    pub uart_ready: Signal<In, bool>,
    pub byte: Signal<Out, Bits<8>>,
    pub send: Signal<Out, bool>,
    pub busy: Signal<Out, bool>,
    state: DFF<TxState>,
    cmd_q: DFF<Bits<8>>,
    seq_q: DFF<Bits<8>>,
    len_q: DFF<Bits<11>>,
    index: DFF<Bits<11>>,
    crc: DFF<Bits<16>>,
    crc_step: Crc16Byte,
    sof0: Constant<Bits<8>>,
    sof1: Constant<Bits<8>>,
    crc_init: Constant<Bits<16>>,
}

impl Default for FrameTx {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            cmd: Default::default(),
            seq: Default::default(),
            len: Default::default(),
            payload_addr: Default::default(),
            payload_data: Default::default(),
            payload_taken: Default::default(),
            uart_ready: Default::default(),
            byte: Default::default(),
            send: Default::default(),
            busy: Default::default(),
            state: Default::default(),
            cmd_q: Default::default(),
            seq_q: Default::default(),
            len_q: Default::default(),
            index: Default::default(),
            crc: Default::default(),
            crc_step: Default::default(),
            sof0: Constant::new((SOF[0] as u64).into()),
            sof1: Constant::new((SOF[1] as u64).into()),
            crc_init: Constant::new((CRC_INIT as u64).into()),
        }
    }
}

impl Logic for FrameTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, state, cmd_q, seq_q, len_q, index, crc);
        self.payload_addr.next = self.index.q.val().get_bits::<10>(0);
        self.busy.next = self.state.q.val() != TxState::Idle;
        self.send.next = false;
        self.payload_taken.next = false;
        self.byte.next = 0.into();
        match self.state.q.val() {
            TxState::Marker0 => self.byte.next = self.sof0.val(),
            TxState::Marker1 => self.byte.next = self.sof1.val(),
            TxState::LenLow => self.byte.next = self.len_q.q.val().get_bits::<8>(0),
            TxState::LenHigh => {
                self.byte.next = bit_cast::<8, 3>(self.len_q.q.val().get_bits::<3>(8))
            }
            TxState::Cmd => self.byte.next = self.cmd_q.q.val(),
            TxState::Seq => self.byte.next = self.seq_q.q.val(),
            TxState::Payload => self.byte.next = self.payload_data.val(),
            TxState::CrcLow => self.byte.next = self.crc.q.val().get_bits::<8>(0),
            TxState::CrcHigh => self.byte.next = self.crc.q.val().get_bits::<8>(8),
            _ => {}
        }
        self.crc_step.crc.next = self.crc.q.val();
        self.crc_step.byte.next = self.byte.val();
        if self.state.q.val() == TxState::Idle {
            if self.start.val() {
                self.cmd_q.d.next = self.cmd.val();
                self.seq_q.d.next = self.seq.val();
                self.len_q.d.next = self.len.val();
                self.index.d.next = 0.into();
                self.crc.d.next = self.crc_init.val();
                self.state.d.next = TxState::Marker0;
            }
        } else if self.uart_ready.val() {
            self.send.next = true;
            match self.state.q.val() {
                TxState::Marker0 => self.state.d.next = TxState::Marker1,
                TxState::Marker1 => self.state.d.next = TxState::LenLow,
                TxState::LenLow => {
                    self.crc.d.next = self.crc_step.crc_out.val();
                    self.state.d.next = TxState::LenHigh;
                }
                TxState::LenHigh => {
                    self.crc.d.next = self.crc_step.crc_out.val();
                    self.state.d.next = TxState::Cmd;
                }
                TxState::Cmd => {
                    self.crc.d.next = self.crc_step.crc_out.val();
                    self.state.d.next = TxState::Seq;
                }
                TxState::Seq => {
                    self.crc.d.next = self.crc_step.crc_out.val();
                    self.state.d.next = TxState::Payload;
                    if self.len_q.q.val() == 0 {
                        self.state.d.next = TxState::CrcLow;
                    }
                }
                TxState::Payload => {
                    self.payload_taken.next = true;
                    self.crc.d.next = self.crc_step.crc_out.val();
                    self.index.d.next = self.index.q.val() + 1;
                    if self.index.q.val() + 1 == self.len_q.q.val() {
                        self.state.d.next = TxState::CrcLow;
                    }
                }
                TxState::CrcLow => self.state.d.next = TxState::CrcHigh,
                TxState::CrcHigh => self.state.d.next = TxState::Idle,
                _ => self.state.d.next = TxState::Idle,
            }
        }
    }
}
