//! `y[m, n] = act(x[m, k] · Wᵀ + bias) + residual` over weight [`Panels`], the epilogue
//! fused into the store of each output tile: every linear layer of CLIP on the CPU. It
//! computes what `ops::matmul`'s kernels compute (its f64 reference is ours).
//!
//! Four paths, one API ([`matmul`]):
//! - **wasm32 + simd128** (`matmul/wasm.rs`): register-blocked micro-kernels over 16-column
//!   panels, 6 rows × 8 columns of `f32x4` accumulators (fused multiply-adds in the
//!   relaxed-SIMD build), panels outermost so one panel (48 KB at k = 768) stays in cache
//!   while every row block sweeps it. The blocking is XNNPACK's `f32-gemm` 6x8 wasmsimd
//!   tile and MLAS' wasm SGEMM (which packs B into 16-wide strips); quantized weights
//!   follow MLAS' wasm QGEMM idea of 16-bit dot products: x is quantized per row to i16
//!   ([`quantize_rows`]), the i8 weights widened to i16, `i32x4.dot_i16x8_s` accumulates
//!   each 32-block in i32, which is then scaled by the block's column scales into f32
//!   accumulators (the row's x scale is applied once, at the end).
//! - **x86_64 with AVX2 + FMA** (`matmul/x86.rs`, detected at run time): the same scheme in
//!   256-bit vectors over 16-column panels, a 6 × 16 f32 tile, `vpmaddwd` for i8 panels;
//!   panels × row chunks spread over all cores with rayon. No copy of the weights per call.
//! - **other native CPUs** (aarch64, x86_64 without AVX2): `matrixmultiply`'s sgemm on each
//!   128-column panel, panels × row chunks over rayon. Measured against the `gemm` crate on
//!   this machine's 2 cores (m = 50 / 100, the ViT-B/32 shapes, whole matrices):
//!   `matrixmultiply` 76-80 / 100-105 GFLOP/s, `gemm` 59-62 / 70, so `matrixmultiply`.
//!   Quantized panels are dequantized to f32 **per panel, per task**, into a scratch buffer
//!   (384 KB at k = 768), not at load: the panels stay at 1.125 bytes a weight (a q8 model
//!   must fit where its f32 does not), and the dequantization is k · 128 multiplies against
//!   2 · m · k · 128 flops of product (1% at m = 50).
//! - **portable** ([`matmul_portable`]): plain loops, any panel width, the same integer
//!   scheme as wasm for i8 panels. Used by no target in practice (wasm32 without simd128
//!   only); tests run it as a second implementation of the wasm arithmetic natively.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm;
#[cfg(target_arch = "x86_64")]
mod x86;

use super::activation;
use super::panels::{PanelValues, Panels, NATIVE_NR, WASM_NR};
use crate::ops::format::{WeightFormat, QUANT_BLOCK};
use crate::ops::matmul::Activation;

/// What is added last, after the activation.
#[derive(Clone, Copy, Debug)]
pub enum Residual<'a> {
    None,
    /// `[m, n]` rows of their own.
    Rows(&'a [f32]),
    /// `y` already holds it (`x = x + attn(x)` written in place): the result is added to y.
    InPlace,
}

/// What the matmul does after `x · Wᵀ`: `act(· + bias) + residual`.
#[derive(Clone, Copy, Debug)]
pub struct Epilogue<'a> {
    /// `[n]`.
    pub bias: Option<&'a [f32]>,
    pub act: Activation,
    pub residual: Residual<'a>,
}

impl<'a> Epilogue<'a> {
    /// `y = x · Wᵀ`.
    pub const NONE: Epilogue<'static> =
        Epilogue { bias: None, act: Activation::None, residual: Residual::None };

    /// `y = x · Wᵀ + bias`.
    pub fn bias(bias: &'a [f32]) -> Epilogue<'a> {
        Epilogue { bias: Some(bias), ..Epilogue::NONE }
    }

    /// The epilogue of rows `first .. first + rows` alone (a block of rows of a matmul
    /// whose rows have `n` columns): its residual rows, if any, cut to match.
    pub fn rows(&self, first: usize, rows: usize, n: usize) -> Epilogue<'a> {
        let residual = match self.residual {
            Residual::Rows(r) => Residual::Rows(&r[first * n..][..rows * n]),
            other => other,
        };
        Epilogue { residual, ..*self }
    }

    /// Finishes columns `c0 .. c0 + acc.len()` of row `r` of `y` (rows of `n`) from their
    /// sums `acc` (which it overwrites): the fused epilogue of every path.
    #[inline]
    pub(crate) fn store(&self, y: &mut [f32], n: usize, r: usize, c0: usize, acc: &mut [f32]) {
        let len = acc.len();
        self.store_segment(&mut y[r * n + c0..][..len], n, r, c0, acc)
    }

    /// [`Epilogue::store`] into `out`, which is `y[r · n + c0 ..][..acc.len()]` itself. One
    /// pass per part, each a plain loop over the segment that vectorizes.
    #[inline]
    fn store_segment(&self, out: &mut [f32], n: usize, r: usize, c0: usize, acc: &mut [f32]) {
        if let Some(bias) = self.bias {
            for (a, &b) in acc.iter_mut().zip(&bias[c0..]) {
                *a += b;
            }
        }
        activation::apply_slice(self.act, acc);
        match self.residual {
            Residual::None => out.copy_from_slice(acc),
            Residual::Rows(res) => {
                for ((o, &a), &v) in out.iter_mut().zip(acc.iter()).zip(&res[r * n + c0..]) {
                    *o = a + v;
                }
            }
            Residual::InPlace => {
                for (o, &a) in out.iter_mut().zip(acc.iter()) {
                    *o += a;
                }
            }
        }
    }
}

/// The panel width [`matmul`]'s fastest path on this CPU wants for weights of `format`
/// ([`Panels::new`] uses it): 16 for the wasm micro-kernels, and for the AVX2 ones on q8 and
/// q4; 128 for `matrixmultiply` elsewhere. Natively f32 (and f16) panels go to
/// `matrixmultiply` even with AVX2. Measured with `bench.rs` on this machine's 2 cores,
/// shared with other jobs (so runs vary up to 2x; these are the calmer ones), ViT-B/32's
/// 48 matmuls for one image (m = 50): f32 `matrixmultiply` 72-81 ms, our 6 × 16 AVX2 tile
/// 67-75 ms (a tie), at m = 100 114-132 against 142 ms; q8 on the AVX2 i8 kernel 65-77 ms,
/// dequantized into `matrixmultiply` 105-107 ms.
pub fn panel_width(format: WeightFormat) -> usize {
    #[cfg(target_arch = "x86_64")]
    if x86::available() && matches!(format, WeightFormat::Q8 | WeightFormat::Q4) {
        return x86::NR;
    }
    let _ = format;
    if cfg!(target_arch = "wasm32") {
        WASM_NR
    } else {
        NATIVE_NR
    }
}

/// `y[m, n] = epilogue(x[m, k] · Wᵀ)` on the target's fastest path (see the module header).
/// `w` is of the target's width ([`Panels::new`]); other widths take the portable path.
pub fn matmul(x: &[f32], m: usize, w: &Panels, epilogue: &Epilogue, y: &mut [f32]) {
    check(x, m, w, epilogue, y);
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if w.nr == wasm::NR {
        return wasm::matmul(x, m, w, epilogue, y);
    }
    #[cfg(target_arch = "x86_64")]
    if w.nr == x86::NR && x86::available() {
        return x86::matmul(x, m, w, epilogue, y);
    }
    #[cfg(not(target_arch = "wasm32"))]
    return native::matmul(x, m, w, epilogue, y);
    #[allow(unreachable_code)]
    matmul_portable(x, m, w, epilogue, y)
}

fn check(x: &[f32], m: usize, w: &Panels, epilogue: &Epilogue, y: &mut [f32]) {
    let (n, k) = (w.n, w.k);
    assert_eq!(x.len(), m * k, "matmul: x holds {} values, not {m}x{k}", x.len());
    assert_eq!(y.len(), m * n, "matmul: y holds {} values, not {m}x{n}", y.len());
    if let Some(b) = epilogue.bias {
        assert_eq!(b.len(), n, "matmul: bias of {} for {n} columns", b.len());
    }
    if let Residual::Rows(r) = epilogue.residual {
        assert_eq!(r.len(), m * n, "matmul: residual of {} for {m}x{n}", r.len());
    }
}

/// x's rows quantized to i16 for the i8 panels: row r is `q[r · kp ..][..kp]` (zero past k)
/// times `scales[r] = max |x[r]| / 32767`. Relative error ≤ 1.5e-5 of the row's largest
/// value, far below q8's own (1/254 of each block's).
pub fn quantize_rows(x: &[f32], m: usize, k: usize, kp: usize) -> (Vec<i16>, Vec<f32>) {
    let mut q = vec![0i16; m * kp];
    let mut scales = vec![0f32; m];
    for r in 0..m {
        let row = &x[r * k..][..k];
        let max = row.iter().fold(0f32, |a, v| a.max(v.abs()));
        if max > 0.0 {
            let scale = max / 32767.0;
            let inv = 32767.0 / max;
            for (qv, &v) in q[r * kp..][..k].iter_mut().zip(row) {
                *qv = (v * inv).round().clamp(-32767.0, 32767.0) as i16;
            }
            scales[r] = scale;
        }
    }
    (q, scales)
}

/// Plain loops, any panel width: f32 panels in f32, i8 panels by [`quantize_rows`] and
/// i32 sums per 32-block, the arithmetic of the wasm micro-kernels.
pub fn matmul_portable(x: &[f32], m: usize, w: &Panels, epilogue: &Epilogue, y: &mut [f32]) {
    check(x, m, w, epilogue, y);
    let (n, k, kp, nr) = (w.n, w.k, w.kp, w.nr);
    let mut acc = vec![0f32; nr];
    match &w.values {
        PanelValues::F32(values) => {
            for p in 0..w.panels() {
                let panel = &values[p * kp * nr..][..kp * nr];
                let cols = nr.min(n - p * nr);
                for r in 0..m {
                    acc.fill(0.0);
                    for (i, &xv) in x[r * k..][..k].iter().enumerate() {
                        for (a, &wv) in acc.iter_mut().zip(&panel[i * nr..][..nr]) {
                            *a += xv * wv;
                        }
                    }
                    epilogue.store(y, n, r, p * nr, &mut acc[..cols]);
                }
            }
        }
        PanelValues::I8 { q, scales } => {
            let (xq, xs) = quantize_rows(x, m, k, kp);
            let blocks = kp / QUANT_BLOCK;
            let mut sums = vec![0i32; nr];
            for p in 0..w.panels() {
                let panel = &q[p * kp * nr..][..kp * nr];
                let cols = nr.min(n - p * nr);
                for r in 0..m {
                    acc.fill(0.0);
                    for b in 0..blocks {
                        sums.fill(0);
                        for t in b * QUANT_BLOCK / 2..(b + 1) * QUANT_BLOCK / 2 {
                            let (x0, x1) =
                                (xq[r * kp + 2 * t] as i32, xq[r * kp + 2 * t + 1] as i32);
                            let pair = &panel[t * 2 * nr..][..2 * nr];
                            for (j, s) in sums.iter_mut().enumerate() {
                                *s += x0 * pair[2 * j] as i32 + x1 * pair[2 * j + 1] as i32;
                            }
                        }
                        let scale = &scales[(p * blocks + b) * nr..][..nr];
                        for j in 0..nr {
                            acc[j] += sums[j] as f32 * scale[j];
                        }
                    }
                    for a in acc.iter_mut() {
                        *a *= xs[r];
                    }
                    epilogue.store(y, n, r, p * nr, &mut acc[..cols]);
                }
            }
        }
    }
}

/// y as a pointer rayon tasks share: each writes its own (row chunk, panel) block.
struct Out(*mut f32);
// SAFETY: see the writes in the paths' `matmul`s: disjoint segments per task.
unsafe impl Sync for Out {}

impl Out {
    /// `len` values at `at` (a method, so closures capture the whole `Out`, which is Sync).
    /// SAFETY: in bounds of y, and no other live slice overlaps it.
    #[allow(clippy::mut_from_ref)] // the point: disjoint writes from shared tasks
    unsafe fn segment(&self, at: usize, len: usize) -> &mut [f32] {
        std::slice::from_raw_parts_mut(self.0.add(at), len)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::*;
    use rayon::prelude::*;

    /// Rows one task multiplies: every row at once for a single image (m = 50), several
    /// chunks when a batch's rows make enough work to share.
    const ROW_CHUNK: usize = 256;

    pub(super) fn matmul(x: &[f32], m: usize, w: &Panels, epilogue: &Epilogue, y: &mut [f32]) {
        let (n, k, kp, nr) = (w.n, w.k, w.kp, w.nr);
        let out = Out(y.as_mut_ptr());
        let tasks = m.div_ceil(ROW_CHUNK) * w.panels();
        (0..tasks).into_par_iter().for_each_init(
            || (Vec::new(), Vec::new()),
            |(panel_buf, tile): &mut (Vec<f32>, Vec<f32>), task| {
                let (chunk, p) = (task / w.panels(), task % w.panels());
                let (r0, rows) = (chunk * ROW_CHUNK, ROW_CHUNK.min(m - chunk * ROW_CHUNK));
                let cols = nr.min(n - p * nr);
                let panel: &[f32] = match &w.values {
                    PanelValues::F32(v) => &v[p * kp * nr..][..kp * nr],
                    PanelValues::I8 { .. } => {
                        panel_buf.resize(kp * nr, 0.0);
                        w.panel_f32(p, panel_buf);
                        panel_buf
                    }
                };
                tile.resize(rows * cols, 0.0);
                // SAFETY: x is rows × k (row stride k), the panel kp × nr (we read its first
                // k rows and `cols` columns), the tile rows × cols; all in bounds.
                unsafe {
                    matrixmultiply::sgemm(
                        rows,
                        k,
                        cols,
                        1.0,
                        x[r0 * k..].as_ptr(),
                        k as isize,
                        1,
                        panel.as_ptr(),
                        nr as isize,
                        1,
                        0.0,
                        tile.as_mut_ptr(),
                        cols as isize,
                        1,
                    );
                }
                for (i, acc) in tile.chunks_exact_mut(cols).enumerate() {
                    let (r, c0) = (r0 + i, p * nr);
                    // SAFETY: in y (r < m, c0 + cols <= n); tasks own disjoint (row chunk,
                    // panel) blocks, so no two segments overlap.
                    let seg = unsafe { out.segment(r * n + c0, cols) };
                    epilogue.store_segment(seg, n, r, c0, acc);
                }
            },
        );
    }
}

/// f64 reference over the weights the panels stand for (`Panels::to_rows`, which equals
/// `PackedWeight::dequantize`): `ops::matmul::reference`, with the in-place residual read
/// from `y0`.
pub fn reference(x: &[f32], m: usize, w: &Panels, epilogue: &Epilogue, y0: &[f32]) -> Vec<f64> {
    let residual = match epilogue.residual {
        Residual::None => None,
        Residual::Rows(r) => Some(r),
        Residual::InPlace => Some(y0),
    };
    crate::ops::matmul::reference(
        x,
        &w.to_rows(),
        epilogue.bias,
        residual,
        (m, w.n, w.k),
        epilogue.act,
    )
}

#[cfg(test)]
mod tests;
