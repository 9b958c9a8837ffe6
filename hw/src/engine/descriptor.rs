//! `LayerEngine<P, PARAM_BITS>` (the descriptor engine): runs a whole compiled network. A
//! *sequencer* reads one 32-word layer descriptor after the other from parameter memory
//! (layout and descriptors: `lutna_core::accel`, which owns them) and starts the unit the layer
//! needs: the *conv unit* for convolutions and linear layers, the *window unit* for max /
//! average pooling and residual adds. Concatenation costs nothing: the compiler places each
//! concat input inside its output. After each layer the sequencer records its cycles and issue cycles in the counter memories.
//!
//! Conv unit dataflow (weight broadcast, output parallel: docs/architecture.md), per output channel:
//! - The *programmer* streams the channel's words from parameter memory. For each nonzero weight
//!   it fills one table slot of every lane bank with `|w| * (base + step * j)` by an adder chain
//!   (`LutScheme::table_affine` of the layer's lane mode) and keeps the tap (input offset, kernel
//!   position, sign) in the tap memory. A batch is up to [`lutna_core::accel::BATCH_TAPS`] weights: the banks hold
//!   two batches, so the next batch is programmed while the lanes compute the current one.
//! - The *issuer* walks the output map in groups of P neighbouring positions (P / 2 for stride 2)
//!   and, for each group, the batch's taps, one per cycle: the activation memory returns the 8
//!   bytes of the row from the tap's first column (whatever its alignment), every lane takes its
//!   byte (out-of-map positions read as 0, which is what zero padding means), looks it up in the
//!   tap's table slot and adds the product to its accumulator. The first tap of a group starts
//!   from 0 (first batch) or the partial sum the previous batch left; the last one either
//!   stores the partial sum (per-lane partial buffer) or hands the P sums to the drain.
//! - The *drain* adds the channel's bias to each of the P sums (one adder for all lanes) and
//!   walks them through the shared [`Requantizer`]; the *group writer* gathers the output bytes
//!   and stores them with two or three window writes (for the logits layer the biased i32 sum
//!   goes to the logits memory instead). The activation memory serves one access per
//!   cycle, so the issuer holds its tap in the cycle before each write.
//!
//! Pipeline from issue (S0): S1 tap memory read out, window address formed and read issued; S2
//! the lanes take their bytes, lane operands; S3 table read; S4 product, accumulate.
//!
//! Window unit: one element read per cycle (S0 address, S1 fold into max / sum / signed sum of
//! products, S2 into the same requantizer, whose multiply-round-shift-clamp is every window
//! layer's last step too: identity for max, `Requant` for the average, mult 1 and the add's shift
//! for the add). It is not parallel over lanes: pooling costs about a quarter of the iCEBreaker
//! model's cycles, the next thing to speed up.
//!
//! Memories: the activations in the UP5K's four SPRAMs ([`WindowMemory`], 64 KiB; the compiler's
//! view of P banks is kept, bank b's word a being byte `a * P + b`), so at most 8 lanes; the
//! parameters in `2^PARAM_BITS` words: 32 K resident ([`RESIDENT_PARAM_BITS`]) or the UP5K's
//! 1 K-word program buffer ([`BUFFER_PARAM_BITS`]), which yosys maps to four block RAMs; the
//! tables, partial sums, taps, logits and counters in block RAM ([`BlockRam`]s: no unit reads a
//! word in the cycle it is written, which their simulation checks).

use crate::memory::block_ram::BlockRam;
use crate::memory::window_memory::WindowMemory;
use crate::Requantizer;
use lutna_core::accel::{FINAL_BATCH, TABLE_ENTRIES};
use lutna_core::arith::{LaneMode, Scheme};
use rust_hdl::prelude::*;

/// Bytes of activation memory (the window memory in the four SPRAMs), whatever the lanes: the
/// compiler's P banks get `ACTIVATION_BYTES / P` words each.
pub const ACTIVATION_BYTES: usize = lutna_core::accel::BOARD_ACTIVATION_BYTES;
const _: () = assert!(ACTIVATION_BYTES == WindowMemory::BYTES);
/// Address bits of the resident parameter memory (32 K words, 64 KiB of block RAM): every zoo
/// program but resnet34's fits, loaded once. The RustHDL system tests use it.
pub const RESIDENT_PARAM_BITS: usize = 15;
/// Address bits of the UP5K program buffer (1 K words in four block RAMs): the host streams the
/// program through it segment by segment (`lutna_core::accel::Program::segments`). The board
/// builds and the virtual board use it.
pub const BUFFER_PARAM_BITS: usize = lutna_core::accel::BOARD_PARAM_WORDS.trailing_zeros() as usize;
/// Cycles the engine waits after the last tap of a layer before it reports done: at least until
/// its last output byte is written (pipeline 4, drain walk up to 8, requantizer and write
/// stages, group writer: 22 cycles at 8 lanes). The 16 is the drain walk of the 16 lanes the
/// engine once had; kept, as the cycle model's `timing::CONV_FLUSH` counts it.
pub const FLUSH_CYCLES: usize = 4 + 16 + Requantizer::LATENCY + 3;

/// A LUT-NA lane whose bank holds [`lutna_core::accel::TABLE_SLOTS`] tables (one 256 x 16 block RAM per copy):
/// the [`crate::SubMacLane`] with a slot address in front of the nibble.
#[derive(LogicBlock, Default)]
pub struct SlotLane {
    pub clock: Signal<In, Clock>,
    /// Bank write port: slot in bits 4..8, entry in bits 0..4.
    pub table_write: Signal<In, bool>,
    pub table_addr: Signal<In, Bits<8>>,
    pub table_data: Signal<In, Bits<16>>,
    pub slot: Signal<In, Bits<4>>,
    pub activation: Signal<In, Bits<8>>,
    pub negative: Signal<In, bool>,
    pub mode: Signal<In, Bits<2>>,
    pub valid: Signal<In, bool>,
    /// The product as magnitude and sign (the engine's accumulator adds or subtracts it).
    pub magnitude: Signal<Out, Bits<32>>,
    pub negative_product: Signal<Out, bool>,
    pub product_valid: Signal<Out, bool>,
    low_copy: BlockRam<16, 8>,
    high_copy: BlockRam<16, 8>,
    low_addr: Signal<Local, Bits<8>>,
    high_addr: Signal<Local, Bits<8>>,
    combiner: crate::datapath::lane::ChunkCombiner,
}

impl Logic for SlotLane {
    #[hdl_gen]
    fn update(&mut self) {
        self.low_copy.read_clock.next = self.clock.val();
        self.low_copy.write_clock.next = self.clock.val();
        self.high_copy.read_clock.next = self.clock.val();
        self.high_copy.write_clock.next = self.clock.val();
        self.low_copy.write_enable.next = self.table_write.val();
        self.high_copy.write_enable.next = self.table_write.val();
        self.low_copy.write_address.next = self.table_addr.val();
        self.high_copy.write_address.next = self.table_addr.val();
        self.low_copy.write_data.next = self.table_data.val();
        self.high_copy.write_data.next = self.table_data.val();
        self.low_addr.next = (bit_cast::<8, 4>(self.slot.val()) << 4)
            | bit_cast::<8, 4>(self.activation.val().get_bits::<4>(0));
        self.high_addr.next = (bit_cast::<8, 4>(self.slot.val()) << 4)
            | bit_cast::<8, 4>(self.activation.val().get_bits::<4>(4));
        self.low_copy.read_address.next = self.low_addr.val();
        self.high_copy.read_address.next = self.high_addr.val();
        self.combiner.clock.next = self.clock.val();
        self.combiner.negative.next = self.negative.val();
        self.combiner.mode.next = self.mode.val();
        self.combiner.valid.next = self.valid.val();
        self.combiner.low_entry.next = self.low_copy.read_data.val();
        self.combiner.high_entry.next = self.high_copy.read_data.val();
        self.magnitude.next = self.combiner.magnitude_out.val();
        self.negative_product.next = self.combiner.negative_out.val();
        self.product_valid.next = self.combiner.product_valid.val();
    }
}

/// Whether lane `lane` reads its activation: its input column, `x_base + lane` (stride 2:
/// `x_base + 2 * lane`, and only the lower half of the lanes), is in the map and the row is;
/// otherwise it gets 0, which is what zero padding means. (Its byte's place in the window does
/// not depend on the map: see the engine's S2.)
///
/// The map's bounds come as two small counts the engine forms once for all lanes from the
/// tap's first column: `skip`, the columns left of the map (0 when `x_base >= 0`), and `room`,
/// the columns from `x_base` to the map's right edge (0 when none); both saturate at 16, more
/// than any lane's offset. So each lane compares a constant with two 5-bit values instead of
/// adding and comparing 16-bit columns of its own.
#[derive(LogicBlock)]
pub struct LaneFetch {
    pub skip: Signal<In, Bits<5>>,
    pub room: Signal<In, Bits<5>>,
    pub stride2: Signal<In, bool>,
    pub row_ok: Signal<In, bool>,
    pub reads: Signal<Out, bool>,
    offset: Signal<Local, Bits<5>>,
    lane1: Constant<Bits<5>>,
    lane2: Constant<Bits<5>>,
    half_lanes: Constant<bool>,
}

impl LaneFetch {
    pub fn new(lane: usize, lanes: usize) -> Self {
        assert!(
            2 * lane < 16,
            "lane offsets stay below the saturation of skip and room"
        );
        Self {
            skip: Default::default(),
            room: Default::default(),
            stride2: Default::default(),
            row_ok: Default::default(),
            reads: Default::default(),
            offset: Default::default(),
            lane1: Constant::new((lane as u64).into()),
            lane2: Constant::new((2 * lane as u64).into()),
            // Stride 2 uses the lower half of the lanes (their bytes 0, 2, 4, 6 of the window).
            half_lanes: Constant::new(lane < lanes / 2),
        }
    }
}

impl Logic for LaneFetch {
    #[hdl_gen]
    fn update(&mut self) {
        self.offset.next = self.lane1.val();
        if self.stride2.val() {
            self.offset.next = self.lane2.val();
        }
        self.reads.next = self.row_ok.val()
            & (self.offset.val() >= self.skip.val())
            & (self.offset.val() < self.room.val())
            & (!self.stride2.val() | self.half_lanes.val());
    }
}

/// `base + product` where the product comes as magnitude and sign: `base + (m ^ s) + s`, one
/// carry chain with the sign as carry-in (given as a doubled low bit), instead of negating the
/// product in a chain of its own and adding it in a second.
#[derive(LogicBlock, Default)]
pub struct SignedAdd {
    pub base: Signal<In, Bits<32>>,
    pub magnitude: Signal<In, Bits<32>>,
    pub negative: Signal<In, bool>,
    pub sum: Signal<Out, Bits<32>>,
    fill: Signal<Local, Bits<32>>,
    carry_in: Signal<Local, Bits<33>>,
    wide: Signal<Local, Bits<33>>,
}

impl Logic for SignedAdd {
    #[hdl_gen]
    fn update(&mut self) {
        self.fill.next = 0.into();
        self.carry_in.next = 0.into();
        if self.negative.val() {
            self.fill.next = 0xFFFF_FFFF_u64.into();
            self.carry_in.next = 1.into();
        }
        self.wide.next = ((bit_cast::<33, 32>(self.base.val()) << 1) | self.carry_in.val())
            + ((bit_cast::<33, 32>(self.magnitude.val() ^ self.fill.val()) << 1)
                | self.carry_in.val());
        self.sum.next = self.wide.val().get_bits::<32>(1);
    }
}

/// Programmer states.
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum ProgState {
    Idle,
    Header,
    BatchHead,
    TapOffset,
    TapWord,
    TapLatch,
    Fill,
    Handoff,
    Done,
}

/// What the parameter word arriving this cycle is.
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum ParamWord {
    None,
    BiasLow,
    BiasHigh,
    Mult,
    Shift,
    BatchHead,
    Offset,
    Tap,
}

/// Issuer states.
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum IssueState {
    Idle,
    Wait,
    Run,
    Flush,
}

/// Sequencer states.
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum SeqState {
    Idle,
    Fetch,
    Dispatch,
    Run,
    Record,
}

/// Window unit states.
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum WindowState {
    Idle,
    Run,
    Flush,
}

#[derive(LogicBlock)]
pub struct LayerEngine<const P: usize, const PARAM_BITS: usize> {
    pub clock: Signal<In, Clock>,
    /// Runs the program at parameter word 0 (descriptors, then weights): one layer after the
    /// other until the end descriptor.
    pub start: Signal<In, bool>,
    pub busy: Signal<Out, bool>,
    /// Read port for the host side (while idle): activation byte `ext_addr` (in the byte space
    /// of `lutna_core::accel::MapPlace::byte_address`), logit `ext_addr`, and layer `ext_addr`'s
    /// counters (cycles from dispatch to done, and issue cycles: taps sent to the lanes, or
    /// window reads), one cycle later.
    pub ext_addr: Signal<In, Bits<16>>,
    pub ext_byte: Signal<Out, Bits<8>>,
    pub ext_logit: Signal<Out, Bits<32>>,
    pub ext_cycles: Signal<Out, Bits<32>>,
    pub ext_issues: Signal<Out, Bits<32>>,
    pub ext_param: Signal<Out, Bits<16>>,
    /// Host-side writes (while idle): `ext_data` into parameter word `ext_addr`, or its low byte
    /// into activation byte `ext_addr`.
    pub ext_write_param: Signal<In, bool>,
    pub ext_write_byte: Signal<In, bool>,
    pub ext_data: Signal<In, Bits<16>>,
    /// Stops a running program (RESET): every unit returns to idle; memories keep their contents.
    pub abort: Signal<In, bool>,
    /// Layers run by the last program.
    pub layers_done: Signal<Out, Bits<8>>,
    // Layer registers: the descriptor words (see lutna_core::accel), and the conv unit's view.
    desc: [DFF<Bits<16>>; 32],
    mode: Signal<Local, Bits<2>>,
    signed_out: Signal<Local, bool>,
    logits: Signal<Local, bool>,
    param_base: Signal<Local, Bits<16>>,
    out_channels: Signal<Local, Bits<16>>,
    out_height: Signal<Local, Bits<8>>,
    out_width: Signal<Local, Bits<8>>,
    groups_per_row: Signal<Local, Bits<8>>,
    in_height: Signal<Local, Bits<16>>,
    in_width: Signal<Local, Bits<16>>,
    stride2: Signal<Local, bool>,
    y_start: Signal<Local, Bits<16>>,
    y_step: Signal<Local, Bits<16>>,
    row_start: Signal<Local, Bits<16>>,
    row_step: Signal<Local, Bits<16>>,
    x_start: Signal<Local, Bits<16>>,
    x_step: Signal<Local, Bits<16>>,
    out_base: Signal<Local, Bits<16>>,
    out_row_words: Signal<Local, Bits<16>>,
    out_channel_words: Signal<Local, Bits<16>>,
    conv_start: Signal<Local, bool>,
    window_start: Signal<Local, bool>,
    // Sequencer.
    seq: DFF<SeqState>,
    seq_addr: DFF<Bits<16>>,
    fetch_count: DFF<Bits<6>>,
    fetch_prev: DFF<Bits<6>>,
    fetch_prev_valid: DFF<bool>,
    layer_index: DFF<Bits<8>>,
    layer_cycles: DFF<Bits<32>>,
    launched: DFF<bool>,
    counter_cycles: BlockRam<32, 8>,
    counter_issues: BlockRam<32, 8>,
    // Window unit (pools, add).
    win: DFF<WindowState>,
    w_ch: DFF<Bits<16>>,
    w_oy: DFF<Bits<8>>,
    w_ox: DFF<Bits<8>>,
    w_ky: DFF<Bits<8>>,
    w_kx: DFF<Bits<8>>,
    w_chan_a: DFF<Bits<16>>,
    w_chan_b: DFF<Bits<16>>,
    w_out_chan: DFF<Bits<16>>,
    w_y: DFF<Bits<16>>,
    w_row: DFF<Bits<16>>,
    w_out_row: DFF<Bits<16>>,
    w_x: DFF<Bits<16>>,
    w_ky_row: DFF<Bits<16>>,
    w_flush: DFF<Bits<5>>,
    w_iy: Signal<Local, Bits<16>>,
    w_ix: Signal<Local, Bits<16>>,
    w_base: Signal<Local, Bits<16>>,
    w_addr: Signal<Local, Bits<16>>,
    w_read: Signal<Local, bool>,
    w_inb: Signal<Local, bool>,
    w_tap_last: Signal<Local, bool>,
    w_row_last: Signal<Local, bool>,
    w_x_last: Signal<Local, bool>,
    w_y_last: Signal<Local, bool>,
    w_add: Signal<Local, bool>,
    w_negative: Signal<Local, bool>,
    w_flush_cycles: Constant<Bits<5>>,
    /// The walk's step enables, one per level: restart, next column of the window, next window
    /// row, next output column, next output row, next channel.
    w_init: Signal<Local, bool>,
    w_step: Signal<Local, bool>,
    w_step_row: Signal<Local, bool>,
    w_step_x: Signal<Local, bool>,
    w_step_y: Signal<Local, bool>,
    w_step_ch: Signal<Local, bool>,
    // S1 of the window unit.
    w1_valid: DFF<bool>,
    w1_first: DFF<bool>,
    w1_last: DFF<bool>,
    w1_inb: DFF<bool>,
    w1_tap_b: DFF<bool>,
    w1_out_addr: DFF<Bits<16>>,
    w_byte: Signal<Local, Bits<8>>,
    w_value: Signal<Local, Bits<32>>,
    w_magnitude: Signal<Local, Bits<16>>,
    /// The byte's two's-complement negation, wrapped at 8 bits. A signal of its own because
    /// Verilog would evaluate `~byte + 1` as wide as its destination (with the 32-bit literal,
    /// 32 bits), so -20 would come out as 0xFF14 instead of 20.
    w_byte_negated: Signal<Local, Bits<8>>,
    w_mult: Signal<Local, Bits<16>>,
    /// The add's product magnitude, `|byte| * mult`.
    w_term: Signal<Local, Bits<32>>,
    w_adder: SignedAdd,
    w_next: Signal<Local, Bits<32>>,
    w_acc: DFF<Bits<32>>,
    // S2: into the requantizer.
    w2_valid: DFF<bool>,
    w2_value: DFF<Bits<32>>,
    w2_out_addr: DFF<Bits<16>>,
    activations: WindowMemory,
    params: BlockRam<16, PARAM_BITS>,
    taps: BlockRam<32, 4>,
    partial: [BlockRam<32, 8>; P],
    logit_mem: BlockRam<32, 8>,
    lanes: [SlotLane; P],
    fetch: [LaneFetch; P],
    /// `-tap_x` (a signal of its own so the negation wraps at 16 bits in the Verilog too).
    tap_x_negated: Signal<Local, Bits<16>>,
    /// `in_width - tap_x`: the columns from the tap's first to the map's right edge.
    fetch_gap: Signal<Local, Bits<16>>,
    fetch_skip: Signal<Local, Bits<5>>,
    fetch_room: Signal<Local, Bits<5>>,
    requant: Requantizer,
    // Programmer.
    prog: DFF<ProgState>,
    word: DFF<ParamWord>,
    param_addr: DFF<Bits<16>>,
    header_left: DFF<Bits<3>>,
    channels_left: DFF<Bits<16>>,
    first_batch: DFF<bool>,
    tap_index: DFF<Bits<4>>,
    tap_offset: DFF<Bits<16>>,
    fill_entry: DFF<Bits<16>>,
    fill_step: DFF<Bits<16>>,
    fill_index: DFF<Bits<4>>,
    prog_half: DFF<Bits<1>>,
    prog_count: DFF<Bits<2>>,
    done_count: DFF<Bits<2>>,
    /// Batches programmed and not yet finished (0..=2). A signal of its own so the 2-bit
    /// wrap-around of `prog_count - done_count` holds in the generated Verilog too: there, a
    /// difference compared with a literal is evaluated 32 bits wide and does not wrap.
    batches_in_flight: Signal<Local, Bits<2>>,
    st_bias: DFF<Bits<32>>,
    st_mult: DFF<Bits<16>>,
    st_shift: DFF<Bits<6>>,
    st_n: DFF<Bits<4>>,
    st_final: DFF<bool>,
    // The two halves' batch descriptions, written by the programmer at handoff.
    meta_n: [DFF<Bits<4>>; 2],
    meta_final: [DFF<bool>; 2],
    meta_first: [DFF<bool>; 2],
    meta_bias: [DFF<Bits<32>>; 2],
    meta_mult: [DFF<Bits<16>>; 2],
    meta_shift: [DFF<Bits<6>>; 2],
    // Issuer.
    issue: DFF<IssueState>,
    issue_half: DFF<Bits<1>>,
    issue_count: DFF<Bits<2>>,
    cur_n: DFF<Bits<4>>,
    cur_final: DFF<bool>,
    cur_first: DFF<bool>,
    tap: DFF<Bits<4>>,
    gx: DFF<Bits<8>>,
    gy: DFF<Bits<8>>,
    gidx: DFF<Bits<8>>,
    y_base: DFF<Bits<16>>,
    row_base: DFF<Bits<16>>,
    x_base: DFF<Bits<16>>,
    x0: DFF<Bits<8>>,
    out_chan: DFF<Bits<16>>,
    out_row: DFF<Bits<16>>,
    started: DFF<bool>,
    gap: DFF<Bits<5>>,
    flush: DFF<Bits<6>>,
    done_line: [DFF<bool>; 4],
    /// The running layer's issue cycles: taps sent to the lanes, or window reads (one counter:
    /// the units never run together).
    issue_count_total: DFF<Bits<32>>,
    // Pipeline registers, index 0 = S1 .. 3 = S4.
    p_valid: [DFF<bool>; 4],
    p_first: [DFF<bool>; 4],
    p_last: [DFF<bool>; 4],
    p_final: [DFF<bool>; 4],
    p_first_batch: [DFF<bool>; 4],
    p_slot: [DFF<Bits<4>>; 4],
    p_gidx: [DFF<Bits<8>>; 4],
    /// The group's first output column and output row, for the drain (or the logits memory)
    /// when its last tap of the final batch reaches S4. Not a pipeline: set when that tap
    /// issues, they hold until the capture 4 cycles later, because the next such tap issues
    /// at the earliest P >= 4 cycles after it (`gap`).
    capture_x0: DFF<Bits<8>>,
    capture_row: DFF<Bits<16>>,
    /// The half whose batch the tap belongs to: the batch's bias, multiplier and shift are read
    /// from its `meta_*` at S4, not carried along. The programmer rewrites a half's `meta_*`
    /// at the earliest 20 cycles after the issuer frees it (the free is when the batch's last
    /// tap is at S4: `done_line`), so they hold while the batch's taps are in flight.
    p_half: [DFF<Bits<1>>; 4],
    batch_bias: Signal<Local, Bits<32>>,
    batch_mult: Signal<Local, Bits<16>>,
    batch_shift: Signal<Local, Bits<6>>,
    p_y_base: DFF<Bits<16>>,
    p_row_base: DFF<Bits<16>>,
    p_x_base: DFF<Bits<16>>,
    s2_negative: DFF<bool>,
    lane_reads: [DFF<bool>; P],
    acc: [DFF<Bits<32>>; P],
    sum: [Signal<Local, Bits<32>>; P],
    adders: [SignedAdd; P],
    init: [Signal<Local, Bits<32>>; P],
    // S1 decode of the tap.
    tap_ky: Signal<Local, Bits<16>>,
    tap_kx: Signal<Local, Bits<16>>,
    tap_row: Signal<Local, Bits<16>>,
    tap_y: Signal<Local, Bits<16>>,
    tap_x: Signal<Local, Bits<16>>,
    tap_row_ok: Signal<Local, bool>,
    /// The byte address of the tap's first column (`row * P + x`, wrapping below 0 in the left
    /// padding: the lanes out of the map ignore their byte). The window memory returns the 8
    /// bytes from there; lane l takes byte l, or byte 2l for stride 2 (`window_even`).
    fetch_addr: Signal<Local, Bits<16>>,
    window_even: Signal<Local, Bits<64>>,
    /// The group writer writes next cycle: the conv issuer holds its tap, so that S1's window
    /// read does not meet the write (one SPRAM access per cycle).
    write_next: Signal<Local, bool>,
    /// The window unit's output byte is written this cycle: it holds its read.
    w_stall: Signal<Local, bool>,
    // Drain.
    drain: [DFF<Bits<32>>; P],
    /// What moves into drain register l as the walk advances: lane l + 1's sum (0 for the last).
    drain_next: [Signal<Local, Bits<32>>; P],
    walking: DFF<bool>,
    walk: DFF<Bits<5>>,
    walk_x0: DFF<Bits<8>>,
    walk_row: DFF<Bits<16>>,
    walk_mult: DFF<Bits<16>>,
    /// The group's bias, and lane sums with it (what the requantizer or the logits take).
    walk_bias: DFF<Bits<32>>,
    biased: Signal<Local, Bits<32>>,
    /// A logits layer's sum is written the cycle after its capture (from `drain[0]`).
    logit_pending: DFF<bool>,
    walk_shift: DFF<Bits<6>>,
    walk_x: Signal<Local, Bits<16>>,
    out_valid: [DFF<bool>; 7],
    out_addr: [DFF<Bits<16>>; 7],
    /// The drain walk's lane, and its last step, along the same stages.
    out_lane: [DFF<Bits<4>>; 7],
    out_end: [DFF<bool>; 7],
    // Group writer: a conv drain's bytes are gathered and stored by window writes (three for a
    // group of eight: even copy, odd copy of the first seven, odd copy of the last), so a group
    // costs the issuer 2 or 3 cycles instead of one per byte.
    conv_layer: Signal<Local, bool>,
    /// The group's output bytes, one register per window byte: each arriving byte loads only
    /// its own (no shifter in front of 64 bits).
    gather: [DFF<Bits<8>>; 8],
    gather_mask: DFF<Bits<8>>,
    gather_base: DFF<Bits<16>>,
    gather_byte_next: [Signal<Local, Bits<8>>; 8],
    /// The group being written, as the 64-bit window: the gather registers, whose bytes 1..7
    /// the next group's drain cannot reach before the group's last write (its byte b arrives
    /// at the earliest b + 1 cycles after the group's end, the writes take the 3 cycles after
    /// it), and byte 0, which it can, kept in `first_byte`.
    held: Signal<Local, Bits<64>>,
    byte_arrives: Signal<Local, bool>,
    gather_mask_next: Signal<Local, Bits<8>>,
    gather_base_next: Signal<Local, Bits<16>>,
    /// 0 idle, 1 even-copy write next, 2 odd copy of bytes 0..6, 3 odd copy of byte 7.
    wstate: DFF<Bits<2>>,
    first_byte: DFF<Bits<8>>,
    wmask: DFF<Bits<8>>,
    wbase: DFF<Bits<16>>,
    one8: Constant<Bits<8>>,
    fill_addr: Signal<Local, Bits<8>>,
    prog_slot: Signal<Local, Bits<4>>,
    issue_slot: Signal<Local, Bits<4>>,
    tap_magnitude: Signal<Local, Bits<16>>,
    // Issue-stage decisions.
    group_last: Signal<Local, bool>,
    row_last: Signal<Local, bool>,
    batch_last: Signal<Local, bool>,
    may_issue: Signal<Local, bool>,
    // Constants.
    lanes_half: Constant<Bits<5>>,
    last_lane: Constant<Bits<5>>,
    lane_bits: Constant<Bits<16>>,
    final_bit: Constant<Bits<16>>,
    last_entry: Constant<Bits<4>>,
    flush_cycles: Constant<Bits<6>>,
    /// Per lane mode: does entry 0 hold |w| (else 0), and is the step 2|w| (else |w|)?
    base_one: [Constant<bool>; 3],
    step_two: [Constant<bool>; 3],
}

impl<const P: usize, const PARAM_BITS: usize> LayerEngine<P, PARAM_BITS> {
    /// Chooses the Verilog of the activation memory for the FPGA family built.
    pub fn set_family(&mut self, family: crate::memory::Family) {
        self.activations.set_family(family);
    }

    /// An engine whose activation memory and parameter memory start with the given contents
    /// (`activations` from byte 0, in the byte space of `MapPlace::linear`; `params[a]`),
    /// inputs marked driven.
    pub fn with_memories(activations: &[u8], params: &[u16]) -> Self {
        // The window memory serves 8 bytes per cycle: at most 8 lanes. The capture registers
        // hold for 4 cycles: at least 4.
        assert!(P == 4 || P == 8, "P is 4 or 8");
        assert!(params.len() <= 1 << PARAM_BITS, "parameters exceed memory");
        let affine = |m: LaneMode| match m.scheme() {
            Scheme::Lut(s) => {
                let (base, step) = s.table_affine(0);
                assert!(
                    base <= 1 && (1..=2).contains(&step),
                    "table rule not covered"
                );
                (base == 1, step == 2)
            }
            Scheme::Exact => unreachable!(),
        };
        let code = |i: usize| {
            LaneMode::ALL
                .iter()
                .find(|m| m.code() as usize == i)
                .copied()
        };
        let mode_of = |i: usize| code(i).expect("lane mode codes are 0..3");
        let mut uut = Self {
            clock: Default::default(),
            start: Default::default(),
            busy: Default::default(),
            ext_addr: Default::default(),
            ext_byte: Default::default(),
            ext_logit: Default::default(),
            ext_param: Default::default(),
            ext_write_param: Default::default(),
            ext_write_byte: Default::default(),
            ext_data: Default::default(),
            abort: Default::default(),
            mode: Default::default(),
            signed_out: Default::default(),
            logits: Default::default(),
            param_base: Default::default(),
            out_channels: Default::default(),
            out_height: Default::default(),
            out_width: Default::default(),
            groups_per_row: Default::default(),
            in_height: Default::default(),
            in_width: Default::default(),
            stride2: Default::default(),
            y_start: Default::default(),
            y_step: Default::default(),
            row_start: Default::default(),
            row_step: Default::default(),
            x_start: Default::default(),
            x_step: Default::default(),
            out_base: Default::default(),
            out_row_words: Default::default(),
            out_channel_words: Default::default(),
            desc: Default::default(),
            seq: Default::default(),
            seq_addr: Default::default(),
            fetch_count: Default::default(),
            fetch_prev: Default::default(),
            fetch_prev_valid: Default::default(),
            layer_index: Default::default(),
            layer_cycles: Default::default(),
            launched: Default::default(),
            counter_cycles: Default::default(),
            counter_issues: Default::default(),
            win: Default::default(),
            w_ch: Default::default(),
            w_oy: Default::default(),
            w_ox: Default::default(),
            w_ky: Default::default(),
            w_kx: Default::default(),
            w_chan_a: Default::default(),
            w_chan_b: Default::default(),
            w_out_chan: Default::default(),
            w_y: Default::default(),
            w_row: Default::default(),
            w_out_row: Default::default(),
            w_x: Default::default(),
            w_ky_row: Default::default(),
            w_flush: Default::default(),
            w_iy: Default::default(),
            w_ix: Default::default(),
            w_base: Default::default(),
            w_addr: Default::default(),
            w_read: Default::default(),
            w_inb: Default::default(),
            w_tap_last: Default::default(),
            w_row_last: Default::default(),
            w_x_last: Default::default(),
            w_y_last: Default::default(),
            w_add: Default::default(),
            w_negative: Default::default(),
            w_flush_cycles: Constant::new(((3 + Requantizer::LATENCY + 2) as u64).into()),
            w_init: Default::default(),
            w_step: Default::default(),
            w_step_row: Default::default(),
            w_step_x: Default::default(),
            w_step_y: Default::default(),
            w_step_ch: Default::default(),
            w1_valid: Default::default(),
            w1_first: Default::default(),
            w1_last: Default::default(),
            w1_inb: Default::default(),
            w1_tap_b: Default::default(),
            w1_out_addr: Default::default(),
            w_byte: Default::default(),
            w_value: Default::default(),
            w_magnitude: Default::default(),
            w_byte_negated: Default::default(),
            w_mult: Default::default(),
            w_term: Default::default(),
            w_adder: Default::default(),
            w_next: Default::default(),
            w_acc: Default::default(),
            w2_valid: Default::default(),
            w2_value: Default::default(),
            w2_out_addr: Default::default(),
            conv_start: Default::default(),
            window_start: Default::default(),
            ext_cycles: Default::default(),
            ext_issues: Default::default(),
            layers_done: Default::default(),
            activations: WindowMemory::with_contents(activations),
            params: BlockRam::with_contents(params.iter().map(|&v| v as u64)),
            taps: Default::default(),
            partial: std::array::from_fn(|_| Default::default()),
            logit_mem: Default::default(),
            lanes: std::array::from_fn(|_| Default::default()),
            fetch: std::array::from_fn(|l| LaneFetch::new(l, P)),
            tap_x_negated: Default::default(),
            fetch_gap: Default::default(),
            fetch_skip: Default::default(),
            fetch_room: Default::default(),
            requant: Default::default(),
            prog: Default::default(),
            word: Default::default(),
            param_addr: Default::default(),
            header_left: Default::default(),
            channels_left: Default::default(),
            first_batch: Default::default(),
            tap_index: Default::default(),
            tap_offset: Default::default(),
            fill_entry: Default::default(),
            fill_step: Default::default(),
            fill_index: Default::default(),
            prog_half: Default::default(),
            prog_count: Default::default(),
            done_count: Default::default(),
            batches_in_flight: Default::default(),
            st_bias: Default::default(),
            st_mult: Default::default(),
            st_shift: Default::default(),
            st_n: Default::default(),
            st_final: Default::default(),
            meta_n: Default::default(),
            meta_final: Default::default(),
            meta_first: Default::default(),
            meta_bias: Default::default(),
            meta_mult: Default::default(),
            meta_shift: Default::default(),
            issue: Default::default(),
            issue_half: Default::default(),
            issue_count: Default::default(),
            cur_n: Default::default(),
            cur_final: Default::default(),
            cur_first: Default::default(),
            tap: Default::default(),
            gx: Default::default(),
            gy: Default::default(),
            gidx: Default::default(),
            y_base: Default::default(),
            row_base: Default::default(),
            x_base: Default::default(),
            x0: Default::default(),
            out_chan: Default::default(),
            out_row: Default::default(),
            started: Default::default(),
            gap: Default::default(),
            flush: Default::default(),
            done_line: Default::default(),
            issue_count_total: Default::default(),
            p_valid: Default::default(),
            p_first: Default::default(),
            p_last: Default::default(),
            p_final: Default::default(),
            p_first_batch: Default::default(),
            p_slot: Default::default(),
            p_gidx: Default::default(),
            capture_x0: Default::default(),
            capture_row: Default::default(),
            p_half: Default::default(),
            batch_bias: Default::default(),
            batch_mult: Default::default(),
            batch_shift: Default::default(),
            p_y_base: Default::default(),
            p_row_base: Default::default(),
            p_x_base: Default::default(),
            s2_negative: Default::default(),
            lane_reads: std::array::from_fn(|_| Default::default()),
            acc: std::array::from_fn(|_| Default::default()),
            sum: std::array::from_fn(|_| Default::default()),
            adders: std::array::from_fn(|_| Default::default()),
            init: std::array::from_fn(|_| Default::default()),
            tap_ky: Default::default(),
            tap_kx: Default::default(),
            tap_row: Default::default(),
            tap_y: Default::default(),
            tap_x: Default::default(),
            tap_row_ok: Default::default(),
            fetch_addr: Default::default(),
            window_even: Default::default(),
            write_next: Default::default(),
            w_stall: Default::default(),
            drain: std::array::from_fn(|_| Default::default()),
            drain_next: std::array::from_fn(|_| Default::default()),
            walking: Default::default(),
            walk: Default::default(),
            walk_x0: Default::default(),
            walk_row: Default::default(),
            walk_mult: Default::default(),
            walk_bias: Default::default(),
            biased: Default::default(),
            logit_pending: Default::default(),
            walk_shift: Default::default(),
            walk_x: Default::default(),
            out_valid: Default::default(),
            out_addr: Default::default(),
            out_lane: Default::default(),
            out_end: Default::default(),
            conv_layer: Default::default(),
            gather: Default::default(),
            gather_byte_next: Default::default(),
            byte_arrives: Default::default(),
            gather_mask: Default::default(),
            gather_base: Default::default(),
            held: Default::default(),
            gather_mask_next: Default::default(),
            gather_base_next: Default::default(),
            wstate: Default::default(),
            first_byte: Default::default(),
            wmask: Default::default(),
            wbase: Default::default(),
            one8: Constant::new(1.into()),
            fill_addr: Default::default(),
            prog_slot: Default::default(),
            issue_slot: Default::default(),
            tap_magnitude: Default::default(),
            group_last: Default::default(),
            row_last: Default::default(),
            batch_last: Default::default(),
            may_issue: Default::default(),
            lanes_half: Constant::new((P as u64 / 2).into()),
            last_lane: Constant::new((P as u64 - 1).into()),
            lane_bits: Constant::new((P.trailing_zeros() as u64).into()),
            final_bit: Constant::new((FINAL_BATCH as u64).into()),
            last_entry: Constant::new((TABLE_ENTRIES as u64 - 1).into()),
            flush_cycles: Constant::new((FLUSH_CYCLES as u64).into()),
            base_one: std::array::from_fn(|i| Constant::new(affine(mode_of(i)).0)),
            step_two: std::array::from_fn(|i| Constant::new(affine(mode_of(i)).1)),
        };
        uut.clock.connect();
        uut.start.connect();
        uut.ext_addr.connect();
        uut.ext_write_param.connect();
        uut.ext_write_byte.connect();
        uut.ext_data.connect();
        uut.abort.connect();
        uut.connect_all();
        uut
    }
}

impl<const P: usize, const PARAM_BITS: usize> Logic for LayerEngine<P, PARAM_BITS> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            prog,
            word,
            param_addr,
            header_left,
            channels_left,
            first_batch,
            tap_index,
            tap_offset,
            fill_entry,
            fill_step,
            fill_index,
            prog_half,
            prog_count,
            done_count,
            st_bias,
            st_mult,
            st_shift,
            st_n,
            st_final,
            issue,
            issue_half,
            issue_count,
            cur_n,
            cur_final,
            cur_first,
            tap,
            gx,
            gy,
            gidx,
            y_base,
            row_base,
            x_base,
            x0,
            out_chan,
            out_row,
            started,
            gap,
            capture_x0,
            capture_row,
            flush,
            issue_count_total,
            p_y_base,
            p_row_base,
            p_x_base,
            s2_negative,
            walking,
            walk,
            walk_x0,
            walk_row,
            walk_mult,
            walk_bias,
            logit_pending,
            walk_shift,
            seq,
            seq_addr,
            fetch_count,
            fetch_prev,
            fetch_prev_valid,
            layer_index,
            layer_cycles,
            launched,
            win,
            w_ch,
            w_oy,
            w_ox,
            w_ky,
            w_kx,
            w_chan_a,
            w_chan_b,
            w_out_chan,
            w_y,
            w_row,
            w_out_row,
            w_x,
            w_ky_row,
            w_flush,
            w1_valid,
            w1_first,
            w1_last,
            w1_inb,
            w1_tap_b,
            w1_out_addr,
            w_acc,
            w2_valid,
            w2_value,
            w2_out_addr,
            gather_mask,
            gather_base,
            wstate,
            first_byte,
            wmask,
            wbase
        );
        for h in 0..2 {
            self.meta_n[h].clock.next = self.clock.val();
            self.meta_final[h].clock.next = self.clock.val();
            self.meta_first[h].clock.next = self.clock.val();
            self.meta_bias[h].clock.next = self.clock.val();
            self.meta_mult[h].clock.next = self.clock.val();
            self.meta_shift[h].clock.next = self.clock.val();
            self.meta_n[h].d.next = self.meta_n[h].q.val();
            self.meta_final[h].d.next = self.meta_final[h].q.val();
            self.meta_first[h].d.next = self.meta_first[h].q.val();
            self.meta_bias[h].d.next = self.meta_bias[h].q.val();
            self.meta_mult[h].d.next = self.meta_mult[h].q.val();
            self.meta_shift[h].d.next = self.meta_shift[h].q.val();
        }
        for s in 0..4 {
            self.done_line[s].clock.next = self.clock.val();
            self.p_valid[s].clock.next = self.clock.val();
            self.p_first[s].clock.next = self.clock.val();
            self.p_last[s].clock.next = self.clock.val();
            self.p_final[s].clock.next = self.clock.val();
            self.p_first_batch[s].clock.next = self.clock.val();
            self.p_slot[s].clock.next = self.clock.val();
            self.p_gidx[s].clock.next = self.clock.val();
            self.p_half[s].clock.next = self.clock.val();
        }
        for b in 0..8 {
            self.gather[b].clock.next = self.clock.val();
        }
        for s in 0..7 {
            self.out_valid[s].clock.next = self.clock.val();
            self.out_addr[s].clock.next = self.clock.val();
            self.out_lane[s].clock.next = self.clock.val();
            self.out_end[s].clock.next = self.clock.val();
        }
        self.requant.clock.next = self.clock.val();
        self.params.read_clock.next = self.clock.val();
        self.params.write_clock.next = self.clock.val();
        self.params.write_enable.next = self.ext_write_param.val();
        self.params.write_address.next = self.ext_addr.val().get_bits::<PARAM_BITS>(0);
        self.params.write_data.next = self.ext_data.val();
        self.ext_param.next = self.params.read_data.val();
        self.taps.read_clock.next = self.clock.val();
        self.taps.write_clock.next = self.clock.val();
        self.taps.write_enable.next = false;
        self.taps.write_address.next = 0.into();
        self.taps.write_data.next = 0.into();
        self.logit_mem.read_clock.next = self.clock.val();
        self.logit_mem.write_clock.next = self.clock.val();
        self.logit_mem.write_enable.next = false;
        self.logit_mem.write_address.next = 0.into();
        self.logit_mem.write_data.next = 0.into();
        self.logit_mem.read_address.next = self.ext_addr.val().get_bits::<8>(0);
        self.ext_logit.next = self.logit_mem.read_data.val();

        // ---------------- sequencer: descriptors -> layer registers -> units ----------------
        for k in 0..32 {
            self.desc[k].clock.next = self.clock.val();
            self.desc[k].d.next = self.desc[k].q.val();
            if self.fetch_prev_valid.q.val() & (self.fetch_prev.q.val().index() == k) {
                self.desc[k].d.next = self.params.read_data.val();
            }
        }
        self.mode.next = self.desc[1].q.val().get_bits::<2>(0);
        self.conv_layer.next = self.desc[0].q.val() == 1;
        self.signed_out.next = self.desc[1].q.val().get_bit(2);
        self.logits.next = self.desc[1].q.val().get_bit(3);
        self.stride2.next = self.desc[1].q.val().get_bit(4);
        self.param_base.next = self.desc[2].q.val();
        self.out_channels.next = self.desc[3].q.val();
        self.out_height.next = self.desc[4].q.val().get_bits::<8>(0);
        self.out_width.next = self.desc[5].q.val().get_bits::<8>(0);
        self.groups_per_row.next = self.desc[6].q.val().get_bits::<8>(0);
        self.in_height.next = self.desc[7].q.val();
        self.in_width.next = self.desc[8].q.val();
        self.y_start.next = self.desc[9].q.val();
        self.y_step.next = self.desc[10].q.val();
        self.row_start.next = self.desc[11].q.val();
        self.row_step.next = self.desc[12].q.val();
        self.x_start.next = self.desc[13].q.val();
        self.x_step.next = self.desc[14].q.val();
        self.out_base.next = self.desc[15].q.val();
        self.out_row_words.next = self.desc[16].q.val();
        self.out_channel_words.next = self.desc[17].q.val();
        self.conv_start.next = false;
        self.window_start.next = false;
        self.fetch_prev_valid.d.next = false;
        self.counter_cycles.read_clock.next = self.clock.val();
        self.counter_cycles.write_clock.next = self.clock.val();
        self.counter_issues.read_clock.next = self.clock.val();
        self.counter_issues.write_clock.next = self.clock.val();
        self.counter_cycles.read_address.next = self.ext_addr.val().get_bits::<8>(0);
        self.counter_issues.read_address.next = self.ext_addr.val().get_bits::<8>(0);
        self.counter_cycles.write_address.next = self.layer_index.q.val();
        self.counter_issues.write_address.next = self.layer_index.q.val();
        self.counter_cycles.write_data.next = self.layer_cycles.q.val();
        self.counter_issues.write_data.next = self.issue_count_total.q.val();
        self.counter_cycles.write_enable.next = false;
        self.counter_issues.write_enable.next = false;
        self.ext_cycles.next = self.counter_cycles.read_data.val();
        self.ext_issues.next = self.counter_issues.read_data.val();
        self.layers_done.next = self.layer_index.q.val();
        self.layer_cycles.d.next = self.layer_cycles.q.val() + 1;
        match self.seq.q.val() {
            SeqState::Idle => {
                if self.start.val() {
                    self.seq_addr.d.next = 0.into();
                    self.fetch_count.d.next = 0.into();
                    self.layer_index.d.next = 0.into();
                    self.seq.d.next = SeqState::Fetch;
                }
            }
            SeqState::Fetch => {
                self.seq_addr.d.next = self.seq_addr.q.val() + 1;
                self.fetch_count.d.next = self.fetch_count.q.val() + 1;
                self.fetch_prev.d.next = self.fetch_count.q.val();
                self.fetch_prev_valid.d.next = true;
                if self.fetch_count.q.val() == 31 {
                    self.seq.d.next = SeqState::Dispatch;
                }
            }
            SeqState::Dispatch => {
                // The last descriptor word landed this cycle's edge; start the layer's unit.
                self.fetch_count.d.next = 0.into();
                self.layer_cycles.d.next = 0.into();
                self.launched.d.next = false;
                self.seq.d.next = SeqState::Run;
                if self.desc[0].q.val() == 0 {
                    self.seq.d.next = SeqState::Idle;
                } else if self.desc[0].q.val() == 1 {
                    self.conv_start.next = true;
                } else {
                    self.window_start.next = true;
                }
            }
            SeqState::Run => {
                self.launched.d.next = true;
                if self.launched.q.val()
                    & (self.issue.q.val() == IssueState::Idle)
                    & (self.prog.q.val() == ProgState::Idle)
                    & (self.win.q.val() == WindowState::Idle)
                {
                    self.seq.d.next = SeqState::Record;
                }
            }
            SeqState::Record => {
                self.counter_cycles.write_enable.next = true;
                self.counter_issues.write_enable.next = true;
                self.layer_index.d.next = self.layer_index.q.val() + 1;
                self.seq.d.next = SeqState::Fetch;
            }
            _ => {
                self.seq.d.next = SeqState::Idle;
            }
        }
        self.busy.next = self.seq.q.val() != SeqState::Idle;

        // ---------------- programmer: parameter words -> table slots and taps ----------------
        self.params.read_address.next = self.param_addr.q.val().get_bits::<PARAM_BITS>(0);
        if self.seq.q.val() == SeqState::Fetch {
            self.params.read_address.next = self.seq_addr.q.val().get_bits::<PARAM_BITS>(0);
        }
        if self.seq.q.val() == SeqState::Idle {
            self.params.read_address.next = self.ext_addr.val().get_bits::<PARAM_BITS>(0);
        }
        self.word.d.next = ParamWord::None;
        // The table write port, shared by every lane bank.
        self.fill_addr.next = (bit_cast::<8, 1>(self.prog_half.q.val()) << 7)
            | (bit_cast::<8, 4>(self.tap_index.q.val()) << 4)
            | bit_cast::<8, 4>(self.fill_index.q.val());
        self.prog_slot.next =
            (bit_cast::<4, 1>(self.prog_half.q.val()) << 3) | self.tap_index.q.val();
        self.issue_slot.next = (bit_cast::<4, 1>(self.issue_half.q.val()) << 3) | self.tap.q.val();
        self.tap_magnitude.next = bit_cast::<16, 8>(self.params.read_data.val().get_bits::<8>(0));
        for l in 0..P {
            self.lanes[l].clock.next = self.clock.val();
            self.lanes[l].table_write.next = false;
            self.lanes[l].table_addr.next = self.fill_addr.val();
            self.lanes[l].table_data.next = self.fill_entry.q.val();
        }
        self.batches_in_flight.next = self.prog_count.q.val() - self.done_count.q.val();
        match self.prog.q.val() {
            ProgState::Idle => {
                if self.conv_start.val() {
                    self.param_addr.d.next = self.param_base.val();
                    self.channels_left.d.next = self.out_channels.val();
                    self.prog.d.next = ProgState::Header;
                    self.header_left.d.next = 4.into();
                    self.prog_half.d.next = 0.into();
                    self.prog_count.d.next = 0.into();
                }
            }
            ProgState::Header => {
                // Four header words, then the first batch header; each read's word arrives the
                // next cycle and is consumed below by its kind.
                self.param_addr.d.next = self.param_addr.q.val() + 1;
                self.header_left.d.next = self.header_left.q.val() - 1;
                if self.header_left.q.val() == 4 {
                    self.word.d.next = ParamWord::BiasLow;
                }
                if self.header_left.q.val() == 3 {
                    self.word.d.next = ParamWord::BiasHigh;
                }
                if self.header_left.q.val() == 2 {
                    self.word.d.next = ParamWord::Mult;
                }
                if self.header_left.q.val() == 1 {
                    self.word.d.next = ParamWord::Shift;
                    self.first_batch.d.next = true;
                    self.prog.d.next = ProgState::BatchHead;
                }
            }
            ProgState::BatchHead => {
                // Wait for a free half: at most two batches programmed and not yet finished.
                if self.batches_in_flight.val() != 2 {
                    self.param_addr.d.next = self.param_addr.q.val() + 1;
                    self.word.d.next = ParamWord::BatchHead;
                    self.tap_index.d.next = 0.into();
                    self.prog.d.next = ProgState::TapOffset;
                }
            }
            ProgState::TapOffset => {
                self.param_addr.d.next = self.param_addr.q.val() + 1;
                self.word.d.next = ParamWord::Offset;
                self.prog.d.next = ProgState::TapWord;
            }
            ProgState::TapWord => {
                self.param_addr.d.next = self.param_addr.q.val() + 1;
                self.word.d.next = ParamWord::Tap;
                self.prog.d.next = ProgState::TapLatch;
            }
            ProgState::TapLatch => {
                // The tap word is consumed this cycle (below); filling starts next cycle.
                self.prog.d.next = ProgState::Fill;
            }
            ProgState::Fill => {
                for l in 0..P {
                    self.lanes[l].table_write.next = true;
                }
                self.fill_entry.d.next = self.fill_entry.q.val() + self.fill_step.q.val();
                self.fill_index.d.next = self.fill_index.q.val() + 1;
                if self.fill_index.q.val() == self.last_entry.val() {
                    self.tap_index.d.next = self.tap_index.q.val() + 1;
                    self.prog.d.next = ProgState::TapOffset;
                    if (self.tap_index.q.val() + 1) == self.st_n.q.val() {
                        self.prog.d.next = ProgState::Handoff;
                    }
                }
            }
            ProgState::Handoff => {
                for h in 0..2 {
                    if self.prog_half.q.val().index() == h {
                        self.meta_n[h].d.next = self.st_n.q.val();
                        self.meta_final[h].d.next = self.st_final.q.val();
                        self.meta_first[h].d.next = self.first_batch.q.val();
                        self.meta_bias[h].d.next = self.st_bias.q.val();
                        self.meta_mult[h].d.next = self.st_mult.q.val();
                        self.meta_shift[h].d.next = self.st_shift.q.val();
                    }
                }
                self.prog_count.d.next = self.prog_count.q.val() + 1;
                self.prog_half.d.next = !self.prog_half.q.val();
                self.first_batch.d.next = false;
                self.prog.d.next = ProgState::BatchHead;
                if self.st_final.q.val() {
                    self.channels_left.d.next = self.channels_left.q.val() - 1;
                    self.header_left.d.next = 4.into();
                    self.prog.d.next = ProgState::Header;
                    if self.channels_left.q.val() == 1 {
                        self.prog.d.next = ProgState::Done;
                    }
                }
            }
            ProgState::Done => {
                if self.issue.q.val() == IssueState::Idle {
                    self.prog.d.next = ProgState::Idle;
                }
            }
            _ => {
                self.prog.d.next = ProgState::Idle;
            }
        }
        // Words arriving from parameter memory.
        match self.word.q.val() {
            ParamWord::BiasLow => {
                self.st_bias.d.next = bit_cast::<32, 16>(self.params.read_data.val());
            }
            ParamWord::BiasHigh => {
                self.st_bias.d.next =
                    self.st_bias.q.val() | (bit_cast::<32, 16>(self.params.read_data.val()) << 16);
            }
            ParamWord::Mult => {
                self.st_mult.d.next = self.params.read_data.val();
            }
            ParamWord::Shift => {
                self.st_shift.d.next = self.params.read_data.val().get_bits::<6>(0);
            }
            ParamWord::BatchHead => {
                self.st_n.d.next = self.params.read_data.val().get_bits::<4>(0);
                self.st_final.d.next = (self.params.read_data.val() & self.final_bit.val()).any();
            }
            ParamWord::Offset => {
                self.tap_offset.d.next = self.params.read_data.val();
            }
            ParamWord::Tap => {
                // Keep the tap for the issuer and start the slot's adder chain.
                self.taps.write_enable.next = true;
                self.taps.write_address.next = self.prog_slot.val();
                self.taps.write_data.next = (bit_cast::<32, 16>(self.tap_offset.q.val()) << 16)
                    | bit_cast::<32, 16>(self.params.read_data.val());
                self.fill_index.d.next = 0.into();
                self.fill_entry.d.next = 0.into();
                self.fill_step.d.next = self.tap_magnitude.val();
                for m in 0..3 {
                    if self.mode.val().index() == m {
                        if self.base_one[m].val() {
                            self.fill_entry.d.next = self.tap_magnitude.val();
                        }
                        if self.step_two[m].val() {
                            self.fill_step.d.next = self.tap_magnitude.val() << 1;
                        }
                    }
                }
            }
            _ => {}
        }

        // ---------------- issuer: groups x taps, one tap per cycle ----------------
        self.taps.read_address.next = self.issue_slot.val();
        self.group_last.next = (self.tap.q.val() + 1) == self.cur_n.q.val();
        self.row_last.next = (self.gx.q.val() + 1) == self.groups_per_row.val();
        self.batch_last.next = self.group_last.val()
            & self.row_last.val()
            & ((self.gy.q.val() + 1) == self.out_height.val());
        // Captures for the drain must be at least P cycles apart (its walk length).
        self.write_next.next = (self.out_end[6].q.val() & self.conv_layer.val())
            | (self.wstate.q.val() == 1)
            | ((self.wstate.q.val() == 2) & self.wmask.q.val().get_bit(7));
        self.may_issue.next = (!(self.group_last.val() & self.cur_final.q.val())
            | (self.gap.q.val() == 0))
            & !self.write_next.val();
        if self.gap.q.val() != 0 {
            self.gap.d.next = self.gap.q.val() - 1;
        }
        self.p_valid[0].d.next = false;
        self.p_first[0].d.next = self.tap.q.val() == 0;
        self.p_last[0].d.next = self.group_last.val();
        self.p_final[0].d.next = self.cur_final.q.val();
        self.p_first_batch[0].d.next = self.cur_first.q.val();
        self.p_slot[0].d.next = self.issue_slot.val();
        self.p_gidx[0].d.next = self.gidx.q.val();
        self.p_half[0].d.next = self.issue_half.q.val();
        self.p_y_base.d.next = self.y_base.q.val();
        self.p_row_base.d.next = self.row_base.q.val();
        self.p_x_base.d.next = self.x_base.q.val();
        self.done_line[0].d.next = false;
        for s in 1..4 {
            self.done_line[s].d.next = self.done_line[s - 1].q.val();
        }
        if self.done_line[3].q.val() {
            self.done_count.d.next = self.done_count.q.val() + 1;
        }
        match self.issue.q.val() {
            IssueState::Idle => {
                if self.conv_start.val() {
                    self.issue.d.next = IssueState::Wait;
                    self.issue_half.d.next = 0.into();
                    self.issue_count.d.next = 0.into();
                    self.done_count.d.next = 0.into();
                    self.started.d.next = false;
                    self.out_chan.d.next = self.out_base.val();
                    self.issue_count_total.d.next = 0.into();
                }
            }
            IssueState::Wait => {
                // Take the next programmed batch and start its walk over the map.
                if self.prog_count.q.val() != self.issue_count.q.val() {
                    for h in 0..2 {
                        if self.issue_half.q.val().index() == h {
                            self.cur_n.d.next = self.meta_n[h].q.val();
                            self.cur_final.d.next = self.meta_final[h].q.val();
                            self.cur_first.d.next = self.meta_first[h].q.val();
                            if self.meta_first[h].q.val() & self.started.q.val() {
                                self.out_chan.d.next =
                                    self.out_chan.q.val() + self.out_channel_words.val();
                                self.out_row.d.next =
                                    self.out_chan.q.val() + self.out_channel_words.val();
                            } else {
                                self.out_row.d.next = self.out_chan.q.val();
                            }
                        }
                    }
                    self.started.d.next = true;
                    self.tap.d.next = 0.into();
                    self.gx.d.next = 0.into();
                    self.gy.d.next = 0.into();
                    self.gidx.d.next = 0.into();
                    self.x0.d.next = 0.into();
                    self.y_base.d.next = self.y_start.val();
                    self.row_base.d.next = self.row_start.val();
                    self.x_base.d.next = self.x_start.val();
                    self.issue.d.next = IssueState::Run;
                }
                if (self.prog.q.val() == ProgState::Done)
                    & (self.prog_count.q.val() == self.issue_count.q.val())
                {
                    self.flush.d.next = self.flush_cycles.val();
                    self.issue.d.next = IssueState::Flush;
                }
            }
            IssueState::Run => {
                if self.may_issue.val() {
                    self.p_valid[0].d.next = true;
                    self.issue_count_total.d.next = self.issue_count_total.q.val() + 1;
                    self.tap.d.next = self.tap.q.val() + 1;
                    if self.group_last.val() {
                        self.tap.d.next = 0.into();
                        if self.cur_final.q.val() {
                            self.gap.d.next = self.last_lane.val();
                            self.capture_x0.d.next = self.x0.q.val();
                            self.capture_row.d.next = self.out_row.q.val();
                        }
                        self.gx.d.next = self.gx.q.val() + 1;
                        self.gidx.d.next = self.gidx.q.val() + 1;
                        self.x_base.d.next = self.x_base.q.val() + self.x_step.val();
                        self.x0.d.next = self.x0.q.val() + self.x_step.val().get_bits::<8>(0);
                        if self.stride2.val() {
                            self.x0.d.next =
                                self.x0.q.val() + (self.x_step.val().get_bits::<8>(0) >> 1);
                        }
                        if self.row_last.val() {
                            self.gx.d.next = 0.into();
                            self.x0.d.next = 0.into();
                            self.x_base.d.next = self.x_start.val();
                            self.gy.d.next = self.gy.q.val() + 1;
                            self.y_base.d.next = self.y_base.q.val() + self.y_step.val();
                            self.row_base.d.next = self.row_base.q.val() + self.row_step.val();
                            self.out_row.d.next = self.out_row.q.val() + self.out_row_words.val();
                        }
                        if self.batch_last.val() {
                            self.done_line[0].d.next = true;
                            self.issue_count.d.next = self.issue_count.q.val() + 1;
                            self.issue_half.d.next = !self.issue_half.q.val();
                            self.issue.d.next = IssueState::Wait;
                        }
                    }
                }
            }
            IssueState::Flush => {
                self.flush.d.next = self.flush.q.val() - 1;
                if self.flush.q.val() == 0 {
                    self.issue.d.next = IssueState::Idle;
                }
            }
            _ => {
                self.issue.d.next = IssueState::Idle;
            }
        }

        // ---------------- pipeline ----------------
        for s in 1..4 {
            self.p_valid[s].d.next = self.p_valid[s - 1].q.val();
            self.p_first[s].d.next = self.p_first[s - 1].q.val();
            self.p_last[s].d.next = self.p_last[s - 1].q.val();
            self.p_final[s].d.next = self.p_final[s - 1].q.val();
            self.p_first_batch[s].d.next = self.p_first_batch[s - 1].q.val();
            self.p_slot[s].d.next = self.p_slot[s - 1].q.val();
            self.p_gidx[s].d.next = self.p_gidx[s - 1].q.val();
            self.p_half[s].d.next = self.p_half[s - 1].q.val();
        }
        // S1: decode the tap, form the window's address.
        self.tap_ky.next = bit_cast::<16, 3>(self.taps.read_data.val().get_bits::<3>(9));
        self.tap_kx.next = bit_cast::<16, 3>(self.taps.read_data.val().get_bits::<3>(12));
        self.tap_row.next = self.p_row_base.q.val() + self.taps.read_data.val().get_bits::<16>(16);
        self.tap_y.next = self.p_y_base.q.val() + self.tap_ky.val();
        self.tap_x.next = self.p_x_base.q.val() + self.tap_kx.val();
        self.tap_row_ok.next =
            !self.tap_y.val().get_bit(15) & (self.tap_y.val() < self.in_height.val());
        self.s2_negative.d.next = self.taps.read_data.val().get_bit(8);
        self.fetch_addr.next = (self.tap_row.val() << self.lane_bits.val()) + self.tap_x.val();
        // The lanes' shared view of the map's columns (see LaneFetch): tap_x is negative in the
        // left padding (at most a few columns), and the map is at most 2^15 columns wide.
        self.tap_x_negated.next = !self.tap_x.val() + 1;
        self.fetch_gap.next = self.in_width.val() - self.tap_x.val();
        self.fetch_skip.next = 0.into();
        if self.tap_x.val().get_bit(15) {
            self.fetch_skip.next = 16.into();
            if self.tap_x_negated.val() < 16 {
                self.fetch_skip.next = self.tap_x_negated.val().get_bits::<5>(0);
            }
        }
        self.fetch_room.next = 16.into();
        if self.fetch_gap.val() < 16 {
            self.fetch_room.next = self.fetch_gap.val().get_bits::<5>(0);
        }
        if self.fetch_gap.val().get_bit(15) {
            self.fetch_room.next = 0.into();
        }
        for l in 0..P {
            self.fetch[l].skip.next = self.fetch_skip.val();
            self.fetch[l].room.next = self.fetch_room.val();
            self.fetch[l].stride2.next = self.stride2.val();
            self.fetch[l].row_ok.next = self.tap_row_ok.val();
            self.lane_reads[l].clock.next = self.clock.val();
            self.lane_reads[l].d.next = self.fetch[l].reads.val();
        }
        // Window unit S0 (its counters advance further below): the element it reads.
        self.w_add.next = self.desc[0].q.val() == 4;
        self.w_tap_last.next = (self.w_kx.q.val() + 1) == self.desc[8].q.val().get_bits::<8>(0);
        self.w_row_last.next = self.w_tap_last.val()
            & ((self.w_ky.q.val() + 1) == self.desc[7].q.val().get_bits::<8>(0));
        self.w_x_last.next = (self.w_ox.q.val() + 1) == self.desc[4].q.val().get_bits::<8>(0);
        self.w_y_last.next = (self.w_oy.q.val() + 1) == self.desc[3].q.val().get_bits::<8>(0);
        self.w_iy.next = self.w_y.q.val() + bit_cast::<16, 8>(self.w_ky.q.val());
        self.w_ix.next = self.w_x.q.val() + bit_cast::<16, 8>(self.w_kx.q.val());
        self.w_base.next = self.w_chan_a.q.val() + self.w_row.q.val() + self.w_ky_row.q.val();
        if self.w_add.val() {
            // Tap 0 reads map A, tap 1 the same element of map B.
            self.w_ix.next = self.w_x.q.val();
            if self.w_kx.q.val().any() {
                self.w_base.next = self.w_chan_b.q.val() + self.w_row.q.val();
            }
        }
        self.w_addr.next = (self.w_base.val() << self.lane_bits.val()) + self.w_ix.val();
        self.w_inb.next = !self.w_iy.val().get_bit(15)
            & (self.w_iy.val() < self.desc[5].q.val())
            & !self.w_ix.val().get_bit(15)
            & (self.w_ix.val() < self.desc[6].q.val());
        self.w_stall.next = self.out_valid[6].q.val();
        self.w_read.next =
            (self.win.q.val() == WindowState::Run) & self.w_inb.val() & !self.w_stall.val();
        // One window read per cycle: the tap's window while the conv unit issues, the element
        // the window unit reads in window layers, the host-side read port when idle. (Writes
        // win, below; the units hold their reads in those cycles.)
        self.activations.clock.next = self.clock.val();
        self.activations.read_addr.next = self.ext_addr.val();
        if self.w_read.val() {
            self.activations.read_addr.next = self.w_addr.val();
        }
        if self.p_valid[0].q.val() {
            self.activations.read_addr.next = self.fetch_addr.val();
        }
        self.ext_byte.next = self.activations.window.val().get_bits::<8>(0);
        // S2: lane l takes byte l of the window (stride 2: byte 2l); lane operands.
        self.window_even.next = bit_cast::<64, 8>(self.activations.window.val().get_bits::<8>(0))
            | (bit_cast::<64, 8>(self.activations.window.val().get_bits::<8>(16)) << 8)
            | (bit_cast::<64, 8>(self.activations.window.val().get_bits::<8>(32)) << 16)
            | (bit_cast::<64, 8>(self.activations.window.val().get_bits::<8>(48)) << 24);
        for l in 0..P {
            self.lanes[l].activation.next = 0.into();
            if self.lane_reads[l].q.val() {
                self.lanes[l].activation.next = self.activations.window.val().get_bits::<8>(8 * l);
                if self.stride2.val() {
                    self.lanes[l].activation.next = self.window_even.val().get_bits::<8>(8 * l);
                }
            }
            self.lanes[l].slot.next = self.p_slot[1].q.val();
            self.lanes[l].negative.next = self.s2_negative.q.val();
            self.lanes[l].mode.next = self.mode.val();
            self.lanes[l].valid.next = self.p_valid[1].q.val();
        }
        // S3: partial sums of the previous batch are read; S4: accumulate.
        for l in 0..P {
            self.drain_next[l].next = 0.into();
        }
        for l in 1..P {
            self.drain_next[l - 1].next = self.drain[l].q.val();
        }
        self.batch_bias.next = self.meta_bias[0].q.val();
        self.batch_mult.next = self.meta_mult[0].q.val();
        self.batch_shift.next = self.meta_shift[0].q.val();
        if self.p_half[3].q.val().any() {
            self.batch_bias.next = self.meta_bias[1].q.val();
            self.batch_mult.next = self.meta_mult[1].q.val();
            self.batch_shift.next = self.meta_shift[1].q.val();
        }
        for l in 0..P {
            self.partial[l].read_clock.next = self.clock.val();
            self.partial[l].write_clock.next = self.clock.val();
            self.partial[l].read_address.next = self.p_gidx[2].q.val();
            self.partial[l].write_address.next = self.p_gidx[3].q.val();
            self.acc[l].clock.next = self.clock.val();
            self.drain[l].clock.next = self.clock.val();
            self.acc[l].d.next = self.acc[l].q.val();
            // The drain is a shift register: the walk takes lane 0's sum and the next lane's
            // moves down (no P-way choice in front of the requantizer). It shifts in every
            // cycle, walking or not: after a walk its contents are spent, and a capture
            // reloads it, so holding them would only cost a third choice per bit.
            self.drain[l].d.next = self.drain_next[l].val();
            // A group's first batch starts from 0: the bias is added once, as the drain hands
            // the sums to the requantizer (`biased`), not by a third choice in every lane.
            self.init[l].next = self.partial[l].read_data.val();
            if self.p_first_batch[3].q.val() {
                self.init[l].next = 0.into();
            }
            self.adders[l].base.next = self.acc[l].q.val();
            if self.p_first[3].q.val() {
                self.adders[l].base.next = self.init[l].val();
            }
            self.adders[l].magnitude.next = self.lanes[l].magnitude.val();
            self.adders[l].negative.next = self.lanes[l].negative_product.val();
            self.sum[l].next = self.adders[l].sum.val();
            self.partial[l].write_data.next = self.sum[l].val();
            self.partial[l].write_enable.next = false;
            if self.p_valid[3].q.val() {
                self.acc[l].d.next = self.sum[l].val();
                if self.p_last[3].q.val() & !self.p_final[3].q.val() {
                    self.partial[l].write_enable.next = true;
                }
                if self.p_last[3].q.val() & self.p_final[3].q.val() {
                    self.drain[l].d.next = self.sum[l].val();
                }
            }
        }
        // The drain's walk advances (before the capture below, which may restart it).
        if self.walking.q.val() {
            self.walk.d.next = self.walk.q.val() + 1;
            if (self.walk.q.val() == self.last_lane.val())
                | (self.stride2.val() & ((self.walk.q.val() + 1) == self.lanes_half.val()))
            {
                self.walking.d.next = false;
            }
        }
        // Capture: a final-batch group is complete; the drain walks its P sums, or (logits)
        // lane 0's sum goes to the logits memory the cycle after, with its bias.
        self.logit_pending.d.next = false;
        if self.p_valid[3].q.val() & self.p_last[3].q.val() & self.p_final[3].q.val() {
            self.walk_row.d.next = self.capture_row.q.val();
            self.walk_bias.d.next = self.batch_bias.val();
            self.logit_pending.d.next = self.logits.val();
            if !self.logits.val() {
                self.walking.d.next = true;
                self.walk.d.next = 0.into();
                self.walk_x0.d.next = self.capture_x0.q.val();
                self.walk_mult.d.next = self.batch_mult.val();
                self.walk_shift.d.next = self.batch_shift.val();
            }
        }
        self.biased.next = self.drain[0].q.val() + self.walk_bias.q.val();
        if self.logit_pending.q.val() {
            self.logit_mem.write_enable.next = true;
            self.logit_mem.write_address.next = self.walk_row.q.val().get_bits::<8>(0);
            self.logit_mem.write_data.next = self.biased.val();
        }

        // ---------------- drain: requantize and write the outputs ----------------
        self.walk_x.next =
            bit_cast::<16, 8>(self.walk_x0.q.val()) + bit_cast::<16, 5>(self.walk.q.val());
        self.requant.acc.next = self.biased.val();
        self.requant.mult.next = self.walk_mult.q.val();
        self.requant.shift.next = self.walk_shift.q.val();
        self.requant.signed_out.next = self.signed_out.val();
        self.requant.valid.next = self.walking.q.val();
        self.requant.tag.next = self.walk.q.val();
        self.out_valid[0].d.next =
            self.walking.q.val() & (self.walk_x.val() < bit_cast::<16, 8>(self.out_width.val()));
        self.out_addr[0].d.next =
            (self.walk_row.q.val() << self.lane_bits.val()) + self.walk_x.val();
        self.out_lane[0].d.next = self.walk.q.val().get_bits::<4>(0);
        self.out_end[0].d.next = self.walking.q.val()
            & ((self.walk.q.val() == self.last_lane.val())
                | (self.stride2.val() & ((self.walk.q.val() + 1) == self.lanes_half.val())));
        // ---------------- window unit: pools and the residual add ----------------
        self.w1_valid.d.next = (self.win.q.val() == WindowState::Run) & !self.w_stall.val();
        self.w1_first.d.next = !self.w_ky.q.val().any() & !self.w_kx.q.val().any();
        self.w1_last.d.next = self.w_row_last.val();
        self.w1_inb.d.next = self.w_inb.val();
        self.w1_tap_b.d.next = self.w_kx.q.val().any();
        self.w1_out_addr.d.next =
            (self.w_out_row.q.val() << self.lane_bits.val()) + bit_cast::<16, 8>(self.w_ox.q.val());
        // The walk over channels x output rows x output columns x window rows x window columns.
        // Each counter has one next value per level (restart at the layer's start or when its
        // level wraps, else step), which keeps the choice in front of every register two deep.
        self.w_init.next = (self.win.q.val() == WindowState::Idle) & self.window_start.val();
        self.w_step.next = (self.win.q.val() == WindowState::Run) & !self.w_stall.val();
        self.w_step_row.next = self.w_step.val() & self.w_tap_last.val();
        self.w_step_x.next = self.w_step_row.val() & self.w_row_last.val();
        self.w_step_y.next = self.w_step_x.val() & self.w_x_last.val();
        self.w_step_ch.next = self.w_step_y.val() & self.w_y_last.val();
        if self.w_step.val() {
            self.issue_count_total.d.next = self.issue_count_total.q.val() + 1;
            self.w_kx.d.next = self.w_kx.q.val() + 1;
        }
        if self.w_init.val() {
            self.issue_count_total.d.next = 0.into();
        }
        if self.w_init.val() | self.w_step_row.val() {
            self.w_kx.d.next = 0.into();
        }
        if self.w_step_row.val() {
            self.w_ky.d.next = self.w_ky.q.val() + 1;
            self.w_ky_row.d.next = self.w_ky_row.q.val() + self.desc[17].q.val();
        }
        if self.w_init.val() | self.w_step_x.val() {
            self.w_ky.d.next = 0.into();
            self.w_ky_row.d.next = 0.into();
        }
        if self.w_step_x.val() {
            self.w_ox.d.next = self.w_ox.q.val() + 1;
            self.w_x.d.next = self.w_x.q.val() + self.desc[14].q.val();
        }
        if self.w_init.val() | self.w_step_y.val() {
            self.w_ox.d.next = 0.into();
            self.w_x.d.next = self.desc[13].q.val();
        }
        if self.w_step_y.val() {
            self.w_oy.d.next = self.w_oy.q.val() + 1;
            self.w_y.d.next = self.w_y.q.val() + self.desc[10].q.val();
            self.w_row.d.next = self.w_row.q.val() + self.desc[12].q.val();
            self.w_out_row.d.next = self.w_out_row.q.val() + self.desc[21].q.val();
        }
        if self.w_init.val() | self.w_step_ch.val() {
            self.w_oy.d.next = 0.into();
            self.w_y.d.next = self.desc[9].q.val();
            self.w_row.d.next = self.desc[11].q.val();
        }
        if self.w_step_ch.val() {
            self.w_ch.d.next = self.w_ch.q.val() + 1;
            self.w_chan_a.d.next = self.w_chan_a.q.val() + self.desc[16].q.val();
            self.w_chan_b.d.next = self.w_chan_b.q.val() + self.desc[16].q.val();
            self.w_out_chan.d.next = self.w_out_chan.q.val() + self.desc[20].q.val();
            self.w_out_row.d.next = self.w_out_chan.q.val() + self.desc[20].q.val();
        }
        if self.w_init.val() {
            self.w_ch.d.next = 0.into();
            self.w_chan_a.d.next = self.desc[15].q.val();
            self.w_chan_b.d.next = self.desc[18].q.val();
            self.w_out_chan.d.next = self.desc[19].q.val();
            self.w_out_row.d.next = self.desc[19].q.val();
        }
        match self.win.q.val() {
            WindowState::Idle => {
                if self.window_start.val() {
                    self.win.d.next = WindowState::Run;
                }
            }
            WindowState::Run => {
                if self.w_step_ch.val() & ((self.w_ch.q.val() + 1) == self.desc[2].q.val()) {
                    self.w_flush.d.next = self.w_flush_cycles.val();
                    self.win.d.next = WindowState::Flush;
                }
            }
            WindowState::Flush => {
                self.w_flush.d.next = self.w_flush.q.val() - 1;
                if self.w_flush.q.val() == 0 {
                    self.win.d.next = WindowState::Idle;
                }
            }
            _ => {
                self.win.d.next = WindowState::Idle;
            }
        }
        // S1: fold the byte into the window's accumulator (max, sum, or signed sum of products).
        self.w_byte.next = 0.into();
        if self.w1_inb.q.val() {
            self.w_byte.next = self.activations.window.val().get_bits::<8>(0);
        }
        self.w_value.next = bit_cast::<32, 8>(self.w_byte.val());
        self.w_mult.next = self.desc[22].q.val();
        self.w_negative.next = self.desc[1].q.val().get_bit(0) & self.w_byte.val().get_bit(7);
        if self.w1_tap_b.q.val() {
            self.w_mult.next = self.desc[23].q.val();
            self.w_negative.next = self.desc[1].q.val().get_bit(1) & self.w_byte.val().get_bit(7);
        }
        self.w_byte_negated.next = !self.w_byte.val() + 1;
        self.w_magnitude.next = bit_cast::<16, 8>(self.w_byte.val());
        if self.w_negative.val() {
            self.w_magnitude.next = bit_cast::<16, 8>(self.w_byte_negated.val());
        }
        // One adder for the average's sum and the add's signed sum of products (a window's
        // first element starts from 0); the max compares bytes (its running value is a byte).
        self.w_term.next = self.w_magnitude.val() * self.w_mult.val();
        self.w_adder.base.next = self.w_acc.q.val();
        if self.w1_first.q.val() {
            self.w_adder.base.next = 0.into();
        }
        self.w_adder.magnitude.next = self.w_value.val();
        self.w_adder.negative.next = false;
        if self.desc[0].q.val() == 4 {
            self.w_adder.magnitude.next = self.w_term.val();
            self.w_adder.negative.next = self.w_negative.val();
        }
        self.w_next.next = self.w_value.val();
        if (self.desc[0].q.val() == 2)
            & !self.w1_first.q.val()
            & (self.w_acc.q.val().get_bits::<8>(0) > self.w_byte.val())
        {
            self.w_next.next = self.w_acc.q.val();
        }
        if (self.desc[0].q.val() == 3) | (self.desc[0].q.val() == 4) {
            self.w_next.next = self.w_adder.sum.val();
        }
        self.w2_valid.d.next = false;
        if self.w1_valid.q.val() {
            self.w_acc.d.next = self.w_next.val();
            if self.w1_last.q.val() {
                self.w2_valid.d.next = true;
                self.w2_value.d.next = self.w_next.val();
                self.w2_out_addr.d.next = self.w1_out_addr.q.val();
            }
        }
        // S2: the window's result takes the requantizer (the conv drain is idle in window layers).
        if self.w2_valid.q.val() {
            self.requant.acc.next = self.w2_value.q.val();
            self.requant.mult.next = self.desc[24].q.val();
            self.requant.shift.next = self.desc[25].q.val().get_bits::<6>(0);
            self.requant.valid.next = true;
            self.out_valid[0].d.next = true;
            self.out_addr[0].d.next = self.w2_out_addr.q.val();
        }
        for s in 1..7 {
            self.out_valid[s].d.next = self.out_valid[s - 1].q.val();
            self.out_addr[s].d.next = self.out_addr[s - 1].q.val();
            self.out_lane[s].d.next = self.out_lane[s - 1].q.val();
            self.out_end[s].d.next = self.out_end[s - 1].q.val();
        }
        // Window layers write each byte (both copies) as it leaves the requantizer; a conv
        // layer's drain gathers its group's bytes and the group writer stores them.
        self.activations.write.next =
            self.out_valid[6].q.val() & self.requant.out_valid.val() & !self.conv_layer.val();
        self.activations.write_addr.next = self.out_addr[6].q.val();
        self.activations.write_data.next = self.requant.out.val();
        self.byte_arrives.next =
            self.out_valid[6].q.val() & self.requant.out_valid.val() & self.conv_layer.val();
        self.gather_mask_next.next = self.gather_mask.q.val();
        self.gather_base_next.next = self.gather_base.q.val();
        for b in 0..8 {
            self.gather_byte_next[b].next = self.gather[b].q.val();
            if self.byte_arrives.val() & (self.out_lane[6].q.val().index() == b) {
                self.gather_byte_next[b].next = self.requant.out.val();
            }
            self.gather[b].d.next = self.gather_byte_next[b].val();
        }
        if self.byte_arrives.val() {
            // Bytes outside the mask are never written, so a new group needs no clearing.
            self.gather_mask_next.next =
                self.gather_mask.q.val() | (self.one8.val() << self.out_lane[6].q.val());
            if self.out_lane[6].q.val() == 0 {
                self.gather_mask_next.next = 1.into();
                self.gather_base_next.next = self.out_addr[6].q.val();
            }
        }
        self.held.next = bit_cast::<64, 8>(self.first_byte.q.val())
            | (bit_cast::<64, 8>(self.gather[1].q.val()) << 8)
            | (bit_cast::<64, 8>(self.gather[2].q.val()) << 16)
            | (bit_cast::<64, 8>(self.gather[3].q.val()) << 24)
            | (bit_cast::<64, 8>(self.gather[4].q.val()) << 32)
            | (bit_cast::<64, 8>(self.gather[5].q.val()) << 40)
            | (bit_cast::<64, 8>(self.gather[6].q.val()) << 48)
            | (bit_cast::<64, 8>(self.gather[7].q.val()) << 56);
        self.gather_mask.d.next = self.gather_mask_next.val();
        self.gather_base.d.next = self.gather_base_next.val();
        self.activations.write_window.next = false;
        self.activations.window_data.next = self.held.val();
        self.activations.window_mask.next = self.wmask.q.val();
        if self.wstate.q.val() == 1 {
            self.activations.write_window.next = true;
            self.activations.read_addr.next = self.wbase.q.val();
            self.wstate.d.next = 2.into();
        }
        if self.wstate.q.val() == 2 {
            self.activations.write_window.next = true;
            self.activations.read_addr.next = self.wbase.q.val() - 1;
            self.activations.window_data.next = self.held.val() << 8;
            self.activations.window_mask.next = self.wmask.q.val() << 1;
            self.wstate.d.next = 0.into();
            if self.wmask.q.val().get_bit(7) {
                self.wstate.d.next = 3.into();
            }
        }
        if self.wstate.q.val() == 3 {
            self.activations.write_window.next = true;
            self.activations.read_addr.next = self.wbase.q.val() + 7;
            self.activations.window_data.next = self.held.val() >> 56;
            self.activations.window_mask.next = self.wmask.q.val() >> 7;
            self.wstate.d.next = 0.into();
        }
        if self.out_end[6].q.val() & self.conv_layer.val() {
            self.first_byte.d.next = self.gather_byte_next[0].val();
            self.wmask.d.next = self.gather_mask_next.val();
            self.wbase.d.next = self.gather_base_next.val();
            self.wstate.d.next = 1.into();
        }
        if self.ext_write_byte.val() {
            self.activations.write.next = true;
            self.activations.write_addr.next = self.ext_addr.val();
            self.activations.write_data.next = self.ext_data.val().get_bits::<8>(0);
        }
        // RESET: every unit back to idle (the pipelines drain by themselves).
        if self.abort.val() {
            self.seq.d.next = SeqState::Idle;
            self.prog.d.next = ProgState::Idle;
            self.issue.d.next = IssueState::Idle;
            self.win.d.next = WindowState::Idle;
            self.walking.d.next = false;
        }
    }
}
