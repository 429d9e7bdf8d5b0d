//! The pre-LN transformer both towers share, and the pooled head
//! (gather → LayerNorm → projection; scores normalise on the CPU).
//!
//! Each block: `x = x + out_proj(attn(ln1(x)))`, then `x = x + fc2(act(fc1(ln2(x))))`.
//! The residual stream ping-pongs between two buffers so the residual add
//! never reads the buffer it writes.

use crate::error::Result;
use crate::gpu::{Gpu, Step, Uniform};
use crate::ops::attention::{self, AttentionParams};
use crate::ops::layernorm::{self, LayerNormParams};
use crate::ops::matmul::{self, Activation, MatmulParams};
use crate::ops::pooling::{self, RowsParams};
use crate::ops::{Kernels, PackedWeight};

use super::config::TowerConfig;
use super::weights::Weights;

/// One block's weights on the CPU, read and converted, q/k/v fused, every
/// linear weight packed for the matmul kernels: held only until uploaded.
struct LayerWeights {
    ln1: [Vec<f32>; 2],
    qkv: Linear,
    out_proj: Linear,
    ln2: [Vec<f32>; 2],
    fc1: Linear,
    fc2: Linear,
}

/// A Linear layer: its weight packed (`[n, k]`) and its bias `[n]`.
struct Linear {
    weight: PackedWeight,
    bias: Vec<f32>,
}

/// `[weight, bias]` of a LayerNorm.
pub async fn affine(w: &Weights<'_>, name: &str) -> Result<[Vec<f32>; 2]> {
    Ok([w.get(&format!("{name}.weight")).await?, w.get(&format!("{name}.bias")).await?])
}

async fn linear(w: &Weights<'_>, name: &str) -> Result<Linear> {
    Ok(Linear {
        weight: w.matrix(&format!("{name}.weight")).await?,
        bias: w.get(&format!("{name}.bias")).await?,
    })
}

impl LayerWeights {
    /// Reads `{prefix}.layers.{i}.*` (prefix: `vision_model.encoder` or `text_model.encoder`).
    async fn read(w: &Weights<'_>, prefix: &str, i: usize) -> Result<LayerWeights> {
        let p = format!("{prefix}.layers.{i}");
        w.prefetch(&format!("{p}.")).await?;
        let attn = |n: &str| format!("{p}.self_attn.{n}");
        let (q, k, v) = (
            linear(w, &attn("q_proj")).await?,
            linear(w, &attn("k_proj")).await?,
            linear(w, &attn("v_proj")).await?,
        );
        let qkv = Linear {
            weight: PackedWeight::concat_columns(&[q.weight, k.weight, v.weight])?,
            bias: [q.bias, k.bias, v.bias].concat(),
        };
        Ok(LayerWeights {
            ln1: affine(w, &format!("{p}.layer_norm1")).await?,
            qkv,
            out_proj: linear(w, &attn("out_proj")).await?,
            ln2: affine(w, &format!("{p}.layer_norm2")).await?,
            fc1: linear(w, &format!("{p}.mlp.fc1")).await?,
            fc2: linear(w, &format!("{p}.mlp.fc2")).await?,
        })
    }
}

/// Shape uniforms of one tower; every block has the same shapes, so one set serves all.
struct Shapes {
    ln: Uniform<LayerNormParams>,
    qkv: Uniform<MatmulParams>,
    attn: Uniform<AttentionParams>,
    out_proj: Uniform<MatmulParams>,
    fc1: Uniform<MatmulParams>,
    fc2: Uniform<MatmulParams>,
}

struct Block {
    ln1: Step,
    qkv: Step,
    attn: Step,
    out_proj: Step,
    ln2: Step,
    fc1: Step,
    fc2: Step,
    _weights: Vec<crate::gpu::GpuBuffer>,
}

/// The activation buffers of a forward pass, shared by both towers: passes run
/// one at a time (each is one submit, in queue order), so the vision and text
/// towers can use the same memory. Each buffer fits the larger tower's need.
pub struct Activations {
    /// The residual stream: a tower's input on entry, its output on exit.
    pub stream: crate::gpu::GpuBuffer,
    other: crate::gpu::GpuBuffer,
    normed: crate::gpu::GpuBuffer,
    qkv: crate::gpu::GpuBuffer,
    attn: crate::gpu::GpuBuffer,
    hidden: crate::gpu::GpuBuffer,
}

impl Activations {
    /// Buffers for every `(rows, config)`: the towers with their most rows per pass.
    pub fn new(gpu: &Gpu, towers: &[(usize, &TowerConfig)]) -> Activations {
        let most = |floats: &dyn Fn(usize, &TowerConfig) -> usize| {
            towers.iter().map(|&(rows, c)| floats(rows, c)).max().unwrap_or(1)
        };
        let width = most(&|rows, c| rows * c.width);
        Activations {
            stream: gpu.scratch("residual stream", width),
            other: gpu.scratch("residual stream (odd half)", width),
            normed: gpu.scratch("layernorm out", width),
            qkv: gpu.scratch("qkv", most(&|rows, c| rows * 3 * c.width)),
            attn: gpu.scratch("attention out", width),
            hidden: gpu.scratch("mlp hidden", most(&|rows, c| rows * c.intermediate)),
        }
    }
}

/// The stack of blocks of one tower, bound to the shared activations.
pub struct Encoder {
    config: TowerConfig,
    causal: bool,
    shapes: Shapes,
    blocks: Vec<Block>,
}

impl Encoder {
    /// `act` holds at least the rows a pass of this tower has; its `stream` is
    /// the tower's input on entry and its output on exit.
    /// Reads, uploads and binds `{prefix}.layers.*` one block at a time: only
    /// one block's weights are ever on the CPU.
    pub async fn new(
        gpu: &Gpu,
        k: &Kernels,
        config: &TowerConfig,
        w: &Weights<'_>,
        prefix: &str,
        act: &Activations,
        causal: bool,
    ) -> Result<Encoder> {
        let Activations { stream, other, normed, qkv, attn, hidden } = act;
        let d = config.width;
        let shapes = Shapes {
            ln: Uniform::new(gpu, "ln shape", &LayerNormParams::new(0, d, config.eps)),
            qkv: Uniform::new(
                gpu,
                "qkv shape",
                &MatmulParams::new(0, 0, 0, true, Activation::None, false),
            ),
            attn: Uniform::new(gpu, "attention shape", &AttentionParams::new(0, 0, 1, 1, causal)),
            out_proj: Uniform::new(
                gpu,
                "out_proj shape",
                &MatmulParams::new(0, 0, 0, true, Activation::None, true),
            ),
            fc1: Uniform::new(
                gpu,
                "fc1 shape",
                &MatmulParams::new(0, 0, 0, true, config.act, false),
            ),
            fc2: Uniform::new(
                gpu,
                "fc2 shape",
                &MatmulParams::new(0, 0, 0, true, Activation::None, true),
            ),
        };
        let mut blocks = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let l = LayerWeights::read(w, prefix, i).await?;
            let upload = || {
                let up = |name: &str, data: &[f32]| gpu.upload(name, data);
                let [ln1_g, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_g, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b] = [
                    up("layer_norm1.weight", &l.ln1[0]),
                    up("layer_norm1.bias", &l.ln1[1]),
                    l.qkv.weight.upload(gpu, "qkv_proj.weight"),
                    up("qkv_proj.bias", &l.qkv.bias),
                    l.out_proj.weight.upload(gpu, "out_proj.weight"),
                    up("out_proj.bias", &l.out_proj.bias),
                    up("layer_norm2.weight", &l.ln2[0]),
                    up("layer_norm2.bias", &l.ln2[1]),
                    l.fc1.weight.upload(gpu, "fc1.weight"),
                    up("fc1.bias", &l.fc1.bias),
                    l.fc2.weight.upload(gpu, "fc2.weight"),
                    up("fc2.bias", &l.fc2.bias),
                ];
                let s = &shapes;
                Block {
                    ln1: layernorm::bind(&k.layernorm, gpu, &s.ln, stream, &ln1_g, &ln1_b, normed),
                    qkv: matmul::bind(
                        &k.matmul,
                        gpu,
                        &s.qkv,
                        normed,
                        &qkv_w,
                        Some(&qkv_b),
                        None,
                        qkv,
                    ),
                    attn: attention::bind(&k.attention, gpu, &s.attn, qkv, attn),
                    out_proj: matmul::bind(
                        &k.matmul,
                        gpu,
                        &s.out_proj,
                        attn,
                        &out_w,
                        Some(&out_b),
                        Some(stream),
                        other,
                    ),
                    ln2: layernorm::bind(&k.layernorm, gpu, &s.ln, other, &ln2_g, &ln2_b, normed),
                    fc1: matmul::bind(
                        &k.matmul,
                        gpu,
                        &s.fc1,
                        normed,
                        &fc1_w,
                        Some(&fc1_b),
                        None,
                        hidden,
                    ),
                    fc2: matmul::bind(
                        &k.matmul,
                        gpu,
                        &s.fc2,
                        hidden,
                        &fc2_w,
                        Some(&fc2_b),
                        Some(other),
                        stream,
                    ),
                    _weights: vec![
                        ln1_g, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_g, ln2_b, fc1_w, fc1_b,
                        fc2_w, fc2_b,
                    ],
                }
            };
            blocks.push(gpu.checked(&format!("uploading {prefix}.layers.{i}"), upload).await?);
        }
        w.prefetch("").await?; // drops the last layer's bytes
        Ok(Encoder { config: config.clone(), causal, shapes, blocks })
    }

    /// Writes the shape uniforms for `batch` sequences of `seq` tokens and
    /// records every block into `pass` (the writes land before its submit).
    pub fn record(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass<'_>, batch: usize, seq: usize) {
        let (c, rows) = (&self.config, batch * seq);
        let (d, f) = (c.width, c.intermediate);
        let ln = LayerNormParams::new(rows, d, c.eps);
        let qkv = MatmulParams::new(rows, 3 * d, d, true, Activation::None, false);
        let attn = AttentionParams::new(batch, seq, c.heads, c.head_dim(), self.causal);
        let out_proj = MatmulParams::new(rows, d, d, true, Activation::None, true);
        let fc1 = MatmulParams::new(rows, f, d, true, c.act, false);
        let fc2 = MatmulParams::new(rows, d, f, true, Activation::None, true);
        let s = &self.shapes;
        s.ln.write(gpu, &ln);
        s.qkv.write(gpu, &qkv);
        s.attn.write(gpu, &attn);
        s.out_proj.write(gpu, &out_proj);
        s.fc1.write(gpu, &fc1);
        s.fc2.write(gpu, &fc2);
        for b in &self.blocks {
            b.ln1.dispatch_over(pass, ln.extent());
            b.qkv.dispatch_over(pass, qkv.extent());
            b.attn.dispatch_over(pass, attn.extent());
            b.out_proj.dispatch_over(pass, out_proj.extent());
            b.ln2.dispatch_over(pass, ln.extent());
            b.fc1.dispatch_over(pass, fc1.extent());
            b.fc2.dispatch_over(pass, fc2.extent());
        }
    }
}

/// Pooling and projection: rows `index[i]` of the final residual stream →
/// LayerNorm → `projection` (no bias) → features. Unit-length copies are made
/// on the CPU from what is read back anyway (512 floats a row).
pub struct Head {
    width: usize,
    projection_dim: usize,
    eps: f64,
    pub index: crate::gpu::GpuBuffer,
    pub features: crate::gpu::GpuBuffer,
    rows: Uniform<RowsParams>,
    ln_shape: Uniform<LayerNormParams>,
    proj_shape: Uniform<MatmulParams>,
    steps: [Step; 3],
    _weights: Vec<crate::gpu::GpuBuffer>,
}

impl Head {
    /// Reads the tower's final LayerNorm (`ln_name`, a tensor-name prefix) and
    /// its projection matrix (`projection_name`) from `w`, and uploads them as
    /// a head pooling from `stream`.
    #[allow(clippy::too_many_arguments)] // the head's tensors, sizes and buffer, each named
    pub async fn read(
        gpu: &Gpu,
        k: &Kernels,
        w: &Weights<'_>,
        stream: &crate::gpu::GpuBuffer,
        ln_name: &str,
        projection_name: &str,
        tower: &TowerConfig,
        projection_dim: usize,
        max_batch: usize,
    ) -> Result<Head> {
        let ln = affine(w, ln_name).await?;
        let projection = w.matrix(projection_name).await?;
        gpu.checked(&format!("uploading the head of {projection_name}"), || {
            Head::new(
                gpu,
                k,
                stream,
                ln,
                projection,
                tower.width,
                projection_dim,
                tower.eps,
                max_batch,
            )
        })
        .await
    }

    /// `ln` is `[weight, bias]` of the final LayerNorm, `projection` `[projection_dim, width]`.
    #[allow(clippy::too_many_arguments)] // the head's weights, sizes and buffers, each named
    pub fn new(
        gpu: &Gpu,
        k: &Kernels,
        stream: &crate::gpu::GpuBuffer,
        ln: [Vec<f32>; 2],
        projection: PackedWeight,
        width: usize,
        projection_dim: usize,
        eps: f64,
        max_batch: usize,
    ) -> Head {
        let index = gpu.scratch("pooled index", max_batch);
        let pooled = gpu.scratch("pooled", max_batch * width);
        let pooled_ln = gpu.scratch("pooled layernorm", max_batch * width);
        let features = gpu.scratch("features", max_batch * projection_dim);
        let weights = vec![
            gpu.upload("ln.weight", &ln[0]),
            gpu.upload("ln.bias", &ln[1]),
            projection.upload(gpu, "projection.weight"),
        ];
        let rows = Uniform::new(gpu, "pooled rows", &RowsParams::new(0, width));
        let ln_shape = Uniform::new(gpu, "head ln shape", &LayerNormParams::new(0, width, eps));
        let proj_shape = Uniform::new(
            gpu,
            "projection shape",
            &MatmulParams::new(0, 0, 0, false, Activation::None, false),
        );
        let steps = [
            pooling::bind_gather(&k.gather_rows, gpu, &rows, &index, stream, &pooled),
            layernorm::bind(
                &k.layernorm,
                gpu,
                &ln_shape,
                &pooled,
                &weights[0],
                &weights[1],
                &pooled_ln,
            ),
            matmul::bind(
                &k.matmul,
                gpu,
                &proj_shape,
                &pooled_ln,
                &weights[2],
                None,
                None,
                &features,
            ),
        ];
        Head {
            width,
            projection_dim,
            eps,
            index,
            features,
            rows,
            ln_shape,
            proj_shape,
            steps,
            _weights: weights,
        }
    }

    /// Writes the pooled row indices (one per output) and the shapes, and
    /// records gather → LayerNorm → projection into `pass`.
    pub fn record(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass<'_>, pooled: &[u32]) {
        let n = pooled.len();
        let rows = RowsParams::new(n, self.width);
        let ln = LayerNormParams::new(n, self.width, self.eps);
        let proj =
            MatmulParams::new(n, self.projection_dim, self.width, false, Activation::None, false);
        gpu.queue.write_buffer(&self.index, 0, bytemuck::cast_slice(pooled));
        self.rows.write(gpu, &rows);
        self.ln_shape.write(gpu, &ln);
        self.proj_shape.write(gpu, &proj);
        let [gather, layernorm, projection] = &self.steps;
        gather.dispatch_over(pass, rows.extent());
        layernorm.dispatch_over(pass, ln.extent());
        projection.dispatch_over(pass, proj.extent());
    }
}
