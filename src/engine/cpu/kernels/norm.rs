//! LayerNorm over rows: `y[r, :] = (x[r, :] - mean) / √(var + eps) · γ + β`, f32 throughout
//! and two passes like `shaders/layernorm_*.wgsl` (the mean, then the variance of the
//! centred values: no `E[x²] - E[x]²` cancellation). Sums run in 8 independent lanes so
//! they vectorize (simd128 on wasm, SSE/AVX natively); at 768 columns a row is ~1 µs, so
//! rows are not spread over threads. Reference: `ops::layernorm::reference`.

/// LayerNorm of `x`'s rows of `cols` values into `y`.
pub fn layernorm(x: &[f32], gamma: &[f32], beta: &[f32], cols: usize, eps: f32, y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "layernorm: x and y differ in length");
    check(x.len(), gamma, beta, cols);
    for (row, out) in x.chunks_exact(cols).zip(y.chunks_exact_mut(cols)) {
        let (mean, inv) = moments(row, eps);
        for (c, (o, &v)) in out.iter_mut().zip(row).enumerate() {
            *o = (v - mean) * inv * gamma[c] + beta[c];
        }
    }
}

/// [`layernorm`] with `x` overwritten by its result.
pub fn layernorm_in_place(x: &mut [f32], gamma: &[f32], beta: &[f32], cols: usize, eps: f32) {
    check(x.len(), gamma, beta, cols);
    for row in x.chunks_exact_mut(cols) {
        let (mean, inv) = moments(row, eps);
        for (c, v) in row.iter_mut().enumerate() {
            *v = (*v - mean) * inv * gamma[c] + beta[c];
        }
    }
}

fn check(len: usize, gamma: &[f32], beta: &[f32], cols: usize) {
    assert!(cols > 0 && len.is_multiple_of(cols), "layernorm: {len} values in rows of {cols}");
    assert!(gamma.len() == cols && beta.len() == cols, "layernorm: γ, β not of {cols}");
}

/// The row's mean and `1 / √(var + eps)` (biased variance, as torch).
fn moments(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = lanes_sum(row, |v| v) / n;
    let var = lanes_sum(row, |v| (v - mean) * (v - mean)) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// Σ f(v) in 8 lanes, then the lanes and the tail.
#[inline]
fn lanes_sum(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = row.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for chunk in chunks {
        for (l, &v) in lanes.iter_mut().zip(chunk) {
            *l += f(v);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::testing::{assert_close, random};
    use crate::ops::layernorm::reference;

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn layernorm_odd_shapes() {
        for (rows, cols, eps) in [
            (1, 1, 1e-5),
            (37, 44, 1e-5),
            (5, 257, 1e-6),
            (3, 1000, 1e-5),
            (70, 9, 1e-5),
            (50, 768, 1e-5),
        ] {
            // An offset mean and a spread of scales, as real activations have.
            let x: Vec<f32> = random(rows * cols, 7, 3.0).iter().map(|v| v + 5.0).collect();
            let (gamma, beta) = (random(cols, 8, 1.0), random(cols, 9, 1.0));
            let want = reference(&x, &gamma, &beta, cols, eps);
            let mut y = vec![f32::NAN; rows * cols];
            layernorm(&x, &gamma, &beta, cols, eps as f32, &mut y);
            // Outputs are O(1): an absolute 1e-5 is ~100 f32 ulps (the GPU tests' tolerance;
            // measured ≤ 1e-6).
            assert_close(&format!("layernorm {rows}x{cols}"), &y, &want, 1e-5, 1e-4);
            let mut z = x.clone();
            layernorm_in_place(&mut z, &gamma, &beta, cols, eps as f32);
            assert_eq!(z, y, "in place equals out of place");
        }
    }
}
