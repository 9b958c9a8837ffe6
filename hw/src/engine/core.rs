//! `EngineCore<P, PA, N>`: the engine's units joined, with P lanes, a program buffer of 2^PA
//! words and an activation memory of N banks (a window of 2N bytes,
//! `lutna_core::isa::shape::window_bytes(P)`) (docs/engine.md, "Block diagram"): the program buffer and fetch, the table programmer
//! and tap memory, the address generator, the issuer, the column mask, P lanes, the drain, the
//! requantizer, the writer, the activation memory and the memory of records and logits. What it adds to the units is the glue between them:
//!
//! - the batch's header held from the fetch unit's `BATCH` to the programmer's `done`, and
//!   whether it is its channel's first;
//! - the tap memory's two halves: the programmer writes batch n into half n mod 2; a half is in
//!   use from its header to `HALF_RELEASE` cycles after the batch's last tap (`freed`, delayed so,
//!   also frees the batch's table slots once their last read is done);
//! - the channel parameters: the fetch unit's set is taken by the drain's set when the channel's
//!   first group reaches the drain (`s4_params`); until then the next `CHANNEL` waits;
//! - the input channel pointer (depthwise walks), the drain's pace (a final group's last tap
//!   at most every A cycles), the engine's idleness, and the counters a `RECORD` stores.
//!
//! While the program is stopped, the host reaches the activation memory (`host_*`), the program
//! buffer (`program_*`) and the records and logits (`result_*`): the command handler's ports.

use super::activations::{ActivationMemory, WINDOW_BITS, WINDOW_LANES_MAX};
use super::address::AddressGenerator;
use super::column_mask::ColumnMask;
use super::drain::Drain;
use super::fetch::Fetch;
use super::issuer::Issuer;
use super::lane::EngineLane;
use super::programmer::{TableProgrammer, ENTRY_KX, ENTRY_KY, ENTRY_SLOT};
use super::writer::Writer;
use crate::datapath::requant::Requantizer;
use crate::memory::block_ram::BlockRam;
use lutna_core::cycles::timing::HALF_RELEASE;
use lutna_core::isa::{
    OutKind, MODE_CONTIGUOUS, MODE_LANE, MODE_MAX, MODE_OUT_KIND, MODE_ROW_STEP, MODE_SLOTS,
    MODE_STRIDE2,
};
use rust_hdl::prelude::*;

/// Where the records and logits memory keeps the logits (the records from word 0, two words a
/// slot: cycles, issues).
pub const LOGITS_AT: u64 = 240;
/// Where it keeps the bytes a host reads back unchanged (the link's IDENTIFY answer), set when
/// the design is built: [`EngineCore::with_constants`].
pub const CONSTANTS_AT: u64 = 224;
/// Words the constants may take.
pub const CONSTANT_WORDS: usize = 16;
const _: () = assert!(CONSTANTS_AT + CONSTANT_WORDS as u64 <= LOGITS_AT);
const _: () = assert!(2 * lutna_core::isa::shape::RECORD_SLOTS as u64 <= CONSTANTS_AT);

const _: () = assert!(MODE_LANE.lsb == 0 && MODE_LANE.width == 2);
const _: () = assert!(MODE_MAX.lsb == 2 && MODE_STRIDE2.lsb == 3 && MODE_CONTIGUOUS.lsb == 7);
const _: () = assert!(MODE_ROW_STEP.lsb == 4 && MODE_ROW_STEP.width == 3);
const _: () = assert!(MODE_OUT_KIND.lsb == 8 && MODE_OUT_KIND.width == 2);
const _: () = assert!(MODE_SLOTS.lsb == 10 && MODE_SLOTS.width == 4);
const _: () = assert!(ENTRY_KY == 0 && ENTRY_KX == 3 && ENTRY_SLOT == 6);
const _: () = assert!(HALF_RELEASE == 3);
const _: () = assert!(2 * lutna_core::isa::shape::RECORD_SLOTS as u64 <= LOGITS_AT);

#[derive(LogicBlock)]
pub struct EngineCore<const P: usize, const PA: usize, const N: usize> {
    pub clock: Signal<In, Clock>,
    /// Start the program at word 0; it ran to `END` / stopped on a malformed word.
    pub run: Signal<In, bool>,
    pub done: Signal<Out, bool>,
    pub fault: Signal<Out, bool>,
    /// Stop the program (RESET): nothing more is fetched; what was handed on finishes.
    pub abort: Signal<In, bool>,
    /// A program runs, or work it handed on is still being done.
    pub busy: Signal<Out, bool>,
    /// `RECORD`s done since the counters were cleared.
    pub records: Signal<Out, Bits<8>>,
    /// Cycles the program has run since the counters were cleared (every segment's).
    pub run_cycles: Signal<Out, Bits<32>>,
    /// The program buffer's write port.
    pub program_write: Signal<In, bool>,
    pub program_address: Signal<In, Bits<PA>>,
    pub program_data: Signal<In, Bits<16>>,
    /// The program buffer's word at `program_address`, a cycle later, while the program is
    /// stopped.
    pub program_word: Signal<Out, Bits<16>>,
    /// The activation memory while the program is stopped: a byte write (into both copies, over
    /// the two cycles after it: no write may follow in the next cycle), or the window's first 8 bytes at
    /// the address (two cycles later: the host's access is registered before the memory, whose
    /// own address arithmetic leaves no room in the cycle for the command handler's).
    pub host_address: Signal<In, Bits<16>>,
    pub host_write: Signal<In, bool>,
    pub host_data: Signal<In, Bits<8>>,
    pub host_window: Signal<Out, Bits<64>>,
    /// Records (word 2s: cycles, 2s + 1: issues) and logits (from [`LOGITS_AT`]), a cycle later.
    pub result_address: Signal<In, Bits<8>>,
    pub result_data: Signal<Out, Bits<32>>,
    pub clear_counters: Signal<In, bool>,
    fetch: Fetch<PA>,
    programmer: TableProgrammer,
    address: AddressGenerator<P>,
    issuer: Issuer,
    mask: ColumnMask<P>,
    lanes: [EngineLane; P],
    drain: Drain,
    requant: Requantizer,
    writer: Writer<P>,
    memory: ActivationMemory<N>,
    program: BlockRam<16, PA>,
    tap_low: BlockRam<16, 7>,
    tap_high: BlockRam<16, 7>,
    results: BlockRam<32, 8>,
    // The batch header until the programmer is done with it.
    header_taps: DFF<Bits<6>>,
    header_final: DFF<bool>,
    header_first: DFF<bool>,
    header_repeat: DFF<Bits<12>>,
    channel_begun: DFF<bool>,
    // Tap-memory halves.
    program_half: DFF<bool>,
    walk_half: DFF<bool>,
    halves_used: DFF<Bits<2>>,
    freed_delay: [DFF<bool>; 3],
    freed_tables_delay: [DFF<Bits<5>>; 3],
    // Channel parameters: the fetch unit's are claimed until the drain takes them.
    claimed: DFF<bool>,
    drain_bias: DFF<Bits<32>>,
    drain_mult: DFF<Bits<16>>,
    drain_shift: DFF<Bits<6>>,
    in_channel: DFF<Bits<16>>,
    drain_wait: DFF<Bits<5>>,
    mask_s2: DFF<Bits<P>>,
    settle: DFF<Bits<4>>,
    in_requant: DFF<Bits<4>>,
    running: DFF<bool>,
    cycles: DFF<Bits<32>>,
    issues: DFF<Bits<32>>,
    record_second: DFF<bool>,
    record_slot: DFF<Bits<8>>,
    records_done: DFF<Bits<8>>,
    restart_q: DFF<bool>,
    host_address_q: DFF<Bits<16>>,
    host_write_q: DFF<bool>,
    /// The second write of a host byte (its other copy, from the address before it).
    host_second: DFF<bool>,
    host_address_before: Signal<Local, Bits<16>>,
    stride2: Signal<Local, bool>,
    logits: Signal<Local, bool>,
    group_bytes: Signal<Local, Bits<5>>,
    active: Signal<Local, bool>,
    idle: Signal<Local, bool>,
    requant_in: Signal<Local, bool>,
    window: Signal<Local, Bits<WINDOW_BITS>>,
    tap_word: Signal<Local, Bits<16>>,
    ky_word: Signal<Local, Bits<16>>,
    kx_word: Signal<Local, Bits<16>>,
    slot_word: Signal<Local, Bits<16>>,
    kind_logits: Constant<Bits<2>>,
    kind_i8: Constant<Bits<2>>,
    lanes_count: Constant<Bits<5>>,
    half_count: Constant<Bits<5>>,
    settle_cycles: Constant<Bits<4>>,
    group_gap: Constant<Bits<5>>,
    logits_at: Constant<Bits<8>>,
    ky_at: Constant<Bits<16>>,
    kx_at: Constant<Bits<16>>,
    slot_at: Constant<Bits<16>>,
    upper_half: Constant<Bits<7>>,
    lane_window: [Signal<Local, Bits<WINDOW_BITS>>; P],
    /// Lane l's byte in the window (8-bit shift amounts: RustHDL's shifts take at most 64).
    byte_at: [Constant<Bits<8>>; P],
    pair_byte_at: [Constant<Bits<8>>; P],
}

impl<const P: usize, const PA: usize, const N: usize> Default for EngineCore<P, PA, N> {
    fn default() -> Self {
        assert!(
            2 * N == lutna_core::isa::shape::window_bytes(P) && P <= WINDOW_LANES_MAX,
            "{P} lanes read a window of {} bytes: an activation memory of {} banks, not {N}",
            lutna_core::isa::shape::window_bytes(P),
            lutna_core::isa::shape::window_bytes(P) / 2
        );
        Self {
            clock: Default::default(),
            run: Default::default(),
            done: Default::default(),
            fault: Default::default(),
            abort: Default::default(),
            busy: Default::default(),
            records: Default::default(),
            program_write: Default::default(),
            program_address: Default::default(),
            program_data: Default::default(),
            program_word: Default::default(),
            host_address: Default::default(),
            host_write: Default::default(),
            host_data: Default::default(),
            host_window: Default::default(),
            result_address: Default::default(),
            result_data: Default::default(),
            clear_counters: Default::default(),
            run_cycles: Default::default(),
            fetch: Default::default(),
            programmer: Default::default(),
            address: Default::default(),
            issuer: Default::default(),
            mask: ColumnMask::top(),
            lanes: std::array::from_fn(|_| EngineLane::default()),
            drain: Default::default(),
            requant: Default::default(),
            writer: Default::default(),
            memory: Default::default(),
            program: Default::default(),
            tap_low: Default::default(),
            tap_high: Default::default(),
            results: Default::default(),
            header_taps: Default::default(),
            header_final: Default::default(),
            header_first: Default::default(),
            header_repeat: Default::default(),
            channel_begun: Default::default(),
            program_half: Default::default(),
            walk_half: Default::default(),
            halves_used: Default::default(),
            freed_delay: Default::default(),
            freed_tables_delay: Default::default(),
            claimed: Default::default(),
            drain_bias: Default::default(),
            drain_mult: Default::default(),
            drain_shift: Default::default(),
            in_channel: Default::default(),
            drain_wait: Default::default(),
            mask_s2: Default::default(),
            settle: Default::default(),
            in_requant: Default::default(),
            running: Default::default(),
            cycles: Default::default(),
            issues: Default::default(),
            record_second: Default::default(),
            record_slot: Default::default(),
            records_done: Default::default(),
            restart_q: Default::default(),
            host_address_q: Default::default(),
            host_write_q: Default::default(),
            host_second: Default::default(),
            host_address_before: Default::default(),
            stride2: Default::default(),
            logits: Default::default(),
            group_bytes: Default::default(),
            active: Default::default(),
            idle: Default::default(),
            requant_in: Default::default(),
            window: Default::default(),
            tap_word: Default::default(),
            ky_word: Default::default(),
            kx_word: Default::default(),
            slot_word: Default::default(),
            kind_logits: Constant::new((OutKind::Logits as u64).into()),
            kind_i8: Constant::new((OutKind::I8 as u64).into()),
            lanes_count: Constant::new((P as u64).into()),
            half_count: Constant::new((P as u64 / 2).into()),
            // The pipeline's S1..S4 after a walk's last tap.
            settle_cycles: Constant::new(lutna_core::cycles::timing::PIPE.into()),
            group_gap: Constant::new(lutna_core::cycles::timing::GROUP_GAP.into()),
            logits_at: Constant::new(LOGITS_AT.into()),
            ky_at: Constant::new((ENTRY_KY as u64).into()),
            kx_at: Constant::new((ENTRY_KX as u64).into()),
            slot_at: Constant::new((ENTRY_SLOT as u64).into()),
            upper_half: Constant::new(64u64.into()),
            lane_window: std::array::from_fn(|_| Default::default()),
            byte_at: std::array::from_fn(|l| Constant::new((8 * l as u64).into())),
            pair_byte_at: std::array::from_fn(|l| {
                Constant::new((16 * l as u64 % (16 * N) as u64).into())
            }),
        }
    }
}

impl<const P: usize, const PA: usize, const N: usize> EngineCore<P, PA, N> {
    pub fn top() -> Self {
        let mut c = Self::default();
        c.connect_all();
        c
    }

    /// A core whose results memory holds `bytes` from word [`CONSTANTS_AT`] on (little-endian
    /// words), in simulation and in the bitstream.
    pub fn with_constants(bytes: &[u8]) -> Self {
        assert!(
            bytes.len() <= 4 * CONSTANT_WORDS,
            "{} constant bytes",
            bytes.len()
        );
        let words = bytes.chunks(4).map(|c| {
            c.iter()
                .enumerate()
                .fold(0u64, |w, (k, &b)| w | (b as u64) << (8 * k))
        });
        let init = std::iter::repeat_n(0, CONSTANTS_AT as usize).chain(words);
        Self {
            results: BlockRam::with_contents(init),
            ..Self::default()
        }
    }

    /// Chooses the Verilog of the activation memory for the FPGA family built.
    pub fn set_family(&mut self, family: crate::memory::Family) {
        self.memory.set_family(family);
    }

    /// The activation memory as the host would load it (simulation only).
    pub fn preload(&mut self, at: usize, bytes: &[u8]) {
        self.memory.preload(at, bytes);
    }

    /// The byte at `addr` in the activation memory's two copies (simulation only).
    pub fn activation(&self, addr: usize) -> [u8; 2] {
        self.memory.copies(addr)
    }

    /// Word `i` of the records and logits memory (simulation only).
    pub fn result(&self, i: usize) -> u64 {
        self.results.peek(i)
    }
}

impl<const P: usize, const PA: usize, const N: usize> Logic for EngineCore<P, PA, N> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            header_taps,
            header_final,
            header_first,
            header_repeat,
            channel_begun,
            program_half,
            walk_half,
            halves_used,
            claimed,
            drain_bias,
            drain_mult,
            drain_shift,
            in_channel,
            drain_wait,
            mask_s2,
            settle,
            in_requant,
            running,
            cycles,
            issues,
            record_second,
            record_slot,
            records_done,
            restart_q,
            host_address_q,
            host_write_q,
            host_second
        );
        clock!(self, clock, fetch, programmer, address, issuer, drain, requant, writer, memory);
        for i in 0..3 {
            self.freed_delay[i].clock.next = self.clock.val();
            self.freed_tables_delay[i].clock.next = self.clock.val();
        }
        for l in 0..P {
            self.lanes[l].clock.next = self.clock.val();
        }
        self.program.read_clock.next = self.clock.val();
        self.program.write_clock.next = self.clock.val();
        self.tap_low.read_clock.next = self.clock.val();
        self.tap_low.write_clock.next = self.clock.val();
        self.tap_high.read_clock.next = self.clock.val();
        self.tap_high.write_clock.next = self.clock.val();
        self.results.read_clock.next = self.clock.val();
        self.results.write_clock.next = self.clock.val();
        // The walk's mode.
        self.stride2.next = self.fetch.mode.val().get_bit(3);
        self.logits.next = self.fetch.mode.val().get_bits::<2>(8) == self.kind_logits.val();
        self.group_bytes.next = self.lanes_count.val();
        if self.stride2.val() {
            self.group_bytes.next = self.half_count.val();
        }
        if self.logits.val() {
            self.group_bytes.next = 1.into();
        }

        // Idle: nothing programmed, held, walked, in the pipeline (S1..S4 after the walk's last
        // tap), drained, requantized or written. (Formed before its use: RustHDL's loop check
        // reads the body in order.)
        self.active.next = self.programmer.busy.val()
            | self.issuer.holding.val()
            | self.address.busy.val()
            | self.drain.busy.val()
            | self.in_requant.q.val().any()
            | self.writer.busy.val()
            | self.writer.port_next.val();
        if self.settle.q.val().any() {
            self.settle.d.next = self.settle.q.val() - 1;
        }
        if self.address.busy.val() {
            self.settle.d.next = self.settle_cycles.val();
        }
        self.idle.next = !self.active.val() & !self.settle.q.val().any();
        self.requant_in.next = self.drain.sum_valid.val() & !self.logits.val();
        if self.requant_in.val() & !self.requant.out_valid.val() {
            self.in_requant.d.next = self.in_requant.q.val() + 1;
        }
        if !self.requant_in.val() & self.requant.out_valid.val() {
            self.in_requant.d.next = self.in_requant.q.val() - 1;
        }

        // Program buffer and fetch.
        self.program.write_enable.next = self.program_write.val();
        self.program.write_address.next = self.program_address.val();
        self.program.write_data.next = self.program_data.val();
        self.program.read_address.next = self.program_address.val();
        if self.running.q.val() | self.run.val() {
            self.program.read_address.next = self.fetch.address.val();
        }
        self.program_word.next = self.program.read_data.val();
        self.fetch.run.next = self.run.val();
        self.fetch.abort.next = self.abort.val();
        self.fetch.word.next = self.program.read_data.val();
        self.fetch.idle.next = self.idle.val();
        self.fetch.half_free.next = !self.halves_used.q.val().get_bit(1)
            & !(self.programmer.busy.val() & !self.programmer.done.val());
        self.fetch.channel_free.next = !self.claimed.q.val();
        self.fetch.tap_word_ready.next = self.programmer.word_ready.val();
        self.fetch.tap_words_end.next = self.programmer.last_word.val();

        // The batch header, held for the programmer's hand-over.
        if self.fetch.channel.val() {
            self.claimed.d.next = true;
            self.channel_begun.d.next = true;
        }
        if self.fetch.batch_start.val() {
            self.header_taps.d.next = self.fetch.batch_taps.val();
            self.header_final.d.next = self.fetch.batch_final.val();
            self.header_repeat.d.next = self.fetch.batch_repeat.val();
            self.header_first.d.next = self.channel_begun.q.val();
            self.channel_begun.d.next = false;
        }

        // Table programmer and tap memory.
        self.programmer.start.next = self.fetch.batch_start.val();
        self.programmer.taps.next = self.fetch.batch_taps.val();
        self.programmer.word.next = self.program.read_data.val();
        self.programmer.word_valid.next = self.fetch.tap_word_valid.val();
        self.programmer.ring_last.next = self.fetch.mode.val().get_bits::<4>(10);
        self.programmer.ring_restart.next = self.fetch.mode_set.val();
        self.programmer.freed.next = self.freed_delay[2].q.val();
        self.programmer.freed_tables.next = self.freed_tables_delay[2].q.val();
        self.programmer.bank_busy.next = self.issuer.s4_store.val();
        self.tap_low.write_enable.next = self.programmer.tap_write_low.val();
        self.tap_high.write_enable.next = self.programmer.tap_write_high.val();
        self.tap_low.write_address.next = bit_cast::<7, 6>(self.programmer.tap_address.val());
        if self.program_half.q.val() {
            self.tap_low.write_address.next =
                bit_cast::<7, 6>(self.programmer.tap_address.val()) | self.upper_half.val();
        }
        self.tap_high.write_address.next = self.tap_low.write_address.val();
        self.tap_low.write_data.next = self.programmer.tap_low_data.val();
        self.tap_high.write_data.next = self.programmer.tap_high_data.val();
        if self.programmer.done.val() {
            self.program_half.d.next = !self.program_half.q.val();
        }

        // Halves in use: from a header to HALF_RELEASE cycles after the batch's last tap.
        self.freed_delay[0].d.next = self.issuer.freed.val();
        self.freed_tables_delay[0].d.next = self.issuer.freed_tables.val();
        self.freed_delay[1].d.next = self.freed_delay[0].q.val();
        self.freed_tables_delay[1].d.next = self.freed_tables_delay[0].q.val();
        self.freed_delay[2].d.next = self.freed_delay[1].q.val();
        self.freed_tables_delay[2].d.next = self.freed_tables_delay[1].q.val();
        if self.fetch.batch_start.val() & !self.freed_delay[2].q.val() {
            self.halves_used.d.next = self.halves_used.q.val() + 1;
        }
        if !self.fetch.batch_start.val() & self.freed_delay[2].q.val() {
            self.halves_used.d.next = self.halves_used.q.val() - 1;
        }
        // The next batch walks in the other half (taken at the walk's start, this cycle).
        if self.issuer.freed.val() {
            self.walk_half.d.next = !self.walk_half.q.val();
        }

        // Issuer and address generator.
        self.issuer.lane_mode.next = self.fetch.mode.val().get_bits::<2>(0);
        self.issuer.max.next = self.fetch.mode.val().get_bit(2);
        self.issuer.batch.next = self.programmer.done.val();
        self.issuer.batch_taps.next = self.header_taps.q.val();
        self.issuer.batch_first.next = self.header_first.q.val();
        self.issuer.batch_last.next = self.header_final.q.val();
        self.issuer.batch_repeat.next = self.header_repeat.q.val();
        self.issuer.batch_tables.next = self.programmer.tables.val();
        self.issuer.port_busy.next = self.writer.port_next.val();
        self.issuer.drain_ready.next = !self.drain_wait.q.val().any();
        self.issuer.walk_busy.next = self.address.busy.val();
        self.issuer.first_tap.next = self.address.first_tap.val();
        self.issuer.last_tap.next = self.address.last_tap.val();
        self.issuer.last_group.next = self.address.last_group.val();
        self.issuer.group_index.next = self.address.group_index.val();
        self.tap_word.next = self.tap_high.read_data.val();
        self.ky_word.next = self.tap_word.val() >> self.ky_at.val();
        self.kx_word.next = self.tap_word.val() >> self.kx_at.val();
        self.slot_word.next = self.tap_word.val() >> self.slot_at.val();
        self.issuer.tap_slot.next = self.slot_word.val().get_bits::<4>(0);
        self.address.rows.next = self.fetch.rows.val();
        self.address.groups.next = self.fetch.groups.val();
        self.address.in_row.next = self.fetch.in_row.val();
        self.address.y_start.next = self.fetch.y_start.val();
        self.address.x_start.next = self.fetch.x_start.val();
        self.address.in_height.next = self.fetch.in_height.val();
        self.address.in_width.next = self.fetch.in_width.val();
        self.address.row_step.next = self.fetch.mode.val().get_bits::<3>(4);
        self.address.start.next = self.issuer.walk_start.val();
        self.address.taps.next = self.issuer.walk_taps.val();
        self.address.advance.next = self.issuer.advance.val();
        self.address.offset.next = self.tap_low.read_data.val();
        self.address.ky.next = self.ky_word.val().get_bits::<3>(0);
        self.address.kx.next = self.kx_word.val().get_bits::<3>(0);
        self.tap_low.read_address.next = bit_cast::<7, 6>(self.address.tap_index.val());
        if self.walk_half.d.val() {
            self.tap_low.read_address.next =
                bit_cast::<7, 6>(self.address.tap_index.val()) | self.upper_half.val();
        }
        self.tap_high.read_address.next = self.tap_low.read_address.val();
        // The input channel pointer moves after each channel (a walk starting now sees it).
        if self.issuer.channel_done.val() {
            self.in_channel.d.next = self.in_channel.q.val() + self.fetch.in_channel.val();
        }
        if self.fetch.out_base_set.val() {
            self.in_channel.d.next = 0.into();
        }
        self.address.in_channel.next = self.in_channel.d.val();
        // The drain's pace: a final group's last tap at most every A + GROUP_GAP cycles (the
        // writer's odd-copy write reads a group's bytes the cycle after its even write).
        if self.drain_wait.q.val().any() {
            self.drain_wait.d.next = self.drain_wait.q.val() - 1;
        }
        if self.issuer.drain_take.val() {
            self.drain_wait.d.next = self.group_bytes.val() - 1 + self.group_gap.val();
        }

        // The column mask (S1), registered for the lanes' reads (S2).
        self.mask.skip.next = self.address.skip.val();
        self.mask.room.next = self.address.room.val();
        self.mask.row_ok.next = self.address.row_ok.val();
        self.mask.stride2.next = self.stride2.val();
        self.mask_s2.d.next = self.mask.mask.val();

        // The activation memory: the writer first, then the issuer's reads, the host when stopped.
        // A host byte goes into both copies: at its address (the window's byte 0, the copy of the
        // address's parity), then at the address before (byte 1, the other copy), its address
        // held for the second write; the byte itself is put in every lane of the idle writer's
        // data (`fill`), the mask picking the lane.
        self.host_second.d.next = self.host_write_q.q.val();
        if !self.host_write_q.q.val() {
            self.host_address_q.d.next = self.host_address.val();
        }
        self.host_write_q.d.next = self.host_write.val();
        self.writer.fill.next = self.host_write.val();
        self.writer.fill_byte.next = self.host_data.val();
        self.host_address_before.next = self.host_address_q.q.val() - 1;
        self.memory.address.next = self.host_address_q.q.val();
        if self.host_second.q.val() {
            self.memory.address.next = self.host_address_before.val();
        }
        if self.running.q.val() {
            self.memory.address.next = self.address.address.val();
        }
        if self.writer.write.val() {
            self.memory.address.next = self.writer.address.val();
        }
        self.memory.write.next = self.writer.write.val();
        self.memory.write_data.next = self.writer.data.val();
        self.memory.write_mask.next = self.writer.mask.val();
        if (self.host_write_q.q.val() | self.host_second.q.val()) & !self.running.q.val() {
            self.memory.write.next = true;
            self.memory.write_mask.next = 1.into();
            if self.host_second.q.val() {
                self.memory.write_mask.next = 2.into();
            }
        }
        self.window.next = self.memory.window.val();
        self.host_window.next = self.memory.window.val().get_bits::<64>(0);

        // The lanes.
        for l in 0..P {
            self.lanes[l].table_write.next = self.programmer.table_write.val();
            self.lanes[l].table_data.next = self.programmer.table_data.val();
            self.lanes[l].write_address.next = self.programmer.table_address.val();
            if self.issuer.s4_store.val() {
                self.lanes[l].write_address.next = self.issuer.s4_word.val();
            }
            self.lane_window[l].next = self.window.val() >> self.byte_at[l].val();
            if self.stride2.val() {
                self.lane_window[l].next = self.window.val() >> self.pair_byte_at[l].val();
            }
            self.lanes[l].activation.next = self.lane_window[l].val().get_bits::<8>(0);
            self.lanes[l].reads.next = self.mask_s2.q.val().get_bit(l);
            self.lanes[l].bank_high.next = self.issuer.bank_high.val();
            self.lanes[l].partial.next = self.issuer.partial.val();
            self.lanes[l].partial_low.next = self.issuer.partial_low.val();
            self.lanes[l].low_pass.next = self.issuer.low_pass.val();
            self.lanes[l].low_fill.next = self.issuer.low_fill.val();
            self.lanes[l].s3_partial.next = self.issuer.s3_partial.val();
            self.lanes[l].s3_max.next = self.issuer.s3_max.val();
            self.lanes[l].s3_keep.next = self.issuer.s3_keep.val();
            self.lanes[l].s3_first.next = self.issuer.s3_first.val();
            self.lanes[l].s4_valid.next = self.issuer.s4_valid.val();
            self.lanes[l].s4_last.next = self.issuer.s4_last.val();
            self.lanes[l].s4_drain.next = self.issuer.s4_drain.val();
            self.lanes[l].s4_store.next = self.issuer.s4_store.val();
            self.lanes[l].drain_shift.next = self.drain.shift.val();
            self.lanes[l].drain_in.next = 0.into();
        }
        for l in 0..(P - 1) {
            self.lanes[l].drain_in.next = self.lanes[l + 1].drain_out.val();
        }

        // Drain, with the channel parameters it takes; requantizer; writer.
        if self.issuer.s4_drain.val() & self.issuer.s4_params.val() {
            self.drain_bias.d.next = self.fetch.bias.val();
            self.drain_mult.d.next = self.fetch.mult.val();
            self.drain_shift.d.next = self.fetch.shift.val();
            self.claimed.d.next = false;
        }
        self.drain.load.next = self.issuer.s4_drain.val();
        self.drain.active.next = self.group_bytes.val();
        self.drain.bias.next = self.drain_bias.q.val();
        self.drain.lane0.next = self.lanes[0].drain_out.val();
        self.requant.acc.next = self.drain.sum.val();
        self.requant.mult.next = self.drain_mult.q.val();
        self.requant.shift.next = self.drain_shift.q.val();
        self.requant.signed_out.next = self.fetch.mode.val().get_bits::<2>(8) == self.kind_i8.val();
        self.requant.valid.next = self.requant_in.val();
        // (The writer counts a group's bytes itself: no tag travels with them.)
        self.requant.tag.next = 0.into();
        self.writer.rows.next = self.fetch.rows.val();
        self.writer.groups.next = self.fetch.groups.val();
        self.writer.out_row_step.next = self.fetch.out_row_step.val();
        self.writer.out_channel_step.next = self.fetch.out_channel_step.val();
        self.writer.out_base.next = self.fetch.out_base.val();
        self.writer.stride2.next = self.stride2.val();
        self.writer.signed_out.next = self.requant.signed_out.val();
        self.writer.logits.next = self.logits.val();
        self.writer.contiguous.next = self.fetch.mode.val().get_bit(7);
        // Everything but the writer is done: a carried byte may be written alone.
        self.writer.flush.next = !self.programmer.busy.val()
            & !self.issuer.holding.val()
            & !self.address.busy.val()
            & !self.settle.q.val().any()
            & !self.drain.busy.val()
            & !self.in_requant.q.val().any();
        // (A cycle after the SET, when the register holds the value.)
        self.restart_q.d.next = self.fetch.out_base_set.val();
        self.writer.restart.next = self.restart_q.q.val();
        self.writer.byte_valid.next = self.requant.out_valid.val();
        self.writer.byte.next = self.requant.out.val();
        self.writer.logit_valid.next = self.drain.sum_valid.val() & self.logits.val();

        // Records and logits.
        self.results.read_address.next = self.result_address.val();
        self.result_data.next = self.results.read_data.val();
        self.results.write_enable.next = false;
        self.results.write_address.next =
            self.logits_at.val() | bit_cast::<8, 4>(self.writer.logit_address.val());
        self.results.write_data.next = self.drain.sum.val();
        if self.writer.logit_valid.val() {
            self.results.write_enable.next = true;
        }
        self.record_second.d.next = false;
        if self.fetch.record.val() {
            self.records_done.d.next = self.records_done.q.val() + 1;
            self.record_slot.d.next = self.fetch.record_slot.val();
            self.record_second.d.next = true;
            self.results.write_enable.next = true;
            self.results.write_address.next = self.fetch.record_slot.val() << 1;
            self.results.write_data.next = self.cycles.q.val();
        }
        if self.record_second.q.val() {
            self.results.write_enable.next = true;
            self.results.write_address.next = (self.record_slot.q.val() << 1) | 1;
            self.results.write_data.next = self.issues.q.val();
        }

        // Counters: cycles while the program runs, taps issued.
        if self.running.q.val() {
            self.cycles.d.next = self.cycles.q.val() + 1;
        }
        if self.issuer.issued.val() {
            self.issues.d.next = self.issues.q.val() + 1;
        }
        if self.clear_counters.val() {
            self.cycles.d.next = 0.into();
            self.issues.d.next = 0.into();
            self.records_done.d.next = 0.into();
        }
        self.records.next = self.records_done.q.val();
        self.run_cycles.next = self.cycles.q.val();
        self.running.d.next = !self.fetch.done.val() & !self.fetch.fault.val();
        // Nothing else restarts at RUN: a program runs in segments, and a segment may end between
        // a CHANNEL and its batches (the END before it waited until everything was written).
        if self.run.val() {
            self.running.d.next = true;
        }
        self.done.next = self.fetch.done.val() & !self.running.q.val();
        self.busy.next = self.running.q.val() | !self.idle.val();
        self.fault.next = self.fetch.fault.val();
    }
}
