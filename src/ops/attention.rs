//! `shaders/attention_tiled.wgsl` and `shaders/attention_registers.wgsl`:
//! multi-head attention over a fused QKV buffer.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Step, Uniform};

/// Sizes the kernel holds in workgroup memory (`MAX_SEQ`, `MAX_HEAD_DIM` in the shader).
pub const MAX_SEQ: usize = 1024;
pub const MAX_HEAD_DIM: usize = 256;

/// Which keys a query sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mask {
    /// Every key of its sequence (the vision tower).
    Full,
    /// Keys up to its own position (the text tower): padding after a text's
    /// end never reaches the tokens before it.
    Causal,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AttentionParams {
    pub batch: u32,
    pub seq: u32,
    pub heads: u32,
    pub head_dim: u32,
    pub causal: u32,
    pub scale: f32,
    pub _pad: [u32; 2],
}

impl AttentionParams {
    pub fn new(batch: usize, seq: usize, heads: usize, head_dim: usize, mask: Mask) -> Self {
        AttentionParams {
            batch: batch as u32,
            seq: seq as u32,
            heads: heads as u32,
            head_dim: head_dim as u32,
            causal: (mask == Mask::Causal) as u32,
            scale: (1.0 / (head_dim as f64).sqrt()) as f32,
            _pad: [0; 2],
        }
    }

    /// Queries, heads, sequences.
    pub fn extent(&self) -> [u32; 3] {
        [self.seq, self.heads, self.batch]
    }
}

/// Whether a model's sequence length and head size fit the kernel.
pub fn check_fits(tower: &str, seq: usize, head_dim: usize) -> Result<()> {
    if seq > MAX_SEQ || head_dim > MAX_HEAD_DIM {
        return Err(Error::Config(format!("{tower}: {seq} tokens with head size {head_dim} exceeds the attention kernel's limits ({MAX_SEQ} tokens, head size {MAX_HEAD_DIM})")));
    }
    Ok(())
}

pub fn bind(
    kernel: &Kernel,
    gpu: &Gpu,
    params: &Uniform<AttentionParams>,
    qkv: &crate::gpu::GpuBuffer,
    out: &crate::gpu::GpuBuffer,
) -> Step {
    kernel.bind(gpu, &[&params.buffer, qkv, out])
}

/// f64 reference: `qkv` rows are q | k | v, heads concatenated within each.
pub fn reference(
    qkv: &[f32],
    batch: usize,
    seq: usize,
    heads: usize,
    head_dim: usize,
    causal: bool,
) -> Vec<f64> {
    let width = heads * head_dim;
    let at = |b: usize, t: usize, part: usize, h: usize, d: usize| {
        qkv[(b * seq + t) * 3 * width + part * width + h * head_dim + d] as f64
    };
    let scale = 1.0 / (head_dim as f64).sqrt();
    let mut out = vec![0.0; batch * seq * width];
    for b in 0..batch {
        for h in 0..heads {
            for i in 0..seq {
                let keys = if causal { i + 1 } else { seq };
                let scores: Vec<f64> = (0..keys)
                    .map(|j| {
                        (0..head_dim).map(|d| at(b, i, 0, h, d) * at(b, j, 1, h, d)).sum::<f64>()
                            * scale
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = exps.iter().sum();
                for d in 0..head_dim {
                    out[(b * seq + i) * width + h * head_dim + d] =
                        (0..keys).map(|j| exps[j] * at(b, j, 2, h, d)).sum::<f64>() / total;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::testing::{assert_close, poisoned, random};
    use crate::ops::test_support::{kernels, run_once};

    crate::gpu_test! {
        async fn attention_odd_shapes(gpu: Gpu) {
            // (batch, seq, heads, head_dim): CLIP text (causal) and vision (full) shapes, odd sizes,
            // a sequence longer than the workgroup, and one head larger than it.
            for (batch, seq, heads, head_dim, causal) in
                [(1, 1, 1, 1, false), (2, 37, 4, 11, false), (3, 13, 2, 8, true), (1, 300, 3, 20, true), (2, 5, 1, 200, false)]
            {
                // Scores of a few units: the softmax is neither flat nor one-hot.
                let qkv = random(batch * seq * 3 * heads * head_dim, 11, 1.5);
                let mask = if causal { Mask::Causal } else { Mask::Full };
                let params = AttentionParams::new(batch, seq, heads, head_dim, mask);
                let n = batch * seq * heads * head_dim;
                let want = reference(&qkv, batch, seq, heads, head_dim, causal);
                for ks in kernels(&gpu).await {
                    let out = poisoned(&gpu, "o", n);
                    let step = bind(&ks.attention, &gpu, &Uniform::new(&gpu, "t", &params), &gpu.upload("qkv", &qkv), &out);
                    let got = run_once(&gpu, &step, params.extent(), &out, n).await;
                    // Convex combinations of values in [-1.5, 1.5]: absolute 1e-5 is ~100 ulps.
                    assert_close(&format!("{:?} attention b{batch} s{seq} h{heads}x{head_dim} causal={causal}", ks.family), &got, &want, 1e-5, 1e-4);
                }
            }
        }
    }
}
