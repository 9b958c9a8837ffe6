//! The one definition of lutna's arithmetic: number formats, the LUT scheme family and the
//! requantization rule. The golden engine, the hardware generators and the tests all call into
//! this module; nothing else may restate these rules. `docs/arithmetic.md` explains the choices.

use std::fmt;
use std::str::FromStr;

/// Largest weight magnitude: weights are 9-bit sign + magnitude, so -255..=255.
pub const WEIGHT_MAX: i16 = 255;
/// Bits of an activation (unsigned, 0..=255 after ReLU).
pub const ACT_BITS: u32 = 8;
/// Requantization multipliers are below `1 << MULT_BITS`, so one operand of the hardware's
/// multiplier fits a signed 16-bit SB_MAC16 port.
pub const MULT_BITS: u32 = 15;
/// Largest rounding shift a requantizer may use.
pub const SHIFT_MAX: u32 = 47;
/// Largest multiplier of a residual add's input. The accelerator runs an add on its lanes, as a
/// 1x1 convolution with two taps per output channel whose weights are the two multipliers, so
/// they are weights: magnitudes of at most [`WEIGHT_MAX`] (docs/arithmetic.md, "Requantization").
pub const ADD_MULT_MAX: u32 = WEIGHT_MAX as u32;

/// A 9-bit sign + magnitude weight in its hardware form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weight9 {
    pub negative: bool,
    pub magnitude: u8,
}

impl Weight9 {
    /// Splits a weight in -255..=255; anything else is a caller bug.
    pub fn new(w: i16) -> Self {
        assert!(
            (-WEIGHT_MAX..=WEIGHT_MAX).contains(&w),
            "weight {w} is outside the 9-bit range -255..=255"
        );
        Weight9 {
            negative: w < 0,
            magnitude: w.unsigned_abs() as u8,
        }
    }

    pub fn value(self) -> i16 {
        if self.negative {
            -(self.magnitude as i16)
        } else {
            self.magnitude as i16
        }
    }
}

/// How the chunks below the kept ones are accounted for in an approximate scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// The dropped low bits count as zero (biased towards zero by half their range).
    Truncate,
    /// The dropped low bits count as the middle of their range: the lowest kept chunk's table
    /// holds `|w| * (2j + 1)` and is read shifted one place less, which adds `|w| << (D - 1)`.
    Centred,
}

/// One scheme of the LUT family: the activation is cut into `chunk_bits`-wide chunks, the lowest
/// `dropped` chunks are not looked up, and each kept chunk reads a table of the weight's multiples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LutScheme {
    pub chunk_bits: u32,
    pub dropped: u32,
    pub rounding: Rounding,
}

/// A way to compute `a * w`. `Exact` is the reference; every `Lut` scheme with nothing dropped is
/// bit-identical to it (proved exhaustively in the tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    Exact,
    Lut(LutScheme),
}

/// One table read of a LUT scheme: which table, which activation chunk addresses it, and how far
/// the entry is shifted left before it is added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRead {
    pub table: usize,
    pub chunk: u32,
    pub shift: u32,
}

impl LutScheme {
    pub fn new(chunk_bits: u32, dropped: u32, rounding: Rounding) -> Result<Self, String> {
        if ![1, 2, 4, 8].contains(&chunk_bits) {
            return Err(format!(
                "chunk width {chunk_bits} is not supported: use 1, 2, 4 or 8 bits"
            ));
        }
        let chunks = ACT_BITS / chunk_bits;
        if dropped >= chunks {
            return Err(format!(
                "dropping {dropped} of {chunks} chunks leaves nothing to look up"
            ));
        }
        Ok(LutScheme {
            chunk_bits,
            dropped,
            rounding: if dropped == 0 {
                Rounding::Truncate
            } else {
                rounding
            },
        })
    }

    pub fn chunks(&self) -> u32 {
        ACT_BITS / self.chunk_bits
    }

    /// Entries per table: one per value of a chunk.
    pub fn table_len(&self) -> usize {
        1 << self.chunk_bits
    }

    /// Bits dropped from the bottom of the activation.
    pub fn dropped_bits(&self) -> u32 {
        self.dropped * self.chunk_bits
    }

    fn centred(&self) -> bool {
        self.dropped > 0 && self.rounding == Rounding::Centred
    }

    /// Number of distinct tables a bank holds per weight: the multiples table, plus the odd-multiples
    /// table of a centred scheme when chunks above the lowest kept one still need the plain one.
    pub fn table_count(&self) -> usize {
        if !self.centred() {
            1
        } else if self.dropped + 1 < self.chunks() {
            2
        } else {
            1
        }
    }

    /// Entry `j` of table `t` for weight magnitude `m`. Table 0 holds `m * j`; in a centred scheme
    /// the odd-multiples table `m * (2j + 1)` is table 1 (or table 0 when it is the only one).
    pub fn table_entry(&self, table: usize, magnitude: u8, j: u32) -> u32 {
        let m = magnitude as u32;
        let odd = self.centred() && (table == 1 || self.table_count() == 1);
        if odd {
            m * (2 * j + 1)
        } else {
            m * j
        }
    }

    /// Table `table` as an affine rule per unit of magnitude: entry `j` for magnitude `m` is
    /// `m * (base + step * j)`, returned as `(base, step)`. Hardware table programmers fill a bank
    /// with an adder chain from these two numbers instead of restating the table rule.
    pub fn table_affine(&self, table: usize) -> (u32, u32) {
        let base = self.table_entry(table, 1, 0);
        (base, self.table_entry(table, 1, 1) - base)
    }

    /// The contents of every table a LUT bank holds for one weight magnitude, in table order.
    /// Hardware generators write exactly these words.
    pub fn tables(&self, magnitude: u8) -> Vec<Vec<u32>> {
        (0..self.table_count())
            .map(|t| {
                (0..self.table_len() as u32)
                    .map(|j| self.table_entry(t, magnitude, j))
                    .collect()
            })
            .collect()
    }

    /// The reads a sub-MAC lane performs, lowest chunk first.
    pub fn reads(&self) -> Vec<ChunkRead> {
        let k = self.chunk_bits;
        (self.dropped..self.chunks())
            .map(|chunk| {
                if self.centred() && chunk == self.dropped {
                    ChunkRead {
                        table: if self.table_count() == 2 { 1 } else { 0 },
                        chunk,
                        shift: k * chunk - 1,
                    }
                } else {
                    ChunkRead {
                        table: 0,
                        chunk,
                        shift: k * chunk,
                    }
                }
            })
            .collect()
    }

    /// Chunk `i` of activation `a`.
    pub fn chunk_of(&self, a: u8, chunk: u32) -> u32 {
        ((a as u32) >> (chunk * self.chunk_bits)) & ((1 << self.chunk_bits) - 1)
    }

    /// The unsigned partial product `|w| * a` as the lane's reads and adders form it.
    pub fn magnitude_product(&self, a: u8, magnitude: u8) -> u32 {
        self.reads()
            .iter()
            .map(|r| self.table_entry(r.table, magnitude, self.chunk_of(a, r.chunk)) << r.shift)
            .sum()
    }
}

impl Scheme {
    pub const LUTNA: Scheme = Scheme::Lut(LutScheme {
        chunk_bits: 4,
        dropped: 0,
        rounding: Rounding::Truncate,
    });
    pub const ALUTNA: Scheme = Scheme::Lut(LutScheme {
        chunk_bits: 4,
        dropped: 1,
        rounding: Rounding::Truncate,
    });
    pub const ALUTNA_C: Scheme = Scheme::Lut(LutScheme {
        chunk_bits: 4,
        dropped: 1,
        rounding: Rounding::Centred,
    });
    pub const TLUT: Scheme = Scheme::Lut(LutScheme {
        chunk_bits: 8,
        dropped: 0,
        rounding: Rounding::Truncate,
    });

    /// The product `a * w` as this scheme computes it.
    pub fn product(&self, a: u8, w: i16) -> i32 {
        match self {
            Scheme::Exact => a as i32 * w as i32,
            Scheme::Lut(s) => {
                let w9 = Weight9::new(w);
                let p = s.magnitude_product(a, w9.magnitude) as i32;
                if w9.negative {
                    -p
                } else {
                    p
                }
            }
        }
    }

    /// True when the scheme is proved bit-identical to `exact` (no chunk dropped).
    pub fn is_exact(&self) -> bool {
        match self {
            Scheme::Exact => true,
            Scheme::Lut(s) => s.dropped == 0,
        }
    }

    /// The names `--scheme` accepts, for help texts and errors.
    pub const NAMES: &'static str = "exact, tlut, lutna, lutna-k2, lutna-k1, alutna, alutna-c, \
         alutna-k2, alutna-c-k2, or the general form lut-k<K>-d<D>[-c]";
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scheme::Exact => write!(f, "exact"),
            Scheme::Lut(s) => {
                let centred = s.dropped > 0 && s.rounding == Rounding::Centred;
                match (s.chunk_bits, s.dropped, centred) {
                    (8, 0, _) => write!(f, "tlut"),
                    (4, 0, _) => write!(f, "lutna"),
                    (k, 0, _) => write!(f, "lutna-k{k}"),
                    (4, 1, false) => write!(f, "alutna"),
                    (4, 1, true) => write!(f, "alutna-c"),
                    (k, 1, false) => write!(f, "alutna-k{k}"),
                    (k, 1, true) => write!(f, "alutna-c-k{k}"),
                    (k, d, c) => write!(f, "lut-k{k}-d{d}{}", if c { "-c" } else { "" }),
                }
            }
        }
    }
}

impl FromStr for Scheme {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("unknown scheme '{s}': use one of {}", Scheme::NAMES);
        let lut = |k, d, r| LutScheme::new(k, d, r).map(Scheme::Lut);
        let k_of = |t: &str| -> Result<u32, String> {
            t.strip_prefix('k')
                .and_then(|v| v.parse().ok())
                .ok_or_else(bad)
        };
        let parts: Vec<&str> = s.split('-').collect();
        match parts.as_slice() {
            ["exact"] => Ok(Scheme::Exact),
            ["tlut"] => lut(8, 0, Rounding::Truncate),
            ["lutna"] => lut(4, 0, Rounding::Truncate),
            ["lutna", k] => lut(k_of(k)?, 0, Rounding::Truncate),
            ["alutna"] => lut(4, 1, Rounding::Truncate),
            ["alutna", "c"] => lut(4, 1, Rounding::Centred),
            ["alutna", "c", k] => lut(k_of(k)?, 1, Rounding::Centred),
            ["alutna", k] => lut(k_of(k)?, 1, Rounding::Truncate),
            ["lut", k, d, rest @ ..] => {
                let d: u32 = d
                    .strip_prefix('d')
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(bad)?;
                let r = match rest {
                    [] => Rounding::Truncate,
                    ["c"] => Rounding::Centred,
                    _ => return Err(bad()),
                };
                lut(k_of(k)?, d, r)
            }
            _ => Err(bad()),
        }
    }
}

impl serde::Serialize for Scheme {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Scheme {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The runtime mode of a 4-bit-chunk sub-MAC lane, the value of its `mode` input (and of the
/// per-layer mode register the host writes). One bitstream runs all three; the host also loads the
/// bank with the scheme's [`LutScheme::tables`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneMode {
    /// Both nibbles looked up: LUT-NA, bit-identical to `exact`.
    Exact = 0,
    /// Low nibble dropped: A-LUT-NA, truncating.
    Truncate = 1,
    /// Low nibble dropped, odd-multiples table: A-LUT-NA, centred.
    Centred = 2,
}

impl LaneMode {
    /// The lane mode that runs `scheme` on a lane with `chunk_bits`-wide chunks, if one does.
    pub fn for_scheme(scheme: Scheme, chunk_bits: u32) -> Option<LaneMode> {
        let Scheme::Lut(s) = scheme else {
            return None;
        };
        if s.chunk_bits != chunk_bits || s.chunks() != 2 {
            return None;
        }
        match (s.dropped, s.rounding) {
            (0, _) => Some(LaneMode::Exact),
            (1, Rounding::Truncate) => Some(LaneMode::Truncate),
            (1, Rounding::Centred) => Some(LaneMode::Centred),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    /// The scheme this mode computes (the inverse of [`LaneMode::for_scheme`] for 4-bit chunks).
    pub fn scheme(self) -> Scheme {
        match self {
            LaneMode::Exact => Scheme::LUTNA,
            LaneMode::Truncate => Scheme::ALUTNA,
            LaneMode::Centred => Scheme::ALUTNA_C,
        }
    }

    pub const ALL: [LaneMode; 3] = [LaneMode::Exact, LaneMode::Truncate, LaneMode::Centred];
}

/// How the instruction-stream engine's lanes form every lane mode's product from one table: the
/// signed weight's multiples `w * j` ([`lane_entry`], j = 0..15) read twice, at the activation's
/// high nibble (shifted by [`LANE_HIGH_SHIFT`]) and at [`LaneMode::low_read`], and added.
/// LUT-NA reads the low nibble; truncating A-LUT-NA reads entry 0 (`0`); centred A-LUT-NA reads
/// entry 8 (`8 w`, half a high-nibble step), since `w * (2 h + 1) * 8 = w * h * 16 + w * 8`. So
/// the table does not depend on the mode and the lane has no mode multiplexer; the identity is
/// checked against [`Scheme::product`] for every mode, weight and activation (tests below).
pub const LANE_HIGH_SHIFT: u32 = 4;
/// Bits of a lane table entry, two's complement: `|w * 15| <= 3,825 < 2^12`.
pub const LANE_ENTRY_BITS: u32 = 13;

/// Entry `j` of a lane table: `w * j`.
pub fn lane_entry(w: i16, j: u32) -> i32 {
    w as i32 * j as i32
}

impl LaneMode {
    /// The entry a lane reads for the low nibble of activation `a` in this mode.
    pub fn low_read(self, a: u8) -> u32 {
        match self {
            LaneMode::Exact => a as u32 & 15,
            LaneMode::Truncate => 0,
            LaneMode::Centred => 8,
        }
    }

    /// The product as the lane forms it from its table.
    pub fn lane_product(self, a: u8, w: i16) -> i32 {
        lane_entry(w, self.low_read(a)) + (lane_entry(w, a as u32 >> 4) << LANE_HIGH_SHIFT)
    }
}

/// All 256 x 511 products of a scheme, indexed `[(w + 255) * 256 + a]`: what the golden engine
/// reads per MAC, built from [`Scheme::product`] so it cannot disagree with it.
pub struct ProductTable {
    entries: Vec<i32>,
    nibbles: Vec<Option<NibbleSplit>>,
}

/// The 256 products of one weight rewritten as `sign * (low[a & 15] + high[a >> 4])` with 16-bit
/// magnitudes, stored as byte planes for a SIMD byte-shuffle lookup. It is only a layout of the
/// product row: [`NibbleSplit::of`] derives it from the row and keeps it only after checking all
/// 256 entries, so it can never disagree with [`Scheme::product`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NibbleSplit {
    pub negative: bool,
    pub low_lo: [u8; 16],
    pub low_hi: [u8; 16],
    pub high_lo: [u8; 16],
    pub high_hi: [u8; 16],
}

impl NibbleSplit {
    /// The split of a product row, or None when the row is not separable by nibbles or does not
    /// fit 16-bit magnitudes of one sign.
    pub fn of(row: &[i32; 256]) -> Option<NibbleSplit> {
        let negative = row.iter().any(|&p| p < 0);
        let mag = |p: i32| if negative { -p } else { p };
        let low: Vec<i32> = (0..16).map(|j| mag(row[j])).collect();
        let high: Vec<i32> = (0..16).map(|j| mag(row[j << 4]) - mag(row[0])).collect();
        let fits = |v: &i32| (0..=0xFFFF).contains(v);
        if !low.iter().all(fits) || !high.iter().all(fits) {
            return None;
        }
        for (a, &p) in row.iter().enumerate() {
            let m = mag(p);
            if !fits(&m) || m != low[a & 15] + high[a >> 4] {
                return None;
            }
        }
        let plane =
            |v: &[i32], shift: u32| -> [u8; 16] { std::array::from_fn(|j| (v[j] >> shift) as u8) };
        Some(NibbleSplit {
            negative,
            low_lo: plane(&low, 0),
            low_hi: plane(&low, 8),
            high_lo: plane(&high, 0),
            high_hi: plane(&high, 8),
        })
    }
}

impl ProductTable {
    pub fn new(scheme: Scheme) -> Self {
        let mut entries = Vec::with_capacity(511 * 256);
        for w in -WEIGHT_MAX..=WEIGHT_MAX {
            for a in 0..=255u8 {
                entries.push(scheme.product(a, w));
            }
        }
        let nibbles = entries
            .chunks_exact(256)
            .map(|r| NibbleSplit::of(r.try_into().unwrap()))
            .collect();
        ProductTable { entries, nibbles }
    }

    /// The nibble-split layout of one weight's row, when it has one.
    #[inline]
    pub fn nibbles(&self, w: i16) -> Option<&NibbleSplit> {
        self.nibbles[(w + WEIGHT_MAX) as usize].as_ref()
    }

    /// The 256 products of one weight, indexed by activation.
    #[inline]
    pub fn row(&self, w: i16) -> &[i32; 256] {
        let start = (w + WEIGHT_MAX) as usize * 256;
        self.entries[start..start + 256].try_into().unwrap()
    }
}

/// The one rounding rule: add half of the last dropped place, shift right arithmetically (round
/// half up), then clamp to `[lo, hi]`. ReLU is the clamp at `lo = 0`.
#[inline]
pub fn round_shift_clamp(x: i64, shift: u32, lo: i32, hi: i32) -> i32 {
    let r = if shift == 0 {
        x
    } else {
        (x + (1i64 << (shift - 1))) >> shift
    };
    r.clamp(lo as i64, hi as i64) as i32
}

/// What a requantized tensor holds: u8 after ReLU, or i8 for a pre-activation that only feeds a
/// residual add.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ActKind {
    U8,
    I8,
}

impl ActKind {
    pub fn range(self) -> (i32, i32) {
        match self {
            ActKind::U8 => (0, 255),
            ActKind::I8 => (-128, 127),
        }
    }
}

/// A fixed-point multiplier `mult / 2^shift` with `mult < 2^15`: the requantizer of one output
/// channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Requant {
    pub mult: u32,
    pub shift: u32,
}

impl Requant {
    /// The closest representable multiplier to `real` (> 0), using as many of the 15 multiplier
    /// bits as the shift range allows.
    pub fn from_real(real: f64) -> Result<Self, String> {
        if !(real.is_finite() && real > 0.0) {
            return Err(format!(
                "requantization factor {real} is not a positive number"
            ));
        }
        let limit = (1u64 << MULT_BITS) as f64;
        if real >= limit {
            return Err(format!(
                "requantization factor {real} is too large (limit {limit}); the layer's scales are inconsistent"
            ));
        }
        let mut shift = 0u32;
        while shift < SHIFT_MAX && real * ((1u64 << (shift + 1)) as f64) < limit {
            shift += 1;
        }
        let mut mult = (real * (1u64 << shift) as f64).round() as u64;
        if mult >= 1 << MULT_BITS {
            mult >>= 1;
            shift -= 1;
        }
        Ok(Requant {
            mult: mult.max(1) as u32,
            shift,
        })
    }

    pub fn real(&self) -> f64 {
        self.mult as f64 / (1u64 << self.shift) as f64
    }

    /// Accumulator to activation: multiply, round-shift, clamp to the output kind's range.
    #[inline]
    pub fn apply(&self, acc: i32, kind: ActKind) -> i32 {
        let (lo, hi) = kind.range();
        round_shift_clamp(acc as i64 * self.mult as i64, self.shift, lo, hi)
    }
}

/// A residual add's multipliers for the real factors `a` and `b` (the inputs' scales over
/// the output's): the largest shift at which the larger factor still rounds to at most
/// [`ADD_MULT_MAX`], so the two multipliers keep 8 significant bits between them. Returns
/// `(mult_a, mult_b, shift)`; a factor too small to register at that shift still gets
/// multiplier 1, as [`Requant::from_real`] does.
pub fn add_multipliers(a: f64, b: f64) -> Result<(u32, u32, u32), String> {
    for r in [a, b] {
        if !(r.is_finite() && r > 0.0) {
            return Err(format!("residual add factor {r} is not a positive number"));
        }
    }
    let big = a.max(b);
    if big.round() > ADD_MULT_MAX as f64 {
        return Err(format!(
            "residual add factor {big} is too large (limit {ADD_MULT_MAX}); the scales of \
             its inputs and output are inconsistent"
        ));
    }
    let mut shift = 0u32;
    while shift < SHIFT_MAX && (big * (1u64 << (shift + 1)) as f64).round() <= ADD_MULT_MAX as f64 {
        shift += 1;
    }
    let k = (1u64 << shift) as f64;
    let m = |r: f64| ((r * k).round() as u32).clamp(1, ADD_MULT_MAX);
    Ok((m(a), m(b), shift))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_pairs() -> impl Iterator<Item = (u8, i16)> {
        (-WEIGHT_MAX..=WEIGHT_MAX).flat_map(|w| (0..=255u8).map(move |a| (a, w)))
    }

    #[test]
    fn exact_schemes_equal_multiplication_for_every_pair() {
        for name in ["tlut", "lutna", "lutna-k2", "lutna-k1"] {
            let s: Scheme = name.parse().unwrap();
            assert!(s.is_exact());
            let mut checked = 0;
            for (a, w) in all_pairs() {
                assert_eq!(s.product(a, w), a as i32 * w as i32, "{name}: a={a} w={w}");
                checked += 1;
            }
            assert_eq!(checked, 256 * 511);
        }
    }

    /// Error of an approximate scheme over all (a, w): (min, max, mean).
    fn error_stats(s: Scheme) -> (i32, i32, f64) {
        let (mut lo, mut hi, mut sum) = (i32::MAX, i32::MIN, 0i64);
        for (a, w) in all_pairs() {
            let e = s.product(a, w) - a as i32 * w as i32;
            lo = lo.min(e);
            hi = hi.max(e);
            sum += e as i64;
        }
        (lo, hi, sum as f64 / (256.0 * 511.0))
    }

    /// Error relative to |w|, signed so that positive means the magnitude came out too large.
    fn magnitude_error_bounds(s: LutScheme) -> (i32, i32, f64) {
        let (mut lo, mut hi, mut sum) = (i32::MAX, i32::MIN, 0i64);
        for m in 1..=255u8 {
            for a in 0..=255u8 {
                let e = s.magnitude_product(a, m) as i32 - a as i32 * m as i32;
                // every error is a multiple of |w|: divide it out to get the activation error
                assert_eq!(e % m as i32, 0);
                let ea = e / m as i32;
                lo = lo.min(ea);
                hi = hi.max(ea);
                sum += ea as i64;
            }
        }
        (lo, hi, sum as f64 / (255.0 * 256.0))
    }

    #[test]
    fn alutna_truncating_error_bounds() {
        let Scheme::Lut(s) = Scheme::ALUTNA else {
            unreachable!()
        };
        // Dropping the low nibble: the activation loses 0..=15, on average 7.5.
        let (lo, hi, mean) = magnitude_error_bounds(s);
        assert_eq!((lo, hi), (-15, 0));
        assert!((mean + 7.5).abs() < 1e-9, "mean {mean}");
        let (elo, ehi, emean) = error_stats(Scheme::ALUTNA);
        assert_eq!((elo, ehi), (-15 * 255, 15 * 255));
        assert!(
            emean.abs() < 1e-9,
            "signed weights cancel the bias: {emean}"
        );
    }

    #[test]
    fn alutna_centred_error_bounds() {
        let Scheme::Lut(s) = Scheme::ALUTNA_C else {
            unreachable!()
        };
        // Dropped nibble counted as 8: the activation error is 8 - low nibble, in -7..=8,
        // mean +0.5 (against -7.5 when truncating).
        let (lo, hi, mean) = magnitude_error_bounds(s);
        assert_eq!((lo, hi), (-7, 8));
        assert!((mean - 0.5).abs() < 1e-9, "mean {mean}");
        let (elo, ehi, _) = error_stats(Scheme::ALUTNA_C);
        assert_eq!((elo, ehi), (-8 * 255, 8 * 255));
    }

    #[test]
    fn approximate_k2_and_k1_bounds() {
        for (name, lo, hi, mean) in [
            ("alutna-k2", -3, 0, -1.5),
            ("alutna-c-k2", -1, 2, 0.5),
            ("lut-k1-d3", -7, 0, -3.5),
            ("lut-k1-d3-c", -3, 4, 0.5),
        ] {
            let Scheme::Lut(s) = name.parse::<Scheme>().unwrap() else {
                unreachable!()
            };
            let got = magnitude_error_bounds(s);
            assert_eq!((got.0, got.1), (lo, hi), "{name}");
            assert!((got.2 - mean).abs() < 1e-9, "{name} mean {}", got.2);
        }
    }

    #[test]
    fn tables_are_what_the_reads_address() {
        let s = LutScheme::new(4, 0, Rounding::Truncate).unwrap();
        assert_eq!(s.table_count(), 1);
        assert_eq!(s.tables(3)[0], (0..16).map(|j| 3 * j).collect::<Vec<_>>());
        assert_eq!(s.reads().len(), 2);
        let a = LutScheme::new(4, 1, Rounding::Truncate).unwrap();
        assert_eq!(a.reads().len(), 1, "A-LUT-NA reads half as often");
        let c = LutScheme::new(4, 1, Rounding::Centred).unwrap();
        assert_eq!(c.table_count(), 1);
        assert_eq!(c.tables(2)[0][0..3], [2, 6, 10]);
        let c2 = LutScheme::new(2, 1, Rounding::Centred).unwrap();
        assert_eq!(c2.table_count(), 2);
        assert_eq!(c2.reads()[0].table, 1);
        assert_eq!(c2.reads()[1].table, 0);
        let t = LutScheme::new(8, 0, Rounding::Truncate).unwrap();
        assert_eq!(t.table_len(), 256);
    }

    #[test]
    fn scheme_names_round_trip() {
        for name in [
            "exact",
            "tlut",
            "lutna",
            "lutna-k2",
            "lutna-k1",
            "alutna",
            "alutna-c",
            "alutna-k2",
            "alutna-c-k2",
            "lut-k2-d2-c",
            "lut-k1-d3",
        ] {
            let s: Scheme = name.parse().unwrap();
            assert_eq!(s.to_string(), name);
        }
        for bad in [
            "",
            "lutna-k3",
            "alutna-k8",
            "lut-k4-d2",
            "fast",
            "lut-k2-dx",
        ] {
            assert!(bad.parse::<Scheme>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn nibble_split_reproduces_every_product_row() {
        for name in [
            "exact",
            "tlut",
            "lutna",
            "lutna-k1",
            "alutna",
            "alutna-c",
            "alutna-c-k2",
        ] {
            let s: Scheme = name.parse().unwrap();
            let t = ProductTable::new(s);
            for w in -WEIGHT_MAX..=WEIGHT_MAX {
                let row = t.row(w);
                let n = t
                    .nibbles(w)
                    .unwrap_or_else(|| panic!("{name} w={w} not separable"));
                for (a, &want) in row.iter().enumerate() {
                    let (l, h) = (a & 15, a >> 4);
                    let m = n.low_lo[l] as i32
                        + ((n.low_hi[l] as i32) << 8)
                        + n.high_lo[h] as i32
                        + ((n.high_hi[h] as i32) << 8);
                    assert_eq!(if n.negative { -m } else { m }, want, "{name} w={w} a={a}");
                }
            }
        }
        // A row that is not a sum of nibble terms has no split.
        let mut odd = [0i32; 256];
        odd[0x11] = 5;
        assert!(NibbleSplit::of(&odd).is_none());
    }

    #[test]
    fn rounding_rule() {
        assert_eq!(round_shift_clamp(5, 1, -128, 127), 3); // 2.5 -> 3 (half up)
        assert_eq!(round_shift_clamp(-5, 1, -128, 127), -2); // -2.5 -> -2 (half up)
        assert_eq!(round_shift_clamp(-5, 1, 0, 255), 0); // ReLU
        assert_eq!(round_shift_clamp(1 << 20, 2, 0, 255), 255); // clamp
        assert_eq!(round_shift_clamp(7, 0, 0, 255), 7);
    }

    #[test]
    fn the_lane_forms_every_modes_product_from_one_table() {
        for mode in LaneMode::ALL {
            for (a, w) in all_pairs() {
                assert_eq!(
                    mode.lane_product(a, w),
                    mode.scheme().product(a, w),
                    "{mode:?} a={a} w={w}"
                );
            }
        }
        let half = 1i32 << (LANE_ENTRY_BITS - 1);
        for w in -WEIGHT_MAX..=WEIGHT_MAX {
            assert!((0..16).all(|j| (-half..half).contains(&lane_entry(w, j))));
        }
    }

    #[test]
    fn add_multipliers_are_weights_with_eight_significant_bits() {
        for (a, b) in [
            (1.0, 1.0),
            (0.37, 1.9),
            (3.1, 0.02),
            (0.001, 0.0007),
            (200.0, 3.0),
        ] {
            let (ma, mb, shift) = add_multipliers(a, b).unwrap();
            assert!(ma <= ADD_MULT_MAX && mb <= ADD_MULT_MAX && ma >= 1 && mb >= 1);
            let k = (1u64 << shift) as f64;
            // The larger multiplier uses the 8 bits: doubling the shift would overflow them.
            assert!(ma.max(mb) > ADD_MULT_MAX / 2, "{a} {b}: {ma} {mb} {shift}");
            for (m, r) in [(ma, a), (mb, b)] {
                if r * k >= 0.5 {
                    assert!((m as f64 - r * k).abs() <= 0.5, "{r}: {m}/2^{shift}");
                }
            }
        }
        assert!(add_multipliers(300.0, 1.0).is_err());
        assert!(add_multipliers(0.0, 1.0).is_err());
        assert!(add_multipliers(f64::NAN, 1.0).is_err());
    }

    #[test]
    fn requant_from_real_is_close_and_in_range() {
        for real in [1e-6, 3.3e-4, 0.01, 0.5, 0.999, 1.0, 7.25, 1000.0] {
            let r = Requant::from_real(real).unwrap();
            assert!(r.mult < 1 << MULT_BITS && r.mult >= 1 && r.shift <= SHIFT_MAX);
            assert!(
                (r.real() - real).abs() / real < 1e-4,
                "{real} -> {:?} = {}",
                r,
                r.real()
            );
        }
        assert!(Requant::from_real(0.0).is_err());
        assert!(Requant::from_real(f64::NAN).is_err());
        assert!(Requant::from_real(1e9).is_err());
        let r = Requant::from_real(0.25).unwrap();
        assert_eq!(r.apply(10, ActKind::U8), 3); // 2.5 rounds up
        assert_eq!(r.apply(-10, ActKind::U8), 0);
        assert_eq!(r.apply(-10, ActKind::I8), -2);
    }
}
