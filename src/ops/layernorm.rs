//! `shaders/layernorm_tiled.wgsl` and `shaders/layernorm_registers.wgsl`:
//! LayerNorm over the last dimension.

use crate::gpu::{Gpu, Kernel, Step, Uniform};

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LayerNormParams {
    pub rows: u32,
    pub cols: u32,
    pub eps: f32,
    pub _pad: u32,
}

impl LayerNormParams {
    pub fn new(rows: usize, cols: usize, eps: f64) -> Self {
        LayerNormParams { rows: rows as u32, cols: cols as u32, eps: eps as f32, _pad: 0 }
    }

    pub fn extent(&self) -> [u32; 3] {
        [self.rows, 1, 1]
    }
}

pub fn bind(
    kernel: &Kernel,
    gpu: &Gpu,
    params: &Uniform<LayerNormParams>,
    x: &crate::gpu::GpuBuffer,
    gamma: &crate::gpu::GpuBuffer,
    beta: &crate::gpu::GpuBuffer,
    y: &crate::gpu::GpuBuffer,
) -> Step {
    kernel.bind(gpu, &[&params.buffer, x, gamma, beta, y])
}

/// f64 reference (biased variance, as torch).
pub fn reference(x: &[f32], gamma: &[f32], beta: &[f32], cols: usize, eps: f64) -> Vec<f64> {
    x.chunks(cols)
        .flat_map(|row| {
            let n = cols as f64;
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
            let inv = 1.0 / (var + eps).sqrt();
            row.iter()
                .enumerate()
                .map(move |(c, &v)| (v as f64 - mean) * inv * gamma[c] as f64 + beta[c] as f64)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::testing::{assert_close, poisoned, random};
    use crate::ops::test_support::{kernels, run_once};

    crate::gpu_test! {
        async fn layernorm_odd_shapes(gpu: Gpu) {
            for (rows, cols, eps) in [(1, 1, 1e-5), (37, 44, 1e-5), (5, 257, 1e-6), (3, 1000, 1e-5), (70, 9, 1e-5)] {
                // An offset mean and a spread of scales, as real activations have.
                let x: Vec<f32> = random(rows * cols, 7, 3.0).iter().map(|v| v + 5.0).collect();
                let gamma = random(cols, 8, 1.0);
                let beta = random(cols, 9, 1.0);
                let params = LayerNormParams::new(rows, cols, eps);
                let want = reference(&x, &gamma, &beta, cols, eps);
                for ks in kernels(&gpu).await {
                    let y = poisoned(&gpu, "y", rows * cols);
                    let step = bind(&ks.layernorm, &gpu, &Uniform::new(&gpu, "t", &params), &gpu.upload("x", &x),
                        &gpu.upload("g", &gamma), &gpu.upload("b", &beta), &y);
                    let got = run_once(&gpu, &step, params.extent(), &y, rows * cols).await;
                    // Outputs are O(1): an absolute 1e-5 is ~100 f32 ulps.
                    assert_close(&format!("{:?} layernorm {rows}x{cols}", ks.family), &got, &want, 1e-5, 1e-4);
                }
            }
        }
    }
}
