//! Multi-head attention over `qkv` rows laid out `q | k | v`, heads side by side in each
//! (`ops::attention`'s layout): for each sequence of a batch, each head and each query,
//! `softmax(q · Kᵀ / √d) · V` over its sequence's keys (all of them, or up to its own
//! position for [`Mask::Causal`]). Output rows are `[batch · seq, heads · head_dim]`.
//!
//! Blocking: one task per output row (a query, all its heads), so a row's writes are
//! contiguous; natively rows are spread over the cores with rayon. Per head: scores by dot
//! products in 8 independent lanes (they vectorize), softmax in f32 with the max subtracted
//! (e^x by `activation::exp`)
//! (masked keys are never computed: a causal query stops at itself), then the values
//! accumulated with the weights, normalised once at the end. CLIP's sizes (seq ≤ 77 text,
//! 50-257 vision, head_dim 64) make this ~1% of a layer's flops: no micro-kernel needed.
//! Reference: `ops::attention::reference`.

pub use crate::ops::attention::Mask;

use super::activation::exp;

/// Attention of `batch` sequences of `seq` rows into `out`.
pub fn attention(
    qkv: &[f32],
    (batch, seq): (usize, usize),
    (heads, head_dim): (usize, usize),
    mask: Mask,
    out: &mut [f32],
) {
    let width = heads * head_dim;
    assert_eq!(qkv.len(), batch * seq * 3 * width, "attention: qkv of {}", qkv.len());
    assert_eq!(out.len(), batch * seq * width, "attention: out of {}", out.len());
    let shape = Shape { seq, heads, head_dim, causal: mask == Mask::Causal };
    // One row per task on rayon's threads; on one thread (the browser's one-thread build)
    // a plain loop, which skips rayon's fallback (see `matmul/wasm.rs`).
    if rayon::current_num_threads() == 1 {
        let mut scores = Vec::new();
        for (row, o) in out.chunks_mut(width).enumerate() {
            shape.row(qkv, row, &mut scores, o);
        }
    } else {
        use rayon::prelude::*;
        out.par_chunks_mut(width)
            .enumerate()
            .for_each_init(Vec::new, |scores, (row, o)| shape.row(qkv, row, scores, o));
    }
}

#[derive(Clone, Copy)]
struct Shape {
    seq: usize,
    heads: usize,
    head_dim: usize,
    causal: bool,
}

impl Shape {
    /// Output row `row` (query `row % seq` of sequence `row / seq`), every head.
    fn row(self, qkv: &[f32], row: usize, scores: &mut Vec<f32>, out: &mut [f32]) {
        let Shape { seq, heads, head_dim: d, causal } = self;
        let width = heads * d;
        let (first, i) = (row - row % seq, row % seq);
        let keys = if causal { i + 1 } else { seq };
        let scale = (1.0 / (d as f64).sqrt()) as f32;
        let at = |t: usize, part: usize, h: usize| {
            &qkv[(first + t) * 3 * width + part * width + h * d..][..d]
        };
        scores.resize(keys, 0.0);
        for h in 0..heads {
            let q = at(i, 0, h);
            let mut max = f32::NEG_INFINITY;
            for (j, s) in scores.iter_mut().enumerate() {
                *s = dot(q, at(j, 1, h)) * scale;
                max = max.max(*s);
            }
            // The polynomial exp (~1 ulp) in a loop of its own: it vectorizes, where libm's
            // expf per score cost a third of the kernel at CLIP's sizes.
            for s in scores.iter_mut() {
                *s = exp(*s - max);
            }
            let total: f32 = scores.iter().sum();
            let o = &mut out[h * d..][..d];
            o.fill(0.0);
            for (j, &p) in scores.iter().enumerate() {
                for (o, &v) in o.iter_mut().zip(at(j, 2, h)) {
                    *o += p * v;
                }
            }
            let inv = 1.0 / total;
            for o in o.iter_mut() {
                *o *= inv;
            }
        }
    }
}

/// Σ a·b in 8 independent lanes (vectorizable), then the tail.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::testing::{assert_close, random};
    use crate::ops::attention::reference;

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn attention_odd_shapes() {
        // (batch, seq, heads, head_dim, causal): CLIP text (causal, 77) and vision (full, 50)
        // shapes, odd sizes, a long sequence, one large head.
        for (batch, seq, heads, head_dim, causal) in [
            (1, 1, 1, 1, false),
            (2, 37, 4, 11, false),
            (3, 13, 2, 8, true),
            (1, 300, 3, 20, true),
            (2, 5, 1, 200, false),
            (2, 50, 12, 64, false),
            (2, 77, 8, 64, true),
        ] {
            // Scores of a few units: the softmax is neither flat nor one-hot.
            let qkv = random(batch * seq * 3 * heads * head_dim, 11, 1.5);
            let mask = if causal { Mask::Causal } else { Mask::Full };
            let want = reference(&qkv, batch, seq, heads, head_dim, causal);
            let mut out = vec![f32::NAN; batch * seq * heads * head_dim];
            attention(&qkv, (batch, seq), (heads, head_dim), mask, &mut out);
            // Convex combinations of values in [-1.5, 1.5]: absolute 1e-5 is ~100 ulps (the
            // GPU tests' tolerance).
            let what = format!("attention b{batch} s{seq} h{heads}x{head_dim} {mask:?}");
            assert_close(&what, &out, &want, 1e-5, 1e-4);
        }
    }
}
