//! The pooled head of a tower: rows `index[i]` of the final residual stream →
//! LayerNorm → `projection` (no bias) → features. Unit-length copies are made
//! on the CPU from what is read back anyway (512 floats a row).

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
}

impl<E: Engine> Head<E> {
    /// Reads the tower's final LayerNorm (`ln_name`, a tensor-name prefix) and
    /// its projection matrix (`projection_name`, `[projection_dim, width]`)
    /// from `w`, and binds a head pooling at most `max_rows` rows of `stream`.
    pub async fn read(
        e: &E,
        w: &Weights<'_>,
        stream: &E::Tensor,
        [ln_name, projection_name]: [&str; 2],
        tower: &TowerConfig,
        projection_dim: usize,
        max_rows: usize,
    ) -> Result<Head<E>> {
        let ln = affine(w, ln_name).await?;
        let projection = w.matrix(projection_name).await?;
        let width = tower.width;
        e.checked(&format!("uploading the head of {projection_name}"), || {
            let index = e.scratch("pooled index", max_rows);
            let pooled = e.scratch("pooled", max_rows * width);
            let pooled_ln = e.scratch("pooled layernorm", max_rows * width);
            let features = e.scratch("features", max_rows * projection_dim);
            let gamma_beta = [e.vector("ln.weight", &ln[0]), e.vector("ln.bias", &ln[1])];
            let w = e.matrix("projection.weight", &projection);
            let mut ops = e.stage(projection_name);
            e.gather_rows(&mut ops, &index, stream, width, &pooled);
            let [gamma, beta] = &gamma_beta;
            e.layernorm(&mut ops, &pooled, [gamma, beta], width, tower.eps, &pooled_ln);
            e.linear(
                &mut ops,
                Linear {
                    x: &pooled_ln,
                    w: &w,
                    n: projection_dim,
                    k: width,
                    epilogue: Epilogue::none(),
                    y: &features,
                },
            );
            Head { index, features, ops }
        })
        .await
    }

    /// Writes the pooled row indices (one per output) and records
    /// gather → LayerNorm → projection.
    pub fn record(&self, e: &E, pass: &mut E::Pass<'_>, pooled: &[u32]) {
        e.write(pass, &self.index, pooled);
        e.record(pass, &self.ops, Rows::flat(pooled.len()));
    }
}
