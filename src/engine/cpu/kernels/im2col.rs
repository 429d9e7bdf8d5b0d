//! Patches of images as matmul rows (`shaders/im2col.wgsl`'s layout): the stride-p patch
//! convolution becomes one matmul against the conv weight `[width, channels, p, p]`, which
//! is already a row-major `[width, channels · p²]`. Row `(b · grid + gy) · grid + gx` holds
//! channel by channel, line by line, the p × p pixels of that cell; `grid = size / p`
//! (floor, like the convolution: a remainder strip is ignored). Each patch line is one
//! contiguous copy of p pixels.

/// `pixels` `[batch, channels, size, size]` into `out` `[batch · grid², channels · p²]`.
pub fn patches(
    pixels: &[f32],
    (batch, channels, size): (usize, usize, usize),
    patch: usize,
    out: &mut [f32],
) {
    let grid = size / patch;
    let cols = channels * patch * patch;
    assert_eq!(pixels.len(), batch * channels * size * size, "patches: pixels of {}", pixels.len());
    assert_eq!(out.len(), batch * grid * grid * cols, "patches: out of {}", out.len());
    for (row, dst) in out.chunks_exact_mut(cols).enumerate() {
        let (b, gy, gx) = (row / (grid * grid), row / grid % grid, row % grid);
        for (c, dst) in dst.chunks_exact_mut(patch * patch).enumerate() {
            for (ky, line) in dst.chunks_exact_mut(patch).enumerate() {
                let at = ((b * channels + c) * size + gy * patch + ky) * size + gx * patch;
                line.copy_from_slice(&pixels[at..][..patch]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::cpu::kernels::matmul::{matmul, Epilogue};
    use crate::engine::cpu::kernels::panels::Panels;
    use crate::gpu::testing::{assert_close, random};
    use crate::ops::embeddings::reference_patch_conv;
    use crate::ops::format::{PackedWeight, WeightFormat};

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn patches_then_matmul_is_the_patch_convolution() {
        // A remainder strip (size 13, patch 4), one channel, and CLIP's 3 channels.
        for (batch, channels, size, patch, width) in
            [(2, 3, 13, 4, 10), (1, 1, 8, 8, 3), (3, 3, 32, 8, 17)]
        {
            let pixels = random(batch * channels * size * size, 5, 1.0);
            let weight = random(width * channels * patch * patch, 6, 0.5);
            let grid = size / patch;
            let (rows, cols) = (batch * grid * grid, channels * patch * patch);
            let mut rows_out = vec![f32::NAN; rows * cols];
            patches(&pixels, (batch, channels, size), patch, &mut rows_out);
            let panels = Panels::new(&PackedWeight::pack(WeightFormat::F32, &weight, width, cols));
            let mut y = vec![f32::NAN; rows * width];
            matmul(&rows_out, rows, &panels, &Epilogue::NONE, &mut y);
            let want = reference_patch_conv(&pixels, &weight, batch, channels, size, patch, width);
            // f32 sums of ≤ 192 terms of |x · w| ≤ 0.5: the matmul tests' tolerance.
            let what = format!("patches b{batch} c{channels} s{size} p{patch}");
            assert_close(&what, &y, &want, 1e-5, 1e-4);
        }
    }
}
