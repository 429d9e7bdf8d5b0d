//! The wasm32 simd128 micro-kernels over 16-column panels (layouts: `panels.rs`).
//!
//! - f32: a 6 × 8 tile of `f32x4` accumulators, each panel swept as two halves of 8
//!   columns: 12 accumulators, 2 weight vectors and 1 splat of x fit V8's 16 xmm registers
//!   (XNNPACK's `6x8` wasmsimd splat GEMM). Per k: two loads of the panel, six splats of x,
//!   twelve multiply-adds: fused (`f32x4.relaxed_madd`) in the relaxed-SIMD build, a
//!   multiply then an add in simd128. Measured in Chromium, one thread, a ViT-B/32 image
//!   with f32 weights: the 4 × 16 tile of 16 accumulators (which spills) 372 ms, 6 × 8
//!   348 ms; with fused multiply-adds 4 × 16 302 ms, 5 × 8 265 ms, 6 × 8 258 ms, 8 × 8
//!   (16 accumulators again) 337-630 ms.
//! - i8: per k pair, 32 panel bytes widen to four `i16x8` (4 columns × 2 k each); x's
//!   quantized pair is one `i32x4.splat` of two i16; `i32x4.dot_i16x8_s` adds both
//!   products per column into MR × 4 `i32x4` sums. After each 32-block the sums turn to
//!   f32 and are scaled by that block's 16 column scales into f32 accumulators.
//!   |sum| ≤ 32 · 32767 · 127 < 2³¹: no overflow. The same in both builds: relaxed SIMD's
//!   `i32x4.relaxed_dot_i8x16_i7x16_add_s` (exact only for a second operand in 0..=127, so
//!   x as 7 bits from its row minimum, the minimum added back through the weights' column
//!   sums) measured slower on this machine's Xeon, which has AVX-512 VNNI but not the
//!   AVX-VNNI V8 emits it with: 4 labels 145 against 72 ms, an image 259 against 226 ms
//!   (and 7-bit activations lose accuracy). A 6 × 8 i8 tile measured the same as 4 × 16
//!   (233 against 226-232 ms); the fused multiply-add in the block scaling made 4 labels
//!   2.7x slower (203 against 75 ms) and is not used.
//!
//! Within a block of [`MC`] rows, panels are the outer loop and rows the inner one: an i8
//! panel (12 KB at k = 768) stays in L1 while the block's rows sweep it; an f32 panel
//! (48 KB) is swept in slabs of 256 k (16 KB), with the rows' accumulators kept in memory
//! between slabs. The row blocks (MLAS' and matrixmultiply's MC) keep the rows a panel
//! meets in cache: without them a batch of 8 images (400 rows, 1.2 MB of f32 x at
//! k = 768) streamed x from memory once per panel, 1.5x slower per image than one image.
//!
//! Threads (the threaded build, `www/wasm.js`): the panels are split into one contiguous
//! group per rayon thread, each task sweeping all rows over its group (its own columns of
//! y, so tasks never write the same value). On one thread the one group is a plain call,
//! not a rayon task (see `matmul`).

use super::super::panels::{PanelValues, Panels, WASM_NR};
use super::{quantize_rows, Epilogue, Out};
use crate::ops::format::QUANT_BLOCK;
use core::arch::wasm32::*;
use core::ops::Range;
use rayon::prelude::*;

pub(super) const NR: usize = WASM_NR;

/// Rows per i8 micro-kernel call.
const MR: usize = 4;

/// Rows and `f32x4` column vectors of the f32 tile.
const F32_MR: usize = 6;
const F32_VECTORS: usize = 2;

/// The k slab of the f32 kernel (as MLAS' and matrixmultiply's KC: 256).
const KC: usize = 256;

/// Rows per block: 64 rows of x are 192 KB of f32 (96 KB as i16) at k = 768, within L2;
/// one image's 50 tokens are one block.
const MC: usize = 64;

pub(super) fn matmul(x: &[f32], m: usize, w: &Panels, epilogue: &Epilogue, y: &mut [f32]) {
    let (n, k, panels) = (w.n, w.k, w.panels());
    let groups = rayon::current_num_threads().clamp(1, panels);
    let out = Out(y.as_mut_ptr());
    let run = |g: usize| {
        let group = panels * g / groups..panels * (g + 1) / groups;
        for r0 in (0..m).step_by(MC) {
            let rows = MC.min(m - r0);
            let block = Block { x: &x[r0 * k..][..rows * k], m: rows, r0, out: &out };
            row_block(&block, w, group.clone(), &epilogue.rows(r0, rows, n));
        }
    };
    // One thread: called directly. Through rayon's fallback (no pool) the same call took
    // 2.4x as long in the page (one q8 ViT-B/32 image 612 against 223-275 ms).
    if groups == 1 {
        run(0)
    } else {
        (0..groups).into_par_iter().for_each(run)
    }
}

/// Rows `r0 .. r0 + m` of x, and y to write them to.
struct Block<'a> {
    x: &'a [f32],
    m: usize,
    r0: usize,
    out: &'a Out,
}

impl Block<'_> {
    /// Finishes the block's row `r` in the columns of panel `p` from their sums `acc`.
    #[inline]
    fn store(&self, w: &Panels, epilogue: &Epilogue, r: usize, p: usize, acc: &mut [f32]) {
        let (n, c0) = (w.n, p * NR);
        // SAFETY: row r0 + r < m and c0 + acc.len() <= n are in y; a task owns its panel
        // group's columns (`matmul`), so no other live segment overlaps this one.
        let segment = unsafe { self.out.segment((self.r0 + r) * n + c0, acc.len()) };
        epilogue.store_segment(segment, n, r, c0, acc);
    }
}

/// [`matmul`] of at most [`MC`] rows over the panels of `group`; `epilogue` is the block's.
fn row_block(block: &Block, w: &Panels, group: Range<usize>, epilogue: &Epilogue) {
    let (x, m) = (block.x, block.m);
    let (n, k, kp) = (w.n, w.k, w.kp);
    let mut tile = [[0f32; NR]; MR];
    match &w.values {
        PanelValues::F32(values) => {
            let mut acc = vec![[0f32; NR]; m];
            for p in group {
                let panel = &values[p * kp * NR..][..kp * NR];
                let cols = NR.min(n - p * NR);
                acc.fill([0.0; NR]);
                // k in slabs of KC: a slab of the panel (16 KB) and of 6 rows of x (6 KB)
                // stay in L1 while the row blocks sweep each half of it (a whole panel at
                // k = 768 is 48 KB).
                for k0 in (0..k).step_by(KC) {
                    let kc = KC.min(k - k0);
                    let slab = &panel[k0 * NR..][..kc * NR];
                    for half in 0..NR / (4 * F32_VECTORS) {
                        for (b, acc) in acc.chunks_mut(F32_MR).enumerate() {
                            let x = &x[(b * F32_MR) * k + k0..];
                            // SAFETY: x holds acc.len() rows of k from k0 (the last at least
                            // kc), the slab kc rows of 16.
                            unsafe {
                                match acc.len() {
                                    6 => tile_f32::<6>(x, k, kc, slab, half, acc),
                                    5 => tile_f32::<5>(x, k, kc, slab, half, acc),
                                    4 => tile_f32::<4>(x, k, kc, slab, half, acc),
                                    3 => tile_f32::<3>(x, k, kc, slab, half, acc),
                                    2 => tile_f32::<2>(x, k, kc, slab, half, acc),
                                    _ => tile_f32::<1>(x, k, kc, slab, half, acc),
                                }
                            }
                        }
                    }
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    block.store(w, epilogue, r, p, &mut acc[..cols]);
                }
            }
        }
        PanelValues::I8 { q, scales } => {
            let (xq, xs) = quantize_rows(x, m, k, kp);
            let blocks = kp / QUANT_BLOCK;
            for p in group {
                let panel = &q[p * kp * NR..][..kp * NR];
                let scales = &scales[p * blocks * NR..][..blocks * NR];
                let cols = NR.min(n - p * NR);
                for r0 in (0..m).step_by(MR) {
                    let rows = MR.min(m - r0);
                    let xq = &xq[r0 * kp..][..rows * kp];
                    // SAFETY: xq holds `rows` rows of kp, the panel kp / 2 pairs of 32 bytes,
                    // the scales kp / 32 rows of 16.
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
                        block.store(w, epilogue, r0 + i, p, &mut acc[..cols]);
                    }
                }
            }
        }
    }
}

/// `a · b + c`: in the relaxed-SIMD build one fused multiply-add where the CPU has one
/// (x86 with FMA3, every arm64; else V8 emits the multiply and the add), in the simd128
/// build a multiply, then an add.
#[inline(always)]
fn madd(a: v128, b: v128, c: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    return f32x4_relaxed_madd(a, b, c);
    #[cfg(not(target_feature = "relaxed-simd"))]
    return f32x4_add(c, f32x4_mul(a, b));
}

/// `acc[r][j] += Σ_{i < kc} x[r, i] · slab[i, j]` for R rows of x (row stride k) and the 8
/// columns j of the slab's `half`.
#[inline(always)]
unsafe fn tile_f32<const R: usize>(
    x: &[f32],
    k: usize,
    kc: usize,
    slab: &[f32],
    half: usize,
    acc_rows: &mut [[f32; NR]],
) {
    const C: usize = F32_VECTORS;
    let c0 = half * 4 * C;
    let (xp, wp) = (x.as_ptr(), slab.as_ptr().add(c0));
    let mut acc = [[f32x4_splat(0.0); C]; R];
    for (r, acc) in acc.iter_mut().enumerate() {
        let row = acc_rows[r].as_ptr().add(c0) as *const v128;
        for (c, a) in acc.iter_mut().enumerate() {
            *a = v128_load(row.add(c));
        }
    }
    for i in 0..kc {
        let w = wp.add(i * NR) as *const v128;
        let w: [v128; C] = std::array::from_fn(|c| v128_load(w.add(c)));
        for (r, acc) in acc.iter_mut().enumerate() {
            let xv = f32x4_splat(*xp.add(r * k + i));
            for c in 0..C {
                acc[c] = madd(xv, w[c], acc[c]);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let out = acc_rows[r].as_mut_ptr().add(c0) as *mut v128;
        for (c, &a) in acc.iter().enumerate() {
            v128_store(out.add(c), a);
        }
    }
}

/// `tile[r][j] = Σ_b scales[b, j] · Σ_{i in b} xq[r, i] · q[i, j]` (the x scale is the
/// caller's) for R rows of xq (row stride kp).
#[inline(always)]
unsafe fn tile_i8<const R: usize>(
    xq: &[i16],
    kp: usize,
    panel: &[i8],
    scales: &[f32],
    tile: &mut [[f32; NR]; MR],
) {
    let mut acc = [[f32x4_splat(0.0); 4]; R];
    let (xp, wp, sp) = (xq.as_ptr(), panel.as_ptr(), scales.as_ptr());
    for b in 0..kp / QUANT_BLOCK {
        let mut sums = [[i32x4_splat(0); 4]; R];
        for t in b * QUANT_BLOCK / 2..(b + 1) * QUANT_BLOCK / 2 {
            let bytes = wp.add(t * 2 * NR) as *const v128;
            let (lo, hi) = (v128_load(bytes), v128_load(bytes.add(1)));
            let w = [
                i16x8_extend_low_i8x16(lo),
                i16x8_extend_high_i8x16(lo),
                i16x8_extend_low_i8x16(hi),
                i16x8_extend_high_i8x16(hi),
            ];
            for (r, sums) in sums.iter_mut().enumerate() {
                let pair = (xp.add(r * kp + 2 * t) as *const i32).read_unaligned();
                let xv = i32x4_splat(pair);
                for c in 0..4 {
                    sums[c] = i32x4_add(sums[c], i32x4_dot_i16x8(xv, w[c]));
                }
            }
        }
        let s = sp.add(b * NR) as *const v128;
        let s = [v128_load(s), v128_load(s.add(1)), v128_load(s.add(2)), v128_load(s.add(3))];
        for (acc, sums) in acc.iter_mut().zip(&sums) {
            for c in 0..4 {
                acc[c] = f32x4_add(acc[c], f32x4_mul(f32x4_convert_i32x4(sums[c]), s[c]));
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let out = tile[r].as_mut_ptr() as *mut v128;
        for (c, &a) in acc.iter().enumerate() {
            v128_store(out.add(c), a);
        }
    }
}
