//! The compiler for the engine's instruction stream ([`crate::isa`], docs/engine.md): a
//! model under a plan becomes, layer by layer, the `SET`s of the walk and the channels with their
//! batches of taps. Every address is worked out here; tensors are placed as
//! [`crate::accel::place`] places them (the activation memory's byte `b * lanes + bank` is bank
//! `bank`'s word `b`, so a map is a plain array of rows of `row_words * lanes` bytes).
//!
//! How each layer kind becomes a walk:
//! - **conv / linear**: one `CHANNEL` per output channel, its nonzero weights as taps (sorted by
//!   weight, so equal weights share a table), cut into batches of at most
//!   [`shape::BATCH_TABLES`] tables and [`shape::BATCH_TAPS_MAX`] taps, the shortest batch first;
//!   a tap's offset is its input channel, kernel row and column against the padded origin. A
//!   linear layer is a 1 x 1 convolution of a 1 x 1 map; its sums go to the logits memory.
//! - **max / average pool**: a depthwise walk (`InChannel` steps one input channel per output
//!   channel), one channel `REPEAT`ed over all of them: one table (weight 1) and a tap per
//!   window element; the lanes keep the maximum (`MODE_MAX`) or the sum, requantized by the
//!   pool's multiplier (1 / window area).
//! - **residual add**: the same depthwise walk with two taps, channel c of map A and of map B,
//!   whose weights are the add's multipliers; an i8 map is stored offset by 128, so the bias
//!   takes `-128 * m` for each i8 input and the sum is the golden engine's exactly.
//! - **concat**: nothing; its inputs were written in place.

use crate::accel::{lane_mode, place, AccelConfig, MapPlace};
use crate::arith::{Requant, Scheme};
use crate::isa::{
    shape, Instr, Machine, OutKind, Register, Tap, MODE_CONTIGUOUS, MODE_LANE, MODE_MAX,
    MODE_OUT_KIND, MODE_ROW_STEP, MODE_SLOTS, MODE_STRIDE2,
};
use crate::model::{Conv, Op, Pool, TensorKind};
use anyhow::{anyhow, ensure, Context, Result};

/// One engine layer's code.
#[derive(Clone, Debug)]
pub struct LayerCode {
    /// Index of the model layer.
    pub layer: usize,
    pub name: String,
    pub instrs: Vec<Instr>,
}

/// A model compiled for the engine.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub config: AccelConfig,
    /// Place of every tensor (`places[0]` the image).
    pub places: Vec<MapPlace>,
    pub layers: Vec<LayerCode>,
    /// Bank words used at the high-water mark.
    pub bank_words_used: usize,
}

impl Compiled {
    /// The whole program: every layer followed by a `RECORD` of its counters (while record slots
    /// last), then `END`.
    pub fn program(&self) -> Vec<Instr> {
        let mut out = Vec::new();
        // Registers keep their values from layer to layer: a `SET` that would write the value
        // a register already holds is left out (but `OutBase` always, as it restarts the walk).
        let mut regs: [Option<u16>; Register::ALL.len()] = [None; Register::ALL.len()];
        for (k, l) in self.layers.iter().enumerate() {
            for i in &l.instrs {
                if let Instr::Set(r, v) = i {
                    if regs[*r as usize] == Some(*v) && *r != Register::OutBase {
                        continue;
                    }
                    regs[*r as usize] = Some(*v);
                }
                out.push(i.clone());
            }
            if k < shape::RECORD_SLOTS {
                out.push(Instr::Record(k));
            }
        }
        out.push(Instr::End);
        out
    }

    /// The program cut into segments of at most `words` program words, each ending in `END`
    /// (`isa::segments`): what a board with a program memory of that size runs, one segment
    /// after the other.
    pub fn segments(&self, words: usize) -> Vec<Vec<Instr>> {
        crate::isa::segments(&self.program(), words)
    }

    pub fn words(&self) -> Vec<u16> {
        crate::isa::encode(&self.program())
    }

    /// The image in the activation memory: its first byte address and its bytes.
    pub fn image(&self, image: &[u8]) -> (u16, Vec<u8>) {
        let (at, bytes) = self.places[0].linear(&self.config, image);
        (at as u16, bytes)
    }

    /// Runs one image on `machine` (the reference engine) and returns the logits.
    pub fn run(&self, machine: &mut Machine, image: &[u8]) -> Result<Vec<i32>> {
        let (at, bytes) = self.image(image);
        let at = at as usize;
        machine.memory[at..at + bytes.len()].copy_from_slice(&bytes);
        machine.run(&self.words())?;
        let classes = self.places.last().expect("a model has tensors").shape[0];
        Ok(machine.logits[..classes].to_vec())
    }
}

/// The byte-space view of a map: base, row and channel strides in bytes.
#[derive(Clone, Copy, Debug)]
struct Bytes {
    base: i64,
    row: i64,
    channel: i64,
}

fn bytes(cfg: &AccelConfig, p: &MapPlace) -> Bytes {
    let lanes = cfg.lanes as i64;
    Bytes {
        base: p.base as i64 * lanes,
        row: p.row_words as i64 * lanes,
        channel: p.channel_words as i64 * lanes,
    }
}

/// A register value that must fit: the compiler refuses a layer the engine cannot walk.
fn reg(r: Register, value: i64, what: &str) -> Result<Instr> {
    let v = value as u16;
    ensure!(
        (if r.signed() {
            (i16::MIN as i64..=i16::MAX as i64).contains(&value)
        } else {
            (0..=u16::MAX as i64).contains(&value)
        }) && r.holds(v),
        "{what} is {value}, beyond the engine's {}-bit {r:?} register",
        r.bits()
    );
    Ok(Instr::Set(r, v))
}

/// The walk of one layer: what its `SET`s hold.
struct Walk {
    rows: usize,
    groups: usize,
    in_row: i64,
    /// Output bytes from one row to the next, from one channel to the next, and per group.
    out_row: i64,
    out_base: i64,
    out_channel: i64,
    group_bytes: i64,
    in_channel: i64,
    y_start: i64,
    x_start: i64,
    in_shape: [usize; 3],
    mode: u16,
}

impl Walk {
    fn sets(&self) -> Result<Vec<Instr>> {
        ensure!(
            self.rows >= 1 && self.groups >= 1,
            "an empty output map cannot be walked"
        );
        // The writer's pointer stands at a row's last group after its walk of the row.
        let last_group = (self.groups as i64 - 1) * self.group_bytes;
        let row_step = self.out_row - last_group;
        let channel_step = self.out_channel - (self.rows as i64 - 1) * self.out_row - last_group;
        let contiguous = self.group_bytes > 0
            && row_step == self.group_bytes
            && channel_step == self.group_bytes;
        Ok(vec![
            reg(Register::Rows, self.rows as i64 - 1, "output rows minus 1")?,
            reg(
                Register::Groups,
                self.groups as i64 - 1,
                "groups per row minus 1",
            )?,
            reg(Register::InRow, self.in_row, "input bytes per output row")?,
            reg(
                Register::OutRowStep,
                // (16-bit wrapping: a step may be negative.)
                row_step.rem_euclid(1 << 16),
                "the output step to the next row",
            )?,
            reg(Register::OutBase, self.out_base, "the output address")?,
            reg(
                Register::OutChannelStep,
                channel_step.rem_euclid(1 << 16),
                "the output step to the next channel",
            )?,
            reg(
                Register::InChannel,
                self.in_channel,
                "input bytes per channel",
            )?,
            reg(Register::YStart, self.y_start, "the first input row")?,
            reg(Register::XStart, self.x_start, "the first input column")?,
            reg(
                Register::InHeight,
                self.in_shape[1] as i64,
                "the input height",
            )?,
            reg(
                Register::InWidth,
                self.in_shape[2] as i64,
                "the input width",
            )?,
            Instr::Set(
                Register::Mode,
                self.mode | MODE_CONTIGUOUS.put(contiguous as u16),
            ),
        ])
    }
}

fn mode(
    lane: crate::arith::LaneMode,
    max: bool,
    stride2: bool,
    row_step: usize,
    out: OutKind,
    slots: usize,
) -> Result<u16> {
    ensure!(
        (1..=MODE_ROW_STEP.max() as usize).contains(&row_step),
        "vertical stride {row_step} is beyond the engine's 1..={}",
        MODE_ROW_STEP.max()
    );
    Ok(MODE_LANE.put(lane.code() as u16)
        | MODE_MAX.put(max as u16)
        | MODE_STRIDE2.put(stride2 as u16)
        | MODE_ROW_STEP.put(row_step as u16)
        | MODE_OUT_KIND.put(out as u16)
        | MODE_SLOTS.put((slots - 1) as u16))
}

fn out_kind(kind: TensorKind) -> OutKind {
    match kind {
        TensorKind::U8 => OutKind::U8,
        TensorKind::I8 => OutKind::I8,
        TensorKind::Logits => OutKind::Logits,
    }
}

/// The horizontal stride the lanes walk with: 1 or 2; any stride when the output is one column
/// wide (only lane 0 of group 0 counts then).
fn lane_stride(stride: usize, out_width: usize) -> Result<usize> {
    if out_width == 1 {
        return Ok(1);
    }
    ensure!(
        stride == 1 || stride == 2,
        "horizontal stride {stride} (the lanes walk with 1 or 2)"
    );
    Ok(stride)
}

/// A channel's taps in batches: sorted by weight so equal weights share one table, then
/// cut from the end so that only the first batch is short (the last batch's groups end in the
/// requantizer, which takes one sum per cycle: a long last batch keeps it from stalling the
/// lanes).
fn batches(mut taps: Vec<Tap>, max_tables: usize) -> Vec<Instr> {
    taps.sort_by_key(|t| std::cmp::Reverse(t.weight));
    let mut out: Vec<Vec<Tap>> = Vec::new();
    let mut current: Vec<Tap> = Vec::new();
    let mut tables = 0;
    // Walk from the end: a tap opens a new table unless its magnitude is the next one's.
    for t in taps.into_iter().rev() {
        let shares = current.last().is_some_and(|n| n.weight == t.weight);
        let needs = if shares { 0 } else { 1 };
        if current.len() == shape::BATCH_TAPS_MAX || tables + needs > max_tables {
            out.push(std::mem::take(&mut current));
            tables = 0;
        }
        let shares = shares && !current.is_empty();
        tables += if shares { 0 } else { 1 };
        current.push(t);
    }
    out.push(current);
    out.reverse();
    let n = out.len();
    out.into_iter()
        .enumerate()
        .map(|(i, mut b)| {
            b.reverse();
            for k in 0..b.len() {
                b[k].reuse = k > 0 && b[k].weight == b[k - 1].weight;
            }
            Instr::Batch {
                last: i + 1 == n,
                taps: b,
            }
        })
        .collect()
}

/// Tables per batch for a walk of `groups` groups with a ring of `slots`. Half the ring lets the
/// programmer fill the next batch while the lanes read this one; a long walk hides the
/// programming of a larger batch's extra tables, and larger batches mean fewer partial-sum reads
/// and a last batch long enough to keep ahead of the requantizer (one sum per cycle). Chosen
/// with the cycle model on the iCEBreaker model (docs/engine.md, "Batches").
fn batch_tables(groups: usize, slots: usize) -> usize {
    if groups >= LONG_WALK {
        LONG_WALK_TABLES.min(slots)
    } else {
        (slots / 2).max(1)
    }
}

/// Groups from which a walk counts as long, and the tables per batch it then takes.
const LONG_WALK: usize = 16;
const LONG_WALK_TABLES: usize = 7;

fn offset(value: i64) -> u16 {
    value.rem_euclid(1 << 16) as u16
}

#[allow(clippy::too_many_arguments)]
fn conv_layer(
    cfg: &AccelConfig,
    c: &Conv,
    scheme: Scheme,
    input: &MapPlace,
    out: &MapPlace,
    kind: TensorKind,
) -> Result<Vec<Instr>> {
    let lane = lane_mode(scheme)?;
    let [kh, kw] = c.kernel;
    ensure!(
        kh <= shape::KERNEL_MAX && kw <= shape::KERNEL_MAX,
        "kernel {kh}x{kw} is larger than the engine's {0}x{0}",
        shape::KERNEL_MAX
    );
    let [oc, oh, ow] = out.shape;
    let sx = lane_stride(c.stride[1], ow)?;
    let active = cfg.lanes / sx;
    let groups = ow.div_ceil(active);
    let (inb, outb) = (bytes(cfg, input), bytes(cfg, out));
    let logits = kind == TensorKind::Logits;
    ensure!(
        !logits || (oh == 1 && ow == 1 && oc <= shape::LOGIT_WORDS),
        "logits must be a 1x1 map of at most {} classes",
        shape::LOGIT_WORDS
    );
    // Channels whose taps take several batches keep partial sums per group: a walk longer than
    // the lanes keep is cut into bands of rows, each a pass over every channel.
    let single = |limit: usize| {
        (0..oc).all(|o| {
            let mut m: Vec<u8> = c
                .weights
                .row(o)
                .map(|(_, w)| w.unsigned_abs() as u8)
                .collect();
            let taps = m.len();
            m.sort();
            m.dedup();
            m.len() <= limit && taps <= shape::BATCH_TAPS_MAX
        })
    };
    let multi = !single(batch_tables(oh * groups, shape::TABLE_SLOTS));
    let band = if multi && oh * groups > shape::PARTIAL_GROUPS {
        (shape::PARTIAL_GROUPS / groups).max(1)
    } else {
        oh
    };
    ensure!(
        !multi || band * groups <= shape::PARTIAL_GROUPS,
        "output rows of {groups} groups each exceed the lanes' {} partial sums",
        shape::PARTIAL_GROUPS
    );
    let (pad_t, pad_l) = (c.pad[0] as i64, c.pad[1] as i64);
    let mut code = Vec::new();
    for r0 in (0..oh).step_by(band) {
        let rows = band.min(oh - r0);
        // The ring takes what the partial sums leave of the lanes' banks.
        let partials = if multi { rows * groups } else { 0 };
        // (A walk without partial sums keeps every slot.)
        let slots = ((shape::BANK_WORDS - partials) / shape::TABLE_ENTRIES).min(shape::TABLE_SLOTS);
        let tables = batch_tables(rows * groups, slots);
        let walk = Walk {
            rows,
            groups,
            in_row: c.stride[0] as i64 * inb.row,
            out_row: if logits { 0 } else { outb.row },
            out_base: if logits {
                0
            } else {
                outb.base + r0 as i64 * outb.row
            },
            out_channel: if logits { 1 } else { outb.channel },
            group_bytes: if logits { 0 } else { active as i64 },
            in_channel: 0,
            y_start: (r0 * c.stride[0]) as i64 - pad_t,
            x_start: -pad_l,
            in_shape: input.shape,
            mode: mode(
                lane,
                false,
                sx == 2,
                c.stride[0].max(1),
                out_kind(kind),
                slots,
            )?,
        };
        code.extend(walk.sets()?);
        for o in 0..oc {
            let (mult, shift) = match kind {
                TensorKind::Logits => (1, 0),
                _ => (c.requant[o].mult, c.requant[o].shift),
            };
            code.push(Instr::Channel {
                shift,
                mult,
                bias: c.bias[o],
            });
            let mut taps: Vec<Tap> = c
                .weights
                .row(o)
                .map(|(idx, w)| {
                    let idx = idx as usize;
                    let (ch, ky, kx) = (idx / (kh * kw), (idx / kw) % kh, idx % kw);
                    Tap {
                        offset: offset(
                            inb.base
                                + ch as i64 * inb.channel
                                + (walk.y_start + ky as i64) * inb.row
                                + walk.x_start
                                + kx as i64,
                        ),
                        weight: w,
                        ky: ky as u8,
                        kx: kx as u8,
                        reuse: false,
                    }
                })
                .collect();
            ensure!(
                crate::isa::lane_sum_fits(taps.iter().map(|t| t.weight)),
                "output channel {o}: its weights can add up to more than a lane's {}-bit sum \
                 (255 x the sum of |w| is {}); prune or requantize the layer",
                shape::LANE_SUM_BITS,
                255 * taps
                    .iter()
                    .map(|t| t.weight.unsigned_abs() as u64)
                    .sum::<u64>()
            );
            if taps.is_empty() {
                // A channel without weights: one tap of weight 0 (its table is all zeros), so
                // its outputs are requantize(bias) like any other channel's.
                taps.push(Tap {
                    offset: offset(inb.base),
                    weight: 0,
                    ky: 0,
                    kx: 0,
                    reuse: false,
                });
            }
            code.extend(batches(taps, tables));
        }
    }
    Ok(code)
}

/// A depthwise walk over `channels` channels: pooling and the residual add.
#[allow(clippy::too_many_arguments)]
fn depthwise_layer(
    cfg: &AccelConfig,
    input: &MapPlace,
    out: &MapPlace,
    kind: TensorKind,
    pool: Pool,
    max: bool,
    channel: Instr,
    taps: Vec<Tap>,
) -> Result<Vec<Instr>> {
    let [oc, oh, ow] = out.shape;
    let sx = lane_stride(pool.stride[1], ow)?;
    let groups = ow.div_ceil(cfg.lanes / sx);
    let (inb, outb) = (bytes(cfg, input), bytes(cfg, out));
    ensure!(
        taps.len() <= shape::BATCH_TAPS_MAX,
        "a window of {} elements; a batch holds {}",
        taps.len(),
        shape::BATCH_TAPS_MAX
    );
    let walk = Walk {
        rows: oh,
        groups,
        in_row: pool.stride[0] as i64 * inb.row,
        out_row: outb.row,
        out_base: outb.base,
        out_channel: outb.channel,
        group_bytes: (cfg.lanes / sx) as i64,
        in_channel: inb.channel,
        y_start: -(pool.pad[0] as i64),
        x_start: -(pool.pad[1] as i64),
        in_shape: input.shape,
        mode: mode(
            crate::arith::LaneMode::Exact,
            max,
            sx == 2,
            pool.stride[0].max(1),
            out_kind(kind),
            shape::TABLE_SLOTS,
        )?,
    };
    let mut code = walk.sets()?;
    code.extend([
        Instr::Repeat(oc),
        channel,
        Instr::Batch { last: true, taps },
    ]);
    Ok(code)
}

/// The taps of a pooling window: weight 1 on every element, one table.
fn window_taps(cfg: &AccelConfig, input: &MapPlace, pool: &Pool) -> Result<Vec<Tap>> {
    let [kh, kw] = pool.kernel;
    ensure!(
        kh <= shape::KERNEL_MAX && kw <= shape::KERNEL_MAX,
        "pooling window {kh}x{kw} is larger than the engine's {0}x{0}",
        shape::KERNEL_MAX
    );
    let inb = bytes(cfg, input);
    let mut taps = Vec::with_capacity(kh * kw);
    for ky in 0..kh {
        for kx in 0..kw {
            taps.push(Tap {
                offset: offset(
                    inb.base + (ky as i64 - pool.pad[0] as i64) * inb.row + kx as i64
                        - pool.pad[1] as i64,
                ),
                weight: 1,
                ky: ky as u8,
                kx: kx as u8,
                reuse: !taps.is_empty(),
            });
        }
    }
    Ok(taps)
}

/// Compiles `model` under `plan` for the engine.
pub fn compile(cfg: &AccelConfig, model: &crate::Model, plan: &crate::Plan) -> Result<Compiled> {
    let schemes = plan.resolve(model)?;
    let (places, high) = place(cfg, model)?;
    let mut layers = Vec::new();
    for (i, l) in model.layers.iter().enumerate() {
        let t = i + 1;
        let kind = model.tensors[t].kind;
        let (input, out) = (&places[l.inputs[0]], &places[t]);
        let at = |e: anyhow::Error| anyhow!("layer '{}': {e}", l.name);
        let instrs = match &l.op {
            Op::Conv(c) | Op::Linear(c) => conv_layer(
                cfg,
                c,
                schemes[i].context("conv layers have a scheme")?,
                input,
                out,
                kind,
            )
            .map_err(at)?,
            Op::MaxPool(p) | Op::AvgPool { pool: p, .. } => {
                let (max, q) = match &l.op {
                    Op::AvgPool { requant, .. } => (false, *requant),
                    _ => (true, Requant { mult: 1, shift: 0 }),
                };
                let taps = window_taps(cfg, input, p).map_err(at)?;
                let channel = Instr::Channel {
                    shift: q.shift,
                    mult: q.mult,
                    bias: 0,
                };
                depthwise_layer(cfg, input, out, kind, *p, max, channel, taps).map_err(at)?
            }
            Op::Add {
                mult_a,
                mult_b,
                shift,
            } => {
                let b = &places[l.inputs[1]];
                ensure!(
                    b.shape == input.shape && b.row_words == input.row_words,
                    "layer '{}': add inputs of different layouts",
                    l.name
                );
                let signed = |t: usize| model.tensors[t].kind == TensorKind::I8;
                let offsets = -128
                    * (*mult_a as i64 * signed(l.inputs[0]) as i64
                        + *mult_b as i64 * signed(l.inputs[1]) as i64);
                let tap = |p: &MapPlace, m: u32, reuse: bool| Tap {
                    offset: offset(bytes(cfg, p).base),
                    weight: m as i16,
                    ky: 0,
                    kx: 0,
                    reuse,
                };
                let taps = vec![
                    tap(input, *mult_a, false),
                    tap(b, *mult_b, mult_a == mult_b),
                ];
                let channel = Instr::Channel {
                    shift: *shift,
                    mult: 1,
                    bias: offsets as i32,
                };
                let one = Pool {
                    kernel: [1, 1],
                    stride: [1, 1],
                    pad: [0; 4],
                };
                depthwise_layer(cfg, input, out, kind, one, false, channel, taps).map_err(at)?
            }
            Op::Concat => continue,
        };
        layers.push(LayerCode {
            layer: i,
            name: l.name.clone(),
            instrs,
        });
    }
    Ok(Compiled {
        config: *cfg,
        places,
        layers,
        bank_words_used: high,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap(weight: i16) -> Tap {
        Tap {
            offset: 0,
            weight,
            ky: 0,
            kx: 0,
            reuse: false,
        }
    }

    /// Batches hold at most their tables and taps, only the first is short, equal magnitudes
    /// share a table, and every tap is kept.
    #[test]
    fn taps_are_batched_by_tables() {
        let weights: Vec<i16> = vec![5, -5, 7, 9, 9, -9, 11, 13, 200, -3, 3, 1];
        let code = batches(weights.iter().map(|&w| tap(w)).collect(), 4);
        let mut seen = Vec::new();
        for (i, b) in code.iter().enumerate() {
            let Instr::Batch { last, taps } = b else {
                panic!("not a batch")
            };
            assert_eq!(*last, i + 1 == code.len());
            let tables = taps.iter().filter(|t| !t.reuse).count();
            assert!(tables <= 4 && !taps[0].reuse);
            if i > 0 {
                assert_eq!(tables, 4, "only the first batch is short");
            }
            for k in 1..taps.len() {
                assert_eq!(taps[k].reuse, taps[k].weight == taps[k - 1].weight);
            }
            seen.extend(taps.iter().map(|t| t.weight));
        }
        seen.sort();
        let mut want = weights.clone();
        want.sort();
        assert_eq!(seen, want);
        // 12 taps of 11 weights: three batches (3 + 4 + 4 tables), still three with a 12th weight, four
        // with a 13th.
        assert_eq!(code.len(), 3);
        let mut more: Vec<Tap> = weights.iter().map(|&w| tap(w)).collect();
        more.push(tap(-100));
        assert_eq!(batches(more.clone(), 4).len(), 3);
        more.push(tap(-101));
        assert_eq!(batches(more, 4).len(), 4);
    }
}

/// Whole zoo models through the compiler and the reference engine, against the golden engine.
#[cfg(test)]
mod zoo {
    use super::*;
    use crate::arith::Scheme;
    use crate::engine::Engine;
    use crate::{Model, Plan};
    use std::path::Path;

    fn root() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    fn sample() -> crate::cifar::Dataset {
        let bytes = std::fs::read(root().join("data/cifar10-sample/test_batch.bin")).unwrap();
        crate::cifar::Dataset::parse_batch(&bytes, "sample").unwrap()
    }

    /// Every image's logits from the instruction stream equal the golden engine's.
    fn check(name: &str, lanes: usize, plan: &dyn Fn(&Model) -> Plan, images: usize) {
        let model = Model::load(&root().join("models").join(name)).unwrap();
        let plan = plan(&model);
        let cfg = AccelConfig::new(lanes).unwrap();
        let compiled = compile(&cfg, &model, &plan).unwrap();
        let golden = Engine::new(&model, &plan).unwrap();
        let data = sample();
        for i in 0..images {
            let mut machine = Machine::new(lanes);
            let got = compiled.run(&mut machine, data.image(i)).unwrap();
            assert_eq!(
                got,
                golden.run(data.image(i)),
                "{name}, {lanes} lanes, image {i}"
            );
        }
    }

    fn lutna(_: &Model) -> Plan {
        Plan::uniform(Scheme::LUTNA)
    }

    fn mixed(m: &Model) -> Plan {
        Plan::rotating(m, &[Scheme::LUTNA, Scheme::ALUTNA_C, Scheme::ALUTNA])
    }

    #[test]
    fn icebreaker_runs_bit_exact_on_8_and_4_lanes() {
        check("icebreaker-w0.5.lutna", 8, &lutna, 4);
        check("icebreaker-w0.5.lutna", 8, &mixed, 4);
        check("icebreaker-w0.5.lutna", 4, &mixed, 2);
    }

    #[test]
    fn vgg_runs_bit_exact() {
        check("vgg11-w0.25.lutna", 8, &mixed, 2);
        check("vgg19-w0.25.lutna", 8, &lutna, 1);
    }

    #[test]
    fn residual_models_run_bit_exact() {
        check("resnet18-w0.25.lutna", 8, &mixed, 2);
        check("icebreaker-r20-w1.lutna", 8, &lutna, 1);
        check("resnet34-w0.25.lutna", 4, &mixed, 1);
    }
}

#[cfg(test)]
mod size {
    use super::*;
    use crate::arith::Scheme;
    use crate::{Model, Plan};

    /// The instruction stream is no longer on the wire than the descriptor-and-batch program
    /// of the first engine (a board without room for the whole program receives it for every
    /// image), model by model and over the zoo. The first engine's program words, LUT-NA at 8
    /// lanes, were measured with its compiler before it was removed (2026-12-07, docs/engine.md);
    /// icebreaker-r20-w1 has been retrained since, so it is not among them.
    #[test]
    fn programs_are_no_larger_than_the_descriptor_format() {
        const DESCRIPTOR_PROGRAM_WORDS: [(&str, usize); 5] = [
            ("icebreaker-w0.5", 5_427),
            ("vgg11-w0.25", 16_294),
            ("vgg19-w0.25", 29_386),
            ("resnet18-w0.25", 19_132),
            ("resnet34-w0.25", 35_921),
        ];
        let (mut new_total, mut old_total) = (0, 0);
        for (name, old) in DESCRIPTOR_PROGRAM_WORDS {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../models")
                .join(format!("{name}.lutna"));
            let model = Model::load(&path).unwrap();
            let plan = Plan::uniform(Scheme::LUTNA);
            let cfg = AccelConfig::new(8).unwrap();
            let new = compile(&cfg, &model, &plan).unwrap().words().len();
            println!(
                "{name}: {} bytes, descriptor format {} bytes",
                2 * new,
                2 * old
            );
            assert!(new <= old, "{name}: {new} words against {old}");
            new_total += new;
            old_total += old;
        }
        assert!(
            new_total <= old_total,
            "{new_total} words against {old_total}"
        );
    }
}
