//! The accelerator's view of a model: where a tensor lives in the activation banks, how a
//! convolution's nonzero weights are laid out in parameter memory for the layer engine, the
//! layer's register settings, and the cycle model that predicts what the engine will take.
//!
//! Everything here is data the host computes once and the hardware only walks: address
//! arithmetic that needs multiplications (channel and row offsets) is done here, so the engine
//! needs adders only. The RTL (`lutna_hw::engine`) and its tests read these definitions; nothing
//! about the layout is restated there.
//!
//! Activation banks: the engine has `lanes` byte-wide banks, each with its own address, so P
//! neighbouring bytes of a row are read in one cycle. Element (c, y, x) of a map lives in bank
//! `x % lanes` at `base + c * channel_words + y * row_words + x / lanes`, with
//! `row_words = ceil(width / lanes)`.
//!
//! Parameter memory (16-bit words), per output channel, in channel order:
//! `bias[15:0], bias[31:16], mult, shift`, then one or more batches: a batch header
//! `n | FINAL_BATCH` (1 <= n <= [`BATCH_TAPS`]) and n taps of two words each, `offset`
//! (the tap's input channel and kernel row, already in bank words: `in.base + c * channel_words
//! + ky * row_words`) and [`pack_tap`] (weight, ky, kx). A batch is as many weights as the lane
//! banks hold tables for at once; a channel with more nonzero weights takes several batches and
//! the engine keeps partial sums between them. A channel without nonzero weights gets one tap of
//! weight 0, so its output is still `requantize(bias)` and the engine needs no special case.

use crate::arith::{LaneMode, Scheme, Weight9};
use crate::model::{Conv, TensorKind};
use anyhow::{bail, ensure, Context, Result};

/// Weight tables one lane bank holds at once: a 4 Kbit iCE40 block RAM is 256 x 16 bits and a
/// 4-bit-chunk table has 16 entries.
pub const TABLE_SLOTS: usize = 16;
/// Weights per batch: half the slots, so the engine programs the next batch into one half while
/// its lanes read the other (double buffering).
pub const BATCH_TAPS: usize = TABLE_SLOTS / 2;
/// Entries of one table (4-bit chunks).
pub const TABLE_ENTRIES: usize = 16;
/// Flag of a batch header word: the channel's last batch.
pub const FINAL_BATCH: u16 = 0x8000;
/// Kernel rows and columns the tap word can hold (3 bits each).
pub const KERNEL_MAX: usize = 7;
/// Partial-sum entries per lane: output positions of one channel / lanes (`groups`).
pub const PARTIAL_WORDS: usize = 256;

/// Parameter words of the board builds' program buffer (four 4 Kbit block RAMs of the UP5K):
/// every zoo program is streamed through it in segments ([`Program::segments`]).
pub const BOARD_PARAM_WORDS: usize = 1024;

/// Activation bytes of the board builds (the UP5K's four SPRAMs, each byte kept twice), shared
/// by the P banks whatever P is.
pub const BOARD_ACTIVATION_BYTES: usize = 65536;

/// The build parameters the layout depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccelConfig {
    /// Lanes P (a power of two, 2..=16); also the number of activation banks.
    pub lanes: usize,
    /// Words (bytes) per activation bank.
    pub bank_words: usize,
    /// 16-bit words of parameter memory (descriptors and resident weights).
    pub param_words: usize,
}

impl AccelConfig {
    pub fn new(lanes: usize) -> Result<Self> {
        ensure!(
            lanes.is_power_of_two() && (2..=16).contains(&lanes),
            "lanes must be a power of two from 2 to 16 (got {lanes})"
        );
        Ok(AccelConfig {
            lanes,
            bank_words: BOARD_ACTIVATION_BYTES / lanes,
            param_words: 32768,
        })
    }

    /// The layout for the board that answered IDENTIFY with `id`: its lanes and its memory map
    /// (parameter words, activation bytes shared evenly by the lanes' banks).
    pub fn for_board(id: &crate::protocol::Identity) -> Result<Self> {
        let lanes = id.lanes as usize;
        let mut cfg =
            AccelConfig::new(lanes).with_context(|| format!("the board reports {lanes} lanes"))?;
        ensure!(
            id.param_words as usize >= 2 * DESCRIPTOR_WORDS,
            "the board reports {} parameter words; a program needs at least {} (one layer \
             descriptor and the end marker): is the bitstream a lutna accelerator?",
            id.param_words,
            2 * DESCRIPTOR_WORDS
        );
        ensure!(
            (id.activation_bytes as usize).is_multiple_of(lanes) && id.activation_bytes > 0,
            "the board reports {} activation bytes, not a multiple of its {lanes} lanes",
            id.activation_bytes
        );
        cfg.param_words = id.param_words as usize;
        cfg.bank_words = id.activation_bytes as usize / lanes;
        Ok(cfg)
    }

    pub fn lane_bits(&self) -> u32 {
        self.lanes.trailing_zeros()
    }
}

/// Where one tensor lives in the activation banks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapPlace {
    pub base: usize,
    /// Channels, height, width.
    pub shape: [usize; 3],
    pub row_words: usize,
    pub channel_words: usize,
}

impl MapPlace {
    pub fn new(cfg: &AccelConfig, base: usize, shape: [usize; 3]) -> Self {
        let row_words = shape[2].div_ceil(cfg.lanes);
        MapPlace {
            base,
            shape,
            row_words,
            channel_words: row_words * shape[1],
        }
    }

    /// Bank words the map takes in every bank.
    pub fn words(&self) -> usize {
        self.channel_words * self.shape[0]
    }

    /// The bank and address of element (c, y, x).
    pub fn locate(&self, cfg: &AccelConfig, c: usize, y: usize, x: usize) -> (usize, usize) {
        (
            x % cfg.lanes,
            self.base + c * self.channel_words + y * self.row_words + x / cfg.lanes,
        )
    }

    /// Writes a CHW tensor into `banks` (one Vec per bank).
    pub fn store(&self, cfg: &AccelConfig, data: &[u8], banks: &mut [Vec<u8>]) {
        let [c, h, w] = self.shape;
        assert_eq!(
            data.len(),
            c * h * w,
            "tensor size does not match its place"
        );
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let (b, a) = self.locate(cfg, ch, y, x);
                    banks[b][a] = data[(ch * h + y) * w + x];
                }
            }
        }
    }

    /// Element (c, y, x) in the activation memory's byte space (byte `a` is bank `a % lanes`,
    /// word `a / lanes`, as LOAD and READ address it).
    pub fn byte_address(&self, cfg: &AccelConfig, c: usize, y: usize, x: usize) -> usize {
        let (bank, word) = self.locate(cfg, c, y, x);
        word * cfg.lanes + bank
    }

    /// The map in the activation memory's byte space (byte `a` is bank `a % lanes`, word
    /// `a / lanes`, as LOAD and READ address it): the first byte address and the bytes of the
    /// span the map covers (gaps at row ends, if any, hold 0).
    pub fn linear(&self, cfg: &AccelConfig, data: &[u8]) -> (u32, Vec<u8>) {
        let mut banks = vec![vec![0u8; self.base + self.words()]; cfg.lanes];
        self.store(cfg, data, &mut banks);
        let mut out = Vec::with_capacity(self.words() * cfg.lanes);
        for a in self.base..self.base + self.words() {
            for bank in &banks {
                out.push(bank[a]);
            }
        }
        ((self.base * cfg.lanes) as u32, out)
    }

    /// The inverse of [`MapPlace::linear`]: the CHW tensor from the span's bytes.
    pub fn from_linear(&self, cfg: &AccelConfig, bytes: &[u8]) -> Vec<u8> {
        let mut banks = vec![vec![0u8; self.base + self.words()]; cfg.lanes];
        for (i, &v) in bytes.iter().enumerate() {
            banks[i % cfg.lanes][self.base + i / cfg.lanes] = v;
        }
        self.load(cfg, &banks)
    }

    /// Reads the map back as a CHW tensor.
    pub fn load(&self, cfg: &AccelConfig, banks: &[Vec<u8>]) -> Vec<u8> {
        let [c, h, w] = self.shape;
        let mut out = Vec::with_capacity(c * h * w);
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let (b, a) = self.locate(cfg, ch, y, x);
                    out.push(banks[b][a]);
                }
            }
        }
        out
    }
}

/// The tap word: weight magnitude in bits 0..8, sign in bit 8, kernel row in 9..12, column in
/// 12..15.
pub fn pack_tap(weight: i16, ky: usize, kx: usize) -> u16 {
    assert!(
        ky <= KERNEL_MAX && kx <= KERNEL_MAX,
        "kernel position out of range"
    );
    let w = Weight9::new(weight);
    w.magnitude as u16 | (w.negative as u16) << 8 | (ky as u16) << 9 | (kx as u16) << 12
}

/// The inverse of [`pack_tap`]: (weight, ky, kx).
pub fn unpack_tap(word: u16) -> (i16, usize, usize) {
    let w = Weight9 {
        negative: word & 0x100 != 0,
        magnitude: word as u8,
    };
    (
        w.value(),
        (word >> 9 & 7) as usize,
        (word >> 12 & 7) as usize,
    )
}

/// The register settings of one convolution (or linear) layer: what the layer sequencer loads
/// into the engine before it walks the layer's parameter words. Negative starting offsets (for
/// padding) are stored as 16-bit two's complement; the engine's adders wrap the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvConfig {
    pub mode: LaneMode,
    /// Output kind: u8 with ReLU, i8 (feeds a residual add), or i32 logits.
    pub out_kind: TensorKind,
    /// First word of the layer's channels in parameter memory.
    pub param_base: usize,
    pub out_channels: usize,
    pub out_height: usize,
    pub out_width: usize,
    /// Output positions per lane group along x: P, or P / 2 for stride 2 (two lanes would read
    /// one bank otherwise).
    pub lanes_active: usize,
    pub groups_per_row: usize,
    pub in_height: usize,
    pub in_width: usize,
    /// Horizontal stride, 1 or 2.
    pub stride_x: usize,
    /// Input row of output row 0 (`-pad_top`) and the step per output row (`stride_y`).
    pub y_start: i16,
    pub y_step: usize,
    /// Bank-word offset of output row 0's first input row, and its step per output row.
    pub row_start: i16,
    pub row_step: usize,
    /// Input column of the first lane of group 0 (`-pad_left`), and the step per group.
    pub x_start: i16,
    pub x_step: usize,
    pub out: MapPlace,
}

impl ConvConfig {
    /// Lane groups (and partial-sum words per lane) of one output channel.
    pub fn groups(&self) -> usize {
        self.out_height * self.groups_per_row
    }
}

/// One convolution compiled for the engine: register settings and parameter words.
#[derive(Clone, Debug)]
pub struct ConvJob {
    pub config: ConvConfig,
    pub params: Vec<u16>,
    /// Batch sizes per output channel (what the cycle model needs).
    pub batches: Vec<Vec<usize>>,
}

/// The lane mode a layer's scheme runs in, or a clear error for schemes the lanes do not have.
pub fn lane_mode(scheme: Scheme) -> Result<LaneMode> {
    if scheme == Scheme::Exact {
        // LUT-NA is proved bit-identical to exact (arith tests), so exact layers run as LUT-NA.
        return Ok(LaneMode::Exact);
    }
    match LaneMode::for_scheme(scheme, 4) {
        Some(m) => Ok(m),
        None => bail!(
            "scheme {scheme} has no lane mode on this accelerator (it runs lutna, alutna and \
             alutna-c with 4-bit chunks); choose one of those in the plan"
        ),
    }
}

/// Compiles one conv or linear layer (a linear layer is a 1x1 convolution of a 1x1 map).
pub fn compile_conv(
    cfg: &AccelConfig,
    conv: &Conv,
    scheme: Scheme,
    input: &MapPlace,
    out: &MapPlace,
    out_kind: TensorKind,
    param_base: usize,
) -> Result<ConvJob> {
    let mode = lane_mode(scheme)?;
    let [kh, kw] = conv.kernel;
    let [sy, sx] = conv.stride;
    ensure!(
        kh <= KERNEL_MAX && kw <= KERNEL_MAX,
        "kernel {kh}x{kw} is larger than the engine's {KERNEL_MAX}x{KERNEL_MAX}"
    );
    ensure!(
        sx == 1 || sx == 2,
        "horizontal stride {sx} is not supported by the engine (1 or 2)"
    );
    ensure!(sy >= 1, "stride 0");
    ensure!(
        input.shape[0] == conv.in_ch && out.shape[0] == conv.out_ch,
        "layer channels do not match the maps"
    );
    if out_kind == TensorKind::Logits {
        ensure!(
            out.base == 0 && out.channel_words == 1,
            "the logits of a layer live in the logits memory: place them at base 0, one word per class"
        );
    }
    let lanes_active = cfg.lanes / sx;
    let [oc, oh, ow] = out.shape;
    let groups_per_row = ow.div_ceil(lanes_active);
    ensure!(
        oh * groups_per_row <= PARTIAL_WORDS,
        "output map {oh}x{ow} needs {} lane groups per channel; the partial-sum buffer holds {PARTIAL_WORDS}",
        oh * groups_per_row
    );
    let config = ConvConfig {
        mode,
        out_kind,
        param_base,
        out_channels: oc,
        out_height: oh,
        out_width: ow,
        lanes_active,
        groups_per_row,
        in_height: input.shape[1],
        in_width: input.shape[2],
        stride_x: sx,
        y_start: offset16(-(conv.pad[0] as i64))?,
        y_step: sy,
        row_start: offset16(-(conv.pad[0] as i64) * input.row_words as i64)?,
        row_step: sy * input.row_words,
        x_start: offset16(-(conv.pad[1] as i64))?,
        x_step: lanes_active * sx,
        out: *out,
    };
    let mut params = Vec::new();
    let mut batches = Vec::with_capacity(oc);
    for o in 0..oc {
        let bias = conv.bias[o] as u32;
        let q = match out_kind {
            TensorKind::Logits => crate::arith::Requant { mult: 1, shift: 0 },
            _ => conv.requant[o],
        };
        params.extend([
            bias as u16,
            (bias >> 16) as u16,
            q.mult as u16,
            q.shift as u16,
        ]);
        let mut taps: Vec<(u16, u16)> = conv
            .weights
            .row(o)
            .map(|(idx, w)| {
                let idx = idx as usize;
                let (c, ky, kx) = (idx / (kh * kw), (idx / kw) % kh, idx % kw);
                let offset = input.base + c * input.channel_words + ky * input.row_words;
                (offset as u16, pack_tap(w, ky, kx))
            })
            .collect();
        if taps.is_empty() {
            taps.push((input.base as u16, pack_tap(0, 0, 0)));
        }
        // The last batch is the full one: its groups end in the drain, which takes P cycles per
        // group, so a short final batch would stall the lanes; a short first batch does not.
        let chunks: Vec<_> = taps.rchunks(BATCH_TAPS).rev().collect();
        let mut sizes = Vec::with_capacity(chunks.len());
        for (i, chunk) in chunks.iter().enumerate() {
            let last = if i + 1 == chunks.len() {
                FINAL_BATCH
            } else {
                0
            };
            params.push(chunk.len() as u16 | last);
            for &(off, tap) in *chunk {
                params.extend([off, tap]);
            }
            sizes.push(chunk.len());
        }
        batches.push(sizes);
    }
    Ok(ConvJob {
        config,
        params,
        batches,
    })
}

/// Words of one layer descriptor in parameter memory.
pub const DESCRIPTOR_WORDS: usize = 32;

/// Layer kinds of a descriptor's word 0 (0 ends the program).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    End = 0,
    Conv = 1,
    MaxPool = 2,
    AvgPool = 3,
    Add = 4,
}

/// Descriptor words 9..14 of both layer kinds: where the walk over the input starts (row, bank
/// word of the row, column; 16-bit two's complement) and its step per output row or group.
fn walk_words(start: [i16; 3], step: [usize; 3]) -> [u16; 6] {
    [
        start[0] as u16,
        step[0] as u16,
        start[1] as u16,
        step[1] as u16,
        start[2] as u16,
        step[2] as u16,
    ]
}

impl ConvConfig {
    /// The descriptor the layer sequencer loads: word 0 kind, then the registers in a fixed order
    /// (the RTL reads them by these indices: see `lutna_hw::engine`).
    pub fn descriptor(&self) -> [u16; DESCRIPTOR_WORDS] {
        let mut d = [0u16; DESCRIPTOR_WORDS];
        d[0] = LayerKind::Conv as u16;
        d[1] = self.mode.code() as u16
            | ((self.out_kind == TensorKind::I8) as u16) << 2
            | ((self.out_kind == TensorKind::Logits) as u16) << 3
            | ((self.stride_x == 2) as u16) << 4;
        d[2] = self.param_base as u16;
        d[3] = self.out_channels as u16;
        d[4] = self.out_height as u16;
        d[5] = self.out_width as u16;
        d[6] = self.groups_per_row as u16;
        d[7] = self.in_height as u16;
        d[8] = self.in_width as u16;
        d[9..15].copy_from_slice(&walk_words(
            [self.y_start, self.row_start, self.x_start],
            [self.y_step, self.row_step, self.x_step],
        ));
        d[15] = self.out.base as u16;
        d[16] = self.out.row_words as u16;
        d[17] = self.out.channel_words as u16;
        d
    }
}

/// The register settings of a window layer, run by the engine's one-element-per-cycle window
/// unit: max and average pooling (a `kernel` window per output, zero padding), and the residual
/// add (a two-tap "window": the same element of map A, then of map B).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowConfig {
    pub kind: LayerKind,
    pub a_signed: bool,
    pub b_signed: bool,
    pub out_signed: bool,
    pub channels: usize,
    pub out_height: usize,
    pub out_width: usize,
    pub in_height: usize,
    pub in_width: usize,
    pub kernel: [usize; 2],
    pub y_start: i16,
    pub y_step: usize,
    pub row_start: i16,
    pub row_step: usize,
    pub x_start: i16,
    pub x_step: usize,
    pub a: MapPlace,
    /// Map B's base (same shape and layout as A); add only.
    pub b_base: usize,
    pub out: MapPlace,
    pub mult_a: u32,
    pub mult_b: u32,
    /// The final requantizer step: `Requant::apply` for the average, `round_shift_clamp` with
    /// mult 1 for the add, identity (mult 1, shift 0) for the max.
    pub mult: u32,
    pub shift: u32,
}

impl WindowConfig {
    pub fn descriptor(&self) -> [u16; DESCRIPTOR_WORDS] {
        let mut d = [0u16; DESCRIPTOR_WORDS];
        d[0] = self.kind as u16;
        d[1] = self.a_signed as u16 | (self.b_signed as u16) << 1 | (self.out_signed as u16) << 2;
        d[2] = self.channels as u16;
        d[3] = self.out_height as u16;
        d[4] = self.out_width as u16;
        d[5] = self.in_height as u16;
        d[6] = self.in_width as u16;
        d[7] = self.kernel[0] as u16;
        d[8] = self.kernel[1] as u16;
        d[9..15].copy_from_slice(&walk_words(
            [self.y_start, self.row_start, self.x_start],
            [self.y_step, self.row_step, self.x_step],
        ));
        d[15] = self.a.base as u16;
        d[16] = self.a.channel_words as u16;
        d[17] = self.a.row_words as u16;
        d[18] = self.b_base as u16;
        d[19] = self.out.base as u16;
        d[20] = self.out.channel_words as u16;
        d[21] = self.out.row_words as u16;
        d[22] = self.mult_a as u16;
        d[23] = self.mult_b as u16;
        d[24] = self.mult as u16;
        d[25] = self.shift as u16;
        d
    }
}

/// One layer as the engine runs it.
#[derive(Clone, Debug)]
pub enum Step {
    Conv(ConvJob),
    Window(WindowConfig),
    /// A channel concatenation: free, its inputs were written in place.
    Concat,
}

/// A whole model compiled for the engine: the parameter memory image (descriptors, then every
/// conv layer's weights, resident), where each tensor lives, and the steps per layer.
#[derive(Clone, Debug)]
pub struct Program {
    pub config: AccelConfig,
    pub params: Vec<u16>,
    /// Place of every tensor (`places[0]` the image; the logits' place is the logits memory).
    pub places: Vec<MapPlace>,
    pub steps: Vec<Step>,
    /// Bank words used at the high-water mark.
    pub bank_words_used: usize,
}

/// A run of consecutive engine layers (or of parts of one: a conv layer too big for a segment is
/// cut by output channels) whose descriptors and weights fit parameter memory together: a
/// program of its own (descriptors from word 0, the end marker, the weights), which the host
/// loads and runs before the next one. Activations stay in their banks between segments, so
/// every layer meets the same maps as in the whole program.
#[derive(Clone, Debug)]
pub struct Segment {
    /// Engine layers (descriptor order, concatenations not counted) the segment touches.
    pub layers: std::ops::Range<usize>,
    /// The steps it runs: whole layers, or channel ranges of conv layers.
    pub steps: Vec<Step>,
    pub params: Vec<u16>,
}

impl Segment {
    pub fn param_bytes(&self) -> Vec<u8> {
        self.params.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

impl ConvJob {
    /// Parameter words of each output channel (bias, requantizer, batches of taps).
    pub fn channel_words(&self) -> Vec<usize> {
        self.batches
            .iter()
            .map(|b| 4 + b.iter().map(|&n| 1 + 2 * n).sum::<usize>())
            .collect()
    }

    /// The layer restricted to output channels `range`: it writes their slice of the output map
    /// and reads their words. For a logits layer the slice is of the logits memory (one word per
    /// class from base 0, so a piece's base is its first class).
    pub fn channels(&self, range: std::ops::Range<usize>) -> ConvJob {
        let words = self.channel_words();
        let first: usize = words[..range.start].iter().sum();
        let len: usize = words[range.clone()].iter().sum();
        let mut config = self.config;
        config.out_channels = range.len();
        config.out.base += range.start * config.out.channel_words;
        config.out.shape[0] = range.len();
        ConvJob {
            config,
            params: self.params[first..first + len].to_vec(),
            batches: self.batches[range].to_vec(),
        }
    }
}

impl Program {
    /// The parameter memory image as LOAD sends it (16-bit words, little-endian).
    pub fn param_bytes(&self) -> Vec<u8> {
        self.params.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// True when the whole program fits parameter memory (loaded once, kept for every image);
    /// otherwise it runs as [`Program::segments`], streamed for every image.
    pub fn resident(&self) -> bool {
        self.params.len() <= self.config.param_words
    }

    /// The program cut into segments that fit the board's parameter memory
    /// ([`Program::segments_within`]). One segment, equal to the whole program, when it is
    /// resident.
    pub fn segments(&self) -> Result<Vec<Segment>> {
        self.segments_within(self.config.param_words)
    }

    /// The program cut into segments of at most `max_words` parameter words, in layer order: a
    /// layer joins the current segment if it fits, else starts the next; a conv layer too big
    /// for a segment of its own is cut by output channels. A single channel, or a
    /// window layer, that cannot fit is refused by name.
    pub fn segments_within(&self, max_words: usize) -> Result<Vec<Segment>> {
        let cost = |s: &Step| {
            DESCRIPTOR_WORDS
                + match s {
                    Step::Conv(job) => job.params.len(),
                    _ => 0,
                }
        };
        let mut segments = Vec::new();
        // (engine layer, step) pieces of the segment being filled, and its words so far.
        let mut current: Vec<(usize, Step)> = Vec::new();
        let mut words = DESCRIPTOR_WORDS; // the end marker
        let engine = self.steps.iter().filter(|s| !matches!(s, Step::Concat));
        for (layer, step) in engine.enumerate() {
            let mut rest = step.clone();
            loop {
                if words + cost(&rest) <= max_words {
                    words += cost(&rest);
                    current.push((layer, rest));
                    break;
                }
                if !current.is_empty() {
                    // Close this segment: the layer goes whole into the next one, or is cut
                    // there if it does not fit even an empty segment.
                    segments.push(Self::segment(std::mem::take(&mut current)));
                    words = DESCRIPTOR_WORDS;
                    continue;
                }
                let too_big = |what: &str| {
                    anyhow::anyhow!(
                        "engine layer {layer} ({what}) needs {} parameter words; segments hold \
                         {max_words}: prune that layer further or allow larger segments",
                        cost(&rest) + DESCRIPTOR_WORDS
                    )
                };
                let Step::Conv(job) = &rest else {
                    return Err(too_big("a window layer"));
                };
                let room = max_words.saturating_sub(2 * DESCRIPTOR_WORDS);
                let per_channel = job.channel_words();
                let (mut fit, mut used) = (0, 0);
                while used + per_channel[fit] <= room {
                    used += per_channel[fit];
                    fit += 1;
                }
                if fit == 0 {
                    return Err(too_big("its first output channel alone does not fit"));
                }
                let n = per_channel.len();
                segments.push(Self::segment(vec![(
                    layer,
                    Step::Conv(job.channels(0..fit)),
                )]));
                rest = Step::Conv(job.channels(fit..n));
            }
        }
        if !current.is_empty() {
            segments.push(Self::segment(current));
        }
        Ok(segments)
    }

    /// The program of `pieces` alone, their weights placed after their descriptors.
    fn segment(pieces: Vec<(usize, Step)>) -> Segment {
        let layers = pieces[0].0..pieces[pieces.len() - 1].0 + 1;
        let weight_start = (pieces.len() + 1) * DESCRIPTOR_WORDS;
        let (mut params, mut weights, mut steps) = (Vec::new(), Vec::new(), Vec::new());
        for (_, mut step) in pieces {
            match &mut step {
                Step::Conv(job) => {
                    job.config.param_base = weight_start + weights.len();
                    params.extend_from_slice(&job.config.descriptor());
                    weights.extend_from_slice(&job.params);
                }
                Step::Window(w) => params.extend_from_slice(&w.descriptor()),
                Step::Concat => unreachable!("concatenations have no descriptor"),
            }
            steps.push(step);
        }
        params.extend_from_slice(&[LayerKind::End as u16; DESCRIPTOR_WORDS]);
        params.extend(weights);
        Segment {
            layers,
            steps,
            params,
        }
    }

    /// Layers that run on the engine (concatenations are free and have no descriptor).
    pub fn descriptors(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| !matches!(s, Step::Concat))
            .count()
    }
}

/// Where every tensor of `model` lives in the activation banks, and the bank words used at the
/// high-water mark: tensors in execution order, each root placed at the lowest address free of
/// the maps still to be read (a map's memory is reused once its last reader has run), the inputs
/// of a concatenation placed inside its output (so the concatenation costs nothing), the logits
/// in the logits memory (base 0, one word per class).
pub fn place(cfg: &AccelConfig, model: &crate::Model) -> Result<(Vec<MapPlace>, usize)> {
    use crate::model::Op;
    let n = model.tensors.len();
    // Concat inputs live inside the concat's output: root tensor and channel offset.
    let mut alias: Vec<Option<(usize, usize)>> = vec![None; n];
    for (i, l) in model.layers.iter().enumerate() {
        if let Op::Concat = l.op {
            let mut off = 0;
            for &t in &l.inputs {
                ensure!(
                    t != 0 && alias[t].is_none(),
                    "layer '{}': a tensor feeds two concatenations or is the image; the engine \
                     writes concat inputs in place and cannot do that",
                    l.name
                );
                alias[t] = Some((i + 1, off));
                off += model.tensors[t].shape[0];
            }
        }
    }
    // A tensor's root (the tensor it lives inside) and its channel offset there.
    let resolve = |mut t: usize| {
        let mut off = 0;
        while let Some((r, o)) = alias[t] {
            off += o;
            t = r;
        }
        (t, off)
    };
    let root = |t: usize| resolve(t).0;
    // Last layer that reads each root (a root lives until its last reader has run).
    let mut last_use = vec![0usize; n];
    for (i, l) in model.layers.iter().enumerate() {
        for &t in &l.inputs {
            let r = root(t);
            last_use[r] = last_use[r].max(i);
        }
    }
    let mut places: Vec<Option<MapPlace>> = vec![None; n];
    let mut live: Vec<(usize, usize, usize)> = Vec::new(); // (base, words, root)
    let mut high = 0;
    let mut place_root = |r: usize, at_layer: usize, live: &mut Vec<(usize, usize, usize)>| {
        live.retain(|&(_, _, t)| last_use[t] >= at_layer || t == r);
        let shape = model.tensors[r].shape;
        let words = MapPlace::new(cfg, 0, shape).words();
        let mut spans: Vec<(usize, usize)> = live.iter().map(|&(b, w, _)| (b, b + w)).collect();
        spans.sort();
        let mut base = 0;
        for (b, e) in spans {
            if base + words <= b {
                break;
            }
            base = base.max(e);
        }
        ensure!(
            base + words <= cfg.bank_words,
            "tensor {r} ({shape:?}) does not fit the activation banks ({} words per bank) \
             beside the maps still needed",
            cfg.bank_words
        );
        live.push((base, words, r));
        high = high.max(base + words);
        Ok(MapPlace::new(cfg, base, shape))
    };
    let mut root_places: Vec<Option<MapPlace>> = vec![None; n];
    root_places[0] = Some(place_root(0, 0, &mut live)?);
    places[0] = root_places[0];
    for i in 0..model.layers.len() {
        let t = i + 1;
        let info = &model.tensors[t];
        if info.kind == TensorKind::Logits {
            places[t] = Some(MapPlace {
                base: 0,
                shape: info.shape,
                row_words: 1,
                channel_words: 1,
            });
            continue;
        }
        let (r, off) = resolve(t);
        if root_places[r].is_none() {
            root_places[r] = Some(place_root(r, i, &mut live)?);
        }
        let rp = root_places[r].expect("placed");
        places[t] = Some(MapPlace {
            base: rp.base + off * rp.channel_words,
            shape: info.shape,
            ..rp
        });
    }
    Ok((
        places
            .into_iter()
            .map(|p| p.expect("every tensor placed"))
            .collect(),
        high,
    ))
}

/// Compiles a model under a plan: tensor placement ([`place`]), one descriptor per engine layer
/// and the conv weights.
pub fn compile(cfg: &AccelConfig, model: &crate::Model, plan: &crate::Plan) -> Result<Program> {
    use crate::model::Op;
    let schemes = plan.resolve(model)?;
    let (places, high) = place(cfg, model)?;
    let mut steps = Vec::with_capacity(model.layers.len());
    let mut descriptors: Vec<[u16; DESCRIPTOR_WORDS]> = Vec::new();
    let mut weights: Vec<Vec<u16>> = Vec::new();
    let mut weight_words = 0usize;
    // Parameter words start after the descriptors and the end marker.
    let engine_layers = model
        .layers
        .iter()
        .filter(|l| !matches!(l.op, Op::Concat))
        .count();
    let param_start = (engine_layers + 1) * DESCRIPTOR_WORDS;
    for (i, l) in model.layers.iter().enumerate() {
        let t = i + 1;
        let info = &model.tensors[t];
        let out = places[t];
        let input = places[l.inputs[0]];
        let step = match &l.op {
            Op::Conv(c) | Op::Linear(c) => {
                let job = compile_conv(
                    cfg,
                    c,
                    schemes[i].expect("conv layers have a scheme"),
                    &input,
                    &out,
                    info.kind,
                    param_start + weight_words,
                )
                .map_err(|e| anyhow::anyhow!("layer '{}': {e}", l.name))?;
                weight_words += job.params.len();
                weights.push(job.params.clone());
                descriptors.push(job.config.descriptor());
                Step::Conv(job)
            }
            Op::MaxPool(p) | Op::AvgPool { pool: p, .. } => {
                let (kind, mult, shift) = match &l.op {
                    Op::AvgPool { requant, .. } => {
                        (LayerKind::AvgPool, requant.mult, requant.shift)
                    }
                    _ => (LayerKind::MaxPool, 1, 0),
                };
                let w = window(kind, &input, &out, p.kernel, p.stride, p.pad, [mult, shift])?;
                descriptors.push(w.descriptor());
                Step::Window(w)
            }
            Op::Add {
                mult_a,
                mult_b,
                shift,
            } => {
                let b = places[l.inputs[1]];
                ensure!(
                    b.shape == input.shape && b.row_words == input.row_words,
                    "layer '{}': add inputs of different shapes",
                    l.name
                );
                let mut w = window(
                    LayerKind::Add,
                    &input,
                    &out,
                    [1, 1],
                    [1, 1],
                    [0; 4],
                    [1, *shift],
                )?;
                w.kernel = [1, 2];
                w.b_base = b.base;
                w.a_signed = model.tensors[l.inputs[0]].kind == TensorKind::I8;
                w.b_signed = model.tensors[l.inputs[1]].kind == TensorKind::I8;
                w.mult_a = *mult_a;
                w.mult_b = *mult_b;
                descriptors.push(w.descriptor());
                Step::Window(w)
            }
            Op::Concat => Step::Concat,
        };
        steps.push(step);
        if let Some(Step::Window(w)) = steps.last_mut() {
            w.out_signed = info.kind == TensorKind::I8;
        }
    }
    let mut params = Vec::with_capacity(param_start + weight_words);
    for d in &descriptors {
        params.extend_from_slice(d);
    }
    params.extend_from_slice(&[LayerKind::End as u16; DESCRIPTOR_WORDS]);
    for w in weights {
        params.extend(w);
    }
    // A program larger than parameter memory is still a program: the host streams it in
    // segments (`Program::segments`).
    Ok(Program {
        config: *cfg,
        params,
        places,
        steps,
        bank_words_used: high,
    })
}

/// Cycles the engine spends per table entry, weight and batch, as the RTL's programmer and
/// issuer are built (`lutna_hw::engine`); the cycle model below is written from these.
pub mod timing {
    /// Programmer: channel header reads.
    pub const HEADER: u64 = 4;
    /// Programmer: per batch, the batch header read and the hand-off to the issuer.
    pub const BATCH: u64 = 2;
    /// Programmer: per weight, two word reads, the latch, and one table entry per cycle.
    pub const TAP: u64 = 3 + super::TABLE_ENTRIES as u64;
    /// Issuer: cycles from the last tap of a batch until its table half may be rewritten.
    pub const HALF_RELEASE: u64 = 5;
    /// Issuer: idle cycle between two batches.
    pub const BATCH_GAP: u64 = 1;
    /// From the last tap of a layer to the unit's idle: pipeline, drain, requantizer.
    pub const CONV_FLUSH: u64 = 4 + 16 + 7 + 3 + 2;
    /// Window unit: pipeline and requantizer after the last read.
    pub const WINDOW_FLUSH: u64 = 3 + 7 + 2 + 2;
    /// Sequencer: descriptor fetch, dispatch and record per layer.
    pub const LAYER: u64 = 32 + 3;
    /// The activations take one access per cycle (the window memory in the UP5K's SPRAMs), and
    /// a write takes it from the readers. A conv group's output bytes are gathered and stored by
    /// two window writes, three when the group has eight bytes; the issuer holds its tap in the
    /// cycles this many cycles plus the walk's length after the group's last tap (pipeline 4,
    /// drain walk, requantizer and write stage 7, one cycle ahead of each write).
    pub const CONV_WRITE_AFTER: u64 = 11;
    /// The same for the window unit: its read is held this many cycles after an output's last
    /// read (S1, S2, requantizer and write stage).
    pub const WINDOW_WRITE_AFTER: u64 = 9;
}

/// The cycles in which the activations are written (and so cannot be read), in rising order.
#[derive(Default)]
struct WriteCycles(std::collections::VecDeque<u64>);

impl WriteCycles {
    /// The first cycle from `t` on that no write takes.
    fn free_from(&mut self, mut t: u64) -> u64 {
        while let Some(&w) = self.0.front() {
            if w < t {
                self.0.pop_front();
            } else if w == t {
                self.0.pop_front();
                t += 1;
            } else {
                break;
            }
        }
        t
    }

    fn push(&mut self, from: u64, count: u64) {
        self.0.extend(from..from + count);
    }
}

/// Predicted cycles of one layer: as the engine's counter records it (`cycles`, from dispatch to
/// idle) and the cycles in which the conv unit issued taps or the window unit read (`issues`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LayerCycles {
    pub cycles: u64,
    pub issues: u64,
}

impl Program {
    /// The cycle model: per engine layer (descriptor order), what the engine will take, and the
    /// total for one image (layers plus the sequencer's per-layer overhead). Computed from the
    /// compiled batches, without simulating.
    pub fn cycle_model(&self) -> (Vec<LayerCycles>, u64) {
        steps_cycles(&self.steps, self.config.lanes as u64)
    }

    /// The cycle model's total for one image run as `segments`: each is a run of its own, with
    /// its own end-marker fetch, and a cut layer pays its descriptor and pipeline once per piece.
    pub fn segments_cycles(&self, segments: &[Segment]) -> u64 {
        segments
            .iter()
            .map(|s| steps_cycles(&s.steps, self.config.lanes as u64).1)
            .sum()
    }
}

/// The cycle model of `steps` run as one program: per engine layer, and the total (layers plus
/// the sequencer's per-layer overhead and the end marker).
fn steps_cycles(steps: &[Step], lanes: u64) -> (Vec<LayerCycles>, u64) {
    let layers: Vec<LayerCycles> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Conv(job) => Some(conv_cycles(job, lanes)),
            Step::Window(w) => {
                let outputs = (w.channels * w.out_height * w.out_width) as u64;
                let per_output = (w.kernel[0] * w.kernel[1]) as u64;
                // One read per cycle, except in the cycles an earlier output is written.
                let mut writes = WriteCycles::default();
                let mut t = 0;
                for _ in 0..outputs {
                    for _ in 0..per_output {
                        t = writes.free_from(t) + 1;
                    }
                    writes.push(t - 1 + timing::WINDOW_WRITE_AFTER, 1);
                }
                Some(LayerCycles {
                    cycles: t + timing::WINDOW_FLUSH,
                    issues: outputs * per_output,
                })
            }
            Step::Concat => None,
        })
        .collect();
    let total = layers.iter().map(|l| l.cycles + timing::LAYER).sum::<u64>() + timing::LAYER;
    (layers, total)
}

/// The conv unit's two processes, batch by batch: the programmer fills one table half while the
/// issuer walks the map with the other; a half is reprogrammed only after the issuer released it.
fn conv_cycles(job: &ConvJob, lanes: u64) -> LayerCycles {
    use timing::*;
    let c = &job.config;
    let groups = c.groups() as u64;
    // Window writes of a group (the logits go to their own memory): the drain walks
    // `lanes_active` positions, the last group of a row may have fewer bytes; byte 7's odd copy
    // takes a third write.
    let writes_of = |g: u64| -> u64 {
        if c.out_kind == TensorKind::Logits {
            return 0;
        }
        let x0 = (g % c.groups_per_row as u64) * c.lanes_active as u64;
        let bytes = (c.lanes_active as u64).min(c.out_width as u64 - x0);
        if bytes >= 8 {
            3
        } else {
            2
        }
    };
    let walk = c.lanes_active as u64;
    let mut writes = WriteCycles::default();
    let mut prog = 1; // the programmer starts the cycle after dispatch
    let mut issue = 0;
    let mut issues = 0;
    let mut released: Vec<u64> = Vec::new(); // cycle each batch's half is free again
    let mut drained = 0; // last tap of the latest group handed to the drain
    let mut k = 0;
    for batches in &job.batches {
        prog += HEADER;
        for (b, &n) in batches.iter().enumerate() {
            let n = n as u64;
            let last_batch = b + 1 == batches.len();
            if k >= 2 {
                prog = prog.max(released[k - 2]);
            }
            prog += BATCH - 1 + TAP * n;
            let handoff = prog;
            prog += 1;
            // The issuer takes the batch the cycle after the hand-off.
            let start = issue.max(handoff + 1) + BATCH_GAP;
            // One tap per cycle, except where a byte is written; a final batch's groups end in
            // the drain, which needs `lanes` cycles per group, counted from the previous final
            // group (possibly of the previous channel).
            let mut t = start;
            for g in 0..groups {
                for tap in 0..n {
                    t = writes.free_from(t);
                    if last_batch && tap + 1 == n && t < drained + lanes {
                        t = writes.free_from(drained + lanes);
                    }
                    t += 1;
                }
                if last_batch {
                    drained = t - 1;
                    writes.push(t - 1 + CONV_WRITE_AFTER + walk, writes_of(g));
                }
            }
            let last = t - 1;
            issues += n * groups;
            released.push(last + HALF_RELEASE);
            issue = last + 1;
            k += 1;
        }
    }
    LayerCycles {
        cycles: issue.max(prog) + CONV_FLUSH,
        issues,
    }
}

/// A negative starting offset (padding) as the engine's 16-bit registers hold it.
fn offset16(v: i64) -> Result<i16> {
    ensure!(
        (-32768..32768).contains(&v),
        "an address offset ({v}) does not fit the engine's 16-bit adders"
    );
    Ok(v as i16)
}

/// The window unit's registers for a pooling or add layer.
#[allow(clippy::too_many_arguments)]
fn window(
    kind: LayerKind,
    a: &MapPlace,
    out: &MapPlace,
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 4],
    [mult, shift]: [u32; 2],
) -> Result<WindowConfig> {
    ensure!(
        kernel[0] <= 255 && kernel[1] <= 255,
        "pooling window {kernel:?} too large"
    );
    Ok(WindowConfig {
        kind,
        a_signed: false,
        b_signed: false,
        out_signed: false,
        channels: out.shape[0],
        out_height: out.shape[1],
        out_width: out.shape[2],
        in_height: a.shape[1],
        in_width: a.shape[2],
        kernel,
        y_start: offset16(-(pad[0] as i64))?,
        y_step: stride[0],
        row_start: offset16(-(pad[0] as i64) * a.row_words as i64)?,
        row_step: stride[0] * a.row_words,
        x_start: offset16(-(pad[1] as i64))?,
        x_step: stride[1],
        a: *a,
        b_base: 0,
        out: *out,
        mult_a: 1,
        mult_b: 1,
        mult,
        shift,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> crate::Model {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models")
            .join(name);
        crate::Model::load(&p).unwrap()
    }

    /// Every segment is a program of its own that fits `max` (its descriptors point at its own
    /// weights), and the segments' pieces put back together are the program's layers: the same
    /// window descriptors, and for each conv layer its channels in order, each piece writing its
    /// slice of the output map.
    fn check_segments(program: &Program, segments: &[Segment], max: usize) {
        let engine: Vec<&Step> = program
            .steps
            .iter()
            .filter(|s| !matches!(s, Step::Concat))
            .collect();
        let mut pieces: Vec<Vec<&Step>> = vec![vec![]; engine.len()];
        let (mut layer, mut have) = (0, 0);
        for seg in segments {
            assert!(seg.params.len() <= max);
            let n = seg.steps.len();
            let end = &seg.params[n * DESCRIPTOR_WORDS..(n + 1) * DESCRIPTOR_WORDS];
            assert!(end.iter().all(|&w| w == LayerKind::End as u16));
            for (k, step) in seg.steps.iter().enumerate() {
                let d = &seg.params[k * DESCRIPTOR_WORDS..(k + 1) * DESCRIPTOR_WORDS];
                match step {
                    Step::Conv(job) => {
                        assert_eq!(d, &job.config.descriptor()[..]);
                        let base = job.config.param_base;
                        assert_eq!(&seg.params[base..base + job.params.len()], &job.params[..]);
                    }
                    Step::Window(w) => assert_eq!(d, &w.descriptor()[..]),
                    Step::Concat => unreachable!(),
                }
                // Pieces come in layer order; a conv layer is complete with its last channel.
                assert!(
                    seg.layers.contains(&layer),
                    "piece outside the segment's layers"
                );
                pieces[layer].push(step);
                have += match step {
                    Step::Conv(j) => j.config.out_channels,
                    _ => 0,
                };
                let whole = match engine[layer] {
                    Step::Conv(j) => j.config.out_channels,
                    _ => 0,
                };
                if have == whole {
                    layer += 1;
                    have = 0;
                }
            }
        }
        assert_eq!(layer, engine.len(), "every layer complete");
        for (layer, step) in engine.iter().enumerate() {
            match step {
                Step::Conv(job) => {
                    let parts: Vec<&ConvJob> = pieces[layer]
                        .iter()
                        .map(|s| match s {
                            Step::Conv(j) => j,
                            _ => panic!("layer {layer}: a window piece for a conv layer"),
                        })
                        .collect();
                    let words: Vec<u16> = parts.iter().flat_map(|j| j.params.clone()).collect();
                    assert_eq!(words, job.params, "layer {layer}: weights");
                    let channels: usize = parts.iter().map(|j| j.config.out_channels).sum();
                    assert_eq!(channels, job.config.out_channels, "layer {layer}: channels");
                    assert_eq!(parts[0].config.out.base, job.config.out.base);
                }
                Step::Window(w) => match pieces[layer][..] {
                    [Step::Window(got)] => assert_eq!(got, w),
                    _ => panic!("layer {layer}: window layer not whole"),
                },
                Step::Concat => unreachable!(),
            }
        }
    }

    #[test]
    fn a_program_too_big_for_parameter_memory_is_cut_into_segments() {
        let cfg = AccelConfig::new(8).unwrap();
        let plan = crate::Plan::uniform("lutna".parse().unwrap());
        // resnet34-w0.25 needs 35,921 words; the engine holds 32,768: two segments, no cuts.
        let program = compile(&cfg, &shipped("resnet34-w0.25.lutna"), &plan).unwrap();
        assert!(!program.resident());
        let segments = program.segments().unwrap();
        assert_eq!(segments.len(), 2);
        check_segments(&program, &segments, cfg.param_words);
        let steps: usize = segments.iter().map(|s| s.steps.len()).sum();
        assert_eq!(steps, program.descriptors(), "nothing cut");
        assert_eq!(
            program.segments_cycles(&segments),
            program.cycle_model().1 + timing::LAYER,
            "one more end marker"
        );
        // A resident program is its own single segment, word for word.
        let small = compile(&cfg, &shipped("icebreaker-w0.5.lutna"), &plan).unwrap();
        assert!(small.resident());
        let one = small.segments().unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].params, small.params);
        // Small segments: layers are cut by output channels, the pieces still add up.
        for (name, max) in [
            ("icebreaker-w0.5.lutna", 1024),
            ("resnet18-w0.25.lutna", 1280),
        ] {
            let program = compile(&cfg, &shipped(name), &plan).unwrap();
            let segments = program.segments_within(max).unwrap();
            let steps: usize = segments.iter().map(|s| s.steps.len()).sum();
            assert!(steps > program.descriptors(), "{name}: no layer was cut");
            check_segments(&program, &segments, max);
            assert!(program.segments_cycles(&segments) > program.cycle_model().1);
        }
        // A channel that cannot fit is named.
        let program = compile(&cfg, &shipped("resnet18-w0.25.lutna"), &plan).unwrap();
        let e = program.segments_within(80).unwrap_err().to_string();
        assert!(
            e.contains("engine layer 0") && e.contains("first output channel"),
            "{e}"
        );
        // Segments smaller than two descriptors: an error, not an arithmetic panic.
        assert!(program.segments_within(40).is_err());
    }

    #[test]
    fn the_layout_follows_the_memory_map_the_board_reports() {
        let id = crate::protocol::Identity::example();
        let cfg = AccelConfig::for_board(&id).unwrap();
        assert_eq!(
            (cfg.lanes, cfg.param_words, cfg.bank_words),
            (8, 1024, 8192)
        );
        let e = AccelConfig::for_board(&crate::protocol::Identity {
            param_words: 16,
            ..id
        })
        .unwrap_err();
        assert!(e.to_string().contains("16 parameter words"), "{e}");
        let e = AccelConfig::for_board(&crate::protocol::Identity {
            activation_bytes: 1001,
            ..id
        })
        .unwrap_err();
        assert!(e.to_string().contains("1001 activation bytes"), "{e}");
        assert!(AccelConfig::for_board(&crate::protocol::Identity { lanes: 3, ..id }).is_err());
    }

    #[test]
    fn every_zoo_program_streams_through_the_board_program_buffer() {
        // The board builds hold BOARD_PARAM_WORDS: every conv channel of every model that fits
        // the activation banks must fit a segment of its own (with its descriptor and the end
        // marker), under the exact and the approximate schemes.
        let cfg = AccelConfig::for_board(&crate::protocol::Identity::example()).unwrap();
        assert_eq!(cfg.param_words, BOARD_PARAM_WORDS);
        for name in [
            "icebreaker-w0.5.lutna",
            "vgg11-w0.25.lutna",
            "vgg19-w0.25.lutna",
            "resnet18-w0.25.lutna",
            "resnet34-w0.25.lutna",
        ] {
            for scheme in ["lutna", "alutna"] {
                let plan = crate::Plan::uniform(scheme.parse().unwrap());
                let program = compile(&cfg, &shipped(name), &plan).unwrap();
                assert!(!program.resident(), "{name}");
                let segments = program.segments().unwrap();
                check_segments(&program, &segments, BOARD_PARAM_WORDS);
            }
        }
    }

    #[test]
    fn tap_words_round_trip() {
        for w in -255..=255 {
            for (ky, kx) in [(0, 0), (1, 2), (7, 7), (2, 0)] {
                assert_eq!(unpack_tap(pack_tap(w, ky, kx)), (w, ky, kx));
            }
        }
    }

    #[test]
    fn maps_round_trip_through_the_banks() {
        let cfg = AccelConfig::new(8).unwrap();
        let place = MapPlace::new(&cfg, 5, [3, 5, 11]);
        assert_eq!(place.row_words, 2);
        let data: Vec<u8> = (0..3 * 5 * 11).map(|i| (i * 7) as u8).collect();
        let mut banks = vec![vec![0u8; 64]; 8];
        place.store(&cfg, &data, &mut banks);
        assert_eq!(place.load(&cfg, &banks), data);
        assert_eq!(place.locate(&cfg, 1, 2, 9), (1, 5 + 10 + 4 + 1));
        let (start, bytes) = place.linear(&cfg, &data);
        assert_eq!(start, 5 * 8);
        assert_eq!(bytes[(10 + 4 + 1) * 8 + 1], data[(5 + 2) * 11 + 9]);
        assert_eq!(place.from_linear(&cfg, &bytes), data);
    }

    #[test]
    fn lane_tables_are_affine_in_the_entry() {
        // The engine's table programmer fills slots with an adder chain from `table_affine`.
        for m in LaneMode::ALL {
            let Scheme::Lut(s) = m.scheme() else {
                unreachable!()
            };
            assert_eq!(s.table_count(), 1, "{m:?} lanes read one table");
            let (base, step) = s.table_affine(0);
            for mag in 0..=255u8 {
                for j in 0..TABLE_ENTRIES as u32 {
                    assert_eq!(s.table_entry(0, mag, j), mag as u32 * (base + step * j));
                }
            }
        }
    }

    #[test]
    fn lane_modes_cover_the_plan_schemes() {
        assert_eq!(lane_mode(Scheme::Exact).unwrap(), LaneMode::Exact);
        for m in LaneMode::ALL {
            assert_eq!(lane_mode(m.scheme()).unwrap(), m);
        }
        let err = lane_mode(Scheme::TLUT).unwrap_err().to_string();
        assert!(err.contains("no lane mode"), "{err}");
    }
}
