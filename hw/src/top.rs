//! `Accelerator<P>`: the whole accelerator behind its UART: the link (UART, frame receiver and
//! transmitter of [`crate::link`]), the command handler, and the [`LayerEngine`]. This is what the
//! board tops wrap and what the virtual board steps.
//!
//! The command handler serves protocol version 2 (`lutna_core::protocol`, docs/protocol.md):
//! IDENTIFY, STATUS and RESET (at any time), LOAD and LOAD_IMAGE (copied from the frame buffer
//! into parameter or activation memory), RUN (starts the engine; a repeated RUN with the same
//! sequence number is answered without running again), READ_LOGITS, READ_COUNTERS, READ
//! (parameter or activation bytes, for per-layer dumps). Damaged frames get a NAK with the
//! receiver's reason; while a run is in progress everything else gets NAK "busy"; a request
//! whose payload does not fit its command or whose addresses leave the region gets NAK "bad
//! payload". Every request that arrives while no reply is going out gets exactly one reply; one
//! that completes during a reply is dropped (docs/protocol.md, "Requests during a reply").

use crate::engine::{LayerEngine, ACTIVATION_BYTES, BUFFER_PARAM_BITS, RESIDENT_PARAM_BITS};
use crate::link::{FrameRx, FrameTx};
use lutna_core::protocol::{
    Command, Identity, NakReason, Region, RunState, ADDRESS_BYTES, NAK, REPLY_FLAG,
};
use rust_hdl::prelude::*;

/// Command handler states.
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum CmdState {
    Idle,
    Parse,
    Decide,
    Copy,
    Reply,
}

/// What a reply's payload bytes come from.
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum ReplyKind {
    Empty,
    Identity,
    Status,
    Nak,
    Logits,
    Counters,
    Params,
    Activations,
}

/// The IDENTIFY answer of an `Accelerator<P, PARAM_BITS>` build with 4-bit LUT-NA lanes in all
/// three modes, on the UP5K at a 24 MHz clock, with `2^param_bits` parameter words.
pub fn identity(lanes: u8, param_bits: usize) -> Identity {
    Identity {
        version: lutna_core::protocol::VERSION,
        lanes,
        chunk_bits: 4,
        modes: 0b111,
        spram_bytes: 128 * 1024,
        bram_bytes: 30 * 512,
        clock_hz: 24_000_000,
        max_payload: lutna_core::protocol::MAX_PAYLOAD as u16,
        param_words: 1 << param_bits,
        activation_bytes: ACTIVATION_BYTES as u32,
    }
}

/// The identity of the board builds and the virtual board (the program buffer map).
pub fn board_identity(lanes: u8) -> Identity {
    identity(lanes, BUFFER_PARAM_BITS)
}

/// Header bytes the handler parses from a request payload (region, address, length).
const HEADER_BYTES: usize = 8;

#[derive(LogicBlock)]
pub struct Accelerator<const P: usize, const PARAM_BITS: usize> {
    pub clock: Signal<In, Clock>,
    pub uart_rx: Signal<In, bool>,
    pub uart_tx: Signal<Out, bool>,
    /// High while a program runs (an LED on the boards).
    pub running: Signal<Out, bool>,
    rx_uart: crate::link::uart::UartRx,
    tx_uart: crate::link::uart::UartTx,
    rx: FrameRx,
    tx: FrameTx,
    engine: LayerEngine<P, PARAM_BITS>,
    identity: ROM<Bits<8>, 5>,
    state: DFF<CmdState>,
    cmd_q: DFF<Bits<8>>,
    seq_q: DFF<Bits<8>>,
    len_q: DFF<Bits<11>>,
    header: [DFF<Bits<8>>; HEADER_BYTES],
    parse_index: DFF<Bits<4>>,
    parse_prev: DFF<Bits<4>>,
    parse_prev_valid: DFF<bool>,
    copy_index: DFF<Bits<11>>,
    /// Addresses inside a region: 17 bits (regions are at most 64 KiB; the request's 32-bit
    /// address is checked against its region before it is kept).
    copy_addr: DFF<Bits<17>>,
    copy_params: DFF<bool>,
    copy_prev_valid: DFF<bool>,
    low_byte: DFF<Bits<8>>,
    reply_kind: DFF<ReplyKind>,
    reply_cmd: DFF<Bits<8>>,
    reply_len: DFF<Bits<11>>,
    nak_reason: DFF<Bits<8>>,
    read_base: DFF<Bits<17>>,
    last_cmd: DFF<Bits<8>>,
    last_seq: DFF<Bits<8>>,
    ran: DFF<bool>,
    was_busy: DFF<bool>,
    run_cycles: DFF<Bits<32>>,
    // Decoded request fields.
    region: Signal<Local, Bits<8>>,
    address: Signal<Local, Bits<32>>,
    /// The address is below 128 K, so `span_end` (18 bits) cannot wrap.
    address_fits: Signal<Local, bool>,
    address_low: Signal<Local, Bits<18>>,
    data_start: Signal<Local, Bits<11>>,
    data_len: Signal<Local, Bits<11>>,
    read_len: Signal<Local, Bits<16>>,
    span_end: Signal<Local, Bits<18>>,
    byte_addr: Signal<Local, Bits<17>>,
    counter_byte: Signal<Local, Bits<16>>,
    counter_value: Signal<Local, Bits<32>>,
    logit_shifted: Signal<Local, Bits<32>>,
    counter_shifted: Signal<Local, Bits<32>>,
    cycles_shifted: Signal<Local, Bits<32>>,
    byte_word: Signal<Local, Bits<17>>,
    copy_word: Signal<Local, Bits<17>>,
    // Constants.
    parse_last: Constant<Bits<4>>,
    read_request_len: Constant<Bits<11>>,
    reply_flag: Constant<Bits<8>>,
    nak_cmd: Constant<Bits<8>>,
    identity_len: Constant<Bits<11>>,
    cmd_identify: Constant<Bits<8>>,
    cmd_status: Constant<Bits<8>>,
    cmd_load: Constant<Bits<8>>,
    cmd_load_image: Constant<Bits<8>>,
    cmd_run: Constant<Bits<8>>,
    cmd_logits: Constant<Bits<8>>,
    cmd_counters: Constant<Bits<8>>,
    cmd_read: Constant<Bits<8>>,
    cmd_reset: Constant<Bits<8>>,
    nak_unknown: Constant<Bits<8>>,
    nak_payload: Constant<Bits<8>>,
    nak_busy: Constant<Bits<8>>,
    region_params: Constant<Bits<8>>,
    region_acts: Constant<Bits<8>>,
    params_bytes: Constant<Bits<18>>,
    acts_bytes: Constant<Bits<18>>,
    max_payload: Constant<Bits<16>>,
    state_running: Constant<Bits<8>>,
    state_done: Constant<Bits<8>>,
}

impl<const P: usize, const PARAM_BITS: usize> Accelerator<P, PARAM_BITS> {
    /// The accelerator with empty memories (the host loads the program and images over the link).
    /// A partial frame is abandoned after `rx_timeout_bytes` byte times of silence.
    pub fn new(clocks_per_bit: u16, rx_timeout_bytes: u32, identity: Identity) -> Self {
        Self::with_engine(
            clocks_per_bit,
            rx_timeout_bytes,
            identity,
            LayerEngine::with_memories(&[], &[]),
        )
    }

    /// Chooses the Verilog of the memories for the FPGA family built (the simulation is the
    /// same for every family).
    pub fn set_family(&mut self, family: crate::memory::Family) {
        self.engine.set_family(family);
    }

    fn with_engine(
        clocks_per_bit: u16,
        rx_timeout_bytes: u32,
        identity: Identity,
        engine: LayerEngine<P, PARAM_BITS>,
    ) -> Self {
        assert_eq!(
            identity.lanes as usize, P,
            "the identity must state the build's lanes"
        );
        assert_eq!(
            identity.param_words as usize,
            1 << PARAM_BITS,
            "the identity must state the build's parameter memory"
        );
        let bytes = identity.to_bytes();
        let rom: std::collections::BTreeMap<Bits<5>, Bits<8>> = (0..32u64)
            .map(|i| {
                (
                    i.into(),
                    (*bytes.get(i as usize).unwrap_or(&0) as u64).into(),
                )
            })
            .collect();
        let c8 = |v: u8| Constant::new((v as u64).into());
        Self {
            clock: Default::default(),
            uart_rx: Default::default(),
            uart_tx: Default::default(),
            running: Default::default(),
            rx_uart: crate::link::uart::UartRx::new(clocks_per_bit),
            tx_uart: crate::link::uart::UartTx::new(clocks_per_bit),
            rx: FrameRx::after_silence(clocks_per_bit, rx_timeout_bytes),
            tx: FrameTx::default(),
            engine,
            identity: ROM::new(rom),
            state: Default::default(),
            cmd_q: Default::default(),
            seq_q: Default::default(),
            len_q: Default::default(),
            header: Default::default(),
            parse_index: Default::default(),
            parse_prev: Default::default(),
            parse_prev_valid: Default::default(),
            copy_index: Default::default(),
            copy_addr: Default::default(),
            copy_params: Default::default(),
            copy_prev_valid: Default::default(),
            low_byte: Default::default(),
            reply_kind: Default::default(),
            reply_cmd: Default::default(),
            reply_len: Default::default(),
            nak_reason: Default::default(),
            read_base: Default::default(),
            last_cmd: Default::default(),
            last_seq: Default::default(),
            ran: Default::default(),
            was_busy: Default::default(),
            run_cycles: Default::default(),
            region: Default::default(),
            address: Default::default(),
            address_fits: Default::default(),
            address_low: Default::default(),
            data_start: Default::default(),
            data_len: Default::default(),
            read_len: Default::default(),
            span_end: Default::default(),
            byte_addr: Default::default(),
            counter_byte: Default::default(),
            counter_value: Default::default(),
            logit_shifted: Default::default(),
            counter_shifted: Default::default(),
            cycles_shifted: Default::default(),
            byte_word: Default::default(),
            copy_word: Default::default(),
            parse_last: Constant::new((HEADER_BYTES as u64).into()),
            // READ: region u8, address, length u16.
            read_request_len: Constant::new((1 + ADDRESS_BYTES as u64 + 2).into()),
            reply_flag: c8(REPLY_FLAG),
            nak_cmd: c8(NAK),
            identity_len: Constant::new((Identity::LEN as u64).into()),
            cmd_identify: c8(Command::Identify as u8),
            cmd_status: c8(Command::Status as u8),
            cmd_load: c8(Command::Load as u8),
            cmd_load_image: c8(Command::LoadImage as u8),
            cmd_run: c8(Command::Run as u8),
            cmd_logits: c8(Command::ReadLogits as u8),
            cmd_counters: c8(Command::ReadCounters as u8),
            cmd_read: c8(Command::Read as u8),
            cmd_reset: c8(Command::Reset as u8),
            nak_unknown: c8(NakReason::UnknownCommand as u8),
            nak_payload: c8(NakReason::BadPayload as u8),
            nak_busy: c8(NakReason::Busy as u8),
            region_params: c8(Region::Params as u8),
            region_acts: c8(Region::Activations as u8),
            params_bytes: Constant::new((2u64 << PARAM_BITS).into()),
            acts_bytes: Constant::new((ACTIVATION_BYTES as u64).into()),
            max_payload: Constant::new((lutna_core::protocol::MAX_PAYLOAD as u64).into()),
            state_running: c8(RunState::Running as u8),
            state_done: c8(RunState::Done as u8),
        }
    }

    /// An accelerator with its inputs marked driven, ready for simulation or Verilog generation.
    pub fn top(clocks_per_bit: u16, rx_timeout_bytes: u32, identity: Identity) -> Self {
        Self::connected(Self::new(clocks_per_bit, rx_timeout_bytes, identity))
    }

    fn connected(mut uut: Self) -> Self {
        uut.clock.connect();
        uut.uart_rx.connect();
        uut.connect_all();
        uut
    }
}

/// The lane counts the accelerator is built with: its activation memory serves 8 bytes per
/// cycle, which 4 or 8 lanes divide evenly.
pub const ACCELERATOR_LANES: [u8; 2] = [4, 8];

/// Where a board build keeps the program the host loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgramMemory {
    /// The 1 K-word program buffer ([`BUFFER_PARAM_BITS`]; four UP5K block RAMs): the host
    /// streams the program through it segment by segment for every image.
    Buffer,
    /// 32 K words ([`RESIDENT_PARAM_BITS`]; 32 ECP5 block RAMs): every zoo program but
    /// resnet34's is loaded once and stays, so a board's image rate is bound by the image
    /// upload, not the program stream.
    Resident,
}

impl ProgramMemory {
    /// Address bits of the parameter memory.
    pub fn param_bits(self) -> usize {
        match self {
            ProgramMemory::Buffer => BUFFER_PARAM_BITS,
            ProgramMemory::Resident => RESIDENT_PARAM_BITS,
        }
    }
}

/// The identity of an accelerator build with `lanes` lanes and the given program memory.
pub fn build_identity(lanes: u8, program: ProgramMemory) -> Identity {
    identity(lanes, program.param_bits())
}

/// The accelerator top at one of the lane counts and program memories it is built with, chosen
/// at run time: the virtual board steps it, the bitstream flow and the Verilator board take its
/// Verilog.
pub enum AnyAccelerator {
    L4(Box<Accelerator<4, BUFFER_PARAM_BITS>>),
    L8(Box<Accelerator<8, BUFFER_PARAM_BITS>>),
    L4Resident(Box<Accelerator<4, RESIDENT_PARAM_BITS>>),
    L8Resident(Box<Accelerator<8, RESIDENT_PARAM_BITS>>),
    /// The instruction-stream design (docs/engine.md).
    S4(Box<crate::engine::accelerator::EngineAccelerator<4>>),
    S8(Box<crate::engine::accelerator::EngineAccelerator<8>>),
}

impl AnyAccelerator {
    /// The connected top with `lanes` lanes (4 or 8: the window memory serves 8 bytes per
    /// cycle) and `program` memory, as [`Accelerator::top`] builds it; `identity` must state
    /// both.
    pub fn new(
        lanes: u8,
        program: ProgramMemory,
        clocks_per_bit: u16,
        rx_timeout_bytes: u32,
        identity: Identity,
    ) -> anyhow::Result<Self> {
        let (cpb, rx, id) = (clocks_per_bit, rx_timeout_bytes, identity);
        use ProgramMemory::{Buffer, Resident};
        Ok(match (lanes, program) {
            (4, Buffer) => AnyAccelerator::L4(Box::new(Accelerator::top(cpb, rx, id))),
            (8, Buffer) => AnyAccelerator::L8(Box::new(Accelerator::top(cpb, rx, id))),
            (4, Resident) => AnyAccelerator::L4Resident(Box::new(Accelerator::top(cpb, rx, id))),
            (8, Resident) => AnyAccelerator::L8Resident(Box::new(Accelerator::top(cpb, rx, id))),
            _ => anyhow::bail!(
                "the accelerator is built with 4 or 8 lanes, not {lanes}: choose one with --lanes \
                 (its activation memory, the UP5K's four SPRAMs, serves 8 bytes per cycle)"
            ),
        })
    }

    /// The instruction-stream design with `lanes` lanes (4 or 8), as
    /// [`crate::engine::accelerator::EngineAccelerator::top`] builds it; `identity` must state
    /// the lanes and the program buffer.
    pub fn stream(
        lanes: u8,
        clocks_per_bit: u16,
        rx_timeout_bytes: u32,
        identity: Identity,
    ) -> anyhow::Result<Self> {
        use crate::engine::accelerator::EngineAccelerator;
        let (cpb, rx, id) = (clocks_per_bit, rx_timeout_bytes, identity);
        Ok(match lanes {
            4 => AnyAccelerator::S4(Box::new(EngineAccelerator::top(cpb, rx, id))),
            8 => AnyAccelerator::S8(Box::new(EngineAccelerator::top(cpb, rx, id))),
            _ => anyhow::bail!(
                "the instruction-stream design is built with 4 or 8 lanes, not {lanes}: choose \
                 one with --lanes"
            ),
        })
    }

    /// Chooses the Verilog of the memories for the FPGA family built.
    pub fn set_family(&mut self, family: crate::memory::Family) {
        match self {
            AnyAccelerator::L4(t) => t.set_family(family),
            AnyAccelerator::L8(t) => t.set_family(family),
            AnyAccelerator::L4Resident(t) => t.set_family(family),
            AnyAccelerator::L8Resident(t) => t.set_family(family),
            AnyAccelerator::S4(t) => t.set_family(family),
            AnyAccelerator::S8(t) => t.set_family(family),
        }
    }

    pub fn verilog(&self) -> String {
        match self {
            AnyAccelerator::L4(t) => generate_verilog(&**t),
            AnyAccelerator::L8(t) => generate_verilog(&**t),
            AnyAccelerator::L4Resident(t) => generate_verilog(&**t),
            AnyAccelerator::L8Resident(t) => generate_verilog(&**t),
            AnyAccelerator::S4(t) => generate_verilog(&**t),
            AnyAccelerator::S8(t) => generate_verilog(&**t),
        }
    }
}

impl<const P: usize, const PARAM_BITS: usize> crate::sim::UartPins for Accelerator<P, PARAM_BITS> {
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

impl<const P: usize, const PARAM_BITS: usize> Logic for Accelerator<P, PARAM_BITS> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            cmd_q,
            seq_q,
            len_q,
            parse_index,
            parse_prev,
            parse_prev_valid,
            copy_index,
            copy_addr,
            copy_params,
            copy_prev_valid,
            low_byte,
            reply_kind,
            reply_cmd,
            reply_len,
            nak_reason,
            read_base,
            last_cmd,
            last_seq,
            ran,
            was_busy,
            run_cycles
        );
        // The link.
        self.rx_uart.clock.next = self.clock.val();
        self.tx_uart.clock.next = self.clock.val();
        self.rx.clock.next = self.clock.val();
        self.tx.clock.next = self.clock.val();
        self.engine.clock.next = self.clock.val();
        self.rx_uart.rx.next = self.uart_rx.val();
        self.rx.byte.next = self.rx_uart.data.val();
        self.rx.byte_valid.next = self.rx_uart.valid.val();
        self.tx_uart.data.next = self.tx.byte.val();
        self.tx_uart.send.next = self.tx.send.val();
        self.tx.uart_ready.next = self.tx_uart.ready.val();
        self.uart_tx.next = self.tx_uart.tx.val();
        self.running.next = self.engine.busy.val();

        // Run bookkeeping: cycles of the last run, and whether one has finished.
        self.was_busy.d.next = self.engine.busy.val();
        if self.engine.busy.val() {
            self.run_cycles.d.next = self.run_cycles.q.val() + 1;
        }
        if self.was_busy.q.val() & !self.engine.busy.val() {
            self.ran.d.next = true;
        }

        // Request fields: LOAD and READ carry a region byte before the address; LOAD_IMAGE
        // writes activation memory at its address.
        self.region.next = self.header[0].q.val();
        self.address.next = bit_cast::<32, 8>(self.header[1].q.val())
            | (bit_cast::<32, 8>(self.header[2].q.val()) << 8)
            | (bit_cast::<32, 8>(self.header[3].q.val()) << 16)
            | (bit_cast::<32, 8>(self.header[4].q.val()) << 24);
        self.data_start.next = 5.into();
        self.read_len.next = bit_cast::<16, 8>(self.header[5].q.val())
            | (bit_cast::<16, 8>(self.header[6].q.val()) << 8);
        if self.cmd_q.q.val() == self.cmd_load_image.val() {
            self.region.next = self.region_acts.val();
            self.address.next = bit_cast::<32, 8>(self.header[0].q.val())
                | (bit_cast::<32, 8>(self.header[1].q.val()) << 8)
                | (bit_cast::<32, 8>(self.header[2].q.val()) << 16)
                | (bit_cast::<32, 8>(self.header[3].q.val()) << 24);
            self.data_start.next = 4.into();
        }
        self.data_len.next = self.len_q.q.val() - self.data_start.val();
        self.address_fits.next = !self.address.val().get_bits::<15>(17).any();
        self.address_low.next = bit_cast::<18, 17>(self.address.val().get_bits::<17>(0));
        self.span_end.next = self.address_low.val() + bit_cast::<18, 11>(self.data_len.val());
        if self.cmd_q.q.val() == self.cmd_read.val() {
            self.span_end.next = self.address_low.val() + bit_cast::<18, 16>(self.read_len.val());
        }

        // Defaults: engine ports idle, frame buffer read for parsing / copying.
        self.engine.start.next = false;
        self.engine.abort.next = false;
        self.engine.ext_write_param.next = false;
        self.engine.ext_write_byte.next = false;
        self.engine.ext_data.next = bit_cast::<16, 8>(self.rx.read_data.val());
        self.engine.ext_addr.next = 0.into();
        self.rx.read_addr.next = bit_cast::<10, 4>(self.parse_index.q.val());
        self.tx.start.next = false;
        self.tx.cmd.next = self.reply_cmd.q.val();
        self.tx.seq.next = self.seq_q.q.val();
        self.tx.len.next = self.reply_len.q.val();
        self.parse_prev_valid.d.next = false;
        self.copy_prev_valid.d.next = false;
        for k in 0..HEADER_BYTES {
            self.header[k].clock.next = self.clock.val();
            self.header[k].d.next = self.header[k].q.val();
            if self.parse_prev_valid.q.val() & (self.parse_prev.q.val().index() == k) {
                self.header[k].d.next = self.rx.read_data.val();
            }
        }

        // Reply payload, byte `payload_addr` (reads from engine memories take a cycle; the
        // transmitter samples a byte many cycles after its address is set). The copy below
        // overrides the engine port while a LOAD is copied.
        self.identity.address.next = self.tx.payload_addr.val().get_bits::<5>(0);
        self.byte_addr.next =
            self.read_base.q.val() + bit_cast::<17, 10>(self.tx.payload_addr.val());
        self.counter_byte.next = bit_cast::<16, 10>(self.tx.payload_addr.val()) - 5;
        self.counter_value.next = self.engine.ext_cycles.val();
        if self.counter_byte.val().get_bit(2) {
            self.counter_value.next = self.engine.ext_issues.val();
        }
        // Verilog cannot slice an expression, so the shifted words are named.
        self.logit_shifted.next = self.engine.ext_logit.val()
            >> (bit_cast::<32, 10>(self.tx.payload_addr.val() & 3) << 3);
        self.counter_shifted.next =
            self.counter_value.val() >> (bit_cast::<32, 16>(self.counter_byte.val() & 3) << 3);
        self.cycles_shifted.next =
            self.run_cycles.q.val() >> (bit_cast::<32, 10>(self.tx.payload_addr.val()) << 3);
        self.byte_word.next = self.byte_addr.val() >> 1;
        self.copy_word.next = self.copy_addr.q.val() >> 1;
        self.tx.payload_data.next = 0.into();
        match self.reply_kind.q.val() {
            ReplyKind::Identity => {
                self.tx.payload_data.next = self.identity.data.val();
            }
            ReplyKind::Status => {
                if self.tx.payload_addr.val() == 0 {
                    // Done also in the cycle busy falls, before `ran` is set: a byte sampled
                    // then would otherwise read idle, as if the run had been stopped.
                    if self.ran.q.val() | (self.was_busy.q.val() & !self.engine.busy.val()) {
                        self.tx.payload_data.next = self.state_done.val();
                    }
                    if self.engine.busy.val() {
                        self.tx.payload_data.next = self.state_running.val();
                    }
                }
                if self.tx.payload_addr.val() == 1 {
                    self.tx.payload_data.next = self.engine.layers_done.val();
                }
            }
            ReplyKind::Nak => {
                self.tx.payload_data.next = self.nak_reason.q.val();
            }
            ReplyKind::Logits => {
                self.engine.ext_addr.next = bit_cast::<16, 10>(self.tx.payload_addr.val()) >> 2;
                self.tx.payload_data.next = self.logit_shifted.val().get_bits::<8>(0);
            }
            ReplyKind::Counters => {
                self.engine.ext_addr.next = self.counter_byte.val() >> 3;
                self.tx.payload_data.next = self.counter_shifted.val().get_bits::<8>(0);
                if self.tx.payload_addr.val() < 4 {
                    self.tx.payload_data.next = self.cycles_shifted.val().get_bits::<8>(0);
                }
                if self.tx.payload_addr.val() == 4 {
                    self.tx.payload_data.next = self.engine.layers_done.val();
                }
            }
            ReplyKind::Params => {
                self.engine.ext_addr.next = self.byte_word.val().get_bits::<16>(0);
                self.tx.payload_data.next = self.engine.ext_param.val().get_bits::<8>(0);
                if self.byte_addr.val().get_bit(0) {
                    self.tx.payload_data.next = self.engine.ext_param.val().get_bits::<8>(8);
                }
            }
            ReplyKind::Activations => {
                self.engine.ext_addr.next = self.byte_addr.val().get_bits::<16>(0);
                self.tx.payload_data.next = self.engine.ext_byte.val();
            }
            _ => {}
        }

        match self.state.q.val() {
            CmdState::Idle => {
                // A request that completes while a reply is still going out is dropped: the
                // reply's bytes are made from the handler's registers as they are sent, so
                // serving the request would alter the rest of the reply under a CRC that
                // matches it. The host's retry is answered (docs/protocol.md, "Requests
                // during a reply").
                if !self.tx.busy.val() {
                    if self.rx.frame_bad.val() {
                        self.reply_cmd.d.next = self.nak_cmd.val();
                        self.reply_len.d.next = 1.into();
                        self.reply_kind.d.next = ReplyKind::Nak;
                        self.nak_reason.d.next = self.rx.bad_reason.val();
                        self.seq_q.d.next = self.rx.seq.val();
                        self.state.d.next = CmdState::Reply;
                    }
                    if self.rx.frame_ok.val() {
                        self.cmd_q.d.next = self.rx.cmd.val();
                        self.seq_q.d.next = self.rx.seq.val();
                        self.len_q.d.next = self.rx.len.val();
                        self.parse_index.d.next = 0.into();
                        for k in 0..HEADER_BYTES {
                            self.header[k].d.next = 0.into();
                        }
                        self.state.d.next = CmdState::Parse;
                    }
                }
            }
            CmdState::Parse => {
                // Header bytes beyond the payload read as whatever the buffer holds; only the
                // commands whose payload is long enough use them (checked in Decide).
                self.parse_index.d.next = self.parse_index.q.val() + 1;
                self.parse_prev.d.next = self.parse_index.q.val();
                self.parse_prev_valid.d.next = true;
                if self.parse_index.q.val() == self.parse_last.val() {
                    self.parse_prev_valid.d.next = false;
                    self.state.d.next = CmdState::Decide;
                }
            }
            CmdState::Decide => {
                self.state.d.next = CmdState::Reply;
                self.reply_cmd.d.next = self.cmd_q.q.val() | self.reply_flag.val();
                self.reply_kind.d.next = ReplyKind::Empty;
                self.reply_len.d.next = 0.into();
                self.last_cmd.d.next = self.cmd_q.q.val();
                self.last_seq.d.next = self.seq_q.q.val();
                if self.cmd_q.q.val() == self.cmd_identify.val() {
                    self.reply_kind.d.next = ReplyKind::Identity;
                    self.reply_len.d.next = self.identity_len.val();
                } else if self.cmd_q.q.val() == self.cmd_status.val() {
                    self.reply_kind.d.next = ReplyKind::Status;
                    self.reply_len.d.next = 4.into();
                } else if self.cmd_q.q.val() == self.cmd_reset.val() {
                    // A stopped run is not a finished one: keep `ran` from seeing busy fall.
                    self.engine.abort.next = true;
                    self.ran.d.next = false;
                    self.was_busy.d.next = false;
                } else if (self.cmd_q.q.val() == self.cmd_run.val())
                    & (self.last_cmd.q.val() == self.cmd_run.val())
                    & (self.last_seq.q.val() == self.seq_q.q.val())
                {
                    // A retransmitted RUN (its reply was lost): answered, not run again, also
                    // while the first one is still running.
                } else if self.engine.busy.val() {
                    self.reply_cmd.d.next = self.nak_cmd.val();
                    self.reply_kind.d.next = ReplyKind::Nak;
                    self.reply_len.d.next = 1.into();
                    self.nak_reason.d.next = self.nak_busy.val();
                } else if (self.cmd_q.q.val() == self.cmd_load.val())
                    | (self.cmd_q.q.val() == self.cmd_load_image.val())
                {
                    // Parameter loads are whole 16-bit words; both regions are bounded.
                    self.copy_index.d.next = self.data_start.val();
                    self.copy_addr.d.next = self.address.val().get_bits::<17>(0);
                    self.copy_params.d.next = self.region.val() == self.region_params.val();
                    self.state.d.next = CmdState::Copy;
                    if (self.len_q.q.val() < self.data_start.val())
                        | !(((self.region.val() == self.region_params.val())
                            & !self.address.val().get_bit(0)
                            & !self.data_len.val().get_bit(0)
                            & (self.span_end.val() <= self.params_bytes.val()))
                            | ((self.region.val() == self.region_acts.val())
                                & (self.span_end.val() <= self.acts_bytes.val())))
                        | !self.address_fits.val()
                    {
                        self.state.d.next = CmdState::Reply;
                        self.reply_cmd.d.next = self.nak_cmd.val();
                        self.reply_kind.d.next = ReplyKind::Nak;
                        self.reply_len.d.next = 1.into();
                        self.nak_reason.d.next = self.nak_payload.val();
                    }
                } else if self.cmd_q.q.val() == self.cmd_run.val() {
                    self.engine.start.next = true;
                    self.ran.d.next = false;
                    self.run_cycles.d.next = 0.into();
                } else if self.cmd_q.q.val() == self.cmd_logits.val() {
                    self.reply_kind.d.next = ReplyKind::Logits;
                    self.reply_len.d.next = 40.into();
                } else if self.cmd_q.q.val() == self.cmd_counters.val() {
                    self.reply_kind.d.next = ReplyKind::Counters;
                    self.reply_len.d.next =
                        (bit_cast::<11, 8>(self.engine.layers_done.val()) << 3) + 5;
                } else if self.cmd_q.q.val() == self.cmd_read.val() {
                    self.read_base.d.next = self.address.val().get_bits::<17>(0);
                    self.reply_len.d.next = self.read_len.val().get_bits::<11>(0);
                    self.reply_kind.d.next = ReplyKind::Activations;
                    if self.region.val() == self.region_params.val() {
                        self.reply_kind.d.next = ReplyKind::Params;
                    }
                    if (self.len_q.q.val() != self.read_request_len.val())
                        | (self.read_len.val() > self.max_payload.val())
                        | !(((self.region.val() == self.region_params.val())
                            & (self.span_end.val() <= self.params_bytes.val()))
                            | ((self.region.val() == self.region_acts.val())
                                & (self.span_end.val() <= self.acts_bytes.val())))
                        | !self.address_fits.val()
                    {
                        self.reply_cmd.d.next = self.nak_cmd.val();
                        self.reply_kind.d.next = ReplyKind::Nak;
                        self.reply_len.d.next = 1.into();
                        self.nak_reason.d.next = self.nak_payload.val();
                    }
                } else {
                    self.reply_cmd.d.next = self.nak_cmd.val();
                    self.reply_kind.d.next = ReplyKind::Nak;
                    self.reply_len.d.next = 1.into();
                    self.nak_reason.d.next = self.nak_unknown.val();
                }
            }
            CmdState::Copy => {
                // Read the frame buffer byte by byte; each byte lands the cycle after its read.
                self.rx.read_addr.next = self.copy_index.q.val().get_bits::<10>(0);
                if self.copy_index.q.val() != self.len_q.q.val() {
                    self.copy_index.d.next = self.copy_index.q.val() + 1;
                    self.copy_prev_valid.d.next = true;
                }
                if self.copy_prev_valid.q.val() {
                    self.copy_addr.d.next = self.copy_addr.q.val() + 1;
                    if self.copy_params.q.val() {
                        self.low_byte.d.next = self.rx.read_data.val();
                        self.engine.ext_addr.next = self.copy_word.val().get_bits::<16>(0);
                        self.engine.ext_data.next = (bit_cast::<16, 8>(self.rx.read_data.val())
                            << 8)
                            | bit_cast::<16, 8>(self.low_byte.q.val());
                        self.engine.ext_write_param.next = self.copy_addr.q.val().get_bit(0);
                    } else {
                        self.engine.ext_addr.next = self.copy_addr.q.val().get_bits::<16>(0);
                        self.engine.ext_write_byte.next = true;
                    }
                } else if self.copy_index.q.val() == self.len_q.q.val() {
                    self.state.d.next = CmdState::Reply;
                }
            }
            CmdState::Reply => {
                if !self.tx.busy.val() {
                    self.tx.start.next = true;
                    self.state.d.next = CmdState::Idle;
                }
            }
            _ => {
                self.state.d.next = CmdState::Idle;
            }
        }
    }
}
