//! The layer engine's instruction stream: the one definition of its format (opcodes, fields and
//! their widths, registers, the tap word) and of what each instruction does ([`Machine`], the
//! reference the RTL is held to). `docs/engine.md` describes the engine this drives; the compiler
//! that writes these programs is [`crate::compile`].
//!
//! **The host compiles, the chip steps.** A program is a list of 16-bit words. Every address,
//! stride, loop count, padding bound and table slot is worked out by the compiler; the engine
//! knows no layer kinds. It walks one *channel* at a time: for each *batch* of taps (nonzero
//! weights with their input offsets), it visits the output map in *groups* of up to `lanes`
//! neighbouring positions, row by row, and every lane adds one product per tap. A channel's
//! batches keep partial sums between them; its final batch hands the sums to the requantizer.
//!
//! Word 0 of an instruction holds its opcode in bits 12..16 ([`OPCODE`]):
//!
//! | instruction | words | what it does |
//! |---|---|---|
//! | `END` | 1 | the program ends once everything before it is written |
//! | `SET r` | 2 | waits until the engine is idle, then register `r` takes word 1 |
//! | `REPEAT n` | 1 | the next channel runs `n` times, its tables and taps kept |
//! | `CHANNEL` | 3 or 4 | a new output channel: shift, multiplier, bias (one word if it fits 16 bits) |
//! | `BATCH n` | 1 + 2n | `n` taps of the channel; `final` on its last batch |
//! | `RECORD s` | 1 | waits until idle, then stores the cycle and issue counters in slot `s` |

use crate::arith::{ActKind, LaneMode, Requant, Weight9, SHIFT_MAX};
use anyhow::{bail, ensure, Context, Result};

/// A bit field of a 16-bit word: `width` bits from bit `lsb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub lsb: u32,
    pub width: u32,
}

impl Field {
    pub const fn new(lsb: u32, width: u32) -> Self {
        Field { lsb, width }
    }

    /// The largest value the field holds.
    pub const fn max(self) -> u16 {
        ((1u32 << self.width) - 1) as u16
    }

    pub fn get(self, word: u16) -> u16 {
        (word >> self.lsb) & self.max()
    }

    /// `value` in its place; a value that does not fit is a compiler bug.
    pub fn put(self, value: u16) -> u16 {
        assert!(
            value <= self.max(),
            "{value} does not fit a {}-bit field",
            self.width
        );
        value << self.lsb
    }
}

/// Opcode of an instruction's first word.
pub const OPCODE: Field = Field::new(12, 4);
/// `SET`: the register written.
pub const SET_REGISTER: Field = Field::new(0, 4);
/// `REPEAT`: how many times the next channel runs, minus 1.
pub const REPEAT_COUNT: Field = Field::new(0, 12);
/// `CHANNEL`: the requantizer's shift (word 1 is the multiplier, words 2 and 3 the bias).
pub const CHANNEL_SHIFT: Field = Field::new(0, 6);
/// `CHANNEL`: the bias fits 16 bits and takes one word (sign-extended) instead of two.
pub const CHANNEL_SHORT_BIAS: Field = Field::new(6, 1);
/// `BATCH`: taps in the batch, minus 1.
pub const BATCH_TAPS: Field = Field::new(0, 6);
/// `BATCH`: the channel's last batch (its sums go to the requantizer).
pub const BATCH_FINAL: Field = Field::new(6, 1);
/// `RECORD`: the record slot written.
pub const RECORD_SLOT: Field = Field::new(0, 8);

/// Tap word 1: the weight's magnitude (0 when [`TAP_REUSE`] is set).
pub const TAP_MAGNITUDE: Field = Field::new(0, 8);
/// Tap word 1: the weight is negative (0 when [`TAP_REUSE`] is set).
pub const TAP_NEGATIVE: Field = Field::new(8, 1);
/// Tap word 1: kernel row and column, for the in-map test.
pub const TAP_KY: Field = Field::new(9, 3);
pub const TAP_KX: Field = Field::new(12, 3);
/// Tap word 1: the tap reads the table of the tap before it in the batch (the same weight)
/// instead of having one programmed. A lane table holds the signed weight's multiples, the
/// same in every lane mode (`arith::lane_entry`).
pub const TAP_REUSE: Field = Field::new(15, 1);

/// `MODE` register: the lanes' LUT mode ([`LaneMode`] code).
pub const MODE_LANE: Field = Field::new(0, 2);
/// `MODE`: the lanes keep the largest product instead of the sum (max pooling).
pub const MODE_MAX: Field = Field::new(2, 1);
/// `MODE`: horizontal stride 2 (lane `l` reads column `2l`; the upper half of the lanes idles).
pub const MODE_STRIDE2: Field = Field::new(3, 1);
/// `MODE`: input rows per output row (the vertical stride).
pub const MODE_ROW_STEP: Field = Field::new(4, 3);
/// `MODE`: the walk's output is one run: every group starts where the one before ended, from
/// row to row and channel to channel too (`OutRowStep` = `OutChannelStep` = P/s). The writer
/// then carries an eight-byte group's last byte into the next group's write instead of writing
/// it alone at each row's end (docs/engine.md, "Writer"). Timing only: the results are the same.
pub const MODE_CONTIGUOUS: Field = Field::new(7, 1);
/// `MODE`: what the requantizer writes ([`OutKind`] code).
pub const MODE_OUT_KIND: Field = Field::new(8, 2);
/// `MODE`: table slots of the ring, minus 1. The slots take words `16 s .. 16 s + 16` of each
/// lane's bank; the partial sums of group `g` take word `255 - g`, so a layer that keeps `G`
/// partial sums has at most `(256 - G) / 16` slots. Writing `MODE` restarts the ring at slot 0.
pub const MODE_SLOTS: Field = Field::new(10, 4);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    End = 0,
    Set = 1,
    Repeat = 2,
    Channel = 3,
    Batch = 4,
    Record = 5,
}

impl Opcode {
    pub const ALL: [Opcode; 6] = [
        Opcode::End,
        Opcode::Set,
        Opcode::Repeat,
        Opcode::Channel,
        Opcode::Batch,
        Opcode::Record,
    ];

    pub fn word(self) -> u16 {
        OPCODE.put(self as u16)
    }
}

/// The engine's registers, written by `SET`. Each holds `bits` bits of its word (the rest must
/// be 0, or for the signed starts the sign extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Register {
    /// Output rows of the walk, minus 1.
    Rows = 0,
    /// Groups per output row, minus 1.
    Groups = 1,
    /// Input bytes from one output row to the next (vertical stride x input row bytes).
    InRow = 2,
    /// The output pointer's step from a row's last group to the next row's first (output row
    /// bytes minus the row's other groups' bytes): the writer keeps one pointer and only adds.
    OutRowStep = 3,
    /// Output address of the first channel's first group (logits: its class). Writing it
    /// restarts the walk: the output pointer takes it and the input channel pointer returns to 0.
    OutBase = 4,
    /// The output pointer's step from a channel's last group to the next channel's first.
    OutChannelStep = 5,
    /// Input bytes from one channel to the next (depthwise layers; 0 for a convolution, whose
    /// taps name their input channels).
    InChannel = 6,
    /// Input row under kernel row 0 of output row 0 (minus the top padding), two's complement.
    YStart = 7,
    /// Input column under kernel column 0 of lane 0 of group 0 (minus the left padding).
    XStart = 8,
    /// The input map's rows and columns: reads outside them return 0 (zero padding).
    InHeight = 9,
    InWidth = 10,
    /// Lane mode, max, stride 2, row step and output kind ([`MODE_LANE`] ...).
    Mode = 11,
}

impl Register {
    pub const ALL: [Register; 12] = [
        Register::Rows,
        Register::Groups,
        Register::InRow,
        Register::OutRowStep,
        Register::OutBase,
        Register::OutChannelStep,
        Register::InChannel,
        Register::YStart,
        Register::XStart,
        Register::InHeight,
        Register::InWidth,
        Register::Mode,
    ];

    /// Bits the engine keeps of the register (what the budget pays for).
    pub fn bits(self) -> u32 {
        match self {
            Register::Rows | Register::Groups | Register::InHeight | Register::InWidth => 8,
            Register::YStart | Register::XStart => 8,
            Register::Mode => 14,
            _ => 16,
        }
    }

    /// True for the registers that hold two's-complement values.
    pub fn signed(self) -> bool {
        matches!(self, Register::YStart | Register::XStart)
    }

    fn from_code(code: u16) -> Option<Register> {
        Register::ALL.get(code as usize).copied()
    }

    /// Whether `value` is something the register holds.
    pub fn holds(self, value: u16) -> bool {
        let bits = self.bits();
        if bits == 16 {
            return true;
        }
        if self.signed() {
            let v = value as i16;
            (-(1 << (bits - 1))..(1 << (bits - 1))).contains(&(v as i32))
        } else {
            value < 1 << bits
        }
    }
}

/// What the requantizer writes for a channel's sums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutKind {
    /// u8 after ReLU.
    U8 = 0,
    /// i8, stored offset by 128 (the byte `v + 128`: only residual adds read it).
    I8 = 1,
    /// The biased i32 sum of lane 0, into the logits memory (a 1 x 1 output map).
    Logits = 2,
}

impl OutKind {
    fn from_code(code: u16) -> Option<OutKind> {
        [OutKind::U8, OutKind::I8, OutKind::Logits]
            .get(code as usize)
            .copied()
    }
}

/// How the engine is built: the sizes the compiler must respect.
pub mod shape {
    /// Words of a lane's bank: two 256 x 16 block RAMs, one per nibble, holding the same
    /// tables (from word 0 up) and the partial sums (the low half in one, the high half in the
    /// other, from word 255 down).
    pub const BANK_WORDS: usize = 256;
    /// Table slots a bank can hold (16 entries each). A layer uses a ring of at most
    /// `(BANK_WORDS - partial sums) / 16` of them ([`super::MODE_SLOTS`]): each new table goes
    /// into the slot after the last one written, once the batch that read that slot has
    /// finished, so the next batch is programmed into whatever the current one leaves free
    /// while the lanes read it.
    pub const TABLE_SLOTS: usize = BANK_WORDS / TABLE_ENTRIES;
    /// Taps of one batch: half the tap memory.
    pub const BATCH_TAPS_MAX: usize = 64;
    /// Entries of a table (4-bit chunks).
    pub const TABLE_ENTRIES: usize = 16;
    /// Partial sums a lane keeps at most (leaving 8 table slots): the groups of one channel's
    /// walk, when it has more than one batch.
    pub const PARTIAL_GROUPS: usize = 128;
    /// Kernel rows and columns a tap can name (3 bits each).
    pub const KERNEL_MAX: usize = 8;
    /// Bits of a lane's sum (two's complement), its partial sums and its drain register. A
    /// channel's products add up to at most `255 * sum |w|` in magnitude (every lane mode's
    /// product is at most `255 |w|`), and the compiler refuses a channel whose bound does not
    /// fit ([`super::lane_sum_fits`]), so the 24-bit sum, sign-extended, is the exact sum: the
    /// bias is added at 32 bits, wrapping as the golden engine's accumulator does.
    pub const LANE_SUM_BITS: u32 = 24;
    /// Words of the logits memory.
    pub const LOGIT_WORDS: usize = 16;
    /// Words of the program buffer: a longer program runs in segments ([`super::segments`]).
    pub const PROGRAM_WORDS: usize = 1024;
    /// Record slots (each the run's cycle and issue counters, 32 bits each).
    pub const RECORD_SLOTS: usize = 56;
    /// Bytes of activation memory the 16-bit addresses reach.
    pub const ACTIVATION_BYTES: usize = 1 << 16;

    /// Bytes the activation memory serves per cycle (its *window*: any that many consecutive
    /// bytes in one read) in a build with `lanes` lanes: 8, or the lanes where there are more.
    /// A group of a full window's bytes is the one whose odd-copy write carries its last byte
    /// to the next group (docs/engine.md, "Writer").
    pub const fn window_bytes(lanes: usize) -> usize {
        if lanes > 8 {
            lanes
        } else {
            8
        }
    }
}

/// Whether the products of weights `weights` always add up within a lane's sum
/// ([`shape::LANE_SUM_BITS`]).
pub fn lane_sum_fits(weights: impl IntoIterator<Item = i16>) -> bool {
    let bound: u64 = weights
        .into_iter()
        .map(|w| 255 * w.unsigned_abs() as u64)
        .sum();
    bound < 1 << (shape::LANE_SUM_BITS - 1)
}

/// `v` as a lane's sum holds it: wrapped to [`shape::LANE_SUM_BITS`] and sign-extended.
fn lane_sum(v: i32) -> i32 {
    let spare = 32 - shape::LANE_SUM_BITS;
    (v << spare) >> spare
}

/// One tap: a nonzero weight, where its input byte is for lane 0 of group 0 of output row 0,
/// and its kernel position (for the in-map test).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tap {
    /// Activation address of the tap for lane 0 of the first group, before the walk adds
    /// `row * IN_ROW + group * lanes + lane * stride` and the channel's input offset (wraps at
    /// 64 KiB; a read the in-map test rejects never reaches memory).
    pub offset: u16,
    pub weight: i16,
    pub ky: u8,
    pub kx: u8,
    /// Reads the table of the tap before it in the batch, which has the same weight.
    pub reuse: bool,
}

impl Tap {
    pub fn words(&self) -> [u16; 2] {
        let w = Weight9::new(self.weight);
        let word = if self.reuse {
            TAP_REUSE.put(1)
        } else {
            TAP_MAGNITUDE.put(w.magnitude as u16) | TAP_NEGATIVE.put(w.negative as u16)
        };
        [
            self.offset,
            word | TAP_KY.put(self.ky as u16) | TAP_KX.put(self.kx as u16),
        ]
    }
}

/// One instruction, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Instr {
    End,
    Set(Register, u16),
    Repeat(usize),
    Channel { shift: u32, mult: u32, bias: i32 },
    Batch { last: bool, taps: Vec<Tap> },
    Record(usize),
}

impl Instr {
    /// Appends the instruction's words to `out`.
    pub fn encode(&self, out: &mut Vec<u16>) {
        match self {
            Instr::End => out.push(Opcode::End.word()),
            Instr::Set(r, v) => out.extend([Opcode::Set.word() | SET_REGISTER.put(*r as u16), *v]),
            Instr::Repeat(n) => out.push(Opcode::Repeat.word() | REPEAT_COUNT.put((*n - 1) as u16)),
            Instr::Channel { shift, mult, bias } => {
                let short = i16::try_from(*bias).is_ok();
                out.extend([
                    Opcode::Channel.word()
                        | CHANNEL_SHIFT.put(*shift as u16)
                        | CHANNEL_SHORT_BIAS.put(short as u16),
                    *mult as u16,
                    *bias as u32 as u16,
                ]);
                if !short {
                    out.push((*bias as u32 >> 16) as u16);
                }
            }
            Instr::Batch { last, taps } => {
                out.push(
                    Opcode::Batch.word()
                        | BATCH_TAPS.put((taps.len() - 1) as u16)
                        | BATCH_FINAL.put(*last as u16),
                );
                for t in taps {
                    out.extend(t.words());
                }
            }
            Instr::Record(s) => out.push(Opcode::Record.word() | RECORD_SLOT.put(*s as u16)),
        }
    }

    /// Words the instruction takes.
    pub fn word_count(&self) -> usize {
        match self {
            Instr::End | Instr::Repeat(_) | Instr::Record(_) => 1,
            Instr::Set(..) => 2,
            Instr::Channel { bias, .. } => 3 + i16::try_from(*bias).is_err() as usize,
            Instr::Batch { taps, .. } => 1 + 2 * taps.len(),
        }
    }
}

/// A program cut at instruction boundaries into segments of at most `words` words, each ending
/// with its own `END` (the last one with the program's): how a program longer than the engine's
/// buffer ([`shape::PROGRAM_WORDS`]) runs, each segment loaded and RUN in turn. Nothing but the
/// program counter restarts at RUN, so the segments run as the whole program would, each `END`
/// waiting until everything before it is written.
pub fn segments(program: &[Instr], words: usize) -> Vec<Vec<Instr>> {
    let mut out = Vec::new();
    let mut piece: Vec<Instr> = Vec::new();
    let mut used = 0;
    for i in program.iter().take_while(|i| !matches!(i, Instr::End)) {
        assert!(
            i.word_count() < words,
            "an instruction of {} words does not fit a segment of {words}",
            i.word_count()
        );
        if used + i.word_count() + 1 > words {
            piece.push(Instr::End);
            out.push(std::mem::take(&mut piece));
            used = 0;
        }
        used += i.word_count();
        piece.push(i.clone());
    }
    piece.push(Instr::End);
    out.push(piece);
    out
}

/// The words of `program`.
pub fn encode(program: &[Instr]) -> Vec<u16> {
    let mut out = Vec::with_capacity(program.iter().map(Instr::word_count).sum());
    for i in program {
        i.encode(&mut out);
    }
    out
}

/// Reads a program back from its words, checking every field: a program a board would run
/// wrongly is refused with the word at fault named. Stops at the first `END`.
pub fn decode(words: &[u16]) -> Result<Vec<Instr>> {
    let mut out = Vec::new();
    let mut at = 0;
    let word = |at: usize| -> Result<u16> {
        words
            .get(at)
            .copied()
            .with_context(|| format!("the program ends inside the instruction at word {at}"))
    };
    loop {
        let w = word(at).context("the program has no END")?;
        let op = OPCODE.get(w);
        let start = at;
        let instr = match Opcode::ALL.get(op as usize) {
            Some(Opcode::End) => {
                out.push(Instr::End);
                return Ok(out);
            }
            Some(Opcode::Set) => {
                let r = Register::from_code(SET_REGISTER.get(w))
                    .with_context(|| format!("word {at}: SET of unknown register {}", w & 0xf))?;
                let v = word(at + 1)?;
                ensure!(
                    r.holds(v),
                    "word {at}: SET {r:?} to {v:#06x}, wider than its {} bits",
                    r.bits()
                );
                Instr::Set(r, v)
            }
            Some(Opcode::Repeat) => Instr::Repeat(REPEAT_COUNT.get(w) as usize + 1),
            Some(Opcode::Channel) => {
                let shift = CHANNEL_SHIFT.get(w) as u32;
                ensure!(
                    shift <= SHIFT_MAX,
                    "word {at}: CHANNEL shift {shift} above {SHIFT_MAX}"
                );
                let mult = word(at + 1)? as u32;
                ensure!(
                    mult < 1 << crate::arith::MULT_BITS,
                    "word {}: multiplier {mult} is wider than {} bits",
                    at + 1,
                    crate::arith::MULT_BITS
                );
                let bias = if CHANNEL_SHORT_BIAS.get(w) == 1 {
                    word(at + 2)? as i16 as i32
                } else {
                    (word(at + 2)? as u32 | (word(at + 3)? as u32) << 16) as i32
                };
                Instr::Channel { shift, mult, bias }
            }
            Some(Opcode::Batch) => {
                let n = BATCH_TAPS.get(w) as usize + 1;
                let mut taps = Vec::with_capacity(n);
                for k in 0..n {
                    let offset = word(at + 1 + 2 * k)?;
                    let t = word(at + 2 + 2 * k)?;
                    let reuse = TAP_REUSE.get(t) == 1;
                    ensure!(
                        !(reuse && k == 0),
                        "word {}: the first tap of a batch cannot reuse a table",
                        at + 2
                    );
                    let weight = if reuse {
                        ensure!(
                            TAP_MAGNITUDE.get(t) == 0 && TAP_NEGATIVE.get(t) == 0,
                            "word {}: a tap that reuses a table carries no weight of its own",
                            at + 2 + 2 * k
                        );
                        taps.last().map(|p: &Tap| p.weight).unwrap_or_default()
                    } else {
                        Weight9 {
                            negative: TAP_NEGATIVE.get(t) == 1,
                            magnitude: TAP_MAGNITUDE.get(t) as u8,
                        }
                        .value()
                    };
                    taps.push(Tap {
                        offset,
                        weight,
                        ky: TAP_KY.get(t) as u8,
                        kx: TAP_KX.get(t) as u8,
                        reuse,
                    });
                }
                Instr::Batch {
                    last: BATCH_FINAL.get(w) == 1,
                    taps,
                }
            }
            Some(Opcode::Record) => Instr::Record(RECORD_SLOT.get(w) as usize),
            None => bail!("word {at}: unknown opcode {op} ({w:#06x})"),
        };
        at = start + instr.word_count();
        out.push(instr);
    }
}

/// The engine as the instruction stream defines it, one product at a time: the reference for
/// the RTL. It keeps what the hardware keeps (the registers at their widths, the table slots
/// as programmed, the tap memory, the partial sums per lane and group) so that a compiler bug
/// that the hardware would turn into a wrong result does so here too.
pub struct Machine {
    pub lanes: usize,
    /// The activation memory (bytes; addresses wrap at 64 KiB).
    pub memory: Vec<u8>,
    pub logits: Vec<i32>,
    /// The issue counter (taps issued, each for one group of lanes) as each record slot took
    /// it. The machine counts work, not cycles: the engine's cycle counter, which it records
    /// beside, is predicted by the cycle model.
    pub records: Vec<Option<u64>>,
    regs: [u16; 12],
    in_channel: u16,
    /// The output pointer: the address of the next group's first byte (logits: word).
    out: u16,
    /// Table slots: the weight each was programmed with (its multiples, the same in every mode).
    slots: [Option<i16>; shape::TABLE_SLOTS],
    /// The slot the next new table goes into, and the ring's size.
    ring: usize,
    ring_slots: usize,
    partial: Vec<Vec<i32>>,
    issues: u64,
}

/// A batch as the engine holds it: its taps with the slot each reads.
struct LoadedBatch {
    last: bool,
    taps: Vec<(Tap, usize)>,
}

impl Machine {
    pub fn new(lanes: usize) -> Self {
        assert!(lanes.is_power_of_two() && (2..=16).contains(&lanes));
        Machine {
            lanes,
            memory: vec![0; shape::ACTIVATION_BYTES],
            logits: vec![0; shape::LOGIT_WORDS],
            records: vec![None; shape::RECORD_SLOTS],
            regs: [0; 12],
            in_channel: 0,
            out: 0,
            slots: [None; shape::TABLE_SLOTS],
            ring: 0,
            ring_slots: 1,
            partial: vec![vec![0; shape::BANK_WORDS]; lanes],
            issues: 0,
        }
    }

    fn reg(&self, r: Register) -> u16 {
        self.regs[r as usize]
    }

    /// Runs a program (words, as loaded) to its `END`.
    pub fn run(&mut self, words: &[u16]) -> Result<()> {
        let program = decode(words)?;
        let mut repeat = 1;
        let mut channel: Option<(u32, u32, i32)> = None;
        let mut first_batch = true;
        let mut i = 0;
        while i < program.len() {
            match &program[i] {
                Instr::End => return Ok(()),
                Instr::Set(r, v) => {
                    self.regs[*r as usize] = *v;
                    if *r == Register::Mode {
                        self.ring = 0;
                        self.ring_slots = MODE_SLOTS.get(*v) as usize + 1;
                    }
                    if *r == Register::OutBase {
                        self.out = *v;
                        self.in_channel = 0;
                    }
                }
                Instr::Repeat(n) => repeat = *n,
                Instr::Channel { shift, mult, bias } => {
                    channel = Some((*shift, *mult, *bias));
                    first_batch = true;
                }
                Instr::Batch { last, taps } => {
                    let (shift, mult, bias) =
                        channel.context("a BATCH before any CHANNEL: the program is malformed")?;
                    let batch = self.program_tables(*last, taps)?;
                    if repeat > 1 {
                        ensure!(
                            first_batch && *last,
                            "REPEAT applies to a channel of one batch; instruction {i} is not"
                        );
                    }
                    for _ in 0..repeat {
                        self.walk(&batch, first_batch, Requant { mult, shift }, bias)?;
                        if *last {
                            self.next_channel();
                        }
                    }
                    repeat = 1;
                    first_batch = false;
                    if *last {
                        channel = None;
                    }
                }
                Instr::Record(s) => {
                    ensure!(
                        *s < shape::RECORD_SLOTS,
                        "RECORD slot {s}: the engine has {}",
                        shape::RECORD_SLOTS
                    );
                    self.records[*s] = Some(self.issues);
                }
            }
            i += 1;
        }
        bail!("the program has no END")
    }

    /// After a channel's final batch: the next input channel (the output pointer moved with its
    /// last group).
    fn next_channel(&mut self) {
        self.in_channel = self.in_channel.wrapping_add(self.reg(Register::InChannel));
    }

    fn mode(&self) -> Result<LaneMode> {
        let code = MODE_LANE.get(self.reg(Register::Mode));
        LaneMode::ALL
            .get(code as usize)
            .copied()
            .with_context(|| format!("MODE names lane mode {code}, which the lanes do not have"))
    }

    /// The programmer: each new table into the next slot of the ring.
    fn program_tables(&mut self, last: bool, taps: &[Tap]) -> Result<LoadedBatch> {
        ensure!(
            taps.len() <= shape::BATCH_TAPS_MAX,
            "a batch of {} taps; the tap memory holds {}",
            taps.len(),
            shape::BATCH_TAPS_MAX
        );
        let mut tables = 0;
        let mut loaded = Vec::with_capacity(taps.len());
        let mut slot = None;
        for t in taps {
            if !t.reuse {
                ensure!(
                    tables < self.ring_slots,
                    "a batch programs more than the ring's {} tables",
                    self.ring_slots
                );
                self.slots[self.ring] = Some(t.weight);
                slot = Some(self.ring);
                self.ring = (self.ring + 1) % self.ring_slots;
                tables += 1;
            }
            loaded.push((*t, slot.context("a batch's first tap reuses a table")?));
        }
        Ok(LoadedBatch { last, taps: loaded })
    }

    /// One batch over the whole output walk.
    fn walk(&mut self, batch: &LoadedBatch, first: bool, q: Requant, bias: i32) -> Result<()> {
        let mode_reg = self.reg(Register::Mode);
        let max = MODE_MAX.get(mode_reg) == 1;
        let stride = 1 + MODE_STRIDE2.get(mode_reg) as usize;
        let row_step = MODE_ROW_STEP.get(mode_reg) as i32;
        let out_kind = OutKind::from_code(MODE_OUT_KIND.get(mode_reg))
            .context("MODE names an unknown output kind")?;
        let mode = self.mode()?;
        let rows = self.reg(Register::Rows) as usize + 1;
        let groups = self.reg(Register::Groups) as usize + 1;
        let active = self.lanes / stride;
        ensure!(
            batch.last && first
                || self.ring_slots * shape::TABLE_ENTRIES + rows * groups <= shape::BANK_WORDS,
            "a channel of several batches walks {} groups beside {} table slots; the lanes' \
             banks hold {} words",
            rows * groups,
            self.ring_slots,
            shape::BANK_WORDS
        );
        let sext = |r: Register| self.reg(r) as u8 as i8 as i32;
        let (y_start, x_start) = (sext(Register::YStart), sext(Register::XStart));
        let (in_h, in_w) = (
            self.reg(Register::InHeight) as i32,
            self.reg(Register::InWidth) as i32,
        );
        for row in 0..rows {
            for g in 0..groups {
                let gi = row * groups + g;
                for lane in 0..active {
                    let mut acc: i32 = if first { 0 } else { self.partial[lane][gi] };
                    for &(tap, slot) in &batch.taps {
                        let y = y_start + row as i32 * row_step + tap.ky as i32;
                        let x = x_start + (g * self.lanes + lane * stride) as i32 + tap.kx as i32;
                        let a = if (0..in_h).contains(&y) && (0..in_w).contains(&x) {
                            let addr = self
                                .in_channel
                                .wrapping_add(tap.offset)
                                .wrapping_add((row as u16).wrapping_mul(self.reg(Register::InRow)))
                                .wrapping_add((g * self.lanes + lane * stride) as u16);
                            self.memory[addr as usize]
                        } else {
                            0
                        };
                        let weight = self.slots[slot]
                            .context("a tap reads a table slot never programmed")?;
                        let p = mode.lane_product(a, weight);
                        acc = lane_sum(if max { acc.max(p) } else { acc.wrapping_add(p) });
                    }
                    if batch.last {
                        self.write(out_kind, row, g, lane, acc.wrapping_add(bias), q)?;
                    } else {
                        self.partial[lane][gi] = acc;
                    }
                }
                if batch.last {
                    // The writer's one pointer: the next group, row or channel.
                    let step = if row + 1 == rows && g + 1 == groups {
                        self.reg(Register::OutChannelStep)
                    } else if g + 1 == groups {
                        self.reg(Register::OutRowStep)
                    } else {
                        active as u16
                    };
                    self.out = self.out.wrapping_add(step);
                }
                self.issues += batch.taps.len() as u64;
            }
        }
        Ok(())
    }

    /// Lane `lane`'s result of the group at the output pointer.
    fn write(
        &mut self,
        kind: OutKind,
        row: usize,
        g: usize,
        lane: usize,
        sum: i32,
        q: Requant,
    ) -> Result<()> {
        match kind {
            OutKind::Logits => {
                if lane == 0 {
                    let at = self.out as usize;
                    ensure!(
                        at < shape::LOGIT_WORDS && row == 0 && g == 0,
                        "logits beyond the logits memory's {} words",
                        shape::LOGIT_WORDS
                    );
                    self.logits[at] = sum;
                }
            }
            OutKind::U8 | OutKind::I8 => {
                let act = if kind == OutKind::U8 {
                    ActKind::U8
                } else {
                    ActKind::I8
                };
                let v = q.apply(sum, act);
                let byte = if kind == OutKind::U8 {
                    v as u8
                } else {
                    (v as i8 as u8) ^ 0x80
                };
                self.memory[self.out.wrapping_add(lane as u16) as usize] = byte;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_a_word_do_not_overlap() {
        let groups: [&[Field]; 5] = [
            &[OPCODE, SET_REGISTER],
            &[OPCODE, BATCH_TAPS, BATCH_FINAL],
            &[OPCODE, CHANNEL_SHIFT, CHANNEL_SHORT_BIAS],
            &[TAP_MAGNITUDE, TAP_NEGATIVE, TAP_KY, TAP_KX, TAP_REUSE],
            &[
                MODE_LANE,
                MODE_MAX,
                MODE_STRIDE2,
                MODE_ROW_STEP,
                MODE_CONTIGUOUS,
                MODE_OUT_KIND,
                MODE_SLOTS,
            ],
        ];
        for fields in groups {
            let mut used = 0u32;
            for f in fields {
                let mask = (f.max() as u32) << f.lsb;
                assert_eq!(used & mask, 0, "{f:?} overlaps");
                assert!(f.lsb + f.width <= 16);
                used |= mask;
            }
        }
        assert!(shape::KERNEL_MAX - 1 <= TAP_KY.max() as usize);
        assert!(shape::BATCH_TAPS_MAX - 1 <= BATCH_TAPS.max() as usize);
    }

    #[test]
    fn a_lane_sum_holds_255_times_the_weights_below_2_to_23() {
        let limit = (1u64 << (shape::LANE_SUM_BITS - 1)) / 255; // 32,896
        let mut w = vec![255i16; (limit / 255) as usize];
        let rest = (limit - 255 * w.len() as u64) as i16;
        w.push(-rest);
        assert!(lane_sum_fits(w.iter().copied()));
        w.push(1);
        assert!(!lane_sum_fits(w.iter().copied()));
        assert_eq!(lane_sum(1 << 23), -(1 << 23));
        assert_eq!(lane_sum(-5), -5);
    }

    #[test]
    fn every_instruction_decodes_to_itself() {
        let taps = vec![
            Tap {
                offset: 0xfff0,
                weight: -255,
                ky: 7,
                kx: 0,
                reuse: false,
            },
            Tap {
                offset: 3,
                weight: -255,
                ky: 0,
                kx: 7,
                reuse: true,
            },
            Tap {
                offset: 4,
                weight: 0,
                ky: 1,
                kx: 1,
                reuse: false,
            },
        ];
        let program = vec![
            Instr::Set(Register::YStart, (-3i16) as u16),
            Instr::Set(Register::InRow, 0xabcd),
            Instr::Repeat(4096),
            Instr::Channel {
                shift: 47,
                mult: 32767,
                bias: -123_456_789,
            },
            Instr::Batch { last: true, taps },
            Instr::Channel {
                shift: 0,
                mult: 1,
                bias: -32768,
            },
            Instr::Record(55),
            Instr::End,
        ];
        let words = encode(&program);
        assert_eq!(
            words.len(),
            program.iter().map(Instr::word_count).sum::<usize>()
        );
        assert_eq!(decode(&words).unwrap(), program);
    }

    #[test]
    fn malformed_programs_are_refused_by_word() {
        let bad = |words: &[u16], says: &str| {
            let e = decode(words).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        };
        bad(&[], "no END");
        bad(&[0xf000], "unknown opcode");
        bad(&[Opcode::Set.word() | 12, 0, 0], "unknown register");
        bad(&[Opcode::Set.word(), 0x100, 0], "wider than its 8 bits");
        bad(&[Opcode::Channel.word() | 48, 0, 0, 0, 0], "shift 48");
        bad(&[Opcode::Batch.word() | 1, 0, 0, 0], "ends inside");
        bad(
            &[Opcode::Batch.word(), 0, 0x8000, 0],
            "first tap of a batch",
        );
    }
}
