//! Where the maps live: the activation memory's layout, and where every tensor of a model goes
//! in it ([`place`]), shared by the compiler (`crate::compile`), `lutna run` (the image's upload,
//! the mismatch diagnosis) and the tests. Also the lane mode a scheme runs in ([`lane_mode`]).
//!
//! Activation banks: the memory is seen as `lanes` byte-wide banks, so P neighbouring bytes of a
//! row are P lanes' inputs. Element (c, y, x) of a map lives in bank `x % lanes` at
//! `base + c * channel_words + y * row_words + x / lanes`, with `row_words = ceil(width /
//! lanes)`; LOAD and READ address byte `word * lanes + bank`.

use crate::arith::{LaneMode, Scheme};
use crate::model::TensorKind;
use anyhow::{bail, ensure, Result};

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
        })
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

#[cfg(test)]
mod tests {
    use super::*;

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
                for j in 0..crate::isa::shape::TABLE_ENTRIES as u32 {
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
