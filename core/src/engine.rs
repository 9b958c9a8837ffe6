//! The golden engine: bit-exact integer inference of a [`Model`] under a [`Plan`].
//!
//! Every product goes through the layer's scheme (via its [`ProductTable`], built from
//! [`Scheme::product`]), accumulators are wrapping i32 as in hardware, and requantization is
//! [`Requant::apply`] / [`round_shift_clamp`]. Zero weights are never visited: the loops walk the
//! sparse rows, weight by weight, over all output positions (the hardware's weight-broadcast order).

use crate::arith::{round_shift_clamp, NibbleSplit, ProductTable, Scheme};
use crate::cifar::{Dataset, PIXELS};
use crate::model::{Conv, Model, Op, Pool, TensorKind};
use crate::plan::Plan;
use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// One tensor of a run, as the engine (and the hardware) holds it.
#[derive(Clone, Debug, PartialEq)]
pub enum Activation {
    U8(Array3<u8>),
    I8(Array3<i8>),
    Logits(Vec<i32>),
}

impl Activation {
    /// Value at (channel, y, x) widened to i32 (logits: channel index only).
    pub fn get(&self, c: usize, y: usize, x: usize) -> i32 {
        match self {
            Activation::U8(a) => a[[c, y, x]] as i32,
            Activation::I8(a) => a[[c, y, x]] as i32,
            Activation::Logits(l) => l[c],
        }
    }

    pub fn shape(&self) -> [usize; 3] {
        match self {
            Activation::U8(a) => a.dim().into(),
            Activation::I8(a) => a.dim().into(),
            Activation::Logits(l) => [l.len(), 1, 1],
        }
    }

    fn u8(&self) -> &Array3<u8> {
        match self {
            Activation::U8(a) => a,
            _ => unreachable!("validated models feed u8 tensors to convs and pools"),
        }
    }
}

/// Zero-pads a u8 map (zero is the real value 0: activations have no zero point).
fn padded(x: &Array3<u8>, pad: [usize; 4]) -> Array3<u8> {
    let (c, h, w) = x.dim();
    let mut out = Array3::zeros((c, h + pad[0] + pad[2], w + pad[1] + pad[3]));
    out.slice_mut(ndarray::s![.., pad[0]..pad[0] + h, pad[1]..pad[1] + w])
        .assign(x);
    out
}

/// Where one weight's input pixels lie for a whole output plane: output `(oy, ox)` reads
/// `data[first + oy * pitch + ox * step]`.
#[derive(Clone, Copy, Debug)]
pub struct Taps {
    pub first: usize,
    pub pitch: usize,
    pub step: usize,
    pub width: usize,
    pub rows: usize,
}

impl Taps {
    /// Calls `f(src_row, out_row)` for each output row, `src_row` starting at the row's first tap.
    #[inline]
    pub fn for_rows<X, A>(&self, data: &[X], acc: &mut [A], mut f: impl FnMut(&[X], &mut [A])) {
        let span = (self.width - 1) * self.step + 1;
        for oy in 0..self.rows {
            let base = self.first + oy * self.pitch;
            f(
                &data[base..base + span],
                &mut acc[oy * self.width..(oy + 1) * self.width],
            );
        }
    }
}

/// The sparse weight-broadcast convolution shared by the integer and the float engine: for each
/// output channel, start from `init`, then for each nonzero weight let `mac(weight, data, taps,
/// plane)` add the weight's products with its input pixels (see [`Taps`]) into the output plane;
/// finally hand the channel's sums to `emit`.
#[allow(clippy::too_many_arguments)]
pub fn conv_sparse<X: Copy, A: Copy, W: Copy>(
    input: ArrayView3<X>,
    kernel: [usize; 2],
    stride: [usize; 2],
    out_hw: [usize; 2],
    out_ch: usize,
    row: impl Fn(usize) -> Vec<(u32, W)>,
    init: impl Fn(usize) -> A,
    mac: impl Fn(W, &[X], Taps, &mut [A]),
    mut emit: impl FnMut(usize, &[A]),
) {
    let (_, ph, pw) = input.dim();
    let data = input
        .as_slice()
        .expect("engine tensors are in standard layout");
    let [oh, ow] = out_hw;
    let [kh, kw] = kernel;
    let [sy, sx] = stride;
    let mut acc = Vec::with_capacity(oh * ow);
    for oc in 0..out_ch {
        acc.clear();
        acc.resize(oh * ow, init(oc));
        for (idx, w) in row(oc) {
            let idx = idx as usize;
            let (ic, ky, kx) = (idx / (kh * kw), (idx / kw) % kh, idx % kw);
            let taps = Taps {
                first: (ic * ph + ky) * pw + kx,
                pitch: sy * pw,
                step: sx,
                width: ow,
                rows: oh,
            };
            mac(w, data, taps, &mut acc);
        }
        emit(oc, &acc);
    }
}

/// Window reduction shared by max and average pooling over a zero-padded map.
pub fn pool_windows<X: Copy, A: Copy>(
    input: &Array3<X>,
    p: &Pool,
    zero: X,
    init: A,
    fold: impl Fn(A, X) -> A,
    mut emit: impl FnMut([usize; 3], A),
) {
    let (c, h, w) = input.dim();
    let oh = crate::model::window_out(h, p.kernel[0], p.stride[0], p.pad[0], p.pad[2]);
    let ow = crate::model::window_out(w, p.kernel[1], p.stride[1], p.pad[1], p.pad[3]);
    for ch in 0..c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut a = init;
                for ky in 0..p.kernel[0] {
                    for kx in 0..p.kernel[1] {
                        let y = (oy * p.stride[0] + ky) as isize - p.pad[0] as isize;
                        let x = (ox * p.stride[1] + kx) as isize - p.pad[1] as isize;
                        let v = if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
                            zero
                        } else {
                            input[[ch, y as usize, x as usize]]
                        };
                        a = fold(a, v);
                    }
                }
                emit([ch, oy, ox], a);
            }
        }
    }
}

/// A model bound to a plan, ready to run images.
pub struct Engine<'m> {
    model: &'m Model,
    tables: Vec<Option<Arc<ProductTable>>>,
    schemes: Vec<Option<Scheme>>,
    /// Whether the byte-shuffle path may be used (SSSE3 detected at run time).
    simd: bool,
}

/// Adds one weight's products with 16 activations per step: each activation's two nibbles index
/// the weight's [`NibbleSplit`] byte planes with a byte shuffle, the halves are joined to 16-bit
/// magnitudes, widened and added to (or, for a negative weight, subtracted from) the i32
/// accumulators with wrapping arithmetic, exactly as the scalar `row[a]` loop would.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "ssse3")]
unsafe fn nibble_mac_ssse3(n: &NibbleSplit, data: &[u8], taps: Taps, plane: &mut [i32]) {
    use std::arch::x86_64::*;
    let ll = _mm_loadu_si128(n.low_lo.as_ptr() as *const __m128i);
    let lh = _mm_loadu_si128(n.low_hi.as_ptr() as *const __m128i);
    let hl = _mm_loadu_si128(n.high_lo.as_ptr() as *const __m128i);
    let hh = _mm_loadu_si128(n.high_hi.as_ptr() as *const __m128i);
    let mask = _mm_set1_epi8(0x0F);
    let zero = _mm_setzero_si128();
    // 16 activations in, 16 accumulators at `out` updated.
    let step16 = |x: __m128i, out: *mut i32| {
        let lo = _mm_and_si128(x, mask);
        let hi = _mm_and_si128(_mm_srli_epi16(x, 4), mask);
        let (l0, l1) = (_mm_shuffle_epi8(ll, lo), _mm_shuffle_epi8(lh, lo));
        let (h0, h1) = (_mm_shuffle_epi8(hl, hi), _mm_shuffle_epi8(hh, hi));
        let qa = _mm_add_epi16(_mm_unpacklo_epi8(l0, l1), _mm_unpacklo_epi8(h0, h1));
        let qb = _mm_add_epi16(_mm_unpackhi_epi8(l0, l1), _mm_unpackhi_epi8(h0, h1));
        let parts = [
            _mm_unpacklo_epi16(qa, zero),
            _mm_unpackhi_epi16(qa, zero),
            _mm_unpacklo_epi16(qb, zero),
            _mm_unpackhi_epi16(qb, zero),
        ];
        for (k, p) in parts.into_iter().enumerate() {
            let ptr = out.add(4 * k) as *mut __m128i;
            let acc = _mm_loadu_si128(ptr);
            let sum = if n.negative {
                _mm_sub_epi32(acc, p)
            } else {
                _mm_add_epi32(acc, p)
            };
            _mm_storeu_si128(ptr, sum);
        }
    };
    let scalar = |x: u8, a: &mut i32| {
        let (l, h) = ((x & 15) as usize, (x >> 4) as usize);
        let m = n.low_lo[l] as i32
            + ((n.low_hi[l] as i32) << 8)
            + n.high_lo[h] as i32
            + ((n.high_hi[h] as i32) << 8);
        *a = a.wrapping_add(if n.negative { -m } else { m });
    };
    let w = taps.width;
    if w == 8 && taps.rows.is_multiple_of(2) {
        // Two 8-wide output rows per step: their taps are two 8-byte runs of the input.
        for pair in 0..taps.rows / 2 {
            let a = taps.first + 2 * pair * taps.pitch;
            let b = a + taps.pitch;
            assert!(b + 8 <= data.len() && (2 * pair + 2) * 8 <= plane.len());
            let lo = _mm_loadl_epi64(data.as_ptr().add(a) as *const __m128i);
            let hi = _mm_loadl_epi64(data.as_ptr().add(b) as *const __m128i);
            step16(
                _mm_unpacklo_epi64(lo, hi),
                plane.as_mut_ptr().add(2 * pair * 8),
            );
        }
        return;
    }
    taps.for_rows(data, plane, |src, out| {
        let mut i = 0;
        while i + 16 <= out.len() {
            step16(
                _mm_loadu_si128(src.as_ptr().add(i) as *const __m128i),
                out.as_mut_ptr().add(i),
            );
            i += 16;
        }
        for (a, &x) in out[i..].iter_mut().zip(&src[i..]) {
            scalar(x, a);
        }
    });
}

impl<'m> Engine<'m> {
    pub fn new(model: &'m Model, plan: &Plan) -> anyhow::Result<Self> {
        let schemes = plan.resolve(model)?;
        let mut cache: HashMap<Scheme, Arc<ProductTable>> = HashMap::new();
        let tables = schemes
            .iter()
            .map(|s| {
                s.map(|s| {
                    cache
                        .entry(s)
                        .or_insert_with(|| Arc::new(ProductTable::new(s)))
                        .clone()
                })
            })
            .collect();
        #[cfg(target_arch = "x86_64")]
        let simd = std::env::var_os("LUTNA_NO_SIMD").is_none() && is_x86_feature_detected!("ssse3");
        #[cfg(not(target_arch = "x86_64"))]
        let simd = false;
        Ok(Engine {
            model,
            tables,
            schemes,
            simd,
        })
    }

    pub fn model(&self) -> &Model {
        self.model
    }

    /// The scheme each layer runs (None for layers without multiplications).
    pub fn schemes(&self) -> &[Option<Scheme>] {
        &self.schemes
    }

    fn conv(&self, layer: usize, c: &Conv, x: &Array3<u8>, kind: TensorKind) -> Activation {
        let table = self.tables[layer]
            .as_ref()
            .expect("conv layers have a scheme");
        // Only a padded layer needs a new map; otherwise read the input in place.
        let padded_map;
        let x = if c.pad.iter().any(|&p| p > 0) {
            padded_map = padded(x, c.pad);
            &padded_map
        } else {
            x
        };
        let out = &self.model.tensors[layer + 1];
        let [oc, oh, ow] = out.shape;
        let row = |o: usize| c.weights.row(o).collect::<Vec<_>>();
        let init = |o: usize| c.bias[o];
        let simd = self.simd;
        let contrib = |w: i16, data: &[u8], taps: Taps, plane: &mut [i32]| {
            if taps.step == 1 && simd {
                if let Some(n) = table.nibbles(w) {
                    // SAFETY: `simd` is only set after detecting SSSE3 at run time.
                    #[cfg(target_arch = "x86_64")]
                    unsafe {
                        nibble_mac_ssse3(n, data, taps, plane)
                    };
                    return;
                }
            }
            let r = table.row(w);
            taps.for_rows(data, plane, |src, out| {
                for (ox, a) in out.iter_mut().enumerate() {
                    *a = a.wrapping_add(r[src[ox * taps.step] as usize]);
                }
            });
        };
        match kind.act() {
            None => {
                let mut logits = vec![0; oc];
                conv_sparse(
                    x.view(),
                    c.kernel,
                    c.stride,
                    [oh, ow],
                    oc,
                    row,
                    init,
                    contrib,
                    |o, acc| logits[o] = acc[0],
                );
                Activation::Logits(logits)
            }
            Some(act) => {
                let mut y = Array3::<i32>::zeros((oc, oh, ow));
                let ys = y.as_slice_mut().unwrap();
                conv_sparse(
                    x.view(),
                    c.kernel,
                    c.stride,
                    [oh, ow],
                    oc,
                    row,
                    init,
                    contrib,
                    |o, acc| {
                        let q = c.requant[o];
                        for (dst, &a) in ys[o * oh * ow..(o + 1) * oh * ow].iter_mut().zip(acc) {
                            *dst = q.apply(a, act);
                        }
                    },
                );
                match kind {
                    TensorKind::U8 => Activation::U8(y.mapv(|v| v as u8)),
                    _ => Activation::I8(y.mapv(|v| v as i8)),
                }
            }
        }
    }

    /// Runs one image (3072 CHW bytes) and returns every tensor: the per-layer dumps used to find
    /// where hardware and software first differ. `tensors[0]` is the image.
    pub fn run_dumps(&self, image: &[u8]) -> Vec<Activation> {
        let m = self.model;
        let input = &m.tensors[0];
        assert_eq!(
            image.len(),
            input.len(),
            "image size does not match the model input"
        );
        let mut t: Vec<Activation> = Vec::with_capacity(m.tensors.len());
        t.push(Activation::U8(
            Array3::from_shape_vec(
                (input.shape[0], input.shape[1], input.shape[2]),
                image.to_vec(),
            )
            .unwrap(),
        ));
        for (i, l) in m.layers.iter().enumerate() {
            let info = &m.tensors[i + 1];
            let out = match &l.op {
                Op::Conv(c) | Op::Linear(c) => self.conv(i, c, t[l.inputs[0]].u8(), info.kind),
                Op::MaxPool(p) => {
                    let x = t[l.inputs[0]].u8();
                    let mut y = Array3::zeros(info.shape);
                    // Zero padding is neutral for max because u8 activations are >= 0.
                    pool_windows(x, p, 0u8, 0u8, |a, v| a.max(v), |ix, a| y[ix] = a);
                    Activation::U8(y)
                }
                Op::AvgPool { pool, requant } => {
                    let x = t[l.inputs[0]].u8();
                    let mut y = Array3::zeros(info.shape);
                    pool_windows(
                        x,
                        pool,
                        0u8,
                        0i32,
                        |a, v| a + v as i32,
                        |ix, a| y[ix] = requant.apply(a, crate::arith::ActKind::U8) as u8,
                    );
                    Activation::U8(y)
                }
                Op::Add {
                    mult_a,
                    mult_b,
                    shift,
                } => {
                    let (a, b) = (&t[l.inputs[0]], &t[l.inputs[1]]);
                    let (lo, hi) = info.kind.act().expect("validated").range();
                    let [c, h, w] = info.shape;
                    let y = Array3::from_shape_fn((c, h, w), |(ch, y, x)| {
                        let v = a.get(ch, y, x) as i64 * *mult_a as i64
                            + b.get(ch, y, x) as i64 * *mult_b as i64;
                        round_shift_clamp(v, *shift, lo, hi)
                    });
                    match info.kind {
                        TensorKind::U8 => Activation::U8(y.mapv(|v| v as u8)),
                        _ => Activation::I8(y.mapv(|v| v as i8)),
                    }
                }
                Op::Concat => {
                    let parts: Vec<ArrayView3<u8>> =
                        l.inputs.iter().map(|&j| t[j].u8().view()).collect();
                    Activation::U8(ndarray::concatenate(ndarray::Axis(0), &parts).unwrap())
                }
            };
            t.push(out);
        }
        t
    }

    /// The logits of one image.
    pub fn run(&self, image: &[u8]) -> Vec<i32> {
        match self.run_dumps(image).pop() {
            Some(Activation::Logits(l)) => l,
            _ => unreachable!("validated models end in logits"),
        }
    }

    /// Logits of every image, in order, computed in parallel over images.
    pub fn run_all(&self, data: &Dataset, progress: impl Fn(usize) + Sync) -> Vec<Vec<i32>> {
        (0..data.len())
            .into_par_iter()
            .map(|i| {
                let l = self.run(&data.pixels[i * PIXELS..(i + 1) * PIXELS]);
                progress(1);
                l
            })
            .collect()
    }
}

/// Index of the largest logit (the first one on ties), i.e. the predicted class.
pub fn argmax(logits: &[i32]) -> usize {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best
}

/// Accuracy and the sha256 of all logits (i32 little-endian, in image order): the `lutna eval`
/// fingerprint that shows two schemes agree bit for bit.
pub fn summarize(logits: &[Vec<i32>], labels: &[u8]) -> (f64, String) {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut correct = 0;
    for (l, &y) in logits.iter().zip(labels) {
        for v in l {
            h.update(v.to_le_bytes());
        }
        if argmax(l) == y as usize {
            correct += 1;
        }
    }
    let top1 = if labels.is_empty() {
        0.0
    } else {
        correct as f64 / labels.len() as f64
    };
    let digest = h.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    (top1, hex)
}
