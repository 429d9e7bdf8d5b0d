//! The pre-LN transformer both towers share.
//!
//! Each block: `x = x + out_proj(attn(ln1(x)))`, then `x = x + fc2(act(fc1(ln2(x))))`.
//! The residual stream ping-pongs between two tensors so the residual add
//! never reads the tensor it writes.

use crate::engine::{Engine, Epilogue, Linear, Mask, PackedWeight, Rows};
use crate::error::Result;

use super::config::TowerConfig;
use super::weights::Weights;

/// One block's weights on the CPU, read and converted, q/k/v fused, every
/// linear weight packed for the matmul kernels: held only until uploaded.
struct LayerWeights {
    ln1: [Vec<f32>; 2],
    qkv: LinearWeights,
    out_proj: LinearWeights,
    ln2: [Vec<f32>; 2],
    fc1: LinearWeights,
    fc2: LinearWeights,
}

/// A Linear layer's weight packed (`[n, k]`) and its bias `[n]`.
struct LinearWeights {
    weight: PackedWeight,
    bias: Vec<f32>,
}

/// `[weight, bias]` of a LayerNorm.
pub async fn affine(w: &Weights<'_>, name: &str) -> Result<[Vec<f32>; 2]> {
    Ok([w.get(&format!("{name}.weight")).await?, w.get(&format!("{name}.bias")).await?])
}

async fn linear(w: &Weights<'_>, name: &str) -> Result<LinearWeights> {
    Ok(LinearWeights {
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
        let qkv = LinearWeights {
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

/// The activations of a forward pass, shared by both towers: passes run one
/// at a time, so the vision and text towers can use the same memory. Each
/// tensor fits the larger tower's need.
pub struct Activations<E: Engine> {
    /// The residual stream: a tower's input on entry, its output on exit.
    pub stream: E::Tensor,
    other: E::Tensor,
    normed: E::Tensor,
    qkv: E::Tensor,
    attn: E::Tensor,
    hidden: E::Tensor,
}

impl<E: Engine> Activations<E> {
    /// Tensors for every `(rows, config)`: the towers with their most rows per pass.
    pub fn new(e: &E, towers: &[(usize, &TowerConfig)]) -> Activations<E> {
        let most = |floats: &dyn Fn(usize, &TowerConfig) -> usize| {
            towers.iter().map(|&(rows, c)| floats(rows, c)).max().unwrap_or(1)
        };
        let width = most(&|rows, c| rows * c.width);
        Activations {
            stream: e.scratch("residual stream", width),
            other: e.scratch("residual stream (odd half)", width),
            normed: e.scratch("layernorm out", width),
            qkv: e.scratch("qkv", most(&|rows, c| rows * 3 * c.width)),
            attn: e.scratch("attention out", width),
            hidden: e.scratch("mlp hidden", most(&|rows, c| rows * c.intermediate)),
        }
    }
}

/// The stack of blocks of one tower, bound to the shared activations: one
/// stage, each block's ops in the order they run.
pub struct Encoder<E: Engine> {
    blocks: E::Stage,
}

impl<E: Engine> Encoder<E> {
    /// Reads, uploads and binds `{prefix}.layers.*` one block at a time (only
    /// one block's weights are ever on the CPU). `act` holds at least the rows
    /// a pass of this tower has; its `stream` is the tower's input on entry and
    /// its output on exit. `mask`: causal for text, full for images.
    pub async fn new(
        e: &E,
        config: &TowerConfig,
        w: &Weights<'_>,
        prefix: &str,
        act: &Activations<E>,
        mask: Mask,
    ) -> Result<Encoder<E>> {
        let Activations { stream, other, normed, qkv, attn, hidden } = act;
        let (d, f) = (config.width, config.intermediate);
        let mut blocks = e.stage(prefix);
        for i in 0..config.layers {
            let l = LayerWeights::read(w, prefix, i).await?;
            let bind = || {
                let v = |name: &str, data: &[f32]| e.vector(name, data);
                let ln1 = [v("layer_norm1.weight", &l.ln1[0]), v("layer_norm1.bias", &l.ln1[1])];
                let ln2 = [v("layer_norm2.weight", &l.ln2[0]), v("layer_norm2.bias", &l.ln2[1])];
                let (qkv_w, qkv_b) =
                    (e.matrix("qkv_proj.weight", &l.qkv.weight), v("qkv_proj.bias", &l.qkv.bias));
                let (out_w, out_b) = (
                    e.matrix("out_proj.weight", &l.out_proj.weight),
                    v("out_proj.bias", &l.out_proj.bias),
                );
                let (fc1_w, fc1_b) =
                    (e.matrix("fc1.weight", &l.fc1.weight), v("fc1.bias", &l.fc1.bias));
                let (fc2_w, fc2_b) =
                    (e.matrix("fc2.weight", &l.fc2.weight), v("fc2.bias", &l.fc2.bias));
                let s = &mut blocks;
                e.layernorm(s, stream, [&ln1[0], &ln1[1]], d, config.eps, normed);
                e.linear(
                    s,
                    Linear {
                        x: normed,
                        w: &qkv_w,
                        n: 3 * d,
                        k: d,
                        epilogue: Epilogue::bias(&qkv_b),
                        y: qkv,
                    },
                );
                e.attention(s, qkv, config.heads, config.head_dim(), mask, attn);
                e.linear(
                    s,
                    Linear {
                        x: attn,
                        w: &out_w,
                        n: d,
                        k: d,
                        epilogue: Epilogue::bias(&out_b).plus(stream),
                        y: other,
                    },
                );
                e.layernorm(s, other, [&ln2[0], &ln2[1]], d, config.eps, normed);
                e.linear(
                    s,
                    Linear {
                        x: normed,
                        w: &fc1_w,
                        n: f,
                        k: d,
                        epilogue: Epilogue::bias(&fc1_b).then(config.act),
                        y: hidden,
                    },
                );
                e.linear(
                    s,
                    Linear {
                        x: hidden,
                        w: &fc2_w,
                        n: d,
                        k: f,
                        epilogue: Epilogue::bias(&fc2_b).plus(other),
                        y: stream,
                    },
                );
            };
            e.checked(&format!("uploading {prefix}.layers.{i}"), bind).await?;
        }
        w.prefetch("").await?; // drops the last layer's bytes
        Ok(Encoder { blocks })
    }

    /// Records every block over `batch` sequences of `seq` tokens.
    pub fn record(&self, e: &E, pass: &mut E::Pass<'_>, rows: Rows) {
        e.record(pass, &self.blocks, rows);
    }
}
