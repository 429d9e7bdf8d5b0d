//! SigLIP's image head, transformers' `SiglipMultiheadAttentionPoolingHead`: a
//! learned probe attends over every token of `post_layernorm`'s output
//! (`torch.nn.MultiheadAttention`), then `x = x + mlp(layernorm(x))`; the
//! probe's row is the image's features (there is no projection after it).
//!
//! The probe's query does not depend on the picture: `q = probe · W_qᵀ + b_q`
//! is computed once, at load. The engines' attention reads fused `q | k | v`
//! rows, so the head binds one linear layer whose weight is `0 | W_k | W_v` and
//! whose bias is `q | b_k | b_v`: every row's query is the probe's, its keys and
//! values its token's. Every row of the attention's output is then the probe's
//! answer; one per picture is gathered and the rest of the head runs on it.
//! This costs a `width × width` block of zeros in one matmul and `tokens`
//! queries instead of one (SigLIP base/16: 196 · 768² multiply-adds, a fortieth
//! of a layer), and needs no kernel of its own on either engine.

use crate::engine::{Engine, Epilogue, Linear, Mask, PackedWeight, Rows};
use crate::error::Result;

use super::config::TowerConfig;
use super::encoder::affine;
use super::weights::Weights;

/// The head's tensors in the checkpoint.
const HEAD: &str = "vision_model.head";

/// The head bound for at most `max_batch` pictures of `tokens` rows each.
pub struct AttentionPool<E: Engine> {
    index: E::Tensor,
    /// `[batch, width]`: the image features.
    pub features: E::Tensor,
    /// `post_layernorm` → keys and values (and the probe's query) → attention, over every token.
    attend: E::Stage,
    /// gather → `out_proj` → `x + mlp(layernorm(x))`, over one row per picture.
    head: E::Stage,
}

/// `q = probe · W_qᵀ + b_q` in f64, `W_q` as the kernels hold it (`[width, width]`, row-major).
pub fn probe_query(probe: &[f32], w_q: &[f32], b_q: &[f32]) -> Vec<f32> {
    let width = probe.len();
    (0..b_q.len())
        .map(|i| {
            let row = &w_q[i * width..][..width];
            let dot: f64 = row.iter().zip(probe).map(|(&w, &p)| w as f64 * p as f64).sum();
            (dot + b_q[i] as f64) as f32
        })
        .collect()
}

/// The activations the head runs in, shared with the encoder (free once it has run).
pub struct PoolInputs<'t, T> {
    /// The encoder's output, `tokens` rows per picture.
    pub stream: &'t T,
    /// `post_layernorm`'s output.
    pub normed: &'t T,
    /// The fused `q | k | v` rows.
    pub qkv: &'t T,
    /// The attention's output.
    pub attn: &'t T,
}

impl<E: Engine> AttentionPool<E> {
    /// Reads `vision_model.head.*` and `vision_model.post_layernorm` (in the
    /// file's order) and binds the head over `inputs`.
    pub async fn read(
        e: &E,
        w: &Weights<'_>,
        tower: &TowerConfig,
        max_batch: usize,
        inputs: PoolInputs<'_, E::Tensor>,
    ) -> Result<AttentionPool<E>> {
        let d = tower.width;
        // One read for the head (the window holds it), in the file's order.
        w.prefetch(&format!("{HEAD}.")).await?;
        let in_proj_bias = w.get(&format!("{HEAD}.attention.in_proj_bias")).await?;
        let in_proj = w.matrix(&format!("{HEAD}.attention.in_proj_weight")).await?;
        let out_proj_b = w.get(&format!("{HEAD}.attention.out_proj.bias")).await?;
        let out_proj_w = w.matrix(&format!("{HEAD}.attention.out_proj.weight")).await?;
        let layernorm = affine(w, &format!("{HEAD}.layernorm")).await?;
        let fc1_b = w.get(&format!("{HEAD}.mlp.fc1.bias")).await?;
        let fc1_w = w.matrix(&format!("{HEAD}.mlp.fc1.weight")).await?;
        let fc2_b = w.get(&format!("{HEAD}.mlp.fc2.bias")).await?;
        let fc2_w = w.matrix(&format!("{HEAD}.mlp.fc2.weight")).await?;
        let probe = w.get(&format!("{HEAD}.probe")).await?;
        let post_layernorm = affine(w, "vision_model.post_layernorm").await?;
        w.prefetch("").await?;

        let query =
            probe_query(&probe, &in_proj.slice_columns(0, d).dequantize(), &in_proj_bias[..d]);
        let kv = PackedWeight::concat_columns(&[
            PackedWeight::zeroed(in_proj.format, d, d),
            in_proj.slice_columns(d, 2 * d),
        ])?;
        let kv_bias = [&query[..], &in_proj_bias[d..]].concat();
        drop(in_proj);

        let f = tower.intermediate;
        e.checked("uploading the vision head (vision_model.head)", || {
            let v = |name: &str, data: &[f32]| e.vector(name, data);
            let post_ln = [
                v("post_layernorm.weight", &post_layernorm[0]),
                v("post_layernorm.bias", &post_layernorm[1]),
            ];
            let (kv_w, kv_b) = (e.matrix("head q|k|v weight", &kv), v("head q|k|v bias", &kv_bias));
            let (out_w, out_b) = (
                e.matrix("head out_proj.weight", &out_proj_w),
                v("head out_proj.bias", &out_proj_b),
            );
            let ln = [
                v("head layernorm.weight", &layernorm[0]),
                v("head layernorm.bias", &layernorm[1]),
            ];
            let (fc1_w, fc1_b) = (e.matrix("head fc1.weight", &fc1_w), v("head fc1.bias", &fc1_b));
            let (fc2_w, fc2_b) = (e.matrix("head fc2.weight", &fc2_w), v("head fc2.bias", &fc2_b));

            let PoolInputs { stream, normed, qkv, attn } = inputs;
            let mut attend = e.stage("vision_model.post_layernorm and the head's attention");
            let s = &mut attend;
            e.layernorm(s, stream, [&post_ln[0], &post_ln[1]], d, tower.eps, normed);
            let epilogue = Epilogue::bias(&kv_b);
            e.linear(s, Linear { x: normed, w: &kv_w, n: 3 * d, k: d, epilogue, y: qkv });
            e.attention(s, qkv, tower.heads, tower.head_dim(), Mask::Full, attn);

            let index = e.scratch("probe rows", max_batch);
            let pooled = e.scratch("probe answers", max_batch * d);
            let x = e.scratch("head out_proj", max_batch * d);
            let x_ln = e.scratch("head layernorm", max_batch * d);
            let hidden = e.scratch("head mlp hidden", max_batch * f);
            let features = e.scratch("image features", max_batch * d);
            let mut head = e.stage("vision_model.head");
            let s = &mut head;
            e.gather_rows(s, &index, attn, d, &pooled);
            let epilogue = Epilogue::bias(&out_b);
            e.linear(s, Linear { x: &pooled, w: &out_w, n: d, k: d, epilogue, y: &x });
            e.layernorm(s, &x, [&ln[0], &ln[1]], d, tower.eps, &x_ln);
            let epilogue = Epilogue::bias(&fc1_b).then(tower.act);
            e.linear(s, Linear { x: &x_ln, w: &fc1_w, n: f, k: d, epilogue, y: &hidden });
            let epilogue = Epilogue::bias(&fc2_b).plus(&x);
            e.linear(s, Linear { x: &hidden, w: &fc2_w, n: d, k: f, epilogue, y: &features });
            AttentionPool { index, features, attend, head }
        })
        .await
    }

    /// Records the head over `batch` pictures of `tokens` rows each.
    pub fn record(&self, e: &E, pass: &mut E::Pass<'_>, batch: usize, tokens: usize) {
        e.record(pass, &self.attend, Rows { batch, seq: tokens });
        let rows: Vec<u32> = (0..batch).map(|b| (b * tokens) as u32).collect();
        e.write(pass, &self.index, &rows);
        e.record(pass, &self.head, Rows::flat(batch));
    }
}

#[cfg(test)]
mod tests {
    use super::probe_query;

    #[test]
    fn the_probe_query_is_a_linear_layer_by_hand() {
        // W = [[1, 2], [3, 4], [0, -1]], probe (1, 10), b (0.5, 0, 1): (21.5, 43, -9).
        let q = probe_query(&[1.0, 10.0], &[1.0, 2.0, 3.0, 4.0, 0.0, -1.0], &[0.5, 0.0, 1.0]);
        assert_eq!(q, [21.5, 43.0, -9.0]);
    }
}
