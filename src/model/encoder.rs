//! The pre-LN transformer both towers share.
//!
//! Each block: `x = x + out_proj(attn(ln1(x)))`, then `x = x + fc2(act(fc1(ln2(x))))`.
//! The residual stream ping-pongs between two tensors so the residual add
//! never reads the tensor it writes.
//!
//! The vision tower also binds ClearCLIP's last block (Lan et al., ECCV 2024;
//! `docs/heatmap-methods.md`), which heatmaps run instead of the last block:
//! `out_proj(softmax(q qᵀ/√d) v)` over `ln1(x)`, with no residual and no MLP.
//! Self-self attention is ordinary attention whose keys are the queries, so it
//! is bound as the same attention op over a second fused projection `q | q | v`
//! (q_proj's columns twice): no kernel of its own, on every engine. It costs one
//! more `[3·width, width]` matrix (ViT-B/32: 1.8 M weights, 2 MB in q8).

use crate::engine::{Engine, Epilogue, Linear, Mask, PackedWeight, Rows};
use crate::error::Result;

use super::config::TowerConfig;
use super::weights::Weights;

/// One block's weights on the CPU, read and converted, q/k/v fused, every
/// linear weight packed for the matmul kernels: held only until uploaded.
struct LayerWeights {
    ln1: [Vec<f32>; 2],
    qkv: LinearWeights,
    /// `q | q | v` for ClearCLIP's self-self attention (the last vision block).
    qqv: Option<LinearWeights>,
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
    /// Reads `{prefix}.layers.{i}.*` (prefix: `vision_model.encoder` or `text_model.encoder`);
    /// `self_self`: also fuse `q | q | v`.
    async fn read(
        w: &Weights<'_>,
        prefix: &str,
        i: usize,
        self_self: bool,
    ) -> Result<LayerWeights> {
        let p = format!("{prefix}.layers.{i}");
        w.prefetch(&format!("{p}.")).await?;
        let attn = |n: &str| format!("{p}.self_attn.{n}");
        let (q, k, v) = (
            linear(w, &attn("q_proj")).await?,
            linear(w, &attn("k_proj")).await?,
            linear(w, &attn("v_proj")).await?,
        );
        let qqv = match self_self {
            true => Some(LinearWeights {
                weight: PackedWeight::concat_columns(&[
                    q.weight.clone(),
                    q.weight.clone(),
                    v.weight.clone(),
                ])?,
                bias: [&q.bias[..], &q.bias, &v.bias].concat(),
            }),
            false => None,
        };
        let qkv = LinearWeights {
            weight: PackedWeight::concat_columns(&[q.weight, k.weight, v.weight])?,
            bias: [q.bias, k.bias, v.bias].concat(),
        };
        Ok(LayerWeights {
            ln1: affine(w, &format!("{p}.layer_norm1")).await?,
            qkv,
            qqv,
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
    /// The residual stream's other half; ClearCLIP's last block writes it.
    pub other: E::Tensor,
    /// LayerNorm outputs; a dense head's too (nothing reads them after the qkv matmul).
    pub normed: E::Tensor,
    /// The fused `q | k | v` rows (SigLIP's attention probe binds them too).
    pub qkv: E::Tensor,
    /// The attention's output.
    pub attn: E::Tensor,
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

/// Whether the last block is also bound as ClearCLIP's (heatmaps: the vision tower).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LastBlock {
    Plain,
    AlsoSelfSelf,
}

/// The stack of blocks of one tower, bound to the shared activations: the
/// blocks before the last, the last, and ClearCLIP's last where bound; each
/// stage holds its blocks' ops in the order they run.
pub struct Encoder<E: Engine> {
    first: E::Stage,
    last: E::Stage,
    /// Writes `out_proj(self-self attention)` into the activations' `other`.
    self_self: Option<E::Stage>,
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
        last: LastBlock,
    ) -> Result<Encoder<E>> {
        let Activations { stream, other, normed, qkv, attn, hidden } = act;
        let (d, f) = (config.width, config.intermediate);
        let mut first = e.stage(prefix);
        let mut last_stage = e.stage(&format!("{prefix} (last layer)"));
        let mut self_self = None;
        for i in 0..config.layers {
            let is_last = i + 1 == config.layers;
            let wants_self_self = is_last && last == LastBlock::AlsoSelfSelf;
            let l = LayerWeights::read(w, prefix, i, wants_self_self).await?;
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
                if let Some(qqv) = &l.qqv {
                    let (qqv_w, qqv_b) =
                        (e.matrix("qqv_proj.weight", &qqv.weight), v("qqv_proj.bias", &qqv.bias));
                    let mut s = e.stage(&format!("{prefix} (last layer, self-self attention)"));
                    e.layernorm(&mut s, stream, [&ln1[0], &ln1[1]], d, config.eps, normed);
                    let x = normed;
                    let epilogue = Epilogue::bias(&qqv_b);
                    e.linear(&mut s, Linear { x, w: &qqv_w, n: 3 * d, k: d, epilogue, y: qkv });
                    e.attention(&mut s, qkv, config.heads, config.head_dim(), Mask::Full, attn);
                    let epilogue = Epilogue::bias(&out_b);
                    e.linear(&mut s, Linear { x: attn, w: &out_w, n: d, k: d, epilogue, y: other });
                    self_self = Some(s);
                }
                let s = if is_last { &mut last_stage } else { &mut first };
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
        Ok(Encoder { first, last: last_stage, self_self })
    }

    /// Records every block over `batch` sequences of `seq` tokens.
    pub fn record(&self, e: &E, pass: &mut E::Pass<'_>, rows: Rows) {
        e.record(pass, &self.first, rows);
        e.record(pass, &self.last, rows);
    }

    /// Records the blocks before the last, then ClearCLIP's last block, whose
    /// output is in the activations' `other` (bound with
    /// [`LastBlock::AlsoSelfSelf`]; else the last block is left out).
    pub fn record_self_self(&self, e: &E, pass: &mut E::Pass<'_>, rows: Rows) {
        e.record(pass, &self.first, rows);
        if let Some(s) = &self.self_self {
            e.record(pass, s, rows);
        }
    }
}
