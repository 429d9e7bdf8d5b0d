//! The x86_64 AVX2 + FMA micro-kernels over 16-column panels, chosen at run time where the
//! CPU has both (`is_x86_feature_detected!`); the wasm kernels' arithmetic in 256-bit
//! vectors, and no repacking of the weights (`matrixmultiply` copies every B it is given).
//!
//! - f32: a 6 × 16 tile, 12 `__m256` accumulators + 2 weight vectors + 1 broadcast = 15 of
//!   the 16 ymm registers (the tile of MLAS' and BLIS' AVX2 SGEMM kernels: 6 × 16).
//! - i8: x quantized per row to i16 (`quantize_rows`), each k pair's 32 panel bytes widened
//!   to two `i16 × 16` (8 columns × 2 k each), `vpmaddwd` against the broadcast x pair, i32
//!   sums per 32-block scaled into f32 accumulators: 4 rows, 8 + 8 accumulators (the f32
//!   ones are touched once per block, so their spills cost little).
//!
//! Rayon spreads panels × row chunks over the cores; a panel (48 KB f32, 12 KB i8 at
//! k = 768) stays in L1/L2 while the task's rows sweep it.

use super::super::panels::{PanelValues, Panels, WASM_NR};
use super::{quantize_rows, Epilogue, Out};
use crate::ops::format::QUANT_BLOCK;
use rayon::prelude::*;
use std::arch::x86_64::*;

/// Panel width of these kernels (the wasm kernels' too).
pub(super) const NR: usize = WASM_NR;

/// Rows one task multiplies (a whole image's 50 rows; batches are cut in chunks).
const ROW_CHUNK: usize = 120;

/// The k slab of the f32 kernel (MLAS' and matrixmultiply's KC is 256 too).
const KC: usize = 256;

pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// `matmul` on AVX2 + FMA; the caller checked [`available`] and that `w.nr == NR`.
pub(super) fn matmul(x: &[f32], m: usize, w: &Panels, epilogue: &Epilogue, y: &mut [f32]) {
    let (n, k, kp) = (w.n, w.k, w.kp);
    let quantized = match &w.values {
        PanelValues::I8 { .. } => Some(quantize_rows(x, m, k, kp)),
        PanelValues::F32(_) => None,
    };
    let out = Out(y.as_mut_ptr());
    let panels = w.panels();
    let tasks = m.div_ceil(ROW_CHUNK) * panels;
    (0..tasks).into_par_iter().for_each(|task| {
        let (chunk, p) = (task / panels, task % panels);
        let (r_begin, r_end) = (chunk * ROW_CHUNK, m.min((chunk + 1) * ROW_CHUNK));
        let cols = NR.min(n - p * NR);
        if let PanelValues::F32(values) = &w.values {
            let panel = &values[p * kp * NR..][..kp * NR];
            let mut acc = vec![[0f32; NR]; r_end - r_begin];
            // k in slabs of KC: a slab of the panel (16 KB) and of 6 rows of x (6 KB) stay
            // in L1 while the row blocks sweep it (a whole panel at k = 768 is 48 KB).
            for k0 in (0..k).step_by(KC) {
                let kc = KC.min(k - k0);
                for (b, acc) in acc.chunks_mut(6).enumerate() {
                    let r0 = r_begin + 6 * b;
                    let x = &x[r0 * k + k0..];
                    let panel = &panel[k0 * NR..][..kc * NR];
                    // SAFETY: AVX2 and FMA are present (the caller checked); x holds
                    // acc.len() rows of k from k0 (the last one at least kc), the slab kc rows
                    // of 16.
                    unsafe {
                        match acc.len() {
                            6 => tile_f32::<6>(x, k, kc, panel, acc),
                            5 => tile_f32::<5>(x, k, kc, panel, acc),
                            4 => tile_f32::<4>(x, k, kc, panel, acc),
                            3 => tile_f32::<3>(x, k, kc, panel, acc),
                            2 => tile_f32::<2>(x, k, kc, panel, acc),
                            _ => tile_f32::<1>(x, k, kc, panel, acc),
                        }
                    }
                }
            }
            for (i, acc) in acc.iter_mut().enumerate() {
                let (r, c0) = (r_begin + i, p * NR);
                // SAFETY: as below.
                let seg = unsafe { out.segment(r * n + c0, cols) };
                epilogue.store_segment(seg, n, r, c0, &mut acc[..cols]);
            }
            return;
        }
        let mut tile = [[0f32; NR]; 6];
        let mut r0 = r_begin;
        while r0 < r_end {
            let rows = match &w.values {
                PanelValues::F32(_) => unreachable!("f32 panels are done above"),
                PanelValues::I8 { q, scales } => {
                    let (xq, xs) = quantized.as_ref().expect("quantized rows");
                    let rows = 4.min(r_end - r0);
                    let blocks = kp / QUANT_BLOCK;
                    let panel = &q[p * kp * NR..][..kp * NR];
                    let scales = &scales[p * blocks * NR..][..blocks * NR];
                    let xq = &xq[r0 * kp..][..rows * kp];
                    // SAFETY: as above; xq holds `rows` rows of kp, the panel kp / 2 pairs of
                    // 32 bytes, the scales kp / 32 rows of 16.
                    unsafe {
                        match rows {
                            4 => tile_i8::<4>(xq, kp, panel, scales, &mut tile),
                            3 => tile_i8::<3>(xq, kp, panel, scales, &mut tile),
                            2 => tile_i8::<2>(xq, kp, panel, scales, &mut tile),
                            _ => tile_i8::<1>(xq, kp, panel, scales, &mut tile),
                        }
                    }
                    for (i, acc) in tile[..rows].iter_mut().enumerate() {
                        for a in acc.iter_mut() {
                            *a *= xs[r0 + i];
                        }
                    }
                    rows
                }
            };
            for (i, acc) in tile[..rows].iter_mut().enumerate() {
                let (r, c0) = (r0 + i, p * NR);
                // SAFETY: in y (r < m, c0 + cols ≤ n); tasks own disjoint (row chunk, panel)
                // blocks, so no two segments overlap.
                let seg = unsafe { out.segment(r * n + c0, cols) };
                epilogue.store_segment(seg, n, r, c0, &mut acc[..cols]);
            }
            r0 += rows;
        }
    });
}

/// `acc[r][j] += Σ_{i < kc} x[r, i] · slab[i, j]` for R ≤ 6 rows of x (row stride k).
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_f32<const R: usize>(
    x: &[f32],
    k: usize,
    kc: usize,
    slab: &[f32],
    acc_rows: &mut [[f32; NR]],
) {
    let (xp, wp) = (x.as_ptr(), slab.as_ptr());
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    for (r, acc) in acc.iter_mut().enumerate() {
        acc[0] = _mm256_loadu_ps(acc_rows[r].as_ptr());
        acc[1] = _mm256_loadu_ps(acc_rows[r].as_ptr().add(8));
    }
    for i in 0..kc {
        let w0 = _mm256_loadu_ps(wp.add(i * NR));
        let w1 = _mm256_loadu_ps(wp.add(i * NR + 8));
        for (r, acc) in acc.iter_mut().enumerate() {
            let xv = _mm256_broadcast_ss(&*xp.add(r * k + i));
            acc[0] = _mm256_fmadd_ps(xv, w0, acc[0]);
            acc[1] = _mm256_fmadd_ps(xv, w1, acc[1]);
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        _mm256_storeu_ps(acc_rows[r].as_mut_ptr(), acc[0]);
        _mm256_storeu_ps(acc_rows[r].as_mut_ptr().add(8), acc[1]);
    }
}

/// `tile[r][j] = Σ_b scales[b, j] · Σ_{i in b} xq[r, i] · q[i, j]` (the x scale is the
/// caller's) for R ≤ 4 rows of xq (row stride kp).
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_i8<const R: usize>(
    xq: &[i16],
    kp: usize,
    panel: &[i8],
    scales: &[f32],
    tile: &mut [[f32; NR]; 6],
) {
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    let (xp, wp, sp) = (xq.as_ptr(), panel.as_ptr(), scales.as_ptr());
    for b in 0..kp / QUANT_BLOCK {
        let mut sums = [[_mm256_setzero_si256(); 2]; R];
        for t in b * QUANT_BLOCK / 2..(b + 1) * QUANT_BLOCK / 2 {
            let bytes = wp.add(t * 2 * NR) as *const __m128i;
            let w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(bytes));
            let w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(bytes.add(1)));
            for (r, sums) in sums.iter_mut().enumerate() {
                let pair = (xp.add(r * kp + 2 * t) as *const i32).read_unaligned();
                let xv = _mm256_set1_epi32(pair);
                sums[0] = _mm256_add_epi32(sums[0], _mm256_madd_epi16(xv, w0));
                sums[1] = _mm256_add_epi32(sums[1], _mm256_madd_epi16(xv, w1));
            }
        }
        let s0 = _mm256_loadu_ps(sp.add(b * NR));
        let s1 = _mm256_loadu_ps(sp.add(b * NR + 8));
        for (acc, sums) in acc.iter_mut().zip(&sums) {
            acc[0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[0]), s0, acc[0]);
            acc[1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[1]), s1, acc[1]);
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        _mm256_storeu_ps(tile[r].as_mut_ptr(), acc[0]);
        _mm256_storeu_ps(tile[r].as_mut_ptr().add(8), acc[1]);
    }
}
