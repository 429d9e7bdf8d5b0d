//! The pooled head of a tower: rows `index[i]` of the final residual stream →
//! LayerNorm → `projection` (no bias in CLIP; SigLIP's text head has one) → features. Unit-length copies are made
//! on the CPU from what is read back anyway (512 floats a row).
//!
//! A head may also be bound dense: every row of another tensor through the
//! same LayerNorm and projection (a heatmap's per-patch features).

use crate::engine::{Engine, Epilogue, Linear, Rows};
use crate::error::Result;

use super::config::TowerConfig;
use super::encoder::affine;
use super::weights::Weights;

pub struct Head<E: Engine> {
    index: E::Tensor,
    pub features: E::Tensor,
    /// gather → LayerNorm → projection.
    ops: E::Stage,
    /// Bound where asked: every row of [`Dense::x`] through the same LayerNorm and projection.
    pub dense: Option<DenseHead<E>>,
}

/// A dense head: LayerNorm → projection over every row, into `features`.
pub struct DenseHead<E: Engine> {
    ops: E::Stage,
    pub features: E::Tensor,
}

/// The head's tensors in the checkpoint: its LayerNorm (a name prefix), its
/// projection matrix (`[projection_dim, width]`) and, where it has one, the bias.
pub struct HeadNames<'n> {
    pub layernorm: &'n str,
    pub projection: &'n str,
    pub bias: Option<&'n str>,
}

/// The rows a dense head reads, `x`, at most `max_rows` of them; `normed`
/// holds their LayerNorm (scratch that is free when the head runs).
pub struct Dense<'t, T> {
    pub x: &'t T,
    pub normed: &'t T,
    pub max_rows: usize,
}

impl<E: Engine> Head<E> {
    /// Reads the tower's final LayerNorm and its projection (`names`) from `w`,
    /// and binds a head pooling at most `max_rows` rows of `stream`, and a dense
    /// one where asked.
    #[allow(clippy::too_many_arguments)] // each a different part of the head
    pub async fn read(
        e: &E,
        w: &Weights<'_>,
        stream: &E::Tensor,
        names: HeadNames<'_>,
        tower: &TowerConfig,
        projection_dim: usize,
        max_rows: usize,
        dense: Option<Dense<'_, E::Tensor>>,
    ) -> Result<Head<E>> {
        let HeadNames { layernorm: ln_name, projection: projection_name, bias } = names;
        // In the file's order: SigLIP's `text_model.final_layer_norm` comes before `text_model.head`.
        let ln = affine(w, ln_name).await?;
        let bias = match bias {
            Some(name) => Some(w.get(name).await?),
            None => None,
        };
        let projection = w.matrix(projection_name).await?;
        let width = tower.width;
        e.checked(&format!("uploading the head of {projection_name}"), || {
            let index = e.scratch("pooled index", max_rows);
            let pooled = e.scratch("pooled", max_rows * width);
            let pooled_ln = e.scratch("pooled layernorm", max_rows * width);
            let features = e.scratch("features", max_rows * projection_dim);
            let gamma_beta = [e.vector("ln.weight", &ln[0]), e.vector("ln.bias", &ln[1])];
            let w = e.matrix("projection.weight", &projection);
            let bias = bias.map(|b| e.vector("projection.bias", &b));
            let mut ops = e.stage(projection_name);
            e.gather_rows(&mut ops, &index, stream, width, &pooled);
            let [gamma, beta] = &gamma_beta;
            let project = |ops: &mut E::Stage, x: &E::Tensor, normed: &E::Tensor, y: &E::Tensor| {
                e.layernorm(ops, x, [gamma, beta], width, tower.eps, normed);
                let epilogue = match &bias {
                    Some(b) => Epilogue::bias(b),
                    None => Epilogue::none(),
                };
                e.linear(
                    ops,
                    Linear { x: normed, w: &w, n: projection_dim, k: width, epilogue, y },
                );
            };
            project(&mut ops, &pooled, &pooled_ln, &features);
            let dense = dense.map(|Dense { x, normed, max_rows }| {
                let features = e.scratch("dense features", max_rows * projection_dim);
                let mut ops = e.stage(&format!("{projection_name} (every token)"));
                project(&mut ops, x, normed, &features);
                DenseHead { ops, features }
            });
            Head { index, features, ops, dense }
        })
        .await
    }

    /// Writes the pooled row indices (one per output) and records
    /// gather → LayerNorm → projection.
    pub fn record(&self, e: &E, pass: &mut E::Pass<'_>, pooled: &[u32]) {
        e.write(pass, &self.index, pooled);
        e.record(pass, &self.ops, Rows::flat(pooled.len()));
    }

    /// Records the dense head over the first `rows` rows of its input.
    pub fn record_dense(&self, e: &E, pass: &mut E::Pass<'_>, rows: usize) {
        if let Some(dense) = &self.dense {
            e.record(pass, &dense.ops, Rows::flat(rows));
        }
    }
}
