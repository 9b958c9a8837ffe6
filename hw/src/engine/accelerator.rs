//! `EngineAccelerator<P, PA, N>`: the accelerator: the instruction-stream engine
//! ([`super::core::EngineCore`], P lanes, 2^PA program words, N activation banks) behind the link: UART, frame receiver and transmitter,
//! and the command handler of protocol version 3 (docs/protocol.md). This is what the board tops
//! wrap and what the virtual board steps.
//!
//! What the commands reach: LOAD region 0 writes the program memory (2^PA 16-bit words: the
//! iCEBreaker's buffer of `lutna_core::isa::shape::PROGRAM_WORDS`, or a resident memory,
//! [`ProgramMemory`]); LOAD region 1 and LOAD_IMAGE write the
//! activation memory (LOAD_IMAGE also clears the counters: an image's segments count from it);
//! RUN starts the program buffer at word 0 (a program longer than the buffer runs as segments,
//! `lutna_core::isa::segments`); STATUS reports running or done and the records taken;
//! READ_LOGITS the 10 first logits (40 bytes, little-endian i32); READ_COUNTERS the cycles the
//! program has run since LOAD_IMAGE (every segment's), the records taken, then per record its
//! cycle and issue counters as the program's `RECORD`s stored them (also cumulative since
//! LOAD_IMAGE); READ the program buffer or activations; RESET stops the program (what it had
//! handed on finishes).
//!
//! The handler is built to its budget line (docs/engine.md): one byte pointer serves every
//! copy and every reply that reads a memory, the range checks are bit tests against the
//! power-of-two sizes, and the cycle count is the engine's own counter.

use super::core::{EngineCore, CONSTANTS_AT, LOGITS_AT};
use crate::link::LinkFrontEnd;
use lutna_core::isa::shape::PROGRAM_WORDS;
use lutna_core::protocol::{
    Command, Identity, NakReason, Region, RunState, ADDRESS_BYTES, MAX_PAYLOAD, NAK, REPLY_FLAG,
};
use rust_hdl::prelude::*;

/// Header bytes the handler parses from a request payload: region, address (4), READ's length
/// (2). LOAD_IMAGE's payload has no region byte: its bytes are parsed one place up.
const HEADER_BYTES: usize = 1 + ADDRESS_BYTES + 2;
/// Bytes of activation memory.
const ACTIVATION_BYTES: usize = lutna_core::isa::shape::ACTIVATION_BYTES;
/// The range checks are bit tests against the regions' and the payload's sizes, which are powers
/// of two: `x <= 2^k` is "nothing above bit k, and if bit k, nothing below it" (a comparator
/// would be a carry chain even against a constant). Region 0 ends at byte 2^(PA + 1) (masks
/// below, constant-folded by synthesis), region 1 at 2^16, a READ asks for at most 2^10 bytes.
const _: () = assert!(ACTIVATION_BYTES == 1 << 16);
const _: () = assert!(MAX_PAYLOAD == 1 << 10);
/// NAK reasons fit 3 bits.
const _: () = assert!((NakReason::Timeout as u8) < 8 && (NakReason::Unsupported as u8) < 8);
/// Bits of the handler's byte pointer: region 0 of the largest program memory
/// ([`RESIDENT_PROGRAM_BITS`] words of two bytes), and region 1 (2^16 bytes). A build with a
/// smaller program memory uses the low 16 only (`pointer_mask`), so its top bit is a constant
/// that synthesis removes.
const POINTER_BITS: usize = 17;
/// Bits of the byte pointer a build with 2^PA words of program uses.
const fn pointer_bits(pa: usize) -> usize {
    if pa + 1 > 16 {
        pa + 1
    } else {
        16
    }
}
/// The reply pointer's start for READ_COUNTERS: the records' list begins at payload byte 5
/// (after the cycles and the records count), so the pointer, wrapping at its width, is 0 there.
const fn counters_pointer(pa: usize) -> u64 {
    (1 << pointer_bits(pa)) - 5
}

/// The lane counts the accelerator is built with: the activation memory serves a window of 8
/// bytes per cycle, which 4 or 8 lanes divide evenly, or of 16 for 16 lanes (eight banks: the
/// ECP5 only, the UP5K has four SPRAMs).
pub const ACCELERATOR_LANES: [u8; 3] = [4, 8, 16];

/// Where a board build keeps the program the host loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgramMemory {
    /// The program buffer of `lutna_core::isa::shape::PROGRAM_WORDS` words (four UP5K block
    /// RAMs): the host streams a longer program through it segment by segment for every image.
    Buffer,
    /// [`RESIDENT_PROGRAM_BITS`] address bits (64 ECP5 block RAMs): a program that fits is
    /// loaded once and stays, so a board's image rate is bound by the image upload, not the
    /// program stream.
    Resident,
}

/// Address bits of the program buffer ([`ProgramMemory::Buffer`]).
pub const BUFFER_PROGRAM_BITS: usize = PROGRAM_WORDS.trailing_zeros() as usize;
const _: () = assert!(1 << BUFFER_PROGRAM_BITS == PROGRAM_WORDS);
/// Address bits of a resident program memory (64 K words, 128 KiB: what the handler's byte
/// pointer reaches, [`POINTER_BITS`]).
pub const RESIDENT_PROGRAM_BITS: usize = 16;
const _: () = assert!(RESIDENT_PROGRAM_BITS + 1 == POINTER_BITS);

impl ProgramMemory {
    /// Address bits of the program memory (16-bit words).
    pub fn bits(self) -> usize {
        match self {
            ProgramMemory::Buffer => BUFFER_PROGRAM_BITS,
            ProgramMemory::Resident => RESIDENT_PROGRAM_BITS,
        }
    }
}

/// The IDENTIFY answer of a build with `lanes` lanes and `program` memory: 4-bit LUT-NA lanes
/// in all three modes, on the UP5K at a 24 MHz clock (a board build states its own memories and
/// clock), the protocol version.
pub fn identity(lanes: u8, program: ProgramMemory) -> Identity {
    Identity {
        version: lutna_core::protocol::VERSION,
        lanes,
        chunk_bits: 4,
        modes: 0b111,
        spram_bytes: 128 * 1024,
        bram_bytes: 30 * 512,
        clock_hz: 24_000_000,
        max_payload: MAX_PAYLOAD as u16,
        param_words: 1 << program.bits(),
        activation_bytes: ACTIVATION_BYTES as u32,
    }
}

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

#[derive(LogicBlock)]
pub struct EngineAccelerator<const P: usize, const PA: usize, const N: usize> {
    pub clock: Signal<In, Clock>,
    pub uart_rx: Signal<In, bool>,
    pub uart_tx: Signal<Out, bool>,
    /// High while a program runs (an LED on the boards).
    pub running: Signal<Out, bool>,
    link: LinkFrontEnd,
    engine: EngineCore<P, PA, N>,
    state: DFF<CmdState>,
    /// The request's range checks, registered a cycle before Decide uses them (the subtract,
    /// add and tests are the link's longest path otherwise), and that cycle passed.
    checked: DFF<Bits<2>>,
    span_end_q: DFF<Bits<18>>,
    load_ok: DFF<bool>,
    read_ok: DFF<bool>,
    running_q: DFF<bool>,
    cmd_q: DFF<Bits<8>>,
    seq_q: DFF<Bits<8>>,
    len_q: DFF<Bits<11>>,
    header: [DFF<Bits<8>>; HEADER_BYTES],
    /// The frame buffer's byte being read, and the header slot the byte read the cycle before
    /// goes to.
    parse_index: DFF<Bits<4>>,
    parse_slot: DFF<Bits<4>>,
    parse_prev_valid: DFF<bool>,
    copy_index: DFF<Bits<11>>,
    copy_phase: DFF<bool>,
    /// The one byte address of the handler: where a LOAD's next byte goes, and where a reply's
    /// next payload byte comes from (READ: the region's byte; READ_LOGITS and READ_COUNTERS:
    /// the results memory's byte). It steps as each byte is copied or taken by the transmitter.
    pointer: DFF<Bits<POINTER_BITS>>,
    low_byte: DFF<Bits<8>>,
    reply_kind: DFF<ReplyKind>,
    reply_nak: DFF<bool>,
    reply_len: DFF<Bits<11>>,
    nak_reason: DFF<Bits<3>>,
    /// Command, seq and length of the last request served (a NAK serves nothing).
    last_cmd: DFF<Bits<8>>,
    last_seq: DFF<Bits<8>>,
    last_len: DFF<Bits<11>>,
    ran: DFF<bool>,
    was_busy: DFF<bool>,
    /// A RESET came since the last RUN: the run it stopped has not finished, so its end (once
    /// what it had handed on is written) does not make STATUS say done.
    stopped: DFF<bool>,
    /// The engine's work ends now, and it was not stopped: the run finished.
    finishing: Signal<Local, bool>,
    // Decoded request fields.
    is_image: Signal<Local, bool>,
    is_read: Signal<Local, bool>,
    is_params: Signal<Local, bool>,
    is_acts: Signal<Local, bool>,
    /// IDENTIFY, STATUS or RESET (served while a program runs), and RUN, READ_LOGITS or
    /// READ_COUNTERS: the commands whose payload is empty.
    always_served: Signal<Local, bool>,
    payload_free: Signal<Local, bool>,
    /// The request repeats the last one served (same command, seq and length).
    repeated: Signal<Local, bool>,
    /// RUN, LOAD or LOAD_IMAGE: the commands whose repeat must not act again.
    has_effect: Signal<Local, bool>,
    /// The NAK reason the request earns, 0 when it is served.
    refusal: Signal<Local, Bits<3>>,
    /// The address is below 128 K, so `span_end` (18 bits) cannot wrap.
    address_fits: Signal<Local, bool>,
    address_low: Signal<Local, Bits<18>>,
    data_start: Signal<Local, Bits<12>>,
    /// The payload's data bytes; bit 11 set when the payload is shorter than its header.
    data_len: Signal<Local, Bits<12>>,
    read_len: Signal<Local, Bits<16>>,
    span_len: Signal<Local, Bits<18>>,
    within_params: Signal<Local, bool>,
    /// Region 0's range test: bits above its end, its end bit, the bits below.
    params_above: Constant<Bits<18>>,
    params_end: Constant<Bits<18>>,
    params_below: Constant<Bits<18>>,
    within_acts: Signal<Local, bool>,
    read_len_ok: Signal<Local, bool>,
    result_shift: Signal<Local, Bits<32>>,
    result_shifted: Signal<Local, Bits<32>>,
    cycles_shift: Signal<Local, Bits<32>>,
    cycles_shifted: Signal<Local, Bits<32>>,
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
    nak_unknown: Constant<Bits<3>>,
    nak_payload: Constant<Bits<3>>,
    nak_busy: Constant<Bits<3>>,
    region_params: Constant<Bits<8>>,
    region_acts: Constant<Bits<8>>,
    state_running: Constant<Bits<8>>,
    state_done: Constant<Bits<8>>,
    logits_pointer: Constant<Bits<POINTER_BITS>>,
    identity_pointer: Constant<Bits<POINTER_BITS>>,
    counters_pointer: Constant<Bits<POINTER_BITS>>,
    pointer_mask: Constant<Bits<POINTER_BITS>>,
}

impl<const P: usize, const PA: usize, const N: usize> EngineAccelerator<P, PA, N> {
    /// The accelerator with empty memories (the host loads the program and images over the link).
    /// A partial frame is abandoned after `rx_timeout_bytes` byte times of silence.
    pub fn new(clocks_per_bit: u16, rx_timeout_bytes: u32, identity: Identity) -> Self {
        assert!(
            PA <= RESIDENT_PROGRAM_BITS,
            "the byte pointer reaches 2^{POINTER_BITS} bytes of program"
        );
        assert_eq!(
            identity.lanes as usize, P,
            "the identity must state the build's lanes"
        );
        assert_eq!(
            identity.param_words as usize,
            1 << PA,
            "the identity must state the program buffer"
        );
        // The IDENTIFY answer is read from the results memory, like the logits.
        let engine = EngineCore::with_constants(&identity.to_bytes());
        let c8 = |v: u8| Constant::new((v as u64).into());
        let c3 = |v: NakReason| Constant::new((v as u64).into());
        Self {
            clock: Default::default(),
            uart_rx: Default::default(),
            uart_tx: Default::default(),
            running: Default::default(),
            link: LinkFrontEnd::new(clocks_per_bit, rx_timeout_bytes),
            engine,
            state: Default::default(),
            checked: Default::default(),
            span_end_q: Default::default(),
            load_ok: Default::default(),
            read_ok: Default::default(),
            running_q: Default::default(),
            cmd_q: Default::default(),
            seq_q: Default::default(),
            len_q: Default::default(),
            header: Default::default(),
            parse_index: Default::default(),
            parse_slot: Default::default(),
            parse_prev_valid: Default::default(),
            copy_index: Default::default(),
            copy_phase: Default::default(),
            pointer: Default::default(),
            low_byte: Default::default(),
            reply_kind: Default::default(),
            reply_nak: Default::default(),
            reply_len: Default::default(),
            nak_reason: Default::default(),
            last_cmd: Default::default(),
            last_seq: Default::default(),
            last_len: Default::default(),
            ran: Default::default(),
            was_busy: Default::default(),
            stopped: Default::default(),
            finishing: Default::default(),
            is_image: Default::default(),
            is_read: Default::default(),
            is_params: Default::default(),
            is_acts: Default::default(),
            always_served: Default::default(),
            payload_free: Default::default(),
            repeated: Default::default(),
            has_effect: Default::default(),
            refusal: Default::default(),
            address_fits: Default::default(),
            address_low: Default::default(),
            data_start: Default::default(),
            data_len: Default::default(),
            read_len: Default::default(),
            span_len: Default::default(),
            within_params: Default::default(),
            params_above: Constant::new(((0x3ffffu64 << (PA + 2)) & 0x3ffff).into()),
            params_end: Constant::new((1u64 << (PA + 1)).into()),
            params_below: Constant::new(((1u64 << (PA + 1)) - 1).into()),
            within_acts: Default::default(),
            read_len_ok: Default::default(),
            result_shift: Default::default(),
            result_shifted: Default::default(),
            cycles_shift: Default::default(),
            cycles_shifted: Default::default(),
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
            nak_unknown: c3(NakReason::UnknownCommand),
            nak_payload: c3(NakReason::BadPayload),
            nak_busy: c3(NakReason::Busy),
            region_params: c8(Region::Params as u8),
            region_acts: c8(Region::Activations as u8),
            state_running: c8(RunState::Running as u8),
            state_done: c8(RunState::Done as u8),
            logits_pointer: Constant::new((4 * LOGITS_AT).into()),
            identity_pointer: Constant::new((4 * CONSTANTS_AT).into()),
            counters_pointer: Constant::new(counters_pointer(PA).into()),
            pointer_mask: Constant::new(((1u64 << pointer_bits(PA)) - 1).into()),
        }
    }

    /// Chooses the Verilog of the memories for the FPGA family built (the simulation is the
    /// same for every family).
    pub fn set_family(&mut self, family: crate::memory::Family) {
        self.engine.set_family(family);
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

impl<const P: usize, const PA: usize, const N: usize> crate::sim::UartPins
    for EngineAccelerator<P, PA, N>
{
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

impl<const P: usize, const PA: usize, const N: usize> Logic for EngineAccelerator<P, PA, N> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            checked,
            span_end_q,
            load_ok,
            read_ok,
            running_q,
            cmd_q,
            seq_q,
            len_q,
            parse_index,
            parse_slot,
            parse_prev_valid,
            copy_index,
            copy_phase,
            pointer,
            low_byte,
            reply_kind,
            reply_nak,
            reply_len,
            nak_reason,
            last_cmd,
            last_seq,
            last_len,
            ran,
            was_busy,
            stopped
        );
        // The link.
        self.link.clock.next = self.clock.val();
        self.engine.clock.next = self.clock.val();
        self.link.uart_rx.next = self.uart_rx.val();
        self.uart_tx.next = self.link.uart_tx.val();
        // (Registered: the engine's busy is a wide OR, the LED pin is far away.)
        self.running_q.d.next = self.engine.busy.val();
        self.running.next = self.running_q.q.val();

        // Whether a run has finished since the last RUN.
        self.was_busy.d.next = self.engine.busy.val();
        self.finishing.next =
            self.was_busy.q.val() & !self.engine.busy.val() & !self.stopped.q.val();
        if self.finishing.val() {
            self.ran.d.next = true;
        }

        // Request fields: region (LOAD_IMAGE: the activations), address, READ's length.
        self.is_image.next = self.cmd_q.q.val() == self.cmd_load_image.val();
        self.is_read.next = self.cmd_q.q.val() == self.cmd_read.val();
        self.always_served.next = (self.cmd_q.q.val() == self.cmd_identify.val())
            | (self.cmd_q.q.val() == self.cmd_status.val())
            | (self.cmd_q.q.val() == self.cmd_reset.val());
        self.refusal.next = 0.into();
        self.repeated.next = (self.cmd_q.q.val() == self.last_cmd.q.val())
            & (self.seq_q.q.val() == self.last_seq.q.val())
            & (self.len_q.q.val() == self.last_len.q.val());
        self.has_effect.next = (self.cmd_q.q.val() == self.cmd_run.val())
            | (self.cmd_q.q.val() == self.cmd_load.val())
            | self.is_image.val();
        self.payload_free.next = (self.cmd_q.q.val() == self.cmd_run.val())
            | (self.cmd_q.q.val() == self.cmd_logits.val())
            | (self.cmd_q.q.val() == self.cmd_counters.val());
        self.is_params.next =
            !self.is_image.val() & (self.header[0].q.val() == self.region_params.val());
        self.is_acts.next =
            self.is_image.val() | (self.header[0].q.val() == self.region_acts.val());
        self.address_fits.next =
            !self.header[3].q.val().get_bits::<7>(1).any() & !self.header[4].q.val().any();
        self.address_low.next = bit_cast::<18, 8>(self.header[1].q.val())
            | (bit_cast::<18, 8>(self.header[2].q.val()) << 8)
            | (bit_cast::<18, 1>(self.header[3].q.val().get_bits::<1>(0)) << 16);
        self.read_len.next = bit_cast::<16, 8>(self.header[5].q.val())
            | (bit_cast::<16, 8>(self.header[6].q.val()) << 8);
        self.data_start.next = 5.into();
        if self.is_image.val() {
            self.data_start.next = 4.into();
        }
        self.data_len.next = bit_cast::<12, 11>(self.len_q.q.val()) - self.data_start.val();
        self.span_len.next = bit_cast::<18, 11>(self.data_len.val().get_bits::<11>(0));
        if self.is_read.val() {
            self.span_len.next = bit_cast::<18, 16>(self.read_len.val());
        }
        self.span_end_q.d.next = self.address_low.val() + self.span_len.val();
        self.within_params.next = !(self.span_end_q.q.val() & self.params_above.val()).any()
            & (!(self.span_end_q.q.val() & self.params_end.val()).any()
                | !(self.span_end_q.q.val() & self.params_below.val()).any());
        self.within_acts.next = !self.span_end_q.q.val().get_bit(17)
            & (!self.span_end_q.q.val().get_bit(16)
                | !self.span_end_q.q.val().get_bits::<16>(0).any());
        self.read_len_ok.next = !self.read_len.val().get_bits::<5>(11).any()
            & (!self.read_len.val().get_bit(10) | !self.read_len.val().get_bits::<10>(0).any());
        // The range checks of a LOAD / LOAD_IMAGE (region 0 takes whole 16-bit words) and of a
        // READ, used by Decide a cycle later.
        self.load_ok.d.next = !self.data_len.val().get_bit(11)
            & self.address_fits.val()
            & ((self.is_params.val()
                & !self.header[1].q.val().get_bit(0)
                & !self.data_len.val().get_bit(0)
                & self.within_params.val())
                | (self.is_acts.val() & self.within_acts.val()));
        self.read_ok.d.next = (self.len_q.q.val() == self.read_request_len.val())
            & self.read_len_ok.val()
            & self.address_fits.val()
            & ((self.is_params.val() & self.within_params.val())
                | (self.is_acts.val() & self.within_acts.val()));

        // The engine's ports: idle, addressed by the pointer.
        self.engine.run.next = false;
        self.engine.abort.next = false;
        self.engine.clear_counters.next = false;
        self.engine.program_write.next = false;
        self.engine.program_address.next = self.pointer.q.val().get_bits::<PA>(1);
        self.engine.program_data.next = (bit_cast::<16, 8>(self.link.request.read_data.val()) << 8)
            | bit_cast::<16, 8>(self.low_byte.q.val());
        self.engine.host_write.next = false;
        self.engine.host_address.next = self.pointer.q.val().get_bits::<16>(0);
        self.engine.host_data.next = self.link.request.read_data.val();
        self.engine.result_address.next = self.pointer.q.val().get_bits::<8>(2);
        self.link.request.read_addr.next = bit_cast::<10, 4>(self.parse_index.q.val());
        self.link.reply.start.next = false;
        self.link.reply.cmd.next = self.cmd_q.q.val() | self.reply_flag.val();
        if self.reply_nak.q.val() {
            self.link.reply.cmd.next = self.nak_cmd.val();
        }
        self.link.reply.seq.next = self.seq_q.q.val();
        self.link.reply.len.next = self.reply_len.q.val();
        self.parse_prev_valid.d.next = false;
        for k in 0..HEADER_BYTES {
            self.header[k].clock.next = self.clock.val();
            self.header[k].d.next = self.header[k].q.val();
            if self.parse_prev_valid.q.val() & (self.parse_slot.q.val().index() == k) {
                self.header[k].d.next = self.link.request.read_data.val();
            }
        }

        // Reply payload, byte `payload_addr`: the pointer steps as each byte is taken (reads
        // from engine memories take a cycle or two; the transmitter takes the next byte a byte
        // time later).
        if self.link.reply.payload_taken.val() {
            self.pointer.d.next = (self.pointer.q.val() + 1) & self.pointer_mask.val();
        }
        // A logit's or a record word's byte (both in the results memory). Verilog cannot slice
        // an expression, so the shifted words are named.
        self.result_shift.next = bit_cast::<32, 2>(self.pointer.q.val().get_bits::<2>(0)) << 3;
        self.result_shifted.next = self.engine.result_data.val() >> self.result_shift.val();
        self.cycles_shift.next =
            bit_cast::<32, 2>(self.link.reply.payload_addr.val().get_bits::<2>(0)) << 3;
        self.cycles_shifted.next = self.engine.run_cycles.val() >> self.cycles_shift.val();
        self.link.reply.payload_data.next = 0.into();
        match self.reply_kind.q.val() {
            ReplyKind::Status => {
                if self.link.reply.payload_addr.val() == 0 {
                    // Done also in the cycle busy falls, before `ran` is set: a byte sampled
                    // then would otherwise read idle, as if the run had been stopped.
                    if self.ran.q.val() | self.finishing.val() {
                        self.link.reply.payload_data.next = self.state_done.val();
                    }
                    if self.engine.busy.val() {
                        self.link.reply.payload_data.next = self.state_running.val();
                    }
                }
                if self.link.reply.payload_addr.val() == 1 {
                    self.link.reply.payload_data.next = self.engine.records.val();
                }
            }
            ReplyKind::Nak => {
                self.link.reply.payload_data.next = bit_cast::<8, 3>(self.nak_reason.q.val());
            }
            ReplyKind::Logits => {
                // (The logits and the identity: bytes of the results memory.)
                self.link.reply.payload_data.next = self.result_shifted.val().get_bits::<8>(0);
            }
            ReplyKind::Counters => {
                self.link.reply.payload_data.next = self.result_shifted.val().get_bits::<8>(0);
                if !self.link.reply.payload_addr.val().get_bits::<8>(2).any() {
                    self.link.reply.payload_data.next = self.cycles_shifted.val().get_bits::<8>(0);
                }
                if self.link.reply.payload_addr.val() == 4 {
                    self.link.reply.payload_data.next = self.engine.records.val();
                }
            }
            ReplyKind::Params => {
                self.link.reply.payload_data.next = self.engine.program_word.val().get_bits::<8>(0);
                if self.pointer.q.val().get_bit(0) {
                    self.link.reply.payload_data.next =
                        self.engine.program_word.val().get_bits::<8>(8);
                }
            }
            ReplyKind::Activations => {
                self.link.reply.payload_data.next = self.engine.host_window.val().get_bits::<8>(0);
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
                if !self.link.reply.busy.val() {
                    if self.link.request.frame_bad.val() {
                        self.reply_nak.d.next = true;
                        self.reply_len.d.next = 1.into();
                        self.reply_kind.d.next = ReplyKind::Nak;
                        self.nak_reason.d.next =
                            self.link.request.bad_reason.val().get_bits::<3>(0);
                        self.seq_q.d.next = self.link.request.seq.val();
                        self.state.d.next = CmdState::Reply;
                    }
                    if self.link.request.frame_ok.val() {
                        self.cmd_q.d.next = self.link.request.cmd.val();
                        self.seq_q.d.next = self.link.request.seq.val();
                        self.len_q.d.next = self.link.request.len.val();
                        self.parse_index.d.next = 0.into();
                        self.state.d.next = CmdState::Parse;
                    }
                }
            }
            CmdState::Parse => {
                // Header bytes beyond the payload read as whatever the buffer holds; only the
                // commands whose payload is long enough use them (checked in Decide), and only
                // LOAD_IMAGE leaves a slot unread (the region, which it does not use).
                self.parse_index.d.next = self.parse_index.q.val() + 1;
                self.parse_slot.d.next = self.parse_index.q.val();
                if self.is_image.val() {
                    self.parse_slot.d.next = self.parse_index.q.val() + 1;
                }
                self.parse_prev_valid.d.next = true;
                if self.parse_index.q.val() == self.parse_last.val() {
                    self.parse_prev_valid.d.next = false;
                    self.state.d.next = CmdState::Decide;
                }
            }
            CmdState::Decide => {
                if !self.checked.q.val().get_bit(1) {
                    // The header is complete: the request's span is registered in the first
                    // cycle, the range checks in the second.
                    self.checked.d.next = self.checked.q.val() + 1;
                } else {
                    self.checked.d.next = 0.into();
                    self.state.d.next = CmdState::Reply;
                    self.reply_nak.d.next = false;
                    self.reply_kind.d.next = ReplyKind::Empty;
                    self.reply_len.d.next = 0.into();
                    // What the request earns: served (refusal 0) or a NAK reason.
                    if self.always_served.val() & self.len_q.q.val().any() {
                        // IDENTIFY, STATUS and RESET take no payload (at any time).
                        self.refusal.next = self.nak_payload.val();
                    } else if self.cmd_q.q.val() == self.cmd_identify.val() {
                        self.pointer.d.next = self.identity_pointer.val();
                        self.reply_kind.d.next = ReplyKind::Logits;
                        self.reply_len.d.next = self.identity_len.val();
                    } else if self.cmd_q.q.val() == self.cmd_status.val() {
                        self.reply_kind.d.next = ReplyKind::Status;
                        self.reply_len.d.next = 4.into();
                    } else if self.cmd_q.q.val() == self.cmd_reset.val() {
                        // A repeated RESET is answered, not executed again. A stopped run is
                        // not a finished one: its end, when what it had handed on is written,
                        // must not read as done.
                        if !self.repeated.val() {
                            self.engine.abort.next = true;
                            self.ran.d.next = false;
                            self.stopped.d.next = true;
                        }
                    } else if self.repeated.val() & self.has_effect.val() {
                        // A repeated RUN, LOAD or LOAD_IMAGE (its reply was lost): answered, not
                        // executed again, also while the RUN it repeats is running.
                    } else if self.engine.busy.val() {
                        self.refusal.next = self.nak_busy.val();
                    } else if self.payload_free.val() & self.len_q.q.val().any() {
                        // RUN, READ_LOGITS and READ_COUNTERS take no payload either.
                        self.refusal.next = self.nak_payload.val();
                    } else if (self.cmd_q.q.val() == self.cmd_load.val()) | self.is_image.val() {
                        if self.load_ok.q.val() {
                            self.copy_index.d.next = self.data_start.val().get_bits::<11>(0);
                            self.pointer.d.next =
                                self.address_low.val().get_bits::<POINTER_BITS>(0)
                                    & self.pointer_mask.val();
                            // An image's segments count from its upload.
                            self.engine.clear_counters.next = self.is_image.val();
                            self.state.d.next = CmdState::Copy;
                        } else {
                            self.refusal.next = self.nak_payload.val();
                        }
                    } else if self.cmd_q.q.val() == self.cmd_run.val() {
                        self.engine.run.next = true;
                        self.ran.d.next = false;
                        self.stopped.d.next = false;
                    } else if self.cmd_q.q.val() == self.cmd_logits.val() {
                        self.pointer.d.next = self.logits_pointer.val();
                        self.reply_kind.d.next = ReplyKind::Logits;
                        self.reply_len.d.next = 40.into();
                    } else if self.cmd_q.q.val() == self.cmd_counters.val() {
                        self.pointer.d.next = self.counters_pointer.val();
                        self.reply_kind.d.next = ReplyKind::Counters;
                        self.reply_len.d.next =
                            (bit_cast::<11, 8>(self.engine.records.val()) << 3) + 5;
                    } else if self.is_read.val() {
                        if self.read_ok.q.val() {
                            self.pointer.d.next =
                                self.address_low.val().get_bits::<POINTER_BITS>(0)
                                    & self.pointer_mask.val();
                            self.reply_len.d.next = self.read_len.val().get_bits::<11>(0);
                            self.reply_kind.d.next = ReplyKind::Activations;
                            if self.is_params.val() {
                                self.reply_kind.d.next = ReplyKind::Params;
                            }
                        } else {
                            self.refusal.next = self.nak_payload.val();
                        }
                    } else {
                        self.refusal.next = self.nak_unknown.val();
                    }
                    if self.refusal.val().any() {
                        self.reply_nak.d.next = true;
                        self.reply_kind.d.next = ReplyKind::Nak;
                        self.reply_len.d.next = 1.into();
                        self.nak_reason.d.next = self.refusal.val();
                    } else {
                        // The last request served: a repeat of it is answered, not executed.
                        self.last_cmd.d.next = self.cmd_q.q.val();
                        self.last_seq.d.next = self.seq_q.q.val();
                        self.last_len.d.next = self.len_q.q.val();
                    }
                }
            }
            CmdState::Copy => {
                // Two cycles a byte: the frame buffer's read, then the byte's write (a host byte
                // takes the activation memory for two cycles, one per copy).
                self.link.request.read_addr.next = self.copy_index.q.val().get_bits::<10>(0);
                if self.copy_phase.q.val() {
                    self.copy_phase.d.next = false;
                    self.copy_index.d.next = self.copy_index.q.val() + 1;
                    self.pointer.d.next = (self.pointer.q.val() + 1) & self.pointer_mask.val();
                    if self.is_params.val() {
                        // Region 0 takes 16-bit words: the even byte waits for the odd one.
                        self.low_byte.d.next = self.link.request.read_data.val();
                        self.engine.program_write.next = self.pointer.q.val().get_bit(0);
                    } else {
                        self.engine.host_write.next = true;
                    }
                } else if self.copy_index.q.val() == self.len_q.q.val() {
                    self.state.d.next = CmdState::Reply;
                } else {
                    self.copy_phase.d.next = true;
                }
            }
            CmdState::Reply => {
                if !self.link.reply.busy.val() {
                    self.link.reply.start.next = true;
                    self.state.d.next = CmdState::Idle;
                }
            }
            _ => {
                self.state.d.next = CmdState::Idle;
            }
        }
    }
}
