//! UART 8N1 transmitter and receiver (rust-hdl ships none), with the clocks-per-bit ratio a build
//! parameter: 4 at 3 Mbaud from a 12 MHz clock on the iCEBreaker's FTDI, 8 at 3 Mbaud from 24
//! MHz, and small values in simulation so the virtual board stays fast.

use rust_hdl::prelude::*;

/// Sends `data` when `send` is high and `ready` is: start bit, 8 data bits LSB first, stop bit.
/// The line idles high (a `DFFWithInit`, so it is high from power-on).
#[derive(LogicBlock)]
pub struct UartTx {
    pub clock: Signal<In, Clock>,
    pub data: Signal<In, Bits<8>>,
    pub send: Signal<In, bool>,
    pub ready: Signal<Out, bool>,
    pub tx: Signal<Out, bool>,
    line: DFFWithInit<bool>,
    shift: DFF<Bits<10>>,
    bits_left: DFF<Bits<4>>,
    tick: DFF<Bits<16>>,
    clocks_per_bit: Constant<Bits<16>>,
}

impl UartTx {
    pub fn new(clocks_per_bit: u16) -> Self {
        assert!(clocks_per_bit >= 2, "a UART bit needs at least 2 clocks");
        Self {
            clock: Default::default(),
            data: Default::default(),
            send: Default::default(),
            ready: Default::default(),
            tx: Default::default(),
            line: DFFWithInit::new(true),
            shift: Default::default(),
            bits_left: Default::default(),
            tick: Default::default(),
            clocks_per_bit: Constant::new((clocks_per_bit as u64).into()),
        }
    }
}

impl Logic for UartTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, line, shift, bits_left, tick);
        self.ready.next = self.bits_left.q.val() == 0;
        self.tx.next = self.line.q.val();
        if self.bits_left.q.val() == 0 {
            self.line.d.next = true;
            if self.send.val() {
                // {stop, data, start}: shifted out from bit 0.
                self.shift.d.next = (bit_cast::<10, 8>(self.data.val()) << 1) | 0x200;
                self.bits_left.d.next = 10.into();
                self.tick.d.next = 0.into();
                self.line.d.next = false;
            }
        } else {
            self.tick.d.next = self.tick.q.val() + 1;
            if self.tick.q.val() == self.clocks_per_bit.val() - 1 {
                self.tick.d.next = 0.into();
                self.bits_left.d.next = self.bits_left.q.val() - 1;
                self.shift.d.next = self.shift.q.val() >> 1;
                self.line.d.next = self.shift.q.val().get_bit(1);
                if self.bits_left.q.val() == 1 {
                    self.line.d.next = true;
                }
            }
        }
    }
}

/// Receives 8N1 bytes: a falling edge starts a byte, the start bit is checked at its middle
/// (a glitch shorter than half a bit is ignored), then each bit is sampled at its middle. A byte
/// whose stop bit is low is reported on `framing_error` instead of `valid`. `rx` passes through a
/// two-flop synchronizer first.
#[derive(LogicBlock)]
pub struct UartRx {
    pub clock: Signal<In, Clock>,
    pub rx: Signal<In, bool>,
    pub data: Signal<Out, Bits<8>>,
    /// High for one cycle when `data` holds a new byte.
    pub valid: Signal<Out, bool>,
    pub framing_error: Signal<Out, bool>,
    sync1: DFFWithInit<bool>,
    sync2: DFFWithInit<bool>,
    receiving: DFF<bool>,
    tick: DFF<Bits<16>>,
    bit_index: DFF<Bits<4>>,
    shift: DFF<Bits<8>>,
    data_q: DFF<Bits<8>>,
    valid_q: DFF<bool>,
    error_q: DFF<bool>,
    clocks_per_bit: Constant<Bits<16>>,
    half_bit: Constant<Bits<16>>,
}

impl UartRx {
    pub fn new(clocks_per_bit: u16) -> Self {
        assert!(
            clocks_per_bit >= 4,
            "the receiver needs at least 4 clocks per bit"
        );
        Self {
            clock: Default::default(),
            rx: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            framing_error: Default::default(),
            sync1: DFFWithInit::new(true),
            sync2: DFFWithInit::new(true),
            receiving: Default::default(),
            tick: Default::default(),
            bit_index: Default::default(),
            shift: Default::default(),
            data_q: Default::default(),
            valid_q: Default::default(),
            error_q: Default::default(),
            clocks_per_bit: Constant::new((clocks_per_bit as u64).into()),
            half_bit: Constant::new(((clocks_per_bit / 2) as u64).into()),
        }
    }
}

impl Logic for UartRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, sync1, sync2, receiving, tick, bit_index, shift, data_q, valid_q, error_q
        );
        self.sync1.d.next = self.rx.val();
        self.sync2.d.next = self.sync1.q.val();
        self.valid_q.d.next = false;
        self.error_q.d.next = false;
        self.data.next = self.data_q.q.val();
        self.valid.next = self.valid_q.q.val();
        self.framing_error.next = self.error_q.q.val();
        if !self.receiving.q.val() {
            if !self.sync2.q.val() {
                // A falling edge: the middle of the start bit is half a bit away.
                self.receiving.d.next = true;
                self.tick.d.next = 0.into();
                self.bit_index.d.next = 0.into();
            }
        } else {
            self.tick.d.next = self.tick.q.val() + 1;
            if self.bit_index.q.val() == 0 {
                if self.tick.q.val() == self.half_bit.val() - 1 {
                    self.tick.d.next = 0.into();
                    self.bit_index.d.next = 1.into();
                    if self.sync2.q.val() {
                        // The line is high again: a glitch, not a start bit.
                        self.receiving.d.next = false;
                    }
                }
            } else if self.tick.q.val() == self.clocks_per_bit.val() - 1 {
                self.tick.d.next = 0.into();
                self.bit_index.d.next = self.bit_index.q.val() + 1;
                if self.bit_index.q.val() == 9 {
                    // The stop bit.
                    self.receiving.d.next = false;
                    self.data_q.d.next = self.shift.q.val();
                    self.valid_q.d.next = self.sync2.q.val();
                    self.error_q.d.next = !self.sync2.q.val();
                } else {
                    // Data bits arrive LSB first: shift them in from the top.
                    self.shift.d.next = self.shift.q.val() >> 1;
                    if self.sync2.q.val() {
                        self.shift.d.next = (self.shift.q.val() >> 1) | 0x80;
                    }
                }
            }
        }
    }
}
